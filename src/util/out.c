/* out.c: one emitter for cr_info's text and JSON. */
#include "out.h"

#include <inttypes.h>
#include <string.h>

#include "../engine/banned.h"

void out_init(struct out *o, FILE *f, bool json)
{
	memset(o, 0, sizeof(*o));
	o->f = f;
	o->json = json;
	o->first[0] = true;
}

static void indent(struct out *o)
{
	for (int i = 1; i < o->depth; i++)
		fputs("  ", o->f);
}

/* Length of the valid UTF-8 sequence at s, or 0 if it is not one. */
static int utf8_len(const unsigned char *s)
{
	int n = s[0] >= 0xf0 ? 3 : s[0] >= 0xe0 ? 2 : 1;
	uint32_t cp;

	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 0;
	cp = s[0] & (0x3fu >> n);
	for (int i = 1; i <= n; i++) {
		if ((s[i] & 0xc0) != 0x80) /* also stops at the NUL */
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n + 1;
}

/* JSON is UTF-8: paths and names are bytes, so a byte that does not belong to a valid
 * sequence becomes U+FFFD rather than making the whole document unreadable. */
static void json_escape(FILE *f, const char *s)
{
	fputc('"', f);
	while (s && *s) {
		unsigned char c = (unsigned char)*s;
		int n;

		if (c == '"' || c == '\\') {
			fprintf(f, "\\%c", c);
		} else if (c < 0x20) {
			fprintf(f, "\\u%04x", c);
		} else if (c < 0x80) {
			fputc(c, f);
		} else if ((n = utf8_len((const unsigned char *)s)) > 0) {
			fwrite(s, 1, (size_t)n, f);
			s += n;
			continue;
		} else {
			fputs("\\ufffd", f);
		}
		s++;
	}
	fputc('"', f);
}

/* JSON: a new line, indented to depth d. */
static void json_line(struct out *o, int d)
{
	fputc('\n', o->f);
	for (int i = 0; i < d; i++)
		fputs("  ", o->f);
}

/* Print what comes before a member: separator, indentation and key. */
static void member(struct out *o, const char *key)
{
	int d = o->depth;

	if (o->json) {
		if (!o->first[d])
			fputc(',', o->f);
		if (d > 0)
			json_line(o, d);
		if (key && !o->array[d]) {
			json_escape(o->f, key);
			fputs(": ", o->f);
		}
	} else if (o->inline_[d]) {
		if (!o->first[d])
			fputc(' ', o->f);
		if (key && !o->array[d])
			fprintf(o->f, "%s=", key);
	} else {
		indent(o);
		if (o->array[d])
			fputs("- ", o->f);
		if (key && (!o->array[d] || !o->json))
			fprintf(o->f, "%s: ", key);
	}
	o->first[d] = false;
}

static void end_line(struct out *o)
{
	if (!o->json && !o->inline_[o->depth])
		fputc('\n', o->f);
}

static void open_level(struct out *o, bool array, bool inl)
{
	if (o->depth + 1 >= OUT_MAX_DEPTH)
		return;
	o->depth++;
	o->first[o->depth] = true;
	o->array[o->depth] = array;
	o->inline_[o->depth] = inl;
}

void out_obj_begin(struct out *o, const char *key)
{
	int d = o->depth;
	/* Text: an unnamed object in an array is one line; a named one is a block. */
	bool inl = !o->json && (o->inline_[d] || (o->array[d] && !key));

	member(o, key);
	if (o->json) {
		fputc('{', o->f);
	} else if (o->inline_[d]) {
		fputc('{', o->f);
	} else if (!inl) {
		if (key || o->array[d])
			fputc('\n', o->f);
	}
	open_level(o, false, inl);
}

/* Leave the innermost level. JSON closes it with c, on a line of its own unless it is
 * empty; text closes only an inline one, the caller's way: returns whether it was. */
static bool close_level(struct out *o, char c)
{
	bool inl = o->inline_[o->depth];
	bool was_empty = o->first[o->depth];

	if (o->depth > 0)
		o->depth--;
	if (o->json) {
		if (!was_empty)
			json_line(o, o->depth);
		fputc(c, o->f);
		return false;
	}
	return inl;
}

void out_obj_end(struct out *o)
{
	/* An inline object in an inline one ends in '}', one of its own ends its line. */
	if (close_level(o, '}'))
		fputc(o->inline_[o->depth] ? '}' : '\n', o->f);
}

void out_arr_begin(struct out *o, const char *key)
{
	int d = o->depth;
	bool inl = !o->json && o->inline_[d];

	member(o, key);
	if (o->json || inl)
		fputc('[', o->f);
	else
		fputc('\n', o->f);
	open_level(o, true, inl);
}

void out_arr_end(struct out *o)
{
	if (close_level(o, ']'))
		fputc(']', o->f);
}

void out_str(struct out *o, const char *key, const char *v)
{
	member(o, key);
	if (o->json) {
		if (v)
			json_escape(o->f, v);
		else
			fputs("null", o->f);
	} else {
		fputs(v ? v : "-", o->f);
	}
	end_line(o);
}

void out_u64(struct out *o, const char *key, uint64_t v)
{
	member(o, key);
	fprintf(o->f, "%" PRIu64, v);
	end_line(o);
}

void out_i64(struct out *o, const char *key, int64_t v)
{
	member(o, key);
	fprintf(o->f, "%" PRId64, v);
	end_line(o);
}

void out_hex(struct out *o, const char *key, uint64_t v)
{
	member(o, key);
	fprintf(o->f, o->json ? "\"0x%" PRIx64 "\"" : "0x%" PRIx64, v);
	end_line(o);
}

void out_bool(struct out *o, const char *key, bool v)
{
	member(o, key);
	fputs(v ? "true" : "false", o->f);
	end_line(o);
}

void out_finish(struct out *o)
{
	if (o->json)
		fputc('\n', o->f);
	fflush(o->f);
}
