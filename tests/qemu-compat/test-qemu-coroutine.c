/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: coroutines in QEMU's API: lifecycle and the pool, yield,
 * nested enter (control goes to the callee at once and comes back when
 * it yields), qemu_coroutine_entered(), ordering, a finished coroutine
 * staying valid memory, coroutine TLS, sleeping, and across IOThreads:
 * ping-pong with aio_co_wake(), hops with aio_co_reschedule_self().
 * The coroutine locks are in test-qemu-co-lock.c.
 */
#include "qemu/osdep.h"
#include "block/aio-wait.h"
#include "block/aio.h"
#include "iothread.h"
#include "qapi/error.h"
#include "qemu/atomic.h"
#include "qemu/coroutine-tls.h"
#include "qemu/coroutine.h"
#include "qemu/coroutine_int.h"
#include "qemu/main-loop.h"
#include "qemu/timer.h"

/* ---- single thread ---- */

static void coroutine_fn set_and_exit(void *opaque)
{
    bool *done = opaque;

    g_assert_true(qemu_in_coroutine());
    *done = true;
}

static void test_lifecycle(void)
{
    for (int i = 0; i < 1000; i++) {
        bool done = false;
        Coroutine *co = qemu_coroutine_create(set_and_exit, &done);

        g_assert_false(qemu_coroutine_entered(co));
        qemu_coroutine_enter(co);
        g_assert_true(done);
    }
    g_assert_false(qemu_in_coroutine());
    g_assert_null(qemu_coroutine_self());
}

static void coroutine_fn yield_5_times(void *opaque)
{
    bool *done = opaque;

    for (int i = 0; i < 5; i++) {
        qemu_coroutine_yield();
    }
    *done = true;
}

static void test_yield(void)
{
    bool done = false;
    int i = -1; /* one extra enter to finish */
    Coroutine *co = qemu_coroutine_create(yield_5_times, &done);

    while (!done) {
        qemu_coroutine_enter(co);
        i++;
    }
    g_assert_cmpint(i, ==, 5);
}

typedef struct {
    unsigned n_enter;
    unsigned n_return;
    unsigned max;
} NestData;

static void coroutine_fn nest(void *opaque)
{
    NestData *nd = opaque;

    nd->n_enter++;
    if (nd->n_enter < nd->max) {
        unsigned before = nd->n_return;

        qemu_coroutine_enter(qemu_coroutine_create(nest, nd));
        /* The whole nested chain ran before control came back. */
        g_assert_cmpuint(nd->n_return, ==, before + (nd->max - nd->n_enter
                                                     + nd->n_return - before));
    }
    nd->n_return++;
}

static void test_nesting(void)
{
    NestData nd = {.max = 128};

    qemu_coroutine_enter(qemu_coroutine_create(nest, &nd));
    g_assert_cmpuint(nd.n_enter, ==, nd.max);
    g_assert_cmpuint(nd.n_return, ==, nd.max);
}

/* A nested enter runs the callee at once; the caller resumes on yield. */
static GString *g_trace;

static void coroutine_fn callee(void *opaque)
{
    g_string_append(g_trace, "b1 ");
    qemu_coroutine_yield();
    g_string_append(g_trace, "b2 ");
}

static void coroutine_fn caller_fn(void *opaque)
{
    Coroutine *b = qemu_coroutine_create(callee, NULL);

    g_string_append(g_trace, "a1 ");
    qemu_coroutine_enter(b);
    g_string_append(g_trace, "a2 ");
    qemu_coroutine_enter(b);
    g_string_append(g_trace, "a3 ");
}

static void test_nested_order(void)
{
    g_trace = g_string_new(NULL);
    g_string_append(g_trace, "m1 ");
    qemu_coroutine_enter(qemu_coroutine_create(caller_fn, NULL));
    g_string_append(g_trace, "m2");
    g_assert_cmpstr(g_trace->str, ==, "m1 a1 b1 a2 b2 a3 m2");
    g_string_free(g_trace, TRUE);
}

static void coroutine_fn verify_entered_step_2(void *opaque)
{
    Coroutine *caller = opaque;

    g_assert_true(qemu_coroutine_entered(caller));
    g_assert_true(qemu_coroutine_entered(qemu_coroutine_self()));
    qemu_coroutine_yield();
    g_assert_true(qemu_coroutine_entered(caller));
    g_assert_true(qemu_coroutine_entered(qemu_coroutine_self()));
}

static void coroutine_fn verify_entered_step_1(void *opaque)
{
    Coroutine *self = qemu_coroutine_self();
    Coroutine *co;

    g_assert_true(qemu_coroutine_entered(self));
    co = qemu_coroutine_create(verify_entered_step_2, self);
    g_assert_false(qemu_coroutine_entered(co));
    qemu_coroutine_enter(co);
    g_assert_false(qemu_coroutine_entered(co));
    qemu_coroutine_enter(co);
}

static void test_entered(void)
{
    Coroutine *co = qemu_coroutine_create(verify_entered_step_1, NULL);

    g_assert_false(qemu_coroutine_entered(co));
    qemu_coroutine_enter(co);
}

static void coroutine_fn c1_fn(void *opaque)
{
    qemu_coroutine_enter(opaque);
}

static void coroutine_fn c2_fn(void *opaque)
{
    qemu_coroutine_yield();
}

/* A finished coroutine is pooled memory, not freed (coroutine_int.h). */
static void test_finished_stays_valid(void)
{
    Coroutine *c2 = qemu_coroutine_create(c2_fn, NULL);
    Coroutine *c1 = qemu_coroutine_create(c1_fn, c2);
    Coroutine tmp;

    qemu_coroutine_enter(c1);
    tmp = *c1;
    memset(c1, 0xff, sizeof(Coroutine)); /* nothing may read it now */
    qemu_coroutine_enter(c2);
    *c1 = tmp;
}

static void coroutine_fn enter_self(void *opaque)
{
    qemu_coroutine_enter(qemu_coroutine_self());
}

static void test_reenter_aborts(void)
{
    if (g_test_subprocess()) {
        qemu_coroutine_enter(qemu_coroutine_create(enter_self, NULL));
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*re-entered recursively*");
}

QEMU_DEFINE_STATIC_CO_TLS(int, co_tls_counter)

static void coroutine_fn tls_user(void *opaque)
{
    set_co_tls_counter(get_co_tls_counter() + 1);
    qemu_coroutine_yield();
    (*get_ptr_co_tls_counter())++;
}

static void test_co_tls(void)
{
    Coroutine *co = qemu_coroutine_create(tls_user, NULL);

    qemu_coroutine_enter(co);
    qemu_coroutine_enter(co);
    g_assert_cmpint(get_co_tls_counter(), ==, 2);
}

/*
 * Two coroutines that aio_co_enter() each other and yield, many times:
 * the entries chain (queued behind the running coroutine), they never
 * nest, so no stack grows.
 */
typedef struct {
    Coroutine *other;
    unsigned i;
    unsigned max;
} ChainData;

static void coroutine_fn chain(void *opaque)
{
    ChainData *data = opaque;

    for (data->i = 0; data->i < data->max; data->i++) {
        aio_co_enter(qemu_get_aio_context(), data->other);
        qemu_coroutine_yield();
    }
}

static void test_chaining(void)
{
    ChainData a = {.max = 25000}, b = {.max = 25000};

    b.other = qemu_coroutine_create(chain, &a);
    a.other = qemu_coroutine_create(chain, &b);
    qemu_coroutine_enter(b.other);
    g_assert_cmpuint(a.i, ==, a.max);
    g_assert_cmpuint(b.i, ==, b.max - 1);
    qemu_coroutine_enter(a.other); /* let the second one end */
    g_assert_cmpuint(b.i, ==, b.max);
}

/* aio_co_enter() from a thread without a context schedules it there. */
static void coroutine_fn check_thread(void *opaque)
{
    g_assert_true(qemu_thread_is_self(opaque));
}

static void *enter_from_worker(void *co)
{
    g_assert_null(qemu_get_current_aio_context());
    aio_co_enter(qemu_get_aio_context(), co);
    return NULL;
}

static void test_worker_thread_co_enter(void)
{
    QemuThread self, worker;
    Coroutine *co;

    qemu_thread_get_self(&self);
    co = qemu_coroutine_create(check_thread, &self);
    qemu_thread_create(&worker, "co-enter", enter_from_worker, co,
                       QEMU_THREAD_JOINABLE);
    qemu_thread_join(&worker);
    g_assert_true(aio_poll(qemu_get_aio_context(), true));
    g_assert_false(aio_poll(qemu_get_aio_context(), false));
}

/* ---- sleeping ---- */

static void coroutine_fn sleeper(void *opaque)
{
    int64_t start = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);

    qemu_co_sleep_ns(QEMU_CLOCK_REALTIME, 2 * SCALE_MS);
    g_assert_cmpint(qemu_clock_get_ns(QEMU_CLOCK_REALTIME) - start, >=,
                    2 * SCALE_MS);
    *(bool *)opaque = true;
}

static QemuCoSleep g_sleep;

static void coroutine_fn long_sleeper(void *opaque)
{
    qemu_co_sleep_ns_wakeable(&g_sleep, QEMU_CLOCK_HOST,
                              100LL * NANOSECONDS_PER_SECOND);
    *(bool *)opaque = true;
}

static void test_sleep(void)
{
    AioContext *ctx = qemu_get_aio_context();
    bool done = false, woken = false;

    qemu_coroutine_enter(qemu_coroutine_create(sleeper, &done));
    while (!done) {
        aio_poll(ctx, true);
    }
    qemu_coroutine_enter(qemu_coroutine_create(long_sleeper, &woken));
    g_assert_false(woken);
    qemu_co_sleep_wake(&g_sleep); /* ends it early */
    g_assert_true(woken);
    qemu_co_sleep_wake(&g_sleep); /* not sleeping: no-op */
}

/* ---- across IOThreads ---- */

#define N_IOTHREADS 3

static IOThread *g_io[N_IOTHREADS];

static void start_iothreads(void)
{
    for (int i = 0; i < N_IOTHREADS; i++) {
        g_io[i] = iothread_new();
    }
}

static void stop_iothreads(void)
{
    for (int i = 0; i < N_IOTHREADS; i++) {
        iothread_join(g_io[i]);
    }
}

/* Ping-pong: two coroutines in two IOThreads schedule each other. */
typedef struct {
    Coroutine *peer[2];
    int rounds;
    int count[2];
    bool done;
} PingPong;

static PingPong g_pp;

static void coroutine_fn pingpong(void *opaque)
{
    int me = (int)(intptr_t)opaque;
    AioContext *mine = iothread_get_aio_context(g_io[me]);

    if (me == 1) {
        qemu_coroutine_yield(); /* wait for the first ball */
    }
    for (;;) {
        g_assert_true(qemu_get_current_aio_context() == mine);
        g_assert_true(qemu_coroutine_get_aio_context(qemu_coroutine_self()) ==
                      mine);
        if (++g_pp.count[me] > g_pp.rounds) {
            break;
        }
        /* Wake the peer (which has yielded), then yield ourselves. */
        aio_co_wake(g_pp.peer[1 - me]);
        qemu_coroutine_yield();
    }
    if (me == 0) {
        aio_co_wake(g_pp.peer[1]); /* let the peer finish too */
    } else {
        qatomic_set(&g_pp.done, true);
        aio_wait_kick();
    }
}

static void start_pingpong(void *opaque)
{
    int me = (int)(intptr_t)opaque;

    qemu_coroutine_enter(g_pp.peer[me]);
}

static void test_pingpong_iothreads(void)
{
    start_iothreads();
    memset(&g_pp, 0, sizeof(g_pp));
    g_pp.rounds = 2000;
    for (intptr_t i = 0; i < 2; i++) {
        g_pp.peer[i] = qemu_coroutine_create(pingpong, (void *)i);
    }
    /* Peer 1 starts first and waits; peer 0 then leads. */
    aio_wait_bh_oneshot(iothread_get_aio_context(g_io[1]), start_pingpong,
                        (void *)1);
    aio_bh_schedule_oneshot(iothread_get_aio_context(g_io[0]), start_pingpong,
                            (void *)0);
    AIO_WAIT_WHILE_UNLOCKED(NULL, !qatomic_read(&g_pp.done));
    g_assert_cmpint(g_pp.count[0], ==, g_pp.rounds + 1);
    g_assert_cmpint(g_pp.count[1], ==, g_pp.rounds + 1);
    stop_iothreads();
}

/* Coroutines hop between IOThreads and the main context. */
static int g_hops_done;

static void coroutine_fn hopper(void *opaque)
{
    for (int i = 0; i < 300; i++) {
        AioContext *to = iothread_get_aio_context(g_io[i % N_IOTHREADS]);

        aio_co_reschedule_self(to);
        g_assert_true(qemu_get_current_aio_context() == to);
    }
    aio_co_reschedule_self(qemu_get_aio_context());
    g_assert_true(qemu_get_current_aio_context() == qemu_get_aio_context());
    g_hops_done++; /* in the main thread again: no race */
}

static void test_reschedule_self(void)
{
    start_iothreads();
    g_hops_done = 0;
    for (int i = 0; i < 4; i++) {
        qemu_coroutine_enter(qemu_coroutine_create(hopper, NULL));
    }
    AIO_WAIT_WHILE(qemu_get_aio_context(), g_hops_done < 4);
    stop_iothreads();
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qemu_init_main_loop(&error_abort);
    g_test_add_func("/coroutine/lifecycle", test_lifecycle);
    g_test_add_func("/coroutine/yield", test_yield);
    g_test_add_func("/coroutine/nesting", test_nesting);
    g_test_add_func("/coroutine/nested-order", test_nested_order);
    g_test_add_func("/coroutine/entered", test_entered);
    g_test_add_func("/coroutine/finished-stays-valid",
                    test_finished_stays_valid);
    g_test_add_func("/coroutine/reenter-aborts", test_reenter_aborts);
    g_test_add_func("/coroutine/co-tls", test_co_tls);
    g_test_add_func("/coroutine/chaining", test_chaining);
    g_test_add_func("/coroutine/worker-thread-co-enter",
                    test_worker_thread_co_enter);
    g_test_add_func("/coroutine/sleep", test_sleep);
    g_test_add_func("/coroutine/iothreads/pingpong", test_pingpong_iothreads);
    g_test_add_func("/coroutine/iothreads/reschedule-self",
                    test_reschedule_self);
    return g_test_run();
}
