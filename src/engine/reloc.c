/* reloc.c: one --relocate pair applied to one saved path. */
#include "reloc.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include "banned.h"

/* The length of path without its trailing slashes; "/" (or "//") counts as 0, so
 * that the root joins any rest without doubling its slash. */
static size_t trimmed_len(const char *path)
{
	size_t n = strlen(path);

	while (n > 0 && path[n - 1] == '/')
		n--;
	return n;
}

int reloc_one(const char *from, const char *to, const char *saved, char *buf, size_t n)
{
	size_t fl = trimmed_len(from), tl = trimmed_len(to), rest_len, total;
	const char *rest;

	if (from[0] != '/' || saved[0] != '/')
		return 0;
	if (strncmp(saved, from, fl) || (saved[fl] != '\0' && saved[fl] != '/'))
		return 0;
	rest = saved + fl;
	rest_len = strlen(rest);
	total = tl + rest_len;
	/* "/a=/" makes "/a" itself the root. */
	if (total == 0) {
		rest = "/";
		rest_len = 1;
		total = 1;
	}
	if (total >= PATH_MAX || total >= n)
		return -ENAMETOOLONG;
	memcpy(buf, to, tl);
	memcpy(buf + tl, rest, rest_len);
	buf[total] = '\0';
	return 1;
}
