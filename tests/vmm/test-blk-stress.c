/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk under load, for ASan and TSan (suite stress): a driver
 * thread per queue keeps several requests in flight on four queues
 * served by two IOThreads, with exact accounting; and resets racing with
 * busy queues - on IOThreads (every request taken is answered) and on
 * the main loop from a vCPU thread (requests taken are answered or
 * cancelled, never twice, never after the reset); and queues moving
 * between IOThreads under load.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <loom/main.h>
#include <loom/thread.h>

#include "blk-fixture.h"
#include "harness.h"

#define DEPTH 8
#define SLOT 8192u
#define SEC 1000000000ll

struct drv {
    struct bf *f;
    unsigned q;
    uint64_t area;  /* DEPTH slots of SLOT bytes */
    unsigned total; /* requests to run; 0: until stop */
    bool *stop;     /* atomic */
    /* Results. */
    unsigned posted, answered, errors, mismatches, dup, unknown;
    uint32_t seq[DEPTH];  /* last pattern written by each slot */
    uint16_t head[DEPTH]; /* head of each slot's request in flight */
    bool busy[DEPTH];
    bool wrote[DEPTH];
};

static uint64_t slot_sector(const struct drv *d, unsigned s)
{
    return (uint64_t)d->q * 1024 + s * 8;
}

/* Post slot @s's next request: a write of a new pattern, or a read. */
static void post(struct drv *d, unsigned s)
{
    struct bf *f = d->f;
    uint64_t h = d->area + s * SLOT, sector = slot_sector(d, s);
    uint32_t type = d->wrote[s] ? VMM_VIRTIO_BLK_T_IN : VMM_VIRTIO_BLK_T_OUT;
    uint8_t *hdr = bf_ptr(f, h, 16);
    uint32_t *data = bf_ptr(f, h + 4096, 4096);
    unsigned i;

    memset(hdr, 0, 16);
    memcpy(hdr, &type, 4);
    memcpy(hdr + 8, &sector, 8);
    if (type == VMM_VIRTIO_BLK_T_OUT) {
        d->seq[s]++;
        for (i = 0; i < 1024; i++) {
            data[i] = (d->q << 24) ^ (s << 16) ^ d->seq[s] ^ i;
        }
    } else {
        memset(data, 0, 4096);
    }
    *(uint8_t *)bf_ptr(f, h + 16, 1) = 0xff;
    {
        const struct vq_buf b[] = {
            {h, 16, false},
            {h + 4096, 4096, type == VMM_VIRTIO_BLK_T_IN},
            {h + 16, 1, true}};

        d->head[s] = vq_driver_post(&f->q[d->q], b, 3, s % 2);
    }
    d->busy[s] = true;
    d->posted++;
}

/* A used entry: find its slot, check it, post the slot's next request. */
static void answered(struct drv *d, uint32_t id, uint32_t len, bool more)
{
    struct bf *f = d->f;
    const uint32_t *data;
    unsigned s, i;

    for (s = 0; s < DEPTH && !(d->busy[s] && d->head[s] == id); s++) {
    }
    if (s == DEPTH) {
        d->unknown++;
        return;
    }
    d->busy[s] = false;
    d->answered++;
    if (*(uint8_t *)bf_ptr(f, d->area + s * SLOT + 16, 1) != 0) {
        d->errors++;
    } else if (d->wrote[s]) {
        data = bf_ptr(f, d->area + s * SLOT + 4096, 4096);
        for (i = 0; i < 1024; i++) {
            if (data[i] != ((d->q << 24) ^ (s << 16) ^ d->seq[s] ^ i)) {
                d->mismatches++;
                break;
            }
        }
        d->wrote[s] = false;
    } else {
        d->wrote[s] = true;
    }
    if (len != (d->wrote[s] ? 1u : 4097u)) {
        d->errors++;
    }
    if (more) {
        post(d, s);
    }
}

static bool stopped(const struct drv *d)
{
    return d->stop && __atomic_load_n(d->stop, __ATOMIC_ACQUIRE);
}

/* Before the driver threads start: the indirect tables they will use. */
static void reserve(struct bf *f)
{
    unsigned q;

    for (q = 0; q < f->nq; q++) {
        vq_driver_reserve_tables(&f->q[q], 3);
    }
}

static void *drive(void *opaque)
{
    struct drv *d = opaque;
    struct bf *f = d->f;
    /* A bound, not a watchdog: exact runs fail in check_drivers(). */
    int64_t end = harness_run_end(60 * SEC);
    uint32_t id, len;
    unsigned s, spins = 0;

    for (s = 0; s < DEPTH; s++) {
        post(d, s);
    }
    bf_kick(f, d->q);
    while (!stopped(d) && (!d->total || d->answered < d->total)) {
        bool got = false;

        while (vq_driver_get_used(&f->q[d->q], &id, &len)) {
            bool more = !d->total || d->posted < d->total;

            answered(d, id, len, more);
            got = true;
        }
        if (got) {
            bf_kick(f, d->q);
            spins = 0;
        } else if (++spins > 64) {
            g_usleep(20);
        }
        if (harness_run_over(end)) {
            break;
        }
    }
    return NULL;
}

static void check_drivers(struct drv *d, unsigned n, bool exact)
{
    unsigned i;

    for (i = 0; i < n; i++) {
        g_assert_cmpuint(d[i].unknown, ==, 0);
        g_assert_cmpuint(d[i].errors, ==, 0);
        g_assert_cmpuint(d[i].mismatches, ==, 0);
        if (exact) {
            g_assert_cmpuint(d[i].answered, ==, d[i].total);
            g_assert_cmpuint(d[i].posted, ==, d[i].total);
        }
    }
}

static void run_drivers(struct bf *f, struct drv *d, unsigned n)
{
    struct loom_thread *t[16];
    unsigned i;

    for (i = 0; i < n; i++) {
        g_assert_cmpint(loom_thread_create(&t[i], "drv", drive, &d[i], 0), ==,
                        0);
    }
    for (i = 0; i < n; i++) {
        g_assert_cmpint(loom_thread_join(t[i], NULL), ==, 0);
    }
}

/* Four queues on two IOThreads, DEPTH requests in flight on each. */
static void check_multiqueue(enum vmm_aio_mode aio)
{
    struct bf_opts o = {.num_queues = 4,
                        .nr_iothreads = 2,
                        .nr_maps = 2,
                        .aio = aio,
                        .poll_max_ns = 20000};
    struct vmm_blk_stats st;
    struct drv d[4];
    unsigned q, sum = 0;
    struct bf f;

    bf_init(&f, &o);
    reserve(&f);
    memset(d, 0, sizeof(d));
    for (q = 0; q < 4; q++) {
        d[q].f = &f;
        d[q].q = q;
        d[q].area = f.scratch + q * DEPTH * SLOT;
        d[q].total = 1200;
    }
    loom_bql_unlock();
    run_drivers(&f, d, 4);
    loom_bql_lock();
    check_drivers(d, 4, true);
    st = bf_stats(&f);
    for (q = 0; q < 4; q++) {
        g_assert_cmpuint(st.queue[q].processed, ==, d[q].total);
        g_assert_cmpuint(st.queue[q].broken, ==, 0);
        sum += d[q].total;
    }
    g_assert_cmpuint(st.dev.rd_ops + st.dev.wr_ops, ==, sum);
    g_assert_cmpuint(st.dev.invalid + st.dev.failed_rd + st.dev.failed_wr, ==,
                     0);
    g_assert_cmpuint(st.backend.reads + st.backend.writes, ==, sum);
    bf_destroy(&f);
}

static void test_multiqueue(void)
{
    check_multiqueue(VMM_AIO_IO_URING);
    check_multiqueue(VMM_AIO_THREADS);
}

struct resetter {
    struct bf *f;
    bool stop;
    unsigned delay_us;
};

static void *vcpu_reset(void *opaque)
{
    struct resetter *r = opaque;

    g_usleep(r->delay_us);
    loom_bql_lock();
    bf_wr(r->f, VMM_VIRTIO_MMIO_STATUS, 0);
    loom_bql_unlock();
    __atomic_store_n(&r->stop, true, __ATOMIC_RELEASE);
    return NULL;
}

/*
 * Resets racing with busy queues.  On IOThreads every chain the device
 * took is answered before the reset returns; on the main loop, reset by
 * a vCPU, taken chains are answered or cancelled, and the rings are never
 * written afterwards.
 */
static void check_reset_race(unsigned nr_iothreads)
{
    struct bf_opts o = {.num_queues = 2,
                        .nr_iothreads = nr_iothreads,
                        .nr_maps = nr_iothreads,
                        .queue_size = 64};
    struct vmm_blk_stats before, after;
    struct resetter r = {0};
    struct loom_thread *t, *vt;
    struct drv d[2];
    unsigned round, q;
    uint16_t used_at_reset[2];
    struct bf f;

    bf_init(&f, &o);
    reserve(&f);
    r.f = &f;
    for (round = 0; round < 12; round++) {
        before = bf_stats(&f);
        memset(d, 0, sizeof(d));
        r.stop = false;
        r.delay_us = 2000 + (round * 1777) % 20000;
        for (q = 0; q < 2; q++) {
            d[q].f = &f;
            d[q].q = q;
            d[q].area = f.scratch + q * DEPTH * SLOT;
            d[q].stop = &r.stop;
        }
        loom_bql_unlock();
        g_assert_cmpint(loom_thread_create(&vt, "vcpu", vcpu_reset, &r, 0), ==,
                        0);
        g_assert_cmpint(loom_thread_create(&t, "drv0", drive, &d[0], 0), ==, 0);
        drive(&d[1]);
        g_assert_cmpint(loom_thread_join(t, NULL), ==, 0);
        g_assert_cmpint(loom_thread_join(vt, NULL), ==, 0);
        loom_bql_lock();
        for (q = 0; q < 2; q++) {
            used_at_reset[q] = vq_driver_used_idx(&f.q[q]);
        }
        /* Let whatever is left run: nothing may reach the rings. */
        for (q = 0; q < 200; q++) {
            bf_step(&f);
        }
        after = bf_stats(&f);
        check_drivers(d, 2, false);
        for (q = 0; q < 2; q++) {
            uint64_t taken =
                after.queue[q].processed - before.queue[q].processed;

            g_assert_cmpuint(vq_driver_used_idx(&f.q[q]), ==, used_at_reset[q]);
            if (nr_iothreads) {
                g_assert_cmpuint(used_at_reset[q], ==, taken);
            } else {
                g_assert_cmpuint(used_at_reset[q], <=, taken);
            }
        }
        g_assert_true(bf_driver_up(&f));
        reserve(&f);
    }
    bf_destroy(&f);
}

static void test_reset_race(void)
{
    check_reset_race(2);
}

/* The main loop runs in this thread while drivers and a vCPU race. */
static void *main_drivers(void *opaque)
{
    struct drv *d = opaque;

    drive(&d[1]);
    return NULL;
}

static void test_reset_race_main(void)
{
    struct bf_opts o = {
        .num_queues = 2, .queue_size = 64, .aio = VMM_AIO_IO_URING};
    struct vmm_blk_stats before, after;
    struct resetter r = {0};
    struct loom_thread *t[3];
    struct drv d[2];
    unsigned round, q;
    struct bf f;

    bf_init(&f, &o);
    reserve(&f);
    r.f = &f;
    for (round = 0; round < 12; round++) {
        before = bf_stats(&f);
        memset(d, 0, sizeof(d));
        r.stop = false;
        r.delay_us = 2000 + (round * 2311) % 20000;
        for (q = 0; q < 2; q++) {
            d[q].f = &f;
            d[q].q = q;
            d[q].area = f.scratch + q * DEPTH * SLOT;
            d[q].stop = &r.stop;
        }
        g_assert_cmpint(loom_thread_create(&t[0], "vcpu", vcpu_reset, &r, 0),
                        ==, 0);
        g_assert_cmpint(loom_thread_create(&t[1], "drv0", drive, &d[0], 0), ==,
                        0);
        g_assert_cmpint(loom_thread_create(&t[2], "drv1", main_drivers, d, 0),
                        ==, 0);
        /* The main loop, with the BQL, dropped between iterations. */
        while (!__atomic_load_n(&r.stop, __ATOMIC_ACQUIRE)) {
            loom_main_loop_wait(true);
            loom_bql_unlock();
            g_usleep(20);
            loom_bql_lock();
        }
        loom_bql_unlock();
        for (q = 0; q < 3; q++) {
            g_assert_cmpint(loom_thread_join(t[q], NULL), ==, 0);
        }
        loom_bql_lock();
        for (q = 0; q < 200; q++) {
            bf_step(&f);
        }
        after = bf_stats(&f);
        for (q = 0; q < 2; q++) {
            uint32_t id, len;

            /* What came before the reset, not yet consumed. */
            while (vq_driver_get_used(&f.q[q], &id, &len)) {
                answered(&d[q], id, len, false);
            }
            /* Each answer matched a request in flight (no duplicate). */
            g_assert_cmpuint(d[q].answered, ==, vq_driver_used_idx(&f.q[q]));
            g_assert_cmpuint(vq_driver_used_idx(&f.q[q]), <=,
                             after.queue[q].processed -
                                 before.queue[q].processed);
        }
        check_drivers(d, 2, false);
        g_assert_true(bf_driver_up(&f));
        reserve(&f);
    }
    bf_destroy(&f);
}

struct mover_drv {
    struct drv *d;
    bool done; /* atomic */
};

static void *drive_then_done(void *opaque)
{
    struct mover_drv *m = opaque;

    drive(m->d);
    __atomic_store_n(&m->done, true, __ATOMIC_RELEASE);
    return NULL;
}

/*
 * Queues moving between two IOThreads, back and forth, while a driver
 * thread per queue keeps DEPTH requests in flight (polling IOThreads, so
 * requests also arrive without doorbells): every request answered once,
 * data intact, and the accounting adds up.
 */
static void check_move_race(enum vmm_aio_mode aio)
{
    struct bf_opts o = {.num_queues = 2,
                        .nr_iothreads = 2,
                        .nr_maps = 2,
                        .aio = aio,
                        .poll_max_ns = 20000};
    struct mover_drv m[2];
    struct loom_thread *t[2];
    struct vmm_blk_stats st;
    unsigned q, moves = 0;
    struct drv d[2];
    struct bf f;

    bf_init(&f, &o);
    reserve(&f);
    memset(d, 0, sizeof(d));
    for (q = 0; q < 2; q++) {
        d[q].f = &f;
        d[q].q = q;
        d[q].area = f.scratch + q * DEPTH * SLOT;
        d[q].total = 20000;
        m[q] = (struct mover_drv){&d[q], false};
        g_assert_cmpint(
            loom_thread_create(&t[q], "drv", drive_then_done, &m[q], 0), ==, 0);
    }
    while (!__atomic_load_n(&m[0].done, __ATOMIC_ACQUIRE) ||
           !__atomic_load_n(&m[1].done, __ATOMIC_ACQUIRE)) {
        unsigned io;

        q = moves % 2;
        io = (moves / 2) % 2 == 0 ? 1 - q : q;
        g_assert_cmpint(
            vmm_machine_blk_move_queue(f.blk, q, &f.iocfg[io], f.ioloop[io]),
            ==, 0);
        moves++;
        loom_bql_unlock();
        g_usleep(200 + (moves * 37) % 1500);
        loom_bql_lock();
    }
    for (q = 0; q < 2; q++) {
        g_assert_cmpint(loom_thread_join(t[q], NULL), ==, 0);
    }
    check_drivers(d, 2, true);
    st = bf_stats(&f);
    g_test_message("%u moves", moves);
    g_assert_cmpuint(st.queue[0].moves + st.queue[1].moves, >=, 4);
    for (q = 0; q < 2; q++) {
        const struct vmm_blk_queue_stats *s = &st.queue[q];

        g_assert_cmpuint(s->processed, ==, d[q].total);
        g_assert_cmpuint(s->lat.answered, ==, d[q].total);
        g_assert_cmpuint(s->dropped, ==, 0);
        g_assert_cmpuint(s->broken, ==, 0);
        g_assert_cmpuint(bf_lat_sum(&s->wait), ==, d[q].total);
        g_assert_cmpuint(bf_lat_sum(&s->lat.service), ==, d[q].total);
    }
    g_assert_cmpuint(st.dev.rd_ops + st.dev.wr_ops, ==, 2 * 20000);
    bf_destroy(&f);
}

static void test_move_race(void)
{
    check_move_race(VMM_AIO_IO_URING);
    check_move_race(VMM_AIO_THREADS);
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/blk-stress/multiqueue", test_multiqueue);
    g_test_add_func("/blk-stress/reset-race/iothreads", test_reset_race);
    g_test_add_func("/blk-stress/reset-race/main-loop", test_reset_race_main);
    g_test_add_func("/blk-stress/move-race", test_move_race);
    return g_test_run();
}
