/* handler.c: CR_SIGNUM belongs to libcr, but the application may change its
 * disposition after cr_init() (BLCR's cr_signal and bug2003 tests):
 * - its own handler, SIG_IGN, SIG_DFL, or libcr's handler with a damaged sa_restorer:
 *   checkpoints still run the callbacks, and the application's disposition is the one
 *   in force afterwards, in the process that continues and in the restarted copy;
 * - raise(), kill() and a sigqueue() with another value of CR_SIGNUM are not
 *   checkpoint requests: no callback runs (and the application's handler, if any, is
 *   called as usual);
 * - CR_SIGNUM is taken from glibc's real-time signals: SIGRTMAX is one lower. */
#include <libcr.h>

#include "lt.h"

#include <sys/syscall.h>

enum mode { M_LIBCR, M_OWN, M_IGN, M_DFL, M_RESTORER, M_COUNT };
static const char *const mode_names[] = {"libcr's handler", "own handler", "SIG_IGN", "SIG_DFL",
					 "damaged sa_restorer"};

struct ksa {
	uint64_t handler, flags, restorer, mask;
};

static int cmd[2], rep[2];
static volatile int app_calls, cb_calls, cb_rc;

static void app_handler(int sig)
{
	(void)sig;
	app_calls++;
}

static int cb(void *arg)
{
	(void)arg;
	cb_calls++;
	cb_rc = cr_checkpoint(CR_CHECKPOINT_READY);
	return 0;
}

static void put(int v)
{
	if (write(rep[1], &v, sizeof(v)) != sizeof(v))
		_exit(9);
}

/* What the disposition of CR_SIGNUM is now: 1 libcr-like handler, 2 app handler,
 * 3 ignore, 4 default, 5 damaged restorer. */
static int disposition(void)
{
	struct ksa k;

	syscall(SYS_rt_sigaction, CR_SIGNUM, NULL, &k, 8);
	if (k.handler == (uint64_t)(uintptr_t)SIG_IGN)
		return 3;
	if (k.handler == (uint64_t)(uintptr_t)SIG_DFL)
		return 4;
	if (k.handler == (uint64_t)(uintptr_t)app_handler)
		return 2;
	return k.restorer == 0x1234 ? 5 : 1;
}

static void set_mode(int m)
{
	struct ksa k;

	switch (m) {
	case M_OWN:
		signal(CR_SIGNUM, app_handler);
		break;
	case M_IGN:
		signal(CR_SIGNUM, SIG_IGN);
		break;
	case M_DFL:
		signal(CR_SIGNUM, SIG_DFL);
		break;
	case M_RESTORER:
		/* libcr's handler kept, its return path broken (tests/bug2003). */
		syscall(SYS_rt_sigaction, CR_SIGNUM, NULL, &k, 8);
		k.restorer = 0x1234;
		syscall(SYS_rt_sigaction, CR_SIGNUM, &k, NULL, 8);
		break;
	default:
		break;
	}
}

static void subject(int m)
{
	char c;

	close(cmd[1]);
	close(rep[0]);
	cr_init();
	cr_register_callback(cb, NULL, CR_SIGNAL_CONTEXT);
	set_mode(m);
	put(disposition());
	for (;;) {
		ssize_t n = read(cmd[0], &c, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(0);
		switch (c) {
		case 'r': /* the application's own CR_SIGNUM, three ways */
			if (m != M_DFL) {
				union sigval v = {.sival_int = 42};

				raise(CR_SIGNUM);
				kill(getpid(), CR_SIGNUM);
				sigqueue(getpid(), CR_SIGNUM, v);
			}
			break;
		case 's': /* the state */
			put(cb_calls);
			put(cb_rc);
			put(app_calls);
			put(disposition());
			break;
		case 'w': /* after a restart: wait for the callback */
			for (int i = 0; i < 500 && cb_rc <= 0; i++)
				lt_sleep_ms(10);
			break;
		default:
			break;
		}
	}
}

static bool get(int *v)
{
	return lt_read_within(rep[0], v, sizeof(*v), 20);
}

static bool state(int *cbn, int *rc, int *appn, int *disp)
{
	return write(cmd[1], "s", 1) == 1 && get(cbn) && get(rc) && get(appn) && get(disp);
}

static void one(int m)
{
	int want = m == M_LIBCR ? 1 : m + 1, d = 0, cbn, rc, appn, code;
	char name[96], id[16];
	pid_t pid, rpid;

	snprintf(name, sizeof(name), "handler: %s", mode_names[m]);
	/* The driver's own ends are close-on-exec: cr_restart must not hold them. */
	if (pipe2(cmd, O_CLOEXEC) < 0 || pipe2(rep, O_CLOEXEC) < 0)
		exit(2);
	fcntl(cmd[0], F_SETFD, 0);
	fcntl(rep[1], F_SETFD, 0);
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		subject(m);
	/* cmd[0] and rep[1] stay open here: cr_restart inherits them, and lends them to
	 * the restored process at the same numbers (its ends lead outside). */
	snprintf(id, sizeof(id), "%d", (int)pid);
	LT_CHECK(get(&d) && d == want, "disposition %d, want %d", d, want);
	/* The application's own signals are not requests. */
	LT_CHECK(write(cmd[1], "r", 1) == 1, "command");
	lt_sleep_ms(50);
	LT_CHECK(state(&cbn, &rc, &appn, &d), "no state");
	LT_CHECK(cbn == 0, "the application's own signal ran %d callbacks", cbn);
	LT_CHECK(appn == (m == M_OWN ? 3 : 0), "application handler called %d times", appn);
	/* A real request runs the callback whatever the disposition is. */
	{
		const char *opts[] = {"--pid", "-f", "ctx.h", NULL};

		code = lt_checkpoint(pid, opts);
		LT_CHECK(code == 0, "cr_checkpoint exited %d", code);
	}
	LT_CHECK(state(&cbn, &rc, &appn, &d), "no state after the checkpoint");
	LT_CHECK(cbn == 1 && rc == 0, "callbacks %d rc %d", cbn, rc);
	LT_CHECK(appn == (m == M_OWN ? 3 : 0), "the request reached the application's handler");
	LT_CHECK(d == want, "disposition after the checkpoint %d, want %d", d, want);
	/* The restarted copy: the same disposition, the callback's restart part. */
	kill(pid, SIGKILL);
	lt_wait(pid, 10);
	rpid = lt_restart_bg("ctx.h", NULL);
	LT_CHECK(write(cmd[1], "w", 1) == 1, "command");
	LT_CHECK(state(&cbn, &rc, &appn, &d), "no state after the restart");
	LT_CHECK(rc > 0, "restart: callback result %d", rc);
	LT_CHECK(d == want, "disposition after the restart %d, want %d", d, want);
	close(cmd[1]);
	close(cmd[0]);
	code = lt_code(lt_wait(rpid, 20));
	LT_CHECK(code == 0, "restored process ended with %d", code);
	close(rep[0]);
	close(rep[1]);
	unlink("ctx.h");
	lt_verdict(name);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	LT_CHECK(SIGRTMAX == CR_SIGNUM - 1, "SIGRTMAX is %d", SIGRTMAX);
	lt_verdict("handler: CR_SIGNUM is reserved (SIGRTMAX one lower)");
	for (int m = 0; m < M_COUNT; m++)
		one(m);
	return 0;
}
