/* SPDX-License-Identifier: MIT */
/*
 * Internal interface of the clocks (src/base/clock.c) for the timers
 * (src/timer/): a hook to wake loops when LOOM_CLOCK_VIRTUAL moves in a way
 * a sleeping loop cannot predict, and whether it follows host time.
 */
#ifndef LOOM_BASE_CLOCK_INT_H
#define LOOM_BASE_CLOCK_INT_H

#include <stdbool.h>

/*
 * loom__clock_set_virtual_hook() - install the one virtual-clock hook.
 * @fn: called after LOOM_CLOCK_VIRTUAL jumped (loom_clock_virtual_step())
 *      or started advancing again (loom_clock_virtual_start(), or
 *      deterministic mode switched off while running), on the thread that
 *      caused it, with no clock lock held, after the new state is visible
 *      to loom_clock_ns().  NULL removes it.
 * Context: any.
 */
void loom__clock_set_virtual_hook(void (*fn)(void));

/*
 * loom__clock_virtual_advancing() - true if LOOM_CLOCK_VIRTUAL moves with
 * host time: it is running and deterministic mode is off.  When false, a
 * VIRTUAL deadline can only be reached through the hook above.
 * Context: any.
 */
bool loom__clock_virtual_advancing(void);

#endif /* LOOM_BASE_CLOCK_INT_H */
