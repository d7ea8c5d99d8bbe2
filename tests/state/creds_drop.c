/* Credentials of a process that gave up root and every capability with it: see
 * creds.c. */
#define CREDS_DROP_ALL 1
#include "creds.c"
