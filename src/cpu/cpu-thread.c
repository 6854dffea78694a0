/* SPDX-License-Identifier: MIT */
/*
 * LOOM_THREAD_PER_VCPU: each vCPU has its own thread, "vcpu-<index>",
 * which runs the shared loop steps (cpu-exec.c) and sleeps on the vCPU's
 * own event when it has nothing to do.  Start, stop and affinity come
 * from other threads; the loop runs on the vCPU's thread.
 */
#include <loom/cpu.h>

#include <errno.h>
#include <stdio.h>

#include "base/atomic.h"
#include "base/check.h"
#include "cpu/cpu-int.h"


/* Sleep until there is something to do; true once unplugged. */
static bool vcpu_wait_io(struct loom_cpu *cpu)
{
    for (;;) {
        loom__cpu_handle_stop(cpu);
        loom__cpu_process_work(cpu);
        if (loom__atomic_load_seq(&cpu->unplug)) {
            return true;
        }
        loom_event_reset(cpu->wake);
        if (!loom__cpu_idle(cpu)) {
            return false;
        }
        loom_event_wait(cpu->wake);
    }
}

static void *vcpu_thread_fn(void *arg)
{
    struct loom_cpu *cpu = arg;
    int ret = 0;

    loom__current_cpu = cpu;
    if (cpu->ops->init_vcpu) {
        ret = cpu->ops->init_vcpu(cpu);
    }
    cpu->start_ret = ret < 0 ? ret : 0;
    if (ret < 0) {
        loom__current_cpu = NULL;
        /* Pairs with loom_event_wait() in loom_cpu_start(). */
        loom_event_set(&cpu->created_ev);
        return NULL;
    }
    loom__cpu_mark_running(cpu);
    loom_event_set(&cpu->created_ev);

    for (;;) {
        if (loom__cpu_can_run(cpu)) {
            loom__cpu_exec_once(cpu);
        }
        if (vcpu_wait_io(cpu)) {
            break;
        }
    }
    loom__cpu_finish(cpu);
    loom__current_cpu = NULL;
    return NULL;
}

static int per_vcpu_start(struct loom_cpu *cpu)
{
    struct loom_cpuset cpus;
    struct loom_thread *t;
    bool pinned;
    unsigned gen;
    char name[16];
    int ret;

    snprintf(name, sizeof(name), "vcpu-%d", cpu->index);
    loom_mutex_lock(&cpu->lock);
    pinned = cpu->has_affinity;
    cpus = cpu->affinity;
    gen = cpu->affinity_gen;
    loom_mutex_unlock(&cpu->lock);
    ret = loom__thread_create(&t, LOOM_THREAD_KIND_VCPU, name, vcpu_thread_fn,
                              cpu, LOOM_THREAD_JOINABLE,
                              pinned ? &cpus : NULL);
    if (ret < 0) {
        return ret;
    }
    loom_mutex_lock(&cpu->lock);
    cpu->thread = t;
    if (cpu->affinity_gen != gen) {
        /* Changed while the thread was being created: best effort. */
        (void)loom_thread_set_affinity(t, &cpu->affinity);
    }
    loom_mutex_unlock(&cpu->lock);
    /* The "created" handshake: start_ret is written before the set. */
    loom_event_wait(&cpu->created_ev);
    ret = cpu->start_ret;
    if (ret < 0) {
        (void)loom_thread_join(t, NULL);
        loom_mutex_lock(&cpu->lock);
        cpu->thread = NULL;
        loom_mutex_unlock(&cpu->lock);
        loom_event_reset(&cpu->created_ev);
    }
    return ret;
}

static int per_vcpu_set_affinity(struct loom_cpu *cpu,
                                 const struct loom_cpuset *cpus)
{
    int ret;

    ret = loom__cpuset_check(cpus);
    if (ret < 0) {
        return ret;
    }
    loom_mutex_lock(&cpu->lock);
    if (cpu->thread) {
        ret = loom_thread_set_affinity(cpu->thread, cpus);
    }
    if (ret == 0) {
        cpu->affinity = *cpus;
        cpu->has_affinity = true;
        cpu->affinity_gen++;
    }
    loom_mutex_unlock(&cpu->lock);
    return ret;
}

/* The thread saw cpu->unplug: join it. */
static void per_vcpu_stop(struct loom_cpu *cpu)
{
    struct loom_thread *t;

    loom_mutex_lock(&cpu->lock);
    t = cpu->thread;
    cpu->thread = NULL;
    loom_mutex_unlock(&cpu->lock);
    (void)loom_thread_join(t, NULL);
}

static void per_vcpu_kick(struct loom_cpu *cpu)
{
    /* Pairs with the release store in loom__cpu_mark_running(). */
    if (cpu->ops->kick &&
        loom__atomic_load_acquire(&cpu->state) == CPU_RUNNING) {
        cpu->ops->kick(cpu);
    }
}

static bool per_vcpu_is_self(struct loom_cpu *cpu)
{
    return loom__current_cpu == cpu;
}

const struct loom__cpu_mode_ops loom__cpu_mode_per_vcpu = {
    .start = per_vcpu_start,
    .stop = per_vcpu_stop,
    .kick = per_vcpu_kick,
    .is_self = per_vcpu_is_self,
    .set_affinity = per_vcpu_set_affinity,
};
