/* SPDX-License-Identifier: MIT */
/*
 * The virtio-blk test fixture (blk-fixture.h).
 */
#include "blk-fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <loom/main.h>

#include "harness.h"

#define RAM_SIZE (16u << 20)

static void irq_set(void *opaque, bool level)
{
    struct bf *f = opaque;

    if (level) {
        __atomic_fetch_add(&f->irq_asserts, 1, __ATOMIC_SEQ_CST);
    }
    __atomic_store_n(&f->irq_level, level, __ATOMIC_SEQ_CST);
}

static void on_error(void *opaque, bool is_read, int err,
                     enum vmm_blk_error_action action)
{
    struct bf *f = opaque;

    __atomic_fetch_add(&f->errors, 1, __ATOMIC_SEQ_CST);
    if (action != VMM_BLK_ERR_STOP) {
        return;
    }
    __atomic_store_n(&f->stop_err, err, __ATOMIC_SEQ_CST);
    __atomic_fetch_add(&f->stops, 1, __ATOMIC_SEQ_CST);
}

static int db_add(void *opaque, int fd, uint64_t addr, unsigned len,
                  uint64_t data)
{
    struct bf *f = opaque;

    g_assert_cmphex(addr, ==, BF_BASE + VMM_VIRTIO_MMIO_QUEUE_NOTIFY);
    g_assert_cmpuint(len, ==, 4);
    g_assert_cmpuint(data, <, 16);
    f->db_fd[data] = fd;
    return 0;
}

static int db_del(void *opaque, int fd, uint64_t addr, unsigned len,
                  uint64_t data)
{
    struct bf *f = opaque;

    g_assert_cmpint(f->db_fd[data], ==, fd);
    f->db_fd[data] = -1;
    return 0;
}

static void make_image(struct bf *f)
{
    int fd;

    snprintf(f->dir, sizeof(f->dir), "%s/loom-vblk-XXXXXX",
             f->o.image_dir ? f->o.image_dir : "/tmp");
    g_assert_nonnull(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/disk.img", f->dir);
    fd = open(f->path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, BF_IMG_SIZE), ==, 0);
    close(fd);
}

static void make_iothreads(struct bf *f)
{
    struct loom_iothread_opts io = {0};
    unsigned i;
    char name[32];

    for (i = 0; i < f->o.nr_iothreads; i++) {
        snprintf(name, sizeof(name), "bf-io%u-%d", i, (int)getpid());
        io.poll_max_ns = f->o.poll_max_ns;
        io.poll_grow = f->o.poll_grow;
        g_assert_cmpint(loom_iothread_new(name, &io, &f->io[i]), ==, 0);
        f->ioloop[i] = loom_iothread_loop(f->io[i]);
        f->iocfg[i].id = strdup(name);
        f->iocfg[i].aio_max_batch = -1;
        f->iocfg[i].poll_max_ns = f->o.poll_max_ns;
    }
}

int bf_create(struct bf *f, const struct bf_opts *o)
{
    struct vmm_blk_wiring w = {0};
    char *err = NULL;
    unsigned i;
    int ret;

    memset(f, 0, sizeof(*f));
    f->o = *o;
    for (i = 0; i < 16; i++) {
        f->db_fd[i] = -1;
    }
    if (!loom_main_loop()) {
        g_assert_cmpint(loom_main_init(), ==, 0);
    }
    if (!loom_bql_locked()) {
        loom_bql_lock();
    }
    test_ram_init(&f->ram, RAM_SIZE);
    f->scratch = test_ram_alloc(&f->ram, 1u << 20, 4096);
    g_assert_cmpint(vmm_bus_new(UINT64_MAX, &f->bus), ==, 0);
    make_image(f);
    make_iothreads(f);
    if (o->fault) {
        snprintf(f->file, sizeof(f->file), "x-loom-fault:%s:%s", o->fault,
                 f->path);
    } else {
        snprintf(f->file, sizeof(f->file), "%s", f->path);
    }
    f->drive = (struct vmm_config_drive){
        .id = "d0",
        .file = f->file,
        .cache = o->cache,
        .aio = o->aio,
        .readonly = o->readonly,
        .discard = o->discard,
        .werror = o->werror,
        .rerror = o->rerror,
    };
    f->cfg.drive = "d0";
    f->cfg.id = "vblk0";
    f->cfg.num_queues = o->num_queues;
    f->cfg.queue_size = o->queue_size;
    f->cfg.serial = (char *)o->serial;
    if (o->nr_maps) {
        f->cfg.nr_vq_maps = o->nr_maps;
        for (i = 0; i < o->nr_maps; i++) {
            f->cfg.vq_maps[i].iothread = f->iocfg[i % o->nr_iothreads].id;
        }
    } else if (o->nr_iothreads) {
        f->cfg.iothread = f->iocfg[0].id;
    }
    f->db = (struct vmm_doorbells){db_add, db_del, f};
    w.blk = &f->cfg;
    w.drive = &f->drive;
    w.gmem = f->ram.gm;
    w.mmio_bus = f->bus;
    w.base = BF_BASE;
    w.irq = (struct vmm_irq){irq_set, f};
    w.doorbells = o->no_doorbells ? NULL : &f->db;
    w.main_loop = loom_main_loop();
    w.nr_iothreads = o->nr_iothreads;
    w.iothreads = f->iocfg;
    w.iothread_loops = f->ioloop;
    w.force_legacy = o->legacy;
    w.on_error = on_error;
    w.error_opaque = f;
    ret = vmm_machine_blk_create(&w, &f->blk, &err);
    if (ret) {
        g_assert_nonnull(err);
        free(err);
    }
    f->nq = o->num_queues ? o->num_queues : 1;
    return ret;
}

void bf_init(struct bf *f, const struct bf_opts *o)
{
    g_assert_cmpint(bf_create(f, o), ==, 0);
    g_assert_true(bf_driver_up(f));
}

void bf_destroy(struct bf *f)
{
    unsigned i;

    vmm_machine_blk_free(f->blk);
    for (i = 0; i < 16; i++) {
        g_assert_cmpint(f->db_fd[i], ==, -1);
    }
    /* Let what the main loop still owes run (abandoned requests). */
    while (loom_main_loop_wait(true)) {
    }
    for (i = 0; i < f->o.nr_iothreads; i++) {
        loom_iothread_free(f->io[i]);
        free(f->iocfg[i].id);
    }
    vmm_bus_free(f->bus);
    test_ram_destroy(&f->ram);
    unlink(f->path);
    rmdir(f->dir);
}

uint32_t bf_rd(struct bf *f, uint64_t off)
{
    uint32_t v = 0;

    g_assert_cmpint(vmm_bus_read(f->bus, BF_BASE + off, &v, 4), ==, 0);
    return v;
}

void bf_wr(struct bf *f, uint64_t off, uint32_t v)
{
    g_assert_cmpint(vmm_bus_write(f->bus, BF_BASE + off, &v, 4), ==, 0);
}

static uint64_t offered(struct bf *f)
{
    uint64_t lo, hi;

    bf_wr(f, VMM_VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    lo = bf_rd(f, VMM_VIRTIO_MMIO_DEVICE_FEATURES);
    bf_wr(f, VMM_VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    hi = bf_rd(f, VMM_VIRTIO_MMIO_DEVICE_FEATURES);
    return lo | hi << 32;
}

static void program_queue(struct bf *f, unsigned i)
{
    struct vq_driver *d = &f->q[i];
    unsigned qs = f->o.queue_size ? f->o.queue_size : 256;

    vq_driver_init(d, &f->ram, (uint16_t)qs,
                   f->features & (1ull << VMM_VIRTIO_F_EVENT_IDX));
    bf_wr(f, VMM_VIRTIO_MMIO_QUEUE_SEL, i);
    g_assert_cmpuint(bf_rd(f, VMM_VIRTIO_MMIO_QUEUE_NUM_MAX), ==, qs);
    bf_wr(f, VMM_VIRTIO_MMIO_QUEUE_NUM, qs);
    if (f->o.legacy) {
        /* Legacy: contiguous rings from a page frame; re-lay them. */
        uint64_t base =
            test_ram_alloc(&f->ram, 3 * 4096 + 16 * qs + 8 * qs, 4096);

        d->desc = base;
        d->avail = base + 16 * qs;
        d->used = (d->avail + 6 + 2 * qs + 4095) & ~4095ull;
        bf_wr(f, VMM_VIRTIO_MMIO_QUEUE_ALIGN, 4096);
        bf_wr(f, VMM_VIRTIO_MMIO_QUEUE_PFN, (uint32_t)(base / 4096));
        return;
    }
    bf_wr(f, VMM_VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)d->desc);
    bf_wr(f, VMM_VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(d->desc >> 32));
    bf_wr(f, VMM_VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)d->avail);
    bf_wr(f, VMM_VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(d->avail >> 32));
    bf_wr(f, VMM_VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)d->used);
    bf_wr(f, VMM_VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(d->used >> 32));
    bf_wr(f, VMM_VIRTIO_MMIO_QUEUE_READY, 1);
}

/* Re-initialise a legacy queue's driver state over its relocated rings. */
static void legacy_fixup(struct bf *f, unsigned i)
{
    struct vq_driver *d = &f->q[i];
    uint64_t desc = d->desc, avail = d->avail, used = d->used;
    uint16_t k;

    memset(bf_ptr(f, desc, 16u * d->size), 0, 16u * d->size);
    memset(bf_ptr(f, avail, 6u + 2u * d->size), 0, 6u + 2u * d->size);
    memset(bf_ptr(f, used, 6u + 8u * d->size), 0, 6u + 8u * d->size);
    for (k = 0; k < d->size; k++) {
        vq_driver_set_desc(d, k, 0, 0, 0, (uint16_t)(k + 1));
    }
}

bool bf_driver_up(struct bf *f)
{
    uint32_t s = VMM_VIRTIO_S_ACKNOWLEDGE | VMM_VIRTIO_S_DRIVER;
    unsigned i;

    bf_wr(f, VMM_VIRTIO_MMIO_STATUS, 0);
    bf_wr(f, VMM_VIRTIO_MMIO_STATUS, VMM_VIRTIO_S_ACKNOWLEDGE);
    bf_wr(f, VMM_VIRTIO_MMIO_STATUS, s);
    f->features = f->o.features ? f->o.features : offered(f);
    if (f->o.no_event_idx) {
        f->features &= ~(1ull << VMM_VIRTIO_F_EVENT_IDX);
    }
    bf_wr(f, VMM_VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    bf_wr(f, VMM_VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)f->features);
    bf_wr(f, VMM_VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    bf_wr(f, VMM_VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(f->features >> 32));
    if (f->o.legacy) {
        bf_wr(f, VMM_VIRTIO_MMIO_GUEST_PAGE_SIZE, 4096);
    } else {
        s |= VMM_VIRTIO_S_FEATURES_OK;
        bf_wr(f, VMM_VIRTIO_MMIO_STATUS, s);
        if (!(bf_rd(f, VMM_VIRTIO_MMIO_STATUS) & VMM_VIRTIO_S_FEATURES_OK)) {
            return false;
        }
    }
    for (i = 0; i < f->nq; i++) {
        program_queue(f, i);
        if (f->o.legacy) {
            legacy_fixup(f, i);
        }
    }
    bf_wr(f, VMM_VIRTIO_MMIO_STATUS, s | VMM_VIRTIO_S_DRIVER_OK);
    return !(bf_rd(f, VMM_VIRTIO_MMIO_STATUS) & VMM_VIRTIO_S_NEEDS_RESET);
}

void bf_kick(struct bf *f, unsigned q)
{
    uint64_t one = 1;

    if (f->db_fd[q] >= 0) {
        g_assert_cmpint(write(f->db_fd[q], &one, sizeof(one)), ==, 8);
    } else {
        bf_wr(f, VMM_VIRTIO_MMIO_QUEUE_NOTIFY, q);
    }
}

void bf_step(struct bf *f)
{
    if (!loom_main_loop_wait(true)) {
        g_usleep(50);
    }
}

void bf_wait(struct bf *f, unsigned q, uint32_t *id, uint32_t *len)
{
    STEP_UNTIL(vq_driver_get_used(&f->q[q], id, len), bf_step(f));
}

void bf_post_reads(struct bf *f, unsigned q, unsigned n, uint64_t area,
                   uint16_t *heads, bool indirect)
{
    unsigned i;

    for (i = 0; i < n; i++) {
        uint64_t h = area + i * 4096;
        uint8_t *p = bf_ptr(f, h, 16);
        const struct vq_buf b[] = {
            {h, 16, false}, {h + 512, 512, true}, {h + 1024, 1, true}};

        memset(p, 0, 16);
        p[8] = (uint8_t)i; /* sector */
        *(uint8_t *)bf_ptr(f, h + 1024, 1) = 0xff;
        heads[i] = vq_driver_post(&f->q[q], b, 3, indirect);
    }
}

uint64_t bf_lat_sum(const struct vmm_blk_lat *h)
{
    uint64_t n = 0;
    unsigned i;

    for (i = 0; i < VMM_BLK_LAT_BUCKETS; i++) {
        n += h->bucket[i];
    }
    return n;
}

void *bf_ptr(struct bf *f, uint64_t gpa, uint64_t len)
{
    return test_ram_ptr(&f->ram, gpa, len);
}

uint16_t bf_req(struct bf *f, unsigned q, uint32_t type, uint64_t sector,
                const struct vq_buf *data, unsigned n)
{
    struct vq_buf bufs[16];
    uint8_t *h;
    unsigned i;
    uint16_t head;

    g_assert_cmpuint(n, <=, 14);
    if (!f->hdr[q]) {
        f->hdr[q] = test_ram_alloc(&f->ram, 16, 16);
        f->status[q] = test_ram_alloc(&f->ram, 1, 1);
    }
    h = bf_ptr(f, f->hdr[q], 16);
    memset(h, 0, 16);
    memcpy(h, &type, 4);
    memcpy(h + 8, &sector, 8);
    *(uint8_t *)bf_ptr(f, f->status[q], 1) = 0xff;
    bufs[0] = (struct vq_buf){f->hdr[q], 16, false};
    for (i = 0; i < n; i++) {
        bufs[1 + i] = data[i];
    }
    bufs[1 + n] = (struct vq_buf){f->status[q], 1, true};
    head = vq_driver_post(&f->q[q], bufs, n + 2, false);
    bf_kick(f, q);
    return head;
}

uint8_t bf_status(struct bf *f, unsigned q)
{
    return *(uint8_t *)bf_ptr(f, f->status[q], 1);
}

uint8_t bf_run(struct bf *f, unsigned q, uint32_t type, uint64_t sector,
               const struct vq_buf *data, unsigned n, uint32_t *used_len)
{
    uint32_t id, len;
    uint16_t head = bf_req(f, q, type, sector, data, n);

    bf_wait(f, q, &id, &len);
    g_assert_cmpuint(id, ==, head);
    if (used_len) {
        *used_len = len;
    }
    return bf_status(f, q);
}

struct vmm_blk_stats bf_stats(struct bf *f)
{
    struct vmm_blk_stats st;

    vmm_machine_blk_stats(f->blk, &st);
    return st;
}
