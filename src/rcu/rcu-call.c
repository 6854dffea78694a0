/* SPDX-License-Identifier: MIT */
/*
 * loom_call_rcu(): deferred reclamation.  Any thread enqueues on a
 * wait-free multi-producer queue: one atomic exchange on the tail per
 * call, nothing else shared is written.  One detached thread,
 * "loom-call-rcu", started by the first call, takes every callback queued
 * so far at once (one exchange of the tail per batch), waits for one grace
 * period for the whole batch and runs them in queueing order.
 * loom_drain_call_rcu() queues a marker callback and sleeps until the
 * thread reaches it.
 */
#include <loom/rcu.h>

#include <pthread.h>
#include <sched.h>

#include "base/atomic.h"
#include "base/check.h"
#include "base/thread-int.h"
#include "rcu/rcu-int.h"

/* Fewer queued callbacks than this wait a little for company. */
#define CALL_BATCH_MIN 16
#define CALL_BATCH_DELAY_NS 1000000
#define CALL_BATCH_TRIES 5

/*
 * The queue.  g_anchor.next is its first element; g_tail is the next
 * field of the last one, &g_anchor.next while the queue is empty.
 * Producers swap the tail, then link their element behind the old one.
 */
static struct loom_rcu_head g_anchor;

/* Producers: atomic exchange; the consumer: one exchange per batch. */
LOOM_CACHE_ALIGNED static struct loom_rcu_head **g_tail = &g_anchor.next;

/* Futex: the thread writes 0 before sleeping, producers 1 to wake it. */
LOOM_CACHE_ALIGNED static unsigned int g_wake = 1;

/* Drains in progress (skip batching) and their futex; atomic. */
static unsigned int g_urgent;

/* Bumped by every drain marker; futex for waiting drains; atomic. */
static unsigned int g_drain_seq;

/* Protects starting the thread.  g_started: atomic, set once running. */
static pthread_mutex_t g_start_lock = PTHREAD_MUTEX_INITIALIZER;
/*
 * Held across splice() (two stores), so that fork() never copies a
 * half-taken queue: after g_start_lock.
 */
static pthread_mutex_t g_splice_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t g_call_once = PTHREAD_ONCE_INIT;
static unsigned int g_started;

static __thread bool t_on_call_thread;

/*
 * The element after @h, which is known to exist: its producer has swapped
 * the tail but may not have linked it yet.
 */
static struct loom_rcu_head *next_of(struct loom_rcu_head *h)
{
    struct loom_rcu_head *next;
    unsigned int spins = 0;

    /* Pairs with the release store in loom_call_rcu(). */
    while (!(next = loom__atomic_load_acquire(&h->next))) {
        if (++spins < 1000) {
            loom__cpu_relax();
        } else {
            sched_yield();
        }
    }
    return next;
}

/* Whether anything is queued.  Consumer only. */
static bool queue_empty(void)
{
    /* seq_cst: pairs with the producers' exchange (wait_for_work()). */
    return loom__atomic_load_seq(&g_tail) == &g_anchor.next;
}

/*
 * At least @min callbacks queued and linked?  Counts the linked ones, at
 * most @min, without taking them.  Consumer only.
 */
static bool queued_at_least(unsigned int min)
{
    /* Pairs with the release store in loom_call_rcu(). */
    struct loom_rcu_head *h = loom__atomic_load_acquire(&g_anchor.next);
    unsigned int n = 0;

    while (h && ++n < min) {
        h = loom__atomic_load_acquire(&h->next);
    }
    return n >= min;
}

/*
 * Take every queued callback (the queue is not empty): the first one is
 * returned, *@last receives the next field of the last one.  The queue is
 * empty again afterwards; callbacks queued meanwhile are either in the
 * batch or start the next one.  Consumer only.
 */
static struct loom_rcu_head *splice(struct loom_rcu_head ***last)
{
    struct loom_rcu_head *first;

    pthread_mutex_lock(&g_splice_lock);
    first = next_of(&g_anchor);
    /*
     * No producer writes g_anchor.next now: the tail is past @first, so
     * the next one to link behind the anchor is one that swaps the tail
     * after the exchange below.
     */
    loom__atomic_set(&g_anchor.next, NULL);
    *last = loom__atomic_xchg(&g_tail, &g_anchor.next);
    pthread_mutex_unlock(&g_splice_lock);
    return first;
}

/*
 * Take the whole queue, wait for one grace period, run the callbacks.
 * Every callback taken was queued before the grace period began, so every
 * read-side section that ran when it was queued has ended.  Consumer only.
 */
static void run_batch(void)
{
    struct loom_rcu_head **last;
    struct loom_rcu_head *h;

    if (queue_empty()) {
        return;
    }
    h = splice(&last);
    loom_synchronize_rcu();
    for (;;) {
        /* Read before the callback, which may free or reuse @h. */
        struct loom_rcu_head *next = &h->next == last ? NULL : next_of(h);

        h->fn(h);
        if (!next) {
            break;
        }
        h = next;
    }
}

/* Sleep until something is queued.  Consumer only. */
static void wait_for_work(void)
{
    for (;;) {
        /* Pairs with the tail exchange and g_wake load in call_rcu. */
        loom__atomic_store_seq(&g_wake, 0);
        if (!queue_empty()) {
            loom__atomic_set(&g_wake, 1);
            return;
        }
        (void)loom__futex_wait_ns(&g_wake, 0, -1);
    }
}

static void *call_rcu_thread(void *arg)
{
    unsigned int tries = 0;

    (void)arg;
    t_on_call_thread = true;
    for (;;) {
        if (queue_empty()) {
            wait_for_work();
            continue;
        }
        if (tries < CALL_BATCH_TRIES && !queued_at_least(CALL_BATCH_MIN) &&
            loom__atomic_load_seq(&g_urgent) == 0) {
            /* A drain bumps g_urgent and wakes us early. */
            tries++;
            (void)loom__futex_wait_ns(&g_urgent, 0, CALL_BATCH_DELAY_NS);
            continue;
        }
        tries = 0;
        run_batch();
    }
    return NULL;
}

/*
 * fork(): the child has no call_rcu thread; the next loom_call_rcu() or
 * drain starts one.  Queued callbacks stay queued; a batch the parent's
 * thread had taken, and an element another thread was still linking, are
 * not run in the child.  Lock order: g_start_lock,
 * g_splice_lock, then RCU's own locks, so these handlers are installed
 * after RCU's (prepare handlers run in reverse order of installation,
 * parent and child ones in order).
 */
static void call_before_fork(void)
{
    pthread_mutex_lock(&g_start_lock);
    pthread_mutex_lock(&g_splice_lock);
}

static void call_after_fork_parent(void)
{
    pthread_mutex_unlock(&g_splice_lock);
    pthread_mutex_unlock(&g_start_lock);
}

static void call_after_fork_child(void)
{
    struct loom_rcu_head **t = &g_anchor.next;
    struct loom_rcu_head *h;

    /*
     * A producer of the parent may have been between its exchange of the
     * tail and its link: it does not exist here, so its element would
     * never be linked and a drain would wait for it forever.  Cut the
     * queue after the last linked element; the child never runs that
     * element or those queued behind it (like a batch the parent's thread
     * had taken).
     */
    while ((h = loom__atomic_read(t)) != NULL) {
        t = &h->next;
    }
    loom__atomic_set(&g_tail, t);
    loom__atomic_set(&g_started, 0);
    loom__atomic_set(&g_wake, 1);
    pthread_mutex_unlock(&g_splice_lock);
    pthread_mutex_unlock(&g_start_lock);
}

static void call_init_once(void)
{
    /* RCU's fork handlers first: see above. */
    loom__rcu_init();
    if (pthread_atfork(call_before_fork, call_after_fork_parent,
                       call_after_fork_child) != 0) {
        loom__panic("call_rcu: cannot install fork handlers");
    }
}

/* Start the thread unless it runs; 0 or -errno.  Context: any. */
static int start_thread(void)
{
    int err;

    pthread_once(&g_call_once, call_init_once);
    pthread_mutex_lock(&g_start_lock);
    if (loom__atomic_read(&g_started)) {
        pthread_mutex_unlock(&g_start_lock);
        return 0;
    }
    /*
     * Detached, every signal blocked, and not an RCU reader: it waits
     * for grace periods and never reads under RCU itself.
     */
    err = loom__thread_create(NULL, LOOM_THREAD_KIND_CALL_RCU,
                              "loom-call-rcu", call_rcu_thread, NULL,
                              LOOM_THREAD_DETACHED | LOOM__THREAD_NO_RCU |
                                  LOOM__THREAD_NO_SIGNALS,
                              NULL);
    if (err == 0) {
        /* Pairs with the acquire load in loom_call_rcu(). */
        loom__atomic_store_release(&g_started, 1);
    }
    pthread_mutex_unlock(&g_start_lock);
    return err;
}

/*
 * First half of a call: make @head the last element.  Return: the field
 * that must then point to it (the link, the call's second half).
 */
static inline struct loom_rcu_head **
enqueue_swap(struct loom_rcu_head *head,
             void (*fn)(struct loom_rcu_head *head))
{
    head->fn = fn;
    loom__atomic_set(&head->next, NULL);
    /*
     * The seq_cst exchange orders the tail before the g_wake load in
     * loom_call_rcu(); pairs with wait_for_work().
     */
    return loom__atomic_xchg(&g_tail, &head->next);
}

void loom_call_rcu(struct loom_rcu_head *head,
                   void (*fn)(struct loom_rcu_head *head))
{
    struct loom_rcu_head **prev;

    if (!head || !fn) {
        return;
    }
    prev = enqueue_swap(head, fn);
    /* Pairs with the acquire loads in next_of() and queued_at_least(). */
    loom__atomic_store_release(prev, head);
    if (LOOM_UNLIKELY(loom__atomic_load_seq(&g_wake) == 0) &&
        loom__atomic_xchg(&g_wake, 1) == 0) {
        loom__futex_wake(&g_wake, INT_MAX);
    }
    /* Pairs with the release store in start_thread(). */
    if (LOOM_UNLIKELY(!loom__atomic_load_acquire(&g_started))) {
        /* On failure the callback stays queued for a later attempt. */
        (void)start_thread();
    }
}

struct loom_rcu_head **loom__call_rcu_test_unlinked(struct loom_rcu_head *head,
                                                    void (*fn)(
                                                        struct loom_rcu_head *))
{
    /* The fork handlers, which loom_call_rcu() installs on its start. */
    pthread_once(&g_call_once, call_init_once);
    return enqueue_swap(head, fn);
}

struct drain_marker {
    struct loom_rcu_head head;
    unsigned int done;
};

static void drain_marker_run(struct loom_rcu_head *head)
{
    struct drain_marker *m = loom__container_of(head, struct drain_marker,
                                               head);

    /* Pairs with the acquire load in loom_drain_call_rcu(). */
    loom__atomic_store_release(&m->done, 1);
    /* @m may be gone now: wake through the global word. */
    loom__atomic_inc(&g_drain_seq);
    loom__futex_wake(&g_drain_seq, INT_MAX);
}

/*
 * No call_rcu thread could be started: run the queue here, holding
 * g_start_lock so that no thread starts and consumes concurrently.
 */
static void drain_inline(struct drain_marker *m)
{
    pthread_mutex_lock(&g_start_lock);
    if (!loom__atomic_load_acquire(&g_started)) {
        t_on_call_thread = true;
        while (!loom__atomic_load_acquire(&m->done)) {
            run_batch();
        }
        t_on_call_thread = false;
    }
    pthread_mutex_unlock(&g_start_lock);
}

void loom_drain_call_rcu(void)
{
    struct drain_marker m = { .done = 0 };

    if (loom_rcu_read_locked()) {
        loom__panic("loom_drain_call_rcu() called inside an RCU read-side "
                   "section");
    }
    if (t_on_call_thread) {
        loom__panic("loom_drain_call_rcu() called from a call_rcu callback: "
                   "it would wait for itself");
    }
    loom__atomic_inc(&g_urgent);
    loom__futex_wake(&g_urgent, INT_MAX);
    loom_call_rcu(&m.head, drain_marker_run);
    if (!loom__atomic_load_acquire(&g_started) && start_thread() != 0) {
        drain_inline(&m);
    }
    for (;;) {
        unsigned int seq = loom__atomic_load_seq(&g_drain_seq);

        /* Pairs with the release store in drain_marker_run(). */
        if (loom__atomic_load_acquire(&m.done)) {
            break;
        }
        (void)loom__futex_wait_ns(&g_drain_seq, seq, -1);
    }
    loom__atomic_dec(&g_urgent);
}
