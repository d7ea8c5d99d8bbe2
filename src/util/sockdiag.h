/* sockdiag.h: questions about sockets answered by NETLINK_SOCK_DIAG. */
#ifndef CREST_SOCKDIAG_H
#define CREST_SOCKDIAG_H

#include <stdbool.h>
#include <stdint.h>

#define SOCKDIAG_UNIX_PATH 108 /* sizeof(sun_path) */

struct unix_info {
	uint32_t type;     /* SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET */
	uint32_t state;    /* TCP_ESTABLISHED, TCP_LISTEN, TCP_CLOSE */
	uint64_t peer;     /* inode of the peer, 0 if none (or if the peer has no inode:
			    * closed, or a connection not yet accepted) */
	uint32_t shutdown; /* RCV_SHUTDOWN (1) | SEND_SHUTDOWN (2) */
	/* UNIX_DIAG_RQLEN. rqueue: bytes to read (streams and seqpacket: all that is
	 * queued; datagrams: the first message) or, for a listener, connections not
	 * yet accepted. wqueue: memory of what it sent that is still unread (0 when
	 * nothing is), or, for a listener, its backlog. */
	bool has_rqlen;
	uint32_t rqueue, wqueue;
	/* UNIX_DIAG_VFS: the socket file of its path name (dev as stat() gives it). */
	bool has_vfs;
	uint64_t vfs_ino, vfs_dev;
	/* UNIX_DIAG_NAME: the bytes of sun_path it is bound to (abstract names start
	 * with a 0 byte); namelen 0 when it has none. */
	uint32_t namelen;
	uint8_t name[SOCKDIAG_UNIX_PATH];
};

/* Look up the unix socket with inode ino. Returns 0, -ENOENT if it is not a unix
 * socket, or -errno. The kernel walks every unix socket to find it: for many
 * sockets, take a dump instead. */
int sockdiag_unix(uint64_t ino, struct unix_info *ret);

/* Every unix socket the kernel lists (those of our network namespace), as they are
 * now, in one request, kept sorted by inode. *ret is freed with
 * sockdiag_unix_dump_free(). Returns 0 or -errno. */
struct unix_dump;
int sockdiag_unix_dump(struct unix_dump **ret);
/* The socket with inode ino in the dump: 0, or -ENOENT if it has none. The kernel
 * gives a dump in pieces and goes on by position: a socket can be missing when others
 * were closed between two pieces, so ask sockdiag_unix() about one not found. */
int sockdiag_unix_lookup(const struct unix_dump *t, uint64_t ino, struct unix_info *ret);
void sockdiag_unix_dump_free(struct unix_dump *t);

/* A listening unix socket's connections not yet accepted, in the order accept()
 * returns them: for each, the inode of the connecting socket (0 if that one is gone).
 * *ret is malloc()ed (the caller frees it; NULL when there are none). Returns 0,
 * -ENOENT, or -errno. */
int sockdiag_unix_icons(uint64_t ino, uint32_t **ret, uint32_t *ret_n);

/* Is a unix socket bound to the socket file dev:ino (stat's numbers)? 1 yes, 0 no,
 * or -errno. */
int sockdiag_unix_bound_to(uint64_t dev, uint64_t ino);

#endif
