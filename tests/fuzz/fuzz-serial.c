/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the 16550A register file (vmm/devices/serial-8250.c) on a
 * port I/O bus, behind a null chardev (QEMU's serial without a display:
 * output discarded and counted, no input), on the main loop with a
 * deterministic virtual clock.
 *
 * Input: a program of one-byte operations, each perhaps followed by data.
 *   0xxxxxxx  a bus access: bits 0-1 the width (1, 2, 4 or 8 bytes), bit
 *             2 write (then `width` value bytes follow, little-endian),
 *             bits 3-6 the port, COM1 - 4 + 0..15 (so accesses below,
 *             across and past the UART's eight ports);
 *   1xxxxxxx  bits 0-6 modulo 5: 0 run the main loop once, 1 step the
 *             virtual clock by the next byte times 50 us and run the loop
 *             (the receive timeout), 2 device reset, 3 flush, 4 check the
 *             counters now.
 * Checked besides memory safety: the bus's answer for every access (0
 * inside the UART, -ENOENT outside, -ERANGE across its end); the
 * interrupt line is only driven on changes (a reset may lower it again)
 * and agrees with IIR bit 0; LSR reads THRE/TEMT set once output went
 * out; every byte written to THR is accounted for exactly once (sent,
 * dropped or looped back), and everything sent reached the chardev.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <loom/clock.h>
#include <loom/main.h>

#include "chardev/chardev.h"
#include "core/bus.h"
#include "devices/serial-8250.h"
#include "fuzz.h"

#define COM1 0x3f8u
#define PORT_LOW (COM1 - 4u)
#define REG_THR 0u
#define REG_IIR 2u
#define REG_LCR 3u
#define LCR_DLAB 0x80u
#define STEP_NS 50000

struct fuzz_irq {
    bool level;
    bool in_reset; /* a reset may drive the line to its current level */
};

struct rig {
    struct vmm_bus *bus;
    struct vmm_chr *chr;
    struct vmm_serial *uart;
    struct fuzz_irq irq;
    uint64_t thr_writes; /* bytes written to THR (DLAB clear) */
};

static void fuzz_irq_set(void *opaque, bool level)
{
    struct fuzz_irq *f = opaque;

    FUZZ_CHECK(level != f->level || (f->in_reset && !level),
               "line driven to its level %d again", level);
    f->level = level;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    int r = loom_main_init();

    FUZZ_CHECK(r == 0, "loom_main_init: %d", r);
    loom_clock_virtual_set_deterministic(true);
    /* Device code runs with the BQL, as on a vCPU thread. */
    loom_bql_lock();
    return 0;
}

static uint8_t lcr(struct rig *g)
{
    uint8_t v = 0;

    FUZZ_CHECK(vmm_bus_read(g->bus, COM1 + REG_LCR, &v, 1) == 0, "LCR");
    return v;
}

static void access(struct rig *g, uint8_t op, const uint8_t **p,
                   const uint8_t *end)
{
    unsigned width = 1u << (op & 3), port = PORT_LOW + ((op >> 3) & 15);
    bool write = op & 4;
    uint64_t v = 0;
    int want, r;

    if (port < COM1 || port >= COM1 + VMM_SERIAL_NR_PORTS) {
        want = -ENOENT;
    } else if (port + width > COM1 + VMM_SERIAL_NR_PORTS) {
        want = -ERANGE;
    } else {
        want = 0;
    }
    if (write) {
        size_t n = (size_t)(end - *p) < width ? (size_t)(end - *p) : width;

        memcpy(&v, *p, n);
        *p += n;
        /* The bus never splits an access, so THR is hit only from COM1. */
        if (want == 0 && port == COM1 + REG_THR && width <= 4 &&
            !(lcr(g) & LCR_DLAB)) {
            g->thr_writes++;
        }
        r = vmm_bus_write(g->bus, port, &v, width);
    } else {
        bool level = g->irq.level;

        r = vmm_bus_read(g->bus, port, &v, width);
        if (r == 0 && width == 1 && port == COM1 + REG_IIR) {
            FUZZ_CHECK(level == !(v & 1), "line %d with IIR %#x", level,
                       (unsigned)v);
        }
        FUZZ_CHECK(r == 0 || v == UINT64_MAX >> (64 - 8 * width),
                   "failed read gave %#llx", (unsigned long long)v);
    }
    FUZZ_CHECK(r == want, "%s of %u at %#x: %d, expected %d",
               write ? "write" : "read", width, port, r, want);
}

/* Every byte written to THR is sent, dropped or looped back, once. */
static void check_counters(struct rig *g, bool drained)
{
    struct vmm_serial_stats st;
    struct vmm_chr_stats cst;
    uint64_t seen;

    vmm_serial_stats(g->uart, &st);
    vmm_chr_stats(g->chr, &cst);
    /* The null backend has no input: whatever was received looped. */
    seen = st.tx_bytes + st.tx_dropped + st.rx_bytes;
    FUZZ_CHECK(
        drained ? seen == g->thr_writes : seen <= g->thr_writes,
        "%llu bytes written, %llu sent + %llu dropped + %llu looped",
        (unsigned long long)g->thr_writes, (unsigned long long)st.tx_bytes,
        (unsigned long long)st.tx_dropped, (unsigned long long)st.rx_bytes);
    FUZZ_CHECK(cst.out_dropped == st.tx_bytes && cst.out_buffered == 0,
               "UART sent %llu, null chardev discarded %llu",
               (unsigned long long)st.tx_bytes,
               (unsigned long long)cst.out_dropped);
    FUZZ_CHECK(st.rx_overruns <= st.rx_bytes, "more overruns than bytes");
}

static void flush(struct rig *g)
{
    uint8_t lsr = 0;

    FUZZ_CHECK(vmm_serial_flush(g->uart, 0) == 0, "flush to a null chardev");
    check_counters(g, true);
    /* Nothing can be left in the transmitter: THRE and TEMT. */
    FUZZ_CHECK(vmm_bus_read(g->bus, COM1 + 5, &lsr, 1) == 0, "LSR");
    FUZZ_CHECK((lsr & 0x60) == 0x60, "LSR %#x after a flush", lsr);
}

static void special(struct rig *g, uint8_t op, const uint8_t **p,
                    const uint8_t *end)
{
    switch ((op & 0x7f) % 5) {
    case 0:
        (void)loom_main_loop_wait(true);
        break;
    case 1:
        if (*p < end) {
            int64_t ns = (int64_t) * (*p)++ * STEP_NS;

            FUZZ_CHECK(loom_clock_virtual_step(ns) == 0, "clock step");
        }
        (void)loom_main_loop_wait(true);
        break;
    case 2:
        g->irq.in_reset = true;
        vmm_serial_reset(g->uart);
        g->irq.in_reset = false;
        FUZZ_CHECK(!g->irq.level, "line up after a reset");
        break;
    case 3:
        flush(g);
        break;
    default:
        check_counters(g, false);
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vmm_config_chr cfg = {.kind = VMM_CHR_NULL};
    struct rig g = {0};
    struct vmm_irq irq = {.set = fuzz_irq_set, .opaque = &g.irq};
    const uint8_t *p = data, *end = data + size;

    FUZZ_CHECK(vmm_bus_new(0xffff, &g.bus) == 0, "bus");
    FUZZ_CHECK(vmm_chr_new(&cfg, loom_main_loop(), NULL, NULL, &g.chr) == 0,
               "null chardev");
    g.irq.in_reset = true;
    FUZZ_CHECK(vmm_serial_new(g.bus, COM1, &irq, g.chr, &g.uart) == 0, "UART");
    g.irq.in_reset = false;
    while (p < end) {
        uint8_t op = *p++;

        if (op & 0x80) {
            special(&g, op, &p, end);
        } else {
            access(&g, op, &p, end);
        }
    }
    flush(&g);
    vmm_serial_free(g.uart);
    vmm_chr_free(g.chr);
    vmm_bus_free(g.bus);
    /* Run what the device left scheduled (input BHs), so none piles up. */
    while (loom_main_loop_wait(true)) {
    }
    return 0;
}
