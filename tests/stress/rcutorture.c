/* SPDX-License-Identifier: MIT */
/*
 * RCU torture test.  Readers continuously dereference a published object
 * and check that it is alive; two writers replace it, one reclaiming with
 * loom_synchronize_rcu() + poison + free, the other with loom_call_rcu()
 * (the callback poisons and frees).  Short-lived threads register lazily
 * and exit while grace periods run.  A watchdog requires grace periods and
 * callbacks to keep completing under continuous readers; at the end every
 * queued callback must have run exactly once.  Runs for RUN_NS.
 *
 * Built twice: rcutorture-fences defines TORTURE_FORCE_FENCES to run with
 * the fallback used when membarrier(2) is unavailable.
 */
#include <loom/rcu.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"
#include "rcu/rcu-int.h"

#define RUN_NS (3 * 1000000000LL)
#define STALL_NS (10 * 1000000000LL)
#define ALIVE 0x600dcafe600dcafeULL
#define DEAD 0xdeaddeaddeaddeadULL

struct obj {
    uint64_t magic;
    uint64_t seq;
    uint64_t payload[6]; /* all equal to seq while alive */
    struct loom_rcu_head rh;
    unsigned int cb_runs;
};

static struct obj *g_cur;     /* RCU-protected */
static uint64_t g_seq;        /* atomic: next sequence number */
static unsigned int g_stop;   /* atomic */
static uint64_t g_reads;      /* atomic statistics */
static uint64_t g_sync_gps;   /* atomic: synchronize calls completed */
static uint64_t g_cb_queued;  /* atomic */
static uint64_t g_cb_run;     /* atomic */
static uint64_t g_lazy_threads; /* atomic */
static uint64_t g_bad;        /* atomic: dead or torn objects seen */
static uint64_t g_backwards;  /* atomic: sequence went backwards */
static uint64_t g_cb_bad;     /* atomic: callback ran twice or late */

static struct obj *obj_new(void)
{
    struct obj *o = calloc(1, sizeof(*o));
    uint64_t seq = __atomic_add_fetch(&g_seq, 1, __ATOMIC_RELAXED);

    g_assert_nonnull(o);
    o->seq = seq;
    for (size_t i = 0; i < G_N_ELEMENTS(o->payload); i++) {
        o->payload[i] = seq;
    }
    o->magic = ALIVE;
    return o;
}

static void obj_poison_free(struct obj *o)
{
    /* A reader still using @o would see DEAD (or, under ASan, a UAF). */
    __atomic_store_n(&o->magic, DEAD, __ATOMIC_RELAXED);
    for (size_t i = 0; i < G_N_ELEMENTS(o->payload); i++) {
        o->payload[i] = 0;
    }
    free(o);
}

static bool stopped(void)
{
    return __atomic_load_n(&g_stop, __ATOMIC_RELAXED);
}

/* One read section; returns the sequence number seen. */
static uint64_t read_once(bool nest)
{
    struct obj *o;
    uint64_t seq;

    loom_rcu_read_lock();
    o = loom_rcu_dereference(g_cur);
    if (nest) {
        loom_rcu_read_lock();
    }
    seq = o->seq;
    if (__atomic_load_n(&o->magic, __ATOMIC_RELAXED) != ALIVE) {
        __atomic_fetch_add(&g_bad, 1, __ATOMIC_RELAXED);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(o->payload); i++) {
        if (o->payload[i] != seq) {
            __atomic_fetch_add(&g_bad, 1, __ATOMIC_RELAXED);
        }
    }
    if (nest) {
        loom_rcu_read_unlock();
    }
    loom_rcu_read_unlock();
    return seq;
}

static void *reader_thread(void *arg)
{
    uint64_t n = 0, last = 0;

    (void)arg;
    loom_rcu_register_thread();
    while (!stopped()) {
        uint64_t seq = read_once(n % 16 == 0);

        /* One pointer read with acquire: never goes backwards. */
        if (seq < last) {
            __atomic_fetch_add(&g_backwards, 1, __ATOMIC_RELAXED);
        }
        last = seq;
        n++;
    }
    loom_rcu_unregister_thread();
    __atomic_fetch_add(&g_reads, n, __ATOMIC_RELAXED);
    return NULL;
}

/*
 * Writers serialise so that publication order is sequence order (readers
 * check that it never goes backwards).
 */
static pthread_mutex_t g_write_lock = PTHREAD_MUTEX_INITIALIZER;

static struct obj *replace(void)
{
    struct obj *o, *old;

    pthread_mutex_lock(&g_write_lock);
    o = obj_new();
    old = loom_rcu_access_pointer(g_cur);
    loom_rcu_assign_pointer(g_cur, o);
    pthread_mutex_unlock(&g_write_lock);
    return old;
}

static void *sync_writer_thread(void *arg)
{
    (void)arg;
    while (!stopped()) {
        struct obj *old = replace();

        loom_synchronize_rcu();
        __atomic_fetch_add(&g_sync_gps, 1, __ATOMIC_RELAXED);
        obj_poison_free(old);
    }
    return NULL;
}

static void obj_reclaim_cb(struct loom_rcu_head *rh)
{
    struct obj *o = (struct obj *)((char *)rh - offsetof(struct obj, rh));

    if (++o->cb_runs != 1 ||
        __atomic_load_n(&o->magic, __ATOMIC_RELAXED) != ALIVE) {
        __atomic_fetch_add(&g_cb_bad, 1, __ATOMIC_RELAXED);
    }
    __atomic_fetch_add(&g_cb_run, 1, __ATOMIC_RELAXED);
    obj_poison_free(o);
}

static void *call_writer_thread(void *arg)
{
    uint64_t n = 0;

    (void)arg;
    while (!stopped()) {
        struct obj *old = replace();

        __atomic_fetch_add(&g_cb_queued, 1, __ATOMIC_RELAXED);
        loom_call_rcu(&old->rh, obj_reclaim_cb);
        /* Do not outrun the callback thread without bound. */
        if (++n % 4096 == 0) {
            loom_drain_call_rcu();
        }
    }
    return NULL;
}

static void *lazy_reader_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < 50; i++) {
        read_once(i % 2);
    }
    /* Exits registered: the thread-exit hook unregisters it. */
    return NULL;
}

static void *lazy_spawner_thread(void *arg)
{
    (void)arg;
    while (!stopped()) {
        pthread_t t[4];

        for (int i = 0; i < 4; i++) {
            g_assert_cmpint(pthread_create(&t[i], NULL, lazy_reader_thread,
                                           NULL), ==, 0);
        }
        for (int i = 0; i < 4; i++) {
            g_assert_cmpint(pthread_join(t[i], NULL), ==, 0);
        }
        __atomic_fetch_add(&g_lazy_threads, 4, __ATOMIC_RELAXED);
    }
    return NULL;
}

static uint64_t load(uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* Require both reclamation paths to make progress while readers run. */
static void watchdog(int64_t end)
{
    struct harness_stall sync_stall, cb_stall;

    harness_stall_init(&sync_stall);
    harness_stall_init(&cb_stall);
    for (;;) {
        if (harness_stalled(&sync_stall, load(&g_sync_gps), STALL_NS)) {
            g_error("rcutorture: no grace period for %lld ms",
                    STALL_NS / 1000000);
        }
        if (harness_stalled(&cb_stall, load(&g_cb_run), STALL_NS)) {
            g_error("rcutorture: no call_rcu callback for %lld ms",
                    STALL_NS / 1000000);
        }
        if (harness_run_over(end)) {
            return;
        }
        g_usleep(20000);
    }
}

static void test_torture(void)
{
    int nr = harness_ncpus() < 2 ? 2 : harness_ncpus();
    pthread_t readers[8], sw, cw, lz;
    struct obj *last;

    if (nr > (int)G_N_ELEMENTS(readers)) {
        nr = (int)G_N_ELEMENTS(readers);
    }
    loom_rcu_assign_pointer(g_cur, obj_new());
    for (int i = 0; i < nr; i++) {
        g_assert_cmpint(pthread_create(&readers[i], NULL, reader_thread,
                                       NULL), ==, 0);
    }
    g_assert_cmpint(pthread_create(&sw, NULL, sync_writer_thread, NULL), ==,
                    0);
    g_assert_cmpint(pthread_create(&cw, NULL, call_writer_thread, NULL), ==,
                    0);
    g_assert_cmpint(pthread_create(&lz, NULL, lazy_spawner_thread, NULL), ==,
                    0);

    watchdog(harness_run_end(RUN_NS));
    __atomic_store_n(&g_stop, 1, __ATOMIC_RELAXED);

    g_assert_cmpint(pthread_join(sw, NULL), ==, 0);
    g_assert_cmpint(pthread_join(cw, NULL), ==, 0);
    g_assert_cmpint(pthread_join(lz, NULL), ==, 0);
    for (int i = 0; i < nr; i++) {
        g_assert_cmpint(pthread_join(readers[i], NULL), ==, 0);
    }
    loom_drain_call_rcu();

    g_test_message("reads %llu, synchronize %llu, call_rcu %llu/%llu, "
                   "lazy threads %llu",
                   (unsigned long long)load(&g_reads),
                   (unsigned long long)load(&g_sync_gps),
                   (unsigned long long)load(&g_cb_run),
                   (unsigned long long)load(&g_cb_queued),
                   (unsigned long long)load(&g_lazy_threads));
    g_assert_cmpuint(load(&g_bad), ==, 0);
    g_assert_cmpuint(load(&g_backwards), ==, 0);
    g_assert_cmpuint(load(&g_cb_bad), ==, 0);
    g_assert_cmpuint(load(&g_cb_run), ==, load(&g_cb_queued));
    g_assert_cmpuint(load(&g_sync_gps), >, 0);
    g_assert_cmpuint(load(&g_cb_run), >, 0);
    g_assert_cmpuint(load(&g_reads), >, 0);
    g_assert_cmpuint(load(&g_lazy_threads), >, 0);

    last = loom_rcu_access_pointer(g_cur);
    loom_rcu_init_pointer(g_cur, NULL);
    loom_synchronize_rcu();
    obj_poison_free(last);
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
#ifdef TORTURE_FORCE_FENCES
    loom__rcu_test_force_fences();
    g_assert_cmpint(loom__rcu_global.need_fence, ==, 1);
    g_test_add_func("/rcu/torture/fences", test_torture);
#else
    g_test_add_func("/rcu/torture", test_torture);
#endif
    return g_test_run();
}
