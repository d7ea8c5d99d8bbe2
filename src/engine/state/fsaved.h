/* fsaved.h: files whose contents the context holds — memfds (fd_memfd.c), regular
 * files deleted while open (fd_deleted.c), and files mapped with --save-* or mapped
 * after they were deleted (memory.c).
 *
 * Such a file is one inode shared by every open file description and every mapping
 * of it: its contents are saved once, by one description (the holder), in "file
 * contents" records (REC_FILE_DATA) that follow the file records. At restart the
 * inode is made once (a memfd of the same name, or an unlinked file next to the old
 * name) and filled; each description and each mapping then opens it anew.
 *
 * The kind data of FILE_MEMFD and FILE_DELETED starts with a struct fsaved. */
#ifndef CREST_FSAVED_H
#define CREST_FSAVED_H

#include "state.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

struct buf;
struct out;
struct wire_rd;

/* BLCR's CR_CHKPT_DUMP_* flags (dump_ctx->save_flags): which file mappings are saved
 * by contents although their file is there. */
#define SAVE_EXEC 0x200    /* the executable's */
#define SAVE_PRIVATE 0x400 /* every private one */
#define SAVE_SHARED 0x800  /* every shared one, the whole file */

struct fsaved_range {
	uint64_t off, len;
};

/* One stretch of saved contents: len bytes at file offset off, found at img_off in
 * the context file (a restart reads them from the mapped file). */
struct fsaved_chunk {
	uint64_t off, len, img_off;
};

struct fsaved {
	uint32_t holder; /* this description carries the contents of its inode */
	/* checkpoint only */
	int src;                   /* a descriptor to read the contents through, or -1 */
	struct fsaved_range *want; /* what to save (whole file for a descriptor) */
	uint32_t nwant;
	/* read from the context */
	struct fsaved_chunk *chunks;
	uint32_t nchunks;
};

/* The contents part of f's kind data; NULL if f is not of a kind with contents. */
struct fsaved *fsaved_of(const struct file_img *f);
void fsaved_init(struct fsaved *fs);
void fsaved_fini(struct fsaved *fs);
/* Kind data of size bytes for f, starting with an initialised struct fsaved and freed
 * by kd_free; NULL when out of memory. */
void *fsaved_data_new(struct file_img *f, size_t size, void (*kd_free)(void *));

/* ---- checkpoint ---- */

/* f, a description of a kind with contents, was found at descriptor fd of c's process
 * (f's common fields set): the first description of its inode in the checkpoint
 * keeps a copy of the descriptor and will save the whole file. */
int fsaved_collect(struct dump_ctx *c, struct file_img *f, int fd, struct err *err);

/* A mapping whose file is saved by contents (kind FILE_MEMFD or FILE_DELETED; path
 * as /proc/PID/maps gives it). The bytes it maps (or the whole file) are added to
 * what its inode's holder saves, making a holder without descriptor if there is none
 * yet. ret_st: the mapped file as it is now. */
int fsaved_mapping(struct dump_ctx *c, uint32_t kind, const char *path, uint64_t start,
		   uint64_t end, uint64_t pgoff, bool whole, struct stat *ret_st, struct err *err);

/* Kind data of a holder made for a mapping only (fd_memfd.c, fd_deleted.c): f has
 * its common fields; name is the mapping's path with " (deleted)" taken off. */
int fd_memfd_for_mapping(struct file_img *f, pid_t pid, int src, const char *name, struct err *err);
int fd_deleted_for_mapping(struct file_img *f, const struct stat *st, const char *name,
			   struct err *err);

/* ---- the kinds' records ---- */

void fsaved_encode(const struct fsaved *fs, struct buf *b);
/* Reads what fsaved_encode wrote into fs (initialised), marking rd bad on a problem. */
void fsaved_decode(struct fsaved *fs, struct wire_rd *rd);
/* The inode of f has exactly one holder (the kinds' check). */
int fsaved_check(const struct model *m, const struct file_img *f, struct err *err);
/* What cr_info shows of the contents: the bytes saved, on the holder. */
void fsaved_describe(const struct fsaved *fs, struct out *o);

/* ---- restart ---- */

/* A new open file description of f's inode, made and filled once per restart, with
 * open flags (O_ACCMODE and the like; O_CLOEXEC is added). The caller owns it. */
int fsaved_open(struct rst_ctx *c, const struct file_img *f, int flags, struct err *err);
/* The same for a mapping of the inode dev/ino (a VMA_FILE_SAVED area); -ENOENT with
 * err set if the context saved no such file. */
int fsaved_open_mapped(struct rst_ctx *c, uint64_t dev, uint64_t ino, int flags, struct err *err);
/* The kinds' open: a description of f's inode with f's flags, at f's offset. */
int fsaved_kind_open(struct rst_ctx *c, const struct file_img *f, int fdnum, bool *borrowed,
		     struct err *err);

/* Make the inode of holder h, empty (fd_memfd.c, fd_deleted.c): returns an fd opened
 * for reading and writing, which the caller owns. */
int fd_memfd_make(struct rst_ctx *c, const struct file_img *h, struct err *err);
int fd_deleted_make(struct rst_ctx *c, const struct file_img *h, struct err *err);
/* Once the process is whole: a memfd's seals (fd_memfd.c). */
int fd_memfd_seal(struct rst_ctx *c, const struct file_img *h, int fd, struct err *err);

#endif
