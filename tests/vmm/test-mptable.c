/* SPDX-License-Identifier: MIT */
/*
 * The MP table (vmm/arch/x86_64/mptable.c), read back the way a guest
 * reads it: the floating pointer found by scanning the BIOS area on
 * 16-byte boundaries with its checksum, then the configuration table
 * walked entry by entry (as Linux's mpparse.c does): checksums, counts,
 * the processors with the boot flag on the first, the ISA bus, the
 * IOAPIC, ISA IRQ i on pin i (but the cascade, IRQ 2) with the bus's
 * default (edge, active high) trigger, ExtINT on the boot CPU's LINT0 and
 * NMI on every LINT1.  Bad descriptions are refused
 * and leave guest RAM untouched.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86_64/mptable.h"
#include "harness.h"

#define RAM_SIZE 0x100000u /* 1 MiB at 0 */
#define BIOS_AREA 0xf0000u
#define FILL 0x5a

static uint8_t *g_ram;
static struct vmm_gmem *g_gm;

static void ram_setup(void)
{
    struct vmm_gmem_region r = {.gpa = 0, .size = RAM_SIZE};

    g_ram = malloc(RAM_SIZE);
    g_assert_nonnull(g_ram);
    memset(g_ram, FILL, RAM_SIZE);
    r.hva = g_ram;
    g_assert_cmpint(vmm_gmem_new(&r, 1, &g_gm), ==, 0);
}

static void ram_teardown(void)
{
    vmm_gmem_free(g_gm);
    free(g_ram);
}

static bool ram_untouched(void)
{
    uint32_t i;

    for (i = 0; i < RAM_SIZE; i++) {
        if (g_ram[i] != FILL) {
            return false;
        }
    }
    return true;
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
    return get16(p) | (uint32_t)get16(p + 2) << 16;
}

static uint8_t sum(const uint8_t *p, size_t len)
{
    uint8_t s = 0;

    while (len--) {
        s = (uint8_t)(s + *p++);
    }
    return s;
}

/* What a guest scan of [from, from + len) finds: the floating pointer's
 * address, or 0. */
static uint32_t scan(uint32_t from, uint32_t len)
{
    uint32_t a;

    for (a = from; a + 16 <= from + len; a += 16) {
        const uint8_t *p = g_ram + a;

        if (memcmp(p, "_MP_", 4) == 0 && p[8] == 1 && sum(p, 16) == 0 &&
            (p[9] == 1 || p[9] == 4)) {
            return a;
        }
    }
    return 0;
}

static const uint8_t g_ids4[] = {0, 1, 2, 4}; /* sparse, as -smp 4,cores=3 */

static struct vmm_mptable desc(unsigned nr, const uint8_t *ids)
{
    struct vmm_mptable t = {
        .nr_cpus = nr,
        .apic_ids = ids,
        .lapic_version = 0x14,
        .cpu_signature = 0x000806f8,
        .cpu_features = 0x178bfbff,
        .lapic_addr = 0xfee00000u,
        .ioapic_id = 5,
        .ioapic_version = 0x11,
        .ioapic_addr = 0xfec00000u,
        .ioapic_pins = 24,
    };

    return t;
}

/* Read the table at @fps back and check every entry against @t. */
static void check_table(uint32_t fps, const struct vmm_mptable *t)
{
    const uint8_t *f = g_ram + fps, *h, *e, *end;
    unsigned cpus = 0, buses = 0, ioapics = 0, intsrc = 0, lint = 0, count;
    unsigned irq = 0;

    g_assert_cmpuint(get32(f + 4), ==, fps + 16);
    g_assert_cmpuint(f[9], ==, 4);
    g_assert_cmpuint(f[11] | f[12] | f[13] | f[14] | f[15], ==, 0);

    h = g_ram + get32(f + 4);
    g_assert_cmpmem(h, 4, "PCMP", 4);
    g_assert_cmpuint(h[6], ==, 4);
    g_assert_cmpuint(sum(h, get16(h + 4)), ==, 0);
    g_assert_cmpuint(get32(h + 28), ==, 0); /* no OEM table */
    g_assert_cmphex(get32(h + 36), ==, t->lapic_addr);
    g_assert_cmpuint(get16(h + 40), ==, 0); /* no extended table */
    g_assert_cmpuint(fps + 16 + get16(h + 4), ==,
                     fps + vmm_mptable_size(t->nr_cpus));
    count = get16(h + 34);
    end = h + get16(h + 4);

    for (e = h + 44; e < end; count--) {
        g_assert_cmpuint(count, >, 0);
        switch (e[0]) {
        case VMM_MPTABLE_T_CPU:
            /* Entries come in type order: processors first. */
            g_assert_cmpuint(buses + ioapics + intsrc + lint, ==, 0);
            g_assert_cmpuint(e[1], ==, t->apic_ids[cpus]);
            g_assert_cmphex(e[2], ==, t->lapic_version);
            g_assert_cmphex(e[3], ==, cpus == 0 ? 3 : 1);
            g_assert_cmphex(get32(e + 4), ==, t->cpu_signature);
            g_assert_cmphex(get32(e + 8), ==, t->cpu_features);
            g_assert_cmpuint(get32(e + 12) | get32(e + 16), ==, 0);
            cpus++;
            e += 20;
            break;
        case VMM_MPTABLE_T_BUS:
            g_assert_cmpuint(ioapics + intsrc + lint, ==, 0);
            g_assert_cmpuint(e[1], ==, 0);
            g_assert_cmpmem(e + 2, 6, "ISA   ", 6);
            buses++;
            e += 8;
            break;
        case VMM_MPTABLE_T_IOAPIC:
            g_assert_cmpuint(intsrc + lint, ==, 0);
            g_assert_cmpuint(e[1], ==, t->ioapic_id);
            g_assert_cmphex(e[2], ==, t->ioapic_version);
            g_assert_cmphex(e[3], ==, 1);
            g_assert_cmphex(get32(e + 4), ==, t->ioapic_addr);
            ioapics++;
            e += 8;
            break;
        case VMM_MPTABLE_T_INTSRC:
            g_assert_cmpuint(lint, ==, 0);
            g_assert_cmpuint(e[1], ==, VMM_MPTABLE_INT);
            /* Conforming polarity and trigger: ISA's edge, active high,
             * what an irqfd delivers. */
            g_assert_cmphex(get16(e + 2), ==, 0);
            irq += irq == 2;                 /* the cascade has no entry */
            g_assert_cmpuint(e[4], ==, 0);   /* the ISA bus */
            g_assert_cmpuint(e[5], ==, irq); /* ISA IRQ i ... */
            g_assert_cmpuint(e[6], ==, t->ioapic_id);
            g_assert_cmpuint(e[7], ==, irq); /* ... on pin i */
            irq++;
            intsrc++;
            e += 8;
            break;
        case VMM_MPTABLE_T_LINTSRC:
            g_assert_cmpuint(e[1], ==,
                             lint == 0 ? VMM_MPTABLE_EXTINT : VMM_MPTABLE_NMI);
            g_assert_cmphex(get16(e + 2), ==, 0);
            /* ExtINT to the boot CPU, NMI to every LAPIC. */
            g_assert_cmpuint(e[6], ==, lint == 0 ? t->apic_ids[0] : 0xff);
            g_assert_cmpuint(e[7], ==, lint); /* LINT0, LINT1 */
            lint++;
            e += 8;
            break;
        default:
            g_assert_not_reached();
        }
    }
    g_assert_true(e == end);
    g_assert_cmpuint(count, ==, 0);
    g_assert_cmpuint(cpus, ==, t->nr_cpus);
    g_assert_cmpuint(buses, ==, 1);
    g_assert_cmpuint(ioapics, ==, 1);
    g_assert_cmpuint(intsrc, ==, 15);
    g_assert_cmpuint(irq, ==, 16);
    g_assert_cmpuint(lint, ==, 2);
}

static void test_size(void)
{
    g_assert_cmpuint(vmm_mptable_size(0), ==, 0);
    g_assert_cmpuint(vmm_mptable_size(1), ==, 16 + 44 + 20 + 19 * 8);
    g_assert_cmpuint(vmm_mptable_size(64), ==, 16 + 44 + 64 * 20 + 19 * 8);
    g_assert_cmpuint(vmm_mptable_size(254), ==, 16 + 44 + 254 * 20 + 19 * 8);
    g_assert_cmpuint(vmm_mptable_size(255), ==, 0);
}

/* One CPU, in the BIOS area: found by a guest's scan, every entry right,
 * nothing around it touched. */
static void test_one_cpu(void)
{
    static const uint8_t id0[] = {0};
    struct vmm_mptable t = desc(1, id0);
    size_t size = vmm_mptable_size(1);
    uint32_t i;

    ram_setup();
    g_assert_cmpint(vmm_mptable_write(g_gm, &t, BIOS_AREA), ==, (int)size);
    g_assert_cmpuint(scan(BIOS_AREA, 0x10000), ==, BIOS_AREA);
    check_table(BIOS_AREA, &t);
    for (i = 0; i < RAM_SIZE; i++) {
        if (i < BIOS_AREA || i >= BIOS_AREA + size) {
            g_assert_cmpuint(g_ram[i], ==, FILL);
        }
    }
    ram_teardown();
}

/* Sparse APIC IDs, the table elsewhere: the pointer follows it. */
static void test_sparse_cpus(void)
{
    struct vmm_mptable t = desc(4, g_ids4);

    ram_setup();
    g_assert_cmpint(vmm_mptable_write(g_gm, &t, 0x9fc00), >, 0);
    g_assert_cmpuint(scan(0x9fc00, 0x400), ==, 0x9fc00);
    check_table(0x9fc00, &t);
    ram_teardown();
}

/* The largest table: 254 processors (every ID below 0xff but the
 * IOAPIC's). */
static void test_max_cpus(void)
{
    uint8_t ids[VMM_MPTABLE_MAX_CPUS];
    struct vmm_mptable t;
    unsigned i;

    for (i = 0; i < VMM_MPTABLE_MAX_CPUS; i++) {
        ids[i] = (uint8_t)(i < 5 ? i : i + 1); /* skip the IOAPIC's 5 */
    }
    t = desc(VMM_MPTABLE_MAX_CPUS, ids);
    ram_setup();
    g_assert_cmpint(vmm_mptable_write(g_gm, &t, BIOS_AREA), ==,
                    (int)vmm_mptable_size(VMM_MPTABLE_MAX_CPUS));
    g_assert_cmpuint(scan(BIOS_AREA, 0x10000), ==, BIOS_AREA);
    check_table(BIOS_AREA, &t);
    ram_teardown();
}

/* Every bad description or place is refused; RAM stays as it was. */
static void test_refused(void)
{
    static const uint8_t dup[] = {0, 1, 1};
    static const uint8_t bcast[] = {0, 0xff};
    static const uint8_t clash[] = {0, 5};
    struct vmm_mptable t = desc(4, g_ids4), bad;
    uint8_t buf[512];

    ram_setup();
    g_assert_cmpint(vmm_mptable_write(NULL, &t, BIOS_AREA), ==, -EINVAL);
    g_assert_cmpint(vmm_mptable_write(g_gm, NULL, BIOS_AREA), ==, -EINVAL);
    bad = desc(0, g_ids4);
    g_assert_cmpint(vmm_mptable_write(g_gm, &bad, BIOS_AREA), ==, -EINVAL);
    bad = desc(255, g_ids4);
    g_assert_cmpint(vmm_mptable_write(g_gm, &bad, BIOS_AREA), ==, -EINVAL);
    bad = desc(1, NULL);
    g_assert_cmpint(vmm_mptable_write(g_gm, &bad, BIOS_AREA), ==, -EINVAL);
    bad = desc(3, dup);
    g_assert_cmpint(vmm_mptable_write(g_gm, &bad, BIOS_AREA), ==, -EINVAL);
    bad = desc(2, bcast);
    g_assert_cmpint(vmm_mptable_write(g_gm, &bad, BIOS_AREA), ==, -EINVAL);
    bad = desc(2, clash); /* the IOAPIC's ID is a CPU's */
    g_assert_cmpint(vmm_mptable_write(g_gm, &bad, BIOS_AREA), ==, -EINVAL);
    bad = t;
    bad.ioapic_id = 0xff;
    g_assert_cmpint(vmm_mptable_write(g_gm, &bad, BIOS_AREA), ==, -EINVAL);
    bad = t;
    bad.ioapic_pins = 15;
    g_assert_cmpint(vmm_mptable_write(g_gm, &bad, BIOS_AREA), ==, -EINVAL);
    bad.ioapic_pins = 256;
    g_assert_cmpint(vmm_mptable_write(g_gm, &bad, BIOS_AREA), ==, -EINVAL);
    /* Unaligned, above 4 GiB, wrapping past 4 GiB. */
    g_assert_cmpint(vmm_mptable_write(g_gm, &t, BIOS_AREA + 8), ==, -EINVAL);
    g_assert_cmpint(vmm_mptable_write(g_gm, &t, 1ull << 32), ==, -EINVAL);
    g_assert_cmpint(vmm_mptable_write(g_gm, &t, (1ull << 32) - 16), ==,
                    -EINVAL);
    /* Not RAM, or running off its end. */
    g_assert_cmpint(vmm_mptable_write(g_gm, &t, 0xfec00000u), ==, -EFAULT);
    g_assert_cmpint(vmm_mptable_write(g_gm, &t, RAM_SIZE - 64), ==, -EFAULT);
    g_assert_true(ram_untouched());
    /* A short buffer. */
    g_assert_cmpint(vmm_mptable_build(&t, BIOS_AREA, buf, 16), ==, -ENOSPC);
    g_assert_cmpint(vmm_mptable_build(&t, BIOS_AREA, NULL, 16), ==, -EINVAL);
    g_assert_cmpint(vmm_mptable_build(&t, BIOS_AREA, buf, sizeof(buf)), ==,
                    (int)vmm_mptable_size(4));
    ram_teardown();
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/mptable/size", test_size);
    g_test_add_func("/mptable/one-cpu", test_one_cpu);
    g_test_add_func("/mptable/sparse-cpus", test_sparse_cpus);
    g_test_add_func("/mptable/max-cpus", test_max_cpus);
    g_test_add_func("/mptable/refused", test_refused);
    return g_test_run();
}
