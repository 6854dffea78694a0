/* SPDX-License-Identifier: MIT */
/*
 * Process-wide memory barriers through membarrier(2) (internal), written
 * once for RCU and the timers' home-thread fast path: a thread that
 * calls loom__membarrier() knows that every other running thread of the
 * process executed a full barrier between the call's start and its
 * return, so those threads may use compiler barriers alone on their side
 * of a Dekker-style handshake (an asymmetric fence).
 */
#ifndef LOOM_BASE_MEMBARRIER_H
#define LOOM_BASE_MEMBARRIER_H

#include <stdbool.h>

/*
 * loom__membarrier_init() - query and register MEMBARRIER_CMD_PRIVATE_
 * EXPEDITED, once per process.
 * Context: any.
 * Return: true if loom__membarrier() may be used.
 */
bool loom__membarrier_init(void);

/*
 * loom__membarrier() - the process-wide barrier.  Panics if it fails after
 * a successful loom__membarrier_init() (it cannot, short of a kernel bug).
 * Context: any, after loom__membarrier_init() returned true.
 */
void loom__membarrier(void);

#endif /* LOOM_BASE_MEMBARRIER_H */
