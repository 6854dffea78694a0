/* SPDX-License-Identifier: MIT */
/*
 * Run state: pause and resume every vCPU, stop and start the VM (with
 * LOOM_CLOCK_VIRTUAL) and the state-change notifiers.  Entered from any
 * thread but vCPU threads; operations are serialised by g_runstate_lock,
 * which is only ever taken after dropping the BQL, so a vCPU that needs
 * the BQL to reach its safe point always can.  A pause asks each vCPU to
 * stop (cpu->stop) and waits on loom__cpu_pause_cond until each started
 * vCPU reports cpu->stopped or dies; both flags change under
 * loom__cpu_list_lock, the mutex of that condition, so no report is lost.
 */
#include <loom/cpu.h>

#include <errno.h>
#include <stdlib.h>

#include <loom/clock.h>
#include <loom/main.h>

#include "base/atomic.h"
#include "base/check.h"
#include "base/list.h"
#include "cpu/cpu-int.h"

struct loom_vm_state_notifier {
    struct loom__list link;
    loom_vm_state_fn *fn;
    void *opaque;
};

/* Serialises pause/resume/stop/start; never taken with the BQL held. */
static struct loom_mutex g_runstate_lock = LOOM_MUTEX_INITIALIZER;
/* Notifier list; held while notifiers run (BQL -> this order). */
static struct loom_mutex g_notifier_lock = LOOM_MUTEX_INITIALIZER;
static struct loom__list g_notifiers = LOOM__LIST_INIT(g_notifiers);

/* Protected by loom__cpu_list_lock: vCPUs started now start stopped. */
static bool g_paused;
/* Atomic; written under g_runstate_lock. */
static bool g_vm_running = true;
static int g_stop_reason;

/* Whether the calling thread is running state-change notifiers. */
static __thread bool t_in_notifier;

bool loom__cpu_paused(void)
{
    return g_paused;
}

bool loom__cpu_vm_running(void)
{
    return loom__atomic_load_seq(&g_vm_running);
}

bool loom_vm_running(void)
{
    return loom__cpu_vm_running();
}

int loom_vm_stop_reason(void)
{
    return loom__atomic_load_seq(&g_stop_reason);
}

/* Which contract does calling a run-state function here break?  NULL if
 * none. */
static const char *runstate_misuse(void)
{
    if (loom__current_cpu != NULL || loom__current_rr != NULL) {
        return "called from a vCPU thread";
    }
    if (t_in_notifier) {
        return "called from a state-change notifier";
    }
    if (loom__in_exclusive()) {
        return "called inside an exclusive section";
    }
    return NULL;
}

/* Drop the BQL (if held) and take the run-state lock; returns the BQL. */
static bool runstate_lock(void)
{
    bool bql = loom_bql_locked();

    if (bql) {
        loom_bql_unlock();
    }
    loom_mutex_lock(&g_runstate_lock);
    return bql;
}

static bool all_stopped_locked(void)
{
    struct loom_cpu *cpu;

    LOOM_RCU_LIST_FOREACH(cpu, &loom__cpu_list, node) {
        if (loom__atomic_read(&cpu->state) == CPU_RUNNING &&
            !loom__atomic_read(&cpu->stopped)) {
            return false;
        }
    }
    return true;
}

/* g_runstate_lock held, BQL not held. */
static void pause_locked(void)
{
    struct loom_cpu *cpu;

    loom_mutex_lock(&loom__cpu_list_lock);
    g_paused = true;
    LOOM_RCU_LIST_FOREACH(cpu, &loom__cpu_list, node) {
        /* A RUNNING vCPU cannot die meanwhile: that needs this lock. */
        if (loom__atomic_read(&cpu->state) == CPU_RUNNING &&
            !loom__atomic_read(&cpu->stopped)) {
            loom__atomic_store_seq(&cpu->stop, true);
            loom__cpu_kick(cpu);
        }
    }
    while (!all_stopped_locked()) {
        loom_cond_wait(&loom__cpu_pause_cond, &loom__cpu_list_lock);
    }
    loom_mutex_unlock(&loom__cpu_list_lock);
}

/* g_runstate_lock held. */
static void resume_locked(void)
{
    struct loom_cpu *cpu;

    loom_mutex_lock(&loom__cpu_list_lock);
    g_paused = false;
    LOOM_RCU_LIST_FOREACH(cpu, &loom__cpu_list, node) {
        loom__atomic_store_seq(&cpu->stop, false);
        loom__atomic_store_seq(&cpu->stopped, false);
        /* Pairs with loom_event_reset() + loom__cpu_idle() in the loop. */
        if (loom__atomic_read(&cpu->state) == CPU_RUNNING) {
            loom__cpu_wake_thread(cpu);
        }
    }
    loom_mutex_unlock(&loom__cpu_list_lock);
}

void loom_pause_all_vcpus(void)
{
    const char *bad = runstate_misuse();
    bool bql;

    if (bad) {
        loom__panic("loom_pause_all_vcpus: %s", bad);
    }
    bql = runstate_lock();
    pause_locked();
    loom_mutex_unlock(&g_runstate_lock);
    if (bql) {
        loom_bql_lock();
    }
}

void loom_resume_all_vcpus(void)
{
    const char *bad = runstate_misuse();
    bool bql;

    if (bad) {
        loom__panic("loom_resume_all_vcpus: %s", bad);
    }
    bql = runstate_lock();
    resume_locked();
    loom_mutex_unlock(&g_runstate_lock);
    if (bql) {
        loom_bql_lock();
    }
}

/* Call the notifiers; start: registration order, stop: reverse. */
static void notify(bool running, int reason)
{
    struct loom__list *pos;

    loom_mutex_lock(&g_notifier_lock);
    t_in_notifier = true;
    if (running) {
        for (pos = g_notifiers.next; pos != &g_notifiers; pos = pos->next) {
            struct loom_vm_state_notifier *n =
                loom__list_entry(pos, struct loom_vm_state_notifier, link);

            n->fn(n->opaque, running, reason);
        }
    } else {
        for (pos = g_notifiers.prev; pos != &g_notifiers; pos = pos->prev) {
            struct loom_vm_state_notifier *n =
                loom__list_entry(pos, struct loom_vm_state_notifier, link);

            n->fn(n->opaque, running, reason);
        }
    }
    t_in_notifier = false;
    loom_mutex_unlock(&g_notifier_lock);
}

int loom_vm_stop(int reason)
{
    bool bql;

    if (runstate_misuse()) {
        return -EDEADLK;
    }
    bql = runstate_lock();
    if (!loom__atomic_read(&g_vm_running)) {
        loom_mutex_unlock(&g_runstate_lock);
        if (bql) {
            loom_bql_lock();
        }
        return 0;
    }
    /* Freeze guest time first, so no vCPU sees it move while stopping. */
    loom_clock_virtual_stop();
    pause_locked();
    loom__atomic_store_seq(&g_stop_reason, reason);
    loom__atomic_store_seq(&g_vm_running, false);
    if (bql) {
        loom_bql_lock();
    }
    notify(false, reason);
    loom_mutex_unlock(&g_runstate_lock);
    return 0;
}

int loom_vm_start(void)
{
    bool bql;

    if (runstate_misuse()) {
        return -EDEADLK;
    }
    bql = runstate_lock();
    if (loom__atomic_read(&g_vm_running)) {
        loom_mutex_unlock(&g_runstate_lock);
        if (bql) {
            loom_bql_lock();
        }
        return 0;
    }
    loom__atomic_store_seq(&g_stop_reason, 0);
    loom__atomic_store_seq(&g_vm_running, true);
    loom_clock_virtual_start();
    if (bql) {
        loom_bql_lock();
    }
    /* Devices learn that the VM runs before the vCPUs do. */
    notify(true, 0);
    resume_locked();
    loom_mutex_unlock(&g_runstate_lock);
    return 0;
}

int loom_vm_add_state_notifier(loom_vm_state_fn *fn, void *opaque,
                               struct loom_vm_state_notifier **ret)
{
    struct loom_vm_state_notifier *n;

    LOOM_CHECK(fn != NULL && ret != NULL, -EINVAL);
    if (t_in_notifier) {
        return -EDEADLK;
    }
    n = calloc(1, sizeof(*n));
    if (!n) {
        return -ENOMEM;
    }
    n->fn = fn;
    n->opaque = opaque;
    loom_mutex_lock(&g_notifier_lock);
    loom__list_add_tail(&g_notifiers, &n->link);
    loom_mutex_unlock(&g_notifier_lock);
    *ret = n;
    return 0;
}

void loom_vm_remove_state_notifier(struct loom_vm_state_notifier *n)
{
    if (!n) {
        return;
    }
    if (t_in_notifier) {
        loom__panic("loom_vm_remove_state_notifier: called from a "
                   "state-change notifier");
    }
    loom_mutex_lock(&g_notifier_lock);
    loom__list_del(&n->link);
    loom_mutex_unlock(&g_notifier_lock);
    free(n);
}
