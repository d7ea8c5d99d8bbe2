/* fuzz_context.c: libFuzzer target for context_load(), the reader of context files.
 *
 * Each input is loaded through a memfd, with page data checked as it is read
 * (IMG_PAGES_VERIFY):
 *  - as it is, which exercises the framing: preamble, record headers, checksums,
 *    page alignment, the end record and its index (and again with page data left
 *    for later, IMG_PAGES_DEFER, as restart reads);
 *  - with its framing repaired (every record's checksums recomputed, the end record
 *    rebuilt from the records before it), so that mutated payloads get past the
 *    checksums and reach the state modules' decoders and the checks across records.
 * Whatever the input, loading must fail cleanly: a negative code equal to err.code
 * and a message that names the file. Anything else aborts, which libFuzzer reports.
 *
 * With CREST_FUZZ_SEEDS=DIR in the environment the program writes a seed corpus made
 * with the real encoders into DIR and exits; CREST_FUZZ_REAL=FILE adds a real context
 * made by cr_checkpoint, without its page data. */
#include "engine/context.h"
#include "engine/err.h"
#include "engine/image.h"
#include "engine/model.h"
#include "engine/state/state.h"
#include "engine/version.h"
#include "util/buf.h"
#include "util/crc32c.h"
#include "util/wire.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NAME "fuzz.ctx"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static int memfd = -1;

static void die(const char *what, int rc, const struct err *err)
{
	fprintf(stderr, "fuzz_context: %s (rc %d, err.code %d, message '%s')\n", what, rc,
		err->code, err->msg);
	abort();
}

static void load(const uint8_t *data, size_t size, enum img_pages_mode mode)
{
	struct err err = {0};
	struct model *m = NULL;
	int rc;

	if (ftruncate(memfd, 0) < 0 || (size && pwrite(memfd, data, size, 0) != (ssize_t)size) ||
	    lseek(memfd, 0, SEEK_SET) != 0) {
		perror("fuzz_context: memfd");
		abort();
	}
	rc = context_load(memfd, NAME, mode, &m, &err);
	if (rc == 0) {
		if (!m || err.code)
			die("success without a model, or with an error set", rc, &err);
		model_free(m);
		return;
	}
	if (rc > 0 || rc != err.code)
		die("return code and err.code differ", rc, &err);
	if (!strstr(err.msg, NAME))
		die("message does not name the file", rc, &err);
	if (m)
		die("model handed back on failure", rc, &err);
}

/* Copy data with every record's checksums recomputed and a correct end record after
 * the last whole record, leaving out page records if drop_pages. Returns the new
 * length in out (which holds 2 * size + 64). */
static size_t repair(const uint8_t *data, size_t size, uint8_t *out, bool drop_pages)
{
	struct buf index;
	size_t off = IMG_PREAMBLE_LEN, o;
	uint32_t nrecs = 0;

	if (size < IMG_PREAMBLE_LEN)
		return 0;
	memcpy(out, data, IMG_PREAMBLE_LEN);
	o = IMG_PREAMBLE_LEN;
	buf_init(&index);
	while (size - off >= IMG_REC_HDR_LEN) {
		struct wire_rd rd;
		struct buf hdr;
		uint32_t type, flags;
		uint64_t len;

		wr_init(&rd, data + off, IMG_REC_HDR_LEN);
		type = get_u32(&rd);
		flags = get_u32(&rd);
		len = get_u64(&rd);
		if (type == REC_END || len > size - off - IMG_REC_HDR_LEN)
			break;
		if (drop_pages && type == REC_PAGES) {
			off += IMG_REC_HDR_LEN + (size_t)len;
			continue;
		}
		buf_init(&hdr);
		put_u32(&hdr, type);
		put_u32(&hdr, flags);
		put_u64(&hdr, len);
		put_u32(&hdr, crc32c(CRC32C_INIT, data + off + IMG_REC_HDR_LEN, (size_t)len));
		put_u32(&hdr, crc32c(CRC32C_INIT, hdr.data, 20));
		memcpy(out + o, hdr.data, IMG_REC_HDR_LEN);
		memcpy(out + o + IMG_REC_HDR_LEN, data + off + IMG_REC_HDR_LEN, (size_t)len);
		buf_fini(&hdr);
		put_u32(&index, type);
		put_u64(&index, o);
		nrecs++;
		o += IMG_REC_HDR_LEN + (size_t)len;
		off += IMG_REC_HDR_LEN + (size_t)len;
	}
	{
		struct buf end, hdr;

		buf_init(&end);
		put_u32(&end, nrecs);
		put_bytes(&end, index.data, index.len);
		buf_init(&hdr);
		put_u32(&hdr, REC_END);
		put_u32(&hdr, REC_F_REQUIRED);
		put_u64(&hdr, end.len);
		put_u32(&hdr, crc32c(CRC32C_INIT, end.data, end.len));
		put_u32(&hdr, crc32c(CRC32C_INIT, hdr.data, 20));
		memcpy(out + o, hdr.data, IMG_REC_HDR_LEN);
		memcpy(out + o + IMG_REC_HDR_LEN, end.data, end.len);
		o += IMG_REC_HDR_LEN + end.len;
		buf_fini(&hdr);
		buf_fini(&end);
	}
	buf_fini(&index);
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *fixed;
	size_t n;

	load(data, size, IMG_PAGES_VERIFY);
	load(data, size, IMG_PAGES_DEFER); /* as restart reads: page data skipped */
	/* Each record takes at least 24 bytes and adds 12 to the index. */
	fixed = malloc(2 * size + 64);
	if (!fixed)
		abort();
	n = repair(data, size, fixed, false);
	if (n && (n != size || memcmp(fixed, data, n) != 0))
		load(fixed, n, IMG_PAGES_VERIFY);
	free(fixed);
	return 0;
}

/* ---- seed corpus ---- */

static void write_seed(const char *dir, const char *name, const void *p, size_t n)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || (n && write(fd, p, n) != (ssize_t)n) || close(fd) < 0) {
		perror(path);
		exit(1);
	}
}

static void check(int rc, const struct err *err)
{
	if (rc < 0) {
		fprintf(stderr, "fuzz_context: making seeds: %s\n", err->msg);
		exit(1);
	}
}

static void seed_proc(struct proc_img *p, pid_t pid)
{
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->ppid = 1;
	p->pgid = pid;
	p->sid = pid;
	snprintf(p->comm, sizeof(p->comm), "seed");
	p->exe = (char *)"/bin/sleep";
	p->cwd = (char *)"/tmp";
	p->umask = 022;
	p->cpus_allowed[0] = 1;
	for (int i = 0; i < MODEL_NRLIMIT; i++)
		p->rlim[i] = (struct rlimit_img){1024, 4096};
}

/* A context made of records from the real encoders: the header, a process, and
 * optionally a page record and an unknown optional record. */
static void write_made_seed(const char *dir, const char *name, bool pages, bool optional)
{
	static uint8_t data[2 * IMG_PAGE_SIZE];
	struct img_writer w;
	struct err err = {0};
	struct model m;
	struct proc_img p;
	struct dump_ctx c;
	struct buf all, head;
	int fd = memfd_create("seed", MFD_CLOEXEC);

	if (fd < 0)
		exit(1);
	memset(&m, 0, sizeof(m));
	context_meta_init(&m.meta);
	m.meta.req.scope = 3;
	m.meta.req.target = 4242;
	m.nprocs = 1;
	seed_proc(&p, 4242);
	memset(&c, 0, sizeof(c));
	c.m = &m;
	c.p = &p;
	check(img_writer_init(&w, fd, NAME, &err), &err);
	check(context_write_header(&w, &m, &err), &err);
	check(proc_ops.encode(&c, &w, &err), &err);
	if (optional)
		check(img_write_record(&w, 0x1234, 0, "optional", 8, &err), &err);
	if (pages) {
		buf_init(&head);
		put_u32(&head, 4242);
		put_u32(&head, 1);
		put_u64(&head, sizeof(data));
		put_u64(&head, 0x400000);
		put_u64(&head, 2);
		memset(data, 0xa5, sizeof(data));
		check(img_write_pages(&w, head.data, head.len, data, sizeof(data), &err), &err);
		buf_fini(&head);
	}
	check(img_write_end(&w, &err), &err);
	img_writer_fini(&w);
	buf_init(&all);
	if (lseek(fd, 0, SEEK_SET) != 0 || buf_read_fd(&all, fd) < 0)
		exit(1);
	write_seed(dir, name, all.data, all.len);
	buf_fini(&all);
	close(fd);
}

/* A real context without its page data: small enough to mutate quickly, and every
 * other record of a real process for the decoders. */
static void write_real_seed(const char *dir, const char *path)
{
	struct buf in;
	uint8_t *out;
	size_t n;

	buf_init(&in);
	if (buf_read_file(&in, path) < 0) {
		fprintf(stderr, "fuzz_context: cannot read %s\n", path);
		exit(1);
	}
	out = malloc(2 * in.len + 64);
	if (!out)
		exit(1);
	n = repair(in.data, in.len, out, true);
	write_seed(dir, "real-without-pages", out, n);
	free(out);
	buf_fini(&in);
}

static void write_seeds(const char *dir)
{
	uint8_t pre[IMG_PREAMBLE_LEN] = "CRESTCTX\x01";

	write_seed(dir, "empty", "", 0);
	write_seed(dir, "preamble-only", pre, sizeof(pre));
	memcpy(pre, "CRESTCTY", 8);
	write_seed(dir, "bad-magic", pre, sizeof(pre));
	memcpy(pre, "CRESTCTX\x02", 9);
	write_seed(dir, "newer-version", pre, sizeof(pre));
	write_made_seed(dir, "header-and-process", false, false);
	write_made_seed(dir, "with-optional-record", false, true);
	write_made_seed(dir, "with-pages", true, false);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *seeds = getenv("CREST_FUZZ_SEEDS");
	const char *real = getenv("CREST_FUZZ_REAL");

	(void)argc;
	(void)argv;
	if (seeds) {
		write_seeds(seeds);
		if (real)
			write_real_seed(seeds, real);
		exit(0);
	}
	memfd = memfd_create("fuzz-context", MFD_CLOEXEC);
	if (memfd < 0) {
		perror("fuzz_context: memfd_create");
		exit(1);
	}
	return 0;
}
