/* SPDX-License-Identifier: MIT */
/*
 * The KVM VM: /dev/kvm and the VM fd, the kick signal's handler, the
 * in-kernel irqchip and guest memory slots.  Any thread may create, change
 * and destroy these (updates are serialised by vm->lock); any thread may
 * translate guest addresses, which reads an RCU-published slot table
 * without locks (device emulation on vCPU threads and IOThreads).
 */
#include "vstate/kvm-int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <loom/rcu.h>

#define PAGE_MASK_4K 0xfffull

static int open_kvm(int *ret_fd)
{
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    int r;

    if (fd < 0) {
        return -errno;
    }
    if (ioctl(fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION ||
        ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_IMMEDIATE_EXIT) <= 0 ||
        ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY) <= 0) {
        close(fd);
        return -ENOTSUP;
    }
    r = ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (r <= 0) {
        close(fd);
        return -ENOTSUP;
    }
    *ret_fd = fd;
    return r;
}

int vmm_kvm_available(void)
{
    int fd = -1;
    int r = open_kvm(&fd);

    if (r < 0) {
        return r;
    }
    close(fd);
    return 0;
}

/* The kick signal only has to interrupt KVM_RUN; see vcpu.c. */
static void kick_handler(int sig)
{
    (void)sig;
}

static pthread_mutex_t g_sig_lock = PTHREAD_MUTEX_INITIALIZER;

static int install_kick_handler(void)
{
    struct sigaction old, sa;
    int ret = 0;

    pthread_mutex_lock(&g_sig_lock);
    if (sigaction(VMM_KVM_KICK_SIGNAL, NULL, &old) < 0) {
        ret = -errno;
    } else if (!(old.sa_flags & SA_SIGINFO) && old.sa_handler == kick_handler) {
        ret = 0;
    } else if ((old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL) {
        /* The program uses the signal itself (SIG_IGN would lose kicks). */
        ret = -EBUSY;
    } else {
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = kick_handler;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        if (sigaction(VMM_KVM_KICK_SIGNAL, &sa, NULL) < 0) {
            ret = -errno;
        }
    }
    pthread_mutex_unlock(&g_sig_lock);
    return ret;
}

int vmm_kvm_vm_new(struct vmm_kvm_vm **ret)
{
    struct vmm_kvm_vm *vm;
    int r;

    if (!ret) {
        return -EINVAL;
    }
    r = install_kick_handler();
    if (r < 0) {
        return r;
    }
    vm = calloc(1, sizeof(*vm));
    if (!vm) {
        return -ENOMEM;
    }
    vm->kvm_fd = vm->vm_fd = -1;
    loom_mutex_init(&vm->lock);
    vm->mem = calloc(1, sizeof(*vm->mem));
    if (!vm->mem) {
        r = -ENOMEM;
        goto fail;
    }
    r = open_kvm(&vm->kvm_fd);
    if (r < 0) {
        goto fail;
    }
    vm->run_size = r;
    vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
    if (vm->vm_fd < 0) {
        r = -errno;
        goto fail;
    }
    r = vmm_bus_new(0xffff, &vm->pio);
    if (r < 0) {
        goto fail;
    }
    r = vmm_bus_new(UINT64_MAX, &vm->mmio);
    if (r < 0) {
        goto fail;
    }
    *ret = vm;
    return 0;

fail:
    vmm_kvm_vm_free(vm);
    return r;
}

void vmm_kvm_vm_free(struct vmm_kvm_vm *vm)
{
    unsigned i;

    if (!vm) {
        return;
    }
    if (__atomic_load_n(&vm->nr_vcpus, __ATOMIC_RELAXED) != 0) {
        /* A contract violation that would leave threads on freed memory. */
        fprintf(stderr, "loom-vm: panic: VM freed with %d vCPUs left\n",
                vm->nr_vcpus);
        abort();
    }
    vmm_bus_free(vm->pio);
    vmm_bus_free(vm->mmio);
    if (vm->vm_fd >= 0) {
        close(vm->vm_fd);
    }
    if (vm->kvm_fd >= 0) {
        close(vm->kvm_fd);
    }
    /* Closing the VM fd dropped KVM's mappings; readers are gone too. */
    loom_synchronize_rcu();
    for (i = 0; vm->mem && i < vm->mem->n; i++) {
        if (vm->mem->s[i].owned) {
            munmap(vm->mem->s[i].hva, vm->mem->s[i].size);
        }
    }
    free(vm->mem);
    loom_mutex_destroy(&vm->lock);
    free(vm);
}

int vmm_kvm_vm_fd(const struct vmm_kvm_vm *vm)
{
    return vm ? vm->vm_fd : -EINVAL;
}

struct vmm_bus *vmm_kvm_vm_pio(struct vmm_kvm_vm *vm)
{
    return vm ? vm->pio : NULL;
}

struct vmm_bus *vmm_kvm_vm_mmio(struct vmm_kvm_vm *vm)
{
    return vm ? vm->mmio : NULL;
}

int vmm_kvm_vm_create_irqchip(struct vmm_kvm_vm *vm)
{
    int ret = 0;

    if (!vm) {
        return -EINVAL;
    }
    loom_mutex_lock(&vm->lock);
    if (vm->irqchip) {
        ret = -EEXIST;
    } else if (vm->nr_vcpus > 0) {
        ret = -EBUSY;
    } else if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
        ret = -errno;
    } else {
        vm->irqchip = true;
    }
    loom_mutex_unlock(&vm->lock);
    return ret;
}

/*
 * Context: any.  Counts a vCPU object so that irqchip creation (which
 * KVM refuses once vCPUs exist) fails early and the VM is not freed
 * under it.
 */
void vmm__kvm_vm_vcpu_get(struct vmm_kvm_vm *vm)
{
    loom_mutex_lock(&vm->lock);
    __atomic_store_n(&vm->nr_vcpus, vm->nr_vcpus + 1, __ATOMIC_RELAXED);
    loom_mutex_unlock(&vm->lock);
}

/* Context: any. */
void vmm__kvm_vm_vcpu_put(struct vmm_kvm_vm *vm)
{
    loom_mutex_lock(&vm->lock);
    __atomic_store_n(&vm->nr_vcpus, vm->nr_vcpus - 1, __ATOMIC_RELAXED);
    loom_mutex_unlock(&vm->lock);
}

/* ------------------------------------------------------------------ */
/* Memory slots                                                        */
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
