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

/*
 * Tests only: queue @head with @fn as loom_call_rcu() does, but stop
 * after the exchange of the tail, as a producer preempted before its link
 * would; return the field the link would go to.  The caller links it
 * (loom__atomic_store_release(ret, head)) to finish the call.
 * Context: any.
 */
struct loom_rcu_head;
struct loom_rcu_head **loom__call_rcu_test_unlinked(struct loom_rcu_head *head,
                                                    void (*fn)(
                                                        struct loom_rcu_head *));

#endif /* LOOM_RCU_INT_H */
