/* Credentials of a process that gave up root with some capabilities kept: real,
 * effective, saved and fs user and group ids all different, supplementary groups,
 * the inheritable, permitted, effective, bounding and ambient capability sets,
 * securebits (keep-caps), and dumpable. They must come back exactly: the lines of
 * /proc/self/status and what the system calls say.
 *
 * creds_drop.c does the same for a process that dropped every capability, and
 * creds_root.c for one that stays root with fewer capabilities, ambient ones, and
 * securebits some of which are locked. */
#include "ct.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* What the process does with its credentials. */
#define KEEP_SOME 0 /* gives up root, keeps some capabilities */
#define DROP_ALL 1  /* gives up root and every capability */
#define STAY_ROOT 2 /* stays root with fewer capabilities and securebits */
#ifndef CREDS_MODE
#define CREDS_MODE KEEP_SOME
#endif

#define CAPBIT(c) (1ull << (c))

static const gid_t groups[] = {65534, 4, 1000, 27, 100};
static const char *const keys[] = {"Uid",    "Gid",    "Groups", "CapInh",     "CapPrm",
				   "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static char lines[NKEYS][512];
static int securebits, keepcaps, dumpable;
static gid_t saved_groups[64];
static int nsaved_groups;
static uid_t ru, eu, su;
static gid_t rg, eg, sg;

/* The line "Key:\t..." of /proc/self/status. */
static int status_line(const char *key, char *out, size_t n)
{
	char buf[8192];

	if (ct_read_text("/proc/self/status", buf, sizeof(buf)) < 0)
		return -1;
	return ct_line(buf, key, out, n);
}

static int capset_sets(uint64_t inh, uint64_t prm, uint64_t eff)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2] = {
	    {(uint32_t)eff, (uint32_t)prm, (uint32_t)inh},
	    {(uint32_t)(eff >> 32), (uint32_t)(prm >> 32), (uint32_t)(inh >> 32)},
	};

	return (int)syscall(SYS_capset, &hdr, d);
}

static int setup(void)
{
	CT_SYS(setgroups(sizeof(groups) / sizeof(groups[0]), groups));
	/* The bounding set shrinks while we may (CAP_SETPCAP). */
	CT_SYS(prctl(PR_CAPBSET_DROP, CAP_SYS_BOOT, 0, 0, 0));
	CT_SYS(prctl(PR_CAPBSET_DROP, CAP_MKNOD, 0, 0, 0));
	if (CREDS_MODE == STAY_ROOT) {
		struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
		struct __user_cap_data_struct d[2];
		uint64_t all, prm;

		/* From what we have (not necessarily every capability). */
		CT_SYS(syscall(SYS_capget, &hdr, d));
		all = d[0].permitted | (uint64_t)d[1].permitted << 32;
		prm = all & ~CAPBIT(CAP_SYS_MODULE) & ~CAPBIT(CAP_SYS_RAWIO) &
		      ~CAPBIT(CAP_SYS_BOOT) & ~CAPBIT(CAP_MKNOD);

		CT_SYS(capset_sets(CAPBIT(CAP_NET_RAW) | CAPBIT(CAP_SYS_TIME), prm, prm));
		CT_SYS(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_RAW, 0, 0));
		/* Root without root's powers at exec, locked; no more ambient raises. */
		CT_SYS(prctl(PR_SET_SECUREBITS,
			     SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
				 SECBIT_NO_CAP_AMBIENT_RAISE,
			     0, 0, 0));
		CT_SYS(capset_sets(CAPBIT(CAP_NET_RAW) | CAPBIT(CAP_SYS_TIME), prm,
				   prm & ~CAPBIT(CAP_SETPCAP) & ~CAPBIT(CAP_DAC_OVERRIDE)));
	} else {
		if (CREDS_MODE == KEEP_SOME)
			CT_SYS(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0));
		CT_SYS(setresgid(1001, 1002, 1003));
		CT_SYS(setresuid(2001, 2002, 2003));
		/* fs ids other than the effective ones: allowed, they are our saved ids. */
		setfsgid(1003);
		setfsuid(2003);
	}
	if (CREDS_MODE == KEEP_SOME) {
		uint64_t keep = CAPBIT(CAP_KILL) | CAPBIT(CAP_NET_BIND_SERVICE) |
				CAPBIT(CAP_CHOWN) | CAPBIT(CAP_SETPCAP);

		/* Inheritable may grow only within the bounding set with CAP_SETPCAP. */
		CT_SYS(capset_sets(0, keep, CAPBIT(CAP_SETPCAP)));
		CT_SYS(capset_sets(CAPBIT(CAP_NET_BIND_SERVICE) | CAPBIT(CAP_CHOWN) |
				       CAPBIT(CAP_SYS_TIME),
				   keep, CAPBIT(CAP_KILL) | CAPBIT(CAP_NET_BIND_SERVICE)));
		CT_SYS(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE, 0, 0));
	}
	/* The kernel keeps them sorted. */
	CT_SYS(nsaved_groups = getgroups(64, saved_groups));
	CT_EQ(nsaved_groups, sizeof(groups) / sizeof(groups[0]));
	CT_SYS(getresuid(&ru, &eu, &su));
	CT_SYS(getresgid(&rg, &eg, &sg));
	CT_SYS(securebits = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0));
	CT_SYS(keepcaps = prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0));
	CT_SYS(dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
	for (size_t i = 0; i < NKEYS; i++)
		CT_SYS(status_line(keys[i], lines[i], sizeof(lines[i])));
	ct_log("creds: %s | %s | %s | %s | %s | %s", lines[0], lines[1], lines[2], lines[3],
	       lines[4], lines[5]);
	return 0;
}

static int check(void)
{
	gid_t now[64];
	uid_t r, e, s;
	gid_t g1, g2, g3;
	int n;

	for (size_t i = 0; i < NKEYS; i++) {
		char line[512];

		CT_SYS(status_line(keys[i], line, sizeof(line)));
		CT_STREQ(line, lines[i]);
	}
	CT_SYS(getresuid(&r, &e, &s));
	CT_EQ(r, ru);
	CT_EQ(e, eu);
	CT_EQ(s, su);
	CT_SYS(getresgid(&g1, &g2, &g3));
	CT_EQ(g1, rg);
	CT_EQ(g2, eg);
	CT_EQ(g3, sg);
	/* setfs*id() answers with the current value; asking for -1 changes nothing. */
	CT_EQ(setfsuid((uid_t)-1), CREDS_MODE == STAY_ROOT ? 0 : 2003);
	CT_EQ(setfsgid((gid_t)-1), CREDS_MODE == STAY_ROOT ? 0 : 1003);
	CT_SYS(n = getgroups(64, now));
	CT_EQ(n, nsaved_groups);
	for (int i = 0; i < n; i++)
		CT_EQ(now[i], saved_groups[i]);
	CT_EQ(prctl(PR_GET_SECUREBITS, 0, 0, 0, 0), securebits);
	CT_EQ(prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0), keepcaps);
	CT_EQ(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), dumpable);
	return 0;
}

CT_MAIN(setup, check)
