/* SPDX-License-Identifier: MIT */
/*
 * The Intel MultiProcessor Specification (v1.4) table: how a guest
 * without ACPI learns its CPUs, its IOAPIC and how ISA interrupts reach
 * the IOAPIC's pins.  Linux booted with acpi=off (or built without ACPI)
 * finds its IOAPIC only here; without the table it runs on the 8259 PIC
 * and one CPU.  QEMU microvm's firmware (qboot) and Firecracker write one
 * for the same reason.
 *
 * Pure: bytes built in host memory, then written to guest RAM through
 * struct vmm_gmem; no KVM here.  docs/design/vmm-linux.md describes the
 * table entry by entry and how it matches QEMU's.
 */
#ifndef VMM_ARCH_X86_64_MPTABLE_H
#define VMM_ARCH_X86_64_MPTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "core/guest-mem.h"

/**
 * VMM_MPTABLE_MAX_CPUS - processor entries a table may hold: every 8-bit
 * APIC ID but 0xff (broadcast) and the IOAPIC's.
 */
#define VMM_MPTABLE_MAX_CPUS 254u

/** VMM_MPTABLE_ISA_IRQS - ISA interrupts described (IRQ 0-15). */
#define VMM_MPTABLE_ISA_IRQS 16u

/* Entry sizes and types (MP spec 1.4, chapter 4). */
#define VMM_MPTABLE_FPS_SIZE 16u  /* MP floating pointer structure */
#define VMM_MPTABLE_HDR_SIZE 44u  /* configuration table header */
#define VMM_MPTABLE_CPU_SIZE 20u  /* processor entry */
#define VMM_MPTABLE_ENTRY_SIZE 8u /* bus, IOAPIC, interrupt entries */
#define VMM_MPTABLE_T_CPU 0
#define VMM_MPTABLE_T_BUS 1
#define VMM_MPTABLE_T_IOAPIC 2
#define VMM_MPTABLE_T_INTSRC 3
#define VMM_MPTABLE_T_LINTSRC 4
/* Interrupt types of the interrupt entries. */
#define VMM_MPTABLE_INT 0
#define VMM_MPTABLE_NMI 1
#define VMM_MPTABLE_EXTINT 3

/**
 * struct vmm_mptable - what the table describes.
 * @nr_cpus: processors, 1..VMM_MPTABLE_MAX_CPUS; the first is the boot
 *     processor.
 * @apic_ids: the LAPIC ID of each (distinct, below 0xff).
 * @lapic_version: the LAPIC version register's low byte (KVM: 0x14).
 * @cpu_signature: CPUID.1:EAX (stepping, model, family).
 * @cpu_features: CPUID.1:EDX.
 * @lapic_addr: the LAPICs' MMIO base (below 4 GiB).
 * @ioapic_id: the IOAPIC's ID (below 0xff, no CPU's).
 * @ioapic_version: its version register's low byte (KVM: 0x11).
 * @ioapic_addr: its MMIO base (below 4 GiB).
 * @ioapic_pins: its input pins, VMM_MPTABLE_ISA_IRQS..255 (KVM: 24).
 *
 * ISA IRQ i (but 2, the 8259 cascade) goes to IOAPIC pin i,
 * edge-triggered and active high (the ISA bus's conforming default),
 * which is how KVM's default interrupt routing wires GSIs 0-15 (the
 * in-kernel PIT raises GSI 0, hence pin 0) and what an irqfd (an edge)
 * delivers.  The 8259 reaches the boot CPU's LINT0 as ExtINT, NMI every
 * LAPIC's LINT1.
 */
struct vmm_mptable {
    unsigned nr_cpus;
    const uint8_t *apic_ids;
    uint8_t lapic_version;
    uint32_t cpu_signature;
    uint32_t cpu_features;
    uint32_t lapic_addr;
    uint8_t ioapic_id;
    uint8_t ioapic_version;
    uint32_t ioapic_addr;
    unsigned ioapic_pins;
};

/**
 * vmm_mptable_size() - bytes the table of @nr_cpus processors takes in
 * guest RAM (floating pointer and configuration table).
 * Context: any (pure).
 * Return: the size, or 0 for @nr_cpus outside 1..VMM_MPTABLE_MAX_CPUS.
 */
size_t vmm_mptable_size(unsigned nr_cpus);

/**
 * vmm_mptable_build() - the table's bytes, for guest address @addr.
 * @t: the description (checked).
 * @addr: where the floating pointer goes: 16-byte aligned, and the whole
 *     table below 4 GiB.  The configuration table follows it.
 * @buf: receives vmm_mptable_size(@t->nr_cpus) bytes.
 * @len: room in @buf.
 *
 * Context: any (pure).
 * Return: the size written; -EINVAL for NULL arguments, a bad count,
 * duplicate or out-of-range IDs, an unaligned or too high address, or
 * fewer than 16 IOAPIC pins; -ENOSPC if @len is too small.
 */
int vmm_mptable_build(const struct vmm_mptable *t, uint64_t addr, void *buf,
                      size_t len);

/**
 * vmm_mptable_write() - build the table and write it to guest RAM.
 * @gm: guest RAM.
 * @t: the description.
 * @addr: as vmm_mptable_build(); the whole table must be RAM of one
 *     region.  The BIOS area (0xf0000-0xfffff) is where a guest looks
 *     for the floating pointer without being told.
 *
 * Context: any, while no vCPU runs.
 * Return: the size written; as vmm_mptable_build(); -EFAULT when the
 * range is not RAM (nothing is written then); -ENOMEM.
 */
int vmm_mptable_write(const struct vmm_gmem *gm, const struct vmm_mptable *t,
                      uint64_t addr);

#endif /* VMM_ARCH_X86_64_MPTABLE_H */
