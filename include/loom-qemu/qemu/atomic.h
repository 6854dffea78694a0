/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: QEMU's atomic operations and memory barriers (qatomic_*,
 * smp_*), on the compiler's __atomic builtins.
 *
 * Ordering, as QEMU documents it: qatomic_read/qatomic_set are relaxed;
 * qatomic_load_acquire/qatomic_store_release and qatomic_rcu_read/
 * qatomic_rcu_set order as their names say; every read-modify-write
 * (qatomic_fetch_*, qatomic_*_fetch, qatomic_xchg, qatomic_cmpxchg,
 * qatomic_inc ...) is sequentially consistent, i.e. a full barrier.
 */
#ifndef LOOM_QEMU_ATOMIC_H
#define LOOM_QEMU_ATOMIC_H

#include <stdbool.h>
#include <stdint.h>

/* Compiler barrier. */
#define barrier() __atomic_signal_fence(__ATOMIC_SEQ_CST)
/* Barrier against a signal handler of this thread. */
#define signal_barrier() __atomic_signal_fence(__ATOMIC_SEQ_CST)

/* Full and one-way CPU barriers. */
#define smp_mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define smp_mb_release() __atomic_thread_fence(__ATOMIC_RELEASE)
#define smp_mb_acquire() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define smp_wmb() smp_mb_release()
#define smp_rmb() smp_mb_acquire()
#define smp_read_barrier_depends() barrier()
/* Barriers around an atomic read-modify-write (already full ones). */
#define smp_mb__before_rmw() barrier()
#define smp_mb__after_rmw() barrier()

/* Largest size the qatomic_* operations accept. */
#define ATOMIC_REG_SIZE sizeof(void *)

/* private: compile-time check that *ptr fits an atomic access. */
#define loom_q_atomic_check(ptr)                                             \
    _Static_assert(sizeof(*(ptr)) <= ATOMIC_REG_SIZE,                         \
                   "qatomic: operand larger than a register")

#define qatomic_read__nocheck(ptr) __atomic_load_n(ptr, __ATOMIC_RELAXED)
#define qatomic_set__nocheck(ptr, i) __atomic_store_n(ptr, i, __ATOMIC_RELAXED)

/* Relaxed load and store: no tearing, no ordering. */
#define qatomic_read(ptr)                                                     \
    ({                                                                        \
        loom_q_atomic_check(ptr);                                             \
        qatomic_read__nocheck(ptr);                                           \
    })
#define qatomic_set(ptr, i)                                                   \
    do {                                                                      \
        loom_q_atomic_check(ptr);                                             \
        qatomic_set__nocheck(ptr, i);                                         \
    } while (0)

#define qatomic_load_acquire(ptr)                                             \
    ({                                                                        \
        loom_q_atomic_check(ptr);                                             \
        __atomic_load_n(ptr, __ATOMIC_ACQUIRE);                               \
    })
#define qatomic_store_release(ptr, i)                                         \
    do {                                                                      \
        loom_q_atomic_check(ptr);                                             \
        __atomic_store_n(ptr, i, __ATOMIC_RELEASE);                           \
    } while (0)

/* Load of an RCU-protected pointer; store that publishes one. */
#define qatomic_rcu_read(ptr)                                                 \
    ({                                                                        \
        loom_q_atomic_check(ptr);                                             \
        __atomic_load_n(ptr, __ATOMIC_CONSUME);                               \
    })
#define qatomic_rcu_read__nocheck(ptr) __atomic_load_n(ptr, __ATOMIC_CONSUME)
#define qatomic_rcu_set(ptr, i)                                               \
    do {                                                                      \
        loom_q_atomic_check(ptr);                                             \
        __atomic_store_n(ptr, i, __ATOMIC_RELEASE);                           \
    } while (0)

/* A store followed by a full barrier. */
#define qatomic_set_mb(ptr, i)                                                \
    do {                                                                      \
        loom_q_atomic_check(ptr);                                             \
        __atomic_store_n(ptr, i, __ATOMIC_SEQ_CST);                           \
        smp_mb();                                                             \
    } while (0)

#define qatomic_xchg__nocheck(ptr, i) __atomic_exchange_n(ptr, i, __ATOMIC_SEQ_CST)
#define qatomic_xchg(ptr, i)                                                  \
    ({                                                                        \
        loom_q_atomic_check(ptr);                                             \
        qatomic_xchg__nocheck(ptr, i);                                        \
    })

/* Compare and swap; returns the old value (equal to @old on success). */
#define qatomic_cmpxchg__nocheck(ptr, old, new)                               \
    ({                                                                        \
        __typeof__(*(ptr)) loom_q_old_ = (old);                               \
        (void)__atomic_compare_exchange_n(ptr, &loom_q_old_, new, false,      \
                                          __ATOMIC_SEQ_CST,                   \
                                          __ATOMIC_SEQ_CST);                  \
        loom_q_old_;                                                          \
    })
#define qatomic_cmpxchg(ptr, old, new)                                        \
    ({                                                                        \
        loom_q_atomic_check(ptr);                                             \
        qatomic_cmpxchg__nocheck(ptr, old, new);                              \
    })

/* Read-modify-write returning the old value. */
#define qatomic_fetch_inc(ptr) __atomic_fetch_add(ptr, 1, __ATOMIC_SEQ_CST)
#define qatomic_fetch_dec(ptr) __atomic_fetch_sub(ptr, 1, __ATOMIC_SEQ_CST)
#define qatomic_fetch_add(ptr, n) __atomic_fetch_add(ptr, n, __ATOMIC_SEQ_CST)
#define qatomic_fetch_sub(ptr, n) __atomic_fetch_sub(ptr, n, __ATOMIC_SEQ_CST)
#define qatomic_fetch_and(ptr, n) __atomic_fetch_and(ptr, n, __ATOMIC_SEQ_CST)
#define qatomic_fetch_or(ptr, n) __atomic_fetch_or(ptr, n, __ATOMIC_SEQ_CST)
#define qatomic_fetch_xor(ptr, n) __atomic_fetch_xor(ptr, n, __ATOMIC_SEQ_CST)

/* Read-modify-write returning the new value. */
#define qatomic_inc_fetch(ptr) __atomic_add_fetch(ptr, 1, __ATOMIC_SEQ_CST)
#define qatomic_dec_fetch(ptr) __atomic_sub_fetch(ptr, 1, __ATOMIC_SEQ_CST)
#define qatomic_add_fetch(ptr, n) __atomic_add_fetch(ptr, n, __ATOMIC_SEQ_CST)
#define qatomic_sub_fetch(ptr, n) __atomic_sub_fetch(ptr, n, __ATOMIC_SEQ_CST)
#define qatomic_and_fetch(ptr, n) __atomic_and_fetch(ptr, n, __ATOMIC_SEQ_CST)
#define qatomic_or_fetch(ptr, n) __atomic_or_fetch(ptr, n, __ATOMIC_SEQ_CST)
#define qatomic_xor_fetch(ptr, n) __atomic_xor_fetch(ptr, n, __ATOMIC_SEQ_CST)

/* Read-modify-write without a result. */
#define qatomic_inc(ptr) ((void)qatomic_fetch_inc(ptr))
#define qatomic_dec(ptr) ((void)qatomic_fetch_dec(ptr))
#define qatomic_add(ptr, n) ((void)qatomic_fetch_add(ptr, n))
#define qatomic_sub(ptr, n) ((void)qatomic_fetch_sub(ptr, n))
#define qatomic_and(ptr, n) ((void)qatomic_fetch_and(ptr, n))
#define qatomic_or(ptr, n) ((void)qatomic_fetch_or(ptr, n))
#define qatomic_xor(ptr, n) ((void)qatomic_fetch_xor(ptr, n))

/* 64-bit accesses (every host loom supports has native ones). */
#define qatomic_read_i64(ptr) qatomic_read__nocheck(ptr)
#define qatomic_read_u64(ptr) qatomic_read__nocheck(ptr)
#define qatomic_set_i64(ptr, v) qatomic_set__nocheck(ptr, v)
#define qatomic_set_u64(ptr, v) qatomic_set__nocheck(ptr, v)
#define qatomic64_init() do {} while (0)

#endif /* LOOM_QEMU_ATOMIC_H */
