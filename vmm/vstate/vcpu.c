/* SPDX-License-Identifier: MIT */
/*
 * The KVM accelerator: vmm_accel_kvm's exec runs KVM_RUN in a loop on the
 * vCPU's own thread and dispatches port I/O and MMIO exits through the
 * VM's address maps (core/bus.c), until a kick, a halt or an error.  kick
 * comes from any thread (or a signal handler): a flag, kvm_run's
 * immediate_exit and the dedicated kick signal.  The register accessors
 * run on the vCPU thread only (in init or in run_on_cpu work), never per
 * exit: every vCPU ioctl costs microseconds on PVM.
 */
#include "vstate/kvm-int.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <loom/clock.h>

struct vmm_kvm_vcpu {
    /* Immutable after vmm_kvm_vcpu_new(). */
    struct vmm_kvm_vm *vm;
    struct loom_cpu *cpu;
    int index;
    uint32_t kvm_id;
    vmm_kvm_vcpu_init_fn *init;
    void *opaque;

    /*
     * Set by init_vcpu on the vCPU thread before the layer marks the vCPU
     * running (a release store its kickers acquire), cleared by
     * destroy_vcpu after the layer's grace period: kickers may read them.
     */
    int fd;
    struct kvm_run *run;
    pid_t pid;
    pid_t tid;

    /* vcpu(cpu) only. */
    bool need_completion; /* last exit was I/O, completed by next KVM_RUN */
    vmm_kvm_exit_hook_fn *hook;
    void *hook_opaque;

    /* Atomic: set by kickers, consumed by exec; see kvm_kick(). */
    int kick_pending;

    /* Written by the vCPU thread (relaxed), read by anyone. */
    struct vmm_kvm_vcpu_stats stats;
};

/* The KVM vCPU whose thread this is, for kicks sent to oneself. */
static __thread struct vmm_kvm_vcpu *t_self;

static void stat_inc(uint64_t *c)
{
    __atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

/* A counter with one writer (the vCPU thread): a plain add, read anywhere. */
static void stat_add_own(uint64_t *c, uint64_t n)
{
    __atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n,
                     __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------ */
/* Exit dispatch                                                       */
/* ------------------------------------------------------------------ */

static void handle_io(struct vmm_kvm_vcpu *v, struct kvm_run *run)
{
    struct vmm_bus *bus = v->vm->pio;
    unsigned size = run->io.size;
    uint64_t off = run->io.data_offset;
    uint32_t i;

    stat_inc(&v->stats.exits_io);
    /* KVM fills these; still, never index outside the run page. */
    if (size == 0 || size > 4 || off >= (uint64_t)v->vm->run_size ||
        (uint64_t)run->io.count * size > v->vm->run_size - off) {
        return;
    }
    for (i = 0; i < run->io.count; i++) {
        uint8_t *data = (uint8_t *)run + off + (uint64_t)i * size;

        if (run->io.direction == KVM_EXIT_IO_OUT) {
            (void)vmm_bus_write(bus, run->io.port, data, size);
        } else {
            (void)vmm_bus_read(bus, run->io.port, data, size);
        }
    }
}

static void handle_mmio(struct vmm_kvm_vcpu *v, struct kvm_run *run)
{
    struct vmm_bus *bus = v->vm->mmio;
    unsigned len = run->mmio.len;

    stat_inc(&v->stats.exits_mmio);
    if (len > sizeof(run->mmio.data)) {
        return;
    }
    if (run->mmio.is_write) {
        (void)vmm_bus_write(bus, run->mmio.phys_addr, run->mmio.data, len);
    } else {
        (void)vmm_bus_read(bus, run->mmio.phys_addr, run->mmio.data, len);
    }
}

/*
 * The vCPU stops for good: count it, tell the machine, and return what
 * exec returns (the cpu layer then keeps the vCPU stopped).
 */
static int fatal(struct vmm_kvm_vcpu *v, enum vmm_kvm_event ev, uint64_t detail,
                 int err)
{
    __atomic_store_n(&v->stats.last_error, detail, __ATOMIC_RELAXED);
    stat_inc(&v->stats.exits_other);
    if (v->vm->on_event) {
        v->vm->on_event(v->vm->event_opaque, v, ev, detail);
    }
    return err;
}

static int system_event(struct vmm_kvm_vcpu *v, const struct kvm_run *run)
{
    switch (run->system_event.type) {
    case KVM_SYSTEM_EVENT_SHUTDOWN:
        return fatal(v, VMM_KVM_EV_SYSTEM_SHUTDOWN, 0, -ESHUTDOWN);
    case KVM_SYSTEM_EVENT_RESET:
        return fatal(v, VMM_KVM_EV_SYSTEM_RESET, 0, -ESHUTDOWN);
    case KVM_SYSTEM_EVENT_CRASH:
        return fatal(v, VMM_KVM_EV_SYSTEM_CRASH, 0, -EIO);
    default:
        return fatal(v, VMM_KVM_EV_UNKNOWN, KVM_EXIT_SYSTEM_EVENT, -ENOSYS);
    }
}

/*
 * One KVM_RUN and its exit.  Returns 0 to go on, else what exec returns.
 */
static int run_once(struct vmm_kvm_vcpu *v)
{
    struct kvm_run *run = v->run;
    int64_t t0;
    int r;

    stat_inc(&v->stats.runs);
    /* Time in guest: wall time (CLOCK_MONOTONIC, vDSO) inside KVM_RUN. */
    t0 = loom_clock_ns(LOOM_CLOCK_HOST);
    r = ioctl(v->fd, KVM_RUN, 0);
    stat_add_own(&v->stats.guest_ns,
                 (uint64_t)(loom_clock_ns(LOOM_CLOCK_HOST) - t0));
    v->need_completion = false;
    if (r < 0) {
        r = errno;
        if (r == EINTR || r == EAGAIN) {
            stat_inc(&v->stats.exits_intr);
            __atomic_store_n(&v->stats.last_exit_reason, KVM_EXIT_INTR,
                             __ATOMIC_RELAXED);
            if (v->hook) {
                run->exit_reason = KVM_EXIT_INTR;
                v->hook(v, run, v->hook_opaque);
            }
            return 0;
        }
        return fatal(v, VMM_KVM_EV_RUN_ERROR, (uint64_t)r, -r);
    }
    __atomic_store_n(&v->stats.last_exit_reason, run->exit_reason,
                     __ATOMIC_RELAXED);
    if (v->hook) {
        v->hook(v, run, v->hook_opaque);
    }
    switch (run->exit_reason) {
    case KVM_EXIT_IO:
        handle_io(v, run);
        v->need_completion = true;
        return 0;
    case KVM_EXIT_MMIO:
        handle_mmio(v, run);
        v->need_completion = true;
        return 0;
    case KVM_EXIT_INTR:
        stat_inc(&v->stats.exits_intr);
        return 0;
    case KVM_EXIT_HLT:
        stat_inc(&v->stats.exits_other);
        return LOOM_EXIT_HALTED;
    case KVM_EXIT_SHUTDOWN:
        /* Triple fault: the guest is dead until someone resets it. */
        return fatal(v, VMM_KVM_EV_TRIPLE_FAULT, 0, -ESHUTDOWN);
    case KVM_EXIT_INTERNAL_ERROR:
        /* E.g. an instruction PVM cannot emulate (int3, xrstor ...). */
        return fatal(v, VMM_KVM_EV_INTERNAL_ERROR, run->internal.suberror,
                     -EIO);
    case KVM_EXIT_FAIL_ENTRY:
        return fatal(v, VMM_KVM_EV_FAIL_ENTRY,
                     run->fail_entry.hardware_entry_failure_reason, -ENOEXEC);
    case KVM_EXIT_SYSTEM_EVENT:
        return system_event(v, run);
    default:
        return fatal(v, VMM_KVM_EV_UNKNOWN, run->exit_reason, -ENOSYS);
    }
}

/*
 * Finish the last I/O exit without running guest code, so that registers
 * read after exec (run_on_cpu work) see the instruction completed.
 */
static void flush_completion(struct vmm_kvm_vcpu *v)
{
    /* Own thread, before the ioctl: no ordering with kickers needed. */
    __atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_RELAXED);
    stat_inc(&v->stats.runs);
    (void)ioctl(v->fd, KVM_RUN, 0);
    v->need_completion = false;
}

static int kvm_exec(struct loom_cpu *cpu)
{
    struct vmm_kvm_vcpu *v = loom_cpu_accel_state(cpu);
    int ret = 0;

    loom_cpu_exec_start(cpu);
    while (ret == 0) {
        /*
         * Clear immediate_exit, then look for a kick, then run: a kicker
         * sets kick_pending before immediate_exit, so either we see its
         * flag here or KVM_RUN sees immediate_exit (or, already inside
         * KVM_RUN, the signal).  Pairs with kvm_kick().
         */
        __atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
        if (__atomic_exchange_n(&v->kick_pending, 0, __ATOMIC_SEQ_CST)) {
            ret = LOOM_EXIT_KICKED;
            break;
        }
        /* Frozen: not one more guest instruction.  Pairs with
         * vmm_kvm_vm_freeze(), which sets the flag before it kicks. */
        if (__atomic_load_n(&v->vm->frozen, __ATOMIC_SEQ_CST)) {
            ret = LOOM_EXIT_STOPPED;
            break;
        }
        ret = run_once(v);
    }
    if (v->need_completion) {
        flush_completion(v);
    }
    loom_cpu_exec_end(cpu);
    return ret;
}

static void kvm_kick(struct loom_cpu *cpu)
{
    struct vmm_kvm_vcpu *v = loom_cpu_accel_state(cpu);

    /*
     * A kick already pending will be seen before the next KVM_RUN, or its
     * sender is about to interrupt the current one: nothing to add.
     * Pairs with the exchange in kvm_exec().
     */
    if (__atomic_exchange_n(&v->kick_pending, 1, __ATOMIC_SEQ_CST)) {
        return;
    }
    /* Pairs with the clearing store in kvm_exec(). */
    __atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
    if (t_self == v) {
        /* On its own thread, outside KVM_RUN: exec's check sees it. */
        return;
    }
    stat_inc(&v->stats.kicks);
    (void)syscall(SYS_tgkill, v->pid, v->tid, VMM_KVM_KICK_SIGNAL);
}

static int kvm_init_vcpu(struct loom_cpu *cpu)
{
    struct vmm_kvm_vcpu *v = loom_cpu_accel_state(cpu);
    sigset_t set;
    int r;

    v->fd = ioctl(v->vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)v->kvm_id);
    if (v->fd < 0) {
        r = -errno;
        goto fail;
    }
    v->run = mmap(NULL, (size_t)v->vm->run_size, PROT_READ | PROT_WRITE,
                  MAP_SHARED, v->fd, 0);
    if (v->run == MAP_FAILED) {
        v->run = NULL;
        r = -errno;
        goto fail;
    }
    v->pid = getpid();
    __atomic_store_n(&v->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELAXED);
    /* The kick signal must reach this thread. */
    sigemptyset(&set);
    sigaddset(&set, VMM_KVM_KICK_SIGNAL);
    r = -pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    if (r < 0) {
        goto fail;
    }
    t_self = v;
    if (v->init) {
        r = v->init(v, v->opaque);
        if (r < 0) {
            goto fail;
        }
    }
    return 0;

fail:
    t_self = NULL;
    if (v->run) {
        munmap(v->run, (size_t)v->vm->run_size);
        v->run = NULL;
    }
    if (v->fd >= 0) {
        close(v->fd);
        v->fd = -1;
    }
    return r;
}

static void kvm_destroy_vcpu(struct loom_cpu *cpu)
{
    struct vmm_kvm_vcpu *v = loom_cpu_accel_state(cpu);

    /* The layer waited for every kicker to leave (loom__cpu_finish()). */
    t_self = NULL;
    munmap(v->run, (size_t)v->vm->run_size);
    v->run = NULL;
    close(v->fd);
    v->fd = -1;
}

const struct loom_accel_ops vmm_accel_kvm = {
    .thread_mode = LOOM_THREAD_PER_VCPU,
    .init_vcpu = kvm_init_vcpu,
    .exec = kvm_exec,
    .kick = kvm_kick,
    .destroy_vcpu = kvm_destroy_vcpu,
};

/* ------------------------------------------------------------------ */
/* Objects                                                             */
/* ------------------------------------------------------------------ */

int vmm_kvm_vcpu_new(struct vmm_kvm_vm *vm, int index,
                     vmm_kvm_vcpu_init_fn *init, void *opaque,
                     struct vmm_kvm_vcpu **ret)
{
    if (index < 0) {
        return -EINVAL;
    }
    return vmm_kvm_vcpu_new_id(vm, index, (uint32_t)index, init, opaque, ret);
}

int vmm_kvm_vcpu_new_id(struct vmm_kvm_vm *vm, int index, uint32_t kvm_id,
                        vmm_kvm_vcpu_init_fn *init, void *opaque,
                        struct vmm_kvm_vcpu **ret)
{
    struct vmm_kvm_vcpu *v;
    int r;

    if (!vm || !ret) {
        return -EINVAL;
    }
    v = calloc(1, sizeof(*v));
    if (!v) {
        return -ENOMEM;
    }
    v->vm = vm;
    v->index = index;
    v->kvm_id = kvm_id;
    v->init = init;
    v->opaque = opaque;
    v->fd = -1;
    r = loom_cpu_new(index, &vmm_accel_kvm, opaque, &v->cpu);
    if (r < 0) {
        free(v);
        return r;
    }
    loom_cpu_set_accel_state(v->cpu, v);
    vmm__kvm_vm_vcpu_get(vm);
    *ret = v;
    return 0;
}

int vmm_kvm_vcpu_start(struct vmm_kvm_vcpu *vcpu)
{
    return vcpu ? loom_cpu_start(vcpu->cpu) : -EINVAL;
}

void vmm_kvm_vcpu_free(struct vmm_kvm_vcpu *vcpu)
{
    if (!vcpu) {
        return;
    }
    /* Joins the thread, which ran kvm_destroy_vcpu() if it had started. */
    loom_cpu_destroy(vcpu->cpu);
    vmm__kvm_vm_vcpu_put(vcpu->vm);
    free(vcpu);
}

struct loom_cpu *vmm_kvm_vcpu_cpu(struct vmm_kvm_vcpu *vcpu)
{
    return vcpu ? vcpu->cpu : NULL;
}

struct vmm_kvm_vcpu *vmm_kvm_vcpu_of(struct loom_cpu *cpu)
{
    return loom_cpu_accel_state(cpu);
}

struct vmm_kvm_vm *vmm_kvm_vcpu_vm(struct vmm_kvm_vcpu *vcpu)
{
    return vcpu ? vcpu->vm : NULL;
}

void vmm_kvm_vcpu_set_exit_hook(struct vmm_kvm_vcpu *vcpu,
                                vmm_kvm_exit_hook_fn *fn, void *opaque)
{
    if (vcpu) {
        vcpu->hook = fn;
        vcpu->hook_opaque = opaque;
    }
}

/* The register ioctls: on the vCPU's own thread, outside KVM_RUN. */
int vmm_kvm_vcpu_ioctl(struct vmm_kvm_vcpu *vcpu, unsigned long req, void *arg)
{
    int r;

    if (!vcpu || !arg) {
        return -EINVAL;
    }
    if (t_self != vcpu || vcpu->fd < 0) {
        /* Another thread would block behind a spinning guest's KVM_RUN. */
        return vcpu->fd < 0 ? -EBADF : -EPERM;
    }
    r = ioctl(vcpu->fd, req, arg);
    return r < 0 ? -errno : r;
}

int vmm_kvm_vcpu_tid(struct vmm_kvm_vcpu *vcpu)
{
    return vcpu ? (int)__atomic_load_n(&vcpu->tid, __ATOMIC_RELAXED) : 0;
}

int vmm_kvm_vcpu_get_regs(struct vmm_kvm_vcpu *vcpu, struct kvm_regs *r)
{
    return vmm_kvm_vcpu_ioctl(vcpu, KVM_GET_REGS, r);
}

int vmm_kvm_vcpu_set_regs(struct vmm_kvm_vcpu *vcpu, const struct kvm_regs *r)
{
    return vmm_kvm_vcpu_ioctl(vcpu, KVM_SET_REGS, (void *)r);
}

int vmm_kvm_vcpu_get_sregs(struct vmm_kvm_vcpu *vcpu, struct kvm_sregs *s)
{
    return vmm_kvm_vcpu_ioctl(vcpu, KVM_GET_SREGS, s);
}

int vmm_kvm_vcpu_set_sregs(struct vmm_kvm_vcpu *vcpu, const struct kvm_sregs *s)
{
    return vmm_kvm_vcpu_ioctl(vcpu, KVM_SET_SREGS, (void *)s);
}

int vmm_kvm_vcpu_stats(struct vmm_kvm_vcpu *vcpu, struct vmm_kvm_vcpu_stats *st)
{
    if (!vcpu || !st) {
        return -EINVAL;
    }
    st->runs = __atomic_load_n(&vcpu->stats.runs, __ATOMIC_RELAXED);
    st->exits_io = __atomic_load_n(&vcpu->stats.exits_io, __ATOMIC_RELAXED);
    st->exits_mmio = __atomic_load_n(&vcpu->stats.exits_mmio, __ATOMIC_RELAXED);
    st->exits_intr = __atomic_load_n(&vcpu->stats.exits_intr, __ATOMIC_RELAXED);
    st->exits_other =
        __atomic_load_n(&vcpu->stats.exits_other, __ATOMIC_RELAXED);
    st->kicks = __atomic_load_n(&vcpu->stats.kicks, __ATOMIC_RELAXED);
    st->guest_ns = __atomic_load_n(&vcpu->stats.guest_ns, __ATOMIC_RELAXED);
    st->last_exit_reason =
        __atomic_load_n(&vcpu->stats.last_exit_reason, __ATOMIC_RELAXED);
    st->last_error = __atomic_load_n(&vcpu->stats.last_error, __ATOMIC_RELAXED);
    return 0;
}
