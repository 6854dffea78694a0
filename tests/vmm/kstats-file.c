/* SPDX-License-Identifier: MIT */
/*
 * KVM binary statistics files built in memory for the tests
 * (kstats-file.h).
 */
#include "kstats-file.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/kvm.h>

int kstats_file(const struct kstats_desc *d, unsigned n, const uint64_t *data,
                size_t ndata, uint32_t name_size)
{
    struct kvm_stats_header h = {
        .name_size = name_size,
        .num_desc = n,
        .id_offset = sizeof(h),
    };
    size_t dsz = sizeof(struct kvm_stats_desc) + name_size;
    GByteArray *b = g_byte_array_new();
    int fd = memfd_create("kstats", MFD_CLOEXEC);

    g_assert_cmpint(fd, >=, 0);
    h.desc_offset = h.id_offset + name_size;
    h.data_offset = h.desc_offset + (uint32_t)(dsz * n);
    g_byte_array_append(b, (const guint8 *)&h, sizeof(h));
    g_byte_array_set_size(b, h.desc_offset); /* the id: zeros */
    memset(b->data + sizeof(h), 0, name_size);
    for (unsigned i = 0; i < n; i++) {
        struct kvm_stats_desc kd = {
            .flags = d[i].flags,
            .exponent = d[i].exponent,
            .size = d[i].size,
            .offset = d[i].offset,
            .bucket_size = d[i].bucket_size,
        };
        size_t at = b->len;

        g_byte_array_append(b, (const guint8 *)&kd, sizeof(kd));
        g_byte_array_set_size(b, at + dsz);
        memset(b->data + at + sizeof(kd), 0, name_size);
        memcpy(b->data + at + sizeof(kd), d[i].name,
               MIN(strlen(d[i].name), name_size));
    }
    g_byte_array_append(b, (const guint8 *)data, ndata * sizeof(uint64_t));
    g_assert_cmpint(write(fd, b->data, b->len), ==, (ssize_t)b->len);
    g_byte_array_free(b, TRUE);
    return fd;
}
