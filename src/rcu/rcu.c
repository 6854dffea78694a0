/* SPDX-License-Identifier: MIT */
/*
 * RCU readers' registry and grace periods.
 *
 * Readers (inline in <loom/rcu.h>, any thread) keep their nesting depth
 * and a snapshot of the global grace-period counter in one thread-local
 * word; they register here, explicitly or on first use, and leave the
 * registry at thread exit through a pthread key destructor.
 * loom_synchronize_rcu() (any thread outside a read section) advances the
 * counter and waits for every reader holding an older snapshot.  On
 * 64-bit hosts the count has 48 bits and does not wrap in practice (2^48
 * flips, while one reader stalls between two instructions), so one flip
 * is enough and readers that start after it are never waited for; with a
 * 32-bit long the classic second flip and wait are added.
 * Readers use compiler barriers only; the writer makes their program
 * order visible with membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) (on x86
 * only before the flip: see rcu_mb_after_wait()), or, when that is
 * unavailable, readers fall back to full fences (runtime flag).
 */
#include <loom/rcu.h>

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/atomic.h"
#include "base/check.h"
#include "base/list.h"
#include "base/membarrier.h"
#include "rcu/rcu-int.h"

/*
 * Readers' view of a thread: ctr is read by the inline code and by
 * synchronize, waiting written by both.  Initial-exec TLS keeps the access
 * a single %fs-relative load, also from the shared library.
 */
__thread struct loom__rcu_reader loom__rcu_reader
    __attribute__((tls_model("initial-exec"))) = {
    .ctr = LOOM__RCU_UNREG,
};

/*
 * What readers read, alone in one cache line (the type is 64-byte
 * aligned, so also 64 bytes long).  gp_ctr: nesting 1 in the low bits
 * (so that a reader can copy it), the count above; bumped by RCU_GP_STEP
 * per flip, only under g_gp_lock.  need_fence: set in rcu_init_once() (or
 * by the test hook) before any reader registers; constant afterwards.
 */
struct loom__rcu_global loom__rcu_global = {
    .gp_ctr = 1,
    .need_fence = 1,
};

#define RCU_GP_STEP (LOOM__RCU_NEST_MASK + 1)

/* Read-side nesting of the calling thread (0 while not registered). */
static unsigned long self_depth(void)
{
    if (!loom__rcu_reader.registered) {
        return 0;
    }
    return loom__atomic_read(&loom__rcu_reader.ctr) & LOOM__RCU_NEST_MASK;
}

/* A registered thread as seen by the registry. */
struct rcu_thread {
    /* Protected by g_registry_lock. */
    struct loom__list node;
    /* Immutable while registered: &loom__rcu_reader of that thread. */
    struct loom__rcu_reader *reader;
};

static __thread struct rcu_thread t_self;

/* Serialises grace periods (one loom_synchronize_rcu() at a time). */
static pthread_mutex_t g_gp_lock = PTHREAD_MUTEX_INITIALIZER;

/* Protects g_registry, g_nreaders and the lists wait_for_readers() uses. */
static pthread_mutex_t g_registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct loom__list g_registry = LOOM__LIST_INIT(g_registry);
static unsigned long g_nreaders;

/*
 * Futex word a sleeping synchronize waits on: it writes 0 (under
 * g_gp_lock) before asking readers for a wake-up, readers leaving their
 * section write 1.
 */
static unsigned int g_gp_event;

/*
 * Written once in rcu_init_once() (g_use_membarrier also by the test hook
 * loom__rcu_test_force_fences(), under both locks).
 */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_key_t g_exit_key;
static bool g_use_membarrier;

/* Passes over the waited-for readers before sleeping on g_gp_event. */
#define RCU_SPIN_PASSES 100

/*
 * A full barrier in every running thread of the process, or only in this
 * one when readers fence themselves.
 */
static void rcu_mb_all(void)
{
    if (g_use_membarrier) {
        loom__membarrier();
    }
    loom__smp_mb();
}

/*
 * The barrier between wait_for_readers() and the caller's reclamation.
 * Every reader waited for was last seen (acquire load) with a ctr value
 * it stored after its old section: 0, or a later section's snapshot,
 * which follows a 0.  On x86 (TSO) a store is never reordered with the
 * loads and stores before it, so the section's accesses were complete
 * when that ctr store became visible, and a compiler barrier in the
 * reader (loom__rcu_reader_mb()) is all it needs: a local fence here
 * suffices and the second membarrier of urcu-memb's synchronize, an IPI
 * to every CPU running the process, is saved.  Weaker orders let a
 * section's loads complete after the ctr store: there the other threads
 * must fence too.
 */
static void rcu_mb_after_wait(void)
{
#if defined(__x86_64__) || defined(__i386__)
    loom__smp_mb();
#else
    rcu_mb_all();
#endif
}

static void rcu_unregister_locked(struct loom__rcu_reader *r)
{
    loom__list_del(&t_self.node);
    g_nreaders--;
    r->registered = 0;
    loom__atomic_set(&r->waiting, 0);
    /* Off the registry: the next lock takes the slow path again. */
    loom__atomic_set(&r->ctr, LOOM__RCU_UNREG);
}

static void rcu_unregister(struct loom__rcu_reader *r)
{
    pthread_mutex_lock(&g_registry_lock);
    rcu_unregister_locked(r);
    pthread_mutex_unlock(&g_registry_lock);
    /*
     * A synchronize that asked us for a wake-up already saw ctr == 0 or
     * was woken by the unlock that stored it: nothing to do.
     */
}

/* pthread key destructor: a registered thread is exiting. */
static void rcu_thread_exit(void *arg)
{
    struct loom__rcu_reader *r = &loom__rcu_reader;

    (void)arg;
    if (self_depth() != 0) {
        loom__panic("rcu: thread exiting inside an RCU read-side section "
                   "(depth %lu)", self_depth());
    }
    if (r->registered) {
        rcu_unregister(r);
    }
}

static void rcu_fork_prepare(void)
{
    pthread_mutex_lock(&g_gp_lock);
    pthread_mutex_lock(&g_registry_lock);
}

static void rcu_fork_parent(void)
{
    pthread_mutex_unlock(&g_registry_lock);
    pthread_mutex_unlock(&g_gp_lock);
}

/* Only the forking thread survives: forget every other reader. */
static void rcu_fork_child(void)
{
    struct loom__list *pos, *tmp;

    loom__list_foreach_safe(pos, tmp, &g_registry) {
        if (pos != &t_self.node) {
            loom__list_del(pos);
            g_nreaders--;
        }
    }
    pthread_mutex_unlock(&g_registry_lock);
    pthread_mutex_unlock(&g_gp_lock);
}

static void rcu_init_once(void)
{
    if (loom__membarrier_init()) {
        g_use_membarrier = true;
        /* pthread_once orders this before every reader's first section. */
        loom__atomic_set(&loom__rcu_global.need_fence, 0);
    }
    if (pthread_key_create(&g_exit_key, rcu_thread_exit) != 0) {
        loom__panic("rcu: no pthread key left for the thread-exit hook");
    }
    if (pthread_atfork(rcu_fork_prepare, rcu_fork_parent,
                       rcu_fork_child) != 0) {
        loom__panic("rcu: cannot install fork handlers");
    }
}

void loom__rcu_init(void)
{
    (void)pthread_once(&g_once, rcu_init_once);
}

void loom__rcu_test_force_fences(void)
{
    loom__rcu_init();
    pthread_mutex_lock(&g_gp_lock);
    pthread_mutex_lock(&g_registry_lock);
    if (g_nreaders != 0) {
        loom__panic("rcu: fences forced with %lu readers registered",
                   g_nreaders);
    }
    g_use_membarrier = false;
    loom__atomic_set(&loom__rcu_global.need_fence, 1);
    pthread_mutex_unlock(&g_registry_lock);
    pthread_mutex_unlock(&g_gp_lock);
}

static void rcu_register(struct loom__rcu_reader *r)
{
    loom__rcu_init();
    t_self.reader = r;
    pthread_mutex_lock(&g_registry_lock);
    /* Outside any section before synchronize can see us. */
    loom__atomic_set(&r->ctr, 0);
    loom__list_add_tail(&g_registry, &t_self.node);
    g_nreaders++;
    loom__atomic_set(&r->waiting, 0);
    pthread_mutex_unlock(&g_registry_lock);
    r->registered = 1;
    /* The destructor runs only for non-NULL values. */
    if (pthread_setspecific(g_exit_key, &t_self) != 0) {
        loom__panic("rcu: cannot install the thread-exit hook");
    }
}

void loom__rcu_lock_slow(void)
{
    if (loom__rcu_reader.registered) {
        /* Depth LOOM__RCU_NEST_MASK already: one more would wrap. */
        loom__panic("loom_rcu_read_lock() nested more than %lu deep",
                   LOOM__RCU_NEST_MASK);
    }
    rcu_register(&loom__rcu_reader);
    /* The outermost section, as the inline fast path enters it. */
    loom__rcu_set_ctr(loom__atomic_load_seq(&loom__rcu_global.gp_ctr));
    loom__rcu_reader_mb();
}

void loom__rcu_unlock_slow(void)
{
    unsigned long c = loom__atomic_read(&loom__rcu_reader.ctr);

    if (!loom__rcu_reader.registered || (c & LOOM__RCU_NEST_MASK) == 0) {
        loom__panic("loom_rcu_read_unlock() without a matching "
                   "loom_rcu_read_lock()");
    }
    /* Depth LOOM__RCU_NEST_MASK: an inner section ends. */
    loom__rcu_set_ctr(c - 1);
}

void loom_rcu_register_thread(void)
{
    struct loom__rcu_reader *r = &loom__rcu_reader;

    if (!r->registered) {
        rcu_register(r);
    }
}

void loom_rcu_unregister_thread(void)
{
    struct loom__rcu_reader *r = &loom__rcu_reader;

    if (self_depth() != 0) {
        loom__panic("loom_rcu_unregister_thread() called inside an RCU "
                   "read-side section");
    }
    if (!r->registered) {
        return;
    }
    rcu_unregister(r);
    (void)pthread_setspecific(g_exit_key, NULL);
}

/*
 * ->waiting is written only under g_registry_lock (by synchronize, which
 * clears its requests before returning, and by register/unregister),
 * never by the reader, so a reader's late store cannot undo a newer
 * request.
 */
void loom__rcu_wake_writer(void)
{
    /* Pairs with the reset of g_gp_event in request_wakeups(). */
    if (loom__atomic_xchg(&g_gp_event, 1) == 0) {
        loom__futex_wake(&g_gp_event, INT_MAX);
    }
}

/* Is @r in a section that started before the flip to @gp? */
static bool reader_old(struct loom__rcu_reader *r, unsigned long gp)
{
    /*
     * Pairs with the ctr stores in loom_rcu_read_lock()/unlock(): seeing
     * 0 after the section orders the section before what the caller of
     * synchronize does next (for ThreadSanitizer; hardware ordering comes
     * from rcu_mb_all()).
     */
#ifdef LOOM_TSAN
    unsigned long c = loom__atomic_load_seq(&r->ctr);
#else
    unsigned long c = loom__atomic_load_acquire(&r->ctr);
#endif

    return (c & LOOM__RCU_NEST_MASK) != 0 &&
           (c & ~LOOM__RCU_NEST_MASK) != (gp & ~LOOM__RCU_NEST_MASK);
}

/* Move the readers of @pending that are not in an old section to @done. */
static void scan_readers(struct loom__list *pending, struct loom__list *done,
                         unsigned long gp)
{
    struct loom__list *pos, *tmp;

    loom__list_foreach_safe(pos, tmp, pending) {
        struct rcu_thread *t = loom__list_entry(pos, struct rcu_thread, node);

        if (!reader_old(t->reader, gp)) {
            loom__list_del(pos);
            loom__list_add_tail(done, pos);
        }
    }
}

/* Ask the readers still in @pending to wake us when they leave. */
static void request_wakeups(struct loom__list *pending)
{
    struct loom__list *pos;

    /* Reset first so a wake-up for this request cannot be lost. */
    loom__atomic_store_seq(&g_gp_event, 0);
    loom__list_foreach(pos, pending) {
        struct rcu_thread *t = loom__list_entry(pos, struct rcu_thread, node);

        loom__atomic_store_seq(&t->reader->waiting, 1);
    }
    /*
     * waiting = 1 before the re-scan's ctr loads.  Pairs with the barrier
     * between ctr = 0 and the waiting load in loom_rcu_read_unlock():
     * either the reader sees waiting, or we see its ctr = 0.
     */
    rcu_mb_all();
}

/* Withdraw the requests of request_wakeups(); readers never clear them. */
static void clear_wakeups(struct loom__list *done)
{
    struct loom__list *pos;

    loom__list_foreach(pos, done) {
        struct rcu_thread *t = loom__list_entry(pos, struct rcu_thread, node);

        if (loom__atomic_read(&t->reader->waiting)) {
            loom__atomic_set(&t->reader->waiting, 0);
        }
    }
}

/*
 * Wait until no registered reader is in a section older than @gp.  Called
 * with both locks held; drops g_registry_lock while sleeping, during which
 * readers may unregister (unlinking themselves from pending or done) and
 * new ones register (on g_registry, not waited for).
 */
static void wait_for_readers(unsigned long gp)
{
    struct loom__list pending = LOOM__LIST_INIT(pending);
    struct loom__list done = LOOM__LIST_INIT(done);
    bool slept = false;

    loom__list_splice_tail(&pending, &g_registry);
    for (unsigned int pass = 0;; pass++) {
        scan_readers(&pending, &done, gp);
        if (loom__list_empty(&pending)) {
            break;
        }
        if (pass < RCU_SPIN_PASSES) {
            loom__cpu_relax();
            continue;
        }
        request_wakeups(&pending);
        slept = true;
        scan_readers(&pending, &done, gp);
        if (loom__list_empty(&pending)) {
            break;
        }
        pthread_mutex_unlock(&g_registry_lock);
        (void)loom__futex_wait_ns(&g_gp_event, 0, -1);
        pthread_mutex_lock(&g_registry_lock);
    }
    if (slept) {
        clear_wakeups(&done);
    }
    loom__list_splice_tail(&g_registry, &done);
}

void loom_synchronize_rcu(void)
{
    struct loom__rcu_reader *self = &loom__rcu_reader;
    unsigned long gp;

    if (self_depth() != 0) {
        loom__panic("loom_synchronize_rcu() called inside an RCU read-side "
                   "section (depth %lu): it would wait for itself",
                   self_depth());
    }
    loom__rcu_init();
    pthread_mutex_lock(&g_gp_lock);
    pthread_mutex_lock(&g_registry_lock);
    /*
     * Nobody else registered: any later reader registers under
     * g_registry_lock, which orders our caller's updates before its
     * section.
     */
    if (g_nreaders == (self->registered ? 1UL : 0UL)) {
        goto out;
    }
    /*
     * Our caller's removals before the flip and the readers' snapshots.
     * Pairs with the barrier after the ctr store in loom_rcu_read_lock().
     */
    rcu_mb_all();
    gp = loom__atomic_read(&loom__rcu_global.gp_ctr) + RCU_GP_STEP;
    loom__atomic_store_seq(&loom__rcu_global.gp_ctr, gp);
    wait_for_readers(gp);
#if ULONG_MAX == 0xffffffffUL
    /*
     * A 16-bit count can wrap while a reader sleeps between loading it
     * and storing its snapshot, so that the stale snapshot later equals
     * the current value.  Flip a second time: a reader that loaded the
     * counter before the first flip and stored its snapshot after our
     * scan is caught by the second wait.  The acquire loads of the scan
     * order it before the second flip.
     */
    gp += RCU_GP_STEP;
    loom__atomic_store_seq(&loom__rcu_global.gp_ctr, gp);
    wait_for_readers(gp);
#endif
    /*
     * The old readers' sections before our caller's reclamation.  Pairs
     * with the barrier before the ctr = 0 store in loom_rcu_read_unlock().
     */
    rcu_mb_after_wait();
out:
    pthread_mutex_unlock(&g_registry_lock);
    pthread_mutex_unlock(&g_gp_lock);
}
