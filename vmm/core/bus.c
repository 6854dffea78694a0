/* SPDX-License-Identifier: MIT */
/*
 * PIO and MMIO address maps.  Dispatch runs on vCPU threads (and on any
 * thread that emulates an access); updates come from any thread and are
 * serialised by bus->lock.  Readers find a region in an RCU-published,
 * immutable, sorted array.  A BQL region is looked up a second time with
 * the BQL held and called outside the read section, so that its callback
 * may change the map; an unlocked region is called inside the read
 * section, so that vmm_bus_remove() can wait for it with a grace period.
 */
#include "core/bus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <loom/main.h>
#include <loom/rcu.h>
#include <loom/thread.h>

struct bus_region {
    uint64_t base;
    uint64_t size;
    const struct vmm_bus_ops *ops;
    void *opaque;
    unsigned flags;
};

/* Immutable once published. */
struct bus_map {
    unsigned n;
    struct bus_region r[];
};

struct vmm_bus {
    /* Immutable after vmm_bus_new(). */
    uint64_t limit;
    /* Serialises writers; readers never take it. */
    struct loom_mutex lock;
    /* RCU-published; written under ->lock. */
    struct bus_map *map;
    /* Relaxed counters. */
    struct vmm_bus_stats stats;
};

static void count(uint64_t *c)
{
    __atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

int vmm_bus_new(uint64_t limit, struct vmm_bus **ret)
{
    struct vmm_bus *bus;

    if (!ret) {
        return -EINVAL;
    }
    bus = calloc(1, sizeof(*bus));
    if (!bus) {
        return -ENOMEM;
    }
    bus->map = calloc(1, sizeof(*bus->map));
    if (!bus->map) {
        free(bus);
        return -ENOMEM;
    }
    bus->limit = limit;
    loom_mutex_init(&bus->lock);
    *ret = bus;
    return 0;
}

void vmm_bus_free(struct vmm_bus *bus)
{
    if (!bus) {
        return;
    }
    /* Nobody dispatches any more, but a reader may still be leaving. */
    loom_synchronize_rcu();
    free(bus->map);
    loom_mutex_destroy(&bus->lock);
    free(bus);
}

/* Index of the last region with base <= @addr, or -1. */
static int find_le(const struct bus_map *m, uint64_t addr)
{
    int lo = 0, hi = (int)m->n - 1, found = -1;

    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;

        if (m->r[mid].base <= addr) {
            found = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return found;
}

/* Publish @m under ->lock and reclaim the previous map. */
static void publish(struct vmm_bus *bus, struct bus_map *m)
{
    struct bus_map *old = bus->map;

    /* Pairs with the acquire load in lookup(). */
    __atomic_store_n(&bus->map, m, __ATOMIC_RELEASE);
    /* Readers of @old, and unlocked callbacks it led to, finish first. */
    loom_synchronize_rcu();
    free(old);
}

int vmm_bus_add(struct vmm_bus *bus, uint64_t base, uint64_t size,
                const struct vmm_bus_ops *ops, void *opaque, unsigned flags)
{
    struct bus_map *old, *m;
    int i, ret = 0;

    if (!bus || !ops || size == 0 || (flags & ~VMM_BUS_UNLOCKED) ||
        base > bus->limit || size - 1 > bus->limit - base) {
        return -EINVAL;
    }
    loom_mutex_lock(&bus->lock);
    old = bus->map;
    i = find_le(old, base);
    if ((i >= 0 && base - old->r[i].base < old->r[i].size) ||
        ((unsigned)(i + 1) < old->n && old->r[i + 1].base - base < size)) {
        ret = -EEXIST;
        goto out;
    }
    m = malloc(sizeof(*m) + (old->n + 1) * sizeof(m->r[0]));
    if (!m) {
        ret = -ENOMEM;
        goto out;
    }
    m->n = old->n + 1;
    memcpy(m->r, old->r, (size_t)(i + 1) * sizeof(m->r[0]));
    m->r[i + 1] = (struct bus_region){
        .base = base,
        .size = size,
        .ops = ops,
        .opaque = opaque,
        .flags = flags,
    };
    memcpy(&m->r[i + 2], &old->r[i + 1],
           (old->n - (unsigned)(i + 1)) * sizeof(m->r[0]));
    publish(bus, m);
out:
    loom_mutex_unlock(&bus->lock);
    return ret;
}

int vmm_bus_remove(struct vmm_bus *bus, uint64_t base)
{
    struct bus_map *old, *m;
    int i, ret = 0;

    if (!bus) {
        return -EINVAL;
    }
    loom_mutex_lock(&bus->lock);
    old = bus->map;
    i = find_le(old, base);
    if (i < 0 || old->r[i].base != base) {
        ret = -ENOENT;
        goto out;
    }
    if (!(old->r[i].flags & VMM_BUS_UNLOCKED) && !loom_bql_locked()) {
        ret = -EPERM;
        goto out;
    }
    m = malloc(sizeof(*m) + (old->n - 1) * sizeof(m->r[0]));
    if (!m) {
        ret = -ENOMEM;
        goto out;
    }
    m->n = old->n - 1;
    memcpy(m->r, old->r, (size_t)i * sizeof(m->r[0]));
    memcpy(&m->r[i], &old->r[i + 1],
           (old->n - (unsigned)i - 1) * sizeof(m->r[0]));
    publish(bus, m);
out:
    loom_mutex_unlock(&bus->lock);
    return ret;
}

/*
 * Find the region holding [@addr, @addr + @size).  Context: rcu.
 * Returns NULL and sets *@err to -ENOENT or -ERANGE if there is none.
 */
static const struct bus_region *lookup(struct vmm_bus *bus, uint64_t addr,
                                       unsigned size, int *err)
{
    /* Pairs with the release store in publish(). */
    const struct bus_map *m = __atomic_load_n(&bus->map, __ATOMIC_ACQUIRE);
    int i = find_le(m, addr);
    const struct bus_region *r;

    if (i < 0 || addr - m->r[i].base >= m->r[i].size) {
        *err = -ENOENT;
        return NULL;
    }
    r = &m->r[i];
    if (size > r->size - (addr - r->base)) {
        *err = -ERANGE;
        return NULL;
    }
    return r;
}

static void call(const struct bus_region *r, uint64_t addr, bool is_write,
                 uint64_t *val, unsigned size)
{
    if (is_write) {
        if (r->ops->write) {
            r->ops->write(r->opaque, addr - r->base, *val, size);
        }
    } else {
        *val = r->ops->read ? r->ops->read(r->opaque, addr - r->base, size)
                            : UINT64_MAX;
    }
}

/* The slow path of dispatch(): a BQL region, BQL not held yet. */
static int dispatch_locked(struct vmm_bus *bus, uint64_t addr, bool is_write,
                           uint64_t *val, unsigned size)
{
    struct bus_region copy;
    const struct bus_region *r;
    int err = 0;

    loom_bql_lock();
    loom_rcu_read_lock();
    /* The map may have changed while we waited for the BQL. */
    r = lookup(bus, addr, size, &err);
    if (r) {
        copy = *r;
    }
    loom_rcu_read_unlock();
    if (r) {
        /*
         * Outside the read section: a BQL region is only removed with the
         * BQL held (vmm_bus_remove()), so @copy stays valid, and the
         * callback may itself change the map.
         */
        count(&bus->stats.locked);
        call(&copy, addr, is_write, val, size);
    }
    loom_bql_unlock();
    return err;
}

static int dispatch(struct vmm_bus *bus, uint64_t addr, bool is_write,
                    uint64_t *val, unsigned size)
{
    const struct bus_region *r;
    struct bus_region copy;
    int err = 0;

    loom_rcu_read_lock();
    r = lookup(bus, addr, size, &err);
    if (!r) {
        loom_rcu_read_unlock();
        goto fail;
    }
    if (r->flags & VMM_BUS_UNLOCKED) {
        /* vmm_bus_remove() waits for this section to end. */
        count(&bus->stats.unlocked);
        call(r, addr, is_write, val, size);
        loom_rcu_read_unlock();
        return 0;
    }
    if (!loom_bql_locked()) {
        loom_rcu_read_unlock();
        err = dispatch_locked(bus, addr, is_write, val, size);
        if (err == 0) {
            return 0;
        }
        goto fail;
    }
    /* The caller holds the BQL: same rules as dispatch_locked(). */
    copy = *r;
    loom_rcu_read_unlock();
    count(&bus->stats.locked);
    call(&copy, addr, is_write, val, size);
    return 0;

fail:
    count(err == -ENOENT ? &bus->stats.unassigned : &bus->stats.rejected);
    *val = UINT64_MAX;
    return err;
}

static bool size_ok(unsigned size)
{
    return size == 1 || size == 2 || size == 4 || size == 8;
}

int vmm_bus_read(struct vmm_bus *bus, uint64_t addr, void *data, unsigned size)
{
    uint64_t val = 0;
    int ret;

    if (!bus || !data || !size_ok(size)) {
        if (bus && data && size <= 8) {
            count(&bus->stats.rejected);
            memset(data, 0xff, size);
        }
        return -EINVAL;
    }
    ret = dispatch(bus, addr, false, &val, size);
    /* x86 is little-endian: the low @size bytes are the value. */
    memcpy(data, &val, size);
    return ret;
}

int vmm_bus_write(struct vmm_bus *bus, uint64_t addr, const void *data,
                  unsigned size)
{
    uint64_t val = 0;

    if (!bus || !data || !size_ok(size)) {
        if (bus) {
            count(&bus->stats.rejected);
        }
        return -EINVAL;
    }
    memcpy(&val, data, size);
    return dispatch(bus, addr, true, &val, size);
}

int vmm_bus_stats(struct vmm_bus *bus, struct vmm_bus_stats *st)
{
    if (!bus || !st) {
        return -EINVAL;
    }
    st->locked = __atomic_load_n(&bus->stats.locked, __ATOMIC_RELAXED);
    st->unlocked = __atomic_load_n(&bus->stats.unlocked, __ATOMIC_RELAXED);
    st->unassigned = __atomic_load_n(&bus->stats.unassigned, __ATOMIC_RELAXED);
    st->rejected = __atomic_load_n(&bus->stats.rejected, __ATOMIC_RELAXED);
    return 0;
}
