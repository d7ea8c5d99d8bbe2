/* sockdiag.c: one UNIX_DIAG request per socket. */
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

/* What an answer carries at most without its list of pending connections. */
#define SMALL_ANSWER 8192

/* Ask about socket ino; hand the answer's attributes to each(). */
static int query(uint64_t ino, uint32_t show,
		 int (*each)(const struct unix_diag_msg *d, const struct rtattr *a, void *arg),
		 void *arg)
{
	struct {
		struct nlmsghdr nlh;
		struct unix_diag_req req;
	} msg;
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	size_t cap = SMALL_ANSWER;
	int fd, rc = -ENOENT;
	char *resp = NULL;
	ssize_t n;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -errno;
	memset(&msg, 0, sizeof(msg));
	msg.nlh.nlmsg_len = sizeof(msg);
	msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	msg.nlh.nlmsg_flags = NLM_F_REQUEST;
	msg.req.sdiag_family = AF_UNIX;
	msg.req.udiag_states = ~0u;
	msg.req.udiag_ino = (uint32_t)ino;
	msg.req.udiag_show = show;
	msg.req.udiag_cookie[0] = ~0u;
	msg.req.udiag_cookie[1] = ~0u;
	if (ino > UINT32_MAX) /* the request has 32 bits for it */
		goto out;
	if (sendto(fd, &msg, sizeof(msg), 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		goto out;
	}
	/* A listener's pending connections can make the answer long: size it first. */
	n = recv(fd, NULL, 0, MSG_PEEK | MSG_TRUNC);
	if (n < 0) {
		rc = -errno;
		goto out;
	}
	if ((size_t)n > cap)
		cap = (size_t)n;
	resp = malloc(cap);
	if (!resp) {
		rc = -ENOMEM;
		goto out;
	}
	n = recv(fd, resp, cap, 0);
	if (n < 0) {
		rc = -errno;
		goto out;
	}
	for (struct nlmsghdr *h = (struct nlmsghdr *)resp; NLMSG_OK(h, (size_t)n);
	     h = NLMSG_NEXT(h, n)) {
		const struct unix_diag_msg *d;
		const struct rtattr *a;
		int alen;

		if (h->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(h);

			rc = e->error ? e->error : -ENOENT;
			break;
		}
		if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < NLMSG_LENGTH(sizeof(*d)))
			continue;
		d = NLMSG_DATA(h);
		rc = each(d, NULL, arg);
		a = (const struct rtattr *)(d + 1);
		alen = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*d)));
		for (; rc == 0 && RTA_OK(a, alen); a = RTA_NEXT(a, alen))
			rc = each(d, a, arg);
		break;
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
	rc = query(ino, UDIAG_SHOW_PEER | UDIAG_SHOW_RQLEN | UDIAG_SHOW_VFS | UDIAG_SHOW_NAME,
		   fill_info, &ui);
	if (rc == 0)
		*ret = ui;
	return rc;
}

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
	int rc = query(ino, UDIAG_SHOW_ICONS, fill_icons, &ic);

	if (rc < 0) {
		free(ic.v);
		return rc;
	}
	*ret = ic.v;
	*ret_n = ic.n;
	return 0;
}

int sockdiag_unix_bound_to(uint64_t dev, uint64_t ino)
{
	struct {
		struct nlmsghdr nlh;
		struct unix_diag_req req;
	} msg;
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	char *resp;
	int fd, rc = 0;
	bool done = false;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -errno;
	resp = malloc(SMALL_ANSWER * 4);
	if (!resp) {
		close(fd);
		return -ENOMEM;
	}
	memset(&msg, 0, sizeof(msg));
	msg.nlh.nlmsg_len = sizeof(msg);
	msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	msg.req.sdiag_family = AF_UNIX;
	msg.req.udiag_states = ~0u;
	msg.req.udiag_show = UDIAG_SHOW_VFS;
	if (sendto(fd, &msg, sizeof(msg), 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		rc = -errno;
	while (rc == 0 && !done) {
		ssize_t n = recv(fd, resp, SMALL_ANSWER * 4, 0);

		if (n < 0) {
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		for (struct nlmsghdr *h = (struct nlmsghdr *)resp; NLMSG_OK(h, (size_t)n);
		     h = NLMSG_NEXT(h, n)) {
			const struct unix_diag_msg *d = NLMSG_DATA(h);
			const struct rtattr *a;
			int alen;

			if (h->nlmsg_type == NLMSG_DONE) {
				done = true;
				break;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);

				rc = e->error ? e->error : -EIO;
				break;
			}
			if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
			    h->nlmsg_len < NLMSG_LENGTH(sizeof(*d)))
				continue;
			a = (const struct rtattr *)(d + 1);
			alen = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*d)));
			for (; RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
				const struct unix_diag_vfs *f = RTA_DATA(a);

				if (a->rta_type == UNIX_DIAG_VFS && RTA_PAYLOAD(a) >= sizeof(*f) &&
				    f->udiag_vfs_ino == ino &&
				    makedev(f->udiag_vfs_dev >> 20, f->udiag_vfs_dev & 0xfffff) ==
					dev)
					rc = 1;
			}
		}
	}
	free(resp);
	close(fd);
	return rc;
}
