/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: thread-local variables that coroutines may use safely
 * (<qemu/coroutine-tls.h>).  A coroutine can continue on another thread
 * after it yields, but compilers may keep the address of a __thread
 * variable across the call; these accessors are not inlined and hide the
 * address from the optimiser, so every access uses the current thread's.
 *
 *   QEMU_DEFINE_STATIC_CO_TLS(int, depth)   -> get_depth(), set_depth(v),
 *                                              get_ptr_depth()
 */
#ifndef LOOM_QEMU_COROUTINE_TLS_H
#define LOOM_QEMU_COROUTINE_TLS_H

#define LOOM_Q_CO_TLS_ACCESSORS(storage, type, var)                           \
    storage __attribute__((noinline, unused)) type *get_ptr_##var(void)       \
    {                                                                         \
        type *p = &co_tls_##var;                                              \
        __asm__ __volatile__("" : "+r"(p));                                   \
        return p;                                                             \
    }                                                                         \
    storage __attribute__((noinline, unused)) type get_##var(void)            \
    {                                                                         \
        return *get_ptr_##var();                                              \
    }                                                                         \
    storage __attribute__((noinline, unused)) void set_##var(type v)          \
    {                                                                         \
        *get_ptr_##var() = v;                                                 \
    }

/* Declares accessors defined in another file with QEMU_DEFINE_CO_TLS. */
#define QEMU_DECLARE_CO_TLS(type, var)                                        \
    type get_##var(void);                                                     \
    void set_##var(type v);                                                   \
    type *get_ptr_##var(void);

#define QEMU_DEFINE_CO_TLS(type, var)                                         \
    static __thread type co_tls_##var;                                        \
    LOOM_Q_CO_TLS_ACCESSORS(, type, var)

#define QEMU_DEFINE_STATIC_CO_TLS(type, var)                                  \
    static __thread type co_tls_##var;                                        \
    LOOM_Q_CO_TLS_ACCESSORS(static, type, var)

#endif /* LOOM_QEMU_COROUTINE_TLS_H */
