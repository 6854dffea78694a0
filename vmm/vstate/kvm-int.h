/* SPDX-License-Identifier: MIT */
/*
 * Private state shared by the files of vmm/vstate/.
 */
#ifndef VMM_VSTATE_KVM_INT_H
#define VMM_VSTATE_KVM_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <loom/thread.h>

#include "vstate/kvm.h"

/* Most memory slots one VM uses (KVM allows far more). */
#define KVM_MAX_SLOTS 64

struct mem_slot {
    uint32_t id;
    unsigned flags;
    uint64_t gpa;
    uint64_t size;
    void *hva;
    bool owned; /* mmap()ed by vmm_kvm_mem_add() */
};

/* Immutable once published; sorted by gpa. */
struct mem_map {
    unsigned n;
    struct mem_slot s[];
};

struct vmm_kvm_vm {
    /* Immutable after vmm_kvm_vm_new(). */
    int kvm_fd;
    int vm_fd;
    int run_size;
    struct vmm_bus *pio;
    struct vmm_bus *mmio;
    vmm_kvm_event_fn *on_event; /* set before vCPUs start */
    bool frozen;                /* atomic; vmm_kvm_vm_freeze() */
    void *event_opaque;

    /* Protected by ->lock. */
    struct loom_mutex lock;
    bool irqchip;
    int nr_vcpus;

    /* RCU-published; written under ->lock. */
    struct mem_map *mem;
};

/*
 * Whether the irqchip exists.  Lock-free: the flag is set once, under
 * vm->lock, with a release store in vmm_kvm_vm_create_irqchip().
 * Context: any.
 */
static inline bool vmm__kvm_vm_has_irqchip(struct vmm_kvm_vm *vm)
{
    return __atomic_load_n(&vm->irqchip, __ATOMIC_ACQUIRE);
}

/* vm.c: count a vCPU in or out (irqchip creation needs none). */
void vmm__kvm_vm_vcpu_get(struct vmm_kvm_vm *vm);
void vmm__kvm_vm_vcpu_put(struct vmm_kvm_vm *vm);

#endif /* VMM_VSTATE_KVM_INT_H */
