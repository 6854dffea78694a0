/* SPDX-License-Identifier: MIT */
/*
 * Definitions shared by every public loom header: export marker, the
 * generic callback type, error strings and the library's log hook.
 */
#ifndef LOOM_COMMON_H
#define LOOM_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** LOOM_API - marks a function exported from libloom. */
#define LOOM_API __attribute__((visibility("default")))

/*
 * LOOM__TSAN / LOOM__ASAN: defined when compiled with ThreadSanitizer /
 * AddressSanitizer (gcc and clang spell it differently).  Internal: the
 * one place loom's headers and sources learn it.
 */
#if defined(__SANITIZE_THREAD__)
#define LOOM__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define LOOM__TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define LOOM__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LOOM__ASAN 1
#endif
#endif

/*
 * loom__cpu_relax() - tell the CPU the caller is spinning (x86 pause,
 * AArch64 yield).  Internal to loom's inline code and the library; the one
 * pause helper.  Context: any.
 */
static inline void loom__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#else
    __asm__ __volatile__("" ::: "memory");
#endif
}

/**
 * typedef loom_cb - generic callback taking the caller's opaque pointer.
 * @opaque: the pointer given when the callback was registered.
 */
typedef void loom_cb(void *opaque);

/**
 * loom_strerror() - describe a loom error code.
 * @err: a negative errno as returned by loom (positive values are accepted
 *       too).
 *
 * Context: any.
 * Return: a static, never-NULL string ("Unknown error N" strings are not
 * produced: unknown codes give "Unknown error").
 */
LOOM_API const char *loom_strerror(int err);

/** enum loom_log_level - severity passed to the log hook. */
enum loom_log_level {
    LOOM_LOG_DEBUG,   /* failed argument checks in debug builds */
    LOOM_LOG_WARNING, /* recoverable trouble the caller may want to see */
    LOOM_LOG_PANIC,   /* a contract violation; abort() follows */
};

/**
 * typedef loom_log_fn - receives the library's rare diagnostics.
 * @level: severity.
 * @msg: a complete message without trailing newline.
 * @opaque: the pointer given to loom_set_log_fn().
 *
 * Callback: on the thread that hit the condition; must not call loom.
 */
typedef void loom_log_fn(enum loom_log_level level, const char *msg,
                         void *opaque);

/**
 * loom_set_log_fn() - install the diagnostics hook.
 * @fn: the hook, or NULL to restore the default (panics go to stderr,
 *      everything else is dropped).
 * @opaque: passed to @fn.
 *
 * The library never prints on its own except a panic message right before
 * abort().
 *
 * Context: any; takes effect for messages emitted after it returns.
 */
LOOM_API void loom_set_log_fn(loom_log_fn *fn, void *opaque);

#ifdef __cplusplus
}
#endif

#endif /* LOOM_COMMON_H */
