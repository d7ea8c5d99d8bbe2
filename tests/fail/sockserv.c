/* sockserv: a unix stream server and its client, for restarts that move sockets.
 *
 *   sockserv PATH       bind a listener to PATH, then answer every connection with
 *                       "pong PID\n" (PID as the server sees itself), forever
 *   sockserv -c PATH    connect to PATH, print the answer, exit 0 (1 on failure) */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int addr_of(const char *path, struct sockaddr_un *a)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(a->sun_path)) {
		fprintf(stderr, "sockserv: path too long\n");
		return -1;
	}
	strcpy(a->sun_path, path);
	return 0;
}

static int client(const char *path)
{
	struct sockaddr_un a;
	char buf[64];
	ssize_t n;
	int s = socket(AF_UNIX, SOCK_STREAM, 0);

	if (s < 0 || addr_of(path, &a) < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("sockserv: connect");
		return 1;
	}
	n = read(s, buf, sizeof(buf) - 1);
	if (n <= 0)
		return 1;
	buf[n] = '\0';
	fputs(buf, stdout);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_un a;
	int s;

	if (argc == 3 && !strcmp(argv[1], "-c"))
		return client(argv[2]);
	if (argc != 2) {
		fprintf(stderr, "usage: sockserv PATH | sockserv -c PATH\n");
		return 2;
	}
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	if (s < 0 || addr_of(argv[1], &a) < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(s, 8) < 0) {
		perror("sockserv: listen");
		return 1;
	}
	for (;;) {
		int c = accept(s, NULL, NULL);

		if (c < 0)
			continue;
		dprintf(c, "pong %d\n", (int)getpid());
		close(c);
	}
}
