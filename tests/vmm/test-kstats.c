/* SPDX-License-Identifier: MIT */
/*
 * The reader of KVM's binary statistics (vmm/machine/kvm-stats.c) on
 * files built here in memory (memfd): every type, unit and base; values
 * and histograms in place; kinds a newer kernel may add left out; and
 * every malformed layout refused with -EBADMSG.  One case reads a real
 * VM's file when /dev/kvm is usable.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "harness.h"
#include "machine/machine.h"
#include "kstats-file.h"

#define NAME_SIZE 48

static const struct kstats_desc g_descs[] = {
    {KVM_STATS_TYPE_CUMULATIVE, 0, 1, 0, 0, "exits"},
    {KVM_STATS_TYPE_INSTANT | KVM_STATS_UNIT_BOOLEAN, 0, 1, 8, 0, "guest_mode"},
    {KVM_STATS_TYPE_LOG_HIST | KVM_STATS_UNIT_SECONDS, -9, 4, 16, 0,
     "halt_wait_hist"},
    /* A type this reader does not know: left out. */
    {0xe, 0, 1, 48, 0, "future"},
    {KVM_STATS_TYPE_LINEAR_HIST | KVM_STATS_UNIT_BYTES | KVM_STATS_BASE_POW2,
     10, 2, 56, 16, "sizes"},
    {KVM_STATS_TYPE_PEAK | KVM_STATS_UNIT_CYCLES, 0, 1, 72, 0, "peak"},
};

static const uint64_t g_data[] = {42, 1, 5, 6, 7, 8, 99, 3, 4, 1ull << 40};

static void test_read(void)
{
    int fd = kstats_file(g_descs, G_N_ELEMENTS(g_descs), g_data,
                         G_N_ELEMENTS(g_data), NAME_SIZE);
    struct vmm_kstats *st = NULL;
    const struct vmm_kstat *k;

    /* The fd's offset does not matter (pread). */
    g_assert_cmpint(lseek(fd, 7, SEEK_SET), ==, 7);
    g_assert_cmpint(vmm_kstats_read(fd, &st), ==, 0);
    g_assert_cmpuint(st->nr, ==, 5);

    k = &st->stats[0];
    g_assert_cmpstr(k->name, ==, "exits");
    g_assert_cmpint(k->type, ==, VMM_KSTAT_CUMULATIVE);
    g_assert_cmpint(k->unit, ==, VMM_KSTAT_UNIT_NONE);
    g_assert_cmpuint(k->base, ==, 10);
    g_assert_cmpuint(k->nr_values, ==, 1);
    g_assert_cmpuint(k->values[0], ==, 42);

    k = &st->stats[1];
    g_assert_cmpstr(k->name, ==, "guest_mode");
    g_assert_cmpint(k->type, ==, VMM_KSTAT_INSTANT);
    g_assert_cmpint(k->unit, ==, VMM_KSTAT_UNIT_BOOLEAN);
    g_assert_cmpuint(k->values[0], ==, 1);

    k = &st->stats[2];
    g_assert_cmpstr(k->name, ==, "halt_wait_hist");
    g_assert_cmpint(k->type, ==, VMM_KSTAT_LOG_HIST);
    g_assert_cmpint(k->unit, ==, VMM_KSTAT_UNIT_SECONDS);
    g_assert_cmpint(k->exponent, ==, -9);
    g_assert_cmpuint(k->nr_values, ==, 4);
    g_assert_cmpuint(k->values[0], ==, 5);
    g_assert_cmpuint(k->values[3], ==, 8);

    k = &st->stats[3];
    g_assert_cmpstr(k->name, ==, "sizes");
    g_assert_cmpint(k->type, ==, VMM_KSTAT_LINEAR_HIST);
    g_assert_cmpint(k->unit, ==, VMM_KSTAT_UNIT_BYTES);
    g_assert_cmpuint(k->base, ==, 2);
    g_assert_cmpint(k->exponent, ==, 10);
    g_assert_cmpuint(k->bucket_size, ==, 16);
    g_assert_cmpuint(k->values[0], ==, 3);
    g_assert_cmpuint(k->values[1], ==, 4);

    k = &st->stats[4];
    g_assert_cmpstr(k->name, ==, "peak");
    g_assert_cmpint(k->type, ==, VMM_KSTAT_PEAK);
    g_assert_cmpint(k->unit, ==, VMM_KSTAT_UNIT_CYCLES);
    g_assert_cmpuint(k->values[0], ==, 1ull << 40);

    vmm_kstats_free(st);
    vmm_kstats_free(NULL);
    close(fd);
}

static void expect_bad(const struct kstats_desc *d, unsigned n,
                       const uint64_t *data, size_t ndata, uint32_t name_size,
                       int want)
{
    int fd = kstats_file(d, n, data, ndata, name_size);
    struct vmm_kstats *st = NULL;

    g_assert_cmpint(vmm_kstats_read(fd, &st), ==, want);
    g_assert_null(st);
    close(fd);
}

static void test_malformed(void)
{
    struct kstats_desc d[2] = {g_descs[0], g_descs[2]};
    uint64_t data[8] = {0};
    int fd;

    /* Data shorter than a descriptor says. */
    expect_bad(g_descs, G_N_ELEMENTS(g_descs), g_data, 3, NAME_SIZE, -EBADMSG);
    /* A name that fills its field with no NUL. */
    d[0].name = "0123456789012345";
    expect_bad(d, 2, data, 8, 16, -EBADMSG);
    d[0] = g_descs[0];
    /* No values, or an offset far past any real data block. */
    d[1].size = 0;
    expect_bad(d, 2, data, 8, NAME_SIZE, -EBADMSG);
    d[1].size = 4;
    d[1].offset = 0xfffffff0u;
    expect_bad(d, 2, data, 8, NAME_SIZE, -EBADMSG);
    /* More values than the limit. */
    d[1].offset = 0;
    d[1].size = VMM_KSTATS_MAX_VALUES;
    expect_bad(d, 2, data, 8, NAME_SIZE, -EBADMSG);
    /* Bad name sizes. */
    expect_bad(d, 0, data, 0, 0, -EBADMSG);
    expect_bad(d, 0, data, 0, 4096, -EBADMSG);
    /* A truncated header. */
    fd = memfd_create("kstats", MFD_CLOEXEC);
    g_assert_cmpint(write(fd, "abc", 3), ==, 3);
    {
        struct vmm_kstats *st = NULL;

        g_assert_cmpint(vmm_kstats_read(fd, &st), ==, -EBADMSG);
        g_assert_cmpint(vmm_kstats_read(-1, &st), ==, -EBADF);
        g_assert_cmpint(vmm_kstats_read(fd, NULL), ==, -EINVAL);
    }
    close(fd);
}

/* A real VM's statistics, when KVM offers them. */
static void test_kvm(void)
{
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC), vm, fd;
    struct vmm_kstats *st = NULL;
    bool exits = false;

    if (kvm < 0) {
        g_test_skip("no /dev/kvm");
        return;
    }
    vm = ioctl(kvm, KVM_CREATE_VM, 0);
    g_assert_cmpint(vm, >=, 0);
    fd = ioctl(vm, KVM_GET_STATS_FD, NULL);
    if (fd < 0) {
        g_test_skip("KVM without binary statistics");
        close(vm);
        close(kvm);
        return;
    }
    g_assert_cmpint(vmm_kstats_read(fd, &st), ==, 0);
    g_assert_cmpuint(st->nr, >, 0);
    for (unsigned i = 0; i < st->nr; i++) {
        g_assert_cmpuint(st->stats[i].nr_values, >=, 1);
        exits = exits || strcmp(st->stats[i].name, "remote_tlb_flush") == 0;
    }
    g_assert_true(exits);
    vmm_kstats_free(st);
    close(fd);
    close(vm);
    close(kvm);
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/kstats/read", test_read);
    g_test_add_func("/kstats/malformed", test_malformed);
    g_test_add_func("/kstats/kvm", test_kvm);
    return g_test_run();
}
