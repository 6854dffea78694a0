/* SPDX-License-Identifier: MIT */
/*
 * loom_call_rcu(): deferred reclamation.  Any thread enqueues on a
 * wait-free multi-producer queue (an exchange on the tail); one detached
 * thread, "loom-call-rcu", started by the first call, takes every callback
 * queued so far, waits for one grace period for the whole batch and runs
 * them in queueing order.  loom_drain_call_rcu() queues a marker callback
 * and sleeps until the thread reaches it.
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
 * The queue.  g_sentinel keeps it non-empty so that producers only ever
 * append: tail is the next field of the last element.
 */
static struct loom_rcu_head g_sentinel;

/* Producers: atomic exchange. */
LOOM_CACHE_ALIGNED static struct loom_rcu_head **g_tail = &g_sentinel.next;

/* Callbacks queued and not yet taken; atomic. */
LOOM_CACHE_ALIGNED static unsigned long g_count;

/* Futex: the thread writes 0 before sleeping, producers 1 to wake it. */
static unsigned int g_wake = 1;

/* Drains in progress (skip batching) and their futex; atomic. */
static unsigned int g_urgent;

/* Bumped by every drain marker; futex for waiting drains; atomic. */
static unsigned int g_drain_seq;

/* Consumer side: the thread (or an inline drain holding g_start_lock). */
static struct loom_rcu_head *g_head = &g_sentinel;
/*
 * Consumer side: the sentinel is in the queue (not yet passed by g_head).
 * It must never be queued twice: an element that merely looks last may
 * still get a successor from a producer that swapped the tail before the
 * sentinel's own enqueue, so "looks last" alone does not tell.
 */
static bool g_sentinel_queued = true;

/* Protects starting the thread.  g_started: atomic, set once running. */
static pthread_mutex_t g_start_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t g_call_once = PTHREAD_ONCE_INIT;
static unsigned int g_started;

static __thread bool t_on_call_thread;

static void enqueue(struct loom_rcu_head *h)
{
    struct loom_rcu_head **prev;

    loom__atomic_set(&h->next, NULL);
    prev = loom__atomic_xchg(&g_tail, &h->next);
    /* Pairs with the acquire load in next_of(). */
    loom__atomic_store_release(prev, h);
}

/*
 * The element after @h, which is known to exist: its producer has swapped
 * the tail but may not have linked it yet.
 */
static struct loom_rcu_head *next_of(struct loom_rcu_head *h)
{
    struct loom_rcu_head *next;
    unsigned int spins = 0;

    /* Pairs with the release store in enqueue(). */
    while (!(next = loom__atomic_load_acquire(&h->next))) {
        if (++spins < 1000) {
            loom__cpu_relax();
        } else {
            sched_yield();
        }
    }
    return next;
}

/* Take the oldest element; g_count says one is queued.  Consumer only. */
static struct loom_rcu_head *dequeue(void)
{
    struct loom_rcu_head *h = g_head;

    if (h == &g_sentinel) {
        h = next_of(&g_sentinel);
        g_head = h;
        g_sentinel_queued = false;
    }
    /* Pairs with the release store in enqueue(). */
    if (!g_sentinel_queued && !loom__atomic_load_acquire(&h->next)) {
        /*
         * @h looks last: queue the sentinel behind it so that @h can be
         * unlinked.  If the sentinel is still queued, it (or an element a
         * producer is linking) follows @h already, and next_of() waits.
         */
        enqueue(&g_sentinel);
        g_sentinel_queued = true;
    }
    g_head = next_of(h);
    return h;
}

/* Grace period, then run @n callbacks.  Consumer only. */
static void run_batch(unsigned long n)
{
    loom_synchronize_rcu();
    for (unsigned long i = 0; i < n; i++) {
        struct loom_rcu_head *h = dequeue();

        h->fn(h);
    }
    loom__atomic_sub_fetch(&g_count, n);
}

/* Sleep until g_count > 0.  Consumer only. */
static void wait_for_work(void)
{
    for (;;) {
        /* Pairs with the g_count increment and g_wake load in call_rcu. */
        loom__atomic_store_seq(&g_wake, 0);
        if (loom__atomic_load_seq(&g_count) != 0) {
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
        unsigned long n = loom__atomic_load_seq(&g_count);

        if (n == 0) {
            wait_for_work();
            continue;
        }
        if (n < CALL_BATCH_MIN && tries < CALL_BATCH_TRIES &&
            loom__atomic_load_seq(&g_urgent) == 0) {
            /* A drain bumps g_urgent and wakes us early. */
            tries++;
            (void)loom__futex_wait_ns(&g_urgent, 0, CALL_BATCH_DELAY_NS);
            continue;
        }
        tries = 0;
        run_batch(n);
    }
    return NULL;
}

/*
 * fork(): the child has no call_rcu thread; the next loom_call_rcu() or
 * drain starts one.  Queued callbacks stay queued.  Lock order:
 * g_start_lock before RCU's own locks, so these handlers are installed
 * after RCU's (prepare handlers run in reverse order of installation,
 * parent and child ones in order).
 */
static void call_before_fork(void)
{
    pthread_mutex_lock(&g_start_lock);
}

static void call_after_fork_parent(void)
{
    pthread_mutex_unlock(&g_start_lock);
}

static void call_after_fork_child(void)
{
    loom__atomic_set(&g_started, 0);
    loom__atomic_set(&g_wake, 1);
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

void loom_call_rcu(struct loom_rcu_head *head,
                   void (*fn)(struct loom_rcu_head *head))
{
    if (!head || !fn) {
        return;
    }
    head->fn = fn;
    enqueue(head);
    /*
     * Count after linking so the consumer never takes more than is
     * queued.  The RMW orders the count before the g_wake load; pairs
     * with wait_for_work().
     */
    loom__atomic_inc(&g_count);
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
            run_batch(loom__atomic_load_seq(&g_count));
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
