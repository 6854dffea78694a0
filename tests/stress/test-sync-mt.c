/* SPDX-License-Identifier: MIT */
/*
 * Stress tests of the blocking primitives under real concurrency (suite
 * 'stress', run under ThreadSanitizer in CI): mutex, recursive mutex and
 * spinlock counters; semaphore and condition-variable producer/consumer
 * queues with exact counts; a semaphore destroyed by its waiter right
 * after the post; event ping-pong and a "no lost wake-up" test.
 * Every blocking test has a watchdog: workers post a semaphore when they
 * finish and the main thread waits for it with a timeout, so a lost
 * wake-up fails the test with a message instead of hanging it.
 */
#include <errno.h>
#include <sched.h>

#include <loom/thread.h>

#include "harness.h"

#define SEC (1000 * 1000 * 1000LL)
/* Stress runs are long under sanitizers: twice the usual watchdog. */
#define WATCHDOG_NS (2 * HARNESS_WATCHDOG_NS)
#define MAX_THREADS 8

struct workers {
    struct loom_thread *t[MAX_THREADS];
    int n;
    struct loom_sem done;
    void *(*fn)(void *);
    void *arg;
};

struct worker_arg {
    struct workers *w;
    int index;
};

static struct worker_arg g_args[MAX_THREADS];

static void *worker_main(void *opaque)
{
    struct worker_arg *a = opaque;
    void *r = a->w->fn(a);

    loom_sem_post(&a->w->done);
    return r;
}

/* Start @n threads running @fn(struct worker_arg *); @arg in w->arg. */
static void workers_start(struct workers *w, int n, void *(*fn)(void *),
                          void *arg)
{
    int i;

    g_assert_cmpint(n, <=, MAX_THREADS);
    w->n = n;
    w->fn = fn;
    w->arg = arg;
    loom_sem_init(&w->done, 0);
    for (i = 0; i < n; i++) {
        g_args[i].w = w;
        g_args[i].index = i;
        g_assert_cmpint(loom_thread_create(&w->t[i], "stress", worker_main,
                                           &g_args[i], 0), ==, 0);
    }
}

/* Wait for all workers, failing the test if they take too long. */
static void workers_join(struct workers *w, const char *what)
{
    int64_t deadline = harness_now_ns() + WATCHDOG_NS;
    int i;

    for (i = 0; i < w->n; i++) {
        if (loom_sem_timedwait(&w->done, harness_left_ns(deadline)) != 0) {
            g_error("%s: workers did not finish within %lld s "
                    "(lost wake-up or deadlock?)", what,
                    (long long)(WATCHDOG_NS / SEC));
        }
    }
    for (i = 0; i < w->n; i++) {
        g_assert_cmpint(loom_thread_join(w->t[i], NULL), ==, 0);
    }
    loom_sem_destroy(&w->done);
}

static int nthreads(void)
{
    return 4;
}

/* --- counters under a lock ----------------------------------------- */

#define COUNT_ITERS 200000

static struct {
    struct loom_mutex m;
    struct loom_rec_mutex rm;
    struct loom_spin spin;
    long counter;
} g_cnt;

static void *mutex_counter(void *opaque)
{
    int i;

    for (i = 0; i < COUNT_ITERS; i++) {
        if (i % 8 == 0) {
            while (loom_mutex_trylock(&g_cnt.m) != 0) {
                sched_yield();
            }
        } else {
            loom_mutex_lock(&g_cnt.m);
        }
        g_cnt.counter++;
        loom_mutex_unlock(&g_cnt.m);
    }
    return NULL;
}

static void *rec_mutex_counter(void *opaque)
{
    int i;

    for (i = 0; i < COUNT_ITERS; i++) {
        loom_rec_mutex_lock(&g_cnt.rm);
        loom_rec_mutex_lock(&g_cnt.rm);
        g_cnt.counter++;
        loom_rec_mutex_unlock(&g_cnt.rm);
        g_cnt.counter++;
        loom_rec_mutex_unlock(&g_cnt.rm);
    }
    return NULL;
}

static void *spin_counter(void *opaque)
{
    int i;

    for (i = 0; i < COUNT_ITERS / 2; i++) {
        loom_spin_lock(&g_cnt.spin);
        g_cnt.counter++;
        loom_spin_unlock(&g_cnt.spin);
    }
    return NULL;
}

static void test_mutex_counter(void)
{
    struct workers w;

    loom_mutex_init(&g_cnt.m);
    g_cnt.counter = 0;
    workers_start(&w, nthreads(), mutex_counter, NULL);
    workers_join(&w, "mutex counter");
    g_assert_cmpint(g_cnt.counter, ==, (long)nthreads() * COUNT_ITERS);
    loom_mutex_destroy(&g_cnt.m);
}

static void test_rec_mutex_counter(void)
{
    struct workers w;

    loom_rec_mutex_init(&g_cnt.rm);
    g_cnt.counter = 0;
    workers_start(&w, nthreads(), rec_mutex_counter, NULL);
    workers_join(&w, "rec mutex counter");
    g_assert_cmpint(g_cnt.counter, ==, 2L * nthreads() * COUNT_ITERS);
    loom_rec_mutex_destroy(&g_cnt.rm);
}

static void test_spin_counter(void)
{
    int n = harness_ncpus() < 2 ? 2 : harness_ncpus();
    struct workers w;

    if (n > MAX_THREADS) {
        n = MAX_THREADS;
    }
    loom_spin_init(&g_cnt.spin);
    g_cnt.counter = 0;
    workers_start(&w, n, spin_counter, NULL);
    workers_join(&w, "spin counter");
    g_assert_cmpint(g_cnt.counter, ==, (long)n * (COUNT_ITERS / 2));
    loom_spin_destroy(&g_cnt.spin);
}

/* --- producer/consumer --------------------------------------------- */

#define PC_ITEMS 40000 /* per producer */
#define PC_RING 16

/*
 * Bounded ring shared by 2 producers and 2 consumers.  The semaphore
 * version counts free slots and filled slots with semaphores and guards
 * the indices with a mutex; the cond version uses one mutex and two
 * condition variables.  Each item is (producer << 32 | seq); consumers
 * check that each producer's items arrive in order and count them.
 */
static struct {
    struct loom_mutex m;
    struct loom_cond not_full, not_empty;
    struct loom_sem free_slots, items;
    uint64_t ring[PC_RING];
    unsigned head, tail, len;
    bool use_cond;
    /* Results, under ->m. */
    uint64_t consumed;
    uint64_t sum;
} g_pc;

static void pc_put(uint64_t v)
{
    if (g_pc.use_cond) {
        loom_mutex_lock(&g_pc.m);
        while (g_pc.len == PC_RING) {
            loom_cond_wait(&g_pc.not_full, &g_pc.m);
        }
    } else {
        loom_sem_wait(&g_pc.free_slots);
        loom_mutex_lock(&g_pc.m);
    }
    g_pc.ring[g_pc.tail] = v;
    g_pc.tail = (g_pc.tail + 1) % PC_RING;
    g_pc.len++;
    if (g_pc.use_cond) {
        loom_cond_signal(&g_pc.not_empty);
        loom_mutex_unlock(&g_pc.m);
    } else {
        loom_mutex_unlock(&g_pc.m);
        loom_sem_post(&g_pc.items);
    }
}

static uint64_t pc_get(void)
{
    uint64_t v;

    if (g_pc.use_cond) {
        loom_mutex_lock(&g_pc.m);
        while (g_pc.len == 0) {
            /* A timed wait now and then exercises that path too. */
            if (loom_cond_timedwait(&g_pc.not_empty, &g_pc.m, SEC / 1000) ==
                -ETIMEDOUT) {
                continue;
            }
        }
    } else {
        if (loom_sem_timedwait(&g_pc.items, SEC / 1000) != 0) {
            loom_sem_wait(&g_pc.items);
        }
        loom_mutex_lock(&g_pc.m);
    }
    v = g_pc.ring[g_pc.head];
    g_pc.head = (g_pc.head + 1) % PC_RING;
    g_pc.len--;
    g_pc.consumed++;
    g_pc.sum += v & 0xffffffff;
    if (g_pc.use_cond) {
        loom_cond_signal(&g_pc.not_full);
        loom_mutex_unlock(&g_pc.m);
    } else {
        loom_mutex_unlock(&g_pc.m);
        loom_sem_post(&g_pc.free_slots);
    }
    return v;
}

static void *pc_thread(void *opaque)
{
    struct worker_arg *a = opaque;
    uint64_t next[2] = { 0, 0 };
    uint64_t i;

    if (a->index < 2) {
        for (i = 0; i < PC_ITEMS; i++) {
            pc_put((uint64_t)a->index << 32 | i);
        }
        return NULL;
    }
    /* Consumers take PC_ITEMS each: 2 * PC_ITEMS were produced. */
    for (i = 0; i < PC_ITEMS; i++) {
        uint64_t v = pc_get();
        unsigned p = v >> 32;

        g_assert_cmpuint(p, <, 2);
        /* Per producer, a consumer sees increasing sequence numbers. */
        g_assert_cmpuint(v & 0xffffffff, >=, next[p]);
        next[p] = (v & 0xffffffff) + 1;
    }
    return NULL;
}

static void run_pc(bool use_cond)
{
    const uint64_t expect_sum = 2 * ((uint64_t)PC_ITEMS * (PC_ITEMS - 1) / 2);
    struct workers w;

    loom_mutex_init(&g_pc.m);
    loom_cond_init(&g_pc.not_full);
    loom_cond_init(&g_pc.not_empty);
    loom_sem_init(&g_pc.free_slots, PC_RING);
    loom_sem_init(&g_pc.items, 0);
    g_pc.head = g_pc.tail = g_pc.len = 0;
    g_pc.consumed = g_pc.sum = 0;
    g_pc.use_cond = use_cond;

    workers_start(&w, 4, pc_thread, NULL);
    workers_join(&w, use_cond ? "cond producer/consumer"
                              : "sem producer/consumer");

    g_assert_cmpuint(g_pc.consumed, ==, 2 * PC_ITEMS);
    g_assert_cmpuint(g_pc.sum, ==, expect_sum);
    g_assert_cmpuint(g_pc.len, ==, 0);
    /* Every slot is free again and no item is left over. */
    g_assert_cmpint(loom_sem_timedwait(&g_pc.items, 0), ==, -ETIMEDOUT);
    if (!use_cond) {
        int i;

        for (i = 0; i < PC_RING; i++) {
            g_assert_cmpint(loom_sem_timedwait(&g_pc.free_slots, 0), ==, 0);
        }
    }
    g_assert_cmpint(loom_sem_timedwait(&g_pc.free_slots, 0), ==,
                    use_cond ? 0 : -ETIMEDOUT);

    loom_sem_destroy(&g_pc.items);
    loom_sem_destroy(&g_pc.free_slots);
    loom_cond_destroy(&g_pc.not_empty);
    loom_cond_destroy(&g_pc.not_full);
    loom_mutex_destroy(&g_pc.m);
}

static void test_sem_pc(void)
{
    run_pc(false);
}

static void test_cond_pc(void)
{
    run_pc(true);
}

/* Pure counting: many posters and waiters, the count must balance. */
#define SEM_COUNT_ITERS 50000

static struct loom_sem g_count_sem;

static void *sem_count_thread(void *opaque)
{
    struct worker_arg *a = opaque;
    int i;

    for (i = 0; i < SEM_COUNT_ITERS; i++) {
        if (a->index % 2) {
            loom_sem_post(&g_count_sem);
        } else {
            loom_sem_wait(&g_count_sem);
        }
    }
    return NULL;
}

static void test_sem_count(void)
{
    struct workers w;

    loom_sem_init(&g_count_sem, 0);
    workers_start(&w, 4, sem_count_thread, NULL);
    workers_join(&w, "sem count");
    g_assert_cmpint(loom_sem_timedwait(&g_count_sem, 0), ==, -ETIMEDOUT);
    loom_sem_destroy(&g_count_sem);
}

/*
 * Post, then the waiter destroys and frees at once (QEMU's pattern: a
 * semaphore on the waiter's stack or heap, posted once by another
 * thread).  The poster must not touch the semaphore after the post makes
 * the count visible: under ASan or TSan a late read is reported.  The
 * waiter sometimes blocks first (the poster then wakes it) and sometimes
 * arrives after the post (nothing to wake).
 */
#define SEM_DESTROY_ROUNDS 100000

static struct {
    struct loom_sem *slot; /* atomic: the semaphore to post next */
} g_sd;

static void *sem_destroy_thread(void *opaque)
{
    struct worker_arg *a = opaque;
    struct loom_sem *s;
    int i;

    for (i = 0; i < SEM_DESTROY_ROUNDS; i++) {
        if (a->index == 0) {
            s = g_malloc(sizeof(*s));
            loom_sem_init(s, 0);
            /* Pairs with the exchange below. */
            __atomic_store_n(&g_sd.slot, s, __ATOMIC_RELEASE);
            if (i % 3 == 0) {
                sched_yield(); /* let the post come first */
            }
            if (i % 2) {
                loom_sem_wait(s);
            } else {
                g_assert_cmpint(loom_sem_timedwait(s, WATCHDOG_NS), ==, 0);
            }
            loom_sem_destroy(s);
            g_free(s);
        } else {
            while (!(s = __atomic_exchange_n(&g_sd.slot, NULL,
                                             __ATOMIC_ACQUIRE))) {
                sched_yield();
            }
            loom_sem_post(s);
        }
    }
    return NULL;
}

static void test_sem_post_destroy(void)
{
    struct workers w;

    workers_start(&w, 2, sem_destroy_thread, NULL);
    workers_join(&w, "sem post then destroy");
    g_assert_null(g_sd.slot);
}

/* --- events -------------------------------------------------------- */

/*
 * Wait until *@v >= @want with the reset/check/wait pattern documented
 * for struct loom_event.
 */
static void event_wait_for(struct loom_event *e, const uint32_t *v,
                           uint32_t want)
{
    while (__atomic_load_n(v, __ATOMIC_ACQUIRE) < want) {
        loom_event_reset(e);
        if (__atomic_load_n(v, __ATOMIC_ACQUIRE) >= want) {
            break;
        }
        loom_event_wait(e);
    }
}

#define PINGPONG_ROUNDS 20000

static struct {
    struct loom_event ping, pong;
    uint32_t ball;
    /* Written by the ping thread before each hand-off, checked by pong. */
    uint64_t payload;
} g_pp;

static void *pingpong_thread(void *opaque)
{
    struct worker_arg *a = opaque;
    uint32_t i;

    for (i = 0; i < PINGPONG_ROUNDS; i++) {
        if (a->index == 0) {
            g_pp.payload = (uint64_t)i * 3;
            __atomic_store_n(&g_pp.ball, 2 * i + 1, __ATOMIC_RELEASE);
            loom_event_set(&g_pp.ping);
            event_wait_for(&g_pp.pong, &g_pp.ball, 2 * i + 2);
        } else {
            event_wait_for(&g_pp.ping, &g_pp.ball, 2 * i + 1);
            /* Plain data handed over through the event is visible. */
            g_assert_cmpuint(g_pp.payload, ==, (uint64_t)i * 3);
            __atomic_store_n(&g_pp.ball, 2 * i + 2, __ATOMIC_RELEASE);
            loom_event_set(&g_pp.pong);
        }
    }
    return NULL;
}

static void test_event_pingpong(void)
{
    struct workers w;

    loom_event_init(&g_pp.ping, false);
    loom_event_init(&g_pp.pong, false);
    g_pp.ball = 0;
    workers_start(&w, 2, pingpong_thread, NULL);
    workers_join(&w, "event ping-pong");
    g_assert_cmpuint(g_pp.ball, ==, 2 * PINGPONG_ROUNDS);
    loom_event_destroy(&g_pp.ping);
    loom_event_destroy(&g_pp.pong);
}

/*
 * No lost wake-up: one setter, three waiters blocking on shared events.
 * Round r uses go[r % 2]: the setter resets the other one (everyone is
 * done with it: it served round r - 1 and all arrivals for r - 1 are in;
 * the setter is the only thread that resets them, as documented for shared
 * events), publishes gen = r, sets go[r % 2] and waits for all arrivals.
 * Each waiter waits, untimed, for gen >= r, so it blocks in the kernel
 * unless the set already came.  A wake-up lost anywhere hangs a waiter in
 * loom_event_wait() and trips the watchdog.  The arrival event uses the
 * single-waiter reset/check/wait pattern.
 */
#define LW_ROUNDS 10000
#define LW_WAITERS 3

static struct {
    struct loom_event go[2];
    struct loom_event arrived_ev;
    uint32_t gen;
    uint32_t arrived;
} g_lw;

static void *lost_wakeup_thread(void *opaque)
{
    struct worker_arg *a = opaque;
    uint32_t r;

    for (r = 1; r <= LW_ROUNDS; r++) {
        if (a->index == 0) {
            loom_event_reset(&g_lw.go[(r + 1) % 2]);
            if (r % 3 == 0) {
                /* Sometimes give the waiters time to block. */
                sched_yield();
            }
            __atomic_store_n(&g_lw.gen, r, __ATOMIC_RELEASE);
            loom_event_set(&g_lw.go[r % 2]);
            event_wait_for(&g_lw.arrived_ev, &g_lw.arrived, r * LW_WAITERS);
        } else {
            while (__atomic_load_n(&g_lw.gen, __ATOMIC_ACQUIRE) < r) {
                loom_event_wait(&g_lw.go[r % 2]);
            }
            __atomic_fetch_add(&g_lw.arrived, 1, __ATOMIC_ACQ_REL);
            loom_event_set(&g_lw.arrived_ev);
        }
    }
    return NULL;
}

static void test_event_lost_wakeup(void)
{
    struct workers w;

    loom_event_init(&g_lw.go[0], false);
    loom_event_init(&g_lw.go[1], false);
    loom_event_init(&g_lw.arrived_ev, false);
    g_lw.gen = 0;
    g_lw.arrived = 0;
    workers_start(&w, 1 + LW_WAITERS, lost_wakeup_thread, NULL);
    workers_join(&w, "event lost wake-up");
    g_assert_cmpuint(g_lw.arrived, ==, LW_ROUNDS * LW_WAITERS);
    loom_event_destroy(&g_lw.go[0]);
    loom_event_destroy(&g_lw.go[1]);
    loom_event_destroy(&g_lw.arrived_ev);
}

/*
 * Set immediately followed by reset, many times: a waiter that was
 * blocked when the set happened must return (the generation carries the
 * set to a sleeper that has not run yet).  Before each pulse the pulser
 * waits until the waiter has announced itself as a sleeper: that peeks at
 * the private futex word (state EV_BUSY = 2 in the low two bits, see
 * src/base/event.c).  The waiter may return twice for one pulse (if it
 * waits again before the reset, the event is still set); it must return
 * at least once, or the pulser spins until the watchdog fires.
 */
#define PULSE_ROUNDS 1000

static struct {
    struct loom_event e;
    uint32_t stop;
    uint32_t woken;
} g_pulse;

static void *pulse_thread(void *opaque)
{
    struct worker_arg *a = opaque;
    uint32_t r;

    if (a->index > 0) {
        while (!__atomic_load_n(&g_pulse.stop, __ATOMIC_ACQUIRE)) {
            loom_event_wait(&g_pulse.e);
            __atomic_fetch_add(&g_pulse.woken, 1, __ATOMIC_ACQ_REL);
        }
        return NULL;
    }
    for (r = 1; r <= PULSE_ROUNDS; r++) {
        while ((__atomic_load_n(&g_pulse.e.value, __ATOMIC_ACQUIRE) & 3) !=
               2) {
            sched_yield();
        }
        loom_event_set(&g_pulse.e);
        loom_event_reset(&g_pulse.e);
        while (__atomic_load_n(&g_pulse.woken, __ATOMIC_ACQUIRE) < r) {
            sched_yield();
        }
    }
    __atomic_store_n(&g_pulse.stop, 1, __ATOMIC_RELEASE);
    loom_event_set(&g_pulse.e);
    return NULL;
}

static void test_event_pulse(void)
{
    struct workers w;

    loom_event_init(&g_pulse.e, false);
    g_pulse.stop = 0;
    g_pulse.woken = 0;
    workers_start(&w, 2, pulse_thread, NULL);
    workers_join(&w, "event pulse");
    g_assert_cmpuint(g_pulse.woken, >=, PULSE_ROUNDS);
    loom_event_destroy(&g_pulse.e);
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/sync-mt/mutex-counter", test_mutex_counter);
    g_test_add_func("/sync-mt/rec-mutex-counter", test_rec_mutex_counter);
    g_test_add_func("/sync-mt/spin-counter", test_spin_counter);
    g_test_add_func("/sync-mt/sem-producer-consumer", test_sem_pc);
    g_test_add_func("/sync-mt/cond-producer-consumer", test_cond_pc);
    g_test_add_func("/sync-mt/sem-count", test_sem_count);
    g_test_add_func("/sync-mt/sem-post-destroy", test_sem_post_destroy);
    g_test_add_func("/sync-mt/event-pingpong", test_event_pingpong);
    g_test_add_func("/sync-mt/event-lost-wakeup", test_event_lost_wakeup);
    g_test_add_func("/sync-mt/event-pulse", test_event_pulse);
    return g_test_run();
}
