/* SPDX-License-Identifier: MIT */
/*
 * The device side of a split virtqueue (virtio 1.2, 2.7), for a guest that
 * is not trusted.
 *
 * The rings are checked against guest RAM once, when the queue starts
 * (guest RAM is immutable for the machine's life, so the host pointers
 * stay valid); everything the guest writes into them afterwards - indices,
 * descriptors, indirect tables - is copied once and checked before use.
 *
 * Two classes of guest error (VMM.md, "Broken requests vs broken rings"):
 * - a bad *data buffer* (outside RAM, address + length overflowing, zero
 *   length, a device-readable buffer after a device-writable one) only
 *   marks the element (struct vmm_vq_elem.err): the device fails that
 *   request and still answers it;
 * - a bad *ring* (an avail index moving by more than the queue size, a
 *   head or next index past the table, a chain longer than the queue or
 *   looping, an indirect table that is nested, misplaced, badly sized or
 *   outside RAM) breaks the queue: vmm_vq_pop() returns -EPROTO from then
 *   on and the device reports DEVICE_NEEDS_RESET.
 *
 * A queue belongs to one thread at a time (the loop serving it); nothing
 * here locks.  Ring indices shared with the guest are read and written
 * with atomic accesses and the barriers the virtio memory model needs.
 */
#ifndef VMM_DEVICES_VIRTIO_QUEUE_H
#define VMM_DEVICES_VIRTIO_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/guest-mem.h"
#include "devices/virtio/virtio.h"

/* Descriptor flags (virtio 1.2, 2.7.5). */
#define VMM_VRING_DESC_F_NEXT 1u
#define VMM_VRING_DESC_F_WRITE 2u
#define VMM_VRING_DESC_F_INDIRECT 4u
/* Ring flags (2.7.6, 2.7.8). */
#define VMM_VRING_AVAIL_F_NO_INTERRUPT 1u
#define VMM_VRING_USED_F_NO_NOTIFY 1u

/**
 * enum vmm_vq_err - why an element's data buffers are unusable.
 * @VMM_VQ_OK: all buffers are usable.
 * @VMM_VQ_ERR_ZERO_LEN: a descriptor of length 0.
 * @VMM_VQ_ERR_FAULT: a buffer not inside guest RAM (or address + length
 *     overflowing).
 * @VMM_VQ_ERR_ORDER: a device-readable buffer after a device-writable one.
 */
enum vmm_vq_err {
    VMM_VQ_OK = 0,
    VMM_VQ_ERR_ZERO_LEN,
    VMM_VQ_ERR_FAULT,
    VMM_VQ_ERR_ORDER,
};

/**
 * enum vmm_vq_broken - why a queue stopped (ring corruption).
 * @VMM_VQ_BROKEN_NONE: it did not.
 * @VMM_VQ_BROKEN_AVAIL_IDX: the avail index moved by more than the size.
 * @VMM_VQ_BROKEN_HEAD: a head index past the descriptor table.
 * @VMM_VQ_BROKEN_NEXT: a next index past its table.
 * @VMM_VQ_BROKEN_LOOP: a chain longer than the queue (or its indirect
 *     table), which includes every loop.
 * @VMM_VQ_BROKEN_INDIRECT: an indirect descriptor that is nested, has
 *     NEXT set, or a table length that is 0, not a multiple of 16 or
 *     larger than the queue.
 * @VMM_VQ_BROKEN_INDIRECT_RAM: an indirect table outside guest RAM.
 */
enum vmm_vq_broken {
    VMM_VQ_BROKEN_NONE = 0,
    VMM_VQ_BROKEN_AVAIL_IDX,
    VMM_VQ_BROKEN_HEAD,
    VMM_VQ_BROKEN_NEXT,
    VMM_VQ_BROKEN_LOOP,
    VMM_VQ_BROKEN_INDIRECT,
    VMM_VQ_BROKEN_INDIRECT_RAM,
};

/**
 * struct vmm_vq_seg - one buffer of a descriptor chain.
 * @gpa: its guest-physical address.
 * @hva: its host address, or NULL if it is not inside guest RAM (then the
 *     element's err is set).
 * @len: its length in bytes.
 * @write: device-writable.
 */
struct vmm_vq_seg {
    uint64_t gpa;
    void *hva;
    uint32_t len;
    bool write;
};

/**
 * struct vmm_vq_elem - a descriptor chain taken from the avail ring.
 * @head: the head index, to be given back with vmm_vq_push().
 * @nr_segs: buffers stored in the caller's segment array, in chain order.
 * @out_bytes: total length of the device-readable buffers.
 * @in_bytes: total length of the device-writable buffers.
 * @err: the first data-buffer error, or VMM_VQ_OK.
 */
struct vmm_vq_elem {
    uint16_t head;
    unsigned nr_segs;
    uint64_t out_bytes;
    uint64_t in_bytes;
    enum vmm_vq_err err;
};

/**
 * struct vmm_vq_stats - counters of a queue.
 * @popped: chains taken.
 * @pushed: used entries written.
 * @bad_elems: chains with a data-buffer error.
 * @irqs: times vmm_vq_should_notify() said to interrupt.
 * @irqs_suppressed: times it said not to (EVENT_IDX or NO_INTERRUPT).
 */
struct vmm_vq_stats {
    uint64_t popped;
    uint64_t pushed;
    uint64_t bad_elems;
    uint64_t irqs;
    uint64_t irqs_suppressed;
};

/**
 * struct vmm_vq - a split virtqueue, device side (embed it).
 *
 * Fields are private; vmm_vq_init() sets them.
 */
struct vmm_vq {
    /* private: immutable after vmm_vq_init(). */
    const struct vmm_gmem *gm;
    uint16_t size;
    bool event_idx;
    bool indirect;
    uint8_t *desc;
    uint8_t *avail;
    uint8_t *used;
    /* private: the serving thread only. */
    uint16_t last_avail;
    uint16_t used_idx;
    uint16_t signalled_used;
    bool signalled_valid;
    bool pushed;
    bool notify_off;
    enum vmm_vq_broken broken;
    struct vmm_vq_stats stats;
};

/**
 * vmm_vq_need_event() - EVENT_IDX test (2.7.10): whether moving an index
 * from @old to @new crosses the event index @event, modulo 2^16.
 * Context: any.
 */
static inline bool vmm_vq_need_event(uint16_t event, uint16_t new_idx,
                                     uint16_t old_idx)
{
    return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

/**
 * vmm_vq_init() - set a queue up from the driver's programming.
 * @vq: the queue.
 * @gm: guest RAM.
 * @cfg: size and ring addresses (untrusted).
 * @features: the negotiated features (EVENT_IDX and INDIRECT_DESC are
 *     honoured only if set here).
 *
 * Checks that @cfg->size is a power of two no larger than 1024 and that
 * the three rings are aligned (16, 2 and 4 bytes) and lie inside guest
 * RAM, the event fields included when EVENT_IDX was negotiated.  Indices
 * start at 0.
 *
 * Context: any.
 * Return: 0; -EINVAL for a bad size or alignment; -EFAULT if a ring is
 * not inside guest RAM.  On error @vq is unusable (pop returns -EPROTO).
 */
int vmm_vq_init(struct vmm_vq *vq, const struct vmm_gmem *gm,
                const struct vmm_virtio_queue_cfg *cfg, uint64_t features);

/**
 * vmm_vq_size() - the queue's size.
 * Context: any.
 */
static inline uint16_t vmm_vq_size(const struct vmm_vq *vq)
{
    return vq->size;
}

/**
 * vmm_vq_broken() - why the queue is stopped (VMM_VQ_BROKEN_NONE if not).
 * Context: the serving thread.
 */
static inline enum vmm_vq_broken vmm_vq_broken(const struct vmm_vq *vq)
{
    return vq->broken;
}

/**
 * vmm_vq_broken_name() - a short description of @why, for logs.
 * Context: any.
 */
const char *vmm_vq_broken_name(enum vmm_vq_broken why);

/**
 * vmm_vq_has_work() - whether the avail ring holds chains not yet taken.
 * @vq: the queue.
 *
 * One atomic load; for busy-polling.  A broken queue has none.
 *
 * Context: the serving thread.
 */
bool vmm_vq_has_work(const struct vmm_vq *vq);

/**
 * vmm_vq_avail_pending() - how many chains the avail ring holds that are
 * not yet taken, by the driver's index now (a hostile driver's index may
 * claim more than the queue holds; a broken queue has none).
 * Context: the serving thread.
 */
uint16_t vmm_vq_avail_pending(const struct vmm_vq *vq);

/**
 * vmm_vq_pop() - take the next descriptor chain.
 * @vq: the queue.
 * @elem: receives the chain's description.
 * @segs: receives its buffers; room for vmm_vq_size(@vq) entries.
 *
 * Data-buffer errors are reported in @elem->err (the chain is still taken
 * and must be answered); ring errors break the queue.
 *
 * Context: the serving thread.
 * Return: 1 if a chain was taken; 0 if the ring is empty; -EPROTO if the
 * queue is (or just became) broken (see vmm_vq_broken()).
 */
int vmm_vq_pop(struct vmm_vq *vq, struct vmm_vq_elem *elem,
               struct vmm_vq_seg *segs);

/**
 * vmm_vq_push() - give a chain back through the used ring.
 * @vq: the queue.
 * @head: the chain's head, from vmm_vq_pop().
 * @len: bytes the device wrote into the chain's writable buffers.
 *
 * Publishes the entry (release): the driver may see it at once.  Chains
 * may be returned in any order.  Does nothing on a broken queue.
 *
 * Context: the serving thread.
 */
void vmm_vq_push(struct vmm_vq *vq, uint16_t head, uint32_t len);

/**
 * vmm_vq_should_notify() - whether to interrupt the driver for the
 * entries pushed since the last call.
 * @vq: the queue.
 *
 * With EVENT_IDX: true if the used index crossed the driver's used_event
 * since the last interrupt; otherwise true unless the driver set
 * NO_INTERRUPT.  False when nothing was pushed since the last call.
 *
 * Context: the serving thread.
 */
bool vmm_vq_should_notify(struct vmm_vq *vq);

/**
 * vmm_vq_disable_notify() - ask the driver not to notify (kick) the device.
 * @vq: the queue.
 *
 * Without EVENT_IDX this sets VRING_USED_F_NO_NOTIFY; with it the avail
 * event is left where it was, behind the avail index, so the driver does
 * not cross it.  Either way only a hint: the driver may still notify.
 *
 * Context: the serving thread.
 */
void vmm_vq_disable_notify(struct vmm_vq *vq);

/**
 * vmm_vq_enable_notify() - ask the driver to notify again.
 * @vq: the queue.
 *
 * Clears NO_NOTIFY or moves the avail event to the next chain, then (full
 * barrier) looks at the avail index once more: a chain the driver added
 * while notifications were off came without a notification, so the
 * caller must process it.
 *
 * Context: the serving thread.
 * Return: true if chains are waiting.
 */
bool vmm_vq_enable_notify(struct vmm_vq *vq);

/**
 * vmm_vq_stats() - copy the queue's counters.
 * Context: any (each counter is read atomically; the set is not a
 * snapshot).
 */
void vmm_vq_stats(const struct vmm_vq *vq, struct vmm_vq_stats *st);

#endif /* VMM_DEVICES_VIRTIO_QUEUE_H */
