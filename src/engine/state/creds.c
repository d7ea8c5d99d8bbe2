/* state/creds.c: credentials: user and group ids (real, effective, saved, fs),
 * supplementary groups, capability sets, securebits, and what a change of credentials
 * resets: dumpable, parent-death signal, no_new_privs.
 *
 * Restored last, by system calls run inside the new process once everything else is
 * in place, because dropping root takes away what restoring needs. A restart by a
 * user who may not take on the saved credentials is refused (EPERM) before anything
 * is created. */
#define LOG_PREFIX "creds: "
#include "state.h"

#include "../err.h"
#include "../image.h"
#include "../log.h"
#include "../../util/buf.h"
#include "../../util/out.h"
#include "../../util/procfs.h"
#include "../../util/wire.h"

#include <errno.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../banned.h"

#define MAX_GROUPS 65536

static int parse_caps(const char *status, const char *key, uint64_t *ret)
{
	return procfs_field_u64(status, key, 16, ret);
}

/* Ids, groups and capability sets from /proc/PID/status. */
static int read_status_creds(pid_t pid, struct creds_img *cr, int32_t *ret_nnp, struct err *err)
{
	uint64_t v[4], nnp = 0;
	char path[64];
	struct buf b;
	const char *g;
	int rc = 0;

	buf_init(&b);
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	rc = buf_read_file(&b, path);
	if (rc < 0) {
		rc = err_code(err, rc, "cannot read %s", path);
		goto out;
	}
	if (procfs_field_list((char *)b.data, "Uid", v, 4) != 4) {
		rc = err_set(err, -EINVAL, "%s: no Uid line", path);
		goto out;
	}
	for (int i = 0; i < 4; i++)
		cr->uid[i] = (uint32_t)v[i];
	if (procfs_field_list((char *)b.data, "Gid", v, 4) != 4) {
		rc = err_set(err, -EINVAL, "%s: no Gid line", path);
		goto out;
	}
	for (int i = 0; i < 4; i++)
		cr->gid[i] = (uint32_t)v[i];
	g = procfs_field((char *)b.data, "Groups");
	if (!g) {
		rc = err_set(err, -EINVAL, "%s: no Groups line", path);
		goto out;
	}
	for (;;) {
		char *end;
		unsigned long gid;
		uint32_t *n;

		while (*g == ' ' || *g == '\t')
			g++;
		if (!*g || *g == '\n')
			break;
		gid = strtoul(g, &end, 10);
		if (end == g || gid > UINT32_MAX || cr->ngroups >= MAX_GROUPS) {
			rc = err_set(err, -EINVAL, "%s: cannot read the Groups line", path);
			goto out;
		}
		n = realloc(cr->groups, ((size_t)cr->ngroups + 1) * sizeof(*n));
		if (!n) {
			rc = err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		cr->groups = n;
		cr->groups[cr->ngroups++] = (uint32_t)gid;
		g = end;
	}
	if (parse_caps((char *)b.data, "CapInh", &cr->cap_inh) < 0 ||
	    parse_caps((char *)b.data, "CapPrm", &cr->cap_prm) < 0 ||
	    parse_caps((char *)b.data, "CapEff", &cr->cap_eff) < 0 ||
	    parse_caps((char *)b.data, "CapBnd", &cr->cap_bnd) < 0) {
		rc = err_set(err, -EINVAL, "%s: cannot read capability sets", path);
		goto out;
	}
	parse_caps((char *)b.data, "CapAmb", &cr->cap_amb);
	procfs_field_u64((char *)b.data, "NoNewPrivs", 10, &nnp);
	if (ret_nnp)
		*ret_nnp = (int32_t)nnp;
out:
	buf_fini(&b);
	return rc;
}

static int creds_collect(struct dump_ctx *c, struct err *err)
{
	struct proc_img *p = c->p;
	struct creds_img *cr = &p->creds;
	int rc;

	rc = read_status_creds(p->pid, cr, &p->no_new_privs, err);
	if (rc < 0)
		return rc;
	{
		struct inject_call calls[3] = {
		    {SYS_prctl, {PR_GET_SECUREBITS, 0, 0, 0, 0, 0}, 0},
		    {SYS_prctl, {PR_GET_DUMPABLE, 0, 0, 0, 0, 0}, 0},
		    {SYS_prctl, {PR_GET_PDEATHSIG, DUMP_BATCH_OUT(c), 0, 0, 0, 0}, 0},
		};
		int32_t sig = 0;

		if (inject_batch(&c->inj, c->code, c->memfd, c->scratch, calls, 3, err) < 0)
			return err->code;
		cr->securebits = calls[0].ret < 0 ? 0 : (uint32_t)calls[0].ret;
		p->dumpable = (int32_t)calls[1].ret;
		if (calls[2].ret == 0 &&
		    pread(c->memfd, &sig, sizeof(sig), (off_t)(DUMP_BATCH_OUT(c))) == sizeof(sig))
			p->pdeathsig = sig;
	}
	return 0;
}

static int creds_encode(struct dump_ctx *c, struct img_writer *w, struct err *err)
{
	const struct proc_img *p = c->p;
	const struct creds_img *cr = &p->creds;
	struct buf b;
	int rc;

	buf_init(&b);
	put_u32(&b, (uint32_t)p->pid);
	for (int i = 0; i < 4; i++)
		put_u32(&b, cr->uid[i]);
	for (int i = 0; i < 4; i++)
		put_u32(&b, cr->gid[i]);
	put_u32(&b, cr->ngroups);
	for (uint32_t i = 0; i < cr->ngroups; i++)
		put_u32(&b, cr->groups[i]);
	put_u64(&b, cr->cap_inh);
	put_u64(&b, cr->cap_prm);
	put_u64(&b, cr->cap_eff);
	put_u64(&b, cr->cap_bnd);
	put_u64(&b, cr->cap_amb);
	put_u32(&b, cr->securebits);
	put_i32(&b, p->dumpable);
	put_i32(&b, p->pdeathsig);
	put_i32(&b, p->no_new_privs);
	rc = b.oom ? err_set(err, -ENOMEM, "out of memory")
		   : img_write_record(w, REC_CREDS, REC_F_REQUIRED, b.data, b.len, err);
	buf_fini(&b);
	return rc;
}

static int creds_decode(struct model *m, const struct img_rec *rec, const struct img_reader *r,
			struct err *err)
{
	struct wire_rd rd;
	struct proc_img *p;
	struct creds_img *cr;

	wr_init(&rd, rec->payload, rec->len);
	p = state_rec_proc(m, &rd, rec, r, err);
	if (!p)
		return err->code;
	cr = &p->creds;
	if (cr->groups)
		return img_rec_corrupt(r, rec, "a second credentials record", err);
	for (int i = 0; i < 4; i++)
		cr->uid[i] = get_u32(&rd);
	for (int i = 0; i < 4; i++)
		cr->gid[i] = get_u32(&rd);
	cr->ngroups = get_count(&rd, 4, MAX_GROUPS);
	cr->groups = calloc((size_t)cr->ngroups + 1, sizeof(*cr->groups));
	if (!cr->groups)
		return err_set(err, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < cr->ngroups; i++)
		cr->groups[i] = get_u32(&rd);
	cr->cap_inh = get_u64(&rd);
	cr->cap_prm = get_u64(&rd);
	cr->cap_eff = get_u64(&rd);
	cr->cap_bnd = get_u64(&rd);
	cr->cap_amb = get_u64(&rd);
	cr->securebits = get_u32(&rd);
	p->dumpable = get_i32(&rd);
	p->pdeathsig = get_i32(&rd);
	p->no_new_privs = get_i32(&rd);
	if (!wr_done(&rd))
		return img_rec_corrupt(r, rec, rd.why, err);
	if (p->dumpable < 0 || p->dumpable > 2 || p->pdeathsig < 0 || p->pdeathsig > 64 ||
	    p->no_new_privs < 0 || p->no_new_privs > 1)
		return img_rec_corrupt(r, rec, "field out of range", err);
	return 0;
}

static bool same_groups(const struct creds_img *a, const struct creds_img *b)
{
	return a->ngroups == b->ngroups &&
	       (a->ngroups == 0 || !memcmp(a->groups, b->groups, a->ngroups * sizeof(*a->groups)));
}

static bool same_ids(const struct creds_img *a, const struct creds_img *b)
{
	return !memcmp(a->uid, b->uid, sizeof(a->uid)) && !memcmp(a->gid, b->gid, sizeof(a->gid)) &&
	       same_groups(a, b);
}

static int creds_prepare(struct rst_ctx *c, struct err *err)
{
	const struct proc_img *p = c->rp->p;
	struct creds_img ours = {0};
	bool same;
	int rc;

	if (geteuid() == 0)
		return 0;
	rc = read_status_creds(getpid(), &ours, NULL, err);
	same = rc == 0 && same_ids(&ours, &p->creds);
	free(ours.groups);
	if (rc < 0)
		return rc;
	if (!same)
		return err_set(err, -EPERM,
			       "pid %d ran as uid %u gid %u; only root may restart it with those "
			       "credentials",
			       p->pid, p->creds.uid[1], p->creds.gid[1]);
	return 0;
}

static long call(struct rst_proc *rp, long nr, uint64_t a0, uint64_t a1, uint64_t a2,
		 const char *what, struct err *err)
{
	long r = inject_syscall(&rp->inj, nr, a0, a1, a2, 0, 0, 0, err);

	if (r == INJECT_FAILED)
		return err->code;
	if (r < 0)
		return err_code(err, (int)r, "pid %d: cannot %s", rp->p->pid, what);
	return r;
}

/* capset() of the three sets, from crest's scratch memory. */
static int capset3(struct rst_proc *rp, uint64_t inh, uint64_t prm, uint64_t eff, struct err *err)
{
	struct {
		struct __user_cap_header_struct hdr;
		struct __user_cap_data_struct data[2];
	} cs = {
	    {_LINUX_CAPABILITY_VERSION_3, 0},
	    {{(uint32_t)eff, (uint32_t)prm, (uint32_t)inh},
	     {(uint32_t)(eff >> 32), (uint32_t)(prm >> 32), (uint32_t)(inh >> 32)}},
	};
	uint64_t a;
	long r;

	if (rst_scratch_put(rp, 0, &cs, sizeof(cs), &a, err) < 0)
		return err->code;
	r = call(rp, SYS_capset, a, a + sizeof(cs.hdr), 0, "set capabilities", err);
	return r < 0 ? (int)r : 0;
}

/* From cur (the new process: a copy of cr_restart) to the saved credentials. Each
 * step runs only if something changes, so that a restart by the same unprivileged
 * user needs no privilege. The order matters:
 *  - groups, the bounding set and securebits other than keep-caps need privilege:
 *    while we have it;
 *  - keep-caps across the change of uids keeps the permitted set, and a capset()
 *    then makes it effective again for what follows;
 *  - ambient capabilities need them permitted and inheritable, and no
 *    SECBIT_NO_CAP_AMBIENT_RAISE yet;
 *  - the saved sets last: after them crest may have no privilege left. */
static int set_ids_and_caps(struct rst_proc *rp, const struct creds_img *cur, uint32_t cur_secbits,
			    struct err *err)
{
	const struct creds_img *cr = &rp->p->creds;
	const uint32_t kc = SECBIT_KEEP_CAPS;
	bool ids = memcmp(cur->uid, cr->uid, sizeof(cr->uid)) ||
		   memcmp(cur->gid, cr->gid, sizeof(cr->gid));
	uint32_t secbits = cur_secbits;
	uint64_t a;
	long r;

	if (!same_groups(cur, cr)) {
		if (rst_scratch_put(rp, 0, cr->groups, cr->ngroups * sizeof(*cr->groups), &a, err) <
		    0)
			return err->code;
		if ((r = call(rp, SYS_setgroups, cr->ngroups, a, 0, "set groups", err)) < 0)
			return (int)r;
	}
	for (int cap = 0; cap < 64; cap++)
		if ((cur->cap_bnd & ~cr->cap_bnd & (1ull << cap)) &&
		    (r = call(rp, SYS_prctl, PR_CAPBSET_DROP, (uint64_t)cap, 0,
			      "drop a bounding capability", err)) < 0)
			return (int)r;
	if (ids) {
		if (!(secbits & kc)) {
			if ((r = call(rp, SYS_prctl, PR_SET_KEEPCAPS, 1, 0, "keep capabilities",
				      err)) < 0)
				return (int)r;
			secbits |= kc;
		}
		if ((r = call(rp, SYS_setresgid, cr->gid[0], cr->gid[1], cr->gid[2],
			      "set group ids", err)) < 0)
			return (int)r;
		/* setfs[ug]id() answer with the old value, never with an error. */
		call(rp, SYS_setfsgid, cr->gid[3], 0, 0, "set the fs group id", err);
		if ((r = call(rp, SYS_setresuid, cr->uid[0], cr->uid[1], cr->uid[2], "set user ids",
			      err)) < 0)
			return (int)r;
		call(rp, SYS_setfsuid, cr->uid[3], 0, 0, "set the fs user id", err);
		/* Leaving uid 0 emptied the effective set; the permitted one is kept. */
		if (capset3(rp, cur->cap_inh, cur->cap_prm, cur->cap_prm, err) < 0)
			return err->code;
	}
	if (cr->cap_inh != cur->cap_inh &&
	    capset3(rp, cr->cap_inh, cur->cap_prm, cur->cap_prm, err) < 0)
		return err->code;
	if (cur->cap_amb && (r = call(rp, SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0,
				      "clear the ambient capabilities", err)) < 0)
		return (int)r;
	for (int cap = 0; cap < 64; cap++)
		if ((cr->cap_amb & (1ull << cap)) &&
		    (r = call(rp, SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, (uint64_t)cap,
			      "raise an ambient capability", err)) < 0)
			return (int)r;
	/* Keep-caps alone can be cleared without privilege, the other bits cannot. */
	if ((secbits & ~kc) != (cr->securebits & ~kc))
		r = call(rp, SYS_prctl, PR_SET_SECUREBITS, cr->securebits, 0, "set securebits",
			 err);
	else if ((secbits & kc) != (cr->securebits & kc))
		r = call(rp, SYS_prctl, PR_SET_KEEPCAPS, !!(cr->securebits & kc), 0,
			 "set keep-caps", err);
	else
		r = 0;
	if (r < 0)
		return (int)r;
	if ((ids || cr->cap_prm != cur->cap_prm || cr->cap_eff != cur->cap_eff) &&
	    capset3(rp, cr->cap_inh, cr->cap_prm, cr->cap_eff, err) < 0)
		return err->code;
	return 0;
}

static long get_securebits(struct rst_proc *rp, struct err *err)
{
	return call(rp, SYS_prctl, PR_GET_SECUREBITS, 0, 0, "read securebits", err);
}

static int creds_restore(struct rst_ctx *c, struct err *err)
{
	struct rst_proc *rp = c->rp;
	struct proc_img *p = rp->p;
	struct creds_img cur = {0};
	long r, sb;
	int rc;

	rc = read_status_creds(rp->pid, &cur, NULL, err);
	if (rc == 0) {
		sb = get_securebits(rp, err);
		rc = sb < 0 ? (int)sb : set_ids_and_caps(rp, &cur, (uint32_t)sb, err);
	}
	free(cur.groups);
	if (rc < 0)
		return rc;
	/* A change of credentials resets these three. Dumpable 2 (suid_dumpable) is
	 * what a change of uids gives, and cannot be asked for. */
	if (p->dumpable <= 1 && (r = call(rp, SYS_prctl, PR_SET_DUMPABLE, (uint64_t)p->dumpable, 0,
					  "set dumpable", err)) < 0)
		return (int)r;
	if (p->pdeathsig && (r = call(rp, SYS_prctl, PR_SET_PDEATHSIG, (uint64_t)p->pdeathsig, 0,
				      "set the parent-death signal", err)) < 0)
		return (int)r;
	if (p->no_new_privs &&
	    (r = call(rp, SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, "set no_new_privs", err)) < 0)
		return (int)r;
	return 0;
}

static void creds_describe(const struct model *m, const struct proc_img *p, struct out *o)
{
	const struct creds_img *cr = &p->creds;

	(void)m;
	out_obj_begin(o, "credentials");
	out_arr_begin(o, "uid");
	for (int i = 0; i < 4; i++)
		out_u64(o, NULL, cr->uid[i]);
	out_arr_end(o);
	out_arr_begin(o, "gid");
	for (int i = 0; i < 4; i++)
		out_u64(o, NULL, cr->gid[i]);
	out_arr_end(o);
	out_arr_begin(o, "groups");
	for (uint32_t i = 0; i < cr->ngroups; i++)
		out_u64(o, NULL, cr->groups[i]);
	out_arr_end(o);
	out_hex(o, "cap_effective", cr->cap_eff);
	out_hex(o, "cap_permitted", cr->cap_prm);
	out_hex(o, "cap_bounding", cr->cap_bnd);
	out_i64(o, "dumpable", p->dumpable);
	out_i64(o, "no_new_privs", p->no_new_privs);
	out_obj_end(o);
}

static int creds_validate(struct model *m, struct proc_img *p, struct err *err)
{
	(void)m;
	/* Decoding always allocates the group list: without it, no record was read. */
	if (!p->creds.groups)
		return err_set(err, -EINVAL, "pid %d: the context has no credentials record",
			       p->pid);
	return 0;
}

const struct state_ops creds_ops = {
    .name = "credentials",
    .recs = {REC_CREDS},
    .collect = creds_collect,
    .encode = creds_encode,
    .decode = creds_decode,
    .validate = creds_validate,
    .prepare = creds_prepare,
    .restore = creds_restore,
    .describe = creds_describe,
};
