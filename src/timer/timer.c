/* SPDX-License-Identifier: MIT */
/*
 * Timers: per loop, one min-heap per clock under one lock each.
 *
 * Any thread arms, re-arms, deletes and frees timers (loom_timer_*, under
 * the clock's lock) and wakes the loop only when it moved the deadline the
 * loop may be sleeping for.  The loop's home thread asks for its timeout
 * (loom__timers_timeout_ns) and runs what expired (loom__timers_run): it
 * pops one expired timer at a time under the lock and runs its callback
 * without the lock.  The virtual clock's hook (any thread) wakes loops
 * whose VIRTUAL timers it made due.
 *
 * Hot paths.  The loop's two per-iteration checks read one word (the
 * pending bit per clock, timer-int.h) and take no lock when no timer is
 * armed.  The clock's lock is a futex lock whose uncontended lock and
 * unlock are one atomic RMW each (contention is rare: the critical
 * sections are a few heap operations, never a callback); measured against
 * a pthread mutex in its place, 100,000 arms cost 10-20% less.  And while
 * only the loop's home thread has used its timers, it takes no lock at
 * all (see lock()).
 *
 * Memory.  Timers are carved from per-clock chunks rather than malloc'ed
 * one by one, so that timers created together are neighbours in memory
 * (one cache line each) whatever state malloc is in: arming 100,000
 * timers that malloc had scattered over the heap cost a third more than
 * arming them in creation order from contiguous memory.  A freed timer
 * goes on its clock's free list, and the chunks are freed with the loop:
 * a clock keeps the memory of the most timers it ever had at once
 * (64 bytes each, next to the 16 of their heap slots, which it keeps
 * too).  Under ASan every timer is malloc'ed and freed, so that a use
 * after loom_timer_free() stays detectable.
 */
#include <loom/timer.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "base/atomic.h"
#include "base/check.h"
#include "base/clock-int.h"
#include "base/compiler.h"
#include "base/futex.h"
#include "base/heap.h"
#include "base/list.h"
#include "base/membarrier.h"
#include "base/thread-int.h"
#include "timer/timer-int.h"

#define NCLOCKS LOOM_CLOCK_MAX

#ifdef LOOM_ASAN
#define TIMER_CHUNKS 0
#else
#define TIMER_CHUNKS 1
#endif

/* Timers per chunk: as many as the clock has, within these bounds. */
#define CHUNK_MIN 8
#define CHUNK_MAX 512

/*
 * One loom__timers_run() pass over a clock, on the home thread's stack;
 * nested passes (a callback polling the loop) stack up.  Protected by the
 * clock's lock.
 */
struct run_frame {
    /* Timer whose callback this pass is running; NULL between callbacks
     * and once the timer is freed. */
    struct loom_timer *t;
    /*
     * Expired timers this pass must not run and that are off the heap
     * until it ends: those (re-)armed after it started (so a timer
     * re-armed into the past from its callback runs once per pass, not
     * forever) and those whose callback runs in an enclosing pass.
     */
    struct loom__list deferred;
    struct run_frame *up; /* enclosing pass of the same clock */
};

/* struct timer_clock.lock values. */
enum {
    TLOCK_FREE = 0,
    TLOCK_HELD = 1,
    TLOCK_WAITERS = 2, /* held, and a thread may sleep on the futex */
};

struct timer_clock {
    uint32_t lock; /* atomic: TLOCK_*; the futex word */

    /* Protected by lock. */
    struct loom__heap heap;   /* armed timers, except deferred ones */
    struct run_frame *frames; /* innermost run pass first */
    /*
     * Arming a timer earlier than this wakes the loop.  It is the deadline
     * the loop computed its last timeout from (INT64_MAX: none), lowered by
     * every arming that woke the loop, and INT64_MAX while nothing is
     * pending.  While the loop sleeps, either it is >= the deadline the
     * loop sleeps for, or a wake-up is already on its way.
     */
    int64_t wake_deadline;
    size_t ntimers; /* timers of this clock not freed: heap reservation */
    struct loom_timer *free_timers; /* memory of freed timers (chunks) */
    struct timer_chunk *chunks;     /* every chunk, newest first */
    size_t ncarve;                  /* timers not yet carved from chunks */

    /*
     * Written under lock, read without it by virtual_needs_wake(): armed
     * timers, in the heap or deferred.  Its zero / non-zero state is
     * mirrored in the timers' pending bit for this clock.
     */
    size_t npending;

    /* Immutable after loom__timers_new(). */
    enum loom_clock clock;
    struct loom__timers *ts;
} LOOM_CACHE_ALIGNED;

struct loom__timers {
    /* First member (timer-int.h); its own cache line. */
    struct loom__timers_head head;

    struct timer_clock clocks[NCLOCKS];

    /* Immutable after loom__timers_new(). */
    loom_cb *notify; /* wakes the loop; see loom__timers_new() */
    void *notify_opaque;

    /*
     * The home-thread fast path (see lock()).  home: loom__thread_id() of
     * the thread that may skip the clocks' locks; shared: TS_*; busy: the
     * home thread is inside a critical section without the lock.  All
     * atomic; busy written by the home thread only.
     */
    uintptr_t home;
    unsigned shared;
    unsigned busy;

    /* Atomic: timers created and not freed. */
    size_t live;

    /*
     * Atomic: loom_loop_set_precise_timers(); the loom__thread_id() of the
     * thread whose slack it lowered last (see precise_slack()).
     */
    unsigned precise;
    uintptr_t slack_thread;

    /* Protected by g_registry_lock. */
    size_t nvirtual;                /* live VIRTUAL timers */
    struct loom__list registry_link; /* on g_registry while nvirtual > 0 */
};

struct loom_timer {
    /* Protected by tc->lock. */
    struct loom__heap_node node; /* in tc->heap while armed */
    union {
        struct loom__list defer_link; /* on a run_frame's deferred list */
        struct loom_timer *next_free; /* on tc->free_timers, once freed */
    };

    /* Written under tc->lock, read lock-free: the deadline, -1 if idle. */
    int64_t expire_ns;

    /* Immutable. */
    struct timer_clock *tc;
    loom_cb *cb;
    void *opaque;
};

/* A block of timers (see "Memory" at the top); the timers follow it. */
struct timer_chunk {
    struct timer_chunk *next;
    size_t n; /* timers in the chunk */
} LOOM_CACHE_ALIGNED;

/* Distance between the timers of a chunk: whole cache lines (64 bytes). */
#define TIMER_STRIDE                                                           \
    ((sizeof(struct loom_timer) + LOOM_CACHELINE - 1) / LOOM_CACHELINE *      \
     LOOM_CACHELINE)

/*
 * Timer states with live VIRTUAL timers, for the virtual clock's hook.
 * Lock order: g_registry_lock, then a clock's lock.
 */
static pthread_mutex_t g_registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct loom__list g_registry = LOOM__LIST_INIT(g_registry);
static bool g_hook_installed; /* protected by g_registry_lock */

/*
 * The clock's lock: a three-state futex mutex.  Uncontended, lock is one
 * CAS and unlock one xchg.  A contender spins briefly, then marks the
 * lock TLOCK_WAITERS and sleeps; the unlock that replaces TLOCK_WAITERS
 * wakes one sleeper, which takes the lock as TLOCK_WAITERS again (it
 * cannot know whether others sleep), so no wake-up is lost.
 */
static __attribute__((noinline)) void lock_raw_slow(struct timer_clock *tc)
{
    uint32_t old;
    int i;

    for (i = 0; i < 100; i++) {
        loom__cpu_relax();
        old = TLOCK_FREE;
        /* Pairs with the xchg in unlock_raw(). */
        if (loom__atomic_read(&tc->lock) == TLOCK_FREE &&
            __atomic_compare_exchange_n(&tc->lock, &old, TLOCK_HELD, false,
                                        __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
            return;
        }
    }
    /* Pairs with the xchg in unlock_raw(). */
    while (__atomic_exchange_n(&tc->lock, TLOCK_WAITERS, __ATOMIC_ACQUIRE) !=
           TLOCK_FREE) {
        (void)loom__futex_wait(&tc->lock, TLOCK_WAITERS, NULL);
    }
}

static inline void lock_raw(struct timer_clock *tc)
{
    uint32_t old = TLOCK_FREE;

    /* Pairs with the xchg in unlock_raw(). */
    if (LOOM_UNLIKELY(!__atomic_compare_exchange_n(&tc->lock, &old, TLOCK_HELD,
                                                   false, __ATOMIC_ACQUIRE,
                                                   __ATOMIC_RELAXED))) {
        lock_raw_slow(tc);
    }
}

static inline void unlock_raw(struct timer_clock *tc)
{
    /* Pairs with the CAS / xchg in lock_raw() and lock_raw_slow(). */
    if (LOOM_UNLIKELY(__atomic_exchange_n(&tc->lock, TLOCK_FREE,
                                          __ATOMIC_RELEASE) == TLOCK_WAITERS)) {
        loom__futex_wake(&tc->lock, 1);
    }
}

/*
 * The home-thread fast path.  Timers are armed and run mostly by their
 * loop's home thread, and the clock's lock costs two atomic RMWs per
 * operation there (a third of an arm).  So while no other thread has
 * ever touched this loop's timers (shared == TS_PRIVATE), the home thread
 * skips the lock: it raises busy, checks with compiler barriers only that
 * it is still home and the timers still private, does the operation and
 * lowers busy.  The first other thread (or a new home) ends that for
 * good, with an asymmetric Dekker handshake: it publishes the change
 * (shared or home), runs loom__membarrier(), which orders the home
 * thread's busy store before its checks from this thread's point of
 * view, then waits for busy to drop.  Either the home thread saw the
 * change (and takes the lock from then on) or this thread sees busy and
 * waits until the home thread left.  Without membarrier(2), and under
 * ThreadSanitizer (which does not model it), timers start shared.
 */
enum {
    TS_PRIVATE = 0, /* only the home thread has used them: no lock there */
    TS_GOING = 1,   /* a thread is ending TS_PRIVATE (see go_shared()) */
    TS_SHARED = 2,  /* everybody locks */
};

/* Wait until the home thread is out of a lock-free section. */
static void wait_home_left(struct loom__timers *ts)
{
    unsigned spins = 0;

    /* Pairs with the release store in unlock(): its heap writes are seen. */
    while (loom__atomic_load_acquire(&ts->busy)) {
        if (++spins < 1000) {
            loom__cpu_relax();
        } else {
            sched_yield();
        }
    }
}

/* A thread other than the home thread is about to use the timers. */
static __attribute__((noinline)) void go_shared(struct loom__timers *ts)
{
    unsigned s = TS_PRIVATE, spins = 0;

    if (loom__atomic_cas(&ts->shared, &s, TS_GOING)) {
        /* Pairs with the home thread's busy store and shared load. */
        loom__membarrier();
        wait_home_left(ts);
        loom__atomic_store_release(&ts->shared, TS_SHARED);
        return;
    }
    /* Another thread is ending TS_PRIVATE: wait until it has. */
    while (loom__atomic_load_acquire(&ts->shared) != TS_SHARED) {
        if (++spins < 1000) {
            loom__cpu_relax();
        } else {
            sched_yield();
        }
    }
}

/*
 * Enter @tc's critical section.  Return: true if the lock was taken,
 * false on the home thread's lock-free path; pass it to unlock().
 */
static inline bool lock(struct timer_clock *tc)
{
    struct loom__timers *ts = tc->ts;
    uintptr_t self = loom__thread_id();

    if (LOOM_LIKELY(loom__atomic_read(&ts->home) == self)) {
        loom__atomic_set(&ts->busy, 1);
        /*
         * Compiler barrier only: the other side's loom__membarrier()
         * orders the store above before the loads below.
         */
        loom__barrier();
        if (LOOM_LIKELY(loom__atomic_read(&ts->shared) == TS_PRIVATE &&
                        loom__atomic_read(&ts->home) == self)) {
            return false;
        }
        loom__atomic_store_release(&ts->busy, 0);
    } else if (LOOM_UNLIKELY(loom__atomic_load_acquire(&ts->shared) !=
                             TS_SHARED)) {
        go_shared(ts);
    }
    lock_raw(tc);
    return true;
}

static inline void unlock(struct timer_clock *tc, bool locked)
{
    if (LOOM_LIKELY(!locked)) {
        /* Pairs with the acquire load in wait_home_left(). */
        loom__atomic_store_release(&tc->ts->busy, 0);
    } else {
        unlock_raw(tc);
    }
}

bool loom__timers_private(struct loom__timers *ts)
{
    return loom__atomic_load_acquire(&ts->shared) == TS_PRIVATE;
}

void loom__timers_set_home(struct loom__timers *ts, uintptr_t id)
{
    if (loom__atomic_read(&ts->home) == id) {
        return;
    }
    /* Pairs with the home thread's busy store and home load in lock(). */
    loom__atomic_store_seq(&ts->home, id);
    if (loom__atomic_load_acquire(&ts->shared) == TS_PRIVATE) {
        loom__membarrier();
        wait_home_left(ts);
    }
}

/* One more pending timer.  Called inside lock(tc). */
static inline void pending_inc(struct timer_clock *tc)
{
    size_t n = loom__atomic_read(&tc->npending);

    loom__atomic_set(&tc->npending, n + 1);
    if (n == 0) {
        /*
         * Pairs with the seq_cst load in loom__timers_timeout_ns()
         * (timer-int.h), after the loop's seq_cst announce (l->wake):
         * either the loop sees this bit, or our caller's loom_loop_notify()
         * (wake_deadline is INT64_MAX while nothing is pending, so the
         * caller does notify) sees that the loop may sleep.  Only this
         * clock's lock holder changes this bit, so its RMWs follow the
         * lock order; other clocks' bits change concurrently, hence an RMW.
         */
        loom__atomic_fetch_or(&tc->ts->head.pending, 1u << tc->clock);
    }
}

/* One pending timer less.  Called inside lock(tc). */
static inline void pending_dec(struct timer_clock *tc)
{
    size_t n = loom__atomic_read(&tc->npending) - 1;

    loom__atomic_set(&tc->npending, n);
    if (n == 0) {
        tc->wake_deadline = INT64_MAX;
        /*
         * Nothing to order: a loop that still sees the bit only takes the
         * lock and finds the heap empty.
         */
        __atomic_fetch_and(&tc->ts->head.pending, ~(1u << tc->clock),
                           __ATOMIC_RELAXED);
    }
}

/* Take @t off the heap or a deferred list, if it is armed. */
static void disarm_locked(struct timer_clock *tc, struct loom_timer *t)
{
    if (loom__heap_node_linked(&t->node)) {
        loom__heap_remove(&tc->heap, &t->node);
    } else if (loom__list_linked(&t->defer_link)) {
        loom__list_del(&t->defer_link);
    } else {
        return;
    }
    loom__atomic_set(&t->expire_ns, -1);
    pending_dec(tc);
}

/*
 * Arm @t at @expire_ns (>= 0), behind timers with the same deadline.
 * Return: true if the caller must wake the loop.  Always inlined: arming
 * is the hot path, and a call with its frame was a tenth of its
 * instructions.
 */
static inline __attribute__((always_inline)) bool
arm_locked(struct timer_clock *tc, struct loom_timer *t, int64_t expire_ns)
{
    int ret;

    if (loom__heap_node_linked(&t->node)) {
        loom__heap_update(&tc->heap, &t->node, expire_ns);
    } else {
        if (loom__list_linked(&t->defer_link)) {
            loom__list_del(&t->defer_link);
        } else {
            pending_inc(tc);
        }
        /* Cannot fail: loom_timer_new() reserved a slot per timer. */
        ret = loom__heap_insert(&tc->heap, &t->node, expire_ns);
        assert(ret == 0);
        (void)ret;
    }
    loom__atomic_set(&t->expire_ns, expire_ns);
    if (expire_ns < tc->wake_deadline) {
        tc->wake_deadline = expire_ns;
        return true;
    }
    return false;
}

/*
 * Whether a loop with VIRTUAL timers must wake after the clock moved: when
 * it now advances by itself, to compute a finite timeout; after a step,
 * only if a timer became due.  Arming concurrently wakes the loop by
 * itself when needed (see arm_locked()).
 */
static bool virtual_needs_wake(struct timer_clock *tc, bool advancing)
{
    bool locked;
    bool wake;

    if (!loom__atomic_read(&tc->npending)) {
        return false;
    }
    if (advancing) {
        return true;
    }
    locked = lock(tc);
    wake = loom__heap_len(&tc->heap) &&
           loom__heap_min_key(&tc->heap) <= loom_clock_ns(LOOM_CLOCK_VIRTUAL);
    unlock(tc, locked);
    return wake;
}

/* The virtual clock's hook: on the thread that stepped or started it. */
static void virtual_hook(void)
{
    bool advancing = loom__clock_virtual_advancing();
    struct loom__list *pos;

    pthread_mutex_lock(&g_registry_lock);
    for (pos = g_registry.next; pos != &g_registry; pos = pos->next) {
        struct loom__timers *ts =
            loom__list_entry(pos, struct loom__timers, registry_link);

        if (virtual_needs_wake(&ts->clocks[LOOM_CLOCK_VIRTUAL], advancing)) {
            ts->notify(ts->notify_opaque);
        }
    }
    pthread_mutex_unlock(&g_registry_lock);
}

static void registry_get(struct loom__timers *ts)
{
    pthread_mutex_lock(&g_registry_lock);
    if (ts->nvirtual++ == 0) {
        loom__list_add_tail(&g_registry, &ts->registry_link);
    }
    if (!g_hook_installed) {
        loom__clock_set_virtual_hook(virtual_hook);
        g_hook_installed = true;
    }
    pthread_mutex_unlock(&g_registry_lock);
}

static void registry_put(struct loom__timers *ts)
{
    pthread_mutex_lock(&g_registry_lock);
    if (--ts->nvirtual == 0) {
        loom__list_del(&ts->registry_link);
    }
    pthread_mutex_unlock(&g_registry_lock);
}

/* Memory for a new timer of @tc, or NULL.  Called inside lock(tc). */
static struct loom_timer *timer_alloc_locked(struct timer_clock *tc)
{
#if TIMER_CHUNKS
    struct timer_chunk *c;
    struct loom_timer *t = tc->free_timers;
    size_t n;

    if (t) {
        tc->free_timers = t->next_free;
        return t;
    }
    if (!tc->ncarve) {
        n = tc->ntimers < CHUNK_MIN   ? CHUNK_MIN
            : tc->ntimers > CHUNK_MAX ? CHUNK_MAX
                                      : tc->ntimers;
        /* sizeof(*c) and the stride are multiples of the alignment. */
        c = aligned_alloc(LOOM_CACHELINE, sizeof(*c) + n * TIMER_STRIDE);
        if (!c) {
            return NULL;
        }
        c->next = tc->chunks;
        c->n = n;
        tc->chunks = c;
        tc->ncarve = n;
    }
    /* From the front: timers created in a row are neighbours. */
    c = tc->chunks;
    return (struct loom_timer *)((char *)(c + 1) +
                                 (c->n - tc->ncarve--) * TIMER_STRIDE);
#else
    (void)tc;
    return malloc(sizeof(struct loom_timer));
#endif
}

/* Give back the memory of @t (of @tc).  Called inside lock(tc). */
static void timer_release_locked(struct timer_clock *tc, struct loom_timer *t)
{
#if TIMER_CHUNKS
    t->next_free = tc->free_timers;
    tc->free_timers = t;
#else
    (void)tc;
    free(t);
#endif
}

/* Free @tc's chunks; none of their timers is live. */
static void timer_chunks_free(struct timer_clock *tc)
{
    struct timer_chunk *c;

    while ((c = tc->chunks) != NULL) {
        tc->chunks = c->next;
        free(c);
    }
    tc->free_timers = NULL;
    tc->ncarve = 0;
}

int loom__timers_new(loom_cb *notify, void *opaque, struct loom__timers **ret)
{
    struct loom__timers *ts;
    int i;

    ts = aligned_alloc(LOOM_CACHELINE, sizeof(*ts));
    if (!ts) {
        return -ENOMEM;
    }
    for (i = 0; i < NCLOCKS; i++) {
        struct timer_clock *tc = &ts->clocks[i];

        tc->lock = TLOCK_FREE;
        loom__heap_init(&tc->heap);
        tc->frames = NULL;
        tc->wake_deadline = INT64_MAX;
        tc->ntimers = 0;
        tc->free_timers = NULL;
        tc->chunks = NULL;
        tc->ncarve = 0;
        tc->npending = 0;
        tc->clock = (enum loom_clock)i;
        tc->ts = ts;
    }
    ts->head.pending = 0;
    ts->notify = notify;
    ts->notify_opaque = opaque;
    ts->home = loom__thread_id();
    ts->busy = 0;
#ifdef LOOM_TSAN
    ts->shared = TS_SHARED;
#else
    ts->shared = loom__membarrier_init() ? TS_PRIVATE : TS_SHARED;
#endif
    ts->live = 0;
    ts->precise = 0;
    ts->slack_thread = 0;
    ts->nvirtual = 0;
    loom__list_init(&ts->registry_link);
    *ret = ts;
    return 0;
}

size_t loom__timers_live(struct loom__timers *ts)
{
    /* Pairs with loom__atomic_dec() in loom_timer_free(). */
    return loom__atomic_load_acquire(&ts->live);
}

void loom__timers_free(struct loom__timers *ts)
{
    int i;

    if (!ts) {
        return;
    }
    if (loom__timers_live(ts) != 0) {
        loom__panic("timers of loop %p freed with %zu timers live",
                   ts->notify_opaque, loom__timers_live(ts));
    }
    for (i = 0; i < NCLOCKS; i++) {
        loom__heap_destroy(&ts->clocks[i].heap);
        timer_chunks_free(&ts->clocks[i]);
    }
    free(ts);
}

/* Nanoseconds until @tc's earliest deadline, 0 if due, -1 if none. */
static int64_t clock_timeout(struct timer_clock *tc)
{
    bool locked;
    int64_t key, now, d = -1;

    locked = lock(tc);
    if (loom__heap_len(&tc->heap)) {
        key = loom__heap_min_key(&tc->heap);
        tc->wake_deadline = key;
        now = loom_clock_ns(tc->clock);
        if (key <= now) {
            d = 0;
        } else if (tc->clock != LOOM_CLOCK_VIRTUAL ||
                   loom__clock_virtual_advancing()) {
            d = key - now;
        }
    }
    unlock(tc, locked);
    return d;
}

/*
 * Precise timers.  The kernel lets a sleep with a timeout end up to the
 * thread's timer slack late (50 us by default) so that it can batch
 * wake-ups; a loop with precise timers lowers the slack of the thread that
 * sleeps for its timers or runs them to 1 ns, the least Linux allows, as
 * QEMU does for the whole process in its main-loop initialisation.  Slack
 * is a property of the thread (inherited by the threads it creates): each
 * loop sets it once per thread that polls it, and again after the option
 * was turned off and on, never restoring it.
 */
#if defined(__linux__) && defined(PR_SET_TIMERSLACK)
static __attribute__((noinline, cold)) void slack_min(struct loom__timers *ts)
{
    /* Cannot fail for a value > 0; re-tried at the next wait if it did. */
    if (prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL) == 0) {
        loom__atomic_set(&ts->slack_thread, loom__thread_id());
    }
}

static inline void precise_slack(struct loom__timers *ts)
{
    if (LOOM_UNLIKELY(loom__atomic_read(&ts->precise)) &&
        loom__atomic_read(&ts->slack_thread) != loom__thread_id()) {
        slack_min(ts);
    }
}
#else
static inline void precise_slack(struct loom__timers *ts)
{
    (void)ts;
}
#endif

void loom__timers_precise_here(struct loom__timers *ts)
{
    precise_slack(ts);
}

void loom__timers_set_precise(struct loom__timers *ts, bool precise)
{
    loom__atomic_set(&ts->slack_thread, (uintptr_t)0);
    loom__atomic_set(&ts->precise, precise ? 1u : 0u);
}

int64_t loom__timers_timeout_slow(struct loom__timers *ts, unsigned pending)
{
    int64_t best = -1;
    int i;

    precise_slack(ts);

    /* @pending was read by loom__timers_timeout_ns() (timer-int.h). */
    for (; pending; pending &= pending - 1) {
        int64_t d;

        i = __builtin_ctz(pending);
        d = clock_timeout(&ts->clocks[i]);
        if (d == 0) {
            return 0;
        }
        if (d > 0 && (best < 0 || d < best)) {
            best = d;
        }
    }
    return best;
}

/* Whether @t's callback is running in pass @f or one enclosing it. */
static bool running_in(const struct run_frame *f, const struct loom_timer *t)
{
    for (; f; f = f->up) {
        if (f->t == t) {
            return true;
        }
    }
    return false;
}

/*
 * Pop the next timer @f may run: expired at @now, armed before the pass
 * started (sequence number below @seq0), not running further up.  Others
 * met on the way go to the deferred list.  Called inside lock(tc).
 */
static struct loom_timer *next_expired_locked(struct timer_clock *tc,
                                              struct run_frame *f, int64_t now,
                                              uint64_t seq0)
{
    struct loom__heap *h = &tc->heap;
    struct loom_timer *t;

    while (loom__heap_len(h) && loom__heap_min_key(h) <= now) {
        bool defer = loom__heap_min_seq(h) >= seq0;

        t = loom__container_of(loom__heap_pop(h), struct loom_timer, node);
        if (LOOM_UNLIKELY(defer || running_in(f->up, t))) {
            loom__list_add_tail(&f->deferred, &t->defer_link);
            continue;
        }
        return t;
    }
    return NULL;
}

/* Put the deferred timers back on the heap, in the order they left it. */
static void requeue_deferred_locked(struct timer_clock *tc, struct run_frame *f)
{
    struct loom_timer *t;

    while (!loom__list_empty(&f->deferred)) {
        t = loom__list_first(&f->deferred, struct loom_timer, defer_link);
        loom__list_del(&t->defer_link);
        (void)loom__heap_insert(&tc->heap, &t->node, t->expire_ns);
    }
}

static unsigned run_clock(struct timer_clock *tc)
{
    bool locked;
    struct run_frame frame;
    struct loom_timer *t;
    unsigned n = 0;
    uint64_t seq0;
    int64_t now;

    now = loom_clock_ns(tc->clock);
    frame.t = NULL;
    loom__list_init(&frame.deferred);
    locked = lock(tc);
    seq0 = loom__heap_next_seq(&tc->heap);
    frame.up = tc->frames;
    tc->frames = &frame;
    while ((t = next_expired_locked(tc, &frame, now, seq0)) != NULL) {
        loom_cb *cb = t->cb;
        void *opaque = t->opaque;

        loom__atomic_set(&t->expire_ns, -1);
        pending_dec(tc);
        frame.t = t;
        /* From here on @t may be freed, by its callback or another thread. */
        unlock(tc, locked);
        cb(opaque);
        n++;
        locked = lock(tc);
        frame.t = NULL;
    }
    requeue_deferred_locked(tc, &frame);
    tc->frames = frame.up;
    unlock(tc, locked);
    return n;
}

unsigned loom__timers_run_slow(struct loom__timers *ts, unsigned pending)
{
    unsigned n = 0;

    precise_slack(ts);
    /* @pending was read by loom__timers_run() (timer-int.h). */
    for (; pending; pending &= pending - 1) {
        n += run_clock(&ts->clocks[__builtin_ctz(pending)]);
    }
    return n;
}

int loom__timer_new(struct loom__timers *ts, enum loom_clock clock,
                    loom_cb *cb, void *opaque, struct loom_timer **ret)
{
    bool locked;
    struct timer_clock *tc;
    struct loom_timer *t = NULL;
    int err;

    LOOM_CHECK(cb && ret, -EINVAL);
    LOOM_CHECK((unsigned)clock < NCLOCKS, -EINVAL);

    tc = &ts->clocks[clock];
    locked = lock(tc);
    /* Reserve the heap slot now so that arming never fails. */
    err = loom__heap_reserve(&tc->heap, tc->ntimers + 1);
    if (err == 0) {
        t = timer_alloc_locked(tc);
        if (t) {
            tc->ntimers++;
        } else {
            err = -ENOMEM;
        }
    }
    unlock(tc, locked);
    if (err < 0) {
        return err;
    }
    loom__heap_node_init(&t->node);
    loom__list_init(&t->defer_link);
    t->expire_ns = -1;
    t->tc = tc;
    t->cb = cb;
    t->opaque = opaque;
    if (clock == LOOM_CLOCK_VIRTUAL) {
        registry_get(ts);
    }
    loom__atomic_add_relaxed(&ts->live, 1);
    *ret = t;
    return 0;
}

void loom_timer_free(struct loom_timer *t)
{
    bool locked;
    struct timer_clock *tc;
    struct loom__timers *ts;
    struct run_frame *f;

    if (!t) {
        return;
    }
    tc = t->tc;
    ts = tc->ts;
    locked = lock(tc);
    disarm_locked(tc, t);
    for (f = tc->frames; f; f = f->up) {
        if (f->t == t) {
            f->t = NULL;
        }
    }
    tc->ntimers--;
    timer_release_locked(tc, t);
    unlock(tc, locked);
    if (tc->clock == LOOM_CLOCK_VIRTUAL) {
        registry_put(ts);
    }
    /*
     * Last access to @ts: the loop may be torn down as soon as it reads 0.
     * Pairs with loom__atomic_load_acquire() in loom__timers_live().
     */
    loom__atomic_dec(&ts->live);
}

void loom_timer_mod(struct loom_timer *t, int64_t expire_ns)
{
    bool locked;
    struct timer_clock *tc;
    bool wake;

    LOOM_CHECK_VOID(t);
    if (expire_ns < 0) {
        expire_ns = 0;
    }
    tc = t->tc;
    locked = lock(tc);
    wake = arm_locked(tc, t, expire_ns);
    unlock(tc, locked);
    if (wake) {
        tc->ts->notify(tc->ts->notify_opaque);
    }
}

void loom_timer_mod_ns(struct loom_timer *t, int64_t delta_ns)
{
    int64_t now;

    LOOM_CHECK_VOID(t);
    now = loom_clock_ns(t->tc->clock);
    if (now < 0) {
        now = 0;
    }
    if (delta_ns < 0) {
        delta_ns = 0;
    }
    loom_timer_mod(t, delta_ns > INT64_MAX - now ? INT64_MAX : now + delta_ns);
}

void loom_timer_mod_anticipate(struct loom_timer *t, int64_t expire_ns)
{
    bool locked;
    struct timer_clock *tc;
    bool wake = false;
    int64_t cur;

    LOOM_CHECK_VOID(t);
    if (expire_ns < 0) {
        expire_ns = 0;
    }
    tc = t->tc;
    locked = lock(tc);
    cur = t->expire_ns;
    if (cur < 0 || expire_ns < cur) {
        wake = arm_locked(tc, t, expire_ns);
    }
    unlock(tc, locked);
    if (wake) {
        tc->ts->notify(tc->ts->notify_opaque);
    }
}

void loom_timer_del(struct loom_timer *t)
{
    bool locked;
    struct timer_clock *tc;

    LOOM_CHECK_VOID(t);
    tc = t->tc;
    locked = lock(tc);
    disarm_locked(tc, t);
    unlock(tc, locked);
}

bool loom_timer_pending(struct loom_timer *t)
{
    return t && loom__atomic_read(&t->expire_ns) >= 0;
}

int64_t loom_timer_expire_ns(struct loom_timer *t)
{
    return t ? loom__atomic_read(&t->expire_ns) : -1;
}
