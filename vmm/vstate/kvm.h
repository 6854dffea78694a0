/* SPDX-License-Identifier: MIT */
/*
 * The KVM accelerator of loom-vm (internal to vmm/).
 *
 * A struct vmm_kvm_vm owns the VM fd, the guest memory slots and the two
 * address maps (port I/O and MMIO, core/bus.h).  A struct vmm_kvm_vcpu is a
 * struct loom_cpu (loom/cpu.h) whose accelerator runs KVM_RUN on the
 * vCPU's own thread and dispatches PIO and MMIO exits through the maps.
 *
 * Kicks use one dedicated signal (VMM_KVM_KICK_SIGNAL) plus kvm_run's
 * immediate_exit: the kicker sets a flag and immediate_exit, then signals
 * the vCPU thread, so a kick that lands between the vCPU's last check and
 * KVM_RUN makes KVM_RUN return at once, and one that lands inside KVM_RUN
 * interrupts it.  No vCPU ioctl is issued per exit.
 */
#ifndef VMM_VSTATE_KVM_H
#define VMM_VSTATE_KVM_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include <linux/kvm.h>

#include <loom/cpu.h>

#include "core/bus.h"

/** VMM_KVM_KICK_SIGNAL - the signal that kicks vCPU threads (QEMU's
 * SIG_IPI).  vmm_kvm_vm_new() installs a handler for it. */
#define VMM_KVM_KICK_SIGNAL SIGUSR1

struct vmm_kvm_vm;
struct vmm_kvm_vcpu;

/* ------------------------------------------------------------------ */
/* VM                                                                  */
/* ------------------------------------------------------------------ */

/**
 * vmm_kvm_available() - whether /dev/kvm can be opened and speaks API 12.
 * Context: any.
 * Return: 0; -ENOENT, -EACCES ... from open(2); -ENOTSUP for another API
 * version or a missing capability this accelerator needs.
 */
int vmm_kvm_available(void);

/**
 * vmm_kvm_vm_new() - create a VM whose exits dispatch to the given maps.
 * @pio: the port I/O map (limit 0xffff); the caller (the machine) owns it
 *     and keeps it until the VM is freed.
 * @mmio: the MMIO map, likewise.
 * @ret: receives the VM.
 *
 * Installs the kick signal's handler (a no-op; the signal only interrupts
 * KVM_RUN) unless the program already installed one of its own.
 *
 * Context: any.
 * Return: 0; -EINVAL for NULL; as vmm_kvm_available(); -EBUSY if the
 * program handles VMM_KVM_KICK_SIGNAL itself; -ENOMEM; another -errno
 * from KVM.
 */
int vmm_kvm_vm_new(struct vmm_bus *pio, struct vmm_bus *mmio,
                   struct vmm_kvm_vm **ret);

/**
 * vmm_kvm_vm_free() - destroy the VM and unmap the memory it allocated
 * (the maps given to vmm_kvm_vm_new() stay the caller's).
 * @vm: the VM (NULL is ignored); every vCPU must have been freed.
 * Context: any, !rcu.
 */
void vmm_kvm_vm_free(struct vmm_kvm_vm *vm);

/** vmm_kvm_vm_fd() - the VM fd (for ioctls this layer lacks).
 * Context: any.  Return: the fd, or -EINVAL for NULL. */
int vmm_kvm_vm_fd(const struct vmm_kvm_vm *vm);

/** vmm_kvm_vm_pio() - the port I/O map given to vmm_kvm_vm_new().
 * Context: any.  Return: the bus, NULL for a NULL @vm. */
struct vmm_bus *vmm_kvm_vm_pio(struct vmm_kvm_vm *vm);

/** vmm_kvm_vm_mmio() - the MMIO map given to vmm_kvm_vm_new().
 * Context: any.  Return: the bus, NULL for a NULL @vm. */
struct vmm_bus *vmm_kvm_vm_mmio(struct vmm_kvm_vm *vm);

/**
 * enum vmm_kvm_event - why a vCPU stopped running guest code for good.
 * @VMM_KVM_EV_TRIPLE_FAULT: KVM_EXIT_SHUTDOWN (a triple fault: on a PC,
 *     a reset).
 * @VMM_KVM_EV_INTERNAL_ERROR: KVM could not emulate an instruction
 *     (on PVM: int3, xrstor ... at CPL0); detail = suberror.
 * @VMM_KVM_EV_FAIL_ENTRY: the hardware refused to enter the guest;
 *     detail = the hardware's reason.
 * @VMM_KVM_EV_SYSTEM_SHUTDOWN: KVM_SYSTEM_EVENT_SHUTDOWN.
 * @VMM_KVM_EV_SYSTEM_RESET: KVM_SYSTEM_EVENT_RESET.
 * @VMM_KVM_EV_SYSTEM_CRASH: KVM_SYSTEM_EVENT_CRASH.
 * @VMM_KVM_EV_UNKNOWN: an exit this layer does not know; detail = the
 *     exit reason.
 * @VMM_KVM_EV_RUN_ERROR: KVM_RUN itself failed; detail = errno.
 */
enum vmm_kvm_event {
    VMM_KVM_EV_TRIPLE_FAULT,
    VMM_KVM_EV_INTERNAL_ERROR,
    VMM_KVM_EV_FAIL_ENTRY,
    VMM_KVM_EV_SYSTEM_SHUTDOWN,
    VMM_KVM_EV_SYSTEM_RESET,
    VMM_KVM_EV_SYSTEM_CRASH,
    VMM_KVM_EV_UNKNOWN,
    VMM_KVM_EV_RUN_ERROR,
};

/**
 * typedef vmm_kvm_event_fn - a vCPU hit an enum vmm_kvm_event.
 * @opaque: the handler's pointer.
 * @vcpu: the vCPU; it stops (exec returns a negative errno) after the
 *     handler returns and runs again only after the machine resets it
 *     and resumes the vCPUs.
 * @ev: what happened.
 * @detail: see enum vmm_kvm_event.
 *
 * Callback: vcpu(cpu), inside exec, without the BQL; it must not wait
 * for other threads (hand the decision to the main loop with a BH).
 */
typedef void vmm_kvm_event_fn(void *opaque, struct vmm_kvm_vcpu *vcpu,
                              enum vmm_kvm_event ev, uint64_t detail);

/**
 * vmm_kvm_vm_set_event_handler() - install the handler of vCPU events.
 * @vm: the VM.
 * @fn: the handler, or NULL for none.
 * @opaque: passed to it.
 * Context: before any vCPU of @vm starts.
 */
void vmm_kvm_vm_set_event_handler(struct vmm_kvm_vm *vm, vmm_kvm_event_fn *fn,
                                  void *opaque);

/**
 * vmm_kvm_vm_freeze() - stop every vCPU of the VM before its next guest
 * instruction, from any thread, even a vCPU thread inside an exit
 * handler (where loom_vm_stop() cannot be called): each vCPU's exec
 * returns LOOM_EXIT_STOPPED and the vCPU stays stopped until
 * vmm_kvm_vm_thaw() and a resume (loom_vm_start()).  For "the guest asked
 * to end now" (isa-debug-exit), where QEMU exits inside the handler.
 * @vm: the VM (NULL is ignored).
 * Context: any, !rcu.
 */
void vmm_kvm_vm_freeze(struct vmm_kvm_vm *vm);

/**
 * vmm_kvm_vm_thaw() - undo vmm_kvm_vm_freeze() (the vCPUs stay stopped
 * until resumed).
 * Context: any.
 */
void vmm_kvm_vm_thaw(struct vmm_kvm_vm *vm);

/**
 * vmm_kvm_vm_ioctl() - issue a VM ioctl this layer has no wrapper for.
 * @vm: the VM.
 * @req: the request (KVM_*).
 * @arg: its argument.
 * Context: any.
 * Return: the ioctl's non-negative result, or -errno (-EINVAL for NULL).
 */
int vmm_kvm_vm_ioctl(struct vmm_kvm_vm *vm, unsigned long req, void *arg);

/**
 * vmm_kvm_sys_ioctl() - issue a /dev/kvm ioctl (KVM_GET_SUPPORTED_CPUID,
 * KVM_GET_MSR_INDEX_LIST ...) on @vm's /dev/kvm fd.
 * Context and Return: as vmm_kvm_vm_ioctl().
 */
int vmm_kvm_sys_ioctl(struct vmm_kvm_vm *vm, unsigned long req, void *arg);

/**
 * vmm_kvm_vm_irq_line() - drive input @gsi of the in-kernel irqchip.
 * @vm: a VM with an irqchip.
 * @gsi: the line (ISA IRQs 0-15 reach both the PIC and the IOAPIC).
 * @level: true to assert, false to deassert.
 * Context: any.
 * Return: 0; -EINVAL for NULL; -ENODEV without an irqchip; -errno.
 */
int vmm_kvm_vm_irq_line(struct vmm_kvm_vm *vm, uint32_t gsi, bool level);

/**
 * vmm_kvm_vm_create_pit() - create the in-kernel i8254 PIT (KVM_CREATE_PIT2),
 * with port 0x61 (channel 2's gate and output, which Linux's PIT
 * calibration polls) served in the kernel too (KVM_PIT_SPEAKER_DUMMY:
 * a speaker that makes no sound).
 * @vm: a VM with an irqchip.
 * Context: any.
 * Return: 0; -EINVAL for NULL; -ENODEV without an irqchip; -errno.
 */
int vmm_kvm_vm_create_pit(struct vmm_kvm_vm *vm);

/**
 * vmm_kvm_vm_create_irqchip() - create the in-kernel PIC and IOAPIC
 * (needed by irqfd on x86).
 * @vm: a VM without vCPUs yet.
 *
 * The in-kernel PIC then claims ports 0x20-0x21 and 0xa0-0xa1, and the
 * ELCR 0x4d0-0x4d1: the PIO map never sees them.
 *
 * Context: any.
 * Return: 0; -EINVAL for NULL; -EBUSY once a vCPU exists; -EEXIST if
 * created already; another -errno from KVM.
 */
int vmm_kvm_vm_create_irqchip(struct vmm_kvm_vm *vm);

/* Flags of vmm_kvm_mem_add(). */
/** VMM_KVM_MEM_READONLY - guest writes exit as MMIO (ROM). */
#define VMM_KVM_MEM_READONLY 0x1u

/**
 * vmm_kvm_mem_add() - back [@gpa, @gpa + @size) with host memory.
 * @vm: the VM.
 * @gpa: guest-physical base, page-aligned.
 * @size: length, page-aligned, > 0.
 * @hva: host memory to use (the caller keeps it mapped until the slot is
 *     removed), or NULL to allocate zeroed anonymous memory owned by the
 *     slot.
 * @flags: 0 or VMM_KVM_MEM_READONLY.
 * @ret_hva: receives the host address, or NULL.
 *
 * Context: any, !rcu.
 * Return: 0; -EINVAL for a NULL @vm, misalignment, zero @size, overflow or
 * unknown @flags; -EEXIST if the range overlaps a slot; -ENOSPC when no
 * slot is left; -ENOMEM; another -errno from KVM.
 */
int vmm_kvm_mem_add(struct vmm_kvm_vm *vm, uint64_t gpa, uint64_t size,
                    void *hva, unsigned flags, void **ret_hva);

/**
 * vmm_kvm_mem_remove() - remove the slot that starts at @gpa.
 *
 * Waits for an RCU grace period before unmapping memory the slot owns,
 * so a pointer from vmm_kvm_gpa_to_hva() stays valid until its reader
 * leaves its read section.
 *
 * Context: any, !rcu.
 * Return: 0; -EINVAL for NULL; -ENOENT if no slot starts at @gpa; another
 * -errno from KVM.
 */
int vmm_kvm_mem_remove(struct vmm_kvm_vm *vm, uint64_t gpa);

/**
 * vmm_kvm_gpa_to_hva() - host address of guest range [@gpa, @gpa + @len).
 * @vm: the VM.
 * @gpa: guest-physical address (untrusted: checked).
 * @len: bytes, > 0; the range must lie in one slot.
 *
 * Context: rcu (the pointer is valid until the read section ends), or a
 * thread that knows the slot cannot be removed meanwhile.
 * Return: the pointer, or NULL if the range is not entirely RAM of one
 * slot (or for NULL / zero arguments).
 */
void *vmm_kvm_gpa_to_hva(struct vmm_kvm_vm *vm, uint64_t gpa, uint64_t len);

/* ------------------------------------------------------------------ */
/* ioeventfd and irqfd (ioeventfd.c)                                   */
/* ------------------------------------------------------------------ */

/* Flags of vmm_kvm_ioeventfd_add(). */
/** VMM_KVM_IOEVENTFD_PIO - @addr is a port, not an MMIO address. */
#define VMM_KVM_IOEVENTFD_PIO 0x1u
/** VMM_KVM_IOEVENTFD_DATAMATCH - only writes of @data signal the fd. */
#define VMM_KVM_IOEVENTFD_DATAMATCH 0x2u

/**
 * vmm_kvm_ioeventfd_add() - let KVM turn guest writes into eventfd
 * signals, without an exit to userspace.
 * @vm: the VM.
 * @fd: an eventfd (e.g. loom_notifier_fd()).
 * @addr: port or MMIO address.
 * @len: 1, 2, 4 or 8 (or 0 for any length, MMIO only).
 * @data: the value to match with VMM_KVM_IOEVENTFD_DATAMATCH.
 * @flags: VMM_KVM_IOEVENTFD_*.
 *
 * Context: any.
 * Return: 0; -EINVAL for NULL, a negative @fd, a bad @len, a port above
 * 0xffff or unknown @flags; -EEXIST for a duplicate; another -errno.
 */
int vmm_kvm_ioeventfd_add(struct vmm_kvm_vm *vm, int fd, uint64_t addr,
                          unsigned len, uint64_t data, unsigned flags);

/**
 * vmm_kvm_ioeventfd_del() - undo vmm_kvm_ioeventfd_add() (same args).
 * Context: any.  Return: 0; -EINVAL; -ENOENT if not registered.
 */
int vmm_kvm_ioeventfd_del(struct vmm_kvm_vm *vm, int fd, uint64_t addr,
                          unsigned len, uint64_t data, unsigned flags);

/**
 * vmm_kvm_irqfd_add() - signalling @fd raises interrupt @gsi.
 * @vm: a VM with an irqchip (vmm_kvm_vm_create_irqchip()).
 * @fd: an eventfd.
 * @gsi: the global system interrupt (0-23 on the IOAPIC).
 * @resample_fd: an eventfd signalled when the guest acknowledges a
 *     level-triggered interrupt, or -1 for edge semantics.
 *
 * Context: any.
 * Return: 0; -EINVAL for NULL or a negative @fd; -ENODEV without an
 * irqchip; -EBUSY if @fd is already an irqfd; another -errno.
 */
int vmm_kvm_irqfd_add(struct vmm_kvm_vm *vm, int fd, uint32_t gsi,
                      int resample_fd);

/**
 * vmm_kvm_irqfd_del() - undo vmm_kvm_irqfd_add().
 * Context: any.  Return: 0; -EINVAL; another -errno.
 */
int vmm_kvm_irqfd_del(struct vmm_kvm_vm *vm, int fd, uint32_t gsi);

/* ------------------------------------------------------------------ */
/* vCPUs (vcpu.c)                                                      */
/* ------------------------------------------------------------------ */

/**
 * typedef vmm_kvm_vcpu_init_fn - set up a new vCPU's registers.
 * @vcpu: the vCPU; its fd exists.
 * @opaque: vmm_kvm_vcpu_new()'s pointer.
 *
 * Callback: vcpu(cpu), from loom_cpu_start(), before guest code runs.
 * Return: 0, or a negative errno to fail the start.
 */
typedef int vmm_kvm_vcpu_init_fn(struct vmm_kvm_vcpu *vcpu, void *opaque);

/**
 * typedef vmm_kvm_exit_hook_fn - observe every return of KVM_RUN.
 * @vcpu: the vCPU.
 * @run: its kvm_run page (exit_reason ...), before dispatch.
 * @opaque: the hook's pointer.
 *
 * Callback: vcpu(cpu), inside exec, without the BQL.  For tracing and
 * benchmarks; it must be quick.
 */
typedef void vmm_kvm_exit_hook_fn(struct vmm_kvm_vcpu *vcpu,
                                  const struct kvm_run *run, void *opaque);

/**
 * vmm_accel_kvm - the KVM accelerator (one thread per vCPU).  Use it
 * through vmm_kvm_vcpu_new(), which attaches the per-vCPU state.
 */
extern const struct loom_accel_ops vmm_accel_kvm;

/**
 * vmm_kvm_vcpu_new() - create a KVM vCPU (not yet running).
 * @vm: the VM.
 * @index: the vCPU index (loom_cpu_new()) and KVM vCPU id.
 * @init: optional register set-up, run on the vCPU thread at start.
 * @opaque: passed to @init, and loom_cpu_opaque() of the vCPU.
 * @ret: receives the vCPU.
 *
 * The KVM vCPU fd is created on the vCPU's thread by loom_cpu_start()
 * (vmm_kvm_vcpu_start()), as KVM wants vCPU ioctls from one thread.
 *
 * Context: any.
 * Return: 0; -EINVAL for NULL @vm or @ret; as loom_cpu_new(); -ENOMEM.
 */
int vmm_kvm_vcpu_new(struct vmm_kvm_vm *vm, int index,
                     vmm_kvm_vcpu_init_fn *init, void *opaque,
                     struct vmm_kvm_vcpu **ret);

/**
 * vmm_kvm_vcpu_new_id() - vmm_kvm_vcpu_new() with a KVM vCPU id of its
 * own: on x86 with the in-kernel LAPIC the id is the vCPU's APIC ID,
 * which a topology may make differ from the index (QEMU's numbering).
 * @vm, @index, @init, @opaque, @ret: as vmm_kvm_vcpu_new().
 * @kvm_id: the KVM vCPU id.
 * Context and Return: as vmm_kvm_vcpu_new().
 */
int vmm_kvm_vcpu_new_id(struct vmm_kvm_vm *vm, int index, uint32_t kvm_id,
                        vmm_kvm_vcpu_init_fn *init, void *opaque,
                        struct vmm_kvm_vcpu **ret);

/**
 * vmm_kvm_vcpu_start() - start the vCPU thread (loom_cpu_start()).
 * Context: any.  Return: as loom_cpu_start(), or an error from KVM
 * (vCPU creation) or from @init.
 */
int vmm_kvm_vcpu_start(struct vmm_kvm_vcpu *vcpu);

/**
 * vmm_kvm_vcpu_free() - destroy the vCPU (loom_cpu_destroy()) and its
 * KVM state.
 * @vcpu: the vCPU, or NULL.
 * Context: as loom_cpu_destroy().
 */
void vmm_kvm_vcpu_free(struct vmm_kvm_vcpu *vcpu);

/** vmm_kvm_vcpu_cpu() - the vCPU's struct loom_cpu.
 * Context: any.  Return: it, NULL for NULL. */
struct loom_cpu *vmm_kvm_vcpu_cpu(struct vmm_kvm_vcpu *vcpu);

/** vmm_kvm_vcpu_of() - the KVM vCPU behind @cpu.
 * @cpu: a vCPU made by vmm_kvm_vcpu_new() (for others: their accel
 *     state, whatever it is).
 * Context: any.  Return: the KVM vCPU, NULL for NULL. */
struct vmm_kvm_vcpu *vmm_kvm_vcpu_of(struct loom_cpu *cpu);

/** vmm_kvm_vcpu_vm() - the VM of @vcpu.
 * Context: any.  Return: it, NULL for NULL. */
struct vmm_kvm_vm *vmm_kvm_vcpu_vm(struct vmm_kvm_vcpu *vcpu);

/**
 * vmm_kvm_vcpu_set_exit_hook() - install (or with NULL remove) a hook.
 * Context: before vmm_kvm_vcpu_start(), or vcpu(cpu).
 */
void vmm_kvm_vcpu_set_exit_hook(struct vmm_kvm_vcpu *vcpu,
                                vmm_kvm_exit_hook_fn *fn, void *opaque);

/*
 * Register access: each is one vCPU ioctl (~5-20 us on PVM), so never per
 * exit.  Context: vcpu(cpu) outside exec: in @init, or in work queued with
 * loom_run_on_cpu().  A pending I/O completion has been flushed by then,
 * so the registers are consistent.  Return: 0; -EINVAL for NULL; -EBADF
 * before start; another -errno from KVM.
 */
int vmm_kvm_vcpu_get_regs(struct vmm_kvm_vcpu *vcpu, struct kvm_regs *r);
int vmm_kvm_vcpu_set_regs(struct vmm_kvm_vcpu *vcpu, const struct kvm_regs *r);
int vmm_kvm_vcpu_get_sregs(struct vmm_kvm_vcpu *vcpu, struct kvm_sregs *s);
int vmm_kvm_vcpu_set_sregs(struct vmm_kvm_vcpu *vcpu,
                           const struct kvm_sregs *s);

/**
 * vmm_kvm_vcpu_ioctl() - issue a vCPU ioctl this layer has no wrapper for
 * (KVM_SET_CPUID2, KVM_SET_MSRS, KVM_GET_LAPIC, KVM_SET_MP_STATE ...).
 * Context, Return: as vmm_kvm_vcpu_get_regs() (vcpu(cpu), outside exec);
 * the ioctl's non-negative result on success.
 */
int vmm_kvm_vcpu_ioctl(struct vmm_kvm_vcpu *vcpu, unsigned long req, void *arg);

/**
 * vmm_kvm_vcpu_tid() - the vCPU thread's kernel thread id (QMP's
 * thread-id).
 * Context: any.  Return: the id, or 0 before the vCPU started (or NULL).
 */
int vmm_kvm_vcpu_tid(struct vmm_kvm_vcpu *vcpu);

/**
 * struct vmm_kvm_vcpu_stats - per-vCPU exit counters (monotonic).
 * @runs: KVM_RUN calls.
 * @exits_io: port I/O exits.
 * @exits_mmio: MMIO exits.
 * @exits_intr: KVM_RUN interrupted (kicks, immediate exits).
 * @exits_other: any other exit.
 * @kicks: kicks delivered by signal.
 * @guest_ns: time spent inside KVM_RUN, in nanoseconds of CLOCK_MONOTONIC
 *     (wall time, so time the host preempted the vCPU thread while in
 *     guest mode counts; the immediate-exit runs that only complete an
 *     I/O instruction do not), added at each exit.
 * @last_exit_reason: KVM_EXIT_* of the last exit.
 * @last_error: internal error suberror / hardware entry failure reason
 *     of the last failing exit, 0 if none.
 */
struct vmm_kvm_vcpu_stats {
    uint64_t runs;
    uint64_t exits_io;
    uint64_t exits_mmio;
    uint64_t exits_intr;
    uint64_t exits_other;
    uint64_t kicks;
    uint64_t guest_ns;
    uint32_t last_exit_reason;
    uint64_t last_error;
};

/** vmm_kvm_vcpu_stats() - read @vcpu's counters.  Context: any.
 * Return: 0, or -EINVAL for NULL. */
int vmm_kvm_vcpu_stats(struct vmm_kvm_vcpu *vcpu,
                       struct vmm_kvm_vcpu_stats *st);

#endif /* VMM_VSTATE_KVM_H */
