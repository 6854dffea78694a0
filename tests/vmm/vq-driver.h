/* SPDX-License-Identifier: MIT */
/*
 * A small virtio driver for tests: guest RAM from malloc, and split
 * virtqueues built in it the way a guest driver would (descriptor table,
 * avail ring, used ring), with helpers to post chains, read used entries
 * and also to write deliberately broken rings.  One struct vq_driver per
 * queue; it belongs to one thread (the "guest" side of a test).
 */
#ifndef TESTS_VMM_VQ_DRIVER_H
#define TESTS_VMM_VQ_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/guest-mem.h"
#include "devices/virtio/virtio.h"

/* Fake guest RAM: one region at GPA 0, and one above 4 GiB. */
struct test_ram {
    struct vmm_gmem *gm;
    uint8_t *low;
    uint64_t low_size;
    uint8_t *high;
    uint64_t high_gpa;
    uint64_t high_size;
    uint64_t next; /* bump allocator in low RAM */
};

void test_ram_init(struct test_ram *r, uint64_t low_size);
void test_ram_destroy(struct test_ram *r);
/* Allocate @len bytes of low RAM aligned to @align; returns the GPA. */
uint64_t test_ram_alloc(struct test_ram *r, uint64_t len, uint64_t align);
/* Host pointer of [gpa, gpa+len) (asserts it is RAM). */
void *test_ram_ptr(struct test_ram *r, uint64_t gpa, uint64_t len);

/* One buffer of a chain the test posts. */
struct vq_buf {
    uint64_t gpa;
    uint32_t len;
    bool write;
};

struct vq_driver {
    struct test_ram *ram;
    uint16_t size;
    bool event_idx;
    uint64_t desc, avail, used;
    uint16_t avail_idx; /* next avail idx to publish */
    uint16_t last_used; /* next used entry to consume */
    uint16_t free_head; /* free descriptor list (linked through next) */
    uint16_t nr_free;
    uint16_t chain_len[1024]; /* descriptors used by each head */
    uint64_t table[1024];     /* indirect table GPA kept per head */
    uint16_t table_cap[1024]; /* its capacity in descriptors */
};

/* Lay out a queue of @size in @ram (zeroed), all descriptors free. */
void vq_driver_init(struct vq_driver *d, struct test_ram *ram, uint16_t size,
                    bool event_idx);
/* The queue as a driver would program it into the transport. */
struct vmm_virtio_queue_cfg vq_driver_cfg(const struct vq_driver *d);

/*
 * Post a chain of @n buffers (direct descriptors, or one indirect table
 * when @indirect) and publish it.  Returns the head.  Asserts there are
 * free descriptors.
 */
uint16_t vq_driver_post(struct vq_driver *d, const struct vq_buf *bufs,
                        unsigned n, bool indirect);
/*
 * Give every head an indirect table of @n entries now, so that posting
 * from another thread allocates no guest RAM (the allocator is not
 * thread-safe).
 */
void vq_driver_reserve_tables(struct vq_driver *d, uint16_t n);
/* Take a free descriptor (for hand-built chains). */
uint16_t vq_driver_alloc_desc(struct vq_driver *d);
/* Write descriptor @idx of the main table. */
void vq_driver_set_desc(struct vq_driver *d, uint16_t idx, uint64_t addr,
                        uint32_t len, uint16_t flags, uint16_t next);
/* Write descriptor @idx of the table at GPA @table. */
void vq_driver_set_table_desc(struct vq_driver *d, uint64_t table, uint16_t idx,
                              uint64_t addr, uint32_t len, uint16_t flags,
                              uint16_t next);
/* Put @head in the next avail slot and bump the avail idx (release). */
void vq_driver_publish(struct vq_driver *d, uint16_t head);
/* Store an arbitrary avail idx (for broken-ring tests). */
void vq_driver_set_avail_idx(struct vq_driver *d, uint16_t idx);

/*
 * Take the next used entry if there is one: its id and len; frees the
 * chain's descriptors.  Returns false if the used ring has nothing new.
 */
bool vq_driver_get_used(struct vq_driver *d, uint32_t *id, uint32_t *len);
/*
 * Take the next used entry like vq_driver_get_used() but leave the
 * chain's descriptors as they are: for a head the test posted again
 * while in flight, whose descriptors the device may be reading for the
 * second request (freeing them rewrites the head's descriptor).
 */
bool vq_driver_get_used_keep(struct vq_driver *d, uint32_t *id, uint32_t *len);
/* The used idx as the device last published it (acquire). */
uint16_t vq_driver_used_idx(const struct vq_driver *d);

/* Interrupt suppression, driver side. */
void vq_driver_set_used_event(struct vq_driver *d, uint16_t v);
void vq_driver_set_no_interrupt(struct vq_driver *d, bool on);
/* Notification suppression as the device set it: whether a driver that
 * moved avail idx from @old to the current value must notify. */
bool vq_driver_must_kick(const struct vq_driver *d, uint16_t old);

#endif /* TESTS_VMM_VQ_DRIVER_H */
