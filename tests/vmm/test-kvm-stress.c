/* SPDX-License-Identifier: MIT */
/*
 * Stress (TSan target) for the cross-thread paths of vmm/: the RCU
 * address map under concurrent dispatch and add/remove (no callback may
 * run once vmm_bus_remove() returned), and the KVM kick protocol: kicks,
 * run_on_cpu register reads and pause/resume racing with a guest's PIO
 * exits, with exact per-port counts and consistent registers at the end.
 * The KVM part is skipped when /dev/kvm is unusable; the bus part always
 * runs.
 */
#include <errno.h>

#include <loom/cpu.h>
#include <loom/main.h>
#include <loom/rcu.h>
#include <loom/thread.h>

#include "guest.h"
#include "harness.h"

#define RUN_NS (1500 * 1000000ll)
#define WAIT_NS (50 * 1000000000ll)

/* ------------------------------------------------------------------ */
/* Bus: dispatch against add/remove                                    */
/* ------------------------------------------------------------------ */

enum { NREG = 8, NDISPATCH = 2 };

struct sdev {
    int dead;       /* atomic: set after vmm_bus_remove() returned */
    uint64_t calls; /* atomic */
    bool unlocked;
};

static struct {
    struct vmm_bus *bus;
    struct sdev dev[NREG];
    int stop;        /* atomic */
    uint64_t errors; /* atomic */
} g_bus;

static void sdev_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct sdev *d = opaque;

    if (__atomic_load_n(&d->dead, __ATOMIC_SEQ_CST) ||
        loom_bql_locked() == d->unlocked) {
        __atomic_fetch_add(&g_bus.errors, 1, __ATOMIC_RELAXED);
    }
    __atomic_fetch_add(&d->calls, 1, __ATOMIC_RELAXED);
}

static const struct vmm_bus_ops sdev_ops = {.write = sdev_write};

static void *dispatcher(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    uint32_t v = 0;

    while (!__atomic_load_n(&g_bus.stop, __ATOMIC_SEQ_CST)) {
        seed = seed * 1103515245u + 12345u;
        (void)vmm_bus_write(g_bus.bus, 0x100 + ((seed >> 8) % NREG) * 4, &v, 4);
    }
    return NULL;
}

static void test_bus_stress(void)
{
    struct loom_thread *t[NDISPATCH];
    int64_t end;
    unsigned i, round = 0;
    uint64_t total = 0;

    g_assert_cmpint(vmm_bus_new(0xffff, &g_bus.bus), ==, 0);
    for (i = 0; i < NREG; i++) {
        g_bus.dev[i].unlocked = i & 1;
        g_assert_cmpint(vmm_bus_add(g_bus.bus, 0x100 + i * 4, 4, &sdev_ops,
                                    &g_bus.dev[i],
                                    (i & 1) ? VMM_BUS_UNLOCKED : 0),
                        ==, 0);
    }
    for (i = 0; i < NDISPATCH; i++) {
        g_assert_cmpint(loom_thread_create(&t[i], "dispatch", dispatcher,
                                           (void *)(uintptr_t)(i + 1),
                                           LOOM_THREAD_JOINABLE),
                        ==, 0);
    }
    end = harness_run_end(RUN_NS);
    while (!harness_run_over(end)) {
        struct sdev *d = &g_bus.dev[round++ % NREG];
        uint64_t base = 0x100 + (uint64_t)(d - g_bus.dev) * 4;

        if (!d->unlocked) {
            loom_bql_lock();
        }
        g_assert_cmpint(vmm_bus_remove(g_bus.bus, base), ==, 0);
        /* From here on no callback of @d may run. */
        __atomic_store_n(&d->dead, 1, __ATOMIC_SEQ_CST);
        if (!d->unlocked) {
            loom_bql_unlock();
        }
        __atomic_store_n(&d->dead, 0, __ATOMIC_SEQ_CST);
        g_assert_cmpint(vmm_bus_add(g_bus.bus, base, 4, &sdev_ops, d,
                                    d->unlocked ? VMM_BUS_UNLOCKED : 0),
                        ==, 0);
    }
    __atomic_store_n(&g_bus.stop, 1, __ATOMIC_SEQ_CST);
    for (i = 0; i < NDISPATCH; i++) {
        g_assert_cmpint(loom_thread_join(t[i], NULL), ==, 0);
    }
    for (i = 0; i < NREG; i++) {
        total += g_bus.dev[i].calls;
    }
    g_assert_cmpuint(g_bus.errors, ==, 0);
    g_assert_cmpuint(total, >, 0);
    g_assert_cmpuint(round, >, NREG);
    vmm_bus_free(g_bus.bus);
}

/* ------------------------------------------------------------------ */
/* KVM: kicks, run_on_cpu and pause against PIO exits                  */
/* ------------------------------------------------------------------ */

enum { NCPU = 2, M = 4000 };

#define PORT_DATA 0x500u
#define PORT_DONE 0x510u

struct port_dev {
    uint32_t expect; /* next value; under the BQL */
    uint64_t count;  /* under the BQL */
    uint64_t bad;    /* under the BQL */
};

static void port_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct port_dev *d = opaque;

    if (val != d->expect) {
        d->bad++;
    }
    d->expect--;
    d->count++;
}

static const struct vmm_bus_ops port_ops = {.write = port_write};

static void done_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    loom_cpu_halt(loom_current_cpu());
    loom_sem_post(opaque);
}

static const struct vmm_bus_ops done_ops = {.write = done_write};

struct check_req {
    struct port_dev *dev;
    uint64_t out_addr;
    int ret;
    bool bad;
};

/*
 * On the vCPU thread, outside exec: the registers and the device agree.
 * If the guest stopped at the OUT, that OUT has not reached the device
 * yet (an exit it already made was completed before exec returned).
 */
static void check_fn(struct loom_cpu *cpu, void *data)
{
    struct check_req *q = data;
    struct kvm_regs r;
    uint32_t expect;

    q->ret = vmm_kvm_vcpu_get_regs(vmm_kvm_vcpu_of(cpu), &r);
    loom_bql_lock();
    expect = q->dev->expect;
    loom_bql_unlock();
    if (q->ret == 0 && r.rip == q->out_addr) {
        q->bad = (uint32_t)r.rcx != expect;
    } else if (q->ret == 0) {
        q->bad = (uint32_t)r.rcx != expect && (uint32_t)r.rcx != expect + 1;
    }
}

static void test_kick_stress(void)
{
    struct vmm_kvm_vcpu *v[NCPU];
    struct guest_cpu_init gi[NCPU];
    struct port_dev dev[NCPU];
    struct vmm_kvm_vm *vm = NULL;
    struct loom_sem done;
    struct guest_asm a;
    uint32_t loop, out, park;
    uint8_t *ram = NULL;
    int i, n = 0, finished = 0;
    int64_t deadline;

    if (guest_skip_reason()) {
        g_test_skip(guest_skip_reason());
        return;
    }
    g_assert_cmpint(guest_vm_new(&vm, &ram), ==, 0);
    ga_init(&a, ram, GUEST_CODE);
    loop = ga_here(&a);
    ga_mov_rr32(&a, RAX, RCX);
    out = ga_here(&a);
    ga_out_dx_eax(&a);
    ga_dec32(&a, RCX);
    ga_jnz(&a, loop);
    ga_mov_rr32(&a, RDX, RDI);
    park = ga_here(&a);
    ga_out_dx_al(&a);
    ga_jmp(&a, park);

    loom_sem_init(&done, 0);
    g_assert_cmpint(vmm_bus_add(vmm_kvm_vm_pio(vm), PORT_DONE, 1, &done_ops,
                                &done, VMM_BUS_UNLOCKED),
                    ==, 0);
    for (i = 0; i < NCPU; i++) {
        dev[i] = (struct port_dev){.expect = M};
        g_assert_cmpint(vmm_bus_add(vmm_kvm_vm_pio(vm), PORT_DATA + 4 * i, 4,
                                    &port_ops, &dev[i], 0),
                        ==, 0);
        gi[i] = (struct guest_cpu_init){
            .rip = ga_addr(&a, loop),
            .rcx = M,
            .rdx = PORT_DATA + 4 * i,
            .rdi = PORT_DONE,
        };
        g_assert_cmpint(
            vmm_kvm_vcpu_new(vm, i, guest_cpu_init_fn, &gi[i], &v[i]), ==, 0);
        g_assert_cmpint(vmm_kvm_vcpu_start(v[i]), ==, 0);
    }

    /* Race kicks, register checks and pauses against the exits. */
    deadline = harness_now_ns() + WAIT_NS;
    while (finished < NCPU) {
        struct check_req q = {
            .dev = &dev[n % NCPU],
            .out_addr = ga_addr(&a, out),
        };

        harness_watchdog(deadline, "every vCPU finished");
        loom_cpu_kick(vmm_kvm_vcpu_cpu(v[(n + 1) % NCPU]));
        g_assert_cmpint(
            loom_run_on_cpu(vmm_kvm_vcpu_cpu(v[n % NCPU]), check_fn, &q), ==,
            0);
        g_assert_cmpint(q.ret, ==, 0);
        g_assert_false(q.bad);
        if (n % 16 == 15) {
            loom_pause_all_vcpus();
            loom_resume_all_vcpus();
        }
        if (loom_sem_timedwait(&done, 0) == 0) {
            finished++;
        }
        n++;
    }

    g_test_message("%d kick/run_on_cpu rounds, %d pauses", n, n / 16);
    g_assert_cmpint(n, >, 0);
    loom_bql_lock();
    for (i = 0; i < NCPU; i++) {
        g_assert_cmpuint(dev[i].count, ==, M);
        g_assert_cmpuint(dev[i].bad, ==, 0);
    }
    loom_bql_unlock();
    for (i = 0; i < NCPU; i++) {
        vmm_kvm_vcpu_free(v[i]);
    }
    guest_vm_free(vm);
    loom_sem_destroy(&done);
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/kvm-stress/bus", test_bus_stress);
    g_test_add_func("/kvm-stress/kick", test_kick_stress);
    return g_test_run();
}
