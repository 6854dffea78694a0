/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: the basic socket helpers of QEMU's <qemu/sockets.h> (POSIX;
 * QEMU's address-parsing helpers, inet_* and socket_connect/listen, are
 * not part of loom-qemu).  Sockets are created close-on-exec.
 */
#ifndef LOOM_QEMU_SOCKETS_H
#define LOOM_QEMU_SOCKETS_H

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

/** socket_init() - nothing to set up on POSIX.  Return: 0. */
static inline int socket_init(void)
{
    return 0;
}

/** qemu_socket() - socket(2), close-on-exec.  Return: the fd, or -1. */
static inline int qemu_socket(int domain, int type, int protocol)
{
    return socket(domain, type | SOCK_CLOEXEC, protocol);
}

/** qemu_socketpair() - socketpair(2), close-on-exec.  Return: 0 or -1. */
static inline int qemu_socketpair(int domain, int type, int protocol,
                                  int sv[2])
{
    return socketpair(domain, type | SOCK_CLOEXEC, protocol, sv);
}

/* private: set or clear O_NONBLOCK; 0 or -errno. */
static inline int loom_q_fd_set_nonblock(int fd, bool nonblock)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags < 0) {
        return -errno;
    }
    flags = nonblock ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
    return fcntl(fd, F_SETFL, flags) < 0 ? -errno : 0;
}

/** qemu_socket_try_set_nonblock() - Return: 0 or -errno. */
static inline int qemu_socket_try_set_nonblock(int fd)
{
    return loom_q_fd_set_nonblock(fd, true);
}

/** qemu_socket_set_nonblock() - make @fd non-blocking; aborts on failure. */
static inline void qemu_socket_set_nonblock(int fd)
{
    if (qemu_socket_try_set_nonblock(fd) < 0) {
        fprintf(stderr, "qemu_socket_set_nonblock: fd %d: cannot\n", fd);
        abort();
    }
}

/** qemu_socket_set_block() - make @fd blocking; aborts on failure. */
static inline void qemu_socket_set_block(int fd)
{
    if (loom_q_fd_set_nonblock(fd, false) < 0) {
        fprintf(stderr, "qemu_socket_set_block: fd %d: cannot\n", fd);
        abort();
    }
}

/** socket_set_nodelay() - TCP_NODELAY on.  Return: 0 or -1. */
static inline int socket_set_nodelay(int fd)
{
    int v = 1;

    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v));
}

/** socket_set_cork() - TCP_CORK to @v.  Return: 0 or -1. */
static inline int socket_set_cork(int fd, int v)
{
    return setsockopt(fd, IPPROTO_TCP, TCP_CORK, &v, sizeof(v));
}

#endif /* LOOM_QEMU_SOCKETS_H */
