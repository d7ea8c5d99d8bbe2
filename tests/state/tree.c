/* A process tree: a child with a grandchild, a stopped child, a zombie; pipes between
 * them with data in flight, and descriptors inherited across fork that must still be
 * one open file (kcmp). Each process checks itself and reports up the pipes.
 * Run with the harness's -T (checkpoint the whole tree). */
#include "ct.h"

#include <fcntl.h>
#include <linux/kcmp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t me, child, grandchild, stopped, zombie;
static int gate[2];          /* main -> child: go on (written after GO) */
static int down[2], up[2];   /* main <-> child: down holds data in flight */
static int down2[2], up2[2]; /* child <-> grandchild */
static int shared_fd;        /* a file opened before forking: one description */
static volatile char *shm;   /* MAP_SHARED | MAP_ANONYMOUS, shared with the child */

static void die(const char *why)
{
	dprintf(2, "tree: %s\n", why);
	_exit(99);
}

static void xread(int fd, void *p, size_t n, const char *what)
{
	size_t got = 0;

	while (got < n) {
		ssize_t k = read(fd, (char *)p + got, n - got);

		if (k <= 0)
			die(what);
		got += (size_t)k;
	}
}

/* The grandchild: answers one question with its ids, then exits 0. */
static void grandchild_main(void)
{
	pid_t ids[2];
	char q;

	xread(down2[0], &q, 1, "grandchild: question");
	ids[0] = getpid();
	ids[1] = getppid();
	if (write(up2[1], ids, sizeof(ids)) != sizeof(ids))
		die("grandchild: answer");
	_exit(0);
}

/* The child: a pipe to its own child holds a byte in flight; on a question from
 * above it asks below, checks, and answers with everything. */
static void child_main(void)
{
	pid_t ids[6], g[2];
	char q, in_flight;

	shm[2] = 'S'; /* before the checkpoint */
	grandchild = fork();
	if (grandchild < 0)
		die("fork");
	if (grandchild == 0)
		grandchild_main();
	xread(gate[0], &q, 1, "child: gate");
	xread(down[0], &in_flight, 1, "child: data in flight");
	if (write(down2[1], "?", 1) != 1)
		die("child: question");
	xread(up2[0], g, sizeof(g), "child: grandchild's answer");
	ids[0] = getpid();
	ids[1] = getppid();
	ids[2] = g[0];
	ids[3] = g[1];
	ids[4] = in_flight == 'D' ? grandchild : -1;
	ids[5] = shm[0]; /* written by the parent after the restart */
	shm[1] = 'C';
	if (write(up[1], ids, sizeof(ids)) != sizeof(ids))
		die("child: answer");
	if (waitpid(grandchild, NULL, 0) != grandchild)
		die("child: wait");
	_exit(0);
}

static int setup(void)
{
	me = getpid();
	shared_fd = open("/dev/null", O_RDONLY);
	CT_SYS(shared_fd);
	shm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CT_TRUE(shm != MAP_FAILED);
	CT_SYS(pipe(gate));
	CT_SYS(pipe(down));
	CT_SYS(pipe(up));
	CT_SYS(pipe(down2));
	CT_SYS(pipe(up2));
	child = fork();
	CT_SYS(child);
	if (child == 0)
		child_main();
	stopped = fork();
	CT_SYS(stopped);
	if (stopped == 0) {
		for (;;)
			pause();
	}
	CT_SYS(kill(stopped, SIGSTOP));
	zombie = fork();
	CT_SYS(zombie);
	if (zombie == 0)
		_exit(7);
	/* Data in flight to the child, before the checkpoint. */
	CT_EQ(write(down[1], "D", 1), 1);
	/* Wait until the stop and the exit have happened. */
	for (int i = 0; i < 5000; i++) {
		char path[64], st = 0;
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/stat", zombie);
		f = fopen(path, "r");
		if (f && fscanf(f, "%*d %*s %c", &st) != 1)
			st = 0;
		if (f)
			fclose(f);
		if (st == 'Z')
			break;
		usleep(1000);
	}
	return 0;
}

static char state_of(pid_t pid)
{
	char path[64], st = '?';
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (f && fscanf(f, "%*d %*s %c", &st) != 1)
		st = '?';
	if (f)
		fclose(f);
	return st;
}

static int check(void)
{
	pid_t ids[6];
	int st;

	CT_EQ(getpid(), me);
	/* The stopped child is stopped still, the zombie still a zombie. */
	CT_EQ(state_of(stopped), 'T');
	CT_EQ(state_of(zombie), 'Z');
	/* The descriptor inherited by the child is still the same open file. */
	CT_EQ(syscall(SYS_kcmp, me, child, KCMP_FILE, shared_fd, shared_fd), 0);
	CT_EQ(syscall(SYS_kcmp, me, child, KCMP_FILE, down[1], down[1]), 0);
	CT_TRUE(syscall(SYS_kcmp, me, child, KCMP_FILE, down[1], up[1]) != 0);
	/* Shared memory is still one object: both see each other's writes. */
	CT_EQ(shm[2], 'S');
	shm[0] = 'P';
	/* Ask down the tree. */
	CT_EQ(write(gate[1], "g", 1), 1);
	xread(up[0], ids, sizeof(ids), "main: answer");
	CT_EQ(ids[0], child);
	CT_EQ(ids[1], me);
	CT_EQ(ids[2], ids[4]);
	CT_EQ(ids[3], child);
	CT_TRUE(ids[4] > 0);
	CT_EQ(ids[5], 'P');
	CT_EQ(shm[1], 'C');
	/* The zombie's status is the one it exited with. */
	CT_EQ(waitpid(zombie, &st, 0), zombie);
	CT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 7);
	CT_EQ(waitpid(child, &st, 0), child);
	CT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CT_SYS(kill(stopped, SIGKILL));
	CT_EQ(waitpid(stopped, &st, 0), stopped);
	return 0;
}

CT_MAIN(setup, check)
