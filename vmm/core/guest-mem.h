/* SPDX-License-Identifier: MIT */
/*
 * Guest memory, as devices and loaders see it: the one way to turn a
 * guest-physical address into host memory.  A struct vmm_gmem is the
 * machine's RAM map (at most VMM_GMEM_MAX_REGIONS regions, e.g. RAM below
 * the 32-bit hole and RAM above 4 GiB), fixed when it is created and
 * immutable afterwards, so any thread may use it without locks for as long
 * as the machine lives.
 *
 * Every address and length a guest supplies is untrusted: these functions
 * check that [gpa, gpa + len) lies entirely inside one RAM region, with
 * overflow-safe arithmetic, before any host pointer is formed.  Nothing
 * else in devices/ computes a host pointer from a guest value.
 *
 * Guest RAM is shared with running vCPUs: data may change under a
 * device's feet.  Copy what must stay stable (a descriptor, a request
 * header) with vmm_gmem_read() and use it from the copy; ring indices are
 * read through vmm_gmem_ptr() with atomic loads.
 */
#ifndef VMM_CORE_GUEST_MEM_H
#define VMM_CORE_GUEST_MEM_H

#include <stddef.h>
#include <stdint.h>

/** VMM_GMEM_MAX_REGIONS - most RAM regions a map holds. */
#define VMM_GMEM_MAX_REGIONS 8

/**
 * struct vmm_gmem_region - one stretch of guest RAM.
 * @gpa: guest-physical base.
 * @size: bytes, > 0.
 * @hva: host memory backing it, mapped for the map's lifetime.
 */
struct vmm_gmem_region {
    uint64_t gpa;
    uint64_t size;
    void *hva;
};

struct vmm_gmem;

/**
 * vmm_gmem_new() - build a RAM map.
 * @regions: the regions, in ascending @gpa order, none empty, overlapping
 *     or wrapping past 2^64, none with a NULL @hva.
 * @nr: how many, 1..VMM_GMEM_MAX_REGIONS.
 * @ret: receives the map.
 *
 * Context: any.
 * Return: 0; -EINVAL for a NULL argument or regions that break the rules
 * above; -ENOMEM.
 */
int vmm_gmem_new(const struct vmm_gmem_region *regions, unsigned nr,
                 struct vmm_gmem **ret);

/**
 * vmm_gmem_free() - free the map (not the memory behind it).
 * @gm: the map, or NULL.  Nobody may use it any more.
 * Context: any.
 */
void vmm_gmem_free(struct vmm_gmem *gm);

/**
 * vmm_gmem_ptr() - host address of guest range [@gpa, @gpa + @len).
 * @gm: the map.
 * @gpa: guest-physical address (untrusted).
 * @len: bytes (untrusted), > 0.
 *
 * Context: any.
 * Return: the host pointer, or NULL if @len is 0 or the range is not
 * entirely inside one RAM region (or for a NULL @gm).
 */
void *vmm_gmem_ptr(const struct vmm_gmem *gm, uint64_t gpa, uint64_t len);

/**
 * vmm_gmem_read() - copy [@gpa, @gpa + @len) out of guest RAM.
 * @gm: the map.
 * @gpa: guest-physical address (untrusted).
 * @dst: where to copy to.
 * @len: bytes; 0 copies nothing and succeeds.
 *
 * Context: any.
 * Return: 0; -EFAULT if the range is not RAM of one region (nothing is
 * copied); -EINVAL for NULL pointers.
 */
int vmm_gmem_read(const struct vmm_gmem *gm, uint64_t gpa, void *dst,
                  size_t len);

/**
 * vmm_gmem_write() - copy @len bytes from @src into guest RAM at @gpa.
 * Context and Return: as vmm_gmem_read() (nothing is written on error).
 */
int vmm_gmem_write(const struct vmm_gmem *gm, uint64_t gpa, const void *src,
                   size_t len);

/**
 * vmm_gmem_fill() - set [@gpa, @gpa + @len) of guest RAM to @byte.
 * Context and Return: as vmm_gmem_read().
 */
int vmm_gmem_fill(const struct vmm_gmem *gm, uint64_t gpa, int byte,
                  size_t len);

/**
 * vmm_gmem_regions() - the map's regions (for memory maps, loaders).
 * @gm: the map.
 * @ret: receives a pointer to the array, valid as long as @gm.
 * Context: any.
 * Return: the number of regions (0 for NULL arguments).
 */
unsigned vmm_gmem_regions(const struct vmm_gmem *gm,
                          const struct vmm_gmem_region **ret);

/**
 * vmm_gmem_size() - total bytes of RAM.
 * Context: any.  Return: the sum of the regions' sizes, 0 for NULL.
 */
uint64_t vmm_gmem_size(const struct vmm_gmem *gm);

#endif /* VMM_CORE_GUEST_MEM_H */
