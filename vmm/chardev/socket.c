/* SPDX-License-Identifier: MIT */
/*
 * unix:PATH: a stream socket, as QEMU's socket chardev.
 *
 * Server (server=on): listens on PATH and serves one client at a time;
 * while one is connected the listening socket is not watched, so further
 * clients wait in the backlog and are accepted when it leaves (QEMU does
 * the same).  Output while nobody is connected, and output still buffered
 * when a client leaves, is dropped and counted.  A stale socket file at
 * PATH is replaced; any other kind of file is not (bind fails with
 * -EADDRINUSE).  The socket file is removed when the chardev is freed if it
 * is still ours.  With wait=on, vmm_chr_new() runs the loop until the
 * first client connects.
 *
 * Client (server=off): connects once at creation; when the server goes
 * away, output is dropped from then on (no reconnection, as QEMU without
 * reconnect=).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <loom/main.h>

#include "chardev/chardev-int.h"

static void sock_on_listen(void *opaque);

static void sock_watch_listen(struct vmm_chr *chr, bool on)
{
    int ret = vmm__chr_watch(chr, &chr->wlisten, chr->listen_fd,
                             on ? sock_on_listen : NULL, NULL);

    if (ret < 0) {
        fprintf(stderr, "loom-vm: unix:%s: cannot watch for clients: %s\n",
                chr->path, strerror(-ret));
    }
}

static void sock_on_listen(void *opaque)
{
    struct vmm_chr *chr = opaque;
    int fd;

    fd = accept4(chr->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        /* EAGAIN, or a client that left already (ECONNABORTED). */
        return;
    }
    sock_watch_listen(chr, false);
    chr->in_fd = chr->out_fd = fd;
    chr->in_sock = chr->out_sock = true;
    vmm__chr_connected(chr);
}

static void sock_hangup(struct vmm_chr *chr)
{
    vmm__chr_disconnected(chr);
    if (chr->listen_fd >= 0) {
        sock_watch_listen(chr, true);
    }
}

static void sock_close(struct vmm_chr *chr)
{
    struct stat st;

    if (chr->listen_fd < 0) {
        return;
    }
    (void)vmm__chr_watch(chr, &chr->wlisten, -1, NULL, NULL);
    close(chr->listen_fd);
    chr->listen_fd = -1;
    if (lstat(chr->path, &st) == 0 && S_ISSOCK(st.st_mode) &&
        (uint64_t)st.st_dev == chr->sock_dev &&
        (uint64_t)st.st_ino == chr->sock_ino) {
        (void)unlink(chr->path);
    }
}

static const struct vmm__chr_backend sock_backend = {
    .hangup = sock_hangup,
    .close = sock_close,
};

static int sock_listen(struct vmm_chr *chr, const struct sockaddr_un *sa)
{
    struct stat st;
    int fd, err;

    /* Replace a stale socket file, nothing else. */
    if (lstat(sa->sun_path, &st) == 0 && S_ISSOCK(st.st_mode)) {
        (void)unlink(sa->sun_path);
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    if (bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 ||
        listen(fd, 1) < 0 || fstat(fd, &st) < 0) {
        err = -errno;
        close(fd);
        return err;
    }
    /* fstat() of a socket gives the sockfs inode: identify the file. */
    if (lstat(sa->sun_path, &st) == 0) {
        chr->sock_dev = (uint64_t)st.st_dev;
        chr->sock_ino = (uint64_t)st.st_ino;
    }
    chr->listen_fd = fd;
    return 0;
}

static int sock_connect(struct vmm_chr *chr, const struct sockaddr_un *sa)
{
    int fd, err;

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 ||
        fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
        err = -errno;
        close(fd);
        return err;
    }
    chr->in_fd = chr->out_fd = fd;
    chr->in_sock = chr->out_sock = true;
    return 0;
}

/* wait=on: run the loop until the first client, or a shutdown request. */
static int sock_wait_client(struct vmm_chr *chr)
{
    fprintf(stderr, "loom-vm: waiting for connection on unix:%s,server=on\n",
            chr->path);
    while (chr->out_fd < 0) {
        if (loom_main_shutdown_requested()) {
            return -EINTR;
        }
        if (chr->legacy) {
            loom_main_loop_wait(false);
        } else {
            loom_loop_poll(chr->loop, true);
        }
    }
    return 0;
}

int vmm__chr_open_unix(struct vmm_chr *chr, const char *path, bool server,
                       bool wait)
{
    struct sockaddr_un sa;
    int err;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        return -ENAMETOOLONG;
    }
    memcpy(sa.sun_path, path, strlen(path));
    chr->path = strdup(path);
    if (!chr->path) {
        return -ENOMEM;
    }
    chr->be = &sock_backend;
    if (!server) {
        err = sock_connect(chr, &sa);
        if (err < 0) {
            return err;
        }
        vmm__chr_connected(chr);
        return 0;
    }
    err = sock_listen(chr, &sa);
    if (err < 0) {
        return err;
    }
    sock_watch_listen(chr, true);
    if (wait) {
        err = sock_wait_client(chr);
        if (err < 0) {
            vmm__chr_unwatch_io(chr);
            if (chr->in_fd >= 0) {
                close(chr->in_fd);
                chr->in_fd = chr->out_fd = -1;
            }
            sock_close(chr);
            return err;
        }
    }
    return 0;
}
