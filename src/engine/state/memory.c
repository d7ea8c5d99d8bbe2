/* state/memory.c: the address space: every mapping with its range, protection, flags
 * and madvise state; the contents of anonymous memory (only pages ever touched) and
 * the dirty pages of private file mappings; file mappings by reference; where [vdso]
 * and [vvar] were; brk, code/data/stack bounds, arg/env, auxv and the exe link.
 *
 * Not yet: mappings of deleted files and memfds, userfaultfd registrations (each
 * fails the checkpoint with a message naming it). System V shared memory is saved by
 * sysvipc.c and attached again whole at its address (sysvipc_attach).
 *
 * Restore runs inside the new process, a copy of cr_restart: a trampoline page is
 * mapped where the saved layout leaves room, everything of cr_restart is unmapped,
 * the vdso is placed where it was, each area is mapped at its address and filled
 * from the mapped context file by cr_restart (UFFDIO_COPY, process_vm_writev), then
 * PR_SET_MM_MAP sets the mm fields and the exe link. */
#define LOG_PREFIX "memory: "
#include "state.h"

#include "fsaved.h"
#include "sysvipc.h"

#include "../compat.h"
#include "../err.h"
#include "../image.h"
#include "../log.h"
#include "../pagepipe.h"
#include "../../util/buf.h"
#include "../../util/crc32c.h"
#include "../../util/out.h"
#include "../../util/procfs.h"
#include "../../util/ranges.h"
#include "../../util/wire.h"

#include <asm/prctl.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <linux/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "../banned.h"

#define PAGE 4096ull
#define MAX_VMAS 1000000u
#define USER_TOP (1ull << 56)
#define CHUNK_BYTES (2u << 20) /* page data per record: small enough to stay in cache between
				  * the reading and the writing thread (measured best) */
#define CHUNK_RUNS 1024u

#define PM_PRESENT (1ull << 63)
#define PM_SWAPPED (1ull << 62)
#define PM_FILE (1ull << 61)
#define PM_PFN_MASK ((1ull << 55) - 1)

/* /proc/PID/NAME into b, initialised here; freed again on failure. */
static int read_proc(struct buf *b, pid_t pid, const char *name, struct err *err)
{
	char path[64];
	int rc;

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, name);
	buf_init(b);
	rc = buf_read_file(b, path);
	if (rc < 0) {
		buf_fini(b);
		return err_code(err, rc, "cannot read %s", path);
	}
	return 0;
}

/* The next line of the text at *pos, cut off there in place; NULL at the end. */
static char *next_line(char **pos)
{
	char *line = *pos;

	if (!line || !*line)
		return NULL;
	*pos = strchr(line, '\n');
	if (*pos)
		*(*pos)++ = '\0';
	return line;
}

/* ---- checkpoint ---- */

struct mem_run {
	uint64_t vaddr, npages;
	uint32_t vma;
};

struct dump_mem {
	struct mem_run *runs;
	uint32_t nruns, cap;
	uint64_t zero_pfn; /* the shared zero page: mapped, but never written */
	bool no_scan;      /* the kernel has no PAGEMAP_SCAN */
};

static int add_run(struct dump_mem *dm, uint64_t vaddr, uint64_t npages, uint32_t vma)
{
	if (dm->nruns && dm->runs[dm->nruns - 1].vma == vma &&
	    dm->runs[dm->nruns - 1].vaddr + dm->runs[dm->nruns - 1].npages * PAGE == vaddr) {
		dm->runs[dm->nruns - 1].npages += npages;
		return 0;
	}
	if (dm->nruns == dm->cap) {
		uint32_t ncap = dm->cap ? dm->cap * 2 : 256;
		struct mem_run *n = realloc(dm->runs, (size_t)ncap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		dm->runs = n;
		dm->cap = ncap;
	}
	dm->runs[dm->nruns++] = (struct mem_run){vaddr, npages, vma};
	return 0;
}

/* The PFN of the zero page, from a page of our own that was only read. */
static uint64_t own_zero_pfn(void)
{
	volatile uint8_t *p = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t e = 0;
	int fd;

	if (p == MAP_FAILED)
		return 0;
	(void)p[0];
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (pread(fd, &e, sizeof(e), (off_t)((uintptr_t)p / PAGE * 8)) != sizeof(e))
			e = 0;
		close(fd);
	}
	munmap((void *)p, PAGE);
	return (e & PM_PRESENT) ? (e & PM_PFN_MASK) : 0;
}

static const struct {
	const char code[3];
	uint32_t adv;
} vmflags[] = {
	{"gd", VADV_GROWSDOWN}, {"lo", VADV_LOCKED},     {"dc", VADV_DONTFORK},
	{"dd", VADV_DONTDUMP},  {"hg", VADV_HUGEPAGE},   {"nh", VADV_NOHUGEPAGE},
	{"mg", VADV_MERGEABLE}, {"wf", VADV_WIPEONFORK}, {"sr", VADV_SEQ},
	{"rr", VADV_RAND},      {"ms", VADV_MAYSHARE},   {"lf", VADV_LOCKONFAULT},
	{"mw", VADV_MAYWRITE},   {"nr", VADV_NORESERVE},
};

static uint32_t parse_vmflags(const char *s, bool *ret_uffd)
{
	uint32_t adv = 0;

	*ret_uffd = false;
	while (*s && *s != '\n') {
		while (*s == ' ')
			s++;
		if (!s[0] || !s[1] || s[0] == '\n')
			break;
		for (size_t i = 0; i < sizeof(vmflags) / sizeof(vmflags[0]); i++)
			if (s[0] == vmflags[i].code[0] && s[1] == vmflags[i].code[1])
				adv |= vmflags[i].adv;
		if (s[0] == 'u' && (s[1] == 'm' || s[1] == 'w' || s[1] == 'i'))
			*ret_uffd = true;
		s += 2;
	}
	return adv;
}

static int stat_mapped(pid_t pid, const struct vma_img *v, struct stat *st)
{
	char path[96];

	snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", pid,
		 (unsigned long long)v->start, (unsigned long long)v->end);
	return stat(path, st) < 0 ? -errno : 0;
}

/* Is the mapped file (mapped) the process's executable? */
static bool is_exe(struct dump_ctx *c, const struct stat *mapped)
{
	char path[64];
	struct stat exe;

	snprintf(path, sizeof(path), "/proc/%d/exe", c->p->pid);
	return stat(path, &exe) == 0 && exe.st_dev == mapped->st_dev && exe.st_ino == mapped->st_ino;
}

/* --save-exe, --save-private, --save-shared: a mapping of a file that is there is
 * saved by contents all the same. */
static bool save_asked(struct dump_ctx *c, const struct vma_img *v, const struct stat *mapped)
{
	if (v->shared)
		return c->save_flags & SAVE_SHARED;
	return (c->save_flags & SAVE_PRIVATE) || ((c->save_flags & SAVE_EXEC) && is_exe(c, mapped));
}

/* A mapping whose file is saved by contents (fsaved.h): a memfd, a file deleted or
 * replaced, or one a --save-* option names. The bytes it maps are saved (the whole
 * file for --save-shared, as BLCR does), once per file; its copied-on-write pages as
 * for any private file mapping. */
static int classify_saved(struct dump_ctx *c, struct vma_img *v, const struct maps_line *ml,
			  uint32_t kind, struct err *err)
{
	size_t len = strlen(ml->path);
	struct stat st;
	int rc;

	rc = fsaved_mapping(c, kind, ml->path, v->start, v->end, v->pgoff,
			    v->shared && (c->save_flags & SAVE_SHARED), &st, err);
	if (rc < 0)
		return rc;
	v->kind = VMA_FILE_SAVED;
	v->path = strdup(ml->path);
	if (!v->path)
		return err_set(err, -ENOMEM, "out of memory");
	if (len > 10 && !strcmp(v->path + len - 10, " (deleted)"))
		v->path[len - 10] = '\0';
	v->dev = st.st_dev;
	v->ino = st.st_ino;
	v->file_size = (uint64_t)st.st_size;
	v->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	return 0;
}

/* Classify one mapping; fills kind and path. Returns 1 to skip it, or -errno. */
static int classify(struct dump_ctx *c, struct vma_img *v, const struct maps_line *ml,
		    struct err *err)
{
	const char *path = ml->path;
	struct stat mapped, named;
	size_t len = strlen(path);
	bool deleted;

	if (!strcmp(path, "[vsyscall]") || !strcmp(path, "[uprobes]"))
		return 1;
	if (!strcmp(path, "[vdso]")) {
		v->kind = VMA_VDSO;
		return 0;
	}
	if (!strcmp(path, "[vvar]")) {
		v->kind = VMA_VVAR;
		return 0;
	}
	if (!strcmp(path, "[vvar_vclock]")) {
		v->kind = VMA_VVAR_VCLOCK;
		return 0;
	}
	if (path[0] == '[' || path[0] == '\0') {
		if (v->shared) {
			v->kind = VMA_SHANON;
			v->dev = makedev(ml->dev_major, ml->dev_minor);
			v->ino = ml->ino;
			return 0;
		}
		if (path[0] == '[' && strcmp(path, "[heap]") && strcmp(path, "[stack]") &&
		    strncmp(path, "[anon:", 6) && strncmp(path, "[stack:", 7))
			return err_set(err, -ENOTSUP,
				       "pid %d: cannot checkpoint special mapping %s at %#llx",
				       c->p->pid, path, (unsigned long long)v->start);
		v->kind = VMA_ANON;
		return 0;
	}
	deleted = len > 10 && !strcmp(path + len - 10, " (deleted)");
	if (v->shared && deleted && !strcmp(path, "/dev/zero (deleted)")) {
		/* Its inode tells which areas, in this process or others, are one
		 * object (fork, mremap). */
		v->kind = VMA_SHANON;
		v->dev = makedev(ml->dev_major, ml->dev_minor);
		v->ino = ml->ino;
		return 0;
	}
	if (!strncmp(path, "/SYSV", 5) && v->shared && deleted) {
		/* Its inode number is the segment's id; sysvipc.c saves the segment. */
		v->kind = VMA_SYSVSHM;
		v->dev = makedev(ml->dev_major, ml->dev_minor);
		v->ino = ml->ino;
		return 0;
	}
	if (deleted && !strncmp(path, "/memfd:", 7))
		return classify_saved(c, v, ml, FILE_MEMFD, err);
	/* The file at path must be the one mapped: same device and inode as maps
	 * says, or as map_files says where the two differ (overlay file systems).
	 * Otherwise (deleted, replaced) its contents are saved. */
	if (deleted || stat(path, &named) < 0 ||
	    ((named.st_ino != ml->ino ||
	      named.st_dev != makedev(ml->dev_major, ml->dev_minor)) &&
	     (stat_mapped(c->p->pid, v, &mapped) < 0 || named.st_ino != mapped.st_ino ||
	      named.st_dev != mapped.st_dev)))
		return classify_saved(c, v, ml, FILE_DELETED, err);
	mapped = named;
	if (!S_ISREG(mapped.st_mode))
		return err_set(err, -ENOTSUP,
			       "pid %d: mapping at %#llx of %s (not a regular file) is not "
			       "supported",
			       c->p->pid, (unsigned long long)v->start, path);
	if (save_asked(c, v, &mapped))
		return classify_saved(c, v, ml, FILE_DELETED, err);
	v->kind = VMA_FILE;
	v->path = strdup(path);
	if (!v->path)
		return err_set(err, -ENOMEM, "out of memory");
	v->dev = mapped.st_dev;
	v->ino = mapped.st_ino;
	v->file_size = (uint64_t)mapped.st_size;
	v->mtime_ns = (int64_t)mapped.st_mtim.tv_sec * 1000000000 + mapped.st_mtim.tv_nsec;
	return 0;
}

static int read_smaps(struct dump_ctx *c, struct err *err)
{
	struct proc_img *p = c->p;
	struct vma_img *v = NULL;
	char *line, *pos;
	struct buf b;
	int rc = read_proc(&b, p->pid, "smaps", err);

	if (rc < 0)
		return rc;
	for (pos = (char *)b.data; (line = next_line(&pos));) {
		struct maps_line ml;
		bool uffd;

		if (!strncmp(line, "VmFlags:", 8)) {
			if (v) {
				v->adv = parse_vmflags(line + 8, &uffd);
				if (uffd) {
					rc = err_set(err, -ENOTSUP,
						     "pid %d: area at %#llx is registered with "
						     "userfaultfd, which is not supported yet",
						     p->pid, (unsigned long long)v->start);
					break;
				}
			}
			continue;
		}
		/* Header lines start with a hex address and a '-'; the rest are "Key:". */
		if (procfs_parse_maps_line(line, &ml) < 0 || strchr(line, ':') == line + 0)
			continue;
		if (!strchr(line, '-') || strchr(line, '-') > strchr(line, ' '))
			continue;
		if (ml.start == c->scratch) {
			v = NULL; /* its VmFlags are nobody's */
			continue; /* crest's own scratch page, gone once the target runs again */
		}
		if (p->nvmas >= MAX_VMAS) {
			rc = err_set(err, -E2BIG, "pid %d: too many memory areas", p->pid);
			break;
		}
		v = model_grow((void **)&p->vmas, &p->nvmas, sizeof(*v));
		if (!v) {
			rc = err_set(err, -ENOMEM, "out of memory");
			break;
		}
		v->start = ml.start;
		v->end = ml.end;
		v->pgoff = ml.pgoff;
		v->prot = (ml.perms[0] == 'r' ? PROT_READ : 0) |
			  (ml.perms[1] == 'w' ? PROT_WRITE : 0) |
			  (ml.perms[2] == 'x' ? PROT_EXEC : 0);
		v->shared = ml.perms[3] == 's';
		rc = classify(c, v, &ml, err);
		if (rc == 1) {
			p->nvmas--;
			v = NULL;
			rc = 0;
			continue;
		}
		if (rc < 0)
			break;
	}
	buf_fini(&b);
	return rc;
}

/* Which pages of an area the image must hold. */
static bool wants_pages(const struct vma_img *v)
{
	return v->kind == VMA_ANON || v->kind == VMA_SHANON ||
	       ((v->kind == VMA_FILE || v->kind == VMA_FILE_SAVED) && !v->shared);
}

/* The same, reading the page map entry by entry (kernels before PAGEMAP_SCAN). */
static int scan_pages_slow(struct dump_ctx *c, int pm_fd, uint32_t vi, struct err *err)
{
	struct vma_img *v = &c->p->vmas[vi];
	uint64_t buf[4096];
	uint64_t n = (v->end - v->start) / PAGE;

	for (uint64_t i = 0; i < n;) {
		uint64_t want = n - i < 4096 ? n - i : 4096;
		ssize_t k = pread(pm_fd, buf, want * 8, (off_t)((v->start / PAGE + i) * 8));
		uint64_t got, run_start = 0, run_len = 0;

		if (k < 0)
			return err_sys(err, "pid %d: cannot read the page map at %#llx", c->p->pid,
				       (unsigned long long)(v->start + i * PAGE));
		got = (uint64_t)k / 8;
		if (got == 0)
			break;
		for (uint64_t j = 0; j < got; j++) {
			uint64_t e = buf[j];
			bool take;

			if (v->kind == VMA_FILE || v->kind == VMA_FILE_SAVED) /* private: copied on write */
				take = ((e & PM_PRESENT) && !(e & PM_FILE)) ||
				       ((e & PM_SWAPPED) && !(e & PM_FILE));
			else
				take = (e & (PM_PRESENT | PM_SWAPPED)) != 0;
			if (take && v->kind == VMA_ANON && (e & PM_PRESENT) && c->mem->zero_pfn &&
			    (e & PM_PFN_MASK) == c->mem->zero_pfn)
				take = false; /* read but never written: reads as zero anyway */
			if (take) {
				if (!run_len)
					run_start = v->start + (i + j) * PAGE;
				run_len++;
				continue;
			}
			if (run_len && add_run(c->mem, run_start, run_len, vi) < 0)
				return err_set(err, -ENOMEM, "out of memory");
			v->pages_saved += run_len;
			run_len = 0;
		}
		if (run_len && add_run(c->mem, run_start, run_len, vi) < 0)
			return err_set(err, -ENOMEM, "out of memory");
		v->pages_saved += run_len;
		i += got;
	}
	return 0;
}

/* Which pages of area vi the image must hold: PAGEMAP_SCAN (6.7+) walks the page
 * tables and skips what was never mapped, so a huge sparse area (a sanitizer's
 * shadow, a JVM heap reservation) costs next to nothing. Anonymous memory: pages
 * present or swapped out, but not the shared zero page (read, never written).
 * Private file mappings: pages that are no longer the file's (copied on write). */
static int scan_pages(struct dump_ctx *c, int pm_fd, uint32_t vi, struct err *err)
{
	struct vma_img *v = &c->p->vmas[vi];
	struct page_region regions[256];
	struct pm_scan_arg a;
	uint64_t at = v->start;

	if (c->mem->no_scan)
		return scan_pages_slow(c, pm_fd, vi, err);
	while (at < v->end) {
		long n;

		memset(&a, 0, sizeof(a));
		a.size = sizeof(a);
		a.start = at;
		a.end = v->end;
		a.vec = (uint64_t)(uintptr_t)regions;
		a.vec_len = sizeof(regions) / sizeof(regions[0]);
		a.category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED;
		if (v->kind == VMA_ANON) {
			a.category_mask = PAGE_IS_PFNZERO;
			a.category_inverted = PAGE_IS_PFNZERO;
		} else if (v->kind == VMA_FILE || v->kind == VMA_FILE_SAVED) {
			a.category_mask = PAGE_IS_FILE;
			a.category_inverted = PAGE_IS_FILE;
		}
		a.return_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED;
		n = ioctl(pm_fd, PAGEMAP_SCAN, &a);
		if (n < 0 && (errno == ENOTTY || errno == EINVAL) && at == v->start) {
			c->mem->no_scan = true;
			return scan_pages_slow(c, pm_fd, vi, err);
		}
		if (n < 0)
			return err_sys(err, "pid %d: cannot scan the page map at %#llx", c->p->pid,
				       (unsigned long long)at);
		for (long i = 0; i < n; i++) {
			uint64_t np = (regions[i].end - regions[i].start) / PAGE;

			if (add_run(c->mem, regions[i].start, np, vi) < 0)
				return err_set(err, -ENOMEM, "out of memory");
			v->pages_saved += np;
		}
		if (a.walk_end <= at)
			break;
		at = a.walk_end;
	}
	return 0;
}

static int read_mm(struct dump_ctx *c, struct err *err)
{
	struct proc_img *p = c->p;
	struct mm_img *mm = &p->mm;
	struct proc_stat st;
	char path[64];
	struct buf b;
	long brk;
	int rc;

	rc = procfs_stat(p->pid, 0, &st);
	if (rc < 0)
		return err_code(err, rc, "cannot read /proc/%d/stat", p->pid);
	mm->start_code = st.f[26];
	mm->end_code = st.f[27];
	mm->start_stack = st.f[28];
	mm->start_data = st.f[45];
	mm->end_data = st.f[46];
	mm->start_brk = st.f[47];
	mm->arg_start = st.f[48];
	mm->arg_end = st.f[49];
	mm->env_start = st.f[50];
	mm->env_end = st.f[51];
	brk = inject_syscall(&c->inj, SYS_brk, 0, 0, 0, 0, 0, 0, err);
	if (brk == INJECT_FAILED)
		return err->code;
	mm->brk = (uint64_t)brk;

	snprintf(path, sizeof(path), "/proc/%d/auxv", p->pid);
	buf_init(&b);
	rc = buf_read_file(&b, path);
	if (rc < 0 || b.len > 4096) {
		buf_fini(&b);
		return err_code(err, rc < 0 ? rc : -E2BIG, "cannot read %s", path);
	}
	mm->auxv = malloc(b.len ? b.len : 1);
	if (!mm->auxv) {
		buf_fini(&b);
		return err_set(err, -ENOMEM, "out of memory");
	}
	memcpy(mm->auxv, b.data, b.len);
	mm->auxv_len = (uint32_t)b.len;
	buf_fini(&b);

	for (uint32_t i = 0; i < p->nvmas; i++) {
		struct vma_img *v = &p->vmas[i];
		uint8_t *text;

		if (v->kind != VMA_VDSO)
			continue;
		mm->vdso_len = v->end - v->start;
		text = malloc(mm->vdso_len);
		if (!text)
			return err_set(err, -ENOMEM, "out of memory");
		if (pread(c->memfd, text, mm->vdso_len, (off_t)v->start) != (ssize_t)mm->vdso_len) {
			free(text);
			return err_sys(err, "pid %d: cannot read its vdso", p->pid);
		}
		mm->vdso_crc = crc32c(CRC32C_INIT, text, mm->vdso_len);
		free(text);
	}
	return 0;
}

static int mem_collect(struct dump_ctx *c, struct err *err)
{
	char path[64];
	int pm_fd, rc;

	c->mem = calloc(1, sizeof(*c->mem));
	if (!c->mem)
		return err_set(err, -ENOMEM, "out of memory");
	c->mem->zero_pfn = own_zero_pfn();
	rc = read_smaps(c, err);
	if (rc < 0)
		return rc;
	rc = read_mm(c, err);
	if (rc < 0)
		return rc;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", c->p->pid);
	pm_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (pm_fd < 0)
		return err_sys(err, "cannot open %s", path);
	for (uint32_t i = 0; i < c->p->nvmas && rc == 0; i++)
		if (wants_pages(&c->p->vmas[i]))
			rc = scan_pages(c, pm_fd, i, err);
	close(pm_fd);
	return rc;
}

static void encode_vmas(struct buf *b, const struct proc_img *p)
{
	const struct mm_img *mm = &p->mm;

	put_u32(b, (uint32_t)p->pid);
	put_u64(b, mm->start_code);
	put_u64(b, mm->end_code);
	put_u64(b, mm->start_data);
	put_u64(b, mm->end_data);
	put_u64(b, mm->start_brk);
	put_u64(b, mm->brk);
	put_u64(b, mm->start_stack);
	put_u64(b, mm->arg_start);
	put_u64(b, mm->arg_end);
	put_u64(b, mm->env_start);
	put_u64(b, mm->env_end);
	put_blob(b, mm->auxv, mm->auxv_len);
	put_u64(b, mm->vdso_crc);
	put_u64(b, mm->vdso_len);
	put_u32(b, p->nvmas);
	for (uint32_t i = 0; i < p->nvmas; i++) {
		const struct vma_img *v = &p->vmas[i];

		put_u64(b, v->start);
		put_u64(b, v->end);
		put_u64(b, v->pgoff);
		put_u32(b, v->prot);
		put_u32(b, v->shared);
		put_u32(b, v->kind);
		put_u32(b, v->adv);
		put_str(b, v->path);
		put_u64(b, v->dev);
		put_u64(b, v->ino);
		put_u64(b, v->file_size);
		put_i64(b, v->mtime_ns);
		put_u64(b, v->pages_saved);
	}
}

/* Copy pages of the frozen target into dst: process_vm_readv, and /proc/PID/mem for
 * what it cannot read (pages without PROT_READ). */
static int read_target(struct dump_ctx *c, uint64_t vaddr, uint8_t *dst, size_t len,
		       struct err *err)
{
	struct iovec local = {dst, len}, remote = {(void *)vaddr, len};
	ssize_t k = process_vm_readv(c->p->pid, &local, 1, &remote, 1, 0);
	size_t done = k > 0 ? (size_t)k : 0;

	while (done < len) {
		ssize_t r = pread(c->memfd, dst + done, len - done, (off_t)(vaddr + done));

		if (r <= 0)
			return err_set(err, r < 0 ? -errno : -EIO,
				       "pid %d: cannot read memory at %#llx: %s", c->p->pid,
				       (unsigned long long)(vaddr + done),
				       r < 0 ? strerror(errno) : "short read");
		done += (size_t)r;
	}
	return 0;
}

/* Queue one page record: the run list with its count and data length filled in. */
static int flush_chunk(struct pagepipe *pp, struct buf *runs, uint32_t nruns, size_t len,
		       struct err *err)
{
	uint8_t *h = runs->data;

	if (runs->oom)
		return err_set(err, -ENOMEM, "out of memory");
	for (int i = 0; i < 4; i++)
		h[4 + i] = (uint8_t)(nruns >> (8 * i));
	for (int i = 0; i < 8; i++)
		h[8 + i] = (uint8_t)((uint64_t)len >> (8 * i));
	return pagepipe_submit(pp, runs->data, runs->len, len, err);
}

/* Stream the saved pages in records of up to CHUNK_BYTES: this thread reads target
 * memory into one buffer while the pipe's thread writes the previous one. */
static int encode_pages(struct dump_ctx *c, struct img_writer *w, struct err *err)
{
	struct dump_mem *dm = c->mem;
	struct pagepipe *pp = NULL;
	uint8_t *data;
	struct buf runs;
	size_t used = 0;
	uint32_t nruns = 0;
	int rc;

	rc = pagepipe_start(&pp, w, CHUNK_BYTES, 3, err);
	if (rc < 0)
		return rc;
	data = pagepipe_buf(pp);
	buf_init(&runs);
	put_u32(&runs, (uint32_t)c->p->pid);
	put_u32(&runs, 0);
	put_u64(&runs, 0);
	for (uint32_t i = 0; i < dm->nruns && rc == 0; i++) {
		uint64_t vaddr = dm->runs[i].vaddr, left = dm->runs[i].npages;

		while (left > 0 && rc == 0) {
			uint64_t room = (CHUNK_BYTES - used) / PAGE;
			uint64_t n = left < room ? left : room;

			rc = read_target(c, vaddr, data + used, (size_t)(n * PAGE), err);
			if (rc < 0)
				break;
			put_u64(&runs, vaddr);
			put_u64(&runs, n);
			nruns++;
			used += (size_t)(n * PAGE);
			vaddr += n * PAGE;
			left -= n;
			if (used == CHUNK_BYTES || nruns == CHUNK_RUNS) {
				rc = flush_chunk(pp, &runs, nruns, used, err);
				runs.len = 16;
				used = 0;
				nruns = 0;
				data = pagepipe_buf(pp);
			}
		}
	}
	if (rc == 0 && nruns)
		rc = flush_chunk(pp, &runs, nruns, used, err);
	buf_fini(&runs);
	if (pagepipe_finish(pp, err) < 0 && rc == 0)
		rc = err->code;
	return rc;
}

static int mem_encode(struct dump_ctx *c, struct img_writer *w, struct err *err)
{
	struct buf b;
	int rc;

	buf_init(&b);
	encode_vmas(&b, c->p);
	rc = b.oom ? err_set(err, -ENOMEM, "out of memory")
		   : img_write_record(w, REC_VMAS, REC_F_REQUIRED, b.data, b.len, err);
	buf_fini(&b);
	if (rc < 0)
		return rc;
	return encode_pages(c, w, err);
}

static void mem_dump_cleanup(struct dump_ctx *c)
{
	if (!c->mem)
		return;
	free(c->mem->runs);
	free(c->mem);
	c->mem = NULL;
}

/* ---- reading ---- */

static int decode_vmas(struct model *m, const struct img_rec *rec, const struct img_reader *r,
		       struct err *err)
{
	struct wire_rd rd;
	struct proc_img *p;
	struct mm_img *mm;
	const void *auxv;
	uint32_t n;

	wr_init(&rd, rec->payload, rec->len);
	p = state_rec_proc(m, &rd, rec, r, err);
	if (!p)
		return err->code;
	if (p->vmas || p->mm.auxv)
		return img_rec_corrupt(r, rec, "a second memory map for the process", err);
	mm = &p->mm;
	mm->start_code = get_u64(&rd);
	mm->end_code = get_u64(&rd);
	mm->start_data = get_u64(&rd);
	mm->end_data = get_u64(&rd);
	mm->start_brk = get_u64(&rd);
	mm->brk = get_u64(&rd);
	mm->start_stack = get_u64(&rd);
	mm->arg_start = get_u64(&rd);
	mm->arg_end = get_u64(&rd);
	mm->env_start = get_u64(&rd);
	mm->env_end = get_u64(&rd);
	auxv = get_blob(&rd, 4096, &mm->auxv_len);
	mm->auxv = malloc(mm->auxv_len + 1u);
	if (!mm->auxv)
		return err_set(err, -ENOMEM, "out of memory");
	if (auxv)
		memcpy(mm->auxv, auxv, mm->auxv_len);
	mm->vdso_crc = get_u64(&rd);
	mm->vdso_len = get_u64(&rd);
	/* Smallest area: 3 x u64, 4 x u32, an empty path (u32), 5 x u64. */
	n = get_count(&rd, 8 * 3 + 4 * 4 + 4 + 8 * 5, MAX_VMAS);
	if (rd.bad)
		return img_rec_corrupt(r, rec, rd.why, err);
	p->vmas = calloc(n ? n : 1, sizeof(*p->vmas));
	if (!p->vmas)
		return err_set(err, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < n && !rd.bad; i++) {
		struct vma_img *v = &p->vmas[i];

		p->nvmas = i + 1;
		v->start = get_u64(&rd);
		v->end = get_u64(&rd);
		v->pgoff = get_u64(&rd);
		v->prot = get_u32(&rd);
		v->shared = get_u32(&rd);
		v->kind = get_u32(&rd);
		v->adv = get_u32(&rd);
		v->path = get_str(&rd, MODEL_MAX_PATH);
		v->dev = get_u64(&rd);
		v->ino = get_u64(&rd);
		v->file_size = get_u64(&rd);
		v->mtime_ns = get_i64(&rd);
		v->pages_saved = get_u64(&rd);
		if (rd.bad)
			break;
		if (v->start % PAGE || v->end % PAGE || v->start >= v->end || v->end > USER_TOP ||
		    v->pgoff % PAGE)
			wr_fail(&rd, "memory area with a bad range");
		else if (i > 0 && v->start < p->vmas[i - 1].end)
			wr_fail(&rd, "memory areas out of order or overlapping");
		else if (v->prot & ~7u || v->shared > 1 || (v->adv & ~(uint32_t)VADV_ALL))
			wr_fail(&rd, "memory area with bad flags");
		else if (v->kind == 0 || v->kind >= VMA_KIND_MAX)
			wr_fail(&rd, "memory area of unknown kind");
		else if ((v->kind == VMA_FILE || v->kind == VMA_FILE_SAVED) != (v->path != NULL) ||
			 (v->path && v->path[0] != '/'))
			wr_fail(&rd, "memory area with a bad path");
		else if (v->pages_saved > (v->end - v->start) / PAGE)
			wr_fail(&rd, "memory area claims more pages than it has");
		else if (v->pages_saved && v->kind != VMA_ANON && v->kind != VMA_SHANON &&
			 !((v->kind == VMA_FILE || v->kind == VMA_FILE_SAVED) && !v->shared))
			wr_fail(&rd, "memory area of a kind that stores no pages has pages");
	}
	if (!wr_done(&rd))
		return img_rec_corrupt(r, rec, rd.why, err);
	if (mm->auxv_len % 16)
		return img_rec_corrupt(r, rec, "auxiliary vector of odd length", err);
	return 0;
}

static int decode_pages(struct model *m, const struct img_rec *rec, const struct img_reader *r,
			struct err *err)
{
	struct wire_rd rd;
	struct proc_img *p;
	uint64_t off, total = 0, data_len;
	uint32_t n;

	wr_init(&rd, rec->payload, rec->len);
	p = state_rec_proc(m, &rd, rec, r, err);
	if (!p)
		return err->code;
	n = get_u32(&rd);
	data_len = get_u64(&rd);
	off = rec->data_off;
	for (uint32_t i = 0; i < n && !rd.bad; i++) {
		uint64_t vaddr = get_u64(&rd), np = get_u64(&rd);

		if (rd.bad)
			break;
		if (vaddr % PAGE || np == 0 || np > IMG_MAX_PAGE_DATA / PAGE ||
		    vaddr >= USER_TOP || np * PAGE > USER_TOP - vaddr) {
			wr_fail(&rd, "page run with a bad address or length");
			break;
		}
		if (model_add_run(p, vaddr, np, off) < 0)
			return err_set(err, -ENOMEM, "out of memory");
		off += np * PAGE;
		total += np * PAGE;
	}
	if (!wr_done(&rd))
		return img_rec_corrupt(r, rec, rd.why, err);
	if (total != data_len || total != rec->data_len)
		return img_rec_corrupt(r, rec, "page runs do not add up to the data", err);
	if (rec->crc_len && model_add_span(m, rec->crc_off, rec->crc_len, rec->crc) < 0)
		return err_set(err, -ENOMEM, "out of memory");
	return 0;
}

static int mem_decode(struct model *m, const struct img_rec *rec, const struct img_reader *r,
		      struct err *err)
{
	if (rec->type == REC_PAGES)
		return decode_pages(m, rec, r, err);
	return decode_vmas(m, rec, r, err);
}

static int cmp_run(const void *a, const void *b)
{
	const struct page_run *x = a, *y = b;

	return x->vaddr < y->vaddr ? -1 : x->vaddr > y->vaddr;
}

static const struct vma_img *find_vma(const struct proc_img *p, uint64_t addr)
{
	uint32_t lo = 0, hi = p->nvmas;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (addr < p->vmas[mid].start)
			hi = mid;
		else if (addr >= p->vmas[mid].end)
			lo = mid + 1;
		else
			return &p->vmas[mid];
	}
	return NULL;
}

static int mem_validate(struct model *m, struct proc_img *p, struct err *err)
{
	const struct mm_img *mm = &p->mm;
	uint64_t *count;
	int rc = 0;

	(void)m;
	if (!p->vmas)
		return err_set(err, -EINVAL, "pid %d: the context has no memory map", p->pid);
	if (mm->start_brk > mm->brk || mm->arg_start > mm->arg_end || mm->env_start > mm->env_end ||
	    mm->start_code > mm->end_code || mm->start_data > mm->end_data || mm->brk >= USER_TOP ||
	    mm->start_stack >= USER_TOP || mm->env_end >= USER_TOP)
		return err_set(err, -EINVAL, "pid %d: inconsistent memory bounds", p->pid);
	if (p->nruns) /* runs is NULL then, and qsort() must not get NULL */
		qsort(p->runs, p->nruns, sizeof(*p->runs), cmp_run);
	count = calloc(p->nvmas ? p->nvmas : 1, sizeof(*count));
	if (!count)
		return err_set(err, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < p->nruns; i++) {
		const struct page_run *r = &p->runs[i];
		const struct vma_img *v = find_vma(p, r->vaddr);

		if (!v || r->vaddr + r->npages * PAGE > v->end || !v->pages_saved) {
			rc = err_set(err, -EINVAL,
				     "pid %d: saved pages at %#llx lie outside any area that "
				     "stores pages",
				     p->pid, (unsigned long long)r->vaddr);
			break;
		}
		if (i > 0 && p->runs[i - 1].vaddr + p->runs[i - 1].npages * PAGE > r->vaddr) {
			rc = err_set(err, -EINVAL, "pid %d: pages at %#llx saved twice", p->pid,
				     (unsigned long long)r->vaddr);
			break;
		}
		count[v - p->vmas] += r->npages;
	}
	for (uint32_t i = 0; rc == 0 && i < p->nvmas; i++)
		if (count[i] != p->vmas[i].pages_saved)
			rc = err_set(err, -EINVAL,
				     "pid %d: area at %#llx should have %llu saved pages, the "
				     "context holds %llu",
				     p->pid, (unsigned long long)p->vmas[i].start,
				     (unsigned long long)p->vmas[i].pages_saved,
				     (unsigned long long)count[i]);
	free(count);
	return rc;
}

/* ---- restart ---- */

struct vma_special {
	uint64_t vvar, vvar_vclock, vdso; /* starts, 0 if absent */
	uint64_t vvar_len, vvar_vclock_len, vdso_len;
};

static void own_specials(struct vma_special *s)
{
	struct buf b;
	char *line, *pos;

	memset(s, 0, sizeof(*s));
	buf_init(&b);
	if (buf_read_file(&b, "/proc/self/maps") == 0) {
		for (pos = (char *)b.data; (line = next_line(&pos));) {
			struct maps_line ml;

			if (procfs_parse_maps_line(line, &ml) < 0)
				continue;
			if (!strcmp(ml.path, "[vvar]")) {
				s->vvar = ml.start;
				s->vvar_len = ml.end - ml.start;
			} else if (!strcmp(ml.path, "[vvar_vclock]")) {
				s->vvar_vclock = ml.start;
				s->vvar_vclock_len = ml.end - ml.start;
			} else if (!strcmp(ml.path, "[vdso]")) {
				s->vdso = ml.start;
				s->vdso_len = ml.end - ml.start;
			}
		}
	}
	buf_fini(&b);
}

static void saved_specials(const struct proc_img *p, struct vma_special *s)
{
	memset(s, 0, sizeof(*s));
	for (uint32_t i = 0; i < p->nvmas; i++) {
		const struct vma_img *v = &p->vmas[i];

		if (v->kind == VMA_VVAR) {
			s->vvar = v->start;
			s->vvar_len = v->end - v->start;
		} else if (v->kind == VMA_VVAR_VCLOCK) {
			s->vvar_vclock = v->start;
			s->vvar_vclock_len = v->end - v->start;
		} else if (v->kind == VMA_VDSO) {
			s->vdso = v->start;
			s->vdso_len = v->end - v->start;
		}
	}
}

/* The saved vdso must be this kernel's, placed as ARCH_MAP_VDSO_64 places it:
 * glibc keeps pointers into it. */
static int check_vdso(const struct proc_img *p, struct err *err)
{
	struct vma_special own, saved;
	uint32_t crc;

	saved_specials(p, &saved);
	if (!saved.vdso)
		return 0;
	own_specials(&own);
	if (!own.vdso)
		return err_set(err, -ENOSYS, "pid %d had a vdso; this system has none", p->pid);
	crc = crc32c(CRC32C_INIT, (const void *)own.vdso, own.vdso_len);
	if (own.vdso_len != saved.vdso_len || crc != p->mm.vdso_crc)
		return err_set(err, -ENOSYS,
			       "pid %d was checkpointed under another kernel's vdso; restart it "
			       "on the kernel it ran on",
			       p->pid);
	if (own.vvar_len != saved.vvar_len || own.vvar_vclock_len != saved.vvar_vclock_len ||
	    (saved.vvar && saved.vdso - saved.vvar != own.vdso - own.vvar) ||
	    (saved.vvar_vclock && saved.vvar_vclock - saved.vvar != own.vvar_vclock - own.vvar))
		return err_set(err, -ENOSYS, "pid %d: its vdso layout differs from this kernel's",
			       p->pid);
	return 0;
}

/* A free range of len bytes in both the saved layout and ours (the new process starts
 * as a copy of cr_restart), a page clear of any neighbour so nothing merges with it. */
static uint64_t find_gap(const struct proc_img *p, uint64_t len)
{
	struct ranges rs;
	uint64_t at = 0;

	ranges_init(&rs);
	if (ranges_add_maps(&rs, "/proc/self/maps") == 0) {
		for (uint32_t i = 0; i < p->nvmas; i++)
			if (ranges_add(&rs, p->vmas[i].start, p->vmas[i].end) < 0)
				goto out;
		at = ranges_find_gap(&rs, len, PAGE, 1 << 20, 1 << 20, 1ull << 47);
	}
out:
	ranges_fini(&rs);
	return at;
}

/* An area saved by contents maps the file made again from them (fsaved.h), with one
 * of crest's descriptors in the new process, writable only if the area may be written
 * (a sealed memfd takes no writable mapping). */
static int prepare_saved_area(struct rst_ctx *c, uint32_t i, struct err *err)
{
	struct rst_proc *rp = c->rp;
	const struct vma_img *v = &rp->p->vmas[i];
	int writable = v->shared && (v->adv & VADV_MAYWRITE);
	int fd, rc;

	fd = fsaved_open_mapped(c, v->dev, v->ino, writable ? O_RDWR : O_RDONLY, err);
	if (fd < 0)
		return fd;
	rc = rst_add_fd(rp, fd, -1, true, true);
	if (rc < 0) {
		close(fd);
		return err_set(err, rc, "out of memory");
	}
	rp->vma_fd[i] = rc;
	return 0;
}

/* A file mapped by reference must still hold the bytes the area mapped, or the
 * process would die touching them (SIGBUS): a file emptied or cut since fails the
 * restart, naming it (ENV class). */
static int check_mapped_size(const struct proc_img *p, const struct vma_img *v, const char *path,
			     const struct stat *st, struct err *err)
{
	uint64_t need = v->pgoff + (v->end - v->start);

	if (need > v->file_size)
		need = v->file_size;
	if (need <= v->pgoff || (uint64_t)st->st_size >= need)
		return 0;
	kmsg_add(KMSG_ERROR, "pid %d: '%s' is now %llu bytes, its mapping at %#llx needs %llu",
		 p->pid, path, (unsigned long long)st->st_size, (unsigned long long)v->start,
		 (unsigned long long)need);
	return err_set(err, -ENOENT,
		       "'%s', mapped at %#llx by pid %d, is now %llu bytes: the mapping needs "
		       "%llu (the file changed since the checkpoint; --save-private or "
		       "--save-exe would have kept its contents)",
		       path, (unsigned long long)v->start, p->pid, (unsigned long long)st->st_size,
		       (unsigned long long)need);
}

/* The executable is gone, but its contents were saved (--save-exe): the copy made
 * from them stands for it. -1 (errno kept) if there is none. */
static int saved_exe_fd(struct rst_ctx *c, const struct proc_img *p)
{
	int e = errno;

	for (uint32_t i = 0; i < p->nvmas; i++) {
		const struct vma_img *v = &p->vmas[i];
		struct err ignored = {0};
		int fd;

		if (v->kind != VMA_FILE_SAVED || !v->path || strcmp(v->path, p->exe))
			continue;
		fd = fsaved_open_mapped(c, v->dev, v->ino, O_RDONLY, &ignored);
		if (fd >= 0)
			return fd;
	}
	errno = e;
	return -1;
}

static bool same_file(int fd, const char *path)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

static int mem_prepare(struct rst_ctx *c, struct err *err)
{
	struct rst_proc *rp = c->rp;
	struct proc_img *p = rp->p;
	char buf[MODEL_MAX_PATH]; /* a path after --relocate */
	int rc;

	rc = check_vdso(p, err);
	if (rc < 0)
		return rc;
	rp->tramp_len = PAGE + (64u << 10);
	rp->tramp = find_gap(p, rp->tramp_len);
	if (!rp->tramp)
		return err_set(err, -ENOMEM, "pid %d: no room for crest's restore page", p->pid);
	rp->scratch = rp->tramp + PAGE;
	rp->scratch_len = rp->tramp_len - PAGE;
	rp->vma_fd = calloc(p->nvmas ? p->nvmas : 1, sizeof(*rp->vma_fd));
	if (!rp->vma_fd)
		return err_set(err, -ENOMEM, "out of memory");
	/* Each mapped file once; its descriptor is one of crest's in the new process. */
	for (uint32_t i = 0; i < p->nvmas; i++) {
		struct vma_img *v = &p->vmas[i];
		int writable = v->shared && (v->adv & VADV_MAYWRITE);
		const char *path;
		struct stat st;
		int fd;

		if (v->kind == VMA_FILE_SAVED) {
			rc = prepare_saved_area(c, i, err);
			if (rc < 0)
				return rc;
			continue;
		}
		if (v->kind != VMA_FILE)
			continue;
		path = rst_path(c, v->path, buf, sizeof(buf), err);
		fd = path ? open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC) : -1;
		if (fd < 0)
			return path ? err_sys(err, "cannot open '%s', mapped at %#llx by pid %d", path,
					      (unsigned long long)v->start, p->pid)
				    : err->code;
		if (fstat(fd, &st) == 0 &&
		    ((uint64_t)st.st_size != v->file_size ||
		     (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec != v->mtime_ns))
			kmsg_add(KMSG_WARN, "pid %d: mapped file '%s' changed since the checkpoint",
				 p->pid, path);
		if (fstat(fd, &st) == 0 && check_mapped_size(p, v, path, &st, err) < 0) {
			close(fd);
			return err->code;
		}
		rc = rst_add_fd(rp, fd, -1, true, true);
		if (rc < 0) {
			close(fd);
			return err_set(err, rc, "out of memory");
		}
		rp->vma_fd[i] = rc;
	}
	rp->exe_child_fd = -1;
	if (p->exe) {
		const char *path = rst_path(c, p->exe, buf, sizeof(buf), err);
		int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;

		if (fd < 0 && path)
			fd = saved_exe_fd(c, p);

		if (fd < 0)
			return path ? err_sys(err, "cannot open executable '%s' of pid %d", path,
					      p->pid)
				    : err->code;
		/* The new process starts as a copy of cr_restart: restarting a cr_restart,
		 * its exe link is right already (and setting it would fail, EBUSY, the file
		 * being mapped). */
		if (same_file(fd, "/proc/self/exe")) {
			close(fd);
			return 0;
		}
		rc = rst_add_fd(rp, fd, -1, true, true);
		if (rc < 0) {
			close(fd);
			return err_set(err, rc, "out of memory");
		}
		rp->exe_child_fd = rc;
	}
	return 0;
}

static long call(struct rst_proc *rp, long nr, uint64_t a0, uint64_t a1, uint64_t a2,
		 uint64_t a3, uint64_t a4, uint64_t a5, struct err *err)
{
	return inject_syscall(&rp->inj, nr, a0, a1, a2, a3, a4, a5, err);
}

#define CALL_OK(rp, err, what, ...)                                                           \
	do {                                                                                  \
		long r_ = call(rp, __VA_ARGS__, err);                                         \
		if (r_ == INJECT_FAILED)                                                      \
			return (err)->code;                                                   \
		if (r_ < 0)                                                                   \
			return err_code(err, (int)r_, "pid %d: cannot %s", (rp)->p->pid, what); \
	} while (0)

/* Unmap everything of cr_restart's in the new process but the trampoline and the
 * special mappings, which move next. */
static int unmap_restorer(struct rst_proc *rp, struct err *err)
{
	char *line, *pos;
	uint64_t keep[8][2];
	int nkeep = 0;
	uint64_t top = (1ull << 47) - PAGE, from = 0; /* TASK_SIZE with 4-level paging */
	struct buf b;

	if (read_proc(&b, rp->pid, "maps", err) < 0)
		return err->code;
	for (pos = (char *)b.data; (line = next_line(&pos));) {
		struct maps_line ml;

		if (procfs_parse_maps_line(line, &ml) < 0)
			continue;
		if (ml.end > top && ml.start < (1ull << 56))
			top = ml.end;
		if ((ml.start == rp->tramp || !strcmp(ml.path, "[vdso]") ||
		     !strcmp(ml.path, "[vvar]") || !strcmp(ml.path, "[vvar_vclock]")) &&
		    nkeep < 8) {
			keep[nkeep][0] = ml.start;
			keep[nkeep][1] = ml.end;
			nkeep++;
		}
	}
	buf_fini(&b);
	/* maps lists in address order, so keep[] is sorted. */
	for (int i = 0; i <= nkeep; i++) {
		uint64_t to = i < nkeep ? keep[i][0] : top;

		if (to > from)
			CALL_OK(rp, err, "unmap crest's memory", SYS_munmap, from, to - from, 0, 0,
				0, 0);
		if (i < nkeep)
			from = keep[i][1];
	}
	return 0;
}

static int place_vdso(struct rst_proc *rp, struct err *err)
{
	struct vma_special own, saved;

	own_specials(&own); /* the new process is a copy of us: same places */
	saved_specials(rp->p, &saved);
	if (saved.vdso && saved.vvar == own.vvar && saved.vdso == own.vdso &&
	    saved.vvar_vclock == own.vvar_vclock)
		return 0;
	if (own.vvar)
		CALL_OK(rp, err, "unmap [vvar]", SYS_munmap, own.vvar, own.vvar_len, 0, 0, 0, 0);
	if (own.vvar_vclock)
		CALL_OK(rp, err, "unmap [vvar_vclock]", SYS_munmap, own.vvar_vclock,
			own.vvar_vclock_len, 0, 0, 0, 0);
	if (own.vdso)
		CALL_OK(rp, err, "unmap [vdso]", SYS_munmap, own.vdso, own.vdso_len, 0, 0, 0, 0);
	if (!saved.vdso)
		return 0;
	CALL_OK(rp, err, "place the vdso", SYS_arch_prctl, ARCH_MAP_VDSO_64,
		saved.vvar ? saved.vvar : saved.vdso, 0, 0, 0, 0);
	return 0;
}

static const struct {
	uint32_t adv;
	int advice;
} advices[] = {
	{VADV_DONTFORK, MADV_DONTFORK},   {VADV_DONTDUMP, MADV_DONTDUMP},
	{VADV_HUGEPAGE, MADV_HUGEPAGE},   {VADV_NOHUGEPAGE, MADV_NOHUGEPAGE},
	{VADV_MERGEABLE, MADV_MERGEABLE}, {VADV_WIPEONFORK, MADV_WIPEONFORK},
	{VADV_SEQ, MADV_SEQUENTIAL},      {VADV_RAND, MADV_RANDOM},
};

static int map_area(struct rst_proc *rp, const struct vma_img *v, struct err *err)
{
	uint64_t len = v->end - v->start;
	uint32_t prot = v->prot | (v->pages_saved ? PROT_READ | PROT_WRITE : 0);
	uint64_t flags = (v->shared ? MAP_SHARED : MAP_PRIVATE) | MAP_FIXED_NOREPLACE;
	int64_t fd = -1;
	long r;

	if (v->kind == VMA_ANON || v->kind == VMA_SHANON)
		flags |= MAP_ANONYMOUS;
	else
		fd = rp->vma_fd[v - rp->p->vmas];
	if (v->adv & VADV_GROWSDOWN)
		flags |= MAP_GROWSDOWN;
	/* A huge reservation (a sanitizer's shadow) is only possible unaccounted. */
	if (v->adv & VADV_NORESERVE)
		flags |= MAP_NORESERVE;
	r = call(rp, SYS_mmap, v->start, len, prot, flags, (uint64_t)fd,
		 v->kind == VMA_FILE || v->kind == VMA_FILE_SAVED ? v->pgoff : 0, err);
	if (r == INJECT_FAILED)
		return err->code;
	if (r < 0 || (uint64_t)r != v->start)
		return err_code(err, r < 0 ? (int)r : -EFAULT,
				"pid %d: cannot map %s at %#llx-%#llx", rp->p->pid,
				v->path ? v->path : "memory", (unsigned long long)v->start,
				(unsigned long long)v->end);
	for (size_t i = 0; i < sizeof(advices) / sizeof(advices[0]); i++)
		if (v->adv & advices[i].adv)
			CALL_OK(rp, err, "apply madvise", SYS_madvise, v->start, len,
				(uint64_t)advices[i].advice, 0, 0, 0);
	return 0;
}

/* ---- loading pages ----
 *
 * cr_restart maps the context file and copies the pages itself: into anonymous areas
 * with UFFDIO_COPY on a userfaultfd of the new process (the kernel allocates and
 * fills each page in one step, no page faults), into the few other pages (dirty
 * pages of private file mappings, shared anonymous memory) with process_vm_writev.
 * Each record's CRC is checked just before its pages are copied, while they are in
 * cache: a damaged context never reaches a process that runs. */

struct loader {
	struct rst_proc *rp;
	const uint8_t *map; /* the context file */
	uint64_t map_len;
	int uffd;           /* ours, on the new process's memory; -1 if none */
	int child_uffd;     /* the same, in the new process */
};

static bool uses_uffd(const struct vma_img *v)
{
	return v->kind == VMA_ANON && v->pages_saved;
}

static int uffd_open(struct loader *ld, struct err *err)
{
	struct rst_proc *rp = ld->rp;
	struct uffdio_api api = {.api = UFFD_API};
	bool any = false;
	long fd;
	int pidfd;

	for (uint32_t i = 0; i < rp->p->nvmas; i++)
		any |= uses_uffd(&rp->p->vmas[i]);
	if (!any)
		return 0;
	fd = call(rp, SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK, 0, 0, 0, 0, 0, err);
	if (fd == INJECT_FAILED)
		return err->code;
	if (fd < 0)
		return err_code(err, (int)fd, "pid %d: cannot create a userfaultfd", rp->p->pid);
	ld->child_uffd = (int)fd;
	pidfd = (int)syscall(SYS_pidfd_open, rp->pid, 0);
	if (pidfd < 0)
		return err_sys(err, "cannot open a pidfd for pid %d", rp->pid);
	ld->uffd = (int)syscall(SYS_pidfd_getfd, pidfd, (int)fd, 0);
	close(pidfd);
	if (ld->uffd < 0)
		return err_sys(err, "pid %d: cannot take its userfaultfd", rp->p->pid);
	if (ioctl(ld->uffd, UFFDIO_API, &api) < 0)
		return err_sys(err, "pid %d: userfaultfd API", rp->p->pid);
	for (uint32_t i = 0; i < rp->p->nvmas; i++) {
		const struct vma_img *v = &rp->p->vmas[i];
		struct uffdio_register reg = {
			.range = {v->start, v->end - v->start},
			.mode = UFFDIO_REGISTER_MODE_MISSING,
		};

		if (uses_uffd(v) && ioctl(ld->uffd, UFFDIO_REGISTER, &reg) < 0)
			return err_sys(err, "pid %d: cannot register %#llx-%#llx with userfaultfd",
				       rp->p->pid, (unsigned long long)v->start,
				       (unsigned long long)v->end);
	}
	return 0;
}

/* Undo every trace of the userfaultfd: registrations, and both descriptors. */
static int uffd_close(struct loader *ld, struct err *err)
{
	struct rst_proc *rp = ld->rp;
	int rc = 0;

	if (ld->uffd >= 0) {
		for (uint32_t i = 0; i < rp->p->nvmas; i++) {
			const struct vma_img *v = &rp->p->vmas[i];
			struct uffdio_range r = {v->start, v->end - v->start};

			if (uses_uffd(v) && ioctl(ld->uffd, UFFDIO_UNREGISTER, &r) < 0 && rc == 0)
				rc = err_sys(err, "pid %d: cannot unregister userfaultfd", rp->p->pid);
		}
		close(ld->uffd);
		ld->uffd = -1;
	}
	if (ld->child_uffd >= 0) {
		long r = call(rp, SYS_close, (uint64_t)ld->child_uffd, 0, 0, 0, 0, 0, err);

		ld->child_uffd = -1;
		if (r == INJECT_FAILED && rc == 0)
			rc = err->code;
	}
	return rc;
}

static int copy_run(struct loader *ld, const struct page_run *r, struct err *err)
{
	struct rst_proc *rp = ld->rp;
	const struct vma_img *v = find_vma(rp->p, r->vaddr);
	uint64_t len = r->npages * PAGE, done = 0;
	const uint8_t *src = ld->map + r->file_off;

	if (uses_uffd(v)) {
		while (done < len) {
			struct uffdio_copy cp = {
				.dst = r->vaddr + done,
				.src = (uint64_t)(uintptr_t)(src + done),
				.len = len - done,
			};

			if (ioctl(ld->uffd, UFFDIO_COPY, &cp) == 0 || (errno == EAGAIN && cp.copy > 0)) {
				done += cp.copy > 0 ? (uint64_t)cp.copy : len - done;
				continue;
			}
			return err_sys(err, "pid %d: cannot fill memory at %#llx", rp->p->pid,
				       (unsigned long long)(r->vaddr + done));
		}
		return 0;
	}
	while (done < len) {
		struct iovec local = {(void *)(src + done), len - done};
		struct iovec remote = {(void *)(r->vaddr + done), len - done};
		ssize_t k = process_vm_writev(rp->pid, &local, 1, &remote, 1, 0);

		if (k <= 0)
			return err_sys(err, "pid %d: cannot fill memory at %#llx", rp->p->pid,
				       (unsigned long long)(r->vaddr + done));
		done += (uint64_t)k;
	}
	return 0;
}

static int cmp_run_off(const void *a, const void *b)
{
	const struct page_run *x = *(const struct page_run *const *)a;
	const struct page_run *y = *(const struct page_run *const *)b;

	return x->file_off < y->file_off ? -1 : x->file_off > y->file_off;
}

static int cmp_span(const void *a, const void *b)
{
	const struct img_span *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

/* One share of the work: every record whose index is worker (mod nworkers). */
struct load_job {
	struct loader *ld;
	struct rst_ctx *c;
	const struct page_run **order;
	uint32_t *first;    /* per span: index in order of its first run */
	unsigned int worker, nworkers;
	struct err err;
	pthread_t thr;
};

static void *load_share(void *arg)
{
	struct load_job *j = arg;
	const struct rst_ctx *c = j->c;

	for (uint32_t s = j->worker; s < c->m->nspans && !j->err.code; s += j->nworkers) {
		const struct img_span *sp = &c->m->spans[s];

		if (j->first[s] == j->first[s + 1])
			continue; /* another process's record */
		if (sp->off + sp->len > j->ld->map_len ||
		    crc32c(CRC32C_INIT, j->ld->map + sp->off, sp->len) != sp->crc) {
			err_set(&j->err, -EIO, "%s: page data at offset %llu: checksum mismatch",
				c->img_name, (unsigned long long)sp->off);
			break;
		}
		for (uint32_t k = j->first[s]; k < j->first[s + 1] && !j->err.code; k++)
			copy_run(j->ld, j->order[k], &j->err);
	}
	return NULL;
}

static int load_pages(struct rst_ctx *c, struct err *err)
{
	struct rst_proc *rp = c->rp;
	struct proc_img *p = rp->p;
	struct loader ld = {rp, c->img_map, c->img_len, -1, -1};
	struct load_job jobs[2];
	const struct page_run **order;
	uint32_t *first, k = 0;
	unsigned int nw = 2;
	int rc;

	if (!p->nruns)
		return 0;
	order = malloc(p->nruns * sizeof(*order));
	first = malloc((c->m->nspans + 1u) * sizeof(*first));
	if (!order || !first) {
		free(order);
		free(first);
		return err_set(err, -ENOMEM, "out of memory");
	}
	for (uint32_t i = 0; i < p->nruns; i++)
		order[i] = &p->runs[i];
	qsort(order, p->nruns, sizeof(*order), cmp_run_off);
	qsort(c->m->spans, c->m->nspans, sizeof(*c->m->spans), cmp_span);
	/* Which of our runs each record holds; every run must be in one. */
	rc = 0;
	for (uint32_t s = 0; s < c->m->nspans; s++) {
		const struct img_span *sp = &c->m->spans[s];

		first[s] = k;
		for (; k < p->nruns && order[k]->file_off < sp->off + sp->len; k++)
			if (order[k]->file_off < sp->off)
				rc = -EINVAL;
	}
	first[c->m->nspans] = k;
	rc = rc < 0 || k < p->nruns
		     ? err_set(err, -EINVAL, "%s: pages of pid %d lie outside every page record",
			       c->img_name, p->pid)
		     : uffd_open(&ld, err);
	/* Records are checked and copied by two threads: both the CRC and the copies
	 * are CPU-bound, and the new process is stopped meanwhile. */
	for (unsigned int i = 0; i < nw; i++)
		jobs[i] = (struct load_job){&ld, c, order, first, i, nw, {0}, 0};
	if (rc == 0 && pthread_create(&jobs[1].thr, NULL, load_share, &jobs[1]) != 0)
		nw = 1, jobs[0].nworkers = 1;
	if (rc == 0) {
		load_share(&jobs[0]);
		if (nw == 2)
			pthread_join(jobs[1].thr, NULL);
		for (unsigned int i = 0; i < nw && rc == 0; i++)
			if (jobs[i].err.code)
				rc = err_set(err, jobs[i].err.code, "%s", jobs[i].err.msg);
	}
	if (uffd_close(&ld, err) < 0 && rc == 0)
		rc = err->code;
	free(order);
	free(first);
	return rc;
}

static int finish_areas(struct rst_proc *rp, struct err *err)
{
	for (uint32_t i = 0; i < rp->p->nvmas; i++) {
		const struct vma_img *v = &rp->p->vmas[i];
		uint64_t len = v->end - v->start;

		if (v->kind == VMA_VDSO || v->kind == VMA_VVAR || v->kind == VMA_VVAR_VCLOCK)
			continue;
		if (v->pages_saved && v->prot != (PROT_READ | PROT_WRITE | (v->prot & PROT_EXEC)))
			CALL_OK(rp, err, "set memory protection", SYS_mprotect, v->start, len,
				v->prot, 0, 0, 0);
		if (v->adv & VADV_LOCKONFAULT)
			CALL_OK(rp, err, "lock memory", SYS_mlock2, v->start, len, MLOCK_ONFAULT, 0,
				0, 0);
		else if (v->adv & VADV_LOCKED)
			CALL_OK(rp, err, "lock memory", SYS_mlock, v->start, len, 0, 0, 0, 0);
	}
	return 0;
}

static int set_mm(struct rst_proc *rp, struct err *err)
{
	const struct mm_img *mm = &rp->p->mm;
	struct prctl_mm_map map;
	uint64_t a_auxv, a_map;

	if (rst_scratch_put(rp, 0, mm->auxv, mm->auxv_len, &a_auxv, err) < 0)
		return err->code;
	memset(&map, 0, sizeof(map));
	map.start_code = mm->start_code;
	map.end_code = mm->end_code;
	map.start_data = mm->start_data;
	map.end_data = mm->end_data;
	map.start_brk = mm->start_brk;
	map.brk = mm->brk;
	map.start_stack = mm->start_stack;
	map.arg_start = mm->arg_start;
	map.arg_end = mm->arg_end;
	map.env_start = mm->env_start;
	map.env_end = mm->env_end;
	map.auxv = (__u64 *)(uintptr_t)a_auxv;
	map.auxv_size = mm->auxv_len;
	map.exe_fd = (uint32_t)rp->exe_child_fd;
	if (rst_scratch_put(rp, 8192, &map, sizeof(map), &a_map, err) < 0)
		return err->code;
	CALL_OK(rp, err, "set the memory bounds and exe link (PR_SET_MM_MAP)", SYS_prctl,
		PR_SET_MM, PR_SET_MM_MAP, a_map, sizeof(map), 0, 0);
	return 0;
}

/* Shared anonymous memory is one object for every area of every process that mapped
 * it (fork, mremap), known by its inode at the checkpoint: the first area restored
 * makes it, the others map that one again through /proc/PID/map_files. */
struct shanon_made {
	uint64_t dev, ino;
	pid_t pid;         /* the restored process that made it, as its peers see it */
	uint64_t start, end, pgoff;
};

struct shanon_state {
	struct shanon_made *made;
	uint32_t n;
};

static int map_shared_anon(struct rst_ctx *c, const struct vma_img *v, struct err *err)
{
	struct rst_proc *rp = c->rp;
	struct shanon_state *st = c->memory_state;
	const struct shanon_made *first = NULL;
	struct shanon_made *mk;
	char path[96];
	uint64_t a, off;
	long fd, r;

	for (uint32_t i = 0; st && i < st->n && !first; i++)
		if (st->made[i].dev == v->dev && st->made[i].ino == v->ino)
			first = &st->made[i];
	if (first && v->pgoff >= first->pgoff &&
	    v->pgoff + (v->end - v->start) <= first->pgoff + (first->end - first->start)) {
		snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", first->pid,
			 (unsigned long long)first->start, (unsigned long long)first->end);
		if (rst_scratch_put(rp, 0, path, strlen(path) + 1, &a, err) < 0)
			return err->code;
		fd = call(rp, SYS_openat, (uint64_t)AT_FDCWD, a, O_RDWR | O_CLOEXEC, 0, 0, 0, err);
		if (fd == INJECT_FAILED)
			return err->code;
		if (fd < 0)
			return err_code(err, (int)fd, "pid %d: cannot share memory at %#llx with pid %d",
					rp->p->pid, (unsigned long long)v->start, first->pid);
		off = v->pgoff - first->pgoff;
		r = call(rp, SYS_mmap, v->start, v->end - v->start, v->prot | (v->pages_saved ? PROT_READ | PROT_WRITE : 0),
			 MAP_SHARED | MAP_FIXED_NOREPLACE, (uint64_t)fd, off, err);
		if (r != INJECT_FAILED)
			call(rp, SYS_close, (uint64_t)fd, 0, 0, 0, 0, 0, err);
		if (r == INJECT_FAILED)
			return err->code;
		if (r < 0 || (uint64_t)r != v->start)
			return err_code(err, r < 0 ? (int)r : -EFAULT,
					"pid %d: cannot map shared memory at %#llx", rp->p->pid,
					(unsigned long long)v->start);
		return 0;
	}
	if (map_area(rp, v, err) < 0)
		return err->code;
	if (!st) {
		st = c->memory_state = calloc(1, sizeof(*st));
		if (!st)
			return err_set(err, -ENOMEM, "out of memory");
	}
	mk = model_grow((void **)&st->made, &st->n, sizeof(*mk));
	if (!mk)
		return err_set(err, -ENOMEM, "out of memory");
	*mk = (struct shanon_made){v->dev, v->ino, rp->vpid, v->start, v->end, v->pgoff};
	return 0;
}

static int mem_restore(struct rst_ctx *c, struct err *err)
{
	struct rst_proc *rp = c->rp;
	struct proc_img *p = rp->p;
	long r;
	int rc;

	/* The trampoline: a syscall instruction and scratch memory for arguments. */
	r = call(rp, SYS_mmap, rp->tramp, rp->tramp_len, PROT_READ | PROT_WRITE | PROT_EXEC,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, (uint64_t)-1, 0, err);
	if (r == INJECT_FAILED)
		return err->code;
	if ((uint64_t)r != rp->tramp)
		return err_code(err, r < 0 ? (int)r : -EFAULT,
				"pid %d: cannot map crest's restore page at %#llx", p->pid,
				(unsigned long long)rp->tramp);
	if (inject_mem_write(rp->memfd, rp->tramp, arch_syscall_insn, arch_syscall_insn_len) < 0)
		return err_sys(err, "pid %d: cannot write crest's restore page", p->pid);
	rp->inj.gadget = rp->tramp;

	rc = unmap_restorer(rp, err);
	if (rc < 0)
		return rc;
	rc = place_vdso(rp, err);
	if (rc < 0)
		return rc;
	for (uint32_t i = 0; i < p->nvmas; i++) {
		const struct vma_img *v = &p->vmas[i];

		if (v->kind == VMA_VDSO || v->kind == VMA_VVAR || v->kind == VMA_VVAR_VCLOCK)
			continue;
		rc = v->kind == VMA_SHANON    ? map_shared_anon(c, v, err)
		     : v->kind == VMA_SYSVSHM ? sysvipc_attach(c, v, err)
					      : map_area(rp, v, err);
		if (rc < 0)
			return rc;
	}
	rc = load_pages(c, err);
	if (rc < 0)
		return rc;
	rc = finish_areas(rp, err);
	if (rc < 0)
		return rc;
	return set_mm(rp, err);
}

/* ---- cr_info ---- */

static const char *const kind_names[VMA_KIND_MAX] = {
	[VMA_ANON] = "anon",       [VMA_FILE] = "file",
	[VMA_FILE_SAVED] = "file-saved", [VMA_SHANON] = "shared-anon",
	[VMA_VVAR] = "vvar",       [VMA_VVAR_VCLOCK] = "vvar_vclock",
	[VMA_VDSO] = "vdso",       [VMA_SYSVSHM] = "sysv-shm",
};

static void mem_describe(const struct model *m, const struct proc_img *p, struct out *o)
{
	uint64_t total = 0, saved = 0;

	(void)m;
	out_obj_begin(o, "mm");
	out_hex(o, "start_code", p->mm.start_code);
	out_hex(o, "end_code", p->mm.end_code);
	out_hex(o, "start_brk", p->mm.start_brk);
	out_hex(o, "brk", p->mm.brk);
	out_hex(o, "start_stack", p->mm.start_stack);
	out_hex(o, "arg_start", p->mm.arg_start);
	out_hex(o, "env_start", p->mm.env_start);
	out_obj_end(o);
	out_arr_begin(o, "memory");
	for (uint32_t i = 0; i < p->nvmas; i++) {
		const struct vma_img *v = &p->vmas[i];
		char perms[5];

		perms[0] = v->prot & PROT_READ ? 'r' : '-';
		perms[1] = v->prot & PROT_WRITE ? 'w' : '-';
		perms[2] = v->prot & PROT_EXEC ? 'x' : '-';
		perms[3] = v->shared ? 's' : 'p';
		perms[4] = '\0';
		out_obj_begin(o, NULL);
		out_hex(o, "start", v->start);
		out_hex(o, "end", v->end);
		out_str(o, "prot", perms);
		out_str(o, "kind", v->kind < VMA_KIND_MAX ? kind_names[v->kind] : "?");
		if (v->path)
			out_str(o, "path", v->path);
		if (v->pgoff)
			out_hex(o, "offset", v->pgoff);
		if (v->adv)
			out_hex(o, "advice", v->adv);
		out_u64(o, "pages_saved", v->pages_saved);
		out_obj_end(o);
		total += v->end - v->start;
		saved += v->pages_saved * PAGE;
	}
	out_arr_end(o);
	out_u64(o, "memory_mapped_bytes", total);
	out_u64(o, "memory_saved_bytes", saved);
}

static void mem_cleanup(struct rst_ctx *c)
{
	struct shanon_state *st = c->memory_state;

	if (st) {
		free(st->made);
		free(st);
		c->memory_state = NULL;
	}
	free(c->rp->vma_fd);
	c->rp->vma_fd = NULL;
}

const struct state_ops memory_ops = {
	.name = "memory",
	.recs = {REC_VMAS, REC_PAGES},
	.collect = mem_collect,
	.encode = mem_encode,
	.dump_cleanup = mem_dump_cleanup,
	.decode = mem_decode,
	.validate = mem_validate,
	.prepare = mem_prepare,
	.restore = mem_restore,
	.cleanup = mem_cleanup,
	.describe = mem_describe,
};
