/* banned.h: functions that are too easy to misuse; using one fails the build. */
#ifndef CREST_BANNED_H
#define CREST_BANNED_H

#define CREST_BANNED(f) sorry_##f##_is_banned

#undef strcpy
#define strcpy(...) CREST_BANNED(strcpy)
#undef strcat
#define strcat(...) CREST_BANNED(strcat)
#undef sprintf
#define sprintf(...) CREST_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) CREST_BANNED(vsprintf)
#undef strtok
#define strtok(...) CREST_BANNED(strtok)
#undef atoi
#define atoi(...) CREST_BANNED(atoi)
#undef atol
#define atol(...) CREST_BANNED(atol)
#undef gets
#define gets(...) CREST_BANNED(gets)

#endif
