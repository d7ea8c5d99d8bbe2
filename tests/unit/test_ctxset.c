/* test_ctxset.c: contexts written one file per process (cr_checkpoint -d), read by
 * context_load_files() into one model: what ties the parts together (record 15, the
 * part record), the order the processes come back in, where each file lies in the
 * layout of the whole, and every way a set can be broken.
 *
 * The parts are made with the real encoders (header, part record, the process
 * module's encoder) into memfds. Their processes are zombies, which are whole with
 * their process record alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine/context.h"
#include "engine/err.h"
#include "engine/image.h"
#include "engine/model.h"
#include "engine/state/state.h"
#include "util/buf.h"
#include "util/wire.h"

#define MAXF 8

static void assert_msg_has(const struct err *err, const char *needle)
{
	if (!strstr(err->msg, needle))
		fail_msg("message '%s' does not contain '%s'", err->msg, needle);
}

/* The checkpoint the parts describe: its processes in saved order. */
struct ckpt {
	struct model m;
	struct proc_img procs[MAXF];
	uint8_t id[CTX_SET_ID_LEN];
};

static void ckpt_init(struct ckpt *k, const pid_t *pids, uint32_t n, uint8_t idbyte)
{
	memset(k, 0, sizeof(*k));
	context_meta_init(&k->m.meta);
	k->m.meta.req.scope = 3;
	k->m.meta.req.target = pids[0];
	k->m.procs = k->procs;
	k->m.nprocs = n;
	for (uint32_t i = 0; i < n; i++)
		k->procs[i].pid = pids[i];
	memset(k->id, idbyte, sizeof(k->id));
}

/* A set of files being made, and what the loader says of them. */
struct set {
	struct ctx_file f[MAXF];
	char names[MAXF][32];
	uint32_t n;
	struct img_writer w;
	struct err err;
};

static void set_init(struct set *s)
{
	memset(s, 0, sizeof(*s));
}

static struct img_writer *file_begin(struct set *s, pid_t name_pid)
{
	struct ctx_file *f = &s->f[s->n];

	snprintf(s->names[s->n], sizeof(s->names[0]), "dir/context.%d", name_pid);
	f->name = s->names[s->n];
	f->pid = name_pid;
	f->fd = memfd_create("test-ctxset", MFD_CLOEXEC);
	assert_true(f->fd >= 0);
	assert_int_equal(img_writer_init(&s->w, f->fd, f->name, &s->err), 0);
	return &s->w;
}

static void file_end(struct set *s)
{
	assert_int_equal(img_write_end(&s->w, &s->err), 0);
	img_writer_fini(&s->w);
	assert_int_equal(lseek(s->f[s->n].fd, 0, SEEK_SET), 0);
	s->n++;
}

/* A zombie's process record, by the process module's encoder. */
static void write_zombie(struct img_writer *w, pid_t pid, pid_t ppid, struct err *err)
{
	struct proc_img p;
	struct dump_ctx c;

	memset(&p, 0, sizeof(p));
	p.pid = pid;
	p.ppid = ppid;
	p.flags = PROC_ZOMBIE;
	p.exit_signal = 17;
	snprintf(p.comm, sizeof(p.comm), "z%d", pid);
	memset(&c, 0, sizeof(c));
	c.p = &p;
	assert_int_equal(proc_ops.encode(&c, w, err), 0);
}

/* Part i + 1 of checkpoint k, as cr_checkpoint writes it, under its own name. */
static void add_part(struct set *s, const struct ckpt *k, uint32_t i)
{
	struct img_writer *w = file_begin(s, k->procs[i].pid);

	assert_int_equal(context_write_header_count(w, &k->m, 1, &s->err), 0);
	assert_int_equal(context_write_part(w, &k->m, k->id, i + 1, &s->err), 0);
	write_zombie(w, k->procs[i].pid, k->procs[0].pid, &s->err);
	file_end(s);
}

/* A whole context of checkpoint k's processes, in one file. */
static void add_whole(struct set *s, const struct ckpt *k)
{
	struct img_writer *w = file_begin(s, k->procs[0].pid);

	assert_int_equal(context_write_header(w, &k->m, &s->err), 0);
	for (uint32_t i = 0; i < k->m.nprocs; i++)
		write_zombie(w, k->procs[i].pid, k->procs[0].pid, &s->err);
	file_end(s);
}

/* A part record encoded field by field, for values the encoder would not write. */
struct raw_part {
	uint8_t id[CTX_SET_ID_LEN];
	uint32_t part, nparts, nprocs, nlist;
	uint32_t list[2 * MAXF];
	bool trailing;
};

static void add_raw_part(struct set *s, const struct ckpt *k, const struct raw_part *rp)
{
	struct img_writer *w = file_begin(s, k->procs[0].pid);
	struct buf b;

	assert_int_equal(context_write_header_count(w, &k->m, 1, &s->err), 0);
	buf_init(&b);
	put_bytes(&b, rp->id, CTX_SET_ID_LEN);
	put_u32(&b, rp->part);
	put_u32(&b, rp->nparts);
	put_u32(&b, rp->nprocs);
	put_u32(&b, rp->nlist);
	for (uint32_t i = 0; i < 2 * rp->nlist; i++)
		put_u32(&b, rp->list[i]);
	if (rp->trailing)
		put_u8(&b, 0);
	assert_int_equal(img_write_record(w, REC_PART, REC_F_REQUIRED, b.data, b.len, &s->err),
			 0);
	buf_fini(&b);
	write_zombie(w, k->procs[0].pid, 1, &s->err);
	file_end(s);
}

static int set_load(struct set *s, unsigned int flags, struct model **ret_m, struct err *err)
{
	struct model *m = NULL;
	int rc = context_load_files(s->f, s->n, "dir", IMG_PAGES_DEFER, flags, &m, err);

	assert_int_equal(rc, err->code);
	if (rc < 0)
		assert_null(m);
	if (ret_m)
		*ret_m = m;
	else
		model_free(m);
	return rc;
}

static void set_fini(struct set *s)
{
	for (uint32_t i = 0; i < s->n; i++)
		close(s->f[i].fd);
}

static const pid_t pids3[] = {300, 100, 200};

/* ---- sets that load ---- */

static void parts_in_any_order_give_the_saved_order_and_page_aligned_bases(void **state)
{
	struct err err = {0};
	struct model *m;
	struct ckpt k;
	struct set s;

	(void)state;
	ckpt_init(&k, pids3, 3, 0x5a);
	set_init(&s);
	add_part(&s, &k, 2);
	add_part(&s, &k, 0);
	add_part(&s, &k, 1);
	assert_int_equal(set_load(&s, 0, &m, &err), 0);
	assert_int_equal(m->nprocs, 3);
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(m->procs[i].pid, pids3[i]);
	assert_int_equal(s.f[0].base, 0);
	for (uint32_t i = 1; i < 3; i++) {
		uint64_t end = s.f[i - 1].base + s.f[i - 1].size;

		assert_int_equal(s.f[i].base % IMG_PAGE_SIZE, 0);
		assert_true(s.f[i].base >= end && s.f[i].base < end + IMG_PAGE_SIZE);
	}
	assert_int_equal(s.f[0].part, 3);
	assert_int_equal(s.f[1].part, 1);
	assert_int_equal(s.f[1].nparts, 3);
	assert_int_equal(s.f[1].set_nprocs, 3);
	assert_memory_equal(s.f[2].set_id, k.id, CTX_SET_ID_LEN);
	model_free(m);
	set_fini(&s);
}

static void one_whole_context_loads_as_before(void **state)
{
	struct err err = {0};
	struct model *m;
	struct ckpt k;
	struct set s;

	(void)state;
	ckpt_init(&k, pids3, 3, 1);
	set_init(&s);
	add_whole(&s, &k);
	assert_int_equal(set_load(&s, 0, &m, &err), 0);
	assert_int_equal(m->nprocs, 3);
	assert_int_equal(s.f[0].part, 0);
	model_free(m);
	set_fini(&s);
}

/* cr_info reads one part alone: it says which, and does not look for the others. */
static void lone_part_loads_only_when_asked(void **state)
{
	struct err e1 = {0}, e2 = {0};
	struct model *m = NULL;
	struct ckpt k;
	struct set s;

	(void)state;
	ckpt_init(&k, pids3, 3, 2);
	set_init(&s);
	add_part(&s, &k, 1);
	assert_int_equal(set_load(&s, CTX_LOAD_LONE_PART, &m, &e1), 0);
	assert_int_equal(m->nprocs, 1);
	assert_int_equal(m->procs[0].pid, 100);
	assert_int_equal(s.f[0].part, 2);
	assert_int_equal(s.f[0].nparts, 3);
	model_free(m);
	/* context_load(): one file must be a whole context. */
	assert_int_equal(lseek(s.f[0].fd, 0, SEEK_SET), 0);
	m = NULL;
	assert_int_equal(context_load(s.f[0].fd, "ctx", IMG_PAGES_DEFER, &m, &e2), -EINVAL);
	assert_null(m);
	assert_msg_has(&e2, "ctx is part 2 of 3");
	assert_msg_has(&e2, "cr_restart -d");
	set_fini(&s);
}

/* ---- broken sets ---- */

static void missing_part_is_eio_naming_its_pid(void **state)
{
	struct err err = {0};
	struct ckpt k;
	struct set s;

	(void)state;
	ckpt_init(&k, pids3, 3, 3);
	set_init(&s);
	add_part(&s, &k, 0);
	add_part(&s, &k, 2);
	assert_int_equal(set_load(&s, 0, NULL, &err), -EIO);
	assert_msg_has(&err, "dir: part 2 of 3");
	assert_msg_has(&err, "(pid 100) is missing");
	set_fini(&s);
	/* Without part 1, which lists them, no pid can be given. */
	set_init(&s);
	err = (struct err){0};
	add_part(&s, &k, 1);
	add_part(&s, &k, 2);
	assert_int_equal(set_load(&s, 0, NULL, &err), -EIO);
	assert_msg_has(&err, "part 1 of 3");
	assert_msg_has(&err, "is missing");
	set_fini(&s);
	/* The same with the lone-part flag: a directory is never a lone part. */
	set_init(&s);
	err = (struct err){0};
	add_part(&s, &k, 0);
	add_part(&s, &k, 1);
	assert_int_equal(set_load(&s, CTX_LOAD_LONE_PART, NULL, &err), -EIO);
	set_fini(&s);
}

static void part_given_twice_is_einval(void **state)
{
	struct err err = {0};
	struct ckpt k;
	struct set s;

	(void)state;
	ckpt_init(&k, pids3, 3, 4);
	set_init(&s);
	add_part(&s, &k, 0);
	add_part(&s, &k, 1);
	add_part(&s, &k, 1);
	add_part(&s, &k, 2);
	assert_int_equal(set_load(&s, 0, NULL, &err), -EINVAL);
	assert_msg_has(&err, "are both part 2 of 3");
	set_fini(&s);
}

static void part_of_another_checkpoint_is_einval_naming_both(void **state)
{
	struct err err = {0};
	struct ckpt k, other;
	struct set s;

	(void)state;
	ckpt_init(&k, pids3, 3, 5);
	ckpt_init(&other, pids3, 3, 6);
	set_init(&s);
	add_part(&s, &k, 0);
	add_part(&s, &other, 1);
	add_part(&s, &k, 2);
	assert_int_equal(set_load(&s, 0, NULL, &err), -EINVAL);
	assert_msg_has(&err, "dir/context.100 belongs to another checkpoint");
	assert_msg_has(&err, "dir/context.300");
	set_fini(&s);
}

/* The same identity but another header: damage, or a forged part. */
static void parts_whose_headers_differ_are_einval(void **state)
{
	struct err err = {0};
	struct ckpt k, later;
	struct set s;

	(void)state;
	ckpt_init(&k, pids3, 3, 7);
	ckpt_init(&later, pids3, 3, 7);
	later.m.meta.time_ns = k.m.meta.time_ns + 1;
	set_init(&s);
	add_part(&s, &k, 0);
	add_part(&s, &later, 1);
	add_part(&s, &k, 2);
	assert_int_equal(set_load(&s, 0, NULL, &err), -EINVAL);
	assert_msg_has(&err, "its header is not that of");
	set_fini(&s);
}

static void whole_context_among_parts_is_einval(void **state)
{
	struct err e1 = {0}, e2 = {0};
	struct ckpt k, one;
	struct set s;
	static const pid_t p1[] = {555};

	(void)state;
	ckpt_init(&k, pids3, 3, 8);
	ckpt_init(&one, p1, 1, 9);
	set_init(&s);
	add_part(&s, &k, 0);
	add_whole(&s, &one);
	assert_int_equal(set_load(&s, 0, NULL, &e1), -EINVAL);
	assert_msg_has(&e1, "dir/context.555 is a whole context of its own");
	set_fini(&s);
	/* First or not. */
	set_init(&s);
	add_whole(&s, &one);
	add_part(&s, &k, 0);
	assert_int_equal(set_load(&s, 0, NULL, &e2), -EINVAL);
	assert_msg_has(&e2, "dir/context.555 is a whole context of its own");
	set_fini(&s);
}

static void file_named_for_another_process_is_einval(void **state)
{
	struct err err = {0};
	struct ckpt k;
	struct set s;

	(void)state;
	ckpt_init(&k, pids3, 3, 10);
	set_init(&s);
	add_part(&s, &k, 0);
	add_part(&s, &k, 1);
	add_part(&s, &k, 2);
	s.f[1].pid = 200;
	assert_int_equal(set_load(&s, 0, NULL, &err), -EINVAL);
	assert_msg_has(&err, "holds pid 100, not pid 200");
	set_fini(&s);
}

static void part_record_elsewhere_than_record_1_is_einval(void **state)
{
	struct err err = {0};
	struct img_writer *w;
	struct ckpt k;
	struct set s;

	(void)state;
	ckpt_init(&k, pids3, 3, 11);
	set_init(&s);
	w = file_begin(&s, 300);
	assert_int_equal(context_write_header_count(w, &k.m, 1, &s.err), 0);
	write_zombie(w, 300, 1, &s.err);
	assert_int_equal(context_write_part(w, &k.m, k.id, 1, &s.err), 0);
	file_end(&s);
	assert_int_equal(set_load(&s, 0, NULL, &err), -EINVAL);
	assert_msg_has(&err, "record 2 (part)");
	assert_msg_has(&err, "not record 1");
	set_fini(&s);
}

/* Every field of the part record is checked. */
static void part_record_fields_out_of_range_are_einval(void **state)
{
	static const struct {
		const char *what;
		struct raw_part rp;
	} cases[] = {
	    {"id all zero", {{0}, 2, 2, 2, 0, {0}, false}},
	    {"part 0", {{1}, 0, 2, 2, 0, {0}, false}},
	    {"part past the count", {{1}, 3, 2, 2, 0, {0}, false}},
	    {"one part", {{1}, 1, 1, 1, 1, {300, 1}, false}},
	    {"fewer processes than parts", {{1}, 2, 3, 2, 0, {0}, false}},
	    {"too many parts", {{1}, 2, 65537, 65537, 0, {0}, false}},
	    {"a list outside part 1", {{1}, 2, 2, 2, 2, {300, 1, 100, 2}, false}},
	    {"part 1 without its list", {{1}, 1, 2, 2, 0, {0}, false}},
	    {"a short list", {{1}, 1, 2, 3, 2, {300, 1, 100, 2}, false}},
	    {"a pid listed twice", {{1}, 1, 2, 2, 2, {300, 1, 300, 2}, false}},
	    {"pid 0 listed", {{1}, 1, 2, 2, 2, {300, 1, 0, 2}, false}},
	    {"a listed part past the count", {{1}, 1, 2, 2, 2, {300, 1, 100, 3}, false}},
	    {"a part holding none", {{1}, 1, 2, 2, 2, {300, 1, 100, 1}, false}},
	    {"trailing byte", {{1}, 2, 2, 2, 0, {0}, true}},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct err err = {0};
		struct ckpt k;
		struct set s;

		ckpt_init(&k, pids3, 3, 12);
		set_init(&s);
		add_raw_part(&s, &k, &cases[i].rp);
		if (set_load(&s, CTX_LOAD_LONE_PART, NULL, &err) != -EINVAL)
			fail_msg("%s: loaded (%s)", cases[i].what, err.msg);
		assert_msg_has(&err, "(part)");
		set_fini(&s);
	}
}

/* Part 1's list says which part holds which process; the parts must agree. */
static void process_in_a_part_the_list_does_not_say_is_einval(void **state)
{
	struct raw_part p1 = {{0x33}, 1, 2, 2, 2, {300, 1, 100, 2}, false};
	struct err err = {0};
	struct img_writer *w;
	struct ckpt k;
	struct set s;

	(void)state;
	ckpt_init(&k, pids3, 2, 0x33);
	set_init(&s);
	memset(p1.id, 0x33, sizeof(p1.id));
	add_raw_part(&s, &k, &p1);
	/* Part 2, holding pid 200 where the list says 100. */
	w = file_begin(&s, 200);
	k.procs[1].pid = 200;
	assert_int_equal(context_write_header_count(w, &k.m, 1, &s.err), 0);
	assert_int_equal(context_write_part(w, &k.m, k.id, 2, &s.err), 0);
	write_zombie(w, 200, 300, &s.err);
	file_end(&s);
	assert_int_equal(set_load(&s, 0, NULL, &err), -EINVAL);
	assert_msg_has(&err, "pid 200 is in part 2");
	set_fini(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(parts_in_any_order_give_the_saved_order_and_page_aligned_bases),
	    cmocka_unit_test(one_whole_context_loads_as_before),
	    cmocka_unit_test(lone_part_loads_only_when_asked),
	    cmocka_unit_test(missing_part_is_eio_naming_its_pid),
	    cmocka_unit_test(part_given_twice_is_einval),
	    cmocka_unit_test(part_of_another_checkpoint_is_einval_naming_both),
	    cmocka_unit_test(parts_whose_headers_differ_are_einval),
	    cmocka_unit_test(whole_context_among_parts_is_einval),
	    cmocka_unit_test(file_named_for_another_process_is_einval),
	    cmocka_unit_test(part_record_elsewhere_than_record_1_is_einval),
	    cmocka_unit_test(part_record_fields_out_of_range_are_einval),
	    cmocka_unit_test(process_in_a_part_the_list_does_not_say_is_einval),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
