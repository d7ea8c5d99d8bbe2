/* reloc.h: --relocate OLD=NEW applied to one path saved in a context
 * (blcr-reference.md §4.4). Pure string work with no allocation: it also runs in the
 * new process, before its memory is replaced. The list and its order (the first pair
 * that matches wins) are rst_path()'s, in restart.c. */
#ifndef CREST_RELOC_H
#define CREST_RELOC_H

#include <stddef.h>

/* Whether saved lies under from, on whole path components: "/a/foo" covers "/a/foo"
 * and "/a/foo/1", not "/a/fooz" nor "/b/a/foo"; "/" covers every absolute path.
 * Trailing slashes of from and to do not count. If it does, the part of saved that
 * from covers is replaced by to, written to buf (n bytes), and 1 is returned; 0 if
 * it does not; -ENAMETOOLONG if the result is PATH_MAX bytes or longer, or does not
 * fit in n bytes (buf is then left as it was). */
int reloc_one(const char *from, const char *to, const char *saved, char *buf, size_t n);

#endif
