/* SPDX-License-Identifier: MIT */
/*
 * Finding virtio-mmio transports and the devices behind them.
 */
#ifndef SDK_VIRTIO_MMIO_H
#define SDK_VIRTIO_MMIO_H

#include "sdk/sdk.h"

/* QEMU microvm's transports: 0xfeb00000 + 0x200 * i, IOAPIC pin 5 + i. */
#define VIRTIO_MMIO_SLOTS 8

/* A virtio-mmio transport with a device behind it. */
struct virtio_mmio_dev {
    uint64_t base;
    uint32_t irq; /* IOAPIC pin */
    uint32_t version;
    uint32_t device_id;
};

/**
 * virtio_mmio_find() - the virtio-mmio devices of type @device_id, in the
 * order of the monitor's -device options: from the command line's
 * virtio_mmio.device=SIZE@BASE:IRQ words when there are any (QEMU and
 * loom-vm append them with acpi=off), else by probing QEMU microvm's 8
 * slots at 0xfeb00000 + 0x200 * i (IRQ 5 + i).  The n-th -device sits in
 * slot 7 - n, so devices are listed by descending address.
 * @device_id: VIRTIO_ID_*.
 * @out: receives up to @max devices.
 * @max: room in @out.
 *
 * Context: any CPU.
 * Return: the number found (possibly more than @max; only @max written).
 */
unsigned virtio_mmio_find(uint32_t device_id, struct virtio_mmio_dev *out,
                          unsigned max);

#endif /* SDK_VIRTIO_MMIO_H */
