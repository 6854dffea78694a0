/* SPDX-License-Identifier: MIT */
/*
 * blk-check (guest/blk-check) on a machine monitor with two virtio-blk
 * disks, a writable one and a read-only one, across the transports and
 * modes: legacy and modern virtio-mmio, polling and interrupts, with and
 * without an IOThread, several queues, indirect descriptors, EVENT_IDX
 * off, a level-triggered interrupt, io_uring with O_DIRECT.  Every case
 * must pass inside the guest; then the host verifies the writable image
 * byte for byte against the pattern the guest says it left, and that the
 * read-only image is untouched.  Two cases check that blk-check fails
 * when it should.
 *
 *   test-guest-blk --vmm=PATH --guest-dir=DIR [--vmm-arg=ARG]... [GTest]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "guest-run.h"
#include "sdk/pattern.h"

#define RW_SIZE (8u << 20)
#define RO_SIZE (4u << 20)
#define RO_SEED 99

struct blk_case {
    const char *name;
    bool modern;
    bool iothread;
    bool irq;
    unsigned queues;        /* num-queues of the writable disk, 0: default */
    const char *drive;      /* more -drive options of the writable disk */
    const char *guest_args; /* more blk-check words */
    bool vq_mapping;        /* JSON -device spreading the queues over io0, io1
                             * (QEMU 9's iothread-vq-mapping: loom-vm only) */
};

static const struct blk_case cases[] = {
    {"legacy/poll", false, false, false, 0, "", ""},
    {"legacy/irq", false, false, true, 0, "", ""},
    {"legacy/poll/iothread", false, true, false, 0, "", ""},
    {"legacy/irq/iothread", false, true, true, 0, "", ""},
    {"modern/poll", true, false, false, 0, "", ""},
    {"modern/irq", true, false, true, 0, "", ""},
    {"modern/poll/iothread", true, true, false, 0, "", ""},
    {"modern/irq/iothread", true, true, true, 0, "", ""},
    {"modern/irq/iothread/4-queues", true, true, true, 4, "",
     "indirect=on qd=32"},
    {"legacy/poll/4-queues", false, false, false, 4, "", "qd=16"},
    {"modern/irq/no-event-idx", true, false, true, 0, "", "event_idx=off"},
    {"modern/irq/level", true, true, true, 0, "", "level=on"},
    {"modern/poll/io_uring-direct", true, true, false, 0,
     ",cache=none,aio=io_uring", "indirect=on"},
    {"modern/irq/vq-mapping/4-queues", true, true, true, 4, "", "qd=32", true},
    {"modern/poll/vq-mapping/4-queues/io_uring", true, true, false, 4,
     ",aio=io_uring", "qd=32", true},
};

static char *make_image(const char *dir, const char *name, size_t size,
                        bool pattern)
{
    char *path = g_build_filename(dir, name, NULL);
    uint64_t *words = g_malloc0(size);
    GError *err = NULL;

    if (pattern) {
        for (size_t i = 0; i < size / 8; i++) {
            words[i] = sdk_pattern_word(RO_SEED, 8 * i);
        }
    }
    g_file_set_contents(path, (const char *)words, size, &err);
    g_assert_no_error(err);
    g_free(words);
    return path;
}

/* A copy of the first console line starting with @prefix that contains
 * @needle; asserts that there is one. */
static char *line_with(const struct guest_boot *b, const char *prefix,
                       const char *needle)
{
    g_auto(GStrv) lines = g_strsplit(b->out, "\n", -1);

    for (size_t i = 0; lines[i]; i++) {
        if (g_str_has_prefix(lines[i], prefix) && strstr(lines[i], needle)) {
            return g_strdup(lines[i]);
        }
    }
    guest_show(b);
    g_test_message("no console line \"%s...%s...\"", prefix, needle);
    g_assert_not_reached();
}

static void boot_blk(struct guest_boot *b, const struct blk_case *c,
                     const char *rw, const char *ro, uint64_t seed,
                     const char *more_args)
{
    g_autofree char *d0 =
        g_strdup_printf("id=d0,file=%s,format=raw,if=none%s", rw, c->drive);
    g_autofree char *nq =
        c->queues ? g_strdup_printf(",num-queues=%u", c->queues) : NULL;
    g_autofree char *dev0 =
        c->vq_mapping
            ? g_strdup_printf(
                  "{\"driver\":\"virtio-blk-device\",\"drive\":\"d0\","
                  "\"serial\":\"loom-rw\",\"num-queues\":%u,"
                  "\"iothread-vq-mapping\":[{\"iothread\":\"io0\"},"
                  "{\"iothread\":\"io1\"}]}",
                  c->queues)
            : g_strdup_printf("virtio-blk-device,drive=d0,serial=loom-rw%s%s",
                              c->iothread ? ",iothread=io0" : "", nq ? nq : "");
    g_autofree char *d1 =
        g_strdup_printf("id=d1,file=%s,format=raw,if=none,readonly=on", ro);
    g_autofree char *append = g_strdup_printf(
        "mode=%s seed=%lu ro_seed=%u serial=loom-rw ro_serial=loom-ro "
        "disks=2 %s %s",
        c->irq ? "irq" : "poll", (unsigned long)seed, RO_SEED, c->guest_args,
        more_args);
    const char *extra[16];
    size_t n = 0;

    if (c->iothread) {
        extra[n++] = "-object";
        extra[n++] = "iothread,id=io0";
    }
    if (c->vq_mapping) {
        extra[n++] = "-object";
        extra[n++] = "iothread,id=io1";
    }
    extra[n++] = "-drive";
    extra[n++] = d0;
    extra[n++] = "-device";
    extra[n++] = dev0;
    extra[n++] = "-drive";
    extra[n++] = d1;
    extra[n++] = "-device";
    extra[n++] = "virtio-blk-device,drive=d1,serial=loom-ro";
    /* Spelled out both ways: the monitors' defaults differ (QEMU 7.2:
     * legacy; loom-vm: modern). */
    extra[n++] = "-global";
    extra[n++] = c->modern ? "virtio-mmio.force-legacy=off"
                           : "virtio-mmio.force-legacy=on";
    extra[n] = NULL;
    guest_boot(b, "blk-check", 1, append, extra);
}

static const char *const rw_cases[] = {
    "write-pattern",       "read-pattern",    "flush",
    "get-id \"loom-rw\"",  "write-zeroes",    "discard",
    "read-beyond",         "read-across-end", "write-beyond",
    "write-zeroes-beyond", "discard-beyond",  "unknown-type",
};

static const char *const ro_cases[] = {
    "ro-feature",         "ro-read-pattern", "ro-flush",
    "get-id \"loom-ro\"", "ro-write",        "ro-write-zeroes",
};

static void expect_cases(const struct guest_boot *b, const char *disk,
                         const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        g_autofree char *p = g_strdup_printf("PASS %s/%s", disk, names[i]);

        guest_expect_prefix(b, p);
    }
}

static void test_blk(const void *data)
{
    const struct blk_case *c = data;
    g_autofree char *dir = g_dir_make_tmp("loom-blk-XXXXXX", NULL);
    g_autofree char *rw = NULL, *ro = NULL, *info = NULL, *stats = NULL;
    g_autofree char *image = NULL, *queues = NULL;
    uint64_t seed = g_str_hash(c->name) | 1;
    unsigned long v[5], zero, nzero, img_seed;
    struct guest_boot b;

    if (c->vq_mapping && !guest_run_is_loom_vm()) {
        g_test_skip("iothread-vq-mapping is QEMU 9's; this is QEMU 7.2");
        g_rmdir(dir);
        return;
    }
    g_assert_nonnull(dir);
    rw = make_image(dir, "rw.img", RW_SIZE, false);
    ro = make_image(dir, "ro.img", RO_SIZE, true);
    boot_blk(&b, c, rw, ro, seed, "");
    guest_expect_status(&b, GUEST_EXIT_PASS);
    guest_expect_no_prefix(&b, "FAIL");
    guest_expect_line(&b, c->irq ? "blk-check: 2 disks, interrupt mode"
                                 : "blk-check: 2 disks, polling mode");
    expect_cases(&b, "vda", rw_cases, G_N_ELEMENTS(rw_cases));
    expect_cases(&b, "vdb", ro_cases, G_N_ELEMENTS(ro_cases));
    guest_expect_line(&b, "blk-check: 0 failed");

    /* The transport and queues the guest found. */
    info = line_with(&b, "vda: virtio-mmio v", " queues of ");
    g_assert_true(g_str_has_prefix(info, c->modern ? "vda: virtio-mmio v2 "
                                                   : "vda: virtio-mmio v1 "));
    queues = g_strdup_printf(" %u of %u queues ", c->queues ? c->queues : 1,
                             c->queues ? c->queues : 1);
    g_assert_nonnull(strstr(info, queues));

    /* Interrupts were taken in interrupt mode, and only then. */
    stats = line_with(&b, "vda: ", " requests, ");
    g_assert_cmpint(sscanf(stats,
                           "vda: %lu requests, %lu notifies, %lu "
                           "suppressed, %lu sleeps, %lu interrupts",
                           &v[0], &v[1], &v[2], &v[3], &v[4]),
                    ==, 5);
    if (c->irq) {
        g_assert_cmpuint(v[4], >, 0);
    } else {
        g_assert_cmpuint(v[4], ==, 0);
        g_assert_cmpuint(v[3], ==, 0);
    }

    /* The host sees what the guest wrote, and nothing on the RO disk. */
    image = line_with(&b, "vda: image: ", "seed");
    g_assert_cmpint(sscanf(image, "vda: image: seed %lu zero %lu+%lu",
                           &img_seed, &zero, &nzero),
                    ==, 3);
    g_assert_cmpuint(img_seed, ==, seed);
    g_assert_cmpuint(nzero, >, 0);
    g_assert_cmpint(guest_verify_image(rw, RW_SIZE, seed, zero, nzero), ==, -1);
    g_assert_cmpint(guest_verify_image(ro, RO_SIZE, RO_SEED, 0, 0), ==, -1);
    guest_boot_clear(&b);
    g_unlink(rw);
    g_unlink(ro);
    g_rmdir(dir);
}

/* blk-check fails when a check does: a serial that does not match. */
static void test_blk_fails(void)
{
    g_autofree char *dir = g_dir_make_tmp("loom-blk-XXXXXX", NULL);
    g_autofree char *rw = NULL, *ro = NULL;
    struct guest_boot b;

    g_assert_nonnull(dir);
    rw = make_image(dir, "rw.img", RW_SIZE, false);
    ro = make_image(dir, "ro.img", RO_SIZE, false);
    boot_blk(&b, &cases[0], rw, ro, 1, "serial=other");
    guest_expect_status(&b, GUEST_EXIT_FAIL);
    guest_expect_line(&b, "FAIL vda/get-id: \"loom-rw\", want \"other\"");
    /* The RO disk holds zeros, not the pattern of ro_seed. */
    guest_expect_prefix(&b, "FAIL vdb/ro-read-pattern");
    guest_expect_line(&b, "blk-check: 2 failed");
    guest_boot_clear(&b);
    g_unlink(rw);
    g_unlink(ro);
    g_rmdir(dir);
}

/* ... and when the disks it was told to expect are not there. */
static void test_blk_missing_disk(void)
{
    struct guest_boot b;

    guest_boot(&b, "blk-check", 1, "disks=1", NULL);
    guest_expect_status(&b, GUEST_EXIT_FAIL);
    guest_expect_line(&b, "blk-check: FAIL: found 0 disks, want 1");
    guest_boot_clear(&b);
}

/*
 * blk-bench runs to the end and prints its figures in the benchmark
 * format, polling or with interrupts; the figures themselves are not
 * judged (tests never assert speed).
 */
static void test_bench(const void *data)
{
    static const char *const names[] = {
        "blk-randread-4k-qd1",
        "blk-randread-4k-qd4",
        "blk-seqread-1m",
        "blk-seqread-1m-latency",
    };
    static const unsigned runs[] = {50, 3, 2, 4};
    static const char *const units[] = {"us", "us", "MB/s", "us"};
    const char *mode = data;
    g_autofree char *dir = g_dir_make_tmp("loom-blk-XXXXXX", NULL);
    g_autofree char *img = NULL, *d0 = NULL, *append = NULL;
    g_autofree char *summary = NULL;
    const char *extra[] = {"-drive", NULL, "-device",
                           "virtio-blk-device,drive=d0", NULL};
    struct guest_boot b;

    g_assert_nonnull(dir);
    img = make_image(dir, "bench.img", RW_SIZE, true);
    d0 = g_strdup_printf("id=d0,file=%s,format=raw,if=none", img);
    extra[1] = d0;
    append = g_strdup_printf("impl=test mode=%s requests=50 rounds=3 "
                             "round=10 seq_rounds=2 seq_round=2 warmup=5",
                             mode);
    guest_boot(&b, "blk-bench", 1, append, extra);
    guest_expect_status(&b, GUEST_EXIT_PASS);
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autofree char *prefix =
            g_strdup_printf("bench=%s impl=test value=", names[i]);
        g_autofree char *line = line_with(&b, prefix, " unit=");
        g_autofree char *tail =
            g_strdup_printf(" runs=%u unit=%s", runs[i], units[i]);
        double value, lo, hi;

        g_assert_true(g_str_has_suffix(line, tail));
        g_assert_cmpint(sscanf(line + strlen(prefix), "%lf min=%lf max=%lf",
                               &value, &lo, &hi),
                        ==, 3);
        g_assert_cmpfloat(lo, <=, value);
        g_assert_cmpfloat(value, <=, hi);
        g_assert_cmpfloat(lo, >, 0);
    }
    summary = line_with(&b, "blk-bench: ", " errors, ");
    g_assert_nonnull(strstr(summary, " 0 errors, "));
    guest_boot_clear(&b);
    g_unlink(img);
    g_rmdir(dir);
}

int main(int argc, char **argv)
{
    guest_run_init(&argc, &argv);
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *p = g_strdup_printf("/guest/blk/%s", cases[i].name);

        g_test_add_data_func(p, &cases[i], test_blk);
    }
    g_test_add_func("/guest/blk/fails", test_blk_fails);
    g_test_add_func("/guest/blk/missing-disk", test_blk_missing_disk);
    g_test_add_data_func("/guest/blk/bench/poll", "poll", test_bench);
    g_test_add_data_func("/guest/blk/bench/irq", "irq", test_bench);
    return g_test_run();
}
