/* SPDX-License-Identifier: MIT */
/*
 * Block backends: a raw image opened once (struct vmm_blk_backend, shared
 * by every thread that serves the device) and, per serving loop, a
 * submission context (struct vmm_blk_ctx) that runs requests with io_uring
 * (one ring per loop, its eventfd watched by the loop) or with the loop's
 * thread pool (preadv/pwritev).  A request's completion always runs in the
 * home thread of the loop it was submitted on, never from inside
 * vmm_blk_submit().
 *
 * Cache modes (QEMU's): writeback uses the page cache; none opens with
 * O_DIRECT, bounce-buffers requests whose guest buffers are not aligned
 * and read-modify-writes where the file's alignment exceeds 512 bytes;
 * both acknowledge a FLUSH only after fdatasync (or IORING_OP_FSYNC with
 * DATASYNC) completed.  unsafe acknowledges FLUSH at once.
 *
 * A file name "x-loom-fault:SPEC:IMAGE" opens IMAGE behind a fault
 * injector (tests; docs/design/vmm-virtio.md documents SPEC):
 *   fail@N[-M]=ERR   requests N..M (1-based, every kind counted, in
 *                    submission order; "N-" = from N on) fail with ERR
 *                    (EIO, ENOSPC, EPERM, EINVAL, ENOMEM, EROFS, EDQUOT,
 *                    ETIMEDOUT or a number) without touching the file;
 *   short@N[-M]      their first read/write transfer moves at most half
 *                    the bytes (the backend must go on with the rest);
 *   stall@N[-M]=MS   they start only after MS milliseconds (in flight
 *                    meanwhile);
 *   align=N          the file behaves as if its O_DIRECT alignment were N
 *                    (512..65536, a power of two): every transfer that is
 *                    not N-aligned fails with EINVAL;
 * rules joined with '+', e.g.
 * "x-loom-fault:fail@3=ENOSPC+stall@1-2=50:disk.img".
 */
#ifndef VMM_BLOCK_BACKEND_H
#define VMM_BLOCK_BACKEND_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <loom/loop.h>

#include "config.h"

/** VMM_BLK_SECTOR - the unit of virtio-blk addresses. */
#define VMM_BLK_SECTOR 512u
/** VMM_BLK_MAX_BOUNCE - largest request the backend bounce-buffers. */
#define VMM_BLK_MAX_BOUNCE (64u << 20)

/**
 * enum vmm_blk_op - what a request does.
 * @VMM_BLK_OP_READ: read @len bytes at @offset into @iov.
 * @VMM_BLK_OP_WRITE: write @iov at @offset.
 * @VMM_BLK_OP_FLUSH: make every completed write stable.
 * @VMM_BLK_OP_DISCARD: deallocate [@offset, @offset + @len) (advisory:
 *     succeeds where the file system cannot).
 * @VMM_BLK_OP_WRITE_ZEROES: make [@offset, @offset + @len) read as zeroes.
 */
enum vmm_blk_op {
    VMM_BLK_OP_READ,
    VMM_BLK_OP_WRITE,
    VMM_BLK_OP_FLUSH,
    VMM_BLK_OP_DISCARD,
    VMM_BLK_OP_WRITE_ZEROES,
};

/* Request flags. */
/** VMM_BLK_REQ_FUA - write-through: stable (synced) before completion. */
#define VMM_BLK_REQ_FUA 0x1u
/** VMM_BLK_REQ_UNMAP - write zeroes may deallocate the range. */
#define VMM_BLK_REQ_UNMAP 0x2u

struct vmm_blk_req;

/**
 * typedef vmm_blk_done_fn - completion of a request.
 * @req: the request.
 * @ret: 0, or a negative errno (a transfer that ended early is -EIO).
 *
 * Callback: home(the loop of the context it was submitted to).
 */
typedef void vmm_blk_done_fn(struct vmm_blk_req *req, int ret);

/**
 * struct vmm_blk_req - a request, owned by the caller until @done runs.
 * @op: what to do.
 * @flags: VMM_BLK_REQ_*.
 * @offset: byte offset in the image (READ, WRITE, DISCARD, WRITE_ZEROES).
 * @len: byte count; for READ and WRITE the total of @iov.
 * @iov: the buffers of READ and WRITE (host memory, e.g. guest RAM); may
 *     be used until @done.
 * @iovcnt: entries in @iov (at most 1024).
 * @done: the completion callback.
 * @opaque: for the caller.
 */
struct vmm_blk_req {
    enum vmm_blk_op op;
    unsigned flags;
    uint64_t offset;
    uint64_t len;
    const struct iovec *iov;
    unsigned iovcnt;
    vmm_blk_done_fn *done;
    void *opaque;
};

struct vmm_blk_backend;
struct vmm_blk_ctx;

/**
 * vmm_blk_backend_open() - open a drive's image.
 * @drive: the -drive options (file, cache, readonly, discard; aio is used
 *     by vmm_blk_ctx_new()).
 * @ret: receives the backend.
 * @errmsg: receives a malloc'ed one-line message on failure, or NULL.
 *
 * The size is rounded down to a multiple of 512 (a partial last sector is
 * not addressable).
 *
 * Context: any.
 * Return: 0; -EINVAL for a bad fault SPEC or a file that is neither a
 * regular file nor a block device; the negative errno of open() or
 * fstat() (e.g. -ENOENT; -EINVAL when the file system refuses O_DIRECT);
 * -ENOMEM.
 */
int vmm_blk_backend_open(const struct vmm_config_drive *drive,
                         struct vmm_blk_backend **ret, char **errmsg);

/**
 * vmm_blk_backend_free() - close the image.
 * @b: the backend, or NULL.  Every context must be freed first.
 * Context: any.
 */
void vmm_blk_backend_free(struct vmm_blk_backend *b);

/**
 * vmm_blk_backend_size() - the image's size in bytes (a multiple of 512).
 * Context: any.
 */
uint64_t vmm_blk_backend_size(const struct vmm_blk_backend *b);

/**
 * vmm_blk_backend_readonly() - whether writes are refused (-EROFS).
 * Context: any.
 */
bool vmm_blk_backend_readonly(const struct vmm_blk_backend *b);

/**
 * vmm_blk_backend_align() - the transfer alignment the file needs (1 in
 * the page cache; the O_DIRECT alignment with cache=none).
 * Context: any.
 */
unsigned vmm_blk_backend_align(const struct vmm_blk_backend *b);

/**
 * vmm_blk_backend_inline_reads() - whether the io_uring engine copies
 * reads in the loop thread.
 *
 * True for a regular file on tmpfs or ramfs: its reads are memory
 * copies, but io_uring cannot try them without blocking (these file
 * systems lack FMODE_NOWAIT) and hands every one to a kernel worker
 * thread, two thread wake-ups per request.  The loop thread then copies a
 * read below 256 KiB itself; at most VMM_BLK_INLINE_BUDGET bytes per
 * batch of requests, so that a guest cannot keep the loop from its other
 * work for longer than such a copy.  The budget bounds bytes, not time: a
 * copy waits for the swap device if the host swapped the file's pages
 * out, as a touch of swapped-out guest RAM would.
 *
 * Context: any.
 */
bool vmm_blk_backend_inline_reads(const struct vmm_blk_backend *b);

/**
 * vmm_blk_backend_set_inline_reads() - override what
 * vmm_blk_backend_inline_reads() found at open (tests).
 * Context: before the first context of @b is created.
 */
void vmm_blk_backend_set_inline_reads(struct vmm_blk_backend *b, bool on);

/* Bytes the loop thread copies inline per batch of requests. */
#define VMM_BLK_INLINE_BUDGET (1u << 20)

/**
 * struct vmm_blk_backend_stats - counters of a backend (all contexts).
 * @reads: READ requests completed (successfully or not), likewise
 * @writes, @flushes, @discards, @write_zeroes.
 * @read_bytes: bytes of successful READs; @write_bytes likewise.
 * @errors: requests completed with an error.
 * @syncs: fdatasync / IORING_OP_FSYNC calls that completed successfully;
 *     incremented before the completion that waited for them runs, so a
 *     caller can prove a sync happened before it acknowledged a FLUSH.
 * @bounced: requests that went through a bounce buffer.
 * @rmw: writes done as read-modify-write.
 * @short_transfers: transfers that moved fewer bytes than asked and were
 *     continued.
 * @uring_submits: io_uring_submit() calls that submitted something.
 * @uring_sqes: SQEs submitted (uring_sqes / uring_submits = batching).
 * @pool_jobs: requests (or steps) run on the thread pool.
 * @faults: requests the fault injector failed, shortened or stalled.
 * @inline_reads: io_uring engine: read transfers copied by the loop
 *     thread itself (vmm_blk_backend_inline_reads()).
 */
struct vmm_blk_backend_stats {
    uint64_t reads, writes, flushes, discards, write_zeroes;
    uint64_t read_bytes, write_bytes;
    uint64_t errors;
    uint64_t syncs;
    uint64_t bounced, rmw, short_transfers;
    uint64_t uring_submits, uring_sqes, pool_jobs;
    uint64_t faults;
    uint64_t inline_reads;
};

/**
 * vmm_blk_backend_stats() - read the counters (each atomically).
 * Context: any.
 */
void vmm_blk_backend_stats(const struct vmm_blk_backend *b,
                           struct vmm_blk_backend_stats *st);

/**
 * vmm_blk_ctx_new() - a submission context of @b on @loop.
 * @b: the backend.
 * @loop: the loop whose thread submits and completes.
 * @aio: VMM_AIO_IO_URING (one ring per loop, shared by the contexts of
 *     every backend on it; if the kernel refuses io_uring the context uses
 *     the thread pool) or VMM_AIO_THREADS.
 * @max_batch: most SQEs queued before they are submitted while plugged
 *     (0: no limit but the ring's size).
 * @ret: receives the context.
 *
 * Context: home(@loop).
 * Return: 0; -EINVAL for NULL arguments; -ENOMEM; the negative errno of
 * eventfd() or of loom_set_fd_handler().
 */
int vmm_blk_ctx_new(struct vmm_blk_backend *b, struct loom_loop *loop,
                    enum vmm_aio_mode aio, unsigned max_batch,
                    struct vmm_blk_ctx **ret);

/**
 * vmm_blk_ctx_free() - free a context.
 * @c: the context, or NULL.
 *
 * Requests still in flight are waited for (the loop is polled) and their
 * completions run first.
 *
 * Context: home(loop).
 */
void vmm_blk_ctx_free(struct vmm_blk_ctx *c);

/**
 * vmm_blk_ctx_uses_uring() - whether requests go through io_uring.
 * Context: any.
 */
bool vmm_blk_ctx_uses_uring(const struct vmm_blk_ctx *c);

/**
 * vmm_blk_submit() - start a request.
 * @c: the context.
 * @req: the request, filled in; it must stay valid until @req->done runs.
 *
 * Never completes synchronously: errors found at once (a write to a
 * read-only image: -EROFS; a range past the image or a bad iov: -EINVAL)
 * come back through @req->done too, from a BH.
 *
 * Context: home(loop), or a thread that holds the BQL when @c's loop is
 * the main loop (see vmm_blk_ctx_abandon()).
 * Return: 0 (@req->done will run); -ENOMEM (it will not).
 */
int vmm_blk_submit(struct vmm_blk_ctx *c, struct vmm_blk_req *req);

/**
 * vmm_blk_plug() - hold io_uring submissions back (nestable).
 * @c: the context.
 *
 * Until the matching vmm_blk_unplug(), requests are queued in the ring
 * (up to max_batch) and submitted together: one system call per batch.
 *
 * Context: as vmm_blk_submit().
 */
void vmm_blk_plug(struct vmm_blk_ctx *c);

/**
 * vmm_blk_unplug() - submit what vmm_blk_plug() held back.
 * Context: as vmm_blk_submit().
 */
void vmm_blk_unplug(struct vmm_blk_ctx *c);

/**
 * vmm_blk_ctx_defer() - run @fn(@opaque) once the batch of completions
 * being delivered now is delivered.
 * @c: the context whose request's done callback calls this.
 * @fn: what to run (e.g. a device's interrupt decision).
 * @opaque: its argument.
 *
 * QEMU's defer_call: a done callback that wants one action per batch of
 * completions (one interrupt decision for every used entry pushed) asks
 * for it here instead of scheduling a BH, which would cost the loop an
 * extra pass (and, busy-polling, a system call) per batch.  The same
 * (@fn, @opaque) asked for twice in one batch runs once.  @fn runs in
 * the same thread before the loop goes on; it must not free @c.
 * With io_uring, a batch is a reap of the ring, or a pass of the
 * context's BH (results known at submission, reads the loop thread did).
 *
 * Context: home(loop), inside a done callback.
 * Return: true if @fn will run; false if no batch is being delivered
 * (the pool's completions, a context without a ring) or the batch's list
 * is full: the caller then schedules its own BH.
 */
bool vmm_blk_ctx_defer(struct vmm_blk_ctx *c, void (*fn)(void *opaque),
                       void *opaque);

/**
 * vmm_blk_ctx_inflight() - requests submitted whose completion has not
 * run (abandoned ones excluded).
 * Context: as vmm_blk_submit().
 */
unsigned vmm_blk_ctx_inflight(const struct vmm_blk_ctx *c);

/**
 * vmm_blk_ctx_drain() - poll the loop until no request is in flight.
 * @c: the context.
 *
 * Every completion runs (in this thread).  Nested loom_loop_poll():
 * allowed from any callback of the loop.
 *
 * Context: home(loop).
 */
void vmm_blk_ctx_drain(struct vmm_blk_ctx *c);

/**
 * vmm_blk_ctx_abandon() - detach every request in flight.
 * @c: the context.
 *
 * For a thread that cannot poll @c's loop but keeps it from dispatching:
 * a vCPU holding the BQL while @c's loop is the main loop (which runs its
 * callbacks only with the BQL held).  Waits until no request of @c can
 * touch its buffers any more (pool jobs not started are cancelled, running
 * ones waited for; io_uring completions are reaped from the ring and
 * handed to their contexts' BHs); their done callbacks will never run, and
 * the caller may reuse the requests at once.
 *
 * Context: home(loop), or bql when the loop is the main loop.
 * Return: the number of requests abandoned.
 */
unsigned vmm_blk_ctx_abandon(struct vmm_blk_ctx *c);

#endif /* VMM_BLOCK_BACKEND_H */
