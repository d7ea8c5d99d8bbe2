/* common.c: exit codes and message lines shared by the tools. */
#include "common.h"

#include "engine/log.h"

#include <stdio.h>

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
