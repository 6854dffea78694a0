/* SPDX-License-Identifier: MIT */
/*
 * x86-64 flat long-mode set-up written by the VMM (no guest bootstrap):
 * identity-mapped page tables, a GDT and a TSS in guest RAM, and the
 * special registers that enter 64-bit mode on them.  Used by the KVM
 * tests and benchmarks, whose guests are emitted machine code.
 */
#ifndef VMM_ARCH_X86_64_FLAT_H
#define VMM_ARCH_X86_64_FLAT_H

#include <stdbool.h>
#include <stdint.h>

#include "vstate/kvm.h"

/* ------------------------------------------------------------------ */
/* x86-64 flat set-up (flat.c)                                         */
/* ------------------------------------------------------------------ */

/** VMM_X86_FLAT_SIZE - bytes of guest RAM the flat tables use. */
#define VMM_X86_FLAT_SIZE 0xa000u

/* Selectors of the flat GDT. */
#define VMM_X86_SEL_CODE0 0x08 /* 64-bit code, DPL 0 */
#define VMM_X86_SEL_DATA0 0x10 /* data, DPL 0 */
#define VMM_X86_SEL_DATA3 0x1b /* data, DPL 3 */
#define VMM_X86_SEL_CODE3 0x23 /* 64-bit code, DPL 3 */
#define VMM_X86_SEL_TSS 0x28   /* 64-bit TSS */

/**
 * vmm_x86_build_flat() - write long-mode tables into guest RAM.
 * @vm: the VM.
 * @gpa: 4 KiB-aligned guest-physical address of VMM_X86_FLAT_SIZE
 *     bytes of RAM: PML4, PDPT, four page directories identity-mapping
 *     the first 4 GiB with 2 MiB user-accessible, writable pages, then a
 *     GDT (selectors above) and a TSS whose I/O bitmap allows every port.
 *
 * Context: any, while no vCPU runs code that uses the tables.
 * Return: 0; -EINVAL for NULL or misalignment; -EFAULT if the range is
 * not RAM.
 */
int vmm_x86_build_flat(struct vmm_kvm_vm *vm, uint64_t gpa);

/**
 * vmm_x86_enter_flat() - put @vcpu in 64-bit mode on those tables.
 * @vcpu: the vCPU.
 * @tables: @gpa given to vmm_x86_build_flat().
 * @user: true for CPL3 with RFLAGS.IOPL=3 (runs natively on PVM, port
 *     I/O allowed), false for CPL0.
 * @regs: general registers, rip (entry point), rsp and rflags; the
 *     reserved bit 1 and, with @user, IOPL=3 are added to rflags.
 *
 * Context: as vmm_kvm_vcpu_set_regs().
 * Return: 0; -EINVAL for NULL @regs; or as vmm_kvm_vcpu_set_sregs().
 */
int vmm_x86_enter_flat(struct vmm_kvm_vcpu *vcpu, uint64_t tables, bool user,
                       const struct kvm_regs *regs);

/**
 * vmm_x86_flat_sregs() - the special registers of
 * vmm_x86_enter_flat(), for callers with a raw vCPU fd.
 * @tables: @gpa given to vmm_x86_build_flat().
 * @user: as for vmm_x86_enter_flat().
 * @sr: KVM_GET_SREGS's result, updated in place.
 * Context: any.
 */
void vmm_x86_flat_sregs(uint64_t tables, bool user, struct kvm_sregs *sr);

/** vmm_x86_flat_rflags() - rflags bits vmm_x86_enter_flat()
 * sets.  Context: any. */
uint64_t vmm_x86_flat_rflags(bool user);

#endif /* VMM_ARCH_X86_64_FLAT_H */
