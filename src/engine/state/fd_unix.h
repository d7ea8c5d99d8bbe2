/* fd_unix.h: what fd_unix.c saves of a unix socket, shared with fd_unix_restart.c,
 * which makes the sockets again. */
#ifndef CREST_FD_UNIX_H
#define CREST_FD_UNIX_H

#include "fdkind.h"

#include <stdint.h>

#define UNIX_NAME_MAX 108 /* sizeof(sun_path) */

/* A socket's name: the bytes of sun_path (abstract names start with a 0 byte; path
 * names end with their NUL), len 0 for none. */
struct unix_name {
	uint32_t len;
	uint8_t b[UNIX_NAME_MAX];
};

/* What the socket is, as restart must rebuild it. */
enum unix_state {
	US_UNCONNECTED = 1, /* bound or not, neither listening nor connected */
	US_LISTENING,       /* with its connections not yet accepted */
	US_CONNECTED,       /* to peer, a socket of the checkpoint */
	US_PEER_GONE,       /* was connected; its peer has closed since */
	US_PENDING,         /* connected to listener, not accepted yet */
	US_MAX = US_PENDING,
};

/* One message queued for reading (a stream's bytes are one message). */
struct unix_msg {
	uint8_t *data;
	uint32_t len;
	struct unix_name from; /* datagrams: the sender's name */
};

struct unix_opts {
	int32_t rcvbuf, sndbuf; /* as getsockopt gives them (twice what was asked) */
	int32_t passcred, passsec, passpidfd;
	int32_t peek_off; /* -1: off */
	int32_t rcvlowat;
	int64_t rcvtimeo_us, sndtimeo_us;
};

struct unix_data {
	uint32_t type;  /* SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET */
	uint32_t state; /* enum unix_state */
	uint64_t peer;  /* US_CONNECTED: the peer's inode */
	/* US_PENDING: the listener it waits on. US_CONNECTED, US_PEER_GONE: the
	 * listener of the checkpoint this socket was accepted from, 0 if none. */
	uint64_t listener;
	struct unix_name name;
	struct unix_name peer_name; /* US_PEER_GONE: the name of the peer that closed */
	/* A path name whose socket file was there at the checkpoint and is this socket's
	 * to make again; otherwise the socket only gets the name back. */
	uint32_t name_file;
	char *dir; /* a relative path name: the directory it was relative to */
	uint32_t file_mode, file_uid, file_gid;
	uint32_t backlog;
	uint32_t npending;
	uint64_t *pending; /* US_LISTENING: inodes of the waiting sockets, 0 for one gone */
	uint32_t shutdown; /* RCV_SHUTDOWN 1 | SEND_SHUTDOWN 2 */
	struct unix_opts opt;
	uint32_t nmsgs;
	struct unix_msg *msgs; /* in the order they would be read */

	/* At the checkpoint only, not saved. */
	uint32_t diag_state; /* TCP_* from sock_diag */
	uint32_t wqueue;     /* unread memory it has sent */
	uint32_t rqueue;     /* bytes to read (streams, seqpacket) */
	bool has_rqlen;      /* sock_diag gave rqueue */
	uint64_t scm_fds;    /* descriptors in flight to it (fdinfo) */
	bool has_vfs;
	uint64_t vfs_ino, vfs_dev;
	bool peer_named; /* getpeername() answered, and sock_diag says connected */
	bool settled;
	/* Read back, not saved: unix_check found every socket of the model consistent. */
	bool checked;
};

#define UNIX_PATH_NAME(n) ((n)->len > 1 && (n)->b[0] != 0)

/* Sockets among thousands are found by a key, in an array sorted by (a, b, at) and
 * searched by halves: at is where the socket is (an index), and orders equal keys. */
struct unix_key {
	uint64_t a, b;
	uint32_t at;
};

void unix_keys_sort(struct unix_key *v, uint32_t n);
/* The first key not below (a, b), or n. */
uint32_t unix_key_first(const struct unix_key *v, uint32_t n, uint64_t a, uint64_t b);

/* fd_unix_restart.c */
int unix_open(struct rst_ctx *c, const struct file_img *f, int fdnum, bool *borrowed,
	      struct err *err);
void unix_cleanup(struct rst_ctx *c);

#endif
