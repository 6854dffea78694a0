/* SPDX-License-Identifier: MIT */
/*
 * The KVM VM: /dev/kvm and the VM fd, the kick signal's handler and the
 * in-kernel irqchip.  Any thread may create, change and destroy these
 * (updates are serialised by vm->lock).  Memory slots are in memory.c.
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

#include <loom/cpu.h>
#include <loom/rcu.h>

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

int vmm_kvm_vm_new(struct vmm_bus *pio, struct vmm_bus *mmio,
                   struct vmm_kvm_vm **ret)
{
    struct vmm_kvm_vm *vm;
    int r;

    if (!pio || !mmio || !ret) {
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
    vm->pio = pio;
    vm->mmio = mmio;
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
        /* Pairs with the acquire load in vmm__kvm_vm_has_irqchip(). */
        __atomic_store_n(&vm->irqchip, true, __ATOMIC_RELEASE);
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

void vmm_kvm_vm_set_event_handler(struct vmm_kvm_vm *vm, vmm_kvm_event_fn *fn,
                                  void *opaque)
{
    if (vm) {
        vm->on_event = fn;
        vm->event_opaque = opaque;
    }
}

int vmm_kvm_vm_ioctl(struct vmm_kvm_vm *vm, unsigned long req, void *arg)
{
    int r;

    if (!vm) {
        return -EINVAL;
    }
    r = ioctl(vm->vm_fd, req, arg);
    return r < 0 ? -errno : r;
}

int vmm_kvm_sys_ioctl(struct vmm_kvm_vm *vm, unsigned long req, void *arg)
{
    int r;

    if (!vm) {
        return -EINVAL;
    }
    r = ioctl(vm->kvm_fd, req, arg);
    return r < 0 ? -errno : r;
}

int vmm_kvm_vm_irq_line(struct vmm_kvm_vm *vm, uint32_t gsi, bool level)
{
    struct kvm_irq_level irq = {.irq = gsi, .level = level ? 1 : 0};

    if (!vm) {
        return -EINVAL;
    }
    if (!vmm__kvm_vm_has_irqchip(vm)) {
        return -ENODEV;
    }
    return ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0 ? -errno : 0;
}

int vmm_kvm_vm_create_pit(struct vmm_kvm_vm *vm)
{
    struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};

    if (!vm) {
        return -EINVAL;
    }
    if (!vmm__kvm_vm_has_irqchip(vm)) {
        return -ENODEV;
    }
    return ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0 ? -errno : 0;
}

void vmm_kvm_vm_freeze(struct vmm_kvm_vm *vm)
{
    struct loom_cpu *cpu;

    if (!vm) {
        return;
    }
    /* Pairs with the load in kvm_exec(): set first, then kick. */
    __atomic_store_n(&vm->frozen, true, __ATOMIC_SEQ_CST);
    /* The CPU list is process-wide, as is the machine: kick them all. */
    loom_rcu_read_lock();
    LOOM_CPU_FOREACH (cpu) {
        loom_cpu_kick(cpu);
    }
    loom_rcu_read_unlock();
}

void vmm_kvm_vm_thaw(struct vmm_kvm_vm *vm)
{
    if (vm) {
        __atomic_store_n(&vm->frozen, false, __ATOMIC_SEQ_CST);
    }
}
