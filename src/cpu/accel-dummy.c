/* SPDX-License-Identifier: MIT */
/*
 * The dummy accelerator: "guest code" is either a wait for a kick or a
 * test-supplied step function called in a loop, inside the exec bracket,
 * until it asks to leave or a kick arrives.  exec runs on the vCPU's
 * thread; kick comes from any thread (also signal handlers): it is one
 * atomic store and an event set.  A kick is remembered until an exec
 * consumes it, so a kick that lands just before exec is not lost.
 *
 * Its per-vCPU state is its own (struct dummy_vcpu), hung on the vCPU's
 * lib_accel pointer by loom_cpu_new() (loom__accel_lib_attach()), so that
 * a kick never allocates and is never lost; the vCPU frees it.  Programs
 * may copy the dummy's ops and change some: the state goes with exec.
 */
#include <loom/cpu.h>

#include <errno.h>
#include <stdlib.h>

#include "base/atomic.h"
#include "base/check.h"
#include "cpu/cpu-int.h"

struct dummy_vcpu {
    /* Atomic. */
    loom_dummy_step_fn *step;
    void *opaque;
    bool kick;
    struct loom_event ev;
};

static int dummy_exec(struct loom_cpu *cpu);

int loom__accel_lib_attach(struct loom_cpu *cpu)
{
    struct dummy_vcpu *d;

    if (cpu->ops->exec != dummy_exec) {
        return 0;
    }
    d = calloc(1, sizeof(*d));
    if (!d) {
        return -ENOMEM;
    }
    loom_event_init(&d->ev, false);
    cpu->lib_accel = d;
    return 0;
}

static int dummy_exec(struct loom_cpu *cpu)
{
    struct dummy_vcpu *d = cpu->lib_accel;
    loom_dummy_step_fn *step = loom__atomic_read(&d->step);
    void *opaque = loom__atomic_read(&d->opaque);
    int ret = LOOM_EXIT_KICKED;

    loom_cpu_exec_start(cpu);
    if (step) {
        for (;;) {
            int r;

            /* Pairs with the exchange in dummy_kick(). */
            if (loom__atomic_load_seq(&d->kick) &&
                loom__atomic_xchg(&d->kick, false)) {
                break;
            }
            r = step(cpu, opaque);
            if (r != 0) {
                ret = r;
                break;
            }
        }
    } else {
        for (;;) {
            if (loom__atomic_xchg(&d->kick, false)) {
                break;
            }
            loom_event_reset(&d->ev);
            /* Pairs with the exchange in dummy_kick(). */
            if (loom__atomic_load_seq(&d->kick)) {
                continue;
            }
            loom_event_wait(&d->ev);
        }
    }
    loom_cpu_exec_end(cpu);
    return ret;
}

static void dummy_kick(struct loom_cpu *cpu)
{
    struct dummy_vcpu *d = cpu->lib_accel;

    /* NULL: a program's kick in dummy ops it combined with its own exec. */
    if (d) {
        /* Pairs with the loads in dummy_exec(). */
        (void)loom__atomic_xchg(&d->kick, true);
        loom_event_set(&d->ev);
    }
}

const struct loom_accel_ops loom_accel_dummy = {
    .thread_mode = LOOM_THREAD_PER_VCPU,
    .exec = dummy_exec,
    .kick = dummy_kick,
};

const struct loom_accel_ops loom_accel_dummy_rr = {
    .thread_mode = LOOM_THREAD_ROUND_ROBIN,
    .exec = dummy_exec,
    .kick = dummy_kick,
};

void loom_accel_dummy_set_step(struct loom_cpu *cpu, loom_dummy_step_fn *fn,
                               void *opaque)
{
    struct dummy_vcpu *d;

    /* NULL state: not a vCPU of the dummy accelerator. */
    if (!cpu || !(d = cpu->lib_accel)) {
        return;
    }
    loom__atomic_set(&d->opaque, opaque);
    loom__atomic_set(&d->step, fn);
}
