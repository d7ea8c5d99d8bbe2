/* out.h: structured output, as JSON or as indented text, from one set of calls.
 *
 * Text: keyed objects open an indented block; objects inside arrays print on one line
 * as "- key=value ...". JSON: standard, strings escaped. */
#ifndef CREST_OUT_H
#define CREST_OUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define OUT_MAX_DEPTH 16

struct out {
	FILE *f;
	bool json;
	int depth;
	bool first[OUT_MAX_DEPTH];
	bool inline_[OUT_MAX_DEPTH]; /* text: this level prints on one line */
	bool array[OUT_MAX_DEPTH];
};

void out_init(struct out *o, FILE *f, bool json);
void out_obj_begin(struct out *o, const char *key);
void out_obj_end(struct out *o);
void out_arr_begin(struct out *o, const char *key);
void out_arr_end(struct out *o);
void out_str(struct out *o, const char *key, const char *v);
void out_u64(struct out *o, const char *key, uint64_t v);
void out_i64(struct out *o, const char *key, int64_t v);
void out_hex(struct out *o, const char *key, uint64_t v);
void out_bool(struct out *o, const char *key, bool v);
void out_finish(struct out *o);

#endif
