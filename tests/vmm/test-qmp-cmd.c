/* SPDX-License-Identifier: MIT */
/*
 * What QMP commands share (vmm/monitor/qmp-cmd.c): error objects (the
 * first error wins, QEMU's class names), argument checks with QEMU's
 * messages for every type, enumerations, counters past INT64_MAX.
 */
#include <stdint.h>
#include <string.h>

#include "harness.h"
#include "monitor/qmp-int.h"

static const struct qmp_arg g_spec[] = {
    {"s", QMP_T_STR, false},  {"i", QMP_T_INT, true},
    {"b", QMP_T_BOOL, true},  {"n", QMP_T_NUMBER, true},
    {"a", QMP_T_ARRAY, true}, {"o", QMP_T_OBJECT, true},
    {"v", QMP_T_ANY, true},   {NULL},
};

/* Check @json against g_spec; the error's text, or NULL if it fits. */
static char *check(const char *json)
{
    json_t *args = json_loads(json, 0, NULL);
    struct qmp_error *err = NULL;
    char *desc = NULL;
    bool ok;

    g_assert_nonnull(args);
    ok = vmm__qmp_check_args(g_spec, args, &err);
    g_assert_true(ok == (err == NULL));
    if (err) {
        g_assert_cmpint(err->cls, ==, QMP_ERR_GENERIC);
        desc = g_strdup(err->desc);
    }
    vmm__qmp_error_free(err);
    json_decref(args);
    return desc;
}

static void expect(const char *json, const char *desc)
{
    g_autofree char *got = check(json);

    g_assert_cmpstr(got, ==, desc);
}

static void test_args(void)
{
    struct qmp_error *err = NULL;

    expect("{\"s\":\"x\"}", NULL);
    expect("{\"s\":\"x\",\"i\":-3,\"b\":false,\"n\":1.5,\"a\":[],\"o\":{},"
           "\"v\":null}",
           NULL);
    /* A number may be an integer. */
    expect("{\"s\":\"x\",\"n\":7}", NULL);
    expect("{}", "Parameter 's' is missing");
    expect("{\"s\":\"x\",\"zz\":1}", "Parameter 'zz' is unexpected");
    /* Declared members are checked before leftovers (QEMU's order). */
    expect("{\"zz\":1}", "Parameter 's' is missing");
    expect("{\"s\":1}", "Invalid parameter type for 's', expected: string");
    expect("{\"s\":\"x\",\"i\":1.0}",
           "Invalid parameter type for 'i', expected: integer");
    expect("{\"s\":\"x\",\"b\":0}",
           "Invalid parameter type for 'b', expected: boolean");
    expect("{\"s\":\"x\",\"n\":\"1\"}",
           "Invalid parameter type for 'n', expected: number");
    expect("{\"s\":\"x\",\"a\":{}}",
           "Invalid parameter type for 'a', expected: array");
    expect("{\"s\":\"x\",\"o\":[]}",
           "Invalid parameter type for 'o', expected: object");
    /* No spec: any member is unexpected; no arguments at all fit. */
    g_assert_true(vmm__qmp_check_args(NULL, NULL, &err));
    g_assert_true(vmm__qmp_check_args(g_spec + 1, NULL, &err));
    g_assert_null(err);
}

static void test_enum(void)
{
    static const char *const names[] = {"vm", "vcpu", NULL};
    struct qmp_error *err = NULL;

    g_assert_cmpint(vmm__qmp_enum("target", "vcpu", names, &err), ==, 1);
    g_assert_null(err);
    g_assert_cmpint(vmm__qmp_enum("target", "VM", names, &err), ==, -1);
    g_assert_cmpstr(err->desc, ==,
                    "Parameter 'target' does not accept value 'VM'");
    vmm__qmp_error_free(err);
    /* Without an error pointer, only the result. */
    g_assert_cmpint(vmm__qmp_enum("target", "x", names, NULL), ==, -1);
}

static void test_errors(void)
{
    struct qmp_error *err = NULL;

    vmm__qmp_error_set(&err, QMP_ERR_DEVICE_NOT_FOUND, "Device '%s' not found",
                       "d");
    vmm__qmp_error_set(&err, QMP_ERR_GENERIC, "second");
    g_assert_cmpint(err->cls, ==, QMP_ERR_DEVICE_NOT_FOUND);
    g_assert_cmpstr(err->desc, ==, "Device 'd' not found");
    vmm__qmp_error_free(err);
    vmm__qmp_error_set(NULL, QMP_ERR_GENERIC, "ignored");
    vmm__qmp_error_free(NULL);
    g_assert_cmpstr(vmm__qmp_error_class_name(QMP_ERR_GENERIC), ==,
                    "GenericError");
    g_assert_cmpstr(vmm__qmp_error_class_name(QMP_ERR_COMMAND_NOT_FOUND), ==,
                    "CommandNotFound");
    g_assert_cmpstr(vmm__qmp_error_class_name(QMP_ERR_DEVICE_NOT_ACTIVE), ==,
                    "DeviceNotActive");
    g_assert_cmpstr(vmm__qmp_error_class_name(QMP_ERR_DEVICE_NOT_FOUND), ==,
                    "DeviceNotFound");
    g_assert_cmpstr(vmm__qmp_error_class_name(QMP_ERR_KVM_MISSING_CAP), ==,
                    "KVMMissingCap");
    g_assert_cmpstr(vmm__qmp_error_class_name((enum qmp_error_class)99), ==,
                    "GenericError");
}

static void test_u64(void)
{
    json_t *v = vmm__qmp_u64(INT64_MAX), *o = json_object();

    g_assert_true(json_is_integer(v));
    g_assert_cmpint(json_integer_value(v), ==, INT64_MAX);
    json_decref(v);
    v = vmm__qmp_u64(UINT64_MAX);
    g_assert_true(json_is_real(v));
    g_assert_cmpfloat(json_real_value(v), ==, (double)UINT64_MAX);
    json_decref(v);
    g_assert_true(vmm__qmp_set(o, "k", json_integer(1)));
    g_assert_false(vmm__qmp_set(o, "k", NULL));
    json_decref(o);
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/qmp-cmd/args", test_args);
    g_test_add_func("/qmp-cmd/enum", test_enum);
    g_test_add_func("/qmp-cmd/errors", test_errors);
    g_test_add_func("/qmp-cmd/u64", test_u64);
    return g_test_run();
}
