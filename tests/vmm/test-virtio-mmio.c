/* SPDX-License-Identifier: MIT */
/*
 * The virtio-mmio transport (vmm/devices/virtio/mmio.c) with a fake device,
 * a fake interrupt line and fake doorbells, through the MMIO bus as a
 * vCPU would reach it: both register layouts, feature negotiation,
 * queue programming and its refusals, notifications, interrupts, device
 * status rules and reset.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include <loom/main.h>

#include "devices/virtio/mmio.h"
#include "harness.h"

#define BASE 0xfeb00e00ull
#define FEAT_DEV                                                               \
    ((1ull << 1) | (1ull << VMM_VIRTIO_F_EVENT_IDX) |                          \
     (1ull << VMM_VIRTIO_F_INDIRECT_DESC))

struct fake {
    struct vmm_bus *bus;
    struct vmm_virtio_mmio *t;
    struct vmm_virtio_host host;
    struct vmm_virtio_dev_ops ops;
    struct vmm_irq irq;
    struct vmm_doorbells db;
    /* The device. */
    uint8_t config[8];
    unsigned starts, resets, notifies[2];
    int start_ret;
    bool serving;
    uint64_t features;
    struct vmm_virtio_queue_cfg qs[2];
    int efd[2];
    /* The line. */
    bool level;
    unsigned asserts;
    /* The doorbells. */
    unsigned db_add, db_del;
    uint64_t db_addr[2], db_data[2];
    unsigned db_len[2];
};

static void cfg_read(void *opaque, unsigned off, void *buf, unsigned len)
{
    struct fake *f = opaque;

    g_assert_cmpuint(off + len, <=, sizeof(f->config));
    memcpy(buf, f->config + off, len);
}

static void cfg_write(void *opaque, unsigned off, const void *buf, unsigned len)
{
    struct fake *f = opaque;

    g_assert_cmpuint(off + len, <=, sizeof(f->config));
    memcpy(f->config + off, buf, len);
}

static int dev_start(void *opaque, uint64_t features,
                     const struct vmm_virtio_queue_cfg *qs, unsigned nq)
{
    struct fake *f = opaque;

    g_assert_cmpuint(nq, ==, 2);
    f->starts++;
    f->features = features;
    memcpy(f->qs, qs, sizeof(f->qs));
    f->serving = !f->start_ret;
    return f->start_ret;
}

static void dev_reset(void *opaque)
{
    struct fake *f = opaque;

    f->resets++;
    f->serving = false;
    memset(f->config, 0, sizeof(f->config));
}

static bool dev_notify(void *opaque, unsigned q)
{
    struct fake *f = opaque;

    g_assert_cmpuint(q, <, 2);
    f->notifies[q]++;
    return f->serving;
}

static int dev_fd(void *opaque, unsigned q)
{
    struct fake *f = opaque;

    return f->efd[q];
}

static void irq_set(void *opaque, bool level)
{
    struct fake *f = opaque;

    f->asserts += level;
    f->level = level;
}

static int db_add(void *opaque, int fd, uint64_t addr, unsigned len,
                  uint64_t data)
{
    struct fake *f = opaque;

    g_assert_cmpint(fd, ==, f->efd[data]);
    f->db_addr[data] = addr;
    f->db_len[data] = len;
    f->db_data[data] = data;
    f->db_add++;
    return 0;
}

static int db_del(void *opaque, int fd, uint64_t addr, unsigned len,
                  uint64_t data)
{
    struct fake *f = opaque;

    g_assert_cmpint(fd, ==, f->efd[data]);
    f->db_del++;
    return 0;
}

static void fake_init(struct fake *f, bool legacy)
{
    struct vmm_virtio_mmio_opts o = {0};

    memset(f, 0, sizeof(*f));
    f->efd[0] = eventfd(0, EFD_CLOEXEC);
    f->efd[1] = eventfd(0, EFD_CLOEXEC);
    f->ops = (struct vmm_virtio_dev_ops){
        .device_id = 2,
        .num_queues = 2,
        .max_queue_size = 256,
        .config_size = sizeof(f->config),
        .features = FEAT_DEV,
        .config_read = cfg_read,
        .config_write = cfg_write,
        .start = dev_start,
        .reset = dev_reset,
        .notify = dev_notify,
        .notifier_fd = dev_fd,
        .opaque = f,
    };
    f->irq = (struct vmm_irq){irq_set, f};
    f->db = (struct vmm_doorbells){db_add, db_del, f};
    g_assert_cmpint(vmm_bus_new(UINT64_MAX, &f->bus), ==, 0);
    o.dev = &f->ops;
    o.irq = &f->irq;
    o.bus = f->bus;
    o.base = BASE;
    o.doorbells = &f->db;
    o.legacy = legacy;
    o.name = "test";
    g_assert_cmpint(vmm_virtio_mmio_new(&o, &f->t), ==, 0);
    f->host = vmm_virtio_mmio_host(f->t);
}

static void fake_destroy(struct fake *f)
{
    loom_bql_lock();
    vmm_virtio_mmio_free(f->t);
    loom_bql_unlock();
    vmm_bus_free(f->bus);
    close(f->efd[0]);
    close(f->efd[1]);
}

static uint32_t rd(struct fake *f, uint64_t off)
{
    uint32_t v = 0;

    g_assert_cmpint(vmm_bus_read(f->bus, BASE + off, &v, 4), ==, 0);
    return v;
}

static void wr(struct fake *f, uint64_t off, uint32_t v)
{
    g_assert_cmpint(vmm_bus_write(f->bus, BASE + off, &v, 4), ==, 0);
}

static struct vmm_virtio_mmio_stats stats(struct fake *f)
{
    struct vmm_virtio_mmio_stats st;

    vmm_virtio_mmio_stats(f->t, &st);
    return st;
}

static uint64_t offered(struct fake *f)
{
    uint64_t lo, hi;

    wr(f, VMM_VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    lo = rd(f, VMM_VIRTIO_MMIO_DEVICE_FEATURES);
    wr(f, VMM_VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    hi = rd(f, VMM_VIRTIO_MMIO_DEVICE_FEATURES);
    return lo | hi << 32;
}

static void set_features(struct fake *f, uint64_t v)
{
    wr(f, VMM_VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    wr(f, VMM_VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)v);
    wr(f, VMM_VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    wr(f, VMM_VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(v >> 32));
}

static void setup_queue(struct fake *f, unsigned q, uint32_t num, uint64_t desc,
                        uint64_t avail, uint64_t used)
{
    wr(f, VMM_VIRTIO_MMIO_QUEUE_SEL, q);
    wr(f, VMM_VIRTIO_MMIO_QUEUE_NUM, num);
    wr(f, VMM_VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
    wr(f, VMM_VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
    wr(f, VMM_VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)avail);
    wr(f, VMM_VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(avail >> 32));
    wr(f, VMM_VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)used);
    wr(f, VMM_VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(used >> 32));
    wr(f, VMM_VIRTIO_MMIO_QUEUE_READY, 1);
}

/* The modern driver sequence up to FEATURES_OK; true if accepted. */
static bool negotiate(struct fake *f, uint64_t features)
{
    wr(f, VMM_VIRTIO_MMIO_STATUS, 0);
    wr(f, VMM_VIRTIO_MMIO_STATUS, VMM_VIRTIO_S_ACKNOWLEDGE);
    wr(f, VMM_VIRTIO_MMIO_STATUS,
       VMM_VIRTIO_S_ACKNOWLEDGE | VMM_VIRTIO_S_DRIVER);
    set_features(f, features);
    wr(f, VMM_VIRTIO_MMIO_STATUS,
       VMM_VIRTIO_S_ACKNOWLEDGE | VMM_VIRTIO_S_DRIVER |
           VMM_VIRTIO_S_FEATURES_OK);
    return rd(f, VMM_VIRTIO_MMIO_STATUS) & VMM_VIRTIO_S_FEATURES_OK;
}

static const uint32_t S_ALL = VMM_VIRTIO_S_ACKNOWLEDGE | VMM_VIRTIO_S_DRIVER |
                              VMM_VIRTIO_S_FEATURES_OK | VMM_VIRTIO_S_DRIVER_OK;

static void test_identity(void)
{
    struct fake f;
    uint8_t b;
    uint16_t h;

    fake_init(&f, false);
    g_assert_cmphex(rd(&f, VMM_VIRTIO_MMIO_MAGIC), ==, 0x74726976);
    g_assert_cmpuint(rd(&f, VMM_VIRTIO_MMIO_VERSION), ==, 2);
    g_assert_cmpuint(rd(&f, VMM_VIRTIO_MMIO_DEVICE_ID), ==, 2);
    g_assert_cmphex(rd(&f, VMM_VIRTIO_MMIO_VENDOR_ID), ==, 0x554d4551);
    g_assert_cmphex(offered(&f), ==,
                    FEAT_DEV | (1ull << VMM_VIRTIO_F_VERSION_1));
    wr(&f, VMM_VIRTIO_MMIO_DEVICE_FEATURES_SEL, 7);
    g_assert_cmpuint(rd(&f, VMM_VIRTIO_MMIO_DEVICE_FEATURES), ==, 0);
    g_assert_cmphex(rd(&f, VMM_VIRTIO_MMIO_SHM_LEN_LOW), ==, 0xffffffff);
    wr(&f, VMM_VIRTIO_MMIO_QUEUE_SEL, 1);
    g_assert_cmpuint(rd(&f, VMM_VIRTIO_MMIO_QUEUE_NUM_MAX), ==, 256);
    wr(&f, VMM_VIRTIO_MMIO_QUEUE_SEL, 2);
    g_assert_cmpuint(rd(&f, VMM_VIRTIO_MMIO_QUEUE_NUM_MAX), ==, 0);
    /* Wrong sizes and alignment: ignored, counted. */
    g_assert_cmpint(vmm_bus_read(f.bus, BASE, &b, 1), ==, 0);
    g_assert_cmpuint(b, ==, 0);
    g_assert_cmpint(vmm_bus_read(f.bus, BASE + 2, &h, 2), ==, 0);
    g_assert_cmpuint(stats(&f).bad_accesses, ==, 2);
    /* The configuration space: any width, zeroes past its end. */
    memcpy(f.config, "\x11\x22\x33\x44\x55\x66\x77\x88", 8);
    g_assert_cmpint(vmm_bus_read(f.bus, BASE + 0x101, &b, 1), ==, 0);
    g_assert_cmphex(b, ==, 0x22);
    g_assert_cmphex(rd(&f, 0x104), ==, 0x88776655);
    g_assert_cmphex(rd(&f, 0x106), ==, 0x8877);
    g_assert_cmphex(rd(&f, 0x108), ==, 0);
    h = 0xabcd;
    g_assert_cmpint(vmm_bus_write(f.bus, BASE + 0x102, &h, 2), ==, 0);
    g_assert_cmphex(f.config[2], ==, 0xcd);
    g_assert_cmphex(f.config[3], ==, 0xab);
    wr(&f, 0x1fc, 1); /* past the device's space: dropped */
    /* Doorbells: QueueNotify, 4 bytes, datamatch = queue. */
    g_assert_cmpuint(f.db_add, ==, 2);
    g_assert_cmphex(f.db_addr[1], ==, BASE + 0x50);
    g_assert_cmpuint(f.db_len[1], ==, 4);
    g_assert_cmpuint(f.db_data[1], ==, 1);
    g_assert_cmpuint(stats(&f).doorbells, ==, 2);
    fake_destroy(&f);
    g_assert_cmpuint(f.db_del, ==, 2);
}

static void test_features(void)
{
    struct fake f;
    uint64_t v1 = 1ull << VMM_VIRTIO_F_VERSION_1;

    fake_init(&f, false);
    /* Unknown feature bits: refused. */
    g_assert_false(negotiate(&f, v1 | (1ull << 3)));
    g_assert_cmpuint(stats(&f).features_refused, ==, 1);
    /* A modern driver without VERSION_1: refused. */
    g_assert_false(negotiate(&f, 1ull << VMM_VIRTIO_F_EVENT_IDX));
    g_assert_cmpuint(stats(&f).features_refused, ==, 2);
    /* A subset of what is offered: fine, and frozen after FEATURES_OK. */
    g_assert_true(negotiate(&f, v1 | (1ull << VMM_VIRTIO_F_EVENT_IDX)));
    set_features(&f, v1 | FEAT_DEV);
    setup_queue(&f, 0, 64, 0x1000, 0x2000, 0x3000);
    wr(&f, VMM_VIRTIO_MMIO_STATUS, S_ALL);
    g_assert_cmpuint(f.starts, ==, 1);
    g_assert_cmphex(f.features, ==, v1 | (1ull << VMM_VIRTIO_F_EVENT_IDX));
    g_assert_cmpuint(rd(&f, VMM_VIRTIO_MMIO_STATUS), ==, S_ALL);
    /* DRIVER_OK again does not start twice. */
    wr(&f, VMM_VIRTIO_MMIO_STATUS, S_ALL);
    g_assert_cmpuint(f.starts, ==, 1);
    fake_destroy(&f);
}

static void test_driver_ok_without_features_ok(void)
{
    struct fake f;

    fake_init(&f, false);
    wr(&f, VMM_VIRTIO_MMIO_STATUS,
       VMM_VIRTIO_S_ACKNOWLEDGE | VMM_VIRTIO_S_DRIVER | VMM_VIRTIO_S_DRIVER_OK);
    g_assert_cmpuint(f.starts, ==, 0);
    g_assert_true(rd(&f, VMM_VIRTIO_MMIO_STATUS) & VMM_VIRTIO_S_NEEDS_RESET);
    g_assert_cmphex(rd(&f, VMM_VIRTIO_MMIO_INTERRUPT_STATUS), ==,
                    VMM_VIRTIO_MMIO_INT_CONFIG);
    g_assert_true(f.level);
    g_assert_cmpuint(stats(&f).needs_reset, ==, 1);
    /* The driver cannot clear NEEDS_RESET; a reset does. */
    wr(&f, VMM_VIRTIO_MMIO_STATUS, VMM_VIRTIO_S_ACKNOWLEDGE);
    g_assert_true(rd(&f, VMM_VIRTIO_MMIO_STATUS) & VMM_VIRTIO_S_NEEDS_RESET);
    wr(&f, VMM_VIRTIO_MMIO_STATUS, 0);
    g_assert_cmpuint(rd(&f, VMM_VIRTIO_MMIO_STATUS), ==, 0);
    g_assert_cmpuint(rd(&f, VMM_VIRTIO_MMIO_INTERRUPT_STATUS), ==, 0);
    g_assert_false(f.level);
    fake_destroy(&f);
}

static void test_queue_setup(void)
{
    static const uint32_t bad[] = {0, 3, 100, 512, 0x10000};
    struct fake f;
    unsigned i;

    fake_init(&f, false);
    g_assert_true(negotiate(&f, 1ull << VMM_VIRTIO_F_VERSION_1));
    /* Bad sizes are ignored, and the queue can then not be enabled. */
    for (i = 0; i < G_N_ELEMENTS(bad); i++) {
        wr(&f, VMM_VIRTIO_MMIO_QUEUE_SEL, 1);
        wr(&f, VMM_VIRTIO_MMIO_QUEUE_NUM, bad[i]);
        g_assert_cmpuint(rd(&f, VMM_VIRTIO_MMIO_QUEUE_NUM), ==, 0);
        wr(&f, VMM_VIRTIO_MMIO_QUEUE_READY, 1);
        g_assert_cmpuint(rd(&f, VMM_VIRTIO_MMIO_QUEUE_READY), ==, 0);
    }
    g_assert_cmpuint(stats(&f).bad_queue_num, ==, G_N_ELEMENTS(bad));
    g_assert_cmpuint(stats(&f).refused_ready, ==, G_N_ELEMENTS(bad));
    /* A good size after a bad one; then a bad one keeps it refused. */
    wr(&f, VMM_VIRTIO_MMIO_QUEUE_NUM, 128);
    wr(&f, VMM_VIRTIO_MMIO_QUEUE_NUM, 7);
    wr(&f, VMM_VIRTIO_MMIO_QUEUE_READY, 1);
    g_assert_cmpuint(rd(&f, VMM_VIRTIO_MMIO_QUEUE_READY), ==, 0);
    setup_queue(&f, 1, 128, 0x100001000ull, 0x100002000ull, 0x100003000ull);
    g_assert_cmpuint(rd(&f, VMM_VIRTIO_MMIO_QUEUE_READY), ==, 1);
    /* A live queue's setup does not change. */
    wr(&f, VMM_VIRTIO_MMIO_QUEUE_NUM, 64);
    g_assert_cmpuint(rd(&f, VMM_VIRTIO_MMIO_QUEUE_NUM), ==, 128);
    wr(&f, VMM_VIRTIO_MMIO_QUEUE_SEL, 9);
    wr(&f, VMM_VIRTIO_MMIO_QUEUE_NUM, 64); /* no such queue */
    wr(&f, VMM_VIRTIO_MMIO_STATUS, S_ALL);
    g_assert_cmpuint(f.starts, ==, 1);
    g_assert_false(f.qs[0].ready);
    g_assert_true(f.qs[1].ready);
    g_assert_cmpuint(f.qs[1].size, ==, 128);
    g_assert_cmphex(f.qs[1].desc, ==, 0x100001000ull);
    g_assert_cmphex(f.qs[1].avail, ==, 0x100002000ull);
    g_assert_cmphex(f.qs[1].used, ==, 0x100003000ull);
    /* A failed start sets NEEDS_RESET. */
    f.start_ret = -EFAULT;
    g_assert_true(negotiate(&f, 1ull << VMM_VIRTIO_F_VERSION_1));
    g_assert_cmpuint(f.resets, ==, 2);
    wr(&f, VMM_VIRTIO_MMIO_STATUS, S_ALL);
    g_assert_true(rd(&f, VMM_VIRTIO_MMIO_STATUS) & VMM_VIRTIO_S_NEEDS_RESET);
    fake_destroy(&f);
}

static void test_legacy(void)
{
    struct fake f;

    fake_init(&f, true);
    g_assert_cmpuint(rd(&f, VMM_VIRTIO_MMIO_VERSION), ==, 1);
    g_assert_cmphex(offered(&f), ==, FEAT_DEV & 0xffffffffu);
    g_assert_cmphex(rd(&f, VMM_VIRTIO_MMIO_SHM_LEN_LOW), ==, 0);
    wr(&f, VMM_VIRTIO_MMIO_STATUS, VMM_VIRTIO_S_ACKNOWLEDGE);
    wr(&f, VMM_VIRTIO_MMIO_STATUS,
       VMM_VIRTIO_S_ACKNOWLEDGE | VMM_VIRTIO_S_DRIVER);
    set_features(&f, FEAT_DEV | (1ull << 40));
    wr(&f, VMM_VIRTIO_MMIO_GUEST_PAGE_SIZE, 4096);
    wr(&f, VMM_VIRTIO_MMIO_QUEUE_SEL, 0);
    wr(&f, VMM_VIRTIO_MMIO_QUEUE_NUM, 12); /* bad */
    wr(&f, VMM_VIRTIO_MMIO_QUEUE_PFN, 0x10);
    g_assert_cmpuint(stats(&f).refused_ready, ==, 1);
    wr(&f, VMM_VIRTIO_MMIO_QUEUE_NUM, 16);
    wr(&f, VMM_VIRTIO_MMIO_QUEUE_ALIGN, 256);
    wr(&f, VMM_VIRTIO_MMIO_QUEUE_PFN, 0x10);
    g_assert_cmphex(rd(&f, VMM_VIRTIO_MMIO_QUEUE_PFN), ==, 0x10);
    /* No FEATURES_OK step in version 1. */
    wr(&f, VMM_VIRTIO_MMIO_STATUS,
       VMM_VIRTIO_S_ACKNOWLEDGE | VMM_VIRTIO_S_DRIVER | VMM_VIRTIO_S_DRIVER_OK);
    g_assert_cmpuint(f.starts, ==, 1);
    g_assert_cmphex(f.features, ==, FEAT_DEV);
    g_assert_true(f.qs[0].ready);
    g_assert_cmphex(f.qs[0].desc, ==, 0x10000);
    g_assert_cmphex(f.qs[0].avail, ==, 0x10000 + 16 * 16);
    g_assert_cmphex(f.qs[0].used, ==, 0x10200);
    /* Ring corruption: no NEEDS_RESET bit, no interrupt, counted. */
    f.host.needs_reset(f.host.opaque, 0);
    g_assert_false(rd(&f, VMM_VIRTIO_MMIO_STATUS) & VMM_VIRTIO_S_NEEDS_RESET);
    g_assert_cmpuint(f.asserts, ==, 0);
    g_assert_cmpuint(stats(&f).needs_reset, ==, 1);
    fake_destroy(&f);
}

static void test_notify(void)
{
    struct fake f;

    fake_init(&f, false);
    /* Before DRIVER_OK. */
    wr(&f, VMM_VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    g_assert_true(negotiate(&f, 1ull << VMM_VIRTIO_F_VERSION_1));
    setup_queue(&f, 0, 64, 0x1000, 0x2000, 0x3000);
    wr(&f, VMM_VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    wr(&f, VMM_VIRTIO_MMIO_STATUS, S_ALL);
    /* Ready, not ready, no such queue. */
    wr(&f, VMM_VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    wr(&f, VMM_VIRTIO_MMIO_QUEUE_NOTIFY, 1);
    wr(&f, VMM_VIRTIO_MMIO_QUEUE_NOTIFY, 2);
    wr(&f, VMM_VIRTIO_MMIO_QUEUE_NOTIFY, 0xffffffff);
    g_assert_cmpuint(f.notifies[0], ==, 1);
    g_assert_cmpuint(f.notifies[1], ==, 0);
    g_assert_cmpuint(stats(&f).notifies, ==, 1);
    g_assert_cmpuint(stats(&f).notifies_ignored, ==, 5);
    /* The device may refuse (queue stopped): counted as ignored. */
    f.serving = false;
    wr(&f, VMM_VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    g_assert_cmpuint(stats(&f).notifies_ignored, ==, 6);
    fake_destroy(&f);
}

static void test_interrupts(void)
{
    struct fake f;

    fake_init(&f, false);
    f.host.used(f.host.opaque, 0);
    g_assert_cmphex(rd(&f, VMM_VIRTIO_MMIO_INTERRUPT_STATUS), ==,
                    VMM_VIRTIO_MMIO_INT_VRING);
    g_assert_true(f.level);
    g_assert_cmpuint(f.asserts, ==, 1);
    /* Each event asserts again (an edge line fires per event). */
    f.host.used(f.host.opaque, 1);
    g_assert_cmpuint(f.asserts, ==, 2);
    f.host.config_changed(f.host.opaque);
    g_assert_cmpuint(rd(&f, VMM_VIRTIO_MMIO_CONFIG_GENERATION), ==, 1);
    g_assert_cmphex(rd(&f, VMM_VIRTIO_MMIO_INTERRUPT_STATUS), ==, 3);
    /* Acknowledge one bit: still asserted; both: deasserted. */
    wr(&f, VMM_VIRTIO_MMIO_INTERRUPT_ACK, VMM_VIRTIO_MMIO_INT_VRING);
    g_assert_cmphex(rd(&f, VMM_VIRTIO_MMIO_INTERRUPT_STATUS), ==, 2);
    g_assert_true(f.level);
    wr(&f, VMM_VIRTIO_MMIO_INTERRUPT_ACK, VMM_VIRTIO_MMIO_INT_CONFIG);
    g_assert_false(f.level);
    g_assert_cmpuint(stats(&f).irqs, ==, 3);
    /* A broken ring: NEEDS_RESET and a configuration interrupt. */
    f.host.needs_reset(f.host.opaque, 1);
    g_assert_true(rd(&f, VMM_VIRTIO_MMIO_STATUS) & VMM_VIRTIO_S_NEEDS_RESET);
    g_assert_cmphex(rd(&f, VMM_VIRTIO_MMIO_INTERRUPT_STATUS), ==, 2);
    fake_destroy(&f);
}

static void test_reset(void)
{
    struct fake f;

    fake_init(&f, false);
    g_assert_true(negotiate(&f, 1ull << VMM_VIRTIO_F_VERSION_1));
    setup_queue(&f, 0, 64, 0x1000, 0x2000, 0x3000);
    wr(&f, VMM_VIRTIO_MMIO_STATUS, S_ALL);
    f.host.used(f.host.opaque, 0);
    f.config[0] = 9;
    wr(&f, VMM_VIRTIO_MMIO_STATUS, 0);
    g_assert_cmpuint(f.resets, ==, 2); /* negotiate() reset once too */
    g_assert_cmpuint(rd(&f, VMM_VIRTIO_MMIO_STATUS), ==, 0);
    g_assert_cmpuint(rd(&f, VMM_VIRTIO_MMIO_INTERRUPT_STATUS), ==, 0);
    g_assert_false(f.level);
    wr(&f, VMM_VIRTIO_MMIO_QUEUE_SEL, 0);
    g_assert_cmpuint(rd(&f, VMM_VIRTIO_MMIO_QUEUE_NUM), ==, 0);
    g_assert_cmpuint(rd(&f, VMM_VIRTIO_MMIO_QUEUE_READY), ==, 0);
    g_assert_cmpuint(f.config[0], ==, 0);
    g_assert_cmpuint(stats(&f).resets, ==, 2);
    /* Usable again. */
    g_assert_true(negotiate(&f, 1ull << VMM_VIRTIO_F_VERSION_1));
    setup_queue(&f, 0, 32, 0x1000, 0x2000, 0x3000);
    wr(&f, VMM_VIRTIO_MMIO_STATUS, S_ALL);
    g_assert_cmpuint(f.starts, ==, 2);
    g_assert_cmpuint(f.qs[0].size, ==, 32);
    fake_destroy(&f);
}

/*
 * A Status write with no driver bit in its low byte (0x100, 0x400 with
 * higher bits, or NEEDS_RESET alone, which belongs to the device), or
 * whose only bit is a refused FEATURES_OK, is a reset, for both layouts:
 * storing 0 without resetting would tell the driver "reset" while the
 * device kept serving its rings.  Found by tests/fuzz/fuzz-virtio-mmio.
 */
static void test_status_without_driver_bits(void)
{
    static const uint32_t writes[] = {0x100, 0x400, 0xffff0000,
                                      VMM_VIRTIO_S_NEEDS_RESET};

    for (int legacy = 0; legacy < 2; legacy++) {
        for (size_t i = 0; i < G_N_ELEMENTS(writes); i++) {
            struct fake f;
            unsigned resets;

            fake_init(&f, legacy);
            g_assert_true(
                negotiate(&f, legacy ? 0 : 1ull << VMM_VIRTIO_F_VERSION_1));
            setup_queue(&f, 0, 64, 0x1000, 0x2000, 0x3000);
            wr(&f, VMM_VIRTIO_MMIO_STATUS, S_ALL);
            g_assert_true(f.serving);
            resets = f.resets;
            wr(&f, VMM_VIRTIO_MMIO_STATUS, writes[i]);
            g_assert_cmpuint(f.resets, ==, resets + 1);
            g_assert_false(f.serving);
            g_assert_cmpuint(rd(&f, VMM_VIRTIO_MMIO_STATUS), ==, 0);
            /* Usable again: the next DRIVER_OK starts the device. */
            g_assert_true(
                negotiate(&f, legacy ? 0 : 1ull << VMM_VIRTIO_F_VERSION_1));
            setup_queue(&f, 0, 64, 0x1000, 0x2000, 0x3000);
            wr(&f, VMM_VIRTIO_MMIO_STATUS, S_ALL);
            g_assert_true(f.serving);
            fake_destroy(&f);
        }
    }
}

/* A running device, Status 1, unoffered features, then FEATURES_OK alone. */
static void test_status_refused_features_ok_alone(void)
{
    struct fake f;
    unsigned resets;

    fake_init(&f, false);
    g_assert_true(negotiate(&f, 1ull << VMM_VIRTIO_F_VERSION_1));
    setup_queue(&f, 0, 64, 0x1000, 0x2000, 0x3000);
    wr(&f, VMM_VIRTIO_MMIO_STATUS, S_ALL);
    g_assert_true(f.serving);
    wr(&f, VMM_VIRTIO_MMIO_STATUS, VMM_VIRTIO_S_ACKNOWLEDGE);
    set_features(&f, 1ull << 60);
    resets = f.resets;
    wr(&f, VMM_VIRTIO_MMIO_STATUS, VMM_VIRTIO_S_FEATURES_OK);
    g_assert_cmpuint(stats(&f).features_refused, ==, 1);
    g_assert_cmpuint(f.resets, ==, resets + 1);
    g_assert_false(f.serving);
    g_assert_cmpuint(rd(&f, VMM_VIRTIO_MMIO_STATUS), ==, 0);
    fake_destroy(&f);
}

static void test_bad_opts(void)
{
    struct vmm_virtio_mmio_opts o = {0};
    struct vmm_virtio_mmio *t;
    struct fake f;

    fake_init(&f, false);
    o.dev = &f.ops;
    o.bus = f.bus;
    o.base = BASE; /* taken */
    g_assert_cmpint(vmm_virtio_mmio_new(&o, &t), ==, -EEXIST);
    o.base = BASE + 0x200;
    f.ops.max_queue_size = 100;
    g_assert_cmpint(vmm_virtio_mmio_new(&o, &t), ==, -EINVAL);
    f.ops.max_queue_size = 256;
    f.ops.num_queues = 17;
    g_assert_cmpint(vmm_virtio_mmio_new(&o, &t), ==, -EINVAL);
    f.ops.num_queues = 2;
    f.ops.config_size = 0x101;
    g_assert_cmpint(vmm_virtio_mmio_new(&o, &t), ==, -EINVAL);
    g_assert_cmpint(vmm_virtio_mmio_new(NULL, &t), ==, -EINVAL);
    fake_destroy(&f);
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/virtio-mmio/identity", test_identity);
    g_test_add_func("/virtio-mmio/features", test_features);
    g_test_add_func("/virtio-mmio/driver-ok-without-features-ok",
                    test_driver_ok_without_features_ok);
    g_test_add_func("/virtio-mmio/queue-setup", test_queue_setup);
    g_test_add_func("/virtio-mmio/legacy", test_legacy);
    g_test_add_func("/virtio-mmio/notify", test_notify);
    g_test_add_func("/virtio-mmio/interrupts", test_interrupts);
    g_test_add_func("/virtio-mmio/reset", test_reset);
    g_test_add_func("/virtio-mmio/status-without-driver-bits",
                    test_status_without_driver_bits);
    g_test_add_func("/virtio-mmio/status-refused-features-ok-alone",
                    test_status_refused_features_ok_alone);
    g_test_add_func("/virtio-mmio/bad-opts", test_bad_opts);
    return g_test_run();
}
