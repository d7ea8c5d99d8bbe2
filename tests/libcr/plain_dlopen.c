/* plain_dlopen.c: a program that does not link libcr opens it with dlopen() (BLCR's
 * dlopen test), run plain, under cr_run and under cr_run --omit:
 * - no libcr function is in the global namespace before (libcr_run and libcr_omit
 *   export no API) nor after dlopen(RTLD_LOCAL);
 * - dlopen("libcr.so.0", RTLD_NOW) and cr_init() work;
 * - the full library takes CR_SIGNUM over from a preloaded one: a checkpoint by
 *   cr_checkpoint runs the callback registered through dlsym(), also under --omit. */
#include <libcr.h>

#include "lt.h"

#include <dlfcn.h>

static int out = -1;
static int (*checkpoint_fn)(int);

static int cb(void *arg)
{
	int rc = checkpoint_fn(CR_CHECKPOINT_READY);

	(void)arg;
	if (write(out, &rc, sizeof(rc)) < 0)
		_exit(9);
	return 0;
}

/* The subject: argv[2] is the report descriptor. */
static int subject(int fd)
{
	cr_client_id_t (*init)(void);
	cr_callback_id_t (*reg)(cr_callback_t, void *, int);
	void *h;
	int v;

	out = fd;
	v = dlsym(RTLD_DEFAULT, "cr_init") == NULL;
	h = dlopen("libcr.so."
		   "0",
		   RTLD_NOW);
	v |= (h != NULL) << 1;
	if (h) {
		*(void **)&init = dlsym(h, "cr_init");
		*(void **)&reg = dlsym(h, "cr_register_callback");
		*(void **)&checkpoint_fn = dlsym(h, "cr_checkpoint");
		v |= (init && reg && checkpoint_fn && init() >= 0 &&
		      reg(cb, NULL, CR_SIGNAL_CONTEXT) >= 0)
		     << 2;
		v |= (dlsym(RTLD_DEFAULT, "cr_init") == NULL) << 3;
	} else {
		fprintf(stderr, "dlopen: %s\n", dlerror());
	}
	if (write(out, &v, sizeof(v)) < 0)
		return 9;
	for (;;)
		pause();
}

static void one(const char *self, const char *how)
{
	char name[64], fdarg[16];
	int p[2], v = 0, rc = -1, code;
	pid_t pid;

	snprintf(name, sizeof(name), "dlopen: %s", how);
	if (pipe(p) < 0)
		exit(2);
	snprintf(fdarg, sizeof(fdarg), "%d", p[1]);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		char *run = (char *)LT_RUN();

		close(p[0]);
		if (!strcmp(how, "plain"))
			execl(self, self, "subject", fdarg, (char *)NULL);
		else if (!strcmp(how, "cr_run"))
			execl(run, run, self, "subject", fdarg, (char *)NULL);
		else
			execl(run, run, "--omit", self, "subject", fdarg, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	LT_CHECK(lt_read_within(p[0], &v, sizeof(v), 20), "no word from the subject");
	LT_CHECK(v & 1, "cr_init is in the global namespace before dlopen()");
	LT_CHECK(v & 2, "dlopen(libcr.so.0) failed");
	LT_CHECK(v & 4, "cr_init() or cr_register_callback() failed");
	LT_CHECK(v & 8, "cr_init is in the global namespace after dlopen()");
	{
		const char *opts[] = {"--pid", "-f", "ctx.dl", NULL};

		code = lt_checkpoint(pid, opts);
		LT_CHECK(code == 0, "cr_checkpoint exited %d", code);
	}
	LT_CHECK(lt_read_within(p[0], &rc, sizeof(rc), 20) && rc == 0, "the callback got %d", rc);
	kill(pid, SIGKILL);
	lt_wait(pid, 10);
	close(p[0]);
	unlink("ctx.dl");
	lt_verdict(name);
}

int main(int argc, char **argv)
{
	char self[4096];
	ssize_t n;

	if (argc > 2 && !strcmp(argv[1], "subject"))
		return subject(atoi(argv[2]));
	setvbuf(stdout, NULL, _IOLBF, 0);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 2;
	self[n] = '\0';
	one(self, "plain");
	one(self, "cr_run");
	one(self, "cr_run --omit");
	return 0;
}
