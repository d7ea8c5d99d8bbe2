/* procfs.c: /proc file formats. */
#include "procfs.h"

#include "buf.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../engine/banned.h"

int procfs_stat(pid_t pid, pid_t tid, struct proc_stat *st)
{
	char path[64], *p, *rp, *end;
	struct buf b;
	int n, rc;

	if (tid)
		snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
	else
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	buf_init(&b);
	rc = buf_read_file(&b, path);
	if (rc < 0)
		goto out;
	memset(st, 0, sizeof(*st));
	p = strchr((char *)b.data, '(');
	rp = strrchr((char *)b.data, ')');
	if (!p || !rp || rp < p || rp[1] != ' ') {
		rc = -EINVAL;
		goto out;
	}
	n = (int)(rp - p - 1);
	if (n >= (int)sizeof(st->comm))
		n = sizeof(st->comm) - 1;
	memcpy(st->comm, p + 1, (size_t)n);
	st->comm[n] = '\0';
	p = rp + 2;
	st->state = *p++;
	for (int i = 4; i < 53 && *p; i++) {
		while (*p == ' ')
			p++;
		if (!*p || *p == '\n')
			break;
		if (*p == '-')
			st->f[i] = (uint64_t)strtoll(p, &end, 10);
		else
			st->f[i] = strtoull(p, &end, 10);
		if (end == p) {
			rc = -EINVAL;
			goto out;
		}
		p = end;
	}
	rc = 0;
out:
	buf_fini(&b);
	return rc;
}

const char *procfs_field(const char *text, const char *key)
{
	size_t kl = strlen(key);
	const char *p = text;

	while (p && *p) {
		if (strncmp(p, key, kl) == 0 && p[kl] == ':') {
			p += kl + 1;
			while (*p == ' ' || *p == '\t')
				p++;
			return p;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

int procfs_status(pid_t id, char *text, size_t n)
{
	char path[64];
	ssize_t k;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/status", id);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	k = read(fd, text, n - 1);
	if (k < 0)
		k = -errno;
	close(fd);
	if (k <= 0)
		return k < 0 ? (int)k : -EIO;
	text[k] = '\0';
	return 0;
}

int procfs_field_u64(const char *text, const char *key, int base, uint64_t *ret)
{
	const char *p = procfs_field(text, key);
	uint64_t v;
	char *end;

	if (!p)
		return -ENOENT;
	errno = 0;
	v = strtoull(p, &end, base);
	if (end == p || errno)
		return -EINVAL;
	*ret = v;
	return 0;
}

int procfs_field_list(const char *text, const char *key, uint64_t *vals, int n)
{
	const char *p = procfs_field(text, key);
	int got = 0;

	if (!p)
		return 0;
	while (got < n) {
		char *end;

		while (*p == ' ' || *p == '\t')
			p++;
		if (!isdigit((unsigned char)*p))
			break;
		vals[got++] = strtoull(p, &end, 10);
		p = end;
	}
	return got;
}

int parse_long(const char *s, long min, long max, long *ret)
{
	char *end;
	long v;

	/* strtol() would take leading spaces, '+', and '-' whatever min says. */
	if (!s || !*s || isspace((unsigned char)*s) || *s == '+' || (*s == '-' && min >= 0))
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

int parse_u64(const char *s, int base, uint64_t *ret)
{
	uint64_t v;
	char *end;

	/* strtoull() would take leading spaces and a sign, and negate after a '-'. */
	if (!s || !*s || *s == '-' || *s == '+' || isspace((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno || *end)
		return -EINVAL;
	*ret = v;
	return 0;
}

int procfs_parse_maps_line(char *line, struct maps_line *ml)
{
	int pos = 0;

	memset(ml, 0, sizeof(*ml));
	if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s %" SCNx64 " %x:%x %" SCNu64 " %n", &ml->start,
		   &ml->end, ml->perms, &ml->pgoff, &ml->dev_major, &ml->dev_minor, &ml->ino,
		   &pos) < 7)
		return -EINVAL;
	ml->path = line + pos;
	return 0;
}
