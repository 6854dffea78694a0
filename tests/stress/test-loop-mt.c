/* SPDX-License-Identifier: MIT */
/*
 * Stress: NPROD threads x OPS cross-thread BH schedules (distinct BHs and
 * one BH shared by every thread) plus loom_timer_mod()s into one loop,
 * with exact accounting.  Every schedule is a counted request; a BH run
 * consumes the requests made so far, so at the end every request must
 * have been served exactly once (nothing lost, nothing served twice) and
 * runs <= schedules (the difference is coalescing).  Producers regularly
 * wait for the loop to drain their requests, so the loop goes to sleep
 * and must be woken thousands of times; a watchdog fails the test if
 * progress stalls (a lost wake-up).  Timers are armed "due now" and must
 * fire after their last arming.
 *
 * Run twice: with no fd handler (the loop sleeps on its futex) and with
 * one added and removed every 64 iterations and the backend switched
 * between poll and epoll every 256 (futex and eventfd sleeps alternate
 * under the notifiers).  OPS is 1,000,000 in every build: about
 * 1 s per run normally and 10 s under ThreadSanitizer on 2 cores.
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include <loom/bh.h>
#include <loom/clock.h>
#include <loom/loop.h>
#include <loom/timer.h>

#include "base/atomic.h"
#include "base/compiler.h"

#define NPROD 4
#define NDIST 256
#define OPS 1000000
#define TIMER_EVERY 64
#define DRAIN_EVERY 512
#define STALL_NS (20LL * 1000 * 1000 * 1000)

struct sbh {
    struct loom_bh *bh;
    unsigned long req[NPROD]; /* atomic: requests not yet served */
    unsigned long runs;       /* home only */
};

struct stimer {
    struct loom_timer *t;
    unsigned long mod_seq;   /* atomic: armings so far */
    unsigned long fired_seq; /* home: mod_seq seen by the last firing */
    unsigned long fires;     /* home */
};

struct producer {
    int id;
    pthread_t th;
    struct sbh dist[NDIST];
    struct stimer timer;
    unsigned long scheduled;   /* written by the producer, read after join */
    unsigned long outstanding; /* atomic: requests the loop has not served */
    unsigned long served;      /* home */
    int done;                  /* atomic */
} LOOM_CACHE_ALIGNED;

static struct loom_loop *g_loop;
static struct producer g_prod[NPROD];
static struct sbh g_shared;
static unsigned long g_progress; /* atomic: bumped by every callback */
static int g_finished;           /* atomic: stops the watchdog */

static void bh_cb(void *opaque)
{
    struct sbh *b = opaque;
    int p;

    b->runs++;
    for (p = 0; p < NPROD; p++) {
        unsigned long n = loom__atomic_xchg(&b->req[p], 0);

        if (n) {
            g_prod[p].served += n;
            /* Pairs with the acquire load in producer_drain(). */
            loom__atomic_fetch_sub(&g_prod[p].outstanding, n);
        }
    }
    loom__atomic_add_relaxed(&g_progress, 1);
}

static void timer_cb(void *opaque)
{
    struct stimer *s = opaque;

    s->fires++;
    s->fired_seq = loom__atomic_load_seq(&s->mod_seq);
    loom__atomic_add_relaxed(&g_progress, 1);
}

static void nop_cb(void *opaque)
{
}

static void request(struct producer *pr, struct sbh *b)
{
    /* Count the request before scheduling: the run that sees it serves it. */
    loom__atomic_inc(&pr->outstanding);
    loom__atomic_inc(&b->req[pr->id]);
    loom_bh_schedule(b->bh);
    pr->scheduled++;
}

static void producer_drain(struct producer *pr)
{
    /* Let the loop run dry so that it sleeps and must be woken again. */
    while (loom__atomic_load_acquire(&pr->outstanding)) {
        sched_yield();
    }
}

static void *producer_fn(void *opaque)
{
    struct producer *pr = opaque;
    long i;

    for (i = 0; i < OPS; i++) {
        request(pr, (i % 4 == 3) ? &g_shared : &pr->dist[i % NDIST]);
        if (i % TIMER_EVERY == 0) {
            loom__atomic_inc(&pr->timer.mod_seq);
            loom_timer_mod(pr->timer.t, loom_clock_ns(LOOM_CLOCK_HOST));
        }
        if (i % DRAIN_EVERY == DRAIN_EVERY - 1) {
            producer_drain(pr);
        }
    }
    loom__atomic_store_release(&pr->done, 1);
    /* A BH, not a bare notify: the loop must re-check its condition. */
    g_assert_cmpint(loom_bh_oneshot(g_loop, nop_cb, NULL), ==, 0);
    return NULL;
}

static void *watchdog_fn(void *opaque)
{
    struct harness_stall stall;

    harness_stall_init(&stall);
    while (!loom__atomic_load_acquire(&g_finished)) {
        unsigned long now = loom__atomic_read(&g_progress);
        struct timespec ts = {0, 50 * 1000 * 1000};

        if (harness_stalled(&stall, now, STALL_NS)) {
            int p;

            fprintf(stderr, "watchdog: no progress for %lld s\n",
                    STALL_NS / 1000000000);
            for (p = 0; p < NPROD; p++) {
                fprintf(stderr, "  producer %d: done %d outstanding %lu\n", p,
                        loom__atomic_read(&g_prod[p].done),
                        loom__atomic_read(&g_prod[p].outstanding));
            }
            abort();
        }
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static bool all_done(void)
{
    int p;

    for (p = 0; p < NPROD; p++) {
        struct producer *pr = &g_prod[p];

        if (!loom__atomic_load_acquire(&pr->done) ||
            loom__atomic_load_acquire(&pr->outstanding) ||
            pr->timer.fired_seq != loom__atomic_load_seq(&pr->timer.mod_seq) ||
            loom_timer_pending(pr->timer.t)) {
            return false;
        }
    }
    return true;
}

/*
 * @toggle_fd: every 64 iterations, add or remove an fd handler that never
 * fires, so the loop alternates between sleeping on its futex (no fd to
 * watch) and in its fd monitor (eventfd), while notifiers race with it.
 */
static void run(bool toggle_fd)
{
    unsigned long sched = 0, runs = 0, served = 0, mods = 0, fires = 0;
    struct loom_loop_stats st;
    unsigned long iter = 0;
    bool fd_on = false;
    pthread_t wd;
    int p, j, sv[2];

    memset(g_prod, 0, sizeof(g_prod));
    memset(&g_shared, 0, sizeof(g_shared));
    loom__atomic_set(&g_finished, 0);
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
    g_loop = harness_loop_new();
    g_assert_cmpint(
        loom_bh_new(g_loop, bh_cb, &g_shared, "shared", &g_shared.bh), ==, 0);
    for (p = 0; p < NPROD; p++) {
        struct producer *pr = &g_prod[p];

        pr->id = p;
        for (j = 0; j < NDIST; j++) {
            g_assert_cmpint(loom_bh_new(g_loop, bh_cb, &pr->dist[j], "dist",
                                        &pr->dist[j].bh),
                            ==, 0);
        }
        g_assert_cmpint(loom_timer_new(g_loop, LOOM_CLOCK_HOST, timer_cb,
                                       &pr->timer, &pr->timer.t),
                        ==, 0);
    }
    g_assert_cmpint(pthread_create(&wd, NULL, watchdog_fn, NULL), ==, 0);
    for (p = 0; p < NPROD; p++) {
        g_assert_cmpint(
            pthread_create(&g_prod[p].th, NULL, producer_fn, &g_prod[p]), ==,
            0);
    }
    while (!all_done()) {
        loom_loop_poll(g_loop, true);
        loom__atomic_add_relaxed(&g_progress, 1);
        if (toggle_fd && ++iter % 256 == 0) {
            /* Also move between backends while notifiers race. */
            g_assert_cmpint(loom_loop_set_fdmon(g_loop, (iter / 256) % 2
                                                            ? LOOM_FDMON_EPOLL
                                                            : LOOM_FDMON_POLL),
                            ==, 0);
        }
        if (toggle_fd && iter % 64 == 0) {
            fd_on = !fd_on;
            g_assert_cmpint(loom_set_fd_handler(g_loop, sv[0],
                                                fd_on ? nop_cb : NULL, NULL,
                                                NULL, NULL, NULL),
                            ==, 0);
        }
    }
    if (fd_on) {
        g_assert_cmpint(
            loom_set_fd_handler(g_loop, sv[0], NULL, NULL, NULL, NULL, NULL),
            ==, 0);
    }
    for (p = 0; p < NPROD; p++) {
        pthread_join(g_prod[p].th, NULL);
    }
    loom__atomic_store_release(&g_finished, 1);
    pthread_join(wd, NULL);
    /* Run the producers' final one-shots. */
    while (loom_loop_poll(g_loop, false)) {
    }

    runs = g_shared.runs;
    for (p = 0; p < NPROD; p++) {
        struct producer *pr = &g_prod[p];

        g_assert_cmpuint(pr->scheduled, ==, OPS);
        g_assert_cmpuint(pr->served, ==, pr->scheduled);
        g_assert_cmpuint(loom__atomic_read(&g_shared.req[p]), ==, 0);
        sched += pr->scheduled;
        served += pr->served;
        for (j = 0; j < NDIST; j++) {
            g_assert_cmpuint(loom__atomic_read(&pr->dist[j].req[p]), ==, 0);
            runs += pr->dist[j].runs;
            loom_bh_free(pr->dist[j].bh);
        }
        g_assert_cmpuint(pr->timer.fires, >=, 1);
        g_assert_cmpuint(pr->timer.fires, <=, pr->timer.mod_seq);
        mods += pr->timer.mod_seq;
        fires += pr->timer.fires;
        loom_timer_free(pr->timer.t);
    }
    /* A run serves at least... nothing or more: never more runs than
     * schedules (each run needs a schedule that set BH_PENDING). */
    g_assert_cmpuint(runs, <=, sched);
    loom_loop_stats(g_loop, &st);
    g_assert_cmpuint(st.bh_runs, ==, runs + NPROD);
    g_assert_cmpuint(st.timer_runs, ==, fires);
    printf("# schedules %lu served %lu runs %lu (coalesced %lu); timer mods "
           "%lu fires %lu; notify sent %llu skipped %llu; iterations %llu\n",
           sched, served, runs, sched - runs, mods, fires,
           (unsigned long long)st.notify_sent,
           (unsigned long long)st.notify_skipped,
           (unsigned long long)st.iterations);
    loom_bh_free(g_shared.bh);
    loom_loop_poll(g_loop, false);
    loom_loop_unref(g_loop);
    close(sv[0]);
    close(sv[1]);
}

static void test_futex(void)
{
    run(false);
}

static void test_toggle_fd(void)
{
    run(true);
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/loop-mt/no-fds", test_futex);
    g_test_add_func("/loop-mt/toggle-fd", test_toggle_fd);
    return g_test_run();
}
