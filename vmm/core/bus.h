/* SPDX-License-Identifier: MIT */
/*
 * Address maps for guest port I/O and MMIO.
 *
 * A bus maps address ranges to device callbacks.  The map is an immutable
 * sorted array published through RCU: a lookup is a binary search inside a
 * read section, never a lock.  Each region is dispatched either with the
 * BQL held (the default, for devices that are not thread-safe) or, when
 * added with VMM_BUS_UNLOCKED, without it, on whichever vCPU thread made
 * the access (QEMU's unlocked MMIO).
 *
 * Data is passed as a little-endian value of 1, 2, 4 or 8 bytes, as KVM
 * hands it over in struct kvm_run.
 */
#ifndef VMM_CORE_BUS_H
#define VMM_CORE_BUS_H

#include <stdbool.h>
#include <stdint.h>

struct vmm_bus;

/**
 * struct vmm_bus_ops - a region's callbacks.
 * @read: returns the value read at @offset (from the region's base) of
 *     @size bytes; NULL reads as all ones.
 * @write: stores @value of @size bytes at @offset; NULL ignores writes.
 *
 * Callback: the thread that dispatched the access (a vCPU thread for
 * guest accesses).  BQL regions: with the BQL held, outside any RCU read
 * section; they may add and remove regions (also their own).  Unlocked
 * regions: inside an RCU read section, perhaps with the BQL held by the
 * caller; they must neither wait for the BQL nor add or remove regions
 * (both would deadlock against vmm_bus_remove()).
 */
struct vmm_bus_ops {
    uint64_t (*read)(void *opaque, uint64_t offset, unsigned size);
    void (*write)(void *opaque, uint64_t offset, uint64_t value, unsigned size);
};

/* Flags of vmm_bus_add(). */
/** VMM_BUS_UNLOCKED - thread-safe region: dispatched without the BQL. */
#define VMM_BUS_UNLOCKED 0x1u

/**
 * struct vmm_bus_stats - bus counters (monotonic, relaxed).
 * @locked: accesses dispatched with the BQL taken for them.
 * @unlocked: accesses dispatched to unlocked regions.
 * @unassigned: accesses that hit no region (reads returned all ones).
 * @rejected: accesses with a bad size or straddling a region's end.
 */
struct vmm_bus_stats {
    uint64_t locked;
    uint64_t unlocked;
    uint64_t unassigned;
    uint64_t rejected;
};

/**
 * vmm_bus_new() - create an empty bus.
 * @limit: highest valid address (0xffff for port I/O, UINT64_MAX for MMIO).
 * @ret: receives the bus.
 * Context: any.
 * Return: 0; -EINVAL for a NULL @ret; -ENOMEM.
 */
int vmm_bus_new(uint64_t limit, struct vmm_bus **ret);

/**
 * vmm_bus_free() - free a bus and its map.
 * @bus: the bus, or NULL.  Nothing may dispatch on it any more.
 * Context: any, !rcu.
 */
void vmm_bus_free(struct vmm_bus *bus);

/**
 * vmm_bus_add() - map [@base, @base + @size) to @ops.
 * @bus: the bus.
 * @base: first address.
 * @size: length in bytes, > 0; the range must end at or below the limit.
 * @ops: the callbacks (must stay valid until the region is removed).
 * @opaque: passed to them.
 * @flags: 0 or VMM_BUS_UNLOCKED.
 *
 * The region is visible to every dispatch that starts after the call
 * returns.
 *
 * Context: any, !rcu; never from an unlocked region's callback.
 * Return: 0; -EINVAL for NULL @bus or @ops, a zero @size, a range past
 * the limit or unknown @flags; -EEXIST if it overlaps a region; -ENOMEM.
 */
int vmm_bus_add(struct vmm_bus *bus, uint64_t base, uint64_t size,
                const struct vmm_bus_ops *ops, void *opaque, unsigned flags);

/**
 * vmm_bus_remove() - unmap the region starting at @base.
 * @bus: the bus.
 * @base: the base the region was added with.
 *
 * Once it returns, the region's callbacks are not running and will not
 * run again: an unlocked region's callbacks are waited for (an RCU grace
 * period); a BQL region must be removed with the BQL held, which keeps
 * them out.
 *
 * Context: any, !rcu; bql for a BQL region; never from an unlocked
 * region's callback.
 * Return: 0; -EINVAL for a NULL @bus; -ENOENT if no region starts at
 * @base; -EPERM for a BQL region when the caller does not hold the BQL;
 * -ENOMEM.
 */
int vmm_bus_remove(struct vmm_bus *bus, uint64_t base);

/**
 * vmm_bus_read() - dispatch a read.
 * @bus: the bus.
 * @addr: the address.
 * @data: receives @size bytes, little-endian (all ones if unassigned or
 *     rejected).
 * @size: 1, 2, 4 or 8.
 *
 * Takes the BQL around a BQL region's callback unless the caller holds
 * it already.
 *
 * Context: any, !rcu (taking the BQL inside a read section would
 * deadlock against writers).
 * Return: 0 if a region handled it; -ENOENT if none maps @addr; -EINVAL
 * for a NULL argument or a bad @size; -ERANGE if the access straddles a
 * region's end.
 */
int vmm_bus_read(struct vmm_bus *bus, uint64_t addr, void *data, unsigned size);

/**
 * vmm_bus_write() - dispatch a write of @size bytes from @data.
 * Context and Return: as vmm_bus_read().
 */
int vmm_bus_write(struct vmm_bus *bus, uint64_t addr, const void *data,
                  unsigned size);

/**
 * vmm_bus_stats() - read the bus counters.
 * Context: any.  Return: 0, or -EINVAL for NULL arguments.
 */
int vmm_bus_stats(struct vmm_bus *bus, struct vmm_bus_stats *st);

#endif /* VMM_CORE_BUS_H */
