/* SPDX-License-Identifier: MIT */
/*
 * A KVM binary statistics file (the layout KVM_GET_STATS_FD returns:
 * header, id, descriptors, data) written into a memfd, for the tests of
 * the statistics reader and of query-stats.
 */
#ifndef LOOM_TEST_KSTATS_FILE_H
#define LOOM_TEST_KSTATS_FILE_H

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

/* One descriptor, as struct kvm_stats_desc, with its name. */
struct kstats_desc {
    uint32_t flags;
    int16_t exponent;
    uint16_t size;
    uint32_t offset;
    uint32_t bucket_size;
    const char *name;
};

/* A new memfd holding @n descriptors with names of @name_size bytes and
 * @ndata values of data (asserts success). */
int kstats_file(const struct kstats_desc *d, unsigned n, const uint64_t *data,
                size_t ndata, uint32_t name_size);

#endif /* LOOM_TEST_KSTATS_FILE_H */
