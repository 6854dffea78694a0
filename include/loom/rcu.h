/* SPDX-License-Identifier: MIT */
/*
 * Read-copy-update: readers that never block and never write a shared
 * cache line, writers that publish a new version and reclaim the old one
 * after a grace period (loom_synchronize_rcu() or loom_call_rcu()).
 *
 * Read-side sections nest.  Any thread may read: threads not started by
 * loom_thread_create() register themselves on their first
 * loom_rcu_read_lock() and unregister when they exit.
 *
 * fork() is supported outside read sections: in the child only the
 * forking thread remains a reader and the call_rcu thread is restarted
 * by the next loom_call_rcu() or loom_drain_call_rcu().  The read side
 * lives in initial-exec TLS, so libloom must be linked at start-up or
 * loaded while static TLS space remains (as is usual for dlopen()).
 */
#ifndef LOOM_RCU_H
#define LOOM_RCU_H

#include <loom/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Readers normally rely on membarrier(2) in the writer and use compiler
 * barriers only.  ThreadSanitizer models neither membarrier nor fences, so
 * instrumented readers use sequentially consistent atomics instead.
 */
#ifdef LOOM__TSAN
#define LOOM__RCU_TSAN 1
#endif

/*
 * private: per-thread reader state, touched by the inline read side.
 *
 * ctr holds the read-side nesting depth in its low LOOM__RCU_NEST_BITS
 * bits and, while the depth is non-zero, the grace-period counter's
 * value from when the outermost section began in the bits above.  The
 * global counter always has nesting 1 in its low bits, so entering the
 * outermost section is a single copy.
 *
 * A thread that is not on the registry holds LOOM__RCU_UNREG (depth all
 * ones, count 0), so that the inline fast paths, which test only the
 * depth, send its first loom_rcu_read_lock() (and a stray unlock) to the
 * out-of-line slow path: the fast path needs no separate "registered"
 * test.  A registered thread really nested that deep is told apart by
 * ->registered, which only the slow paths read.
 */
#define LOOM__RCU_NEST_BITS 16
#define LOOM__RCU_NEST_MASK ((1UL << LOOM__RCU_NEST_BITS) - 1)
#define LOOM__RCU_UNREG LOOM__RCU_NEST_MASK

struct loom__rcu_reader {
    /* Written by the owner, read by loom_synchronize_rcu(). */
    unsigned long ctr;
    /* Owner thread only: on the registry (explicitly or lazily). */
    unsigned int registered;
    /* Written by loom_synchronize_rcu() only: wake me when you leave. */
    unsigned int waiting;
};

/*
 * private: what every reader reads, 64-byte aligned so that it fills a
 * cache line of its own.
 */
struct __attribute__((aligned(64))) loom__rcu_global {
    /* Grace-period counter, nesting 1 in the low bits; see rcu.c. */
    unsigned long gp_ctr;
    /* Non-zero when readers must fence (no membarrier, tests). */
    int need_fence;
};

/*
 * private: symbols used by the inline read side; do not use directly.
 * The functions are its slow paths, all "Context: the calling reader":
 * loom__rcu_lock_slow() enters the outermost section of an unregistered
 * thread (registering it) or panics on nesting deeper than the mask
 * allows; loom__rcu_unlock_slow() leaves a section nested the deepest
 * possible or panics on an unbalanced unlock; loom__rcu_wake_writer()
 * wakes a waiting loom_synchronize_rcu().
 */
LOOM_API extern __thread struct loom__rcu_reader loom__rcu_reader
    __attribute__((tls_model("initial-exec")));
LOOM_API extern struct loom__rcu_global loom__rcu_global;
LOOM_API void loom__rcu_lock_slow(void);
LOOM_API void loom__rcu_unlock_slow(void);
LOOM_API void loom__rcu_wake_writer(void);

/*
 * private: the inline read side names loom__rcu_reader directly and never
 * holds its address in a pointer.  Through a pointer, gcc's -fsanitize=null
 * null-checks the TLS address and may fold the check into the flags of
 * "add loom__rcu_reader@gottpoff(%rip), %reg"; when libloom is linked
 * into an executable, ld's initial-exec to local-exec relaxation rewrites
 * that add into a lea, which sets no flags, so the check tests stale flags
 * and can report a null pointer that is not there (gcc 12, binutils ld).
 * A named object has no pointer to check.
 *
 * loom__rcu_set_ctr(): the new ctr becomes visible to
 * loom_synchronize_rcu().
 */
static inline void loom__rcu_set_ctr(unsigned long v)
{
#ifdef LOOM__RCU_TSAN
    __atomic_store_n(&loom__rcu_reader.ctr, v, __ATOMIC_SEQ_CST);
#else
    __atomic_store_n(&loom__rcu_reader.ctr, v, __ATOMIC_RELAXED);
#endif
}

/*
 * private: whether readers must fence: the writer cannot make their
 * program order visible (no membarrier), or ThreadSanitizer, which does
 * not model membarrier, checks the build.  need_fence changes only while
 * no thread is registered (rcu.c), so never inside a section.
 */
static inline bool loom__rcu_fences(void)
{
#ifdef LOOM__RCU_TSAN
    return true;
#else
    return __builtin_expect(__atomic_load_n(&loom__rcu_global.need_fence,
                                            __ATOMIC_RELAXED), 0);
#endif
}

/* private: a full barrier when readers must fence, else a compiler one. */
static inline void loom__rcu_reader_mb(void)
{
    if (loom__rcu_fences()) {
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
    } else {
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
    }
}

/*
 * private: the outermost section ends: ctr = 0 between two
 * loom__rcu_reader_mb(), with loom__rcu_fences() read once for both.
 */
static inline void loom__rcu_leave(void)
{
    if (loom__rcu_fences()) {
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        loom__rcu_set_ctr(0);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
    } else {
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
        loom__rcu_set_ctr(0);
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
    }
}

/**
 * loom_rcu_read_lock() - enter an RCU read-side section.
 *
 * Sections nest (up to 65535 deep; deeper is a contract violation); the
 * outermost one protects every pointer obtained with
 * loom_rcu_dereference() until the matching loom_rcu_read_unlock().  Must
 * not wait for a grace period (loom_synchronize_rcu(),
 * loom_drain_call_rcu()) inside it.  Wait-free except for the very first
 * call in a thread that was never registered, which registers it.
 *
 * Context: any.
 */
static inline void loom_rcu_read_lock(void)
{
    unsigned long c = __atomic_load_n(&loom__rcu_reader.ctr,
                                      __ATOMIC_RELAXED);

    if (__builtin_expect((c & LOOM__RCU_NEST_MASK) == 0, 1)) {
        /* The counter carries nesting 1 in its low bits. */
#ifdef LOOM__RCU_TSAN
        loom__rcu_set_ctr(__atomic_load_n(&loom__rcu_global.gp_ctr,
                                          __ATOMIC_SEQ_CST));
#else
        loom__rcu_set_ctr(__atomic_load_n(&loom__rcu_global.gp_ctr,
                                          __ATOMIC_RELAXED));
#endif
        /*
         * Snapshot before the section's loads.  Pairs with membarrier
         * (or the full fence) in loom_synchronize_rcu().
         */
        loom__rcu_reader_mb();
    } else if (__builtin_expect((c & LOOM__RCU_NEST_MASK) ==
                                LOOM__RCU_NEST_MASK, 0)) {
        /* Not registered yet (LOOM__RCU_UNREG), or too deep. */
        loom__rcu_lock_slow();
    } else {
        loom__rcu_set_ctr(c + 1);
    }
}

/**
 * loom_rcu_read_unlock() - leave an RCU read-side section.
 *
 * An unlock without a matching lock is a contract violation (panic).
 *
 * Context: rcu (inside a section entered by this thread).
 */
static inline void loom_rcu_read_unlock(void)
{
    unsigned long c = __atomic_load_n(&loom__rcu_reader.ctr,
                                      __ATOMIC_RELAXED);

    if (__builtin_expect((c & LOOM__RCU_NEST_MASK) == 1, 1)) {
        /*
         * The section before ctr = 0, and ctr = 0 before the waiting
         * load.  Pairs with membarrier (or the full fence) in
         * loom_synchronize_rcu() and in its wake-up request.
         */
        loom__rcu_leave();
#ifdef LOOM__RCU_TSAN
        if (__atomic_load_n(&loom__rcu_reader.waiting, __ATOMIC_SEQ_CST)) {
#else
        if (__builtin_expect(__atomic_load_n(&loom__rcu_reader.waiting,
                                             __ATOMIC_RELAXED), 0)) {
#endif
            loom__rcu_wake_writer();
        }
    } else if (__builtin_expect(((c + 1) & LOOM__RCU_NEST_MASK) <= 1, 0)) {
        /* Depth 0, LOOM__RCU_UNREG, or a registered thread that deep. */
        loom__rcu_unlock_slow();
    } else {
        loom__rcu_set_ctr(c - 1);
    }
}

/**
 * loom_rcu_read_locked() - is the calling thread inside a read section?
 *
 * Context: any.
 * Return: true between loom_rcu_read_lock() and its matching unlock.
 */
static inline bool loom_rcu_read_locked(void)
{
    unsigned long c = __atomic_load_n(&loom__rcu_reader.ctr,
                                      __ATOMIC_RELAXED);

    return (c & LOOM__RCU_NEST_MASK) != 0 &&
           (c != LOOM__RCU_UNREG || loom__rcu_reader.registered);
}

/**
 * loom_synchronize_rcu() - wait for a grace period.
 *
 * Returns once every read-side section that was in progress when it was
 * called has ended; sections that start later are not waited for.
 * Concurrent callers are serialised.  Calling it inside a read section
 * is a contract violation (panic): it would wait for itself.
 *
 * Context: any, !rcu.
 */
LOOM_API void loom_synchronize_rcu(void);

/**
 * struct loom_rcu_head - embed in an object reclaimed by loom_call_rcu().
 *
 * Fields are private.  The head must stay valid until its callback runs.
 */
struct loom_rcu_head {
    /* private: */
    struct loom_rcu_head *next;
    void (*fn)(struct loom_rcu_head *head);
};

/**
 * loom_call_rcu() - run a callback after a grace period.
 * @head: embedded in the object to reclaim; not already queued.
 * @fn: called once, with @head, on the "loom-call-rcu" thread after every
 *      read section in progress at the time of this call has ended.
 *
 * Lock-free (wait-free on the fast path); never blocks, allowed inside a
 * read section.  Callbacks run in queueing order, one at a time, outside
 * any read section; they may call loom_call_rcu() and
 * loom_synchronize_rcu() but not loom_drain_call_rcu().  The thread is
 * started by the first call.  A NULL @head or @fn is ignored.
 *
 * Context: any.
 */
LOOM_API void loom_call_rcu(struct loom_rcu_head *head,
                            void (*fn)(struct loom_rcu_head *head));

/**
 * loom_drain_call_rcu() - wait for queued callbacks.
 *
 * Returns when every callback queued by loom_call_rcu() before this call
 * has run.  Calling it inside a read section or from a callback is a
 * contract violation (panic).
 *
 * Context: any, !rcu, not on the call_rcu thread.
 */
LOOM_API void loom_drain_call_rcu(void);

/**
 * loom_rcu_register_thread() - make the calling thread a reader.
 *
 * Optional: loom_rcu_read_lock() registers on first use and threads
 * unregister on exit.  Idempotent.
 *
 * Context: any.
 */
LOOM_API void loom_rcu_register_thread(void);

/**
 * loom_rcu_unregister_thread() - forget the calling thread as a reader.
 *
 * Idempotent; a later loom_rcu_read_lock() registers again.  Calling it
 * inside a read section is a contract violation (panic).
 *
 * Context: any, !rcu.
 */
LOOM_API void loom_rcu_unregister_thread(void);

/**
 * loom_rcu_assign_pointer() - publish @v in the RCU-protected pointer @p.
 * @p: an lvalue of pointer type read with loom_rcu_dereference().
 * @v: the new value; everything written to *@v before is visible to
 *     readers that load it.
 *
 * Context: any (writers serialise among themselves).
 */
#define loom_rcu_assign_pointer(p, v)                                         \
    do {                                                                      \
        __typeof__(p) loom__rcu_new = (v);                                    \
        __atomic_store_n(&(p), loom__rcu_new, __ATOMIC_RELEASE);              \
    } while (0)

/**
 * loom_rcu_init_pointer() - store @v in @p without ordering.
 *
 * For NULL, or before @p is reachable by readers.
 *
 * Context: any.
 */
#define loom_rcu_init_pointer(p, v)                                           \
    do {                                                                      \
        __typeof__(p) loom__rcu_new = (v);                                    \
        __atomic_store_n(&(p), loom__rcu_new, __ATOMIC_RELAXED);              \
    } while (0)

/**
 * loom_rcu_dereference() - load an RCU-protected pointer for reading.
 * @p: an lvalue of pointer type written with loom_rcu_assign_pointer().
 *
 * The result may be used until the enclosing read section ends.
 *
 * Context: rcu, or a writer holding the lock that serialises updates.
 */
#define loom_rcu_dereference(p) __atomic_load_n(&(p), __ATOMIC_CONSUME)

/**
 * loom_rcu_access_pointer() - read the value of @p without dereferencing.
 *
 * For NULL tests and comparisons; the result must not be dereferenced.
 *
 * Context: any.
 */
#define loom_rcu_access_pointer(p) __atomic_load_n(&(p), __ATOMIC_RELAXED)

#ifdef __cplusplus
}
#endif

#endif /* LOOM_RCU_H */
