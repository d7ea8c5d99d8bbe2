/* Credentials of a process that stays root with fewer capabilities, ambient ones and
 * locked securebits: see creds.c. */
#define CREDS_MODE 2 /* STAY_ROOT */
#include "creds.c"
