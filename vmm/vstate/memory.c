/* SPDX-License-Identifier: MIT */
/*
 * Guest memory slots of a KVM VM.  Any thread may add and remove slots
 * (serialised by vm->lock); any thread may translate guest addresses,
 * which reads an RCU-published, sorted slot table without locks.
 */
#include "vstate/kvm-int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <loom/rcu.h>

#define PAGE_MASK_4K 0xfffull

/* ------------------------------------------------------------------ */

static int set_slot(struct vmm_kvm_vm *vm, const struct mem_slot *s,
                    uint64_t size)
{
    struct kvm_userspace_memory_region r = {
        .slot = s->id,
        .flags = (s->flags & VMM_KVM_MEM_READONLY) ? KVM_MEM_READONLY : 0,
        .guest_phys_addr = s->gpa,
        .memory_size = size,
        .userspace_addr = (uintptr_t)s->hva,
    };

    return ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0 ? -errno : 0;
}

/* Lowest slot id unused in @m. */
static uint32_t free_slot_id(const struct mem_map *m)
{
    uint32_t id;
    unsigned i;

    for (id = 0;; id++) {
        for (i = 0; i < m->n && m->s[i].id != id; i++) {
        }
        if (i == m->n) {
            return id;
        }
    }
}

/* Publish @m (under vm->lock) and free the previous table after readers. */
static void publish_mem(struct vmm_kvm_vm *vm, struct mem_map *m)
{
    struct mem_map *old = vm->mem;

    /* Pairs with the acquire load in vmm_kvm_gpa_to_hva(). */
    __atomic_store_n(&vm->mem, m, __ATOMIC_RELEASE);
    loom_synchronize_rcu();
    free(old);
}

static int mem_insert(struct vmm_kvm_vm *vm, struct mem_slot *s)
{
    struct mem_map *old = vm->mem, *m;
    unsigned i, pos = 0;
    int r;

    if (old->n >= KVM_MAX_SLOTS) {
        return -ENOSPC;
    }
    for (i = 0; i < old->n; i++) {
        const struct mem_slot *o = &old->s[i];

        if (o->gpa < s->gpa + s->size && s->gpa < o->gpa + o->size) {
            return -EEXIST;
        }
        if (o->gpa < s->gpa) {
            pos = i + 1;
        }
    }
    m = malloc(sizeof(*m) + (old->n + 1) * sizeof(m->s[0]));
    if (!m) {
        return -ENOMEM;
    }
    s->id = free_slot_id(old);
    r = set_slot(vm, s, s->size);
    if (r < 0) {
        free(m);
        return r;
    }
    m->n = old->n + 1;
    memcpy(m->s, old->s, pos * sizeof(m->s[0]));
    m->s[pos] = *s;
    memcpy(&m->s[pos + 1], &old->s[pos], (old->n - pos) * sizeof(m->s[0]));
    publish_mem(vm, m);
    return 0;
}

int vmm_kvm_mem_add(struct vmm_kvm_vm *vm, uint64_t gpa, uint64_t size,
                    void *hva, unsigned flags, void **ret_hva)
{
    struct mem_slot s = {.gpa = gpa, .size = size, .flags = flags};
    int r;

    if (!vm || size == 0 || ((gpa | size) & PAGE_MASK_4K) || gpa + size < gpa ||
        (flags & ~VMM_KVM_MEM_READONLY) || ((uintptr_t)hva & PAGE_MASK_4K)) {
        return -EINVAL;
    }
    if (hva) {
        s.hva = hva;
    } else {
        s.hva = mmap(NULL, size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (s.hva == MAP_FAILED) {
            return -ENOMEM;
        }
        s.owned = true;
    }
    loom_mutex_lock(&vm->lock);
    r = mem_insert(vm, &s);
    loom_mutex_unlock(&vm->lock);
    if (r < 0) {
        if (s.owned) {
            munmap(s.hva, size);
        }
        return r;
    }
    if (ret_hva) {
        *ret_hva = s.hva;
    }
    return 0;
}

int vmm_kvm_mem_remove(struct vmm_kvm_vm *vm, uint64_t gpa)
{
    struct mem_map *old, *m;
    struct mem_slot gone;
    unsigned i;
    int r;

    if (!vm) {
        return -EINVAL;
    }
    loom_mutex_lock(&vm->lock);
    old = vm->mem;
    for (i = 0; i < old->n && old->s[i].gpa != gpa; i++) {
    }
    if (i == old->n) {
        loom_mutex_unlock(&vm->lock);
        return -ENOENT;
    }
    gone = old->s[i];
    m = malloc(sizeof(*m) + old->n * sizeof(m->s[0]));
    if (!m) {
        loom_mutex_unlock(&vm->lock);
        return -ENOMEM;
    }
    r = set_slot(vm, &gone, 0);
    if (r < 0) {
        free(m);
        loom_mutex_unlock(&vm->lock);
        return r;
    }
    m->n = old->n - 1;
    memcpy(m->s, old->s, i * sizeof(m->s[0]));
    memcpy(&m->s[i], &old->s[i + 1], (old->n - i - 1) * sizeof(m->s[0]));
    /* After the grace period no translation of the slot is in use. */
    publish_mem(vm, m);
    loom_mutex_unlock(&vm->lock);
    if (gone.owned) {
        munmap(gone.hva, gone.size);
    }
    return 0;
}

void *vmm_kvm_gpa_to_hva(struct vmm_kvm_vm *vm, uint64_t gpa, uint64_t len)
{
    const struct mem_map *m;
    unsigned lo, hi;

    if (!vm || len == 0) {
        return NULL;
    }
    /* Pairs with the release store in publish_mem(). */
    m = __atomic_load_n(&vm->mem, __ATOMIC_ACQUIRE);
    lo = 0;
    hi = m->n;
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        const struct mem_slot *s = &m->s[mid];

        if (gpa < s->gpa) {
            hi = mid;
        } else if (gpa - s->gpa >= s->size) {
            lo = mid + 1;
        } else if (len > s->size - (gpa - s->gpa)) {
            return NULL;
        } else {
            return (char *)s->hva + (gpa - s->gpa);
        }
    }
    return NULL;
}
