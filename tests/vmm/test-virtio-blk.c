/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk end to end without KVM: transport, device, dataplane and
 * backend built by vmm_machine_blk_create(), driven through the MMIO bus
 * and rings in fake guest RAM (blk-fixture.c).  Every request type and
 * status, malformed requests, broken rings, both layouts, both engines
 * and every cache mode on the main loop and on IOThreads, multiqueue,
 * reset with requests in flight, pause/resume, durability ordering,
 * interrupt and notification suppression, error policies.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>
#include <loom/main.h>
#include <loom/thread.h>

#include "blk-fixture.h"
#include "harness.h"

#define T_IN VMM_VIRTIO_BLK_T_IN
#define T_OUT VMM_VIRTIO_BLK_T_OUT
#define S_OK VMM_VIRTIO_BLK_S_OK
#define S_IOERR VMM_VIRTIO_BLK_S_IOERR
#define S_UNSUPP VMM_VIRTIO_BLK_S_UNSUPP

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    size_t i;

    for (i = 0; i < n; i++) {
        p[i] = (uint8_t)(seed * 37 + i * 13 + (i >> 8));
    }
}

static void file_read(struct bf *f, uint64_t off, void *buf, size_t len)
{
    int fd = open(f->path, O_RDONLY);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pread(fd, buf, len, (off_t)off), ==, (ssize_t)len);
    close(fd);
}

static uint32_t cfg32(struct bf *f, unsigned off)
{
    return bf_rd(f, VMM_VIRTIO_MMIO_CONFIG + off);
}

static void test_config(void)
{
    struct bf_opts o = {.num_queues = 2,
                        .queue_size = 128,
                        .discard = VMM_DISCARD_UNMAP,
                        .nr_iothreads = 1};
    uint64_t feat;
    struct bf f;

    bf_init(&f, &o);
    g_assert_cmpuint(cfg32(&f, VMM_VIRTIO_BLK_CFG_CAPACITY), ==,
                     BF_IMG_SIZE / 512);
    g_assert_cmpuint(cfg32(&f, VMM_VIRTIO_BLK_CFG_CAPACITY + 4), ==, 0);
    g_assert_cmpuint(cfg32(&f, VMM_VIRTIO_BLK_CFG_SEG_MAX), ==, 126);
    g_assert_cmpuint(cfg32(&f, VMM_VIRTIO_BLK_CFG_SIZE_MAX), ==,
                     VMM_VIRTIO_BLK_SIZE_MAX);
    g_assert_cmpuint(cfg32(&f, VMM_VIRTIO_BLK_CFG_BLK_SIZE), ==, 512);
    g_assert_cmpuint(cfg32(&f, VMM_VIRTIO_BLK_CFG_WRITEBACK) & 0xff, ==, 1);
    g_assert_cmpuint(cfg32(&f, VMM_VIRTIO_BLK_CFG_WRITEBACK) >> 16, ==, 2);
    g_assert_cmpuint(cfg32(&f, VMM_VIRTIO_BLK_CFG_MAX_DISCARD_SEG), ==, 1);
    g_assert_cmpuint(cfg32(&f, VMM_VIRTIO_BLK_CFG_WZ_MAY_UNMAP) & 0xff, ==, 1);
    feat = f.features;
    g_assert_true(feat & (1ull << VMM_VIRTIO_BLK_F_MQ));
    g_assert_false(feat & (1ull << VMM_VIRTIO_BLK_F_RO));
    g_assert_true(feat & (1ull << VMM_VIRTIO_BLK_F_DISCARD));
    g_assert_true(feat & (1ull << VMM_VIRTIO_F_VERSION_1));
    /* The writeback byte is the only writable field. */
    bf_wr(&f, VMM_VIRTIO_MMIO_CONFIG + VMM_VIRTIO_BLK_CFG_WRITEBACK, 0);
    bf_wr(&f, VMM_VIRTIO_MMIO_CONFIG + VMM_VIRTIO_BLK_CFG_CAPACITY, 7);
    g_assert_cmpuint(cfg32(&f, VMM_VIRTIO_BLK_CFG_WRITEBACK) & 0xff, ==, 0);
    g_assert_cmpuint(cfg32(&f, VMM_VIRTIO_BLK_CFG_CAPACITY), ==,
                     BF_IMG_SIZE / 512);
    /* A reset restores it. */
    g_assert_true(bf_driver_up(&f));
    g_assert_cmpuint(cfg32(&f, VMM_VIRTIO_BLK_CFG_WRITEBACK) & 0xff, ==, 1);
    bf_destroy(&f);
    /* Read-only, one queue, discard=ignore. */
    o = (struct bf_opts){.readonly = true};
    bf_init(&f, &o);
    g_assert_true(f.features & (1ull << VMM_VIRTIO_BLK_F_RO));
    g_assert_false(f.features & (1ull << VMM_VIRTIO_BLK_F_MQ));
    g_assert_cmpuint(cfg32(&f, VMM_VIRTIO_BLK_CFG_WZ_MAY_UNMAP) & 0xff, ==, 0);
    bf_destroy(&f);
}

struct rw_param {
    const char *name;
    enum vmm_aio_mode aio;
    enum vmm_cache_mode cache;
    unsigned nr_iothreads;
    bool legacy;
    const char *dir; /* of the image; NULL: /tmp */
};

/* Whether @dir is a tmpfs, where reads are copied by the IOThread. */
static bool on_tmpfs(const char *dir)
{
    struct statfs sfs;

    return dir && statfs(dir, &sfs) == 0 && sfs.f_type == TMPFS_MAGIC;
}

/* A 512 KiB read through the device: the data is the file's. */
static void big_read(struct bf *f, uint64_t in)
{
    const size_t len = 512u << 10;
    const struct vq_buf r1[] = {{in, len, true}};
    uint8_t *pat = malloc(len);
    uint32_t used;
    int fd;

    /* Each word distinct: a part read from the wrong place shows. */
    for (size_t i = 0; i < len; i += 8) {
        uint64_t v = i * 0x9e3779b97f4a7c15ull + 1;

        memcpy(pat + i, &v, 8);
    }
    fd = open(f->path, O_WRONLY);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pwrite(fd, pat, len, 1 << 20), ==, (ssize_t)len);
    close(fd);
    memset(bf_ptr(f, in, len), 0, len);
    g_assert_cmpuint(bf_run(f, 0, T_IN, (1 << 20) / 512, r1, 1, &used), ==,
                     S_OK);
    g_assert_cmpuint(used, ==, len + 1);
    g_assert_cmpint(memcmp(bf_ptr(f, in, len), pat, len), ==, 0);
    free(pat);
}

/* Writes and reads of several sizes and layouts, checked in the file. */
static void test_rw(const void *data)
{
    const struct rw_param *p = data;
    struct bf_opts o = {.aio = p->aio,
                        .cache = p->cache,
                        .nr_iothreads = p->nr_iothreads,
                        .legacy = p->legacy,
                        .image_dir = p->dir};
    uint8_t *src, *chk;
    uint64_t buf, in;
    uint32_t used;
    struct bf f;

    if (p->dir && !on_tmpfs(p->dir)) {
        g_test_skip("no tmpfs there");
        return;
    }
    chk = malloc(65536);
    bf_init(&f, &o);
    buf = f.scratch;
    in = f.scratch + 0x40000;
    src = bf_ptr(&f, buf, 65536);
    fill(src, 65536, 1);
    /* One buffer; then three of odd sizes, unaligned in memory. */
    {
        const struct vq_buf d1[] = {{buf, 65536, false}};
        const struct vq_buf d3[] = {{buf + 1, 512, false},
                                    {buf + 4097, 1536, false},
                                    {buf + 9000, 2048, false}};

        g_assert_cmpuint(bf_run(&f, 0, T_OUT, 8, d1, 1, &used), ==, S_OK);
        g_assert_cmpuint(used, ==, 1);
        file_read(&f, 4096, chk, 65536);
        g_assert_cmpint(memcmp(chk, src, 65536), ==, 0);
        g_assert_cmpuint(bf_run(&f, 0, T_OUT, 1000, d3, 3, &used), ==, S_OK);
        file_read(&f, 1000 * 512, chk, 4096);
        g_assert_cmpint(memcmp(chk, src + 1, 512), ==, 0);
        g_assert_cmpint(memcmp(chk + 512, src + 4097, 1536), ==, 0);
        g_assert_cmpint(memcmp(chk + 2048, src + 9000, 2048), ==, 0);
    }
    {
        const struct vq_buf r1[] = {{in, 65536, true}};
        const struct vq_buf r2[] = {{in + 3, 2560, true},
                                    {in + 9001, 1536, true}};

        memset(bf_ptr(&f, in, 65536), 0, 65536);
        g_assert_cmpuint(bf_run(&f, 0, T_IN, 8, r1, 1, &used), ==, S_OK);
        g_assert_cmpuint(used, ==, 65537);
        g_assert_cmpint(memcmp(bf_ptr(&f, in, 65536), src, 65536), ==, 0);
        g_assert_cmpuint(bf_run(&f, 0, T_IN, 1000, r2, 2, &used), ==, S_OK);
        g_assert_cmpuint(used, ==, 4097);
        file_read(&f, 1000 * 512, chk, 4096);
        g_assert_cmpint(memcmp(bf_ptr(&f, in + 3, 2560), chk, 2560), ==, 0);
        g_assert_cmpint(memcmp(bf_ptr(&f, in + 9001, 1536), chk + 2560, 1536),
                        ==, 0);
    }
    g_assert_cmpuint(bf_run(&f, 0, VMM_VIRTIO_BLK_T_FLUSH, 0, NULL, 0, &used),
                     ==, S_OK);
    g_assert_cmpuint(used, ==, 1);
    {
        struct vmm_blk_stats st = bf_stats(&f);

        g_assert_cmpuint(st.dev.wr_ops, ==, 2);
        g_assert_cmpuint(st.dev.rd_ops, ==, 2);
        g_assert_cmpuint(st.dev.wr_bytes, ==, 65536 + 4096);
        g_assert_cmpuint(st.dev.rd_bytes, ==, 65536 + 4096);
        g_assert_cmpuint(st.dev.flush_ops, ==, 1);
        g_assert_cmpuint(st.backend.syncs, ==,
                         p->cache == VMM_CACHE_UNSAFE ? 0 : 1);
        g_assert_cmpuint(st.queue[0].processed, ==, 5);
        if (p->nr_iothreads) {
            g_assert_cmpuint(st.queue[0].kicks, >=, 1);
        }
        g_assert_cmpuint(st.backend.inline_reads, ==,
                         p->dir && p->aio == VMM_AIO_IO_URING ? 2 : 0);
    }
    if (p->dir) {
        big_read(&f, in);
    }
    bf_destroy(&f);
    free(chk);
}

/* A request built by hand: @bufs as given, status = last byte. */
static uint8_t run_chain(struct bf *f, const struct vq_buf *bufs, unsigned n,
                         bool indirect, uint32_t *used)
{
    uint32_t id, len;
    uint16_t head = vq_driver_post(&f->q[0], bufs, n, indirect);

    bf_kick(f, 0);
    bf_wait(f, 0, &id, &len);
    g_assert_cmpuint(id, ==, head);
    if (used) {
        *used = len;
    }
    return *(uint8_t *)bf_ptr(f, bufs[n - 1].gpa + bufs[n - 1].len - 1, 1);
}

static uint64_t put_hdr(struct bf *f, uint64_t gpa, uint32_t type,
                        uint64_t sector)
{
    uint8_t *h = bf_ptr(f, gpa, 16);

    memset(h, 0, 16);
    memcpy(h, &type, 4);
    memcpy(h + 8, &sector, 8);
    return gpa;
}

static void put_dwz(struct bf *f, uint64_t gpa, uint64_t sector, uint32_t n,
                    uint32_t flags)
{
    uint8_t *p = bf_ptr(f, gpa, 16);

    memcpy(p, &sector, 8);
    memcpy(p + 8, &n, 4);
    memcpy(p + 12, &flags, 4);
}

/* GET_ID, DISCARD, WRITE_ZEROES, unknown types, framing. */
static void test_request_types(void)
{
    struct bf_opts o = {.serial = "0123456789abcdefghijKLM",
                        .discard = VMM_DISCARD_UNMAP,
                        .nr_iothreads = 1};
    uint64_t b, seg, st;
    uint8_t *chk = malloc(8192);
    uint32_t used;
    struct bf f;

    bf_init(&f, &o);
    b = f.scratch;
    seg = f.scratch + 0x20000;
    st = f.scratch + 0x30000;
    /* GET_ID: 20 bytes, not NUL-terminated; a shorter buffer truncates. */
    {
        const struct vq_buf d[] = {{b, 32, true}};
        const struct vq_buf d5[] = {{b + 100, 5, true}};

        memset(bf_ptr(&f, b, 32), 0xee, 32);
        g_assert_cmpuint(bf_run(&f, 0, VMM_VIRTIO_BLK_T_GET_ID, 0, d, 1, &used),
                         ==, S_OK);
        g_assert_cmpuint(used, ==, 21);
        /* Cut to 20 bytes (QEMU's behaviour), not NUL-terminated. */
        g_assert_cmpint(memcmp(bf_ptr(&f, b, 20), o.serial, 20), ==, 0);
        g_assert_cmphex(*(uint8_t *)bf_ptr(&f, b + 20, 1), ==, 0xee);
        g_assert_cmpuint(
            bf_run(&f, 0, VMM_VIRTIO_BLK_T_GET_ID, 0, d5, 1, &used), ==, S_OK);
        g_assert_cmpuint(used, ==, 6);
        g_assert_cmpint(memcmp(bf_ptr(&f, b + 100, 5), "01234", 5), ==, 0);
        g_assert_cmpuint(
            bf_run(&f, 0, VMM_VIRTIO_BLK_T_GET_ID, 0, NULL, 0, &used), ==,
            S_IOERR);
    }
    /* Write a pattern, then discard and zero parts of it. */
    {
        const struct vq_buf d[] = {{b, 8192, false}};
        const struct vq_buf s[] = {{seg, 16, false}};
        const struct vq_buf s2[] = {{seg, 32, false}};
        const struct vq_buf s8[] = {{seg, 8, false}};

        fill(bf_ptr(&f, b, 8192), 8192, 2);
        g_assert_cmpuint(bf_run(&f, 0, T_OUT, 0, d, 1, NULL), ==, S_OK);
        put_dwz(&f, seg, 2, 2, 0);
        g_assert_cmpuint(
            bf_run(&f, 0, VMM_VIRTIO_BLK_T_DISCARD, 0, s, 1, &used), ==, S_OK);
        g_assert_cmpuint(used, ==, 1);
        put_dwz(&f, seg, 8, 1, VMM_VIRTIO_BLK_DWZ_F_UNMAP);
        g_assert_cmpuint(
            bf_run(&f, 0, VMM_VIRTIO_BLK_T_WRITE_ZEROES, 0, s, 1, NULL), ==,
            S_OK);
        put_dwz(&f, seg, 12, 1, 0);
        g_assert_cmpuint(
            bf_run(&f, 0, VMM_VIRTIO_BLK_T_WRITE_ZEROES, 0, s, 1, NULL), ==,
            S_OK);
        file_read(&f, 0, chk, 8192);
        g_assert_cmpint(memcmp(chk, bf_ptr(&f, b, 1024), 1024), ==, 0);
        g_assert_cmpuint(chk[1024] | chk[2047] | chk[4096] | chk[4607] |
                             chk[6144] | chk[6655],
                         ==, 0);
        g_assert_cmpint(memcmp(chk + 2048, bf_ptr(&f, b + 2048, 2048), 2048),
                        ==, 0);
        /* Unmap on a discard, unknown flags, two segments: UNSUPP. */
        put_dwz(&f, seg, 0, 1, VMM_VIRTIO_BLK_DWZ_F_UNMAP);
        g_assert_cmpuint(bf_run(&f, 0, VMM_VIRTIO_BLK_T_DISCARD, 0, s, 1, NULL),
                         ==, S_UNSUPP);
        put_dwz(&f, seg, 0, 1, 4);
        g_assert_cmpuint(
            bf_run(&f, 0, VMM_VIRTIO_BLK_T_WRITE_ZEROES, 0, s, 1, NULL), ==,
            S_UNSUPP);
        put_dwz(&f, seg + 16, 4, 1, 0);
        g_assert_cmpuint(
            bf_run(&f, 0, VMM_VIRTIO_BLK_T_DISCARD, 0, s2, 1, NULL), ==,
            S_UNSUPP);
        /* A short segment, too many sectors, out of range: IOERR. */
        g_assert_cmpuint(
            bf_run(&f, 0, VMM_VIRTIO_BLK_T_DISCARD, 0, s8, 1, NULL), ==,
            S_IOERR);
        put_dwz(&f, seg, 0, VMM_VIRTIO_BLK_MAX_DWZ_SECTORS + 1, 0);
        g_assert_cmpuint(
            bf_run(&f, 0, VMM_VIRTIO_BLK_T_WRITE_ZEROES, 0, s, 1, NULL), ==,
            S_IOERR);
        put_dwz(&f, seg, BF_IMG_SIZE / 512 - 1, 2, 0);
        g_assert_cmpuint(bf_run(&f, 0, VMM_VIRTIO_BLK_T_DISCARD, 0, s, 1, NULL),
                         ==, S_IOERR);
    }
    /* Unknown and unoffered types. */
    g_assert_cmpuint(bf_run(&f, 0, 10, 0, NULL, 0, &used), ==, S_UNSUPP);
    g_assert_cmpuint(used, ==, 1);
    g_assert_cmpuint(bf_run(&f, 0, 0x80000001u, 0, NULL, 0, NULL), ==,
                     S_UNSUPP);
    g_assert_cmpuint(bf_run(&f, 0, 14, 0, NULL, 0, NULL), ==, S_UNSUPP);
    /* Free framing: header split in two, status sharing the data buffer,
     * through an indirect table. */
    {
        const struct vq_buf c[] = {{put_hdr(&f, st, T_IN, 0), 10, false},
                                   {st + 10, 6, false},
                                   {b + 16384, 1024 + 1, true}};

        g_assert_cmpuint(run_chain(&f, c, 3, true, &used), ==, S_OK);
        g_assert_cmpuint(used, ==, 1025);
        g_assert_cmpint(memcmp(bf_ptr(&f, b + 16384, 1024), chk, 1024), ==, 0);
    }
    {
        struct vmm_blk_stats s = bf_stats(&f);

        g_assert_cmpuint(s.dev.getid_ops, ==, 3);
        g_assert_cmpuint(s.dev.unsupp, ==, 6);
        g_assert_cmpuint(s.dev.discard_ops, ==, 5);
        g_assert_cmpuint(s.dev.wz_ops, ==, 4);
    }
    bf_destroy(&f);
    free(chk);
}

/* Malformed requests: each answered, none breaks the queue. */
static void test_malformed(void)
{
    struct bf_opts o = {.nr_iothreads = 1};
    uint64_t b, h;
    uint32_t used;
    struct bf f;

    bf_init(&f, &o);
    b = f.scratch;
    h = f.scratch + 0x80000;
    {
        /* Beyond the capacity, unaligned length, too large for a u32. */
        const struct vq_buf r[] = {{b, 1024, true}};
        const struct vq_buf odd[] = {{b, 1000, true}};

        g_assert_cmpuint(
            bf_run(&f, 0, T_IN, BF_IMG_SIZE / 512 - 1, r, 1, &used), ==,
            S_IOERR);
        g_assert_cmpuint(used, ==, 1);
        g_assert_cmpuint(bf_run(&f, 0, T_IN, UINT64_MAX, r, 1, NULL), ==,
                         S_IOERR);
        g_assert_cmpuint(bf_run(&f, 0, T_OUT, 0, odd, 1, NULL), ==, S_IOERR);
        /* Wrong direction: writable data on a write, readable on a read. */
        g_assert_cmpuint(bf_run(&f, 0, T_OUT, 0, r, 1, NULL), ==, S_IOERR);
    }
    {
        const struct vq_buf rd[] = {{b, 512, false}};
        const struct vq_buf outside[] = {{0x80000000ull, 512, true}};
        const struct vq_buf wraps[] = {{UINT64_MAX - 255, 512, true}};
        const struct vq_buf zero[] = {{b, 0, true}};

        g_assert_cmpuint(bf_run(&f, 0, T_IN, 0, rd, 1, NULL), ==, S_IOERR);
        g_assert_cmpuint(bf_run(&f, 0, T_IN, 0, outside, 1, NULL), ==, S_IOERR);
        g_assert_cmpuint(bf_run(&f, 0, T_IN, 0, wraps, 1, NULL), ==, S_IOERR);
        g_assert_cmpuint(bf_run(&f, 0, T_IN, 0, zero, 1, NULL), ==, S_IOERR);
    }
    {
        /* A short header; a header after a writable buffer. */
        const struct vq_buf shorth[] = {{put_hdr(&f, h, T_IN, 0), 8, false},
                                        {b, 1, true}};
        const struct vq_buf order[] = {{b, 512, true},
                                       {put_hdr(&f, h, T_IN, 0), 16, false},
                                       {b + 512, 1, true}};

        g_assert_cmpuint(run_chain(&f, shorth, 2, false, &used), ==, S_IOERR);
        g_assert_cmpuint(used, ==, 1);
        g_assert_cmpuint(run_chain(&f, order, 3, false, NULL), ==, S_IOERR);
    }
    {
        /* No writable status byte, or one outside RAM: used length 0. */
        const struct vq_buf nost[] = {{put_hdr(&f, h, T_IN, 0), 16, false}};
        const struct vq_buf badst[] = {{put_hdr(&f, h, T_IN, 0), 16, false},
                                       {0x80000000ull, 1, true}};
        uint32_t id;

        vq_driver_post(&f.q[0], nost, 1, false);
        bf_kick(&f, 0);
        bf_wait(&f, 0, &id, &used);
        g_assert_cmpuint(used, ==, 0);
        vq_driver_post(&f.q[0], badst, 2, false);
        bf_kick(&f, 0);
        bf_wait(&f, 0, &id, &used);
        g_assert_cmpuint(used, ==, 0);
    }
    /* Still working, not broken. */
    {
        const struct vq_buf r[] = {{b, 512, true}};
        struct vmm_blk_stats st;

        g_assert_cmpuint(bf_run(&f, 0, T_IN, 0, r, 1, NULL), ==, S_OK);
        g_assert_false(bf_rd(&f, VMM_VIRTIO_MMIO_STATUS) &
                       VMM_VIRTIO_S_NEEDS_RESET);
        st = bf_stats(&f);
        g_assert_cmpuint(st.dev.invalid, ==, 10);
        g_assert_cmpuint(st.dev.no_status, ==, 2);
        g_assert_cmpuint(st.queue[0].broken, ==, 0);
    }
    bf_destroy(&f);
}

static void test_readonly(void)
{
    struct bf_opts o = {.readonly = true};
    const struct vq_buf w[] = {{0, 512, false}};
    const struct vq_buf r[] = {{0, 512, true}};
    struct vq_buf ww[1], rr[1];
    struct bf f;

    bf_init(&f, &o);
    ww[0] = w[0];
    rr[0] = r[0];
    ww[0].gpa = rr[0].gpa = f.scratch;
    g_assert_cmpuint(bf_run(&f, 0, T_OUT, 0, ww, 1, NULL), ==, S_IOERR);
    g_assert_cmpuint(bf_run(&f, 0, T_IN, 0, rr, 1, NULL), ==, S_OK);
    g_assert_cmpuint(bf_run(&f, 0, VMM_VIRTIO_BLK_T_FLUSH, 0, NULL, 0, NULL),
                     ==, S_OK);
    g_assert_cmpuint(bf_stats(&f).backend.writes, ==, 0);
    bf_destroy(&f);
}

/*
 * A broken ring stops its queue only: NEEDS_RESET and a configuration
 * interrupt (modern); the other queue goes on.
 */
static void check_broken_ring(bool legacy)
{
    struct bf_opts o = {.num_queues = 2, .nr_iothreads = 1, .legacy = legacy};
    const struct vq_buf r[] = {{0, 512, true}};
    struct vq_buf rr[1];
    struct vmm_blk_stats st;
    struct bf f;

    bf_init(&f, &o);
    rr[0] = r[0];
    rr[0].gpa = f.scratch;
    vq_driver_set_avail_idx(&f.q[1], 1000);
    bf_kick(&f, 1);
    bf_step(&f);
    BF_WAIT_FOR(&f, st, st.queue[1].broken);
    /* Read again: this snapshot's transport counters came first. */
    st = bf_stats(&f);
    g_assert_cmpuint(st.transport.needs_reset, ==, 1);
    if (legacy) {
        g_assert_false(bf_rd(&f, VMM_VIRTIO_MMIO_STATUS) &
                       VMM_VIRTIO_S_NEEDS_RESET);
    } else {
        g_assert_true(bf_rd(&f, VMM_VIRTIO_MMIO_STATUS) &
                      VMM_VIRTIO_S_NEEDS_RESET);
        g_assert_true(bf_rd(&f, VMM_VIRTIO_MMIO_INTERRUPT_STATUS) &
                      VMM_VIRTIO_MMIO_INT_CONFIG);
    }
    g_assert_cmpuint(bf_run(&f, 0, T_IN, 0, rr, 1, NULL), ==, S_OK);
    /* The broken queue stays stopped. */
    bf_kick(&f, 1);
    g_assert_cmpuint(bf_run(&f, 0, T_IN, 0, rr, 1, NULL), ==, S_OK);
    g_assert_cmpuint(vq_driver_used_idx(&f.q[1]), ==, 0);
    /* A reset brings it back. */
    g_assert_true(bf_driver_up(&f));
    g_assert_cmpuint(bf_run(&f, 1, T_IN, 0, rr, 1, NULL), ==, S_OK);
    bf_destroy(&f);
}

static void test_broken_ring(void)
{
    check_broken_ring(false);
    check_broken_ring(true);
}

/* Rings outside RAM at DRIVER_OK: NEEDS_RESET at once. */
static void test_bad_ring_at_start(void)
{
    struct bf_opts o = {0};
    struct bf f;

    g_assert_cmpint(bf_create(&f, &o), ==, 0);
    bf_wr(&f, VMM_VIRTIO_MMIO_STATUS, VMM_VIRTIO_S_ACKNOWLEDGE);
    bf_wr(&f, VMM_VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    bf_wr(&f, VMM_VIRTIO_MMIO_DRIVER_FEATURES, 1);
    bf_wr(&f, VMM_VIRTIO_MMIO_STATUS,
          VMM_VIRTIO_S_ACKNOWLEDGE | VMM_VIRTIO_S_DRIVER |
              VMM_VIRTIO_S_FEATURES_OK);
    bf_wr(&f, VMM_VIRTIO_MMIO_QUEUE_SEL, 0);
    bf_wr(&f, VMM_VIRTIO_MMIO_QUEUE_NUM, 256);
    bf_wr(&f, VMM_VIRTIO_MMIO_QUEUE_DESC_LOW, 0x80000000u);
    bf_wr(&f, VMM_VIRTIO_MMIO_QUEUE_READY, 1);
    bf_wr(&f, VMM_VIRTIO_MMIO_STATUS,
          VMM_VIRTIO_S_ACKNOWLEDGE | VMM_VIRTIO_S_DRIVER |
              VMM_VIRTIO_S_FEATURES_OK | VMM_VIRTIO_S_DRIVER_OK);
    g_assert_true(bf_rd(&f, VMM_VIRTIO_MMIO_STATUS) & VMM_VIRTIO_S_NEEDS_RESET);
    g_assert_cmpuint(bf_stats(&f).queue[0].broken, ==, 1);
    /* A notification for it is ignored and counted. */
    bf_wr(&f, VMM_VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    g_assert_cmpuint(bf_stats(&f).transport.notifies_ignored, ==, 1);
    bf_destroy(&f);
}

/* Doorbells of queues that do not run are counted, not served. */
static void test_notify_not_ready(void)
{
    struct bf_opts o = {.num_queues = 2, .nr_iothreads = 1};
    struct vmm_blk_stats st;
    struct bf f;

    g_assert_cmpint(bf_create(&f, &o), ==, 0);
    bf_kick(&f, 1);
    bf_step(&f);
    BF_WAIT_FOR(&f, st, st.queue[1].kicks);
    g_assert_cmpuint(st.queue[1].kicks_ignored, ==, 1);
    bf_destroy(&f);
}

int main(int argc, char **argv)
{
    static const struct rw_param rw[] = {
        {"main/threads/writeback", VMM_AIO_THREADS, VMM_CACHE_WRITEBACK, 0},
        {"main/threads/none", VMM_AIO_THREADS, VMM_CACHE_NONE, 0},
        {"main/threads/unsafe", VMM_AIO_THREADS, VMM_CACHE_UNSAFE, 0},
        {"main/uring/writeback", VMM_AIO_IO_URING, VMM_CACHE_WRITEBACK, 0},
        {"main/uring/none", VMM_AIO_IO_URING, VMM_CACHE_NONE, 0},
        {"main/uring/unsafe", VMM_AIO_IO_URING, VMM_CACHE_UNSAFE, 0},
        {"iothread/threads/writeback", VMM_AIO_THREADS, VMM_CACHE_WRITEBACK, 1},
        {"iothread/threads/none", VMM_AIO_THREADS, VMM_CACHE_NONE, 1},
        {"iothread/uring/writeback", VMM_AIO_IO_URING, VMM_CACHE_WRITEBACK, 1},
        {"iothread/uring/none", VMM_AIO_IO_URING, VMM_CACHE_NONE, 1},
        {"iothread/uring/unsafe", VMM_AIO_IO_URING, VMM_CACHE_UNSAFE, 1},
        {"legacy/main/threads", VMM_AIO_THREADS, VMM_CACHE_WRITEBACK, 0, true},
        {"legacy/iothread/uring", VMM_AIO_IO_URING, VMM_CACHE_NONE, 1, true},
        /* On tmpfs: reads copied by the IOThread (skipped without). */
        {"tmpfs/iothread/uring/none", VMM_AIO_IO_URING, VMM_CACHE_NONE, 1,
         false, "/dev/shm"},
        {"tmpfs/main/uring/writeback", VMM_AIO_IO_URING, VMM_CACHE_WRITEBACK, 0,
         false, "/dev/shm"},
        {"tmpfs/iothread/threads", VMM_AIO_THREADS, VMM_CACHE_WRITEBACK, 1,
         false, "/dev/shm"},
    };
    unsigned i;

    harness_init(&argc, &argv);
    g_test_add_func("/virtio-blk/config", test_config);
    for (i = 0; i < G_N_ELEMENTS(rw); i++) {
        char *name = g_strdup_printf("/virtio-blk/rw/%s", rw[i].name);

        g_test_add_data_func(name, &rw[i], test_rw);
        g_free(name);
    }
    g_test_add_func("/virtio-blk/request-types", test_request_types);
    g_test_add_func("/virtio-blk/malformed", test_malformed);
    g_test_add_func("/virtio-blk/readonly", test_readonly);
    g_test_add_func("/virtio-blk/broken-ring", test_broken_ring);
    g_test_add_func("/virtio-blk/bad-ring-at-start", test_bad_ring_at_start);
    g_test_add_func("/virtio-blk/notify-not-ready", test_notify_not_ready);
    return g_test_run();
}
