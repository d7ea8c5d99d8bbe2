/* fault.c: test-only failure points (see fault.h). */
#include "fault.h"

#include <stdlib.h>
#include <string.h>

#include "banned.h"

bool fault_armed(const char *point)
{
	const char *list = getenv("CREST_FAULT");
	size_t n = strlen(point);

	while (list && *list) {
		const char *end = strchr(list, ',');
		size_t len = end ? (size_t)(end - list) : strlen(list);

		if (len == n && !strncmp(list, point, n))
			return true;
		list = end ? end + 1 : NULL;
	}
	return false;
}
