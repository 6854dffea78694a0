/* SPDX-License-Identifier: MIT */
/*
 * The two signal paths between a device and the guest that need no
 * knowledge of KVM: an interrupt line the device drives, and doorbells
 * (ioeventfds) through which guest writes reach a device's eventfd
 * without an exit to userspace.  The machine implements both (KVM
 * KVM_IRQ_LINE / irqfd, KVM_IOEVENTFD); tests implement them with fakes.
 * A device knows a bus, guest memory and these, never KVM.
 */
#ifndef VMM_CORE_IRQ_H
#define VMM_CORE_IRQ_H

#include <stdbool.h>
#include <stdint.h>

/**
 * struct vmm_irq - an interrupt line into the guest.
 * @set: drive the line: @level true asserts it, false deasserts.  An
 *     edge-triggered implementation (an irqfd) fires on every assert and
 *     ignores deasserts, so a device that calls set(true) for each new
 *     event and set(false) when the guest acknowledges works with both.
 *     Callback: any thread (devices on IOThreads raise interrupts without
 *     the BQL); must not block.
 * @opaque: passed to @set.
 */
struct vmm_irq {
    void (*set)(void *opaque, bool level);
    void *opaque;
};

/**
 * vmm_irq_set() - drive @irq to @level; a line without @set does nothing.
 * Context: any.
 */
static inline void vmm_irq_set(const struct vmm_irq *irq, bool level)
{
    if (irq && irq->set) {
        irq->set(irq->opaque, level);
    }
}

/**
 * struct vmm_doorbells - registers guest-write doorbells (MMIO ioeventfds).
 * @add: from now on, a guest write of @len bytes of @data at MMIO address
 *     @addr signals eventfd @fd instead of exiting to userspace (and the
 *     write is not dispatched to the bus).  Return: 0 or -errno.
 * @del: undo @add (same arguments).  Return: 0 or -errno.
 * @opaque: passed to both.
 *
 * Callback: any thread, !rcu.
 */
struct vmm_doorbells {
    int (*add)(void *opaque, int fd, uint64_t addr, unsigned len,
               uint64_t data);
    int (*del)(void *opaque, int fd, uint64_t addr, unsigned len,
               uint64_t data);
    void *opaque;
};

#endif /* VMM_CORE_IRQ_H */
