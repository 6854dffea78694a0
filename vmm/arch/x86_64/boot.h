/* SPDX-License-Identifier: MIT */
/*
 * vCPU boot state on x86: the PVH entry state of the boot processor and
 * what a system reset puts every vCPU back into.
 *
 * The BSP enters the kernel as the PVH ABI prescribes (32-bit protected
 * mode, paging off, flat CS/DS/ES/FS/GS/SS, CR0 = PE | ET, EFLAGS 0x2,
 * EIP = entry, EBX = start_info) with what QEMU microvm leaves on top of
 * it: selectors 0x08/0x10 from a GDT in guest RAM, the IDT register and
 * the task register in their x86 reset state (TR: base 0, limit 0xffff,
 * busy 32-bit TSS), so that micro-guests written for QEMU run unchanged
 * (VMM.md, "This machine").  APs are left alone: with the in-kernel
 * LAPIC, KVM creates every vCPU but the BSP in the wait-for-INIT state
 * (KVM_MP_STATE_UNINITIALIZED) and the guest starts them with INIT/SIPI.
 *
 * Register access is one vCPU ioctl each (microseconds on PVM): these run
 * once per vCPU at start-up or reset, on the vCPU's own thread.
 */
#ifndef VMM_ARCH_X86_64_BOOT_H
#define VMM_ARCH_X86_64_BOOT_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/kvm.h>

#include "arch/x86_64/pvh.h"
#include "vstate/kvm.h"

/** VMM_X86_APIC_BASE - the LAPIC's MMIO base after reset. */
#define VMM_X86_APIC_BASE 0xfee00000u

/**
 * vmm_x86_pvh_sregs() - the special registers of the PVH entry.
 * @b: the boot data (vmm_pvh_setup()): the GDT's place.
 * @sr: KVM_GET_SREGS's result, changed in place; apic_base is kept.
 * Context: any (pure).
 */
void vmm_x86_pvh_sregs(const struct vmm_pvh_boot *b, struct kvm_sregs *sr);

/**
 * vmm_x86_pvh_regs() - the general registers of the PVH entry: all zero
 * but rip (the entry), rbx (start_info) and rflags (0x2).
 * @b: the boot data.
 * @r: receives them.
 * Context: any (pure).
 */
void vmm_x86_pvh_regs(const struct vmm_pvh_boot *b, struct kvm_regs *r);

/**
 * vmm_x86_pvh_enter() - put the BSP at the PVH entry.
 * @vcpu: the boot vCPU (index 0), started but not yet running guest code.
 * @b: the boot data of the loaded kernel.
 *
 * Call it from the BSP's vmm_kvm_vcpu_init_fn (or from run_on_cpu work
 * while the VM is paused).  Other vCPUs need no call at start-up.
 *
 * Context: as vmm_kvm_vcpu_set_sregs().
 * Return: 0; -EINVAL for NULL; or as vmm_kvm_vcpu_get_sregs() and
 * vmm_kvm_vcpu_set_sregs() / vmm_kvm_vcpu_set_regs().
 */
int vmm_x86_pvh_enter(struct vmm_kvm_vcpu *vcpu, const struct vmm_pvh_boot *b);

/**
 * vmm_x86_reset_sregs() - the x86 power-on state of the special
 * registers (CS f000:ffff0000, real mode, CR0 0x60000010).
 * @sr: changed in place; apic_base is kept.
 * Context: any (pure).
 */
void vmm_x86_reset_sregs(struct kvm_sregs *sr);

/**
 * vmm_x86_reset_regs() - the x86 power-on general registers.
 * @signature: CPUID.1:EAX of the vCPU, which EDX holds after reset.
 * @r: receives them (rip 0xfff0, rflags 0x2).
 * Context: any (pure).
 */
void vmm_x86_reset_regs(uint32_t signature, struct kvm_regs *r);

/**
 * vmm_x86_lapic_reset_state() - the LAPIC registers after reset.
 * @s: KVM_GET_LAPIC's result, changed in place: ID and version kept,
 *     every other register its reset value (DFR all ones, SVR 0xff,
 *     every LVT masked, nothing pending or in service, timer stopped).
 * Context: any (pure).
 */
void vmm_x86_lapic_reset_state(struct kvm_lapic_state *s);

/**
 * vmm_x86_vcpu_reset() - what a system reset does to one vCPU.
 * @vcpu: the vCPU.
 * @b: the boot data for the BSP (it restarts at the PVH entry, so the
 *     kernel and boot data must have been loaded again), NULL for an AP.
 * @signature: CPUID.1:EAX of the vCPU (an AP's EDX after reset).
 *
 * Clears pending events (a latched INIT included), sets the general,
 * special, FPU, XCR0 and debug registers, the LAPIC and the MSRs a guest
 * may have left armed (kvmclock, steal time, async PF and PV EOI, which
 * would otherwise keep writing into the next guest's memory;
 * SYSENTER/SYSCALL, PAT, TSC deadline) to their reset values, then the
 * multiprocessing state: the BSP runnable, an AP waiting for INIT
 * (KVM_MP_STATE_UNINITIALIZED, as KVM creates it and as QEMU resets it).
 * MSRs this KVM does not know are skipped; XCR0 is skipped without XSAVE.
 *
 * Context: vcpu(cpu), outside exec, all vCPUs paused (system_reset runs
 * it with loom_run_on_cpu() on every vCPU).
 * Return: 0; -EINVAL for NULL; as vmm_kvm_vcpu_ioctl().
 */
int vmm_x86_vcpu_reset(struct vmm_kvm_vcpu *vcpu, const struct vmm_pvh_boot *b,
                       uint32_t signature);

/**
 * vmm_x86_vcpu_reset_fd() - vmm_x86_vcpu_reset() on a raw KVM vCPU fd.
 * @vcpu_fd: the fd.
 * @b, @signature: as vmm_x86_vcpu_reset().
 * Context: the thread that runs the vCPU, outside KVM_RUN.
 * Return: 0; -EINVAL for a negative fd; another -errno from KVM.
 */
int vmm_x86_vcpu_reset_fd(int vcpu_fd, const struct vmm_pvh_boot *b,
                          uint32_t signature);

/**
 * vmm_x86_mp_state() - read a vCPU's multiprocessing state.
 * @vcpu: the vCPU.
 * @ret: receives KVM_MP_STATE_*.
 * Context: vcpu(cpu), outside exec.
 * Return: 0; -EINVAL; as vmm_kvm_vcpu_ioctl().
 */
int vmm_x86_mp_state(struct vmm_kvm_vcpu *vcpu, uint32_t *ret);

/**
 * vmm_x86_mp_state_fd() - vmm_x86_mp_state() on a raw KVM vCPU fd.
 * Context and Return: as vmm_x86_vcpu_reset_fd().
 */
int vmm_x86_mp_state_fd(int vcpu_fd, uint32_t *ret);

#endif /* VMM_ARCH_X86_64_BOOT_H */
