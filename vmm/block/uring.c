/* SPDX-License-Identifier: MIT */
/*
 * The io_uring engine (aio=io_uring), QEMU's model: one ring per serving
 * loop, shared by the contexts of every backend served there, its CQ
 * signalled through an eventfd that the loop watches like any fd (the
 * loop's own fd monitor may be epoll or poll).  Everything here runs in
 * that loop's thread, except vmm_blk_ctx_abandon()'s reaping under the
 * exclusion it documents; the registry of rings is the only state other
 * threads touch, under g_rings_lock.
 *
 * Batching: while a context is plugged (the device is walking its avail
 * ring) SQEs accumulate and go in one io_uring_submit() at unplug, or
 * earlier when max_batch are queued.  Unplugged, each SQE is submitted at
 * once.  Completions are reaped by the eventfd handler or, when the loop
 * busy-polls, by on_poll seeing the CQ non-empty.  An op that finds the
 * SQ full waits on the ring's overflow list until CQEs were reaped.
 * What done callbacks defer (vmm_blk_ctx_defer(): a device's interrupt
 * decision) runs once at the end of the reap that delivered the batch.
 *
 * Reads of a memory file (vmm_blk_backend_inline_reads()) below
 * INLINE_MAX bytes are copied by this thread, out of a budget of
 * VMM_BLK_INLINE_BUDGET bytes per batch (renewed by the outermost plug
 * and by each delivery of completions); past it, reads take the ring as
 * before.
 *
 * The ring is created disabled and restricted to the opcodes used here
 * (READV, WRITEV, FSYNC, FALLOCATE): io_uring SQEs bypass seccomp, so the
 * restriction is what keeps a compromised process from using the ring for
 * anything else (VMM.md, "Sandboxing").
 */
#include "block/block-int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <liburing.h>

#define RING_ENTRIES 256u
#define BATCH_BACKENDS 4
/* Calls deferred to the end of one reap (vmm_blk_ctx_defer()): one per
 * queue served by the loop is enough; more fall back to their BHs. */
#define DEFER_MAX 16
/* Reads of a memory file below this size are copied inline. */
#define INLINE_MAX (256u << 10)

struct blk_deferred {
    void (*fn)(void *opaque);
    void *opaque;
};

struct blk_uring {
    struct loom_loop *loop;
    struct io_uring ring;
    int efd;
    unsigned refs;   /* g_rings_lock */
    unsigned queued; /* SQEs prepared, not submitted */
    unsigned plugged;
    struct blk_op *overflow, *overflow_tail; /* waiting for an SQE */
    /* Backends with SQEs in the current batch (for their statistics). */
    struct vmm_blk_backend *batch[BATCH_BACKENDS];
    unsigned nbatch;
    /* Reaping (nested reaps count); calls for the outermost one's end. */
    unsigned reaping;
    unsigned ndeferred;
    struct blk_deferred deferred[DEFER_MAX];
    /* CQEs were reaped by polling since the eventfd was last read. */
    bool efd_stale;
    /* Bytes this batch may still copy inline (memory files). */
    uint64_t inline_left;
    struct blk_uring *next;
};

static struct loom_mutex g_rings_lock = LOOM_MUTEX_INITIALIZER;
/* Guarded by g_rings_lock. */
static struct blk_uring *g_rings;

static void reap(void *opaque);

static void clear_efd(struct blk_uring *r)
{
    uint64_t v;

    if (read(r->efd, &v, sizeof(v)) < 0) {
        /* EAGAIN: nothing was signalled. */
    }
    r->efd_stale = false;
}

/* The eventfd fired: clear it, then reap. */
static void efd_ready(void *opaque)
{
    struct blk_uring *r = opaque;

    clear_efd(r);
    reap(r);
}

/*
 * The busy-polling loop found CQEs (poll_cq()): reap them without the
 * eventfd's read, a system call per completion otherwise.  The signals
 * io_uring left there are cleared once, when the loop stops polling
 * (poll_end()), so that its next wait neither returns at once for them
 * nor reads them as an event that came just after the polling window
 * (which would grow the window).  No CQE is missed: reap() looks at the
 * CQ, not at the eventfd.
 */
static void polled_reap(void *opaque)
{
    struct blk_uring *r = opaque;

    r->efd_stale = true;
    reap(r);
}

/*
 * The loop stops busy-polling and may sleep: clear what polled reaps left
 * in the eventfd.  The loop then calls poll_cq() once more: a CQE posted
 * before this read is seen there (its signal, which this read consumed,
 * follows its CQ tail), one posted after it signals the eventfd again.
 */
static void poll_end(void *opaque)
{
    struct blk_uring *r = opaque;

    if (r->efd_stale) {
        clear_efd(r);
    }
}

static bool poll_cq(void *opaque)
{
    struct blk_uring *r = opaque;

    return io_uring_cq_ready(&r->ring) > 0;
}

const uint8_t blk_uring_ops[BLK_URING_NR_OPS] = {
    IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC, IORING_OP_FALLOCATE};

static int ring_restrict(struct io_uring *ring)
{
    struct io_uring_restriction res[BLK_URING_NR_OPS];
    size_t i;
    int err;

    memset(res, 0, sizeof(res));
    for (i = 0; i < BLK_URING_NR_OPS; i++) {
        res[i].opcode = IORING_RESTRICTION_SQE_OP;
        res[i].sqe_op = blk_uring_ops[i];
    }
    /* liburing's io_uring_register(): Debian's liburing 2.3 does not
     * export the io_uring_register_restrictions() and
     * io_uring_enable_rings() its header declares. */
    err =
        io_uring_register((unsigned)ring->ring_fd, IORING_REGISTER_RESTRICTIONS,
                          res, BLK_URING_NR_OPS);
    if (!err) {
        err = io_uring_register((unsigned)ring->ring_fd,
                                IORING_REGISTER_ENABLE_RINGS, NULL, 0);
    }
    return err;
}

/*
 * A ring created disabled: the eventfd is registered first (once enabled,
 * a restricted ring refuses every register operation), then the
 * restrictions, then it is enabled.
 */
int blk_uring_ring_new(struct io_uring *ring, unsigned entries, int efd,
                       bool *restricted)
{
    int err;

    err = io_uring_queue_init(entries, ring, IORING_SETUP_R_DISABLED);
    if (err == -EINVAL) {
        /* A kernel without restrictions (before 5.10): run unrestricted. */
        err = io_uring_queue_init(entries, ring, 0);
        if (err) {
            return err;
        }
        err = io_uring_register_eventfd(ring, efd);
        if (err) {
            io_uring_queue_exit(ring);
            return err;
        }
        *restricted = false;
        return 0;
    }
    if (err) {
        return err;
    }
    err = io_uring_register_eventfd(ring, efd);
    if (!err) {
        err = ring_restrict(ring);
    }
    if (err) {
        io_uring_queue_exit(ring);
        return err;
    }
    *restricted = true;
    return 0;
}

static int ring_init(struct blk_uring *r)
{
    bool restricted;
    int err;

    r->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (r->efd < 0) {
        return -errno;
    }
    err = blk_uring_ring_new(&r->ring, RING_ENTRIES, r->efd, &restricted);
    if (err) {
        close(r->efd);
        return err;
    }
    err = loom_set_fd_handler(r->loop, r->efd, efd_ready, NULL, poll_cq,
                              polled_reap, r);
    if (!err) {
        err = loom_set_fd_poll_hooks(r->loop, r->efd, NULL, poll_end);
        if (err) {
            (void)loom_set_fd_handler(r->loop, r->efd, NULL, NULL, NULL, NULL,
                                      NULL);
        }
    }
    if (err) {
        io_uring_queue_exit(&r->ring);
        close(r->efd);
    }
    return err;
}

int blk_uring_get(struct loom_loop *loop, struct blk_uring **ret)
{
    struct blk_uring *r;
    int err;

    loom_mutex_lock(&g_rings_lock);
    for (r = g_rings; r; r = r->next) {
        if (r->loop == loop) {
            r->refs++;
            *ret = r;
            loom_mutex_unlock(&g_rings_lock);
            return 0;
        }
    }
    r = calloc(1, sizeof(*r));
    if (!r) {
        loom_mutex_unlock(&g_rings_lock);
        return -ENOMEM;
    }
    r->loop = loop;
    r->efd = -1;
    r->inline_left = VMM_BLK_INLINE_BUDGET;
    err = ring_init(r);
    if (err) {
        free(r);
        loom_mutex_unlock(&g_rings_lock);
        return err;
    }
    r->refs = 1;
    r->next = g_rings;
    g_rings = r;
    *ret = r;
    loom_mutex_unlock(&g_rings_lock);
    return 0;
}

void blk_uring_put(struct blk_uring *r)
{
    struct blk_uring **pp;

    loom_mutex_lock(&g_rings_lock);
    if (--r->refs) {
        loom_mutex_unlock(&g_rings_lock);
        return;
    }
    for (pp = &g_rings; *pp != r; pp = &(*pp)->next) {
    }
    *pp = r->next;
    loom_mutex_unlock(&g_rings_lock);
    (void)loom_set_fd_handler(r->loop, r->efd, NULL, NULL, NULL, NULL, NULL);
    io_uring_queue_exit(&r->ring);
    close(r->efd);
    free(r);
}

static void submit(struct blk_uring *r)
{
    unsigned i;
    int n;

    if (!r->queued) {
        return;
    }
    do {
        n = io_uring_submit(&r->ring);
    } while (n == -EINTR);
    if (n > 0) {
        r->queued -= (unsigned)n < r->queued ? (unsigned)n : r->queued;
        for (i = 0; i < r->nbatch; i++) {
            BLK_STAT_ADD(r->batch[i], uring_submits, 1);
        }
    }
    r->nbatch = 0;
}

static void note_batch(struct blk_uring *r, struct vmm_blk_backend *b)
{
    unsigned i;

    for (i = 0; i < r->nbatch; i++) {
        if (r->batch[i] == b) {
            return;
        }
    }
    if (r->nbatch < BATCH_BACKENDS) {
        r->batch[r->nbatch++] = b;
    }
}

/* The SQE's iovec: the op's, or a copy cut at the fault's limit. */
static const struct iovec *xfer_iov(struct blk_op *op, unsigned *cnt)
{
    uint64_t sum = 0;
    unsigned i;

    *cnt = op->iovcnt;
    if (!op->limit) {
        return op->iov;
    }
    free(op->cut);
    op->cut = malloc(sizeof(*op->cut) * op->iovcnt);
    if (!op->cut) {
        op->limit = 0;
        return op->iov;
    }
    for (i = 0; i < op->iovcnt; i++) {
        op->cut[i] = op->iov[i];
        if (sum + op->iov[i].iov_len >= op->limit) {
            op->cut[i].iov_len = op->limit - sum;
            *cnt = i + 1;
            break;
        }
        sum += op->iov[i].iov_len;
    }
    op->limit = 0;
    return op->cut;
}

/* x-loom-fault's align=: refuse what a real O_DIRECT file would. */
static bool fake_align_ok(const struct blk_op *op)
{
    const struct vmm_blk_backend *b = op->ctx->b;

    if (!b->fault || !b->fault->align || op->sync_step ||
        (op->kind != VMM_BLK_OP_READ && op->kind != VMM_BLK_OP_WRITE)) {
        return true;
    }
    return blk_xfer_aligned(b, op->xfer_off + op->moved, op->iov, op->iovcnt);
}

/* Fill @sqe for the op's next step. */
static void prep(struct blk_op *op, struct io_uring_sqe *sqe)
{
    struct vmm_blk_backend *b = op->ctx->b;
    const struct iovec *iov;
    uint64_t off = op->xfer_off + op->moved;
    unsigned cnt;
    int mode;

    if (op->sync_step || op->kind == VMM_BLK_OP_FLUSH) {
        io_uring_prep_fsync(sqe, b->fd, IORING_FSYNC_DATASYNC);
        return;
    }
    switch (op->kind) {
    case VMM_BLK_OP_READ:
    case VMM_BLK_OP_WRITE:
        iov = xfer_iov(op, &cnt);
        if (op->kind == VMM_BLK_OP_READ) {
            io_uring_prep_readv(sqe, b->fd, iov, cnt, off);
        } else {
            io_uring_prep_writev(sqe, b->fd, iov, cnt, off);
        }
        return;
    case VMM_BLK_OP_DISCARD:
        mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
        break;
    default:
        mode = (op->flags & VMM_BLK_REQ_UNMAP) &&
                       b->discard == VMM_DISCARD_UNMAP && !op->punch_tried
                   ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
                   : FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
        break;
    }
    io_uring_prep_fallocate(sqe, b->fd, mode, op->offset, op->len);
}

static void overflow_add(struct blk_uring *r, struct blk_op *op)
{
    op->dnext = NULL;
    if (r->overflow_tail) {
        r->overflow_tail->dnext = op;
    } else {
        r->overflow = op;
    }
    r->overflow_tail = op;
}

static unsigned batch_limit(unsigned max_batch)
{
    return max_batch ? max_batch : RING_ENTRIES;
}

/*
 * A read step of a memory file, within the batch's budget: copied here
 * and parked for the context's BH (a request never completes inside its
 * submission).  True if it took @op over.
 */
static bool try_inline(struct blk_uring *r, struct blk_op *op)
{
    struct vmm_blk_backend *b = op->ctx->b;
    uint64_t left = op->xfer_len - op->moved;
    const struct iovec *iov;
    unsigned cnt;
    ssize_t n;

    if (op->kind != VMM_BLK_OP_READ || op->sync_step || !b->inline_reads) {
        return false;
    }
    if (left >= INLINE_MAX || left > r->inline_left) {
        return false;
    }
    iov = xfer_iov(op, &cnt);
    n = preadv(b->fd, iov, (int)cnt, (off_t)(op->xfer_off + op->moved));
    r->inline_left -= left;
    BLK_STAT_ADD(b, inline_reads, 1);
    blk_op_park(op, n < 0 ? -errno : (int)n);
    return true;
}

static void start_with(struct blk_uring *r, struct blk_op *op,
                       unsigned max_batch)
{
    struct io_uring_sqe *sqe;

    if (!fake_align_ok(op)) {
        blk_op_defer(op, -EINVAL);
        return;
    }
    if (try_inline(r, op)) {
        return;
    }
    op->state = OP_URING;
    sqe = io_uring_get_sqe(&r->ring);
    if (!sqe) {
        submit(r);
        sqe = io_uring_get_sqe(&r->ring);
    }
    if (!sqe) {
        overflow_add(r, op);
        return;
    }
    prep(op, sqe);
    io_uring_sqe_set_data(sqe, op);
    r->queued++;
    note_batch(r, op->ctx->b);
    BLK_STAT_ADD(op->ctx->b, uring_sqes, 1);
    if (!r->plugged || r->queued >= batch_limit(max_batch)) {
        submit(r);
    }
}

void blk_uring_start(struct blk_op *op)
{
    start_with(op->ctx->ring, op, op->ctx->max_batch);
}

void blk_uring_plug(struct blk_uring *r)
{
    if (!r->plugged++ && !r->reaping) {
        r->inline_left = VMM_BLK_INLINE_BUDGET;
    }
}

void blk_uring_unplug(struct blk_uring *r)
{
    if (r->plugged && --r->plugged == 0) {
        submit(r);
    }
}

/* Restart ops that found the SQ full, now that CQEs freed room. */
static void retry_overflow(struct blk_uring *r)
{
    struct blk_op *op = r->overflow;

    r->overflow = r->overflow_tail = NULL;
    while (op) {
        struct blk_op *next = op->dnext;

        start_with(r, op, op->ctx->max_batch);
        op = next;
    }
}

bool blk_uring_defer(struct blk_uring *r, void (*fn)(void *opaque),
                     void *opaque)
{
    unsigned i;

    if (!r->reaping) {
        return false;
    }
    for (i = 0; i < r->ndeferred; i++) {
        if (r->deferred[i].fn == fn && r->deferred[i].opaque == opaque) {
            return true;
        }
    }
    if (r->ndeferred == DEFER_MAX) {
        return false;
    }
    r->deferred[r->ndeferred++] = (struct blk_deferred){fn, opaque};
    return true;
}

/* The end of the outermost reap: run what its completions deferred. */
static void run_deferred(struct blk_uring *r)
{
    struct blk_deferred d[DEFER_MAX];
    unsigned i, n = r->ndeferred;

    /* Taken first: a call that polls the loop (nested) may reap, and
     * that reap's deferred calls are its own. */
    for (i = 0; i < n; i++) {
        d[i] = r->deferred[i];
    }
    r->ndeferred = 0;
    for (i = 0; i < n; i++) {
        d[i].fn(d[i].opaque);
    }
}

/*
 * One batch of completions: steps that follow (short transfers, syncs)
 * go in one submission, with a fresh inline budget; what the done
 * callbacks deferred runs at the end of the outermost batch.
 */
void blk_uring_deliver(struct blk_uring *r, void (*fn)(void *opaque),
                       void *opaque)
{
    if (!r->reaping) {
        r->inline_left = VMM_BLK_INLINE_BUDGET;
    }
    r->plugged++;
    r->reaping++;
    fn(opaque);
    if (r->overflow) {
        retry_overflow(r);
    }
    if (--r->reaping == 0) {
        run_deferred(r);
    }
    r->plugged--;
    submit(r);
}

/*
 * Consume the CQEs.  The CQ itself says what completed; the eventfd only
 * wakes a sleeping loop, so reaping needs no read of it.
 */
static void reap_cqes(void *opaque)
{
    struct blk_uring *r = opaque;
    struct io_uring_cqe *cqe;

    while (io_uring_peek_cqe(&r->ring, &cqe) == 0) {
        struct blk_op *op = io_uring_cqe_get_data(cqe);
        int res = cqe->res;

        io_uring_cqe_seen(&r->ring, cqe);
        if (op) {
            op->state = OP_IDLE;
            blk_op_step_done(op, res);
        }
    }
}

static void reap(void *opaque)
{
    struct blk_uring *r = opaque;

    blk_uring_deliver(r, reap_cqes, r);
}

static unsigned ops_in_ring(struct vmm_blk_ctx *c)
{
    struct blk_op *op;
    unsigned n = 0;

    for (op = c->ops; op; op = op->next) {
        n += op->state == OP_URING;
    }
    return n;
}

/*
 * vmm_blk_ctx_abandon(): the loop does not dispatch (its thread is kept
 * out), so this thread may consume the ring.  Ops of @c still waiting for
 * an SQE never reached the kernel: hand them to the BH.  Then submit what
 * is queued and wait for the CQEs of @c's ops; every CQE reaped (also
 * other contexts') is parked on its context's deferred list, where the
 * loop's next iteration takes it up as if its handler had reaped it.
 */
void blk_uring_abandon_wait(struct vmm_blk_ctx *c)
{
    struct blk_uring *r = c->ring;
    struct blk_op *op = r->overflow, *keep = NULL, *keep_tail = NULL;
    struct io_uring_cqe *cqe;

    r->overflow = r->overflow_tail = NULL;
    while (op) {
        struct blk_op *next = op->dnext;

        if (op->ctx == c) {
            blk_op_defer(op, 0);
        } else if (keep_tail) {
            keep_tail->dnext = op;
            keep_tail = op;
        } else {
            keep = keep_tail = op;
        }
        op = next;
    }
    if (keep_tail) {
        keep_tail->dnext = NULL;
    }
    r->overflow = keep;
    r->overflow_tail = keep_tail;
    submit(r);
    while (ops_in_ring(c)) {
        if (io_uring_wait_cqe(&r->ring, &cqe) < 0) {
            continue;
        }
        op = io_uring_cqe_get_data(cqe);
        if (op) {
            blk_op_park(op, cqe->res);
        }
        io_uring_cqe_seen(&r->ring, cqe);
    }
}
