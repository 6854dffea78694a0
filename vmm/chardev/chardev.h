/* SPDX-License-Identifier: MIT */
/*
 * Character backends: where a character device (the serial port, later
 * the monitor) sends its output and gets its input.  QEMU's chardevs, for
 * the subset loom-vm supports (vmm_chr_new() lists them).
 *
 * Threads: a chardev belongs to one loop, the main loop in loom-vm, which
 * owns its file descriptors.  Every function here and every frontend
 * callback runs with the BQL held: the device side (vmm_chr_write(),
 * vmm_chr_accept_input()) on whichever thread dispatched a guest access,
 * the rest on the loop's thread.  Nothing ever blocks on the backend:
 * output goes into a bounded buffer that a bottom half of the loop writes
 * out without blocking, and input is read by the loop when it is ready.
 *
 * Limits (everything a guest can fill is bounded): the output buffer holds
 * VMM_CHR_OUT_BUF_SIZE bytes; what does not fit is refused (the frontend
 * keeps it and retries when told the buffer has room).  Input read ahead
 * of the frontend is held up to VMM_CHR_IN_BUF_SIZE bytes.
 */
#ifndef VMM_CHARDEV_CHARDEV_H
#define VMM_CHARDEV_CHARDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <loom/loop.h>

#include "config.h"

/* Bytes of output buffered while the backend is slow (documented limit). */
#define VMM_CHR_OUT_BUF_SIZE (64 * 1024)
/* Bytes of input read from the backend before the frontend takes them. */
#define VMM_CHR_IN_BUF_SIZE 4096
/* The multiplexer's escape character (Ctrl-a), as QEMU's default. */
#define VMM_CHR_MUX_ESCAPE 0x01

struct vmm_chr;

/* Events a backend sends to its frontend. */
enum vmm_chr_event {
    VMM_CHR_EVENT_BREAK, /* a break condition (mon:stdio: Ctrl-a b) */
};

/**
 * struct vmm_chr_frontend - the device attached to a chardev.
 * @can_receive: how many bytes @receive may be given now (0: none; input
 *     then waits in the chardev until the frontend calls
 *     vmm_chr_accept_input()).
 * @receive: take @len (> 0, at most what @can_receive returned) bytes.
 * @event: a backend event, or NULL to ignore events.
 * @writable: the output buffer has room again after a vmm_chr_write()
 *     that was refused some bytes; NULL if the frontend never retries.
 *
 * Callback: the chardev loop's thread, with the BQL held (as the loop's
 * caller holds it).  Callbacks must not free the chardev or detach.
 */
struct vmm_chr_frontend {
    size_t (*can_receive)(void *opaque);
    void (*receive)(void *opaque, const uint8_t *buf, size_t len);
    void (*event)(void *opaque, enum vmm_chr_event event);
    void (*writable)(void *opaque);
};

/**
 * typedef vmm_chr_quit_fn - the machine's "quit" (mon:stdio Ctrl-a x).
 * @opaque: the pointer given to vmm_chr_new().
 *
 * Callback: the chardev loop's thread, BQL held.  It should request an
 * orderly shutdown (exit status 0, as QEMU's quit), not exit.
 */
typedef void vmm_chr_quit_fn(void *opaque);

/**
 * struct vmm_chr_stats - chardev counters (monotonic except @out_buffered).
 * @out_bytes: bytes written to the backend.
 * @out_dropped: bytes accepted but discarded: nowhere to send them (no
 *     backend, no peer connected), a failed output, or still buffered
 *     when the chardev was freed.
 * @out_buffered: bytes waiting in the output buffer now.
 * @in_bytes: bytes read from the backend and handed to the frontend.
 * @in_dropped: input discarded because the frontend did not take it in
 *     time (a backend that reads whatever the frontend does, as mon:stdio
 *     so that Ctrl-a always works) or still held when the chardev was
 *     freed.
 * @connects: connections made or accepted (socket backends).
 */
struct vmm_chr_stats {
    uint64_t out_bytes;
    uint64_t out_dropped;
    uint64_t out_buffered;
    uint64_t in_bytes;
    uint64_t in_dropped;
    uint64_t connects;
};

/**
 * vmm_chr_new() - open a character backend.
 * @cfg: what to open (the backends are listed below).
 * @loop: the loop that owns the backend's file descriptors and runs the
 *     frontend's callbacks; loom-vm passes loom_main_loop() (whose fd
 *     handlers then go in its legacy group, out of nested polls).
 * @quit: the machine's quit, for a user's request through the backend
 *     (mon:stdio's Ctrl-a x); NULL requests a shutdown with
 *     loom_request_shutdown(LOOM_SHUTDOWN_REQUEST).
 * @quit_opaque: passed to @quit.
 * @ret: receives the chardev.
 *
 * Backends, by @cfg->kind:
 *
 * - NONE: discards output (counted), never has input.
 * - FILE: @cfg->path, created or truncated; output only.
 * - UNIX: @cfg->path; listening when @cfg->server (replacing a stale
 *   socket file; with @cfg->wait the call runs @loop until a client
 *   connects or a shutdown is requested), else connecting to it.
 * - STDIO, MON_STDIO: file descriptors 0 and 1, one chardev at a time.
 *   On a terminal, stdin is put in raw mode (as QEMU: no echo, no line
 *   editing, no CR/NL translation, output processing kept), keeping ISIG
 *   for STDIO (Ctrl-C signals the process) and turning it off for
 *   MON_STDIO (Ctrl-C goes to the guest, Ctrl-a commands to loom-vm).
 *   The terminal is restored by vmm_chr_free(), at exit(), and on fatal
 *   signals (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGQUIT, SIGHUP,
 *   SIGPIPE, SIGSYS: the handler restores, then re-delivers the signal to
 *   the previous disposition).  Standard streams that are not terminals
 *   are left as they are.  Non-blocking I/O never changes the flags of
 *   the shared open file: a terminal or pipe is reopened through
 *   /proc/self/fd.
 *
 * Context: the thread of @loop, bql.
 * Return: 0; -EINVAL for a NULL @cfg, @loop or @ret, a kind not listed
 * above or a missing path; -ENOMEM; FILE: the negative errno of open()
 * (-ENXIO: a FIFO with no reader); UNIX: -ENAMETOOLONG for a path too long
 * for sockaddr_un, -EINTR if a shutdown was requested while waiting for a
 * client, or the negative errno of socket(), bind(), listen() or
 * connect(); STDIO, MON_STDIO: -EBUSY if stdio is already in use.
 */
int vmm_chr_new(const struct vmm_config_chr *cfg, struct loom_loop *loop,
                vmm_chr_quit_fn *quit, void *quit_opaque, struct vmm_chr **ret);

/**
 * vmm_chr_free() - close a chardev.
 * @chr: the chardev, or NULL.
 *
 * Output still buffered is discarded (counted): call vmm_chr_flush()
 * first.  Closes the descriptors and undoes what the backend set up (a
 * terminal's mode, a server's socket file).  The frontend must have
 * detached.
 *
 * Context: the thread of its loop, bql.
 */
void vmm_chr_free(struct vmm_chr *chr);

/**
 * vmm_chr_set_frontend() - attach or detach the device.
 * @chr: the chardev.
 * @fe: the callbacks (must outlive the attachment), or NULL to detach.
 * @opaque: passed to them.
 *
 * Input that arrived before a frontend attached is held (up to the input
 * buffer) and delivered once it can receive.
 *
 * Context: any, bql.
 * Return: 0; -EINVAL for a NULL @chr; -EBUSY if another frontend is
 * attached.
 */
int vmm_chr_set_frontend(struct vmm_chr *chr, const struct vmm_chr_frontend *fe,
                         void *opaque);

/**
 * vmm_chr_write() - queue output.
 * @chr: the chardev.
 * @buf: the bytes.
 * @len: how many.
 *
 * Never blocks.  With no place to send output (none, no client, failed
 * output) every byte is accepted and counted as dropped.  Otherwise the
 * bytes that fit in the output buffer are taken; if some did not fit, the
 * frontend's writable callback is called once there is room again.
 *
 * Context: any, bql.
 * Return: the number of bytes taken (0..@len).
 */
size_t vmm_chr_write(struct vmm_chr *chr, const uint8_t *buf, size_t len);

/**
 * vmm_chr_write_room() - bytes vmm_chr_write() would take now.
 * Context: any, bql.
 */
size_t vmm_chr_write_room(struct vmm_chr *chr);

/**
 * vmm_chr_accept_input() - the frontend can take input again.
 * @chr: the chardev.
 *
 * Schedules delivery of held input (and reading, if it had paused) in
 * the chardev's loop; cheap when nothing waits.
 *
 * Context: any, bql.
 */
void vmm_chr_accept_input(struct vmm_chr *chr);

/**
 * vmm_chr_flush() - write out buffered output, waiting at most @timeout_ns.
 * @chr: the chardev.
 * @timeout_ns: the longest wait for a slow backend, >= 0.
 *
 * For teardown (and any exit path that can afford a bounded wait): the
 * loop need not run.
 *
 * Context: the thread of its loop, bql.
 * Return: 0 when the buffer is empty (also when output is discarded);
 * -ETIMEDOUT if bytes remain.
 */
int vmm_chr_flush(struct vmm_chr *chr, int64_t timeout_ns);

/**
 * vmm_chr_loop() - the loop given to vmm_chr_new().
 * Context: any.
 */
struct loom_loop *vmm_chr_loop(struct vmm_chr *chr);

/**
 * vmm_chr_connected() - whether output currently goes somewhere.
 *
 * False while output is discarded: no backend, no peer connected, or
 * after an output error.
 *
 * Context: any, bql.
 */
bool vmm_chr_connected(struct vmm_chr *chr);

/**
 * vmm_chr_stats() - read the counters.
 * Context: any, bql.
 */
void vmm_chr_stats(struct vmm_chr *chr, struct vmm_chr_stats *st);

#endif /* VMM_CHARDEV_CHARDEV_H */
