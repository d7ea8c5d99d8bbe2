/* sockdiag.c: questions about unix sockets answered by NETLINK_SOCK_DIAG: one socket
 * by its inode, or every socket at once (a dump), kept sorted by inode. The kernel
 * answers a question about one inode by walking all its unix sockets, so a caller
 * with many sockets to look at takes the dump. */
#include "sockdiag.h"

#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "../engine/banned.h"

/* What one read of an answer holds at least (the kernel's dump pieces are smaller). */
#define SMALL_ANSWER 32768

#define SHOW_INFO (UDIAG_SHOW_PEER | UDIAG_SHOW_RQLEN | UDIAG_SHOW_VFS | UDIAG_SHOW_NAME)

/* Called once per socket answered with a NULL attribute, then once per attribute. */
typedef int (*each_fn)(const struct unix_diag_msg *d, const struct rtattr *a, void *arg);

/* One socket's answer, to each(). */
static int one_answer(const struct nlmsghdr *h, each_fn each, void *arg)
{
	const struct unix_diag_msg *d = NLMSG_DATA(h);
	const struct rtattr *a = (const struct rtattr *)(d + 1);
	int alen = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*d)));
	int rc = each(d, NULL, arg);

	for (; rc == 0 && RTA_OK(a, alen); a = RTA_NEXT(a, alen))
		rc = each(d, a, arg);
	return rc;
}

/* Ask about socket ino, or about every socket (dump); hand each answer to each().
 * Returns 0, -ENOENT when the one socket asked about is no unix socket, or -errno. */
static int query(bool dump, uint64_t ino, uint32_t show, each_fn each, void *arg)
{
	struct {
		struct nlmsghdr nlh;
		struct unix_diag_req req;
	} msg;
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	size_t cap = SMALL_ANSWER;
	bool done = false;
	char *resp = NULL;
	int fd, rc = 0;

	if (!dump && ino > UINT32_MAX) /* the request has 32 bits for it */
		return -ENOENT;
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -errno;
	memset(&msg, 0, sizeof(msg));
	msg.nlh.nlmsg_len = sizeof(msg);
	msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	msg.nlh.nlmsg_flags = NLM_F_REQUEST | (dump ? NLM_F_DUMP : 0);
	msg.req.sdiag_family = AF_UNIX;
	msg.req.udiag_states = ~0u;
	msg.req.udiag_ino = dump ? 0 : (uint32_t)ino;
	msg.req.udiag_show = show;
	msg.req.udiag_cookie[0] = ~0u;
	msg.req.udiag_cookie[1] = ~0u;
	resp = malloc(cap);
	if (!resp) {
		rc = -ENOMEM;
		goto out;
	}
	if (sendto(fd, &msg, sizeof(msg), 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		goto out;
	}
	while (rc == 0 && !done) {
		/* A listener's pending connections can make an answer long: size it. */
		ssize_t n = recv(fd, NULL, 0, MSG_PEEK | MSG_TRUNC);

		if (n > 0 && (size_t)n > cap) {
			char *bigger = realloc(resp, (size_t)n);

			if (!bigger) {
				rc = -ENOMEM;
				break;
			}
			resp = bigger;
			cap = (size_t)n;
		}
		if (n >= 0)
			n = recv(fd, resp, cap, 0);
		if (n < 0) {
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		for (struct nlmsghdr *h = (struct nlmsghdr *)resp;
		     rc == 0 && NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == NLMSG_DONE) {
				done = true;
				break;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);

				rc = e->error ? e->error : dump ? -EIO : -ENOENT;
				break;
			}
			if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
			    h->nlmsg_len < NLMSG_LENGTH(sizeof(struct unix_diag_msg)))
				continue;
			rc = one_answer(h, each, arg);
			if (!dump) { /* one socket, one answer */
				done = true;
				break;
			}
		}
		if (!dump && !done && rc == 0)
			rc = -ENOENT;
	}
out:
	free(resp);
	close(fd);
	return rc;
}

static int fill_info(const struct unix_diag_msg *d, const struct rtattr *a, void *arg)
{
	struct unix_info *ui = arg;
	const void *v;
	size_t len;

	if (!a) {
		memset(ui, 0, sizeof(*ui));
		ui->type = d->udiag_type;
		ui->state = d->udiag_state;
		return 0;
	}
	v = RTA_DATA(a);
	len = RTA_PAYLOAD(a);
	switch (a->rta_type) {
	case UNIX_DIAG_PEER:
		if (len >= 4)
			ui->peer = *(const uint32_t *)v;
		break;
	case UNIX_DIAG_SHUTDOWN:
		if (len >= 1)
			ui->shutdown = *(const uint8_t *)v;
		break;
	case UNIX_DIAG_RQLEN:
		if (len >= sizeof(struct unix_diag_rqlen)) {
			const struct unix_diag_rqlen *q = v;

			ui->has_rqlen = true;
			ui->rqueue = q->udiag_rqueue;
			ui->wqueue = q->udiag_wqueue;
		}
		break;
	case UNIX_DIAG_VFS:
		if (len >= sizeof(struct unix_diag_vfs)) {
			const struct unix_diag_vfs *f = v;

			/* The kernel's own dev_t: 12 bits of major, 20 of minor. */
			ui->has_vfs = true;
			ui->vfs_ino = f->udiag_vfs_ino;
			ui->vfs_dev = makedev(f->udiag_vfs_dev >> 20, f->udiag_vfs_dev & 0xfffff);
		}
		break;
	case UNIX_DIAG_NAME:
		if (len > 0 && len <= sizeof(ui->name)) {
			memcpy(ui->name, v, len);
			ui->namelen = (uint32_t)len;
		}
		break;
	default:
		break;
	}
	return 0;
}

int sockdiag_unix(uint64_t ino, struct unix_info *ret)
{
	struct unix_info ui;
	int rc;

	memset(&ui, 0, sizeof(ui));
	rc = query(false, ino, SHOW_INFO, fill_info, &ui);
	if (rc == 0)
		*ret = ui;
	return rc;
}

/* ---- every socket at once ---- */

struct unix_entry {
	uint64_t ino;
	struct unix_info ui;
};

struct unix_dump {
	struct unix_entry *v;
	uint32_t n, cap;
};

static int add_entry(const struct unix_diag_msg *d, const struct rtattr *a, void *arg)
{
	struct unix_dump *t = arg;

	if (!a) {
		if (t->n == t->cap) {
			uint32_t cap = t->cap ? 2 * t->cap : 256;
			struct unix_entry *v;

			if (cap <= t->cap || cap > UINT32_MAX / 2)
				return -E2BIG;
			v = realloc(t->v, (size_t)cap * sizeof(*v));
			if (!v)
				return -ENOMEM;
			t->v = v;
			t->cap = cap;
		}
		t->v[t->n].ino = d->udiag_ino;
		t->n++;
	}
	return fill_info(d, a, &t->v[t->n - 1].ui);
}

static int cmp_entry(const void *pa, const void *pb)
{
	const struct unix_entry *a = pa, *b = pb;

	return a->ino < b->ino ? -1 : a->ino > b->ino;
}

int sockdiag_unix_dump(struct unix_dump **ret)
{
	struct unix_dump *t = calloc(1, sizeof(*t));
	int rc;

	if (!t)
		return -ENOMEM;
	rc = query(true, 0, SHOW_INFO, add_entry, t);
	if (rc < 0) {
		sockdiag_unix_dump_free(t);
		return rc;
	}
	if (t->n)
		qsort(t->v, t->n, sizeof(*t->v), cmp_entry);
	*ret = t;
	return 0;
}

int sockdiag_unix_lookup(const struct unix_dump *t, uint64_t ino, struct unix_info *ret)
{
	struct unix_entry key = {.ino = ino};
	const struct unix_entry *e =
	    t && t->n ? bsearch(&key, t->v, t->n, sizeof(*t->v), cmp_entry) : NULL;

	if (!e)
		return -ENOENT;
	*ret = e->ui;
	return 0;
}

void sockdiag_unix_dump_free(struct unix_dump *t)
{
	if (!t)
		return;
	free(t->v);
	free(t);
}

/* ---- pending connections, bound files ---- */

struct icons {
	uint32_t *v;
	uint32_t n;
};

static int fill_icons(const struct unix_diag_msg *d, const struct rtattr *a, void *arg)
{
	struct icons *ic = arg;
	size_t len;

	(void)d;
	if (!a || a->rta_type != UNIX_DIAG_ICONS)
		return 0;
	len = RTA_PAYLOAD(a) / sizeof(uint32_t);
	if (!len)
		return 0;
	free(ic->v);
	ic->v = malloc(len * sizeof(uint32_t));
	if (!ic->v)
		return -ENOMEM;
	memcpy(ic->v, RTA_DATA(a), len * sizeof(uint32_t));
	ic->n = (uint32_t)len;
	return 0;
}

int sockdiag_unix_icons(uint64_t ino, uint32_t **ret, uint32_t *ret_n)
{
	struct icons ic = {NULL, 0};
	int rc = query(false, ino, UDIAG_SHOW_ICONS, fill_icons, &ic);

	if (rc < 0) {
		free(ic.v);
		return rc;
	}
	*ret = ic.v;
	*ret_n = ic.n;
	return 0;
}

struct bound {
	uint64_t dev, ino;
	bool found;
};

static int match_vfs(const struct unix_diag_msg *d, const struct rtattr *a, void *arg)
{
	struct bound *b = arg;
	const struct unix_diag_vfs *f;

	(void)d;
	if (!a || a->rta_type != UNIX_DIAG_VFS || RTA_PAYLOAD(a) < sizeof(*f))
		return 0;
	f = RTA_DATA(a);
	if (f->udiag_vfs_ino == b->ino &&
	    makedev(f->udiag_vfs_dev >> 20, f->udiag_vfs_dev & 0xfffff) == b->dev)
		b->found = true;
	return 0;
}

int sockdiag_unix_bound_to(uint64_t dev, uint64_t ino)
{
	struct bound b = {dev, ino, false};
	int rc = query(true, 0, UDIAG_SHOW_VFS, match_vfs, &b);

	return rc < 0 ? rc : b.found;
}
