/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: the Error ** convention of <qapi/error.h>: NULL ignores,
 * &local_err receives, error_propagate() keeps the first error,
 * &error_abort aborts, &error_fatal exits with status 1, &error_warn
 * prints and goes on, ERRP_GUARD() lets a function test *errp, and hints
 * and prefixes reach the report.
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/error-report.h"

/* A typical fallible function: bool result plus errp. */
static bool parse_positive(const char *s, int *out, Error **errp)
{
    char *end;
    long v = strtol(s, &end, 10);

    if (*end || v <= 0) {
        error_setg(errp, "'%s' is not a positive number", s);
        return false;
    }
    *out = (int)v;
    return true;
}

static void test_null_and_local(void)
{
    Error *err = NULL;
    int v = 0;

    g_assert_false(parse_positive("x", &v, NULL));
    g_assert_true(parse_positive("42", &v, &err));
    g_assert_null(err);
    g_assert_cmpint(v, ==, 42);
    g_assert_false(parse_positive("-3", &v, &err));
    g_assert_nonnull(err);
    g_assert_cmpstr(error_get_pretty(err), ==, "'-3' is not a positive number");
    g_assert_cmpint(error_get_class(err), ==, ERROR_CLASS_GENERIC_ERROR);
    error_free_or_abort(&err);
    g_assert_null(err);
}

static void test_errno_and_class(void)
{
    Error *err = NULL;

    error_setg_errno(&err, ENOENT, "cannot open %s", "disk.img");
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "cannot open disk.img: No such file or directory");
    error_free(err);
    err = NULL;
    error_set(&err, ERROR_CLASS_DEVICE_NOT_FOUND, "no %s", "dev0");
    g_assert_cmpint(error_get_class(err), ==, ERROR_CLASS_DEVICE_NOT_FOUND);
    error_free(err);
}

static void test_propagate(void)
{
    Error *dst = NULL, *a = NULL, *b = NULL, *copy;

    error_propagate(&dst, NULL); /* nothing to move */
    g_assert_null(dst);
    error_setg(&a, "first");
    error_setg(&b, "second");
    error_propagate(&dst, a);
    error_propagate(&dst, b); /* first one wins; second freed */
    g_assert_cmpstr(error_get_pretty(dst), ==, "first");
    error_prepend(&dst, "ctx %d: ", 7);
    g_assert_cmpstr(error_get_pretty(dst), ==, "ctx 7: first");
    copy = error_copy(dst);
    g_assert_cmpstr(error_get_pretty(copy), ==, "ctx 7: first");
    error_free(dst);
    dst = NULL;
    error_propagate_prepend(&dst, copy, "outer: ");
    g_assert_cmpstr(error_get_pretty(dst), ==, "outer: ctx 7: first");
    error_free(dst);
    error_propagate(NULL, NULL);
    a = NULL;
    error_setg(&a, "dropped");
    error_propagate(NULL, a); /* freed, not leaked (ASan checks) */
}

/* Uses ERRP_GUARD() to look at *errp even if the caller passed NULL. */
static bool two_steps(const char *x, const char *y, int *sum, Error **errp)
{
    ERRP_GUARD();
    int a = 0, b = 0;

    parse_positive(x, &a, errp);
    if (*errp) {
        error_append_hint(errp, "first operand\n");
        return false;
    }
    if (!parse_positive(y, &b, errp)) {
        error_prepend(errp, "second operand: ");
        return false;
    }
    *sum = a + b;
    return true;
}

static void test_errp_guard(void)
{
    Error *err = NULL;
    int sum = 0;

    g_assert_false(two_steps("z", "1", &sum, NULL));
    g_assert_true(two_steps("2", "3", &sum, &err));
    g_assert_cmpint(sum, ==, 5);
    g_assert_false(two_steps("2", "q", &sum, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "second operand: 'q' is not a positive number");
    error_free(err);
}

static void test_abort_subprocess(void)
{
    if (g_test_subprocess()) {
        error_setg(&error_abort, "boom %d", 1);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*Unexpected error in test_abort_subprocess()*"
                              "boom 1*");
}

static void test_fatal_subprocess(void)
{
    if (g_test_subprocess()) {
        int sum;

        /* ERRP_GUARD() delays the exit until the hint is attached. */
        two_steps("nope", "1", &sum, &error_fatal);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*'nope' is not a positive number\n"
                              "first operand\n");
}

static void test_fatal_status(void)
{
    pid_t pid = fork();
    int status = 0;

    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);

        dup2(fd, 2);
        error_setg(&error_fatal, "bye");
        _exit(0); /* not reached */
    }
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 1);
}

static void test_warn_and_report(void)
{
    if (g_test_subprocess()) {
        Error *err = NULL;

        error_init("/usr/bin/tool");
        error_setg(&error_warn, "just a warning");
        error_setg(&err, "reported");
        error_append_hint(&err, "try harder\n");
        error_reportf_err(err, "while %s: ", "testing");
        error_report("plain %d", 3);
        warn_report("careful");
        info_report("fyi");
        g_assert_true(error_report_once("once"));
        for (int i = 0; i < 3; i++) {
            warn_report_once("repeated");
        }
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_passed();
    g_test_trap_assert_stderr("tool: warning: just a warning\n"
                              "tool: while testing: reported\ntry harder\n"
                              "tool: plain 3\ntool: warning: careful\n"
                              "tool: info: fyi\ntool: once\n"
                              "tool: warning: repeated\n");
}

static void test_set_twice_aborts(void)
{
    if (g_test_subprocess()) {
        Error *err = NULL;

        error_setg(&err, "one");
        error_setg(&err, "two");
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*error set twice*");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/error/null-and-local", test_null_and_local);
    g_test_add_func("/error/errno-and-class", test_errno_and_class);
    g_test_add_func("/error/propagate", test_propagate);
    g_test_add_func("/error/errp-guard", test_errp_guard);
    g_test_add_func("/error/abort", test_abort_subprocess);
    g_test_add_func("/error/fatal", test_fatal_subprocess);
    g_test_add_func("/error/fatal-status", test_fatal_status);
    g_test_add_func("/error/warn-and-report", test_warn_and_report);
    g_test_add_func("/error/set-twice", test_set_twice_aborts);
    return g_test_run();
}
