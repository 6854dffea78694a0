/* SPDX-License-Identifier: MIT */
/*
 * Atomic operations for libloom internals, on top of the compiler's
 * __atomic builtins (C11 memory model).
 *
 * Prefer ordered operations (acquire loads, release stores, seq_cst
 * read-modify-writes) over stand-alone fences: ThreadSanitizer models the
 * former exactly and the latter not at all.  Every non-relaxed use says
 * which operation it pairs with (STYLE.md 5).
 */
#ifndef LOOM_BASE_ATOMIC_H
#define LOOM_BASE_ATOMIC_H

#include <stdbool.h>

#include <loom/common.h>

/* Relaxed: atomicity only, no ordering. */
#define loom__atomic_read(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define loom__atomic_set(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

/* One-way ordering. */
#define loom__atomic_load_acquire(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define loom__atomic_store_release(p, v)                                       \
    __atomic_store_n((p), (v), __ATOMIC_RELEASE)

/* Sequentially consistent: a full barrier on both sides. */
#define loom__atomic_load_seq(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define loom__atomic_store_seq(p, v)                                           \
    __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define loom__atomic_xchg(p, v) __atomic_exchange_n((p), (v), __ATOMIC_SEQ_CST)
#define loom__atomic_fetch_add(p, v)                                           \
    __atomic_fetch_add((p), (v), __ATOMIC_SEQ_CST)
#define loom__atomic_fetch_sub(p, v)                                           \
    __atomic_fetch_sub((p), (v), __ATOMIC_SEQ_CST)
#define loom__atomic_fetch_and(p, v)                                           \
    __atomic_fetch_and((p), (v), __ATOMIC_SEQ_CST)
#define loom__atomic_fetch_or(p, v)                                           \
    __atomic_fetch_or((p), (v), __ATOMIC_SEQ_CST)
#define loom__atomic_add_fetch(p, v)                                           \
    __atomic_add_fetch((p), (v), __ATOMIC_SEQ_CST)
#define loom__atomic_sub_fetch(p, v)                                           \
    __atomic_sub_fetch((p), (v), __ATOMIC_SEQ_CST)
#define loom__atomic_inc(p) ((void)loom__atomic_fetch_add((p), 1))
#define loom__atomic_dec(p) ((void)loom__atomic_fetch_sub((p), 1))

/* Relaxed counters (statistics). */
#define loom__atomic_add_relaxed(p, v)                                         \
    ((void)__atomic_fetch_add((p), (v), __ATOMIC_RELAXED))

/*
 * Compare and swap; returns the value found at *p (== @old on success),
 * like QEMU's qatomic_cmpxchg.
 */
#define loom__atomic_cmpxchg(p, old, new)                                      \
    ({                                                                        \
        __typeof__(*(p)) _loom_old = (old);                                   \
        (void)__atomic_compare_exchange_n((p), &_loom_old, (new), false,      \
                                          __ATOMIC_SEQ_CST,                   \
                                          __ATOMIC_SEQ_CST);                  \
        _loom_old;                                                            \
    })

/* Boolean form; on failure *expected receives the current value. */
#define loom__atomic_cas(p, expected, new)                                     \
    __atomic_compare_exchange_n((p), (expected), (new), false,                \
                                __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)

/* Fences: use only where no single operation can carry the ordering. */
#define loom__smp_mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define loom__smp_rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define loom__smp_wmb() __atomic_thread_fence(__ATOMIC_RELEASE)
#define loom__barrier() __asm__ __volatile__("" ::: "memory")

/* The pause helper is loom__cpu_relax() (<loom/common.h>). */

#endif /* LOOM_BASE_ATOMIC_H */
