/*
 * blcr_errcodes.h: BLCR's error codes as an X-macro list (crest's own text).
 *
 * Each line is CR_ERROR_DEF(NAME, "description"). The file has no include guard and
 * defines nothing itself: whoever includes it defines CR_ERROR_DEF first, and may do
 * so several times (blcr_common.h makes an enum of the names; a client may make a
 * table of the descriptions). The position of a name is its value, counted from
 * CR_MIN_ERRCODE + 1: codes are only ever appended.
 */
CR_ERROR_DEF(CR_ETEMPFAIL, "Checkpoint cancelled by a callback for now: try again later")
CR_ERROR_DEF(CR_EPERMFAIL, "Checkpoint cancelled by a callback for good: the processes were killed")
CR_ERROR_DEF(CR_ENOSUPPORT, "A process of the request has no checkpoint support loaded")
CR_ERROR_DEF(CR_EVERSION, "The checkpoint interface versions do not match")
CR_ERROR_DEF(CR_EOMITTED, "This process was left out of the checkpoint at a callback's request")
CR_ERROR_DEF(CR_EBADARCH, "The context file was made on another architecture")
CR_ERROR_DEF(CR_EPTRACED, "A process of the request is being traced")
CR_ERROR_DEF(CR_EPTRACER, "A process of the request is tracing another process")
CR_ERROR_DEF(CR_ERSTRTABRT, "The restart was aborted and the restored processes were killed")
CR_ERROR_DEF(CR_ERESTARTED, "The request does not carry over a restart: this is the restarted copy")
CR_ERROR_DEF(CR_ENOTCB, "Only allowed inside a checkpoint callback")
CR_ERROR_DEF(CR_ENOINIT, "The calling thread has not called cr_init()")
