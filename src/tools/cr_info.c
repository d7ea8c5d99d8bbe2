/* cr_info: what a context file holds, as text or JSON. Reads and checks the whole
 * file, page data included, and fails (EIO, EINVAL) on any damage. A directory
 * written by cr_checkpoint -d is read as one context; one part of it alone is checked
 * record by record and said to be a part. */
#include "common.h"

#include "engine/checkpoint.h"
#include "engine/context.h"
#include "engine/err.h"
#include "engine/log.h"
#include "engine/state/state.h"
#include "engine/version.h"
#include "util/out.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/banned.h"

#define PROG "cr_info"

static void usage(FILE *f)
{
	fputs("Usage: " PROG " [--json] FILE|DIR\n"
	      "       " PROG " [--json] -F FD\n"
	      "Check a context file made by cr_checkpoint and print what it holds: where and\n"
	      "when it was made, its processes, threads, memory and descriptors. DIR: a\n"
	      "directory written by cr_checkpoint -d, one file per process, read as one.\n"
	      "\n"
	      "  -j, --json      print JSON instead of text\n"
	      "  -F, --fd FD     read the context from the open descriptor FD (may be a pipe)\n"
	      "  -?, -h, --help  this help\n"
	      "      --version   print the version\n"
	      "\n"
	      "Exit status: 0 if the file is whole and sound, else the error number (EIO\n"
	      "for a truncated or damaged file, EINVAL for one that is not a context; 255\n"
	      "for a usage error).\n",
	      f);
}

static const char *scope_name(uint32_t s)
{
	static const char *const n[] = {"process", "process group", "session", "tree"};

	return s < 4 ? n[s] : "?";
}

/* Which checkpoint a set, or a part read alone, belongs to. */
static void print_set(struct out *o, const struct ctx_file *files, uint32_t n)
{
	char id[2 * CTX_SET_ID_LEN + 1];

	if (!files[0].part)
		return;
	for (int i = 0; i < CTX_SET_ID_LEN; i++)
		snprintf(id + 2 * i, 3, "%02x", files[0].set_id[i]);
	out_obj_begin(o, "set");
	out_str(o, "checkpoint", id);
	if (n == 1)
		out_u64(o, "part", files[0].part);
	out_u64(o, "parts", files[0].nparts);
	out_u64(o, "processes", files[0].set_nprocs);
	/* Read alone, a part's references to the others (the files its descriptors
	 * use, the processes its records name) are not checked. */
	out_bool(o, "alone", n == 1);
	out_obj_end(o);
}

static void print_model(const struct model *m, const struct ctx_file *files, uint32_t nfiles,
			bool json)
{
	const struct img_meta *meta = &m->meta;
	char when[64] = "?";
	time_t t = (time_t)(meta->time_ns / 1000000000u);
	struct tm tm;
	struct out o;

	if (gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	out_init(&o, stdout, json);
	out_obj_begin(&o, NULL);
	out_u64(&o, "format_version", meta->format_version);
	out_str(&o, "architecture", meta->arch == ARCH_ELF_MACHINE ? ARCH_NAME : "?");
	out_str(&o, "created", when);
	out_str(&o, "host", meta->host);
	out_str(&o, "kernel", meta->kernel);
	out_str(&o, "crest_version", meta->version);
	out_u64(&o, "page_size", meta->page_size);
	out_u64(&o, "xstate_size", meta->xstate_size);
	out_hex(&o, "xcr0", meta->xcr0);
	out_obj_begin(&o, "request");
	out_str(&o, "scope", scope_name(meta->req.scope));
	out_i64(&o, "target", meta->req.target);
	out_hex(&o, "flags", meta->req.flags);
	out_obj_end(&o);
	print_set(&o, files, nfiles);
	out_arr_begin(&o, "processes");
	for (uint32_t i = 0; i < m->nprocs; i++) {
		const struct proc_img *p = &m->procs[i];

		out_obj_begin(&o, json ? NULL : "process");
		/* The process's own attributes first, then the rest in table order. */
		proc_ops.describe(m, p, &o);
		for (unsigned int k = 0; !(p->flags & PROC_ZOMBIE) && k < state_count; k++)
			if (state_table[k] != &proc_ops && state_table[k]->describe)
				state_table[k]->describe(m, p, &o);
		out_obj_end(&o);
	}
	out_arr_end(&o);
	out_obj_end(&o);
	out_finish(&o);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"json", no_argument, NULL, 'j'},
		{"fd", required_argument, NULL, 'F'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	struct err err = {0};
	struct model *m = NULL;
	struct ctx_file one, *files = &one;
	uint32_t nfiles = 1;
	bool json = false;
	const char *name = NULL;
	char namebuf[32], msg[PATH_MAX + 128];
	struct stat st;
	long fdnum = -1;
	int c, fd, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "jF:h?", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'F':
			if (opt_int(optarg, 0, INT_MAX, &fdnum) < 0) {
				fprintf(stderr, PROG ": bad descriptor '%s'\n", optarg);
				usage(stderr);
				return 255;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf(PROG " version %s\n", CREST_VERSION);
			return 0;
		default:
			if (optopt == '?' || (optopt == 0 && !strcmp(argv[optind - 1], "-?"))) {
				usage(stdout);
				return 0;
			}
			usage(stderr);
			return 255;
		}
	}
	if ((fdnum < 0 && argc - optind != 1) || (fdnum >= 0 && argc != optind)) {
		usage(stderr);
		return 255;
	}
	if (fdnum >= 0) {
		snprintf(namebuf, sizeof(namebuf), "<fd%ld>", fdnum);
		name = namebuf;
		fd = (int)fdnum;
	} else {
		name = argv[optind];
		fd = open(name, O_RDONLY | O_CLOEXEC);
	}
	/* As cr_restart: a context that cannot be opened at all is a usage failure. */
	if (fd < 0 || fcntl(fd, F_GETFD) < 0) {
		fprintf(stderr, PROG ": cannot open context %s: %s\n", name, strerror(errno));
		return 255;
	}
	memset(&one, 0, sizeof(one));
	one.fd = fd;
	one.name = name;
	if (fdnum < 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(fd);
		rc = tool_open_context_dir(name, &files, &nfiles, msg, sizeof(msg));
		if (rc < 0) {
			fprintf(stderr, PROG ": %s\n", msg);
			return rc == -EINVAL ? EINVAL : 255;
		}
	}
	/* A file alone may be a part; a directory must hold every part. */
	rc = context_load_files(files, nfiles, name, IMG_PAGES_VERIFY,
				files == &one ? CTX_LOAD_LONE_PART : 0, &m, &err);
	if (rc < 0)
		fprintf(stderr, PROG ": %s\n", err.msg);
	else
		print_model(m, files, nfiles, json);
	model_free(m);
	if (files != &one)
		tool_close_context_files(files, nfiles);
	return tool_exit_code(rc);
}
