/* SPDX-License-Identifier: MIT */
/*
 * Internal interface between the RCU reader/grace-period code (rcu.c)
 * and the call_rcu thread (rcu-call.c).
 */
#ifndef LOOM_RCU_INT_H
#define LOOM_RCU_INT_H

#include "base/futex.h"

/*
 * One-time initialisation of the RCU core (membarrier registration, the
 * thread-exit key, fork handlers).  Context: any.
 */
void loom__rcu_init(void);

/*
 * Tests only: make readers use full fences and the writer skip membarrier,
 * as on kernels without MEMBARRIER_CMD_PRIVATE_EXPEDITED.  Must be called
 * before any thread registers as a reader (panics otherwise).
 * Context: any, before any RCU reader exists.
 */
void loom__rcu_test_force_fences(void);

#endif /* LOOM_RCU_INT_H */
