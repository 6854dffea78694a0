/* SPDX-License-Identifier: MIT */
/*
 * A virtio-mmio driver that does exactly what it is told: every register
 * write, queue size, ring address and descriptor is the caller's, so that
 * blk-malicious can break each rule on purpose.  Polling only; one CPU
 * drives a device (nothing here is thread-safe).
 */
#ifndef BLK_MALICIOUS_RAW_H
#define BLK_MALICIOUS_RAW_H

#include "sdk/virtio-blk.h"

#define RAW_QUEUES 2

/**
 * struct raw_queue - a split virtqueue laid out contiguously (the legacy
 * layout, which suits the modern transport too).
 * @size: as written to QueueNum (need not be a power of two).
 * @ready: the device accepted the queue.
 * @desc: the descriptor table.
 * @avail: the avail ring.
 * @used: the used ring.
 * @avail_idx: the driver's next avail index.
 * @last_used: the next used entry to take.
 */
struct raw_queue {
    uint16_t size;
    bool ready;
    struct vring_desc *desc;
    struct vring_avail *avail;
    struct vring_used *used;
    uint16_t avail_idx;
    uint16_t last_used;
};

/**
 * struct raw_dev - a virtio-blk device driven by raw_*().
 * @dev: its transport.
 * @offered: the device's features.
 * @features: what was written as the driver's.
 * @capacity: sectors.
 * @num_max: QueueNumMax of queue 0.
 * @nqueues: the device's queues (MQ); at most RAW_QUEUES are used.
 * @q: the queues.
 */
struct raw_dev {
    struct virtio_mmio_dev dev;
    uint64_t offered;
    uint64_t features;
    uint64_t capacity;
    uint16_t num_max;
    unsigned nqueues;
    struct raw_queue q[RAW_QUEUES];
};

/**
 * struct raw_rings - guest-physical addresses of a queue's three parts.
 * @desc: the descriptor table.
 * @avail: the avail ring.
 * @used: the used ring.
 */
struct raw_rings {
    uint64_t desc, avail, used;
};

/**
 * raw_rd() - read the 32-bit register at @off; raw_wr(): write @v there.
 * @d: the device.
 * @off: VIRTIO_MMIO_*.
 * @v: the value (raw_wr()).
 *
 * Context: the CPU driving @d.
 */
uint32_t raw_rd(const struct raw_dev *d, uint32_t off);
void raw_wr(const struct raw_dev *d, uint32_t off, uint32_t v);

/**
 * raw_begin() - reset the device and wait for it, then ACKNOWLEDGE and
 * DRIVER; note the offered features, the capacity, the queue count and
 * QueueNumMax.  Forgets every queue.
 * @d: filled in.
 * @dev: the transport.
 *
 * Context: the CPU driving @d.
 * Return: false when the reset does not take.
 */
bool raw_begin(struct raw_dev *d, const struct virtio_mmio_dev *dev);

/**
 * raw_features() - write @features as the driver's (both words on a
 * modern transport), offered or not.
 * @d: the device.
 * @features: the bits.
 *
 * Context: the CPU driving @d.
 */
void raw_features(struct raw_dev *d, uint64_t features);

/**
 * raw_status() - write @bits | ACKNOWLEDGE | DRIVER to Status.
 * @d: the device.
 * @bits: VIRTIO_STATUS_*.
 *
 * Context: the CPU driving @d.
 * Return: Status as read back.
 */
uint32_t raw_status(struct raw_dev *d, uint32_t bits);

/**
 * raw_alloc_rings() - zeroed contiguous rings for @size entries from the
 * SDK's heap.
 * @size: entries.
 * @r: receives the addresses.
 *
 * Context: the CPU driving the device.
 */
void raw_alloc_rings(unsigned size, struct raw_rings *r);

/**
 * raw_queue() - set up queue @qi: QueueNum, then the addresses and
 * QueueReady (modern) or QueueAlign and QueuePFN (legacy).  Interrupts
 * are asked off (avail flags) when the avail ring is RAM.
 * @d: the device.
 * @qi: the queue.
 * @size: written to QueueNum as it is.
 * @r: where the rings are, or NULL for fresh ones from the heap.
 *
 * Context: the CPU driving @d.
 * Return: whether the device took it (QueueReady or QueuePFN reads back).
 */
bool raw_queue(struct raw_dev *d, unsigned qi, unsigned size,
               const struct raw_rings *r);

/**
 * raw_standard() - the orderly start: raw_begin(), the features in @want
 * that are offered (plus VERSION_1 on a modern transport), FEATURES_OK,
 * queues 0 and 1 (as many as the device has) of @size entries, DRIVER_OK.
 * @d: filled in.
 * @dev: the transport.
 * @want: the features to ask for.
 * @size: entries per queue.
 *
 * Context: the CPU driving @d.
 * Return: NULL, or the step the device refused.
 */
const char *raw_standard(struct raw_dev *d, const struct virtio_mmio_dev *dev,
                         uint64_t want, unsigned size);

/**
 * raw_desc() - write descriptor @i of @q, whatever it says.
 * @q: the queue.
 * @i: the index (below @q->size).
 * @addr: the buffer's guest-physical address.
 * @len: its length.
 * @flags: VRING_DESC_F_*.
 * @next: the next descriptor's index.
 *
 * Context: the CPU driving the device.
 */
void raw_desc(struct raw_queue *q, unsigned i, uint64_t addr, uint32_t len,
              uint16_t flags, uint16_t next);

/**
 * raw_post() - put @head in @q's next avail slot and publish the index.
 * @q: the queue.
 * @head: any value.
 *
 * Context: the CPU driving the device.
 */
void raw_post(struct raw_queue *q, uint16_t head);

/**
 * raw_set_avail_idx() - publish @idx as @q's avail index, whatever it is.
 * @q: the queue.
 * @idx: the index.
 *
 * Context: the CPU driving the device.
 */
void raw_set_avail_idx(struct raw_queue *q, uint16_t idx);

/**
 * raw_notify() - write @qi to QueueNotify, after a full barrier.
 * @d: the device.
 * @qi: any value.
 *
 * Context: the CPU driving @d.
 */
void raw_notify(struct raw_dev *d, unsigned qi);

/**
 * raw_used_idx() - the device's used index of @q.
 * @q: the queue.
 *
 * Context: the CPU driving the device.
 */
uint16_t raw_used_idx(const struct raw_queue *q);

/**
 * raw_take() - take the next used entry of @q.
 * @q: the queue.
 * @id: receives its id.
 * @len: receives its length.
 *
 * Context: the CPU driving the device.
 * Return: false when the device has not added one.
 */
bool raw_take(struct raw_queue *q, uint32_t *id, uint32_t *len);

#endif /* BLK_MALICIOUS_RAW_H */
