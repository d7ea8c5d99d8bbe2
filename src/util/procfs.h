/* procfs.h: reading /proc/PID files. Knows the formats, not crest. */
#ifndef CREST_PROCFS_H
#define CREST_PROCFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* /proc/PID/stat, fields by their number in proc(5) (1-based; 2 is comm, 3 state). */
struct proc_stat {
	char comm[64];
	char state;
	uint64_t f[53]; /* f[n] for n >= 4 */
};
int procfs_stat(pid_t pid, pid_t tid, struct proc_stat *st);

/* /proc/ID/status (ID a pid or a thread id) into text (n bytes, NUL-terminated):
 * 0 or -errno. */
int procfs_status(pid_t id, char *text, size_t n);

/* The value after "Key:" in a status-like file held in text; NULL if absent. The
 * result points into text and ends at the newline. */
const char *procfs_field(const char *text, const char *key);
/* Parse the field as decimal/hex numbers; -ENOENT if absent, -EINVAL if malformed.
 * *ret is written only on success. */
int procfs_field_u64(const char *text, const char *key, int base, uint64_t *ret);
/* Up to n whitespace-separated decimal numbers from the field; returns how many. */
int procfs_field_list(const char *text, const char *key, uint64_t *vals, int n);

/* Strict parsing of a whole string: no spaces, no junk, no '+', and a '-' only where
 * min < 0 (parse_u64: never). *ret is written only on success. */
int parse_long(const char *s, long min, long max, long *ret);
int parse_u64(const char *s, int base, uint64_t *ret);

/* One line of /proc/PID/maps. path points into the line (or is "" for none). */
struct maps_line {
	uint64_t start, end, pgoff;
	char perms[5];
	unsigned int dev_major, dev_minor;
	uint64_t ino;
	const char *path;
};
/* Parse one line (NUL-terminated, without the newline). */
int procfs_parse_maps_line(char *line, struct maps_line *ml);

#endif
