/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: QEMU's Coroutine on a loom coroutine (<qemu/coroutine.h>).
 *
 * loom never nests enters: loom_co_enter() from inside a coroutine queues
 * the target to run after the current one yields.  QEMU's
 * qemu_coroutine_enter() nests (the caller waits until the callee
 * yields), so a nested enter here queues the callee, records the caller
 * in callee->caller and yields; whenever the callee is about to give the
 * thread up (it yields, waits for a lock, sleeps or ends) it first queues
 * its caller again (release_caller()).  loom then runs exactly the
 * coroutine QEMU would run next.
 *
 * The running Coroutine is kept in a thread-local variable, set at every
 * point where a coroutine starts or resumes inside this layer (which is
 * every point, since each yield of a QEMU coroutine goes through it).
 * It is read through a function the optimiser cannot see through, because
 * a coroutine may resume on another thread.
 */
#include "qemu/osdep.h"

#include <loom/co.h>
#include <loom/loop.h>

#include "block/aio.h"
#include "compat-int.h"
#include "qemu/coroutine.h"
#include "qemu/coroutine_int.h"
#include "qemu/error-report.h"
#include "qemu/timer.h"

static __thread Coroutine *t_self;

/* Finished coroutines of this thread, for reuse (see coroutine_int.h). */
static __thread struct {
    QSLIST_HEAD(, Coroutine) list;
    unsigned size;
} t_pool;

static unsigned g_pool_max = COROUTINE_POOL_RESERVATION; /* atomic */

/* Frees a thread's pool when the thread exits (set on first use). */
static pthread_key_t g_pool_key;
static pthread_once_t g_pool_key_once = PTHREAD_ONCE_INIT;

static void pool_free_at_exit(void *unused)
{
    Coroutine *co;

    while ((co = QSLIST_FIRST(&t_pool.list)) != NULL) {
        QSLIST_REMOVE_HEAD(&t_pool.list, pool_next);
        g_free(co);
    }
    t_pool.size = 0;
}

static void pool_key_init(void)
{
    if (pthread_key_create(&g_pool_key, pool_free_at_exit) != 0) {
        loom_q_fail("coroutine pool", -EAGAIN);
    }
}

static __attribute__((noinline)) Coroutine **self_slot(void)
{
    Coroutine **p = &t_self;

    __asm__ __volatile__("" : "+r"(p));
    return p;
}

Coroutine *loom_q_co_self(void)
{
    Coroutine *self;

    if (!loom_in_co()) {
        return NULL;
    }
    self = *self_slot();
    if (!self || self->impl != loom_co_self()) {
        error_report("QEMU coroutine API used in a coroutine that "
                     "qemu_coroutine_create() did not create");
        abort();
    }
    return self;
}

Coroutine *loom_q_co_need_self(const char *what)
{
    Coroutine *self = loom_q_co_self();

    if (!self) {
        error_report("%s called outside a coroutine", what);
        abort();
    }
    return self;
}

void loom_q_co_resumed(Coroutine *self)
{
    *self_slot() = self;
    self->entered = true;
    self->scheduled = NULL;
}

void loom_q_co_release_caller(Coroutine *self)
{
    Coroutine *caller = self->caller;

    if (caller) {
        self->caller = NULL;
        /* We run inside a coroutine: this queues it behind us. */
        loom_co_enter(caller->impl);
    }
}

void loom_q_co_yield(Coroutine *self)
{
    loom_q_co_release_caller(self);
    self->entered = false;
    loom_co_yield();
    loom_q_co_resumed(self);
}

static void pool_put(Coroutine *co)
{
    if (t_pool.size < __atomic_load_n(&g_pool_max, __ATOMIC_RELAXED)) {
        if (QSLIST_EMPTY(&t_pool.list)) {
            /* Any non-NULL value makes the destructor run at exit. */
            pthread_once(&g_pool_key_once, pool_key_init);
            pthread_setspecific(g_pool_key, &t_pool);
        }
        QSLIST_INSERT_HEAD(&t_pool.list, co, pool_next);
        t_pool.size++;
    } else {
        g_free(co);
    }
}

static Coroutine *pool_get(void)
{
    Coroutine *co = QSLIST_FIRST(&t_pool.list);

    if (co) {
        QSLIST_REMOVE_HEAD(&t_pool.list, pool_next);
        t_pool.size--;
        return co;
    }
    return g_new(Coroutine, 1);
}

static void co_trampoline(void *opaque)
{
    Coroutine *co = opaque;

    loom_q_co_resumed(co);
    co->entry(co->entry_arg);
    if (co->locks_held) {
        error_report("coroutine ended holding %zu lock(s)", co->locks_held);
        abort();
    }
    co->entered = false;
    co->impl = NULL; /* loom releases it when we return */
    loom_q_co_release_caller(co);
    /* Still on its stack, but nothing reads the Coroutine any more. */
    pool_put(co);
}

Coroutine *qemu_coroutine_create(CoroutineEntry *entry, void *opaque)
{
    Coroutine *co = pool_get();
    int err;

    memset(co, 0, sizeof(*co));
    co->entry = entry;
    co->entry_arg = opaque;
    err = loom_co_create(co_trampoline, co, &co->impl);
    if (err < 0) {
        g_free(co);
        loom_q_fail("qemu_coroutine_create", err);
    }
    return co;
}

static void check_enter(Coroutine *co, const char *what)
{
    if (co->scheduled) {
        error_report("%s: Co-routine was already scheduled in '%s'", what,
                     co->scheduled);
        abort();
    }
    if (co->entered || !co->impl) {
        error_report("%s: Co-routine re-entered recursively", what);
        abort();
    }
}

void qemu_aio_coroutine_enter(AioContext *ctx, Coroutine *co)
{
    Coroutine *self = loom_q_co_self();

    check_enter(co, "qemu_aio_coroutine_enter");
    co->ctx = ctx;
    if (!self) {
        co->caller = NULL;
        if (ctx && ctx == loom_q_thread_ctx()) {
            /* Our own context: enter now and remember its loop. */
            loom_co_enter_in(ctx->loop, co->impl);
        } else {
            loom_co_enter(co->impl);
        }
        return;
    }
    /* Nested: the callee runs now; we go on when it gives us back. */
    co->caller = self;
    loom_co_enter(co->impl);
    loom_co_yield();
    loom_q_co_resumed(self);
}

void qemu_coroutine_enter(Coroutine *co)
{
    qemu_aio_coroutine_enter(qemu_get_current_aio_context(), co);
}

void qemu_coroutine_enter_if_inactive(Coroutine *co)
{
    if (!qemu_coroutine_entered(co)) {
        qemu_coroutine_enter(co);
    }
}

void qemu_coroutine_yield(void)
{
    loom_q_co_yield(loom_q_co_need_self("qemu_coroutine_yield"));
}

AioContext *qemu_coroutine_get_aio_context(Coroutine *co)
{
    return co->ctx;
}

Coroutine *qemu_coroutine_self(void)
{
    return loom_q_co_self();
}

bool qemu_in_coroutine(void)
{
    return loom_in_co();
}

bool qemu_coroutine_entered(Coroutine *co)
{
    return co->entered;
}

void qemu_coroutine_inc_pool_size(unsigned int additional_pool_size)
{
    __atomic_add_fetch(&g_pool_max, additional_pool_size, __ATOMIC_RELAXED);
}

void qemu_coroutine_dec_pool_size(unsigned int removing_pool_size)
{
    __atomic_sub_fetch(&g_pool_max, removing_pool_size, __ATOMIC_RELAXED);
}

/* ---- coroutines and contexts ---- */

void aio_co_schedule(AioContext *ctx, Coroutine *co)
{
    if (co->scheduled) {
        error_report("aio_co_schedule: Co-routine was already scheduled in "
                     "'%s'", co->scheduled);
        abort();
    }
    co->scheduled = "aio_co_schedule";
    co->ctx = ctx;
    loom_co_schedule(ctx->loop, co->impl);
}

void aio_co_reschedule_self(AioContext *new_ctx)
{
    Coroutine *self = loom_q_co_need_self("aio_co_reschedule_self");

    if (self->ctx == new_ctx) {
        return;
    }
    loom_q_co_release_caller(self);
    self->ctx = new_ctx;
    self->entered = false;
    loom_co_reschedule_self(new_ctx->loop);
    loom_q_co_resumed(self);
}

void aio_co_wake(Coroutine *co)
{
    /*
     * No checks on @co's fields: a waker in another thread may run while
     * @co is still finishing its yield; loom_co_wake() then schedules it
     * on its own loop, which cannot enter it before the yield is over.
     */
    loom_co_wake(co->impl);
}

void aio_co_enter(AioContext *ctx, Coroutine *co)
{
    if (ctx != qemu_get_current_aio_context()) {
        aio_co_schedule(ctx, co);
        return;
    }
    if (qemu_in_coroutine()) {
        /* Runs right after the current coroutine yields (not nested). */
        check_enter(co, "aio_co_enter");
        co->ctx = ctx;
        co->caller = NULL;
        loom_co_enter_in(ctx->loop, co->impl);
        return;
    }
    qemu_aio_coroutine_enter(ctx, co);
}

/* ---- sleeping ---- */

static void co_sleep_cb(void *opaque)
{
    qemu_co_sleep_wake(opaque);
}

void qemu_co_sleep_wake(QemuCoSleep *w)
{
    Coroutine *co = w->to_wake;

    if (co) {
        w->to_wake = NULL;
        aio_co_wake(co);
    }
}

void qemu_co_sleep_ns_wakeable(QemuCoSleep *w, QEMUClockType type, int64_t ns)
{
    Coroutine *self = loom_q_co_need_self("qemu_co_sleep_ns");
    AioContext *ctx = qemu_get_current_aio_context();
    QEMUTimer ts;

    if (!ctx) {
        error_report("qemu_co_sleep_ns: no current AioContext");
        abort();
    }
    if (w->to_wake) {
        error_report("qemu_co_sleep_ns: QemuCoSleep in use");
        abort();
    }
    aio_timer_init(ctx, &ts, type, SCALE_NS, co_sleep_cb, w);
    w->to_wake = self;
    timer_mod(&ts, qemu_clock_get_ns(type) + ns);
    loom_q_co_yield(self);
    timer_del(&ts);
    timer_deinit(&ts);
}

void qemu_co_sleep_ns(QEMUClockType type, int64_t ns)
{
    QemuCoSleep w = {0};

    qemu_co_sleep_ns_wakeable(&w, type, ns);
}
