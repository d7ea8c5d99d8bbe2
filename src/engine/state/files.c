/* state/files.c: open descriptors: regular files and directories (path, offset, flags,
 * O_APPEND, close-on-exec), memory devices (/dev/null, /dev/zero, ...), pipes with both
 * ends in the checkpoint (with the data in them and their size), and descriptors that
 * lead outside the checkpoint: terminals, pipes and sockets whose other end is not
 * in it. Descriptors that share one open file description share it again.
 *
 * External descriptors are not saved; at restart the process gets cr_restart's own
 * descriptor of the same number (so its stdio follows whoever restarts it), and a
 * dangling pipe end that cr_restart lacks becomes a copy of its stdin (read end) or
 * stdout (write end), as BLCR does. Files open for writing are truncated back to
 * their size at the checkpoint, as BLCR does.
 *
 * Not yet (the checkpoint fails naming pid, descriptor and kind): sockets inside the
 * checkpoint, named FIFOs, deleted files, eventfd, epoll, signalfd, timerfd, inotify,
 * memfd, io_uring and other devices. */
#define LOG_PREFIX "files: "
#include "state.h"

#include "../err.h"
#include "../image.h"
#include "../log.h"
#include "../restart.h"
#include "../../util/buf.h"
#include "../../util/out.h"
#include "../../util/procfs.h"
#include "../../util/sockdiag.h"
#include "../../util/wire.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "../banned.h"

#define MAX_FDS (1u << 20)
#define MAX_FILES (1u << 20)
#define MAX_PIPE_DATA (1u << 30)
/* The kernel always sets O_LARGEFILE on 64-bit; glibc defines it as 0 there. */
#define KERNEL_O_LARGEFILE 0100000
/* Open flags that belong to the open file description and are given to open(). */
#define REOPEN_FLAGS                                                                               \
	(O_ACCMODE | O_APPEND | O_NONBLOCK | O_DIRECT | O_NOATIME | O_SYNC | O_DSYNC | O_PATH |    \
	 O_DIRECTORY | KERNEL_O_LARGEFILE | O_NOFOLLOW)

static const char *const ext_kinds[] = {
    [EXT_TTY] = "terminal",  [EXT_PIPE_R] = "pipe-read", [EXT_PIPE_W] = "pipe-write",
    [EXT_SOCKET] = "socket", [EXT_OTHER] = "other",
};

struct fd_scan {
	int fd;
	char link[MODEL_MAX_PATH];
	struct stat st;
	uint64_t pos;
	uint32_t flags;
	uint32_t file; /* index into m->files */
};

static int read_fdinfo(pid_t pid, int fd, uint64_t *pos, uint32_t *flags)
{
	char path[64];
	struct buf b;
	uint64_t v;
	int rc;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, fd);
	buf_init(&b);
	rc = buf_read_file(&b, path);
	if (rc == 0) {
		*pos = procfs_field_u64((char *)b.data, "pos", 10, &v) == 0 ? v : 0;
		*flags = procfs_field_u64((char *)b.data, "flags", 8, &v) == 0 ? (uint32_t)v : 0;
	}
	buf_fini(&b);
	return rc;
}

static bool is_tty_major(unsigned int major)
{
	return major == 4 || major == 5 || (major >= 136 && major <= 143);
}

/* Memory devices reopened by path: null, zero, full, random, urandom. */
static bool is_mem_dev(dev_t rdev)
{
	unsigned int mi = minor(rdev);

	return major(rdev) == 1 && (mi == 3 || mi == 5 || mi == 7 || mi == 8 || mi == 9);
}

/* What an anonymous-inode descriptor is, in words, from its link ("anon_inode:[eventfd]"). */
static const char *anon_kind(const char *link)
{
	static const struct {
		const char *link, *kind;
	} kinds[] = {
	    {"[eventfd]", "eventfd"},
	    {"[eventpoll]", "epoll instance"},
	    {"[signalfd]", "signalfd"},
	    {"[timerfd]", "timerfd"},
	    {"inotify", "inotify instance"},
	    {"[fanotify]", "fanotify instance"},
	    {"[io_uring]", "io_uring instance"},
	    {"[pidfd]", "pidfd"},
	    {"[userfaultfd]", "userfaultfd"},
	    {"[perf_event]", "perf event"},
	    {"bpf-map", "BPF map"},
	    {"bpf-prog", "BPF program"},
	};

	if (strncmp(link, "anon_inode:", 11))
		return NULL;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(link + 11, kinds[i].link))
			return kinds[i].kind;
	return "anonymous-inode file";
}

/* A descriptor wholly inside the checkpoint that crest cannot rebuild: the
 * checkpoint fails, and the message names the process, the descriptor and the kind. */
static int unsupported(struct dump_ctx *c, int fd, const char *kind, const char *link,
		       struct err *err)
{
	kmsg_add(KMSG_ERROR,
		 "pid %d: descriptor %d is a %s (%s), which crest cannot checkpoint yet", c->p->pid,
		 fd, kind, link);
	return err_set(err, -ENOTSUP,
		       "pid %d: descriptor %d is a %s (%s), which crest cannot "
		       "checkpoint yet",
		       c->p->pid, fd, kind, link);
}

/* Does pid hold a descriptor for the socket with inode ino? */
static bool has_socket(pid_t pid, uint64_t ino)
{
	char dir[64], want[64], link[64];
	struct dirent *de;
	bool found = false;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", pid);
	snprintf(want, sizeof(want), "socket:[%llu]", (unsigned long long)ino);
	d = opendir(dir);
	while (d && !found && (de = readdir(d))) {
		char path[384];
		ssize_t n;

		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n > 0) {
			link[n] = '\0';
			found = !strcmp(link, want);
		}
	}
	if (d)
		closedir(d);
	return found;
}

/* Is there, among pid's descriptors, the other end of a TCP connection whose ends
 * are local and peer? */
static bool has_tcp_peer(struct dump_ctx *c, const struct sockaddr_storage *local, socklen_t llen,
			 const struct sockaddr_storage *peer, socklen_t plen)
{
	char dir[64];
	struct dirent *de;
	bool found = false;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", c->p->pid);
	d = opendir(dir);
	while (d && !found && (de = readdir(d))) {
		struct sockaddr_storage l, p;
		socklen_t ll = sizeof(l), pl = sizeof(p);
		long fd;
		int cp;

		if (parse_long(de->d_name, 0, INT32_MAX, &fd) < 0)
			continue;
		cp = (int)syscall(SYS_pidfd_getfd, c->pidfd, (int)fd, 0);
		if (cp < 0)
			continue;
		found = getsockname(cp, (struct sockaddr *)&l, &ll) == 0 &&
			getpeername(cp, (struct sockaddr *)&p, &pl) == 0 && ll == plen &&
			pl == llen && !memcmp(&l, peer, plen) && !memcmp(&p, local, llen);
		close(cp);
	}
	if (d)
		closedir(d);
	return found;
}

/* A socket: external when it is connected to a peer outside the process, otherwise
 * not supported yet (say which kind). */
static int classify_socket(struct dump_ctx *c, struct fd_scan *s, struct file_img *f,
			   struct err *err)
{
	struct sockaddr_storage local, peer;
	socklen_t llen = sizeof(local), plen = sizeof(peer), ol = sizeof(int);
	int domain = 0, type = 0, listening = 0, cp, rc;
	bool connected;
	struct unix_info ui;
	const char *kind;

	rc = sockdiag_unix(s->st.st_ino, &ui);
	if (rc == 0) {
		if (ui.peer && has_socket(c->p->pid, ui.peer))
			return unsupported(c, s->fd, "unix socket connected to another of its own",
					   s->link, err);
		if (ui.peer) {
			f->kind = FILE_EXTERNAL;
			f->ext = EXT_SOCKET;
			return 0;
		}
		kind = ui.state == TCP_LISTEN      ? "listening unix socket"
		       : ui.type == SOCK_DGRAM     ? "unix datagram socket"
		       : ui.type == SOCK_SEQPACKET ? "unconnected unix seqpacket socket"
						   : "unconnected unix stream socket";
		return unsupported(c, s->fd, kind, s->link, err);
	}
	/* Not unix: ask the socket itself, through a copy of the descriptor. */
	cp = (int)syscall(SYS_pidfd_getfd, c->pidfd, s->fd, 0);
	if (cp < 0)
		return err_sys(err, "pid %d: cannot take a copy of descriptor %d", c->p->pid,
			       s->fd);
	getsockopt(cp, SOL_SOCKET, SO_DOMAIN, &domain, &ol);
	ol = sizeof(int);
	getsockopt(cp, SOL_SOCKET, SO_TYPE, &type, &ol);
	ol = sizeof(int);
	getsockopt(cp, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ol);
	connected = getsockname(cp, (struct sockaddr *)&local, &llen) == 0 &&
		    getpeername(cp, (struct sockaddr *)&peer, &plen) == 0;
	close(cp);
	if ((domain == AF_INET || domain == AF_INET6) && type == SOCK_STREAM) {
		/* A connection to elsewhere leads outside, like a unix one. */
		if (connected && !has_tcp_peer(c, &local, llen, &peer, plen)) {
			f->kind = FILE_EXTERNAL;
			f->ext = EXT_SOCKET;
			return 0;
		}
		kind = listening   ? "listening TCP socket"
		       : connected ? "TCP connection between two of its own descriptors"
				   : "unconnected TCP socket";
	} else if (domain == AF_INET || domain == AF_INET6) {
		kind = type == SOCK_DGRAM ? "UDP socket" : "raw IP socket";
	} else if (domain == AF_NETLINK) {
		kind = "netlink socket";
	} else if (domain == AF_PACKET) {
		kind = "packet socket";
	} else {
		kind = "socket";
	}
	return unsupported(c, s->fd, kind, s->link, err);
}

/* Decide the kind of one open file; pipes are settled later, once all ends are known. */
static int classify(struct dump_ctx *c, struct fd_scan *s, struct file_img *f, struct err *err)
{
	const struct stat *st = &s->st;
	const char *anon = anon_kind(s->link);

	f->flags = s->flags & ~(uint32_t)O_CLOEXEC;
	f->mode = st->st_mode;
	f->pos = s->pos;
	f->dev = st->st_dev;
	f->ino = st->st_ino;
	f->rdev = st->st_rdev;
	if (anon)
		return unsupported(c, s->fd, anon, s->link, err);
	if (S_ISSOCK(st->st_mode))
		return classify_socket(c, s, f, err);
	if (S_ISREG(st->st_mode) || S_ISDIR(st->st_mode)) {
		struct stat named;
		size_t len = strlen(s->link);

		if (!strncmp(s->link, "/memfd:", 7))
			return unsupported(c, s->fd, "memfd", s->link, err);
		if (s->link[0] != '/' || (len > 10 && !strcmp(s->link + len - 10, " (deleted)")))
			return unsupported(c, s->fd, "deleted file", s->link, err);
		/* Reopened by path at restart: the path must lead to this very file. */
		if (stat(s->link, &named) < 0 || named.st_ino != st->st_ino ||
		    named.st_dev != st->st_dev)
			return unsupported(c, s->fd, "file its path no longer leads to", s->link,
					   err);
		f->kind = FILE_REG;
		f->size = (uint64_t)st->st_size;
		f->path = strdup(s->link);
		return f->path ? 0 : err_set(err, -ENOMEM, "out of memory");
	}
	if (S_ISLNK(st->st_mode) && (s->flags & O_PATH)) {
		struct stat named;

		/* O_PATH | O_NOFOLLOW on a symbolic link: the link itself. */
		if (s->link[0] != '/' || lstat(s->link, &named) < 0 || named.st_ino != st->st_ino ||
		    named.st_dev != st->st_dev)
			return unsupported(c, s->fd, "symbolic link its path no longer leads to",
					   s->link, err);
		f->kind = FILE_REG;
		f->path = strdup(s->link);
		return f->path ? 0 : err_set(err, -ENOMEM, "out of memory");
	}
	if (S_ISCHR(st->st_mode)) {
		/* The master side of a pseudo-terminal is no terminal leading outside. */
		if (st->st_rdev == makedev(5, 2))
			return unsupported(c, s->fd, "pseudo-terminal master", s->link, err);
		/* /dev/tty is whichever terminal controls the process: at restart,
		 * cr_restart's, as BLCR does. */
		if (st->st_rdev == makedev(5, 0)) {
			f->kind = FILE_CHR;
			f->path = strdup("/dev/tty");
			return f->path ? 0 : err_set(err, -ENOMEM, "out of memory");
		}
		if (is_tty_major(major(st->st_rdev))) {
			f->kind = FILE_EXTERNAL;
			f->ext = EXT_TTY;
			f->path = strdup(s->link);
			return f->path ? 0 : err_set(err, -ENOMEM, "out of memory");
		}
		if (is_mem_dev(st->st_rdev) && s->link[0] == '/') {
			f->kind = FILE_CHR;
			f->path = strdup(s->link);
			return f->path ? 0 : err_set(err, -ENOMEM, "out of memory");
		}
		return unsupported(c, s->fd, "character device", s->link, err);
	}
	if (S_ISFIFO(st->st_mode)) {
		if (strncmp(s->link, "pipe:[", 6))
			return unsupported(c, s->fd, "named FIFO", s->link, err);
		f->kind = FILE_PIPE; /* settled in settle_pipes() */
		return 0;
	}
	return unsupported(c, s->fd, S_ISBLK(st->st_mode) ? "block device" : "file of unknown type",
			   s->link, err);
}

/* Read what a pipe holds without taking it: tee() into a private pipe, then read
 * that. tee() keeps each buffer's packet flag, and read() stops after a packet
 * (O_DIRECT pipes): a short read means the data is in packets, whose boundaries the
 * model cannot carry yet. */
static int peek_pipe(struct dump_ctx *c, int target_fd, const char *link, bool packets,
		     struct pipe_img *pi, struct err *err)
{
	int fd = (int)syscall(SYS_pidfd_getfd, c->pidfd, target_fd, 0);
	int tmp[2] = {-1, -1};
	int size, rc = 0;
	ssize_t n, got;

	if (fd < 0)
		return err_sys(err, "pid %d: cannot take a copy of descriptor %d", c->p->pid,
			       target_fd);
	size = fcntl(fd, F_GETPIPE_SZ);
	if (size <= 0) {
		rc = err_sys(err, "pid %d: cannot read the size of the pipe on descriptor %d",
			     c->p->pid, target_fd);
		goto out;
	}
	pi->size = (uint32_t)size;
	if (pipe2(tmp, O_CLOEXEC | O_NONBLOCK) < 0) {
		rc = err_sys(err, "cannot create a pipe");
		goto out;
	}
	/* As many slots as the target's pipe, so that tee() can copy every buffer. */
	if (fcntl(tmp[1], F_SETPIPE_SZ, size) < 0 && size > 65536) {
		rc = err_sys(err, "pid %d: cannot peek into the %d-byte pipe on descriptor %d",
			     c->p->pid, size, target_fd);
		goto out;
	}
	n = tee(fd, tmp[1], pi->size, SPLICE_F_NONBLOCK);
	if (n < 0 && errno != EAGAIN) {
		rc = err_sys(err, "pid %d: cannot peek into the pipe on descriptor %d", c->p->pid,
			     target_fd);
		goto out;
	}
	if (n <= 0)
		goto out;
	if (packets) {
		rc = unsupported(c, target_fd, "pipe in packet mode (O_DIRECT) holding data", link,
				 err);
		goto out;
	}
	pi->data = malloc((size_t)n);
	if (!pi->data) {
		rc = err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	got = read(tmp[0], pi->data, (size_t)n);
	if (got >= 0 && got < n) {
		rc = unsupported(c, target_fd, "pipe holding data in packets", link, err);
		goto out;
	}
	if (got != n) {
		rc = err_sys(err, "pid %d: cannot read the data of the pipe on descriptor %d",
			     c->p->pid, target_fd);
		goto out;
	}
	pi->len = (uint32_t)n;
out:
	if (tmp[0] >= 0)
		close(tmp[0]);
	if (tmp[1] >= 0)
		close(tmp[1]);
	close(fd);
	return rc;
}

/* A pipe whose read and write ends are both here is restored; otherwise each end
 * found is external. */
static int settle_pipes(struct dump_ctx *c, struct fd_scan *sc, uint32_t n, uint32_t first,
			struct err *err)
{
	struct model *m = c->m;

	for (uint32_t i = first; i < m->nfiles; i++) {
		struct file_img *f = &m->files[i];
		bool rd = false, wr = false, packets = false;
		int read_fd = -1;
		struct pipe_img *pi;

		if (f->kind != FILE_PIPE || f->pipe_id)
			continue;
		for (uint32_t k = first; k < m->nfiles; k++) {
			struct file_img *g = &m->files[k];

			if (g->kind != FILE_PIPE || g->ino != f->ino || g->dev != f->dev)
				continue;
			if ((g->flags & O_ACCMODE) == O_RDONLY)
				rd = true;
			else
				wr = true;
			if (g->flags & O_DIRECT)
				packets = true;
		}
		if (!rd || !wr) {
			for (uint32_t k = first; k < m->nfiles; k++) {
				struct file_img *g = &m->files[k];

				if (g->kind == FILE_PIPE && g->ino == f->ino && g->dev == f->dev) {
					g->kind = FILE_EXTERNAL;
					g->ext = (g->flags & O_ACCMODE) == O_RDONLY ? EXT_PIPE_R
										    : EXT_PIPE_W;
				}
			}
			continue;
		}
		const char *link = "pipe";

		for (uint32_t k = 0; k < n && read_fd < 0; k++)
			if (m->files[sc[k].file].ino == f->ino && sc[k].st.st_dev == f->dev &&
			    (sc[k].flags & O_ACCMODE) == O_RDONLY) {
				read_fd = sc[k].fd;
				link = sc[k].link;
			}
		pi = model_grow((void **)&m->pipes, &m->npipes, sizeof(*pi));
		if (!pi)
			return err_set(err, -ENOMEM, "out of memory");
		pi->id = m->npipes;
		pi->ino = f->ino;
		if (peek_pipe(c, read_fd, link, packets, pi, err) < 0)
			return err->code;
		for (uint32_t k = first; k < m->nfiles; k++) {
			struct file_img *g = &m->files[k];

			if (g->kind == FILE_PIPE && g->ino == f->ino && g->dev == f->dev)
				g->pipe_id = pi->id;
		}
	}
	return 0;
}

static int scan_fds(struct dump_ctx *c, struct fd_scan **ret, uint32_t *ret_n, struct err *err)
{
	char dir[64];
	struct dirent *de;
	struct fd_scan *sc = NULL;
	uint32_t n = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", c->p->pid);
	d = opendir(dir);
	if (!d)
		return err_sys(err, "cannot list the descriptors of pid %d", c->p->pid);
	while ((de = readdir(d))) {
		char path[96];
		struct fd_scan *s;
		long fd;
		ssize_t k;

		if (parse_long(de->d_name, 0, INT32_MAX, &fd) < 0)
			continue;
		if (n >= MAX_FDS) {
			closedir(d);
			free(sc);
			return err_set(err, -E2BIG, "pid %d: too many descriptors", c->p->pid);
		}
		s = realloc(sc, ((size_t)n + 1) * sizeof(*sc));
		if (!s) {
			closedir(d);
			free(sc);
			return err_set(err, -ENOMEM, "out of memory");
		}
		sc = s;
		s = &sc[n];
		memset(s, 0, sizeof(*s));
		s->fd = (int)fd;
		snprintf(path, sizeof(path), "%s/%ld", dir, fd);
		k = readlink(path, s->link, sizeof(s->link) - 1);
		if (k < 0 || stat(path, &s->st) < 0 ||
		    read_fdinfo(c->p->pid, (int)fd, &s->pos, &s->flags) < 0) {
			if (errno == ENOENT)
				continue; /* closed meanwhile: cannot happen while frozen */
			closedir(d);
			free(sc);
			return err_sys(err, "pid %d: cannot inspect descriptor %ld", c->p->pid, fd);
		}
		s->link[k] = '\0';
		n++;
	}
	closedir(d);
	*ret = sc;
	*ret_n = n;
	return 0;
}

static int files_collect(struct dump_ctx *c, struct err *err)
{
	struct model *m = c->m;
	struct proc_img *p = c->p;
	uint32_t first = m->nfiles, n = 0;
	struct fd_scan *sc = NULL;
	int rc;

	rc = scan_fds(c, &sc, &n, err);
	if (rc < 0)
		return rc;
	p->fds = calloc(n ? n : 1, sizeof(*p->fds));
	if (!p->fds) {
		free(sc);
		return err_set(err, -ENOMEM, "out of memory");
	}
	for (uint32_t i = 0; i < n && rc == 0; i++) {
		struct fd_scan *s = &sc[i];
		struct file_img *f;
		uint32_t k;

		/* One open file description per group of descriptors kcmp calls equal. */
		for (k = 0; k < i; k++)
			if (sc[k].st.st_ino == s->st.st_ino && sc[k].st.st_dev == s->st.st_dev &&
			    syscall(SYS_kcmp, p->pid, p->pid, KCMP_FILE, sc[k].fd, s->fd) == 0)
				break;
		if (k < i) {
			s->file = sc[k].file;
		} else {
			f = model_grow((void **)&m->files, &m->nfiles, sizeof(*f));
			if (!f) {
				rc = err_set(err, -ENOMEM, "out of memory");
				break;
			}
			f->id = m->nfiles;
			s->file = m->nfiles - 1;
			rc = classify(c, s, f, err);
		}
		p->fds[p->nfds++] =
		    (struct fd_img){s->fd, (s->flags & O_CLOEXEC) != 0, m->files[s->file].id};
	}
	if (rc == 0)
		rc = settle_pipes(c, sc, n, first, err);
	/* Signal-driven I/O needs its owner and signal back, which are not saved yet. */
	for (uint32_t i = 0; rc == 0 && i < n; i++)
		if ((sc[i].flags & O_ASYNC) && m->files[sc[i].file].kind != FILE_EXTERNAL)
			rc = unsupported(c, sc[i].fd, "file in signal-driven I/O mode (O_ASYNC)",
					 sc[i].link, err);
	/* Said per descriptor: a restart gives each cr_restart's descriptor of that number. */
	for (uint32_t i = 0; rc == 0 && i < n; i++) {
		const struct file_img *f = &m->files[sc[i].file];

		if (f->kind == FILE_EXTERNAL)
			kmsg_add(KMSG_WARN,
				 "pid %d: descriptor %d (%s, %s) leads outside the checkpoint, not "
				 "saved",
				 p->pid, sc[i].fd, ext_kinds[f->ext], sc[i].link);
	}
	free(sc);
	return rc;
}

/* Pipes and open files once for the whole checkpoint: processes share them. */
static int files_encode_global(struct model *m, struct img_writer *w, struct err *err)
{
	struct buf b;
	int rc = 0;

	buf_init(&b);
	for (uint32_t i = 0; i < m->npipes && rc == 0; i++) {
		const struct pipe_img *pi = &m->pipes[i];

		buf_reset(&b);
		put_u32(&b, pi->id);
		put_u64(&b, pi->ino);
		put_u32(&b, pi->size);
		put_blob(&b, pi->data, pi->len);
		rc = b.oom ? err_set(err, -ENOMEM, "out of memory")
			   : img_write_record(w, REC_PIPE, REC_F_REQUIRED, b.data, b.len, err);
	}
	for (uint32_t i = 0; i < m->nfiles && rc == 0; i++) {
		const struct file_img *f = &m->files[i];

		buf_reset(&b);
		put_u32(&b, f->id);
		put_u32(&b, f->kind);
		put_u32(&b, f->flags);
		put_u32(&b, f->mode);
		put_u64(&b, f->pos);
		put_u64(&b, f->size);
		put_u64(&b, f->dev);
		put_u64(&b, f->ino);
		put_u64(&b, f->rdev);
		put_str(&b, f->path);
		put_u32(&b, f->ext);
		put_u32(&b, f->pipe_id);
		rc = b.oom ? err_set(err, -ENOMEM, "out of memory")
			   : img_write_record(w, REC_FILE, REC_F_REQUIRED, b.data, b.len, err);
	}
	buf_fini(&b);
	return rc;
}

static int files_encode(struct dump_ctx *c, struct img_writer *w, struct err *err)
{
	const struct proc_img *p = c->p;
	struct buf b;
	int rc;

	buf_init(&b);
	{
		put_u32(&b, (uint32_t)p->pid);
		put_u32(&b, p->nfds);
		for (uint32_t i = 0; i < p->nfds; i++) {
			put_i32(&b, p->fds[i].fd);
			put_u32(&b, p->fds[i].cloexec);
			put_u32(&b, p->fds[i].file_id);
		}
		rc = b.oom ? err_set(err, -ENOMEM, "out of memory")
			   : img_write_record(w, REC_FDS, REC_F_REQUIRED, b.data, b.len, err);
	}
	buf_fini(&b);
	return rc;
}

static int decode_pipe(struct model *m, const struct img_rec *rec, const struct img_reader *r,
		       struct err *err)
{
	struct wire_rd rd;
	struct pipe_img *pi;
	const void *data;
	uint32_t id;

	wr_init(&rd, rec->payload, rec->len);
	id = get_u32(&rd);
	if (rd.bad || id == 0 || model_find_pipe(m, id))
		return img_rec_corrupt(r, rec, "missing or repeated pipe id", err);
	pi = model_grow((void **)&m->pipes, &m->npipes, sizeof(*pi));
	if (!pi)
		return err_set(err, -ENOMEM, "out of memory");
	pi->id = id;
	pi->ino = get_u64(&rd);
	pi->size = get_u32(&rd);
	data = get_blob(&rd, MAX_PIPE_DATA, &pi->len);
	if (!wr_done(&rd))
		return img_rec_corrupt(r, rec, rd.why, err);
	if (pi->len > pi->size || pi->size > MAX_PIPE_DATA)
		return img_rec_corrupt(r, rec, "pipe holds more than its size", err);
	/* The kernel gives pipes a power of two of pages. */
	if (pi->size < 4096 || (pi->size & (pi->size - 1)))
		return img_rec_corrupt(r, rec, "impossible pipe size", err);
	if (pi->len) {
		pi->data = malloc(pi->len);
		if (!pi->data)
			return err_set(err, -ENOMEM, "out of memory");
		memcpy(pi->data, data, pi->len);
	}
	return 0;
}

static int decode_file(struct model *m, const struct img_rec *rec, const struct img_reader *r,
		       struct err *err)
{
	struct wire_rd rd;
	struct file_img *f;
	uint32_t id;

	wr_init(&rd, rec->payload, rec->len);
	id = get_u32(&rd);
	if (rd.bad || id == 0 || model_find_file(m, id))
		return img_rec_corrupt(r, rec, "missing or repeated file id", err);
	if (m->nfiles >= MAX_FILES)
		return img_rec_corrupt(r, rec, "too many files", err);
	f = model_grow((void **)&m->files, &m->nfiles, sizeof(*f));
	if (!f)
		return err_set(err, -ENOMEM, "out of memory");
	f->id = id;
	f->kind = get_u32(&rd);
	f->flags = get_u32(&rd);
	f->mode = get_u32(&rd);
	f->pos = get_u64(&rd);
	f->size = get_u64(&rd);
	f->dev = get_u64(&rd);
	f->ino = get_u64(&rd);
	f->rdev = get_u64(&rd);
	f->path = get_str(&rd, MODEL_MAX_PATH);
	f->ext = get_u32(&rd);
	f->pipe_id = get_u32(&rd);
	if (!wr_done(&rd))
		return img_rec_corrupt(r, rec, rd.why, err);
	if (f->kind == 0 || f->kind >= FILE_KIND_MAX)
		return img_rec_corrupt(r, rec, "unknown kind of file", err);
	if ((f->kind == FILE_REG || f->kind == FILE_CHR) && (!f->path || f->path[0] != '/'))
		return img_rec_corrupt(r, rec, "file without an absolute path", err);
	if (f->kind == FILE_REG && !S_ISREG(f->mode) && !S_ISDIR(f->mode) &&
	    !(S_ISLNK(f->mode) && (f->flags & O_PATH)))
		return img_rec_corrupt(r, rec, "file reopened by path is no file or directory",
				       err);
	if ((f->kind == FILE_CHR && !S_ISCHR(f->mode)) ||
	    (f->kind == FILE_PIPE && !S_ISFIFO(f->mode)))
		return img_rec_corrupt(r, rec, "file type does not match its kind", err);
	if ((f->kind == FILE_PIPE) != (f->pipe_id != 0))
		return img_rec_corrupt(r, rec,
				       "pipe id on a file that is no pipe, or none on a "
				       "pipe",
				       err);
	if ((f->kind == FILE_EXTERNAL) != (f->ext != 0) ||
	    (f->kind == FILE_EXTERNAL && (f->ext < EXT_TTY || f->ext > EXT_OTHER)))
		return img_rec_corrupt(r, rec, "unknown kind of external descriptor", err);
	if (f->flags & ~(uint32_t)(REOPEN_FLAGS | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_ASYNC |
				   O_CLOEXEC | __O_TMPFILE))
		return img_rec_corrupt(r, rec, "unknown open flags", err);
	if (f->pos > INT64_MAX)
		return img_rec_corrupt(r, rec, "file offset out of range", err);
	return 0;
}

static int decode_fds(struct model *m, const struct img_rec *rec, const struct img_reader *r,
		      struct err *err)
{
	struct wire_rd rd;
	struct proc_img *p;
	uint32_t n;

	wr_init(&rd, rec->payload, rec->len);
	p = state_rec_proc(m, &rd, rec, r, err);
	if (!p)
		return err->code;
	if (p->fds)
		return img_rec_corrupt(r, rec, "a second descriptor table", err);
	n = get_count(&rd, 12, MAX_FDS);
	p->fds = calloc(n ? n : 1, sizeof(*p->fds));
	if (!p->fds)
		return err_set(err, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < n && !rd.bad; i++) {
		struct fd_img *fd = &p->fds[i];

		fd->fd = get_i32(&rd);
		fd->cloexec = get_u32(&rd);
		fd->file_id = get_u32(&rd);
		p->nfds = i + 1;
		if (fd->fd < 0 || fd->fd >= (int32_t)MAX_FDS || fd->cloexec > 1)
			wr_fail(&rd, "descriptor out of range");
		for (uint32_t k = 0; k < i && !rd.bad; k++)
			if (p->fds[k].fd == fd->fd)
				wr_fail(&rd, "descriptor listed twice");
	}
	if (!wr_done(&rd))
		return img_rec_corrupt(r, rec, rd.why, err);
	return 0;
}

static int files_decode(struct model *m, const struct img_rec *rec, const struct img_reader *r,
			struct err *err)
{
	switch (rec->type) {
	case REC_PIPE:
		return decode_pipe(m, rec, r, err);
	case REC_FILE:
		return decode_file(m, rec, r, err);
	default:
		return decode_fds(m, rec, r, err);
	}
}

static int files_validate(struct model *m, struct proc_img *p, struct err *err)
{
	if (!p->fds)
		return err_set(err, -EINVAL, "pid %d: the context has no descriptor table", p->pid);
	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct file_img *f = model_find_file(m, p->fds[i].file_id);

		if (!f)
			return err_set(err, -EINVAL, "pid %d: descriptor %d refers to no file",
				       p->pid, p->fds[i].fd);
		if (f->kind == FILE_PIPE && !model_find_pipe(m, f->pipe_id))
			return err_set(err, -EINVAL, "pid %d: descriptor %d refers to no pipe",
				       p->pid, p->fds[i].fd);
	}
	return 0;
}

/* ---- restart ---- */

struct open_state {
	int *file_fd;      /* parent fd per m->files index, -1 until opened */
	int (*pipe_fd)[2]; /* per m->pipes index */
	bool (*pipe_used)[2];
};

static int open_regular(struct rst_ctx *c, const struct file_img *f, int fdnum, struct err *err)
{
	const struct proc_img *p = c->rp->p;
	int flags = (int)(f->flags & REOPEN_FLAGS) | O_CLOEXEC | O_NOCTTY;
	int acc = flags & O_ACCMODE;
	bool path_only = flags & O_PATH;
	struct stat st;
	int fd;

	fd = open(f->path, flags);
	if (fd < 0)
		return err_sys(err, "cannot reopen '%s' (descriptor %d of pid %d)", f->path, fdnum,
			       p->pid);
	if (fstat(fd, &st) < 0) {
		err_sys(err, "cannot reopen '%s' (descriptor %d of pid %d)", f->path, fdnum,
			p->pid);
		close(fd);
		return err->code;
	}
	if ((st.st_mode & S_IFMT) != (f->mode & S_IFMT)) {
		close(fd);
		return err_set(err, -EINVAL, "'%s' (descriptor %d of pid %d) is no longer a %s",
			       f->path, fdnum, p->pid, S_ISDIR(f->mode) ? "directory" : "file");
	}
	/* Files are taken by reference: a different one is used, but said. */
	if (f->kind == FILE_REG && (st.st_ino != f->ino || st.st_dev != f->dev))
		kmsg_add(KMSG_WARN,
			 "pid %d: '%s' (descriptor %d) is not the file checkpointed "
			 "(another inode)",
			 p->pid, f->path, fdnum);
	if (f->kind == FILE_REG && S_ISREG(st.st_mode) && (uint64_t)st.st_size < f->size)
		kmsg_add(KMSG_WARN,
			 "pid %d: '%s' (descriptor %d) is %llu bytes, %llu at the "
			 "checkpoint",
			 p->pid, f->path, fdnum, (unsigned long long)st.st_size,
			 (unsigned long long)f->size);
	/* As BLCR: what was written after the checkpoint goes. */
	if (f->kind == FILE_REG && !path_only && S_ISREG(st.st_mode) &&
	    (acc == O_WRONLY || acc == O_RDWR) && (uint64_t)st.st_size > f->size &&
	    ftruncate(fd, (off_t)f->size) < 0) {
		err_sys(err, "cannot truncate '%s' back to %llu bytes (pid %d)", f->path,
			(unsigned long long)f->size, p->pid);
		close(fd);
		return err->code;
	}
	if (f->kind == FILE_REG && !path_only && f->pos && lseek(fd, (off_t)f->pos, SEEK_SET) < 0) {
		err_sys(err, "cannot seek '%s' to %llu (pid %d)", f->path,
			(unsigned long long)f->pos, p->pid);
		close(fd);
		return err->code;
	}
	return fd;
}

/* Is path in /proc/PID of the process itself? Such a file exists only once the new
 * process does: it is opened there (files_child), not in cr_restart. Returns the
 * length of the "/proc/PID" prefix, or 0. */
static size_t own_proc_prefix(const struct proc_img *p, const char *path)
{
	char pre[32];
	int n = snprintf(pre, sizeof(pre), "/proc/%d", p->pid);

	if (n <= 0 || strncmp(path, pre, (size_t)n) || (path[n] && path[n] != '/'))
		return 0;
	return (size_t)n;
}

#define TTY_NONE (-1000000)

/* /dev/tty again, in cr_restart: its controlling terminal. Without one the
 * descriptor stays closed, as an external one would. Returns TTY_NONE then. */
static int open_tty(struct rst_ctx *c, const struct file_img *f, int fdnum)
{
	int fd = open("/dev/tty", (int)(f->flags & REOPEN_FLAGS) | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		kmsg_add(KMSG_WARN, "pid %d: descriptor %d (/dev/tty) left closed: %s",
			 c->rp->p->pid, fdnum, strerror(errno));
		return TTY_NONE;
	}
	return fd;
}

static int make_pipe(struct rst_ctx *c, const struct pipe_img *pi, int fds[2], struct err *err)
{
	const struct proc_img *p = c->rp->p;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return err_sys(err, "pid %d: cannot create a pipe", p->pid);
	if (pi->size != 65536 && fcntl(fds[1], F_SETPIPE_SZ, (int)pi->size) < 0) {
		/* Beyond pipe-max-size without CAP_SYS_RESOURCE, or the user's quota. */
		if (pi->len > 65536)
			return err_sys(err, "pid %d: cannot give a pipe its %u bytes", p->pid,
				       pi->size);
		kmsg_add(KMSG_WARN, "pid %d: a pipe of %u bytes is back with 65536: %s", p->pid,
			 pi->size, strerror(errno));
	}
	if (pi->len) {
		int fl = fcntl(fds[1], F_GETFL);
		ssize_t n;

		fcntl(fds[1], F_SETFL, fl | O_NONBLOCK);
		n = write(fds[1], pi->data, pi->len);
		fcntl(fds[1], F_SETFL, fl);
		if (n != (ssize_t)pi->len)
			return err_set(err, -EIO, "pid %d: cannot refill a pipe with %u bytes",
				       p->pid, pi->len);
	}
	return 0;
}

static int pipe_end(struct rst_ctx *c, struct open_state *os, const struct file_img *f,
		    struct err *err)
{
	struct model *m = c->m;
	const struct pipe_img *pi = model_find_pipe(m, f->pipe_id);
	size_t k = (size_t)(pi - m->pipes);
	int end = (f->flags & O_ACCMODE) == O_RDONLY ? 0 : 1;
	int fd;

	if (os->pipe_fd[k][0] < 0 && make_pipe(c, pi, os->pipe_fd[k], err) < 0)
		return err->code;
	if (!os->pipe_used[k][end]) {
		os->pipe_used[k][end] = true;
		fd = fcntl(os->pipe_fd[k][end], F_DUPFD_CLOEXEC, 0);
	} else {
		/* Another open file description of the same end. */
		char path[64];

		snprintf(path, sizeof(path), "/proc/self/fd/%d", os->pipe_fd[k][end]);
		fd = open(path, (end ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
	}
	if (fd < 0)
		return err_sys(err, "pid %d: cannot open a pipe end", c->rp->p->pid);
	/* O_DIRECT on a write end: each write becomes a packet. */
	if (fcntl(fd, F_SETFL, (int)(f->flags & (O_NONBLOCK | O_APPEND | O_DIRECT))) < 0) {
		close(fd);
		return err_sys(err, "pid %d: cannot set pipe flags", c->rp->p->pid);
	}
	return fd;
}

/* cr_restart's own descriptor for an external one, by BLCR's rules. Returns the fd
 * (not owned) or -1 to leave it closed. */
static int external_fd(struct rst_ctx *c, const struct file_img *f, int fdnum)
{
	if (restart_fd_inherited(fdnum))
		return fdnum;
	if (f->ext == EXT_PIPE_R && restart_fd_inherited(0))
		return 0;
	if (f->ext == EXT_PIPE_W && restart_fd_inherited(1))
		return 1;
	kmsg_add(KMSG_WARN, "pid %d: descriptor %d led outside the checkpoint; left closed",
		 c->rp->p->pid, fdnum);
	return -1;
}

static int files_prepare(struct rst_ctx *c, struct err *err)
{
	struct model *m = c->m;
	struct rst_proc *rp = c->rp;
	const struct proc_img *p = rp->p;
	struct open_state os;
	int rc = 0;

	os.file_fd = malloc((m->nfiles + 1u) * sizeof(*os.file_fd));
	os.pipe_fd = malloc((m->npipes + 1u) * sizeof(*os.pipe_fd));
	os.pipe_used = calloc(m->npipes + 1u, sizeof(*os.pipe_used));
	if (!os.file_fd || !os.pipe_fd || !os.pipe_used) {
		free(os.file_fd);
		free(os.pipe_fd);
		free(os.pipe_used);
		return err_set(err, -ENOMEM, "out of memory");
	}
	for (uint32_t i = 0; i < m->nfiles; i++)
		os.file_fd[i] = -1;
	for (uint32_t i = 0; i < m->npipes; i++)
		os.pipe_fd[i][0] = os.pipe_fd[i][1] = -1;

	for (uint32_t i = 0; i < p->nfds && rc >= 0; i++) {
		const struct fd_img *d = &p->fds[i];
		const struct file_img *f = model_find_file(m, d->file_id);
		size_t k = (size_t)(f - m->files);
		int fd = os.file_fd[k];

		if (f->kind == FILE_EXTERNAL) {
			fd = external_fd(c, f, d->fd);
			rc = fd < 0 ? 0 : rst_add_fd(rp, fd, d->fd, false, d->cloexec);
		} else if (f->kind == FILE_REG && own_proc_prefix(p, f->path)) {
			continue; /* files_child() */
		} else if (fd >= 0) {
			/* The first holder owns it; the rest borrow the same description. */
			rc = rst_add_fd(rp, fd, d->fd, false, d->cloexec);
		} else {
			if (f->kind == FILE_PIPE)
				fd = pipe_end(c, &os, f, err);
			else if (f->kind == FILE_CHR && f->rdev == makedev(5, 0))
				fd = open_tty(c, f, d->fd);
			else
				fd = open_regular(c, f, d->fd, err);
			if (fd == TTY_NONE)
				continue;
			if (fd < 0) {
				rc = fd;
				break;
			}
			os.file_fd[k] = fd;
			rc = rst_add_fd(rp, fd, d->fd, true, d->cloexec);
			if (rc < 0)
				close(fd);
		}
		if (rc < 0 && !err->code)
			rc = err_set(err, rc, "pid %d: out of memory for descriptor %d", p->pid,
				     d->fd);
	}
	for (uint32_t i = 0; i < m->npipes; i++) {
		if (os.pipe_fd[i][0] >= 0)
			close(os.pipe_fd[i][0]);
		if (os.pipe_fd[i][1] >= 0)
			close(os.pipe_fd[i][1]);
	}
	free(os.file_fd);
	free(os.pipe_fd);
	free(os.pipe_used);
	return rc < 0 ? rc : 0;
}

/* In the new process, its descriptors installed: the files in its own /proc
 * directory, through /proc/self (its pid may be new). Their offsets are set at the
 * very end (files_finish). No allocation here. */
static int files_child(struct rst_ctx *c, struct err *err)
{
	struct model *m = c->m;
	const struct proc_img *p = c->rp->p;

	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct fd_img *d = &p->fds[i];
		const struct file_img *f = model_find_file(m, d->file_id);
		int flags = d->cloexec ? O_CLOEXEC : 0, fd = -1;
		char path[MODEL_MAX_PATH + 16];
		size_t pre;
		uint32_t k;

		if (f->kind != FILE_REG || !(pre = own_proc_prefix(p, f->path)))
			continue;
		/* A second descriptor of the same open file shares it. */
		for (k = 0; k < i && p->fds[k].file_id != d->file_id; k++)
			;
		if (k < i) {
			if (dup3(p->fds[k].fd, d->fd, flags) < 0)
				return err_sys(err, "pid %d: cannot install descriptor %d", p->pid,
					       d->fd);
			continue;
		}
		snprintf(path, sizeof(path), "/proc/self%s", f->path + pre);
		fd = open(path, (int)(f->flags & REOPEN_FLAGS) | O_CLOEXEC | O_NOCTTY);
		if (fd < 0)
			return err_sys(err, "pid %d: cannot reopen '%s' (descriptor %d)", p->pid,
				       path, d->fd);
		if (fd != d->fd && dup3(fd, d->fd, flags) < 0) {
			err_sys(err, "pid %d: cannot install descriptor %d", p->pid, d->fd);
			close(fd);
			return err->code;
		}
		if (fd != d->fd)
			close(fd);
		else if (!d->cloexec && fcntl(fd, F_SETFD, 0) < 0)
			return err_sys(err, "pid %d: cannot install descriptor %d", p->pid, d->fd);
	}
	return 0;
}

/* The offsets of the files in the process's own /proc directory, once it is whole:
 * seeking a seq_file generates its text, which must be the restored process's, not
 * that of the copy of cr_restart it was (name, limits, command line...). From
 * outside, through a copy of the descriptor, which shares the offset. */
static int files_finish(struct rst_ctx *c, struct err *err)
{
	struct model *m = c->m;
	const struct proc_img *p = c->rp->p;
	int pidfd = -1;

	(void)err; /* what fails here is only a warning */
	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct fd_img *d = &p->fds[i];
		const struct file_img *f = model_find_file(m, d->file_id);
		uint32_t k;
		int fd;

		if (f->kind != FILE_REG || !own_proc_prefix(p, f->path) || !f->pos ||
		    (f->flags & O_PATH))
			continue;
		for (k = 0; k < i && p->fds[k].file_id != d->file_id; k++)
			;
		if (k < i)
			continue; /* shares the offset of an earlier one */
		if (pidfd < 0)
			pidfd = (int)syscall(SYS_pidfd_open, c->rp->pid, 0);
		fd = pidfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, d->fd, 0);
		if (fd < 0 || lseek(fd, (off_t)f->pos, SEEK_SET) < 0)
			kmsg_add(KMSG_WARN, "pid %d: cannot seek '%s' (descriptor %d) to %llu: %s",
				 p->pid, f->path, d->fd, (unsigned long long)f->pos,
				 strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	if (pidfd >= 0)
		close(pidfd);
	return 0;
}

static const char *const file_kinds[FILE_KIND_MAX] = {
    [FILE_REG] = "file",
    [FILE_CHR] = "device",
    [FILE_PIPE] = "pipe",
    [FILE_EXTERNAL] = "external",
};

static void files_describe(const struct model *m, const struct proc_img *p, struct out *o)
{
	out_arr_begin(o, "descriptors");
	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct fd_img *d = &p->fds[i];
		const struct file_img *f = model_find_file((struct model *)m, d->file_id);

		out_obj_begin(o, NULL);
		out_i64(o, "fd", d->fd);
		if (f) {
			out_str(o, "kind", f->kind < FILE_KIND_MAX ? file_kinds[f->kind] : "?");
			if (f->kind == FILE_EXTERNAL && f->ext <= EXT_OTHER)
				out_str(o, "leads_to", ext_kinds[f->ext]);
			if (f->path)
				out_str(o, "path", f->path);
			if (f->kind == FILE_PIPE)
				out_u64(o, "pipe", f->pipe_id);
			out_hex(o, "flags", f->flags);
			if (f->kind == FILE_REG)
				out_u64(o, "pos", f->pos);
			out_u64(o, "file", f->id);
		}
		out_bool(o, "cloexec", d->cloexec);
		out_obj_end(o);
	}
	out_arr_end(o);
}

const struct state_ops files_ops = {
    .name = "files",
    .recs = {REC_FILE, REC_FDS, REC_PIPE},
    .collect = files_collect,
    .encode = files_encode,
    .encode_global = files_encode_global,
    .decode = files_decode,
    .validate = files_validate,
    .prepare = files_prepare,
    .child = files_child,
    .finish = files_finish,
    .describe = files_describe,
};
