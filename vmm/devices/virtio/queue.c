/* SPDX-License-Identifier: MIT */
/*
 * Split virtqueue, device side (queue.h).  Runs on the thread serving the
 * queue (an IOThread, or the main loop under the BQL); the guest driver
 * runs concurrently on vCPUs, so everything read from the rings is read
 * once: indices with atomic loads, descriptors copied whole and used from
 * the copy.
 *
 * Memory ordering, with the driver on the other side (2.7.7, 2.7.13):
 * - avail idx is loaded with acquire: the ring entries and descriptors
 *   the driver wrote before its store of idx are visible after it;
 * - a used entry is written before the used idx, which is stored with
 *   release;
 * - the interrupt decision (used_event / NO_INTERRUPT) and the check that
 *   follows re-enabling notifications are each preceded by a full fence:
 *   they read what the driver wrote after reading what we wrote, the
 *   store-load pattern that only a full barrier orders.
 *
 * Ring layout: avail = flags, idx, ring[size], used_event; used = flags,
 * idx, ring[size] of {id, len}, avail_event.  All little-endian; loom-vm
 * is x86-64 only, so guest order is host order.
 */
#include "devices/virtio/queue.h"

#include <errno.h>
#include <string.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "virtqueue code assumes a little-endian host"
#endif

struct vring_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

#define DESC_SIZE 16u

_Static_assert(sizeof(struct vring_desc) == DESC_SIZE, "descriptor layout");

/* Byte offsets inside the rings. */
#define AVAIL_FLAGS 0u
#define AVAIL_IDX 2u
#define AVAIL_RING 4u
#define USED_FLAGS 0u
#define USED_IDX 2u
#define USED_RING 4u

/* Statistics: one writer (the serving thread), readers anywhere. */
#define STAT_INC(vq, f)                                                        \
    __atomic_store_n(&(vq)->stats.f, (vq)->stats.f + 1, __ATOMIC_RELAXED)

static inline uint16_t *u16_at(uint8_t *base, size_t off)
{
    return (uint16_t *)(void *)(base + off);
}

static inline uint16_t load16(uint8_t *base, size_t off)
{
    return __atomic_load_n(u16_at(base, off), __ATOMIC_RELAXED);
}

static inline void store16(uint8_t *base, size_t off, uint16_t v)
{
    __atomic_store_n(u16_at(base, off), v, __ATOMIC_RELAXED);
}

static size_t avail_bytes(uint16_t size, bool event_idx)
{
    return AVAIL_RING + 2u * size + (event_idx ? 2u : 0u);
}

static size_t used_bytes(uint16_t size, bool event_idx)
{
    return USED_RING + 8u * size + (event_idx ? 2u : 0u);
}

int vmm_vq_init(struct vmm_vq *vq, const struct vmm_gmem *gm,
                const struct vmm_virtio_queue_cfg *cfg, uint64_t features)
{
    uint16_t n = cfg->size;
    bool ev = features & (1ull << VMM_VIRTIO_F_EVENT_IDX);

    memset(vq, 0, sizeof(*vq));
    /* Unusable until every check passed. */
    vq->broken = VMM_VQ_BROKEN_HEAD;
    if (!gm || n == 0 || n > VMM_VIRTIO_MAX_QUEUE_SIZE || (n & (n - 1))) {
        return -EINVAL;
    }
    if ((cfg->desc & 15) || (cfg->avail & 1) || (cfg->used & 3)) {
        return -EINVAL;
    }
    vq->desc = vmm_gmem_ptr(gm, cfg->desc, (uint64_t)n * DESC_SIZE);
    vq->avail = vmm_gmem_ptr(gm, cfg->avail, avail_bytes(n, ev));
    vq->used = vmm_gmem_ptr(gm, cfg->used, used_bytes(n, ev));
    if (!vq->desc || !vq->avail || !vq->used) {
        return -EFAULT;
    }
    vq->gm = gm;
    vq->size = n;
    vq->event_idx = ev;
    vq->indirect = features & (1ull << VMM_VIRTIO_F_INDIRECT_DESC);
    vq->broken = VMM_VQ_BROKEN_NONE;
    return 0;
}

const char *vmm_vq_broken_name(enum vmm_vq_broken why)
{
    switch (why) {
    case VMM_VQ_BROKEN_NONE:
        return "not broken";
    case VMM_VQ_BROKEN_AVAIL_IDX:
        return "avail index moved by more than the queue size";
    case VMM_VQ_BROKEN_HEAD:
        return "head index past the queue";
    case VMM_VQ_BROKEN_NEXT:
        return "next index past the table";
    case VMM_VQ_BROKEN_LOOP:
        return "descriptor chain longer than the queue (loop)";
    case VMM_VQ_BROKEN_INDIRECT:
        return "bad indirect descriptor";
    case VMM_VQ_BROKEN_INDIRECT_RAM:
        return "indirect table outside guest RAM";
    }
    return "unknown";
}

static uint16_t avail_idx_acquire(const struct vmm_vq *vq)
{
    return __atomic_load_n(u16_at(vq->avail, AVAIL_IDX), __ATOMIC_ACQUIRE);
}

bool vmm_vq_has_work(const struct vmm_vq *vq)
{
    if (vq->broken || !vq->avail) {
        return false;
    }
    return load16(vq->avail, AVAIL_IDX) != vq->last_avail;
}

uint16_t vmm_vq_avail_pending(const struct vmm_vq *vq)
{
    if (vq->broken || !vq->avail) {
        return 0;
    }
    return (uint16_t)(avail_idx_acquire(vq) - vq->last_avail);
}

static int set_broken(struct vmm_vq *vq, enum vmm_vq_broken why)
{
    vq->broken = why;
    return -EPROTO;
}

static void note_err(struct vmm_vq_elem *elem, enum vmm_vq_err err)
{
    if (elem->err == VMM_VQ_OK) {
        elem->err = err;
    }
}

/* Record one data buffer; data errors mark the element only. */
static void add_seg(struct vmm_vq *vq, const struct vring_desc *d,
                    struct vmm_vq_elem *elem, struct vmm_vq_seg *seg,
                    bool *seen_write)
{
    bool write = d->flags & VMM_VRING_DESC_F_WRITE;

    seg->gpa = d->addr;
    seg->len = d->len;
    seg->write = write;
    /* vmm_gmem_ptr() refuses a zero length and any overflow. */
    seg->hva = vmm_gmem_ptr(vq->gm, d->addr, d->len);
    if (d->len == 0) {
        note_err(elem, VMM_VQ_ERR_ZERO_LEN);
    } else if (!seg->hva) {
        note_err(elem, VMM_VQ_ERR_FAULT);
    }
    if (write) {
        *seen_write = true;
        elem->in_bytes += d->len;
    } else {
        if (*seen_write) {
            note_err(elem, VMM_VQ_ERR_ORDER);
        }
        elem->out_bytes += d->len;
    }
}

/*
 * Switch the walk to the indirect table @d describes.  Only one level,
 * only as a chain's last descriptor (no NEXT), sized in whole descriptors
 * and no longer than the queue, all of it in RAM.
 */
static int enter_indirect(struct vmm_vq *vq, const struct vring_desc *d,
                          bool nested, uint8_t **table, uint32_t *table_n)
{
    uint8_t *t;

    if (!vq->indirect || nested || (d->flags & VMM_VRING_DESC_F_NEXT) ||
        d->len == 0 || d->len % DESC_SIZE || d->len / DESC_SIZE > vq->size) {
        return set_broken(vq, VMM_VQ_BROKEN_INDIRECT);
    }
    t = vmm_gmem_ptr(vq->gm, d->addr, d->len);
    if (!t) {
        return set_broken(vq, VMM_VQ_BROKEN_INDIRECT_RAM);
    }
    *table = t;
    *table_n = d->len / DESC_SIZE;
    return 0;
}

/*
 * Walk the chain at @head.  Loops need no visited set: a table of n
 * descriptors cannot hold a chain of more than n distinct ones, so
 * counting steps per table finds every loop, and the segment count caps
 * the whole chain at the queue size.
 */
static int walk_chain(struct vmm_vq *vq, uint16_t head,
                      struct vmm_vq_elem *elem, struct vmm_vq_seg *segs)
{
    uint8_t *table = vq->desc;
    uint32_t table_n = vq->size, idx = head, steps = 0;
    bool nested = false, seen_write = false;
    struct vring_desc d;
    int ret;

    for (;;) {
        if (++steps > table_n) {
            return set_broken(vq, VMM_VQ_BROKEN_LOOP);
        }
        memcpy(&d, table + (size_t)idx * DESC_SIZE, sizeof(d));
        if (d.flags & VMM_VRING_DESC_F_INDIRECT) {
            ret = enter_indirect(vq, &d, nested, &table, &table_n);
            if (ret < 0) {
                return ret;
            }
            nested = true;
            idx = 0;
            steps = 0;
            continue;
        }
        if (elem->nr_segs >= vq->size) {
            return set_broken(vq, VMM_VQ_BROKEN_LOOP);
        }
        add_seg(vq, &d, elem, &segs[elem->nr_segs++], &seen_write);
        if (!(d.flags & VMM_VRING_DESC_F_NEXT)) {
            return 0;
        }
        idx = d.next;
        if (idx >= table_n) {
            return set_broken(vq, VMM_VQ_BROKEN_NEXT);
        }
    }
}

int vmm_vq_pop(struct vmm_vq *vq, struct vmm_vq_elem *elem,
               struct vmm_vq_seg *segs)
{
    uint16_t avail, head;
    int ret;

    if (vq->broken) {
        return -EPROTO;
    }
    avail = avail_idx_acquire(vq);
    if ((uint16_t)(avail - vq->last_avail) > vq->size) {
        return set_broken(vq, VMM_VQ_BROKEN_AVAIL_IDX);
    }
    if (avail == vq->last_avail) {
        return 0;
    }
    head =
        load16(vq->avail, AVAIL_RING + 2u * (vq->last_avail & (vq->size - 1)));
    if (head >= vq->size) {
        return set_broken(vq, VMM_VQ_BROKEN_HEAD);
    }
    memset(elem, 0, sizeof(*elem));
    elem->head = head;
    ret = walk_chain(vq, head, elem, segs);
    if (ret < 0) {
        return ret;
    }
    vq->last_avail++;
    STAT_INC(vq, popped);
    if (elem->err != VMM_VQ_OK) {
        STAT_INC(vq, bad_elems);
    }
    return 1;
}

void vmm_vq_push(struct vmm_vq *vq, uint16_t head, uint32_t len)
{
    uint8_t *e;

    if (vq->broken) {
        return;
    }
    e = vq->used + USED_RING + 8u * (vq->used_idx & (vq->size - 1));
    __atomic_store_n((uint32_t *)(void *)e, (uint32_t)head, __ATOMIC_RELAXED);
    __atomic_store_n((uint32_t *)(void *)(e + 4), len, __ATOMIC_RELAXED);
    vq->used_idx++;
    /* The entry before the index.  Pairs with the driver's load of idx. */
    __atomic_store_n(u16_at(vq->used, USED_IDX), vq->used_idx,
                     __ATOMIC_RELEASE);
    vq->pushed = true;
    STAT_INC(vq, pushed);
}

bool vmm_vq_should_notify(struct vmm_vq *vq)
{
    uint16_t old, event;
    bool valid, ret;

    if (!vq->pushed || vq->broken) {
        return false;
    }
    vq->pushed = false;
    /*
     * Our used idx store before the driver's used_event / flags: pairs
     * with the driver's barrier between writing those and reading idx.
     */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (vq->event_idx) {
        old = vq->signalled_used;
        valid = vq->signalled_valid;
        vq->signalled_used = vq->used_idx;
        vq->signalled_valid = true;
        event = load16(vq->avail, AVAIL_RING + 2u * vq->size);
        ret = !valid || vmm_vq_need_event(event, vq->used_idx, old);
    } else {
        ret =
            !(load16(vq->avail, AVAIL_FLAGS) & VMM_VRING_AVAIL_F_NO_INTERRUPT);
    }
    if (ret) {
        STAT_INC(vq, irqs);
    } else {
        STAT_INC(vq, irqs_suppressed);
    }
    return ret;
}

void vmm_vq_disable_notify(struct vmm_vq *vq)
{
    if (vq->broken || vq->notify_off) {
        return;
    }
    vq->notify_off = true;
    if (!vq->event_idx) {
        store16(vq->used, USED_FLAGS, VMM_VRING_USED_F_NO_NOTIFY);
    }
    /*
     * With EVENT_IDX the avail event stays at the index it had when
     * notifications were last enabled; the driver, already past it, does
     * not cross it again for 2^16 chains.
     */
}

bool vmm_vq_enable_notify(struct vmm_vq *vq)
{
    if (vq->broken) {
        return false;
    }
    vq->notify_off = false;
    if (vq->event_idx) {
        store16(vq->used, USED_RING + 8u * vq->size, vq->last_avail);
    } else {
        store16(vq->used, USED_FLAGS, 0);
    }
    /*
     * Publish before looking again: pairs with the driver's barrier
     * between its avail idx store and its read of the flags / event.
     */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return load16(vq->avail, AVAIL_IDX) != vq->last_avail;
}

void vmm_vq_stats(const struct vmm_vq *vq, struct vmm_vq_stats *st)
{
    st->popped = __atomic_load_n(&vq->stats.popped, __ATOMIC_RELAXED);
    st->pushed = __atomic_load_n(&vq->stats.pushed, __ATOMIC_RELAXED);
    st->bad_elems = __atomic_load_n(&vq->stats.bad_elems, __ATOMIC_RELAXED);
    st->irqs = __atomic_load_n(&vq->stats.irqs, __ATOMIC_RELAXED);
    st->irqs_suppressed =
        __atomic_load_n(&vq->stats.irqs_suppressed, __ATOMIC_RELAXED);
}
