/* SPDX-License-Identifier: MIT */
/*
 * The guest RAM map (vmm/core/guest-mem.c): region rules at creation, and
 * range checks against every boundary, the gap between regions and
 * address + length overflow.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/guest-mem.h"
#include "harness.h"

#define LOW_SIZE 0x10000u
#define HIGH_GPA 0x100000000ull
#define HIGH_SIZE 0x8000u

static uint8_t g_low[LOW_SIZE], g_high[HIGH_SIZE];

static struct vmm_gmem *two_regions(void)
{
    const struct vmm_gmem_region r[] = {
        {0, LOW_SIZE, g_low},
        {HIGH_GPA, HIGH_SIZE, g_high},
    };
    struct vmm_gmem *gm = NULL;

    g_assert_cmpint(vmm_gmem_new(r, 2, &gm), ==, 0);
    return gm;
}

static void test_new_rules(void)
{
    struct vmm_gmem_region r[3] = {
        {0, LOW_SIZE, g_low},
        {HIGH_GPA, HIGH_SIZE, g_high},
    };
    struct vmm_gmem *gm = NULL;

    g_assert_cmpint(vmm_gmem_new(NULL, 1, &gm), ==, -EINVAL);
    g_assert_cmpint(vmm_gmem_new(r, 0, &gm), ==, -EINVAL);
    g_assert_cmpint(vmm_gmem_new(r, VMM_GMEM_MAX_REGIONS + 1, &gm), ==,
                    -EINVAL);
    g_assert_cmpint(vmm_gmem_new(r, 1, NULL), ==, -EINVAL);
    /* Out of order. */
    r[2] = r[0];
    g_assert_cmpint(vmm_gmem_new(&r[1], 2, &gm), ==, -EINVAL);
    /* Overlapping. */
    r[2] = (struct vmm_gmem_region){LOW_SIZE - 1, 0x1000, g_high};
    g_assert_cmpint(vmm_gmem_new(&r[0], 1, &gm), ==, 0);
    vmm_gmem_free(gm);
    {
        struct vmm_gmem_region o[2] = {r[0], r[2]};

        g_assert_cmpint(vmm_gmem_new(o, 2, &gm), ==, -EINVAL);
    }
    /* Empty, NULL memory, wrapping past 2^64. */
    r[2] = (struct vmm_gmem_region){0x20000, 0, g_high};
    g_assert_cmpint(vmm_gmem_new(&r[2], 1, &gm), ==, -EINVAL);
    r[2] = (struct vmm_gmem_region){0x20000, 0x1000, NULL};
    g_assert_cmpint(vmm_gmem_new(&r[2], 1, &gm), ==, -EINVAL);
    r[2] = (struct vmm_gmem_region){UINT64_MAX - 0xfff, 0x2000, g_high};
    g_assert_cmpint(vmm_gmem_new(&r[2], 1, &gm), ==, -EINVAL);
    /* Ending exactly at 2^64 is fine. */
    r[2] = (struct vmm_gmem_region){UINT64_MAX - 0xfff, 0x1000, g_high};
    g_assert_cmpint(vmm_gmem_new(&r[2], 1, &gm), ==, 0);
    g_assert_true(vmm_gmem_ptr(gm, UINT64_MAX, 1) == g_high + 0xfff);
    g_assert_null(vmm_gmem_ptr(gm, UINT64_MAX, 2));
    vmm_gmem_free(gm);
    vmm_gmem_free(NULL);
}

static void test_ptr_bounds(void)
{
    struct vmm_gmem *gm = two_regions();
    const struct vmm_gmem_region *regs;

    g_assert_true(vmm_gmem_ptr(gm, 0, 1) == g_low);
    g_assert_true(vmm_gmem_ptr(gm, 0, LOW_SIZE) == g_low);
    g_assert_true(vmm_gmem_ptr(gm, LOW_SIZE - 4, 4) == g_low + LOW_SIZE - 4);
    g_assert_null(vmm_gmem_ptr(gm, LOW_SIZE - 4, 5));
    g_assert_null(vmm_gmem_ptr(gm, LOW_SIZE, 1));
    g_assert_null(vmm_gmem_ptr(gm, HIGH_GPA - 1, 2)); /* the hole */
    g_assert_true(vmm_gmem_ptr(gm, HIGH_GPA, HIGH_SIZE) == g_high);
    g_assert_null(vmm_gmem_ptr(gm, HIGH_GPA + HIGH_SIZE, 1));
    g_assert_null(vmm_gmem_ptr(gm, 0, 0));
    g_assert_null(vmm_gmem_ptr(NULL, 0, 1));
    /* Address + length overflow must not wrap into RAM. */
    g_assert_null(vmm_gmem_ptr(gm, 16, UINT64_MAX));
    g_assert_null(vmm_gmem_ptr(gm, UINT64_MAX, 2));
    g_assert_null(vmm_gmem_ptr(gm, UINT64_MAX - 15, 32));
    g_assert_cmpuint(vmm_gmem_size(gm), ==, LOW_SIZE + HIGH_SIZE);
    g_assert_cmpuint(vmm_gmem_regions(gm, &regs), ==, 2);
    g_assert_cmpuint(regs[1].gpa, ==, HIGH_GPA);
    vmm_gmem_free(gm);
}

static void test_copy(void)
{
    struct vmm_gmem *gm = two_regions();
    uint8_t buf[64], back[64];
    unsigned i;

    for (i = 0; i < sizeof(buf); i++) {
        buf[i] = (uint8_t)(i * 7 + 1);
    }
    g_assert_cmpint(vmm_gmem_write(gm, HIGH_GPA + 8, buf, sizeof(buf)), ==, 0);
    g_assert_cmpmem(g_high + 8, sizeof(buf), buf, sizeof(buf));
    memset(back, 0, sizeof(back));
    g_assert_cmpint(vmm_gmem_read(gm, HIGH_GPA + 8, back, sizeof(back)), ==, 0);
    g_assert_cmpmem(back, sizeof(back), buf, sizeof(buf));
    /* A failing copy touches nothing. */
    memset(g_low + LOW_SIZE - 8, 0x5a, 8);
    g_assert_cmpint(vmm_gmem_write(gm, LOW_SIZE - 8, buf, 9), ==, -EFAULT);
    for (i = 0; i < 8; i++) {
        g_assert_cmpuint(g_low[LOW_SIZE - 8 + i], ==, 0x5a);
    }
    memset(back, 0x11, sizeof(back));
    g_assert_cmpint(vmm_gmem_read(gm, LOW_SIZE - 8, back, 9), ==, -EFAULT);
    g_assert_cmpuint(back[0], ==, 0x11);
    g_assert_cmpint(vmm_gmem_read(gm, UINT64_MAX, back, 0), ==, 0);
    g_assert_cmpint(vmm_gmem_read(gm, 0, NULL, 1), ==, -EINVAL);
    g_assert_cmpint(vmm_gmem_fill(gm, 0x100, 0xab, 16), ==, 0);
    g_assert_cmpuint(g_low[0x100], ==, 0xab);
    g_assert_cmpuint(g_low[0x10f], ==, 0xab);
    g_assert_cmpuint(g_low[0x110], !=, 0xab);
    g_assert_cmpint(vmm_gmem_fill(gm, HIGH_GPA + HIGH_SIZE - 1, 0, 2), ==,
                    -EFAULT);
    vmm_gmem_free(gm);
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/guest-mem/new-rules", test_new_rules);
    g_test_add_func("/guest-mem/ptr-bounds", test_ptr_bounds);
    g_test_add_func("/guest-mem/copy", test_copy);
    return g_test_run();
}
