/* SPDX-License-Identifier: MIT */
/*
 * -sandbox on, end to end, on the test build of loom-vm (loom-vm-test:
 * vmm/main.c built with VMM_TEST_TRIGGERS).  Its environment variable
 * LOOM_VM_X_SANDBOX_TRIGGER=TYPE makes every thread of that type (main,
 * vcpu, iothread, pool, helper) make a system call outside its list once
 * confined: the whole process must die of SIGSYS at once, whichever
 * thread it was.  The same boot without -sandbox on, or with no trigger,
 * passes.  In sanitizer builds the sandbox logs instead of killing, so
 * there the triggered boots pass too.
 *
 *   test-vmm-sandbox --vmm=PATH-TO-loom-vm-test --guest-dir=DIR [GTest]
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <glib.h>

#include "guest-run.h"
#include "sandbox.h"

/* A boot of hello with an IOThread, so that every thread type exists. */
static void boot(struct guest_boot *b, const char *trigger, bool sandbox)
{
    const char *const on[] = {"-object", "iothread,id=io0", "-sandbox", "on",
                              NULL};
    const char *const off[] = {"-object", "iothread,id=io0", NULL};

    if (trigger) {
        g_assert_true(g_setenv("LOOM_VM_X_SANDBOX_TRIGGER", trigger, true));
    } else {
        g_unsetenv("LOOM_VM_X_SANDBOX_TRIGGER");
    }
    guest_boot(b, "hello", 2, "", sandbox ? on : off);
    g_unsetenv("LOOM_VM_X_SANDBOX_TRIGGER");
}

static void test_untriggered(void)
{
    struct guest_boot b;

    boot(&b, NULL, true);
    guest_expect_status(&b, GUEST_EXIT_PASS);
    guest_expect_line(&b, "hello: done");
    guest_boot_clear(&b);
}

static void test_trigger(const void *data)
{
    const char *type = data;
    struct guest_boot b;

    /* Without the sandbox the trigger is a harmless call. */
    boot(&b, type, false);
    guest_expect_status(&b, GUEST_EXIT_PASS);
    guest_boot_clear(&b);

    boot(&b, type, true);
    if (vmm_sandbox_kills()) {
        guest_expect_status(&b, 128 + SIGSYS);
    } else {
        g_test_message("sanitizer build: the call is logged, not fatal");
        guest_expect_status(&b, GUEST_EXIT_PASS);
    }
    guest_boot_clear(&b);
}

int main(int argc, char **argv)
{
    static const char *const types[] = {"main", "vcpu", "iothread", "pool",
                                        "helper"};
    /* A SIGSYS would otherwise leave a core file behind. */
    struct rlimit nocore = {0, 0};

    g_assert_cmpint(setrlimit(RLIMIT_CORE, &nocore), ==, 0);
    guest_run_init(&argc, &argv);
    g_test_add_func("/vmm-sandbox/untriggered", test_untriggered);
    for (size_t i = 0; i < G_N_ELEMENTS(types); i++) {
        g_autofree char *name =
            g_strdup_printf("/vmm-sandbox/kill/%s", types[i]);

        g_test_add_data_func(name, types[i], test_trigger);
    }
    return g_test_run();
}
