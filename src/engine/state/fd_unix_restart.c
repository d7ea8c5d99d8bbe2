/* state/fd_unix_restart.c: the unix sockets of a checkpoint made again, all at once,
 * in cr_restart, at the first descriptor that needs one; each socket, being one open
 * file description, is then given itself (not a copy) to the process that has it
 * (fd_unix.c says what is saved).
 *
 * In this order: every socket, named (a path name's stale socket file is removed
 * first, and the new one gets the saved mode and owner); listeners listening;
 * connections made through the listener they were accepted from (connect, then
 * accept at once), or as socketpairs; then, in each listener, the connections not yet
 * accepted, in their order. Then the queues are filled again, each from the socket at
 * the other end (a datagram from a socket bearing its sender's name; for a sender not
 * in the checkpoint, a socket made for it that is given its name and closed, so that
 * no file of it stays); then the options, datagram sockets' connections and each
 * direction's shutdown; last, the ends made only to be a closed peer are closed.
 *
 * A socket that only gets its name back (its file was gone at the checkpoint, or is
 * another socket's) is bound with the path free, and its new file removed: what was
 * at that path is moved aside meanwhile and put back. */
#define LOG_PREFIX "unix: "
#include "fd_unix.h"

#include "../err.h"
#include "../log.h"
#include "../../util/sockdiag.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "../banned.h"

#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76
#endif

/* How long a name may stay taken by a socket whose process is going away. */
#define HOLDER_WAIT_MS 3000

struct made {
	const struct file_img *f;
	const struct unix_data *ud;
	int fd;      /* the socket, in cr_restart, until unix_open() gives it away */
	int partner; /* its peer, made only to be closed once the queues are full */
	bool given;
};

struct unix_rst {
	struct made *s; /* in the model's order */
	uint32_t n;
	struct unix_key *ix; /* s by inode: (inode, -, index into s) */
	/* While they are made: the descriptors of the process being prepared, by file,
	 * for messages: (file id, position, descriptor). */
	struct unix_key *fds;
	uint32_t nfds;
	int sender;     /* unnamed, for datagrams from unnamed sockets gone or outside */
	uint32_t aside; /* names for files moved aside */
	bool built;
};

/* The first descriptor of file id in the process being prepared, or -1. */
static int first_fd(const struct rst_ctx *c, const struct unix_rst *st, uint32_t id)
{
	uint32_t k;

	if (!st->fds)
		return fdkind_first_fd(c->rp->p, id);
	k = unix_key_first(st->fds, st->nfds, id, 0);
	return k < st->nfds && st->fds[k].a == id ? (int)st->fds[k].at : -1;
}

/* "pid P descriptor N", or the inode for a socket of another process. */
static const char *who(struct rst_ctx *c, const struct made *s, char *buf, size_t n)
{
	const struct unix_rst *st = *(struct unix_rst **)fdkind_rst_state(c, FILE_UNIX);
	int fd = st ? first_fd(c, st, s->f->id) : fdkind_first_fd(c->rp->p, s->f->id);

	if (fd >= 0)
		snprintf(buf, n, "pid %d: unix socket of descriptor %d", c->rp->p->pid, fd);
	else
		snprintf(buf, n, "unix socket of inode %llu", (unsigned long long)s->f->ino);
	return buf;
}

#define WHO(s) who(c, (s), whobuf, sizeof(whobuf))

static struct made *find(struct unix_rst *st, uint64_t ino)
{
	uint32_t k = ino ? unix_key_first(st->ix, st->n, ino, 0) : st->n;

	return k < st->n && st->ix[k].a == ino ? &st->s[st->ix[k].at] : NULL;
}

static bool same_name(const struct unix_name *a, const struct unix_name *b)
{
	return a->len == b->len && !memcmp(a->b, b->b, a->len);
}

static socklen_t to_addr(const struct unix_name *n, struct sockaddr_un *a)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	memcpy(a->sun_path, n->b, n->len);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n->len);
}

static int set_int(int fd, int name, int v)
{
	return setsockopt(fd, SOL_SOCKET, name, &v, sizeof(v));
}

static int opt_get(int fd, int name)
{
	int v = 0;
	socklen_t len = sizeof(v);

	return getsockopt(fd, SOL_SOCKET, name, &v, &len) < 0 ? -1 : v;
}

/* Set or cleared: a socket accepted from a listener may have had them from it. */
static int set_pass(int fd, const struct unix_opts *o)
{
	int rc = set_int(fd, SO_PASSCRED, o->passcred) | set_int(fd, SO_PASSSEC, o->passsec);

	if (o->passpidfd || opt_get(fd, SO_PASSPIDFD) > 0)
		rc |= set_int(fd, SO_PASSPIDFD, o->passpidfd);
	return rc;
}

/* ---- names ---- */

/* Where a path name's file is at restart (after --relocate), and the name to bind:
 * the relocated path, or for a relative name the name itself, bound from dir. */
struct where {
	char full[MODEL_MAX_PATH];
	char dir[MODEL_MAX_PATH]; /* "" for an absolute name */
	struct unix_name name;
};

static int place(struct rst_ctx *c, const struct unix_name *n, const char *dir, struct where *w,
		 struct err *err)
{
	char buf[MODEL_MAX_PATH];
	const char *p;

	w->name = *n;
	w->dir[0] = '\0';
	if (!dir) {
		p = rst_path(c, (const char *)n->b, buf, sizeof(buf), err);
		if (!p)
			return err->code;
		if (strlen(p) + 1 > UNIX_NAME_MAX)
			return err_set(err, -ENAMETOOLONG,
				       "unix socket name '%s' is too long once relocated", p);
		snprintf(w->full, sizeof(w->full), "%s", p);
		w->name.len = (uint32_t)strlen(p) + 1;
		memcpy(w->name.b, p, w->name.len);
		return 0;
	}
	p = rst_path(c, dir, buf, sizeof(buf), err);
	if (!p)
		return err->code;
	snprintf(w->dir, sizeof(w->dir), "%s", p);
	if ((size_t)snprintf(w->full, sizeof(w->full), "%s/%s", p, (const char *)n->b) >=
	    sizeof(w->full))
		return err_set(err, -ENAMETOOLONG, "unix socket path '%s/%s' is too long", p,
			       (const char *)n->b);
	return 0;
}

/* bind(), from the directory of a relative name. */
static int bind_in(int fd, const struct where *w)
{
	struct sockaddr_un a;
	socklen_t len = to_addr(&w->name, &a);
	int here = -1, rc;

	if (w->dir[0]) {
		here = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (here < 0 || chdir(w->dir) < 0) {
			rc = -errno;
			if (here >= 0)
				close(here);
			return rc;
		}
	}
	rc = bind(fd, (struct sockaddr *)&a, len) < 0 ? -errno : 0;
	if (here >= 0) {
		if (fchdir(here) < 0 && rc == 0)
			rc = -errno;
		close(here);
	}
	return rc;
}

/* Reaching t by its name from cr_restart: a relative name is reached from its
 * directory, entered here until back(); *here is -1 when there is nothing to undo. */
static int at_dir_of(struct rst_ctx *c, const struct made *t, int *here, struct err *err)
{
	const struct unix_name *n = &t->ud->name;
	char buf[MODEL_MAX_PATH], whobuf[128];
	const char *dir;

	*here = -1;
	if (!UNIX_PATH_NAME(n) || n->b[0] == '/')
		return 0;
	if (!t->ud->dir)
		return err_set(err, -EINVAL, "%s: no directory for its relative name", WHO(t));
	dir = rst_path(c, t->ud->dir, buf, sizeof(buf), err);
	if (!dir)
		return err->code;
	*here = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (*here < 0)
		return err_sys(err, "cannot open the working directory");
	if (chdir(dir) < 0) {
		close(*here);
		*here = -1;
		return err_sys(err, "%s: cannot enter '%s'", WHO(t), dir);
	}
	return 0;
}

static void back(int here)
{
	if (here < 0)
		return;
	if (fchdir(here) < 0)
		log_warn("cannot go back to the working directory: %s", strerror(errno));
	close(here);
}

static int bind_failed(const char *what, const struct where *w, int rc, struct err *err)
{
	if (rc == -ENOENT)
		return err_set(err, -ENOENT,
			       "%s: cannot bind it to '%s': its directory does not exist", what,
			       w->full);
	return err_code(err, rc, "%s: cannot bind it to '%s'", what, w->full);
}

/* The socket's own file: a stale socket file there goes first, as a restarted server
 * would remove it; a live one, or anything else, stays and the restart fails. */
static int bind_own_file(int fd, const struct unix_data *ud, const struct where *w,
			 const char *what, struct err *err)
{
	struct stat st;
	int rc;

	if (lstat(w->full, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return err_set(err, -EEXIST, "%s: '%s' exists and is not a socket", what,
				       w->full);
		/* Its holder may be a process killed just now, about to let it go. */
		for (int waited = 0; (rc = sockdiag_unix_bound_to(st.st_dev, st.st_ino)) > 0 &&
				     waited < HOLDER_WAIT_MS;
		     waited += 5)
			usleep(5000);
		if (rc > 0)
			return err_set(err, -EADDRINUSE,
				       "%s: '%s' is the socket of a running program", what,
				       w->full);
		if (unlink(w->full) < 0 && errno != ENOENT)
			return err_sys(err, "%s: cannot remove the stale socket file '%s'", what,
				       w->full);
	}
	rc = bind_in(fd, w);
	if (rc < 0)
		return bind_failed(what, w, rc, err);
	if (chmod(w->full, ud->file_mode) < 0 || lchown(w->full, ud->file_uid, ud->file_gid) < 0)
		kmsg_add(KMSG_WARN, "%s: cannot give '%s' its mode and owner back: %s", what,
			 w->full, strerror(errno));
	return 0;
}

/* The name without the file: whatever is at the path is moved aside, the socket bound,
 * its file removed, and what was there put back. */
static int bind_name_only(struct unix_rst *st, int fd, const struct where *w, const char *what,
			  struct err *err)
{
	char aside[MODEL_MAX_PATH + 64];
	const char *slash = strrchr(w->full, '/');
	struct stat sb;
	bool moved = false;
	int rc;

	if (lstat(w->full, &sb) == 0) {
		snprintf(aside, sizeof(aside), "%.*s/.crest-aside-%d-%u",
			 (int)(slash ? slash - w->full : 1), slash ? w->full : ".", (int)getpid(),
			 st->aside++);
		if (rename(w->full, aside) < 0)
			return err_sys(err, "%s: cannot free '%s' for a moment", what, w->full);
		moved = true;
	}
	rc = bind_in(fd, w);
	if (rc == 0 && unlink(w->full) < 0)
		rc = -errno;
	if (moved && rename(aside, w->full) < 0) {
		err_sys(err, "%s: cannot put '%s' back from '%s'", what, w->full, aside);
		return err->code;
	}
	return rc < 0 ? bind_failed(what, w, rc, err) : 0;
}

/* Give socket fd the name n: its file too when own_file. */
static int give_name(struct rst_ctx *c, struct unix_rst *st, int fd, const struct unix_data *ud,
		     const struct unix_name *n, bool own_file, const char *what, struct err *err)
{
	struct where w;
	int rc;

	if (!n->len)
		return 0;
	if (!UNIX_PATH_NAME(n)) {
		struct sockaddr_un a;
		socklen_t len = to_addr(n, &a);

		/* Its holder may be a process killed just now, about to let it go. */
		for (int waited = 0; bind(fd, (struct sockaddr *)&a, len) < 0; waited += 5) {
			if (errno != EADDRINUSE || waited >= HOLDER_WAIT_MS)
				return err_sys(err, "%s: cannot bind it to its abstract name",
					       what);
			usleep(5000);
		}
		return 0;
	}
	if (n->b[0] != '/' && !ud->dir)
		return err_set(err, -EINVAL, "%s: no directory for its relative name", what);
	rc = place(c, n, n->b[0] == '/' ? NULL : ud->dir, &w, err);
	if (rc < 0)
		return rc;
	return own_file ? bind_own_file(fd, ud, &w, what, err)
			: bind_name_only(st, fd, &w, what, err);
}

/* Does the socket bind its name itself (not get it through its listener)? */
static bool binds(const struct unix_data *ud)
{
	return ud->name.len &&
	       !((ud->state == US_CONNECTED || ud->state == US_PEER_GONE) && ud->listener);
}

static int name_own(struct rst_ctx *c, struct unix_rst *st, struct made *s, struct err *err)
{
	char whobuf[128];

	if (!binds(s->ud))
		return 0;
	return give_name(c, st, s->fd, s->ud, &s->ud->name, s->ud->name_file, WHO(s), err);
}

/* The peer that closed gets its name back, if it can: getpeername() shows it. */
static int name_partner(struct rst_ctx *c, struct unix_rst *st, struct made *s, struct err *err)
{
	char whobuf[128];
	struct err e = {0};

	if (!s->ud->peer_name.len)
		return 0;
	if (give_name(c, st, s->partner, s->ud, &s->ud->peer_name, false, WHO(s), &e) < 0)
		kmsg_add(KMSG_WARN, "%s: its closed peer's name does not come back: %s", WHO(s),
			 e.msg);
	(void)err;
	return 0;
}

/* ---- making the sockets ---- */

static int sock_new(int type)
{
	return socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
}

static int pair_new(struct rst_ctx *c, struct made *s, int *a, int *b, struct err *err)
{
	char whobuf[128];
	int sv[2];

	if (socketpair(AF_UNIX, (int)s->ud->type | SOCK_CLOEXEC, 0, sv) < 0)
		return err_sys(err, "%s: cannot create a socket pair", WHO(s));
	*a = sv[0];
	*b = sv[1];
	return 0;
}

/* Connect fd to listener l, which must take it at once (its backlog allows it). */
static int connect_to(struct rst_ctx *c, int fd, const struct made *l, struct err *err)
{
	struct sockaddr_un a;
	socklen_t len = sizeof(a);
	char whobuf[128];
	int fl, rc, here;

	if (getsockname(l->fd, (struct sockaddr *)&a, &len) < 0)
		return err_sys(err, "%s: cannot read its name", WHO(l));
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return err_sys(err, "cannot set a socket's flags");
	if (at_dir_of(c, l, &here, err) < 0)
		return err->code;
	rc = connect(fd, (struct sockaddr *)&a, len);
	back(here);
	if (rc < 0)
		return err_sys(err, "%s: cannot connect a socket to it", WHO(l));
	if (fcntl(fd, F_SETFL, fl) < 0)
		return err_sys(err, "cannot set a socket's flags");
	return 0;
}

static int accept_from(struct rst_ctx *c, const struct made *l, struct err *err)
{
	char whobuf[128];
	int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0)
		return err_sys(err, "%s: cannot accept a connection it was given", WHO(l));
	if (fcntl(fd, F_SETFL, 0) < 0) {
		close(fd);
		return err_sys(err, "cannot set a socket's flags");
	}
	return fd;
}

/* Listeners, sockets on their own, and datagram socket pairs. */
static int make_singles(struct rst_ctx *c, struct unix_rst *st, struct err *err)
{
	char whobuf[128];

	for (uint32_t i = 0; i < st->n; i++) {
		struct made *s = &st->s[i], *p = find(st, s->ud->peer);
		const struct unix_data *ud = s->ud;

		if (s->fd >= 0 || (ud->type != SOCK_DGRAM && ud->state != US_LISTENING &&
				   ud->state != US_UNCONNECTED))
			continue;
		if (ud->state == US_CONNECTED && p && p != s && p->ud->state == US_CONNECTED &&
		    p->ud->peer == s->f->ino) {
			if (pair_new(c, s, &s->fd, &p->fd, err) < 0 || name_own(c, st, p, err) < 0)
				return err->code;
		} else if (ud->state == US_PEER_GONE) {
			if (pair_new(c, s, &s->fd, &s->partner, err) < 0 ||
			    name_partner(c, st, s, err) < 0)
				return err->code;
		} else {
			s->fd = sock_new((int)ud->type);
			if (s->fd < 0)
				return err_sys(err, "%s: cannot create a socket", WHO(s));
		}
		if (name_own(c, st, s, err) < 0)
			return err->code;
		if (ud->state == US_LISTENING && listen(s->fd, (int)ud->backlog) < 0)
			return err_sys(err, "%s: cannot listen", WHO(s));
		/* A connection takes these from its listener when it is made. */
		if (ud->state == US_LISTENING && set_pass(s->fd, &ud->opt) < 0)
			return err_sys(err, "%s: cannot set its options", WHO(s));
	}
	return 0;
}

/* A stream or seqpacket connection through a listener: the client connects and the
 * server end is accepted at once. */
static int via_listener(struct rst_ctx *c, struct unix_rst *st, struct made *server, int *client,
			struct err *err)
{
	struct made *l = find(st, server->ud->listener);

	if (connect_to(c, *client, l, err) < 0)
		return err->code;
	server->fd = accept_from(c, l, err);
	return server->fd < 0 ? server->fd : 0;
}

/* Stream and seqpacket connections, accepted or not. */
static int make_connections(struct rst_ctx *c, struct unix_rst *st, struct err *err)
{
	char whobuf[128];

	for (uint32_t i = 0; i < st->n; i++) {
		struct made *s = &st->s[i], *p = find(st, s->ud->peer);
		const struct unix_data *ud = s->ud;

		if (s->fd >= 0 || ud->type == SOCK_DGRAM ||
		    (ud->state != US_CONNECTED && ud->state != US_PEER_GONE))
			continue;
		if (ud->state == US_PEER_GONE) {
			if (ud->listener) {
				s->partner = sock_new((int)ud->type);
				if (s->partner < 0)
					return err_sys(err, "cannot create a socket");
				if (name_partner(c, st, s, err) < 0 ||
				    via_listener(c, st, s, &s->partner, err) < 0)
					return err->code;
			} else if (pair_new(c, s, &s->fd, &s->partner, err) < 0 ||
				   name_partner(c, st, s, err) < 0) {
				return err->code;
			}
		} else if (!p) {
			return err_set(err, -EINVAL, "%s: its peer was not saved", WHO(s));
		} else if (ud->listener || p->ud->listener) {
			struct made *server = ud->listener ? s : p, *client = ud->listener ? p : s;

			client->fd = sock_new((int)ud->type);
			if (client->fd < 0)
				return err_sys(err, "cannot create a socket");
			if (name_own(c, st, client, err) < 0 ||
			    via_listener(c, st, server, &client->fd, err) < 0)
				return err->code;
		} else if (pair_new(c, s, &s->fd, &p->fd, err) < 0 || name_own(c, st, p, err) < 0) {
			return err->code;
		}
		if (name_own(c, st, s, err) < 0)
			return err->code;
	}
	return 0;
}

/* The connections each listener had not accepted yet, in its order; one whose client
 * is gone gets a client that goes at once. */
static int make_pending(struct rst_ctx *c, struct unix_rst *st, struct err *err)
{
	for (uint32_t i = 0; i < st->n; i++) {
		struct made *l = &st->s[i];

		for (uint32_t k = 0; k < l->ud->npending; k++) {
			struct made *s = find(st, l->ud->pending[k]);
			int fd = sock_new((int)l->ud->type);

			if (fd < 0)
				return err_sys(err, "cannot create a socket");
			if (s)
				s->fd = fd;
			if ((s && name_own(c, st, s, err) < 0) || connect_to(c, fd, l, err) < 0) {
				if (!s)
					close(fd);
				return err->code;
			}
			if (!s)
				close(fd);
		}
	}
	return 0;
}

/* ---- queues ---- */

static int send_all(int fd, const struct unix_msg *mg, const struct sockaddr_un *to,
		    socklen_t tolen, bool stream)
{
	uint32_t off = 0;

	do {
		ssize_t n = sendto(fd, mg->data + off, mg->len - off, MSG_DONTWAIT | MSG_NOSIGNAL,
				   (const struct sockaddr *)to, to ? tolen : 0);

		if (n < 0)
			return -errno;
		if (!stream && (uint32_t)n != mg->len)
			return -EMSGSIZE;
		off += (uint32_t)n;
	} while (off < mg->len);
	return 0;
}

/* The socket that sends a datagram from `from` to s; *tmp if made for it. */
static int dgram_sender(struct rst_ctx *c, struct unix_rst *st, const struct made *s,
			const struct unix_name *from, int *tmp, bool *direct, struct err *err)
{
	const struct made *p = find(st, s->ud->peer);
	char whobuf[128];

	*direct = false;
	if (s->partner >= 0 && same_name(from, &s->ud->peer_name)) {
		*direct = true;
		return s->partner;
	}
	if (p && p != s && p->ud->peer == s->f->ino && same_name(from, &p->ud->name)) {
		*direct = true; /* a socket pair */
		return p->fd;
	}
	for (uint32_t i = 0; from->len && i < st->n; i++)
		if (st->s[i].ud->type == SOCK_DGRAM && binds(st->s[i].ud) &&
		    same_name(from, &st->s[i].ud->name))
			return st->s[i].fd;
	if (from->len) {
		*tmp = sock_new(SOCK_DGRAM);
		if (*tmp < 0)
			return err_sys(err, "cannot create a socket");
		set_int(*tmp, SO_SNDBUFFORCE, INT_MAX / 2);
		if (give_name(c, st, *tmp, s->ud, from, false, WHO(s), err) == 0)
			return *tmp;
		/* Its sender's name is taken: the message comes from no name. */
		kmsg_add(KMSG_WARN,
			 "%s: a queued datagram comes back without its sender's name: %s", WHO(s),
			 err->msg);
		err_clear(err);
		close(*tmp);
		*tmp = -1;
	}
	if (st->sender < 0) {
		st->sender = sock_new(SOCK_DGRAM);
		if (st->sender < 0)
			return err_sys(err, "cannot create a socket");
		set_int(st->sender, SO_SNDBUFFORCE, INT_MAX / 2);
	}
	return st->sender;
}

/* Fill s's queue again from the other end. */
static int refill(struct rst_ctx *c, struct unix_rst *st, struct made *s, struct err *err)
{
	const struct unix_data *ud = s->ud;
	const struct made *p = find(st, ud->peer);
	struct sockaddr_un self;
	socklen_t selflen = sizeof(self);
	char whobuf[128];
	int rc = 0;

	if (!ud->nmsgs)
		return 0;
	if (getsockname(s->fd, (struct sockaddr *)&self, &selflen) < 0)
		return err_sys(err, "%s: cannot read its name", WHO(s));
	for (uint32_t i = 0; i < ud->nmsgs && rc == 0; i++) {
		const struct unix_msg *mg = &ud->msgs[i];
		int tmp = -1, fd, here;
		bool direct = true;

		if (ud->type != SOCK_DGRAM) {
			fd = s->partner >= 0 ? s->partner : p ? p->fd : -1;
			if (fd < 0)
				return err_set(err, -EINVAL, "%s: nobody to send its data", WHO(s));
		} else {
			fd = dgram_sender(c, st, s, &mg->from, &tmp, &direct, err);
			if (fd < 0)
				return err->code;
		}
		if (!direct && selflen <= offsetof(struct sockaddr_un, sun_path))
			rc = err_set(err, -EINVAL,
				     "%s: a datagram from another socket than its peer, queued on "
				     "a socket without a name",
				     WHO(s));
		else if (direct)
			rc = send_all(fd, mg, NULL, 0, ud->type == SOCK_STREAM);
		else if (at_dir_of(c, s, &here, err) < 0)
			rc = err->code;
		else {
			rc = send_all(fd, mg, &self, selflen, false);
			back(here);
		}
		if (rc < 0 && !err->code)
			rc = err_code(err, rc, "%s: cannot queue its message %u of %u (%u bytes)",
				      WHO(s), i + 1, ud->nmsgs, mg->len);
		if (tmp >= 0)
			close(tmp);
	}
	return rc;
}

/* ---- options, connections of datagram sockets, shutdown ---- */

static int set_timeo(int fd, int name, int64_t us)
{
	struct timeval tv = {(time_t)(us / 1000000), (suseconds_t)(us % 1000000)};

	return us ? setsockopt(fd, SOL_SOCKET, name, &tv, sizeof(tv)) : 0;
}

/* The kernel doubles what it is given. */
static int set_buf(int fd, int force, int plain, int32_t v)
{
	if (set_int(fd, force, v / 2) == 0)
		return 0;
	return set_int(fd, plain, v / 2);
}

static int set_opts(struct rst_ctx *c, const struct made *s, struct err *err)
{
	const struct unix_opts *o = &s->ud->opt;
	char whobuf[128];
	int rc = 0;

	if (o->rcvbuf)
		rc |= set_buf(s->fd, SO_RCVBUFFORCE, SO_RCVBUF, o->rcvbuf);
	if (o->sndbuf)
		rc |= set_buf(s->fd, SO_SNDBUFFORCE, SO_SNDBUF, o->sndbuf);
	rc |= set_pass(s->fd, o);
	if (o->peek_off >= 0)
		rc |= set_int(s->fd, SO_PEEK_OFF, o->peek_off);
	if (o->rcvlowat != 1)
		rc |= set_int(s->fd, SO_RCVLOWAT, o->rcvlowat);
	rc |= set_timeo(s->fd, SO_RCVTIMEO, o->rcvtimeo_us);
	rc |= set_timeo(s->fd, SO_SNDTIMEO, o->sndtimeo_us);
	if (rc < 0)
		return err_sys(err, "%s: cannot set its options", WHO(s));
	return 0;
}

static int finish_one(struct rst_ctx *c, struct unix_rst *st, const struct made *s, struct err *err)
{
	const struct unix_data *ud = s->ud;
	const struct made *p = find(st, ud->peer);
	char whobuf[128];

	/* A datagram socket connected to another that is not its pair. Before its
	 * options: connect() binds a socket with SO_PASSCRED to a name of its own. */
	if (ud->type == SOCK_DGRAM && p && (p == s || p->ud->peer != s->f->ino)) {
		struct sockaddr_un a;
		socklen_t len = sizeof(a);
		int here, rc;

		if (getsockname(p->fd, (struct sockaddr *)&a, &len) < 0 ||
		    len <= offsetof(struct sockaddr_un, sun_path))
			return err_set(err, -EINVAL, "%s: connected to a socket without a name",
				       WHO(s));
		if (at_dir_of(c, p, &here, err) < 0)
			return err->code;
		rc = connect(s->fd, (struct sockaddr *)&a, len);
		back(here);
		if (rc < 0)
			return err_sys(err, "%s: cannot connect it to its peer again", WHO(s));
	}
	if (set_opts(c, s, err) < 0)
		return err->code;
	if (ud->shutdown && shutdown(s->fd, (int)ud->shutdown - 1) < 0 && errno != ENOTCONN)
		return err_sys(err, "%s: cannot shut it down again", WHO(s));
	return 0;
}

/* ---- all of it ---- */

static int build(struct rst_ctx *c, struct unix_rst *st, struct err *err)
{
	const struct model *m = c->m;
	int rc;

	for (uint32_t i = 0; i < m->nfiles; i++) {
		struct made *s;

		if (m->files[i].kind != FILE_UNIX)
			continue;
		s = model_grow((void **)&st->s, &st->n, sizeof(*s));
		if (!s)
			return err_set(err, -ENOMEM, "out of memory");
		*s = (struct made){&m->files[i], m->files[i].kd, -1, -1, false};
	}
	st->ix = malloc(((size_t)st->n + 1) * sizeof(*st->ix));
	if (!st->ix)
		return err_set(err, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < st->n; i++)
		st->ix[i] = (struct unix_key){st->s[i].f->ino, 0, i};
	unix_keys_sort(st->ix, st->n);
	st->fds = malloc(((size_t)c->rp->p->nfds + 1) * sizeof(*st->fds));
	if (!st->fds)
		return err_set(err, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < c->rp->p->nfds; i++)
		st->fds[st->nfds++] =
		    (struct unix_key){c->rp->p->fds[i].file_id, i, (uint32_t)c->rp->p->fds[i].fd};
	unix_keys_sort(st->fds, st->nfds);
	rc = make_singles(c, st, err);
	if (rc == 0)
		rc = make_connections(c, st, err);
	if (rc == 0)
		rc = make_pending(c, st, err);
	/* Room for all that was queued, whatever the senders' buffers are now. */
	for (uint32_t i = 0; rc == 0 && i < st->n; i++) {
		set_int(st->s[i].fd, SO_SNDBUFFORCE, INT_MAX / 2);
		if (st->s[i].partner >= 0)
			set_int(st->s[i].partner, SO_SNDBUFFORCE, INT_MAX / 2);
	}
	for (uint32_t i = 0; rc == 0 && i < st->n; i++)
		rc = refill(c, st, &st->s[i], err);
	for (uint32_t i = 0; rc == 0 && i < st->n; i++)
		rc = finish_one(c, st, &st->s[i], err);
	for (uint32_t i = 0; i < st->n; i++)
		if (st->s[i].partner >= 0) {
			close(st->s[i].partner);
			st->s[i].partner = -1;
		}
	free(st->fds); /* the next process's are its own */
	st->fds = NULL;
	return rc;
}

int unix_open(struct rst_ctx *c, const struct file_img *f, int fdnum, bool *borrowed,
	      struct err *err)
{
	struct unix_rst **stp = (struct unix_rst **)fdkind_rst_state(c, FILE_UNIX);
	struct made *s;
	int fd;

	(void)borrowed;
	if (!*stp) {
		*stp = calloc(1, sizeof(**stp));
		if (!*stp)
			return err_set(err, -ENOMEM, "out of memory");
		(*stp)->sender = -1;
	}
	if (!(*stp)->built) {
		(*stp)->built = true;
		if (build(c, *stp, err) < 0)
			return err->code;
	}
	s = find(*stp, f->ino);
	if (!s || s->fd < 0)
		return err_set(err, -EINVAL,
			       "pid %d: the unix socket of descriptor %d was not made%s",
			       c->rp->p->pid, fdnum, s && s->given ? " (given already)" : "");
	if (fcntl(s->fd, F_SETFL, (int)(f->flags & (O_NONBLOCK | O_APPEND))) < 0)
		return err_sys(err, "pid %d: cannot set the flags of descriptor %d", c->rp->p->pid,
			       fdnum);
	/* A socket is one open file description: the caller takes this one, with no
	 * copy, so cr_restart holds one descriptor per socket, not two. */
	fd = s->fd;
	s->fd = -1;
	s->given = true;
	return fd;
}

void unix_cleanup(struct rst_ctx *c)
{
	struct unix_rst **stp = (struct unix_rst **)fdkind_rst_state(c, FILE_UNIX);
	struct unix_rst *st = *stp;

	if (!st)
		return;
	for (uint32_t i = 0; i < st->n; i++) {
		if (st->s[i].fd >= 0)
			close(st->s[i].fd);
		if (st->s[i].partner >= 0)
			close(st->s[i].partner);
	}
	if (st->sender >= 0)
		close(st->sender);
	free(st->s);
	free(st->ix);
	free(st->fds);
	free(st);
	*stp = NULL;
}
