/* SPDX-License-Identifier: MIT */
/*
 * isa-debug-exit (vmm/devices/debug-exit.c) on a PIO bus, without KVM:
 * the exit status for each write width, reads, argument checks.
 */
#include <errno.h>

#include <loom/main.h>

#include "core/bus.h"
#include "devices/debug-exit.h"
#include "harness.h"

struct seen {
    int calls;
    int status;
    bool bql;
};

static void on_exit_req(void *opaque, int status)
{
    struct seen *s = opaque;

    s->calls++;
    s->status = status;
    s->bql = loom_bql_locked();
}

static void test_statuses(void)
{
    struct vmm_debug_exit *d = NULL;
    struct vmm_bus *pio = NULL;
    struct seen s = {0};
    uint32_t v;
    uint8_t b;
    uint16_t w;

    g_assert_cmpint(vmm_bus_new(0xffff, &pio), ==, 0);
    g_assert_cmpint(vmm_debug_exit_new(pio, 0x501, 2, on_exit_req, &s, &d), ==,
                    0);
    b = 0;
    g_assert_cmpint(vmm_bus_write(pio, 0x501, &b, 1), ==, 0);
    g_assert_cmpint(s.calls, ==, 1);
    g_assert_cmpint(s.status, ==, 1);
    g_assert_true(s.bql); /* a BQL region: the bus took it */
    b = 0x21;
    g_assert_cmpint(vmm_bus_write(pio, 0x502, &b, 1), ==, 0);
    g_assert_cmpint(s.status, ==, 0x43);
    w = 0x1234;
    g_assert_cmpint(vmm_bus_write(pio, 0x501, &w, 2), ==, 0);
    g_assert_cmpint(s.status, ==, 0x2469);
    /* A 4-byte access does not fit the two ports: rejected, no exit. */
    v = 5;
    g_assert_cmpint(vmm_bus_write(pio, 0x501, &v, 4), ==, -ERANGE);
    g_assert_cmpint(s.calls, ==, 3);
    v = 0xffffffff;
    g_assert_cmpint(vmm_bus_read(pio, 0x501, &v, 2), ==, 0);
    g_assert_cmpuint(v & 0xffff, ==, 0);
    loom_bql_lock();
    vmm_debug_exit_free(d);
    loom_bql_unlock();
    g_assert_cmpint(vmm_bus_write(pio, 0x501, &b, 1), ==, -ENOENT);
    g_assert_cmpint(s.calls, ==, 3);
    vmm_bus_free(pio);
}

static void test_bad_args(void)
{
    struct vmm_debug_exit *d = NULL, *d2 = NULL;
    struct vmm_bus *pio = NULL;
    struct seen s = {0};

    g_assert_cmpint(vmm_bus_new(0xffff, &pio), ==, 0);
    g_assert_cmpint(vmm_debug_exit_new(NULL, 0x501, 2, on_exit_req, &s, &d), ==,
                    -EINVAL);
    g_assert_cmpint(vmm_debug_exit_new(pio, 0x501, 3, on_exit_req, &s, &d), ==,
                    -EINVAL);
    g_assert_cmpint(vmm_debug_exit_new(pio, 0x501, 0, on_exit_req, &s, &d), ==,
                    -EINVAL);
    g_assert_cmpint(vmm_debug_exit_new(pio, 0xffff, 2, on_exit_req, &s, &d), ==,
                    -EINVAL);
    g_assert_cmpint(vmm_debug_exit_new(pio, 0x501, 2, NULL, &s, &d), ==,
                    -EINVAL);
    g_assert_cmpint(vmm_debug_exit_new(pio, 0xf4, 4, on_exit_req, &s, &d), ==,
                    0);
    g_assert_cmpint(vmm_debug_exit_new(pio, 0xf6, 1, on_exit_req, &s, &d2), ==,
                    -EEXIST);
    loom_bql_lock();
    vmm_debug_exit_free(d);
    vmm_debug_exit_free(NULL);
    loom_bql_unlock();
    vmm_bus_free(pio);
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/debug-exit/statuses", test_statuses);
    g_test_add_func("/debug-exit/bad-args", test_bad_args);
    return g_test_run();
}
