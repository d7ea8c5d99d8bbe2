/* libcr_reconnect.c: a program that closes what cannot be saved before a checkpoint
 * and opens it again afterwards, with libcr's callbacks.
 *
 *   cc -o libcr_reconnect libcr_reconnect.c -lcr
 *   ./libcr_reconnect LOGFILE &            # counts, one line a second into LOGFILE
 *   cr_checkpoint --kill -f ctx $!         # the callback closes LOGFILE first
 *   cr_restart ctx                         # ... and opens it again, here or elsewhere
 *
 * The log stands for anything that must not travel in a context file: a connection to
 * a server, a device, a file on a node's scratch disk. A thread-context callback may
 * block, take locks and talk to other processes, so it is the place for such work. A
 * critical section keeps the checkpoint out of the middle of a line. */
#include <libcr.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_path;
static int log_fd = -1;

static void log_line(const char *what, long n)
{
	char line[128];
	int len = snprintf(line, sizeof(line), "%ld %s (pid %d)\n", n, what, (int)getpid());

	if (log_fd >= 0 && write(log_fd, line, (size_t)len) != len)
		perror("write");
}

static void open_log(void)
{
	log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (log_fd < 0)
		perror(log_path);
}

/* Runs in libcr's own thread when a checkpoint is taken. */
static int on_checkpoint(void *arg)
{
	long *count = arg;
	int rc;

	log_line("closing the log for a checkpoint", *count);
	close(log_fd); /* nothing of it goes into the context */
	log_fd = -1;

	rc = cr_checkpoint(CR_CHECKPOINT_READY);

	open_log();
	if (rc > 0)
		log_line("restarted: log opened again", *count);
	else if (rc == 0)
		log_line("checkpoint taken: log opened again", *count);
	else
		log_line(cr_strerror(-rc), *count);
	return 0;
}

int main(int argc, char **argv)
{
	static long count;
	cr_client_id_t id;

	if (argc != 2) {
		fprintf(stderr, "usage: %s LOGFILE\n", argv[0]);
		return 2;
	}
	log_path = argv[1];
	id = cr_init();
	if (id < 0) {
		fprintf(stderr, "cr_init: %s\n", cr_strerror(errno));
		return 1;
	}
	if (cr_register_callback(on_checkpoint, &count, CR_THREAD_CONTEXT) < 0) {
		fprintf(stderr, "cr_register_callback: %s\n", cr_strerror(errno));
		return 1;
	}
	open_log();
	for (;;) {
		struct timespec second = {1, 0};

		/* No checkpoint while a line is half written. */
		cr_enter_cs(id);
		log_line("counting", ++count);
		cr_leave_cs(id);
		nanosleep(&second, NULL);
	}
}
