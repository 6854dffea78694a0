/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: <qemu/coroutine.h>: the core API (<qemu/coroutine-core.h>)
 * plus what needs contexts and timers: sleeping, and the coroutine side
 * of AioContext (aio_co_*, declared in <block/aio.h>).
 */
#ifndef LOOM_QEMU_COROUTINE_H
#define LOOM_QEMU_COROUTINE_H

#include <stdint.h>

#include "block/aio.h"
#include "qemu/coroutine-core.h"
#include "qemu/timer.h"

/* A sleep that another party may end early with qemu_co_sleep_wake(). */
typedef struct QemuCoSleep {
    Coroutine *to_wake;
} QemuCoSleep;

/**
 * qemu_co_sleep_ns_wakeable() - sleep @ns nanoseconds on clock @type in
 * the current context, or until qemu_co_sleep_wake(@w).
 * Context: coroutine, in a thread with a current AioContext.
 */
void coroutine_fn qemu_co_sleep_ns_wakeable(QemuCoSleep *w, QEMUClockType type,
                                            int64_t ns);

/** qemu_co_sleep_ns() - sleep @ns nanoseconds on clock @type. */
void coroutine_fn qemu_co_sleep_ns(QEMUClockType type, int64_t ns);

/** qemu_co_sleep_wake() - end @w's sleep now (no-op if not sleeping). */
void qemu_co_sleep_wake(QemuCoSleep *w);

#endif /* LOOM_QEMU_COROUTINE_H */
