/* dest.h: where a context goes, with BLCR's replacement policies.
 *
 * atomic (default): written to DIR/.BASE.tmp, renamed over FILE on success.
 * backup: as atomic, and an existing FILE is first renamed to NAME or FILE.~N~.
 * clobber: FILE written in place. noclobber: fails with EEXIST if FILE exists.
 * A descriptor (-F) is written as it is; the policies do not apply.
 * Any failure after opening removes what was being written; FILE stays as it was. */
#ifndef CREST_DEST_H
#define CREST_DEST_H

#include <stdbool.h>

struct err;

enum dest_policy { DEST_ATOMIC, DEST_BACKUP, DEST_CLOBBER, DEST_NOCLOBBER };

struct dest {
	int fd;
	bool is_fd;
	enum dest_policy policy;
	char *final;  /* FILE as given */
	char *tmp;    /* the temporary name for atomic and backup */
	char *backup; /* NAME for --backup=NAME, or NULL for FILE.~N~ */
	char *abs;    /* absolute path of what is being written ("" for a pipe) */
	char name[64]; /* for messages: FILE, or <fdN> */
};

int dest_open_file(struct dest *d, const char *file, enum dest_policy policy,
		   const char *backup_name, struct err *err);
int dest_open_fd(struct dest *d, int fd, struct err *err);
/* Make it durable (sync) and put it in place. */
int dest_commit(struct dest *d, bool sync, struct err *err);
/* Remove what was being written; for a descriptor, nothing. */
void dest_abort(struct dest *d);
void dest_fini(struct dest *d);
const char *dest_display(const struct dest *d);

#endif
