/* bench: checkpoint and restart times of a tiny process, of one with 1 GiB of
 * touched memory, of trees, threads and 10000 descriptors, with the context on
 * tmpfs, against this machine's own memory-copy and file bandwidth measured in the
 * same run.
 *
 *   bench [-n REPEAT] [-m MIB] [-d DIR]      (DIR: where contexts go, default /dev/shm)
 *
 * Checkpoint time is the wall time of `cr_checkpoint -p PID -f FILE`; restart time
 * is the wall time of `cr_restart --kill FILE`: the process is rebuilt, killed at
 * once, and cr_restart exits as it dies, so the figure includes tearing it down.
 * Each figure is the median of REPEAT runs. Tools: $CR_CHECKPOINT, $CR_RESTART. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define GIB (1ull << 30)

static const char *ckpt_tool, *rst_tool, *dir = "/dev/shm";
static int repeat = 5;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void die(const char *what)
{
	fprintf(stderr, "bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* ---- the machine's own limits ---- */

static void fill(uint8_t *p, size_t n)
{
	uint64_t x = 88172645463325252ull;

	for (size_t i = 0; i < n; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(p + i, &x, 8);
	}
}

static double memcpy_gbs(size_t n)
{
	uint8_t *a = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *b = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	double t[9];

	if (a == MAP_FAILED || b == MAP_FAILED)
		die("mmap");
	fill(a, n);
	memset(b, 1, n);
	for (int i = 0; i < repeat; i++) {
		double t0 = now();

		memcpy(b, a, n);
		t[i] = now() - t0;
	}
	munmap(a, n);
	munmap(b, n);
	return (double)n / median(t, repeat) / 1e9;
}

/* write() of n bytes in 8 MiB pieces to a new file in dir, and read() back. */
static void file_gbs(size_t n, double *w, double *r)
{
	size_t chunk = 8u << 20;
	uint8_t *buf = malloc(chunk);
	char path[4096];
	double tw[9], tr[9];

	if (!buf)
		die("malloc");
	fill(buf, chunk);
	snprintf(path, sizeof(path), "%s/crest-bench.io", dir);
	for (int i = 0; i < repeat; i++) {
		int fd;
		double t0;

		unlink(path);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0)
			die(path);
		t0 = now();
		for (size_t off = 0; off < n; off += chunk)
			if (write(fd, buf, chunk) != (ssize_t)chunk)
				die("write");
		tw[i] = now() - t0;
		close(fd);
		fd = open(path, O_RDONLY);
		t0 = now();
		for (size_t off = 0; off < n; off += chunk)
			if (read(fd, buf, chunk) != (ssize_t)chunk)
				die("read");
		tr[i] = now() - t0;
		close(fd);
	}
	unlink(path);
	free(buf);
	*w = (double)n / median(tw, repeat) / 1e9;
	*r = (double)n / median(tr, repeat) / 1e9;
}

/* ---- targets and tools ---- */

/* Shapes of target: one process; a tree of procs processes (the first and its
 * children); one process with threads threads. Each process or thread touches mib
 * MiB of its own. The first process also holds efds eventfds (under its hard limit
 * of open files). */
static unsigned int procs = 1, threads = 1, efds;

static int make_eventfds(unsigned int n)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -1;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -1;
	for (unsigned int k = 0; k < n; k++)
		if (eventfd(k, 0) < 0)
			return -1;
	return 0;
}

static void *toucher(void *arg)
{
	size_t n = *(size_t *)arg;
	uint8_t *m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m != MAP_FAILED)
		fill(m, n);
	return m == MAP_FAILED ? NULL : m;
}

/* A child that touches mib MiB of memory with non-zero data, says so, and waits. */
static pid_t start_target(size_t mib)
{
	int p[2];
	char c;
	pid_t pid;

	if (pipe(p) < 0)
		die("pipe");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		size_t n = mib << 20;
		pthread_t t[64];

		/* The other processes of a tree: children, each with its own memory. */
		for (unsigned int k = 1; k < procs; k++) {
			int q[2];
			char ok;

			if (pipe(q) < 0)
				_exit(1);
			if (fork() == 0) {
				if (n && !toucher(&n))
					_exit(1);
				if (write(q[1], "r", 1) != 1)
					_exit(1);
				for (;;)
					pause();
			}
			close(q[1]);
			if (read(q[0], &ok, 1) != 1)
				_exit(1);
			close(q[0]);
		}
		for (unsigned int k = 1; k < threads && k < 64; k++)
			if (pthread_create(&t[k], NULL, toucher, &n) != 0)
				_exit(1);
		for (unsigned int k = 1; k < threads && k < 64; k++) {
			void *ret;

			if (pthread_join(t[k], &ret) != 0 || (n && !ret))
				_exit(1);
		}
		if ((n && !toucher(&n)) || make_eventfds(efds) < 0)
			_exit(1);
		close(p[0]);
		if (write(p[1], "R", 1) != 1)
			_exit(1);
		close(p[1]);
		for (;;)
			pause();
	}
	close(p[1]);
	if (read(p[0], &c, 1) != 1)
		die("target did not start");
	close(p[0]);
	return pid;
}

static int run(const char *const argv[])
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		die("fork");
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 0);
		dup2(null, 1);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0)
		die("waitpid");
	return st;
}

/* The children of the target (a tree), read before it is killed: they go to init,
 * which reaps them when it can, and their pids must be free before the restart. */
static pid_t kids[64];
static int nkids;

static void note_children(pid_t pid)
{
	char path[64];
	FILE *f;
	long k;

	nkids = 0;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", pid, pid);
	f = fopen(path, "r");
	while (f && nkids < 64 && fscanf(f, "%ld", &k) == 1)
		kids[nkids++] = (pid_t)k;
	if (f)
		fclose(f);
}

static void wait_children_gone(void)
{
	for (int i = 0; i < 10000; i++) {
		bool any = false;

		for (int k = 0; k < nkids; k++)
			any |= kill(kids[k], 0) == 0;
		if (!any)
			return;
		usleep(1000);
	}
	fprintf(stderr, "bench: the killed tree's children are still there after 10 s\n");
	exit(1);
}

struct result {
	double ckpt, rst; /* seconds, medians */
	double bytes;     /* context size */
};

static void measure(size_t mib, struct result *res)
{
	char file[4096], pidbuf[16];
	double tc[9], tr[9];
	struct stat st;

	snprintf(file, sizeof(file), "%s/crest-bench.ctx", dir);
	for (int i = 0; i < repeat; i++) {
		pid_t pid = start_target(mib);
		const char *ck[] = {ckpt_tool, procs > 1 ? "-T" : "-p", "-f", file, "--kill", pidbuf,
				    NULL};
		const char *rs[] = {rst_tool, "--kill", file, NULL};
		double t0;
		int s;

		snprintf(pidbuf, sizeof(pidbuf), "%d", pid);
		note_children(pid);
		t0 = now();
		s = run(ck);
		tc[i] = now() - t0;
		if (!WIFEXITED(s) || WEXITSTATUS(s) != 0) {
			fprintf(stderr, "bench: cr_checkpoint failed (status %#x)\n", s);
			exit(1);
		}
		waitpid(pid, NULL, 0); /* it was killed: its pid is free again */
		wait_children_gone();
		t0 = now();
		s = run(rs);
		tr[i] = now() - t0;
		if (!WIFSIGNALED(s) || WTERMSIG(s) != SIGKILL) {
			fprintf(stderr, "bench: cr_restart did not end as the killed process "
					"(status %#x)\n",
				s);
			exit(1);
		}
		if (stat(file, &st) == 0)
			res->bytes = (double)st.st_size;
		unlink(file);
	}
	res->ckpt = median(tc, repeat);
	res->rst = median(tr, repeat);
}

/* A tree or threads result (bytes of touched memory), with its targets in ms. Beside
 * each: the time this machine takes just to write() (read()) as many bytes to (from)
 * the context's file system (wr, rd in GB/s), which a checkpoint (restart) cannot beat
 * without writing fewer bytes. */
static void report_shape(const char *what, double bytes, const struct result *r,
			 int ckpt_target, int rst_target, double wr, double rd)
{
	printf("%-19s checkpoint %7.1f ms (target <= %3d)  %5.2f GB/s  write() alone %6.1f ms\n",
	       what, r->ckpt * 1e3, ckpt_target, bytes / r->ckpt / 1e9, bytes / wr / 1e6);
	printf("%-19s restart    %7.1f ms (target <= %3d)  %5.2f GB/s  read() alone  %6.1f ms\n",
	       "", r->rst * 1e3, rst_target, bytes / r->rst / 1e9, bytes / rd / 1e6);
}

int main(int argc, char **argv)
{
	struct result tiny, big;
	size_t mib = 1024;
	double cp, wr, rd, ck_gbs, rs_gbs;
	int opt;

	ckpt_tool = getenv("CR_CHECKPOINT") ? getenv("CR_CHECKPOINT") : "build/bin/cr_checkpoint";
	rst_tool = getenv("CR_RESTART") ? getenv("CR_RESTART") : "build/bin/cr_restart";
	while ((opt = getopt(argc, argv, "n:m:d:")) != -1) {
		switch (opt) {
		case 'n':
			repeat = atoi(optarg);
			break;
		case 'm':
			mib = (size_t)atol(optarg);
			break;
		case 'd':
			dir = optarg;
			break;
		default:
			fprintf(stderr, "usage: bench [-n REPEAT] [-m MIB] [-d DIR]\n");
			return 2;
		}
	}
	if (repeat < 1 || repeat > 9)
		repeat = 5;

	printf("crest benchmark: %d runs each, median; contexts in %s\n\n", repeat, dir);
	cp = memcpy_gbs(GIB);
	file_gbs(GIB, &wr, &rd);
	printf("machine   memcpy 1 GiB           %6.2f GB/s\n", cp);
	printf("          write() 1 GiB to %-9s %5.2f GB/s\n", dir, wr);
	printf("          read() 1 GiB from %-8s %5.2f GB/s\n\n", dir, rd);

	measure(0, &tiny);
	printf("tiny      checkpoint %8.2f ms   (target <= 4 ms)   context %.0f KiB\n",
	       tiny.ckpt * 1e3, tiny.bytes / 1024);
	printf("          restart    %8.2f ms   (target <= 6 ms)\n\n", tiny.rst * 1e3);

	measure(mib, &big);
	ck_gbs = (double)(mib << 20) / big.ckpt / 1e9;
	rs_gbs = (double)(mib << 20) / big.rst / 1e9;
	printf("%4zu MiB  checkpoint %8.1f ms  %5.2f GB/s (target >= 2.2)  = %.2f x memcpy, "
	       "%.2f x write()\n",
	       mib, big.ckpt * 1e3, ck_gbs, ck_gbs / cp, ck_gbs / wr);
	printf("          restart    %8.1f ms  %5.2f GB/s (target >= 2.0)  = %.2f x memcpy, "
	       "%.2f x read()\n\n",
	       big.rst * 1e3, rs_gbs, rs_gbs / cp, rs_gbs / rd);

	procs = 8;
	measure(64, &big);
	report_shape("tree 8 x 64 MiB", 512u << 20, &big, 100, 150, wr, rd);
	procs = 1;
	threads = 4;
	measure(64, &big);
	report_shape("4 threads x 64 MiB", 256u << 20, &big, 55, 60, wr, rd);
	threads = 1;
	efds = 10000;
	measure(0, &big);
	printf("\nfds: 10000 eventfds  checkpoint %6.1f ms  %5.1f us per descriptor\n",
	       big.ckpt * 1e3, big.ckpt * 1e6 / efds);
	printf("                     restart    %6.1f ms  %5.1f us per descriptor\n", big.rst * 1e3,
	       big.rst * 1e6 / efds);
	return 0;
}
