/* Credentials of a process that gave up root and every capability with it: see
 * creds.c. */
#define CREDS_MODE 1 /* DROP_ALL */
#include "creds.c"
