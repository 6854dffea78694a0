/* SPDX-License-Identifier: MIT */
/*
 * The guest RAM map (guest-mem.h).  Immutable after vmm_gmem_new(), so
 * every function here may run on any thread without locks.  The range
 * check is the only place a guest address becomes a host pointer; it is
 * written so that no sum can overflow: the offset into a region is
 * computed first, then compared with what is left of the region.
 */
#include "core/guest-mem.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct vmm_gmem {
    unsigned nr;
    uint64_t total;
    struct vmm_gmem_region r[VMM_GMEM_MAX_REGIONS];
};

int vmm_gmem_new(const struct vmm_gmem_region *regions, unsigned nr,
                 struct vmm_gmem **ret)
{
    struct vmm_gmem *gm;
    unsigned i;

    if (!regions || !ret || nr == 0 || nr > VMM_GMEM_MAX_REGIONS) {
        return -EINVAL;
    }
    for (i = 0; i < nr; i++) {
        const struct vmm_gmem_region *r = &regions[i];

        if (r->size == 0 || !r->hva || r->size - 1 > UINT64_MAX - r->gpa) {
            return -EINVAL;
        }
        /* Sorted and disjoint: this one starts after the previous end. */
        if (i > 0 && r->gpa - regions[i - 1].gpa < regions[i - 1].size) {
            return -EINVAL;
        }
        if (i > 0 && r->gpa < regions[i - 1].gpa) {
            return -EINVAL;
        }
    }
    gm = calloc(1, sizeof(*gm));
    if (!gm) {
        return -ENOMEM;
    }
    gm->nr = nr;
    memcpy(gm->r, regions, nr * sizeof(regions[0]));
    for (i = 0; i < nr; i++) {
        gm->total += regions[i].size;
    }
    *ret = gm;
    return 0;
}

void vmm_gmem_free(struct vmm_gmem *gm)
{
    free(gm);
}

void *vmm_gmem_ptr(const struct vmm_gmem *gm, uint64_t gpa, uint64_t len)
{
    unsigned i;

    if (!gm || len == 0) {
        return NULL;
    }
    for (i = 0; i < gm->nr; i++) {
        const struct vmm_gmem_region *r = &gm->r[i];
        uint64_t off;

        if (gpa < r->gpa) {
            break; /* sorted: no later region can hold it */
        }
        off = gpa - r->gpa;
        if (off >= r->size) {
            continue;
        }
        if (len > r->size - off) {
            return NULL;
        }
        return (char *)r->hva + off;
    }
    return NULL;
}

int vmm_gmem_read(const struct vmm_gmem *gm, uint64_t gpa, void *dst,
                  size_t len)
{
    void *p;

    if (!gm || (!dst && len)) {
        return -EINVAL;
    }
    if (len == 0) {
        return 0;
    }
    p = vmm_gmem_ptr(gm, gpa, len);
    if (!p) {
        return -EFAULT;
    }
    memcpy(dst, p, len);
    return 0;
}

int vmm_gmem_write(const struct vmm_gmem *gm, uint64_t gpa, const void *src,
                   size_t len)
{
    void *p;

    if (!gm || (!src && len)) {
        return -EINVAL;
    }
    if (len == 0) {
        return 0;
    }
    p = vmm_gmem_ptr(gm, gpa, len);
    if (!p) {
        return -EFAULT;
    }
    memcpy(p, src, len);
    return 0;
}

int vmm_gmem_fill(const struct vmm_gmem *gm, uint64_t gpa, int byte, size_t len)
{
    void *p;

    if (!gm) {
        return -EINVAL;
    }
    if (len == 0) {
        return 0;
    }
    p = vmm_gmem_ptr(gm, gpa, len);
    if (!p) {
        return -EFAULT;
    }
    memset(p, byte, len);
    return 0;
}

unsigned vmm_gmem_regions(const struct vmm_gmem *gm,
                          const struct vmm_gmem_region **ret)
{
    if (!gm || !ret) {
        return 0;
    }
    *ret = gm->r;
    return gm->nr;
}

uint64_t vmm_gmem_size(const struct vmm_gmem *gm)
{
    return gm ? gm->total : 0;
}
