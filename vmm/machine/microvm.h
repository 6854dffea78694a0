/* SPDX-License-Identifier: MIT */
/*
 * QEMU microvm's layout, which loom-vm reproduces so that one guest and one
 * command line run on both (VMM.md, the defaults table): RAM from 0 up to
 * the 32-bit MMIO hole and the rest above 4 GiB; eight virtio-mmio
 * transports at 0xfeb00000 + 0x200 * i with IRQ 5 + i, filled from the top
 * (the n-th virtio device takes i = 7 - n); COM1 at 0x3f8, IRQ 4; the
 * IOAPIC and LAPIC where a PC has them.  Pure functions: no KVM here.
 */
#ifndef VMM_MACHINE_MICROVM_H
#define VMM_MACHINE_MICROVM_H

#include <stdbool.h>
#include <stdint.h>

#include "core/guest-mem.h"

/* Guest-physical layout. */
#define VMM_MICROVM_LOW_RAM_MAX (3ull << 30)   /* low RAM ends at 3 GiB */
#define VMM_MICROVM_HIGH_RAM_BASE (4ull << 30) /* the rest starts at 4 GiB */
#define VMM_MICROVM_VIRTIO_BASE 0xfeb00000ull
#define VMM_MICROVM_VIRTIO_STRIDE 0x200ull
#define VMM_MICROVM_VIRTIO_SLOTS 8u
#define VMM_MICROVM_VIRTIO_IRQ0 5u
#define VMM_MICROVM_IOAPIC 0xfec00000ull
#define VMM_MICROVM_LAPIC 0xfee00000ull
/* The MP table, where QEMU microvm's firmware writes it: the last KiB of
 * base memory (reserved in the memory map), which guests scan. */
#define VMM_MICROVM_MPTABLE 0x9fc00ull
/* KVM's private pages on Intel hosts (real-mode TSS, identity map), in
 * the hole below the BIOS area, as QEMU places them. */
#define VMM_MICROVM_KVM_IDENTITY_MAP 0xfeffc000ull
#define VMM_MICROVM_KVM_TSS 0xfeffd000ull

/* ISA devices. */
#define VMM_MICROVM_COM1_PORT 0x3f8u
#define VMM_MICROVM_COM1_IRQ 4u
#define VMM_MICROVM_I8042_CMD_PORT 0x64u

/**
 * vmm_microvm_ram_layout() - where @ram_size bytes of RAM go.
 * @ram_size: total bytes, > 0, a multiple of 4 KiB.
 * @regions: receives up to two regions (hva left NULL).
 * Context: any.
 * Return: the number of regions (1 or 2), or -EINVAL for a size that is
 * zero, unaligned, or would end past 2^64.
 */
int vmm_microvm_ram_layout(uint64_t ram_size,
                           struct vmm_gmem_region regions[2]);

/**
 * vmm_microvm_virtio_slot() - the transport slot of the @n-th virtio
 * device on the command line (n from 0), filled from the top.
 * Context: any.  Return: the slot 0..7, or -ENOSPC for @n >= 8.
 */
int vmm_microvm_virtio_slot(unsigned n);

/** vmm_microvm_virtio_addr() - MMIO base of transport @slot.
 * Context: any. */
uint64_t vmm_microvm_virtio_addr(unsigned slot);

/** vmm_microvm_virtio_irq() - the IRQ (GSI) of transport @slot.
 * Context: any. */
unsigned vmm_microvm_virtio_irq(unsigned slot);

/**
 * vmm_microvm_cmdline() - the kernel command line the guest sees.
 * @append: -append's value, or NULL.
 * @nr_virtio: populated transports (the first @nr_virtio devices).
 * @auto_cmdline: auto-kernel-cmdline=on: append " virtio_mmio.device=
 *     512@0xADDR:IRQ" (with its leading space, also after an empty
 *     @append) per populated transport, in device order, as QEMU 7.2 does
 *     with acpi=off.
 * Context: any.
 * Return: a malloc'ed string (possibly empty), or NULL on ENOMEM.
 */
char *vmm_microvm_cmdline(const char *append, unsigned nr_virtio,
                          bool auto_cmdline);

#endif /* VMM_MACHINE_MICROVM_H */
