/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk queues moving between IOThreads while a driver uses them
 * (vmm_machine_blk_move_queue(), QMP's x-loom-set-vq-mapping), and the
 * per-queue latency accounting (requests, answers, the wait and service
 * histograms), without KVM (blk-fixture.c): requests in flight complete
 * on the old loop before the move returns, the new loop serves what
 * comes after (the old one is kept busy meanwhile to prove it), a
 * doorbell rung while the old loop cannot take it is served once, a
 * request the stop policy holds is retried by the new loop, and bad
 * arguments are refused.  Racing moves under load: test-blk-stress.c.
 */
#include <errno.h>
#include <string.h>

#include <loom/bh.h>
#include <loom/main.h>
#include <loom/sync.h>
#include <loom/thread.h>

#include "blk-fixture.h"
#include "harness.h"

#define T_IN VMM_VIRTIO_BLK_T_IN
#define T_OUT VMM_VIRTIO_BLK_T_OUT
#define S_OK VMM_VIRTIO_BLK_S_OK
#define SEC 1000000000ll
#define MS 1000000ll

/* Every request taken was answered, and both histograms add up. */
static void check_accounting(struct bf *f, unsigned q, uint64_t requests)
{
    struct vmm_blk_stats st = bf_stats(f);
    const struct vmm_blk_queue_stats *s = &st.queue[q];

    g_assert_cmpuint(s->processed, ==, requests);
    g_assert_cmpuint(s->lat.answered, ==, requests);
    g_assert_cmpuint(s->dropped, ==, 0);
    g_assert_cmpuint(bf_lat_sum(&s->wait), ==, requests);
    g_assert_cmpuint(bf_lat_sum(&s->lat.service), ==, requests);
    g_assert_cmpuint(vq_driver_used_idx(&f->q[q]), ==, (uint16_t)requests);
}

/* An IOThread kept busy by the test: it runs nothing else meanwhile. */
struct blocker {
    struct loom_event go, started, done;
};

static void block_fn(void *opaque)
{
    struct blocker *b = opaque;

    loom_event_set(&b->started);
    loom_event_wait(&b->go);
    loom_event_set(&b->done);
}

static void block_loop(struct blocker *b, struct loom_loop *l)
{
    loom_event_init(&b->go, false);
    loom_event_init(&b->started, false);
    loom_event_init(&b->done, false);
    g_assert_cmpint(loom_bh_oneshot(l, block_fn, b), ==, 0);
    loom_event_wait(&b->started);
}

/* Let the loop go on; returns once it no longer uses @b. */
static void unblock_loop(struct blocker *b)
{
    loom_event_set(&b->go);
    loom_event_wait(&b->done);
}

static void blocker_destroy(struct blocker *b)
{
    loom_event_destroy(&b->go);
    loom_event_destroy(&b->started);
    loom_event_destroy(&b->done);
}

static const char *queue_iothread(struct bf *f, unsigned q)
{
    struct vmm_blk_info info;

    vmm_machine_blk_info(f->blk, &info);
    return info.queue_iothread[q];
}

/* Without moves: every request is counted once in each histogram. */
static void test_accounting(void)
{
    struct bf_opts o = {.nr_iothreads = 1};
    struct vq_buf w[] = {{0, 4096, false}}, r[] = {{0, 4096, true}};
    struct vmm_blk_stats st;
    unsigned i;
    struct bf f;

    bf_init(&f, &o);
    w[0].gpa = f.scratch;
    r[0].gpa = f.scratch + 8192;
    for (i = 0; i < 20; i++) {
        g_assert_cmpuint(bf_run(&f, 0, T_OUT, i * 8, w, 1, NULL), ==, S_OK);
        g_assert_cmpuint(bf_run(&f, 0, T_IN, i * 8, r, 1, NULL), ==, S_OK);
    }
    check_accounting(&f, 0, 40);
    st = bf_stats(&f);
    /* Each was taken by the pass its doorbell started: no wait. */
    g_assert_cmpuint(st.queue[0].wait.bucket[0], ==, 40);
    g_assert_cmpuint(st.queue[0].wait.sum_ns, ==, 0);
    /* Real I/O takes time; at most the test's own duration. */
    g_assert_cmpuint(st.queue[0].lat.service.sum_ns, >, 0);
    g_assert_cmpuint(st.queue[0].lat.service.bucket[0], <, 40);
    g_assert_cmpuint(st.queue[0].moves, ==, 0);
    bf_destroy(&f);
}

/* A request found while the queue is paused waits until resume. */
static void test_wait_paused(void)
{
    struct bf_opts o = {.nr_iothreads = 1};
    struct vq_buf r[] = {{0, 512, true}};
    struct vmm_blk_stats st;
    uint64_t kicks;
    uint32_t id, len;
    uint16_t head;
    struct bf f;

    bf_init(&f, &o);
    r[0].gpa = f.scratch;
    vmm_machine_blk_pause(f.blk);
    kicks = bf_stats(&f).queue[0].kicks;
    head = bf_req(&f, 0, T_IN, 0, r, 1);
    BF_WAIT_FOR(&f, st, st.queue[0].kicks > kicks);
    g_usleep(20 * 1000);
    vmm_machine_blk_resume(f.blk);
    bf_wait(&f, 0, &id, &len);
    g_assert_cmpuint(id, ==, head);
    check_accounting(&f, 0, 1);
    st = bf_stats(&f);
    /* 20 ms is in bucket 24 (16.8 ms .. 33.6 ms) or above. */
    g_assert_cmpuint(st.queue[0].wait.bucket[0], ==, 0);
    g_assert_cmpuint(st.queue[0].wait.sum_ns, >=, 20 * MS);
    g_assert_cmpuint(
        bf_lat_sum(&st.queue[0].wait) - st.queue[0].wait.bucket[24] -
            st.queue[0].wait.bucket[25] - st.queue[0].wait.bucket[26] -
            st.queue[0].wait.bucket[27],
        <=, 1);
    g_assert_cmpuint(st.queue[0].wait.sum_ns, <, 10 * SEC);
    bf_destroy(&f);
}

/* A request posted and kicked by another thread while the move runs. */
struct late_post {
    struct bf *f;
    uint64_t area;
    uint16_t head;
};

static void *post_later(void *opaque)
{
    struct late_post *p = opaque;

    g_usleep(50 * 1000);
    bf_post_reads(p->f, 0, 1, p->area, &p->head, false);
    bf_kick(p->f, 0);
    return NULL;
}

/*
 * Requests in flight when the move starts complete on the old loop
 * before it returns; a doorbell that rings meanwhile (the old loop
 * consumes it, and takes nothing) is not lost: the new loop looks at the
 * ring.  Afterwards the new loop serves the queue alone (the old one is
 * kept busy meanwhile to prove it), and back again.
 */
static void test_move_inflight(void)
{
    struct bf_opts o = {.nr_iothreads = 2, .fault = "stall@1-4=200"};
    struct vq_buf r[] = {{0, 512, true}};
    struct vmm_blk_stats st;
    struct late_post lp;
    struct loom_thread *t;
    struct blocker blk;
    unsigned seen[4] = {0};
    uint16_t heads[4];
    uint32_t id, len;
    int64_t t0;
    unsigned i;
    struct bf f;

    bf_init(&f, &o);
    lp = (struct late_post){&f, f.scratch + 128 * 1024, 0};
    r[0].gpa = f.scratch + 64 * 1024;
    g_assert_cmpstr(queue_iothread(&f, 0), ==, f.iocfg[0].id);
    t0 = harness_now_ns();
    bf_post_reads(&f, 0, 4, f.scratch, heads, false);
    bf_kick(&f, 0);
    BF_WAIT_FOR(&f, st, st.queue[0].processed == 4);
    g_assert_cmpint(loom_thread_create(&t, "post", post_later, &lp, 0), ==, 0);
    g_assert_cmpint(
        vmm_machine_blk_move_queue(f.blk, 0, &f.iocfg[1], f.ioloop[1]), ==, 0);
    g_assert_cmpint(loom_thread_join(t, NULL), ==, 0);
    /* Answered on io0 before the move returned: none was dropped. */
    g_assert_cmpint(harness_now_ns() - t0, >=, 200 * MS);
    g_assert_cmpuint(vq_driver_used_idx(&f.q[0]), >=, 4);
    for (i = 0; i < 4; i++) {
        unsigned k;

        g_assert_true(vq_driver_get_used(&f.q[0], &id, &len));
        for (k = 0; k < 4 && heads[k] != id; k++) {
        }
        g_assert_cmpuint(k, <, 4);
        seen[k]++;
    }
    for (i = 0; i < 4; i++) {
        g_assert_cmpuint(seen[i], ==, 1);
        g_assert_cmpuint(*(uint8_t *)bf_ptr(&f, f.scratch + i * 4096 + 1024, 1),
                         ==, S_OK);
    }
    /* The late request: io1 found it (io0 took nothing after the kick). */
    block_loop(&blk, f.ioloop[0]);
    bf_wait(&f, 0, &id, &len);
    unblock_loop(&blk);
    blocker_destroy(&blk);
    g_assert_cmpuint(id, ==, lp.head);
    g_assert_cmpuint(*(uint8_t *)bf_ptr(&f, lp.area + 1024, 1), ==, S_OK);
    st = bf_stats(&f);
    g_assert_cmpuint(st.queue[0].kicks, >=, 2);
    /* It waited in the ring from the kick io0 could not serve. */
    g_assert_cmpuint(st.queue[0].wait.bucket[0], ==, 4);
    g_assert_cmpuint(st.queue[0].wait.sum_ns, >, 0);
    g_assert_cmpstr(queue_iothread(&f, 0), ==, f.iocfg[1].id);
    g_assert_cmpuint(st.queue[0].moves, ==, 1);

    /* io0 is blocked: io1 serves. */
    block_loop(&blk, f.ioloop[0]);
    for (i = 0; i < 10; i++) {
        g_assert_cmpuint(bf_run(&f, 0, T_IN, i, r, 1, NULL), ==, S_OK);
    }
    unblock_loop(&blk);
    blocker_destroy(&blk);
    /* Back to io0; io1 blocked this time. */
    g_assert_cmpint(
        vmm_machine_blk_move_queue(f.blk, 0, &f.iocfg[0], f.ioloop[0]), ==, 0);
    g_assert_cmpstr(queue_iothread(&f, 0), ==, f.iocfg[0].id);
    block_loop(&blk, f.ioloop[1]);
    for (i = 0; i < 10; i++) {
        g_assert_cmpuint(bf_run(&f, 0, T_IN, i, r, 1, NULL), ==, S_OK);
    }
    unblock_loop(&blk);
    blocker_destroy(&blk);
    check_accounting(&f, 0, 25);
    g_assert_cmpuint(bf_stats(&f).queue[0].moves, ==, 2);
    bf_destroy(&f);
}

struct late_unblock {
    struct blocker *b;
    unsigned delay_ms;
};

static void *unblock_later(void *opaque)
{
    struct late_unblock *u = opaque;

    g_usleep(u->delay_ms * 1000);
    unblock_loop(u->b);
    return NULL;
}

/*
 * A doorbell rung while the old loop is busy elsewhere: the move waits
 * for that loop, and whichever loop takes the request (the old one before
 * it lets go, or the new one looking at the ring after it registers),
 * it is answered exactly once.
 */
static void test_move_pending_kick(void)
{
    struct bf_opts o = {.nr_iothreads = 2};
    struct vq_buf r[] = {{0, 512, true}};
    struct late_unblock u;
    struct loom_thread *t;
    struct blocker blk;
    uint32_t id, len;
    uint16_t head;
    unsigned round;
    struct bf f;

    bf_init(&f, &o);
    r[0].gpa = f.scratch;
    for (round = 0; round < 6; round++) {
        unsigned from = round % 2, to = 1 - from;

        block_loop(&blk, f.ioloop[from]);
        head = bf_req(&f, 0, T_IN, round, r, 1);
        u = (struct late_unblock){&blk, 20 + round * 5};
        g_assert_cmpint(loom_thread_create(&t, "unblock", unblock_later, &u, 0),
                        ==, 0);
        g_assert_cmpint(
            vmm_machine_blk_move_queue(f.blk, 0, &f.iocfg[to], f.ioloop[to]),
            ==, 0);
        g_assert_cmpint(loom_thread_join(t, NULL), ==, 0);
        blocker_destroy(&blk);
        bf_wait(&f, 0, &id, &len);
        g_assert_cmpuint(id, ==, head);
        g_assert_cmpuint(bf_status(&f, 0), ==, S_OK);
        /* Nothing more comes. */
        for (int i = 0; i < 20; i++) {
            bf_step(&f);
        }
        g_assert_false(vq_driver_get_used(&f.q[0], &id, &len));
    }
    check_accounting(&f, 0, 6);
    g_assert_cmpuint(bf_stats(&f).queue[0].moves, ==, 6);
    bf_destroy(&f);
}

/* A request held by werror=stop moves with its paused queue. */
static void test_move_held(void)
{
    struct bf_opts o = {.nr_iothreads = 2, .fault = "fail@1=ENOSPC"};
    struct vq_buf w[] = {{0, 4096, false}};
    struct blocker blk;
    uint32_t id, len;
    uint16_t head;
    struct bf f;

    bf_init(&f, &o);
    w[0].gpa = f.scratch;
    head = bf_req(&f, 0, T_OUT, 0, w, 1);
    while (__atomic_load_n(&f.stops, __ATOMIC_SEQ_CST) == 0) {
        bf_step(&f);
    }
    /* The VM stops (io-error) ... */
    vmm_machine_blk_pause(f.blk);
    g_assert_cmpint(
        vmm_machine_blk_move_queue(f.blk, 0, &f.iocfg[1], f.ioloop[1]), ==, 0);
    for (int i = 0; i < 20; i++) {
        bf_step(&f);
    }
    g_assert_cmpuint(vq_driver_used_idx(&f.q[0]), ==, 0);
    /* ... and cont: io1 retries it (io0 is blocked), answered once. */
    block_loop(&blk, f.ioloop[0]);
    vmm_machine_blk_resume(f.blk);
    bf_wait(&f, 0, &id, &len);
    unblock_loop(&blk);
    blocker_destroy(&blk);
    g_assert_cmpuint(id, ==, head);
    g_assert_cmpuint(bf_status(&f, 0), ==, S_OK);
    g_assert_cmpuint(bf_stats(&f).dev.retried, ==, 1);
    check_accounting(&f, 0, 1);
    bf_destroy(&f);
}

/* Several queues: each moves alone; bad arguments change nothing. */
static void test_move_errors(void)
{
    struct bf_opts o = {.nr_iothreads = 2, .num_queues = 2, .nr_maps = 2};
    struct vq_buf r[] = {{0, 512, true}};
    unsigned q;
    struct bf f;

    bf_init(&f, &o);
    r[0].gpa = f.scratch;
    g_assert_cmpstr(queue_iothread(&f, 0), ==, f.iocfg[0].id);
    g_assert_cmpstr(queue_iothread(&f, 1), ==, f.iocfg[1].id);
    g_assert_cmpint(
        vmm_machine_blk_move_queue(f.blk, 2, &f.iocfg[1], f.ioloop[1]), ==,
        -EINVAL);
    g_assert_cmpint(vmm_machine_blk_move_queue(f.blk, 0, NULL, f.ioloop[1]), ==,
                    -EINVAL);
    g_assert_cmpint(vmm_machine_blk_move_queue(f.blk, 0, &f.iocfg[1], NULL), ==,
                    -EINVAL);
    /* Already there: nothing to do. */
    g_assert_cmpint(
        vmm_machine_blk_move_queue(f.blk, 1, &f.iocfg[1], f.ioloop[1]), ==, 0);
    g_assert_cmpuint(bf_stats(&f).queue[1].moves, ==, 0);
    /* Both on io1, then both on io0 (io1 loses its context), then apart. */
    g_assert_cmpint(
        vmm_machine_blk_move_queue(f.blk, 0, &f.iocfg[1], f.ioloop[1]), ==, 0);
    for (q = 0; q < 2; q++) {
        g_assert_cmpint(
            vmm_machine_blk_move_queue(f.blk, q, &f.iocfg[0], f.ioloop[0]), ==,
            0);
    }
    g_assert_cmpint(
        vmm_machine_blk_move_queue(f.blk, 1, &f.iocfg[1], f.ioloop[1]), ==, 0);
    for (q = 0; q < 2; q++) {
        g_assert_cmpuint(bf_run(&f, q, T_IN, 0, r, 1, NULL), ==, S_OK);
        check_accounting(&f, q, 1);
    }
    g_assert_cmpstr(queue_iothread(&f, 0), ==, f.iocfg[0].id);
    g_assert_cmpstr(queue_iothread(&f, 1), ==, f.iocfg[1].id);
    bf_destroy(&f);

    /* A device the main loop serves does not move. */
    o = (struct bf_opts){.nr_iothreads = 0};
    bf_init(&f, &o);
    g_assert_null(queue_iothread(&f, 0));
    g_assert_cmpint(
        vmm_machine_blk_move_queue(f.blk, 0, &f.iocfg[0], f.ioloop[0]), ==,
        -EINVAL);
    bf_destroy(&f);
}

/* A queue the driver has not started moves too, and starts where it is. */
static void test_move_stopped_queue(void)
{
    struct bf_opts o = {.nr_iothreads = 2};
    struct vq_buf r[] = {{0, 512, true}};
    struct bf f;

    bf_init(&f, &o);
    r[0].gpa = f.scratch;
    bf_wr(&f, VMM_VIRTIO_MMIO_STATUS, 0);
    g_assert_cmpint(
        vmm_machine_blk_move_queue(f.blk, 0, &f.iocfg[1], f.ioloop[1]), ==, 0);
    g_assert_true(bf_driver_up(&f));
    g_assert_cmpuint(bf_run(&f, 0, T_IN, 0, r, 1, NULL), ==, S_OK);
    check_accounting(&f, 0, 1);
    bf_destroy(&f);
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/virtio-blk-move/accounting", test_accounting);
    g_test_add_func("/virtio-blk-move/wait-paused", test_wait_paused);
    g_test_add_func("/virtio-blk-move/inflight", test_move_inflight);
    g_test_add_func("/virtio-blk-move/pending-kick", test_move_pending_kick);
    g_test_add_func("/virtio-blk-move/held", test_move_held);
    g_test_add_func("/virtio-blk-move/errors", test_move_errors);
    g_test_add_func("/virtio-blk-move/stopped-queue", test_move_stopped_queue);
    return g_test_run();
}
