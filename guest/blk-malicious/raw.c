/* SPDX-License-Identifier: MIT */
/*
 * The obedient driver behind blk-malicious (raw.h): register writes in
 * the order it is given, rings wherever it is told.  Ordering as in the
 * SDK's driver: descriptors and avail entries before the avail index
 * (x86 keeps stores in order; a compiler barrier suffices).
 */
#include "raw.h"

#define RING_ALIGN 4096
#define RESET_TRIES 1000000

uint32_t raw_rd(const struct raw_dev *d, uint32_t off)
{
    return sdk_mmio_read32(d->dev.base + off);
}

void raw_wr(const struct raw_dev *d, uint32_t off, uint32_t v)
{
    sdk_mmio_write32(d->dev.base + off, v);
}

static uint64_t offered_features(const struct raw_dev *d)
{
    uint64_t f;

    raw_wr(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    f = raw_rd(d, VIRTIO_MMIO_DEVICE_FEATURES);
    if (d->dev.version == 2) {
        raw_wr(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
        f |= (uint64_t)raw_rd(d, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
    }
    return f;
}

bool raw_begin(struct raw_dev *d, const struct virtio_mmio_dev *dev)
{
    uint32_t tries;

    memset(d, 0, sizeof(*d));
    d->dev = *dev;
    raw_wr(d, VIRTIO_MMIO_STATUS, 0);
    for (tries = 0; raw_rd(d, VIRTIO_MMIO_STATUS) != 0; tries++) {
        if (tries == RESET_TRIES) {
            return false;
        }
        sdk_pause();
    }
    raw_wr(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    raw_wr(d, VIRTIO_MMIO_STATUS,
           VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    d->offered = offered_features(d);
    d->capacity =
        raw_rd(d, VIRTIO_MMIO_CONFIG + VIRTIO_BLK_CFG_CAPACITY) |
        (uint64_t)raw_rd(d, VIRTIO_MMIO_CONFIG + VIRTIO_BLK_CFG_CAPACITY + 4)
            << 32;
    d->nqueues = 1;
    if (d->offered & (1ull << VIRTIO_BLK_F_MQ)) {
        d->nqueues = sdk_mmio_read16(d->dev.base + VIRTIO_MMIO_CONFIG +
                                     VIRTIO_BLK_CFG_NUM_QUEUES);
    }
    raw_wr(d, VIRTIO_MMIO_QUEUE_SEL, 0);
    d->num_max = (uint16_t)raw_rd(d, VIRTIO_MMIO_QUEUE_NUM_MAX);
    if (dev->version == 1) {
        raw_wr(d, VIRTIO_MMIO_GUEST_PAGE_SIZE, RING_ALIGN);
    }
    return true;
}

void raw_features(struct raw_dev *d, uint64_t features)
{
    d->features = features;
    raw_wr(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    raw_wr(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
    if (d->dev.version == 2) {
        raw_wr(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
        raw_wr(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
    }
}

uint32_t raw_status(struct raw_dev *d, uint32_t bits)
{
    raw_wr(d, VIRTIO_MMIO_STATUS,
           bits | VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    return raw_rd(d, VIRTIO_MMIO_STATUS);
}

void raw_alloc_rings(unsigned size, struct raw_rings *r)
{
    uint64_t desc_bytes = 16ull * size, avail_bytes = 6 + 2ull * size;
    uint64_t used_off =
        (desc_bytes + avail_bytes + RING_ALIGN - 1) & ~(RING_ALIGN - 1ull);
    uint8_t *mem = sdk_alloc(used_off + 6 + 8ull * size, RING_ALIGN);

    r->desc = (uintptr_t)mem;
    r->avail = (uintptr_t)mem + desc_bytes;
    r->used = (uintptr_t)mem + used_off;
}

bool raw_queue(struct raw_dev *d, unsigned qi, unsigned size,
               const struct raw_rings *r)
{
    struct raw_queue *q = &d->q[qi];
    struct raw_rings fresh;
    uint32_t pfn;

    if (!r) {
        raw_alloc_rings(size, &fresh);
        r = &fresh;
    }
    *q = (struct raw_queue){
        .size = (uint16_t)size,
        .desc = (struct vring_desc *)(uintptr_t)r->desc,
        .avail = (struct vring_avail *)(uintptr_t)r->avail,
        .used = (struct vring_used *)(uintptr_t)r->used,
    };
    if (sdk_memmap_is_ram(r->avail, 4)) {
        q->avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
    }
    raw_wr(d, VIRTIO_MMIO_QUEUE_SEL, qi);
    raw_wr(d, VIRTIO_MMIO_QUEUE_NUM, size);
    if (d->dev.version == 1) {
        pfn = (uint32_t)(r->desc >> 12);
        raw_wr(d, VIRTIO_MMIO_QUEUE_ALIGN, RING_ALIGN);
        raw_wr(d, VIRTIO_MMIO_QUEUE_PFN, pfn);
        q->ready = raw_rd(d, VIRTIO_MMIO_QUEUE_PFN) == pfn;
        return q->ready;
    }
    raw_wr(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)r->desc);
    raw_wr(d, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(r->desc >> 32));
    raw_wr(d, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)r->avail);
    raw_wr(d, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, (uint32_t)(r->avail >> 32));
    raw_wr(d, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)r->used);
    raw_wr(d, VIRTIO_MMIO_QUEUE_USED_HIGH, (uint32_t)(r->used >> 32));
    raw_wr(d, VIRTIO_MMIO_QUEUE_READY, 1);
    q->ready = raw_rd(d, VIRTIO_MMIO_QUEUE_READY) == 1;
    return q->ready;
}

const char *raw_standard(struct raw_dev *d, const struct virtio_mmio_dev *dev,
                         uint64_t want, unsigned size)
{
    unsigned i;

    if (!raw_begin(d, dev)) {
        return "reset-refused";
    }
    if (dev->version == 2) {
        want |= 1ull << VIRTIO_F_VERSION_1;
    }
    raw_features(d, d->offered & want);
    if (dev->version == 2 && !(raw_status(d, VIRTIO_STATUS_FEATURES_OK) &
                               VIRTIO_STATUS_FEATURES_OK)) {
        return "features-refused";
    }
    for (i = 0; i < RAW_QUEUES && i < d->nqueues; i++) {
        if (!raw_queue(d, i, size, NULL)) {
            return "queue-refused";
        }
    }
    raw_status(d, VIRTIO_STATUS_DRIVER_OK |
                      (dev->version == 2 ? VIRTIO_STATUS_FEATURES_OK : 0));
    return NULL;
}

void raw_desc(struct raw_queue *q, unsigned i, uint64_t addr, uint32_t len,
              uint16_t flags, uint16_t next)
{
    q->desc[i] = (struct vring_desc){
        .addr = addr, .len = len, .flags = flags, .next = next};
}

void raw_set_avail_idx(struct raw_queue *q, uint16_t idx)
{
    sdk_barrier(); /* ring entries before the index */
    q->avail_idx = idx;
    *(volatile uint16_t *)&q->avail->idx = idx;
}

void raw_post(struct raw_queue *q, uint16_t head)
{
    q->avail->ring[q->avail_idx % q->size] = head;
    raw_set_avail_idx(q, (uint16_t)(q->avail_idx + 1));
}

void raw_notify(struct raw_dev *d, unsigned qi)
{
    sdk_mb(); /* the avail index before the notification */
    raw_wr(d, VIRTIO_MMIO_QUEUE_NOTIFY, qi);
}

uint16_t raw_used_idx(const struct raw_queue *q)
{
    return *(volatile uint16_t *)&q->used->idx;
}

bool raw_take(struct raw_queue *q, uint32_t *id, uint32_t *len)
{
    volatile struct vring_used_elem *e;

    if (raw_used_idx(q) == q->last_used) {
        return false;
    }
    sdk_barrier(); /* the index before the entry it covers */
    e = &q->used->ring[q->last_used % q->size];
    *id = e->id;
    *len = e->len;
    q->last_used++;
    return true;
}
