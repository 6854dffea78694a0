/* SPDX-License-Identifier: MIT */
/*
 * The test driver of vq-driver.h.  Publishes with release stores and
 * reads the device's indices with acquire loads, as a guest driver's
 * barriers would, so that tests pass under TSan with the device on
 * another thread.
 */
#include "vq-driver.h"

#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "devices/virtio/queue.h"

#define HIGH_GPA 0x100000000ull
#define HIGH_SIZE 0x10000ull

void test_ram_init(struct test_ram *r, uint64_t low_size)
{
    struct vmm_gmem_region regs[2];

    memset(r, 0, sizeof(*r));
    r->low = aligned_alloc(4096, low_size);
    r->high = aligned_alloc(4096, HIGH_SIZE);
    g_assert_nonnull(r->low);
    g_assert_nonnull(r->high);
    memset(r->low, 0, low_size);
    memset(r->high, 0, HIGH_SIZE);
    r->low_size = low_size;
    r->high_gpa = HIGH_GPA;
    r->high_size = HIGH_SIZE;
    r->next = 0x1000; /* keep GPA 0 unused: a zero address is a bug */
    regs[0] = (struct vmm_gmem_region){0, low_size, r->low};
    regs[1] = (struct vmm_gmem_region){HIGH_GPA, HIGH_SIZE, r->high};
    g_assert_cmpint(vmm_gmem_new(regs, 2, &r->gm), ==, 0);
}

void test_ram_destroy(struct test_ram *r)
{
    vmm_gmem_free(r->gm);
    free(r->low);
    free(r->high);
    memset(r, 0, sizeof(*r));
}

uint64_t test_ram_alloc(struct test_ram *r, uint64_t len, uint64_t align)
{
    uint64_t gpa = (r->next + align - 1) & ~(align - 1);

    g_assert_cmpuint(gpa + len, <=, r->low_size);
    r->next = gpa + len;
    return gpa;
}

void *test_ram_ptr(struct test_ram *r, uint64_t gpa, uint64_t len)
{
    void *p = vmm_gmem_ptr(r->gm, gpa, len);

    g_assert_nonnull(p);
    return p;
}

static uint16_t *ring16(struct vq_driver *d, uint64_t gpa)
{
    return test_ram_ptr(d->ram, gpa, 2);
}

void vq_driver_init(struct vq_driver *d, struct test_ram *ram, uint16_t size,
                    bool event_idx)
{
    uint16_t i;

    g_assert_cmpuint(size, <=, 1024);
    memset(d, 0, sizeof(*d));
    d->ram = ram;
    d->size = size;
    d->event_idx = event_idx;
    d->desc = test_ram_alloc(ram, 16u * size, 16);
    d->avail = test_ram_alloc(ram, 6u + 2u * size, 2);
    d->used = test_ram_alloc(ram, 6u + 8u * size, 4);
    memset(test_ram_ptr(ram, d->desc, 16u * size), 0, 16u * size);
    memset(test_ram_ptr(ram, d->avail, 6u + 2u * size), 0, 6u + 2u * size);
    memset(test_ram_ptr(ram, d->used, 6u + 8u * size), 0, 6u + 8u * size);
    for (i = 0; i < size; i++) {
        vq_driver_set_desc(d, i, 0, 0, 0, (uint16_t)(i + 1));
    }
    d->free_head = 0;
    d->nr_free = size;
}

struct vmm_virtio_queue_cfg vq_driver_cfg(const struct vq_driver *d)
{
    return (struct vmm_virtio_queue_cfg){
        .size = d->size,
        .desc = d->desc,
        .avail = d->avail,
        .used = d->used,
        .ready = true,
    };
}

static void write_desc(struct vq_driver *d, uint64_t gpa, uint64_t addr,
                       uint32_t len, uint16_t flags, uint16_t next)
{
    uint8_t *p = test_ram_ptr(d->ram, gpa, 16);

    memcpy(p, &addr, 8);
    memcpy(p + 8, &len, 4);
    memcpy(p + 12, &flags, 2);
    memcpy(p + 14, &next, 2);
}

void vq_driver_set_desc(struct vq_driver *d, uint16_t idx, uint64_t addr,
                        uint32_t len, uint16_t flags, uint16_t next)
{
    g_assert_cmpuint(idx, <, d->size);
    write_desc(d, d->desc + 16u * idx, addr, len, flags, next);
}

void vq_driver_set_table_desc(struct vq_driver *d, uint64_t table, uint16_t idx,
                              uint64_t addr, uint32_t len, uint16_t flags,
                              uint16_t next)
{
    write_desc(d, table + 16u * idx, addr, len, flags, next);
}

static uint16_t desc_next(struct vq_driver *d, uint16_t idx)
{
    uint16_t next;

    memcpy(&next, test_ram_ptr(d->ram, d->desc + 16u * idx + 14, 2), 2);
    return next;
}

void vq_driver_reserve_tables(struct vq_driver *d, uint16_t n)
{
    uint16_t i;

    for (i = 0; i < d->size; i++) {
        if (d->table_cap[i] < n) {
            d->table[i] = test_ram_alloc(d->ram, 16u * n, 16);
            d->table_cap[i] = n;
        }
    }
}

uint16_t vq_driver_alloc_desc(struct vq_driver *d)
{
    uint16_t idx = d->free_head;

    g_assert_cmpuint(d->nr_free, >, 0);
    d->free_head = desc_next(d, idx);
    d->nr_free--;
    return idx;
}

uint16_t vq_driver_post(struct vq_driver *d, const struct vq_buf *bufs,
                        unsigned n, bool indirect)
{
    uint16_t head, idx, prev = 0;
    uint64_t table;
    unsigned i;

    g_assert_cmpuint(n, >, 0);
    if (indirect) {
        head = vq_driver_alloc_desc(d);
        if (d->table_cap[head] < n) {
            /* Tables are kept per head, so steady traffic allocates none. */
            d->table[head] = test_ram_alloc(d->ram, 16u * n, 16);
            d->table_cap[head] = (uint16_t)n;
        }
        table = d->table[head];
        for (i = 0; i < n; i++) {
            uint16_t fl = (bufs[i].write ? VMM_VRING_DESC_F_WRITE : 0) |
                          (i + 1 < n ? VMM_VRING_DESC_F_NEXT : 0);

            vq_driver_set_table_desc(d, table, (uint16_t)i, bufs[i].gpa,
                                     bufs[i].len, fl, (uint16_t)(i + 1));
        }
        vq_driver_set_desc(d, head, table, 16u * n, VMM_VRING_DESC_F_INDIRECT,
                           0);
        d->chain_len[head] = 1;
        vq_driver_publish(d, head);
        return head;
    }
    g_assert_cmpuint(d->nr_free, >=, n);
    head = 0;
    for (i = 0; i < n; i++) {
        idx = vq_driver_alloc_desc(d);
        if (i == 0) {
            head = idx;
        } else {
            /* Link the previous descriptor to this one. */
            uint8_t *p = test_ram_ptr(d->ram, d->desc + 16u * prev, 16);
            uint16_t fl;

            memcpy(&fl, p + 12, 2);
            fl |= VMM_VRING_DESC_F_NEXT;
            memcpy(p + 12, &fl, 2);
            memcpy(p + 14, &idx, 2);
        }
        vq_driver_set_desc(d, idx, bufs[i].gpa, bufs[i].len,
                           bufs[i].write ? VMM_VRING_DESC_F_WRITE : 0, 0);
        prev = idx;
    }
    d->chain_len[head] = (uint16_t)n;
    vq_driver_publish(d, head);
    return head;
}

void vq_driver_publish(struct vq_driver *d, uint16_t head)
{
    uint16_t *slot = ring16(d, d->avail + 4 + 2u * (d->avail_idx % d->size));

    __atomic_store_n(slot, head, __ATOMIC_RELAXED);
    d->avail_idx++;
    /* Pairs with the device's acquire load of avail idx. */
    __atomic_store_n(ring16(d, d->avail + 2), d->avail_idx, __ATOMIC_RELEASE);
}

void vq_driver_set_avail_idx(struct vq_driver *d, uint16_t idx)
{
    d->avail_idx = idx;
    __atomic_store_n(ring16(d, d->avail + 2), idx, __ATOMIC_RELEASE);
}

uint16_t vq_driver_used_idx(const struct vq_driver *d)
{
    return __atomic_load_n((uint16_t *)test_ram_ptr(d->ram, d->used + 2, 2),
                           __ATOMIC_ACQUIRE);
}

bool vq_driver_get_used_keep(struct vq_driver *d, uint32_t *id, uint32_t *len)
{
    uint8_t *e;

    if (vq_driver_used_idx(d) == d->last_used) {
        return false;
    }
    e = test_ram_ptr(d->ram, d->used + 4 + 8u * (d->last_used % d->size), 8);
    *id = __atomic_load_n((uint32_t *)(void *)e, __ATOMIC_RELAXED);
    *len = __atomic_load_n((uint32_t *)(void *)(e + 4), __ATOMIC_RELAXED);
    d->last_used++;
    g_assert_cmpuint(*id, <, d->size);
    return true;
}

bool vq_driver_get_used(struct vq_driver *d, uint32_t *id, uint32_t *len)
{
    uint16_t i, idx, n;

    if (!vq_driver_get_used_keep(d, id, len)) {
        return false;
    }
    /* Give the chain's descriptors back to the free list. */
    n = d->chain_len[*id];
    idx = (uint16_t)*id;
    for (i = 0; i + 1 < n; i++) {
        idx = desc_next(d, idx);
    }
    if (n) {
        vq_driver_set_desc(d, idx, 0, 0, 0, d->free_head);
        d->free_head = (uint16_t)*id;
        d->nr_free += n;
        d->chain_len[*id] = 0;
    }
    return true;
}

void vq_driver_set_used_event(struct vq_driver *d, uint16_t v)
{
    __atomic_store_n(ring16(d, d->avail + 4 + 2u * d->size), v,
                     __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

void vq_driver_set_no_interrupt(struct vq_driver *d, bool on)
{
    __atomic_store_n(ring16(d, d->avail), on ? 1 : 0, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

bool vq_driver_must_kick(const struct vq_driver *d, uint16_t old)
{
    struct vq_driver *m = (struct vq_driver *)d;

    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (d->event_idx) {
        uint16_t ev = __atomic_load_n(ring16(m, d->used + 4 + 8u * d->size),
                                      __ATOMIC_RELAXED);

        return vmm_vq_need_event(ev, d->avail_idx, old);
    }
    return !(__atomic_load_n(ring16(m, d->used), __ATOMIC_RELAXED) &
             VMM_VRING_USED_F_NO_NOTIFY);
}
