/* SPDX-License-Identifier: MIT */
/*
 * Limits a guest controls that no other test reaches (the table is in
 * docs/design/vmm.md, "Limits"): a virtio-blk request carrying 4 GiB of
 * data or more is answered IOERR without any I/O (the backend is never
 * asked), and a transfer that needs a bounce buffer of more than
 * VMM_BLK_MAX_BOUNCE (64 MiB) fails (-EINVAL) while one of exactly that
 * size succeeds, on both engines.  Guest RAM and images are sparse: the
 * sizes cost address space, not memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <loom/clock.h>
#include <loom/loop.h>

#include "block/backend.h"
#include "devices/virtio/blk.h"
#include "harness.h"

#define GIB (1ull << 30)
#define MIB (1ull << 20)

struct img {
    char dir[64];
    char path[96];
    char file[256];
};

static void img_make(struct img *m, uint64_t size)
{
    int fd;

    strcpy(m->dir, "/tmp/loom-limits-XXXXXX");
    g_assert_nonnull(mkdtemp(m->dir));
    snprintf(m->path, sizeof(m->path), "%s/disk.img", m->dir);
    fd = open(m->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, (off_t)size), ==, 0);
    close(fd);
}

static void img_remove(struct img *m)
{
    unlink(m->path);
    rmdir(m->dir);
}

static struct vmm_blk_backend *open_backend(struct img *m, const char *fault,
                                            enum vmm_aio_mode aio)
{
    struct vmm_config_drive d = {.id = "d0", .aio = aio};
    struct vmm_blk_backend *b;

    if (fault) {
        snprintf(m->file, sizeof(m->file), "x-loom-fault:%s:%s", fault,
                 m->path);
    } else {
        snprintf(m->file, sizeof(m->file), "%s", m->path);
    }
    d.file = m->file;
    g_assert_cmpint(vmm_blk_backend_open(&d, &b, NULL), ==, 0);
    return b;
}

/* ---- Bounce buffers ----------------------------------------------------- */

struct done {
    int ret;
    bool done;
};

static void req_done(struct vmm_blk_req *r, int ret)
{
    struct done *d = r->opaque;

    d->ret = ret;
    d->done = true;
}

/* A read of @len bytes at offset 512 into @buf + 1: both misaligned. */
static int bounced_read(struct vmm_blk_ctx *c, struct loom_loop *loop,
                        uint8_t *buf, uint64_t len)
{
    struct iovec iov = {buf + 1, len};
    struct done d = {0};
    struct vmm_blk_req r = {.op = VMM_BLK_OP_READ,
                            .offset = 512,
                            .len = len,
                            .iov = &iov,
                            .iovcnt = 1,
                            .done = req_done,
                            .opaque = &d};

    g_assert_cmpint(vmm_blk_submit(c, &r), ==, 0);
    while (!d.done) {
        (void)loom_loop_poll(loop, true);
    }
    return d.ret;
}

static void test_bounce(const void *data)
{
    enum vmm_aio_mode aio = *(const enum vmm_aio_mode *)data;
    /* A file needing 4 KiB alignment: this read spans [0, len + 4 KiB). */
    const uint64_t fits = VMM_BLK_MAX_BOUNCE - 4096;
    struct loom_loop *loop = harness_loop_new();
    struct vmm_blk_backend_stats st;
    struct vmm_blk_backend *b;
    struct vmm_blk_ctx *c;
    struct img m;
    uint8_t *buf;

    img_make(&m, 2 * VMM_BLK_MAX_BOUNCE);
    b = open_backend(&m, "align=4096", aio);
    g_assert_cmpint(vmm_blk_ctx_new(b, loop, aio, 0, &c), ==, 0);
    buf = mmap(NULL, VMM_BLK_MAX_BOUNCE + MIB, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    g_assert_true(buf != MAP_FAILED);

    /* Bounce of exactly the limit: done. */
    g_assert_cmpint(bounced_read(c, loop, buf, fits), ==, 0);
    vmm_blk_backend_stats(b, &st);
    g_assert_cmpuint(st.bounced, ==, 1);
    g_assert_cmpuint(st.read_bytes, ==, fits);
    /* One block more needs a bounce one block larger: refused. */
    g_assert_cmpint(bounced_read(c, loop, buf, fits + 4096), ==, -EINVAL);
    vmm_blk_backend_stats(b, &st);
    g_assert_cmpuint(st.bounced, ==, 1);
    g_assert_cmpuint(st.read_bytes, ==, fits);

    munmap(buf, VMM_BLK_MAX_BOUNCE + MIB);
    vmm_blk_ctx_free(c);
    vmm_blk_backend_free(b);
    loom_loop_unref(loop);
    img_remove(&m);
}

/* ---- 4 GiB of data in one request --------------------------------------- */

#define RAM_SIZE (2 * GIB)
#define DESC_GPA 0x0u
#define AVAIL_GPA 0x1000u
#define USED_GPA 0x2000u
#define HDR_GPA 0x3000u
#define STATUS_GPA 0x3100u
#define DATA_GPA 0x4000u
#define QSIZE 8u

struct env {
    unsigned used;
    bool broken;
};

static void env_used(void *opaque)
{
    ((struct env *)opaque)->used++;
}

static void env_broken(void *opaque)
{
    ((struct env *)opaque)->broken = true;
}

static void env_resume(void *opaque)
{
}

static void put_desc(uint8_t *ram, unsigned i, uint64_t gpa, uint32_t len,
                     uint16_t flags, uint16_t next)
{
    memcpy(ram + DESC_GPA + 16 * i, &gpa, 8);
    memcpy(ram + DESC_GPA + 16 * i + 8, &len, 4);
    memcpy(ram + DESC_GPA + 16 * i + 12, &flags, 2);
    memcpy(ram + DESC_GPA + 16 * i + 14, &next, 2);
}

/*
 * An IN request at sector 0 whose data buffers are @n descriptors of
 * @each bytes, all over the same guest RAM; its status and used length.
 */
static void run_read(uint8_t *ram, struct vmm_virtio_blk_queue *q,
                     struct loom_loop *loop, struct env *env, unsigned n,
                     uint32_t each, uint8_t *status, uint32_t *used_len)
{
    uint32_t hdr[4] = {VMM_VIRTIO_BLK_T_IN, 0, 0, 0};
    uint16_t avail_idx, used_idx;
    unsigned used_before = env->used;

    memcpy(ram + HDR_GPA, hdr, sizeof(hdr));
    ram[STATUS_GPA] = 0xff;
    put_desc(ram, 0, HDR_GPA, 16, VMM_VRING_DESC_F_NEXT, 1);
    for (unsigned i = 1; i <= n; i++) {
        put_desc(ram, i, DATA_GPA, each,
                 VMM_VRING_DESC_F_NEXT | VMM_VRING_DESC_F_WRITE,
                 (uint16_t)(i + 1));
    }
    put_desc(ram, n + 1, STATUS_GPA, 1, VMM_VRING_DESC_F_WRITE, 0);
    memcpy(&avail_idx, ram + AVAIL_GPA + 2, 2);
    memset(ram + AVAIL_GPA + 4 + 2 * (avail_idx % QSIZE), 0, 2);
    avail_idx++;
    memcpy(ram + AVAIL_GPA + 2, &avail_idx, 2);
    vmm_virtio_blk_queue_process(q, loom_clock_ns(LOOM_CLOCK_HOST));
    while (env->used == used_before) {
        (void)loom_loop_poll(loop, true);
    }
    g_assert_false(env->broken);
    memcpy(&used_idx, ram + USED_GPA + 2, 2);
    memcpy(used_len, ram + USED_GPA + 4 + 8 * ((used_idx - 1) % QSIZE) + 4, 4);
    *status = ram[STATUS_GPA];
}

static void test_request_4gib(void)
{
    struct loom_loop *loop = harness_loop_new();
    struct vmm_virtio_queue_cfg qc = {QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA,
                                      true};
    struct vmm_virtio_blk_opts bo = {.num_queues = 1, .queue_size = QSIZE};
    struct env env = {0};
    struct vmm_virtio_blk_env e = {env_used, env_broken, env_resume, &env};
    struct vmm_gmem_region region = {0, RAM_SIZE, NULL};
    struct vmm_virtio_blk_queue *q;
    struct vmm_blk_backend_stats bst;
    struct vmm_virtio_blk_stats st;
    struct vmm_blk_backend *b;
    struct vmm_virtio_blk *blk;
    struct vmm_blk_ctx *c;
    struct vmm_gmem *gm;
    uint32_t used_len;
    uint8_t status;
    struct img m;

    /* Guest RAM of 2 GiB and an image of 8 GiB, both untouched. */
    region.hva = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    g_assert_true(region.hva != MAP_FAILED);
    g_assert_cmpint(vmm_gmem_new(&region, 1, &gm), ==, 0);
    img_make(&m, 8 * GIB);
    b = open_backend(&m, NULL, VMM_AIO_THREADS);
    bo.backend = b;
    g_assert_cmpint(vmm_virtio_blk_new(&bo, &blk), ==, 0);
    vmm_virtio_blk_set_features(blk, vmm_virtio_blk_features(blk) |
                                         1ull << VMM_VIRTIO_F_VERSION_1);
    g_assert_cmpint(vmm_blk_ctx_new(b, loop, VMM_AIO_THREADS, 0, &c), ==, 0);
    g_assert_cmpint(vmm_virtio_blk_queue_new(blk, 0, gm, &qc, c, &e, &q), ==,
                    0);

    /* 1 MiB: read. */
    run_read(region.hva, q, loop, &env, 1, MIB, &status, &used_len);
    g_assert_cmpuint(status, ==, VMM_VIRTIO_BLK_S_OK);
    g_assert_cmpuint(used_len, ==, MIB + 1);
    /* Four buffers over the same RAM: read. */
    run_read(region.hva, q, loop, &env, 4, 64 << 10, &status, &used_len);
    g_assert_cmpuint(status, ==, VMM_VIRTIO_BLK_S_OK);
    g_assert_cmpuint(used_len, ==, (256 << 10) + 1);
    vmm_blk_backend_stats(b, &bst);
    g_assert_cmpuint(bst.reads, ==, 2);
    /* 4 GiB exactly, and 6 GiB: IOERR, and the backend never sees them. */
    run_read(region.hva, q, loop, &env, 4, (uint32_t)GIB, &status, &used_len);
    g_assert_cmpuint(status, ==, VMM_VIRTIO_BLK_S_IOERR);
    g_assert_cmpuint(used_len, ==, 1);
    run_read(region.hva, q, loop, &env, 6, (uint32_t)GIB, &status, &used_len);
    g_assert_cmpuint(status, ==, VMM_VIRTIO_BLK_S_IOERR);
    vmm_blk_backend_stats(b, &bst);
    g_assert_cmpuint(bst.reads, ==, 2);
    vmm_virtio_blk_stats(blk, &st);
    g_assert_cmpuint(st.invalid, ==, 2);

    vmm_virtio_blk_queue_free(q);
    vmm_blk_ctx_free(c);
    vmm_virtio_blk_free(blk);
    vmm_blk_backend_free(b);
    vmm_gmem_free(gm);
    munmap(region.hva, RAM_SIZE);
    loom_loop_unref(loop);
    img_remove(&m);
}

int main(int argc, char **argv)
{
    static const enum vmm_aio_mode threads = VMM_AIO_THREADS;
    static const enum vmm_aio_mode uring = VMM_AIO_IO_URING;

    harness_init(&argc, &argv);
    g_test_add_data_func("/limits/bounce/threads", &threads, test_bounce);
    g_test_add_data_func("/limits/bounce/io_uring", &uring, test_bounce);
    g_test_add_func("/limits/request-4gib", test_request_4gib);
    return g_test_run();
}
