/* SPDX-License-Identifier: MIT */
/*
 * The chardev core shared by every backend: the bounded output buffer and
 * the bottom half that writes it out without blocking, the input buffer
 * and its delivery to the frontend with flow control, fd watches on the
 * chardev's loop, flush with a bounded wait, and the `none` backend.
 *
 * Threads: the device side (vmm_chr_write(), vmm_chr_accept_input()) runs
 * on vCPU threads with the BQL held; it only touches the buffers and
 * schedules bottom halves.  Everything that touches a file descriptor runs
 * on the loop's thread (handlers, bottom halves, flush, free), also with
 * the BQL, so the BQL is the only lock.
 */
#include "chardev/chardev.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <loom/bh.h>
#include <loom/clock.h>
#include <loom/main.h>

#include "chardev/chardev-int.h"

/* Bytes read from a backend per handler call. */
#define CHR_READ_CHUNK 512

static void chr_on_readable(void *opaque);
static void chr_on_writable(void *opaque);

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

static bool chr_out_connected(const struct vmm_chr *chr)
{
    return chr->out_fd >= 0 && !chr->out_dead;
}

/*
 * The loop's handler for @fd.  A chardev on the main loop uses its legacy
 * group, so that a nested poll of the main loop (someone waiting for their
 * own I/O) never runs the console (QEMU keeps chardevs out of aio_poll).
 */
static int chr_set_handler(struct vmm_chr *chr, int fd, loom_fd_cb *on_read,
                           loom_fd_cb *on_write)
{
    if (chr->legacy) {
        return loom_main_set_fd_handler(fd, on_read, on_write, chr);
    }
    return loom_set_fd_handler(chr->loop, fd, on_read, on_write, NULL, NULL,
                               chr);
}

int vmm__chr_watch(struct vmm_chr *chr, struct vmm__chr_watch *cw, int fd,
                   loom_fd_cb *on_read, loom_fd_cb *on_write)
{
    bool r = on_read != NULL, w = on_write != NULL;
    int ret;

    if (cw->fd == fd && cw->r == r && cw->w == w) {
        return 0;
    }
    if (cw->fd >= 0 && (cw->fd != fd || (!r && !w))) {
        (void)chr_set_handler(chr, cw->fd, NULL, NULL);
        cw->fd = -1;
        cw->r = cw->w = false;
    }
    if (fd < 0 || (!r && !w)) {
        return 0;
    }
    ret = chr_set_handler(chr, fd, on_read, on_write);
    if (ret < 0) {
        return ret;
    }
    cw->fd = fd;
    cw->r = r;
    cw->w = w;
    return 0;
}

static bool chr_want_read(const struct vmm_chr *chr)
{
    return chr->in_fd >= 0 && !chr->in_eof &&
           (chr->mux || chr->ilen < VMM_CHR_IN_BUF_SIZE);
}

static bool chr_want_write(const struct vmm_chr *chr)
{
    return chr_out_connected(chr) && chr->out_blocked && chr->olen > 0;
}

/*
 * Watch in_fd for input and out_fd for writability (only while a write
 * would have blocked).  An fd the loop refuses to watch (epoll and regular
 * files or /dev/null: -EPERM) is always ready: a bottom half drives it.
 */
void vmm__chr_update(struct vmm_chr *chr)
{
    bool r = chr_want_read(chr) && !chr->in_nowatch;
    bool w = chr_want_write(chr) && !chr->out_nowatch;
    int ret;

    if (chr->in_fd >= 0 && chr->in_fd == chr->out_fd) {
        ret = vmm__chr_watch(chr, &chr->win, chr->in_fd,
                             r ? chr_on_readable : NULL,
                             w ? chr_on_writable : NULL);
        if (ret < 0) {
            chr->in_nowatch = chr->out_nowatch = true;
        }
    } else {
        ret = vmm__chr_watch(chr, &chr->win, chr->in_fd,
                             r ? chr_on_readable : NULL, NULL);
        if (ret < 0) {
            chr->in_nowatch = true;
        }
        ret = vmm__chr_watch(chr, &chr->wout, chr->out_fd, NULL,
                             w ? chr_on_writable : NULL);
        if (ret < 0) {
            chr->out_nowatch = true;
        }
    }
    if (chr->in_nowatch && chr_want_read(chr)) {
        /* A regular file or /dev/null: reading never waits anyway. */
        loom_bh_schedule_idle(chr->in_bh);
    }
    if (chr->out_nowatch && chr_want_write(chr)) {
        /* Nothing to wait on: retry within ~10 ms, without spinning. */
        loom_bh_schedule_idle(chr->out_bh);
    }
}

void vmm__chr_unwatch_io(struct vmm_chr *chr)
{
    (void)vmm__chr_watch(chr, &chr->win, -1, NULL, NULL);
    (void)vmm__chr_watch(chr, &chr->wout, -1, NULL, NULL);
}

static void chr_notify_room(struct vmm_chr *chr)
{
    if (chr->fe_wants_room && vmm_chr_write_room(chr) > 0) {
        chr->fe_wants_room = false;
        if (chr->fe && chr->fe->writable) {
            chr->fe->writable(chr->fe_opaque);
        }
    }
}

static void chr_drop_output(struct vmm_chr *chr)
{
    chr->stats.out_dropped += chr->olen;
    chr->ohead = 0;
    chr->olen = 0;
    chr->out_blocked = false;
}

void vmm__chr_connected(struct vmm_chr *chr)
{
    chr->in_eof = chr->in_fd < 0;
    chr->out_dead = false;
    chr->out_blocked = false;
    chr->in_nowatch = chr->out_nowatch = false;
    chr->stats.connects++;
    vmm__chr_update(chr);
}

void vmm__chr_disconnected(struct vmm_chr *chr)
{
    int in = chr->in_fd, out = chr->out_fd;

    vmm__chr_unwatch_io(chr);
    chr->in_fd = chr->out_fd = -1;
    if (in >= 0) {
        close(in);
    }
    if (out >= 0 && out != in) {
        close(out);
    }
    chr_drop_output(chr);
    chr->in_eof = true;
    chr_notify_room(chr);
}

/* Input ended or failed. */
static void chr_input_closed(struct vmm_chr *chr)
{
    chr->in_eof = true;
    if (chr->be && chr->be->hangup) {
        chr->be->hangup(chr);
        return;
    }
    vmm__chr_update(chr);
}

/* Output failed for good: discard from now on, say so once. */
static void chr_output_failed(struct vmm_chr *chr, int err)
{
    if (chr->be && chr->be->hangup && chr->out_sock) {
        chr->be->hangup(chr);
        return;
    }
    fprintf(stderr, "loom-vm: console output failed (%s); discarding it\n",
            strerror(err));
    chr->out_dead = true;
    chr_drop_output(chr);
    vmm__chr_update(chr);
    chr_notify_room(chr);
}

static ssize_t chr_out_write(struct vmm_chr *chr, const uint8_t *buf,
                             size_t len)
{
    ssize_t n;

    if (chr->out_sock) {
        n = send(chr->out_fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    } else {
        n = write(chr->out_fd, buf, len);
    }
    return n < 0 ? -errno : n;
}

/*
 * Write as much buffered output as the backend takes now.  Return: true
 * if it stopped because a write would block.
 */
static bool chr_write_some(struct vmm_chr *chr)
{
    while (chr->olen > 0 && chr_out_connected(chr)) {
        size_t chunk = min_size(chr->olen, VMM_CHR_OUT_BUF_SIZE - chr->ohead);
        ssize_t n = chr_out_write(chr, chr->obuf + chr->ohead, chunk);

        if (n > 0) {
            chr->ohead = (chr->ohead + (size_t)n) % VMM_CHR_OUT_BUF_SIZE;
            chr->olen -= (size_t)n;
            chr->stats.out_bytes += (uint64_t)n;
            continue;
        }
        if (n == -EINTR) {
            continue;
        }
        if (n == -EAGAIN || n == -EWOULDBLOCK || n == 0) {
            chr->out_blocked = true;
            return true;
        }
        chr_output_failed(chr, (int)-n);
        return false;
    }
    if (chr->olen == 0) {
        chr->ohead = 0;
    }
    chr->out_blocked = false;
    return false;
}

static void chr_flush_out(struct vmm_chr *chr)
{
    chr_write_some(chr);
    vmm__chr_update(chr);
    chr_notify_room(chr);
}

static void chr_out_bh(void *opaque)
{
    chr_flush_out(opaque);
}

static void chr_on_writable(void *opaque)
{
    chr_flush_out(opaque);
}

void vmm__chr_input_push(struct vmm_chr *chr, const uint8_t *buf, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (chr->ilen == VMM_CHR_IN_BUF_SIZE) {
            chr->stats.in_dropped += len - i;
            return;
        }
        chr->ibuf[(chr->ihead + chr->ilen) % VMM_CHR_IN_BUF_SIZE] = buf[i];
        chr->ilen++;
    }
}

/* Hand held input to the frontend while it takes it. */
static void chr_deliver(struct vmm_chr *chr)
{
    while (chr->ilen > 0 && chr->fe) {
        size_t n = chr->fe->can_receive(chr->fe_opaque);
        size_t chunk;

        if (n == 0) {
            break;
        }
        chunk =
            min_size(min_size(n, chr->ilen), VMM_CHR_IN_BUF_SIZE - chr->ihead);
        chr->fe->receive(chr->fe_opaque, chr->ibuf + chr->ihead, chunk);
        chr->ihead = (chr->ihead + chunk) % VMM_CHR_IN_BUF_SIZE;
        chr->ilen -= chunk;
        chr->stats.in_bytes += chunk;
    }
    if (chr->ilen == 0) {
        chr->ihead = 0;
    }
}

/* Read one chunk from in_fd.  Return: true if it may have more now. */
static bool chr_read_some(struct vmm_chr *chr)
{
    uint8_t buf[CHR_READ_CHUNK];
    size_t want = sizeof(buf);
    ssize_t n;

    if (!chr->mux) {
        want = min_size(want, VMM_CHR_IN_BUF_SIZE - chr->ilen);
    }
    if (want == 0 || chr->in_fd < 0 || chr->in_eof) {
        return false;
    }
    if (chr->in_sock) {
        n = recv(chr->in_fd, buf, want, MSG_DONTWAIT);
    } else {
        n = read(chr->in_fd, buf, want);
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return false;
    }
    if (n <= 0) {
        chr_input_closed(chr);
        return false;
    }
    if (chr->mux) {
        vmm__chr_mux_input(chr, buf, (size_t)n);
    } else {
        vmm__chr_input_push(chr, buf, (size_t)n);
    }
    chr_deliver(chr);
    return (size_t)n == want;
}

static void chr_on_readable(void *opaque)
{
    struct vmm_chr *chr = opaque;

    chr_read_some(chr);
    vmm__chr_update(chr);
}

static void chr_in_bh(void *opaque)
{
    struct vmm_chr *chr = opaque;

    bool more = false;

    chr_deliver(chr);
    if (chr->in_nowatch && chr_want_read(chr)) {
        /* An fd nothing can wait on: one chunk per loop iteration. */
        more = chr_read_some(chr);
    }
    vmm__chr_update(chr);
    if (more && chr_want_read(chr)) {
        loom_bh_schedule(chr->in_bh);
    }
}

size_t vmm_chr_write_room(struct vmm_chr *chr)
{
    if (!chr_out_connected(chr)) {
        return SIZE_MAX;
    }
    return VMM_CHR_OUT_BUF_SIZE - chr->olen;
}

size_t vmm_chr_write(struct vmm_chr *chr, const uint8_t *buf, size_t len)
{
    size_t n, tail, first;

    if (!chr_out_connected(chr)) {
        chr->stats.out_dropped += len;
        return len;
    }
    n = min_size(len, VMM_CHR_OUT_BUF_SIZE - chr->olen);
    tail = (chr->ohead + chr->olen) % VMM_CHR_OUT_BUF_SIZE;
    first = min_size(n, VMM_CHR_OUT_BUF_SIZE - tail);
    memcpy(chr->obuf + tail, buf, first);
    memcpy(chr->obuf, buf + first, n - first);
    chr->olen += n;
    if (n < len) {
        chr->fe_wants_room = true;
    }
    /* While blocked, the write handler (or the idle retry) runs it. */
    if (n > 0 && !chr->out_blocked) {
        loom_bh_schedule(chr->out_bh);
    }
    return n;
}

void vmm__chr_write_msg(struct vmm_chr *chr, const char *msg)
{
    size_t len = strlen(msg);
    size_t n = vmm_chr_write(chr, (const uint8_t *)msg, len);

    /* Not a frontend: nobody retries what did not fit. */
    chr->stats.out_dropped += len - n;
}

void vmm_chr_accept_input(struct vmm_chr *chr)
{
    if (chr && chr->ilen > 0) {
        loom_bh_schedule(chr->in_bh);
    }
}

int vmm_chr_set_frontend(struct vmm_chr *chr, const struct vmm_chr_frontend *fe,
                         void *opaque)
{
    if (!chr) {
        return -EINVAL;
    }
    if (fe && chr->fe) {
        return -EBUSY;
    }
    chr->fe = fe;
    chr->fe_opaque = fe ? opaque : NULL;
    chr->fe_wants_room = false;
    if (fe && chr->ilen > 0) {
        loom_bh_schedule(chr->in_bh);
    }
    return 0;
}

int vmm_chr_flush(struct vmm_chr *chr, int64_t timeout_ns)
{
    int64_t deadline = loom_clock_ns(LOOM_CLOCK_HOST) + timeout_ns;

    for (;;) {
        struct pollfd pfd;
        int64_t left;

        if (!chr_write_some(chr)) {
            /* Done, or the output failed and was discarded. */
            chr_notify_room(chr);
            if (chr->olen == 0 || !chr_out_connected(chr)) {
                break;
            }
            continue;
        }
        left = deadline - loom_clock_ns(LOOM_CLOCK_HOST);
        if (left <= 0) {
            break;
        }
        pfd.fd = chr->out_fd;
        pfd.events = POLLOUT;
        pfd.revents = 0;
        (void)poll(&pfd, 1, (int)((left + 999999) / 1000000));
    }
    vmm__chr_update(chr);
    return chr->olen ? -ETIMEDOUT : 0;
}

struct loom_loop *vmm_chr_loop(struct vmm_chr *chr)
{
    return chr ? chr->loop : NULL;
}

bool vmm_chr_connected(struct vmm_chr *chr)
{
    return chr && chr_out_connected(chr);
}

void vmm_chr_stats(struct vmm_chr *chr, struct vmm_chr_stats *st)
{
    if (!chr || !st) {
        return;
    }
    *st = chr->stats;
    st->out_buffered = chr->olen;
}

static int chr_open_backend(struct vmm_chr *chr,
                            const struct vmm_config_chr *cfg)
{
    switch (cfg->kind) {
    case VMM_CHR_NONE:
    case VMM_CHR_NULL:
        /* No backend: output is discarded (counted), no input. */
        return 0;
    case VMM_CHR_STDIO:
    case VMM_CHR_MON_STDIO:
        return vmm__chr_open_stdio(chr, cfg->kind == VMM_CHR_MON_STDIO);
    case VMM_CHR_FILE:
        if (!cfg->path || !cfg->path[0]) {
            return -EINVAL;
        }
        return vmm__chr_open_file(chr, cfg->path);
    case VMM_CHR_UNIX:
        if (!cfg->path || !cfg->path[0]) {
            return -EINVAL;
        }
        return vmm__chr_open_unix(chr, cfg->path, cfg->server, cfg->wait);
    default:
        break;
    }
    return -EINVAL;
}

int vmm_chr_new(const struct vmm_config_chr *cfg, struct loom_loop *loop,
                vmm_chr_quit_fn *quit, void *quit_opaque, struct vmm_chr **ret)
{
    struct vmm_chr *chr;
    int err;

    if (!cfg || !loop || !ret) {
        return -EINVAL;
    }
    chr = calloc(1, sizeof(*chr));
    if (!chr) {
        return -ENOMEM;
    }
    chr->kind = cfg->kind;
    chr->loop = loop;
    chr->legacy = loop == loom_main_loop();
    chr->quit = quit;
    chr->quit_opaque = quit_opaque;
    chr->in_fd = chr->out_fd = chr->listen_fd = -1;
    chr->win.fd = chr->wout.fd = chr->wlisten.fd = -1;
    chr->in_eof = true;
    chr->obuf = malloc(VMM_CHR_OUT_BUF_SIZE);
    if (!chr->obuf) {
        err = -ENOMEM;
        goto fail;
    }
    err = loom_bh_new(loop, chr_out_bh, chr, "chr-out", &chr->out_bh);
    if (err < 0) {
        goto fail;
    }
    err = loom_bh_new(loop, chr_in_bh, chr, "chr-in", &chr->in_bh);
    if (err < 0) {
        goto fail;
    }
    err = chr_open_backend(chr, cfg);
    if (err < 0) {
        goto fail;
    }
    *ret = chr;
    return 0;

fail:
    free(chr->path);
    loom_bh_free(chr->in_bh);
    loom_bh_free(chr->out_bh);
    free(chr->obuf);
    free(chr);
    return err;
}

void vmm_chr_free(struct vmm_chr *chr)
{
    if (!chr) {
        return;
    }
    vmm__chr_unwatch_io(chr);
    if (chr->be && chr->be->close) {
        chr->be->close(chr);
    }
    if (chr->in_fd >= 0) {
        close(chr->in_fd);
    }
    if (chr->out_fd >= 0 && chr->out_fd != chr->in_fd) {
        close(chr->out_fd);
    }
    chr->stats.out_dropped += chr->olen;
    chr->stats.in_dropped += chr->ilen;
    loom_bh_free(chr->in_bh);
    loom_bh_free(chr->out_bh);
    free(chr->obuf);
    free(chr->path);
    free(chr);
}
