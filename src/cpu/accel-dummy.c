/* SPDX-License-Identifier: MIT */
/*
 * The dummy accelerator: "guest code" is either a wait for a kick or a
 * test-supplied step function called in a loop, inside the exec bracket,
 * until it asks to leave or a kick arrives.  exec runs on the vCPU's
 * thread; kick comes from any thread (also signal handlers): it is one
 * atomic store and an event set.  A kick is remembered until an exec
 * consumes it, so a kick that lands just before exec is not lost.
 */
#include <loom/cpu.h>

#include "base/atomic.h"
#include "cpu/cpu-int.h"

static int dummy_exec(struct loom_cpu *cpu)
{
    loom_dummy_step_fn *step = loom_atomic_read(&cpu->dummy_step);
    void *opaque = loom_atomic_read(&cpu->dummy_opaque);
    int ret = LOOM_EXIT_KICKED;

    loom_cpu_exec_start(cpu);
    if (step) {
        for (;;) {
            int r;

            /* Pairs with the exchange in dummy_kick(). */
            if (loom_atomic_load_seq(&cpu->dummy_kick) &&
                loom_atomic_xchg(&cpu->dummy_kick, false)) {
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
            if (loom_atomic_xchg(&cpu->dummy_kick, false)) {
                break;
            }
            loom_event_reset(&cpu->dummy_ev);
            /* Pairs with the exchange in dummy_kick(). */
            if (loom_atomic_load_seq(&cpu->dummy_kick)) {
                continue;
            }
            loom_event_wait(&cpu->dummy_ev);
        }
    }
    loom_cpu_exec_end(cpu);
    return ret;
}

static void dummy_kick(struct loom_cpu *cpu)
{
    /* Pairs with the loads in dummy_exec(). */
    (void)loom_atomic_xchg(&cpu->dummy_kick, true);
    loom_event_set(&cpu->dummy_ev);
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
    if (!cpu) {
        return;
    }
    loom_atomic_set(&cpu->dummy_opaque, opaque);
    loom_atomic_set(&cpu->dummy_step, fn);
}
