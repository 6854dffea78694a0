/* SPDX-License-Identifier: MIT */
/*
 * Inside the chardev: the object every backend shares (buffers, watches,
 * bottom halves, counters) and the hooks between chardev.c and the
 * backends (one file each).  All of it is guarded by
 * the BQL; file descriptors are only touched on the loop's thread.
 */
#ifndef VMM_CHARDEV_CHARDEV_INT_H
#define VMM_CHARDEV_CHARDEV_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <loom/bh.h>
#include <loom/loop.h>

#include "chardev/chardev.h"

/* One fd registration with the loop, as last set. */
struct vmm__chr_watch {
    int fd; /* -1: nothing registered */
    bool r, w;
};

/**
 * struct vmm__chr_backend - what a backend adds to the shared core.
 * @hangup: the input reached end of file or failed, or output failed on a
 *     connection (the core has stopped watching the fds); NULL: the core
 *     just stops reading (or stops writing, for output errors).
 * @close: release the backend's own resources (the core then closes
 *     in_fd/out_fd if the backend left them set).
 */
struct vmm__chr_backend {
    void (*hangup)(struct vmm_chr *chr);
    void (*close)(struct vmm_chr *chr);
};

struct vmm_chr {
    /* Immutable after vmm_chr_new(). */
    enum vmm_chr_kind kind;
    struct loom_loop *loop;
    bool legacy; /* loop is the main loop: handlers in its legacy group */
    bool mux;    /* MON_STDIO: input goes through the Ctrl-a filter */
    vmm_chr_quit_fn *quit;
    void *quit_opaque;
    const struct vmm__chr_backend *be;
    struct loom_bh *out_bh; /* writes the output buffer out */
    struct loom_bh *in_bh;  /* delivers held input; reads unpollable fds */

    /* Everything below: BQL. */
    const struct vmm_chr_frontend *fe;
    void *fe_opaque;

    int in_fd;              /* -1: no input */
    int out_fd;             /* -1: output discarded */
    bool in_sock, out_sock; /* use recv/send flags (MSG_NOSIGNAL) */
    bool in_nowatch;        /* the loop cannot watch in_fd: BH-driven */
    bool out_nowatch;       /* same for out_fd */
    bool in_eof;            /* input ended: stop reading */
    bool out_dead;          /* output failed: discard from now on */
    bool out_blocked;       /* the last write would have blocked */
    bool fe_wants_room;     /* a write was refused bytes: notify room */
    struct vmm__chr_watch win, wout;

    /* Output ring. */
    uint8_t *obuf;
    size_t ohead, olen;
    /* Input held for the frontend. */
    uint8_t ibuf[VMM_CHR_IN_BUF_SIZE];
    size_t ihead, ilen;

    /* unix socket backend */
    char *path;
    int listen_fd;
    struct vmm__chr_watch wlisten;
    uint64_t sock_dev, sock_ino; /* the server's socket file, to unlink */

    /* stdio and mon:stdio */
    bool in_is_stdin_dup;   /* in_fd is a reopened stdin (close it) */
    bool out_is_stdout_dup; /* out_fd is a reopened stdout (close it) */
    bool mux_escape;        /* the previous byte was the escape character */

    struct vmm_chr_stats stats;
};

/*
 * Core services for the backends (chardev.c).  Context of all: the
 * chardev loop's thread, bql.
 */

/**
 * vmm__chr_watch() - register, change or remove one loop handler.
 * @chr: the chardev (its loop; the main loop's legacy group if it is
 *     the main loop).
 * @cw: the watch record to update.
 * @fd: the fd, or -1 to remove the watch.
 * @on_read: read handler, or NULL.
 * @on_write: write handler, or NULL (both NULL removes).
 * Context: the chardev loop's thread, bql.
 * Return: 0, or the loop's negative errno (-EPERM: an fd it cannot watch).
 */
int vmm__chr_watch(struct vmm_chr *chr, struct vmm__chr_watch *cw, int fd,
                   loom_fd_cb *on_read, loom_fd_cb *on_write);

/**
 * vmm__chr_update() - recompute which fds the loop watches for input and
 * output (and drive unwatchable ones from bottom halves).
 * Context: the chardev loop's thread, bql.
 */
void vmm__chr_update(struct vmm_chr *chr);

/**
 * vmm__chr_unwatch_io() - stop watching in_fd and out_fd (before a
 * backend closes or replaces them).
 * Context: the chardev loop's thread, bql.
 */
void vmm__chr_unwatch_io(struct vmm_chr *chr);

/**
 * vmm__chr_connected() - a connection came: in_fd/out_fd are set by the
 * backend; start reading and writing, forget earlier end-of-file and
 * output errors.
 * Context: the chardev loop's thread, bql.
 */
void vmm__chr_connected(struct vmm_chr *chr);

/**
 * vmm__chr_disconnected() - the connection went: discard buffered output
 * (counted), close and clear the fds, tell a frontend waiting for room
 * that output is now discarded.
 * Context: the chardev loop's thread, bql.
 */
void vmm__chr_disconnected(struct vmm_chr *chr);

/**
 * vmm__chr_write_msg() - queue output produced by the chardev itself
 * (mux messages); what does not fit is dropped and counted.
 * Context: the chardev loop's thread, bql.
 */
void vmm__chr_write_msg(struct vmm_chr *chr, const char *msg);

/**
 * vmm__chr_input_push() - append input for the frontend; what does not
 * fit in the input buffer is dropped and counted.
 * Context: the chardev loop's thread, bql.
 */
void vmm__chr_input_push(struct vmm_chr *chr, const uint8_t *buf, size_t len);

/**
 * vmm__chr_open_stdio() - vmm__chr_open_file() - vmm__chr_open_unix() -
 * open a backend on a zeroed chardev (stdio.c, file.c, socket.c).
 *
 * Each fills in the backend's fds and state; on failure it leaves nothing
 * open that vmm_chr_new() would not release.
 *
 * Context: the chardev loop's thread, bql.
 * Return: 0 or a negative errno, as vmm_chr_new() documents.
 */
int vmm__chr_open_stdio(struct vmm_chr *chr, bool mux);
int vmm__chr_open_file(struct vmm_chr *chr, const char *path);
int vmm__chr_open_unix(struct vmm_chr *chr, const char *path, bool server,
                       bool wait);

/**
 * vmm__chr_mux_input() - filter input through the Ctrl-a commands
 * (mon:stdio, mux.c); bytes for the guest go to the input buffer.
 * Context: the chardev loop's thread, bql.
 */
void vmm__chr_mux_input(struct vmm_chr *chr, const uint8_t *buf, size_t len);

#endif /* VMM_CHARDEV_CHARDEV_INT_H */
