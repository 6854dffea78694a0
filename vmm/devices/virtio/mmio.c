/* SPDX-License-Identifier: MIT */
/*
 * virtio-mmio transport (mmio.h).  Register accesses arrive on vCPU
 * threads with the BQL held (a BQL bus region), which serialises every
 * field below but two: the status byte, which a device thread may OR
 * DEVICE_NEEDS_RESET into, and InterruptStatus, which device threads set
 * and the driver acknowledges.  Both are atomics; the interrupt line is
 * driven under irq_lock so that a level-triggered line always matches
 * InterruptStatus (an edge-triggered irqfd ignores the deasserts).
 *
 * Guest input is checked everywhere: register accesses must be 32-bit and
 * aligned (the configuration space takes any width); a bad QueueNum is
 * ignored and the queue's QueueReady then refused; FEATURES_OK is refused
 * for features the device did not offer; DRIVER_OK without FEATURES_OK
 * (modern) sets DEVICE_NEEDS_RESET; notifications for queues that do not
 * run are ignored and counted.
 */
#include "devices/virtio/mmio.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <loom/clock.h>
#include <loom/thread.h>

#define MAX_QUEUES 16u
#define CONFIG_MAX (VMM_VIRTIO_MMIO_SIZE - VMM_VIRTIO_MMIO_CONFIG)
#define LEGACY_PAGE 4096u

struct mmio_queue {
    struct vmm_virtio_queue_cfg cfg;
    bool num_bad;   /* the last QueueNum write was refused */
    uint32_t align; /* legacy QueueAlign */
    uint32_t pfn;   /* legacy QueuePFN */
};

struct vmm_virtio_mmio {
    /* Immutable after vmm_virtio_mmio_new(). */
    struct vmm_virtio_dev_ops dev;
    struct vmm_irq irq;
    struct vmm_doorbells db;
    bool have_db;
    bool db_on[MAX_QUEUES];
    struct vmm_bus *bus;
    uint64_t base;
    bool legacy;
    uint64_t offered;
    char name[48];
    /* BQL. */
    uint32_t dev_features_sel;
    uint32_t drv_features_sel;
    uint64_t driver_features;
    uint32_t queue_sel;
    uint32_t guest_page_size;
    struct mmio_queue q[MAX_QUEUES];
    bool started;
    /* Atomic. */
    uint32_t status;
    uint32_t isr;
    uint32_t generation;
    int64_t last_warn_ns;
    struct vmm_virtio_mmio_stats stats;
    /* Serialises InterruptStatus changes with the line. */
    struct loom_mutex irq_lock;
};

#define STAT_INC(t, f) __atomic_fetch_add(&(t)->stats.f, 1, __ATOMIC_RELAXED)

static void warn(struct vmm_virtio_mmio *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A guest-triggered problem: at most one message per second. */
static void warn(struct vmm_virtio_mmio *t, const char *fmt, ...)
{
    int64_t now = loom_clock_ns(LOOM_CLOCK_HOST);
    int64_t last = __atomic_load_n(&t->last_warn_ns, __ATOMIC_RELAXED);
    va_list ap;

    if (last && now - last < 1000000000) {
        return;
    }
    if (!__atomic_compare_exchange_n(&t->last_warn_ns, &last, now, false,
                                     __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
        return;
    }
    fprintf(stderr, "%s: ", t->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* ------------------------------------------------------------------ */
/* Interrupts and the device's calls                                   */
/* ------------------------------------------------------------------ */

static void raise_irq(struct vmm_virtio_mmio *t, uint32_t bits)
{
    loom_mutex_lock(&t->irq_lock);
    __atomic_fetch_or(&t->isr, bits, __ATOMIC_SEQ_CST);
    STAT_INC(t, irqs);
    /* Edge lines fire on every assert: one interrupt per event. */
    vmm_irq_set(&t->irq, true);
    loom_mutex_unlock(&t->irq_lock);
}

static void ack_irq(struct vmm_virtio_mmio *t, uint32_t bits)
{
    loom_mutex_lock(&t->irq_lock);
    if (!(__atomic_and_fetch(&t->isr, ~bits, __ATOMIC_SEQ_CST))) {
        vmm_irq_set(&t->irq, false);
    }
    loom_mutex_unlock(&t->irq_lock);
}

static void host_used(void *opaque, unsigned q)
{
    raise_irq(opaque, VMM_VIRTIO_MMIO_INT_VRING);
}

/* The counter last: whoever sees it sees the status and the interrupt. */
static void set_needs_reset(struct vmm_virtio_mmio *t, const char *why)
{
    if (t->legacy) {
        /* No such bit in version 1: the queue just stops. */
        warn(t, "%s; the device stops (legacy: no NEEDS_RESET)", why);
    } else {
        warn(t, "%s: DEVICE_NEEDS_RESET", why);
        __atomic_fetch_or(&t->status, VMM_VIRTIO_S_NEEDS_RESET,
                          __ATOMIC_SEQ_CST);
        raise_irq(t, VMM_VIRTIO_MMIO_INT_CONFIG);
    }
    __atomic_fetch_add(&t->stats.needs_reset, 1, __ATOMIC_SEQ_CST);
}

static void host_needs_reset(void *opaque, unsigned q)
{
    char why[48];

    snprintf(why, sizeof(why), "queue %u: ring corrupted", q);
    set_needs_reset(opaque, why);
}

static void host_config_changed(void *opaque)
{
    struct vmm_virtio_mmio *t = opaque;

    __atomic_fetch_add(&t->generation, 1, __ATOMIC_SEQ_CST);
    raise_irq(t, VMM_VIRTIO_MMIO_INT_CONFIG);
}

struct vmm_virtio_host vmm_virtio_mmio_host(struct vmm_virtio_mmio *t)
{
    return (struct vmm_virtio_host){
        .used = host_used,
        .needs_reset = host_needs_reset,
        .config_changed = host_config_changed,
        .opaque = t,
    };
}

/* ------------------------------------------------------------------ */
/* Registers                                                           */
/* ------------------------------------------------------------------ */

static struct mmio_queue *sel_queue(struct vmm_virtio_mmio *t)
{
    return t->queue_sel < t->dev.num_queues ? &t->q[t->queue_sel] : NULL;
}

static uint32_t status_get(const struct vmm_virtio_mmio *t)
{
    return __atomic_load_n(&t->status, __ATOMIC_SEQ_CST);
}

static uint32_t read_queue_reg(struct vmm_virtio_mmio *t, uint64_t off)
{
    struct mmio_queue *q = sel_queue(t);

    if (!q) {
        return 0;
    }
    switch (off) {
    case VMM_VIRTIO_MMIO_QUEUE_NUM_MAX:
        return t->dev.max_queue_size;
    case VMM_VIRTIO_MMIO_QUEUE_NUM:
        return q->cfg.size;
    case VMM_VIRTIO_MMIO_QUEUE_READY:
        return t->legacy ? 0 : q->cfg.ready;
    case VMM_VIRTIO_MMIO_QUEUE_PFN:
        return t->legacy ? q->pfn : 0;
    }
    return 0;
}

static uint32_t read_reg(struct vmm_virtio_mmio *t, uint64_t off)
{
    switch (off) {
    case VMM_VIRTIO_MMIO_MAGIC:
        return VMM_VIRTIO_MMIO_MAGIC_VALUE;
    case VMM_VIRTIO_MMIO_VERSION:
        return t->legacy ? 1 : 2;
    case VMM_VIRTIO_MMIO_DEVICE_ID:
        return t->dev.device_id;
    case VMM_VIRTIO_MMIO_VENDOR_ID:
        return VMM_VIRTIO_MMIO_VENDOR_VALUE;
    case VMM_VIRTIO_MMIO_DEVICE_FEATURES:
        return t->dev_features_sel < 2
                   ? (uint32_t)(t->offered >> (32 * t->dev_features_sel))
                   : 0;
    case VMM_VIRTIO_MMIO_QUEUE_NUM_MAX:
    case VMM_VIRTIO_MMIO_QUEUE_NUM:
    case VMM_VIRTIO_MMIO_QUEUE_READY:
    case VMM_VIRTIO_MMIO_QUEUE_PFN:
        return read_queue_reg(t, off);
    case VMM_VIRTIO_MMIO_INTERRUPT_STATUS:
        return __atomic_load_n(&t->isr, __ATOMIC_SEQ_CST);
    case VMM_VIRTIO_MMIO_STATUS:
        return status_get(t);
    case VMM_VIRTIO_MMIO_SHM_LEN_LOW:
    case VMM_VIRTIO_MMIO_SHM_LEN_HIGH:
    case VMM_VIRTIO_MMIO_SHM_BASE_LOW:
    case VMM_VIRTIO_MMIO_SHM_BASE_HIGH:
        /* No shared memory regions: length and base read as -1. */
        return t->legacy ? 0 : 0xffffffffu;
    case VMM_VIRTIO_MMIO_CONFIG_GENERATION:
        return t->legacy ? 0
                         : __atomic_load_n(&t->generation, __ATOMIC_SEQ_CST);
    }
    return 0;
}

static void config_access(struct vmm_virtio_mmio *t, uint64_t off, void *buf,
                          unsigned size, bool write)
{
    unsigned n = 0;

    off -= VMM_VIRTIO_MMIO_CONFIG;
    if (off < t->dev.config_size) {
        n = t->dev.config_size - (unsigned)off;
        n = n < size ? n : size;
    }
    if (write) {
        if (n && t->dev.config_write) {
            t->dev.config_write(t->dev.opaque, (unsigned)off, buf, n);
        }
        return;
    }
    memset(buf, 0, size);
    if (n && t->dev.config_read) {
        t->dev.config_read(t->dev.opaque, (unsigned)off, buf, n);
    }
}

static uint64_t mmio_read(void *opaque, uint64_t off, unsigned size)
{
    struct vmm_virtio_mmio *t = opaque;
    uint64_t v = 0;

    if (off >= VMM_VIRTIO_MMIO_CONFIG) {
        config_access(t, off, &v, size, false);
        return v;
    }
    if (size != 4 || (off & 3)) {
        STAT_INC(t, bad_accesses);
        return 0;
    }
    return read_reg(t, off);
}

/* The legacy rings of @q, laid out from its PFN (4.2.4). */
static void legacy_layout(struct vmm_virtio_mmio *t, struct mmio_queue *q)
{
    uint64_t page = t->guest_page_size ? t->guest_page_size : LEGACY_PAGE;
    uint64_t align = q->align ? q->align : LEGACY_PAGE;
    uint64_t n = q->cfg.size;

    q->cfg.desc = (uint64_t)q->pfn * page;
    q->cfg.avail = q->cfg.desc + 16 * n;
    q->cfg.used = (q->cfg.avail + 6 + 2 * n + align - 1) & ~(align - 1);
}

static bool pow2(uint32_t v)
{
    return v && !(v & (v - 1));
}

static void write_queue_num(struct vmm_virtio_mmio *t, struct mmio_queue *q,
                            uint32_t v)
{
    if (!pow2(v) || v > t->dev.max_queue_size) {
        STAT_INC(t, bad_queue_num);
        warn(t, "queue %u: bad QueueNum %u ignored", t->queue_sel, v);
        q->num_bad = true;
        return;
    }
    q->cfg.size = (uint16_t)v;
    q->num_bad = false;
}

static void write_queue_ready(struct vmm_virtio_mmio *t, struct mmio_queue *q,
                              bool ready)
{
    if (ready && (q->num_bad || !q->cfg.size)) {
        STAT_INC(t, refused_ready);
        warn(t, "queue %u: enabled without a valid QueueNum: refused",
             t->queue_sel);
        ready = false;
    }
    q->cfg.ready = ready;
}

static void write_queue_addr(struct mmio_queue *q, uint64_t off, uint32_t v)
{
    uint64_t *a;

    if (off < VMM_VIRTIO_MMIO_QUEUE_DRIVER_LOW) {
        a = &q->cfg.desc;
    } else if (off < VMM_VIRTIO_MMIO_QUEUE_DEVICE_LOW) {
        a = &q->cfg.avail;
    } else {
        a = &q->cfg.used;
    }
    if (off & 4) {
        *a = (*a & 0xffffffffu) | ((uint64_t)v << 32);
    } else {
        *a = (*a & ~0xffffffffull) | v;
    }
}

/* Writes to the selected queue's registers. */
static void write_queue_reg(struct vmm_virtio_mmio *t, uint64_t off, uint32_t v)
{
    struct mmio_queue *q = sel_queue(t);

    if (!q || t->started ||
        (q->cfg.ready && off != VMM_VIRTIO_MMIO_QUEUE_READY &&
         off != VMM_VIRTIO_MMIO_QUEUE_PFN)) {
        /* No such queue, or it is live: its setup cannot change. */
        return;
    }
    switch (off) {
    case VMM_VIRTIO_MMIO_QUEUE_NUM:
        write_queue_num(t, q, v);
        return;
    case VMM_VIRTIO_MMIO_QUEUE_ALIGN:
        if (t->legacy && pow2(v)) {
            q->align = v;
        }
        return;
    case VMM_VIRTIO_MMIO_QUEUE_PFN:
        if (!t->legacy) {
            return;
        }
        q->pfn = v;
        if (v) {
            legacy_layout(t, q);
        }
        write_queue_ready(t, q, v != 0);
        return;
    case VMM_VIRTIO_MMIO_QUEUE_READY:
        if (!t->legacy) {
            write_queue_ready(t, q, v & 1);
        }
        return;
    default:
        if (!t->legacy) {
            write_queue_addr(q, off, v);
        }
        return;
    }
}

static void write_features(struct vmm_virtio_mmio *t, uint32_t v)
{
    uint32_t sel = t->drv_features_sel;

    if ((status_get(t) & VMM_VIRTIO_S_FEATURES_OK) || sel >= 2 ||
        (t->legacy && sel)) {
        return;
    }
    t->driver_features &= ~(0xffffffffull << (32 * sel));
    t->driver_features |= (uint64_t)v << (32 * sel);
}

static void notify(struct vmm_virtio_mmio *t, uint32_t v)
{
    if (v >= t->dev.num_queues || !t->started || !t->q[v].cfg.ready ||
        !t->dev.notify(t->dev.opaque, v)) {
        STAT_INC(t, notifies_ignored);
        return;
    }
    STAT_INC(t, notifies);
}

static void device_reset(struct vmm_virtio_mmio *t)
{
    STAT_INC(t, resets);
    /* In-flight requests are completed or cancelled before this returns. */
    t->dev.reset(t->dev.opaque);
    t->started = false;
    t->dev_features_sel = 0;
    t->drv_features_sel = 0;
    t->driver_features = 0;
    t->queue_sel = 0;
    memset(t->q, 0, sizeof(t->q));
    ack_irq(t, ~0u);
    __atomic_store_n(&t->status, 0, __ATOMIC_SEQ_CST);
}

/* FEATURES_OK: only features offered; modern drivers must take VERSION_1. */
static bool features_ok(struct vmm_virtio_mmio *t)
{
    if ((t->driver_features & ~t->offered) ||
        !(t->driver_features & (1ull << VMM_VIRTIO_F_VERSION_1))) {
        STAT_INC(t, features_refused);
        warn(t, "FEATURES_OK refused for features 0x%llx (offered 0x%llx)",
             (unsigned long long)t->driver_features,
             (unsigned long long)t->offered);
        return false;
    }
    return true;
}

static void driver_ok(struct vmm_virtio_mmio *t, uint32_t status)
{
    uint64_t features = t->driver_features & t->offered;
    struct vmm_virtio_queue_cfg qs[MAX_QUEUES];
    unsigned i;
    int err;

    if (!t->legacy && !(status & VMM_VIRTIO_S_FEATURES_OK)) {
        set_needs_reset(t, "DRIVER_OK without FEATURES_OK");
        return;
    }
    for (i = 0; i < t->dev.num_queues; i++) {
        qs[i] = t->q[i].cfg;
    }
    t->started = true;
    err = t->dev.start(t->dev.opaque, features, qs, t->dev.num_queues);
    if (err) {
        set_needs_reset(t, "the device failed to start");
    }
}

static void write_status(struct vmm_virtio_mmio *t, uint32_t v)
{
    uint32_t old = status_get(t), new_bits;

    /* Only the driver's bits of the low byte count. */
    v &= 0xff & ~VMM_VIRTIO_S_NEEDS_RESET;
    new_bits = v & ~old;
    if (!t->legacy && (new_bits & VMM_VIRTIO_S_FEATURES_OK) &&
        !features_ok(t)) {
        v &= ~VMM_VIRTIO_S_FEATURES_OK;
        new_bits &= ~VMM_VIRTIO_S_FEATURES_OK;
    }
    /*
     * Nothing left (0, 0x100, a refused FEATURES_OK alone): a reset, as
     * QEMU resets on a zero low byte.  Storing 0 without one would tell
     * the driver "reset" while the device still runs.
     */
    if (!v) {
        device_reset(t);
        return;
    }
    /* NEEDS_RESET belongs to the device; keep it if a device thread set it. */
    while (!__atomic_compare_exchange_n(
        &t->status, &old, v | (old & VMM_VIRTIO_S_NEEDS_RESET), false,
        __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
    }
    if ((new_bits & VMM_VIRTIO_S_DRIVER_OK) && !t->started) {
        driver_ok(t, v);
    }
}

static void write_reg(struct vmm_virtio_mmio *t, uint64_t off, uint32_t v)
{
    switch (off) {
    case VMM_VIRTIO_MMIO_DEVICE_FEATURES_SEL:
        t->dev_features_sel = v;
        return;
    case VMM_VIRTIO_MMIO_DRIVER_FEATURES:
        write_features(t, v);
        return;
    case VMM_VIRTIO_MMIO_DRIVER_FEATURES_SEL:
        t->drv_features_sel = v;
        return;
    case VMM_VIRTIO_MMIO_GUEST_PAGE_SIZE:
        if (t->legacy && pow2(v)) {
            t->guest_page_size = v;
        }
        return;
    case VMM_VIRTIO_MMIO_QUEUE_SEL:
        t->queue_sel = v;
        return;
    case VMM_VIRTIO_MMIO_QUEUE_NOTIFY:
        notify(t, v);
        return;
    case VMM_VIRTIO_MMIO_INTERRUPT_ACK:
        ack_irq(t, v);
        return;
    case VMM_VIRTIO_MMIO_STATUS:
        write_status(t, v);
        return;
    case VMM_VIRTIO_MMIO_QUEUE_NUM:
    case VMM_VIRTIO_MMIO_QUEUE_ALIGN:
    case VMM_VIRTIO_MMIO_QUEUE_PFN:
    case VMM_VIRTIO_MMIO_QUEUE_READY:
    case VMM_VIRTIO_MMIO_QUEUE_DESC_LOW:
    case VMM_VIRTIO_MMIO_QUEUE_DESC_HIGH:
    case VMM_VIRTIO_MMIO_QUEUE_DRIVER_LOW:
    case VMM_VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
    case VMM_VIRTIO_MMIO_QUEUE_DEVICE_LOW:
    case VMM_VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
        write_queue_reg(t, off, v);
        return;
    }
}

static void mmio_write(void *opaque, uint64_t off, uint64_t value,
                       unsigned size)
{
    struct vmm_virtio_mmio *t = opaque;

    if (off >= VMM_VIRTIO_MMIO_CONFIG) {
        config_access(t, off, &value, size, true);
        return;
    }
    if (size != 4 || (off & 3)) {
        STAT_INC(t, bad_accesses);
        return;
    }
    write_reg(t, off, (uint32_t)value);
}

static const struct vmm_bus_ops g_mmio_ops = {
    .read = mmio_read,
    .write = mmio_write,
};

/* ------------------------------------------------------------------ */
/* Life cycle                                                          */
/* ------------------------------------------------------------------ */

static void doorbells_add(struct vmm_virtio_mmio *t)
{
    unsigned q;
    int fd, err;

    if (!t->have_db || !t->dev.notifier_fd) {
        return;
    }
    for (q = 0; q < t->dev.num_queues; q++) {
        fd = t->dev.notifier_fd(t->dev.opaque, q);
        if (fd < 0) {
            continue;
        }
        err = t->db.add(t->db.opaque, fd,
                        t->base + VMM_VIRTIO_MMIO_QUEUE_NOTIFY, 4, q);
        if (err) {
            fprintf(stderr,
                    "%s: queue %u: no doorbell (%s); notifications "
                    "will exit\n",
                    t->name, q, strerror(-err));
            continue;
        }
        t->db_on[q] = true;
        STAT_INC(t, doorbells);
    }
}

static void doorbells_del(struct vmm_virtio_mmio *t)
{
    unsigned q;

    for (q = 0; q < t->dev.num_queues; q++) {
        if (t->db_on[q]) {
            (void)t->db.del(t->db.opaque, t->dev.notifier_fd(t->dev.opaque, q),
                            t->base + VMM_VIRTIO_MMIO_QUEUE_NOTIFY, 4, q);
            t->db_on[q] = false;
        }
    }
}

static bool opts_ok(const struct vmm_virtio_mmio_opts *o)
{
    const struct vmm_virtio_dev_ops *d = o->dev;

    return d && o->bus && d->num_queues >= 1 && d->num_queues <= MAX_QUEUES &&
           pow2(d->max_queue_size) &&
           d->max_queue_size <= VMM_VIRTIO_MAX_QUEUE_SIZE &&
           d->config_size <= CONFIG_MAX && d->start && d->reset && d->notify;
}

int vmm_virtio_mmio_new(const struct vmm_virtio_mmio_opts *o,
                        struct vmm_virtio_mmio **ret)
{
    struct vmm_virtio_mmio *t;
    int err;

    if (!o || !ret || !opts_ok(o)) {
        return -EINVAL;
    }
    t = calloc(1, sizeof(*t));
    if (!t) {
        return -ENOMEM;
    }
    t->dev = *o->dev;
    if (o->irq) {
        t->irq = *o->irq;
    }
    if (o->doorbells && o->doorbells->add && o->doorbells->del) {
        t->db = *o->doorbells;
        t->have_db = true;
    }
    t->bus = o->bus;
    t->base = o->base;
    t->legacy = o->legacy;
    t->offered = t->dev.features & ~(1ull << VMM_VIRTIO_F_VERSION_1);
    if (!t->legacy) {
        t->offered |= 1ull << VMM_VIRTIO_F_VERSION_1;
    }
    snprintf(t->name, sizeof(t->name), "%s@0x%llx",
             o->name ? o->name : "virtio-mmio", (unsigned long long)o->base);
    loom_mutex_init(&t->irq_lock);
    err = vmm_bus_add(t->bus, t->base, VMM_VIRTIO_MMIO_SIZE, &g_mmio_ops, t, 0);
    if (err) {
        loom_mutex_destroy(&t->irq_lock);
        free(t);
        return err;
    }
    doorbells_add(t);
    *ret = t;
    return 0;
}

void vmm_virtio_mmio_free(struct vmm_virtio_mmio *t)
{
    if (!t) {
        return;
    }
    doorbells_del(t);
    (void)vmm_bus_remove(t->bus, t->base);
    loom_mutex_destroy(&t->irq_lock);
    free(t);
}

void vmm_virtio_mmio_stats(const struct vmm_virtio_mmio *t,
                           struct vmm_virtio_mmio_stats *st)
{
    const uint64_t *src = (const uint64_t *)&t->stats;
    uint64_t *dst = (uint64_t *)st;
    size_t i;

    for (i = 0; i < sizeof(*st) / sizeof(uint64_t); i++) {
        dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
    }
}

void vmm_virtio_mmio_reset(struct vmm_virtio_mmio *t)
{
    device_reset(t);
}

uint32_t vmm_virtio_mmio_status(const struct vmm_virtio_mmio *t)
{
    return status_get(t);
}
