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

    /* Protected by ->lock. */
    struct loom_mutex lock;
    bool irqchip;
    int nr_vcpus;

    /* RCU-published; written under ->lock. */
    struct mem_map *mem;
};

/* vm.c: count a vCPU in or out (irqchip creation needs none). */
void vmm__kvm_vm_vcpu_get(struct vmm_kvm_vm *vm);
void vmm__kvm_vm_vcpu_put(struct vmm_kvm_vm *vm);

#endif /* VMM_VSTATE_KVM_INT_H */
