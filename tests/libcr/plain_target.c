/* plain_target.c: a program without libcr, for cr_run (BLCR's hello and pause
 * helpers).
 *   plain_target hello      print "hello" and exit 0
 *   plain_target pause      print its pid, then wait for signals forever
 *   plain_target env        print LD_PRELOAD
 *   plain_target exit N     exit N */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "hello";

	if (!strcmp(what, "pause")) {
		printf("%d\n", (int)getpid());
		fflush(stdout);
		for (;;)
			pause();
	}
	if (!strcmp(what, "env")) {
		const char *p = getenv("LD_PRELOAD");

		printf("%s\n", p ? p : "(unset)");
		return 0;
	}
	if (!strcmp(what, "exit"))
		return argc > 2 ? atoi(argv[2]) : 0;
	printf("hello\n");
	return 0;
}
