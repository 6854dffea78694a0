/* SPDX-License-Identifier: MIT */
/*
 * The KVM accelerator of loom-vm (internal to vmm/).
 *
 * A struct loom_kvm_vm owns the VM fd, the guest memory slots and the two
 * address maps (port I/O and MMIO, hw/bus.h).  A struct loom_kvm_vcpu is a
 * struct loom_cpu (loom/cpu.h) whose accelerator runs KVM_RUN on the
 * vCPU's own thread and dispatches PIO and MMIO exits through the maps.
 *
 * Kicks use one dedicated signal (LOOM_KVM_KICK_SIGNAL) plus kvm_run's
 * immediate_exit: the kicker sets a flag and immediate_exit, then signals
 * the vCPU thread, so a kick that lands between the vCPU's last check and
 * KVM_RUN makes KVM_RUN return at once, and one that lands inside KVM_RUN
 * interrupts it.  No vCPU ioctl is issued per exit.
 */
#ifndef LOOM_VMM_KVM_H
#define LOOM_VMM_KVM_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include <linux/kvm.h>

#include <loom/cpu.h>

#include "hw/bus.h"

/** LOOM_KVM_KICK_SIGNAL - the signal that kicks vCPU threads (QEMU's
 * SIG_IPI).  loom_kvm_vm_new() installs a handler for it. */
#define LOOM_KVM_KICK_SIGNAL SIGUSR1

struct loom_kvm_vm;
struct loom_kvm_vcpu;

/* ------------------------------------------------------------------ */
/* VM                                                                  */
/* ------------------------------------------------------------------ */

/**
 * loom_kvm_available() - whether /dev/kvm can be opened and speaks API 12.
 * Context: any.
 * Return: 0; -ENOENT, -EACCES ... from open(2); -ENOTSUP for another API
 * version or a missing capability this accelerator needs.
 */
int loom_kvm_available(void);

/**
 * loom_kvm_vm_new() - create a VM: its fd and empty PIO and MMIO maps.
 * @ret: receives the VM.
 *
 * Installs the kick signal's handler (a no-op; the signal only interrupts
 * KVM_RUN) unless the program already installed one of its own.
 *
 * Context: any.
 * Return: 0; -EINVAL for NULL; as loom_kvm_available(); -EBUSY if the
 * program handles LOOM_KVM_KICK_SIGNAL itself; -ENOMEM; another -errno
 * from KVM.
 */
int loom_kvm_vm_new(struct loom_kvm_vm **ret);

/**
 * loom_kvm_vm_free() - destroy the VM and unmap the memory it allocated.
 * @vm: the VM (NULL is ignored); every vCPU must have been freed.
 * Context: any, !rcu.
 */
void loom_kvm_vm_free(struct loom_kvm_vm *vm);

/** loom_kvm_vm_fd() - the VM fd (for ioctls this layer lacks).
 * Context: any.  Return: the fd, or -EINVAL for NULL. */
int loom_kvm_vm_fd(const struct loom_kvm_vm *vm);

/** loom_kvm_vm_pio() - the port I/O map (limit 0xffff).
 * Context: any.  Return: the bus, NULL for a NULL @vm. */
struct loom_bus *loom_kvm_vm_pio(struct loom_kvm_vm *vm);

/** loom_kvm_vm_mmio() - the MMIO map.
 * Context: any.  Return: the bus, NULL for a NULL @vm. */
struct loom_bus *loom_kvm_vm_mmio(struct loom_kvm_vm *vm);

/**
 * loom_kvm_vm_create_irqchip() - create the in-kernel PIC and IOAPIC
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
int loom_kvm_vm_create_irqchip(struct loom_kvm_vm *vm);

/* Flags of loom_kvm_mem_add(). */
/** LOOM_KVM_MEM_READONLY - guest writes exit as MMIO (ROM). */
#define LOOM_KVM_MEM_READONLY 0x1u

/**
 * loom_kvm_mem_add() - back [@gpa, @gpa + @size) with host memory.
 * @vm: the VM.
 * @gpa: guest-physical base, page-aligned.
 * @size: length, page-aligned, > 0.
 * @hva: host memory to use (the caller keeps it mapped until the slot is
 *     removed), or NULL to allocate zeroed anonymous memory owned by the
 *     slot.
 * @flags: 0 or LOOM_KVM_MEM_READONLY.
 * @ret_hva: receives the host address, or NULL.
 *
 * Context: any, !rcu.
 * Return: 0; -EINVAL for a NULL @vm, misalignment, zero @size, overflow or
 * unknown @flags; -EEXIST if the range overlaps a slot; -ENOSPC when no
 * slot is left; -ENOMEM; another -errno from KVM.
 */
int loom_kvm_mem_add(struct loom_kvm_vm *vm, uint64_t gpa, uint64_t size,
                     void *hva, unsigned flags, void **ret_hva);

/**
 * loom_kvm_mem_remove() - remove the slot that starts at @gpa.
 *
 * Waits for an RCU grace period before unmapping memory the slot owns,
 * so a pointer from loom_kvm_gpa_to_hva() stays valid until its reader
 * leaves its read section.
 *
 * Context: any, !rcu.
 * Return: 0; -EINVAL for NULL; -ENOENT if no slot starts at @gpa; another
 * -errno from KVM.
 */
int loom_kvm_mem_remove(struct loom_kvm_vm *vm, uint64_t gpa);

/**
 * loom_kvm_gpa_to_hva() - host address of guest range [@gpa, @gpa + @len).
 * @vm: the VM.
 * @gpa: guest-physical address (untrusted: checked).
 * @len: bytes, > 0; the range must lie in one slot.
 *
 * Context: rcu (the pointer is valid until the read section ends), or a
 * thread that knows the slot cannot be removed meanwhile.
 * Return: the pointer, or NULL if the range is not entirely RAM of one
 * slot (or for NULL / zero arguments).
 */
void *loom_kvm_gpa_to_hva(struct loom_kvm_vm *vm, uint64_t gpa, uint64_t len);

/* ------------------------------------------------------------------ */
/* ioeventfd and irqfd (ioeventfd.c)                                   */
/* ------------------------------------------------------------------ */

/* Flags of loom_kvm_ioeventfd_add(). */
/** LOOM_KVM_IOEVENTFD_PIO - @addr is a port, not an MMIO address. */
#define LOOM_KVM_IOEVENTFD_PIO 0x1u
/** LOOM_KVM_IOEVENTFD_DATAMATCH - only writes of @data signal the fd. */
#define LOOM_KVM_IOEVENTFD_DATAMATCH 0x2u

/**
 * loom_kvm_ioeventfd_add() - let KVM turn guest writes into eventfd
 * signals, without an exit to userspace.
 * @vm: the VM.
 * @fd: an eventfd (e.g. loom_notifier_fd()).
 * @addr: port or MMIO address.
 * @len: 1, 2, 4 or 8 (or 0 for any length, MMIO only).
 * @data: the value to match with LOOM_KVM_IOEVENTFD_DATAMATCH.
 * @flags: LOOM_KVM_IOEVENTFD_*.
 *
 * Context: any.
 * Return: 0; -EINVAL for NULL, a negative @fd, a bad @len, a port above
 * 0xffff or unknown @flags; -EEXIST for a duplicate; another -errno.
 */
int loom_kvm_ioeventfd_add(struct loom_kvm_vm *vm, int fd, uint64_t addr,
                           unsigned len, uint64_t data, unsigned flags);

/**
 * loom_kvm_ioeventfd_del() - undo loom_kvm_ioeventfd_add() (same args).
 * Context: any.  Return: 0; -EINVAL; -ENOENT if not registered.
 */
int loom_kvm_ioeventfd_del(struct loom_kvm_vm *vm, int fd, uint64_t addr,
                           unsigned len, uint64_t data, unsigned flags);

/**
 * loom_kvm_irqfd_add() - signalling @fd raises interrupt @gsi.
 * @vm: a VM with an irqchip (loom_kvm_vm_create_irqchip()).
 * @fd: an eventfd.
 * @gsi: the global system interrupt (0-23 on the IOAPIC).
 * @resample_fd: an eventfd signalled when the guest acknowledges a
 *     level-triggered interrupt, or -1 for edge semantics.
 *
 * Context: any.
 * Return: 0; -EINVAL for NULL or a negative @fd; -ENODEV without an
 * irqchip; -EBUSY if @fd is already an irqfd; another -errno.
 */
int loom_kvm_irqfd_add(struct loom_kvm_vm *vm, int fd, uint32_t gsi,
                       int resample_fd);

/**
 * loom_kvm_irqfd_del() - undo loom_kvm_irqfd_add().
 * Context: any.  Return: 0; -EINVAL; another -errno.
 */
int loom_kvm_irqfd_del(struct loom_kvm_vm *vm, int fd, uint32_t gsi);

/* ------------------------------------------------------------------ */
/* vCPUs (vcpu.c)                                                      */
/* ------------------------------------------------------------------ */

/**
 * typedef loom_kvm_vcpu_init_fn - set up a new vCPU's registers.
 * @vcpu: the vCPU; its fd exists.
 * @opaque: loom_kvm_vcpu_new()'s pointer.
 *
 * Callback: vcpu(cpu), from loom_cpu_start(), before guest code runs.
 * Return: 0, or a negative errno to fail the start.
 */
typedef int loom_kvm_vcpu_init_fn(struct loom_kvm_vcpu *vcpu, void *opaque);

/**
 * typedef loom_kvm_exit_hook_fn - observe every return of KVM_RUN.
 * @vcpu: the vCPU.
 * @run: its kvm_run page (exit_reason ...), before dispatch.
 * @opaque: the hook's pointer.
 *
 * Callback: vcpu(cpu), inside exec, without the BQL.  For tracing and
 * benchmarks; it must be quick.
 */
typedef void loom_kvm_exit_hook_fn(struct loom_kvm_vcpu *vcpu,
                                   const struct kvm_run *run, void *opaque);

/**
 * loom_accel_kvm - the KVM accelerator (one thread per vCPU).  Use it
 * through loom_kvm_vcpu_new(), which attaches the per-vCPU state.
 */
extern const struct loom_accel_ops loom_accel_kvm;

/**
 * loom_kvm_vcpu_new() - create a KVM vCPU (not yet running).
 * @vm: the VM.
 * @index: the vCPU index (loom_cpu_new()) and KVM vCPU id.
 * @init: optional register set-up, run on the vCPU thread at start.
 * @opaque: passed to @init, and loom_cpu_opaque() of the vCPU.
 * @ret: receives the vCPU.
 *
 * The KVM vCPU fd is created on the vCPU's thread by loom_cpu_start()
 * (loom_kvm_vcpu_start()), as KVM wants vCPU ioctls from one thread.
 *
 * Context: any.
 * Return: 0; -EINVAL for NULL @vm or @ret; as loom_cpu_new(); -ENOMEM.
 */
int loom_kvm_vcpu_new(struct loom_kvm_vm *vm, int index,
                      loom_kvm_vcpu_init_fn *init, void *opaque,
                      struct loom_kvm_vcpu **ret);

/**
 * loom_kvm_vcpu_start() - start the vCPU thread (loom_cpu_start()).
 * Context: any.  Return: as loom_cpu_start(), or an error from KVM
 * (vCPU creation) or from @init.
 */
int loom_kvm_vcpu_start(struct loom_kvm_vcpu *vcpu);

/**
 * loom_kvm_vcpu_free() - destroy the vCPU (loom_cpu_destroy()) and its
 * KVM state.
 * @vcpu: the vCPU, or NULL.
 * Context: as loom_cpu_destroy().
 */
void loom_kvm_vcpu_free(struct loom_kvm_vcpu *vcpu);

/** loom_kvm_vcpu_cpu() - the vCPU's struct loom_cpu.
 * Context: any.  Return: it, NULL for NULL. */
struct loom_cpu *loom_kvm_vcpu_cpu(struct loom_kvm_vcpu *vcpu);

/** loom_kvm_vcpu_of() - the KVM vCPU behind @cpu.
 * @cpu: a vCPU made by loom_kvm_vcpu_new() (for others: their accel
 *     state, whatever it is).
 * Context: any.  Return: the KVM vCPU, NULL for NULL. */
struct loom_kvm_vcpu *loom_kvm_vcpu_of(struct loom_cpu *cpu);

/** loom_kvm_vcpu_vm() - the VM of @vcpu.
 * Context: any.  Return: it, NULL for NULL. */
struct loom_kvm_vm *loom_kvm_vcpu_vm(struct loom_kvm_vcpu *vcpu);

/**
 * loom_kvm_vcpu_set_exit_hook() - install (or with NULL remove) a hook.
 * Context: before loom_kvm_vcpu_start(), or vcpu(cpu).
 */
void loom_kvm_vcpu_set_exit_hook(struct loom_kvm_vcpu *vcpu,
                                 loom_kvm_exit_hook_fn *fn, void *opaque);

/*
 * Register access: each is one vCPU ioctl (~5-20 us on PVM), so never per
 * exit.  Context: vcpu(cpu) outside exec: in @init, or in work queued with
 * loom_run_on_cpu().  A pending I/O completion has been flushed by then,
 * so the registers are consistent.  Return: 0; -EINVAL for NULL; -EBADF
 * before start; another -errno from KVM.
 */
int loom_kvm_vcpu_get_regs(struct loom_kvm_vcpu *vcpu, struct kvm_regs *r);
int loom_kvm_vcpu_set_regs(struct loom_kvm_vcpu *vcpu,
                           const struct kvm_regs *r);
int loom_kvm_vcpu_get_sregs(struct loom_kvm_vcpu *vcpu, struct kvm_sregs *s);
int loom_kvm_vcpu_set_sregs(struct loom_kvm_vcpu *vcpu,
                            const struct kvm_sregs *s);

/**
 * struct loom_kvm_vcpu_stats - per-vCPU exit counters (monotonic).
 * @runs: KVM_RUN calls.
 * @exits_io: port I/O exits.
 * @exits_mmio: MMIO exits.
 * @exits_intr: KVM_RUN interrupted (kicks, immediate exits).
 * @exits_other: any other exit.
 * @kicks: kicks delivered by signal.
 * @last_exit_reason: KVM_EXIT_* of the last exit.
 * @last_error: internal error suberror / hardware entry failure reason
 *     of the last failing exit, 0 if none.
 */
struct loom_kvm_vcpu_stats {
    uint64_t runs;
    uint64_t exits_io;
    uint64_t exits_mmio;
    uint64_t exits_intr;
    uint64_t exits_other;
    uint64_t kicks;
    uint32_t last_exit_reason;
    uint64_t last_error;
};

/** loom_kvm_vcpu_stats() - read @vcpu's counters.  Context: any.
 * Return: 0, or -EINVAL for NULL. */
int loom_kvm_vcpu_stats(struct loom_kvm_vcpu *vcpu,
                        struct loom_kvm_vcpu_stats *st);

/* ------------------------------------------------------------------ */
/* x86-64 flat set-up (x86.c)                                          */
/* ------------------------------------------------------------------ */

/** LOOM_KVM_X86_FLAT_SIZE - bytes of guest RAM the flat tables use. */
#define LOOM_KVM_X86_FLAT_SIZE 0xa000u

/* Selectors of the flat GDT. */
#define LOOM_KVM_X86_SEL_CODE0 0x08 /* 64-bit code, DPL 0 */
#define LOOM_KVM_X86_SEL_DATA0 0x10 /* data, DPL 0 */
#define LOOM_KVM_X86_SEL_DATA3 0x1b /* data, DPL 3 */
#define LOOM_KVM_X86_SEL_CODE3 0x23 /* 64-bit code, DPL 3 */
#define LOOM_KVM_X86_SEL_TSS 0x28   /* 64-bit TSS */

/**
 * loom_kvm_x86_build_flat() - write long-mode tables into guest RAM.
 * @vm: the VM.
 * @gpa: 4 KiB-aligned guest-physical address of LOOM_KVM_X86_FLAT_SIZE
 *     bytes of RAM: PML4, PDPT, four page directories identity-mapping
 *     the first 4 GiB with 2 MiB user-accessible, writable pages, then a
 *     GDT (selectors above) and a TSS whose I/O bitmap allows every port.
 *
 * Context: any, while no vCPU runs code that uses the tables.
 * Return: 0; -EINVAL for NULL or misalignment; -EFAULT if the range is
 * not RAM.
 */
int loom_kvm_x86_build_flat(struct loom_kvm_vm *vm, uint64_t gpa);

/**
 * loom_kvm_x86_enter_flat() - put @vcpu in 64-bit mode on those tables.
 * @vcpu: the vCPU.
 * @tables: @gpa given to loom_kvm_x86_build_flat().
 * @user: true for CPL3 with RFLAGS.IOPL=3 (runs natively on PVM, port
 *     I/O allowed), false for CPL0.
 * @regs: general registers, rip (entry point), rsp and rflags; the
 *     reserved bit 1 and, with @user, IOPL=3 are added to rflags.
 *
 * Context: as loom_kvm_vcpu_set_regs().
 * Return: 0; -EINVAL for NULL @regs; or as loom_kvm_vcpu_set_sregs().
 */
int loom_kvm_x86_enter_flat(struct loom_kvm_vcpu *vcpu, uint64_t tables,
                            bool user, const struct kvm_regs *regs);

/**
 * loom_kvm_x86_flat_sregs() - the special registers of
 * loom_kvm_x86_enter_flat(), for callers with a raw vCPU fd.
 * @tables: @gpa given to loom_kvm_x86_build_flat().
 * @user: as for loom_kvm_x86_enter_flat().
 * @sr: KVM_GET_SREGS's result, updated in place.
 * Context: any.
 */
void loom_kvm_x86_flat_sregs(uint64_t tables, bool user, struct kvm_sregs *sr);

/** loom_kvm_x86_flat_rflags() - rflags bits loom_kvm_x86_enter_flat()
 * sets.  Context: any. */
uint64_t loom_kvm_x86_flat_rflags(bool user);

#endif /* LOOM_VMM_KVM_H */
