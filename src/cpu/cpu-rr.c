/* SPDX-License-Identifier: MIT */
/*
 * LOOM_THREAD_ROUND_ROBIN: one thread, "vcpu-rr", serves every round-robin
 * vCPU in turn (stop, queued work, one exec each), and sleeps on the
 * group's event when none has anything to do.  A helper thread,
 * "vcpu-rr-kick", ends each exec after the time slice by kicking it, so a
 * spinning vCPU cannot starve the others.  The group is created by the
 * first round-robin loom_cpu_start() and torn down (threads joined, memory
 * reclaimed after a grace period) when its last vCPU is destroyed.
 * Starting and destroying go through the group thread: joiners queue
 * themselves under rr->lock; a destroyed vCPU is let go by the thread,
 * which then sets cpu->gone_ev.
 */
#include <loom/cpu.h>

#include <errno.h>
#include <stdlib.h>

#include <loom/clock.h>

#include "base/atomic.h"
#include "base/check.h"
#include "cpu/cpu-int.h"

struct loom__cpu_rr {
    /* Immutable after creation. */
    struct loom_thread *thread;
    struct loom_thread *kicker;

    /* The group thread sleeps here; every member's cpu->wake. */
    struct loom_event wake_ev;

    /* Protected by ->lock. */
    struct loom_mutex lock;
    struct loom__list joining;

    /* Group thread only. */
    struct loom__list members;

    /* Atomic. */
    bool exit;
    struct loom_cpu *exec_cpu; /* the member inside exec, or NULL */

    /* Time slice, protected by ->klock. */
    struct loom_mutex klock;
    struct loom_cond kcond;
    bool armed;
    bool kicker_idle;
    bool kicker_exit;
    int64_t slice_end;
    struct loom_cpu *slice_cpu;

    /* Protected by g_rr_lock. */
    int ncpus;

    struct loom_rcu_head rcu;
};

/* Protects g_rr and every group's ->ncpus. */
static struct loom_mutex g_rr_lock = LOOM_MUTEX_INITIALIZER;
static struct loom__cpu_rr *g_rr;
/* Atomic. */
static int64_t g_rr_slice_ns = 10 * 1000 * 1000;

int loom_cpu_rr_set_slice(int64_t ns)
{
    LOOM_CHECK(ns > 0, -EINVAL);
    loom__atomic_set(&g_rr_slice_ns, ns);
    return 0;
}

/*
 * Get the group's thread to look at @cpu soon: kick @cpu (the kick is
 * remembered, so if it is about to enter exec it leaves at once) and the
 * vCPU inside exec, if another.  The window where the thread is about to
 * enter exec with another vCPU is closed in rr_exec(): the caller has
 * written what @cpu needs (work, stop, unplug) before loading exec_cpu
 * here, and the thread stores exec_cpu before checking those needs, both
 * seq_cst, so one of the two sees the other.  Context: any, inside an RCU
 * read section (a vCPU is reclaimed after a grace period at worst).
 */
static void rr_poke(struct loom__cpu_rr *rr, struct loom_cpu *cpu)
{
    struct loom_cpu *y;

    if (cpu && cpu->ops->kick) {
        cpu->ops->kick(cpu);
    }
    /* Pairs with the seq_cst store in rr_exec(). */
    y = loom__atomic_load_seq(&rr->exec_cpu);
    if (y && y != cpu && y->ops->kick) {
        y->ops->kick(y);
    }
}

static void rr_kick(struct loom_cpu *cpu)
{
    /* Pairs with the release store in rr_start(). */
    struct loom__cpu_rr *rr = loom__atomic_load_acquire(&cpu->rr);

    if (rr && loom__atomic_load_acquire(&cpu->state) == CPU_RUNNING) {
        rr_poke(rr, cpu);
    }
}

/* Does a member other than @self, or a joiner, need the thread now? */
static bool rr_others_need(struct loom__cpu_rr *rr, struct loom_cpu *self)
{
    struct loom__list *pos;
    bool joiners;

    loom__list_foreach(pos, &rr->members) {
        struct loom_cpu *m = loom__list_entry(pos, struct loom_cpu, rr_link);

        if (m != self && (loom__atomic_load_seq(&m->queue_len) > 0 ||
                          loom__atomic_load_seq(&m->stop) ||
                          loom__atomic_load_seq(&m->unplug))) {
            return true;
        }
    }
    loom_mutex_lock(&rr->lock);
    joiners = !loom__list_empty(&rr->joining);
    loom_mutex_unlock(&rr->lock);
    return joiners;
}

/* Initialise the vCPUs that asked to join; report to their starters. */
static void rr_accept_joiners(struct loom__cpu_rr *rr)
{
    struct loom__list local;

    loom__list_init(&local);
    loom_mutex_lock(&rr->lock);
    loom__list_splice_tail(&local, &rr->joining);
    loom_mutex_unlock(&rr->lock);

    while (!loom__list_empty(&local)) {
        struct loom_cpu *cpu =
            loom__list_first(&local, struct loom_cpu, rr_link);
        int ret = 0;

        loom__list_del(&cpu->rr_link);
        loom__current_cpu = cpu;
        if (cpu->ops->init_vcpu) {
            ret = cpu->ops->init_vcpu(cpu);
        }
        loom__current_cpu = NULL;
        cpu->start_ret = ret < 0 ? ret : 0;
        if (ret >= 0) {
            loom__list_add_tail(&rr->members, &cpu->rr_link);
            loom__cpu_mark_running(cpu);
        }
        /* Pairs with loom_event_wait() in rr_start(). */
        loom_event_set(&cpu->created_ev);
    }
}

static void rr_arm_slice(struct loom__cpu_rr *rr, struct loom_cpu *cpu)
{
    int64_t now = loom_clock_ns(LOOM_CLOCK_HOST);

    loom_mutex_lock(&rr->klock);
    rr->slice_cpu = cpu;
    rr->slice_end = now + loom__atomic_read(&g_rr_slice_ns);
    rr->armed = true;
    if (rr->kicker_idle) {
        loom_cond_signal(&rr->kcond);
    }
    loom_mutex_unlock(&rr->klock);
}

/* One exec of @cpu within a time slice. */
static void rr_exec(struct loom__cpu_rr *rr, struct loom_cpu *cpu)
{
    if (!cpu->ops->kick) {
        /* Nothing could end the slice: exec must return by itself. */
        loom__cpu_exec_once(cpu);
        return;
    }
    rr_arm_slice(rr, cpu);
    /* Pairs with the seq_cst load in rr_poke(). */
    loom__atomic_store_seq(&rr->exec_cpu, cpu);
    if (rr_others_need(rr, cpu)) {
        /* Their poke may have missed us: leave exec at once. */
        cpu->ops->kick(cpu);
    }
    loom__cpu_exec_once(cpu);
    loom__atomic_store_seq(&rr->exec_cpu, NULL);

    /* After this the kicker no longer touches @cpu. */
    loom_mutex_lock(&rr->klock);
    rr->armed = false;
    rr->slice_cpu = NULL;
    loom_mutex_unlock(&rr->klock);
}

/* Let go of a destroyed member and tell rr_stop(). */
static void rr_release(struct loom_cpu *cpu)
{
    loom__list_del(&cpu->rr_link);
    loom__cpu_finish(cpu);
    loom__current_cpu = NULL;
    /* The destroyer frees @cpu after a grace period: stay in one. */
    loom_rcu_read_lock();
    loom_event_set(&cpu->gone_ev);
    loom_rcu_read_unlock();
}

/* Serve every member once; true if one of them ran guest code. */
static bool rr_round(struct loom__cpu_rr *rr)
{
    struct loom__list *pos, *tmp;
    bool progress = false;

    loom__list_foreach_safe(pos, tmp, &rr->members) {
        struct loom_cpu *cpu = loom__list_entry(pos, struct loom_cpu, rr_link);

        loom__current_cpu = cpu;
        loom__cpu_handle_stop(cpu);
        loom__cpu_process_work(cpu);
        if (loom__atomic_load_seq(&cpu->unplug)) {
            rr_release(cpu);
            continue;
        }
        if (loom__cpu_can_run(cpu)) {
            rr_exec(rr, cpu);
            progress = true;
        }
    }
    loom__current_cpu = NULL;
    return progress;
}

/* Sleep unless a member or a joiner needs the thread. */
static void rr_sleep(struct loom__cpu_rr *rr)
{
    struct loom__list *pos;
    bool joiners;

    loom_event_reset(&rr->wake_ev);
    if (loom__atomic_load_seq(&rr->exit)) {
        return;
    }
    loom_mutex_lock(&rr->lock);
    joiners = !loom__list_empty(&rr->joining);
    loom_mutex_unlock(&rr->lock);
    if (joiners) {
        return;
    }
    loom__list_foreach(pos, &rr->members) {
        if (!loom__cpu_idle(loom__list_entry(pos, struct loom_cpu, rr_link))) {
            return;
        }
    }
    loom_event_wait(&rr->wake_ev);
}

static void *rr_thread_fn(void *arg)
{
    struct loom__cpu_rr *rr = arg;

    loom__current_rr = rr;
    while (!loom__atomic_load_seq(&rr->exit)) {
        rr_accept_joiners(rr);
        if (!rr_round(rr)) {
            rr_sleep(rr);
        }
    }
    assert(loom__list_empty(&rr->members));
    loom__current_rr = NULL;
    return NULL;
}

static void *rr_kicker_fn(void *arg)
{
    struct loom__cpu_rr *rr = arg;

    loom_mutex_lock(&rr->klock);
    while (!rr->kicker_exit) {
        int64_t now;

        if (!rr->armed) {
            rr->kicker_idle = true;
            loom_cond_wait(&rr->kcond, &rr->klock);
            rr->kicker_idle = false;
            continue;
        }
        now = loom_clock_ns(LOOM_CLOCK_HOST);
        if (now < rr->slice_end) {
            (void)loom_cond_timedwait(&rr->kcond, &rr->klock,
                                      rr->slice_end - now);
            continue;
        }
        /*
         * Slice over.  @slice_cpu stays valid while armed under klock.
         */
        rr->armed = false;
        loom__atomic_add_relaxed(&rr->slice_cpu->stats.kicks, 1);
        rr->slice_cpu->ops->kick(rr->slice_cpu);
    }
    loom_mutex_unlock(&rr->klock);
    return NULL;
}

static void rr_free_rcu(struct loom_rcu_head *head)
{
    struct loom__cpu_rr *rr = loom__container_of(head, struct loom__cpu_rr,
                                                rcu);

    loom_mutex_destroy(&rr->lock);
    loom_mutex_destroy(&rr->klock);
    loom_cond_destroy(&rr->kcond);
    loom_event_destroy(&rr->wake_ev);
    free(rr);
}

/* Stop and join a group's threads; reclaim it after a grace period. */
static void rr_teardown(struct loom__cpu_rr *rr)
{
    loom__atomic_store_seq(&rr->exit, true);
    loom_event_set(&rr->wake_ev);
    if (rr->thread) {
        (void)loom_thread_join(rr->thread, NULL);
    }
    loom_mutex_lock(&rr->klock);
    rr->kicker_exit = true;
    loom_cond_signal(&rr->kcond);
    loom_mutex_unlock(&rr->klock);
    if (rr->kicker) {
        (void)loom_thread_join(rr->kicker, NULL);
    }
    /* Kickers may still hold cpu->wake == &rr->wake_ev in a section. */
    loom_call_rcu(&rr->rcu, rr_free_rcu);
}

static int rr_create(struct loom__cpu_rr **ret)
{
    struct loom__cpu_rr *rr = calloc(1, sizeof(*rr));
    int err;

    if (!rr) {
        return -ENOMEM;
    }
    loom_event_init(&rr->wake_ev, false);
    loom_mutex_init(&rr->lock);
    loom_mutex_init(&rr->klock);
    loom_cond_init(&rr->kcond);
    loom__list_init(&rr->joining);
    loom__list_init(&rr->members);
    err = loom__thread_create(&rr->thread, LOOM_THREAD_KIND_VCPU, "vcpu-rr",
                              rr_thread_fn, rr, LOOM_THREAD_JOINABLE, NULL);
    if (err == 0) {
        err = loom__thread_create(&rr->kicker, LOOM_THREAD_KIND_VCPU_KICKER,
                                  "vcpu-rr-kick", rr_kicker_fn, rr,
                                  LOOM_THREAD_JOINABLE, NULL);
    }
    if (err < 0) {
        rr_teardown(rr);
        return err;
    }
    *ret = rr;
    return 0;
}

/* Drop a vCPU's reference to its group; the last one tears it down. */
static void rr_put(struct loom__cpu_rr *rr)
{
    bool last;

    loom_mutex_lock(&g_rr_lock);
    last = --rr->ncpus == 0;
    if (last && g_rr == rr) {
        g_rr = NULL;
    }
    loom_mutex_unlock(&g_rr_lock);
    if (last) {
        rr_teardown(rr);
    }
}

static int rr_start(struct loom_cpu *cpu)
{
    struct loom__cpu_rr *rr;
    int ret;

    loom_mutex_lock(&g_rr_lock);
    if (!g_rr) {
        ret = rr_create(&g_rr);
        if (ret < 0) {
            loom_mutex_unlock(&g_rr_lock);
            return ret;
        }
    }
    rr = g_rr;
    rr->ncpus++;
    loom_mutex_unlock(&g_rr_lock);

    loom__atomic_store_release(&cpu->wake, &rr->wake_ev);
    /* Pairs with the acquire load in rr_kick(). */
    loom__atomic_store_release(&cpu->rr, rr);
    loom_mutex_lock(&rr->lock);
    loom__list_add_tail(&rr->joining, &cpu->rr_link);
    loom_mutex_unlock(&rr->lock);
    loom_event_set(&rr->wake_ev);
    loom_rcu_read_lock();
    rr_poke(rr, NULL);
    loom_rcu_read_unlock();

    /* The "created" handshake; start_ret is written before the set. */
    loom_event_wait(&cpu->created_ev);
    ret = cpu->start_ret;
    if (ret < 0) {
        loom_event_reset(&cpu->created_ev);
        loom__atomic_store_release(&cpu->rr, NULL);
        loom__atomic_store_release(&cpu->wake, &cpu->own_ev);
        rr_put(rr);
    }
    return ret;
}

static void rr_stop(struct loom_cpu *cpu)
{
    /* The group thread sees cpu->unplug and calls rr_release(). */
    loom_event_wait(&cpu->gone_ev);
    rr_put(loom__atomic_read(&cpu->rr));
}

static bool rr_is_self(struct loom_cpu *cpu)
{
    return loom__current_rr != NULL &&
           loom__current_rr == loom__atomic_load_acquire(&cpu->rr);
}

/* The thread serves every round-robin vCPU: pinning one would pin all. */
static int rr_set_affinity(struct loom_cpu *cpu,
                           const struct loom_cpuset *cpus)
{
    return -ENOTSUP;
}

const struct loom__cpu_mode_ops loom__cpu_mode_rr = {
    .start = rr_start,
    .stop = rr_stop,
    .kick = rr_kick,
    .is_self = rr_is_self,
    .set_affinity = rr_set_affinity,
};
