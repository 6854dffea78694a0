/* SPDX-License-Identifier: MIT */
/*
 * The MP table (mptable.h): built into a host buffer, field by field at
 * the spec's offsets (little-endian, no packed structs), then copied into
 * guest RAM in one checked write.  Pure; called on the main thread while
 * no vCPU runs (machine creation and system reset).
 *
 * Layout, in guest RAM at @addr:
 *   floating pointer (16 bytes) -> configuration table at @addr + 16:
 *   header (44), one processor entry (20) per CPU, the ISA bus (8), the
 *   IOAPIC (8), 15 I/O interrupt entries (8 each: ISA IRQ i -> pin i, but
 *   IRQ 2, the 8259 cascade, which no device raises), two local interrupt
 *   entries (ExtINT -> the boot CPU's LINT0, NMI -> every LINT1).
 */
#include "arch/x86_64/mptable.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* MP spec 1.4: the revision both structures carry. */
#define SPEC_REV 4
/* Processor entry flags. */
#define CPU_ENABLED 0x01
#define CPU_BOOT 0x02
/* IOAPIC entry flags. */
#define IOAPIC_ENABLED 0x01
/* "All local APICs" as the destination of a local interrupt entry. */
#define ALL_LAPICS 0xff
/* The one bus, and the LINT pins. */
#define ISA_BUS_ID 0
#define LINT0 0
#define LINT1 1
/* The 8259's cascade input: not a device interrupt, not described. */
#define ISA_CASCADE_IRQ 2
/* 8-byte entries: bus, IOAPIC, ISA IRQs but the cascade, two LINTs. */
#define NR_ENTRIES (2 + (VMM_MPTABLE_ISA_IRQS - 1) + 2)

static const char g_oem_id[8] = {'L', 'O', 'O', 'M', ' ', ' ', ' ', ' '};
static const char g_product_id[12] = {'L', 'O', 'O', 'M', '-', 'V',
                                      'M', ' ', ' ', ' ', ' ', ' '};
static const char g_isa[6] = {'I', 'S', 'A', ' ', ' ', ' '};

size_t vmm_mptable_size(unsigned nr_cpus)
{
    if (nr_cpus == 0 || nr_cpus > VMM_MPTABLE_MAX_CPUS) {
        return 0;
    }
    return VMM_MPTABLE_FPS_SIZE + VMM_MPTABLE_HDR_SIZE +
           (size_t)nr_cpus * VMM_MPTABLE_CPU_SIZE +
           (size_t)NR_ENTRIES * VMM_MPTABLE_ENTRY_SIZE;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)v);
    put16(p + 2, (uint16_t)(v >> 16));
}

/* The byte that makes [p, p + len) sum to zero (with that byte zero). */
static uint8_t checksum(const uint8_t *p, size_t len)
{
    uint8_t sum = 0;
    size_t i;

    for (i = 0; i < len; i++) {
        sum = (uint8_t)(sum + p[i]);
    }
    return (uint8_t)-sum;
}

static bool valid(const struct vmm_mptable *t)
{
    bool used[256] = {false};
    unsigned i;

    if (!t->apic_ids || t->nr_cpus == 0 || t->nr_cpus > VMM_MPTABLE_MAX_CPUS ||
        t->ioapic_id == 0xff || t->ioapic_pins < VMM_MPTABLE_ISA_IRQS ||
        t->ioapic_pins > 255) {
        return false;
    }
    for (i = 0; i < t->nr_cpus; i++) {
        if (t->apic_ids[i] == 0xff || used[t->apic_ids[i]]) {
            return false;
        }
        used[t->apic_ids[i]] = true;
    }
    return !used[t->ioapic_id];
}

/* An 8-byte interrupt entry (I/O or local); flags 0: conforming. */
static uint8_t *put_irq(uint8_t *p, uint8_t type, uint8_t irqtype,
                        uint8_t src_irq, uint8_t dst_apic, uint8_t dst_pin)
{
    p[0] = type;
    p[1] = irqtype;
    put16(p + 2, 0); /* polarity and trigger: the bus's (ISA: edge, high) */
    p[4] = ISA_BUS_ID;
    p[5] = src_irq;
    p[6] = dst_apic;
    p[7] = dst_pin;
    return p + VMM_MPTABLE_ENTRY_SIZE;
}

/* Everything after the configuration table's header; returns the end. */
static uint8_t *put_entries(const struct vmm_mptable *t, uint8_t *p)
{
    unsigned i;

    for (i = 0; i < t->nr_cpus; i++) {
        p[0] = VMM_MPTABLE_T_CPU;
        p[1] = t->apic_ids[i];
        p[2] = t->lapic_version;
        p[3] = CPU_ENABLED | (i == 0 ? CPU_BOOT : 0);
        put32(p + 4, t->cpu_signature);
        put32(p + 8, t->cpu_features);
        /* 12..19 reserved, zero. */
        p += VMM_MPTABLE_CPU_SIZE;
    }
    p[0] = VMM_MPTABLE_T_BUS;
    p[1] = ISA_BUS_ID;
    memcpy(p + 2, g_isa, sizeof(g_isa));
    p += VMM_MPTABLE_ENTRY_SIZE;

    p[0] = VMM_MPTABLE_T_IOAPIC;
    p[1] = t->ioapic_id;
    p[2] = t->ioapic_version;
    p[3] = IOAPIC_ENABLED;
    put32(p + 4, t->ioapic_addr);
    p += VMM_MPTABLE_ENTRY_SIZE;

    for (i = 0; i < VMM_MPTABLE_ISA_IRQS; i++) {
        if (i != ISA_CASCADE_IRQ) {
            p = put_irq(p, VMM_MPTABLE_T_INTSRC, VMM_MPTABLE_INT, (uint8_t)i,
                        t->ioapic_id, (uint8_t)i);
        }
    }
    /* Virtual wire mode: the 8259 reaches the boot CPU's LINT0. */
    p = put_irq(p, VMM_MPTABLE_T_LINTSRC, VMM_MPTABLE_EXTINT, 0, t->apic_ids[0],
                LINT0);
    return put_irq(p, VMM_MPTABLE_T_LINTSRC, VMM_MPTABLE_NMI, 0, ALL_LAPICS,
                   LINT1);
}

int vmm_mptable_build(const struct vmm_mptable *t, uint64_t addr, void *buf,
                      size_t len)
{
    uint8_t *fps = buf, *hdr, *end;
    size_t size;

    if (!t || !buf || !valid(t) || (addr & 15) != 0) {
        return -EINVAL;
    }
    size = vmm_mptable_size(t->nr_cpus);
    if (addr >= (1ull << 32) || size > (1ull << 32) - addr) {
        return -EINVAL;
    }
    if (len < size) {
        return -ENOSPC;
    }
    memset(buf, 0, size);

    hdr = fps + VMM_MPTABLE_FPS_SIZE;
    end = put_entries(t, hdr + VMM_MPTABLE_HDR_SIZE);
    memcpy(hdr, "PCMP", 4);
    put16(hdr + 4, (uint16_t)(end - hdr)); /* base table length */
    hdr[6] = SPEC_REV;
    memcpy(hdr + 8, g_oem_id, sizeof(g_oem_id));
    memcpy(hdr + 16, g_product_id, sizeof(g_product_id));
    /* 28: OEM table pointer, 32: its size: none. */
    put16(hdr + 34, (uint16_t)(t->nr_cpus + NR_ENTRIES));
    put32(hdr + 36, t->lapic_addr);
    /* 40: extended table length and checksum: none. */
    hdr[7] = checksum(hdr, (size_t)(end - hdr));

    memcpy(fps, "_MP_", 4);
    put32(fps + 4, (uint32_t)(addr + VMM_MPTABLE_FPS_SIZE));
    fps[8] = 1; /* length in 16-byte units */
    fps[9] = SPEC_REV;
    /*
     * Feature bytes 1-5 zero: the configuration table is present (not a
     * default configuration) and the IMCR is absent, i.e. virtual wire
     * mode, as KVM's LAPICs start (LINT0 takes the 8259's ExtINT).
     */
    fps[10] = checksum(fps, VMM_MPTABLE_FPS_SIZE);
    return (int)size;
}

int vmm_mptable_write(const struct vmm_gmem *gm, const struct vmm_mptable *t,
                      uint64_t addr)
{
    size_t size;
    void *buf;
    int r;

    if (!gm || !t) {
        return -EINVAL;
    }
    size = vmm_mptable_size(t->nr_cpus);
    if (size == 0) {
        return -EINVAL;
    }
    buf = malloc(size);
    if (!buf) {
        return -ENOMEM;
    }
    r = vmm_mptable_build(t, addr, buf, size);
    if (r >= 0) {
        int w = vmm_gmem_write(gm, addr, buf, size);

        if (w < 0) {
            r = w;
        }
    }
    free(buf);
    return r;
}
