/* SPDX-License-Identifier: MIT */
/*
 * Stress (TSan/ASan target): coroutines over five real IOThreads, after
 * QEMU's test-aio-multithread.  lifecycle: IOThreads come and go, and
 * loom_iothread_run() and BHs run in the right thread.  hop: coroutines
 * hop between random IOThreads and every hop lands where it was sent.
 * schedule: QEMU's "multi_co_schedule": each IOThread's coroutine parks
 * itself in a slot and other IOThreads schedule it back into its own
 * loop while it may still be yielding.  mutex: a CoMutex shared by
 * coroutines of all five IOThreads, some hopping while holding it.
 * Threads: the GTest main thread creates, waits for and frees the
 * IOThreads (and, in "schedule", kicks parked coroutines when no
 * progress is made); everything else runs in the IOThreads.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "harness.h"
#include <loom/bh.h>
#include <loom/co.h>
#include <loom/iothread.h>
#include <loom/loop.h>
#include <loom/thread.h>

#include "co/co-int.h"

#define NIO 5
/* Stress runs are long under sanitizers: twice the usual watchdog. */
#define WATCHDOG_NS (2 * HARNESS_WATCHDOG_NS)

static struct loom_iothread *g_io[NIO];
static struct loom_loop *g_loop[NIO];

/* Index of the IOThread running the caller; -1 elsewhere. */
static __thread int t_io_idx = -1;

/*
 * Never inlined and opaque to the optimiser: a coroutine that moved to
 * another thread must read that thread's variable (see <loom/co.h>).
 */
static __attribute__((noinline)) int cur_idx(void)
{
    int *p = &t_io_idx;

    __asm__ __volatile__("" : "+r"(p) : : "memory");
    return *p;
}

static unsigned next_rand(unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return *seed >> 16;
}

static int set_idx_fn(void *arg)
{
    t_io_idx = (int)(intptr_t)arg;
    return 0;
}

static int nop_fn(void *arg)
{
    return 0;
}

static void start_iothreads(const char *prefix)
{
    char name[32];

    for (int i = 0; i < NIO; i++) {
        snprintf(name, sizeof(name), "%s%d", prefix, i);
        g_assert_cmpint(loom_iothread_new(name, NULL, &g_io[i]), ==, 0);
        g_loop[i] = loom_iothread_loop(g_io[i]);
        g_assert_nonnull(g_loop[i]);
        g_assert_cmpint(
            loom_iothread_run(g_io[i], set_idx_fn, (void *)(intptr_t)i), ==, 0);
    }
}

/*
 * Wait for @done (set by the last coroutine), then free the IOThreads.
 * A round of loom_iothread_run() first: an IOThread may still be inside
 * a loom_co_schedule() on another IOThread's loop whose coroutine already
 * finished; once each IOThread ran a later BH, those calls are over and
 * no loop can go while in use.
 */
static void finish_iothreads(struct loom_event *done)
{
    g_assert_cmpint(loom_event_timedwait(done, WATCHDOG_NS), ==, 0);
    for (int i = 0; i < NIO; i++) {
        g_assert_cmpint(loom_iothread_run(g_io[i], nop_fn, NULL), ==, 0);
    }
    for (int i = 0; i < NIO; i++) {
        loom_iothread_free(g_io[i]);
        g_io[i] = NULL;
        g_loop[i] = NULL;
    }
    loom_event_destroy(done);
    loom__co_pool_drain();
}

/* ------------------------------------------------------------------ */
/* lifecycle                                                           */
/* ------------------------------------------------------------------ */

struct life_arg {
    int idx;
    pthread_t run_thread;
    const char *run_name;
    pthread_t bh_thread;
    struct loom_event bh_done;
    int cross; /* result of a loom_iothread_run() into the next IOThread */
};

static struct life_arg g_life[NIO];

static int life_peer_fn(void *arg)
{
    return 1000 + cur_idx();
}

static int life_run_fn(void *arg)
{
    struct life_arg *a = arg;

    a->run_thread = pthread_self();
    a->run_name = loom_thread_self_name();
    /* Runs from one IOThread into another (which never waits for us). */
    if (a->idx + 1 < NIO) {
        a->cross = loom_iothread_run(g_io[a->idx + 1], life_peer_fn, NULL);
    } else {
        a->cross = 1000 + a->idx + 1;
    }
    return 100 + cur_idx();
}

static void life_bh(void *opaque)
{
    struct life_arg *a = opaque;

    a->bh_thread = pthread_self();
    /* Pairs with loom_event_wait() in test_lifecycle(). */
    loom_event_set(&a->bh_done);
}

static void test_lifecycle(void)
{
    char name[32];

    for (int round = 0; round < 10; round++) {
        start_iothreads("ioco-life");
        for (int i = 0; i < NIO; i++) {
            struct life_arg *a = &g_life[i];

            a->idx = i;
            a->run_name = NULL;
            loom_event_init(&a->bh_done, false);
            g_assert_cmpint(loom_bh_oneshot(g_loop[i], life_bh, a), ==, 0);
            g_assert_cmpint(loom_iothread_run(g_io[i], life_run_fn, a), ==,
                            100 + i);
            loom_event_wait(&a->bh_done);
            loom_event_destroy(&a->bh_done);

            snprintf(name, sizeof(name), "ioco-life%d", i);
            g_assert_nonnull(a->run_name);
            g_assert_cmpstr(a->run_name, ==, name);
            g_assert_cmpint(a->cross, ==, 1000 + i + 1);
            g_assert_true(pthread_equal(a->run_thread, a->bh_thread));
            g_assert_false(pthread_equal(a->run_thread, pthread_self()));
            for (int j = 0; j < i; j++) {
                g_assert_false(
                    pthread_equal(a->run_thread, g_life[j].run_thread));
            }
            g_assert_true(loom_iothread_find(name) == g_io[i]);
        }
        /* Free in a different order every round. */
        for (int k = 0; k < NIO; k++) {
            int i = (k * 2 + round) % NIO;

            snprintf(name, sizeof(name), "ioco-life%d", i);
            loom_iothread_free(g_io[i]);
            g_io[i] = NULL;
            g_assert_null(loom_iothread_find(name));
        }
    }
}

/* ------------------------------------------------------------------ */
/* hop                                                                 */
/* ------------------------------------------------------------------ */

#define HOP_NCO 20
#define HOP_ITERS 2000

struct hop_co {
    int id;
    unsigned seed;
};

static struct hop_co g_hop[HOP_NCO];
static int64_t g_hops;         /* atomic */
static int64_t g_hops_in[NIO]; /* atomic: hops that landed in each */
static int g_hop_errors;       /* atomic: landed in the wrong thread */
static int g_hop_finished;     /* atomic */
static struct loom_event g_hop_done;

static void hop_entry(void *opaque)
{
    struct hop_co *h = opaque;

    if (cur_idx() != h->id % NIO) {
        __atomic_fetch_add(&g_hop_errors, 1, __ATOMIC_RELAXED);
    }
    for (int i = 0; i < HOP_ITERS; i++) {
        int here = cur_idx();
        int to = (int)(next_rand(&h->seed) % NIO);

        if (to == here) {
            /*
             * Into the loop we run in: scheduling ourselves and yielding
             * is allowed, the BH cannot run before the yield is over.
             */
            loom_co_schedule(g_loop[to], loom_co_self());
            loom_co_yield();
        } else {
            /* Another thread: must not enter us before we yielded. */
            loom_co_reschedule_self(g_loop[to]);
        }
        if (cur_idx() != to) {
            __atomic_fetch_add(&g_hop_errors, 1, __ATOMIC_RELAXED);
        }
        __atomic_fetch_add(&g_hops_in[to], 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&g_hops, 1, __ATOMIC_RELAXED);
    }
    /* The last one out wakes the main thread. */
    if (__atomic_add_fetch(&g_hop_finished, 1, __ATOMIC_ACQ_REL) == HOP_NCO) {
        loom_event_set(&g_hop_done);
    }
}

static void test_hop(void)
{
    int64_t sum = 0;

    g_hops = 0;
    g_hop_errors = 0;
    g_hop_finished = 0;
    loom_event_init(&g_hop_done, false);
    start_iothreads("ioco-hop");
    for (int i = 0; i < HOP_NCO; i++) {
        struct loom_co *co;

        g_hop[i].id = i;
        g_hop[i].seed = (unsigned)i * 2654435761u + 7;
        g_assert_cmpint(loom_co_create(hop_entry, &g_hop[i], &co), ==, 0);
        loom_co_schedule(g_loop[i % NIO], co);
    }
    finish_iothreads(&g_hop_done);
    g_assert_cmpint(__atomic_load_n(&g_hop_finished, __ATOMIC_ACQUIRE), ==,
                    HOP_NCO);
    g_assert_cmpint(g_hop_errors, ==, 0);
    g_assert_cmpint(g_hops, ==, (int64_t)HOP_NCO * HOP_ITERS);
    for (int i = 0; i < NIO; i++) {
        /* Random targets: every IOThread got its share. */
        g_assert_cmpint(g_hops_in[i], >, 0);
        sum += g_hops_in[i];
        g_hops_in[i] = 0;
    }
    g_assert_cmpint(sum, ==, g_hops);
}

/* ------------------------------------------------------------------ */
/* schedule (QEMU's test_multi_co_schedule)                            */
/* ------------------------------------------------------------------ */

#define SCHED_TARGET 20000

static struct loom_co *g_to_schedule[NIO]; /* atomic */
static int64_t g_sched_count;              /* atomic: wakes by coroutines */
static int64_t g_sched_kicks;              /* atomic: wakes by main */
static int g_sched_stopping;               /* atomic */
static int g_sched_errors;                 /* atomic */
static int g_sched_finished;               /* atomic */
static struct loom_event g_sched_done;

/*
 * Wake the coroutine parked for IOThread @n, in @n's own loop.  It may
 * still be finishing its yield in thread @n: allowed, because only
 * thread @n enters it, after the yield.
 */
static bool schedule_next(int n, int64_t *counter)
{
    /* Pairs with the store in sched_entry(). */
    struct loom_co *co =
        __atomic_exchange_n(&g_to_schedule[n], NULL, __ATOMIC_ACQ_REL);

    if (co == NULL) {
        return false;
    }
    __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
    loom_co_schedule(g_loop[n], co);
    return true;
}

static void sched_entry(void *opaque)
{
    int id = (int)(intptr_t)opaque;
    unsigned seed = (unsigned)id * 40503u + 1;

    while (!__atomic_load_n(&g_sched_stopping, __ATOMIC_ACQUIRE)) {
        if (cur_idx() != id) {
            __atomic_fetch_add(&g_sched_errors, 1, __ATOMIC_RELAXED);
        }
        /*
         * Wake one parked coroutine, the first from a random slot on.
         * All five can still end up parked, when they all looked at
         * once: then the main thread kicks them.
         */
        for (int k = 0, n = (int)(next_rand(&seed) % NIO); k < NIO; k++) {
            if (schedule_next((n + k) % NIO, &g_sched_count)) {
                break;
            }
        }
        /* Pairs with the exchange in schedule_next(). */
        __atomic_store_n(&g_to_schedule[id], loom_co_self(), __ATOMIC_RELEASE);
        /* Anybody may schedule us from here on. */
        loom_co_yield();
        if (__atomic_load_n(&g_to_schedule[id], __ATOMIC_ACQUIRE) != NULL) {
            /* Entered without having been taken out of the slot. */
            __atomic_fetch_add(&g_sched_errors, 1, __ATOMIC_RELAXED);
        }
    }
    if (__atomic_add_fetch(&g_sched_finished, 1, __ATOMIC_ACQ_REL) == NIO) {
        loom_event_set(&g_sched_done);
    }
}

/* In IOThread @arg: release its coroutine if it is parked. */
static int sched_finish_fn(void *arg)
{
    int n = (int)(intptr_t)arg;

    schedule_next(n, &g_sched_kicks);
    return 0;
}

static void test_schedule(void)
{
    int64_t deadline, last = -1;

    g_sched_count = g_sched_kicks = 0;
    g_sched_stopping = 0;
    g_sched_errors = 0;
    g_sched_finished = 0;
    loom_event_init(&g_sched_done, false);
    start_iothreads("ioco-sched");
    for (int i = 0; i < NIO; i++) {
        struct loom_co *co;

        g_assert_cmpint(loom_co_create(sched_entry, (void *)(intptr_t)i, &co),
                        ==, 0);
        loom_co_schedule(g_loop[i], co);
    }
    deadline = harness_now_ns() + WATCHDOG_NS;
    for (;;) {
        int64_t now = __atomic_load_n(&g_sched_count, __ATOMIC_RELAXED);

        if (now >= SCHED_TARGET) {
            break;
        }
        harness_watchdog(deadline, "SCHED_TARGET schedules");
        if (now == last) {
            /* No progress for a while: everybody may be parked. */
            for (int i = 0; i < NIO; i++) {
                schedule_next(i, &g_sched_kicks);
            }
        }
        last = now;
        g_usleep(1000);
    }
    __atomic_store_n(&g_sched_stopping, 1, __ATOMIC_RELEASE);
    /*
     * In each IOThread its coroutine is either parked (released now) or
     * scheduled (it runs, sees g_sched_stopping and returns).
     */
    for (int i = 0; i < NIO; i++) {
        g_assert_cmpint(
            loom_iothread_run(g_io[i], sched_finish_fn, (void *)(intptr_t)i),
            ==, 0);
    }
    finish_iothreads(&g_sched_done);
    g_assert_cmpint(g_sched_errors, ==, 0);
    g_assert_cmpint(g_sched_count, >=, SCHED_TARGET);
    g_test_message("woken by coroutines %" PRId64 ", by main %" PRId64,
                   g_sched_count, g_sched_kicks);
    for (int i = 0; i < NIO; i++) {
        g_assert_null(g_to_schedule[i]);
    }
}

/* ------------------------------------------------------------------ */
/* mutex                                                               */
/* ------------------------------------------------------------------ */

#define MTX_CO_PER_IO 4
#define MTX_NCO (NIO * MTX_CO_PER_IO)
#define MTX_ITERS 1000

static struct loom_co_mutex g_m;
static long g_counter;           /* protected by g_m */
static struct loom_co *g_holder; /* protected by g_m */
static long g_shadow;            /* atomic */
static int g_mtx_errors;         /* atomic */
static int g_mtx_finished;       /* atomic */
static struct loom_event g_mtx_done;
static struct hop_co g_mtx_co[MTX_NCO];

static void mtx_entry(void *opaque)
{
    struct hop_co *h = opaque;

    for (int i = 0; i < MTX_ITERS; i++) {
        unsigned r = next_rand(&h->seed);
        int to = (int)((r >> 5) % NIO);
        long c;

        if (r % 32 == 1) {
            /* Hop without the lock. */
            loom_co_reschedule_self(g_loop[to]);
        }
        loom_co_mutex_lock(&g_m);
        if (g_holder != NULL) {
            __atomic_fetch_add(&g_mtx_errors, 1, __ATOMIC_RELAXED);
        }
        g_holder = loom_co_self();
        c = g_counter;
        if (r % 32 == 0) {
            /* Hop while holding it; others queue up meanwhile. */
            loom_co_reschedule_self(g_loop[to]);
            if (cur_idx() != to) {
                __atomic_fetch_add(&g_mtx_errors, 1, __ATOMIC_RELAXED);
            }
        } else if (r % 32 == 2) {
            /* Yield to the loop while holding it. */
            loom_co_schedule(g_loop[cur_idx()], loom_co_self());
            loom_co_yield();
        }
        if (g_holder != loom_co_self()) {
            __atomic_fetch_add(&g_mtx_errors, 1, __ATOMIC_RELAXED);
        }
        g_counter = c + 1;
        g_holder = NULL;
        __atomic_fetch_add(&g_shadow, 1, __ATOMIC_RELAXED);
        loom_co_mutex_unlock(&g_m);
        if (r % 4 == 3) {
            /* Let the other coroutines of this IOThread in. */
            loom_co_schedule(g_loop[cur_idx()], loom_co_self());
            loom_co_yield();
        }
    }
    if (__atomic_add_fetch(&g_mtx_finished, 1, __ATOMIC_ACQ_REL) == MTX_NCO) {
        loom_event_set(&g_mtx_done);
    }
}

static void test_mutex(void)
{
    loom_co_mutex_init(&g_m);
    g_counter = 0;
    g_holder = NULL;
    g_shadow = 0;
    g_mtx_errors = 0;
    g_mtx_finished = 0;
    loom_event_init(&g_mtx_done, false);
    start_iothreads("ioco-mtx");
    for (int i = 0; i < MTX_NCO; i++) {
        struct loom_co *co;

        g_mtx_co[i].id = i;
        g_mtx_co[i].seed = (unsigned)i * 104729u + 3;
        g_assert_cmpint(loom_co_create(mtx_entry, &g_mtx_co[i], &co), ==, 0);
        loom_co_schedule(g_loop[i % NIO], co);
    }
    finish_iothreads(&g_mtx_done);
    g_assert_cmpint(g_mtx_errors, ==, 0);
    g_assert_cmpint(g_counter, ==, (long)MTX_NCO * MTX_ITERS);
    g_assert_cmpint(__atomic_load_n(&g_shadow, __ATOMIC_RELAXED), ==,
                    g_counter);
    g_assert_null(g_m.holder);
    g_assert_null(g_m.head);
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/iothread/co/lifecycle", test_lifecycle);
    g_test_add_func("/iothread/co/hop", test_hop);
    g_test_add_func("/iothread/co/schedule", test_schedule);
    g_test_add_func("/iothread/co/mutex", test_mutex);
    return g_test_run();
}
