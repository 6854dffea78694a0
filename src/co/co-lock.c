/* SPDX-License-Identifier: MIT */
/*
 * Coroutine synchronisation: wait queues (CoQueue), mutexes (CoMutex) and
 * readers/writer locks (CoRwlock).  Waiters are coroutines linked through
 * their wait_next field; a waiter is resumed with loom_co_wake(), i.e. in
 * the loop (and so the thread) it was running in, which makes the locks
 * usable by coroutines of different threads.
 *
 * The mutex and rwlock keep their state under a spinlock held for a few
 * instructions.  Ownership is handed over by the unlocker (holder/granted
 * written under the spinlock) before the waiter is woken, so a woken
 * waiter never competes again and order is strictly first come, first
 * served.  The waiter may still be finishing its yield in its own thread
 * when it is woken: loom_co_wake() then goes through its loop, whose
 * thread is busy with that very coroutine and so enters it only after the
 * yield.
 */
#include "co/co-int.h"

#include "base/check.h"

/*
 * The running coroutine, bound to its thread's loop if it had none: a
 * waker resumes it there, and may do so as soon as it is queued.
 */
static struct loom_co *self_or_panic(const char *fn)
{
    struct loom_co *co = loom_co_self();

    if (LOOM_UNLIKELY(co == NULL)) {
        loom__panic("%s: called outside a coroutine", fn);
    }
    loom__co_bind_loop(co);
    return co;
}

static void fifo_push(struct loom_co **head, struct loom_co **tail,
                      struct loom_co *co)
{
    co->wait_next = NULL;
    if (*tail) {
        (*tail)->wait_next = co;
    } else {
        *head = co;
    }
    *tail = co;
}

static struct loom_co *fifo_pop(struct loom_co **head, struct loom_co **tail)
{
    struct loom_co *co = *head;

    if (co) {
        *head = co->wait_next;
        if (!*head) {
            *tail = NULL;
        }
        co->wait_next = NULL;
    }
    return co;
}

/* ------------------------------------------------------------------ */
/* Queues.                                                            */

void loom_co_queue_init(struct loom_co_queue *q)
{
    q->head = NULL;
    q->tail = NULL;
}

void loom_co_queue_wait(struct loom_co_queue *q, struct loom_mutex *unlock)
{
    struct loom_co *co = self_or_panic("loom_co_queue_wait");

    fifo_push(&q->head, &q->tail, co);
    if (unlock) {
        loom_mutex_unlock(unlock);
    }
    loom_co_yield();
    if (unlock) {
        loom_mutex_lock(unlock);
    }
}

bool loom_co_queue_next(struct loom_co_queue *q)
{
    struct loom_co *co = fifo_pop(&q->head, &q->tail);

    if (!co) {
        return false;
    }
    loom_co_wake(co);
    return true;
}

void loom_co_queue_restart_all(struct loom_co_queue *q)
{
    /*
     * Detach the waiters first: one that is entered at once may wait in
     * @q again, and must not be woken a second time by this call.
     */
    struct loom_co *co = q->head;

    q->head = NULL;
    q->tail = NULL;
    while (co) {
        struct loom_co *next = co->wait_next;

        co->wait_next = NULL;
        loom_co_wake(co);
        co = next;
    }
}

bool loom_co_queue_empty(const struct loom_co_queue *q)
{
    return q->head == NULL;
}

/* ------------------------------------------------------------------ */
/* Waiting for a hand-over.                                           */

/*
 * Yield until the unlocker set co->granted (under @spin).  A correct
 * program enters the coroutine only once, after the grant; the loop makes
 * a stray enter harmless.
 */
static void wait_granted(struct loom_co *co, struct loom_spin *spin)
{
    bool granted;

    do {
        loom_co_yield();
        loom_spin_lock(spin);
        granted = co->granted;
        loom_spin_unlock(spin);
    } while (!granted);
}

/* ------------------------------------------------------------------ */
/* Mutexes.                                                           */

void loom_co_mutex_init(struct loom_co_mutex *m)
{
    loom_spin_init(&m->spin);
    m->holder = NULL;
    m->head = NULL;
    m->tail = NULL;
}

void loom_co_mutex_lock(struct loom_co_mutex *m)
{
    struct loom_co *co = self_or_panic("loom_co_mutex_lock");

    loom_spin_lock(&m->spin);
    if (LOOM_LIKELY(m->holder == NULL)) {
        m->holder = co;
        loom_spin_unlock(&m->spin);
        return;
    }
    if (LOOM_UNLIKELY(m->holder == co)) {
        loom_spin_unlock(&m->spin);
        loom__panic("loom_co_mutex_lock: coroutine %p already holds mutex %p",
                   (void *)co, (void *)m);
    }
    co->granted = false;
    fifo_push(&m->head, &m->tail, co);
    loom_spin_unlock(&m->spin);
    wait_granted(co, &m->spin);
}

int loom_co_mutex_trylock(struct loom_co_mutex *m)
{
    struct loom_co *co = self_or_panic("loom_co_mutex_trylock");
    int r = -EBUSY;

    loom_spin_lock(&m->spin);
    if (m->holder == NULL) {
        m->holder = co;
        r = 0;
    }
    loom_spin_unlock(&m->spin);
    return r;
}

void loom_co_mutex_unlock(struct loom_co_mutex *m)
{
    struct loom_co *co = self_or_panic("loom_co_mutex_unlock");
    struct loom_co *next;

    loom_spin_lock(&m->spin);
    if (LOOM_UNLIKELY(m->holder != co)) {
        loom_spin_unlock(&m->spin);
        loom__panic("loom_co_mutex_unlock: mutex %p is not held by coroutine "
                   "%p",
                   (void *)m, (void *)co);
    }
    /* FIFO hand-over: the first waiter owns the mutex from now on. */
    next = fifo_pop(&m->head, &m->tail);
    m->holder = next;
    if (next) {
        next->granted = true;
    }
    loom_spin_unlock(&m->spin);
    if (next) {
        loom_co_wake(next);
    }
}

/* ------------------------------------------------------------------ */
/* Readers/writer locks.                                              */

void loom_co_rwlock_init(struct loom_co_rwlock *l)
{
    loom_spin_init(&l->spin);
    l->readers = 0;
    l->writer = false;
    l->head = NULL;
    l->tail = NULL;
}

static void rwlock_wait(struct loom_co_rwlock *l, struct loom_co *co,
                        bool write)
{
    co->granted = false;
    co->wait_write = write;
    fifo_push(&l->head, &l->tail, co);
    loom_spin_unlock(&l->spin);
    wait_granted(co, &l->spin);
}

void loom_co_rwlock_rdlock(struct loom_co_rwlock *l)
{
    struct loom_co *co = self_or_panic("loom_co_rwlock_rdlock");

    loom_spin_lock(&l->spin);
    if (!l->writer && l->head == NULL) {
        l->readers++;
        loom_spin_unlock(&l->spin);
        return;
    }
    rwlock_wait(l, co, false);
}

void loom_co_rwlock_wrlock(struct loom_co_rwlock *l)
{
    struct loom_co *co = self_or_panic("loom_co_rwlock_wrlock");

    loom_spin_lock(&l->spin);
    if (!l->writer && l->readers == 0 && l->head == NULL) {
        l->writer = true;
        loom_spin_unlock(&l->spin);
        return;
    }
    rwlock_wait(l, co, true);
}

void loom_co_rwlock_unlock(struct loom_co_rwlock *l)
{
    struct loom_co *co = self_or_panic("loom_co_rwlock_unlock");
    struct loom_co *wake = NULL, *wake_tail = NULL, *w;

    loom_spin_lock(&l->spin);
    if (l->writer) {
        l->writer = false;
    } else if (l->readers > 0) {
        l->readers--;
    } else {
        loom_spin_unlock(&l->spin);
        loom__panic("loom_co_rwlock_unlock: rwlock %p is not held (coroutine "
                   "%p)",
                   (void *)l, (void *)co);
    }
    /*
     * Admit waiters in order: one writer once the lock is free, or every
     * reader up to the next writer while no writer holds it.
     */
    while ((w = l->head) != NULL) {
        if (w->wait_write) {
            if (l->readers == 0 && !l->writer) {
                fifo_pop(&l->head, &l->tail);
                l->writer = true;
                w->granted = true;
                fifo_push(&wake, &wake_tail, w);
            }
            break;
        }
        if (l->writer) {
            break;
        }
        fifo_pop(&l->head, &l->tail);
        l->readers++;
        w->granted = true;
        fifo_push(&wake, &wake_tail, w);
    }
    loom_spin_unlock(&l->spin);
    while (wake) {
        w = wake;
        wake = w->wait_next;
        w->wait_next = NULL;
        loom_co_wake(w);
    }
}
