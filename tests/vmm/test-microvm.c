/* SPDX-License-Identifier: MIT */
/*
 * QEMU microvm's layout as loom-vm reproduces it (vmm/machine/microvm.c):
 * the RAM split around the 32-bit hole, the virtio-mmio slot order and
 * the kernel command line, each compared with what QEMU 7.2 produces
 * (measured with the hello guest, which prints its command line).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "machine/microvm.h"

static void test_ram_layout(void)
{
    struct vmm_gmem_region r[2];

    g_assert_cmpint(vmm_microvm_ram_layout(128ull << 20, r), ==, 1);
    g_assert_cmpuint(r[0].gpa, ==, 0);
    g_assert_cmpuint(r[0].size, ==, 128ull << 20);
    g_assert_cmpint(vmm_microvm_ram_layout(3ull << 30, r), ==, 1);
    g_assert_cmpuint(r[0].size, ==, 3ull << 30);
    g_assert_cmpint(vmm_microvm_ram_layout(4ull << 30, r), ==, 2);
    g_assert_cmpuint(r[0].size, ==, 3ull << 30);
    g_assert_cmpuint(r[1].gpa, ==, 4ull << 30);
    g_assert_cmpuint(r[1].size, ==, 1ull << 30);
    g_assert_cmpint(vmm_microvm_ram_layout(0, r), ==, -EINVAL);
    g_assert_cmpint(vmm_microvm_ram_layout(4097, r), ==, -EINVAL);
    g_assert_cmpint(vmm_microvm_ram_layout(UINT64_MAX & ~0xfffull, r), ==,
                    -EINVAL);
}

static void test_virtio_slots(void)
{
    g_assert_cmpint(vmm_microvm_virtio_slot(0), ==, 7);
    g_assert_cmpint(vmm_microvm_virtio_slot(7), ==, 0);
    g_assert_cmpint(vmm_microvm_virtio_slot(8), ==, -ENOSPC);
    g_assert_cmphex(vmm_microvm_virtio_addr(7), ==, 0xfeb00e00);
    g_assert_cmphex(vmm_microvm_virtio_addr(0), ==, 0xfeb00000);
    g_assert_cmpuint(vmm_microvm_virtio_irq(7), ==, 12);
    g_assert_cmpuint(vmm_microvm_virtio_irq(0), ==, 5);
}

static void check_cmdline(const char *append, unsigned n, bool on,
                          const char *want)
{
    char *s = vmm_microvm_cmdline(append, n, on);

    g_assert_nonnull(s);
    g_assert_cmpstr(s, ==, want);
    free(s);
}

static void test_cmdline(void)
{
    /* Strings as QEMU 7.2 microvm,acpi=off hands them to the guest. */
    check_cmdline(NULL, 0, true, "");
    check_cmdline("a=b", 0, true, "a=b");
    check_cmdline("a=b", 1, true, "a=b virtio_mmio.device=512@0xfeb00e00:12");
    check_cmdline(NULL, 2, true,
                  " virtio_mmio.device=512@0xfeb00e00:12"
                  " virtio_mmio.device=512@0xfeb00c00:11");
    check_cmdline("", 1, true, " virtio_mmio.device=512@0xfeb00e00:12");
    check_cmdline("console=ttyS0", 2, false, "console=ttyS0");
    check_cmdline(NULL, 8, true,
                  " virtio_mmio.device=512@0xfeb00e00:12"
                  " virtio_mmio.device=512@0xfeb00c00:11"
                  " virtio_mmio.device=512@0xfeb00a00:10"
                  " virtio_mmio.device=512@0xfeb00800:9"
                  " virtio_mmio.device=512@0xfeb00600:8"
                  " virtio_mmio.device=512@0xfeb00400:7"
                  " virtio_mmio.device=512@0xfeb00200:6"
                  " virtio_mmio.device=512@0xfeb00000:5");
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/microvm/ram-layout", test_ram_layout);
    g_test_add_func("/microvm/virtio-slots", test_virtio_slots);
    g_test_add_func("/microvm/cmdline", test_cmdline);
    return g_test_run();
}
