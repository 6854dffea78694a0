/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: QEMU's RCU API (<qemu/rcu.h>) on loom's RCU (<loom/rcu.h>).
 *
 * rcu_read_lock()/rcu_read_unlock() nest and never block; synchronize_rcu()
 * waits for every reader that was inside a section when it was called;
 * call_rcu() runs a callback on loom's call_rcu thread after a grace
 * period.  Threads register on their first read section (explicit
 * rcu_register_thread() is accepted, as QEMU code does it).
 */
#ifndef LOOM_QEMU_RCU_H
#define LOOM_QEMU_RCU_H

#include <stddef.h>

#include <loom/rcu.h>

#include "qemu/atomic.h"
#include "qemu/compiler.h"

struct rcu_head;

/* Callback of call_rcu1(). */
typedef void RCUCBFunc(struct rcu_head *head);

/*
 * struct rcu_head - embed in an object reclaimed with call_rcu(); put it
 * first in the struct (call_rcu() and g_free_rcu() check this).
 */
struct rcu_head {
    /* private: */
    struct loom_rcu_head loom;
    RCUCBFunc *func;
};

static inline void rcu_read_lock(void)
{
    loom_rcu_read_lock();
}

static inline void rcu_read_unlock(void)
{
    loom_rcu_read_unlock();
}

static inline void synchronize_rcu(void)
{
    loom_synchronize_rcu();
}

static inline void rcu_register_thread(void)
{
    loom_rcu_register_thread();
}

static inline void rcu_unregister_thread(void)
{
    loom_rcu_unregister_thread();
}

static inline void drain_call_rcu(void)
{
    loom_drain_call_rcu();
}

/*
 * QEMU lets a daemon turn its fork handlers off; loom's RCU always keeps
 * the child consistent (see <loom/rcu.h>), so there is nothing to switch.
 */
static inline void rcu_enable_atfork(void)
{
}

static inline void rcu_disable_atfork(void)
{
}

/**
 * call_rcu1() - run @func(@head) after a grace period.
 * @head: embedded in the object to reclaim; not queued already.
 * @func: called on the call_rcu thread.
 *
 * Context: any (also inside a read section).
 */
void call_rcu1(struct rcu_head *head, RCUCBFunc *func);

/**
 * call_rcu() - call_rcu1() with a callback typed for the object.
 * @head: pointer to the object (not to its rcu_head).
 * @func: void func(typeof(head)).
 * @field: the struct rcu_head member; must be the first member.
 */
#define call_rcu(head, func, field)                                           \
    call_rcu1(({                                                              \
                  _Static_assert(offsetof(__typeof__(*(head)), field) == 0,   \
                                 "call_rcu: rcu_head must come first");       \
                  (void)sizeof((func) == (void (*)(__typeof__(head)))0);      \
                  &(head)->field;                                             \
              }),                                                             \
              (RCUCBFunc *)(void (*)(void))(func))

/* private: the g_free_rcu() callback. */
void loom_q_rcu_g_free(struct rcu_head *head);

/**
 * g_free_rcu() - g_free() an object after a grace period.
 * @obj: the object.
 * @field: its struct rcu_head member; must be the first member.
 */
#define g_free_rcu(obj, field)                                                \
    call_rcu1(({                                                              \
                  _Static_assert(offsetof(__typeof__(*(obj)), field) == 0,    \
                                 "g_free_rcu: rcu_head must come first");     \
                  &(obj)->field;                                              \
              }),                                                             \
              loom_q_rcu_g_free)

/* private: ends the read section of RCU_READ_LOCK_GUARD(). */
static inline void loom_q_rcu_guard_end(int *unused)
{
    (void)unused;
    rcu_read_unlock();
}

#define LOOM_Q_RCU_GUARD_VAR(var)                                             \
    int var __attribute__((cleanup(loom_q_rcu_guard_end), unused)) =          \
        (rcu_read_lock(), 0)

/* A read section from here to the end of the enclosing scope. */
#define RCU_READ_LOCK_GUARD() LOOM_Q_RCU_GUARD_VAR(QEMU_UNIQUE_ID(rcu_guard))

#define LOOM_Q_WITH_RCU(var)                                                  \
    for (int var __attribute__((cleanup(loom_q_rcu_guard_end))) =             \
             (rcu_read_lock(), 1);                                            \
         var; var = 0)

/* A read section around the following statement (break leaves it too). */
#define WITH_RCU_READ_LOCK_GUARD() LOOM_Q_WITH_RCU(QEMU_UNIQUE_ID(rcu_with))

#endif /* LOOM_QEMU_RCU_H */
