/* SPDX-License-Identifier: MIT */
/*
 * The PIO/MMIO address map (vmm/core/bus.c) without KVM: lookups, overlap
 * and range checks, BQL and unlocked dispatch, unassigned and rejected
 * accesses, removal rules, and a callback that changes the map.
 */
#include <errno.h>

#include <loom/main.h>

#include "harness.h"
#include "core/bus.h"

struct reg_dev {
    uint64_t last_off;
    uint64_t last_val;
    unsigned last_size;
    int reads, writes;
    bool saw_bql;
};

static uint64_t reg_read(void *opaque, uint64_t off, unsigned size)
{
    struct reg_dev *d = opaque;

    d->reads++;
    d->last_off = off;
    d->last_size = size;
    d->saw_bql = loom_bql_locked();
    return 0x1122334455667788ull >> (8 * (8 - size));
}

static void reg_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct reg_dev *d = opaque;

    d->writes++;
    d->last_off = off;
    d->last_val = val;
    d->last_size = size;
    d->saw_bql = loom_bql_locked();
}

static const struct vmm_bus_ops reg_ops = {
    .read = reg_read,
    .write = reg_write,
};

static void test_add_overlap(void)
{
    struct vmm_bus *bus;
    struct reg_dev d = {0};

    g_assert_cmpint(vmm_bus_new(0xffff, NULL), ==, -EINVAL);
    g_assert_cmpint(vmm_bus_new(0xffff, &bus), ==, 0);
    g_assert_cmpint(vmm_bus_add(bus, 0x100, 0x10, &reg_ops, &d, 0), ==, 0);
    g_assert_cmpint(vmm_bus_add(bus, 0x200, 0x10, &reg_ops, &d, 0), ==, 0);
    g_assert_cmpint(vmm_bus_add(bus, 0x0, 0x1, &reg_ops, &d, 0), ==, 0);
    /* Overlaps on every side. */
    g_assert_cmpint(vmm_bus_add(bus, 0x100, 1, &reg_ops, &d, 0), ==, -EEXIST);
    g_assert_cmpint(vmm_bus_add(bus, 0xf8, 0x10, &reg_ops, &d, 0), ==, -EEXIST);
    g_assert_cmpint(vmm_bus_add(bus, 0x10f, 0x1, &reg_ops, &d, 0), ==, -EEXIST);
    g_assert_cmpint(vmm_bus_add(bus, 0x80, 0x200, &reg_ops, &d, 0), ==,
                    -EEXIST);
    /* Adjacent is fine. */
    g_assert_cmpint(vmm_bus_add(bus, 0x110, 0xf0, &reg_ops, &d, 0), ==, 0);
    g_assert_cmpint(vmm_bus_add(bus, 0xf0, 0x10, &reg_ops, &d, 0), ==, 0);
    /* Bad arguments. */
    g_assert_cmpint(vmm_bus_add(NULL, 0, 1, &reg_ops, &d, 0), ==, -EINVAL);
    g_assert_cmpint(vmm_bus_add(bus, 0x300, 1, NULL, &d, 0), ==, -EINVAL);
    g_assert_cmpint(vmm_bus_add(bus, 0x300, 0, &reg_ops, &d, 0), ==, -EINVAL);
    g_assert_cmpint(vmm_bus_add(bus, 0x300, 1, &reg_ops, &d, 0x10), ==,
                    -EINVAL);
    g_assert_cmpint(vmm_bus_add(bus, 0xffff, 2, &reg_ops, &d, 0), ==, -EINVAL);
    g_assert_cmpint(vmm_bus_add(bus, 0x10000, 1, &reg_ops, &d, 0), ==, -EINVAL);
    g_assert_cmpint(vmm_bus_add(bus, 0xffff, 1, &reg_ops, &d, VMM_BUS_UNLOCKED),
                    ==, 0);
    vmm_bus_free(bus);
    vmm_bus_free(NULL);
}

static void test_dispatch(void)
{
    struct vmm_bus *bus;
    struct vmm_bus_stats st;
    struct reg_dev locked = {0}, unlocked = {0};
    uint8_t buf[8];
    uint32_t v32 = 0xdeadbeef;
    uint64_t v64;

    g_assert_cmpint(vmm_bus_new(UINT64_MAX, &bus), ==, 0);
    g_assert_cmpint(vmm_bus_add(bus, 0x1000, 0x100, &reg_ops, &locked, 0), ==,
                    0);
    g_assert_cmpint(vmm_bus_add(bus, UINT64_MAX - 0xff, 0x100, &reg_ops,
                                &unlocked, VMM_BUS_UNLOCKED),
                    ==, 0);

    g_assert_cmpint(vmm_bus_write(bus, 0x1010, &v32, 4), ==, 0);
    g_assert_cmpint(locked.writes, ==, 1);
    g_assert_cmpuint(locked.last_off, ==, 0x10);
    g_assert_cmphex(locked.last_val, ==, 0xdeadbeef);
    g_assert_true(locked.saw_bql);
    g_assert_false(loom_bql_locked());

    g_assert_cmpint(vmm_bus_read(bus, 0x10f8, &v64, 8), ==, 0);
    g_assert_cmphex(v64, ==, 0x1122334455667788ull);
    g_assert_cmpint(vmm_bus_read(bus, 0x10fe, buf, 2), ==, 0);
    g_assert_cmphex(buf[0], ==, 0x22);
    g_assert_cmphex(buf[1], ==, 0x11);

    /* Holding the BQL already: dispatched without taking it again. */
    loom_bql_lock();
    g_assert_cmpint(vmm_bus_write(bus, 0x1000, &v32, 1), ==, 0);
    g_assert_true(locked.saw_bql);
    g_assert_cmphex(locked.last_val, ==, 0xef);
    g_assert_cmpint(vmm_bus_write(bus, UINT64_MAX - 7, &v32, 4), ==, 0);
    g_assert_true(unlocked.saw_bql);
    loom_bql_unlock();

    g_assert_cmpint(vmm_bus_read(bus, UINT64_MAX - 7, &v64, 8), ==, 0);
    g_assert_false(unlocked.saw_bql);
    g_assert_cmpuint(unlocked.last_off, ==, 0xf8);

    /* Unassigned, straddling, bad sizes. */
    memset(buf, 0, sizeof(buf));
    g_assert_cmpint(vmm_bus_read(bus, 0x2000, buf, 4), ==, -ENOENT);
    g_assert_cmphex(buf[0] & buf[1] & buf[2] & buf[3], ==, 0xff);
    g_assert_cmpint(vmm_bus_write(bus, 0xfff, &v32, 1), ==, -ENOENT);
    g_assert_cmpint(vmm_bus_write(bus, 0x10fe, &v32, 4), ==, -ERANGE);
    g_assert_cmpint(vmm_bus_read(bus, 0x1000, buf, 3), ==, -EINVAL);
    g_assert_cmpint(vmm_bus_write(bus, 0x1000, &v32, 0), ==, -EINVAL);
    g_assert_cmpint(vmm_bus_write(bus, 0x1000, NULL, 4), ==, -EINVAL);
    g_assert_cmpint(vmm_bus_read(NULL, 0x1000, buf, 4), ==, -EINVAL);

    g_assert_cmpint(vmm_bus_stats(bus, &st), ==, 0);
    g_assert_cmpuint(st.locked, ==, 4);
    g_assert_cmpuint(st.unlocked, ==, 2);
    g_assert_cmpuint(st.unassigned, ==, 2);
    g_assert_cmpuint(st.rejected, ==, 4);
    g_assert_cmpint(vmm_bus_stats(bus, NULL), ==, -EINVAL);
    vmm_bus_free(bus);
}

static void test_remove(void)
{
    struct vmm_bus *bus;
    struct reg_dev d = {0};
    uint32_t v = 1;

    g_assert_cmpint(vmm_bus_new(0xffff, &bus), ==, 0);
    g_assert_cmpint(vmm_bus_add(bus, 0x10, 4, &reg_ops, &d, 0), ==, 0);
    g_assert_cmpint(vmm_bus_add(bus, 0x20, 4, &reg_ops, &d, VMM_BUS_UNLOCKED),
                    ==, 0);
    /* A BQL region is removed under the BQL only. */
    g_assert_cmpint(vmm_bus_remove(bus, 0x10), ==, -EPERM);
    g_assert_cmpint(vmm_bus_remove(bus, 0x11), ==, -ENOENT);
    g_assert_cmpint(vmm_bus_remove(NULL, 0x10), ==, -EINVAL);
    g_assert_cmpint(vmm_bus_remove(bus, 0x20), ==, 0);
    g_assert_cmpint(vmm_bus_write(bus, 0x20, &v, 4), ==, -ENOENT);
    loom_bql_lock();
    g_assert_cmpint(vmm_bus_remove(bus, 0x10), ==, 0);
    loom_bql_unlock();
    g_assert_cmpint(vmm_bus_write(bus, 0x10, &v, 4), ==, -ENOENT);
    g_assert_cmpint(d.writes, ==, 0);
    /* The range can be reused. */
    g_assert_cmpint(vmm_bus_add(bus, 0x10, 0x20, &reg_ops, &d, 0), ==, 0);
    g_assert_cmpint(vmm_bus_write(bus, 0x2c, &v, 4), ==, 0);
    g_assert_cmpint(d.writes, ==, 1);
    vmm_bus_free(bus);
}

/* A BQL region whose write removes itself and maps a replacement. */
struct self_dev {
    struct vmm_bus *bus;
    int hits;
    int ret_remove;
    int ret_add;
};

static void self_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct self_dev *d = opaque;
    static const struct vmm_bus_ops ops = {.write = reg_write};
    static struct reg_dev sink;

    d->hits++;
    d->ret_remove = vmm_bus_remove(d->bus, 0x40);
    d->ret_add = vmm_bus_add(d->bus, 0x40, 4, &ops, &sink, 0);
}

static const struct vmm_bus_ops self_ops = {.write = self_write};

static void test_callback_changes_map(void)
{
    struct self_dev d = {0};
    uint32_t v = 7;

    g_assert_cmpint(vmm_bus_new(0xffff, &d.bus), ==, 0);
    g_assert_cmpint(vmm_bus_add(d.bus, 0x40, 4, &self_ops, &d, 0), ==, 0);
    g_assert_cmpint(vmm_bus_write(d.bus, 0x40, &v, 4), ==, 0);
    g_assert_cmpint(d.hits, ==, 1);
    g_assert_cmpint(d.ret_remove, ==, 0);
    g_assert_cmpint(d.ret_add, ==, 0);
    /* The replacement answers now. */
    g_assert_cmpint(vmm_bus_write(d.bus, 0x40, &v, 4), ==, 0);
    g_assert_cmpint(d.hits, ==, 1);
    vmm_bus_free(d.bus);
}

/* Reads of regions without callbacks. */
static void test_null_callbacks(void)
{
    static const struct vmm_bus_ops none = {0};
    struct vmm_bus *bus;
    uint32_t v = 0;

    g_assert_cmpint(vmm_bus_new(0xffff, &bus), ==, 0);
    g_assert_cmpint(vmm_bus_add(bus, 0x60, 4, &none, NULL, 0), ==, 0);
    g_assert_cmpint(vmm_bus_read(bus, 0x60, &v, 4), ==, 0);
    g_assert_cmphex(v, ==, 0xffffffffu);
    g_assert_cmpint(vmm_bus_write(bus, 0x60, &v, 4), ==, 0);
    vmm_bus_free(bus);
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/bus/add-overlap", test_add_overlap);
    g_test_add_func("/bus/dispatch", test_dispatch);
    g_test_add_func("/bus/remove", test_remove);
    g_test_add_func("/bus/callback-changes-map", test_callback_changes_map);
    g_test_add_func("/bus/null-callbacks", test_null_callbacks);
    return g_test_run();
}
