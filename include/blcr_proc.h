/*
 * blcr_proc.h: where BLCR's kernel module took requests (crest's own text).
 *
 * crest has no control file; the name is kept so that programs that mention it
 * compile. Opening it fails with ENOENT.
 */
#ifndef _BLCR_PROC_H
#define _BLCR_PROC_H 1

#include <blcr_ioctl.h>

#define CR_CTRL_FILE "/proc/checkpoint/ctrl"

#endif
