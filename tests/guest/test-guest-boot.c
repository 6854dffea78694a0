/* SPDX-License-Identifier: MIT */
/*
 * Boots the bundled guests (guest/) on a machine monitor and checks their
 * console output and exit status: hello, smp and sdk-test on 1, 2 and 4
 * vCPUs, and the SDK's failure paths (panic, assert, CPU exception, bad
 * argument, missing CPUs) with their documented statuses.
 *
 *   test-guest-boot --vmm=PATH --guest-dir=DIR [--vmm-arg=ARG]... [GTest]
 *
 * PATH is qemu-system-x86_64 or loom-vm (a name is looked up in $PATH);
 * both take the same command line (VMM.md).  Every case is skipped when
 * the monitor or a usable /dev/kvm is missing (guest-run.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "guest-run.h"

static unsigned case_cpus(const void *data)
{
    return GPOINTER_TO_UINT(data);
}

/* ------------------------------------------------------------------ */

/* Whether hello's memory map lists RAM over [@start, @end). */
static bool ram_entry_covers(const struct guest_boot *b, uint64_t start,
                             uint64_t end)
{
    g_auto(GStrv) lines = g_strsplit(b->out, "\n", -1);

    for (size_t i = 0; lines[i]; i++) {
        unsigned long long base, size;
        unsigned type;

        if (sscanf(lines[i], "  base %llx size %llx type %u", &base, &size,
                   &type) == 3 &&
            type == 1 && base <= start && base + size >= end) {
            return true;
        }
    }
    guest_show(b);
    return false;
}

static void test_hello(const void *data)
{
    unsigned cpus = case_cpus(data);
    g_autofree char *want =
        g_strdup_printf("cpus: %u (expected %u)", cpus, cpus);
    struct guest_boot b;
    const char *ram;
    unsigned long kib;

    guest_boot(&b, "hello", cpus, "greeting=hi answer=42 bare", NULL);
    guest_expect_status(&b, GUEST_EXIT_PASS);
    guest_expect_line(&b, "loom micro-guest: hello");
    guest_expect_line(&b, want);
    guest_expect_line(&b, "cmdline: greeting=hi answer=42 bare");
    guest_expect_line(&b, "  arg 0: greeting = \"hi\"");
    guest_expect_line(&b, "  arg 1: answer = \"42\"");
    guest_expect_line(&b, "  arg 2: bare = \"\"");
    /*
     * One RAM entry runs from at or below 1 MiB (where the image is) to
     * the end of -m 128; how low memory is split up is the monitor's
     * business (QEMU reserves 0x9fc00-0xfffff for its firmware).
     */
    g_assert_true(ram_entry_covers(&b, 0x100000, 128u << 20));
    ram = guest_find_line(&b, "ram: ");
    g_assert_nonnull(ram);
    kib = strtoul(ram + 5, NULL, 10);
    g_assert_cmpuint(kib, >=, 127 * 1024);
    g_assert_cmpuint(kib, <=, 128 * 1024);
    guest_expect_line(&b, "hello: done");
    guest_boot_clear(&b);
}

static void test_smp(const void *data)
{
    unsigned cpus = case_cpus(data);
    g_autofree char *summary = g_strdup_printf(
        "smp: %u of %u CPUs reported in (%u online)", cpus, cpus, cpus);
    g_autoptr(GHashTable) apics =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    struct guest_boot b;

    guest_boot(&b, "smp", cpus, "", NULL);
    guest_expect_status(&b, GUEST_EXIT_PASS);
    for (unsigned i = 0; i < cpus; i++) {
        g_autofree char *prefix = g_strdup_printf("cpu %u: apic ", i);
        const char *line = guest_find_line(&b, prefix);
        g_autofree char *apic = NULL;

        if (!line) {
            guest_show(&b);
        }
        g_assert_nonnull(line);
        apic = g_strndup(line + strlen(prefix),
                         strcspn(line + strlen(prefix), "\n"));
        g_assert_false(g_hash_table_contains(apics, apic));
        g_hash_table_add(apics, g_steal_pointer(&apic));
    }
    guest_expect_line(&b, summary);
    guest_expect_line(&b, "smp: PASS");
    guest_boot_clear(&b);
}

static void test_smp_missing_cpu(void)
{
    struct guest_boot b;

    guest_boot(&b, "smp", 2, "cpus=3 ap_timeout_ms=500", NULL);
    guest_expect_status(&b, GUEST_EXIT_FAIL);
    guest_expect_line(&b, "smp: 2 of 3 CPUs reported in (2 online)");
    guest_expect_line(&b, "smp: FAIL: CPU count");
    guest_expect_line(&b, "smp: FAIL");
    guest_boot_clear(&b);
}

#define SDK_TEST_ARGS "alpha=1 beta= gamma flag=off num=0x10 dup=a dup=b"

/* The cases sdk-test runs on any number of CPUs. */
static const char *const sdk_cases[] = {
    "printf",   "parse", "cmdline", "strings",
    "spinlock", "time",  "msr",     "self-ipi",
};

static void test_sdk(const void *data)
{
    unsigned cpus = case_cpus(data);
    struct guest_boot b;

    guest_boot(&b, "sdk-test", cpus, SDK_TEST_ARGS, NULL);
    guest_expect_status(&b, GUEST_EXIT_PASS);
    guest_expect_no_prefix(&b, "FAIL");
    for (size_t i = 0; i < G_N_ELEMENTS(sdk_cases); i++) {
        g_autofree char *line = g_strdup_printf("PASS %s", sdk_cases[i]);

        guest_expect_line(&b, line);
    }
    if (cpus > 1) {
        guest_expect_line(&b, "PASS ipi-wake");
    }
    guest_expect_line(&b, "sdk-test: 0 failed");
    guest_boot_clear(&b);
}

/* Its checks can fail: without the expected words, "cmdline" does. */
static void test_sdk_fails(void)
{
    struct guest_boot b;

    guest_boot(&b, "sdk-test", 1, "alpha=2", NULL);
    guest_expect_status(&b, GUEST_EXIT_FAIL);
    guest_expect_prefix(&b, "FAIL cmdline: ");
    guest_expect_line(&b, "PASS printf");
    guest_expect_line(&b, "sdk-test: 1 failed");
    guest_boot_clear(&b);
}

/* "tsc: N kHz (source)" from hello. */
static unsigned long hello_tsc_khz(const char *append, const char **source)
{
    struct guest_boot b;
    const char *line;
    unsigned long khz;
    char *end;

    guest_boot(&b, "hello", 1, append, NULL);
    guest_expect_status(&b, GUEST_EXIT_PASS);
    line = guest_find_line(&b, "tsc: ");
    g_assert_nonnull(line);
    khz = strtoul(line + 5, &end, 10);
    *source = strstr(end, "(kvmclock)") == end + 5 ? "kvmclock" : "pit";
    g_assert_true(g_str_has_prefix(end, " kHz ("));
    guest_boot_clear(&b);
    return khz;
}

/*
 * The PIT calibration agrees with kvmclock's exact figure within 0.2%
 * (its own error is below 0.05%; the host's clock may be slewed by up to
 * 0.05% against the TSC), each of several times: a calibration that keeps
 * starting over would run into the boot's watchdog instead.
 */
static void test_clock_sources(void)
{
    const char *dflt, *pit;
    unsigned long a = hello_tsc_khz("smp=off", &dflt);

    for (int i = 0; i < 3; i++) {
        unsigned long b = hello_tsc_khz("smp=off sdk.clock=pit", &pit);

        g_assert_cmpstr(pit, ==, "pit");
        g_assert_cmpuint(b, >, 100000);
        if (strcmp(dflt, "kvmclock") != 0) {
            g_test_message("the monitor offers no kvmclock: PIT only");
            continue;
        }
        g_test_message("pit %lu kHz, kvmclock %lu kHz", b, a);
        g_assert_cmpuint(b, >=, a - a / 500);
        g_assert_cmpuint(b, <=, a + a / 500);
    }
}

struct failure_case {
    const char *append;
    int status;
    const char *line; /* a console line starting with this */
};

static void test_failure(const void *data)
{
    const struct failure_case *c = data;
    struct guest_boot b;

    guest_boot(&b, "hello", 1, c->append, NULL);
    guest_expect_status(&b, c->status);
    guest_expect_prefix(&b, c->line);
    guest_expect_no_prefix(&b, "hello: done");
    guest_boot_clear(&b);
}

static const struct failure_case failures[] = {
    {"crash=panic", GUEST_EXIT_PANIC, "PANIC: crash=panic requested"},
    {"crash=assert", GUEST_EXIT_PANIC, "PANIC: assertion failed: "},
    {"crash=trap", GUEST_EXIT_TRAP, "TRAP: #PF (vector 14) error 0x6 on CPU 0"},
    {"cpus=many", GUEST_EXIT_USAGE, "usage: cpus=many: expected a number"},
    {"smp=maybe", GUEST_EXIT_USAGE, "usage: smp=maybe: expected on or off"},
    {"sdk.clock=hpet smp=off", GUEST_EXIT_USAGE, "usage: sdk.clock=hpet"},
};

/* ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    static const unsigned counts[] = {1, 2, 4};

    guest_run_init(&argc, &argv);
    for (size_t i = 0; i < G_N_ELEMENTS(counts); i++) {
        void *n = GUINT_TO_POINTER(counts[i]);
        g_autofree char *h = g_strdup_printf("/guest/hello/smp%u", counts[i]);
        g_autofree char *s = g_strdup_printf("/guest/smp/smp%u", counts[i]);
        g_autofree char *t =
            g_strdup_printf("/guest/sdk-test/smp%u", counts[i]);

        g_test_add_data_func(h, n, test_hello);
        g_test_add_data_func(s, n, test_smp);
        g_test_add_data_func(t, n, test_sdk);
    }
    g_test_add_func("/guest/smp/missing-cpu", test_smp_missing_cpu);
    g_test_add_func("/guest/sdk-test/fails", test_sdk_fails);
    g_test_add_func("/guest/hello/clock-sources", test_clock_sources);
    for (size_t i = 0; i < G_N_ELEMENTS(failures); i++) {
        g_autofree char *p = g_strdup_printf("/guest/hello/failure/%zu", i);

        g_test_add_data_func(p, &failures[i], test_failure);
    }
    return g_test_run();
}
