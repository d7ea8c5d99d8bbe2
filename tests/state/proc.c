/* Process attributes: working directory, umask, resource limits (soft and hard lowered),
 * name, personality, nice value, oom_score_adj, dumpable, timer slack, child
 * subreaper, parent-death signal, no_new_privs, transparent huge pages disabled, CPU
 * affinity. Each must read back exactly as set. */
#include "ct.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define NAME "crest-proc-tst"
#define SLACK 123457
#define OOM_ADJ 345
#define NICE 7

static const struct {
	int res;
	rlim_t cur, max;
} limits[] = {
    {RLIMIT_NOFILE, 900, 1800},
    {RLIMIT_CORE, 4096, 1 << 20},
    {RLIMIT_FSIZE, 1ull << 40, 1ull << 41},
    {RLIMIT_CPU, 100000, 200000},
    {RLIMIT_NPROC, 5000, 6000},
    {RLIMIT_SIGPENDING, 700, 800},
    {RLIMIT_MSGQUEUE, 81920, 163840},
    {RLIMIT_MEMLOCK, 65536, 131072},
    {RLIMIT_LOCKS, 1000, RLIM_INFINITY},
    {RLIMIT_STACK, 8 << 20, 64 << 20},
    {RLIMIT_AS, 1ull << 42, 1ull << 43},
};
#define NLIMITS (sizeof(limits) / sizeof(limits[0]))

static char cwd[4096];
static unsigned long pers;
static struct rlimit all[RLIM_NLIMITS];
static cpu_set_t cpus;
static int cpu;

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

static int read_int(const char *path, long *ret)
{
	char buf[64];

	if (ct_read_text(path, buf, sizeof(buf)) < 0)
		return -1;
	*ret = strtol(buf, NULL, 10);
	return 0;
}

static int setup(void)
{
	char buf[64];
	int oldp;

	/* A working directory of our own, whose name has a space. */
	snprintf(cwd, sizeof(cwd), "%s/work dir", ct_dir());
	CT_SYS(mkdir(cwd, 0700));
	CT_SYS(chdir(cwd));
	umask(027);
	for (size_t i = 0; i < NLIMITS; i++) {
		struct rlimit rl = {limits[i].cur, limits[i].max};

		CT_SYS(setrlimit(limits[i].res, &rl));
	}
	for (int i = 0; i < RLIM_NLIMITS; i++)
		CT_SYS(getrlimit(i, &all[i]));
	CT_SYS(prctl(PR_SET_NAME, NAME, 0, 0, 0));
	CT_SYS(oldp = personality(0xffffffff));
	CT_SYS(personality((unsigned long)oldp | ADDR_NO_RANDOMIZE));
	CT_SYS(pers = (unsigned long)personality(0xffffffff));
	CT_SYS(setpriority(PRIO_PROCESS, 0, NICE));
	snprintf(buf, sizeof(buf), "%d", OOM_ADJ);
	CT_SYS(write_file("/proc/self/oom_score_adj", buf));
	CT_SYS(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0));
	CT_SYS(prctl(PR_SET_TIMERSLACK, SLACK, 0, 0, 0));
	CT_SYS(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0));
	CT_SYS(prctl(PR_SET_PDEATHSIG, SIGUSR2, 0, 0, 0));
	CT_SYS(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	CT_SYS(prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0));
	/* Pinned to the last CPU we may use. */
	CT_SYS(sched_getaffinity(0, sizeof(cpus), &cpus));
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &cpus))
			cpu = i;
	CPU_ZERO(&cpus);
	CPU_SET(cpu, &cpus);
	CT_SYS(sched_setaffinity(0, sizeof(cpus), &cpus));
	return 0;
}

static int check(void)
{
	char buf[4096];
	cpu_set_t now;
	long v;
	int sig = -1, sub = -1;

	CT_TRUE(getcwd(buf, sizeof(buf)) != NULL);
	CT_STREQ(buf, cwd);
	CT_EQ(umask(0), 027);
	for (int i = 0; i < RLIM_NLIMITS; i++) {
		struct rlimit rl;

		CT_SYS(getrlimit(i, &rl));
		if (rl.rlim_cur != all[i].rlim_cur || rl.rlim_max != all[i].rlim_max)
			CT_FAIL("limit %d is %llu/%llu, not %llu/%llu", i,
				(unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
				(unsigned long long)all[i].rlim_cur,
				(unsigned long long)all[i].rlim_max);
	}
	CT_SYS(prctl(PR_GET_NAME, buf, 0, 0, 0));
	CT_STREQ(buf, NAME);
	CT_EQ(personality(0xffffffff), pers);
	errno = 0;
	v = getpriority(PRIO_PROCESS, 0);
	CT_TRUE(errno == 0);
	CT_EQ(v, NICE);
	CT_SYS(read_int("/proc/self/oom_score_adj", &v));
	CT_EQ(v, OOM_ADJ);
	CT_EQ(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
	CT_EQ(prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0), SLACK);
	CT_SYS(prctl(PR_GET_CHILD_SUBREAPER, &sub, 0, 0, 0));
	CT_EQ(sub, 1);
	CT_SYS(prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0));
	CT_EQ(sig, SIGUSR2);
	CT_EQ(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), 1);
	CT_EQ(prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0), 1);
	CT_SYS(sched_getaffinity(0, sizeof(now), &now));
	CT_TRUE(CPU_EQUAL(&now, &cpus));
	CT_EQ(sched_getcpu(), cpu);
	return 0;
}

CT_MAIN(setup, check)
