/* SPDX-License-Identifier: MIT */
/*
 * Internals shared by the block backend's files: backend.c (open, submit,
 * completion, drain), threads.c (the thread-pool engine and every
 * synchronous path: read-modify-write, zero writes), uring.c (the io_uring
 * engine, one ring per loop) and fault.c (x-loom-fault).
 *
 * An op is the backend's private state for one submitted request; it
 * lives from vmm_blk_submit() until its completion ran (or, once
 * abandoned, until the engine is done with it).  Ops belong to their
 * context's loop thread, except under the exclusion vmm_blk_ctx_abandon()
 * relies on.
 */
#ifndef VMM_BLOCK_BLOCK_INT_H
#define VMM_BLOCK_BLOCK_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <loom/bh.h>
#include <loom/pool.h>
#include <loom/thread.h>
#include <loom/timer.h>

#include "block/backend.h"

#define BLK_MAX_FAULT_RULES 16

enum blk_fault_kind {
    BLK_FAULT_FAIL,
    BLK_FAULT_SHORT,
    BLK_FAULT_STALL,
};

struct blk_fault_rule {
    enum blk_fault_kind kind;
    uint64_t first, last; /* request numbers, 1-based, inclusive */
    int err;              /* FAIL: positive errno */
    int64_t stall_ns;     /* STALL */
};

struct blk_fault {
    unsigned nr;
    struct blk_fault_rule rules[BLK_MAX_FAULT_RULES];
    unsigned align;   /* emulated O_DIRECT alignment, 0 if none */
    uint64_t counter; /* requests seen (atomic) */
};

/* What the fault injector decided for one request. */
struct blk_fault_action {
    int err;          /* > 0: fail with -err */
    bool shorten;     /* shorten the first transfer */
    int64_t stall_ns; /* > 0: start after this long */
};

/* A byte range held by a writer (read-modify-write serialisation). */
struct blk_range {
    uint64_t start, end;
    struct blk_range *next;
};

struct vmm_blk_backend {
    /* Immutable after open. */
    int fd;
    uint64_t size;
    bool readonly;
    bool direct;
    bool inline_reads; /* vmm_blk_backend_inline_reads() */
    enum vmm_cache_mode cache;
    enum vmm_discard_mode discard;
    unsigned align; /* 1, or the transfer alignment the file needs */
    bool rmw_lock;  /* writes may read-modify-write: serialise by range */
    struct blk_fault *fault;
    /* Protected by range_lock. */
    struct loom_mutex range_lock;
    struct loom_cond range_cond;
    struct blk_range *ranges;
    /* Atomic. */
    struct vmm_blk_backend_stats stats;
};

enum blk_op_state {
    OP_IDLE,     /* being set up, or between steps */
    OP_STALLED,  /* fault injection: waiting for its timer */
    OP_POOL,     /* on the thread pool */
    OP_URING,    /* an SQE is queued or submitted */
    OP_DEFERRED, /* on the context's completion list */
};

struct blk_op {
    struct vmm_blk_ctx *ctx;
    struct vmm_blk_req *req; /* NULL once abandoned */
    enum vmm_blk_op kind;
    unsigned flags;
    uint64_t offset, len;
    enum blk_op_state state;
    /* The transfer still to do: a copy of the caller's iov, advanced
     * past what moved, or one entry over the bounce buffer. */
    struct iovec *iov;
    unsigned iovcnt;
    struct iovec iov_inline[4];
    uint64_t moved;      /* bytes of the transfer done */
    uint64_t xfer_off;   /* file offset of the transfer */
    uint64_t xfer_len;   /* its total length */
    uint64_t xfer_need;  /* a read may stop at end of file after this */
    struct iovec *cut;   /* io_uring: the shortened first transfer */
    uint64_t limit;      /* fault: the first transfer moves at most this */
    void *bounce;        /* aligned buffer, or NULL */
    uint64_t bounce_off; /* file offset of bounce[0] */
    bool sync_step;      /* the data moved; now fdatasync (FUA) */
    bool punch_tried;    /* write zeroes: punching failed, now zeroing */
    int res;             /* a parked io_uring result (OP_DEFERRED) */
    int ret;             /* final result (OP_DEFERRED, finished) */
    bool finished;       /* ret is final: complete it */
    /* Thread pool. */
    struct loom_pool_req *preq;
    int fn_done; /* atomic: the pool function returned */
    struct loom_timer *stall;
    struct blk_op *prev, *next; /* ctx->ops */
    struct blk_op *dnext;       /* ctx->deferred */
};

struct blk_uring;

struct vmm_blk_ctx {
    /* Immutable after vmm_blk_ctx_new(). */
    struct vmm_blk_backend *b;
    struct loom_loop *loop;
    struct blk_uring *ring; /* NULL: thread pool only */
    unsigned max_batch;
    struct loom_bh *bh; /* runs the deferred list */
    /* Home thread (or the abandoning thread under exclusion). */
    struct blk_op *ops; /* every live op */
    unsigned inflight;  /* ops with a request */
    unsigned nops;
    struct blk_op *deferred;
    struct blk_op *deferred_tail;
    /* Freed ops kept for reuse (linked by next), at most OP_CACHE_MAX. */
    struct blk_op *op_cache;
    unsigned op_cached;
    /* Waiting for pool functions to return (vmm_blk_ctx_abandon()). */
    struct loom_mutex wait_lock;
    struct loom_cond wait_cond;
};

/* Atomic statistics. */
#define BLK_STAT_ADD(b, f, n)                                                  \
    __atomic_fetch_add(&(b)->stats.f, (uint64_t)(n), __ATOMIC_RELAXED)

/* backend.c */

/**
 * blk_op_defer() - complete @op with @ret from its context's BH.
 * Context: home(loop), or under vmm_blk_ctx_abandon()'s exclusion.
 */
void blk_op_defer(struct blk_op *op, int ret);

/**
 * blk_op_park() - hand @op's io_uring step result @res to its context's
 * BH, which continues it with blk_op_step_done().
 * Context: home(loop), or under vmm_blk_ctx_abandon()'s exclusion.
 */
void blk_op_park(struct blk_op *op, int res);

/**
 * blk_op_step_done() - an io_uring step of @op ended with @res: go on
 * (short transfer, sync, fallback) or finish.
 * Context: home(loop).
 */
void blk_op_step_done(struct blk_op *op, int res);

/**
 * blk_op_finish() - account @op, free it and call its request's done
 * (unless abandoned).
 * Context: home(loop).
 */
void blk_op_finish(struct blk_op *op, int ret);

/**
 * blk_op_needs_bounce() - whether @op's transfer breaks the file's
 * alignment.
 * Context: home(loop).
 */
bool blk_op_needs_bounce(const struct blk_op *op);

/**
 * blk_op_bounce_setup() - move @op's transfer to an aligned bounce buffer
 * (writes copy their data in).
 * Context: home(loop).  Return: 0; -EINVAL above VMM_BLK_MAX_BOUNCE;
 * -ENOMEM.
 */
int blk_op_bounce_setup(struct blk_op *op);

/**
 * blk_op_bounce_copy_out() - copy a bounced read to the request's buffers.
 * Context: home(loop).
 */
void blk_op_bounce_copy_out(struct blk_op *op);

/**
 * blk_iov_advance() - drop the first @n bytes of *@iov (*@cnt entries),
 * trimming the entry where they end.
 * Context: any (the iovec is the caller's).
 */
void blk_iov_advance(struct iovec **iov, unsigned *cnt, uint64_t n);

/**
 * blk_xfer_aligned() - whether a transfer at @off over @iov meets @b's
 * alignment (offset, every base and length).
 * Context: any.
 */
bool blk_xfer_aligned(const struct vmm_blk_backend *b, uint64_t off,
                      const struct iovec *iov, unsigned cnt);

/* threads.c */

/**
 * blk_pool_start() - run @op whole on its loop's pool.
 * Context: home(loop).  Return: 0; the error of loom_pool_submit().
 */
int blk_pool_start(struct blk_op *op);

/**
 * blk_pool_abandon() - cancel @op's pool job, or wait until it returned.
 * Context: under vmm_blk_ctx_abandon()'s exclusion.
 */
void blk_pool_abandon(struct vmm_blk_ctx *c, struct blk_op *op);

/* uring.c */

/**
 * blk_uring_get() - the ring of @loop, created on first use (refcounted).
 * Context: home(@loop).  Return: 0; -ENOMEM; the error of io_uring setup
 * (the caller then uses the pool).
 */
int blk_uring_get(struct loom_loop *loop, struct blk_uring **ret);

/**
 * blk_uring_put() - drop a reference; the last frees the ring.
 * Context: home(loop), nothing in flight.
 */
void blk_uring_put(struct blk_uring *r);

/**
 * blk_uring_start() - queue @op's next step as an SQE (or wait for room).
 * Context: home(loop).
 */
void blk_uring_start(struct blk_op *op);

/**
 * blk_uring_plug() - hold submissions back (nestable).
 * Context: home(loop).
 */
void blk_uring_plug(struct blk_uring *r);

/**
 * blk_uring_unplug() - submit what was held back at the last unplug.
 * Context: home(loop).
 */
void blk_uring_unplug(struct blk_uring *r);

/**
 * blk_uring_defer() - vmm_blk_ctx_defer() on the ring @r.
 * Context: home(loop).
 */
bool blk_uring_defer(struct blk_uring *r, void (*fn)(void *opaque),
                     void *opaque);

/**
 * blk_uring_deliver() - run @fn(@opaque), which completes ops, as one
 * batch of the ring @r: vmm_blk_ctx_defer() works inside, steps that
 * follow are submitted together.
 * Context: home(loop).
 */
void blk_uring_deliver(struct blk_uring *r, void (*fn)(void *opaque),
                       void *opaque);

/**
 * blk_uring_abandon_wait() - reap until no op of @c is in the ring,
 * parking every completion on its context's BH.
 * Context: under vmm_blk_ctx_abandon()'s exclusion.
 */
void blk_uring_abandon_wait(struct vmm_blk_ctx *c);

/** BLK_URING_NR_OPS - the io_uring opcodes the engine uses. */
#define BLK_URING_NR_OPS 4

/* The only opcodes a ring of the engine accepts (READV, WRITEV, FSYNC,
 * FALLOCATE); any other SQE completes with -EACCES. */
extern const uint8_t blk_uring_ops[BLK_URING_NR_OPS];

struct io_uring;

/**
 * blk_uring_ring_new() - set up a ring restricted to blk_uring_ops.
 * @ring: the ring to initialise (io_uring_queue_exit() frees it).
 * @entries: its SQ size.
 * @efd: an eventfd, registered for completions.
 * @restricted: receives whether the kernel restricted it (false on a
 *     kernel before 5.10, which lacks IORING_SETUP_R_DISABLED).
 *
 * Created with IORING_SETUP_R_DISABLED, the eventfd registered, the SQE
 * opcodes restricted (IORING_REGISTER_RESTRICTIONS), then enabled: from
 * then on every register operation is refused too (-EACCES).
 *
 * Context: any.  Return: 0; the negative errno of io_uring_setup or
 * io_uring_register.
 */
int blk_uring_ring_new(struct io_uring *ring, unsigned entries, int efd,
                       bool *restricted);

/* fault.c */

/**
 * blk_fault_parse() - parse an x-loom-fault SPEC.
 * Context: any.  Return: 0; -EINVAL (with @errmsg); -ENOMEM.
 */
int blk_fault_parse(const char *spec, struct blk_fault **ret, char **errmsg);

/**
 * blk_fault_decide() - number the next request and say what befalls it.
 * Context: any.
 */
void blk_fault_decide(struct blk_fault *f, enum vmm_blk_op op,
                      struct blk_fault_action *act);

#endif /* VMM_BLOCK_BLOCK_INT_H */
