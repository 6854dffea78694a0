/* SPDX-License-Identifier: MIT */
/*
 * The 16550A (vmm/devices/serial-8250.c) without KVM: registers reached
 * through a port I/O bus, a fake interrupt line that records its levels,
 * and real chardevs on the main loop (a unix socket whose client plays the
 * terminal, a FIFO with a tiny pipe buffer for backpressure).  The virtual
 * clock is deterministic, so the receive timeout fires only when a test
 * steps it.  Covers every register, DLAB, FIFOs and trigger levels, every
 * IIR priority, the THRE interrupt rules, loopback, overruns, output
 * ordering, backpressure with a polling guest (alone and against the main
 * loop on another thread), and hostile accesses of every width.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <loom/bh.h>
#include <loom/clock.h>
#include <loom/main.h>
#include <loom/thread.h>

#include "harness.h"
#include "chardev/chardev.h"
#include "core/bus.h"
#include "devices/serial-8250.h"

#define COM1 0x3f8

enum {
    RBR = 0,
    THR = 0,
    DLL = 0,
    IER = 1,
    DLM = 1,
    IIR = 2,
    FCR = 2,
    LCR = 3,
    MCR = 4,
    LSR = 5,
    MSR = 6,
    SCR = 7
};

/* A level-recording interrupt line. */
struct fake_irq {
    bool level;
    unsigned raises; /* false -> true transitions */
    unsigned lowers; /* true -> false transitions */
    unsigned calls;
};

static void fake_irq_set(void *opaque, bool level)
{
    struct fake_irq *f = opaque;

    f->calls++;
    if (level && !f->level) {
        f->raises++;
    } else if (!level && f->level) {
        f->lowers++;
    }
    f->level = level;
}

enum rig_kind { RIG_NONE, RIG_UNIX, RIG_FIFO };

struct rig {
    char dir[64];
    char path[96];
    struct vmm_bus *bus;
    struct vmm_chr *chr;
    struct vmm_serial *uart;
    struct fake_irq irq;
    int peer; /* the unix client, or the FIFO's reader */
};

static void spin_loop(int n)
{
    while (n-- > 0) {
        loom_main_loop_wait(true);
    }
}

static struct rig *rig_new(enum rig_kind kind)
{
    struct rig *r = g_new0(struct rig, 1);
    struct vmm_config_chr cfg = {.kind = VMM_CHR_NONE};
    struct vmm_irq irq = {.set = fake_irq_set, .opaque = &r->irq};
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    r->peer = -1;
    snprintf(r->dir, sizeof(r->dir), "/tmp/test-serial-XXXXXX");
    g_assert_nonnull(mkdtemp(r->dir));
    snprintf(r->path, sizeof(r->path), "%s/chr", r->dir);
    if (kind == RIG_UNIX) {
        cfg = (struct vmm_config_chr){
            .kind = VMM_CHR_UNIX, .path = r->path, .server = true};
    } else if (kind == RIG_FIFO) {
        g_assert_cmpint(mkfifo(r->path, 0600), ==, 0);
        r->peer = open(r->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        g_assert_cmpint(r->peer, >=, 0);
        /* One page of pipe: backpressure after 4 KiB. */
        g_assert_cmpint(fcntl(r->peer, F_SETPIPE_SZ, 4096), >=, 4096);
        cfg = (struct vmm_config_chr){.kind = VMM_CHR_FILE, .path = r->path};
    }
    g_assert_cmpint(vmm_bus_new(0xffff, &r->bus), ==, 0);
    g_assert_cmpint(vmm_chr_new(&cfg, loom_main_loop(), NULL, NULL, &r->chr),
                    ==, 0);
    g_assert_cmpint(vmm_serial_new(r->bus, COM1, &irq, r->chr, &r->uart), ==,
                    0);
    if (kind == RIG_UNIX) {
        memcpy(sa.sun_path, r->path, strlen(r->path));
        r->peer = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        g_assert_cmpint(r->peer, >=, 0);
        g_assert_cmpint(connect(r->peer, (struct sockaddr *)&sa, sizeof(sa)),
                        ==, 0);
        MAIN_LOOP_UNTIL(vmm_chr_connected(r->chr));
    }
    return r;
}

static void rig_free(struct rig *r)
{
    vmm_serial_free(r->uart);
    vmm_chr_free(r->chr);
    vmm_bus_free(r->bus);
    if (r->peer >= 0) {
        close(r->peer);
    }
    unlink(r->path);
    rmdir(r->dir);
    g_free(r);
}

static uint8_t inb(struct rig *r, unsigned off)
{
    uint8_t v = 0;

    g_assert_cmpint(vmm_bus_read(r->bus, COM1 + off, &v, 1), ==, 0);
    return v;
}

static void outb(struct rig *r, unsigned off, uint8_t v)
{
    g_assert_cmpint(vmm_bus_write(r->bus, COM1 + off, &v, 1), ==, 0);
}

static struct vmm_serial_stats stats(struct rig *r)
{
    struct vmm_serial_stats st;

    vmm_serial_stats(r->uart, &st);
    return st;
}

/* The terminal types @s; wait until the UART has received @total bytes. */
static void type(struct rig *r, const char *s, uint64_t total)
{
    g_assert_cmpint(write(r->peer, s, strlen(s)), ==, (ssize_t)strlen(s));
    MAIN_LOOP_UNTIL(stats(r).rx_bytes >= total);
}

/* Read exactly @n bytes of output from the peer, running the loop. */
static void peer_read(struct rig *r, uint8_t *buf, size_t n)
{
    size_t got = 0;
    int64_t dl = harness_now_ns() + HARNESS_WATCHDOG_NS;

    while (got < n) {
        ssize_t k = recv(r->peer, buf + got, n - got, MSG_DONTWAIT);

        if (k < 0 && errno == ENOTSOCK) {
            k = read(r->peer, buf + got, n - got);
        }
        if (k > 0) {
            got += (size_t)k;
            continue;
        }
        g_assert_true(k < 0 && errno == EAGAIN);
        harness_watchdog(dl, "all bytes read");
        harness_main_loop_step();
    }
}

/* Nothing more arrives at the peer (after the loop has had its chance). */
static void peer_assert_quiet(struct rig *r)
{
    uint8_t b;

    spin_loop(20);
    g_assert_cmpint(recv(r->peer, &b, 1, MSG_DONTWAIT), ==, -1);
    g_assert_cmpint(errno, ==, EAGAIN);
}

/* The IIR's interrupt id and whether the line agrees with it. */
static uint8_t iir_id(struct rig *r)
{
    bool level = r->irq.level;
    uint8_t v = inb(r, IIR);

    g_assert_cmpint(level, ==, !(v & 1));
    return v & 0x0f;
}

static void test_reset_state(void)
{
    struct rig *r = rig_new(RIG_NONE);

    g_assert_cmphex(inb(r, IER), ==, 0);
    g_assert_cmphex(inb(r, IIR), ==, 0x01);
    g_assert_cmphex(inb(r, LCR), ==, 0);
    g_assert_cmphex(inb(r, MCR), ==, 0x08); /* OUT2, as QEMU resets it */
    g_assert_cmphex(inb(r, LSR), ==, 0x60);
    g_assert_cmphex(inb(r, MSR), ==, 0xb0); /* DCD, DSR, CTS */
    g_assert_cmphex(inb(r, SCR), ==, 0);
    outb(r, LCR, 0x80);
    g_assert_cmphex(inb(r, DLL), ==, 12); /* 9600 baud */
    g_assert_cmphex(inb(r, DLM), ==, 0);
    g_assert_false(r->irq.level);
    g_assert_cmpuint(r->irq.calls, ==, 1); /* lowered at reset */

    /* Change everything, then reset. */
    outb(r, DLL, 1);
    outb(r, LCR, 0x03);
    outb(r, IER, 0x0f);
    outb(r, FCR, 0xc7);
    outb(r, MCR, 0x1f);
    outb(r, SCR, 0x5a);
    g_assert_true(r->irq.level);
    vmm_serial_reset(r->uart);
    g_assert_false(r->irq.level);
    g_assert_cmphex(inb(r, IER), ==, 0);
    g_assert_cmphex(inb(r, IIR), ==, 0x01);
    g_assert_cmphex(inb(r, MCR), ==, 0x08);
    g_assert_cmphex(inb(r, LSR), ==, 0x60);
    g_assert_cmphex(inb(r, SCR), ==, 0);
    outb(r, LCR, 0x80);
    g_assert_cmphex(inb(r, DLL), ==, 12);
    rig_free(r);
}

static void test_dlab_scratch(void)
{
    struct rig *r = rig_new(RIG_NONE);

    outb(r, SCR, 0xa5);
    g_assert_cmphex(inb(r, SCR), ==, 0xa5);
    outb(r, IER, 0x05);
    outb(r, LCR, 0x83); /* DLAB, 8N1 */
    g_assert_cmphex(inb(r, LCR), ==, 0x83);
    outb(r, DLL, 0x34);
    outb(r, DLM, 0x12);
    g_assert_cmphex(inb(r, DLL), ==, 0x34);
    g_assert_cmphex(inb(r, DLM), ==, 0x12);
    /* The divisor write did not touch IER or transmit anything. */
    g_assert_cmpuint(stats(r).tx_bytes, ==, 0);
    outb(r, LCR, 0x03);
    g_assert_cmphex(inb(r, IER), ==, 0x05);
    outb(r, LCR, 0x83);
    g_assert_cmphex(inb(r, DLL), ==, 0x34);
    /* IER keeps 4 bits; MCR 5. */
    outb(r, LCR, 0x03);
    outb(r, IER, 0xff);
    g_assert_cmphex(inb(r, IER), ==, 0x0f);
    outb(r, IER, 0);
    outb(r, MCR, 0xff);
    g_assert_cmphex(inb(r, MCR), ==, 0x1f);
    /* Leaving loopback: RI (OUT1) fell, the line has it low (TERI). */
    outb(r, MCR, 0x0b);
    g_assert_cmphex(inb(r, MSR), ==, 0xb4);
    /* LSR and MSR ignore writes. */
    outb(r, LSR, 0x00);
    outb(r, MSR, 0x0f);
    g_assert_cmphex(inb(r, LSR), ==, 0x60);
    g_assert_cmphex(inb(r, MSR), ==, 0xb0);
    rig_free(r);
}

static void test_output_order(void)
{
    static const char msg[] = "hello, loom-vm\r\n";
    uint8_t buf[64];
    struct rig *r = rig_new(RIG_UNIX);
    int64_t before = loom_clock_ns(LOOM_CLOCK_HOST), first;
    size_t i;

    g_assert_cmpint(stats(r).first_tx_ns, ==, 0);
    for (i = 0; i < strlen(msg); i++) {
        g_assert_cmphex(inb(r, LSR) & 0x60, ==, 0x60);
        outb(r, THR, (uint8_t)msg[i]);
    }
    /* The first byte's time is kept, not the last one's. */
    first = stats(r).first_tx_ns;
    g_assert_cmpint(first, >=, before);
    g_assert_cmpint(first, <=, loom_clock_ns(LOOM_CLOCK_HOST));
    /* FIFO mode, same order, after the first part. */
    outb(r, FCR, 0x07);
    for (i = 0; i < strlen(msg); i++) {
        outb(r, THR, (uint8_t)msg[i]);
    }
    g_assert_cmphex(inb(r, LSR) & 0x60, ==, 0x60);
    peer_read(r, buf, 2 * strlen(msg));
    g_assert_cmpmem(buf, strlen(msg), msg, strlen(msg));
    g_assert_cmpmem(buf + strlen(msg), strlen(msg), msg, strlen(msg));
    g_assert_cmpuint(stats(r).tx_bytes, ==, 2 * strlen(msg));
    g_assert_cmpuint(stats(r).tx_dropped, ==, 0);
    g_assert_cmpint(stats(r).first_tx_ns, ==, first);
    peer_assert_quiet(r);
    rig_free(r);
}

static void test_thre_interrupt(void)
{
    struct rig *r = rig_new(RIG_NONE);
    unsigned raises;

    g_assert_cmphex(iir_id(r), ==, 0x01);
    /* Enabling ETBEI with THR empty raises it at once. */
    outb(r, IER, 0x02);
    g_assert_cmphex(iir_id(r), ==, 0x02);
    /* That read acknowledged it. */
    g_assert_cmphex(iir_id(r), ==, 0x01);
    g_assert_false(r->irq.level);
    /* A THR write re-arms it: the line drops and comes back (an edge). */
    outb(r, IER, 0x02);
    raises = r->irq.raises;
    outb(r, THR, 'x');
    g_assert_true(r->irq.level);
    g_assert_cmpuint(r->irq.raises, ==, raises + 1);
    g_assert_cmphex(inb(r, IIR), ==, 0x02);
    /* Pending, then acknowledged: THR write clears and re-raises. */
    outb(r, THR, 'y');
    g_assert_true(r->irq.level);
    g_assert_cmpuint(r->irq.raises, ==, raises + 2);
    g_assert_cmpuint(r->irq.lowers, >=, 2);
    /* Disabling ETBEI drops it; enabling again resamples THRE. */
    outb(r, IER, 0x00);
    g_assert_false(r->irq.level);
    g_assert_cmphex(iir_id(r), ==, 0x01);
    outb(r, IER, 0x02);
    g_assert_cmphex(iir_id(r), ==, 0x02);
    /* Rewriting the same IER does not re-raise an acknowledged THRE. */
    outb(r, IER, 0x02);
    g_assert_cmphex(iir_id(r), ==, 0x01);
    /* XFR re-arms THRE like QEMU. */
    outb(r, FCR, 0x01);
    outb(r, FCR, 0x05);
    g_assert_cmphex(iir_id(r), ==, 0x02);
    g_assert_cmpuint(stats(r).tx_dropped, ==, 0);
    rig_free(r);
}

static void test_rx_no_fifo(void)
{
    struct rig *r = rig_new(RIG_UNIX);

    outb(r, IER, 0x01);
    type(r, "A", 1);
    g_assert_cmphex(inb(r, LSR), ==, 0x61);
    g_assert_cmphex(iir_id(r), ==, 0x04);
    g_assert_cmphex(inb(r, RBR), ==, 'A');
    g_assert_cmphex(inb(r, LSR), ==, 0x60);
    g_assert_cmphex(iir_id(r), ==, 0x01);
    /* Flow control: one byte at a time, no overrun. */
    type(r, "BC", 2);
    spin_loop(20);
    g_assert_cmpuint(stats(r).rx_bytes, ==, 2);
    g_assert_cmphex(inb(r, RBR), ==, 'B');
    MAIN_LOOP_UNTIL(stats(r).rx_bytes == 3);
    g_assert_cmphex(inb(r, LSR), ==, 0x61);
    g_assert_cmphex(inb(r, RBR), ==, 'C');
    g_assert_cmpuint(stats(r).rx_overruns, ==, 0);
    /* An empty RBR reads the last byte again, without DR. */
    g_assert_cmphex(inb(r, RBR), ==, 'C');
    g_assert_cmphex(inb(r, LSR), ==, 0x60);
    rig_free(r);
}

static void test_rx_fifo_triggers(void)
{
    static const struct {
        uint8_t fcr;
        unsigned level;
    } cases[] = {{0x01, 1}, {0x41, 4}, {0x81, 8}, {0xc1, 14}};
    struct rig *r = rig_new(RIG_UNIX);
    uint64_t total = 0;
    size_t c;

    outb(r, IER, 0x01);
    for (c = 0; c < G_N_ELEMENTS(cases); c++) {
        unsigned i;

        outb(r, FCR, cases[c].fcr | 0x06);
        g_assert_cmphex(inb(r, IIR) & 0xc0, ==, 0xc0);
        for (i = 1; i < cases[c].level; i++) {
            type(r, "k", ++total);
            g_assert_cmphex(inb(r, LSR) & 0x01, ==, 0x01);
            g_assert_cmphex(iir_id(r), ==, 0x01);
        }
        type(r, "K", ++total);
        g_assert_cmphex(iir_id(r), ==, 0x04);
        for (i = 1; i < cases[c].level; i++) {
            g_assert_cmphex(inb(r, RBR), ==, 'k');
        }
        g_assert_cmphex(inb(r, RBR), ==, 'K');
        g_assert_cmphex(iir_id(r), ==, 0x01);
        g_assert_cmphex(inb(r, LSR) & 0x01, ==, 0);
        /* An empty FIFO reads 0. */
        g_assert_cmphex(inb(r, RBR), ==, 0);
    }
    /* The FIFO holds 16 and input waits for room: nothing is lost. */
    outb(r, FCR, 0xc7);
    g_assert_cmpint(write(r->peer, "0123456789abcdefXYZ", 19), ==, 19);
    MAIN_LOOP_UNTIL(stats(r).rx_bytes == total + 16);
    spin_loop(20);
    g_assert_cmpuint(stats(r).rx_bytes, ==, total + 16);
    g_assert_cmphex(inb(r, RBR), ==, '0');
    MAIN_LOOP_UNTIL(stats(r).rx_bytes == total + 17);
    g_assert_cmpuint(stats(r).rx_overruns, ==, 0);
    rig_free(r);
}

static void test_rx_timeout(void)
{
    struct rig *r = rig_new(RIG_UNIX);
    int64_t four_chars;

    /* 115200 baud 8N1: a character is 86.8 us. */
    outb(r, LCR, 0x83);
    outb(r, DLL, 1);
    outb(r, DLM, 0);
    outb(r, LCR, 0x03);
    four_chars = 4 * (1000000000LL * 10 / 115200);
    outb(r, FCR, 0x81); /* trigger 8 */
    outb(r, IER, 0x01);
    type(r, "ab", 2);
    g_assert_cmphex(iir_id(r), ==, 0x01);
    /* Not yet: three characters' time. */
    g_assert_cmpint(loom_clock_virtual_step(four_chars * 3 / 4), ==, 0);
    spin_loop(10);
    g_assert_cmphex(iir_id(r), ==, 0x01);
    g_assert_cmpint(loom_clock_virtual_step(four_chars / 4 + 1000), ==, 0);
    MAIN_LOOP_UNTIL(r->irq.level);
    g_assert_cmphex(iir_id(r), ==, 0x0c);
    g_assert_cmphex(inb(r, IIR) & 0xc0, ==, 0xc0);
    /* Reading a byte clears it and restarts the timer for the rest. */
    g_assert_cmphex(inb(r, RBR), ==, 'a');
    g_assert_cmphex(iir_id(r), ==, 0x01);
    g_assert_cmpint(loom_clock_virtual_step(four_chars + 1000), ==, 0);
    MAIN_LOOP_UNTIL(r->irq.level);
    g_assert_cmphex(iir_id(r), ==, 0x0c);
    g_assert_cmphex(inb(r, RBR), ==, 'b');
    g_assert_cmphex(iir_id(r), ==, 0x01);
    /* Empty: no timeout any more. */
    g_assert_cmpint(loom_clock_virtual_step(four_chars * 10), ==, 0);
    spin_loop(10);
    g_assert_cmphex(iir_id(r), ==, 0x01);

    /* The timeout takes precedence over data at the trigger level. */
    outb(r, FCR, 0x41); /* trigger 4 */
    type(r, "wxyz", 6);
    g_assert_cmphex(iir_id(r), ==, 0x04);
    g_assert_cmpint(loom_clock_virtual_step(four_chars + 1000), ==, 0);
    spin_loop(10);
    g_assert_cmphex(iir_id(r), ==, 0x0c);
    /* ERBFI masks the timeout too; RFR clears it. */
    outb(r, IER, 0x00);
    g_assert_false(r->irq.level);
    outb(r, IER, 0x01);
    g_assert_cmphex(iir_id(r), ==, 0x0c);
    outb(r, FCR, 0x43);
    g_assert_cmphex(iir_id(r), ==, 0x01);
    g_assert_cmphex(inb(r, LSR) & 0x01, ==, 0);
    rig_free(r);
}

/*
 * Every source at once, then peeled off in priority order: line status,
 * received data, THRE, modem status.
 */
static void test_iir_priorities(void)
{
    struct rig *r = rig_new(RIG_NONE);

    /* Loopback with only OUT2: CTS and DSR drop, DCD stays (deltas). */
    outb(r, MCR, 0x18);
    /* Two bytes into a FIFO-less receiver: the second overruns. */
    outb(r, THR, 'a');
    outb(r, THR, 'b');
    g_assert_cmpuint(stats(r).rx_overruns, ==, 1);
    g_assert_false(r->irq.level);
    outb(r, IER, 0x0f);
    g_assert_cmphex(iir_id(r), ==, 0x06);
    g_assert_cmphex(inb(r, LSR), ==, 0x63); /* THRE TEMT OE DR */
    g_assert_cmphex(iir_id(r), ==, 0x04);
    g_assert_cmphex(inb(r, RBR), ==, 'b');
    g_assert_cmphex(iir_id(r), ==, 0x02); /* acknowledges THRE */
    g_assert_cmphex(iir_id(r), ==, 0x00);
    g_assert_cmphex(inb(r, MSR), ==, 0x83); /* DCD, DDSR, DCTS */
    g_assert_cmphex(iir_id(r), ==, 0x01);
    g_assert_false(r->irq.level);
    g_assert_cmphex(inb(r, MSR), ==, 0x80);
    rig_free(r);
}

static void test_loopback(void)
{
    struct rig *r = rig_new(RIG_UNIX);
    struct {
        uint8_t mcr, msr;
    } map[] = {
        {0x11, 0x20}, /* DTR -> DSR */
        {0x12, 0x10}, /* RTS -> CTS */
        {0x14, 0x40}, /* OUT1 -> RI */
        {0x18, 0x80}, /* OUT2 -> DCD */
    };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(map); i++) {
        outb(r, MCR, map[i].mcr);
        (void)inb(r, MSR); /* clear the deltas of entering */
        g_assert_cmphex(inb(r, MSR), ==, map[i].msr);
    }
    /* RI's trailing edge sets TERI; its rising edge does not. */
    outb(r, MCR, 0x10);
    (void)inb(r, MSR);
    outb(r, MCR, 0x14);
    g_assert_cmphex(inb(r, MSR) & 0x0f, ==, 0);
    outb(r, MCR, 0x10);
    g_assert_cmphex(inb(r, MSR) & 0x0f, ==, 0x04);
    /* The modem status interrupt. */
    outb(r, IER, 0x08);
    g_assert_cmphex(iir_id(r), ==, 0x01);
    outb(r, MCR, 0x11);
    g_assert_cmphex(iir_id(r), ==, 0x00);
    (void)inb(r, MSR);
    g_assert_cmphex(iir_id(r), ==, 0x01);
    outb(r, IER, 0);

    /* Looped-back bytes reach RBR, not the terminal; FIFO overrun. */
    outb(r, FCR, 0x07);
    for (i = 0; i < 17; i++) {
        outb(r, THR, (uint8_t)('A' + i));
    }
    g_assert_cmphex(inb(r, LSR), ==, 0x63);
    g_assert_cmpuint(stats(r).rx_overruns, ==, 1);
    for (i = 0; i < 16; i++) {
        g_assert_cmphex(inb(r, RBR), ==, 'A' + i);
    }
    g_assert_cmphex(inb(r, LSR), ==, 0x60);
    g_assert_cmpuint(stats(r).tx_bytes, ==, 0);
    peer_assert_quiet(r);

    /* Terminal input waits while the receiver is looped back. */
    g_assert_cmpint(write(r->peer, "q", 1), ==, 1);
    spin_loop(30);
    g_assert_cmphex(inb(r, LSR) & 0x01, ==, 0);
    outb(r, MCR, 0x0b);
    MAIN_LOOP_UNTIL(inb(r, LSR) & 0x01);
    g_assert_cmphex(inb(r, RBR), ==, 'q');
    rig_free(r);
}

static void test_widths(void)
{
    struct rig *r = rig_new(RIG_NONE);
    uint32_t v32;
    uint16_t v16;
    uint64_t v64;
    struct vmm_serial_stats st;

    /* A 2-byte write at LCR is LCR then MCR. */
    v16 = 0x1b03;
    g_assert_cmpint(vmm_bus_write(r->bus, COM1 + LCR, &v16, 2), ==, 0);
    g_assert_cmphex(inb(r, LCR), ==, 0x03);
    g_assert_cmphex(inb(r, MCR), ==, 0x1b);
    outb(r, SCR, 0x77);
    /* A 4-byte read at MCR: MCR, LSR, MSR, SCR, low byte first. */
    g_assert_cmpint(vmm_bus_read(r->bus, COM1 + MCR, &v32, 4), ==, 0);
    g_assert_cmphex(v32 & 0xff, ==, 0x1b);
    g_assert_cmphex((v32 >> 8) & 0xff, ==, 0x60);
    g_assert_cmphex(v32 >> 24, ==, 0x77);
    /* Unaligned 2-byte access at DLM/IIR with DLAB. */
    outb(r, LCR, 0x80);
    v16 = 0x0102;
    g_assert_cmpint(vmm_bus_write(r->bus, COM1 + DLL, &v16, 2), ==, 0);
    g_assert_cmpint(vmm_bus_read(r->bus, COM1 + DLM, &v16, 2), ==, 0);
    g_assert_cmphex(v16, ==, 0x0101); /* DLM = 1, IIR = no interrupt */
    outb(r, LCR, 0x03);
    /* 8 bytes: not decoded. */
    v64 = 0;
    g_assert_cmpint(vmm_bus_read(r->bus, COM1, &v64, 8), ==, 0);
    g_assert_cmphex(v64, ==, UINT64_MAX);
    g_assert_cmpint(vmm_bus_write(r->bus, COM1, &v64, 8), ==, 0);
    vmm_serial_stats(r->uart, &st);
    g_assert_cmpuint(st.bad_accesses, ==, 2);
    g_assert_cmpuint(st.tx_bytes, ==, 0);
    /* Past the end: the bus refuses, the UART never sees it. */
    g_assert_cmpint(vmm_bus_read(r->bus, COM1 + 6, &v32, 4), ==, -ERANGE);
    rig_free(r);
}

/*
 * Anything a guest can do, in any order: the state stays consistent (the
 * line follows IIR, LSR's THRE/TEMT match, no crash under the sanitizers).
 */
static void test_hostile(void)
{
    struct rig *r = rig_new(RIG_UNIX);
    GRand *rand = g_rand_new_with_seed(0x16550a);
    static const unsigned sizes[] = {1, 2, 4, 8};
    int i;

    for (i = 0; i < 200000; i++) {
        unsigned size = sizes[g_rand_int_range(rand, 0, 4)];
        unsigned off = (unsigned)g_rand_int_range(rand, 0, 8);
        uint64_t v = ((uint64_t)g_rand_int(rand) << 32) | g_rand_int(rand);
        int ret;

        if (g_rand_boolean(rand)) {
            ret = vmm_bus_write(r->bus, COM1 + off, &v, size);
        } else {
            ret = vmm_bus_read(r->bus, COM1 + off, &v, size);
        }
        g_assert_true(ret == 0 || (ret == -ERANGE && off + size > 8));
        if (i % 1024 == 0) {
            uint8_t lsr = inb(r, LSR);

            loom_main_loop_wait(true);
            (void)iir_id(r);
            /* TEMT never without THRE. */
            g_assert_true(!(lsr & 0x40) || (lsr & 0x20));
            if (i % 8192 == 0) {
                g_assert_cmpint(write(r->peer, "zz", 2), ==, 2);
            }
        }
    }
    g_rand_free(rand);
    rig_free(r);
}

/* The byte stream the guest writes (no 0xff in it). */
static uint8_t pattern(uint64_t i)
{
    return (uint8_t)(i % 251);
}

static void check_stream(const uint8_t *buf, size_t n, uint64_t first)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (buf[i] != pattern(first + i)) {
            g_error("byte %zu: %#x, expected %#x", (size_t)(first + i), buf[i],
                    pattern(first + i));
        }
    }
}

static void backpressure(bool fifo)
{
    struct rig *r = rig_new(RIG_FIFO);
    const uint64_t total = 3 * VMM_CHR_OUT_BUF_SIZE;
    const uint64_t held = VMM_CHR_OUT_BUF_SIZE + (fifo ? 16 : 1);
    static uint8_t buf[65536];
    uint64_t sent = 0, got = 0;
    struct vmm_chr_stats cst;
    int i;

    if (fifo) {
        outb(r, FCR, 0x07);
    }
    outb(r, IER, 0x02);
    (void)inb(r, IIR);
    /* The loop does not run: the buffer, then the transmitter, fill up. */
    while (inb(r, LSR) & 0x20) {
        unsigned burst = fifo ? 16 : 1, k;

        for (k = 0; k < burst; k++) {
            outb(r, THR, pattern(sent++));
        }
        g_assert_cmpuint(sent, <=, held);
    }
    g_assert_cmpuint(sent, ==, held);
    g_assert_cmphex(inb(r, LSR) & 0x60, ==, 0);
    g_assert_cmpuint(stats(r).tx_dropped, ==, 0);
    (void)inb(r, IIR);
    g_assert_false(r->irq.level);
    /* A guest that ignores THRE loses bytes, counted; nothing blocks. */
    for (i = 0; i < 10; i++) {
        outb(r, THR, 0xff);
    }
    g_assert_cmpuint(stats(r).tx_dropped, ==, 10);
    vmm_chr_stats(r->chr, &cst);
    g_assert_cmpuint(cst.out_buffered, ==, VMM_CHR_OUT_BUF_SIZE);

    /* The reader drains; THRE (and its interrupt) come back. */
    while (got < total) {
        ssize_t k = read(r->peer, buf, sizeof(buf));

        if (k > 0) {
            check_stream(buf, (size_t)k, got);
            got += (uint64_t)k;
        } else {
            g_assert_true(k < 0 && errno == EAGAIN);
        }
        loom_main_loop_wait(true);
        while (sent < total && (inb(r, LSR) & 0x20)) {
            outb(r, THR, pattern(sent++));
        }
        if (r->irq.level) {
            g_assert_cmphex(inb(r, IIR) & 0x0f, ==, 0x02);
        }
    }
    g_assert_cmpuint(sent, ==, total);
    g_assert_cmpuint(stats(r).tx_bytes, ==, total);
    g_assert_cmpuint(stats(r).tx_dropped, ==, 10);
    g_assert_cmphex(inb(r, LSR) & 0x60, ==, 0x60);
    g_assert_cmpuint(r->irq.raises, >, 1);
    rig_free(r);
}

static void test_backpressure(void)
{
    backpressure(false);
}

static void test_backpressure_fifo(void)
{
    backpressure(true);
}

/* Flush at teardown waits (bounded) for a slow reader. */
static void test_flush(void)
{
    struct rig *r = rig_new(RIG_FIFO);
    static uint8_t buf[8192];
    uint64_t sent = 0, got = 0;

    outb(r, FCR, 0x07);
    while (inb(r, LSR) & 0x20) {
        outb(r, THR, pattern(sent++));
    }
    /* Nobody reads: the bounded wait gives up. */
    g_assert_cmpint(vmm_serial_flush(r->uart, 20 * 1000000), ==, -ETIMEDOUT);
    /* Partly read: still not all of it. */
    g_assert_cmpint(read(r->peer, buf, sizeof(buf)), ==, 4096);
    check_stream(buf, 4096, 0);
    got = 4096;
    g_assert_cmpint(vmm_serial_flush(r->uart, 0), ==, -ETIMEDOUT);
    /* Read as it comes: each bounded wait makes progress. */
    while (got < sent) {
        ssize_t k;

        (void)vmm_serial_flush(r->uart, 1000000);
        k = read(r->peer, buf, sizeof(buf));
        if (k > 0) {
            check_stream(buf, (size_t)k, got);
            got += (uint64_t)k;
        }
    }
    g_assert_cmpint(vmm_serial_flush(r->uart, 0), ==, 0);
    g_assert_cmpuint(got, ==, sent);
    g_assert_cmpuint(stats(r).tx_dropped, ==, 0);
    rig_free(r);
}

/*
 * A vCPU-like thread polls THRE and writes through the bus (taking the
 * BQL for each access) while the main loop drains to a slow FIFO that a
 * third thread reads: every byte arrives, in order, none dropped.
 */
struct mt {
    struct rig *r;
    uint64_t total;
    uint64_t got;
    bool bad;
    bool done; /* set by a BH on the main loop */
};

static void mt_done(void *opaque)
{
    ((struct mt *)opaque)->done = true;
}

static void *mt_writer(void *arg)
{
    struct mt *m = arg;
    uint64_t i;

    for (i = 0; i < m->total; i++) {
        uint8_t lsr = 0, b = pattern(i);

        for (;;) {
            g_assert_cmpint(vmm_bus_read(m->r->bus, COM1 + LSR, &lsr, 1), ==,
                            0);
            if (lsr & 0x20) {
                break;
            }
            sched_yield();
        }
        g_assert_cmpint(vmm_bus_write(m->r->bus, COM1 + THR, &b, 1), ==, 0);
    }
    return NULL;
}

static void *mt_reader(void *arg)
{
    struct mt *m = arg;
    static uint8_t buf[4096];

    while (m->got < m->total) {
        ssize_t k = read(m->r->peer, buf, sizeof(buf));
        size_t j;

        if (k <= 0) {
            g_usleep(100);
            continue;
        }
        for (j = 0; j < (size_t)k; j++) {
            if (buf[j] != pattern(m->got + j)) {
                m->bad = true;
            }
        }
        m->got += (uint64_t)k;
    }
    g_assert_cmpint(loom_bh_oneshot(loom_main_loop(), mt_done, m), ==, 0);
    return NULL;
}

static void test_threads(void)
{
    struct mt m = {.total = 200000};
    struct loom_thread *w, *rd;
    int64_t dl = harness_now_ns() + 3 * HARNESS_WATCHDOG_NS;

    m.r = rig_new(RIG_FIFO);
    outb(m.r, FCR, 0x07);
    g_assert_cmpint(
        loom_thread_create(&w, "writer", mt_writer, &m, LOOM_THREAD_JOINABLE),
        ==, 0);
    g_assert_cmpint(
        loom_thread_create(&rd, "reader", mt_reader, &m, LOOM_THREAD_JOINABLE),
        ==, 0);
    while (!m.done) {
        harness_watchdog(dl, "m.done");
        /* Blocking: the BQL is dropped while the main loop sleeps. */
        loom_main_loop_wait(false);
    }
    g_assert_cmpint(loom_thread_join(w, NULL), ==, 0);
    g_assert_cmpint(loom_thread_join(rd, NULL), ==, 0);
    g_assert_false(m.bad);
    g_assert_cmpuint(m.got, ==, m.total);
    g_assert_cmpuint(stats(m.r).tx_dropped, ==, 0);
    g_assert_cmpuint(stats(m.r).tx_bytes, ==, m.total);
    rig_free(m.r);
}

/* A client that comes and goes: output without one is dropped, counted. */
static void test_no_client(void)
{
    struct rig *r = rig_new(RIG_UNIX);
    struct vmm_chr_stats cst;

    close(r->peer);
    r->peer = -1;
    MAIN_LOOP_UNTIL(!vmm_chr_connected(r->chr));
    outb(r, THR, 'a');
    outb(r, THR, 'b');
    g_assert_cmphex(inb(r, LSR) & 0x60, ==, 0x60);
    vmm_chr_stats(r->chr, &cst);
    g_assert_cmpuint(cst.out_dropped, ==, 2);
    g_assert_cmpuint(stats(r).tx_bytes, ==, 2);
    g_assert_cmpuint(stats(r).tx_dropped, ==, 0);
    rig_free(r);
}

int main(int argc, char **argv)
{
    int ret;

    harness_init(&argc, &argv);
    signal(SIGPIPE, SIG_IGN);
    g_assert_cmpint(loom_main_init(), ==, 0);
    loom_clock_virtual_set_deterministic(true);
    loom_bql_lock();
    g_test_add_func("/serial/reset-state", test_reset_state);
    g_test_add_func("/serial/dlab-scratch", test_dlab_scratch);
    g_test_add_func("/serial/output-order", test_output_order);
    g_test_add_func("/serial/thre-interrupt", test_thre_interrupt);
    g_test_add_func("/serial/rx-no-fifo", test_rx_no_fifo);
    g_test_add_func("/serial/rx-fifo-triggers", test_rx_fifo_triggers);
    g_test_add_func("/serial/rx-timeout", test_rx_timeout);
    g_test_add_func("/serial/iir-priorities", test_iir_priorities);
    g_test_add_func("/serial/loopback", test_loopback);
    g_test_add_func("/serial/widths", test_widths);
    g_test_add_func("/serial/hostile", test_hostile);
    g_test_add_func("/serial/backpressure", test_backpressure);
    g_test_add_func("/serial/backpressure-fifo", test_backpressure_fifo);
    g_test_add_func("/serial/flush", test_flush);
    g_test_add_func("/serial/threads", test_threads);
    g_test_add_func("/serial/no-client", test_no_client);
    ret = g_test_run();
    loom_bql_unlock();
    loom_main_cleanup();
    return ret;
}
