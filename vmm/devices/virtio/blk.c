/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk device model (blk.h).  The device object is shared by every
 * queue and thread: after creation only its atomics change (statistics,
 * the writeback byte, the negotiated features).  A queue's state is its
 * serving thread's alone.
 *
 * A request is a descriptor chain: a 16-byte device-readable header
 * (type, reserved, sector), data, and a device-writable status byte that
 * is the chain's last byte.  The framing is free (VERSION_1 / ANY_LAYOUT):
 * the header may span descriptors and the status byte may share one with
 * data.  Every chain taken is answered exactly once: with a status when
 * its last buffer is writable guest RAM, else with used length 0.
 */
#include "devices/virtio/blk.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <loom/clock.h>

#define REQ_IOV_INLINE 8
#define HDR_SIZE 16u
#define DWZ_SEG_SIZE 16u

struct vmm_virtio_blk {
    /* Immutable after vmm_virtio_blk_new(). */
    struct vmm_blk_backend *backend;
    unsigned num_queues;
    uint16_t queue_size;
    uint8_t serial[VMM_VIRTIO_BLK_ID_BYTES];
    uint64_t capacity; /* sectors */
    uint64_t features;
    bool readonly;
    enum vmm_discard_mode discard;
    enum vmm_on_error werror, rerror;
    vmm_blk_error_fn *on_error;
    void *error_opaque;
    /* Atomic. */
    uint8_t writeback;
    uint64_t negotiated;
    struct vmm_virtio_blk_stats stats;
};

struct blk_req {
    struct vmm_virtio_blk_queue *q;
    uint16_t head;
    bool busy;      /* taken from the avail ring, not answered */
    bool submitted; /* with the backend */
    bool held;      /* failed, held by the stop policy until a retry */
    uint32_t type;
    uint8_t *status; /* host address of the status byte, or NULL */
    uint32_t in_len; /* data bytes written on success */
    int64_t pick_ns; /* the batch that took it (service time) */
    int64_t start_ns; /* its submission (block statistics) */
    struct vmm_blk_req io;
    struct iovec *iov;
    struct iovec iov_inline[REQ_IOV_INLINE];
    struct blk_req *next_free; /* on the free list, or the held list */
};

struct vmm_virtio_blk_queue {
    struct vmm_virtio_blk *b;
    unsigned index;
    struct vmm_vq vq;
    struct vmm_blk_ctx *ctx;
    struct vmm_virtio_blk_env env;
    struct vmm_vq_seg *segs; /* scratch for vmm_vq_pop() */
    struct blk_req *reqs;
    struct blk_req *free;
    unsigned inflight;
    bool starved;
    int64_t batch_ns; /* the current batch's time */
    /* Failed requests the stop policy holds, oldest first. */
    struct blk_req *held_head, *held_tail;
    unsigned held;
};

#define STAT_ADD(b, f, n)                                                      \
    __atomic_fetch_add(&(b)->stats.f, (uint64_t)(n), __ATOMIC_RELAXED)

/* A counter with one writer: a plain store, read anywhere. */
static void own_add(uint64_t *p, uint64_t n)
{
    __atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + n,
                     __ATOMIC_RELAXED);
}

void vmm_blk_lat_add(struct vmm_blk_lat *h, uint64_t ns, uint64_t n)
{
    unsigned i = ns < 2 ? 0 : 63u - (unsigned)__builtin_clzll(ns);

    if (i >= VMM_BLK_LAT_BUCKETS) {
        i = VMM_BLK_LAT_BUCKETS - 1;
    }
    own_add(&h->bucket[i], n);
    own_add(&h->sum_ns, ns * n);
}

static void put_le16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, 2);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static void put_le64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

int vmm_virtio_blk_new(const struct vmm_virtio_blk_opts *o,
                       struct vmm_virtio_blk **ret)
{
    struct vmm_virtio_blk *b;
    size_t slen = 0;

    if (!o || !ret || !o->backend || o->num_queues < 1 || o->num_queues > 16 ||
        !o->queue_size || o->queue_size > VMM_VIRTIO_MAX_QUEUE_SIZE ||
        (o->queue_size & (o->queue_size - 1)) || o->queue_size < 4) {
        return -EINVAL;
    }
    if (o->serial) {
        slen = strlen(o->serial);
        if (slen > VMM_VIRTIO_BLK_ID_BYTES) {
            return -EINVAL;
        }
    }
    b = calloc(1, sizeof(*b));
    if (!b) {
        return -ENOMEM;
    }
    b->backend = o->backend;
    b->num_queues = o->num_queues;
    b->queue_size = o->queue_size;
    memcpy(b->serial, o->serial ? o->serial : "", slen);
    b->capacity = vmm_blk_backend_size(o->backend) / VMM_BLK_SECTOR;
    b->readonly = vmm_blk_backend_readonly(o->backend);
    b->discard = o->discard;
    b->werror = o->werror;
    b->rerror = o->rerror;
    b->on_error = o->on_error;
    b->error_opaque = o->error_opaque;
    b->writeback = 1;
    b->features =
        (1ull << VMM_VIRTIO_BLK_F_SIZE_MAX) |
        (1ull << VMM_VIRTIO_BLK_F_SEG_MAX) |
        (1ull << VMM_VIRTIO_BLK_F_BLK_SIZE) | (1ull << VMM_VIRTIO_BLK_F_FLUSH) |
        (1ull << VMM_VIRTIO_BLK_F_TOPOLOGY) |
        (1ull << VMM_VIRTIO_BLK_F_CONFIG_WCE) |
        (1ull << VMM_VIRTIO_BLK_F_DISCARD) |
        (1ull << VMM_VIRTIO_BLK_F_WRITE_ZEROES) |
        (1ull << VMM_VIRTIO_F_INDIRECT_DESC) | (1ull << VMM_VIRTIO_F_EVENT_IDX);
    if (b->readonly) {
        b->features |= 1ull << VMM_VIRTIO_BLK_F_RO;
    }
    if (b->num_queues > 1) {
        b->features |= 1ull << VMM_VIRTIO_BLK_F_MQ;
    }
    *ret = b;
    return 0;
}

void vmm_virtio_blk_free(struct vmm_virtio_blk *b)
{
    free(b);
}

uint64_t vmm_virtio_blk_features(const struct vmm_virtio_blk *b)
{
    return b->features;
}

unsigned vmm_virtio_blk_num_queues(const struct vmm_virtio_blk *b)
{
    return b->num_queues;
}

uint16_t vmm_virtio_blk_queue_size(const struct vmm_virtio_blk *b)
{
    return b->queue_size;
}

static unsigned log2u(unsigned v)
{
    unsigned n = 0;

    while (v > 1) {
        v >>= 1;
        n++;
    }
    return n;
}

void vmm_virtio_blk_config_read(struct vmm_virtio_blk *b, unsigned off,
                                void *buf, unsigned len)
{
    uint8_t cfg[VMM_VIRTIO_BLK_CONFIG_SIZE];
    unsigned align = vmm_blk_backend_align(b->backend);
    unsigned phys = align > VMM_BLK_SECTOR ? align / VMM_BLK_SECTOR : 1;

    if (off >= sizeof(cfg) || len > sizeof(cfg) - off) {
        memset(buf, 0, len);
        return;
    }
    memset(cfg, 0, sizeof(cfg));
    put_le64(cfg + VMM_VIRTIO_BLK_CFG_CAPACITY, b->capacity);
    put_le32(cfg + VMM_VIRTIO_BLK_CFG_SIZE_MAX, VMM_VIRTIO_BLK_SIZE_MAX);
    put_le32(cfg + VMM_VIRTIO_BLK_CFG_SEG_MAX, b->queue_size - 2u);
    put_le32(cfg + VMM_VIRTIO_BLK_CFG_BLK_SIZE, VMM_BLK_SECTOR);
    /* Topology: a file that needs 4 KiB transfers has 4 KiB blocks. */
    cfg[VMM_VIRTIO_BLK_CFG_PHYS_BLOCK_EXP] = (uint8_t)log2u(phys);
    put_le16(cfg + VMM_VIRTIO_BLK_CFG_MIN_IO_SIZE, (uint16_t)phys);
    cfg[VMM_VIRTIO_BLK_CFG_WRITEBACK] =
        __atomic_load_n(&b->writeback, __ATOMIC_RELAXED);
    put_le16(cfg + VMM_VIRTIO_BLK_CFG_NUM_QUEUES, (uint16_t)b->num_queues);
    put_le32(cfg + VMM_VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS,
             VMM_VIRTIO_BLK_MAX_DWZ_SECTORS);
    put_le32(cfg + VMM_VIRTIO_BLK_CFG_MAX_DISCARD_SEG, 1);
    put_le32(cfg + VMM_VIRTIO_BLK_CFG_DISCARD_ALIGN, phys);
    put_le32(cfg + VMM_VIRTIO_BLK_CFG_MAX_WZ_SECTORS,
             VMM_VIRTIO_BLK_MAX_DWZ_SECTORS);
    put_le32(cfg + VMM_VIRTIO_BLK_CFG_MAX_WZ_SEG, 1);
    cfg[VMM_VIRTIO_BLK_CFG_WZ_MAY_UNMAP] = b->discard == VMM_DISCARD_UNMAP;
    memcpy(buf, cfg + off, len);
}

void vmm_virtio_blk_config_write(struct vmm_virtio_blk *b, unsigned off,
                                 const void *buf, unsigned len)
{
    uint8_t v;

    if (off > VMM_VIRTIO_BLK_CFG_WRITEBACK ||
        off + len <= VMM_VIRTIO_BLK_CFG_WRITEBACK) {
        return;
    }
    v = ((const uint8_t *)buf)[VMM_VIRTIO_BLK_CFG_WRITEBACK - off];
    if (v <= 1) {
        __atomic_store_n(&b->writeback, v, __ATOMIC_RELAXED);
    }
}

void vmm_virtio_blk_reset(struct vmm_virtio_blk *b)
{
    __atomic_store_n(&b->writeback, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&b->negotiated, 0, __ATOMIC_RELAXED);
}

void vmm_virtio_blk_set_features(struct vmm_virtio_blk *b, uint64_t features)
{
    __atomic_store_n(&b->negotiated, features, __ATOMIC_RELAXED);
}

/*
 * Write-through (5.2.6.4): a driver that negotiated neither FLUSH nor
 * CONFIG_WCE cannot flush, so every write must be stable on completion;
 * with CONFIG_WCE the writeback byte says.
 */
static bool writethrough(struct vmm_virtio_blk *b)
{
    uint64_t f = __atomic_load_n(&b->negotiated, __ATOMIC_RELAXED);

    if (f & (1ull << VMM_VIRTIO_BLK_F_CONFIG_WCE)) {
        return !__atomic_load_n(&b->writeback, __ATOMIC_RELAXED);
    }
    return !(f & (1ull << VMM_VIRTIO_BLK_F_FLUSH));
}

void vmm_virtio_blk_stats(const struct vmm_virtio_blk *b,
                          struct vmm_virtio_blk_stats *st)
{
    const uint64_t *src = (const uint64_t *)&b->stats;
    uint64_t *dst = (uint64_t *)st;
    size_t i;

    for (i = 0; i < sizeof(*st) / sizeof(uint64_t); i++) {
        dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
    }
}

/* ------------------------------------------------------------------ */
/* Queues                                                              */
/* ------------------------------------------------------------------ */

int vmm_virtio_blk_queue_new(struct vmm_virtio_blk *b, unsigned index,
                             const struct vmm_gmem *gm,
                             const struct vmm_virtio_queue_cfg *cfg,
                             struct vmm_blk_ctx *ctx,
                             const struct vmm_virtio_blk_env *env,
                             struct vmm_virtio_blk_queue **ret)
{
    uint64_t f = __atomic_load_n(&b->negotiated, __ATOMIC_RELAXED);
    struct vmm_virtio_blk_queue *q;
    unsigned i;
    int err;

    q = calloc(1, sizeof(*q));
    if (!q) {
        return -ENOMEM;
    }
    err = vmm_vq_init(&q->vq, gm, cfg, f);
    if (err) {
        free(q);
        return err;
    }
    q->b = b;
    q->index = index;
    q->ctx = ctx;
    q->env = *env;
    q->segs = calloc(cfg->size, sizeof(*q->segs));
    q->reqs = calloc(cfg->size, sizeof(*q->reqs));
    if (!q->segs || !q->reqs) {
        free(q->segs);
        free(q->reqs);
        free(q);
        return -ENOMEM;
    }
    /* At most one request per descriptor can be in flight. */
    for (i = cfg->size; i-- > 0;) {
        q->reqs[i].q = q;
        q->reqs[i].next_free = q->free;
        q->free = &q->reqs[i];
    }
    *ret = q;
    return 0;
}

void vmm_virtio_blk_queue_free(struct vmm_virtio_blk_queue *q)
{
    unsigned i;

    if (!q) {
        return;
    }
    for (i = 0; i < q->vq.size; i++) {
        if (q->reqs[i].iov != q->reqs[i].iov_inline) {
            free(q->reqs[i].iov);
        }
    }
    free(q->segs);
    free(q->reqs);
    free(q);
}

struct vmm_vq *vmm_virtio_blk_queue_vq(struct vmm_virtio_blk_queue *q)
{
    return &q->vq;
}

bool vmm_virtio_blk_queue_full(const struct vmm_virtio_blk_queue *q)
{
    return q->starved;
}

unsigned vmm_virtio_blk_queue_inflight(const struct vmm_virtio_blk_queue *q)
{
    return q->inflight;
}

static void req_release(struct vmm_virtio_blk_queue *q, struct blk_req *req)
{
    if (req->iov != req->iov_inline) {
        free(req->iov);
    }
    req->iov = NULL;
    req->busy = false;
    req->submitted = false;
    req->next_free = q->free;
    q->free = req;
    if (q->starved) {
        q->starved = false;
        q->env.resume(q->env.opaque);
    }
}

unsigned vmm_virtio_blk_queue_cancel(struct vmm_virtio_blk_queue *q)
{
    unsigned i, n = 0;

    q->held_head = q->held_tail = NULL;
    q->held = 0;
    for (i = 0; i < q->vq.size; i++) {
        if (q->reqs[i].submitted || q->reqs[i].held) {
            q->inflight -= q->reqs[i].submitted;
            q->reqs[i].held = false;
            req_release(q, &q->reqs[i]);
            n++;
        }
    }
    return n;
}

void vmm_virtio_blk_queue_set_ctx(struct vmm_virtio_blk_queue *q,
                                  struct vmm_blk_ctx *ctx)
{
    q->ctx = ctx;
}

unsigned vmm_virtio_blk_queue_held(const struct vmm_virtio_blk_queue *q)
{
    return q->held;
}

/*
 * Answer @req: status (if it has a status byte) and the used entry.
 * @now_ns: the time of the answer (a clock already read, or the batch's).
 */
static void req_answer(struct blk_req *req, uint8_t status, uint32_t data,
                       int64_t now_ns)
{
    struct vmm_virtio_blk_queue *q = req->q;
    struct vmm_virtio_blk_lat_stats *lat = q->env.lat;
    uint32_t len = 0;

    if (req->status) {
        /* Before the used entry, which publishes it (release). */
        __atomic_store_n(req->status, status, __ATOMIC_RELAXED);
        len = data + 1;
        if (status == VMM_VIRTIO_BLK_S_UNSUPP) {
            STAT_ADD(q->b, unsupp, 1);
        }
    } else {
        STAT_ADD(q->b, no_status, 1);
    }
    vmm_vq_push(&q->vq, req->head, len);
    if (lat) {
        vmm_blk_lat_add(
            &lat->service,
            now_ns > req->pick_ns ? (uint64_t)(now_ns - req->pick_ns) : 0, 1);
        own_add(&lat->answered, 1);
    }
    req_release(q, req);
    q->env.used(q->env.opaque);
}

/* A counter that only grows: raise it to @v.  Atomic. */
static void stat_max(uint64_t *p, uint64_t v)
{
    uint64_t cur = __atomic_load_n(p, __ATOMIC_RELAXED);

    while (cur < v &&
           !__atomic_compare_exchange_n(p, &cur, v, true, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED)) {
    }
}

/* A malformed request answered without I/O, by kind (QEMU's invalid_*). */
static void count_invalid(struct vmm_virtio_blk *b, uint32_t type)
{
    STAT_ADD(b, invalid, 1);
    switch (type) {
    case VMM_VIRTIO_BLK_T_IN:
        STAT_ADD(b, invalid_rd, 1);
        break;
    case VMM_VIRTIO_BLK_T_OUT:
        STAT_ADD(b, invalid_wr, 1);
        break;
    case VMM_VIRTIO_BLK_T_FLUSH:
        STAT_ADD(b, invalid_flush, 1);
        break;
    case VMM_VIRTIO_BLK_T_DISCARD:
        STAT_ADD(b, invalid_unmap, 1);
        break;
    default:
        break;
    }
}

static enum vmm_blk_error_action error_action(struct vmm_virtio_blk *b,
                                              bool is_read, int err)
{
    enum vmm_on_error pol = is_read ? b->rerror : b->werror;

    if (pol == VMM_ONERR_DEFAULT) {
        pol = is_read ? VMM_ONERR_REPORT : VMM_ONERR_ENOSPC;
    }
    switch (pol) {
    case VMM_ONERR_IGNORE:
        return VMM_BLK_ERR_IGNORE;
    case VMM_ONERR_STOP:
        return VMM_BLK_ERR_STOP;
    case VMM_ONERR_ENOSPC:
        return err == -ENOSPC ? VMM_BLK_ERR_STOP : VMM_BLK_ERR_REPORT;
    default:
        return VMM_BLK_ERR_REPORT;
    }
}

static void count_io(struct vmm_virtio_blk *b, const struct blk_req *req,
                     int ret, int64_t now_ns)
{
    int64_t ns = now_ns - req->start_ns;

    switch (req->type) {
    case VMM_VIRTIO_BLK_T_IN:
        STAT_ADD(b, rd_ns, ns);
        STAT_ADD(b, failed_rd, ret != 0);
        STAT_ADD(b, rd_bytes, ret ? 0 : req->io.len);
        break;
    case VMM_VIRTIO_BLK_T_OUT:
        STAT_ADD(b, wr_ns, ns);
        STAT_ADD(b, failed_wr, ret != 0);
        STAT_ADD(b, wr_bytes, ret ? 0 : req->io.len);
        if (!ret) {
            stat_max(&b->stats.wr_highest_offset, req->io.offset + req->io.len);
        }
        break;
    case VMM_VIRTIO_BLK_T_FLUSH:
        STAT_ADD(b, flush_ns, ns);
        STAT_ADD(b, failed_flush, ret != 0);
        break;
    case VMM_VIRTIO_BLK_T_DISCARD:
        STAT_ADD(b, unmap_ns, ns);
        STAT_ADD(b, failed_unmap, ret != 0);
        STAT_ADD(b, unmap_bytes, ret ? 0 : req->io.len);
        STAT_ADD(b, failed_other, ret != 0);
        break;
    default:
        STAT_ADD(b, failed_other, ret != 0);
        break;
    }
}

/*
 * The stop policy: keep the failed request, unanswered, for a retry once
 * the VM runs again; its buffers stay the guest's until then.
 */
static void hold(struct vmm_virtio_blk_queue *q, struct blk_req *req)
{
    req->submitted = false;
    req->held = true;
    req->next_free = NULL;
    if (q->held_tail) {
        q->held_tail->next_free = req;
    } else {
        q->held_head = req;
    }
    q->held_tail = req;
    q->held++;
}

static void io_done(struct vmm_blk_req *io, int ret);

/*
 * Hand @req (its io filled in) to the backend at @now_ns, or answer it
 * IOERR.
 */
static void start_io(struct blk_req *req, int64_t now_ns)
{
    struct vmm_virtio_blk_queue *q = req->q;

    req->start_ns = now_ns;
    if (vmm_blk_submit(q->ctx, &req->io)) {
        count_invalid(q->b, req->type);
        req_answer(req, VMM_VIRTIO_BLK_S_IOERR, 0, now_ns);
        return;
    }
    req->submitted = true;
    q->inflight++;
}

unsigned vmm_virtio_blk_queue_retry(struct vmm_virtio_blk_queue *q)
{
    unsigned n = 0;

    while (q->held_head) {
        struct blk_req *req = q->held_head;

        q->held_head = req->next_free;
        if (!q->held_head) {
            q->held_tail = NULL;
        }
        q->held--;
        req->held = false;
        STAT_ADD(q->b, retried, 1);
        start_io(req, loom_clock_ns(LOOM_CLOCK_HOST));
        n++;
    }
    return n;
}

static void io_done(struct vmm_blk_req *io, int ret)
{
    struct blk_req *req = io->opaque;
    struct vmm_virtio_blk_queue *q = req->q;
    struct vmm_virtio_blk *b = q->b;
    bool is_read = req->type == VMM_VIRTIO_BLK_T_IN;
    uint8_t status = VMM_VIRTIO_BLK_S_OK;
    int64_t now = loom_clock_ns(LOOM_CLOCK_HOST);

    q->inflight--;
    count_io(b, req, ret, now);
    if (ret) {
        enum vmm_blk_error_action act = error_action(b, is_read, ret);

        if (b->on_error) {
            b->on_error(b->error_opaque, is_read, ret, act);
        }
        if (act == VMM_BLK_ERR_STOP && b->on_error) {
            hold(q, req);
            return;
        }
        if (act != VMM_BLK_ERR_IGNORE) {
            status = VMM_VIRTIO_BLK_S_IOERR;
        }
    }
    req_answer(req, status, status == VMM_VIRTIO_BLK_S_OK ? req->in_len : 0,
               now);
}

/*
 * The iovec over @len bytes of the buffers of one direction, after
 * skipping @skip bytes of them.  The status byte is excluded by the
 * caller through @len.
 */
static int build_iov(struct blk_req *req, const struct vmm_vq_seg *segs,
                     unsigned n, bool write, uint64_t skip, uint64_t len)
{
    unsigned i, cnt = 0;
    uint64_t take;

    req->iov = req->iov_inline;
    if (n > REQ_IOV_INLINE) {
        req->iov = malloc(sizeof(*req->iov) * n);
        if (!req->iov) {
            req->iov = req->iov_inline;
            return -ENOMEM;
        }
    }
    for (i = 0; i < n && len; i++) {
        if (segs[i].write != write) {
            continue;
        }
        if (skip >= segs[i].len) {
            skip -= segs[i].len;
            continue;
        }
        take = segs[i].len - skip;
        take = take < len ? take : len;
        req->iov[cnt++] =
            (struct iovec){(uint8_t *)segs[i].hva + skip, (size_t)take};
        len -= take;
        skip = 0;
    }
    req->io.iov = req->iov;
    req->io.iovcnt = cnt;
    return 0;
}

/* Copy @len bytes of the readable buffers, from byte @skip, to @dst. */
static void gather(const struct vmm_vq_seg *segs, unsigned n, uint64_t skip,
                   void *dst, size_t len)
{
    size_t done = 0, take;
    unsigned i;

    for (i = 0; i < n && done < len; i++) {
        if (segs[i].write) {
            continue;
        }
        if (skip >= segs[i].len) {
            skip -= segs[i].len;
            continue;
        }
        take = segs[i].len - skip;
        take = take < len - done ? take : len - done;
        memcpy((uint8_t *)dst + done, (uint8_t *)segs[i].hva + skip, take);
        done += take;
        skip = 0;
    }
}

/* Copy @len bytes into the writable buffers. */
static void scatter(const struct vmm_vq_seg *segs, unsigned n, const void *src,
                    size_t len)
{
    size_t done = 0, take;
    unsigned i;

    for (i = 0; i < n && done < len; i++) {
        if (!segs[i].write) {
            continue;
        }
        take = segs[i].len < len - done ? segs[i].len : len - done;
        memcpy(segs[i].hva, (const uint8_t *)src + done, take);
        done += take;
    }
}

/* Whether [sector, sector + bytes / 512) lies inside the disk. */
static bool in_range(const struct vmm_virtio_blk *b, uint64_t sector,
                     uint64_t bytes)
{
    return sector <= b->capacity &&
           bytes / VMM_BLK_SECTOR <= b->capacity - sector;
}

/* Request context while it is parsed. */
struct parse {
    struct blk_req *req;
    const struct vmm_vq_elem *elem;
    const struct vmm_vq_seg *segs;
    uint64_t sector;
    uint64_t out_data; /* readable bytes after the header */
    uint64_t in_data;  /* writable bytes before the status byte */
};

static void submit(struct blk_req *req, enum vmm_blk_op op, uint64_t offset,
                   uint64_t len, unsigned flags)
{
    req->io.op = op;
    req->io.flags = flags;
    req->io.offset = offset;
    req->io.len = len;
    req->io.done = io_done;
    req->io.opaque = req;
    start_io(req, req->q->batch_ns);
}

/* IN and OUT; an error status to answer with, or -1 when submitted. */
static int parse_rw(struct parse *p)
{
    struct blk_req *req = p->req;
    struct vmm_virtio_blk *b = req->q->b;
    bool in = req->type == VMM_VIRTIO_BLK_T_IN;
    uint64_t len = in ? p->in_data : p->out_data;

    /* Data only in the direction of the transfer. */
    if ((in ? p->out_data : p->in_data) != 0 || len % VMM_BLK_SECTOR ||
        len >= UINT32_MAX || !in_range(b, p->sector, len) ||
        (!in && b->readonly)) {
        count_invalid(b, p->req->type);
        return VMM_VIRTIO_BLK_S_IOERR;
    }
    if (len == 0) {
        return VMM_VIRTIO_BLK_S_OK;
    }
    if (build_iov(req, p->segs, p->elem->nr_segs, in, in ? 0 : HDR_SIZE, len)) {
        return VMM_VIRTIO_BLK_S_IOERR;
    }
    req->in_len = in ? (uint32_t)len : 0;
    submit(req, in ? VMM_BLK_OP_READ : VMM_BLK_OP_WRITE,
           p->sector * VMM_BLK_SECTOR, len,
           !in && writethrough(b) ? VMM_BLK_REQ_FUA : 0);
    return -1;
}

/* DISCARD and WRITE_ZEROES: one segment {sector, num_sectors, flags}. */
static int parse_dwz(struct parse *p)
{
    struct blk_req *req = p->req;
    struct vmm_virtio_blk *b = req->q->b;
    bool dis = req->type == VMM_VIRTIO_BLK_T_DISCARD;
    uint64_t neg = __atomic_load_n(&b->negotiated, __ATOMIC_RELAXED);
    uint8_t seg[DWZ_SEG_SIZE];
    uint64_t sector;
    uint32_t num, flags;

    if (!(neg & (1ull << (dis ? VMM_VIRTIO_BLK_F_DISCARD
                              : VMM_VIRTIO_BLK_F_WRITE_ZEROES)))) {
        return VMM_VIRTIO_BLK_S_UNSUPP;
    }
    if (p->out_data > DWZ_SEG_SIZE && !(p->out_data % DWZ_SEG_SIZE)) {
        return VMM_VIRTIO_BLK_S_UNSUPP; /* more segments than max_*_seg */
    }
    if (p->out_data != DWZ_SEG_SIZE || p->in_data) {
        count_invalid(b, p->req->type);
        return VMM_VIRTIO_BLK_S_IOERR;
    }
    gather(p->segs, p->elem->nr_segs, HDR_SIZE, seg, sizeof(seg));
    memcpy(&sector, seg, 8);
    memcpy(&num, seg + 8, 4);
    memcpy(&flags, seg + 12, 4);
    /* Unknown flags, or unmap on a discard (5.2.6.2). */
    if ((flags & ~VMM_VIRTIO_BLK_DWZ_F_UNMAP) ||
        (dis && (flags & VMM_VIRTIO_BLK_DWZ_F_UNMAP))) {
        return VMM_VIRTIO_BLK_S_UNSUPP;
    }
    if (num > VMM_VIRTIO_BLK_MAX_DWZ_SECTORS ||
        !in_range(b, sector, (uint64_t)num * VMM_BLK_SECTOR) || b->readonly) {
        count_invalid(b, p->req->type);
        return VMM_VIRTIO_BLK_S_IOERR;
    }
    req->io.iov = NULL;
    req->io.iovcnt = 0;
    submit(
        req, dis ? VMM_BLK_OP_DISCARD : VMM_BLK_OP_WRITE_ZEROES,
        sector * VMM_BLK_SECTOR, (uint64_t)num * VMM_BLK_SECTOR,
        (dis ? 0
             : (flags & VMM_VIRTIO_BLK_DWZ_F_UNMAP ? VMM_BLK_REQ_UNMAP : 0)) |
            (!dis && writethrough(b) ? VMM_BLK_REQ_FUA : 0));
    return -1;
}

/* GET_ID: up to 20 bytes of serial, NUL-padded, never NUL-terminated. */
static int parse_get_id(struct parse *p)
{
    struct blk_req *req = p->req;
    size_t n = p->in_data < VMM_VIRTIO_BLK_ID_BYTES ? (size_t)p->in_data
                                                    : VMM_VIRTIO_BLK_ID_BYTES;

    if (!n || p->out_data) {
        count_invalid(req->q->b, req->type);
        return VMM_VIRTIO_BLK_S_IOERR;
    }
    scatter(p->segs, p->elem->nr_segs, req->q->b->serial, n);
    req->in_len = (uint32_t)n;
    return VMM_VIRTIO_BLK_S_OK;
}

static int parse(struct parse *p)
{
    struct blk_req *req = p->req;
    struct vmm_virtio_blk *b = req->q->b;
    uint8_t hdr[HDR_SIZE];

    if (p->elem->err != VMM_VQ_OK || p->elem->out_bytes < HDR_SIZE) {
        count_invalid(b, UINT32_MAX); /* no type yet */
        return VMM_VIRTIO_BLK_S_IOERR;
    }
    gather(p->segs, p->elem->nr_segs, 0, hdr, sizeof(hdr));
    memcpy(&req->type, hdr, 4);
    memcpy(&p->sector, hdr + 8, 8);
    p->out_data = p->elem->out_bytes - HDR_SIZE;
    p->in_data = p->elem->in_bytes - 1;
    switch (req->type) {
    case VMM_VIRTIO_BLK_T_IN:
        STAT_ADD(b, rd_ops, 1);
        return parse_rw(p);
    case VMM_VIRTIO_BLK_T_OUT:
        STAT_ADD(b, wr_ops, 1);
        return parse_rw(p);
    case VMM_VIRTIO_BLK_T_FLUSH:
        STAT_ADD(b, flush_ops, 1);
        req->io.iov = NULL;
        req->io.iovcnt = 0;
        submit(req, VMM_BLK_OP_FLUSH, 0, 0, 0);
        return -1;
    case VMM_VIRTIO_BLK_T_GET_ID:
        STAT_ADD(b, getid_ops, 1);
        return parse_get_id(p);
    case VMM_VIRTIO_BLK_T_DISCARD:
        STAT_ADD(b, discard_ops, 1);
        return parse_dwz(p);
    case VMM_VIRTIO_BLK_T_WRITE_ZEROES:
        STAT_ADD(b, wz_ops, 1);
        return parse_dwz(p);
    default:
        return VMM_VIRTIO_BLK_S_UNSUPP;
    }
}

static void handle(struct vmm_virtio_blk_queue *q, struct blk_req *req,
                   const struct vmm_vq_elem *elem)
{
    const struct vmm_vq_seg *last = &q->segs[elem->nr_segs - 1];
    struct parse p = {.req = req, .elem = elem, .segs = q->segs};
    int status;

    req->busy = true;
    req->head = elem->head;
    req->pick_ns = q->batch_ns;
    req->in_len = 0;
    req->type = UINT32_MAX;
    req->iov = req->iov_inline;
    /* The status byte: the last byte of the last buffer, if writable RAM. */
    req->status =
        last->write && last->hva ? (uint8_t *)last->hva + last->len - 1 : NULL;
    if (!req->status) {
        req_answer(req, 0, 0, q->batch_ns);
        return;
    }
    status = parse(&p);
    if (status >= 0) {
        req_answer(req, (uint8_t)status, req->in_len, q->batch_ns);
    }
}

unsigned vmm_virtio_blk_queue_process(struct vmm_virtio_blk_queue *q,
                                      int64_t now_ns)
{
    struct vmm_vq_elem elem;
    struct blk_req *req;
    unsigned n = 0;
    int ret;

    q->batch_ns = now_ns;
    if (vmm_vq_broken(&q->vq)) {
        return 0; /* reported when it broke */
    }
    for (;;) {
        if (!q->free) {
            /* Every slot busy: wait for a completion (env.resume). */
            q->starved = true;
            STAT_ADD(q->b, queue_full, 1);
            return n;
        }
        ret = vmm_vq_pop(&q->vq, &elem, q->segs);
        if (ret == 0) {
            return n;
        }
        if (ret < 0) {
            q->env.broken(q->env.opaque);
            return n;
        }
        n++;
        req = q->free;
        q->free = req->next_free;
        handle(q, req, &elem);
    }
}
