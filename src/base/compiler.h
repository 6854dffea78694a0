/* SPDX-License-Identifier: MIT */
/* Compiler helpers used throughout libloom (internal). */
#ifndef LOOM_BASE_COMPILER_H
#define LOOM_BASE_COMPILER_H

#include <stddef.h>

#include <loom/common.h>

#define LOOM_LIKELY(x) __builtin_expect(!!(x), 1)
#define LOOM_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define LOOM_NORETURN __attribute__((noreturn))
#define LOOM_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define LOOM_CACHELINE 64
#define LOOM_CACHE_ALIGNED __attribute__((aligned(LOOM_CACHELINE)))
#define LOOM_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Pointer to the structure that embeds @ptr as its @member. */
#define loom__container_of(ptr, type, member)                                  \
    ((type *)((char *)(ptr) - offsetof(type, member)))

/* LOOM_TSAN / LOOM_ASAN: sanitizer builds (see <loom/common.h>). */
#ifdef LOOM__TSAN
#define LOOM_TSAN 1
#endif
#ifdef LOOM__ASAN
#define LOOM_ASAN 1
#endif

#endif /* LOOM_BASE_COMPILER_H */
