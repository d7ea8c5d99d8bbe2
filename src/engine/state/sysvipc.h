/* sysvipc.h: System V IPC objects used by the checkpointed processes (sysvipc.c). */
#ifndef CREST_SYSVIPC_H
#define CREST_SYSVIPC_H

#include "state.h"

struct err;

extern const struct state_ops sysvipc_ops;

/* memory.c, restoring the new process c->rp: attach the shared memory segment of area
 * v (a VMA_SYSVSHM area; its ino is the segment's id) at v->start with the area's
 * protection. The segment was made in prepare. Returns 0 or -errno with err set. */
int sysvipc_attach(struct rst_ctx *c, const struct vma_img *v, struct err *err);

#endif
