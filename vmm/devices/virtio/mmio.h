/* SPDX-License-Identifier: MIT */
/*
 * virtio-mmio transport (virtio 1.2, 4.2): the register block of one
 * device, in the modern layout (version 2) or the legacy one (version 1,
 * QEMU 7.2's default, loom-vm's -global virtio-mmio.force-legacy=on).
 *
 * The region is a BQL region of the MMIO bus, as in QEMU: register
 * accesses are rare (setup, reset, interrupt acknowledgement) and the
 * device's start and reset must be serialised with everything else that
 * changes the machine.  The hot paths do not come here: queue
 * notifications are doorbells (MMIO ioeventfds on QueueNotify, datamatch =
 * queue index) that signal the device's eventfds without an exit, and
 * interrupts are raised from the device's threads through struct
 * vmm_virtio_host without the BQL (InterruptStatus is atomic).
 *
 * The transport knows the device only through struct vmm_virtio_dev_ops.
 */
#ifndef VMM_DEVICES_VIRTIO_MMIO_H
#define VMM_DEVICES_VIRTIO_MMIO_H

#include <stdbool.h>
#include <stdint.h>

#include "core/bus.h"
#include "core/irq.h"
#include "devices/virtio/virtio.h"

/** VMM_VIRTIO_MMIO_SIZE - bytes of MMIO space one transport takes. */
#define VMM_VIRTIO_MMIO_SIZE 0x200u

/* Register offsets (4.2.2, 4.2.4). */
#define VMM_VIRTIO_MMIO_MAGIC 0x000
#define VMM_VIRTIO_MMIO_VERSION 0x004
#define VMM_VIRTIO_MMIO_DEVICE_ID 0x008
#define VMM_VIRTIO_MMIO_VENDOR_ID 0x00c
#define VMM_VIRTIO_MMIO_DEVICE_FEATURES 0x010
#define VMM_VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VMM_VIRTIO_MMIO_DRIVER_FEATURES 0x020
#define VMM_VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VMM_VIRTIO_MMIO_GUEST_PAGE_SIZE 0x028 /* legacy */
#define VMM_VIRTIO_MMIO_QUEUE_SEL 0x030
#define VMM_VIRTIO_MMIO_QUEUE_NUM_MAX 0x034
#define VMM_VIRTIO_MMIO_QUEUE_NUM 0x038
#define VMM_VIRTIO_MMIO_QUEUE_ALIGN 0x03c /* legacy */
#define VMM_VIRTIO_MMIO_QUEUE_PFN 0x040   /* legacy */
#define VMM_VIRTIO_MMIO_QUEUE_READY 0x044
#define VMM_VIRTIO_MMIO_QUEUE_NOTIFY 0x050
#define VMM_VIRTIO_MMIO_INTERRUPT_STATUS 0x060
#define VMM_VIRTIO_MMIO_INTERRUPT_ACK 0x064
#define VMM_VIRTIO_MMIO_STATUS 0x070
#define VMM_VIRTIO_MMIO_QUEUE_DESC_LOW 0x080
#define VMM_VIRTIO_MMIO_QUEUE_DESC_HIGH 0x084
#define VMM_VIRTIO_MMIO_QUEUE_DRIVER_LOW 0x090
#define VMM_VIRTIO_MMIO_QUEUE_DRIVER_HIGH 0x094
#define VMM_VIRTIO_MMIO_QUEUE_DEVICE_LOW 0x0a0
#define VMM_VIRTIO_MMIO_QUEUE_DEVICE_HIGH 0x0a4
#define VMM_VIRTIO_MMIO_SHM_SEL 0x0ac
#define VMM_VIRTIO_MMIO_SHM_LEN_LOW 0x0b0
#define VMM_VIRTIO_MMIO_SHM_LEN_HIGH 0x0b4
#define VMM_VIRTIO_MMIO_SHM_BASE_LOW 0x0b8
#define VMM_VIRTIO_MMIO_SHM_BASE_HIGH 0x0bc
#define VMM_VIRTIO_MMIO_CONFIG_GENERATION 0x0fc
#define VMM_VIRTIO_MMIO_CONFIG 0x100

#define VMM_VIRTIO_MMIO_MAGIC_VALUE 0x74726976u  /* "virt" */
#define VMM_VIRTIO_MMIO_VENDOR_VALUE 0x554d4551u /* "QEMU", as QEMU's */

/* InterruptStatus bits. */
#define VMM_VIRTIO_MMIO_INT_VRING 0x1u
#define VMM_VIRTIO_MMIO_INT_CONFIG 0x2u

struct vmm_virtio_mmio;

/**
 * struct vmm_virtio_mmio_opts - what a transport is built from.
 * @dev: the device (copied).
 * @irq: the interrupt line (copied).
 * @bus: the MMIO bus the register block is added to (a BQL region).
 * @base: its guest-physical address (VMM_VIRTIO_MMIO_SIZE bytes).
 * @doorbells: registers the QueueNotify ioeventfds, or NULL (every
 *     notification then exits to the transport).  Copied.
 * @legacy: version 1 layout (force-legacy=on) instead of version 2.
 * @name: for log messages (copied), or NULL.
 */
struct vmm_virtio_mmio_opts {
    const struct vmm_virtio_dev_ops *dev;
    const struct vmm_irq *irq;
    struct vmm_bus *bus;
    uint64_t base;
    const struct vmm_doorbells *doorbells;
    bool legacy;
    const char *name;
};

/**
 * vmm_virtio_mmio_new() - create a transport and map it.
 * @o: the options.
 * @ret: receives the transport.
 *
 * Adds the register block to @o->bus and one doorbell per queue (for each
 * queue whose device eventfd exists).  A doorbell that cannot be
 * registered is logged; that queue's notifications then exit.
 *
 * Context: any, !rcu.
 * Return: 0; -EINVAL for bad options (no device, more than 16 queues, a
 * maximum queue size that is not a power of two up to 1024, a
 * configuration space larger than 0x100 bytes); -ENOMEM; the error of
 * vmm_bus_add() (-EEXIST if the range is taken).
 */
int vmm_virtio_mmio_new(const struct vmm_virtio_mmio_opts *o,
                        struct vmm_virtio_mmio **ret);

/**
 * vmm_virtio_mmio_free() - unmap a transport and free it.
 * @t: the transport, or NULL.
 *
 * Removes the doorbells and the register block; does not reset the
 * device.
 *
 * Context: bql (removing a BQL region), !rcu.
 */
void vmm_virtio_mmio_free(struct vmm_virtio_mmio *t);

/**
 * vmm_virtio_mmio_reset() - reset the device as a driver writing 0 to
 * Status would (a system reset).
 * Context: bql.
 */
void vmm_virtio_mmio_reset(struct vmm_virtio_mmio *t);

/**
 * vmm_virtio_mmio_host() - the calls the device uses to reach the guest.
 * @t: the transport.
 *
 * Context: any.
 * Return: the host interface (valid as long as @t).
 */
struct vmm_virtio_host vmm_virtio_mmio_host(struct vmm_virtio_mmio *t);

/**
 * struct vmm_virtio_mmio_stats - counters of a transport.
 * @notifies: QueueNotify writes that reached the transport and were passed
 *     to the device.
 * @notifies_ignored: QueueNotify writes for a queue that does not exist,
 *     is not ready, or before DRIVER_OK.
 * @irqs: interrupts raised (used-buffer and configuration).
 * @bad_accesses: register accesses of the wrong size or alignment.
 * @bad_queue_num: QueueNum writes refused (0, above the maximum, not a
 *     power of two).
 * @refused_ready: QueueReady / QueuePFN writes refused (no valid size).
 * @features_refused: FEATURES_OK refused (unknown features, or a modern
 *     driver without VERSION_1).
 * @needs_reset: times DEVICE_NEEDS_RESET was set (or, legacy, would have
 *     been).
 * @resets: device resets.
 * @doorbells: doorbells registered.
 */
struct vmm_virtio_mmio_stats {
    uint64_t notifies;
    uint64_t notifies_ignored;
    uint64_t irqs;
    uint64_t bad_accesses;
    uint64_t bad_queue_num;
    uint64_t refused_ready;
    uint64_t features_refused;
    uint64_t needs_reset;
    uint64_t resets;
    uint64_t doorbells;
};

/**
 * vmm_virtio_mmio_stats() - read the counters (each atomically).
 * Context: any.
 */
void vmm_virtio_mmio_stats(const struct vmm_virtio_mmio *t,
                           struct vmm_virtio_mmio_stats *st);

/**
 * vmm_virtio_mmio_status() - the device status byte as the driver sees it.
 * Context: any.
 */
uint32_t vmm_virtio_mmio_status(const struct vmm_virtio_mmio *t);

#endif /* VMM_DEVICES_VIRTIO_MMIO_H */
