/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: compiler helpers under the names QEMU code uses
 * (QEMU_PACKED, QEMU_ALWAYS_INLINE, glue(), stringify(), likely() ...).
 * Part of the prelude <qemu/osdep.h>; written for loom, no QEMU code.
 */
#ifndef LOOM_QEMU_COMPILER_H
#define LOOM_QEMU_COMPILER_H

#define QEMU_NORETURN __attribute__((__noreturn__))
#define QEMU_WARN_UNUSED_RESULT __attribute__((warn_unused_result))
#define QEMU_SENTINEL __attribute__((sentinel))
#define QEMU_PACKED __attribute__((packed))
#define QEMU_ALIGNED(x) __attribute__((aligned(x)))
#define QEMU_ALWAYS_INLINE __attribute__((always_inline))
#define QEMU_NOINLINE __attribute__((noinline))
#define QEMU_UNUSED __attribute__((unused))
#define QEMU_FLATTEN __attribute__((flatten))
#define QEMU_DISABLE_CFI
#define QEMU_NONSTRING __attribute__((nonstring))
#define QEMU_FALLTHROUGH __attribute__((fallthrough))
#define QEMU_ERROR(x) __attribute__((error(x)))
#define QEMU_ANNOTATE(x)

#ifndef likely
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#endif

/* Concatenate after expanding (glue) and stringify after expanding. */
#define xglue(x, y) x##y
#define glue(x, y) xglue(x, y)
#define stringify(s) tostring(s)
#define tostring(s) #s

#ifndef container_of
/* The structure of @type whose member @member is at @ptr. */
#define container_of(ptr, type, member)                                       \
    ({                                                                        \
        const __typeof__(((type *)0)->member) *loom_q_mptr_ = (ptr);          \
        (type *)(void *)((char *)loom_q_mptr_ - offsetof(type, member));      \
    })
#endif

/* A compile-time error when @x is true; usable as an expression (0). */
#define QEMU_BUILD_BUG_ON_STRUCT(x) struct { int : (x) ? -1 : 1; }
#define QEMU_BUILD_BUG_ON_ZERO(x) ((int)(sizeof(QEMU_BUILD_BUG_ON_STRUCT(x)) - \
                                         sizeof(QEMU_BUILD_BUG_ON_STRUCT(x))))
#define QEMU_BUILD_BUG_MSG(x, msg) _Static_assert(!(x), msg)
#define QEMU_BUILD_BUG_ON(x) QEMU_BUILD_BUG_MSG(x, "not expecting: " #x)

/* A unique identifier for macro-local variables. */
#define QEMU_UNIQUE_ID(prefix) glue(glue(prefix, _), __COUNTER__)

#define QEMU_IS_ARRAY(x) (!__builtin_types_compatible_p(__typeof__(x),        \
                                                        __typeof__(&(x)[0])))

#define typeof_field(type, field) __typeof__(((type *)0)->field)
#define type_check(t1, t2) ((t1 *)0 - (t2 *)0)

#ifdef __has_attribute
#if __has_attribute(__fallthrough__)
#define fallthrough __attribute__((__fallthrough__))
#endif
#endif
#ifndef fallthrough
#define fallthrough do {} while (0)
#endif

#endif /* LOOM_QEMU_COMPILER_H */
