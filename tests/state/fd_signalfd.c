/* signalfd: two descriptors taking different sets of blocked signals (one
 * non-blocking and close-on-exec), one taking none, and a real-time signal queued
 * with a value before the checkpoint. After GO each must show its mask in fdinfo and
 * have its flags; the queued signal must come out of the right one with its value;
 * signals sent after GO must come out of the descriptor whose mask has them, with
 * their siginfo (code, sender, value), and of no other. A thread blocked reading a
 * fourth one at the checkpoint must get the signal sent to the process after GO. */
#include "ct.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { S_A, S_B, S_NONE, NS };

static int sfd[NS];
static int fl[NS], fdfl[NS];
static char mask_text[NS][64];
static pid_t sender;
static sigset_t blocked;

/* The reader: blocked in read() on its own signalfd at the checkpoint. */
static int reader_sfd;
static pthread_t reader;
static ssize_t reader_ret = -2;
static struct signalfd_siginfo reader_si;

static void *read_blocked(void *arg)
{
	(void)arg;
	reader_ret = read(reader_sfd, &reader_si, sizeof(reader_si));
	return NULL;
}

static int setup(void)
{
	sigset_t a, b, none;
	union sigval v = {.sival_int = 4242};

	sigemptyset(&a);
	sigaddset(&a, SIGUSR1);
	sigaddset(&a, SIGRTMIN + 3);
	sigemptyset(&b);
	sigaddset(&b, SIGUSR2);
	sigaddset(&b, SIGRTMAX);
	sigemptyset(&none);
	sigemptyset(&blocked);
	sigaddset(&blocked, SIGUSR1);
	sigaddset(&blocked, SIGUSR2);
	sigaddset(&blocked, SIGRTMIN + 3);
	sigaddset(&blocked, SIGRTMAX);
	sigaddset(&blocked, SIGWINCH);
	CT_SYS(sigprocmask(SIG_BLOCK, &blocked, NULL));
	CT_SYS(sfd[S_A] = signalfd(-1, &a, SFD_NONBLOCK | SFD_CLOEXEC));
	CT_SYS(sfd[S_B] = signalfd(-1, &b, 0));
	CT_SYS(sfd[S_NONE] = signalfd(-1, &none, SFD_NONBLOCK));
	for (int i = 0; i < NS; i++) {
		CT_SYS(fl[i] = fcntl(sfd[i], F_GETFL));
		CT_SYS(fdfl[i] = fcntl(sfd[i], F_GETFD));
		CT_SYS(ct_fdinfo_line(sfd[i], "sigmask", mask_text[i], sizeof(mask_text[i])));
	}
	sender = getpid();
	CT_SYS(sigqueue(sender, SIGRTMIN + 3, v));

	/* Every thread blocks SIGWINCH: it waits for the reader. */
	{
		sigset_t w;

		sigemptyset(&w);
		sigaddset(&w, SIGWINCH);
		CT_SYS(reader_sfd = signalfd(-1, &w, SFD_CLOEXEC));
	}
	if (ct_start_blocked(&reader, read_blocked, NULL, SYS_read))
		CT_FAIL("the reader did not block in read() within 10 s");
	return 0;
}

/* The reader is still waiting, and gets SIGWINCH sent to the process now. */
static int check_reader(void)
{
	int rc;

	CT_EQ(reader_ret, -2);
	CT_SYS(kill(getpid(), SIGWINCH));
	rc = ct_join(reader, NULL, 10);
	if (rc)
		CT_FAIL("joining the reader: %s", strerror(rc));
	CT_EQ(reader_ret, sizeof(reader_si));
	CT_EQ(reader_si.ssi_signo, SIGWINCH);
	CT_EQ(reader_si.ssi_code, SI_USER);
	CT_EQ(reader_si.ssi_pid, getpid());
	return 0;
}

/* One signal from descriptor fd, which must be signo from pid with code and value. */
static int take(int fd, int signo, int code, pid_t pid, int value)
{
	struct signalfd_siginfo si;

	memset(&si, 0, sizeof(si));
	CT_EQ(read(fd, &si, sizeof(si)), sizeof(si));
	CT_EQ(si.ssi_signo, signo);
	CT_EQ(si.ssi_code, code);
	CT_EQ(si.ssi_pid, pid);
	CT_EQ(si.ssi_uid, getuid());
	if (code == SI_QUEUE)
		CT_EQ(si.ssi_int, value);
	return 0;
}

static int nothing(int fd)
{
	struct pollfd pfd = {fd, POLLIN, 0};

	CT_EQ(poll(&pfd, 1, 0), 0);
	return 0;
}

static int check(void)
{
	union sigval v = {.sival_int = 777};
	sigset_t now;

	CT_SYS(sigprocmask(SIG_BLOCK, NULL, &now));
	for (int sig = 1; sig < NSIG; sig++)
		CT_EQ(sigismember(&now, sig), sigismember(&blocked, sig));
	for (int i = 0; i < NS; i++) {
		char text[64];

		CT_EQ(fcntl(sfd[i], F_GETFL), fl[i]);
		CT_EQ(fcntl(sfd[i], F_GETFD), fdfl[i]);
		CT_SYS(ct_fdinfo_line(sfd[i], "sigmask", text, sizeof(text)));
		CT_STREQ(text, mask_text[i]);
	}
	/* Queued before the checkpoint: only A takes it. */
	if (nothing(sfd[S_B]) || nothing(sfd[S_NONE]))
		return 1;
	if (take(sfd[S_A], SIGRTMIN + 3, SI_QUEUE, sender, 4242) || nothing(sfd[S_A]))
		return 1;

	/* Sent now: each to the descriptor that takes it. */
	CT_SYS(kill(getpid(), SIGUSR1));
	CT_SYS(sigqueue(getpid(), SIGRTMAX, v));
	CT_SYS(kill(getpid(), SIGUSR2));
	if (nothing(sfd[S_NONE]) || take(sfd[S_A], SIGUSR1, SI_USER, getpid(), 0) ||
	    nothing(sfd[S_A]))
		return 1;
	/* B blocks: both are there already. */
	if (take(sfd[S_B], SIGUSR2, SI_USER, getpid(), 0) ||
	    take(sfd[S_B], SIGRTMAX, SI_QUEUE, getpid(), 777) || nothing(sfd[S_B]))
		return 1;
	{
		struct signalfd_siginfo si;

		CT_EQ(read(sfd[S_A], &si, sizeof(si)), -1);
		CT_EQ(errno, EAGAIN);
	}
	return check_reader();
}

CT_MAIN(setup, check)
