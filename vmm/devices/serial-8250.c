/* SPDX-License-Identifier: MIT */
/*
 * The 16550A UART (see serial-8250.h for the model and its limits).
 *
 * Register accesses arrive on vCPU threads through a BQL region of the
 * port I/O bus; the chardev's callbacks (input, "output buffer has room",
 * break) and the receive timeout timer run on the chardev's loop.  Both
 * hold the BQL, which guards every field below the immutable ones.
 * Nothing here blocks: output goes to the chardev's bounded buffer, and
 * the interrupt line is a non-blocking set().
 */
#include "devices/serial-8250.h"

#include <errno.h>
#include <stdlib.h>

#include <loom/clock.h>
#include <loom/timer.h>

/* Register offsets (DLAB selects DLL/DLM at 0 and 1). */
enum {
    REG_RBR_THR = 0, /* DLL with DLAB */
    REG_IER = 1,     /* DLM with DLAB */
    REG_IIR_FCR = 2,
    REG_LCR = 3,
    REG_MCR = 4,
    REG_LSR = 5,
    REG_MSR = 6,
    REG_SCR = 7,
};

#define IER_ERBFI 0x01 /* received data available */
#define IER_ETBEI 0x02 /* transmitter holding register empty */
#define IER_ELSI 0x04  /* receiver line status */
#define IER_EDSSI 0x08 /* modem status */

#define IIR_NO_INT 0x01
#define IIR_MSI 0x00
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_RLSI 0x06
#define IIR_CTI 0x0c
#define IIR_ID_MASK 0x0f
#define IIR_FIFO_ON 0xc0

#define FCR_FE 0x01   /* FIFO enable */
#define FCR_RFR 0x02  /* receive FIFO reset */
#define FCR_XFR 0x04  /* transmit FIFO reset */
#define FCR_KEEP 0xc9 /* trigger level, DMA mode, enable: the bits kept */

#define LCR_DLAB 0x80

#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MCR_MASK 0x1f

#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_PE 0x04
#define LSR_FE 0x08
#define LSR_BI 0x10
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define LSR_INT_ANY (LSR_OE | LSR_PE | LSR_FE | LSR_BI)

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80
#define MSR_DELTAS 0x0f

/* Reset divisor: 9600 baud, as QEMU. */
#define RESET_DIVISOR 12

struct vmm_serial {
    /* Immutable after vmm_serial_new(). */
    struct vmm_bus *bus;
    uint16_t base;
    struct vmm_irq irq;
    struct vmm_chr *chr;
    struct loom_timer *timeout_timer; /* receive character timeout */

    /* BQL. */
    uint8_t ier, iir, lcr, mcr, lsr, scr, fcr;
    uint8_t msr_delta; /* MSR bits 0-3; the status bits are computed */
    uint8_t rbr;       /* receive holding register without FIFOs */
    uint16_t divisor;
    unsigned rx_trigger;
    uint8_t rx[VMM_SERIAL_FIFO_SIZE];
    unsigned rx_head, rx_count; /* FIFO mode only */
    uint8_t tx[VMM_SERIAL_FIFO_SIZE];
    unsigned tx_head, tx_count; /* the THR alone (depth 1) without FIFOs */
    bool thr_ipending;          /* THRE interrupt pending (until IIR read) */
    bool timeout_ipending;      /* character timeout pending */
    bool irq_level;             /* what the line was last set to */
    int64_t char_ns;            /* one character's time at the current rate */
    struct vmm_serial_stats stats;
};

static bool fifo_on(const struct vmm_serial *s)
{
    return s->fcr & FCR_FE;
}

/* The modem status inputs: looped back from MCR, or a line that is up. */
static uint8_t msr_status(const struct vmm_serial *s)
{
    uint8_t v = 0;

    if (!(s->mcr & MCR_LOOP)) {
        return MSR_DCD | MSR_DSR | MSR_CTS;
    }
    v |= (s->mcr & MCR_DTR) ? MSR_DSR : 0;
    v |= (s->mcr & MCR_RTS) ? MSR_CTS : 0;
    v |= (s->mcr & MCR_OUT1) ? MSR_RI : 0;
    v |= (s->mcr & MCR_OUT2) ? MSR_DCD : 0;
    return v;
}

/* Pick the highest-priority enabled source; drive the line on changes. */
static void serial_update_irq(struct vmm_serial *s)
{
    uint8_t id = IIR_NO_INT;
    bool level;

    if ((s->ier & IER_ELSI) && (s->lsr & LSR_INT_ANY)) {
        id = IIR_RLSI;
    } else if ((s->ier & IER_ERBFI) && s->timeout_ipending) {
        id = IIR_CTI;
    } else if ((s->ier & IER_ERBFI) && (s->lsr & LSR_DR) &&
               (!fifo_on(s) || s->rx_count >= s->rx_trigger)) {
        id = IIR_RDI;
    } else if ((s->ier & IER_ETBEI) && s->thr_ipending) {
        id = IIR_THRI;
    } else if ((s->ier & IER_EDSSI) && (s->msr_delta & MSR_DELTAS)) {
        id = IIR_MSI;
    }
    s->iir = (uint8_t)((s->iir & IIR_FIFO_ON) | id);
    level = id != IIR_NO_INT;
    if (level != s->irq_level) {
        s->irq_level = level;
        vmm_irq_set(&s->irq, level);
    }
}

/* Start bit, 5-8 data bits, parity, 1 or 2 stop bits, at 115200/divisor. */
static void serial_update_char_time(struct vmm_serial *s)
{
    int64_t bits = 1 + 5 + (s->lcr & 0x03) + ((s->lcr & 0x08) ? 1 : 0) +
                   ((s->lcr & 0x04) ? 2 : 1);

    /* A zero divisor stops the clock on hardware: keep the last rate. */
    if (s->divisor == 0) {
        return;
    }
    s->char_ns = 1000000000LL * bits * s->divisor / VMM_SERIAL_BAUD_BASE;
}

static void serial_arm_timeout(struct vmm_serial *s)
{
    loom_timer_mod(s->timeout_timer,
                   loom_clock_ns(LOOM_CLOCK_VIRTUAL) + 4 * s->char_ns);
}

/* The receive FIFO has had data and no activity for 4 character times. */
static void serial_timeout_cb(void *opaque)
{
    struct vmm_serial *s = opaque;

    if (fifo_on(s) && s->rx_count > 0) {
        s->timeout_ipending = true;
        serial_update_irq(s);
    }
}

/* One byte into the receiver; the caller arms the timeout and updates. */
static void serial_rx_put(struct vmm_serial *s, uint8_t c)
{
    s->stats.rx_bytes++;
    if (fifo_on(s)) {
        if (s->rx_count == VMM_SERIAL_FIFO_SIZE) {
            /* An overrun keeps the FIFO and loses the new byte. */
            s->lsr |= LSR_OE;
            s->stats.rx_overruns++;
            return;
        }
        s->rx[(s->rx_head + s->rx_count) % VMM_SERIAL_FIFO_SIZE] = c;
        s->rx_count++;
    } else {
        if (s->lsr & LSR_DR) {
            /* Without FIFOs the new byte overwrites the unread one. */
            s->lsr |= LSR_OE;
            s->stats.rx_overruns++;
        }
        s->rbr = c;
    }
    s->lsr |= LSR_DR;
}

/*
 * Move bytes out of the transmitter: to the receiver in loopback, else to
 * the chardev as far as its buffer takes them.  THRE and TEMT come back
 * (and with them the THRE interrupt) only when the transmitter is empty.
 */
static void serial_tx_drain(struct vmm_serial *s)
{
    bool looped = false;

    while (s->tx_count > 0) {
        unsigned chunk = VMM_SERIAL_FIFO_SIZE - s->tx_head;
        size_t n;

        if (chunk > s->tx_count) {
            chunk = s->tx_count;
        }
        if (s->mcr & MCR_LOOP) {
            serial_rx_put(s, s->tx[s->tx_head]);
            n = 1;
            looped = true;
        } else {
            n = vmm_chr_write(s->chr, s->tx + s->tx_head, chunk);
            if (n > 0 && s->stats.tx_bytes == 0) {
                s->stats.first_tx_ns = loom_clock_ns(LOOM_CLOCK_HOST);
            }
            s->stats.tx_bytes += n;
            if (n == 0) {
                break;
            }
        }
        s->tx_head = (s->tx_head + (unsigned)n) % VMM_SERIAL_FIFO_SIZE;
        s->tx_count -= (unsigned)n;
    }
    if (looped && fifo_on(s)) {
        serial_arm_timeout(s);
    }
    if (s->tx_count == 0) {
        s->tx_head = 0;
        if (!(s->lsr & LSR_THRE)) {
            s->thr_ipending = true;
        }
        s->lsr |= LSR_THRE | LSR_TEMT;
    }
}

static void serial_write_thr(struct vmm_serial *s, uint8_t c)
{
    unsigned depth = fifo_on(s) ? VMM_SERIAL_FIFO_SIZE : 1;

    if (s->tx_count < depth) {
        s->tx[(s->tx_head + s->tx_count) % VMM_SERIAL_FIFO_SIZE] = c;
        s->tx_count++;
    } else {
        /* Written while the transmitter is full: lost, as on hardware. */
        s->stats.tx_dropped++;
    }
    /* Writing THR clears the THRE interrupt, even if it comes back now. */
    s->thr_ipending = false;
    s->lsr &= (uint8_t) ~(LSR_THRE | LSR_TEMT);
    serial_update_irq(s);
    serial_tx_drain(s);
    serial_update_irq(s);
}

static uint8_t serial_read_rbr(struct vmm_serial *s)
{
    uint8_t v;

    if (fifo_on(s)) {
        v = 0;
        if (s->rx_count > 0) {
            v = s->rx[s->rx_head];
            s->rx_head = (s->rx_head + 1) % VMM_SERIAL_FIFO_SIZE;
            s->rx_count--;
        }
        if (s->rx_count == 0) {
            s->rx_head = 0;
            s->lsr &= (uint8_t) ~(LSR_DR | LSR_BI);
            loom_timer_del(s->timeout_timer);
        } else {
            serial_arm_timeout(s);
        }
        s->timeout_ipending = false;
    } else {
        v = s->rbr;
        s->lsr &= (uint8_t) ~(LSR_DR | LSR_BI);
    }
    serial_update_irq(s);
    if (!(s->mcr & MCR_LOOP)) {
        vmm_chr_accept_input(s->chr);
    }
    return v;
}

static void serial_write_ier(struct vmm_serial *s, uint8_t v)
{
    uint8_t changed = (s->ier ^ v) & 0x0f;

    s->ier = v & 0x0f;
    /*
     * Enabling ETBEI with THR empty raises the THRE interrupt even if an
     * IIR read had cleared it (QEMU; Windows relies on it), and Linux's
     * THRE test toggles it this way.
     */
    if (changed & IER_ETBEI) {
        s->thr_ipending = (s->ier & IER_ETBEI) && (s->lsr & LSR_THRE);
    }
    if (changed) {
        serial_update_irq(s);
    }
}

static void serial_write_fcr(struct vmm_serial *s, uint8_t v)
{
    static const unsigned trigger[4] = {1, 4, 8, 14};

    /* Switching the FIFOs on or off empties both. */
    if ((v ^ s->fcr) & FCR_FE) {
        v |= FCR_RFR | FCR_XFR;
    }
    if (v & FCR_RFR) {
        s->lsr &= (uint8_t) ~(LSR_DR | LSR_BI);
        loom_timer_del(s->timeout_timer);
        s->timeout_ipending = false;
        s->rx_head = s->rx_count = 0;
    }
    if (v & FCR_XFR) {
        s->stats.tx_dropped += s->tx_count;
        s->tx_head = s->tx_count = 0;
        s->lsr |= LSR_THRE | LSR_TEMT;
        s->thr_ipending = true;
    }
    s->fcr = v & FCR_KEEP;
    if (fifo_on(s)) {
        s->iir |= IIR_FIFO_ON;
        s->rx_trigger = trigger[v >> 6];
    } else {
        s->iir &= (uint8_t)~IIR_FIFO_ON;
    }
    serial_update_irq(s);
    if (v & FCR_RFR) {
        vmm_chr_accept_input(s->chr);
    }
}

static void serial_write_mcr(struct vmm_serial *s, uint8_t v)
{
    uint8_t old = msr_status(s), now, changed;
    bool was_loop = s->mcr & MCR_LOOP;

    s->mcr = v & MCR_MASK;
    now = msr_status(s);
    changed = old ^ now;
    /* Delta bits as the data sheet has them; TERI on RI's trailing edge. */
    s->msr_delta |= (changed & MSR_CTS) ? MSR_DCTS : 0;
    s->msr_delta |= (changed & MSR_DSR) ? MSR_DDSR : 0;
    s->msr_delta |= (changed & MSR_DCD) ? MSR_DDCD : 0;
    s->msr_delta |= ((old & MSR_RI) && !(now & MSR_RI)) ? MSR_TERI : 0;
    serial_update_irq(s);
    if (was_loop && !(s->mcr & MCR_LOOP)) {
        /* The receiver is connected to the line again. */
        vmm_chr_accept_input(s->chr);
    }
}

static uint8_t serial_read_reg(struct vmm_serial *s, unsigned off)
{
    uint8_t v;

    switch (off) {
    case REG_RBR_THR:
        if (s->lcr & LCR_DLAB) {
            return (uint8_t)s->divisor;
        }
        return serial_read_rbr(s);
    case REG_IER:
        if (s->lcr & LCR_DLAB) {
            return (uint8_t)(s->divisor >> 8);
        }
        return s->ier;
    case REG_IIR_FCR:
        v = s->iir;
        /* Reading IIR that reports THRE acknowledges it. */
        if ((v & IIR_ID_MASK) == IIR_THRI) {
            s->thr_ipending = false;
            serial_update_irq(s);
        }
        return v;
    case REG_LCR:
        return s->lcr;
    case REG_MCR:
        return s->mcr;
    case REG_LSR:
        v = s->lsr;
        /* Break and overrun are cleared by reading them. */
        if (s->lsr & (LSR_BI | LSR_OE)) {
            s->lsr &= (uint8_t) ~(LSR_BI | LSR_OE);
            serial_update_irq(s);
        }
        return v;
    case REG_MSR:
        v = msr_status(s) | s->msr_delta;
        if (s->msr_delta) {
            s->msr_delta = 0;
            serial_update_irq(s);
        }
        return v;
    default:
        return s->scr;
    }
}

static void serial_write_reg(struct vmm_serial *s, unsigned off, uint8_t v)
{
    switch (off) {
    case REG_RBR_THR:
        if (s->lcr & LCR_DLAB) {
            s->divisor = (uint16_t)((s->divisor & 0xff00) | v);
            serial_update_char_time(s);
        } else {
            serial_write_thr(s, v);
        }
        break;
    case REG_IER:
        if (s->lcr & LCR_DLAB) {
            s->divisor = (uint16_t)((s->divisor & 0x00ff) | (v << 8));
            serial_update_char_time(s);
        } else {
            serial_write_ier(s, v);
        }
        break;
    case REG_IIR_FCR:
        serial_write_fcr(s, v);
        break;
    case REG_LCR:
        s->lcr = v;
        serial_update_char_time(s);
        break;
    case REG_MCR:
        serial_write_mcr(s, v);
        break;
    case REG_SCR:
        s->scr = v;
        break;
    default:
        /* LSR and MSR are read-only (their factory-test writes ignored). */
        break;
    }
}

/*
 * Bus accesses: the UART decodes bytes; a 2- or 4-byte access is that
 * many byte accesses at consecutive ports, low byte first (QEMU splits
 * them the same way).  The bus never lets one straddle the region.
 */
static uint64_t serial_bus_read(void *opaque, uint64_t off, unsigned size)
{
    struct vmm_serial *s = opaque;
    uint64_t v = 0;
    unsigned i;

    if (size > 4) {
        s->stats.bad_accesses++;
        return UINT64_MAX;
    }
    for (i = 0; i < size; i++) {
        v |= (uint64_t)serial_read_reg(s, (unsigned)(off + i) & 7) << (8 * i);
    }
    return v;
}

static void serial_bus_write(void *opaque, uint64_t off, uint64_t value,
                             unsigned size)
{
    struct vmm_serial *s = opaque;
    unsigned i;

    if (size > 4) {
        s->stats.bad_accesses++;
        return;
    }
    for (i = 0; i < size; i++) {
        serial_write_reg(s, (unsigned)(off + i) & 7,
                         (uint8_t)(value >> (8 * i)));
    }
}

static const struct vmm_bus_ops serial_bus_ops = {
    .read = serial_bus_read,
    .write = serial_bus_write,
};

/* Chardev frontend: input only while the receiver has room. */
static size_t serial_can_receive(void *opaque)
{
    struct vmm_serial *s = opaque;

    if (s->mcr & MCR_LOOP) {
        /* Loopback disconnects the receiver from the line. */
        return 0;
    }
    if (fifo_on(s)) {
        return VMM_SERIAL_FIFO_SIZE - s->rx_count;
    }
    return (s->lsr & LSR_DR) ? 0 : 1;
}

static void serial_receive(void *opaque, const uint8_t *buf, size_t len)
{
    struct vmm_serial *s = opaque;
    size_t i;

    for (i = 0; i < len; i++) {
        serial_rx_put(s, buf[i]);
    }
    if (fifo_on(s)) {
        serial_arm_timeout(s);
    }
    serial_update_irq(s);
}

static void serial_event(void *opaque, enum vmm_chr_event event)
{
    struct vmm_serial *s = opaque;

    if (event != VMM_CHR_EVENT_BREAK) {
        return;
    }
    /* A break reads as a NUL character with LSR.BI. */
    serial_rx_put(s, 0);
    s->lsr |= LSR_BI;
    if (fifo_on(s)) {
        serial_arm_timeout(s);
    }
    serial_update_irq(s);
}

static void serial_writable(void *opaque)
{
    struct vmm_serial *s = opaque;

    serial_tx_drain(s);
    serial_update_irq(s);
}

static const struct vmm_chr_frontend serial_frontend = {
    .can_receive = serial_can_receive,
    .receive = serial_receive,
    .event = serial_event,
    .writable = serial_writable,
};

void vmm_serial_reset(struct vmm_serial *s)
{
    if (!s) {
        return;
    }
    loom_timer_del(s->timeout_timer);
    s->stats.tx_dropped += s->tx_count;
    s->tx_head = s->tx_count = 0;
    s->rx_head = s->rx_count = 0;
    s->rbr = 0;
    s->ier = 0;
    s->iir = IIR_NO_INT;
    s->lcr = 0;
    s->mcr = MCR_OUT2;
    s->lsr = LSR_THRE | LSR_TEMT;
    s->msr_delta = 0;
    s->scr = 0;
    s->fcr = 0;
    s->divisor = RESET_DIVISOR;
    s->rx_trigger = 1;
    s->thr_ipending = false;
    s->timeout_ipending = false;
    serial_update_char_time(s);
    s->irq_level = false;
    vmm_irq_set(&s->irq, false);
    vmm_chr_accept_input(s->chr);
}

int vmm_serial_new(struct vmm_bus *bus, uint16_t base,
                   const struct vmm_irq *irq, struct vmm_chr *chr,
                   struct vmm_serial **ret)
{
    struct vmm_serial *s;
    int err;

    if (!bus || !irq || !chr || !ret) {
        return -EINVAL;
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        return -ENOMEM;
    }
    s->bus = bus;
    s->base = base;
    s->irq = *irq;
    s->chr = chr;
    err = loom_timer_new(vmm_chr_loop(chr), LOOM_CLOCK_VIRTUAL,
                         serial_timeout_cb, s, &s->timeout_timer);
    if (err < 0) {
        goto fail;
    }
    vmm_serial_reset(s);
    err = vmm_chr_set_frontend(chr, &serial_frontend, s);
    if (err < 0) {
        goto fail_timer;
    }
    err = vmm_bus_add(bus, base, VMM_SERIAL_NR_PORTS, &serial_bus_ops, s, 0);
    if (err < 0) {
        goto fail_frontend;
    }
    *ret = s;
    return 0;

fail_frontend:
    vmm_chr_set_frontend(chr, NULL, NULL);
fail_timer:
    loom_timer_free(s->timeout_timer);
fail:
    free(s);
    return err;
}

void vmm_serial_free(struct vmm_serial *s)
{
    if (!s) {
        return;
    }
    (void)vmm_bus_remove(s->bus, s->base);
    vmm_chr_set_frontend(s->chr, NULL, NULL);
    loom_timer_free(s->timeout_timer);
    free(s);
}

int vmm_serial_flush(struct vmm_serial *s, int64_t timeout_ns)
{
    int64_t deadline = loom_clock_ns(LOOM_CLOCK_HOST) + timeout_ns;
    int ret;

    for (;;) {
        serial_tx_drain(s);
        serial_update_irq(s);
        ret = vmm_chr_flush(s->chr, deadline - loom_clock_ns(LOOM_CLOCK_HOST));
        if (ret < 0) {
            return ret;
        }
        if (s->tx_count == 0 || loom_clock_ns(LOOM_CLOCK_HOST) >= deadline) {
            break;
        }
    }
    return s->tx_count ? -ETIMEDOUT : 0;
}

void vmm_serial_stats(struct vmm_serial *s, struct vmm_serial_stats *st)
{
    if (s && st) {
        *st = s->stats;
    }
}
