/* pidns.h: pid namespaces. cr_restart --pidns restores under a small init of a new
 * namespace; cr_checkpoint reaches a process that lives in a namespace below its own
 * by joining it, so that the context holds the ids the process knows itself by. */
#ifndef CREST_PIDNS_H
#define CREST_PIDNS_H

#include <sys/types.h>

struct err;

/* For a process in a new mount namespace: make its mounts private and mount a /proc
 * that shows its pid namespace. */
int pidns_mount_proc(struct err *err);

/* Where pid lives: 0 in our namespace, 1 in one below it (*inner is then its pid
 * there), -errno if it cannot be told. */
int pidns_inner_pid(pid_t pid, pid_t *inner, struct err *err);

/* Our children from now on are born in pid's namespace, until pidns_leave(back)
 * (as soon as they are: a namespace that empties dies, and a child of ours could not
 * be born in it). They call pidns_settle() first: a mount namespace of their own with
 * that namespace's /proc. */
int pidns_enter(pid_t pid, int *back, struct err *err);
void pidns_leave(int *back);
int pidns_settle(struct err *err);

/* For the init of a namespace whose children are all gone: wait until some other
 * process of the namespace (one that joined it from outside, a cr_checkpoint say)
 * ends, and return 1; 0 at once if there is none. Init's end kills them all: it must
 * wait for them. */
int pidns_wait_other(void);

/* Is pid one of crest's namespace inits? */
int pidns_is_crest_init(pid_t pid);

#define PIDNS_INIT_NAME "crest-init"

#endif
