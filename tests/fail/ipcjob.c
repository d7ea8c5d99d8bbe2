/* ipcjob: System V IPC objects for tests/fail/sysvipc.sh.
 *
 *   ipcjob make FILE         make a segment (attached, two pages written), a set of
 *                            three semaphores (1 2 3) and a queue with one message,
 *                            each with a key of its own; write "SHM SEM MSG" (their
 *                            ids) to FILE; then wait to be killed
 *   ipcjob attach ID FILE    attach segment ID, write "ok" to FILE, wait
 *   ipcjob sem ID KEY        make a set of one semaphore with KEY at id ID (through
 *                            sem_next_id) and print its id */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <unistd.h>

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void tell(const char *file, const char *fmt, int a, int b, int c)
{
	char tmp[4200];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", file);
	f = fopen(tmp, "w");
	if (!f)
		die(tmp);
	fprintf(f, fmt, a, b, c);
	fclose(f);
	if (rename(tmp, file) < 0)
		die(file);
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "make")) {
		key_t k = 0x49500000 | (getpid() & 0xffff);
		unsigned short v[3] = {1, 2, 3};
		struct {
			long type;
			char text[8];
		} m = {4, "hello"};
		int shm = shmget(k, 8192, IPC_CREAT | IPC_EXCL | 0600);
		int sem = semget(k + 1, 3, IPC_CREAT | IPC_EXCL | 0600);
		int msg = msgget(k + 2, IPC_CREAT | IPC_EXCL | 0600);
		char *p;

		if (shm < 0 || sem < 0 || msg < 0)
			die("ipc");
		p = shmat(shm, NULL, 0);
		if (p == (void *)-1)
			die("shmat");
		memset(p, 'a', 4096);
		memset(p + 4096, 'b', 4096);
		if (semctl(sem, 0, SETALL, v) < 0 || msgsnd(msg, &m, 5, 0) < 0)
			die("fill");
		tell(argv[2], "%d %d %d\n", shm, sem, msg);
		for (;;)
			pause();
	}
	if (argc == 4 && !strcmp(argv[1], "attach")) {
		if (shmat(atoi(argv[2]), NULL, SHM_RDONLY) == (void *)-1)
			die("shmat");
		tell(argv[3], "ok\n", 0, 0, 0);
		for (;;)
			pause();
	}
	if (argc == 4 && !strcmp(argv[1], "sem")) {
		int fd = open("/proc/sys/kernel/sem_next_id", O_WRONLY), id;

		if (fd < 0 || write(fd, argv[2], strlen(argv[2])) < 0)
			die("sem_next_id");
		close(fd);
		id = semget((key_t)strtol(argv[3], NULL, 0), 1, IPC_CREAT | IPC_EXCL | 0600);
		if (id < 0)
			die("semget");
		printf("%d\n", id);
		return 0;
	}
	fprintf(stderr, "usage: ipcjob make FILE | attach ID FILE | sem ID KEY\n");
	return 2;
}
