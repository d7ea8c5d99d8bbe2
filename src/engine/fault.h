/* fault.h: named failure points, armed by the environment, so tests can make each
 * step of a checkpoint or restart fail on purpose:
 *
 *   CREST_FAULT=checkpoint:collect,restart:restore cr_checkpoint ...
 *
 * A point that is not armed costs one string comparison per list entry. */
#ifndef CREST_FAULT_H
#define CREST_FAULT_H

#include <stdbool.h>

/* True if point is listed in CREST_FAULT. */
bool fault_armed(const char *point);

#endif
