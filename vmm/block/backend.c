/* SPDX-License-Identifier: MIT */
/*
 * Block backend core (backend.h): opening an image, the life of a request
 * and the parts both engines share.
 *
 * vmm_blk_submit() runs in the context's loop thread.  It checks the
 * request, consults the fault injector, then hands the op to an engine:
 * io_uring (uring.c), which moves it step by step with one SQE per step
 * and calls blk_op_step_done() from the ring's fd handler, or the thread
 * pool (threads.c), which runs the whole op synchronously on a worker and
 * calls blk_op_finish() from the pool's completion BH.  Results known at
 * submission go through the context's BH (blk_op_defer()), so a request
 * never completes inside vmm_blk_submit().  Every path ends in
 * blk_op_finish(), in the loop thread, which calls the request's done.
 */
#include "block/backend.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <loom/bh.h>

#include "block/block-int.h"

#ifdef VMM_VALGRIND
#include <valgrind/memcheck.h>
#endif

#define FAULT_PREFIX "x-loom-fault:"
#define MAX_IOV 1024u

static int open_error(char **errmsg, int err, const char *what,
                      const char *path)
{
    if (errmsg &&
        asprintf(errmsg, "%s '%s': %s", what, path, strerror(-err)) < 0) {
        *errmsg = NULL;
    }
    return err;
}

/*
 * The O_DIRECT transfer alignment: the smallest power of two from 512 up
 * that an aligned read at offset 0 accepts (a file system refuses a
 * misaligned O_DIRECT transfer with EINVAL before looking at the file's
 * size).  The same alignment is then required of memory.
 */
static unsigned probe_direct_align(int fd)
{
    unsigned a;
    void *buf;

    buf = aligned_alloc(65536, 65536);
    if (!buf) {
        return 4096;
    }
    for (a = 512; a <= 65536; a *= 2) {
        if (pread(fd, buf, a, 0) >= 0) {
            break;
        }
        if (errno != EINVAL) {
            a = 4096;
            break;
        }
    }
    free(buf);
    return a > 65536 ? 4096 : a;
}

/* A regular file whose pages are memory (vmm_blk_backend_inline_reads()). */
static bool memory_file(int fd)
{
    struct statfs sfs;
    struct stat st;

    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || fstatfs(fd, &sfs) < 0) {
        return false;
    }
    return sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC;
}

static int image_size(int fd, uint64_t *ret)
{
    struct stat st;
    uint64_t sz;

    if (fstat(fd, &st) < 0) {
        return -errno;
    }
    if (S_ISREG(st.st_mode)) {
        *ret = (uint64_t)st.st_size;
        return 0;
    }
    if (S_ISBLK(st.st_mode)) {
        if (ioctl(fd, BLKGETSIZE64, &sz) < 0) {
            return -errno;
        }
        *ret = sz;
        return 0;
    }
    return -EINVAL;
}

/* Split "x-loom-fault:SPEC:IMAGE"; plain names have no fault layer. */
static int parse_file(const char *file, struct blk_fault **fault,
                      const char **image, char **errmsg)
{
    const char *spec, *colon;
    char *s;
    int err;

    *fault = NULL;
    *image = file;
    if (strncmp(file, FAULT_PREFIX, strlen(FAULT_PREFIX))) {
        return 0;
    }
    spec = file + strlen(FAULT_PREFIX);
    colon = strchr(spec, ':');
    if (!colon || !colon[1]) {
        return open_error(errmsg, -EINVAL, "x-loom-fault needs SPEC:IMAGE in",
                          file);
    }
    s = strndup(spec, (size_t)(colon - spec));
    if (!s) {
        return -ENOMEM;
    }
    err = blk_fault_parse(s, fault, errmsg);
    free(s);
    *image = colon + 1;
    return err;
}

static int backend_setup(struct vmm_blk_backend *b, const char *image,
                         char **errmsg)
{
    int flags = O_CLOEXEC | (b->readonly ? O_RDONLY : O_RDWR);
    int err;

    if (b->direct) {
        flags |= O_DIRECT;
    }
    b->fd = open(image, flags);
    if (b->fd < 0) {
        return open_error(errmsg, -errno, "could not open", image);
    }
    err = image_size(b->fd, &b->size);
    if (err) {
        return open_error(errmsg, err,
                          "not a usable image (regular file "
                          "or block device)",
                          image);
    }
    /* A partial last sector is not addressable: round down. */
    b->size &= ~(uint64_t)(VMM_BLK_SECTOR - 1);
    b->align = b->direct ? probe_direct_align(b->fd) : 1;
    if (b->fault && b->fault->align > b->align) {
        b->align = b->fault->align;
    }
    b->rmw_lock = b->align > VMM_BLK_SECTOR;
    b->inline_reads = memory_file(b->fd);
    return 0;
}

int vmm_blk_backend_open(const struct vmm_config_drive *drive,
                         struct vmm_blk_backend **ret, char **errmsg)
{
    struct vmm_blk_backend *b;
    const char *image;
    int err;

    if (errmsg) {
        *errmsg = NULL;
    }
    if (!drive || !ret || !drive->file || !*drive->file) {
        return -EINVAL;
    }
    b = calloc(1, sizeof(*b));
    if (!b) {
        return -ENOMEM;
    }
    b->fd = -1;
    b->readonly = drive->readonly;
    b->cache = drive->cache;
    b->direct = drive->cache == VMM_CACHE_NONE;
    b->discard = drive->discard;
    loom_mutex_init(&b->range_lock);
    loom_cond_init(&b->range_cond);
    err = parse_file(drive->file, &b->fault, &image, errmsg);
    if (!err) {
        err = backend_setup(b, image, errmsg);
    }
    if (err) {
        vmm_blk_backend_free(b);
        return err;
    }
    *ret = b;
    return 0;
}

void vmm_blk_backend_free(struct vmm_blk_backend *b)
{
    if (!b) {
        return;
    }
    if (b->fd >= 0) {
        close(b->fd);
    }
    loom_cond_destroy(&b->range_cond);
    loom_mutex_destroy(&b->range_lock);
    free(b->fault);
    free(b);
}

uint64_t vmm_blk_backend_size(const struct vmm_blk_backend *b)
{
    return b->size;
}

bool vmm_blk_backend_readonly(const struct vmm_blk_backend *b)
{
    return b->readonly;
}

unsigned vmm_blk_backend_align(const struct vmm_blk_backend *b)
{
    return b->align;
}

bool vmm_blk_backend_inline_reads(const struct vmm_blk_backend *b)
{
    return b->inline_reads;
}

void vmm_blk_backend_set_inline_reads(struct vmm_blk_backend *b, bool on)
{
    b->inline_reads = on;
}

void vmm_blk_backend_stats(const struct vmm_blk_backend *b,
                           struct vmm_blk_backend_stats *st)
{
    const uint64_t *src = (const uint64_t *)&b->stats;
    uint64_t *dst = (uint64_t *)st;
    size_t i;

    for (i = 0; i < sizeof(*st) / sizeof(uint64_t); i++) {
        dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
    }
}

/* ------------------------------------------------------------------ */
/* Contexts                                                            */
/* ------------------------------------------------------------------ */

static void ctx_bh(void *opaque);

int vmm_blk_ctx_new(struct vmm_blk_backend *b, struct loom_loop *loop,
                    enum vmm_aio_mode aio, unsigned max_batch,
                    struct vmm_blk_ctx **ret)
{
    struct vmm_blk_ctx *c;
    int err;

    if (!b || !loop || !ret) {
        return -EINVAL;
    }
    c = calloc(1, sizeof(*c));
    if (!c) {
        return -ENOMEM;
    }
    c->b = b;
    c->loop = loop;
    c->max_batch = max_batch;
    loom_mutex_init(&c->wait_lock);
    loom_cond_init(&c->wait_cond);
    err = loom_bh_new(loop, ctx_bh, c, "blk-ctx", &c->bh);
    if (err) {
        goto fail;
    }
    /* A kernel that refuses io_uring leaves the context on the pool. */
    if (aio == VMM_AIO_IO_URING && blk_uring_get(loop, &c->ring) == -ENOMEM) {
        err = -ENOMEM;
        goto fail;
    }
    *ret = c;
    return 0;
fail:
    loom_bh_free(c->bh);
    loom_cond_destroy(&c->wait_cond);
    loom_mutex_destroy(&c->wait_lock);
    free(c);
    return err;
}

void vmm_blk_ctx_free(struct vmm_blk_ctx *c)
{
    if (!c) {
        return;
    }
    /* Abandoned ops too: the engines still own their memory. */
    while (c->nops) {
        loom_loop_poll(c->loop, true);
    }
    while (c->op_cache) {
        struct blk_op *op = c->op_cache;

        c->op_cache = op->next;
        free(op);
    }
    if (c->ring) {
        blk_uring_put(c->ring);
    }
    loom_bh_free(c->bh);
    loom_cond_destroy(&c->wait_cond);
    loom_mutex_destroy(&c->wait_lock);
    free(c);
}

bool vmm_blk_ctx_uses_uring(const struct vmm_blk_ctx *c)
{
    return c->ring != NULL;
}

unsigned vmm_blk_ctx_inflight(const struct vmm_blk_ctx *c)
{
    return c->inflight;
}

bool vmm_blk_ctx_defer(struct vmm_blk_ctx *c, void (*fn)(void *opaque),
                       void *opaque)
{
    return c->ring && blk_uring_defer(c->ring, fn, opaque);
}

void vmm_blk_ctx_drain(struct vmm_blk_ctx *c)
{
    while (c->inflight) {
        loom_loop_poll(c->loop, true);
    }
}

void vmm_blk_plug(struct vmm_blk_ctx *c)
{
    if (c->ring) {
        blk_uring_plug(c->ring);
    }
}

void vmm_blk_unplug(struct vmm_blk_ctx *c)
{
    if (c->ring) {
        blk_uring_unplug(c->ring);
    }
}

/* ------------------------------------------------------------------ */
/* Ops                                                                 */
/* ------------------------------------------------------------------ */

static void op_link(struct vmm_blk_ctx *c, struct blk_op *op)
{
    op->next = c->ops;
    if (c->ops) {
        c->ops->prev = op;
    }
    c->ops = op;
    c->nops++;
}

/*
 * Ops freed are kept for the next requests, up to this many per context
 * (a queue's depth is enough): calloc() and free() were some 430
 * instructions of the IOThread's ~3,000 per request (callgrind).
 */
#define OP_CACHE_MAX 64

/* A zeroed op.  Context: as vmm_blk_submit(). */
static struct blk_op *op_alloc(struct vmm_blk_ctx *c)
{
    struct blk_op *op = c->op_cache;

    if (!op) {
        return calloc(1, sizeof(*op));
    }
    c->op_cache = op->next;
    c->op_cached--;
    memset(op, 0, sizeof(*op));
    return op;
}

static void op_free(struct blk_op *op)
{
    struct vmm_blk_ctx *c = op->ctx;

    if (op->prev) {
        op->prev->next = op->next;
    } else {
        c->ops = op->next;
    }
    if (op->next) {
        op->next->prev = op->prev;
    }
    c->nops--;
    if (op->iov != op->iov_inline) {
        free(op->iov);
    }
    free(op->bounce);
    free(op->cut);
    loom_timer_free(op->stall);
    if (c->op_cached < OP_CACHE_MAX) {
        op->next = c->op_cache;
        c->op_cache = op;
        c->op_cached++;
        return;
    }
    free(op);
}

static void count_done(struct vmm_blk_backend *b, const struct blk_op *op,
                       int ret)
{
    switch (op->kind) {
    case VMM_BLK_OP_READ:
        BLK_STAT_ADD(b, reads, 1);
        if (!ret) {
            BLK_STAT_ADD(b, read_bytes, op->len);
        }
        break;
    case VMM_BLK_OP_WRITE:
        BLK_STAT_ADD(b, writes, 1);
        if (!ret) {
            BLK_STAT_ADD(b, write_bytes, op->len);
        }
        break;
    case VMM_BLK_OP_FLUSH:
        BLK_STAT_ADD(b, flushes, 1);
        break;
    case VMM_BLK_OP_DISCARD:
        BLK_STAT_ADD(b, discards, 1);
        break;
    case VMM_BLK_OP_WRITE_ZEROES:
        BLK_STAT_ADD(b, write_zeroes, 1);
        break;
    }
    if (ret) {
        BLK_STAT_ADD(b, errors, 1);
    }
}

void blk_op_finish(struct blk_op *op, int ret)
{
    struct vmm_blk_req *req = op->req;

    if (req) {
        count_done(op->ctx->b, op, ret);
        op->ctx->inflight--;
    }
    op_free(op);
    if (req) {
        /* Last: the callback may submit again, or drain. */
        req->done(req, ret);
    }
}

/* Append @op to its context's deferred list and wake the BH. */
static void defer_link(struct blk_op *op)
{
    struct vmm_blk_ctx *c = op->ctx;

    op->state = OP_DEFERRED;
    op->dnext = NULL;
    if (c->deferred_tail) {
        c->deferred_tail->dnext = op;
    } else {
        c->deferred = op;
    }
    c->deferred_tail = op;
    loom_bh_schedule(c->bh);
}

void blk_op_defer(struct blk_op *op, int ret)
{
    op->ret = ret;
    op->finished = true;
    defer_link(op);
}

void blk_op_park(struct blk_op *op, int res)
{
    op->res = res;
    op->finished = false;
    defer_link(op);
}

/* Complete or continue the ops on the deferred list. */
static void run_deferred_ops(void *opaque)
{
    struct vmm_blk_ctx *c = opaque;
    struct blk_op *op;

    while ((op = c->deferred)) {
        c->deferred = op->dnext;
        if (!c->deferred) {
            c->deferred_tail = NULL;
        }
        op->state = OP_IDLE;
        if (op->finished) {
            blk_op_finish(op, op->ret);
        } else {
            /* An io_uring result reaped by vmm_blk_ctx_abandon(), or a
             * read the loop thread did itself. */
            blk_op_step_done(op, op->res);
        }
    }
}

/* With io_uring, one batch of completions like a reap's (reads done in
 * the loop thread come this way). */
static void ctx_bh(void *opaque)
{
    struct vmm_blk_ctx *c = opaque;

    if (c->ring) {
        blk_uring_deliver(c->ring, run_deferred_ops, c);
    } else {
        run_deferred_ops(c);
    }
}

void blk_iov_advance(struct iovec **iov, unsigned *cnt, uint64_t n)
{
    while (n && *cnt) {
        if (n < (*iov)->iov_len) {
            (*iov)->iov_base = (char *)(*iov)->iov_base + n;
            (*iov)->iov_len -= n;
            return;
        }
        n -= (*iov)->iov_len;
        (*iov)++;
        (*cnt)--;
    }
}

/*
 * Under Valgrind: tell memcheck that a read's first @n bytes in @iov are
 * defined.  io_uring's kernel side writes them behind Valgrind's back (a
 * pool worker's preadv() it sees for itself).  Only what was read: bytes
 * the kernel did not fill stay undefined, so that memcheck still reports
 * a copy of them to the guest.  Outside Valgrind, one client request.
 */
static void blk_iov_mark_read(const struct iovec *iov, unsigned cnt,
                              uint64_t n)
{
#ifdef VMM_VALGRIND
    if (!RUNNING_ON_VALGRIND) {
        return;
    }
    for (; n && cnt; iov++, cnt--) {
        size_t len = iov->iov_len < n ? iov->iov_len : (size_t)n;

        (void)VALGRIND_MAKE_MEM_DEFINED(iov->iov_base, len);
        n -= len;
    }
#else
    (void)iov;
    (void)cnt;
    (void)n;
#endif
}

bool blk_xfer_aligned(const struct vmm_blk_backend *b, uint64_t off,
                      const struct iovec *iov, unsigned cnt)
{
    uint64_t a = b->align - 1;
    unsigned i;

    if (off & a) {
        return false;
    }
    for (i = 0; i < cnt; i++) {
        if (((uintptr_t)iov[i].iov_base | iov[i].iov_len) & a) {
            return false;
        }
    }
    return true;
}

bool blk_op_needs_bounce(const struct blk_op *op)
{
    return op->ctx->b->align > 1 &&
           !blk_xfer_aligned(op->ctx->b, op->offset, op->iov, op->iovcnt);
}

/*
 * Replace the transfer by one over an aligned bounce buffer covering the
 * aligned span around [offset, offset + len).  Writes copy the data in
 * (only called for writes whose offset and length are aligned: others
 * read-modify-write on the pool).
 */
int blk_op_bounce_setup(struct blk_op *op)
{
    uint64_t a = op->ctx->b->align;
    uint64_t start = op->offset & ~(a - 1);
    uint64_t end = (op->offset + op->len + a - 1) & ~(a - 1);
    uint64_t done = 0;
    unsigned i;

    if (end - start > VMM_BLK_MAX_BOUNCE) {
        return -EINVAL;
    }
    op->bounce = aligned_alloc(a, end - start);
    if (!op->bounce) {
        return -ENOMEM;
    }
    if (op->kind == VMM_BLK_OP_WRITE) {
        for (i = 0; i < op->iovcnt; i++) {
            memcpy((char *)op->bounce + done, op->iov[i].iov_base,
                   op->iov[i].iov_len);
            done += op->iov[i].iov_len;
        }
    }
    op->bounce_off = start;
    op->xfer_off = start;
    op->xfer_len = end - start;
    /* The aligned end may lie past the end of a file whose size is not
     * aligned: only the bytes asked for must exist. */
    op->xfer_need = op->kind == VMM_BLK_OP_READ ? op->offset + op->len - start
                                                : end - start;
    op->iov = op->iov_inline;
    op->iov[0] = (struct iovec){op->bounce, end - start};
    op->iovcnt = 1;
    BLK_STAT_ADD(op->ctx->b, bounced, 1);
    return 0;
}

/* Copy a bounced read out to the caller's buffers. */
void blk_op_bounce_copy_out(struct blk_op *op)
{
    const char *src = (const char *)op->bounce + (op->offset - op->bounce_off);
    const struct vmm_blk_req *req = op->req;
    unsigned i;

    for (i = 0; i < req->iovcnt; i++) {
        memcpy(req->iov[i].iov_base, src, req->iov[i].iov_len);
        src += req->iov[i].iov_len;
    }
}

static bool is_write_kind(enum vmm_blk_op k)
{
    return k == VMM_BLK_OP_WRITE || k == VMM_BLK_OP_DISCARD ||
           k == VMM_BLK_OP_WRITE_ZEROES;
}

/* Checks done at submission; 0 or the error to complete with. */
static int op_check(struct blk_op *op)
{
    const struct vmm_blk_backend *b = op->ctx->b;
    const struct vmm_blk_req *req = op->req;
    uint64_t total = 0;
    unsigned i;

    if (b->readonly && is_write_kind(op->kind)) {
        return -EROFS;
    }
    if (op->kind == VMM_BLK_OP_FLUSH) {
        return 0;
    }
    if (op->offset > b->size || op->len > b->size - op->offset) {
        return -EINVAL;
    }
    if (op->kind != VMM_BLK_OP_READ && op->kind != VMM_BLK_OP_WRITE) {
        return 0;
    }
    if (req->iovcnt > MAX_IOV || (req->iovcnt && !req->iov)) {
        return -EINVAL;
    }
    for (i = 0; i < req->iovcnt; i++) {
        total += req->iov[i].iov_len;
    }
    return total == op->len ? 0 : -EINVAL;
}

static int op_copy_iov(struct blk_op *op)
{
    const struct vmm_blk_req *req = op->req;

    op->iovcnt = req->iovcnt;
    op->iov = op->iov_inline;
    if (req->iovcnt > sizeof(op->iov_inline) / sizeof(op->iov_inline[0])) {
        op->iov = malloc(sizeof(*op->iov) * req->iovcnt);
        if (!op->iov) {
            op->iov = op->iov_inline;
            op->iovcnt = 0;
            return -ENOMEM;
        }
    }
    if (req->iovcnt) {
        memcpy(op->iov, req->iov, sizeof(*op->iov) * req->iovcnt);
    }
    op->xfer_off = op->offset;
    op->xfer_len = op->len;
    op->xfer_need = op->len;
    return 0;
}

/* Whether the op must run on the pool rather than io_uring. */
static bool needs_pool(const struct blk_op *op)
{
    const struct vmm_blk_backend *b = op->ctx->b;
    uint64_t a = b->align - 1;

    if (!op->ctx->ring) {
        return true;
    }
    /* Writes that may read-modify-write are serialised on the pool. */
    if (b->rmw_lock && is_write_kind(op->kind)) {
        return true;
    }
    return op->kind == VMM_BLK_OP_WRITE && ((op->offset | op->len) & a);
}

static void op_start(struct blk_op *op)
{
    const struct vmm_blk_backend *b = op->ctx->b;
    int err;

    if ((op->kind == VMM_BLK_OP_FLUSH && b->cache == VMM_CACHE_UNSAFE) ||
        (op->kind == VMM_BLK_OP_DISCARD && b->discard == VMM_DISCARD_IGNORE) ||
        (op->kind != VMM_BLK_OP_FLUSH && op->len == 0)) {
        blk_op_defer(op, 0);
        return;
    }
    if (needs_pool(op)) {
        err = blk_pool_start(op);
        if (err) {
            blk_op_defer(op, err);
        }
        return;
    }
    if ((op->kind == VMM_BLK_OP_READ || op->kind == VMM_BLK_OP_WRITE) &&
        blk_op_needs_bounce(op)) {
        err = blk_op_bounce_setup(op);
        if (err) {
            blk_op_defer(op, err);
            return;
        }
    }
    blk_uring_start(op);
}

static void stall_done(void *opaque)
{
    struct blk_op *op = opaque;

    op->state = OP_IDLE;
    op_start(op);
}

/* Apply the fault injector's decision; true if it took the op over. */
static bool op_fault(struct blk_op *op)
{
    struct vmm_blk_backend *b = op->ctx->b;
    struct blk_fault_action act;
    uint64_t unit;

    blk_fault_decide(b->fault, op->kind, &act);
    if (act.err || act.shorten || act.stall_ns) {
        BLK_STAT_ADD(b, faults, 1);
    }
    if (act.err) {
        blk_op_defer(op, -act.err);
        return true;
    }
    if (act.shorten) {
        unit = b->align > VMM_BLK_SECTOR ? b->align : VMM_BLK_SECTOR;
        op->limit = (op->len / 2) & ~(unit - 1);
    }
    if (act.stall_ns > 0 && loom_timer_new(op->ctx->loop, LOOM_CLOCK_HOST,
                                           stall_done, op, &op->stall) == 0) {
        op->state = OP_STALLED;
        loom_timer_mod_ns(op->stall, act.stall_ns);
        return true;
    }
    return false;
}

int vmm_blk_submit(struct vmm_blk_ctx *c, struct vmm_blk_req *req)
{
    struct blk_op *op;
    int err;

    op = op_alloc(c);
    if (!op) {
        return -ENOMEM;
    }
    op->ctx = c;
    op->req = req;
    op->kind = req->op;
    op->flags = req->flags;
    op->offset = req->offset;
    op->len = req->len;
    op->iov = op->iov_inline;
    op_link(c, op);
    c->inflight++;
    err = op_check(op);
    if (!err && (op->kind == VMM_BLK_OP_READ || op->kind == VMM_BLK_OP_WRITE)) {
        err = op_copy_iov(op);
    }
    if (err) {
        blk_op_defer(op, err);
        return 0;
    }
    if (c->b->fault && op_fault(op)) {
        return 0;
    }
    op_start(op);
    return 0;
}

/*
 * An io_uring step completed with @res.  READ and WRITE go on until the
 * whole transfer moved (a short transfer continues where it stopped; no
 * progress at all is an I/O error); FUA writes then sync; write zeroes
 * falls back from punching to zeroing to writing zeroes on the pool.
 */
void blk_op_step_done(struct blk_op *op, int res)
{
    struct vmm_blk_backend *b = op->ctx->b;

    if (!op->req) {
        blk_op_finish(op, 0); /* abandoned: only free it */
        return;
    }
    if (res == -EINTR || res == -EAGAIN) {
        blk_uring_start(op);
        return;
    }
    if (op->sync_step || op->kind == VMM_BLK_OP_FLUSH) {
        if (res >= 0) {
            BLK_STAT_ADD(b, syncs, 1);
        }
        blk_op_finish(op, res < 0 ? res : 0);
        return;
    }
    switch (op->kind) {
    case VMM_BLK_OP_READ:
    case VMM_BLK_OP_WRITE:
        if (res == 0 && op->kind == VMM_BLK_OP_READ &&
            op->moved >= op->xfer_need) {
            /* End of file past what was asked for: the rest reads 0. */
            memset((char *)op->iov[0].iov_base, 0, op->xfer_len - op->moved);
            op->moved = op->xfer_len;
        }
        if (res < 0 || (res == 0 && op->moved < op->xfer_len)) {
            blk_op_finish(op, res < 0 ? res : -EIO);
            return;
        }
        if (op->kind == VMM_BLK_OP_READ) {
            blk_iov_mark_read(op->iov, op->iovcnt, (uint64_t)res);
        }
        op->moved += (uint64_t)res;
        if (op->moved < op->xfer_len) {
            BLK_STAT_ADD(b, short_transfers, 1);
            blk_iov_advance(&op->iov, &op->iovcnt, (uint64_t)res);
            blk_uring_start(op);
            return;
        }
        if (op->kind == VMM_BLK_OP_READ && op->bounce) {
            blk_op_bounce_copy_out(op);
        }
        break;
    case VMM_BLK_OP_DISCARD:
        /* Advisory: a file system that cannot punch holes ignores it. */
        blk_op_finish(op, (res == -EOPNOTSUPP || res >= 0) ? 0 : res);
        return;
    case VMM_BLK_OP_WRITE_ZEROES:
        if (res < 0 && !op->punch_tried && (op->flags & VMM_BLK_REQ_UNMAP) &&
            b->discard == VMM_DISCARD_UNMAP) {
            op->punch_tried = true;
            blk_uring_start(op);
            return;
        }
        if (res == -EOPNOTSUPP || res == -EINVAL) {
            res = blk_pool_start(op);
            if (res) {
                blk_op_finish(op, res);
            }
            return;
        }
        if (res < 0) {
            blk_op_finish(op, res);
            return;
        }
        break;
    case VMM_BLK_OP_FLUSH:
        break;
    }
    if ((op->flags & VMM_BLK_REQ_FUA) && b->cache != VMM_CACHE_UNSAFE) {
        op->sync_step = true;
        blk_uring_start(op);
        return;
    }
    blk_op_finish(op, 0);
}

unsigned vmm_blk_ctx_abandon(struct vmm_blk_ctx *c)
{
    struct blk_op *op, *next;
    unsigned n = 0;

    for (op = c->ops; op; op = next) {
        next = op->next;
        if (!op->req) {
            continue;
        }
        op->req = NULL;
        c->inflight--;
        n++;
        if (op->state == OP_STALLED) {
            /* Never started: nothing to wait for. */
            op_free(op);
        } else if (op->state == OP_POOL) {
            blk_pool_abandon(c, op);
        }
    }
    if (c->ring) {
        blk_uring_abandon_wait(c);
    }
    return n;
}
