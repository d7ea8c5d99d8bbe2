/* Restartable sequences and robust futex lists, per thread. glibc registers an rseq
 * area in every thread and relies on it (sched_getcpu() reads cpu_id there), so it
 * must be registered again, at the same address with the same length and signature:
 * registering it once more must then say EBUSY. The robust list of each thread must
 * be where it was (or none, if it had none), and work: a thread that dies holding a robust mutex after the
 * restart leaves it EOWNERDEAD. */
#include "ct.h"

#include <linux/futex.h>
#include <linux/rseq.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/rseq.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NT 3
/* glibc registers the whole original struct rseq, whatever __rseq_size says. */
#define GLIBC_RSEQ_LEN 32

struct th {
	int idx;
	pthread_t pt;
	pid_t tid;
	void *rseq_area;
	void *robust_head;
	size_t robust_len;
	int fds[2];
	atomic_int parked;
	char why[256];
};

static struct th th[NT + 1]; /* th[NT]: the main thread */
static pthread_mutex_t robust;
static void *glibc_head;
static size_t glibc_len;

static struct rseq *rseq_area(void)
{
	return (struct rseq *)((char *)__builtin_thread_pointer() + __rseq_offset);
}

static int robust_get(void **head, size_t *len)
{
	struct robust_list_head *h = NULL;
	size_t l = 0;

	if (syscall(SYS_get_robust_list, 0, &h, &l) < 0)
		return -1;
	*head = h;
	*len = l;
	return 0;
}

static void record(struct th *t)
{
	t->tid = (pid_t)syscall(SYS_gettid);
	t->rseq_area = rseq_area();
	robust_get(&t->robust_head, &t->robust_len);
}

/* Checks a thread makes about itself; returns a message or NULL. */
static const char *self_check(struct th *t, char *why, size_t n)
{
	struct rseq *rs = rseq_area();
	void *head = NULL;
	size_t len = 0;
	long r;
	int agreed = 0;

	if (rs != t->rseq_area) {
		snprintf(why, n, "rseq area moved");
		return why;
	}
	r = syscall(SYS_rseq, rs, GLIBC_RSEQ_LEN, 0, RSEQ_SIG);
	if (r == 0 || errno != EBUSY) {
		snprintf(why, n, "registering rseq again: %ld (%s), not EBUSY", r,
			 r ? strerror(errno) : "registered");
		return why;
	}
	/* The kernel keeps cpu_id current; a migration may come between two reads. */
	for (int i = 0; i < 1000 && !agreed; i++) {
		unsigned int cpu = ~0u;
		int glibc = sched_getcpu();
		uint32_t field = __atomic_load_n(&rs->cpu_id, __ATOMIC_RELAXED);

		syscall(SYS_getcpu, &cpu, NULL, NULL);
		agreed = glibc >= 0 && (unsigned int)glibc == cpu && field == cpu &&
			 rs->cpu_id_start == cpu;
	}
	if (!agreed) {
		snprintf(why, n, "rseq cpu_id %d / cpu_id_start %u, sched_getcpu %d",
			 (int)rs->cpu_id, rs->cpu_id_start, sched_getcpu());
		return why;
	}
	if (robust_get(&head, &len) < 0 || head != t->robust_head || len != t->robust_len) {
		snprintf(why, n, "robust list %p/%zu, was %p/%zu", head, len, t->robust_head,
			 t->robust_len);
		return why;
	}
	return NULL;
}

static void *thread_main(void *arg)
{
	struct th *t = arg;
	char c;
	ssize_t r;

	record(t);
	/* The last thread holds the robust mutex and dies with it. */
	if (t->idx == NT - 1 && pthread_mutex_lock(&robust))
		snprintf(t->why, sizeof(t->why), "cannot lock the robust mutex");
	atomic_store(&t->parked, 1);
	r = read(t->fds[0], &c, 1);
	if (r != 1)
		snprintf(t->why, sizeof(t->why), "read: %zd (%s)", r, strerror(errno));
	else if (!t->why[0])
		self_check(t, t->why, sizeof(t->why));
	return NULL; /* the mutex stays locked: the kernel must mark it owner-dead */
}

static int setup(void)
{
	pthread_mutexattr_t ma;

	CT_TRUE(__rseq_size > 0);
	CT_SYS(pthread_mutexattr_init(&ma));
	CT_EQ(pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST), 0);
	CT_EQ(pthread_mutex_init(&robust, &ma), 0);
	/* The main thread has no robust list for the checkpoint (a process may well
	 * have none): it must not come back with one. glibc's goes back after. */
	CT_SYS(robust_get(&glibc_head, &glibc_len));
	CT_TRUE(glibc_head != NULL);
	CT_SYS(syscall(SYS_set_robust_list, NULL, sizeof(struct robust_list_head)));
	record(&th[NT]);
	CT_TRUE(th[NT].robust_head == NULL);
	for (int i = 0; i < NT; i++) {
		th[i].idx = i;
		CT_SYS(pipe(th[i].fds));
		CT_EQ(pthread_create(&th[i].pt, NULL, thread_main, &th[i]), 0);
	}
	for (int i = 0; i < NT; i++)
		CT_TRUE(ct_wait_flag(&th[i].parked));
	for (int i = 0; i < NT; i++)
		if (th[i].why[0])
			CT_FAIL("thread %d: %s", th[i].tid, th[i].why);
	/* The owner is parked holding it. */
	CT_EQ(pthread_mutex_trylock(&robust), EBUSY);
	return 0;
}

static int check(void)
{
	char why[256];
	int rc;

	if (self_check(&th[NT], why, sizeof(why)))
		CT_FAIL("main thread: %s", why);
	CT_SYS(syscall(SYS_set_robust_list, glibc_head, glibc_len));
	for (int i = 0; i < NT; i++) {
		CT_EQ(write(th[i].fds[1], "x", 1), 1);
		rc = ct_join(th[i].pt, NULL, 10);
		if (rc)
			CT_FAIL("joining thread %d: %s", th[i].tid, strerror(rc));
		if (th[i].why[0])
			CT_FAIL("thread %d: %s", th[i].tid, th[i].why);
	}
	/* Its owner exited holding it: the kernel walked that thread's robust list. */
	rc = pthread_mutex_trylock(&robust);
	if (rc != EOWNERDEAD)
		CT_FAIL("robust mutex after its owner died: %s, not EOWNERDEAD", strerror(rc));
	CT_EQ(pthread_mutex_consistent(&robust), 0);
	CT_EQ(pthread_mutex_unlock(&robust), 0);
	return 0;
}

CT_MAIN(setup, check)
