/* SPDX-License-Identifier: MIT */
/*
 * The library's diagnostics hook and loom__panic().  libloom never prints
 * except for a panic message right before abort(); everything else goes to
 * the hook installed with loom_set_log_fn(), or nowhere.
 */
#include <loom/common.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/check.h"

/* The hook and its argument, published together. */
struct log_hook {
    loom_log_fn *fn;
    void *opaque;
};

static struct log_hook g_hooks[2];
/* Index of the live entry in g_hooks; atomic. */
static int g_hook_idx;

void loom_set_log_fn(loom_log_fn *fn, void *opaque)
{
    int next = !__atomic_load_n(&g_hook_idx, __ATOMIC_RELAXED);

    /*
     * Double buffer: write the idle slot, then publish its index.  A caller
     * racing two setters is not supported (document: configure once).
     */
    g_hooks[next].fn = fn;
    g_hooks[next].opaque = opaque;
    /* Pairs with the acquire load in emit(). */
    __atomic_store_n(&g_hook_idx, next, __ATOMIC_RELEASE);
}

LOOM_PRINTF(2, 0)
static void emit(enum loom_log_level level, const char *fmt, va_list ap)
{
    char buf[512];
    const struct log_hook *h;

    /* Pairs with the release store in loom_set_log_fn(). */
    h = &g_hooks[__atomic_load_n(&g_hook_idx, __ATOMIC_ACQUIRE)];
    if (!h->fn && level != LOOM_LOG_PANIC) {
        return;
    }
    vsnprintf(buf, sizeof(buf), fmt, ap);
    if (h->fn) {
        h->fn(level, buf, h->opaque);
    }
    if (level == LOOM_LOG_PANIC) {
        /* Panics always reach stderr: the process is about to abort. */
        fprintf(stderr, "loom: panic: %s\n", buf);
        fflush(stderr);
    }
}

void loom__log(enum loom_log_level level, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    emit(level, fmt, ap);
    va_end(ap);
}

void loom__panic_at(const char *file, int line, const char *fmt, ...)
{
    char msg[448];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    loom__log(LOOM_LOG_PANIC, "%s (at %s:%d)", msg, file, line);
    abort();
}
