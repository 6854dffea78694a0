/* SPDX-License-Identifier: MIT */
/*
 * A virtio-blk driver over virtio-mmio, legacy (version 1) and modern
 * (version 2): several queues with several requests in flight each,
 * EVENT_IDX and indirect descriptors when offered, completions found by
 * polling the used rings or by interrupts (IOAPIC -> local APIC ->
 * sdk_wait_interrupt()).
 *
 * One CPU drives a device: the functions below are not thread-safe.  A
 * request is a struct vblk_req the caller owns until it completes; its
 * data buffer may be any memory (virtual = physical in the SDK).
 */
#ifndef SDK_VIRTIO_BLK_H
#define SDK_VIRTIO_BLK_H

#include "sdk/sdk.h"
#include "sdk/virtio-mmio.h"
#include "sdk/virtio.h"

#define VBLK_MAX_QUEUES 8
#define VBLK_MAX_QUEUE_SIZE 1024
#define VBLK_MAX_SEGS 16 /* data descriptors per request */

struct vblk_options {
    bool irq;            /* interrupts (else poll the used rings) */
    bool level;          /* with irq: level-triggered IOAPIC input */
    bool no_event_idx;   /* do not negotiate EVENT_IDX */
    bool indirect;       /* negotiate and use INDIRECT_DESC if offered */
    unsigned queues;     /* queues to use, 0: as many as offered */
    unsigned queue_size; /* 0: the device's maximum (capped) */
};

/**
 * vblk_options_from_cmdline() - options from the command line's words
 * mode=poll|irq, level=on|off, event_idx=on|off, indirect=on|off,
 * queues=N and queue_size=N; anything malformed ends the guest with
 * SDK_EXIT_USAGE.
 * @o: filled in.
 *
 * Context: any CPU.
 */
void vblk_options_from_cmdline(struct vblk_options *o);

struct vblk_req {
    /* Set by the caller before vblk_submit(). */
    uint32_t type;   /* VIRTIO_BLK_T_* (any value may be sent) */
    uint64_t sector; /* in 512-byte sectors */
    void *buf;       /* data, or NULL when len is 0 */
    uint32_t len;
    /* Results, valid once vblk_poll() has returned the request. */
    uint8_t status;    /* VIRTIO_BLK_S_*, written by the device */
    uint32_t used_len; /* bytes the device wrote, as it reported */
    /* private: */
    struct virtio_blk_outhdr hdr;
    uint16_t head;
    uint16_t queue;
    uint16_t ndesc;
    uint64_t submit_tsc;
    struct vring_desc indirect[VBLK_MAX_SEGS + 2];
};

struct vblk_queue {
    /* private: */
    uint16_t size;
    struct vring_desc *desc;
    struct vring_avail *avail;
    struct vring_used *used;
    uint16_t free_head;
    uint16_t num_free;
    uint16_t avail_idx;     /* next avail slot to fill */
    uint16_t kicked_idx;    /* avail_idx at the last notify decision */
    uint16_t last_used;     /* next used entry to read */
    struct vblk_req **reqs; /* by head descriptor */
};

struct vblk_stats {
    uint64_t submitted, completed;
    uint64_t notifies;   /* QueueNotify writes */
    uint64_t suppressed; /* kicks the device said it did not need */
    uint64_t waits;      /* sleeps in sdk_wait_interrupt() */
    uint64_t isr_reads;  /* InterruptStatus reads that found bits */
};

struct vblk {
    struct virtio_mmio_dev dev;
    struct vblk_options opt;
    uint64_t features; /* negotiated */
    uint64_t capacity; /* sectors */
    uint32_t blk_size, size_max, seg_max;
    uint32_t max_discard_sectors, max_discard_seg;
    uint32_t max_write_zeroes_sectors, max_write_zeroes_seg;
    uint16_t device_queues; /* what the device offers */
    uint16_t nqueues;       /* what this driver set up */
    bool ro, event_idx, indirect;
    struct vblk_stats stats;
    /* private: */
    struct vblk_queue q[VBLK_MAX_QUEUES];
};

/**
 * vblk_has() - whether feature bit @bit was negotiated.
 * @d: the device.
 * @bit: VIRTIO_F_* or VIRTIO_BLK_F_*.
 *
 * Context: any CPU.
 */
static inline bool vblk_has(const struct vblk *d, unsigned bit)
{
    return (d->features >> bit) & 1;
}

/**
 * vblk_init() - reset the device, negotiate features (VERSION_1 on
 * modern; SIZE_MAX, SEG_MAX, BLK_SIZE, RO, FLUSH, MQ, DISCARD,
 * WRITE_ZEROES, EVENT_IDX and INDIRECT_DESC as offered and allowed by
 * @opt), read the configuration, set up the queues (rings from
 * sdk_alloc()) and set DRIVER_OK.  With @opt->irq, route the device's
 * IOAPIC input to this CPU and enable its local APIC.
 * @d: the driver state, filled in.
 * @dev: a device from virtio_mmio_find().
 * @opt: options, or NULL for polling with everything offered.
 *
 * Context: the CPU that will drive @d.
 * Return: 0; -SDK_ENODEV when @dev is not a block device; -SDK_EIO when
 * the device refuses FEATURES_OK or a queue, or sets NEEDS_RESET.
 */
int vblk_init(struct vblk *d, const struct virtio_mmio_dev *dev,
              const struct vblk_options *opt);

/**
 * vblk_reset() - reset the device (status 0): it stops using the rings.
 * Requests in flight are abandoned.
 *
 * Context: the CPU driving @d.
 */
void vblk_reset(struct vblk *d);

/**
 * vblk_submit() - put @r on queue @queue: header, data (split at
 * size_max; device-writable for IN and GET_ID) and status descriptors,
 * or one indirect descriptor.  The device is not told until vblk_kick().
 * @d: the device.
 * @queue: 0 .. d->nqueues - 1.
 * @r: the request; owned by the driver until vblk_poll() returns it.
 *
 * Context: the CPU driving @d.
 * Return: 0; -SDK_EAGAIN when the queue lacks free descriptors;
 * -SDK_EINVAL when @queue is out of range or the data needs more than
 * VBLK_MAX_SEGS (or seg_max) segments.
 */
int vblk_submit(struct vblk *d, unsigned queue, struct vblk_req *r);

/**
 * vblk_kick() - publish what was submitted to @queue and notify the
 * device (QueueNotify) unless it said it does not need it (EVENT_IDX's
 * avail_event, or VRING_USED_F_NO_NOTIFY).
 *
 * Context: the CPU driving @d.
 */
void vblk_kick(struct vblk *d, unsigned queue);

/**
 * vblk_poll() - take one completed request off @queue's used ring.
 *
 * Context: the CPU driving @d.
 * Return: the request (status and used_len filled in), or NULL.
 */
struct vblk_req *vblk_poll(struct vblk *d, unsigned queue);

/**
 * vblk_wait() - wait until some queue has a completion to poll: spin in
 * polling mode; in interrupt mode ask for an interrupt at the next used
 * entry, sleep in sdk_wait_interrupt() and acknowledge InterruptStatus.
 * Returns at once when a completion is already there.
 *
 * Context: the CPU driving @d.
 */
void vblk_wait(struct vblk *d);

/**
 * vblk_do() - submit @r on queue 0, kick, and wait for it (other
 * completions that show up meanwhile are a bug of the caller: they are
 * reported with a panic).
 *
 * Context: the CPU driving @d.
 * Return: the status byte, or a negative error from vblk_submit().
 */
int vblk_do(struct vblk *d, struct vblk_req *r);

/**
 * vblk_status_name() - "OK", "IOERR", "UNSUPP", or "unknown" for any other
 * status byte.
 * @status: VIRTIO_BLK_S_*.
 *
 * Context: any CPU.
 */
const char *vblk_status_name(uint8_t status);

#endif /* SDK_VIRTIO_BLK_H */
