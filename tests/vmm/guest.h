/* SPDX-License-Identifier: MIT */
/*
 * Test guests for the KVM tests and bench: a machine with RAM at 0, the
 * flat long-mode tables from vmm_x86_build_flat(), and a tiny x86-64
 * emitter that writes machine code straight into guest RAM.  Guests run at
 * CPL3 with IOPL=3 (native speed on PVM) and never take interrupts.
 *
 * Memory layout: tables at GUEST_TABLES, code at GUEST_CODE, one 4 KiB
 * stack per vCPU below GUEST_STACKS + (index + 1) * 4 KiB.
 */
#ifndef LOOM_TEST_KVM_GUEST_H
#define LOOM_TEST_KVM_GUEST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "arch/x86_64/flat.h"

#define GUEST_RAM_SIZE (4u << 20)
#define GUEST_TABLES 0x1000u
#define GUEST_CODE 0x10000u
#define GUEST_STACKS 0x100000u

/* Register numbers of the emitter. */
enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI };

struct guest_asm {
    uint8_t *p;
    uint32_t n;
    uint64_t base; /* guest address of p[0] */
};

static inline void ga_init(struct guest_asm *a, uint8_t *ram, uint64_t gpa)
{
    a->p = ram + gpa;
    a->n = 0;
    a->base = gpa;
}

static inline uint32_t ga_here(const struct guest_asm *a)
{
    return a->n;
}

static inline uint64_t ga_addr(const struct guest_asm *a, uint32_t label)
{
    return a->base + label;
}

static inline void ga_b(struct guest_asm *a, uint8_t b)
{
    a->p[a->n++] = b;
}

/* mov r32, imm32 (zero-extends) */
static inline void ga_mov_imm32(struct guest_asm *a, int reg, uint32_t imm)
{
    ga_b(a, (uint8_t)(0xb8 + reg));
    memcpy(a->p + a->n, &imm, 4);
    a->n += 4;
}

/* mov r64, imm64 */
static inline void ga_mov_imm64(struct guest_asm *a, int reg, uint64_t imm)
{
    ga_b(a, 0x48);
    ga_b(a, (uint8_t)(0xb8 + reg));
    memcpy(a->p + a->n, &imm, 8);
    a->n += 8;
}

/* mov dst32, src32 */
static inline void ga_mov_rr32(struct guest_asm *a, int dst, int src)
{
    ga_b(a, 0x89);
    ga_b(a, (uint8_t)(0xc0 | (src << 3) | dst));
}

/* mov [base + disp8], eax   (base: RBX, RSI or RDI) */
static inline void ga_store32(struct guest_asm *a, int base, int8_t disp)
{
    ga_b(a, 0x89);
    ga_b(a, (uint8_t)(0x40 | (RAX << 3) | base));
    ga_b(a, (uint8_t)disp);
}

/* mov eax, [base + disp8] */
static inline void ga_load32(struct guest_asm *a, int base, int8_t disp)
{
    ga_b(a, 0x8b);
    ga_b(a, (uint8_t)(0x40 | (RAX << 3) | base));
    ga_b(a, (uint8_t)disp);
}

static inline void ga_out_dx_eax(struct guest_asm *a)
{
    ga_b(a, 0xef);
}

static inline void ga_out_dx_al(struct guest_asm *a)
{
    ga_b(a, 0xee);
}

static inline void ga_in_eax_dx(struct guest_asm *a)
{
    ga_b(a, 0xed);
}

/* dec r32 */
static inline void ga_dec32(struct guest_asm *a, int reg)
{
    ga_b(a, 0xff);
    ga_b(a, (uint8_t)(0xc8 | reg));
}

/* inc r64 */
static inline void ga_inc64(struct guest_asm *a, int reg)
{
    ga_b(a, 0x48);
    ga_b(a, 0xff);
    ga_b(a, (uint8_t)(0xc0 | reg));
}

static inline void ga_jcc8(struct guest_asm *a, uint8_t op, uint32_t label)
{
    int32_t rel = (int32_t)label - (int32_t)(a->n + 2);

    ga_b(a, op);
    ga_b(a, (uint8_t)(int8_t)rel);
}

static inline void ga_jnz(struct guest_asm *a, uint32_t label)
{
    ga_jcc8(a, 0x75, label);
}

static inline void ga_jmp(struct guest_asm *a, uint32_t label)
{
    ga_jcc8(a, 0xeb, label);
}

/*
 * guest_vm_free() - free a VM of guest_vm_new() and its two maps.
 */
static inline void guest_vm_free(struct vmm_kvm_vm *vm)
{
    struct vmm_bus *pio = vmm_kvm_vm_pio(vm), *mmio = vmm_kvm_vm_mmio(vm);

    vmm_kvm_vm_free(vm);
    vmm_bus_free(pio);
    vmm_bus_free(mmio);
}

/*
 * guest_vm_new() - a VM with GUEST_RAM_SIZE of RAM at 0 and flat tables,
 * dispatching to two new maps (freed by guest_vm_free()).
 * Returns 0, or the error; *ram receives the RAM's host address.
 */
static inline int guest_vm_new(struct vmm_kvm_vm **ret, uint8_t **ram)
{
    struct vmm_bus *pio = NULL, *mmio = NULL;
    struct vmm_kvm_vm *vm;
    void *hva;
    int r;

    r = vmm_bus_new(0xffff, &pio);
    if (r == 0) {
        r = vmm_bus_new(UINT64_MAX, &mmio);
    }
    if (r == 0) {
        r = vmm_kvm_vm_new(pio, mmio, &vm);
    }
    if (r < 0) {
        vmm_bus_free(pio);
        vmm_bus_free(mmio);
        return r;
    }
    r = vmm_kvm_mem_add(vm, 0, GUEST_RAM_SIZE, NULL, 0, &hva);
    if (r == 0) {
        r = vmm_x86_build_flat(vm, GUEST_TABLES);
    }
    if (r < 0) {
        guest_vm_free(vm);
        return r;
    }
    *ret = vm;
    *ram = hva;
    return 0;
}

/*
 * What a test vCPU starts with: CPL3 at @rip with its own stack and the
 * given general registers.
 */
struct guest_cpu_init {
    uint64_t rip;
    uint64_t rax, rbx, rcx, rdx, rsi, rdi;
    bool cpl0;
};

/* A vmm_kvm_vcpu_init_fn taking a struct guest_cpu_init. */
static inline int guest_cpu_init_fn(struct vmm_kvm_vcpu *v, void *opaque)
{
    const struct guest_cpu_init *gi = opaque;
    struct kvm_regs r;
    int index = loom_cpu_index(vmm_kvm_vcpu_cpu(v));

    memset(&r, 0, sizeof(r));
    r.rip = gi->rip;
    r.rsp = GUEST_STACKS + ((uint64_t)index + 1) * 0x1000u - 16;
    r.rax = gi->rax;
    r.rbx = gi->rbx;
    r.rcx = gi->rcx;
    r.rdx = gi->rdx;
    r.rsi = gi->rsi;
    r.rdi = gi->rdi;
    return vmm_x86_enter_flat(v, GUEST_TABLES, !gi->cpl0, &r);
}

/*
 * guest_skip_reason() - NULL if KVM is usable, else why not.  Creating a
 * VM and running nothing is enough to know: PVM and real KVM both pass.
 */
static inline const char *guest_skip_reason(void)
{
    static char why[96];
    int r = vmm_kvm_available();

    if (r < 0) {
        snprintf(why, sizeof(why), "/dev/kvm unusable: %s", strerror(-r));
        return why;
    }
    return NULL;
}

#endif /* LOOM_TEST_KVM_GUEST_H */
