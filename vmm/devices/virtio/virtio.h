/* SPDX-License-Identifier: MIT */
/*
 * What a virtio transport and a virtio device agree on, and nothing more:
 * status and feature bits (virtio 1.2, section 2 and 6), the queue
 * addresses a driver programs, and the two tables of calls between them.
 * The transport (mmio.c) sees a device only through struct
 * vmm_virtio_dev_ops; a device reaches its transport only through struct
 * vmm_virtio_host.  Neither knows the other's type or thread.
 */
#ifndef VMM_DEVICES_VIRTIO_VIRTIO_H
#define VMM_DEVICES_VIRTIO_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>

/* Device status bits (virtio 1.2, 2.1). */
#define VMM_VIRTIO_S_ACKNOWLEDGE 0x01u
#define VMM_VIRTIO_S_DRIVER 0x02u
#define VMM_VIRTIO_S_DRIVER_OK 0x04u
#define VMM_VIRTIO_S_FEATURES_OK 0x08u
#define VMM_VIRTIO_S_NEEDS_RESET 0x40u
#define VMM_VIRTIO_S_FAILED 0x80u

/* Reserved (device-independent) feature bits (virtio 1.2, 6). */
#define VMM_VIRTIO_F_INDIRECT_DESC 28
#define VMM_VIRTIO_F_EVENT_IDX 29
#define VMM_VIRTIO_F_VERSION_1 32

/* Largest queue a device may offer (split rings, our limit). */
#define VMM_VIRTIO_MAX_QUEUE_SIZE 1024u

/**
 * struct vmm_virtio_queue_cfg - one virtqueue as the driver programmed it.
 * @size: number of descriptors (a power of two, <= the device's maximum).
 * @desc: guest-physical address of the descriptor table.
 * @avail: guest-physical address of the available (driver) ring.
 * @used: guest-physical address of the used (device) ring.
 * @ready: the driver enabled the queue (QueueReady, or a legacy PFN).
 *
 * Values come from the guest: nothing here is trusted.  The device checks
 * the rings against guest RAM when it starts (queue.c).
 */
struct vmm_virtio_queue_cfg {
    uint16_t size;
    uint64_t desc;
    uint64_t avail;
    uint64_t used;
    bool ready;
};

/**
 * struct vmm_virtio_host - what a transport offers the device behind it.
 * @used: raise the used-buffer interrupt for queue @q (the device decided
 *     it is due: EVENT_IDX or NO_INTERRUPT already applied).
 * @needs_reset: the device found ring corruption on a queue and stopped
 *     it: set DEVICE_NEEDS_RESET and send the configuration-change
 *     interrupt (legacy transports, which lack that bit, only log).
 * @config_changed: the device changed its configuration space: bump the
 *     generation and send the configuration-change interrupt.
 * @opaque: passed to each.
 *
 * Callback: any thread (queues run on IOThreads), !bql not required; none
 * blocks or takes the BQL.
 */
struct vmm_virtio_host {
    void (*used)(void *opaque, unsigned q);
    void (*needs_reset)(void *opaque, unsigned q);
    void (*config_changed)(void *opaque);
    void *opaque;
};

/**
 * struct vmm_virtio_dev_ops - the device, as a transport drives it.
 * @device_id: virtio device ID (2: block).
 * @num_queues: virtqueues the device has (1..16).
 * @max_queue_size: QueueNumMax (a power of two, <= 1024).
 * @config_size: bytes of device configuration space.
 * @features: feature bits the device offers, ring features included
 *     (the transport adds VERSION_1 for the modern layout).
 * @config_read: copy @len bytes at @off (inside @config_size) of the
 *     configuration space to @buf.
 * @config_write: the driver wrote @len bytes at @off (inside
 *     @config_size); the device ignores what is read-only.
 * @start: DRIVER_OK: start serving the @nq queues with the negotiated
 *     @features.  Returns 0 or -errno; a failed start (e.g. a ring outside
 *     RAM) makes the transport set DEVICE_NEEDS_RESET.  Queues that are
 *     not ready stay idle.
 * @reset: stop every queue; on return no request is in flight, nothing
 *     will be written to guest memory any more, and the device is as
 *     created (its configuration's volatile fields reset too).
 * @notify: a QueueNotify write for queue @q reached the transport (it
 *     did not go through a doorbell).  Returns false if the queue is not
 *     being served (the transport counts it as ignored).
 * @notifier_fd: the eventfd that a doorbell for queue @q should signal,
 *     or a negative errno if the device has none.
 * @opaque: passed to each.
 *
 * Callback: @config_read, @config_write, @start, @reset and @notify run on
 * whichever thread accessed the transport, with the transport's lock held
 * (the BQL for loom-vm's virtio-mmio).
 */
struct vmm_virtio_dev_ops {
    uint32_t device_id;
    unsigned num_queues;
    uint16_t max_queue_size;
    unsigned config_size;
    uint64_t features;
    void (*config_read)(void *opaque, unsigned off, void *buf, unsigned len);
    void (*config_write)(void *opaque, unsigned off, const void *buf,
                         unsigned len);
    int (*start)(void *opaque, uint64_t features,
                 const struct vmm_virtio_queue_cfg *queues, unsigned nq);
    void (*reset)(void *opaque);
    bool (*notify)(void *opaque, unsigned q);
    int (*notifier_fd)(void *opaque, unsigned q);
    void *opaque;
};

#endif /* VMM_DEVICES_VIRTIO_VIRTIO_H */
