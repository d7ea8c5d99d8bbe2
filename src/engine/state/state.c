/* state/state.c: the table of state modules, in restore order, and what they share. */
#include "state.h"

#include "sysvipc.h"
#include "../err.h"
#include "../image.h"
#include "../../util/wire.h"

#include <stddef.h>

#include "../banned.h"

/* Restore order: descriptors and memory first (the process's shape), then threads,
 * then what refers to threads (signals, timers), then process attributes and, last,
 * credentials, because dropping root ends what crest may do. File contents come
 * right after the file records they belong to; locks once memory is in place, when
 * crest's own descriptors of mapped files can go (closing one would drop them). System
 * V objects are made before the memory that attaches their segments. */
const struct state_ops *const state_table[] = {
	&files_ops, &fsaved_ops, &sysvipc_ops, &memory_ops, &locks_ops, &threads_ops, &signals_ops, &timers_ops,
	&proc_ops, &creds_ops,
};
const unsigned int state_count = sizeof(state_table) / sizeof(state_table[0]);

const struct state_ops *state_for_rec(uint32_t type)
{
	if (type == 0) /* the unused slots of recs[] */
		return NULL;
	for (unsigned int i = 0; i < state_count; i++)
		for (unsigned int k = 0; k < 3; k++)
			if (state_table[i]->recs[k] == type)
				return state_table[i];
	return NULL;
}

struct proc_img *state_rec_proc(struct model *m, struct wire_rd *rd, const struct img_rec *rec,
				const struct img_reader *r, struct err *err)
{
	uint32_t pid = get_u32(rd);
	struct proc_img *p = rd->bad ? NULL : model_find_proc(m, (pid_t)pid);

	if (!p)
		img_rec_corrupt(r, rec, "refers to a process the context has not described", err);
	return p;
}
