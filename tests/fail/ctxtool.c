/* ctxtool: look at and damage a crest context file, for the failure-path tests.
 *
 *   ctxtool list FILE                   one line per record:
 *                                       INDEX TYPE NAME OFFSET LENGTH FLAGS
 *                                       (OFFSET of the 24-byte header, LENGTH of the
 *                                       payload); then "size N"
 *   ctxtool flip FILE OFFSET [MASK]     XOR the byte at OFFSET with MASK (default 0xff)
 *   ctxtool poke FILE OFFSET VALUE      set the byte at OFFSET to VALUE
 *   ctxtool trunc FILE LENGTH           cut the file to LENGTH bytes
 *   ctxtool fixcrc FILE INDEX           recompute record INDEX's payload and header CRCs
 *   ctxtool retype FILE INDEX TYPE FLAGS
 *                                       give record INDEX another type and flags, and
 *                                       fix its header CRC and the end record's index
 *   ctxtool insert FILE TYPE FLAGS LENGTH
 *                                       add a record of LENGTH bytes just before the
 *                                       end record, and fix the index
 *
 * It knows only the framing (docs/context-format.md): the 16-byte preamble
 * ("CRESTCTX", u32 version, u32 zero), then records of a 24-byte header (u32 type,
 * u32 flags, u64 payload length, u32 CRC-32C of the payload, u32 CRC-32C of the 20
 * header bytes before it) and a payload; the end record (type 0x7fff) holds u32 count
 * then count entries of (u32 type, u64 offset). All little-endian. Exit 0, or 1 with
 * a message. Numbers may be given in decimal or 0x hex. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PREAMBLE 16
#define HDR 24
#define REC_END 0x7fff

static const char *const names[] = {
    [1] = "header",      [2] = "process", [3] = "memory-map",   [4] = "pages",
    [5] = "thread",      [6] = "signals", [7] = "timers",       [8] = "file",
    [9] = "descriptors", [10] = "pipe",   [11] = "credentials", [12] = "file-data",
    [13] = "locks",       [14] = "sysvipc",     [15] = "part",
};

static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
	va_list ap;

	fputs("ctxtool: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static uint32_t crc32c(uint32_t crc, const uint8_t *p, size_t n)
{
	uint32_t r = ~crc;

	while (n--) {
		r ^= *p++;
		for (int k = 0; k < 8; k++)
			r = (r >> 1) ^ (0x82f63b78u & (0u - (r & 1)));
	}
	return ~r;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static void wr32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void wr64(uint8_t *p, uint64_t v)
{
	wr32(p, (uint32_t)v);
	wr32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t num(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || !*s || *end)
		die("bad number '%s'", s);
	return v;
}

struct file {
	uint8_t *data;
	size_t size;
};

static struct file load(const char *path)
{
	struct file f = {NULL, 0};
	struct stat st;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st) < 0)
		die("cannot open %s: %s", path, strerror(errno));
	f.size = (size_t)st.st_size;
	f.data = malloc(f.size + 1);
	if (!f.data)
		die("out of memory");
	for (size_t got = 0; got < f.size;) {
		ssize_t k = read(fd, f.data + got, f.size - got);

		if (k <= 0)
			die("cannot read %s", path);
		got += (size_t)k;
	}
	close(fd);
	return f;
}

static void save(const char *path, const struct file *f)
{
	/* The context is mode 0400: write through a new file, then rename. */
	char tmp[4200];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.ctxtool", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		die("cannot create %s: %s", tmp, strerror(errno));
	if (write(fd, f->data, f->size) != (ssize_t)f->size)
		die("cannot write %s", tmp);
	close(fd);
	if (rename(tmp, path) < 0)
		die("cannot rename %s: %s", tmp, strerror(errno));
}

struct rec {
	uint32_t type, flags;
	uint64_t off, len;
};

/* Walk the records; returns how many were found whole, up to max. */
static size_t walk(const struct file *f, struct rec *r, size_t max)
{
	uint64_t off = PREAMBLE;
	size_t n = 0;

	if (f->size < PREAMBLE)
		return 0;
	while (n < max && off + HDR <= f->size) {
		const uint8_t *h = f->data + off;

		r[n].type = rd32(h);
		r[n].flags = rd32(h + 4);
		r[n].len = rd64(h + 8);
		r[n].off = off;
		n++;
		if (r[n - 1].type == REC_END || r[n - 1].len > f->size - off - HDR)
			break;
		off += HDR + r[n - 1].len;
	}
	return n;
}

static void fix_header(struct file *f, uint64_t off)
{
	wr32(f->data + off + 20, crc32c(0, f->data + off, 20));
}

static void fix_payload(struct file *f, const struct rec *r)
{
	if (r->off + HDR + r->len > f->size)
		die("record at %llu runs past the end", (unsigned long long)r->off);
	wr32(f->data + r->off + 16, crc32c(0, f->data + r->off + HDR, r->len));
	fix_header(f, r->off);
}

#define MAXREC 100000
static struct rec recs[MAXREC];

static size_t find_end(const struct file *f, size_t n)
{
	if (n == 0 || recs[n - 1].type != REC_END)
		die("no end record");
	(void)f;
	return n - 1;
}

int main(int argc, char **argv)
{
	struct file f;
	size_t n;

	if (argc < 3)
		die("usage: ctxtool list|flip|poke|trunc|fixcrc|retype|insert FILE ...");
	if (!strcmp(argv[1], "trunc") && argc == 4) {
		if (truncate(argv[2], (off_t)num(argv[3])) < 0)
			die("cannot truncate %s: %s", argv[2], strerror(errno));
		return 0;
	}
	f = load(argv[2]);
	n = walk(&f, recs, MAXREC);
	if (!strcmp(argv[1], "list") && argc == 3) {
		for (size_t i = 0; i < n; i++) {
			const char *nm =
			    recs[i].type == REC_END ? "end"
			    : recs[i].type < sizeof(names) / sizeof(names[0]) && names[recs[i].type]
				? names[recs[i].type]
				: "unknown";

			printf("%zu %u %s %llu %llu %u\n", i, recs[i].type, nm,
			       (unsigned long long)recs[i].off, (unsigned long long)recs[i].len,
			       recs[i].flags);
		}
		printf("size %zu\n", f.size);
	} else if ((!strcmp(argv[1], "flip") && (argc == 4 || argc == 5)) ||
		   (!strcmp(argv[1], "poke") && argc == 5)) {
		uint64_t off = num(argv[3]);
		uint64_t v = argc == 5 ? num(argv[4]) : 0xff;

		if (off >= f.size || v > 0xff)
			die("offset or value out of range");
		if (argv[1][0] == 'f')
			f.data[off] ^= (uint8_t)v;
		else
			f.data[off] = (uint8_t)v;
		save(argv[2], &f);
	} else if (!strcmp(argv[1], "fixcrc") && argc == 4) {
		uint64_t i = num(argv[3]);

		if (i >= n)
			die("no record %llu", (unsigned long long)i);
		fix_payload(&f, &recs[i]);
		save(argv[2], &f);
	} else if (!strcmp(argv[1], "retype") && argc == 6) {
		uint64_t i = num(argv[3]);
		size_t e = find_end(&f, n);
		uint8_t *idx = f.data + recs[e].off + HDR;

		if (i >= e)
			die("no record %llu before the end record", (unsigned long long)i);
		wr32(f.data + recs[i].off, (uint32_t)num(argv[4]));
		wr32(f.data + recs[i].off + 4, (uint32_t)num(argv[5]));
		fix_header(&f, recs[i].off);
		if (recs[e].len < 4 + 12 * (i + 1))
			die("end record too short");
		wr32(idx + 4 + 12 * i, (uint32_t)num(argv[4]));
		fix_payload(&f, &recs[e]);
		save(argv[2], &f);
	} else if (!strcmp(argv[1], "insert") && argc == 6) {
		size_t e = find_end(&f, n);
		uint64_t len = num(argv[5]), eoff = recs[e].off, elen = recs[e].len;
		size_t nsize = f.size + HDR + len + 12;
		uint8_t *d = calloc(1, nsize);
		struct file g = {d, nsize};
		struct rec nr, end;

		if (!d)
			die("out of memory");
		memcpy(d, f.data, eoff);
		/* the new record */
		wr32(d + eoff, (uint32_t)num(argv[3]));
		wr32(d + eoff + 4, (uint32_t)num(argv[4]));
		wr64(d + eoff + 8, len);
		for (uint64_t k = 0; k < len; k++)
			d[eoff + HDR + k] = (uint8_t)(k * 31 + 7);
		nr = (struct rec){0, 0, eoff, len};
		fix_payload(&g, &nr);
		/* the end record, one entry longer */
		end = (struct rec){REC_END, 0, eoff + HDR + len, elen + 12};
		memcpy(d + end.off, f.data + eoff, HDR + elen);
		wr64(d + end.off + 8, end.len);
		wr32(d + end.off + HDR, rd32(f.data + eoff + HDR) + 1);
		wr32(d + end.off + HDR + elen, (uint32_t)num(argv[3]));
		wr64(d + end.off + HDR + elen + 4, eoff);
		fix_payload(&g, &end);
		save(argv[2], &g);
	} else {
		die("bad command or arguments");
	}
	return 0;
}
