/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: the coroutine locks in QEMU's API: CoMutex (FIFO hand-over,
 * held across yields, QemuLockable guards), CoQueue (wait with a CoMutex,
 * next, restart_all, enter_next from outside a coroutine), CoRwlock
 * (shared readers, a waiting writer holding back later readers,
 * upgrade, downgrade), and across IOThreads: a CoMutex shared by
 * coroutines of several IOThreads, and CoQueue waiters in IOThreads woken
 * from the main thread under a QemuMutex.
 */
#include "qemu/osdep.h"
#include "block/aio-wait.h"
#include "block/aio.h"
#include "iothread.h"
#include "qapi/error.h"
#include "qemu/atomic.h"
#include "qemu/coroutine.h"
#include "qemu/coroutine_int.h"
#include "qemu/lockable.h"
#include "qemu/main-loop.h"

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

/* ---- locks in one thread ---- */

static CoMutex g_mutex;
static GString *g_locklog;

static void coroutine_fn mutex_user(void *opaque)
{
    qemu_co_mutex_lock(&g_mutex);
    qemu_co_mutex_assert_locked(&g_mutex);
    g_string_append_printf(g_locklog, "%s+", (char *)opaque);
    qemu_coroutine_yield(); /* hold it across a yield */
    g_string_append_printf(g_locklog, "%s- ", (char *)opaque);
    qemu_co_mutex_unlock(&g_mutex);
}

static void test_co_mutex(void)
{
    Coroutine *a = qemu_coroutine_create(mutex_user, (void *)"a");
    Coroutine *b = qemu_coroutine_create(mutex_user, (void *)"b");
    Coroutine *c = qemu_coroutine_create(mutex_user, (void *)"c");

    qemu_co_mutex_init(&g_mutex);
    g_locklog = g_string_new(NULL);
    qemu_coroutine_enter(a); /* a takes it, yields holding it */
    qemu_coroutine_enter(b); /* b waits */
    qemu_coroutine_enter(c); /* c waits */
    qemu_coroutine_enter(a); /* a unlocks: handed to b, in order */
    while (aio_poll(qemu_get_aio_context(), false)) {
    }
    g_assert_cmpstr(g_locklog->str, ==, "a+a- b+");
    qemu_coroutine_enter(b);
    qemu_coroutine_enter(c);
    g_assert_cmpstr(g_locklog->str, ==, "a+a- b+b- c+c- ");
    g_string_free(g_locklog, TRUE);
}

static void coroutine_fn guard_user(void *opaque)
{
    WITH_QEMU_LOCK_GUARD(&g_mutex) {
        qemu_co_mutex_assert_locked(&g_mutex);
    }
    {
        QEMU_LOCK_GUARD(&g_mutex);
        *(bool *)opaque = true;
    }
    g_assert_cmpuint(qemu_coroutine_self()->locks_held, ==, 0);
}

static void test_co_mutex_lockable(void)
{
    bool done = false;

    qemu_co_mutex_init(&g_mutex);
    qemu_coroutine_enter(qemu_coroutine_create(guard_user, &done));
    g_assert_true(done);
}

static CoQueue g_queue;
static int g_woken;

static void coroutine_fn queue_waiter(void *opaque)
{
    qemu_co_mutex_lock(&g_mutex);
    qemu_co_queue_wait(&g_queue, &g_mutex);
    qemu_co_mutex_assert_locked(&g_mutex); /* held again */
    g_woken++;
    qemu_co_mutex_unlock(&g_mutex);
}

static void coroutine_fn queue_waker(void *opaque)
{
    bool all = *(bool *)opaque;

    if (all) {
        qemu_co_queue_restart_all(&g_queue);
    } else {
        g_assert_true(qemu_co_queue_next(&g_queue));
    }
}

static void test_co_queue(void)
{
    bool all = false;

    qemu_co_mutex_init(&g_mutex);
    qemu_co_queue_init(&g_queue);
    g_woken = 0;
    for (int i = 0; i < 3; i++) {
        qemu_coroutine_enter(qemu_coroutine_create(queue_waiter, NULL));
    }
    g_assert_false(qemu_co_queue_empty(&g_queue));
    qemu_coroutine_enter(qemu_coroutine_create(queue_waker, &all));
    g_assert_cmpint(g_woken, ==, 1);
    all = true;
    qemu_coroutine_enter(qemu_coroutine_create(queue_waker, &all));
    g_assert_cmpint(g_woken, ==, 3);
    g_assert_true(qemu_co_queue_empty(&g_queue));
    /* From outside a coroutine, with no lock. */
    qemu_coroutine_enter(qemu_coroutine_create(queue_waiter, NULL));
    g_assert_true(qemu_co_enter_next(&g_queue, NULL));
    g_assert_false(qemu_co_enter_next(&g_queue, NULL));
    g_assert_cmpint(g_woken, ==, 4);
}

static CoRwlock g_rw;

typedef struct {
    bool write;
    bool upgrade;
    bool upgrade_after_yield;
    bool upgraded;
    bool downgrade;
    bool *flag;
} RwArgs;

static void coroutine_fn rw_user(void *opaque)
{
    RwArgs *a = opaque;

    if (a->write) {
        qemu_co_rwlock_wrlock(&g_rw);
    } else {
        qemu_co_rwlock_rdlock(&g_rw);
    }
    if (a->upgrade) {
        qemu_co_rwlock_upgrade(&g_rw);
    }
    *a->flag = true;
    qemu_coroutine_yield();
    if (a->upgrade_after_yield) {
        qemu_co_rwlock_upgrade(&g_rw);
        a->upgraded = true;
        qemu_coroutine_yield();
    }
    if (a->downgrade) {
        qemu_co_rwlock_downgrade(&g_rw);
        qemu_coroutine_yield();
    }
    qemu_co_rwlock_unlock(&g_rw);
    *a->flag = false;
}

static void test_co_rwlock(void)
{
    bool r1 = false, r2 = false, w = false, r3 = false;
    RwArgs ar1 = {.flag = &r1}, ar2 = {.flag = &r2};
    RwArgs aw = {.write = true, .flag = &w}, ar3 = {.flag = &r3};
    Coroutine *c1 = qemu_coroutine_create(rw_user, &ar1);
    Coroutine *c2 = qemu_coroutine_create(rw_user, &ar2);
    Coroutine *cw = qemu_coroutine_create(rw_user, &aw);
    Coroutine *c3 = qemu_coroutine_create(rw_user, &ar3);

    qemu_co_rwlock_init(&g_rw);
    qemu_coroutine_enter(c1);
    qemu_coroutine_enter(c2);
    g_assert_true(r1 && r2); /* readers share it */
    qemu_coroutine_enter(cw);
    g_assert_false(w); /* the writer waits for them */
    qemu_coroutine_enter(c3);
    g_assert_false(r3); /* a later reader waits behind the writer */
    qemu_coroutine_enter(c1);
    g_assert_false(w);
    qemu_coroutine_enter(c2); /* last reader out: writer in */
    g_assert_true(w);
    g_assert_false(r3);
    qemu_coroutine_enter(cw); /* writer out: reader in */
    g_assert_false(w);
    g_assert_true(r3);
    qemu_coroutine_enter(c3);
    g_assert_false(r3);
}

static void test_co_rwlock_upgrade_downgrade(void)
{
    bool up = false, rd = false, wd = false, other = false, w2 = false;
    RwArgs aup = {.upgrade = true, .flag = &up};
    RwArgs ard = {.flag = &rd};
    RwArgs awd = {.write = true, .downgrade = true, .flag = &wd};
    RwArgs aother = {.flag = &other};
    RwArgs aw2 = {.write = true, .flag = &w2};
    Coroutine *cup, *crd, *cwd, *cother, *cw2;

    qemu_co_rwlock_init(&g_rw);
    /* Upgrade waits for the other reader. */
    crd = qemu_coroutine_create(rw_user, &ard);
    cup = qemu_coroutine_create(rw_user, &aup);
    qemu_coroutine_enter(crd);
    qemu_coroutine_enter(cup);
    g_assert_false(up);
    qemu_coroutine_enter(crd); /* the other reader leaves */
    g_assert_true(up);
    qemu_coroutine_enter(cup);
    g_assert_false(up);

    /* A sole reader's upgrade still waits behind a writer in line. */
    {
        bool r = false;
        RwArgs ar = {.flag = &r, .upgrade_after_yield = true};
        Coroutine *c1 = qemu_coroutine_create(rw_user, &ar);

        aw2.flag = &w2;
        w2 = false;
        cw2 = qemu_coroutine_create(rw_user, &aw2);
        qemu_coroutine_enter(c1);  /* reads, yields */
        qemu_coroutine_enter(cw2); /* writer queued */
        qemu_coroutine_enter(c1);  /* upgrade: the writer goes first */
        g_assert_true(w2);
        g_assert_false(ar.upgraded);
        qemu_coroutine_enter(cw2); /* writer out: the upgrade completes */
        g_assert_false(w2);
        g_assert_true(ar.upgraded);
        qemu_coroutine_enter(c1);
        g_assert_false(r);
    }

    /* Downgrade lets waiting readers in without blocking. */
    qemu_co_rwlock_init(&g_rw);
    cwd = qemu_coroutine_create(rw_user, &awd);
    cother = qemu_coroutine_create(rw_user, &aother);
    qemu_coroutine_enter(cwd);
    qemu_coroutine_enter(cother);
    g_assert_false(other);
    qemu_coroutine_enter(cwd); /* downgrades, yields */
    g_assert_true(other);
    qemu_coroutine_enter(cother);
    qemu_coroutine_enter(cwd);
    g_assert_false(wd);
}

/* A CoMutex shared by coroutines of every IOThread. */
#define MUTEX_COROUTINES 4
#define MUTEX_ROUNDS 500

static CoMutex g_shared;
static long g_protected;
static int g_mutex_finished;

static void coroutine_fn mutex_worker(void *opaque)
{
    for (int i = 0; i < MUTEX_ROUNDS; i++) {
        qemu_co_mutex_lock(&g_shared);
        long v = g_protected;

        if (i % 7 == 0) {
            /* Yield holding it: other threads' coroutines must wait. */
            aio_co_schedule(qemu_get_current_aio_context(),
                            qemu_coroutine_self());
            qemu_coroutine_yield();
        }
        g_protected = v + 1;
        qemu_co_mutex_unlock(&g_shared);
    }
    qatomic_inc(&g_mutex_finished);
    aio_wait_kick();
}

static void start_mutex_workers(void *opaque)
{
    for (int i = 0; i < MUTEX_COROUTINES; i++) {
        qemu_coroutine_enter(qemu_coroutine_create(mutex_worker, NULL));
    }
}

static void test_co_mutex_iothreads(void)
{
    start_iothreads();
    qemu_co_mutex_init(&g_shared);
    g_protected = 0;
    g_mutex_finished = 0;
    for (int i = 0; i < N_IOTHREADS; i++) {
        aio_bh_schedule_oneshot(iothread_get_aio_context(g_io[i]),
                                start_mutex_workers, NULL);
    }
    AIO_WAIT_WHILE_UNLOCKED(NULL, qatomic_read(&g_mutex_finished) <
                                      N_IOTHREADS * MUTEX_COROUTINES);
    g_assert_cmpint(g_protected, ==,
                    (long)N_IOTHREADS * MUTEX_COROUTINES * MUTEX_ROUNDS);
    stop_iothreads();
}

/* CoQueue waiters in IOThreads, woken from the main thread. */
static QemuMutex g_qlock;
static CoQueue g_xqueue;
static int g_xwaiting, g_xwoken;

static void coroutine_fn xwaiter(void *opaque)
{
    qemu_mutex_lock(&g_qlock);
    g_xwaiting++;
    qemu_co_queue_wait(&g_xqueue, &g_qlock);
    g_xwoken++;
    qemu_mutex_unlock(&g_qlock);
    aio_wait_kick();
}

static void start_xwaiter(void *opaque)
{
    qemu_coroutine_enter(qemu_coroutine_create(xwaiter, NULL));
}

static void test_co_queue_cross_thread(void)
{
    int n = 0;

    start_iothreads();
    qemu_mutex_init(&g_qlock);
    qemu_co_queue_init(&g_xqueue);
    g_xwaiting = g_xwoken = 0;
    for (int i = 0; i < 30; i++) {
        aio_bh_schedule_oneshot(iothread_get_aio_context(g_io[i % N_IOTHREADS]),
                                start_xwaiter, NULL);
    }
    while (n < 30) {
        qemu_mutex_lock(&g_qlock);
        if (g_xwaiting > n && qemu_co_enter_next(&g_xqueue, &g_qlock)) {
            n++;
        }
        qemu_mutex_unlock(&g_qlock);
        g_usleep(100);
    }
    AIO_WAIT_WHILE_UNLOCKED(NULL, ({
        int w;
        qemu_mutex_lock(&g_qlock);
        w = g_xwoken;
        qemu_mutex_unlock(&g_qlock);
        w < 30;
    }));
    g_assert_true(qemu_co_queue_empty(&g_xqueue));
    stop_iothreads();
    qemu_mutex_destroy(&g_qlock);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qemu_init_main_loop(&error_abort);
    g_test_add_func("/co-lock/co-mutex", test_co_mutex);
    g_test_add_func("/co-lock/co-mutex-lockable", test_co_mutex_lockable);
    g_test_add_func("/co-lock/co-queue", test_co_queue);
    g_test_add_func("/co-lock/co-rwlock", test_co_rwlock);
    g_test_add_func("/co-lock/co-rwlock-upgrade-downgrade",
                    test_co_rwlock_upgrade_downgrade);
    g_test_add_func("/co-lock/iothreads/co-mutex", test_co_mutex_iothreads);
    g_test_add_func("/co-lock/iothreads/co-queue", test_co_queue_cross_thread);
    return g_test_run();
}
