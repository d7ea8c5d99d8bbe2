/* ttyecho: a process whose stdio is a terminal, for tests/fail/tty.sh.
 *
 *   ttyecho PIDFILE
 *
 * Opens /dev/tty (its controlling terminal), writes its pid to PIDFILE (whole, by
 * rename), then reads its stdin line by line: "quit" exits 0; any other line is
 * answered on stdout with "echo: LINE", on stderr with "err: LINE" and on /dev/tty
 * with "tty: LINE", so a test sees every descriptor work. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char line[256], tmp[4096];
	size_t got = 0;
	FILE *f;
	int tty;

	if (argc != 2)
		return 2;
	tty = open("/dev/tty", O_RDWR);
	if (tty < 0)
		return 2;
	snprintf(tmp, sizeof(tmp), "%s.tmp", argv[1]);
	f = fopen(tmp, "w");
	if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0 ||
	    rename(tmp, argv[1]) < 0)
		return 2;
	for (;;) {
		ssize_t n = read(0, line + got, 1);

		if (n <= 0)
			return 1;
		if (line[got] == '\r')
			continue;
		if (line[got] != '\n' && got < sizeof(line) - 2) {
			got++;
			continue;
		}
		line[got] = '\0';
		got = 0;
		if (!strcmp(line, "quit"))
			return 0;
		dprintf(1, "echo: %s\n", line);
		dprintf(2, "err: %s\n", line);
		dprintf(tty, "tty: %s\n", line);
	}
}
