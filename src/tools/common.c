/* common.c: exit codes and message lines shared by the tools. */
#include "common.h"

#include "engine/log.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "engine/banned.h"

int tool_exit_code(int rc)
{
	if (rc >= 0)
		return 0;
	return (-rc) & 0xff;
}

void tool_print_kmsgs(enum kmsg_mode mode, bool failed, bool quiet)
{
	if (quiet || mode == KMSG_MODE_NONE || (mode == KMSG_MODE_ERROR && !failed))
		return;
	for (size_t i = 0; i < kmsg_count(); i++)
		fprintf(stderr, "- %s\n", kmsg_line(i, NULL));
}

bool tool_is_context_name(const char *name)
{
	long pid;

	return !strncmp(name, "context.", 8) && opt_int(name + 8, 1, INT32_MAX, &pid) == 0;
}
