/* SPDX-License-Identifier: MIT */
/*
 * Boots Linux (guest/linux/: Debian's linux-source-6.1, built and cached by
 * build-kernel) on a machine monitor with an ext4 root on a virtio-blk
 * disk served by an IOThread, once per block backend, and requires in
 * the console, in order: the virtio-mmio transport registered from the
 * command line, the disk probed ("virtio_blk virtio0: [vda]"), the root
 * mounted, the init hand-off; and the MP table found, with the IOAPIC in
 * use.  Then the test ends the VM (SIGTERM: no userspace runs on this
 * host) and prints the boot's timeline.
 *
 *   test-linux-boot --vmm=PATH --build-kernel=SCRIPT --work-dir=DIR
 *                   [--aio=io_uring,threads] [GTest options]
 *
 * PATH is loom-vm or qemu-system-x86_64 (same command line).  The whole
 * program is skipped, with the reason, when the monitor or /dev/kvm is
 * missing, or the kernel cannot be built here (no linux-source-6.1).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include <glib.h>

#include "harness.h"
#include "linux-boot.h"

/* One boot takes ~1 minute on a quiet host, several on a loaded one. */
#define BOOT_TIMEOUT_S 1500.0
#define IMAGE_MIB 64

/* The MP table found where both monitors write it, the IOAPIC it
 * describes (ID: CPU count + 1), and the IOAPIC in use. */
static const char *const g_mptable_lines[] = {
    "found SMP MP-table at [mem 0x0009fc00-0x0009fc0f]",
    "IOAPIC[0]: apic_id 2, version ",
    ", address 0xfec00000, GSI 0-23",
    "APIC: Switch to symmetric I/O mode setup",
};

static const char *g_vmm;
static const char *g_script;
static const char *g_work;
static char *g_kernel;

static void show(const struct lxb_result *r)
{
    g_test_message("$ %s", r->cmd ? r->cmd : "");
    g_test_message("console:\n%s", r->out ? r->out : "");
    g_test_message("monitor stderr:\n%s", r->err ? r->err : "");
    g_test_message("exit status %d%s%s%s", r->status,
                   r->timed_out ? " (killed by the timeout)" : "",
                   r->internal_error ? " (killed: KVM internal error)" : "",
                   r->killed ? " (ended by the test)" : "");
}

static void test_boot(const void *data)
{
    const char *aio = data;
    g_autofree char *image =
        g_strdup_printf("%s/linux-root-%s-%d.img", g_work, aio, (int)getpid());
    g_autofree char *timeline = NULL;
    g_autofree char *vmm_name = g_path_get_basename(g_vmm);
    struct lxb_opts o = {
        .vmm = g_vmm,
        .kernel = g_kernel,
        .image = image,
        .aio = aio,
        .cpus = 1,
        .timeout_s = BOOT_TIMEOUT_S,
    };
    struct lxb_result r;
    char *msg = NULL;
    GString *tl;
    unsigned i;

    switch (lxb_make_image(image, IMAGE_MIB, &msg)) {
    case 0:
        break;
    case LXB_CANNOT_BUILD:
        g_test_skip(msg);
        free(msg);
        return;
    default:
        g_test_message("cannot make the root image: %s", msg);
        g_assert_not_reached();
    }
    /* cache=none (O_DIRECT) where the file system allows it. */
    o.cache = lxb_direct_io_ok(image) ? "none" : "writeback";
    /*
     * This host's software KVM cannot emulate every instruction a kernel
     * runs at CPL0; now and then a boot meets one (QEMU met FWAIT in one
     * run in about twenty) and the monitor stops the VM with a KVM
     * internal error.  That is the host, not the monitor: boot once more,
     * and fail only if it happens again.
     */
    for (i = 0;; i++) {
        g_assert_cmpint(lxb_boot(&o, &r), ==, 0);
        if (!r.internal_error || i == 1) {
            break;
        }
        g_test_message("KVM internal error, booting once more:\n%s",
                       r.err ? r.err : "");
        lxb_result_free(&r);
        (void)unlink(image); /* a fresh root, as the first boot had */
        g_assert_cmpint(lxb_make_image(image, IMAGE_MIB, &msg), ==, 0);
    }
    (void)unlink(image);

    tl = g_string_new(NULL);
    g_string_append_printf(tl, "linux-boot %s aio=%s cache=%s:", vmm_name, aio,
                           o.cache);
    for (i = 0; i < LXB_NR_MILESTONES; i++) {
        if (r.at[i] >= 0) {
            g_string_append_printf(tl, " %s=%.2fs", lxb_milestone_name(i),
                                   r.at[i]);
        } else {
            g_string_append_printf(tl, " %s=-", lxb_milestone_name(i));
        }
    }
    timeline = g_string_free(tl, false);
    g_test_message("%s", timeline);
    if (g_test_verbose()) {
        show(&r);
    }

    if (r.reached != LXB_NR_MILESTONES || r.timed_out || !r.killed ||
        r.internal_error) {
        show(&r);
        g_test_message("missing milestone: \"%s\"",
                       r.reached < LXB_NR_MILESTONES
                           ? lxb_milestone_text(r.reached)
                           : "(none)");
    }
    g_assert_false(r.internal_error);
    g_assert_false(r.timed_out);
    g_assert_cmpuint(r.reached, ==, LXB_NR_MILESTONES);
    for (i = 1; i < LXB_NR_MILESTONES; i++) {
        g_assert_cmpfloat(r.at[i], >=, r.at[i - 1]);
    }
    /* Ended by SIGTERM after the last milestone: a clean exit. */
    g_assert_true(r.killed);
    if (r.status != 0) {
        show(&r);
    }
    g_assert_cmpint(r.status, ==, 0);
    /* With ACPI off the IOAPIC is known only from the MP table: without
     * it Linux would still boot, on the 8259 (which KVM's routing also
     * feeds), so the table is checked by name. */
    for (i = 0; i < G_N_ELEMENTS(g_mptable_lines); i++) {
        if (!strstr(r.out, g_mptable_lines[i])) {
            show(&r);
            g_test_message("missing console line: \"%s\"", g_mptable_lines[i]);
        }
        g_assert_nonnull(strstr(r.out, g_mptable_lines[i]));
    }
    lxb_result_free(&r);
    free(msg);
}

/*
 * A monitor that reports a KVM internal error and then waits forever, as
 * QEMU and loom-vm do (the VM stays stopped for a look): the boot must end
 * at once with internal_error set, not at the timeout.
 */
static void test_internal_error(void)
{
    g_autofree char *fake =
        g_strdup_printf("%s/fake-vmm-%d.sh", g_work, (int)getpid());
    struct lxb_opts o = {
        .vmm = fake,
        .kernel = "/dev/null",
        .image = "/dev/null",
        .aio = "threads",
        .cache = "writeback",
        .cpus = 1,
        .timeout_s = BOOT_TIMEOUT_S,
    };
    struct lxb_result r;
    int64_t t0 = harness_now_ns();

    g_assert_true(g_file_set_contents(
        fake,
        "#!/bin/sh\n"
        "echo 'Linux version 6.1'\n"
        "echo 'KVM internal error. Suberror: 1' >&2\n"
        "echo 'emulation failure' >&2\n"
        "exec sleep 600\n",
        -1, NULL));
    g_assert_cmpint(chmod(fake, 0700), ==, 0);
    g_assert_cmpint(lxb_boot(&o, &r), ==, 0);
    (void)unlink(fake);
    g_assert_true(r.internal_error);
    g_assert_false(r.timed_out);
    g_assert_false(r.killed);
    g_assert_cmpuint(r.reached, <, LXB_NR_MILESTONES);
    /* Ended by the SIGKILL, well before the boot's timeout. */
    g_assert_cmpint(r.status, ==, 128 + SIGKILL);
    g_assert_cmpint(harness_now_ns() - t0, <, HARNESS_WATCHDOG_NS);
    lxb_result_free(&r);
}

int main(int argc, char **argv)
{
    const char *aios = "io_uring,threads";
    g_auto(GStrv) list = NULL;
    char *vmm_path, *msg = NULL;
    bool tap = false;
    int out = 1, i, r, fd;

    for (i = 1; i < argc; i++) {
        if (g_str_has_prefix(argv[i], "--vmm=")) {
            g_vmm = argv[i] + 6;
        } else if (g_str_has_prefix(argv[i], "--build-kernel=")) {
            g_script = argv[i] + 15;
        } else if (g_str_has_prefix(argv[i], "--work-dir=")) {
            g_work = argv[i] + 11;
        } else if (g_str_has_prefix(argv[i], "--aio=")) {
            aios = argv[i] + 6;
        } else {
            tap = tap || strcmp(argv[i], "--tap") == 0;
            argv[out++] = argv[i];
        }
    }
    argv[out] = NULL;
    argc = out;
    if (!g_vmm || !g_script || !g_work) {
        fprintf(stderr,
                "usage: %s --vmm=PATH --build-kernel=SCRIPT --work-dir=DIR "
                "[--aio=LIST] [GTest options]\n",
                argv[0]);
        return 1;
    }
    vmm_path =
        strchr(g_vmm, '/') ? g_strdup(g_vmm) : g_find_program_in_path(g_vmm);
    if (!vmm_path || access(vmm_path, X_OK) != 0) {
        harness_skip_all(tap, "machine monitor not found");
    }
    g_vmm = vmm_path;
    fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        harness_skip_all(tap, "/dev/kvm unusable");
    }
    close(fd);
    /* Built once (minutes), then cached outside the build directory. */
    r = lxb_build_kernel(g_script, &g_kernel, &msg);
    if (r == LXB_CANNOT_BUILD) {
        g_autofree char *why = g_strdup_printf(
            "the Linux kernel cannot be built here: %s", g_strchomp(msg));

        harness_skip_all(tap, g_strdelimit(why, "\n", ' '));
    }
    if (r != 0) {
        fprintf(stderr, "build-kernel failed:\n%s\n", msg);
        return 1;
    }
    harness_init(&argc, &argv);
    g_test_add_func("/linux/boot/internal-error-ends-the-boot",
                    test_internal_error);
    list = g_strsplit(aios, ",", -1);
    for (i = 0; list[i]; i++) {
        g_autofree char *name = g_strdup_printf("/linux/boot/aio=%s", list[i]);

        g_test_add_data_func(name, list[i], test_boot);
    }
    r = g_test_run();
    free(g_kernel);
    free(msg);
    g_free(vmm_path);
    return r;
}
