/* state/fd_external.c: descriptors that lead outside the checkpoint: terminals, a
 * socket connected to something that is not checkpointed (a logger, a batch system's
 * stdio, a TCP peer elsewhere), a pipe whose other end is not in the checkpoint
 * (marked by fd_pipe.c).
 *
 * Nothing of them is saved. At restart the process gets cr_restart's own descriptor
 * of the same number, so its stdio follows whoever restarts it; a dangling pipe end
 * that cr_restart lacks becomes a copy of its stdin (read end) or stdout (write end),
 * as BLCR does; otherwise the descriptor stays closed, and a kmsg line says so.
 *
 * A socket wholly inside the checkpoint is not external: until a kind takes it, the
 * checkpoint fails naming what sort of socket it is. */
#define LOG_PREFIX "external: "
#include "fdkind.h"

#include "../err.h"
#include "../log.h"
#include "../restart.h"
#include "../../util/buf.h"
#include "../../util/out.h"
#include "../../util/procfs.h"
#include "../../util/sockdiag.h"
#include "../../util/wire.h"

#include <dirent.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "../banned.h"

struct ext_data {
	uint32_t ext; /* enum ext_kind */
};

static const char *const ext_names[] = {
	[EXT_TTY] = "terminal",  [EXT_PIPE_R] = "pipe-read", [EXT_PIPE_W] = "pipe-write",
	[EXT_SOCKET] = "socket", [EXT_OTHER] = "other",
};

static bool is_tty_major(unsigned int major)
{
	return major == 4 || major == 5 || (major >= 136 && major <= 143);
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

/* A socket leads outside when it is connected to a peer outside the process. A
 * socket that does not is refused here, with what sort it is, until a kind of its
 * own takes it first. */
static int claim_socket(struct dump_ctx *c, const struct fd_scan *s, struct err *err)
{
	struct sockaddr_storage local, peer;
	socklen_t llen = sizeof(local), plen = sizeof(peer), ol = sizeof(int);
	int domain = 0, type = 0, listening = 0, cp;
	struct unix_info ui;
	const char *kind;
	bool connected;

	if (sockdiag_unix(s->st.st_ino, &ui) == 0) {
		if (ui.peer && !has_socket(c->p->pid, ui.peer))
			return 1;
		kind = ui.peer                     ? "unix socket connected to another of its own"
		       : ui.state == TCP_LISTEN    ? "listening unix socket"
		       : ui.type == SOCK_DGRAM     ? "unix datagram socket"
		       : ui.type == SOCK_SEQPACKET ? "unconnected unix seqpacket socket"
						   : "unconnected unix stream socket";
		return fdkind_unsupported(c, s->fd, kind, s->link, err);
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
		if (connected && !has_tcp_peer(c, &local, llen, &peer, plen))
			return 1; /* a connection to elsewhere */
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
	return fdkind_unsupported(c, s->fd, kind, s->link, err);
}

static int ext_claim(struct dump_ctx *c, const struct fd_scan *s, struct err *err)
{
	const struct stat *st = &s->st;

	if (S_ISSOCK(st->st_mode))
		return claim_socket(c, s, err);
	/* Terminals, but not /dev/tty (5,0: fd_chr reopens it) nor a pty master (5,2). */
	return S_ISCHR(st->st_mode) && is_tty_major(major(st->st_rdev)) &&
	       st->st_rdev != makedev(5, 0) && st->st_rdev != makedev(5, 2);
}

int fd_external_mark(struct file_img *f, uint32_t ext)
{
	struct ext_data *x;

	if (f->kd_free)
		f->kd_free(f->kd);
	f->kd = NULL;
	f->kd_free = NULL;
	x = fdkind_data(f, sizeof(*x));
	if (!x)
		return -ENOMEM;
	f->kind = FILE_EXTERNAL;
	x->ext = ext;
	return 0;
}

static int ext_collect(struct dump_ctx *c, const struct fd_scan *s, struct file_img *f,
		       struct err *err)
{
	uint32_t ext = S_ISSOCK(s->st.st_mode) ? EXT_SOCKET : EXT_TTY;

	(void)c;
	if (fd_external_mark(f, ext) < 0)
		return err_set(err, -ENOMEM, "out of memory");
	if (ext == EXT_TTY) {
		f->path = strdup(s->link);
		if (!f->path)
			return err_set(err, -ENOMEM, "out of memory");
	}
	return 0;
}

const char *fd_external_what(const struct file_img *f)
{
	const struct ext_data *x = f->kd;

	return f->kind == FILE_EXTERNAL && x ? ext_names[x->ext] : NULL;
}

static void ext_encode(const struct file_img *f, struct buf *b)
{
	const struct ext_data *x = f->kd;

	put_u32(b, x->ext);
}

static int ext_decode(struct file_img *f, struct wire_rd *rd, struct err *err)
{
	struct ext_data *x = fdkind_data(f, sizeof(*x));

	if (!x)
		return err_set(err, -ENOMEM, "out of memory");
	x->ext = get_u32(rd);
	if (x->ext < EXT_TTY || x->ext > EXT_OTHER)
		wr_fail(rd, "unknown kind of external descriptor");
	return 0;
}

/* cr_restart's own descriptor, by BLCR's rules. */
static int ext_open(struct rst_ctx *c, const struct file_img *f, int fdnum, bool *borrowed,
		    struct err *err)
{
	const struct ext_data *x = f->kd;

	(void)err;
	*borrowed = true;
	if (restart_fd_inherited(fdnum))
		return fdnum;
	if (x->ext == EXT_PIPE_R && restart_fd_inherited(0))
		return 0;
	if (x->ext == EXT_PIPE_W && restart_fd_inherited(1))
		return 1;
	kmsg_add(KMSG_WARN, "pid %d: descriptor %d led outside the checkpoint; left closed",
		 c->rp->p->pid, fdnum);
	return FDKIND_CLOSED;
}

static void ext_describe(const struct file_img *f, struct out *o)
{
	const struct ext_data *x = f->kd;

	out_str(o, "leads_to", ext_names[x->ext]);
}

const struct fd_kind fd_external_kind = {
	.kind = FILE_EXTERNAL,
	.name = "external",
	.claim = ext_claim,
	.collect = ext_collect,
	.encode = ext_encode,
	.decode = ext_decode,
	.open = ext_open,
	.describe = ext_describe,
};
