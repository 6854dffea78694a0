/* SPDX-License-Identifier: MIT */
/*
 * The micro-guest SDK: what a bundled guest sees.
 *
 * Contexts: "any CPU" functions may run on every CPU at once; "boot CPU"
 * ones only on CPU 0.  Everything runs at CPL3 except the SDK's exception
 * report, which runs at CPL0.
 */
#ifndef SDK_SDK_H
#define SDK_SDK_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sdk/x86.h"

#define SDK_NORETURN __attribute__((noreturn))
#define SDK_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define SDK_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- console (COM1) ---- */

/**
 * sdk_printf() - formatted output on COM1, one call's output kept together
 * (a console lock).  Conversions: %d %i %u %x %X %o %c %s %p %%, flags
 * '-' '0' ' ' '+' '#', a width and a precision (digits or '*'), length
 * modifiers hh h l ll z t j.  No floating point.
 * @fmt: the format.
 *
 * Context: any CPU.
 * Return: the number of bytes written.
 */
SDK_PRINTF(1, 2) int sdk_printf(const char *fmt, ...);

/**
 * sdk_vprintf() - sdk_printf() with a va_list.
 * @fmt: the format.
 * @ap: its arguments.
 *
 * Context: any CPU.
 * Return: the number of bytes written.
 */
int sdk_vprintf(const char *fmt, va_list ap);

/**
 * sdk_snprintf() - format into @buf, NUL-terminated whenever @size > 0.
 * @buf: the buffer (may be NULL when @size is 0).
 * @size: its size.
 * @fmt: the format, as for sdk_printf().
 *
 * Context: any CPU.
 * Return: the length the whole output has, even where it was cut short.
 */
SDK_PRINTF(3, 4) int sdk_snprintf(char *buf, size_t size, const char *fmt, ...);

/**
 * sdk_vsnprintf() - sdk_snprintf() with a va_list.
 * @buf: the buffer.
 * @size: its size.
 * @fmt: the format.
 * @ap: its arguments.
 *
 * Context: any CPU.
 * Return: as sdk_snprintf().
 */
int sdk_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);

/**
 * sdk_puts() - write @s as it is (no newline added).
 * @s: the string.
 *
 * Context: any CPU.
 */
void sdk_puts(const char *s);

/* ---- locks and atomics ---- */

struct sdk_spinlock {
    uint32_t locked;
};

/* clang-format off */
#define SDK_SPINLOCK_INIT {0}
/* clang-format on */

/**
 * sdk_spin_lock() - take @l, spinning with pause; sdk_spin_trylock():
 * take it only if free (true if taken); sdk_spin_unlock(): release it.
 * Not recursive.
 * @l: the lock.
 *
 * Context: any CPU.
 */
void sdk_spin_lock(struct sdk_spinlock *l);
bool sdk_spin_trylock(struct sdk_spinlock *l);
void sdk_spin_unlock(struct sdk_spinlock *l);

/* Atomics on 1-, 2-, 4- and 8-byte objects (never cmpxchg16b). */
#define sdk_atomic_load(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define sdk_atomic_store(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define sdk_atomic_fetch_add(p, v)                                             \
    __atomic_fetch_add((p), (v), __ATOMIC_SEQ_CST)
#define sdk_atomic_xchg(p, v) __atomic_exchange_n((p), (v), __ATOMIC_SEQ_CST)
#define sdk_atomic_cmpxchg(p, expp, v)                                         \
    __atomic_compare_exchange_n((p), (expp), (v), false, __ATOMIC_SEQ_CST,     \
                                __ATOMIC_SEQ_CST)

/* ---- strings (freestanding; the compiler may also call these) ---- */

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);

#endif /* SDK_SDK_H */
