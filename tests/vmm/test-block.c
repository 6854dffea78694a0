/* SPDX-License-Identifier: MIT */
/*
 * Block backends (vmm/block/): both engines (io_uring, thread pool) in
 * every cache mode, against real files: reads and writes checked against
 * the file, FLUSH and write-through syncs counted (none for unsafe),
 * discard and write zeroes, bounce buffers and read-modify-write on a file
 * that needs 4 KiB alignment (x-loom-fault's align=), fault injection,
 * io_uring batching, drain and abandon; the io_uring engine also with
 * reads copied by the loop thread (as for a tmpfs image: whole, split
 * with the ring, within the batch's budget).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/eventfd.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/magic.h>
#include <liburing.h>
#include <loom/loop.h>
#include <loom/timer.h>

#include "block/backend.h"
#include "block/block-int.h"
#include "harness.h"

#define IMG_SIZE (1u << 20)

struct param {
    const char *name;
    enum vmm_aio_mode aio;
    enum vmm_cache_mode cache;
    bool inline_reads; /* vmm_blk_backend_set_inline_reads() */
};

struct t {
    char dir[64];
    char path[96];
    char file[256];
    struct loom_loop *loop;
    struct vmm_blk_backend *b;
    struct vmm_blk_ctx *c;
    unsigned done;
};

/* A request with its own completion record. */
struct treq {
    struct vmm_blk_req r;
    struct iovec iov[4];
    int ret;
    bool done;
    struct t *t;
};

static void treq_done(struct vmm_blk_req *r, int ret)
{
    struct treq *q = r->opaque;

    g_assert_false(q->done);
    q->ret = ret;
    q->done = true;
    q->t->done++;
}

static void make_image(struct t *t, uint64_t size)
{
    int fd;

    strcpy(t->dir, "/tmp/loom-blk-XXXXXX");
    g_assert_nonnull(mkdtemp(t->dir));
    snprintf(t->path, sizeof(t->path), "%s/disk.img", t->dir);
    fd = open(t->path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, (off_t)size), ==, 0);
    close(fd);
}

static int t_open(struct t *t, const struct param *p, const char *fault,
                  bool readonly, enum vmm_discard_mode discard,
                  unsigned max_batch)
{
    struct vmm_config_drive d = {0};
    char *err = NULL;
    int ret;

    if (fault) {
        snprintf(t->file, sizeof(t->file), "x-loom-fault:%s:%s", fault,
                 t->path);
    } else {
        snprintf(t->file, sizeof(t->file), "%s", t->path);
    }
    d.file = t->file;
    d.cache = p->cache;
    d.aio = p->aio;
    d.readonly = readonly;
    d.discard = discard;
    ret = vmm_blk_backend_open(&d, &t->b, &err);
    if (ret) {
        g_assert_nonnull(err);
        free(err);
        return ret;
    }
    g_assert_null(err);
    /* Whatever file system holds the image: the parameter decides. */
    vmm_blk_backend_set_inline_reads(t->b, p->inline_reads);
    g_assert_cmpint(vmm_blk_ctx_new(t->b, t->loop, p->aio, max_batch, &t->c),
                    ==, 0);
    g_assert_true(vmm_blk_ctx_uses_uring(t->c) == (p->aio == VMM_AIO_IO_URING));
    return 0;
}

static void t_init(struct t *t, const struct param *p, const char *fault)
{
    memset(t, 0, sizeof(*t));
    t->loop = harness_loop_new();
    make_image(t, IMG_SIZE);
    g_assert_cmpint(t_open(t, p, fault, false, VMM_DISCARD_UNMAP, 0), ==, 0);
}

static void t_close(struct t *t)
{
    vmm_blk_ctx_free(t->c);
    vmm_blk_backend_free(t->b);
    t->c = NULL;
    t->b = NULL;
}

static void t_destroy(struct t *t)
{
    t_close(t);
    unlink(t->path);
    rmdir(t->dir);
    loom_loop_unref(t->loop);
}

static void prep(struct t *t, struct treq *q, enum vmm_blk_op op, uint64_t off,
                 void *buf, uint64_t len, unsigned flags)
{
    memset(q, 0, sizeof(*q));
    q->t = t;
    q->r.op = op;
    q->r.flags = flags;
    q->r.offset = off;
    q->r.len = len;
    q->r.done = treq_done;
    q->r.opaque = q;
    if (buf) {
        q->iov[0] = (struct iovec){buf, len};
        q->r.iov = q->iov;
        q->r.iovcnt = 1;
    }
}

static void wait_all(struct t *t, unsigned n)
{
    POLL_UNTIL(t->loop, t->done >= n);
}

/* Submit one request and wait for it; its result. */
static int run(struct t *t, enum vmm_blk_op op, uint64_t off, void *buf,
               uint64_t len, unsigned flags)
{
    struct treq q;

    prep(t, &q, op, off, buf, len, flags);
    t->done = 0;
    g_assert_cmpint(vmm_blk_submit(t->c, &q.r), ==, 0);
    /* Never synchronous. */
    g_assert_false(q.done);
    wait_all(t, 1);
    return q.ret;
}

static void stats(struct t *t, struct vmm_blk_backend_stats *st)
{
    vmm_blk_backend_stats(t->b, st);
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    size_t i;

    for (i = 0; i < n; i++) {
        p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
    }
}

static void file_read(struct t *t, uint64_t off, void *buf, size_t len)
{
    int fd = open(t->path, O_RDONLY);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pread(fd, buf, len, (off_t)off), ==, (ssize_t)len);
    close(fd);
}

static void test_open_errors(void)
{
    static const char *bad[] = {
        "",
        "bogus@1",
        "fail@0=EIO",
        "fail@2-1=EIO",
        "fail@1",
        "fail@1=EWHAT",
        "stall@1=x",
        "short@1=3",
        "align=1000",
        "align=256",
        "fail=1",
        "fail@1=EIO+",
        "fail@99999999999999999999=EIO",
    };
    struct vmm_config_drive d = {0};
    struct vmm_blk_backend *b = NULL;
    char file[256], *err = NULL;
    struct t t;
    unsigned i;
    int fd;

    memset(&t, 0, sizeof(t));
    make_image(&t, 1000);
    d.file = "/nonexistent/loom.img";
    g_assert_cmpint(vmm_blk_backend_open(&d, &b, &err), ==, -ENOENT);
    g_assert_nonnull(strstr(err, "/nonexistent/loom.img"));
    free(err);
    d.file = t.dir;
    g_assert_cmpint(vmm_blk_backend_open(&d, &b, &err), <, 0);
    free(err);
    d.file = "x-loom-fault:fail@1=EIO";
    g_assert_cmpint(vmm_blk_backend_open(&d, &b, &err), ==, -EINVAL);
    free(err);
    for (i = 0; i < G_N_ELEMENTS(bad); i++) {
        snprintf(file, sizeof(file), "x-loom-fault:%s:%s", bad[i], t.path);
        d.file = file;
        err = NULL;
        g_assert_cmpint(vmm_blk_backend_open(&d, &b, &err), ==, -EINVAL);
        g_assert_nonnull(err);
        free(err);
    }
    /* A partial last sector is not addressable. */
    d.file = t.path;
    g_assert_cmpint(vmm_blk_backend_open(&d, &b, NULL), ==, 0);
    g_assert_cmpuint(vmm_blk_backend_size(b), ==, 512);
    g_assert_false(vmm_blk_backend_readonly(b));
    g_assert_cmpuint(vmm_blk_backend_align(b), ==, 1);
    vmm_blk_backend_free(b);
    /* Read-only opens a file it may not write. */
    g_assert_cmpint(chmod(t.path, 0400), ==, 0);
    d.readonly = true;
    g_assert_cmpint(vmm_blk_backend_open(&d, &b, NULL), ==, 0);
    g_assert_true(vmm_blk_backend_readonly(b));
    vmm_blk_backend_free(b);
    fd = open(t.path, O_RDONLY);
    g_assert_cmpint(fd, >=, 0);
    close(fd);
    unlink(t.path);
    rmdir(t.dir);
}

/* Writes and reads with several buffers, checked against the file. */
static void test_rw(const void *data)
{
    const struct param *p = data;
    uint8_t *wr = aligned_alloc(4096, 65536), *rd = aligned_alloc(4096, 65536);
    uint8_t *file = malloc(65536);
    struct vmm_blk_backend_stats st;
    struct treq q;
    struct t t;

    t_init(&t, p, NULL);
    fill(wr, 65536, 1);
    g_assert_cmpint(run(&t, VMM_BLK_OP_WRITE, 8192, wr, 65536, 0), ==, 0);
    file_read(&t, 8192, file, 65536);
    g_assert_cmpint(memcmp(file, wr, 65536), ==, 0);
    /* A read split over four buffers of different sizes. */
    memset(rd, 0, 65536);
    prep(&t, &q, VMM_BLK_OP_READ, 8192, NULL, 65536, 0);
    q.iov[0] = (struct iovec){rd, 512};
    q.iov[1] = (struct iovec){rd + 512, 3584};
    q.iov[2] = (struct iovec){rd + 4096, 28672};
    q.iov[3] = (struct iovec){rd + 32768, 32768};
    q.r.iov = q.iov;
    q.r.iovcnt = 4;
    t.done = 0;
    g_assert_cmpint(vmm_blk_submit(t.c, &q.r), ==, 0);
    wait_all(&t, 1);
    g_assert_cmpint(q.ret, ==, 0);
    g_assert_cmpint(memcmp(rd, wr, 65536), ==, 0);
    /* The last sector, and past the end. */
    g_assert_cmpint(run(&t, VMM_BLK_OP_WRITE, IMG_SIZE - 512, wr, 512, 0), ==,
                    0);
    g_assert_cmpint(run(&t, VMM_BLK_OP_READ, IMG_SIZE - 512, rd, 512, 0), ==,
                    0);
    g_assert_cmpint(run(&t, VMM_BLK_OP_READ, IMG_SIZE, rd, 512, 0), ==,
                    -EINVAL);
    g_assert_cmpint(run(&t, VMM_BLK_OP_WRITE, IMG_SIZE - 512, wr, 1024, 0), ==,
                    -EINVAL);
    g_assert_cmpint(run(&t, VMM_BLK_OP_READ, UINT64_MAX - 511, rd, 512, 0), ==,
                    -EINVAL);
    /* An iov that does not add up to len. */
    prep(&t, &q, VMM_BLK_OP_READ, 0, rd, 4096, 0);
    q.r.len = 8192;
    t.done = 0;
    g_assert_cmpint(vmm_blk_submit(t.c, &q.r), ==, 0);
    wait_all(&t, 1);
    g_assert_cmpint(q.ret, ==, -EINVAL);
    stats(&t, &st);
    g_assert_cmpuint(st.writes, ==, 3);
    g_assert_cmpuint(st.write_bytes, ==, 65536 + 512);
    g_assert_cmpuint(st.reads, ==, 5);
    g_assert_cmpuint(st.read_bytes, ==, 65536 + 512);
    g_assert_cmpuint(st.errors, ==, 4);
    /* Reads by the loop thread, writes through the ring. */
    g_assert_cmpuint(st.inline_reads, ==, p->inline_reads ? 2 : 0);
    if (p->aio == VMM_AIO_IO_URING) {
        g_assert_cmpuint(st.uring_sqes, >=, p->inline_reads ? 2 : 4);
    } else {
        g_assert_cmpuint(st.pool_jobs, >=, 4);
    }
    t_destroy(&t);
    free(wr);
    free(rd);
    free(file);
}

/* FLUSH and FUA writes sync, except with cache=unsafe. */
static void test_flush(const void *data)
{
    const struct param *p = data;
    bool unsafe = p->cache == VMM_CACHE_UNSAFE;
    uint8_t *buf = aligned_alloc(4096, 4096);
    struct vmm_blk_backend_stats st;
    struct t t;

    t_init(&t, p, NULL);
    fill(buf, 4096, 2);
    g_assert_cmpint(run(&t, VMM_BLK_OP_WRITE, 0, buf, 4096, 0), ==, 0);
    stats(&t, &st);
    g_assert_cmpuint(st.syncs, ==, 0);
    g_assert_cmpint(run(&t, VMM_BLK_OP_FLUSH, 0, NULL, 0, 0), ==, 0);
    stats(&t, &st);
    g_assert_cmpuint(st.syncs, ==, unsafe ? 0 : 1);
    g_assert_cmpuint(st.flushes, ==, 1);
    g_assert_cmpint(run(&t, VMM_BLK_OP_WRITE, 4096, buf, 4096, VMM_BLK_REQ_FUA),
                    ==, 0);
    stats(&t, &st);
    g_assert_cmpuint(st.syncs, ==, unsafe ? 0 : 2);
    t_destroy(&t);
    free(buf);
}

/*
 * Ops are reused from request to request: nothing of an earlier request
 * (a FUA write's sync step, an error) carries over to the next.
 */
static void test_op_reuse(const void *data)
{
    const struct param *p = data;
    bool unsafe = p->cache == VMM_CACHE_UNSAFE;
    uint8_t *wr = aligned_alloc(4096, 4096), *rd = aligned_alloc(4096, 4096);
    struct vmm_blk_backend_stats st;
    struct t t;
    unsigned i;

    t_init(&t, p, NULL);
    fill(wr, 4096, 1);
    g_assert_cmpint(run(&t, VMM_BLK_OP_WRITE, 0, wr, 4096, VMM_BLK_REQ_FUA),
                    ==, 0);
    g_assert_cmpint(run(&t, VMM_BLK_OP_READ, IMG_SIZE, rd, 4096, 0), ==,
                    -EINVAL);
    for (i = 1; i <= 8; i++) {
        fill(wr, 4096, i + 1);
        g_assert_cmpint(run(&t, VMM_BLK_OP_WRITE, i * 4096, wr, 4096, 0), ==,
                        0);
        memset(rd, 0, 4096);
        g_assert_cmpint(run(&t, VMM_BLK_OP_READ, i * 4096, rd, 4096, 0), ==,
                        0);
        g_assert_cmpmem(rd, 4096, wr, 4096);
    }
    stats(&t, &st);
    /* Only the FUA write synced. */
    g_assert_cmpuint(st.syncs, ==, unsafe ? 0 : 1);
    g_assert_cmpuint(st.writes, ==, 9);
    g_assert_cmpuint(st.reads, ==, 9);
    g_assert_cmpuint(st.errors, ==, 1);
    t_destroy(&t);
    free(wr);
    free(rd);
}

static bool all_zero(const uint8_t *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (p[i]) {
            return false;
        }
    }
    return true;
}

static void test_discard_zeroes(const void *data)
{
    const struct param *p = data;
    uint8_t *buf = aligned_alloc(4096, 65536), *chk = malloc(65536);
    struct vmm_blk_backend_stats st;
    struct t t;

    t_init(&t, p, NULL);
    fill(buf, 65536, 3);
    g_assert_cmpint(run(&t, VMM_BLK_OP_WRITE, 0, buf, 65536, 0), ==, 0);
    g_assert_cmpint(run(&t, VMM_BLK_OP_FLUSH, 0, NULL, 0, 0), ==, 0);
    /* discard=unmap punches a hole. */
    g_assert_cmpint(run(&t, VMM_BLK_OP_DISCARD, 0, NULL, 16384, 0), ==, 0);
    file_read(&t, 0, chk, 65536);
    g_assert_true(all_zero(chk, 16384));
    g_assert_cmpint(memcmp(chk + 16384, buf + 16384, 16384), ==, 0);
    /* Write zeroes, without and with unmap, unaligned. */
    g_assert_cmpint(
        run(&t, VMM_BLK_OP_WRITE_ZEROES, 16384 + 512, NULL, 1024, 0), ==, 0);
    g_assert_cmpint(
        run(&t, VMM_BLK_OP_WRITE_ZEROES, 32768, NULL, 8192, VMM_BLK_REQ_UNMAP),
        ==, 0);
    file_read(&t, 0, chk, 65536);
    g_assert_cmpint(memcmp(chk + 16384, buf + 16384, 512), ==, 0);
    g_assert_true(all_zero(chk + 16384 + 512, 1024));
    g_assert_cmpint(memcmp(chk + 17920, buf + 17920, 32768 - 17920), ==, 0);
    g_assert_true(all_zero(chk + 32768, 8192));
    g_assert_cmpint(memcmp(chk + 40960, buf + 40960, 65536 - 40960), ==, 0);
    stats(&t, &st);
    g_assert_cmpuint(st.discards, ==, 1);
    g_assert_cmpuint(st.write_zeroes, ==, 2);
    t_close(&t);
    /* discard=ignore leaves the data. */
    g_assert_cmpint(t_open(&t, p, NULL, false, VMM_DISCARD_IGNORE, 0), ==, 0);
    g_assert_cmpint(run(&t, VMM_BLK_OP_DISCARD, 49152, NULL, 16384, 0), ==, 0);
    file_read(&t, 49152, chk, 16384);
    g_assert_cmpint(memcmp(chk, buf + 49152, 16384), ==, 0);
    t_close(&t);
    /* Read-only refuses every write kind. */
    g_assert_cmpint(t_open(&t, p, NULL, true, VMM_DISCARD_UNMAP, 0), ==, 0);
    g_assert_cmpint(run(&t, VMM_BLK_OP_WRITE, 0, buf, 512, 0), ==, -EROFS);
    g_assert_cmpint(run(&t, VMM_BLK_OP_DISCARD, 0, NULL, 512, 0), ==, -EROFS);
    g_assert_cmpint(run(&t, VMM_BLK_OP_WRITE_ZEROES, 0, NULL, 512, 0), ==,
                    -EROFS);
    g_assert_cmpint(run(&t, VMM_BLK_OP_READ, 0, buf, 512, 0), ==, 0);
    g_assert_cmpint(run(&t, VMM_BLK_OP_FLUSH, 0, NULL, 0, 0), ==, 0);
    file_read(&t, 0, chk, 512);
    g_assert_true(all_zero(chk, 512));
    t_destroy(&t);
    free(buf);
    free(chk);
}

/*
 * A file that needs 4 KiB alignment: unaligned buffers bounce, unaligned
 * writes read-modify-write, and eight concurrent 512-byte writes into one
 * block all land (the range lock).
 */
static void test_alignment(const void *data)
{
    const struct param *p = data;
    uint8_t *buf = aligned_alloc(4096, 65536 + 4096), *chk = malloc(65536);
    struct vmm_blk_backend_stats st;
    struct treq q[8];
    struct t t;
    unsigned i;

    t_init(&t, p, "align=4096");
    g_assert_cmpuint(vmm_blk_backend_align(t.b), ==, 4096);
    fill(buf, 65536, 4);
    g_assert_cmpint(run(&t, VMM_BLK_OP_WRITE, 0, buf, 65536, 0), ==, 0);
    /* Offset and length unaligned: read-modify-write. */
    fill(buf + 65536, 1536, 5);
    g_assert_cmpint(run(&t, VMM_BLK_OP_WRITE, 3584, buf + 65536, 1536, 0), ==,
                    0);
    file_read(&t, 0, chk, 65536);
    g_assert_cmpint(memcmp(chk, buf, 3584), ==, 0);
    g_assert_cmpint(memcmp(chk + 3584, buf + 65536, 1536), ==, 0);
    g_assert_cmpint(memcmp(chk + 5120, buf + 5120, 65536 - 5120), ==, 0);
    memcpy(buf + 3584, buf + 65536, 1536);
    /* Aligned range from a misaligned buffer: a bounce, no RMW. */
    g_assert_cmpint(run(&t, VMM_BLK_OP_WRITE, 8192, buf + 8192 + 512, 4096, 0),
                    ==, 0);
    file_read(&t, 8192, chk, 4096);
    g_assert_cmpint(memcmp(chk, buf + 8192 + 512, 4096), ==, 0);
    memmove(buf + 8192, buf + 8192 + 512, 4096);
    /* Unaligned reads bounce. */
    memset(chk, 0, 65536);
    g_assert_cmpint(run(&t, VMM_BLK_OP_READ, 3584, chk + 1, 1536 + 4096, 0), ==,
                    0);
    g_assert_cmpint(memcmp(chk + 1, buf + 3584, 1536 + 4096), ==, 0);
    /* Concurrent sector writes into one block. */
    t.done = 0;
    for (i = 0; i < 8; i++) {
        fill(buf + i * 512, 512, 10 + i);
        prep(&t, &q[i], VMM_BLK_OP_WRITE, 20480 + i * 512, buf + i * 512, 512,
             0);
        g_assert_cmpint(vmm_blk_submit(t.c, &q[i].r), ==, 0);
    }
    wait_all(&t, 8);
    for (i = 0; i < 8; i++) {
        g_assert_cmpint(q[i].ret, ==, 0);
    }
    file_read(&t, 20480, chk, 4096);
    g_assert_cmpint(memcmp(chk, buf, 4096), ==, 0);
    /* Unaligned write zeroes. */
    g_assert_cmpint(run(&t, VMM_BLK_OP_WRITE_ZEROES, 20480 + 512, NULL, 512, 0),
                    ==, 0);
    file_read(&t, 20480, chk, 4096);
    g_assert_cmpint(memcmp(chk, buf, 512), ==, 0);
    g_assert_true(all_zero(chk + 512, 512));
    g_assert_cmpint(memcmp(chk + 1024, buf + 1024, 3072), ==, 0);
    stats(&t, &st);
    g_assert_cmpuint(st.rmw, >=, 9);
    g_assert_cmpuint(st.bounced, >=, 11);
    t_destroy(&t);
    free(buf);
    free(chk);
}

static void test_faults(const void *data)
{
    const struct param *p = data;
    uint8_t *buf = aligned_alloc(4096, 65536),
            *chk = aligned_alloc(4096, 65536);
    struct vmm_blk_backend_stats st;
    struct treq q;
    struct t t;
    int64_t t0;

    t_init(&t, p, "fail@2=ENOSPC+fail@5-6=5+short@3-4+stall@7=100");
    fill(buf, 65536, 6);
    g_assert_cmpint(run(&t, VMM_BLK_OP_WRITE, 0, buf, 65536, 0), ==, 0);
    g_assert_cmpint(run(&t, VMM_BLK_OP_WRITE, 0, buf, 65536, 0), ==, -ENOSPC);
    /* Short transfers are continued: the data is whole. */
    g_assert_cmpint(run(&t, VMM_BLK_OP_READ, 0, chk, 65536, 0), ==, 0);
    g_assert_cmpint(memcmp(chk, buf, 65536), ==, 0);
    fill(buf, 65536, 7);
    g_assert_cmpint(run(&t, VMM_BLK_OP_WRITE, 0, buf, 65536, 0), ==, 0);
    file_read(&t, 0, chk, 65536);
    g_assert_cmpint(memcmp(chk, buf, 65536), ==, 0);
    g_assert_cmpint(run(&t, VMM_BLK_OP_FLUSH, 0, NULL, 0, 0), ==, -EIO);
    g_assert_cmpint(run(&t, VMM_BLK_OP_READ, 0, chk, 512, 0), ==, -EIO);
    /* A stalled request stays in flight. */
    prep(&t, &q, VMM_BLK_OP_READ, 0, chk, 4096, 0);
    t.done = 0;
    t0 = harness_now_ns();
    g_assert_cmpint(vmm_blk_submit(t.c, &q.r), ==, 0);
    for (int64_t end = harness_run_end(40 * 1000000ll);
         !q.done && !harness_run_over(end);) {
        loom_loop_poll(t.loop, false);
    }
    g_assert_false(q.done);
    g_assert_cmpuint(vmm_blk_ctx_inflight(t.c), ==, 1);
    vmm_blk_ctx_drain(t.c);
    g_assert_true(q.done);
    g_assert_cmpint(q.ret, ==, 0);
    g_assert_cmpint(harness_now_ns() - t0, >=, 100 * 1000000ll);
    g_assert_cmpuint(vmm_blk_ctx_inflight(t.c), ==, 0);
    stats(&t, &st);
    g_assert_cmpuint(st.faults, ==, 6);
    g_assert_cmpuint(st.short_transfers, >=, 2);
    g_assert_cmpuint(st.errors, ==, 3);
    t_destroy(&t);
    free(buf);
    free(chk);
}

/* io_uring: one submit for a plugged batch, or per max_batch SQEs. */
static void test_batching(void)
{
    static const struct param p = {"uring", VMM_AIO_IO_URING,
                                   VMM_CACHE_WRITEBACK};
    uint8_t *buf = aligned_alloc(4096, 16 * 4096);
    struct vmm_blk_backend_stats st;
    struct treq q[16];
    unsigned i, round;
    struct t t;

    memset(&t, 0, sizeof(t));
    t.loop = harness_loop_new();
    make_image(&t, IMG_SIZE);
    for (round = 0; round < 2; round++) {
        g_assert_cmpint(
            t_open(&t, &p, NULL, false, VMM_DISCARD_IGNORE, round ? 4 : 0), ==,
            0);
        t.done = 0;
        vmm_blk_plug(t.c);
        for (i = 0; i < 16; i++) {
            prep(&t, &q[i], VMM_BLK_OP_READ, i * 4096, buf + i * 4096, 4096, 0);
            g_assert_cmpint(vmm_blk_submit(t.c, &q[i].r), ==, 0);
        }
        vmm_blk_unplug(t.c);
        wait_all(&t, 16);
        stats(&t, &st);
        g_assert_cmpuint(st.uring_sqes, ==, 16);
        g_assert_cmpuint(st.uring_submits, ==, round ? 4 : 1);
        t_close(&t);
    }
    unlink(t.path);
    rmdir(t.dir);
    loom_loop_unref(t.loop);
    free(buf);
}

/* vmm_blk_ctx_defer(): what a done callback defers runs once per batch. */
struct defer_t {
    struct t t;
    unsigned asked, granted, ran, other_ran;
    bool pending; /* granted, not yet run */
};

static void defer_fn(void *opaque)
{
    struct defer_t *d = opaque;

    /* Once per batch (asked twice per completion), after its dones. */
    g_assert_true(d->pending);
    d->pending = false;
    d->ran++;
}

static void defer_other(void *opaque)
{
    (*(unsigned *)opaque)++;
}

static void defer_done(struct vmm_blk_req *r, int ret)
{
    struct treq *q = r->opaque;
    struct defer_t *d = (struct defer_t *)q->t;
    bool a, b;

    treq_done(r, ret);
    d->asked++;
    a = vmm_blk_ctx_defer(d->t.c, defer_fn, d);
    b = vmm_blk_ctx_defer(d->t.c, defer_fn, d);
    g_assert_true(a == b);
    if (a) {
        d->granted++;
        d->pending = true;
        g_assert_true(vmm_blk_ctx_defer(d->t.c, defer_other, &d->other_ran));
    }
}

static void test_defer(const void *data)
{
    const struct param *p = data;
    uint8_t *buf = aligned_alloc(4096, 8 * 4096);
    struct defer_t d;
    struct treq q[8];
    unsigned i, batches;

    memset(&d, 0, sizeof(d));
    t_init(&d.t, p, NULL);
    /* Outside a done callback, nothing is being delivered. */
    g_assert_false(vmm_blk_ctx_defer(d.t.c, defer_fn, &d));
    vmm_blk_plug(d.t.c);
    for (i = 0; i < 8; i++) {
        /* The last one is past the end: answered from the BH. */
        prep(&d.t, &q[i], VMM_BLK_OP_READ, i == 7 ? IMG_SIZE : i * 4096,
             buf + i * 4096, 4096, 0);
        q[i].r.done = defer_done;
        g_assert_cmpint(vmm_blk_submit(d.t.c, &q[i].r), ==, 0);
    }
    vmm_blk_unplug(d.t.c);
    wait_all(&d.t, 8);
    g_assert_cmpint(q[7].ret, ==, -EINVAL);
    g_assert_cmpuint(d.asked, ==, 8);
    /* Every deferred call ran before the poll that delivered it ended. */
    g_assert_false(d.pending);
    g_assert_cmpuint(d.other_ran, ==, d.ran);
    if (p->aio == VMM_AIO_IO_URING) {
        /* io_uring completions come in batches: reaps of the ring,
         * passes of the context's BH (the one past the end). */
        g_assert_cmpuint(d.granted, ==, 8);
        batches = d.ran;
        g_assert_cmpuint(batches, >=, 1);
        g_assert_cmpuint(batches, <=, 8);
    } else {
        /* The pool's completions come from a BH: the caller's BH. */
        g_assert_cmpuint(d.granted, ==, 0);
        g_assert_cmpuint(d.ran, ==, 0);
    }
    t_destroy(&d.t);
    free(buf);
}

static void set_flag(void *opaque)
{
    *(bool *)opaque = true;
}

/*
 * A busy-polling loop reaps CQEs it finds in the CQ without reading the
 * ring's eventfd; the signals left there are cleared when it stops
 * polling, so that its next wait sleeps at once: neither a spin on a
 * readable eventfd nor an extra pass for a stale signal.
 */
static void test_uring_polled(void)
{
    static const struct param p = {"uring", VMM_AIO_IO_URING,
                                   VMM_CACHE_WRITEBACK};
    uint8_t *buf = aligned_alloc(4096, 4096);
    struct loom_loop_stats st;
    struct loom_timer *tm;
    bool fired = false;
    uint64_t events;
    unsigned i;
    struct t t;

    t_init(&t, &p, NULL);
    g_assert_cmpint(loom_loop_set_poll_params(t.loop, 1000000, 0, 0), ==, 0);
    for (i = 0; i < 64; i++) {
        g_assert_cmpint(run(&t, VMM_BLK_OP_READ, i * 4096, buf, 4096, 0), ==,
                        0);
    }
    loom_loop_stats(t.loop, &st);
    /* Some of them were found by busy-polling the CQ. */
    g_assert_cmpuint(st.poll_hits, >, 0);
    g_assert_cmpint(
        loom_timer_new(t.loop, LOOM_CLOCK_HOST, set_flag, &fired, &tm), ==, 0);
    loom_timer_mod_ns(tm, 30 * 1000 * 1000);
    loom_loop_stats(t.loop, &st);
    events = st.fd_events;
    while (!fired) {
        (void)loom_loop_poll(t.loop, true);
    }
    /*
     * A spin window, then the sleep until the timer, with no fd event on
     * the way.  Not "one pass": the wait may end early with EINTR when
     * io_uring runs task work in this thread (TIF_NOTIFY_SIGNAL), which
     * a blocking poll may return after; a stale signal would instead run
     * the eventfd's handler.
     */
    loom_loop_stats(t.loop, &st);
    g_assert_cmpuint(st.fd_events, ==, events);
    loom_timer_free(tm);
    t_destroy(&t);
    free(buf);
}

static void never_done(struct vmm_blk_req *r, int ret)
{
    g_assert_not_reached();
}

/* Abandoned requests never complete; the context still frees cleanly. */
static void test_abandon(const void *data)
{
    const struct param *p = data;
    uint8_t *buf = aligned_alloc(4096, 8 * 65536);
    struct treq q[8];
    struct t t;
    unsigned i;

    g_assert_nonnull(buf);
    /* The writes' data (memcheck: no uninitialised bytes to the file). */
    memset(buf, 0x5a, 8 * 65536);
    t_init(&t, p, "stall@1-2=30");
    for (i = 0; i < 8; i++) {
        prep(&t, &q[i], i % 2 ? VMM_BLK_OP_WRITE : VMM_BLK_OP_READ, i * 65536,
             buf + i * 65536, 65536, i == 7 ? VMM_BLK_REQ_FUA : 0);
        q[i].r.done = never_done;
        g_assert_cmpint(vmm_blk_submit(t.c, &q[i].r), ==, 0);
    }
    g_assert_cmpuint(vmm_blk_ctx_inflight(t.c), ==, 8);
    g_assert_cmpuint(vmm_blk_ctx_abandon(t.c), ==, 8);
    g_assert_cmpuint(vmm_blk_ctx_inflight(t.c), ==, 0);
    /* The requests are the caller's again: poison them. */
    memset(q, 0xa5, sizeof(q));
    g_assert_cmpuint(vmm_blk_ctx_abandon(t.c), ==, 0);
    t_destroy(&t);
    free(buf);
}

/* A kernel that refuses io_uring: aio=io_uring falls back to the pool. */
static void test_uring_refused(void)
{
    static const struct param p = {"uring", VMM_AIO_IO_URING,
                                   VMM_CACHE_WRITEBACK};
    pid_t pid;
    int status;

    pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        uint8_t *buf = aligned_alloc(4096, 4096);
        struct vmm_blk_backend_stats st;
        struct t t;

        harness_refuse_io_uring();
        memset(&t, 0, sizeof(t));
        /*
         * Not harness_loop_new(): under --fdmon=io_uring it would force a
         * monitor that this process has just been refused.
         */
        g_assert_cmpint(loom_loop_new(&t.loop), ==, 0);
        make_image(&t, IMG_SIZE);
        {
            struct vmm_config_drive d = {.file = t.path, .aio = p.aio};

            g_assert_cmpint(vmm_blk_backend_open(&d, &t.b, NULL), ==, 0);
            g_assert_cmpint(vmm_blk_ctx_new(t.b, t.loop, p.aio, 0, &t.c), ==,
                            0);
        }
        g_assert_false(vmm_blk_ctx_uses_uring(t.c));
        fill(buf, 4096, 9);
        g_assert_cmpint(run(&t, VMM_BLK_OP_WRITE, 0, buf, 4096, 0), ==, 0);
        g_assert_cmpint(run(&t, VMM_BLK_OP_READ, 0, buf, 4096, 0), ==, 0);
        stats(&t, &st);
        g_assert_cmpuint(st.uring_sqes, ==, 0);
        g_assert_cmpuint(st.pool_jobs, ==, 2);
        t_destroy(&t);
        free(buf);
        _exit(0);
    }
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);
}

/* Submit @sqe's request alone on @ring; the CQE's result. */
static int ring_one(struct io_uring *ring)
{
    struct io_uring_cqe *cqe;
    int res;

    g_assert_cmpint(io_uring_submit(ring), ==, 1);
    g_assert_cmpint(io_uring_wait_cqe(ring, &cqe), ==, 0);
    res = cqe->res;
    io_uring_cqe_seen(ring, cqe);
    return res;
}

/*
 * The engine's rings serve READV, WRITEV, FSYNC and FALLOCATE only: an
 * SQE with any other opcode completes with -EACCES without running, and
 * once enabled no register operation is accepted either (io_uring
 * requests bypass seccomp; VMM.md, "Sandboxing").
 */
static void test_uring_restricted(void)
{
    static const uint8_t refused[] = {IORING_OP_NOP,   IORING_OP_READ,
                                      IORING_OP_WRITE, IORING_OP_OPENAT,
                                      IORING_OP_CLOSE, IORING_OP_SENDMSG};
    uint8_t *buf = aligned_alloc(4096, 4096), want[4096];
    struct iovec iov = {buf, 4096};
    struct io_uring_sqe *sqe;
    struct io_uring ring;
    bool restricted;
    struct t t;
    int efd, fd, r;
    unsigned i;

    memset(&t, 0, sizeof(t));
    make_image(&t, IMG_SIZE);
    fd = open(t.path, O_RDWR | O_CLOEXEC);
    g_assert_cmpint(fd, >=, 0);
    efd = eventfd(0, EFD_CLOEXEC);
    g_assert_cmpint(efd, >=, 0);
    r = blk_uring_ring_new(&ring, 8, efd, &restricted);
    if (r == -ENOSYS || r == -EPERM) {
        g_test_skip("no io_uring here");
        goto out;
    }
    g_assert_cmpint(r, ==, 0);
    if (!restricted) {
        g_test_skip("the kernel predates io_uring restrictions");
        io_uring_queue_exit(&ring);
        goto out;
    }
    /* What the engine uses works. */
    fill(buf, 4096, 3);
    sqe = io_uring_get_sqe(&ring);
    io_uring_prep_writev(sqe, fd, &iov, 1, 8192);
    g_assert_cmpint(ring_one(&ring), ==, 4096);
    sqe = io_uring_get_sqe(&ring);
    io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
    g_assert_cmpint(ring_one(&ring), ==, 0);
    memset(buf, 0, 4096);
    sqe = io_uring_get_sqe(&ring);
    io_uring_prep_readv(sqe, fd, &iov, 1, 8192);
    g_assert_cmpint(ring_one(&ring), ==, 4096);
    fill(want, 4096, 3);
    g_assert_cmpmem(buf, 4096, want, 4096);
    sqe = io_uring_get_sqe(&ring);
    io_uring_prep_fallocate(sqe, fd, 0, 0, 4096);
    g_assert_cmpint(ring_one(&ring), ==, 0);
    /* Anything else is refused. */
    for (i = 0; i < G_N_ELEMENTS(refused); i++) {
        for (unsigned k = 0; k < BLK_URING_NR_OPS; k++) {
            g_assert_cmpuint(blk_uring_ops[k], !=, refused[i]);
        }
        sqe = io_uring_get_sqe(&ring);
        switch (refused[i]) {
        case IORING_OP_READ:
            io_uring_prep_read(sqe, fd, buf, 4096, 0);
            break;
        case IORING_OP_WRITE:
            io_uring_prep_write(sqe, fd, buf, 4096, 0);
            break;
        case IORING_OP_OPENAT:
            io_uring_prep_openat(sqe, AT_FDCWD, t.path, O_RDONLY, 0);
            break;
        case IORING_OP_CLOSE:
            io_uring_prep_close(sqe, fd);
            break;
        case IORING_OP_SENDMSG:
            io_uring_prep_sendmsg(sqe, fd, NULL, 0);
            break;
        default:
            io_uring_prep_nop(sqe);
            break;
        }
        g_assert_cmpint(ring_one(&ring), ==, -EACCES);
    }
    /* The file is still open: the CLOSE did not run. */
    g_assert_cmpint(fcntl(fd, F_GETFD), >=, 0);
    /* No register operation once enabled. */
    g_assert_cmpint(io_uring_register_files(&ring, &fd, 1), ==, -EACCES);
    g_assert_cmpint(io_uring_unregister_eventfd(&ring), ==, -EACCES);
    io_uring_queue_exit(&ring);
out:
    close(efd);
    close(fd);
    free(buf);
    unlink(t.path);
    rmdir(t.dir);
}

/* The io_uring engine with reads by the loop thread, on a 4 MiB image. */
#define BIG_SIZE (4u << 20)

/* Each 8-byte word its own offset (fill()'s bytes repeat every 128 KiB:
 * a part read from the wrong place would pass). */
static void stamp(uint8_t *p, size_t n, uint64_t off)
{
    size_t i;

    for (i = 0; i + 8 <= n; i += 8) {
        uint64_t v = (off + i) * 0x9e3779b97f4a7c15ull;

        memcpy(p + i, &v, 8);
    }
}

static void inline_init(struct t *t, const struct param *p, const char *fault)
{
    uint8_t *pat = malloc(BIG_SIZE);
    int fd;

    memset(t, 0, sizeof(*t));
    t->loop = harness_loop_new();
    make_image(t, BIG_SIZE);
    stamp(pat, BIG_SIZE, 0);
    fd = open(t->path, O_WRONLY);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pwrite(fd, pat, BIG_SIZE, 0), ==, (ssize_t)BIG_SIZE);
    close(fd);
    free(pat);
    g_assert_cmpint(t_open(t, p, fault, false, VMM_DISCARD_UNMAP, 0), ==, 0);
}

/* Whether @buf holds the image's bytes from @off (stamp()). */
static bool image_bytes(const uint8_t *buf, uint64_t off, size_t len)
{
    uint8_t *want = malloc(BIG_SIZE);
    bool same;

    stamp(want, BIG_SIZE, 0);
    same = memcmp(buf, want + off, len) == 0;
    free(want);
    return same;
}

/* Submit @q in a batch of its own and wait for it. */
static int run_batch(struct t *t, struct treq *q)
{
    t->done = 0;
    vmm_blk_plug(t->c);
    g_assert_cmpint(vmm_blk_submit(t->c, &q->r), ==, 0);
    vmm_blk_unplug(t->c);
    g_assert_false(q->done);
    wait_all(t, 1);
    return q->ret;
}

/*
 * Reads below 256 KiB are copied by the loop thread (also over several
 * buffers), larger ones go to the ring; a batch copies at most
 * VMM_BLK_INLINE_BUDGET bytes itself, the rest goes to the ring.
 */
static void test_inline_reads(const void *data)
{
    const struct param *p = data;
    uint8_t *buf = aligned_alloc(4096, BIG_SIZE);
    struct vmm_blk_backend_stats st;
    struct treq q[16];
    unsigned i;
    struct t t;

    inline_init(&t, p, NULL);
    memset(buf, 0, BIG_SIZE);
    prep(&t, &q[0], VMM_BLK_OP_READ, 8192, buf, 4096, 0);
    g_assert_cmpint(run_batch(&t, &q[0]), ==, 0);
    g_assert_true(image_bytes(buf, 8192, 4096));
    stats(&t, &st);
    g_assert_cmpuint(st.inline_reads, ==, 1);
    g_assert_cmpuint(st.uring_sqes, ==, 0);
    /* Four buffers, with a gap in memory after the first. */
    memset(buf, 0, BIG_SIZE);
    prep(&t, &q[0], VMM_BLK_OP_READ, 4096, NULL, 192 << 10, 0);
    q[0].iov[0] = (struct iovec){buf, 4096};
    q[0].iov[1] = (struct iovec){buf + 8192, 61440};
    q[0].iov[2] = (struct iovec){buf + 69632, 65536};
    q[0].iov[3] = (struct iovec){buf + 135168, 65536};
    q[0].r.iov = q[0].iov;
    q[0].r.iovcnt = 4;
    g_assert_cmpint(run_batch(&t, &q[0]), ==, 0);
    g_assert_true(image_bytes(buf, 4096, 4096));
    g_assert_true(image_bytes(buf + 8192, 8192, 61440 + 65536 + 65536));
    g_assert_true(buf[4096] == 0 && buf[8191] == 0);
    stats(&t, &st);
    g_assert_cmpuint(st.inline_reads, ==, 2);
    g_assert_cmpuint(st.uring_sqes, ==, 0);
    /* 1 MiB: the ring. */
    memset(buf, 0, BIG_SIZE);
    prep(&t, &q[0], VMM_BLK_OP_READ, 512 << 10, buf, 1 << 20, 0);
    g_assert_cmpint(run_batch(&t, &q[0]), ==, 0);
    g_assert_true(image_bytes(buf, 512 << 10, 1 << 20));
    stats(&t, &st);
    g_assert_cmpuint(st.inline_reads, ==, 2);
    g_assert_cmpuint(st.uring_sqes, ==, 1);
    /* The budget: 16 x 128 KiB in one batch, the first 1 MiB here. */
    memset(buf, 0, BIG_SIZE);
    t.done = 0;
    vmm_blk_plug(t.c);
    for (i = 0; i < 16; i++) {
        prep(&t, &q[i], VMM_BLK_OP_READ, (uint64_t)i << 17,
             buf + ((size_t)i << 17), 128 << 10, 0);
        g_assert_cmpint(vmm_blk_submit(t.c, &q[i].r), ==, 0);
    }
    vmm_blk_unplug(t.c);
    wait_all(&t, 16);
    for (i = 0; i < 16; i++) {
        g_assert_cmpint(q[i].ret, ==, 0);
    }
    g_assert_true(image_bytes(buf, 0, 2 << 20));
    stats(&t, &st);
    g_assert_cmpuint(st.inline_reads, ==, 2 + VMM_BLK_INLINE_BUDGET / 131072);
    g_assert_cmpuint(st.uring_sqes, ==,
                     1 + 16 - VMM_BLK_INLINE_BUDGET / 131072);
    g_assert_cmpuint(st.read_bytes, ==, 4096 + (192u << 10) + (3u << 20));
    g_assert_cmpuint(st.short_transfers, ==, 0);
    g_assert_cmpuint(st.errors, ==, 0);
    t_destroy(&t);
    free(buf);
}

/*
 * A file cut short behind the backend's back: a read that finds the end
 * of the file is an I/O error, never a hang or stale bytes reported as
 * read; a short first transfer (the fault injector's) is continued.
 */
static void test_inline_short(const void *data)
{
    const struct param *p = data;
    uint8_t *buf = aligned_alloc(4096, 1 << 20);
    struct vmm_blk_backend_stats st;
    struct treq q;
    struct t t;

    inline_init(&t, p, "short@1-2");
    prep(&t, &q, VMM_BLK_OP_READ, 4096, buf, 64 << 10, 0);
    g_assert_cmpint(run_batch(&t, &q), ==, 0);
    g_assert_true(image_bytes(buf, 4096, 64 << 10));
    prep(&t, &q, VMM_BLK_OP_READ, 1 << 20, buf, 1 << 20, 0);
    g_assert_cmpint(run_batch(&t, &q), ==, 0);
    g_assert_true(image_bytes(buf, 1 << 20, 1 << 20));
    stats(&t, &st);
    g_assert_cmpuint(st.short_transfers, >=, 2);
    g_assert_cmpuint(st.inline_reads, >=, 2);
    /* Partly past the end. */
    g_assert_cmpint(truncate(t.path, (3 << 20) / 2), ==, 0);
    prep(&t, &q, VMM_BLK_OP_READ, 1 << 20, buf, 1 << 20, 0);
    g_assert_cmpint(run_batch(&t, &q), ==, -EIO);
    /* Wholly past the end. */
    g_assert_cmpint(truncate(t.path, 256 << 10), ==, 0);
    prep(&t, &q, VMM_BLK_OP_READ, 0, buf, 1 << 20, 0);
    g_assert_cmpint(run_batch(&t, &q), ==, -EIO);
    /* Whole, past the end. */
    prep(&t, &q, VMM_BLK_OP_READ, 512 << 10, buf, 4096, 0);
    g_assert_cmpint(run_batch(&t, &q), ==, -EIO);
    stats(&t, &st);
    g_assert_cmpuint(st.errors, ==, 3);
    t_destroy(&t);
    free(buf);
}

/* Reads are done inline for a file on tmpfs (/dev/shm), not elsewhere. */
static void test_inline_detect(void)
{
    static const char *const dirs[] = {"/dev/shm", "/tmp", "."};
    struct vmm_config_drive d = {.cache = VMM_CACHE_WRITEBACK,
                                 .aio = VMM_AIO_IO_URING};
    struct vmm_blk_backend *b;
    char path[256];
    struct statfs sfs;
    unsigned i, tested = 0;
    int fd;

    for (i = 0; i < G_N_ELEMENTS(dirs); i++) {
        snprintf(path, sizeof(path), "%s/loom-inline-XXXXXX", dirs[i]);
        fd = mkstemp(path);
        if (fd < 0) {
            continue;
        }
        g_assert_cmpint(ftruncate(fd, 65536), ==, 0);
        g_assert_cmpint(fstatfs(fd, &sfs), ==, 0);
        d.file = path;
        g_assert_cmpint(vmm_blk_backend_open(&d, &b, NULL), ==, 0);
        g_assert_true(vmm_blk_backend_inline_reads(b) ==
                      (sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC));
        vmm_blk_backend_set_inline_reads(b, false);
        g_assert_false(vmm_blk_backend_inline_reads(b));
        vmm_blk_backend_free(b);
        close(fd);
        unlink(path);
        tested++;
    }
    g_assert_cmpuint(tested, >=, 1);
}

static const struct param g_params[] = {
    {"threads/writeback", VMM_AIO_THREADS, VMM_CACHE_WRITEBACK},
    {"threads/none", VMM_AIO_THREADS, VMM_CACHE_NONE},
    {"threads/unsafe", VMM_AIO_THREADS, VMM_CACHE_UNSAFE},
    {"uring/writeback", VMM_AIO_IO_URING, VMM_CACHE_WRITEBACK},
    {"uring/none", VMM_AIO_IO_URING, VMM_CACHE_NONE},
    {"uring/unsafe", VMM_AIO_IO_URING, VMM_CACHE_UNSAFE},
    {"uring-inline/writeback", VMM_AIO_IO_URING, VMM_CACHE_WRITEBACK, true},
    {"uring-inline/none", VMM_AIO_IO_URING, VMM_CACHE_NONE, true},
};

static void add_all(const char *what, void (*fn)(const void *))
{
    unsigned i;
    char *name;

    for (i = 0; i < G_N_ELEMENTS(g_params); i++) {
        name = g_strdup_printf("/block/%s/%s", what, g_params[i].name);
        g_test_add_data_func(name, &g_params[i], fn);
        g_free(name);
    }
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/block/open-errors", test_open_errors);
    add_all("rw", test_rw);
    add_all("flush", test_flush);
    add_all("op-reuse", test_op_reuse);
    add_all("discard-zeroes", test_discard_zeroes);
    add_all("alignment", test_alignment);
    add_all("faults", test_faults);
    add_all("abandon", test_abandon);
    add_all("defer", test_defer);
    g_test_add_data_func("/block/inline-reads/writeback", &g_params[6],
                         test_inline_reads);
    g_test_add_data_func("/block/inline-reads/none", &g_params[7],
                         test_inline_reads);
    g_test_add_data_func("/block/inline-short/writeback", &g_params[6],
                         test_inline_short);
    g_test_add_func("/block/inline-detect", test_inline_detect);
    g_test_add_func("/block/batching", test_batching);
    g_test_add_func("/block/uring-refused", test_uring_refused);
    g_test_add_func("/block/uring-polled", test_uring_polled);
    g_test_add_func("/block/uring-restricted", test_uring_restricted);
    return g_test_run();
}
