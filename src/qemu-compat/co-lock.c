/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: CoMutex (on loom's coroutine mutex), CoQueue and CoRwlock
 * (<qemu/coroutine-core.h>).  Any of them may be shared by coroutines in
 * different threads.
 *
 * Before anything that may yield, a coroutine hands the thread back to
 * the coroutine that entered it (loom_q_co_release_caller()): QEMU's
 * nested enter returns to the caller as soon as the callee blocks.  Only
 * a CoMutex lock that would really block does so (a free mutex is taken
 * without yielding).  Waiters of CoQueue and CoRwlock are woken with
 * aio_co_wake(), which resumes them in their own context and never races
 * with the end of their yield.
 */
#include "qemu/osdep.h"

#include <loom/co.h>

#include "block/aio.h"
#include "compat-int.h"
#include "qemu/coroutine-core.h"
#include "qemu/coroutine_int.h"
#include "qemu/error-report.h"
#include "qemu/lockable.h"

/* ---- CoMutex ---- */

void qemu_co_mutex_init(CoMutex *mutex)
{
    loom_co_mutex_init(&mutex->impl);
    mutex->holder = NULL;
}

void qemu_co_mutex_lock(CoMutex *mutex)
{
    Coroutine *self = loom_q_co_need_self("qemu_co_mutex_lock");

    if (loom_co_mutex_trylock(&mutex->impl) != 0) {
        if (__atomic_load_n(&mutex->holder, __ATOMIC_RELAXED) == self) {
            error_report("qemu_co_mutex_lock: the coroutine holds it already");
            abort();
        }
        loom_q_co_release_caller(self);
        self->entered = false;
        loom_co_mutex_lock(&mutex->impl);
        loom_q_co_resumed(self);
    }
    __atomic_store_n(&mutex->holder, self, __ATOMIC_RELAXED);
    self->locks_held++;
}

void qemu_co_mutex_unlock(CoMutex *mutex)
{
    Coroutine *self = loom_q_co_need_self("qemu_co_mutex_unlock");

    if (__atomic_load_n(&mutex->holder, __ATOMIC_RELAXED) != self) {
        error_report("qemu_co_mutex_unlock: not held by this coroutine");
        abort();
    }
    __atomic_store_n(&mutex->holder, NULL, __ATOMIC_RELAXED);
    self->locks_held--;
    /* Hands it to the first waiter, woken in its own context. */
    loom_co_mutex_unlock(&mutex->impl);
}

void qemu_co_mutex_assert_locked(CoMutex *mutex)
{
    if (__atomic_load_n(&mutex->holder, __ATOMIC_RELAXED) !=
        qemu_coroutine_self()) {
        error_report("qemu_co_mutex_assert_locked: not held by the caller");
        abort();
    }
}

/* ---- CoQueue ---- */

void qemu_co_queue_init(CoQueue *queue)
{
    QSIMPLEQ_INIT(&queue->entries);
}

void qemu_co_queue_wait_impl(CoQueue *queue, QemuLockable *lock,
                             CoQueueWaitFlags flags)
{
    Coroutine *self = loom_q_co_need_self("qemu_co_queue_wait");

    if (flags & CO_QUEUE_WAIT_FRONT) {
        QSIMPLEQ_INSERT_HEAD(&queue->entries, self, co_queue_next);
    } else {
        QSIMPLEQ_INSERT_TAIL(&queue->entries, self, co_queue_next);
    }
    if (lock) {
        qemu_lockable_unlock(lock);
    }
    /*
     * From here a waker may take us off the queue and wake us, also from
     * another thread: aio_co_wake() copes with the yield not being over.
     */
    loom_q_co_yield(self);
    if (lock) {
        qemu_lockable_lock(lock);
    }
}

bool qemu_co_enter_next_impl(CoQueue *queue, QemuLockable *lock)
{
    Coroutine *next = QSIMPLEQ_FIRST(&queue->entries);

    if (!next) {
        return false;
    }
    QSIMPLEQ_REMOVE_HEAD(&queue->entries, co_queue_next);
    if (lock) {
        qemu_lockable_unlock(lock);
    }
    aio_co_wake(next);
    if (lock) {
        qemu_lockable_lock(lock);
    }
    return true;
}

bool qemu_co_queue_next(CoQueue *queue)
{
    return qemu_co_enter_next_impl(queue, NULL);
}

void qemu_co_enter_all_impl(CoQueue *queue, QemuLockable *lock)
{
    while (qemu_co_enter_next_impl(queue, lock)) {
    }
}

void qemu_co_queue_restart_all(CoQueue *queue)
{
    qemu_co_enter_all_impl(queue, NULL);
}

bool qemu_co_queue_empty(CoQueue *queue)
{
    return QSIMPLEQ_FIRST(&queue->entries) == NULL;
}

/* ---- CoRwlock ---- */

/* A waiter's request, on its stack while it waits. */
struct CoRwTicket {
    bool read;
    Coroutine *co;
    QSIMPLEQ_ENTRY(CoRwTicket) next;
};

typedef QSIMPLEQ_HEAD(, Coroutine) WakeList;

void qemu_co_rwlock_init(CoRwlock *lock)
{
    qemu_spin_init(&lock->spin);
    lock->owners = 0;
    QSIMPLEQ_INIT(&lock->tickets);
}

/*
 * Grant the lock to the waiters at the head that may now have it: one
 * writer if the lock is free, else the readers in a row (while no writer
 * holds it).  Their coroutines go on @wake, to be woken after the spin
 * lock is released.  Called with the spin lock held.
 */
static void grant_waiters(CoRwlock *lock, WakeList *wake)
{
    CoRwTicket *t;

    while ((t = QSIMPLEQ_FIRST(&lock->tickets)) != NULL) {
        if (t->read ? lock->owners < 0 : lock->owners != 0) {
            break;
        }
        lock->owners = t->read ? lock->owners + 1 : -1;
        QSIMPLEQ_REMOVE_HEAD(&lock->tickets, next);
        QSIMPLEQ_INSERT_TAIL(wake, t->co, co_queue_next);
        if (!t->read) {
            break;
        }
    }
}

static void wake_all(WakeList *wake)
{
    Coroutine *co;

    while ((co = QSIMPLEQ_FIRST(wake)) != NULL) {
        QSIMPLEQ_REMOVE_HEAD(wake, co_queue_next);
        aio_co_wake(co);
    }
}

/*
 * Wait for @t to be granted.  Called with the spin lock held, after
 * queueing @t; returns holding the lock as @t asked (the granter updated
 * owners on our behalf).
 */
static void wait_ticket(CoRwlock *lock, Coroutine *self)
{
    qemu_spin_unlock(&lock->spin);
    loom_q_co_yield(self);
}

static void rwlock_acquire(CoRwlock *lock, bool read, const char *what)
{
    Coroutine *self = loom_q_co_need_self(what);
    CoRwTicket t = {.read = read, .co = self};

    qemu_spin_lock(&lock->spin);
    if (QSIMPLEQ_EMPTY(&lock->tickets) &&
        (read ? lock->owners >= 0 : lock->owners == 0)) {
        lock->owners = read ? lock->owners + 1 : -1;
        qemu_spin_unlock(&lock->spin);
    } else {
        QSIMPLEQ_INSERT_TAIL(&lock->tickets, &t, next);
        wait_ticket(lock, self);
    }
    self->locks_held++;
}

void qemu_co_rwlock_rdlock(CoRwlock *lock)
{
    rwlock_acquire(lock, true, "qemu_co_rwlock_rdlock");
}

void qemu_co_rwlock_wrlock(CoRwlock *lock)
{
    rwlock_acquire(lock, false, "qemu_co_rwlock_wrlock");
}

void qemu_co_rwlock_unlock(CoRwlock *lock)
{
    Coroutine *self = loom_q_co_need_self("qemu_co_rwlock_unlock");
    WakeList wake = QSIMPLEQ_HEAD_INITIALIZER(wake);

    qemu_spin_lock(&lock->spin);
    if (lock->owners == 0) {
        qemu_spin_unlock(&lock->spin);
        error_report("qemu_co_rwlock_unlock: the lock is not held");
        abort();
    }
    lock->owners = lock->owners > 0 ? lock->owners - 1 : 0;
    grant_waiters(lock, &wake);
    qemu_spin_unlock(&lock->spin);
    self->locks_held--;
    wake_all(&wake);
}

void qemu_co_rwlock_upgrade(CoRwlock *lock)
{
    Coroutine *self = loom_q_co_need_self("qemu_co_rwlock_upgrade");
    CoRwTicket t = {.read = false, .co = self};
    WakeList wake = QSIMPLEQ_HEAD_INITIALIZER(wake);

    qemu_spin_lock(&lock->spin);
    if (lock->owners <= 0) {
        qemu_spin_unlock(&lock->spin);
        error_report("qemu_co_rwlock_upgrade: no read hold to upgrade");
        abort();
    }
    if (lock->owners == 1 && QSIMPLEQ_EMPTY(&lock->tickets)) {
        lock->owners = -1; /* the only reader, nobody waiting: at once */
        qemu_spin_unlock(&lock->spin);
        return;
    }
    /*
     * For fairness, as QEMU: give up the read hold and queue for the
     * write hold behind those already waiting (a waiting writer may get
     * the lock now).  Our own ticket cannot be granted here: it is at
     * the head only if nobody waited, and then other readers remain.
     */
    lock->owners--;
    QSIMPLEQ_INSERT_TAIL(&lock->tickets, &t, next);
    grant_waiters(lock, &wake);
    qemu_spin_unlock(&lock->spin);
    wake_all(&wake);
    loom_q_co_yield(self);
}

void qemu_co_rwlock_downgrade(CoRwlock *lock)
{
    WakeList wake = QSIMPLEQ_HEAD_INITIALIZER(wake);

    (void)loom_q_co_need_self("qemu_co_rwlock_downgrade");
    qemu_spin_lock(&lock->spin);
    if (lock->owners != -1) {
        qemu_spin_unlock(&lock->spin);
        error_report("qemu_co_rwlock_downgrade: no write hold");
        abort();
    }
    lock->owners = 1;
    grant_waiters(lock, &wake);
    qemu_spin_unlock(&lock->spin);
    wake_all(&wake);
}
