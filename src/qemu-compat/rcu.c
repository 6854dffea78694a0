/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: call_rcu1() with QEMU's struct rcu_head (<qemu/rcu.h>) on
 * loom_call_rcu().  Any thread; callbacks run on loom's call_rcu thread.
 */
#include "qemu/osdep.h"

#include "qemu/rcu.h"

static void rcu_trampoline(struct loom_rcu_head *lh)
{
    struct rcu_head *head = container_of(lh, struct rcu_head, loom);

    head->func(head);
}

void call_rcu1(struct rcu_head *head, RCUCBFunc *func)
{
    head->func = func;
    loom_call_rcu(&head->loom, rcu_trampoline);
}

void loom_q_rcu_g_free(struct rcu_head *head)
{
    g_free(head);
}
