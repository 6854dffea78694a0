/* SPDX-License-Identifier: MIT */
/*
 * The virtio-blk driver (virtio-blk.h): device initialisation over both
 * virtio-mmio register layouts, split virtqueues with a free list of
 * descriptors, requests in flight on several queues, EVENT_IDX for both
 * notification and interrupt suppression, indirect descriptors.
 *
 * Ordering: descriptors and the avail ring entry are written before
 * avail->idx (x86 keeps stores in order; a compiler barrier suffices);
 * avail->idx is written before the device's avail_event or flags are read
 * to decide on a notify, and used_event before used->idx is re-read to
 * decide on sleeping: store-then-load, so a full barrier (sdk_mb()).
 */
#include "sdk/virtio-blk.h"

#define RING_ALIGN 4096
#define RESET_TRIES 1000000

static uint32_t rd(const struct vblk *d, uint32_t off)
{
    return sdk_mmio_read32(d->dev.base + off);
}

static void wr(const struct vblk *d, uint32_t off, uint32_t v)
{
    sdk_mmio_write32(d->dev.base + off, v);
}

static uint32_t cfg32(const struct vblk *d, uint32_t off)
{
    return rd(d, VIRTIO_MMIO_CONFIG + off);
}

static uint16_t cfg16(const struct vblk *d, uint32_t off)
{
    return sdk_mmio_read16(d->dev.base + VIRTIO_MMIO_CONFIG + off);
}

static volatile uint16_t *used_event(const struct vblk_queue *q)
{
    return &q->avail->ring[q->size];
}

static volatile uint16_t *avail_event(const struct vblk_queue *q)
{
    return (volatile uint16_t *)&q->used->ring[q->size];
}

static uint16_t used_idx(const struct vblk_queue *q)
{
    return *(volatile uint16_t *)&q->used->idx;
}

static bool reset_device(const struct vblk *d)
{
    uint32_t tries;

    wr(d, VIRTIO_MMIO_STATUS, 0);
    for (tries = 0; tries < RESET_TRIES; tries++) {
        if (rd(d, VIRTIO_MMIO_STATUS) == 0) {
            return true;
        }
        sdk_pause();
    }
    return false;
}

static uint64_t device_features(const struct vblk *d)
{
    uint64_t f;

    wr(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    f = rd(d, VIRTIO_MMIO_DEVICE_FEATURES);
    if (d->dev.version == 2) {
        wr(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
        f |= (uint64_t)rd(d, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
    }
    return f;
}

static void read_config(struct vblk *d)
{
    uint32_t gen = 0;

    do {
        if (d->dev.version == 2) {
            gen = rd(d, VIRTIO_MMIO_CONFIG_GENERATION);
        }
        d->capacity = cfg32(d, VIRTIO_BLK_CFG_CAPACITY) |
                      (uint64_t)cfg32(d, VIRTIO_BLK_CFG_CAPACITY + 4) << 32;
        d->size_max = vblk_has(d, VIRTIO_BLK_F_SIZE_MAX)
                          ? cfg32(d, VIRTIO_BLK_CFG_SIZE_MAX)
                          : 0;
        d->seg_max = vblk_has(d, VIRTIO_BLK_F_SEG_MAX)
                         ? cfg32(d, VIRTIO_BLK_CFG_SEG_MAX)
                         : 0;
        d->blk_size = vblk_has(d, VIRTIO_BLK_F_BLK_SIZE)
                          ? cfg32(d, VIRTIO_BLK_CFG_BLK_SIZE)
                          : VIRTIO_BLK_SECTOR_SIZE;
        d->device_queues = vblk_has(d, VIRTIO_BLK_F_MQ)
                               ? cfg16(d, VIRTIO_BLK_CFG_NUM_QUEUES)
                               : 1;
        if (vblk_has(d, VIRTIO_BLK_F_DISCARD)) {
            d->max_discard_sectors =
                cfg32(d, VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS);
            d->max_discard_seg = cfg32(d, VIRTIO_BLK_CFG_MAX_DISCARD_SEG);
        }
        if (vblk_has(d, VIRTIO_BLK_F_WRITE_ZEROES)) {
            d->max_write_zeroes_sectors =
                cfg32(d, VIRTIO_BLK_CFG_MAX_WZ_SECTORS);
            d->max_write_zeroes_seg = cfg32(d, VIRTIO_BLK_CFG_MAX_WZ_SEG);
        }
    } while (d->dev.version == 2 &&
             gen != rd(d, VIRTIO_MMIO_CONFIG_GENERATION));
}

static unsigned pow2_floor(unsigned n)
{
    unsigned p = 1;

    while (p * 2 <= n) {
        p *= 2;
    }
    return p;
}

static int setup_queue(struct vblk *d, unsigned qi)
{
    struct vblk_queue *q = &d->q[qi];
    uint64_t desc_bytes, avail_bytes, used_off, used_bytes;
    unsigned max, size, i;
    uint8_t *mem;

    wr(d, VIRTIO_MMIO_QUEUE_SEL, qi);
    if (rd(d, d->dev.version == 2 ? VIRTIO_MMIO_QUEUE_READY
                                  : VIRTIO_MMIO_QUEUE_PFN)) {
        return -SDK_EIO; /* in use after a reset */
    }
    max = rd(d, VIRTIO_MMIO_QUEUE_NUM_MAX);
    if (max == 0) {
        return -SDK_EIO;
    }
    size = d->opt.queue_size ? d->opt.queue_size : max;
    if (size > max) {
        size = max;
    }
    if (size > VBLK_MAX_QUEUE_SIZE) {
        size = VBLK_MAX_QUEUE_SIZE;
    }
    size = pow2_floor(size);

    /* The legacy layout, which suits the modern transport too. */
    desc_bytes = 16ull * size;
    avail_bytes = 6 + 2ull * size;
    used_off =
        (desc_bytes + avail_bytes + RING_ALIGN - 1) & ~(RING_ALIGN - 1ull);
    used_bytes = 6 + 8ull * size;
    mem = sdk_alloc(used_off + used_bytes, RING_ALIGN);
    q->size = (uint16_t)size;
    q->desc = (struct vring_desc *)mem;
    q->avail = (struct vring_avail *)(mem + desc_bytes);
    q->used = (struct vring_used *)(mem + used_off);
    q->reqs = sdk_alloc(size * sizeof(*q->reqs), 8);
    for (i = 0; i < size; i++) {
        q->desc[i].next = (uint16_t)(i + 1);
    }
    q->free_head = 0;
    q->num_free = (uint16_t)size;
    if (!d->opt.irq) {
        /* Polling: keep interrupts off (used_event half a ring away). */
        if (d->event_idx) {
            *used_event(q) = 0x8000;
        } else {
            q->avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
        }
    }

    wr(d, VIRTIO_MMIO_QUEUE_NUM, size);
    if (d->dev.version == 1) {
        wr(d, VIRTIO_MMIO_QUEUE_ALIGN, RING_ALIGN);
        wr(d, VIRTIO_MMIO_QUEUE_PFN, (uint32_t)((uintptr_t)mem >> 12));
    } else {
        wr(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)(uintptr_t)q->desc);
        wr(d, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
        wr(d, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)(uintptr_t)q->avail);
        wr(d, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, 0);
        wr(d, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)(uintptr_t)q->used);
        wr(d, VIRTIO_MMIO_QUEUE_USED_HIGH, 0);
        wr(d, VIRTIO_MMIO_QUEUE_READY, 1);
        if (rd(d, VIRTIO_MMIO_QUEUE_READY) != 1) {
            return -SDK_EIO;
        }
    }
    return 0;
}

static uint64_t wanted_features(const struct vblk *d)
{
    uint64_t f = 1ull << VIRTIO_BLK_F_SIZE_MAX | 1ull << VIRTIO_BLK_F_SEG_MAX |
                 1ull << VIRTIO_BLK_F_RO | 1ull << VIRTIO_BLK_F_BLK_SIZE |
                 1ull << VIRTIO_BLK_F_FLUSH | 1ull << VIRTIO_BLK_F_MQ |
                 1ull << VIRTIO_BLK_F_DISCARD |
                 1ull << VIRTIO_BLK_F_WRITE_ZEROES;

    if (!d->opt.no_event_idx) {
        f |= 1ull << VIRTIO_F_EVENT_IDX;
    }
    if (d->opt.indirect) {
        f |= 1ull << VIRTIO_F_INDIRECT_DESC;
    }
    if (d->dev.version == 2) {
        f |= 1ull << VIRTIO_F_VERSION_1;
    }
    return f;
}

/* vblk_init() - see virtio-blk.h.  Context: the CPU that drives @d. */
int vblk_init(struct vblk *d, const struct virtio_mmio_dev *dev,
              const struct vblk_options *opt)
{
    const uint32_t ack = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;
    uint32_t status = ack;
    unsigned i;
    int r;

    memset(d, 0, sizeof(*d));
    d->dev = *dev;
    if (opt) {
        d->opt = *opt;
    }
    if (dev->device_id != VIRTIO_ID_BLOCK) {
        return -SDK_ENODEV;
    }
    if (!reset_device(d)) {
        return -SDK_EIO;
    }
    wr(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    wr(d, VIRTIO_MMIO_STATUS, ack);
    d->features = device_features(d) & wanted_features(d);
    if (dev->version == 2 && !vblk_has(d, VIRTIO_F_VERSION_1)) {
        return -SDK_EIO; /* a modern device must offer it */
    }
    wr(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    wr(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)d->features);
    if (dev->version == 2) {
        wr(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
        wr(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(d->features >> 32));
        status |= VIRTIO_STATUS_FEATURES_OK;
        wr(d, VIRTIO_MMIO_STATUS, status);
        if (!(rd(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK)) {
            return -SDK_EIO;
        }
    }
    d->event_idx = vblk_has(d, VIRTIO_F_EVENT_IDX);
    d->indirect = vblk_has(d, VIRTIO_F_INDIRECT_DESC);
    d->ro = vblk_has(d, VIRTIO_BLK_F_RO);
    read_config(d);

    d->nqueues = d->device_queues ? d->device_queues : 1;
    if (d->opt.queues && d->opt.queues < d->nqueues) {
        d->nqueues = (uint16_t)d->opt.queues;
    }
    if (d->nqueues > VBLK_MAX_QUEUES) {
        d->nqueues = VBLK_MAX_QUEUES;
    }
    if (dev->version == 1) {
        wr(d, VIRTIO_MMIO_GUEST_PAGE_SIZE, RING_ALIGN);
    }
    for (i = 0; i < d->nqueues; i++) {
        r = setup_queue(d, i);
        if (r < 0) {
            wr(d, VIRTIO_MMIO_STATUS, status | VIRTIO_STATUS_FAILED);
            return r;
        }
    }
    if (d->opt.irq) {
        sdk_lapic_enable();
        sdk_ioapic_route(dev->irq, (uint8_t)(SDK_VEC_IRQ_BASE + dev->irq),
                         sdk_apic_id(), d->opt.level);
    }
    wr(d, VIRTIO_MMIO_STATUS, status | VIRTIO_STATUS_DRIVER_OK);
    if (rd(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET) {
        return -SDK_EIO;
    }
    return 0;
}

/* vblk_reset() - see virtio-blk.h.  Context: the CPU driving @d. */
void vblk_reset(struct vblk *d)
{
    if (d->opt.irq) {
        sdk_ioapic_mask(d->dev.irq);
    }
    reset_device(d);
}

static bool device_writes(uint32_t type)
{
    return type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID;
}

/*
 * Fill @chain (at most @max entries) for @r: header, data segments of at
 * most size_max bytes, status.  Returns the count, 0 when it does not fit.
 */
static unsigned build_chain(const struct vblk *d, struct vblk_req *r,
                            struct vring_desc *chain, unsigned max)
{
    uint32_t seg = d->size_max ? d->size_max : 0xfffff000u;
    uint16_t wflag = device_writes(r->type) ? VRING_DESC_F_WRITE : 0;
    uint8_t *p = r->buf;
    uint32_t left = r->len;
    unsigned n = 0;

    chain[n++] =
        (struct vring_desc){.addr = (uintptr_t)&r->hdr, .len = sizeof(r->hdr)};
    while (left) {
        uint32_t len = left < seg ? left : seg;

        if (n + 1 >= max) {
            return 0;
        }
        chain[n++] = (struct vring_desc){
            .addr = (uintptr_t)p, .len = len, .flags = wflag};
        p += len;
        left -= len;
    }
    chain[n++] = (struct vring_desc){
        .addr = (uintptr_t)&r->status, .len = 1, .flags = VRING_DESC_F_WRITE};
    return n;
}

/* vblk_submit() - see virtio-blk.h.  Context: the CPU driving @d. */
int vblk_submit(struct vblk *d, unsigned queue, struct vblk_req *r)
{
    struct vring_desc chain[VBLK_MAX_SEGS + 2];
    struct vblk_queue *q;
    uint16_t head, idx, last = 0;
    unsigned n, i, need;

    if (queue >= d->nqueues || (r->len && !r->buf)) {
        return -SDK_EINVAL;
    }
    q = &d->q[queue];
    r->hdr = (struct virtio_blk_outhdr){.type = r->type, .sector = r->sector};
    r->status = 0xff;
    r->used_len = 0;
    n = build_chain(d, r, chain, SDK_ARRAY_SIZE(chain));
    if (!n || (d->seg_max && n - 2 > d->seg_max)) {
        return -SDK_EINVAL;
    }
    need = d->indirect ? 1 : n;
    if (q->num_free < need) {
        return -SDK_EAGAIN;
    }
    head = idx = q->free_head;
    if (d->indirect) {
        for (i = 0; i < n; i++) {
            r->indirect[i] = chain[i];
            if (i + 1 < n) {
                r->indirect[i].flags |= VRING_DESC_F_NEXT;
                r->indirect[i].next = (uint16_t)(i + 1);
            }
        }
        q->desc[idx].addr = (uintptr_t)r->indirect;
        q->desc[idx].len = n * sizeof(struct vring_desc);
        q->desc[idx].flags = VRING_DESC_F_INDIRECT;
        last = idx;
    } else {
        /* Take descriptors in free-list order; their links become the chain. */
        for (i = 0; i < n; i++) {
            q->desc[idx].addr = chain[i].addr;
            q->desc[idx].len = chain[i].len;
            q->desc[idx].flags = chain[i].flags;
            last = idx;
            if (i + 1 < n) {
                q->desc[idx].flags |= VRING_DESC_F_NEXT;
                idx = q->desc[idx].next;
            }
        }
    }
    q->free_head = q->desc[last].next;
    q->num_free = (uint16_t)(q->num_free - need);
    r->head = head;
    r->queue = (uint16_t)queue;
    r->ndesc = (uint16_t)need;
    q->reqs[head] = r;
    q->avail->ring[q->avail_idx & (q->size - 1)] = head;
    sdk_barrier(); /* ring entry before the index: stores stay in order */
    q->avail_idx++;
    *(volatile uint16_t *)&q->avail->idx = q->avail_idx;
    r->submit_tsc = sdk_rdtsc();
    d->stats.submitted++;
    return 0;
}

/* vblk_kick() - see virtio-blk.h.  Context: the CPU driving @d. */
void vblk_kick(struct vblk *d, unsigned queue)
{
    struct vblk_queue *q;
    uint16_t old, now;
    bool need;

    if (queue >= d->nqueues) {
        return;
    }
    q = &d->q[queue];
    old = q->kicked_idx;
    now = q->avail_idx;
    if (old == now) {
        return;
    }
    q->kicked_idx = now;
    sdk_mb(); /* avail->idx before the device's avail_event or flags */
    if (d->event_idx) {
        need = vring_need_event(*avail_event(q), now, old);
    } else {
        need =
            !(*(volatile uint16_t *)&q->used->flags & VRING_USED_F_NO_NOTIFY);
    }
    if (need) {
        wr(d, VIRTIO_MMIO_QUEUE_NOTIFY, queue);
        d->stats.notifies++;
    } else {
        d->stats.suppressed++;
    }
}

/* vblk_poll() - see virtio-blk.h.  Context: the CPU driving @d. */
struct vblk_req *vblk_poll(struct vblk *d, unsigned queue)
{
    struct vblk_queue *q = &d->q[queue];
    struct vring_used_elem e;
    struct vblk_req *r;
    uint16_t tail;
    unsigned i;

    if (queue >= d->nqueues || used_idx(q) == q->last_used) {
        return NULL;
    }
    sdk_barrier(); /* the index before the entry it covers */
    e = q->used->ring[q->last_used & (q->size - 1)];
    if (e.id >= q->size || !q->reqs[e.id]) {
        sdk_panic("virtio-blk %#lx queue %u: used id %u is not in flight",
                  (unsigned long)d->dev.base, queue, e.id);
    }
    r = q->reqs[e.id];
    q->reqs[e.id] = NULL;
    tail = r->head;
    for (i = 1; i < r->ndesc; i++) {
        tail = q->desc[tail].next;
    }
    q->desc[tail].next = q->free_head;
    q->free_head = r->head;
    q->num_free = (uint16_t)(q->num_free + r->ndesc);
    q->last_used++;
    if (!d->opt.irq && d->event_idx) {
        *used_event(q) = (uint16_t)(q->last_used + 0x8000);
    }
    r->used_len = e.len;
    r->status = *(volatile uint8_t *)&r->status;
    d->stats.completed++;
    return r;
}

static bool pending(const struct vblk *d)
{
    unsigned i;

    for (i = 0; i < d->nqueues; i++) {
        if (used_idx(&d->q[i]) != d->q[i].last_used) {
            return true;
        }
    }
    return false;
}

/* vblk_wait() - see virtio-blk.h.  Context: the CPU driving @d. */
void vblk_wait(struct vblk *d)
{
    uint32_t isr;
    unsigned i;

    if (!d->opt.irq) {
        while (!pending(d)) {
            sdk_pause();
        }
        return;
    }
    /*
     * Every rising edge of the line leaves the vector pending until the
     * next sdk_wait_interrupt(), and InterruptStatus is acknowledged after
     * each wake-up, so sleeping only when the rings are empty after
     * asking for the next entry cannot miss a completion.
     */
    while (!pending(d)) {
        if (d->event_idx) {
            for (i = 0; i < d->nqueues; i++) {
                *used_event(&d->q[i]) = d->q[i].last_used;
            }
            sdk_mb(); /* used_event before re-reading used->idx */
            if (pending(d)) {
                return;
            }
        }
        sdk_wait_interrupt();
        d->stats.waits++;
        isr = rd(d, VIRTIO_MMIO_INTERRUPT_STATUS);
        if (isr) {
            wr(d, VIRTIO_MMIO_INTERRUPT_ACK, isr);
            d->stats.isr_reads++;
        }
    }
}

/* vblk_do() - see virtio-blk.h.  Context: the CPU driving @d. */
int vblk_do(struct vblk *d, struct vblk_req *r)
{
    struct vblk_req *got;
    int err = vblk_submit(d, 0, r);

    if (err < 0) {
        return err;
    }
    vblk_kick(d, 0);
    for (;;) {
        got = vblk_poll(d, 0);
        if (got == r) {
            return r->status;
        }
        if (got) {
            sdk_panic("vblk_do: another request completed meanwhile");
        }
        vblk_wait(d);
    }
}

/* vblk_options_from_cmdline() - see virtio-blk.h.  Context: any CPU. */
void vblk_options_from_cmdline(struct vblk_options *o)
{
    const char *mode = sdk_arg("mode");

    if (mode && strcmp(mode, "irq") != 0 && strcmp(mode, "poll") != 0) {
        sdk_printf("usage: mode=%s: expected poll or irq\n", mode);
        sdk_exit(SDK_EXIT_USAGE);
    }
    *o = (struct vblk_options){
        .irq = mode && strcmp(mode, "irq") == 0,
        .level = sdk_arg_bool("level", false),
        .no_event_idx = !sdk_arg_bool("event_idx", true),
        .indirect = sdk_arg_bool("indirect", false),
        .queues = (unsigned)sdk_arg_u64("queues", 0, VBLK_MAX_QUEUES),
        .queue_size =
            (unsigned)sdk_arg_u64("queue_size", 0, VBLK_MAX_QUEUE_SIZE),
    };
}

/* vblk_status_name() - see virtio-blk.h.  Context: any CPU. */
const char *vblk_status_name(uint8_t status)
{
    switch (status) {
    case VIRTIO_BLK_S_OK:
        return "OK";
    case VIRTIO_BLK_S_IOERR:
        return "IOERR";
    case VIRTIO_BLK_S_UNSUPP:
        return "UNSUPP";
    default:
        return "unknown";
    }
}
