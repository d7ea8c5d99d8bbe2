/* sockdiag.h: questions about sockets answered by NETLINK_SOCK_DIAG. */
#ifndef CREST_SOCKDIAG_H
#define CREST_SOCKDIAG_H

#include <stdint.h>

struct unix_info {
	uint32_t type;  /* SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET */
	uint32_t state; /* TCP_ESTABLISHED, TCP_LISTEN, TCP_CLOSE */
	uint64_t peer;  /* inode of the peer, 0 if none */
};

/* Look up the unix socket with inode ino. Returns 0, -ENOENT if it is not a unix
 * socket, or -errno. */
int sockdiag_unix(uint64_t ino, struct unix_info *ret);

#endif
