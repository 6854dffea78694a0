/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk operations without KVM (blk-fixture.c): reset with requests
 * in flight (completed on an IOThread, cancelled on the main loop from a
 * vCPU), pause/resume, multiqueue over IOThreads, durability ordering
 * (with cache=unsafe as the negative control), write-through, interrupt
 * suppression, notification suppression while polling, error policies, a
 * full queue, notifications that exit, and bad device options.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <loom/main.h>
#include <loom/thread.h>

#include "blk-fixture.h"
#include "harness.h"

#define T_IN VMM_VIRTIO_BLK_T_IN
#define T_OUT VMM_VIRTIO_BLK_T_OUT
#define T_FLUSH VMM_VIRTIO_BLK_T_FLUSH
#define S_OK VMM_VIRTIO_BLK_S_OK
#define S_IOERR VMM_VIRTIO_BLK_S_IOERR
#define SEC 1000000000ll
#define MS 1000000ll

/*
 * Post @n reads on queue 0 (each its own header and status in @area),
 * kick once; the heads in @heads.
 */
static void post_reads(struct bf *f, unsigned n, uint64_t area, uint16_t *heads,
                       bool indirect)
{
    bf_post_reads(f, 0, n, area, heads, indirect);
    bf_kick(f, 0);
}

static uint8_t read_status(struct bf *f, uint64_t area, unsigned i)
{
    return *(uint8_t *)bf_ptr(f, area + i * 4096 + 1024, 1);
}

/* An IOThread completes requests in flight before the reset returns. */
static void test_reset_inflight_iothread(void)
{
    struct bf_opts o = {.nr_iothreads = 1, .fault = "stall@1-4=100"};
    uint64_t area;
    uint16_t heads[4];
    struct vmm_blk_stats st;
    uint32_t id, len;
    unsigned i;
    struct bf f;

    bf_init(&f, &o);
    area = f.scratch;
    post_reads(&f, 4, area, heads, false);
    BF_WAIT_FOR(&f, st, st.queue[0].processed == 4);
    g_assert_cmpuint(vq_driver_used_idx(&f.q[0]), ==, 0);
    bf_wr(&f, VMM_VIRTIO_MMIO_STATUS, 0);
    /* Completed, not dropped: four answers, status OK. */
    g_assert_cmpuint(vq_driver_used_idx(&f.q[0]), ==, 4);
    for (i = 0; i < 4; i++) {
        g_assert_true(vq_driver_get_used(&f.q[0], &id, &len));
        g_assert_cmpuint(len, ==, 513);
        g_assert_cmpuint(read_status(&f, area, i), ==, S_OK);
    }
    g_assert_cmpuint(bf_rd(&f, VMM_VIRTIO_MMIO_STATUS), ==, 0);
    /* And usable again. */
    g_assert_true(bf_driver_up(&f));
    {
        const struct vq_buf r[] = {{f.scratch + 0x10000, 512, true}};

        g_assert_cmpuint(bf_run(&f, 0, T_IN, 0, r, 1, NULL), ==, S_OK);
    }
    bf_destroy(&f);
}

static void *vcpu_reset(void *opaque)
{
    struct bf *f = opaque;

    loom_bql_lock();
    bf_wr(f, VMM_VIRTIO_MMIO_STATUS, 0);
    loom_bql_unlock();
    return NULL;
}

/*
 * On the main loop a vCPU cannot poll it: the requests are cancelled
 * (their I/O waited for), never answered afterwards.
 */
static void check_reset_inflight_main(enum vmm_aio_mode aio)
{
    struct bf_opts o = {.aio = aio, .fault = "stall@1-2=200"};
    struct loom_thread *t;
    uint16_t heads[4];
    struct vmm_blk_stats st;
    int64_t end;
    struct bf f;

    bf_init(&f, &o);
    post_reads(&f, 4, f.scratch, heads, false);
    BF_WAIT_FOR(&f, st, st.queue[0].processed == 4);
    /* The two that were not stalled may have completed. */
    g_assert_cmpuint(vq_driver_used_idx(&f.q[0]), <=, 2);
    loom_bql_unlock();
    g_assert_cmpint(loom_thread_create(&t, "vcpu", vcpu_reset, &f, 0), ==, 0);
    g_assert_cmpint(loom_thread_join(t, NULL), ==, 0);
    loom_bql_lock();
    g_assert_cmpuint(bf_rd(&f, VMM_VIRTIO_MMIO_STATUS), ==, 0);
    g_assert_cmpuint(vq_driver_used_idx(&f.q[0]), <=, 2);
    /* Nothing is written after the reset, even once the stalls end. */
    end = harness_run_end(300 * MS);
    while (!harness_run_over(end)) {
        bf_step(&f);
    }
    g_assert_cmpuint(vq_driver_used_idx(&f.q[0]), <=, 2);
    g_assert_cmpuint(read_status(&f, f.scratch, 0), ==, 0xff);
    g_assert_cmpuint(read_status(&f, f.scratch, 1), ==, 0xff);
    g_assert_true(bf_driver_up(&f));
    {
        const struct vq_buf r[] = {{f.scratch + 0x10000, 512, true}};

        g_assert_cmpuint(bf_run(&f, 0, T_IN, 0, r, 1, NULL), ==, S_OK);
    }
    bf_destroy(&f);
}

static void test_reset_inflight_main(void)
{
    check_reset_inflight_main(VMM_AIO_THREADS);
    check_reset_inflight_main(VMM_AIO_IO_URING);
}

/* vm stop waits for requests in flight; nothing is taken until cont. */
static void check_pause(unsigned nr_iothreads)
{
    struct bf_opts o = {.nr_iothreads = nr_iothreads, .fault = "stall@1-2=100"};
    uint16_t heads[2];
    struct vmm_blk_stats st;
    int64_t t0, end;
    uint32_t id, len;
    struct bf f;

    bf_init(&f, &o);
    t0 = harness_now_ns();
    post_reads(&f, 2, f.scratch, heads, false);
    BF_WAIT_FOR(&f, st, st.queue[0].processed == 2);
    vmm_machine_blk_pause(f.blk);
    g_assert_cmpuint(vq_driver_used_idx(&f.q[0]), ==, 2);
    g_assert_cmpint(harness_now_ns() - t0, >=, 100 * MS);
    /* Posted while paused: remembered, not taken. */
    post_reads(&f, 1, f.scratch + 0x10000, heads, false);
    end = harness_run_end(100 * MS);
    while (!harness_run_over(end)) {
        bf_step(&f);
    }
    g_assert_cmpuint(bf_stats(&f).queue[0].processed, ==, 2);
    vmm_machine_blk_resume(f.blk);
    g_assert_true(vq_driver_get_used(&f.q[0], &id, &len));
    g_assert_true(vq_driver_get_used(&f.q[0], &id, &len));
    bf_wait(&f, 0, &id, &len);
    g_assert_cmpuint(id, ==, heads[0]);
    bf_destroy(&f);
}

static void test_pause_resume(void)
{
    check_pause(1);
    check_pause(0);
}

/* Four queues over two IOThreads (iothread-vq-mapping, round-robin). */
static void test_multiqueue(void)
{
    struct bf_opts o = {.num_queues = 4,
                        .nr_iothreads = 2,
                        .nr_maps = 2,
                        .aio = VMM_AIO_IO_URING};
    struct vmm_blk_info info;
    struct vmm_blk_stats st;
    uint16_t heads[4][8];
    unsigned q, i, n = 0;
    uint32_t id, len;
    struct bf f;

    bf_init(&f, &o);
    vmm_machine_blk_info(f.blk, &info);
    g_assert_cmpuint(info.num_queues, ==, 4);
    g_assert_cmpstr(info.queue_iothread[0], ==, f.iocfg[0].id);
    g_assert_cmpstr(info.queue_iothread[1], ==, f.iocfg[1].id);
    g_assert_cmpstr(info.queue_iothread[2], ==, f.iocfg[0].id);
    g_assert_cmpstr(info.queue_iothread[3], ==, f.iocfg[1].id);
    /* Eight writes in flight on every queue, distinct sectors. */
    for (q = 0; q < 4; q++) {
        for (i = 0; i < 8; i++) {
            uint64_t h = f.scratch + (q * 8 + i) * 8192;
            uint32_t type = T_OUT;
            uint64_t sector = q * 64 + i * 8;
            const struct vq_buf b[] = {
                {h, 16, false}, {h + 4096, 4096, false}, {h + 16, 1, true}};

            memcpy(bf_ptr(&f, h, 4), &type, 4);
            memcpy(bf_ptr(&f, h + 8, 8), &sector, 8);
            memset(bf_ptr(&f, h + 4096, 4096), (int)(q * 8 + i + 1), 4096);
            heads[q][i] = vq_driver_post(&f.q[q], b, 3, false);
        }
        bf_kick(&f, q);
    }
    for (q = 0; q < 4; q++) {
        uint8_t got = 0;

        for (i = 0; i < 8; i++, n++) {
            unsigned j;

            bf_wait(&f, q, &id, &len);
            g_assert_cmpuint(len, ==, 1);
            for (j = 0; j < 8 && heads[q][j] != id; j++) {
            }
            g_assert_cmpuint(j, <, 8);
            got |= (uint8_t)(1u << j);
        }
        g_assert_cmphex(got, ==, 0xff);
    }
    g_assert_cmpuint(n, ==, 32);
    for (q = 0; q < 4; q++) {
        for (i = 0; i < 8; i++) {
            uint8_t chk[4096];
            int fd = open(f.path, O_RDONLY);

            g_assert_cmpint(pread(fd, chk, 4096, (q * 64 + i * 8) * 512), ==,
                            4096);
            close(fd);
            g_assert_cmpuint(chk[0], ==, q * 8 + i + 1);
            g_assert_cmpuint(chk[4095], ==, q * 8 + i + 1);
            g_assert_cmpuint(
                *(uint8_t *)bf_ptr(&f, f.scratch + (q * 8 + i) * 8192 + 16, 1),
                ==, S_OK);
        }
    }
    st = bf_stats(&f);
    for (q = 0; q < 4; q++) {
        g_assert_cmpuint(st.queue[q].processed, ==, 8);
    }
    g_assert_cmpuint(st.dev.wr_ops, ==, 32);
    bf_destroy(&f);
}

/*
 * Durability is proved by ordering: when FLUSH's used entry is visible,
 * the backend's sync already completed.  cache=unsafe must fail it.
 */
static void test_durability(const void *data)
{
    const enum vmm_cache_mode *cache = data;
    struct bf_opts o = {
        .nr_iothreads = 1, .cache = *cache, .aio = VMM_AIO_IO_URING};
    const struct vq_buf w[] = {{0, 4096, false}};
    struct vq_buf ww[1];
    uint64_t before;
    unsigned round;
    struct bf f;

    bf_init(&f, &o);
    ww[0] = w[0];
    ww[0].gpa = f.scratch;
    for (round = 0; round < 4; round++) {
        g_assert_cmpuint(bf_run(&f, 0, T_OUT, round * 8, ww, 1, NULL), ==,
                         S_OK);
        before = bf_stats(&f).backend.syncs;
        g_assert_cmpuint(bf_run(&f, 0, T_FLUSH, 0, NULL, 0, NULL), ==, S_OK);
        /* Read at once: the used entry (acquire) came after the sync. */
        if (*cache == VMM_CACHE_UNSAFE) {
            g_assert_cmpuint(bf_stats(&f).backend.syncs, ==, before);
        } else {
            g_assert_cmpuint(bf_stats(&f).backend.syncs, ==, before + 1);
        }
    }
    bf_destroy(&f);
}

/* No FLUSH and no CONFIG_WCE, or writeback turned off: write-through. */
static void test_writethrough(void)
{
    uint64_t v1 = 1ull << VMM_VIRTIO_F_VERSION_1;
    struct bf_opts o = {.nr_iothreads = 1, .features = v1};
    const struct vq_buf w[] = {{0, 4096, false}};
    struct vq_buf ww[1];
    uint64_t before;
    struct bf f;

    bf_init(&f, &o);
    ww[0] = w[0];
    ww[0].gpa = f.scratch;
    before = bf_stats(&f).backend.syncs;
    g_assert_cmpuint(bf_run(&f, 0, T_OUT, 0, ww, 1, NULL), ==, S_OK);
    g_assert_cmpuint(bf_stats(&f).backend.syncs, ==, before + 1);
    bf_destroy(&f);
    o.features = v1 | (1ull << VMM_VIRTIO_BLK_F_CONFIG_WCE) |
                 (1ull << VMM_VIRTIO_BLK_F_FLUSH);
    bf_init(&f, &o);
    ww[0].gpa = f.scratch;
    g_assert_cmpuint(bf_run(&f, 0, T_OUT, 0, ww, 1, NULL), ==, S_OK);
    g_assert_cmpuint(bf_stats(&f).backend.syncs, ==, 0);
    bf_wr(&f, VMM_VIRTIO_MMIO_CONFIG + VMM_VIRTIO_BLK_CFG_WRITEBACK, 0);
    g_assert_cmpuint(bf_run(&f, 0, T_OUT, 0, ww, 1, NULL), ==, S_OK);
    g_assert_cmpuint(bf_stats(&f).backend.syncs, ==, 1);
    bf_destroy(&f);
}

/* Interrupts: EVENT_IDX's used_event, and NO_INTERRUPT without it. */
static void test_interrupt_suppression(void)
{
    struct bf_opts o = {.nr_iothreads = 1};
    const struct vq_buf r[] = {{0, 512, true}};
    struct vmm_blk_stats st;
    struct vq_buf rr[1];
    unsigned i, a0;
    struct bf f;

    bf_init(&f, &o);
    rr[0] = r[0];
    rr[0].gpa = f.scratch;
    /* Interrupt when the used index passes 2: at the third completion. */
    vq_driver_set_used_event(&f.q[0], 2);
    a0 = __atomic_load_n(&f.irq_asserts, __ATOMIC_SEQ_CST);
    for (i = 0; i < 3; i++) {
        g_assert_cmpuint(bf_run(&f, 0, T_IN, 0, rr, 1, NULL), ==, S_OK);
        BF_WAIT_FOR(&f, st,
                    st.queue[0].irqs + st.queue[0].irqs_suppressed >= i + 1);
        /* The first decision after start always interrupts (QEMU's). */
        g_assert_cmpuint(__atomic_load_n(&f.irq_asserts, __ATOMIC_SEQ_CST), ==,
                         a0 + 1 + (i == 2));
    }
    g_assert_true(bf_rd(&f, VMM_VIRTIO_MMIO_INTERRUPT_STATUS) &
                  VMM_VIRTIO_MMIO_INT_VRING);
    bf_wr(&f, VMM_VIRTIO_MMIO_INTERRUPT_ACK, VMM_VIRTIO_MMIO_INT_VRING);
    g_assert_false(__atomic_load_n(&f.irq_level, __ATOMIC_SEQ_CST));
    bf_destroy(&f);

    o.no_event_idx = true;
    bf_init(&f, &o);
    rr[0].gpa = f.scratch;
    vq_driver_set_no_interrupt(&f.q[0], true);
    g_assert_cmpuint(bf_run(&f, 0, T_IN, 0, rr, 1, NULL), ==, S_OK);
    BF_WAIT_FOR(&f, st, st.queue[0].irqs_suppressed >= 1);
    g_assert_cmpuint(__atomic_load_n(&f.irq_asserts, __ATOMIC_SEQ_CST), ==, 0);
    vq_driver_set_no_interrupt(&f.q[0], false);
    g_assert_cmpuint(bf_run(&f, 0, T_IN, 0, rr, 1, NULL), ==, S_OK);
    BF_WAIT_FOR(&f, st, st.queue[0].irqs >= 1);
    g_assert_cmpuint(__atomic_load_n(&f.irq_asserts, __ATOMIC_SEQ_CST), ==, 1);
    bf_destroy(&f);
}

/*
 * Post a 512-byte read into scratch on queue 0, reusing the header and
 * status byte of the last bf_req() there; no kick.  @old: the avail index
 * before, for vq_driver_must_kick().
 */
static uint16_t post_read(struct bf *f, uint16_t *old)
{
    *old = f->q[0].avail_idx;
    return vq_driver_post(&f->q[0],
                          (const struct vq_buf[]){{f->hdr[0], 16, false},
                                                  {f->scratch, 512, true},
                                                  {f->status[0], 1, true}},
                          3, false);
}

/*
 * While the IOThread polls, the device leaves notifications off: a
 * request posted without a doorbell is found by polling; once the loop
 * stops polling (its window passes idle) they are back on.
 */
static void test_polling(void)
{
    struct bf_opts o = {
        .nr_iothreads = 1, .poll_max_ns = 1 * SEC, .poll_grow = 10};
    const struct vq_buf r[] = {{0, 512, true}};
    struct loom_loop_stats ls;
    struct vmm_blk_stats st;
    struct vq_buf rr[1];
    uint16_t old, head;
    uint32_t id, len;
    unsigned tries = 0;
    struct bf f;

    bf_init(&f, &o);
    rr[0] = r[0];
    rr[0].gpa = f.scratch;
    /* Grow the poll window: events 150 ms apart, within poll-max-ns. */
    do {
        g_assert_cmpuint(++tries, <, 40);
        g_usleep(150000);
        g_assert_cmpuint(bf_run(&f, 0, T_IN, 0, rr, 1, NULL), ==, S_OK);
        loom_loop_stats(f.ioloop[0], &ls);
    } while (ls.poll_ns < 200 * MS);
    g_assert_cmpuint(bf_run(&f, 0, T_IN, 0, rr, 1, NULL), ==, S_OK);
    /* Notifications are off: the driver need not kick... */
    g_assert_cmpuint(bf_stats(&f).queue[0].notify_suppressed, >=, 1);
    head = post_read(&f, &old);
    g_assert_false(vq_driver_must_kick(&f.q[0], old));
    /* ... and it does not: polling finds the request. */
    bf_wait(&f, 0, &id, &len);
    g_assert_cmpuint(id, ==, head);
    st = bf_stats(&f);
    g_assert_cmpuint(st.queue[0].poll_hits, >=, 1);
    /* After an idle window (the loop stopped polling), they are back on. */
    g_usleep(1500000);
    head = post_read(&f, &old);
    g_assert_true(vq_driver_must_kick(&f.q[0], old));
    bf_kick(&f, 0);
    bf_wait(&f, 0, &id, &len);
    g_assert_cmpuint(id, ==, head);
    bf_destroy(&f);
}

/*
 * Requests across the poll mode transitions: a driver that kicks only
 * when the device asks (as Linux does), posting at random moments before,
 * during and after the IOThread's short poll window, so that requests
 * land while notifications go off (poll_begin) and come back on
 * (poll_end, then the last look at the ring).  Every request completes
 * (WAIT_UNTIL() fails after its watchdog otherwise); both paths are taken.
 */
static void test_poll_transitions(const void *data)
{
    const bool *no_event_idx = data;
    struct bf_opts o = {.nr_iothreads = 1,
                        .poll_max_ns = 50 * 1000,
                        .poll_grow = 2,
                        .no_event_idx = *no_event_idx};
    const struct vq_buf r[] = {{0, 512, true}};
    struct vq_buf rr[1];
    struct vmm_blk_stats st;
    unsigned i, kicked = 0, silent = 0;
    uint64_t rng = 0x2545f4914f6cdd1dull;
    uint16_t old, head;
    uint32_t id, len;
    struct bf f;

    bf_init(&f, &o);
    rr[0] = r[0];
    rr[0].gpa = f.scratch;
    /* Sets up the header and status byte the loop below reuses. */
    g_assert_cmpuint(bf_run(&f, 0, T_IN, 0, rr, 1, NULL), ==, S_OK);
    /* Until both paths were taken often (or a bound, under heavy load). */
    for (i = 0; i < 30000 && (kicked < 200 || silent < 200); i++) {
        int64_t until;

        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        /* 0 to ~100 us: within, around and past the 50 us window. */
        until = harness_now_ns() + (int64_t)(rng % 4 ? (rng >> 8) % 100000 : 0);
        while (harness_now_ns() < until) {
        }
        head = post_read(&f, &old);
        if (vq_driver_must_kick(&f.q[0], old)) {
            bf_kick(&f, 0);
            kicked++;
        } else {
            silent++;
        }
        /* The IOThread completes it; the main loop need not run. */
        WAIT_UNTIL(vq_driver_get_used(&f.q[0], &id, &len));
        g_assert_cmpuint(id, ==, head);
    }
    st = bf_stats(&f);
    g_test_message("rounds %u kicked %u silent %u poll_hits %llu "
                   "suppressed %llu",
                   i,
                   kicked, silent, (unsigned long long)st.queue[0].poll_hits,
                   (unsigned long long)st.queue[0].notify_suppressed);
    g_assert_cmpuint(kicked, >, 0);
    g_assert_cmpuint(silent, >, 0);
    g_assert_cmpuint(st.queue[0].poll_hits, >, 0);
    bf_destroy(&f);
}

/*
 * werror / rerror: report, ignore, stop (the hook; the request is held
 * until the VM runs again, then retried, answered once); short transfers.
 */
static void test_error_policy(void)
{
    struct bf_opts o = {.nr_iothreads = 1,
                        .fault = "fail@1=EIO+fail@2=ENOSPC+fail@4=EIO+short@5"};
    const struct vq_buf w[] = {{0, 4096, false}};
    const struct vq_buf r[] = {{0, 4096, true}};
    struct vq_buf ww[1], rr[1];
    uint32_t id, len;
    uint16_t head;
    struct bf f;

    bf_init(&f, &o);
    ww[0] = w[0];
    rr[0] = r[0];
    ww[0].gpa = f.scratch;
    rr[0].gpa = f.scratch + 8192;
    /* werror=enospc (default): EIO reports, ENOSPC stops. */
    g_assert_cmpuint(bf_run(&f, 0, T_OUT, 0, ww, 1, NULL), ==, S_IOERR);
    g_assert_cmpuint(__atomic_load_n(&f.stops, __ATOMIC_SEQ_CST), ==, 0);
    head = bf_req(&f, 0, T_OUT, 0, ww, 1);
    while (__atomic_load_n(&f.stops, __ATOMIC_SEQ_CST) == 0) {
        bf_step(&f);
    }
    g_assert_cmpint(__atomic_load_n(&f.stop_err, __ATOMIC_SEQ_CST), ==,
                    -ENOSPC);
    g_assert_cmpuint(__atomic_load_n(&f.errors, __ATOMIC_SEQ_CST), ==, 2);
    /* Held: not answered while the VM is stopped. */
    for (int i = 0; i < 50; i++) {
        bf_step(&f);
    }
    g_assert_cmpuint(vq_driver_used_idx(&f.q[0]), ==, 1);
    /* cont: retried (request 3, which succeeds), answered once. */
    vmm_machine_blk_pause(f.blk);
    vmm_machine_blk_resume(f.blk);
    bf_wait(&f, 0, &id, &len);
    g_assert_cmpuint(id, ==, head);
    g_assert_cmpuint(bf_status(&f, 0), ==, S_OK);
    g_assert_cmpuint(bf_stats(&f).dev.retried, ==, 1);
    g_assert_cmpuint(bf_stats(&f).dev.wr_highest_offset, ==, 4096);
    /* rerror=report (default). */
    g_assert_cmpuint(bf_run(&f, 0, T_IN, 0, rr, 1, NULL), ==, S_IOERR);
    /* A short transfer is continued: whole data. */
    memset(bf_ptr(&f, f.scratch, 4096), 0x5a, 4096);
    g_assert_cmpuint(bf_run(&f, 0, T_OUT, 0, ww, 1, NULL), ==, S_OK);
    g_assert_cmpuint(bf_run(&f, 0, T_IN, 0, rr, 1, NULL), ==, S_OK);
    g_assert_cmpuint(*(uint8_t *)bf_ptr(&f, f.scratch + 8192 + 4095, 1), ==,
                     0x5a);
    {
        struct vmm_blk_stats st = bf_stats(&f);

        g_assert_cmpuint(st.dev.failed_wr, ==, 2);
        g_assert_cmpuint(st.dev.failed_rd, ==, 1);
        g_assert_cmpuint(st.backend.short_transfers, >=, 1);
    }
    bf_destroy(&f);
    /* ignore: the guest sees success. */
    o.fault = "fail@1-2=EIO";
    o.werror = VMM_ONERR_IGNORE;
    o.rerror = VMM_ONERR_IGNORE;
    bf_init(&f, &o);
    ww[0].gpa = f.scratch;
    rr[0].gpa = f.scratch + 8192;
    g_assert_cmpuint(bf_run(&f, 0, T_OUT, 0, ww, 1, NULL), ==, S_OK);
    g_assert_cmpuint(bf_run(&f, 0, T_IN, 0, rr, 1, NULL), ==, S_OK);
    g_assert_cmpuint(bf_stats(&f).dev.failed_wr, ==, 1);
    bf_destroy(&f);
}

/*
 * A hostile guest re-posts heads still in flight: the queue takes no
 * more than its size, waits, and still answers every chain.  (The used
 * ring has room for four entries only: the test consumes each batch
 * before the next one can complete, hence the longer second stall.)
 */
static void test_queue_full(void)
{
    struct bf_opts o = {.nr_iothreads = 1,
                        .queue_size = 4,
                        .fault = "stall@1-4=100+stall@5-8=1000"};
    unsigned seen[4] = {0};
    uint16_t heads[4];
    struct vmm_blk_stats st;
    uint32_t id, len;
    unsigned i, round;
    struct bf f;

    bf_init(&f, &o);
    post_reads(&f, 4, f.scratch, heads, true);
    BF_WAIT_FOR(&f, st, st.queue[0].processed == 4);
    for (i = 0; i < 4; i++) {
        vq_driver_publish(&f.q[0], heads[i]);
    }
    bf_kick(&f, 0);
    for (round = 1; round <= 2; round++) {
        BF_WAIT_FOR(&f, st, vq_driver_used_idx(&f.q[0]) == 4 * round);
        for (i = 0; i < 4; i++) {
            /* The heads were posted twice: round 1's answers must not
             * free descriptors that round 2's requests are read from. */
            g_assert_true(vq_driver_get_used_keep(&f.q[0], &id, &len));
            g_assert_cmpuint(id, <, 4);
            seen[id]++;
        }
    }
    st = bf_stats(&f);
    g_assert_cmpuint(st.queue[0].processed, ==, 8);
    g_assert_cmpuint(st.dev.queue_full, >=, 1);
    /* Every chain answered: each head twice. */
    for (i = 0; i < 4; i++) {
        g_assert_cmpuint(seen[heads[i]], ==, 2);
    }
    bf_destroy(&f);
}

/* Without doorbells, QueueNotify exits to the transport and still works. */
static void test_notify_exits(void)
{
    struct bf_opts o = {.nr_iothreads = 1, .no_doorbells = true};
    const struct vq_buf r[] = {{0, 512, true}};
    struct vq_buf rr[1];
    struct bf f;

    bf_init(&f, &o);
    rr[0] = r[0];
    rr[0].gpa = f.scratch;
    g_assert_cmpuint(bf_run(&f, 0, T_IN, 0, rr, 1, NULL), ==, S_OK);
    g_assert_cmpuint(bf_stats(&f).transport.notifies, ==, 1);
    g_assert_cmpuint(bf_stats(&f).transport.doorbells, ==, 0);
    bf_destroy(&f);
}

static int try_create(struct bf_opts *o)
{
    struct bf f;
    int ret;

    ret = bf_create(&f, o);
    bf_destroy(&f);
    return ret;
}

static void test_create_errors(void)
{
    struct bf_opts o = {0};

    o.queue_size = 100;
    g_assert_cmpint(try_create(&o), ==, -EINVAL);
    o.queue_size = 2;
    g_assert_cmpint(try_create(&o), ==, -EINVAL);
    o.queue_size = 2048;
    g_assert_cmpint(try_create(&o), ==, -EINVAL);
    o.queue_size = 0;
    o.num_queues = 17;
    g_assert_cmpint(try_create(&o), ==, -EINVAL);
    o.num_queues = 0;

    o.fault = "bogus";
    g_assert_cmpint(try_create(&o), ==, -EINVAL);
    o.fault = NULL;
    o.queue_size = 1024;
    o.num_queues = 16;
    g_assert_cmpint(try_create(&o), ==, 0);
}

/* Explicit iothread-vq-mapping: accepted and refused forms. */
static void test_vq_mapping(void)
{
    struct vmm_config_iothread ioc[2] = {{.id = "a", .aio_max_batch = 8},
                                         {.id = "b", .aio_max_batch = -1}};
    char path[] = "/tmp/loom-vqmap-XXXXXX";
    struct vmm_config_drive drive = {.id = "d", .file = path};
    struct vmm_config_blk cfg = {.drive = "d", .num_queues = 3};
    struct loom_iothread *io[2];
    struct loom_loop *loops[2];
    struct vmm_blk_wiring w = {0};
    struct vmm_blk_info info;
    struct test_ram ram;
    struct vmm_bus *bus;
    struct vmm_blk *b;
    char *err = NULL;

    int fd = mkstemp(path);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, 1 << 20), ==, 0);
    close(fd);
    if (!loom_main_loop()) {
        g_assert_cmpint(loom_main_init(), ==, 0);
    }
    if (!loom_bql_locked()) {
        loom_bql_lock();
    }
    test_ram_init(&ram, 1 << 20);
    g_assert_cmpint(vmm_bus_new(UINT64_MAX, &bus), ==, 0);
    g_assert_cmpint(loom_iothread_new("vqmap-a", NULL, &io[0]), ==, 0);
    g_assert_cmpint(loom_iothread_new("vqmap-b", NULL, &io[1]), ==, 0);
    loops[0] = loom_iothread_loop(io[0]);
    loops[1] = loom_iothread_loop(io[1]);
    w.blk = &cfg;
    w.drive = &drive;
    w.gmem = ram.gm;
    w.mmio_bus = bus;
    w.base = BF_BASE;
    w.main_loop = loom_main_loop();
    w.nr_iothreads = 2;
    w.iothreads = ioc;
    w.iothread_loops = loops;
    /* vqs listed: 0 and 2 on a, 1 on b. */
    cfg.nr_vq_maps = 2;
    cfg.vq_maps[0] = (struct vmm_config_vq_map){"a", 2, {0, 2}};
    cfg.vq_maps[1] = (struct vmm_config_vq_map){"b", 1, {1}};
    g_assert_cmpint(vmm_machine_blk_create(&w, &b, &err), ==, 0);
    vmm_machine_blk_info(b, &info);
    g_assert_cmpstr(info.queue_iothread[0], ==, "a");
    g_assert_cmpstr(info.queue_iothread[1], ==, "b");
    g_assert_cmpstr(info.queue_iothread[2], ==, "a");
    vmm_machine_blk_free(b);
    /* Twice, missing, out of range, mixed, unknown. */
    cfg.vq_maps[1] = (struct vmm_config_vq_map){"b", 1, {2}};
    g_assert_cmpint(vmm_machine_blk_create(&w, &b, &err), ==, -EINVAL);
    g_assert_nonnull(strstr(err, "twice"));
    free(err);
    cfg.vq_maps[0] = (struct vmm_config_vq_map){"a", 1, {0}};
    g_assert_cmpint(vmm_machine_blk_create(&w, &b, &err), ==, -EINVAL);
    g_assert_nonnull(strstr(err, "not mapped"));
    free(err);
    cfg.vq_maps[1] = (struct vmm_config_vq_map){"b", 2, {1, 3}};
    g_assert_cmpint(vmm_machine_blk_create(&w, &b, &err), ==, -EINVAL);
    free(err);
    cfg.vq_maps[1] = (struct vmm_config_vq_map){"b", 0, {0}};
    g_assert_cmpint(vmm_machine_blk_create(&w, &b, &err), ==, -EINVAL);
    free(err);
    cfg.vq_maps[1] = (struct vmm_config_vq_map){"c", 1, {1}};
    g_assert_cmpint(vmm_machine_blk_create(&w, &b, &err), ==, -EINVAL);
    free(err);
    cfg.nr_vq_maps = 0;
    cfg.iothread = "zz";
    g_assert_cmpint(vmm_machine_blk_create(&w, &b, &err), ==, -EINVAL);
    free(err);
    loom_iothread_free(io[0]);
    loom_iothread_free(io[1]);
    vmm_bus_free(bus);
    test_ram_destroy(&ram);
    unlink(path);
}

int main(int argc, char **argv)
{
    static const enum vmm_cache_mode caches[] = {
        VMM_CACHE_WRITEBACK, VMM_CACHE_NONE, VMM_CACHE_UNSAFE};
    static const bool no_event_idx[] = {false, true};
    int ret;

    harness_init(&argc, &argv);
    g_test_add_func("/virtio-blk-ops/reset-inflight/iothread",
                    test_reset_inflight_iothread);
    g_test_add_func("/virtio-blk-ops/reset-inflight/main-vcpu",
                    test_reset_inflight_main);
    g_test_add_func("/virtio-blk-ops/pause-resume", test_pause_resume);
    g_test_add_func("/virtio-blk-ops/multiqueue", test_multiqueue);
    g_test_add_data_func("/virtio-blk-ops/durability/writeback", &caches[0],
                         test_durability);
    g_test_add_data_func("/virtio-blk-ops/durability/none", &caches[1],
                         test_durability);
    g_test_add_data_func("/virtio-blk-ops/durability/unsafe", &caches[2],
                         test_durability);
    g_test_add_func("/virtio-blk-ops/writethrough", test_writethrough);
    g_test_add_func("/virtio-blk-ops/interrupt-suppression",
                    test_interrupt_suppression);
    g_test_add_func("/virtio-blk-ops/polling", test_polling);
    g_test_add_data_func("/virtio-blk-ops/poll-transitions/event-idx",
                         &no_event_idx[0], test_poll_transitions);
    g_test_add_data_func("/virtio-blk-ops/poll-transitions/no-notify-flag",
                         &no_event_idx[1], test_poll_transitions);
    g_test_add_func("/virtio-blk-ops/error-policy", test_error_policy);
    g_test_add_func("/virtio-blk-ops/queue-full", test_queue_full);
    g_test_add_func("/virtio-blk-ops/notify-exits", test_notify_exits);
    g_test_add_func("/virtio-blk-ops/create-errors", test_create_errors);
    g_test_add_func("/virtio-blk-ops/vq-mapping", test_vq_mapping);
    ret = g_test_run();
    /*
     * Join the main loop's pool workers: one that exited after its idle
     * time (the run outlasts it) is a thread leak to TSan otherwise.
     */
    if (loom_main_loop()) {
        if (loom_bql_locked()) {
            loom_bql_unlock();
        }
        loom_main_cleanup();
    }
    return ret;
}
