/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: QEMU's clocks and timers (<qemu/timer.h>).
 *
 * The clocks keep QEMU's meanings, which are not loom's names:
 *   QEMU_CLOCK_REALTIME   monotonic host time (loom's LOOM_CLOCK_HOST);
 *   QEMU_CLOCK_HOST       wall-clock time, may jump (LOOM_CLOCK_REALTIME);
 *   QEMU_CLOCK_VIRTUAL    the machine's time, stopped while the VM is
 *                         stopped (LOOM_CLOCK_VIRTUAL);
 *   QEMU_CLOCK_VIRTUAL_RT the same on loom (there is no icount).
 *
 * A timer belongs to an AioContext (aio_timer_new(), aio_timer_init()) or
 * to the main loop's context (timer_new_*(), timer_init*()); its callback
 * runs in that context's home thread.  Deadlines are in the timer's scale
 * (SCALE_NS/US/MS) except for the _ns functions.  Timers may be armed and
 * deleted from any thread, never fire early, and fire once per arming.
 */
#ifndef LOOM_QEMU_TIMER_H
#define LOOM_QEMU_TIMER_H

#include <stdbool.h>
#include <stdint.h>

#include "qemu/queue.h"
#include "qemu/thread.h"
#include "qemu/typedefs.h"

struct loom_timer;

#define NANOSECONDS_PER_SECOND 1000000000LL
#define SCALE_MS 1000000
#define SCALE_US 1000
#define SCALE_NS 1

/* Timer attributes (accepted and kept; loom gives them no meaning). */
#define QEMU_TIMER_ATTR_EXTERNAL 1
#define QEMU_TIMER_ATTR_ALL 0xffffffff

typedef enum {
    QEMU_CLOCK_REALTIME = 0,
    QEMU_CLOCK_VIRTUAL = 1,
    QEMU_CLOCK_HOST = 2,
    QEMU_CLOCK_VIRTUAL_RT = 3,
    QEMU_CLOCK_MAX
} QEMUClockType;

typedef void QEMUTimerCB(void *opaque);

/* Called by QEMU when the earliest deadline of a timer list changes. */
typedef void QEMUTimerListNotifyCB(void *opaque, QEMUClockType type);

/*
 * The timers of one AioContext (QEMU has one list per clock; loom keeps
 * them in per-clock heaps of the context's loop).  Tracked so that the
 * context can release timers that were never deinitialised.
 */
struct QEMUTimerListGroup {
    /* private: */
    QemuMutex lock;
    QLIST_HEAD(, QEMUTimer) timers;
    AioContext *ctx;
};

struct QEMUTimer {
    QEMUTimerCB *cb;
    void *opaque;
    int scale;
    int attributes;
    /* private: */
    struct loom_timer *impl;
    QEMUTimerListGroup *tlg;
    QEMUClockType type;
    QLIST_ENTRY(QEMUTimer) link;
};

/** qemu_clock_get_ns() - read a clock, in nanoseconds.  Context: any. */
int64_t qemu_clock_get_ns(QEMUClockType type);

static inline int64_t qemu_clock_get_us(QEMUClockType type)
{
    return qemu_clock_get_ns(type) / SCALE_US;
}

static inline int64_t qemu_clock_get_ms(QEMUClockType type)
{
    return qemu_clock_get_ns(type) / SCALE_MS;
}

/**
 * init_clocks() - QEMU's start-up of the clocks.
 * @notify_cb: QEMU calls it to wake the main loop when a main-loop timer's
 *             deadline moves earlier; loom loops wake themselves for their
 *             timers, so it is accepted and never called.
 *
 * loom's clocks need no set-up: this only exists so that QEMU code that
 * calls it (before or without qemu_init_main_loop()) builds.
 * Context: any.
 */
static inline void init_clocks(QEMUTimerListNotifyCB *notify_cb)
{
    (void)notify_cb;
}

/** get_clock() - monotonic host time in ns (QEMU_CLOCK_REALTIME). */
int64_t get_clock(void);
/** get_clock_realtime() - wall-clock time in ns (QEMU_CLOCK_HOST). */
int64_t get_clock_realtime(void);

/**
 * timer_init_full() - initialise an embedded timer.
 * @ts: the timer.
 * @timer_list_group: the context's group (aio_timer_init() passes it), or
 *                    NULL for the main loop's context.
 * @type: its clock.
 * @scale: SCALE_NS, SCALE_US or SCALE_MS: the unit of timer_mod().
 * @attributes: QEMU_TIMER_ATTR_* (kept, not interpreted).
 * @cb: the callback; runs in the context's home thread.
 * @opaque: passed to @cb.
 *
 * Release it with timer_deinit() (or let its context go first: the
 * context releases timers that are not armed, and aborts on armed ones,
 * as QEMU does).  Aborts when out of memory, on a bad @type, or, with a
 * NULL group, before qemu_init_main_loop().
 *
 * Context: any.
 */
void timer_init_full(QEMUTimer *ts, QEMUTimerListGroup *timer_list_group,
                     QEMUClockType type, int scale, int attributes,
                     QEMUTimerCB *cb, void *opaque);

static inline void timer_init(QEMUTimer *ts, QEMUClockType type, int scale,
                              QEMUTimerCB *cb, void *opaque)
{
    timer_init_full(ts, NULL, type, scale, 0, cb, opaque);
}

static inline void timer_init_ns(QEMUTimer *ts, QEMUClockType type,
                                 QEMUTimerCB *cb, void *opaque)
{
    timer_init(ts, type, SCALE_NS, cb, opaque);
}

static inline void timer_init_us(QEMUTimer *ts, QEMUClockType type,
                                 QEMUTimerCB *cb, void *opaque)
{
    timer_init(ts, type, SCALE_US, cb, opaque);
}

static inline void timer_init_ms(QEMUTimer *ts, QEMUClockType type,
                                 QEMUTimerCB *cb, void *opaque)
{
    timer_init(ts, type, SCALE_MS, cb, opaque);
}

/** timer_new_full() - allocate and timer_init_full() a timer. */
QEMUTimer *timer_new_full(QEMUTimerListGroup *timer_list_group,
                          QEMUClockType type, int scale, int attributes,
                          QEMUTimerCB *cb, void *opaque);

static inline QEMUTimer *timer_new(QEMUClockType type, int scale,
                                   QEMUTimerCB *cb, void *opaque)
{
    return timer_new_full(NULL, type, scale, 0, cb, opaque);
}

static inline QEMUTimer *timer_new_ns(QEMUClockType type, QEMUTimerCB *cb,
                                      void *opaque)
{
    return timer_new(type, SCALE_NS, cb, opaque);
}

static inline QEMUTimer *timer_new_us(QEMUClockType type, QEMUTimerCB *cb,
                                      void *opaque)
{
    return timer_new(type, SCALE_US, cb, opaque);
}

static inline QEMUTimer *timer_new_ms(QEMUClockType type, QEMUTimerCB *cb,
                                      void *opaque)
{
    return timer_new(type, SCALE_MS, cb, opaque);
}

/** timer_deinit() - delete @ts and release what timer_init*() took. */
void timer_deinit(QEMUTimer *ts);

/** timer_free() - timer_deinit() and free a timer from timer_new*(). */
void timer_free(QEMUTimer *ts);

/** timer_del() - disarm @ts (no-op if not armed).  Context: any. */
void timer_del(QEMUTimer *ts);

/** timer_mod_ns() - arm @ts for absolute time @expire_time (ns). */
void timer_mod_ns(QEMUTimer *ts, int64_t expire_time);

/** timer_mod() - arm @ts for absolute time @expire_time (its scale). */
void timer_mod(QEMUTimer *ts, int64_t expire_time);

/** timer_mod_anticipate_ns() - arm, or only move earlier if armed. */
void timer_mod_anticipate_ns(QEMUTimer *ts, int64_t expire_time);

/** timer_mod_anticipate() - as timer_mod_anticipate_ns(), in its scale. */
void timer_mod_anticipate(QEMUTimer *ts, int64_t expire_time);

/** timer_pending() - armed and not yet fired. */
bool timer_pending(QEMUTimer *ts);

/** timer_expired() - armed with a deadline <= @current_time (its scale). */
bool timer_expired(QEMUTimer *timer_head, int64_t current_time);

/** timer_expire_time_ns() - the deadline in ns, or -1 if not armed. */
uint64_t timer_expire_time_ns(QEMUTimer *ts);

#endif /* LOOM_QEMU_TIMER_H */
