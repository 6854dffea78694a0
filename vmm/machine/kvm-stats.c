/* SPDX-License-Identifier: MIT */
/*
 * KVM's binary statistics (Documentation/virt/kvm/api.rst, "KVM_GET_STATS_FD"):
 * a read-only file of a header, an id string, descriptors (flags,
 * exponent, number of u64 values, their offset, a histogram's bucket
 * size, a name) and the data.  vmm_kstats_read() takes one snapshot with
 * pread, checking every offset and size against the limits before use:
 * the layout comes from the kernel, but a reader that trusts lengths is a
 * reader that overruns its buffers the day they change.  Any thread.
 */
#include "machine/machine.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/kvm.h>

/* Longest descriptor name accepted (KVM uses 48 bytes). */
#define NAME_MAX_SIZE 256
/* Largest data block accepted (KVM's are under 4 KiB). */
#define DATA_MAX_SIZE (1u << 20)

struct kstats_priv {
    struct vmm_kstats pub;
    char *desc;       /* the descriptors as read; names point into them */
    uint64_t *values; /* each statistic's values, one after another */
};

/* Read exactly @len bytes at @off; a short file is malformed. */
static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n =
            pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -errno;
        }
        if (n == 0) {
            return -EBADMSG;
        }
        done += (size_t)n;
    }
    return 0;
}

/* Decode a descriptor's flags; false for a kind this reader does not
 * know (a newer kernel's), which is then left out. */
static bool decode_flags(uint32_t flags, struct vmm_kstat *k)
{
    uint32_t type = (flags & KVM_STATS_TYPE_MASK) >> KVM_STATS_TYPE_SHIFT;
    uint32_t unit = (flags & KVM_STATS_UNIT_MASK) >> KVM_STATS_UNIT_SHIFT;
    uint32_t base = flags & KVM_STATS_BASE_MASK;

    if (type > (KVM_STATS_TYPE_MAX >> KVM_STATS_TYPE_SHIFT) ||
        unit > (KVM_STATS_UNIT_MAX >> KVM_STATS_UNIT_SHIFT) ||
        (base != KVM_STATS_BASE_POW10 && base != KVM_STATS_BASE_POW2)) {
        return false;
    }
    /* The enums follow KVM's numbering. */
    k->type = (enum vmm_kstat_type)type;
    k->unit = (enum vmm_kstat_unit)unit;
    k->base = base == KVM_STATS_BASE_POW2 ? 2 : 10;
    return true;
}

static int read_header(int fd, struct kvm_stats_header *h, size_t *ret_dsz)
{
    int r = pread_full(fd, h, sizeof(*h), 0);

    if (r < 0) {
        return r;
    }
    if (h->name_size == 0 || h->name_size > NAME_MAX_SIZE ||
        h->num_desc > VMM_KSTATS_MAX_DESC) {
        return -EBADMSG;
    }
    *ret_dsz = sizeof(struct kvm_stats_desc) + h->name_size;
    return 0;
}

/* Check the descriptors; fill @st's entries; return the data's extent. */
static int parse_descs(struct kstats_priv *p, const struct kvm_stats_header *h,
                       size_t dsz, uint64_t *ret_extent)
{
    uint64_t extent = 0, nvalues = 0;
    uint32_t i;

    for (i = 0; i < h->num_desc; i++) {
        const char *raw = p->desc + (size_t)i * dsz;
        const char *name = raw + sizeof(struct kvm_stats_desc);
        struct vmm_kstat *k = &p->pub.stats[p->pub.nr];
        struct kvm_stats_desc d;
        uint64_t end;

        /* Descriptors are packed at the name size's pace: copy, do not
         * cast (they need not be aligned). */
        memcpy(&d, raw, sizeof(d));
        if (d.size == 0 || !memchr(name, '\0', h->name_size)) {
            return -EBADMSG;
        }
        end = (uint64_t)d.offset + (uint64_t)d.size * sizeof(uint64_t);
        nvalues += d.size;
        if (nvalues > VMM_KSTATS_MAX_VALUES || end > DATA_MAX_SIZE) {
            return -EBADMSG;
        }
        extent = end > extent ? end : extent;
        if (!decode_flags(d.flags, k)) {
            continue;
        }
        k->name = name;
        k->exponent = d.exponent;
        k->bucket_size = d.bucket_size;
        k->nr_values = d.size;
        p->pub.nr++;
    }
    *ret_extent = extent;
    return 0;
}

/* Copy each statistic's values out of the data block. */
static void place_values(struct kstats_priv *p,
                         const struct kvm_stats_header *h, size_t dsz,
                         const uint64_t *data)
{
    uint64_t *v = p->values;
    unsigned n = 0;
    uint32_t i;

    for (i = 0; i < h->num_desc && n < p->pub.nr; i++) {
        const char *raw = p->desc + (size_t)i * dsz;
        struct vmm_kstat *k = &p->pub.stats[n];
        struct kvm_stats_desc d;

        if (k->name != raw + sizeof(d)) {
            continue; /* left out by decode_flags() */
        }
        memcpy(&d, raw, sizeof(d));
        memcpy(v, (const char *)data + d.offset, d.size * sizeof(uint64_t));
        k->values = v;
        v += d.size;
        n++;
    }
}

int vmm_kstats_read(int fd, struct vmm_kstats **ret)
{
    struct kvm_stats_header h;
    struct kstats_priv *p;
    uint64_t extent;
    uint64_t *data = NULL;
    size_t dsz;
    int r;

    if (!ret) {
        return -EINVAL;
    }
    r = read_header(fd, &h, &dsz);
    if (r < 0) {
        return r;
    }
    p = calloc(1, sizeof(*p));
    if (!p) {
        return -ENOMEM;
    }
    p->desc = malloc(dsz * h.num_desc + 1);
    p->pub.stats = calloc(h.num_desc + 1, sizeof(*p->pub.stats));
    p->values = calloc(VMM_KSTATS_MAX_VALUES, sizeof(uint64_t));
    r = p->desc && p->pub.stats && p->values ? 0 : -ENOMEM;
    if (r == 0) {
        r = pread_full(fd, p->desc, dsz * h.num_desc, h.desc_offset);
    }
    if (r == 0) {
        r = parse_descs(p, &h, dsz, &extent);
    }
    if (r == 0) {
        data = malloc(extent ? extent : 1); /* extent <= DATA_MAX_SIZE */
        r = data ? pread_full(fd, data, extent, h.data_offset) : -ENOMEM;
    }
    if (r == 0) {
        place_values(p, &h, dsz, data);
        *ret = &p->pub;
    }
    free(data);
    if (r < 0) {
        vmm_kstats_free(&p->pub);
    }
    return r;
}

void vmm_kstats_free(struct vmm_kstats *st)
{
    struct kstats_priv *p = (struct kstats_priv *)st;

    if (!p) {
        return;
    }
    free(p->desc);
    free(p->pub.stats);
    free(p->values);
    free(p);
}
