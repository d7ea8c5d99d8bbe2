/* Threads: four threads besides the main one, each at its own tid and each parked in a
 * different blocking call (condition variable, nanosleep, read on a pipe, raw futex
 * wait), and one computing in user space. Each has its own __thread values, name and
 * blocked signal mask. After GO every parked thread is woken, checks its own state
 * from the inside, and is joined (which needs the clear-child-tid address);
 * /proc/self/task must list exactly the saved tids, the computing thread must have
 * computed right, a thread that had exited before the checkpoint must still be
 * joinable, and a new thread must still start and join. */
#include "ct.h"

#include <dirent.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NT 4
#define JOIN_TIMEOUT_S 10

enum park { PARK_COND, PARK_SLEEP, PARK_PIPE, PARK_FUTEX };

struct th {
	int idx;
	pthread_t pt;
	pid_t tid;      /* gettid() in setup */
	void *tls_addr; /* &tls_word in that thread */
	uint64_t mask;  /* its blocked set, as the kernel gives it */
	char name[16];
	atomic_int parked; /* 1 once about to block */
	atomic_int woke;   /* 1 once the blocking call returned */
	char why[256];     /* what the thread found wrong, or "" */
};

static __thread uint64_t tls_word;
static __thread char tls_text[32];

static struct th th[NT];
static pthread_t done_pt; /* exited before the checkpoint, joined after */
static pthread_t spin_pt; /* computing in user space, never in a system call */
static volatile pid_t spin_tid;
static atomic_int spin_stop;
static uint64_t spin_n, spin_sum;
static volatile pid_t done_tid;
static pid_t main_tid;
static uint64_t main_mask;
static int pipefd[2];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int cond_go;
static atomic_int futex_word;
static volatile sig_atomic_t usr1_seen;

static uint64_t tls_value(int idx)
{
	return 0x1122334455667788ull ^ ((uint64_t)idx * 0x0101010101010101ull);
}

static uint64_t mask_of(int idx)
{
	sigset_t s;
	uint64_t m = 0;

	/* A different set per thread, never SIGUSR1 (it wakes the sleeper). */
	sigemptyset(&s);
	sigaddset(&s, SIGRTMIN + 1 + idx);
	if (idx & 1)
		sigaddset(&s, SIGUSR2);
	if (idx & 2)
		sigaddset(&s, SIGHUP);
	for (int sig = 1; sig <= 64; sig++)
		if (sigismember(&s, sig))
			m |= 1ull << (sig - 1);
	return m;
}

static uint64_t current_mask(void)
{
	sigset_t s;
	uint64_t m = 0;

	pthread_sigmask(SIG_BLOCK, NULL, &s);
	for (int sig = 1; sig <= 64; sig++)
		if (sigismember(&s, sig))
			m |= 1ull << (sig - 1);
	return m;
}

static void set_mask(uint64_t m)
{
	sigset_t s;

	sigemptyset(&s);
	for (int sig = 1; sig <= 64; sig++)
		if (m & (1ull << (sig - 1)))
			sigaddset(&s, sig);
	pthread_sigmask(SIG_SETMASK, &s, NULL);
}

static void on_usr1(int sig)
{
	(void)sig;
	usr1_seen = 1;
}

/* The state a thread checks about itself once it runs again. */
static void self_check(struct th *t)
{
	char name[16];
	char want_text[32];

	snprintf(want_text, sizeof(want_text), "thread-%d-tls", t->idx);
	if (syscall(SYS_gettid) != t->tid)
		snprintf(t->why, sizeof(t->why), "gettid %ld != %d", syscall(SYS_gettid), t->tid);
	else if ((void *)&tls_word != t->tls_addr)
		snprintf(t->why, sizeof(t->why), "TLS moved: %p != %p", (void *)&tls_word,
			 t->tls_addr);
	else if (tls_word != tls_value(t->idx))
		snprintf(t->why, sizeof(t->why), "tls_word %#llx", (unsigned long long)tls_word);
	else if (strcmp(tls_text, want_text))
		snprintf(t->why, sizeof(t->why), "tls_text \"%s\"", tls_text);
	else if (!pthread_equal(pthread_self(), t->pt))
		snprintf(t->why, sizeof(t->why), "pthread_self changed");
	else if (pthread_getname_np(pthread_self(), name, sizeof(name)) || strcmp(name, t->name))
		snprintf(t->why, sizeof(t->why), "name \"%s\" != \"%s\"", name, t->name);
	else if (current_mask() != t->mask)
		snprintf(t->why, sizeof(t->why), "mask %#llx != %#llx",
			 (unsigned long long)current_mask(), (unsigned long long)t->mask);
}

static void *thread_main(void *arg)
{
	struct th *t = arg;
	char c;
	long r;

	t->tid = (pid_t)syscall(SYS_gettid);
	t->tls_addr = (void *)&tls_word;
	tls_word = tls_value(t->idx);
	snprintf(tls_text, sizeof(tls_text), "thread-%d-tls", t->idx);
	snprintf(t->name, sizeof(t->name), "ct-park-%d", t->idx);
	pthread_setname_np(pthread_self(), t->name);
	set_mask(mask_of(t->idx));
	t->mask = current_mask();

	switch (t->idx) {
	case PARK_COND:
		pthread_mutex_lock(&lock);
		atomic_store(&t->parked, 1);
		while (!cond_go)
			pthread_cond_wait(&cond, &lock);
		pthread_mutex_unlock(&lock);
		break;
	case PARK_SLEEP: {
		/* Woken by SIGUSR1 (no SA_RESTART): EINTR then, and only then. */
		struct timespec ts = {3600, 0};

		atomic_store(&t->parked, 1);
		r = nanosleep(&ts, &ts);
		if (r == 0 || errno != EINTR || !usr1_seen)
			snprintf(t->why, sizeof(t->why),
				 "nanosleep returned %ld (%s) before SIGUSR1", r, strerror(errno));
		break;
	}
	case PARK_PIPE:
		atomic_store(&t->parked, 1);
		r = read(pipefd[0], &c, 1);
		if (r != 1 || c != 'x')
			snprintf(t->why, sizeof(t->why), "read returned %ld (%s)", r,
				 r < 0 ? strerror(errno) : "");
		break;
	case PARK_FUTEX:
		atomic_store(&t->parked, 1);
		while (atomic_load(&futex_word) == 0) {
			r = syscall(SYS_futex, &futex_word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
			if (r < 0 && errno != EAGAIN) {
				snprintf(t->why, sizeof(t->why), "futex wait: %s", strerror(errno));
				break;
			}
		}
		break;
	}
	atomic_store(&t->woke, 1);
	if (!t->why[0])
		self_check(t);
	return (void *)(uintptr_t)(0x100 + t->idx);
}

static void *done_thread(void *arg)
{
	done_tid = (pid_t)syscall(SYS_gettid);
	return arg;
}

/* Registers only, no system call: the checkpoint stops it in user code. Whatever
 * register restore got wrong breaks sum == n * (n - 1) / 2. */
static void *spin_thread(void *arg)
{
	uint64_t n = 0, sum = 0;

	spin_tid = (pid_t)syscall(SYS_gettid);
	while (!atomic_load_explicit(&spin_stop, memory_order_relaxed)) {
		sum += n;
		n++;
	}
	spin_n = n;
	spin_sum = sum;
	return arg;
}

static uint64_t triangle(uint64_t n)
{
	return n % 2 ? n * ((n - 1) / 2) : (n / 2) * (n - 1);
}

static int thread_exists(pid_t tid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/task/%d", tid);
	return access(path, F_OK) == 0;
}

static int list_tasks(pid_t *out, int max)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] >= '0' && de->d_name[0] <= '9' && n < max)
			out[n++] = (pid_t)strtol(de->d_name, NULL, 10);
	closedir(d);
	return n;
}

static int setup(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1; /* no SA_RESTART */
	CT_SYS(sigaction(SIGUSR1, &sa, NULL));
	CT_SYS(pipe(pipefd));
	main_tid = (pid_t)syscall(SYS_gettid);
	tls_word = 0xdeadbeefcafef00dull;
	snprintf(tls_text, sizeof(tls_text), "main-tls");
	CT_EQ(pthread_setname_np(pthread_self(), "ct-main"), 0);
	set_mask(1ull << (SIGRTMAX - 1) | 1ull << (SIGWINCH - 1));
	main_mask = current_mask();
	CT_EQ(pthread_create(&done_pt, NULL, done_thread, (void *)0x55), 0);
	for (int k = 0; k < 5000 && (!done_tid || thread_exists(done_tid)); k++)
		usleep(1000);
	CT_TRUE(done_tid && !thread_exists(done_tid));
	for (int i = 0; i < NT; i++) {
		th[i].idx = i;
		CT_EQ(pthread_create(&th[i].pt, NULL, thread_main, &th[i]), 0);
	}
	CT_EQ(pthread_create(&spin_pt, NULL, spin_thread, (void *)0x66), 0);
	for (int k = 0; k < 5000 && !spin_tid; k++)
		usleep(1000);
	CT_TRUE(spin_tid != 0);
	for (int i = 0; i < NT; i++) {
		CT_TRUE(ct_wait_flag(&th[i].parked));
		if (ct_wait_asleep(th[i].tid) < 0)
			CT_FAIL("thread %d (tid %d) never blocked", i, th[i].tid);
	}
	return 0;
}

static int join_one(struct th *t)
{
	void *ret = NULL;
	int rc;

	rc = ct_join(t->pt, &ret, JOIN_TIMEOUT_S);
	if (rc)
		CT_FAIL("joining thread %d (tid %d): %s", t->idx, t->tid, strerror(rc));
	CT_EQ((uintptr_t)ret, 0x100 + t->idx);
	if (t->why[0])
		CT_FAIL("thread %d (tid %d): %s", t->idx, t->tid, t->why);
	return 0;
}

static void *late_thread(void *arg)
{
	tls_word = 42;
	return arg;
}

static int check(void)
{
	pid_t now[NT + 8];
	int n, found;
	char name[16];
	pthread_t late;
	void *ret;

	CT_EQ(syscall(SYS_gettid), main_tid);
	CT_EQ(getpid(), main_tid);
	CT_EQ(tls_word, 0xdeadbeefcafef00dull);
	CT_STREQ(tls_text, "main-tls");
	CT_EQ(pthread_getname_np(pthread_self(), name, sizeof(name)), 0);
	CT_STREQ(name, "ct-main");
	CT_EQ(current_mask(), main_mask);

	/* Exactly the same threads. */
	n = list_tasks(now, NT + 8);
	CT_EQ(n, NT + 2);
	for (int i = 0; i < n; i++) {
		found = now[i] == main_tid || now[i] == spin_tid;
		for (int k = 0; k < NT; k++)
			found |= now[i] == th[k].tid;
		if (!found)
			CT_FAIL("unexpected thread %d", now[i]);
	}
	for (int i = 0; i < NT; i++) {
		char path[64], comm[32];
		FILE *f;

		if (atomic_load(&th[i].woke))
			CT_FAIL("thread %d (tid %d) left its blocking call early: %s", i, th[i].tid,
				th[i].why);
		snprintf(path, sizeof(path), "/proc/self/task/%d/comm", th[i].tid);
		f = fopen(path, "r");
		CT_TRUE(f != NULL);
		CT_TRUE(fgets(comm, sizeof(comm), f) != NULL);
		fclose(f);
		comm[strcspn(comm, "\n")] = '\0';
		CT_STREQ(comm, th[i].name);
	}

	atomic_store(&spin_stop, 1);
	CT_EQ(pthread_join(spin_pt, &ret), 0);
	CT_EQ((uintptr_t)ret, 0x66);
	CT_TRUE(spin_n > 0);
	if (spin_sum != triangle(spin_n))
		CT_FAIL("the computing thread's sum of 0..%llu is %#llx, not %#llx",
			(unsigned long long)spin_n - 1, (unsigned long long)spin_sum,
			(unsigned long long)triangle(spin_n));

	/* Wake each one the way it expects, then join. */
	pthread_mutex_lock(&lock);
	cond_go = 1;
	pthread_cond_signal(&cond);
	pthread_mutex_unlock(&lock);
	CT_EQ(pthread_kill(th[PARK_SLEEP].pt, SIGUSR1), 0);
	CT_EQ(write(pipefd[1], "x", 1), 1);
	atomic_store(&futex_word, 1);
	CT_SYS(syscall(SYS_futex, &futex_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0));
	for (int i = 0; i < NT; i++)
		if (join_one(&th[i]))
			return 1;
	/* It was gone before the checkpoint; joining it just collects its value. */
	CT_EQ(pthread_join(done_pt, &ret), 0);
	CT_EQ((uintptr_t)ret, 0x55);

	/* pthread_join() returns when the kernel clears the tid, a moment before the
	 * thread leaves /proc. */
	for (int k = 0; k < 2000 && (n = list_tasks(now, NT + 8)) != 1; k++)
		usleep(1000);
	CT_EQ(n, 1);
	CT_EQ(now[0], main_tid);
	/* A new thread still starts, runs and joins. */
	CT_EQ(pthread_create(&late, NULL, late_thread, (void *)0x77), 0);
	CT_EQ(pthread_join(late, &ret), 0);
	CT_EQ((uintptr_t)ret, 0x77);
	CT_EQ(tls_word, 0xdeadbeefcafef00dull);
	return 0;
}

CT_MAIN(setup, check)
