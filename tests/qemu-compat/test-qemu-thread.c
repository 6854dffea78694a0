/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: QemuThread, QemuMutex, QemuRecMutex, QemuCond,
 * QemuSemaphore, QemuEvent, QemuSpin, QemuLockCnt, QemuSeqLock and the
 * QemuLockable guards, with QEMU's argument conventions (milliseconds,
 * bool/int results).
 */
#include "qemu/osdep.h"
#include "qemu/atomic.h"
#include "qemu/lockable.h"
#include "qemu/lockcnt.h"
#include "qemu/seqlock.h"
#include "qemu/thread.h"

#define N_THREADS 4
#define N_INCS 20000

static QemuMutex g_mutex;
static QemuSpin g_spin;
static long g_counter;
static long g_spin_counter;

static void *incrementer(void *arg)
{
    for (int i = 0; i < N_INCS; i++) {
        WITH_QEMU_LOCK_GUARD(&g_mutex) {
            g_counter++;
        }
        qemu_spin_lock(&g_spin);
        g_spin_counter++;
        qemu_spin_unlock(&g_spin);
    }
    return arg;
}

static void test_threads_and_mutex(void)
{
    QemuThread th[N_THREADS];
    QemuThread self;

    qemu_mutex_init(&g_mutex);
    qemu_spin_init(&g_spin);
    g_counter = g_spin_counter = 0;
    for (intptr_t i = 0; i < N_THREADS; i++) {
        qemu_thread_create(&th[i], "incr", incrementer, (void *)i,
                           QEMU_THREAD_JOINABLE);
        g_assert_false(qemu_thread_is_self(&th[i]));
    }
    for (intptr_t i = 0; i < N_THREADS; i++) {
        g_assert_true(qemu_thread_join(&th[i]) == (void *)i);
    }
    g_assert_cmpint(g_counter, ==, (long)N_THREADS * N_INCS);
    g_assert_cmpint(g_spin_counter, ==, (long)N_THREADS * N_INCS);
    qemu_thread_get_self(&self);
    g_assert_true(qemu_thread_is_self(&self));

    g_assert_cmpint(qemu_mutex_trylock(&g_mutex), ==, 0);
    g_assert_cmpint(qemu_mutex_trylock(&g_mutex), !=, 0);
    qemu_mutex_unlock(&g_mutex);
    g_assert_false(qemu_spin_trylock(&g_spin));
    g_assert_true(qemu_spin_locked(&g_spin));
    g_assert_true(qemu_spin_trylock(&g_spin)); /* true = busy, as QEMU */
    qemu_spin_unlock(&g_spin);
    g_assert_false(qemu_spin_locked(&g_spin));
    {
        QEMU_LOCK_GUARD(&g_mutex);
        g_assert_cmpint(qemu_mutex_trylock(&g_mutex), !=, 0);
    }
    g_assert_cmpint(qemu_mutex_trylock(&g_mutex), ==, 0);
    qemu_mutex_unlock(&g_mutex);
    qemu_mutex_destroy(&g_mutex);
    qemu_spin_destroy(&g_spin);
}

static void *exiter(void *arg)
{
    qemu_thread_exit(arg);
}

static void *poster(void *opaque)
{
    qemu_sem_post(opaque);
    return NULL;
}

static void test_thread_exit_and_detached(void)
{
    /*
     * Static: a detached poster may still be inside qemu_sem_post() when
     * the wait returns, so the semaphore must outlive this function.
     */
    static QemuSemaphore sem;
    QemuThread t;

    qemu_thread_create(&t, "exiter", exiter, (void *)0x1234,
                       QEMU_THREAD_JOINABLE);
    g_assert_true(qemu_thread_join(&t) == (void *)0x1234);

    qemu_sem_init(&sem, 0);
    qemu_thread_create(&t, "detached", poster, &sem, QEMU_THREAD_DETACHED);
    qemu_sem_wait(&sem);
    g_assert_null(qemu_thread_join(&t)); /* detached: nothing to join */
}

static void test_rec_mutex(void)
{
    QemuRecMutex m;

    qemu_rec_mutex_init(&m);
    qemu_rec_mutex_lock(&m);
    g_assert_cmpint(qemu_rec_mutex_trylock(&m), ==, 0);
    {
        QEMU_LOCK_GUARD(&m);
    }
    qemu_rec_mutex_unlock(&m);
    qemu_rec_mutex_unlock(&m);
    qemu_rec_mutex_destroy(&m);
}

typedef struct {
    QemuMutex lock;
    QemuCond cond;
    QemuSemaphore sem;
    QemuEvent ev;
    bool flag;
} Sync;

static void *signaller(void *opaque)
{
    Sync *s = opaque;

    qemu_mutex_lock(&s->lock);
    s->flag = true;
    qemu_cond_signal(&s->cond);
    qemu_mutex_unlock(&s->lock);
    qemu_sem_post(&s->sem);
    qemu_event_set(&s->ev);
    return NULL;
}

static void test_cond_sem_event(void)
{
    Sync s = {0};
    QemuThread t;

    qemu_mutex_init(&s.lock);
    qemu_cond_init(&s.cond);
    qemu_sem_init(&s.sem, 0);
    qemu_event_init(&s.ev, false);

    /* Timeouts, in milliseconds, report QEMU's way. */
    qemu_mutex_lock(&s.lock);
    g_assert_false(qemu_cond_timedwait(&s.cond, &s.lock, 1));
    qemu_mutex_unlock(&s.lock);
    g_assert_cmpint(qemu_sem_timedwait(&s.sem, 1), ==, -1);
    g_assert_false(qemu_event_timedwait(&s.ev, 1));

    qemu_thread_create(&t, "signaller", signaller, &s, QEMU_THREAD_JOINABLE);
    qemu_mutex_lock(&s.lock);
    while (!s.flag) {
        qemu_cond_wait(&s.cond, &s.lock);
    }
    qemu_mutex_unlock(&s.lock);
    g_assert_cmpint(qemu_sem_timedwait(&s.sem, 60000), ==, 0);
    qemu_event_wait(&s.ev);
    g_assert_true(qemu_event_timedwait(&s.ev, 0)); /* stays set */
    qemu_event_reset(&s.ev);
    g_assert_false(qemu_event_timedwait(&s.ev, 0));
    qemu_thread_join(&t);

    qemu_sem_post(&s.sem);
    qemu_sem_wait(&s.sem);
    qemu_event_destroy(&s.ev);
    qemu_sem_destroy(&s.sem);
    qemu_cond_destroy(&s.cond);
    qemu_mutex_destroy(&s.lock);
}

static void test_lockcnt(void)
{
    QemuLockCnt lc;

    qemu_lockcnt_init(&lc);
    qemu_lockcnt_inc(&lc);
    qemu_lockcnt_inc(&lc);
    g_assert_cmpuint(qemu_lockcnt_count(&lc), ==, 2);
    g_assert_false(qemu_lockcnt_dec_if_lock(&lc));
    g_assert_false(qemu_lockcnt_dec_and_lock(&lc));
    g_assert_true(qemu_lockcnt_dec_and_lock(&lc)); /* last one: locked */
    qemu_lockcnt_inc_and_unlock(&lc);
    g_assert_cmpuint(qemu_lockcnt_count(&lc), ==, 1);
    g_assert_true(qemu_lockcnt_dec_if_lock(&lc));
    qemu_lockcnt_unlock(&lc);
    qemu_lockcnt_lock(&lc);
    qemu_lockcnt_unlock(&lc);
    qemu_lockcnt_destroy(&lc);
}

/* A seqlock-protected pair that must always be read as equal halves. */
static QemuSeqLock g_sl;
static QemuMutex g_sl_lock;
static long g_a, g_b;
static bool g_sl_stop;

static void *seq_writer(void *arg)
{
    for (long i = 1; i <= 20000; i++) {
        seqlock_write_lock(&g_sl, &g_sl_lock);
        qatomic_set(&g_a, i);
        qatomic_set(&g_b, -i);
        seqlock_write_unlock(&g_sl, &g_sl_lock);
    }
    qatomic_set(&g_sl_stop, true);
    return arg;
}

static void test_seqlock(void)
{
    QemuThread t;
    long reads = 0;

    seqlock_init(&g_sl);
    qemu_mutex_init(&g_sl_lock);
    qemu_thread_create(&t, "seq-writer", seq_writer, NULL,
                       QEMU_THREAD_JOINABLE);
    while (!qatomic_read(&g_sl_stop) || reads == 0) {
        unsigned start;
        long a, b;

        do {
            start = seqlock_read_begin(&g_sl);
            a = qatomic_read(&g_a);
            b = qatomic_read(&g_b);
        } while (seqlock_read_retry(&g_sl, start));
        g_assert_cmpint(a, ==, -b);
        reads++;
    }
    qemu_thread_join(&t);
    qemu_mutex_destroy(&g_sl_lock);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/thread/threads-and-mutex", test_threads_and_mutex);
    g_test_add_func("/thread/exit-and-detached", test_thread_exit_and_detached);
    g_test_add_func("/thread/rec-mutex", test_rec_mutex);
    g_test_add_func("/thread/cond-sem-event", test_cond_sem_event);
    g_test_add_func("/thread/lockcnt", test_lockcnt);
    g_test_add_func("/thread/seqlock", test_seqlock);
    return g_test_run();
}
