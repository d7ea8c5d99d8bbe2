/* version.h: crest's release, and BLCR error codes the engine reports. */
#ifndef CREST_VERSION_H
#define CREST_VERSION_H

#define CREST_VERSION "0.1.0"

/* BLCR's codes (blcr_errcodes.h), for the engine's own use without BLCR's headers. */
#define CREST_ETEMPFAIL 2354
#define CREST_EPERMFAIL 2355
#define CREST_ENOSUPPORT 2356
#define CREST_EBADARCH 2359
#define CREST_EPTRACED 2360
#define CREST_EPTRACER 2361
#define CREST_ERSTRTABRT 2362

#endif
