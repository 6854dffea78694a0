/* SPDX-License-Identifier: MIT */
/*
 * Clocks: wall-clock time, the host's monotonic time and the virtual clock
 * of the emulated machine.
 *
 * LOOM_CLOCK_VIRTUAL starts equal to LOOM_CLOCK_HOST and advances with it,
 * except while it is stopped (loom_clock_virtual_stop(), called by
 * loom_vm_stop()): the time spent stopped is subtracted, so it never jumps
 * when it starts again.  In deterministic mode (tests) it holds its value
 * and moves only by loom_clock_virtual_step().  It never goes backwards.
 */
#ifndef LOOM_CLOCK_H
#define LOOM_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

#include <loom/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * enum loom_clock - the clocks loom_clock_ns() and timers measure.
 * @LOOM_CLOCK_REALTIME: wall-clock time (CLOCK_REALTIME); may jump.
 * @LOOM_CLOCK_HOST: monotonic host time (CLOCK_MONOTONIC).
 * @LOOM_CLOCK_VIRTUAL: the machine's time: host time minus the time the
 *                      virtual clock spent stopped; see the file comment.
 */
enum loom_clock {
    LOOM_CLOCK_REALTIME,
    LOOM_CLOCK_HOST,
    LOOM_CLOCK_VIRTUAL,
};

/** LOOM_CLOCK_MAX - number of clocks (for arrays indexed by clock). */
#define LOOM_CLOCK_MAX 3

/**
 * loom_clock_ns() - read a clock.
 * @clock: which clock.
 *
 * Lock-free; LOOM_CLOCK_HOST and LOOM_CLOCK_VIRTUAL cost one vDSO
 * clock_gettime() each.  Not async-signal-safe for VIRTUAL (a handler
 * interrupting a stop/start/step on its own thread would spin).
 *
 * Context: any.
 * Return: nanoseconds (REALTIME since the Unix epoch, HOST since an
 * arbitrary point), or -EINVAL for an invalid @clock.
 */
LOOM_API int64_t loom_clock_ns(enum loom_clock clock);

/**
 * loom_clock_virtual_stop() - stop LOOM_CLOCK_VIRTUAL.
 *
 * From now on it holds its current value.  Idempotent.  Called by
 * loom_vm_stop().
 *
 * Context: any.
 */
LOOM_API void loom_clock_virtual_stop(void);

/**
 * loom_clock_virtual_start() - let LOOM_CLOCK_VIRTUAL advance again.
 *
 * It resumes from the value it held (no jump).  Idempotent.  Unless
 * deterministic mode is on, loops sleeping on VIRTUAL timers are woken so
 * that they recompute their deadlines.  Called by loom_vm_start().
 *
 * Context: any.
 */
LOOM_API void loom_clock_virtual_start(void);

/**
 * loom_clock_virtual_running() - whether LOOM_CLOCK_VIRTUAL is started.
 *
 * Independent of deterministic mode: a started clock in deterministic mode
 * is "running" but only moves by loom_clock_virtual_step().
 *
 * Context: any.
 * Return: false between loom_clock_virtual_stop() and
 * loom_clock_virtual_start(), true otherwise (and initially).
 */
LOOM_API bool loom_clock_virtual_running(void);

/**
 * loom_clock_virtual_set_deterministic() - switch deterministic mode.
 * @on: true to freeze LOOM_CLOCK_VIRTUAL at its current value and let it
 *      move only by loom_clock_virtual_step(); false to let it follow host
 *      time again from its current value (if it is running).
 *
 * Idempotent.  Meant for tests and record/replay.
 *
 * Context: any.
 */
LOOM_API void loom_clock_virtual_set_deterministic(bool on);

/**
 * loom_clock_virtual_step() - advance LOOM_CLOCK_VIRTUAL in deterministic
 * mode.
 * @ns: how far, >= 0.
 *
 * The clock moves by exactly @ns, whether or not it is running; loops
 * sleeping on VIRTUAL timers are woken to run the timers now due.
 *
 * Context: any.
 * Return: 0, or -EINVAL if deterministic mode is off or @ns < 0.
 */
LOOM_API int loom_clock_virtual_step(int64_t ns);

#ifdef __cplusplus
}
#endif

#endif /* LOOM_CLOCK_H */
