/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: the complete Coroutine structure (QEMU's
 * <qemu/coroutine_int.h>), for code that reaches into it (sizeof,
 * ->entry, ->ctx, ->caller, ->locks_held ...).  The stack and the switch
 * belong to a loom coroutine (->impl).  Finished coroutines are kept in a
 * per-thread pool linked through ->pool_next (CONFIG_COROUTINE_POOL), so
 * a finished Coroutine stays valid memory until it is reused.
 */
#ifndef LOOM_QEMU_COROUTINE_INT_H
#define LOOM_QEMU_COROUTINE_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "qemu/coroutine-core.h"
#include "qemu/queue.h"

struct loom_co;

/* How many finished coroutines a thread keeps for reuse by default. */
#define COROUTINE_POOL_RESERVATION 64

struct Coroutine {
    CoroutineEntry *entry;
    void *entry_arg;
    /* The coroutine that entered this one and waits for it to yield. */
    Coroutine *caller;
    /* Link in the pool of finished coroutines. */
    QSLIST_ENTRY(Coroutine) pool_next;
    /* CoMutex and CoRwlock holds. */
    size_t locks_held;
    /* The context it runs, or last ran, in. */
    AioContext *ctx;
    /* Name of the function that scheduled it, until it runs (or NULL). */
    const char *scheduled;
    /* Link in a CoQueue (or a lock's wake-up list). */
    QSIMPLEQ_ENTRY(Coroutine) co_queue_next;
    /* private: */
    struct loom_co *impl;
    bool entered;
};

#endif /* LOOM_QEMU_COROUTINE_INT_H */
