/* state/fd_unix.c: unix domain sockets wholly inside the checkpoint: socketpairs
 * (stream, datagram, seqpacket), sockets bound to a path or an abstract name,
 * listening sockets with the connections not yet accepted, connections made to them
 * and accepted from them, sockets whose peer has closed, and datagram sockets
 * connected to another. Saved with each: what is queued for reading, without taking
 * it (MSG_PEEK with a peek offset, message by message with their boundaries, and the
 * sender's name of each datagram), the shutdown state of each direction, and the
 * options programs set (buffer sizes, SO_PASSCRED, SO_PASSSEC, SO_PASSPIDFD,
 * SO_PEEK_OFF, SO_RCVLOWAT, timeouts); O_NONBLOCK is in the common flags.
 *
 * A socket is known by its inode, and peers are matched by inode (sock_diag, asked
 * once about every socket of the system, since a question about one walks them all).
 * A unix socket connected to one that is not in the checkpoint leads outside: it is
 * given to fd_external.c, as is a connection still waiting at a listener outside.
 *
 * Refused: descriptors in flight (SCM_RIGHTS messages queued), messages queued for a
 * socket that receives its senders' credentials (SO_PASSCRED, SO_PASSPIDFD), other
 * control data, out-of-band data, and a connection not yet accepted that already
 * carries data (it cannot be read without accepting it).
 *
 * Not kept: the peer credentials (SO_PEERCRED) are those of the restarting process,
 * and an error pending on a socket (SO_ERROR, e.g. ECONNRESET after the peer closed
 * with data unread) cannot be read without clearing it. Connections not yet accepted
 * whose client has gone, or is outside, come back with their client gone. A
 * zero-length datagram or record is seen by the first peek at it only (the kernel
 * marks it peeked, and a peek offset passes over it from then on): one that a
 * checkpoint left in place is missed by the next checkpoint of the same process,
 * unless it is the first in the queue.
 *
 * Restart is in fd_unix_restart.c. */
#define LOG_PREFIX "unix: "
#include "fd_unix.h"

#include "../err.h"
#include "../log.h"
#include "../../util/buf.h"
#include "../../util/out.h"
#include "../../util/procfs.h"
#include "../../util/sockdiag.h"
#include "../../util/wire.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "../banned.h"

#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76
#endif

#define MAX_UNIX_DATA (1u << 30) /* queued bytes per socket */
#define MAX_UNIX_MSGS (1u << 20) /* queued messages per socket */
#define MAX_PENDING (1u << 20)
#define PEEK_CHUNK (64u << 10)

static void unix_data_free(void *p)
{
	struct unix_data *ud = p;

	if (!ud)
		return;
	for (uint32_t i = 0; i < ud->nmsgs; i++)
		free(ud->msgs[i].data);
	free(ud->msgs);
	free(ud->pending);
	free(ud->dir);
	free(ud);
}

static struct unix_data *unix_data_new(struct file_img *f)
{
	struct unix_data *ud = fdkind_data(f, sizeof(*ud));

	if (ud)
		f->kd_free = unix_data_free;
	return ud;
}

/* ---- finding one socket among thousands: keys sorted, searched by halves ---- */

static int cmp_key(const void *pa, const void *pb)
{
	const struct unix_key *x = pa, *y = pb;

	if (x->a != y->a)
		return x->a < y->a ? -1 : 1;
	if (x->b != y->b)
		return x->b < y->b ? -1 : 1;
	return x->at < y->at ? -1 : x->at > y->at;
}

void unix_keys_sort(struct unix_key *v, uint32_t n)
{
	if (n)
		qsort(v, n, sizeof(*v), cmp_key);
}

uint32_t unix_key_first(const struct unix_key *v, uint32_t n, uint64_t a, uint64_t b)
{
	const struct unix_key key = {a, b, 0};
	uint32_t lo = 0, hi = n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (cmp_key(&v[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The unix sockets of the model by inode (files[at]); NULL keys if out of memory. */
static struct unix_key *index_sockets(const struct model *m, uint32_t *ret_n)
{
	struct unix_key *v = malloc(((size_t)m->nfiles + 1) * sizeof(*v));
	uint32_t n = 0;

	if (!v)
		return NULL;
	for (uint32_t i = 0; i < m->nfiles; i++)
		if (m->files[i].kind == FILE_UNIX && m->files[i].kd)
			v[n++] = (struct unix_key){m->files[i].ino, 0, i};
	unix_keys_sort(v, n);
	*ret_n = n;
	return v;
}

/* The first file (in the model's order) that is still the unix socket of inode ino,
 * or NULL: one found to lead outside is no longer. */
static struct file_img *find_in(const struct model *m, const struct unix_key *ix, uint32_t n,
				uint64_t ino)
{
	for (uint32_t k = ino ? unix_key_first(ix, n, ino, 0) : n; k < n && ix[k].a == ino; k++) {
		struct file_img *f = &m->files[ix[k].at];

		if (f->kind == FILE_UNIX && f->kd && f->ino == ino)
			return f;
	}
	return NULL;
}

static struct unix_data *ud_in(const struct model *m, const struct unix_key *ix, uint32_t n,
			       uint64_t ino)
{
	const struct file_img *f = find_in(m, ix, n, ino);

	return f ? f->kd : NULL;
}

static bool same_name(const struct unix_name *a, const struct unix_name *b)
{
	return a->len == b->len && !memcmp(a->b, b->b, a->len);
}

/* ---- checkpoint ---- */

/* Every unix socket (what sock_diag says of it is asked once every process is
 * collected, for all sockets at once). */
static int unix_claim(struct dump_ctx *c, const struct fd_scan *s, struct err *err)
{
	socklen_t len = sizeof(int);
	int domain = 0, cp;

	if (!S_ISSOCK(s->st.st_mode))
		return 0;
	cp = (int)syscall(SYS_pidfd_getfd, c->pidfd, s->fd, 0);
	if (cp < 0)
		return err_sys(err, "pid %d: cannot take a copy of descriptor %d", c->p->pid,
			       s->fd);
	if (getsockopt(cp, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
		domain = 0;
	close(cp);
	return domain == AF_UNIX;
}

/* Returns whether the socket has one (a peer: is connected, maybe to one gone). */
static bool get_name(int fd, bool peer, struct unix_name *n)
{
	struct sockaddr_un a;
	socklen_t len = sizeof(a);
	int rc = peer ? getpeername(fd, (struct sockaddr *)&a, &len)
		      : getsockname(fd, (struct sockaddr *)&a, &len);

	n->len = 0;
	if (rc == 0 && len > offsetof(struct sockaddr_un, sun_path) && len <= sizeof(a)) {
		n->len = len - (socklen_t)offsetof(struct sockaddr_un, sun_path);
		memcpy(n->b, a.sun_path, n->len);
	}
	return rc == 0;
}

static int32_t opt_int(int fd, int name, int32_t dflt)
{
	int v = 0;
	socklen_t len = sizeof(v);

	return getsockopt(fd, SOL_SOCKET, name, &v, &len) == 0 ? v : dflt;
}

static int64_t opt_timeo(int fd, int name)
{
	struct timeval tv = {0, 0};
	socklen_t len = sizeof(tv);

	if (getsockopt(fd, SOL_SOCKET, name, &tv, &len) < 0)
		return 0;
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static void get_opts(int fd, struct unix_opts *o)
{
	o->rcvbuf = opt_int(fd, SO_RCVBUF, 0);
	o->sndbuf = opt_int(fd, SO_SNDBUF, 0);
	o->passcred = opt_int(fd, SO_PASSCRED, 0) != 0;
	o->passsec = opt_int(fd, SO_PASSSEC, 0) != 0;
	o->passpidfd = opt_int(fd, SO_PASSPIDFD, 0) != 0;
	o->peek_off = opt_int(fd, SO_PEEK_OFF, -1);
	o->rcvlowat = opt_int(fd, SO_RCVLOWAT, 1);
	o->rcvtimeo_us = opt_timeo(fd, SO_RCVTIMEO);
	o->sndtimeo_us = opt_timeo(fd, SO_SNDTIMEO);
}

static uint64_t fdinfo_scm_fds(const struct fd_scan *s)
{
	uint64_t v = 0;

	return s->fdinfo && procfs_field_u64(s->fdinfo, "scm_fds", 10, &v) == 0 ? v : 0;
}

/* What the socket itself says, through a copy of the descriptor (the peer's name,
 * kept if sock_diag finds it connected). What it is (inside or leading outside) is
 * decided once every descriptor is known. */
static int unix_collect(struct dump_ctx *c, const struct fd_scan *s, struct file_img *f,
			struct err *err)
{
	struct unix_data *ud = unix_data_new(f);
	int cp;

	if (!ud)
		return err_set(err, -ENOMEM, "out of memory");
	ud->scm_fds = fdinfo_scm_fds(s);
	cp = (int)syscall(SYS_pidfd_getfd, c->pidfd, s->fd, 0);
	if (cp < 0)
		return err_sys(err, "pid %d: cannot take a copy of descriptor %d", c->p->pid,
			       s->fd);
	get_name(cp, false, &ud->name);
	ud->peer_named = get_name(cp, true, &ud->peer_name);
	get_opts(cp, &ud->opt);
	close(cp);
	return 0;
}

/* What the settle step looks sockets up in, each sorted (unix_key). */
struct settle {
	struct model *m;
	struct unix_key *socks; /* every unix socket: (inode, -) */
	uint32_t nsocks;
	struct unix_key *waiting; /* connections waiting: (inode, listener's index) */
	uint32_t nwaiting;
	struct unix_key *bound; /* sockets with a file: (its dev, its inode) */
	uint32_t nbound;
	uint32_t *listeners; /* listening sockets' indices, in the model's order */
	uint32_t nlisteners;
};

static void settle_fini(struct settle *t)
{
	free(t->socks);
	free(t->waiting);
	free(t->bound);
	free(t->listeners);
}

/* What sock_diag says of socket f: from the dump, or asked alone if the dump missed
 * it. One it does not know is of another network namespace. */
static int fill_diag(struct dump_all *all, const struct unix_dump *dump, struct file_img *f,
		     struct err *err)
{
	struct unix_data *ud = f->kd;
	uint32_t *icons = NULL, n = 0;
	struct unix_info ui;
	int rc = sockdiag_unix_lookup(dump, f->ino, &ui);

	if (rc == -ENOENT)
		rc = sockdiag_unix(f->ino, &ui);
	if (rc == -ENOENT && fdkind_dump_ctx(all, f)) {
		char link[64];

		snprintf(link, sizeof(link), "socket:[%llu]", (unsigned long long)f->ino);
		return fdkind_unsupported(fdkind_dump_ctx(all, f), f->dump_fd, "socket", link, err);
	}
	if (rc < 0)
		return err_code(err, rc, "pid %d: cannot inspect the unix socket of descriptor %d",
				f->dump_pid, f->dump_fd);
	ud->type = ui.type;
	ud->diag_state = ui.state;
	ud->peer = ui.peer;
	ud->shutdown = ui.shutdown & 3;
	ud->wqueue = ui.wqueue;
	ud->has_rqlen = ui.has_rqlen;
	ud->rqueue = ui.rqueue;
	ud->has_vfs = ui.has_vfs;
	ud->vfs_ino = ui.vfs_ino;
	ud->vfs_dev = ui.vfs_dev;
	if (ui.state != TCP_ESTABLISHED) {
		ud->peer_named = false;
		memset(&ud->peer_name, 0, sizeof(ud->peer_name));
	}
	if (ui.state != TCP_LISTEN)
		return 0;
	ud->backlog = ui.wqueue;
	rc = sockdiag_unix_icons(f->ino, &icons, &n);
	if (rc < 0)
		return err_code(err, rc,
				"pid %d: cannot list the connections waiting on descriptor %d",
				f->dump_pid, f->dump_fd);
	ud->pending = calloc(n ? n : 1, sizeof(*ud->pending));
	if (!ud->pending) {
		free(icons);
		return err_set(err, -ENOMEM, "out of memory");
	}
	for (uint32_t i = 0; i < n; i++)
		ud->pending[i] = icons[i];
	ud->npending = n;
	free(icons);
	return 0;
}

/* Every socket's sock_diag answer from one dump, then the keys to find them by. */
static int settle_init(struct dump_all *all, struct settle *t, struct err *err)
{
	struct model *m = all->m;
	struct unix_dump *dump = NULL;
	uint32_t nwait = 0;
	int rc = sockdiag_unix_dump(&dump);

	memset(t, 0, sizeof(*t));
	t->m = m;
	if (rc < 0)
		return err_code(err, rc, "cannot list the unix sockets (sock_diag)");
	for (uint32_t i = 0; rc == 0 && i < m->nfiles; i++) {
		const struct unix_data *ud = m->files[i].kd;

		if (m->files[i].kind == FILE_UNIX && !ud->settled)
			rc = fill_diag(all, dump, &m->files[i], err);
	}
	sockdiag_unix_dump_free(dump);
	if (rc < 0)
		return rc;
	for (uint32_t i = 0; i < m->nfiles; i++) {
		const struct unix_data *ud = m->files[i].kd;

		if (m->files[i].kind == FILE_UNIX && ud && ud->diag_state == TCP_LISTEN)
			nwait += ud->npending;
	}
	t->socks = index_sockets(m, &t->nsocks);
	t->waiting = malloc(((size_t)nwait + 1) * sizeof(*t->waiting));
	t->bound = malloc(((size_t)t->nsocks + 1) * sizeof(*t->bound));
	t->listeners = malloc(((size_t)t->nsocks + 1) * sizeof(*t->listeners));
	if (!t->socks || !t->waiting || !t->bound || !t->listeners)
		return err_set(err, -ENOMEM, "out of memory");
	for (uint32_t k = 0; k < t->nsocks; k++) {
		uint32_t i = t->socks[k].at;
		const struct unix_data *ud = m->files[i].kd;

		if (ud->has_vfs)
			t->bound[t->nbound++] = (struct unix_key){ud->vfs_dev, ud->vfs_ino, i};
		for (uint32_t j = 0; ud->diag_state == TCP_LISTEN && j < ud->npending; j++)
			t->waiting[t->nwaiting++] = (struct unix_key){ud->pending[j], i, i};
	}
	unix_keys_sort(t->waiting, t->nwaiting);
	unix_keys_sort(t->bound, t->nbound);
	return 0;
}

/* Is the socket ino waiting to be accepted by a listener of the checkpoint? Returns
 * that listener's inode (the first listener's, in the model's order), or 0. */
static uint64_t waits_on(const struct settle *t, uint64_t ino)
{
	uint32_t k = unix_key_first(t->waiting, t->nwaiting, ino, 0);

	return k < t->nwaiting && t->waiting[k].a == ino ? t->m->files[t->waiting[k].at].ino : 0;
}

/* What each socket is. One connected to a socket outside, or waiting at a listener
 * outside, leads outside; so, then, does one connected to it. */
static int classify(struct settle *t, struct err *err)
{
	struct model *m = t->m;
	bool again = true;

	for (uint32_t i = 0; i < m->nfiles; i++) {
		struct file_img *f = &m->files[i];
		struct unix_data *ud = f->kd;

		if (f->kind != FILE_UNIX || ud->settled)
			continue;
		if (ud->diag_state == TCP_LISTEN) {
			ud->state = US_LISTENING;
		} else if (ud->diag_state != TCP_ESTABLISHED) {
			ud->state = US_UNCONNECTED;
			ud->peer = 0;
		} else if (ud->peer) {
			ud->state = US_CONNECTED;
		} else if ((ud->listener = waits_on(t, f->ino))) {
			ud->state = US_PENDING;
		} else if (ud->type == SOCK_DGRAM && !ud->peer_named) {
			/* Another connected to it: that makes it "established" too. */
			ud->state = US_UNCONNECTED;
		} else if (ud->type == SOCK_DGRAM || ud->shutdown == 3) {
			/* The peer closed: shut down both ways (stream), or the next send
			 * fails (datagram). */
			ud->state = US_PEER_GONE;
		} else if (fd_external_mark(f, EXT_SOCKET) < 0) {
			/* Waiting at a listener outside the checkpoint. */
			return err_set(err, -ENOMEM, "out of memory");
		}
	}
	while (again) {
		again = false;
		for (uint32_t i = 0; i < m->nfiles; i++) {
			struct file_img *f = &m->files[i];
			struct unix_data *ud = f->kd;

			if (f->kind != FILE_UNIX || ud->settled || ud->state != US_CONNECTED ||
			    find_in(m, t->socks, t->nsocks, ud->peer))
				continue;
			if (fd_external_mark(f, EXT_SOCKET) < 0)
				return err_set(err, -ENOMEM, "out of memory");
			again = true;
		}
	}
	return 0;
}

/* A listener's waiting connections whose client is not in the checkpoint come back
 * with their client gone; an accepted socket comes back through the listener it was
 * accepted from, when that is in the checkpoint. */
static void link_listeners(struct settle *t)
{
	struct model *m = t->m;

	for (uint32_t i = 0; i < m->nfiles; i++) {
		const struct file_img *g = &m->files[i];

		if (g->kind == FILE_UNIX &&
		    ((const struct unix_data *)g->kd)->state == US_LISTENING)
			t->listeners[t->nlisteners++] = i;
	}
	for (uint32_t i = 0; i < m->nfiles; i++) {
		struct file_img *f = &m->files[i];
		struct unix_data *ud = f->kd;

		if (f->kind != FILE_UNIX || ud->settled)
			continue;
		for (uint32_t k = 0; k < ud->npending; k++) {
			const struct unix_data *cd = ud_in(m, t->socks, t->nsocks, ud->pending[k]);

			if (ud->pending[k] && (!cd || cd->state != US_PENDING)) {
				kmsg_add(
				    KMSG_WARN,
				    "pid %d: a connection to the unix socket of inode %llu, not "
				    "yet accepted, comes from outside the checkpoint: it comes "
				    "back with its client gone",
				    f->dump_pid, (unsigned long long)f->ino);
				ud->pending[k] = 0;
			}
		}
		if ((ud->state != US_CONNECTED && ud->state != US_PEER_GONE) ||
		    ud->type == SOCK_DGRAM || !ud->name.len)
			continue;
		for (uint32_t k = 0; k < t->nlisteners; k++) {
			const struct file_img *g = &m->files[t->listeners[k]];
			const struct unix_data *gd = g->kd;

			if (gd->type != ud->type || !same_name(&gd->name, &ud->name))
				continue;
			if (UNIX_PATH_NAME(&ud->name) &&
			    (!ud->has_vfs || gd->vfs_ino != ud->vfs_ino ||
			     gd->vfs_dev != ud->vfs_dev))
				continue;
			ud->listener = g->ino;
			break;
		}
	}
}

/* Does the socket get its name back by binding it (not through its listener)? */
static bool binds_name(const struct unix_data *ud)
{
	if (!ud->name.len)
		return false;
	return !((ud->state == US_CONNECTED || ud->state == US_PEER_GONE) && ud->listener);
}

/* Is the file of this path name the socket's own, and where is it? */
static int locate_file(const struct settle *t, const struct file_img *f, struct unix_data *ud,
		       struct err *err)
{
	const struct model *m = t->m;
	pid_t pid = f->dump_pid;
	char path[64 + UNIX_NAME_MAX + 1], cwd[MODEL_MAX_PATH];
	const char *name = (const char *)ud->name.b;
	struct stat st;

	if (ud->name.b[ud->name.len - 1] != '\0')
		return err_set(err, -EINVAL,
			       "pid %d: unix socket of inode %llu has a path name "
			       "without its end",
			       pid, (unsigned long long)f->ino);
	if (name[0] != '/') {
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/%d/cwd", pid);
		n = readlink(path, cwd, sizeof(cwd) - 1);
		if (n <= 0)
			return err_sys(err, "pid %d: cannot read its working directory", pid);
		cwd[n] = '\0';
		ud->dir = strdup(cwd);
		if (!ud->dir)
			return err_set(err, -ENOMEM, "out of memory");
		snprintf(path, sizeof(path), "/proc/%d/cwd/%s", pid, name);
	} else {
		snprintf(path, sizeof(path), "/proc/%d/root%s", pid, name);
	}
	if (!ud->has_vfs || stat(path, &st) < 0 || !S_ISSOCK(st.st_mode) ||
	    st.st_ino != ud->vfs_ino || st.st_dev != ud->vfs_dev) {
		log_debug("pid %d: the file of unix socket '%s' is gone; only its name comes back",
			  pid, name);
		return 0;
	}
	/* One socket makes the file again; a listener first. */
	for (uint32_t k = unix_key_first(t->bound, t->nbound, ud->vfs_dev, ud->vfs_ino);
	     k < t->nbound && t->bound[k].a == ud->vfs_dev && t->bound[k].b == ud->vfs_ino; k++) {
		const struct unix_data *gd = m->files[t->bound[k].at].kd;

		if (m->files[t->bound[k].at].kind == FILE_UNIX && gd != ud && gd->name_file)
			return 0;
	}
	ud->name_file = 1;
	ud->file_mode = st.st_mode & 07777;
	ud->file_uid = st.st_uid;
	ud->file_gid = st.st_gid;
	return 0;
}

static int locate_files(const struct settle *t, struct err *err)
{
	const struct model *m = t->m;

	for (int pass = 0; pass < 2; pass++)
		for (uint32_t i = 0; i < m->nfiles; i++) {
			struct file_img *f = &m->files[i];
			struct unix_data *ud = f->kd;

			if (f->kind != FILE_UNIX || ud->settled || !binds_name(ud) ||
			    !UNIX_PATH_NAME(&ud->name) ||
			    (ud->state == US_LISTENING) != (pass == 0))
				continue;
			if (locate_file(t, f, ud, err) < 0)
				return err->code;
		}
	return 0;
}

static int add_msg(struct unix_data *ud, const uint8_t *p, uint32_t n, bool more,
		   const struct sockaddr_un *from, socklen_t fromlen)
{
	struct unix_msg *mg;

	if (!more) {
		if (ud->nmsgs >= MAX_UNIX_MSGS)
			return -E2BIG;
		mg = model_grow((void **)&ud->msgs, &ud->nmsgs, sizeof(*mg));
		if (!mg)
			return -ENOMEM;
		if (fromlen > offsetof(struct sockaddr_un, sun_path) && fromlen <= sizeof(*from)) {
			mg->from.len = fromlen - (socklen_t)offsetof(struct sockaddr_un, sun_path);
			memcpy(mg->from.b, from->sun_path, mg->from.len);
		}
	} else {
		mg = &ud->msgs[ud->nmsgs - 1];
	}
	if (!n)
		return 0;
	if (mg->len + (uint64_t)n > MAX_UNIX_DATA)
		return -E2BIG;
	{
		uint8_t *d = realloc(mg->data, (size_t)mg->len + n);

		if (!d)
			return -ENOMEM;
		mg->data = d;
	}
	memcpy(mg->data + mg->len, p, n);
	mg->len += n;
	return 0;
}

/* A stream's bytes in one MSG_PEEK, from the start (no peek offset): it reads on
 * across the buffers but stops at out-of-band data, which then shows as bytes
 * missing. */
static int peek_stream(int fd, struct unix_data *ud, bool *ctrunc)
{
	int off = -1, rc = 0;
	uint8_t *buf;
	ssize_t n;

	if (!ud->rqueue)
		return 0;
	if (ud->rqueue > MAX_UNIX_DATA)
		return -E2BIG;
	buf = malloc((size_t)ud->rqueue + 1);
	if (!buf)
		return -ENOMEM;
	if (ud->opt.peek_off >= 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &off, sizeof(off)) < 0) {
		free(buf);
		return -errno;
	}
	{
		struct iovec iov = {buf, (size_t)ud->rqueue + 1};
		struct msghdr mh = {NULL, 0, &iov, 1, NULL, 0, 0};

		n = recvmsg(fd, &mh, MSG_PEEK | MSG_DONTWAIT);
		*ctrunc |= (mh.msg_flags & MSG_CTRUNC) != 0;
	}
	if (n < 0 && errno != EAGAIN)
		rc = -errno;
	else if (n > 0)
		rc = add_msg(ud, buf, (uint32_t)n, false, NULL, 0);
	if (ud->opt.peek_off >= 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &ud->opt.peek_off, sizeof(ud->opt.peek_off)) <
		0 &&
	    rc == 0)
		rc = -errno;
	free(buf);
	return rc;
}

/* A zero-length message at the head of the queue, which a peek from offset 0 passes
 * over once any peek has seen it: a peek without offset sees it always (and marks it
 * seen, so the peeks that follow pass over it). */
static int peek_head(int fd, struct unix_data *ud, bool *ctrunc)
{
	int off = -1;
	uint8_t b;
	struct sockaddr_un from;
	struct iovec iov = {&b, 1};
	struct msghdr mh = {&from, sizeof(from), &iov, 1, NULL, 0, 0};
	ssize_t n;

	/* Shut down, an empty seqpacket read is also its end. */
	if (ud->type == SOCK_SEQPACKET && (ud->shutdown & 1))
		return 0;
	if (setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &off, sizeof(off)) < 0)
		return -errno;
	n = recvmsg(fd, &mh, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	*ctrunc |= (mh.msg_flags & MSG_CTRUNC) != 0;
	if (n > 0 || (mh.msg_flags & MSG_TRUNC))
		return 0;
	return add_msg(ud, NULL, 0, false, &from, ud->type == SOCK_DGRAM ? mh.msg_namelen : 0);
}

/* Datagrams and records, without taking them: MSG_PEEK from a peek offset of 0 that
 * moves on with each read. One longer than the buffer comes in pieces, each but the
 * last marked MSG_TRUNC; a zero-length one comes once. The socket's own peek offset
 * is put back. */
static int peek_all(int fd, struct unix_data *ud, bool *ctrunc)
{
	uint8_t *buf = malloc(PEEK_CHUNK);
	bool more = false;
	uint64_t total = 0;
	int zero = 0, rc = 0;

	if (!buf)
		return -ENOMEM;
	rc = peek_head(fd, ud, ctrunc);
	if (rc == 0 && setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof(zero)) < 0)
		rc = -errno;
	for (; rc == 0;) {
		struct sockaddr_un from;
		struct iovec iov = {buf, PEEK_CHUNK};
		struct msghdr mh = {&from, sizeof(from), &iov, 1, NULL, 0, 0};
		ssize_t n = recvmsg(fd, &mh, MSG_PEEK | MSG_DONTWAIT);

		if (n < 0) {
			rc = errno == EAGAIN ? 0 : -errno;
			break;
		}
		/* An empty seqpacket read after the last byte may be its end (shut
		 * down), and is taken as such. */
		if (n == 0 && !more && ud->type == SOCK_SEQPACKET && (ud->shutdown & 1) &&
		    total >= ud->rqueue)
			break;
		*ctrunc |= (mh.msg_flags & MSG_CTRUNC) != 0;
		rc = add_msg(ud, buf, (uint32_t)n, more, &from,
			     ud->type == SOCK_DGRAM ? mh.msg_namelen : 0);
		if (rc < 0)
			break;
		total += (uint64_t)n;
		more = (mh.msg_flags & MSG_TRUNC) != 0;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &ud->opt.peek_off, sizeof(ud->opt.peek_off)) <
		0 &&
	    rc == 0)
		rc = -errno;
	free(buf);
	return rc;
}

static uint64_t queued_bytes(const struct unix_data *ud)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < ud->nmsgs; i++)
		n += ud->msgs[i].len;
	return n;
}

/* Save what socket f holds, or refuse what cannot be saved. */
static int save_queue(struct dump_all *all, struct file_img *f, struct err *err)
{
	struct dump_ctx *c = fdkind_dump_ctx(all, f);
	struct unix_data *ud = f->kd;
	bool ctrunc = false;
	char link[64];
	int cp, rc;

	snprintf(link, sizeof(link), "socket:[%llu]", (unsigned long long)f->ino);
	if (!c)
		return err_set(err, -ESRCH, "unix socket of inode %llu: its process is not known",
			       (unsigned long long)f->ino);
	if (ud->scm_fds)
		return fdkind_unsupported(c, f->dump_fd,
					  "unix socket holding descriptors in flight (SCM_RIGHTS)",
					  link, err);
	if (ud->state == US_PENDING && ud->wqueue)
		return fdkind_unsupported(c, f->dump_fd,
					  "unix socket not yet accepted by its listener, with data "
					  "sent",
					  link, err);
	if (ud->state == US_LISTENING)
		return 0;
	cp = fdkind_copy_fd(all, f);
	if (cp < 0)
		return err_code(err, cp, "pid %d: cannot take a copy of descriptor %d", f->dump_pid,
				f->dump_fd);
	rc = ud->type == SOCK_STREAM ? peek_stream(cp, ud, &ctrunc) : peek_all(cp, ud, &ctrunc);
	close(cp);
	if (rc == -ENOMEM)
		return err_set(err, -ENOMEM, "out of memory");
	if (rc == -E2BIG)
		return fdkind_unsupported(c, f->dump_fd,
					  "unix socket holding more than 1 GiB or 2^20 messages",
					  link, err);
	if (rc < 0)
		return err_code(err, rc,
				"pid %d: cannot read what the unix socket of descriptor "
				"%d holds",
				f->dump_pid, f->dump_fd);
	if (ud->nmsgs && (ud->opt.passcred || ud->opt.passpidfd))
		return fdkind_unsupported(c, f->dump_fd,
					  "unix socket receiving credentials (SO_PASSCRED) and "
					  "holding messages",
					  link, err);
	if (ctrunc)
		return fdkind_unsupported(c, f->dump_fd, "unix socket holding control messages",
					  link, err);
	if (ud->type != SOCK_DGRAM && ud->has_rqlen && queued_bytes(ud) != ud->rqueue)
		return fdkind_unsupported(c, f->dump_fd,
					  ud->type == SOCK_STREAM
					      ? "unix stream socket holding out-of-band data"
					      : "unix seqpacket socket whose queue changed",
					  link, err);
	return 0;
}

/* Once every process is collected: what sock_diag says of every socket, from one
 * dump (asked socket by socket, each question walks all the sockets of the system);
 * peers are matched by inode across processes. */
static int unix_settle(struct dump_all *all, struct err *err)
{
	struct model *m = all->m;
	struct settle t;
	uint32_t nunix = 0;
	int rc;

	for (uint32_t i = 0; i < m->nfiles; i++)
		nunix += m->files[i].kind == FILE_UNIX;
	if (!nunix)
		return 0; /* no socket here: the machine's are not listed */
	rc = settle_init(all, &t, err);

	if (rc == 0)
		rc = classify(&t, err);
	if (rc == 0) {
		link_listeners(&t);
		rc = locate_files(&t, err);
	}
	for (uint32_t i = 0; rc == 0 && i < m->nfiles; i++) {
		struct file_img *f = &m->files[i];
		struct unix_data *ud = f->kd;

		if (f->kind != FILE_UNIX || ud->settled)
			continue;
		rc = save_queue(all, f, err);
		if (rc == 0)
			ud->settled = true;
	}
	settle_fini(&t);
	return rc < 0 ? rc : 0;
}

static void put_name(struct buf *b, const struct unix_name *n)
{
	put_blob(b, n->b, n->len);
}

static void unix_encode(const struct file_img *f, struct buf *b)
{
	const struct unix_data *ud = f->kd;
	const struct unix_opts *o = &ud->opt;

	put_u32(b, ud->type);
	put_u32(b, ud->state);
	put_u64(b, ud->peer);
	put_u64(b, ud->listener);
	put_name(b, &ud->name);
	put_name(b, &ud->peer_name);
	put_u32(b, ud->name_file);
	put_str(b, ud->dir);
	put_u32(b, ud->file_mode);
	put_u32(b, ud->file_uid);
	put_u32(b, ud->file_gid);
	put_u32(b, ud->backlog);
	put_u32(b, ud->npending);
	for (uint32_t i = 0; i < ud->npending; i++)
		put_u64(b, ud->pending[i]);
	put_u32(b, ud->shutdown);
	put_i32(b, o->rcvbuf);
	put_i32(b, o->sndbuf);
	put_i32(b, o->passcred);
	put_i32(b, o->passsec);
	put_i32(b, o->passpidfd);
	put_i32(b, o->peek_off);
	put_i32(b, o->rcvlowat);
	put_i64(b, o->rcvtimeo_us);
	put_i64(b, o->sndtimeo_us);
	put_u32(b, ud->nmsgs);
	for (uint32_t i = 0; i < ud->nmsgs; i++) {
		put_blob(b, ud->msgs[i].data, ud->msgs[i].len);
		put_name(b, &ud->msgs[i].from);
	}
}

/* ---- reading ---- */

static void get_name_blob(struct wire_rd *rd, struct unix_name *n)
{
	const void *p = get_blob(rd, UNIX_NAME_MAX, &n->len);

	if (rd->bad)
		n->len = 0;
	else if (n->len)
		memcpy(n->b, p, n->len);
}

static void check_name(struct wire_rd *rd, const struct unix_name *n)
{
	/* A path name ends with its only NUL. */
	if (UNIX_PATH_NAME(n) && (n->b[n->len - 1] != '\0' || memchr(n->b, 0, n->len - 1)))
		wr_fail(rd, "malformed unix socket name");
}

static int decode_msgs(struct unix_data *ud, struct wire_rd *rd)
{
	uint64_t total = 0;
	uint32_t n = get_count(rd, 8, MAX_UNIX_MSGS);

	if (rd->bad)
		return 0;
	ud->msgs = calloc(n ? n : 1, sizeof(*ud->msgs));
	if (!ud->msgs)
		return -ENOMEM;
	for (uint32_t i = 0; i < n && !rd->bad; i++) {
		struct unix_msg *mg = &ud->msgs[i];
		const void *p = get_blob(rd, MAX_UNIX_DATA, &mg->len);

		get_name_blob(rd, &mg->from);
		check_name(rd, &mg->from);
		if (rd->bad)
			break;
		ud->nmsgs = i + 1;
		total += mg->len;
		if (total > MAX_UNIX_DATA)
			wr_fail(rd, "more queued data than a unix socket may hold");
		else if (mg->from.len && ud->type != SOCK_DGRAM)
			wr_fail(rd, "a sender's name on a message that is not a datagram");
		if (rd->bad || !mg->len)
			continue;
		mg->data = malloc(mg->len);
		if (!mg->data) {
			mg->len = 0;
			return -ENOMEM;
		}
		memcpy(mg->data, p, mg->len);
	}
	if (!rd->bad && n && ud->state == US_LISTENING)
		wr_fail(rd, "data queued on a listening socket");
	return 0;
}

static void check_fields(const struct file_img *f, struct unix_data *ud, struct wire_rd *rd)
{
	const struct unix_opts *o = &ud->opt;
	bool path = UNIX_PATH_NAME(&ud->name);

	if (ud->type != SOCK_STREAM && ud->type != SOCK_DGRAM && ud->type != SOCK_SEQPACKET)
		wr_fail(rd, "unknown unix socket type");
	else if (ud->state < US_UNCONNECTED || ud->state > US_MAX)
		wr_fail(rd, "unknown unix socket state");
	else if (!S_ISSOCK(f->mode))
		wr_fail(rd, "file type does not match its kind");
	else if (f->flags & ~(uint32_t)(O_ACCMODE | O_NONBLOCK | O_APPEND))
		wr_fail(rd, "open flags a socket does not have");
	else if ((ud->state == US_LISTENING || ud->state == US_PENDING) && ud->type == SOCK_DGRAM)
		wr_fail(rd, "a datagram socket listening or waiting to be accepted");
	else if ((ud->state == US_CONNECTED) != (ud->peer != 0))
		wr_fail(rd, "a unix socket's peer does not fit its state");
	else if (ud->listener && ud->state != US_PENDING && ud->state != US_CONNECTED &&
		 ud->state != US_PEER_GONE)
		wr_fail(rd, "a listener given to a unix socket that has none");
	else if (ud->state == US_PENDING && !ud->listener)
		wr_fail(rd, "a unix socket waiting to be accepted by no listener");
	else if (ud->state == US_LISTENING && !ud->name.len)
		wr_fail(rd, "a listening unix socket without a name");
	else if (ud->name_file > 1 || (ud->name_file && !path))
		wr_fail(rd, "a socket file for a name that is no path");
	else if (ud->dir && !(path && ud->name.b[0] != '/'))
		wr_fail(rd, "a directory for a name that is not a relative path");
	else if (ud->dir && ud->dir[0] != '/')
		wr_fail(rd, "a relative unix socket's directory is not absolute");
	else if (ud->file_mode > 07777)
		wr_fail(rd, "impossible socket file mode");
	else if (ud->npending && ud->state != US_LISTENING)
		wr_fail(rd, "waiting connections on a socket that does not listen");
	else if (ud->shutdown > 3)
		wr_fail(rd, "unknown shutdown state");
	else if (o->rcvbuf < 0 || o->sndbuf < 0 || o->passcred > 1 || o->passcred < 0 ||
		 o->passsec > 1 || o->passsec < 0 || o->passpidfd > 1 || o->passpidfd < 0 ||
		 o->peek_off < -1 || o->rcvlowat < 0 || o->rcvtimeo_us < 0 || o->sndtimeo_us < 0)
		wr_fail(rd, "impossible unix socket options");
}

static int unix_decode(struct file_img *f, struct wire_rd *rd, struct err *err)
{
	struct unix_data *ud = unix_data_new(f);
	struct unix_opts *o;

	if (!ud)
		return err_set(err, -ENOMEM, "out of memory");
	o = &ud->opt;
	ud->type = get_u32(rd);
	ud->state = get_u32(rd);
	ud->peer = get_u64(rd);
	ud->listener = get_u64(rd);
	get_name_blob(rd, &ud->name);
	get_name_blob(rd, &ud->peer_name);
	check_name(rd, &ud->name);
	check_name(rd, &ud->peer_name);
	ud->name_file = get_u32(rd);
	ud->dir = get_str(rd, MODEL_MAX_PATH);
	ud->file_mode = get_u32(rd);
	ud->file_uid = get_u32(rd);
	ud->file_gid = get_u32(rd);
	ud->backlog = get_u32(rd);
	ud->npending = get_count(rd, 8, MAX_PENDING);
	if (rd->bad)
		return 0;
	ud->pending = calloc(ud->npending ? ud->npending : 1, sizeof(*ud->pending));
	if (!ud->pending)
		return err_set(err, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < ud->npending; i++)
		ud->pending[i] = get_u64(rd);
	ud->shutdown = get_u32(rd);
	o->rcvbuf = get_i32(rd);
	o->sndbuf = get_i32(rd);
	o->passcred = get_i32(rd);
	o->passsec = get_i32(rd);
	o->passpidfd = get_i32(rd);
	o->peek_off = get_i32(rd);
	o->rcvlowat = get_i32(rd);
	o->rcvtimeo_us = get_i64(rd);
	o->sndtimeo_us = get_i64(rd);
	if (rd->bad)
		return 0;
	check_fields(f, ud, rd);
	if (rd->bad)
		return 0;
	if (decode_msgs(ud, rd) < 0)
		return err_set(err, -ENOMEM, "out of memory");
	ud->settled = true;
	return 0;
}

static int bad(const struct file_img *f, const char *why, struct err *err)
{
	return err_set(err, -EINVAL, "file %u (unix socket of inode %llu): %s", f->id,
		       (unsigned long long)f->ino, why);
}

static int cmp_u64(const void *pa, const void *pb)
{
	uint64_t a = *(const uint64_t *)pa, b = *(const uint64_t *)pb;

	return a < b ? -1 : a > b;
}

/* No connection (but those gone, 0) is listed twice by the listener f. */
static int check_twice(const struct file_img *f, struct err *err)
{
	const struct unix_data *ud = f->kd;
	uint64_t *v = malloc((size_t)ud->npending * sizeof(*v));
	bool twice = false;

	if (!v)
		return err_set(err, -ENOMEM, "out of memory");
	memcpy(v, ud->pending, (size_t)ud->npending * sizeof(*v));
	qsort(v, ud->npending, sizeof(*v), cmp_u64);
	for (uint32_t k = 1; k < ud->npending && !twice; k++)
		twice = v[k] && v[k] == v[k - 1];
	free(v);
	return twice ? bad(f, "a connection listed twice", err) : 0;
}

/* Socket f refers to the others consistently. */
static int check_one(const struct model *m, const struct unix_key *ix, uint32_t n,
		     const struct file_img *f, struct err *err)
{
	const struct unix_data *ud = f->kd;
	const struct unix_data *pd = ud_in(m, ix, n, ud->peer), *ld = ud_in(m, ix, n, ud->listener);

	if (find_in(m, ix, n, f->ino) != f)
		return bad(f, "a second file for the same socket", err);
	if (ud->state == US_CONNECTED) {
		if (!pd || pd->type != ud->type)
			return bad(f, "its peer is not a socket of its type in the context", err);
		if (ud->type != SOCK_DGRAM && (pd->state != US_CONNECTED || pd->peer != f->ino))
			return bad(f, "its peer is not connected to it", err);
	}
	if (ud->listener && (!ld || ld->state != US_LISTENING || ld->type != ud->type))
		return bad(f, "its listener is not a listening socket of its type", err);
	if (ud->state == US_PENDING) {
		uint32_t k;

		for (k = 0; k < ld->npending && ld->pending[k] != f->ino; k++)
			;
		if (k == ld->npending)
			return bad(f, "its listener does not list it", err);
	}
	for (uint32_t k = 0; k < ud->npending; k++) {
		const struct unix_data *cd = ud_in(m, ix, n, ud->pending[k]);

		if (ud->pending[k] && (!cd || cd->state != US_PENDING || cd->listener != f->ino))
			return bad(f, "a connection it lists does not wait on it", err);
	}
	return ud->npending > 1 ? check_twice(f, err) : 0;
}

/* The sockets of the checkpoint refer to each other consistently: all of them at
 * once, the first time one is asked about (each with the others found by halves). */
static int unix_check(const struct model *m, const struct file_img *f, struct err *err)
{
	struct unix_data *ud = f->kd;
	struct unix_key *ix;
	uint32_t n;
	int rc = 0;

	if (ud->checked)
		return 0;
	ix = index_sockets(m, &n);
	if (!ix)
		return err_set(err, -ENOMEM, "out of memory");
	for (uint32_t k = 0; k < n && rc == 0; k++)
		rc = check_one(m, ix, n, &m->files[ix[k].at], err);
	for (uint32_t k = 0; k < n && rc == 0; k++)
		((struct unix_data *)m->files[ix[k].at].kd)->checked = true;
	free(ix);
	return rc;
}

/* ---- cr_info ---- */

static const char *const state_names[] = {
    [US_UNCONNECTED] = "unconnected",  [US_LISTENING] = "listening",
    [US_CONNECTED] = "connected",      [US_PEER_GONE] = "peer-closed",
    [US_PENDING] = "not-yet-accepted",
};

/* A name as text: a path as it is, an abstract name with '@' for its 0 byte. */
static void name_text(const struct unix_name *n, char *s, size_t cap)
{
	size_t k = 0;

	for (uint32_t i = 0; i < n->len && k + 4 < cap; i++) {
		uint8_t ch = n->b[i];

		if (i == 0 && ch == 0)
			s[k++] = '@';
		else if (ch == 0 && i == n->len - 1)
			break;
		else if (ch >= 0x20 && ch < 0x7f && ch != '\\')
			s[k++] = (char)ch;
		else
			k += (size_t)snprintf(s + k, cap - k, "\\%03o", ch);
	}
	s[k] = '\0';
}

static void unix_describe(const struct file_img *f, struct out *o)
{
	const struct unix_data *ud = f->kd;
	char name[4 * UNIX_NAME_MAX + 8];

	out_str(o, "type",
		ud->type == SOCK_STREAM  ? "stream"
		: ud->type == SOCK_DGRAM ? "datagram"
					 : "seqpacket");
	out_str(o, "state", state_names[ud->state]);
	out_u64(o, "socket", f->ino);
	if (ud->name.len) {
		name_text(&ud->name, name, sizeof(name));
		out_str(o, "name", name);
		if (ud->dir)
			out_str(o, "relative_to", ud->dir);
		if (ud->name_file)
			out_hex(o, "file_mode", ud->file_mode);
	}
	if (ud->peer)
		out_u64(o, "peer", ud->peer);
	if (ud->listener)
		out_u64(o, "listener", ud->listener);
	if (ud->state == US_LISTENING) {
		out_u64(o, "backlog", ud->backlog);
		out_u64(o, "waiting", ud->npending);
	}
	if (ud->shutdown)
		out_str(o, "shut_down",
			ud->shutdown == 3   ? "both"
			: ud->shutdown == 1 ? "read"
					    : "write");
	out_u64(o, "queued_messages", ud->nmsgs);
	out_u64(o, "queued_bytes", queued_bytes(ud));
}

const struct fd_kind fd_unix_kind = {
    .kind = FILE_UNIX,
    .name = "unix",
    .claim = unix_claim,
    .collect = unix_collect,
    .settle = unix_settle,
    .encode = unix_encode,
    .decode = unix_decode,
    .check = unix_check,
    .open = unix_open,
    .cleanup = unix_cleanup,
    .describe = unix_describe,
};
