/* SPDX-License-Identifier: MIT */
/*
 * The thread-pool engine (aio=threads) and every path that must block:
 * a request runs whole, synchronously, on a worker of its loop's pool
 * (preadv/pwritev, fdatasync, fallocate), and its completion comes back
 * in the loop's thread from the pool's BH.
 *
 * Alignment (cache=none, or x-loom-fault's align=): a transfer whose file
 * offset, length or buffers are not aligned goes through an aligned bounce
 * buffer; a write whose offset or length is not aligned reads the partial
 * blocks at both ends first (read-modify-write).  Two writers touching
 * one block would then lose each other's bytes, so on such files every
 * write-kind request holds its aligned range exclusively while it runs
 * (blk_range_lock(); only workers wait, never a loop).
 */
#include "block/block-int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ZERO_CHUNK 65536u

/* Source of zero writes: aligned for any O_DIRECT file. */
static const uint8_t g_zeros[ZERO_CHUNK] __attribute__((aligned(65536)));

static uint64_t align_down(uint64_t v, uint64_t a)
{
    return v & ~(a - 1);
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

static void range_lock(struct vmm_blk_backend *b, struct blk_range *r)
{
    struct blk_range *o;
    bool busy;

    loom_mutex_lock(&b->range_lock);
    do {
        busy = false;
        for (o = b->ranges; o; o = o->next) {
            if (o->start < r->end && r->start < o->end) {
                busy = true;
                loom_cond_wait(&b->range_cond, &b->range_lock);
                break;
            }
        }
    } while (busy);
    r->next = b->ranges;
    b->ranges = r;
    loom_mutex_unlock(&b->range_lock);
}

static void range_unlock(struct vmm_blk_backend *b, struct blk_range *r)
{
    struct blk_range **pp;

    loom_mutex_lock(&b->range_lock);
    for (pp = &b->ranges; *pp != r; pp = &(*pp)->next) {
    }
    *pp = r->next;
    loom_cond_broadcast(&b->range_cond);
    loom_mutex_unlock(&b->range_lock);
}

/* x-loom-fault's align=: refuse what a real O_DIRECT file would. */
static bool fake_align_ok(const struct vmm_blk_backend *b, uint64_t off,
                          const struct iovec *iov, unsigned cnt)
{
    return !b->fault || !b->fault->align || blk_xfer_aligned(b, off, iov, cnt);
}

/*
 * Cap @iov (@cnt entries) at @limit bytes by trimming one entry; returns
 * the entries to pass and saves what to restore in *@saved_len.
 */
static unsigned cut_iov(struct iovec *iov, unsigned cnt, uint64_t limit,
                        size_t *saved_len)
{
    uint64_t sum = 0;
    unsigned i;

    for (i = 0; i < cnt; i++) {
        if (sum + iov[i].iov_len >= limit) {
            *saved_len = iov[i].iov_len;
            iov[i].iov_len = limit - sum;
            return i + 1;
        }
        sum += iov[i].iov_len;
    }
    *saved_len = iov[cnt - 1].iov_len;
    return cnt;
}

static void zero_iov(struct iovec *iov, unsigned cnt)
{
    unsigned i;

    for (i = 0; i < cnt; i++) {
        memset(iov[i].iov_base, 0, iov[i].iov_len);
    }
}

/*
 * Move @len bytes between @iov (advanced as it goes) and the file at
 * @off, continuing after short transfers.  *@limit (fault injection), if
 * non-zero, caps the first system call and is then cleared.  A read that
 * reaches the end of the file after @need bytes zero-fills the rest; any
 * other transfer that moves nothing is -EIO.
 */
static int xfer(struct vmm_blk_backend *b, bool write, uint64_t off,
                struct iovec *iov, unsigned cnt, uint64_t need, uint64_t len,
                uint64_t *limit)
{
    uint64_t moved = 0;
    unsigned k;
    size_t saved = 0;
    ssize_t n;

    while (moved < len) {
        if (!fake_align_ok(b, off + moved, iov, cnt)) {
            return -EINVAL;
        }
        k = *limit ? cut_iov(iov, cnt, *limit, &saved) : cnt;
        n = write ? pwritev(b->fd, iov, (int)k, (off_t)(off + moved))
                  : preadv(b->fd, iov, (int)k, (off_t)(off + moved));
        if (*limit) {
            iov[k - 1].iov_len = saved;
            *limit = 0;
        }
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                continue;
            }
            return -errno;
        }
        if (n == 0) {
            if (!write && moved >= need) {
                zero_iov(iov, cnt);
                return 0;
            }
            return -EIO;
        }
        moved += (uint64_t)n;
        if (moved < len) {
            BLK_STAT_ADD(b, short_transfers, 1);
            blk_iov_advance(&iov, &cnt, (uint64_t)n);
        }
    }
    return 0;
}

/* One aligned block at @off into @buf; past the end of file reads zeroes. */
static int read_block(struct vmm_blk_backend *b, uint64_t off, void *buf)
{
    struct iovec iov = {buf, b->align};
    uint64_t no_limit = 0;

    return xfer(b, false, off, &iov, 1, 0, b->align, &no_limit);
}

/* Copy @len bytes of @iov (or zeroes if @iov is NULL) to @dst. */
static void gather(void *dst, const struct iovec *iov, unsigned cnt,
                   uint64_t len)
{
    uint64_t done = 0;
    unsigned i;

    if (!iov) {
        memset(dst, 0, len);
        return;
    }
    for (i = 0; i < cnt && done < len; i++) {
        memcpy((char *)dst + done, iov[i].iov_base, iov[i].iov_len);
        done += iov[i].iov_len;
    }
}

/*
 * Write @len bytes of @iov (zeroes if NULL) at @off on a file that needs
 * alignment: through an aligned buffer spanning the aligned range, whose
 * partial first and last blocks are read from the file first.
 */
/* An aligned buffer over the aligned span [*@start, *@end) around
 * [@off, @off + @len). */
static int bounce_new(struct vmm_blk_backend *b, uint64_t off, uint64_t len,
                      uint64_t *start, uint64_t *end, void **buf)
{
    *start = align_down(off, b->align);
    *end = align_up(off + len, b->align);
    if (*end - *start > VMM_BLK_MAX_BOUNCE) {
        return -EINVAL;
    }
    *buf = aligned_alloc(b->align, *end - *start);
    if (!*buf) {
        return -ENOMEM;
    }
    BLK_STAT_ADD(b, bounced, 1);
    return 0;
}

static int write_bounced(struct vmm_blk_backend *b, uint64_t off,
                         const struct iovec *iov, unsigned cnt, uint64_t len,
                         uint64_t *limit)
{
    uint64_t a = b->align, start, end;
    struct iovec whole;
    void *buf;
    int err;

    err = bounce_new(b, off, len, &start, &end, &buf);
    if (err) {
        return err;
    }
    if (start != off || end != off + len) {
        BLK_STAT_ADD(b, rmw, 1);
        if (start != off) {
            err = read_block(b, start, buf);
        }
        if (!err && end != off + len && (end - a != start || start == off)) {
            err = read_block(b, end - a, (char *)buf + (end - a - start));
        }
    }
    if (!err) {
        gather((char *)buf + (off - start), iov, cnt, len);
        whole = (struct iovec){buf, end - start};
        err = xfer(b, true, start, &whole, 1, end - start, end - start, limit);
    }
    free(buf);
    return err;
}

/* Read through an aligned buffer, then copy out. */
static int read_bounced(struct vmm_blk_backend *b, uint64_t off,
                        const struct iovec *iov, unsigned cnt, uint64_t len,
                        uint64_t *limit)
{
    uint64_t start, end;
    const char *src;
    struct iovec whole;
    void *buf;
    unsigned i;
    int err;

    err = bounce_new(b, off, len, &start, &end, &buf);
    if (err) {
        return err;
    }
    /* The aligned end may lie past the end of a file whose size is not
     * aligned: only the bytes asked for must exist. */
    whole = (struct iovec){buf, end - start};
    err =
        xfer(b, false, start, &whole, 1, off + len - start, end - start, limit);
    if (!err) {
        src = (const char *)buf + (off - start);
        for (i = 0; i < cnt; i++) {
            memcpy(iov[i].iov_base, src, iov[i].iov_len);
            src += iov[i].iov_len;
        }
    }
    free(buf);
    return err;
}

static int do_rw(struct blk_op *op, bool write)
{
    struct vmm_blk_backend *b = op->ctx->b;

    if (b->align > 1 && !blk_xfer_aligned(b, op->offset, op->iov, op->iovcnt)) {
        return write ? write_bounced(b, op->offset, op->iov, op->iovcnt,
                                     op->len, &op->limit)
                     : read_bounced(b, op->offset, op->iov, op->iovcnt, op->len,
                                    &op->limit);
    }
    return xfer(b, write, op->offset, op->iov, op->iovcnt, op->len, op->len,
                &op->limit);
}

static int do_sync(struct vmm_blk_backend *b)
{
    if (b->cache == VMM_CACHE_UNSAFE) {
        return 0;
    }
    while (fdatasync(b->fd) < 0) {
        if (errno != EINTR) {
            return -errno;
        }
    }
    BLK_STAT_ADD(b, syncs, 1);
    return 0;
}

/* Write zeroes without deallocating, where fallocate cannot. */
static int write_zeroes_slow(struct vmm_blk_backend *b, uint64_t off,
                             uint64_t len)
{
    uint64_t chunk, no_limit = 0;
    struct iovec iov;
    int err = 0;

    while (!err && len) {
        chunk = len < ZERO_CHUNK ? len : ZERO_CHUNK;
        if (b->align > 1 && ((off | chunk) & (b->align - 1))) {
            err = write_bounced(b, off, NULL, 0, chunk, &no_limit);
        } else {
            iov = (struct iovec){(void *)g_zeros, chunk};
            err = xfer(b, true, off, &iov, 1, chunk, chunk, &no_limit);
        }
        off += chunk;
        len -= chunk;
    }
    return err;
}

static int do_fallocate(struct vmm_blk_backend *b, int mode, uint64_t off,
                        uint64_t len)
{
    return fallocate(b->fd, mode, (off_t)off, (off_t)len) < 0 ? -errno : 0;
}

static int do_write_zeroes(struct blk_op *op)
{
    struct vmm_blk_backend *b = op->ctx->b;
    int err = -EOPNOTSUPP;

    if ((op->flags & VMM_BLK_REQ_UNMAP) && b->discard == VMM_DISCARD_UNMAP) {
        err = do_fallocate(b, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                           op->offset, op->len);
    }
    if (err) {
        err = do_fallocate(b, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
                           op->offset, op->len);
    }
    if (err == -EOPNOTSUPP || err == -EINVAL) {
        err = write_zeroes_slow(b, op->offset, op->len);
    }
    return err;
}

/* The whole request, synchronously (a pool worker). */
static int run_sync(struct blk_op *op)
{
    struct vmm_blk_backend *b = op->ctx->b;
    struct blk_range range;
    bool locked = false;
    int err;

    if (b->rmw_lock && op->kind != VMM_BLK_OP_READ &&
        op->kind != VMM_BLK_OP_FLUSH) {
        range.start = align_down(op->offset, b->align);
        range.end = align_up(op->offset + op->len, b->align);
        range_lock(b, &range);
        locked = true;
    }
    switch (op->kind) {
    case VMM_BLK_OP_READ:
        err = do_rw(op, false);
        break;
    case VMM_BLK_OP_WRITE:
        err = do_rw(op, true);
        break;
    case VMM_BLK_OP_FLUSH:
        err = do_sync(b);
        break;
    case VMM_BLK_OP_DISCARD:
        err = do_fallocate(b, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                           op->offset, op->len);
        /* Advisory: a file system that cannot punch holes ignores it. */
        err = err == -EOPNOTSUPP ? 0 : err;
        break;
    default:
        err = do_write_zeroes(op);
        break;
    }
    if (locked) {
        range_unlock(b, &range);
    }
    if (!err && (op->flags & VMM_BLK_REQ_FUA) && op->kind != VMM_BLK_OP_READ) {
        err = do_sync(b);
    }
    return err;
}

static int pool_fn(void *arg)
{
    struct blk_op *op = arg;
    struct vmm_blk_ctx *c = op->ctx;
    int ret = run_sync(op);

    /* Pairs with the acquire load in blk_pool_abandon(). */
    loom_mutex_lock(&c->wait_lock);
    __atomic_store_n(&op->fn_done, 1, __ATOMIC_RELEASE);
    loom_cond_broadcast(&c->wait_cond);
    loom_mutex_unlock(&c->wait_lock);
    return ret;
}

static void pool_done(void *opaque, int ret)
{
    struct blk_op *op = opaque;

    op->preq = NULL;
    op->state = OP_IDLE;
    blk_op_finish(op, ret);
}

int blk_pool_start(struct blk_op *op)
{
    struct loom_pool *p = loom_loop_pool(op->ctx->loop);
    int err;

    if (!p) {
        return -ENOMEM;
    }
    op->state = OP_POOL;
    op->fn_done = 0;
    err = loom_pool_submit(p, pool_fn, op, pool_done, op, &op->preq);
    if (err) {
        op->state = OP_IDLE;
        return err;
    }
    BLK_STAT_ADD(op->ctx->b, pool_jobs, 1);
    return 0;
}

/*
 * Under the exclusion of vmm_blk_ctx_abandon(): the pool's completion BH
 * cannot run, so the request is known to be pending.  Cancel it if it has
 * not started (its completion, -ECANCELED, only frees it later); else
 * wait for the worker to leave the buffers alone.
 */
void blk_pool_abandon(struct vmm_blk_ctx *c, struct blk_op *op)
{
    if (loom_pool_cancel(op->preq) == 0) {
        return;
    }
    loom_mutex_lock(&c->wait_lock);
    while (!__atomic_load_n(&op->fn_done, __ATOMIC_ACQUIRE)) {
        loom_cond_wait(&c->wait_cond, &c->wait_lock);
    }
    loom_mutex_unlock(&c->wait_lock);
}
