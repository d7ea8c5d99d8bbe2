/* Whatever pid and tids the process comes back with (the saved ones, or new ones
 * under --no-restore-pid), glibc's idea of them must be right: raise() and
 * pthread_kill() reach the right thread, threads start and join, and a thread that
 * existed at the checkpoint still answers to its pthread_t. */
#include "ct.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

static pthread_t worker;
static atomic_int hits_main, hits_worker, stop;
static pid_t main_tid;

static void on_usr1(int sig)
{
	(void)sig;
	if (syscall(SYS_gettid) == getpid())
		atomic_fetch_add(&hits_main, 1);
	else
		atomic_fetch_add(&hits_worker, 1);
}

static void *spin(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop))
		usleep(1000);
	return (void *)42;
}

static void *nothing(void *arg)
{
	return arg;
}

static int setup(void)
{
	struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = SA_RESTART};

	CT_SYS(sigaction(SIGUSR1, &sa, NULL));
	CT_EQ(pthread_create(&worker, NULL, spin, NULL), 0);
	main_tid = (pid_t)syscall(SYS_gettid);
	CT_EQ(main_tid, getpid());
	return 0;
}

static int check(void)
{
	void *ret;
	pthread_t t;

	/* The main thread is still the process's leader. */
	CT_EQ(syscall(SYS_gettid), getpid());
	CT_EQ(raise(SIGUSR1), 0);
	CT_EQ(atomic_load(&hits_main), 1);
	CT_EQ(pthread_kill(pthread_self(), SIGUSR1), 0);
	CT_EQ(atomic_load(&hits_main), 2);
	CT_EQ(pthread_kill(worker, SIGUSR1), 0);
	CT_TRUE(ct_wait_flag(&hits_worker));
	CT_EQ(atomic_load(&hits_worker), 1);
	CT_EQ(pthread_create(&t, NULL, nothing, (void *)7), 0);
	CT_EQ(pthread_join(t, &ret), 0);
	CT_TRUE(ret == (void *)7);
	atomic_store(&stop, 1);
	CT_EQ(pthread_join(worker, &ret), 0);
	CT_TRUE(ret == (void *)42);
	return 0;
}

CT_MAIN(setup, check)
