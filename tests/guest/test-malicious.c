/* SPDX-License-Identifier: MIT */
/*
 * The malicious-guest suite (issue 10): blk-malicious (guest/blk-malicious)
 * breaks one virtio rule per case on a two-queue virtio-blk disk and
 * reports what the device did; this test holds loom-vm to its written
 * policy (VMM.md, "Broken requests vs broken rings"; docs/design/
 * vmm-virtio.md, "Guest-facing policy"): a bad data buffer or a bad
 * request fails that request, a bad ring stops that queue with
 * DEVICE_NEEDS_RESET and the configuration interrupt while the other
 * queue and the other disk keep working, a bad queue size is refused,
 * DRIVER_OK without FEATURES_OK sets DEVICE_NEEDS_RESET, notifications
 * for queues that do not run are ignored, every request beyond the queue's
 * slots is still answered; after a reset the device works again, and
 * loom-vm stays up throughout (under ASan in the sanitizer pass).
 *
 * On another monitor (QEMU) only the guest's completion is checked: its
 * answers are recorded, not judged.  With --peer=PATH the same guest also
 * runs there and the test log gets a per-case table of both.
 *
 *   test-malicious --vmm=PATH --guest-dir=DIR [--peer=PATH] [GTest]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "guest-run.h"

#define VDA_SIZE (8u << 20)
#define VDB_SIZE (4u << 20)
#define NR_CASES 24
#define OVERCOMMIT_STALL_MS 2000

static const char *g_vmm;
static const char *g_peer;
static char *g_dir, *g_vda, *g_vdb;
/* Case name -> its key=value table, from the --vmm run. */
static GHashTable *g_results;
/* Case names in the guest's order. */
static GPtrArray *g_order;

static bool is_loom_vm(const char *vmm)
{
    return strstr(vmm, "loom-vm") != NULL;
}

static char *make_image(const char *name, size_t size)
{
    char *path = g_build_filename(g_dir, name, NULL);
    g_autofree char *zeros = g_malloc0(size);
    GError *err = NULL;

    g_file_set_contents(path, zeros, size, &err);
    g_assert_no_error(err);
    return path;
}

/*
 * The disks: vda writable with two queues (through the x-loom-fault layer
 * when @fault), vdb read-only; modern virtio-mmio on both monitors.
 */
static void boot(struct guest_boot *b, const char *vmm, const char *append,
                 const char *fault)
{
    g_autofree char *d0 = g_strdup_printf(
        "id=d0,file=%s%s%s%s,format=raw,if=none", fault ? "x-loom-fault:" : "",
        fault ? fault : "", fault ? ":" : "", g_vda);
    g_autofree char *d1 =
        g_strdup_printf("id=d1,file=%s,format=raw,if=none,readonly=on", g_vdb);
    const char *const extra[] = {
        "-global", "virtio-mmio.force-legacy=off",
        "-drive",  d0,
        "-device", "virtio-blk-device,drive=d0,num-queues=2",
        "-drive",  d1,
        "-device", "virtio-blk-device,drive=d1",
        NULL,
    };

    if (vmm == g_vmm) {
        guest_boot(b, "blk-malicious", 1, append, extra);
    } else {
        guest_boot_on(b, vmm, "blk-malicious", 1, append, extra);
    }
}

/* "case NAME: k=v k=v ..." lines into NAME -> {k: v}; names in @order. */
static GHashTable *parse(const struct guest_boot *b, GPtrArray *order)
{
    GHashTable *all = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                            (GDestroyNotify)g_hash_table_unref);
    g_auto(GStrv) lines = g_strsplit(b->out, "\n", -1);

    for (size_t i = 0; lines[i]; i++) {
        const char *colon;
        GHashTable *kv;
        g_auto(GStrv) words = NULL;
        char *name;

        g_strchomp(lines[i]);
        if (!g_str_has_prefix(lines[i], "case ") ||
            !(colon = strchr(lines[i], ':'))) {
            continue;
        }
        name = g_strndup(lines[i] + 5, colon - lines[i] - 5);
        kv = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        words = g_strsplit(colon + 1, " ", -1);
        for (size_t w = 0; words[w]; w++) {
            const char *eq = strchr(words[w], '=');

            if (eq) {
                g_hash_table_insert(kv, g_strndup(words[w], eq - words[w]),
                                    g_strdup(eq + 1));
            }
        }
        if (order) {
            g_ptr_array_add(order, g_strdup(name));
        }
        g_hash_table_insert(all, name, kv);
    }
    return all;
}

/* The monitor stayed up, the guest reported every case and finished. */
static void expect_complete(const struct guest_boot *b, GHashTable *res,
                            unsigned cases)
{
    g_autofree char *done = g_strdup_printf("blk-malicious: %u cases", cases);

    guest_expect_status(b, GUEST_EXIT_PASS);
    guest_expect_line(b, done);
    if (g_hash_table_size(res) != cases || strstr(b->err, "Sanitizer") ||
        strstr(b->err, "runtime error")) {
        guest_show(b);
    }
    g_assert_cmpuint(g_hash_table_size(res), ==, cases);
    g_assert_null(strstr(b->err, "Sanitizer"));
    g_assert_null(strstr(b->err, "runtime error"));
}

/* ------------------------------------------------------------------ */
/* loom-vm's policy                                                    */
/* ------------------------------------------------------------------ */

enum outcome {
    GOOD,          /* answered OK */
    FAILS,         /* answered IOERR */
    NO_STATUS,     /* status byte not writable: used length 0 */
    BROKEN_QUEUE,  /* no answer, NEEDS_RESET, that queue only */
    REFUSED_QUEUE, /* QueueReady refused, nothing breaks */
    BROKEN_DEVICE, /* NEEDS_RESET, the device never starts */
    ALL_ANSWERED,  /* every request answered OK */
};

struct policy {
    const char *name;
    enum outcome outcome;
};

static const struct policy policies[NR_CASES] = {
    {"good", GOOD},
    {"desc-loop", BROKEN_QUEUE},
    {"chain-longer-than-queue", BROKEN_QUEUE},
    {"indirect-nested", BROKEN_QUEUE},
    {"indirect-outside-ram", BROKEN_QUEUE},
    {"head-past-queue", BROKEN_QUEUE},
    {"next-past-queue", BROKEN_QUEUE},
    {"buffer-outside-ram", FAILS},
    {"buffer-overflow", FAILS},
    {"zero-length", FAILS},
    {"wrong-direction", FAILS},
    {"status-readonly", NO_STATUS},
    {"readable-after-writable", FAILS},
    {"ring-outside-ram", BROKEN_QUEUE},
    {"queue-size-not-pow2", REFUSED_QUEUE},
    {"queue-size-too-big", REFUSED_QUEUE},
    {"avail-jump", BROKEN_QUEUE},
    {"notify-unset-queue", GOOD},
    {"notify-unready-queue", GOOD},
    {"driver-ok-before-features-ok", BROKEN_DEVICE},
    {"read-past-end", FAILS},
    {"read-across-end", FAILS},
    {"write-read-only", FAILS},
    {"overcommit", ALL_ANSWERED},
};

static void expect_kv(GHashTable *kv, const char *name, const char *key,
                      const char *want)
{
    const char *got = g_hash_table_lookup(kv, key);

    if (g_strcmp0(got, want) != 0) {
        g_test_message("case %s: %s=%s, the policy says %s", name, key,
                       got ? got : "(missing)", want);
    }
    g_assert_cmpstr(got, ==, want);
}

static void check_policy(const struct policy *p, GHashTable *kv)
{
    const char *n = p->name;
    const char *q1 = strcmp(n, "notify-unready-queue") == 0 ? "n/a" : "OK";

    /* Whatever happened, the other disk works and a reset recovers. */
    expect_kv(kv, n, "vdb", "OK");
    expect_kv(kv, n, "after_reset", "OK");
    switch (p->outcome) {
    case GOOD:
    case FAILS:
    case NO_STATUS:
        expect_kv(kv, n, "setup", "ok");
        expect_kv(kv, n, "request", "answered");
        expect_kv(kv, n, "status",
                  p->outcome == GOOD    ? "OK"
                  : p->outcome == FAILS ? "IOERR"
                                        : "untouched");
        if (p->outcome == GOOD) {
            expect_kv(kv, n, "used_len", "513");
        }
        if (p->outcome == NO_STATUS) {
            expect_kv(kv, n, "used_len", "0");
        }
        expect_kv(kv, n, "needs_reset", "no");
        expect_kv(kv, n, "queue1", q1);
        break;
    case BROKEN_QUEUE:
        expect_kv(kv, n, "setup", "ok");
        expect_kv(kv, n, "request", "no-answer");
        expect_kv(kv, n, "needs_reset", "yes");
        expect_kv(kv, n, "config_irq", "yes");
        expect_kv(kv, n, "queue1", "OK");
        break;
    case REFUSED_QUEUE:
        expect_kv(kv, n, "setup", "queue-refused");
        expect_kv(kv, n, "request", "not-sent");
        expect_kv(kv, n, "needs_reset", "no");
        expect_kv(kv, n, "queue1", "OK");
        break;
    case BROKEN_DEVICE:
        expect_kv(kv, n, "needs_reset", "yes");
        expect_kv(kv, n, "config_irq", "yes");
        expect_kv(kv, n, "request", "no-answer");
        break;
    case ALL_ANSWERED:
        expect_kv(kv, n, "setup", "ok");
        expect_kv(kv, n, "request", "answered");
        expect_kv(kv, n, "status", "OK");
        expect_kv(kv, n, "needs_reset", "no");
        expect_kv(kv, n, "answered", "32/32");
        expect_kv(kv, n, "queue1", "OK");
        break;
    }
}

/* Every case on --vmm: loom-vm follows its policy; others just finish. */
static void test_cases(void)
{
    struct guest_boot b;

    boot(&b, g_vmm, "", NULL);
    g_order = g_ptr_array_new_with_free_func(g_free);
    g_results = parse(&b, g_order);
    expect_complete(&b, g_results, NR_CASES);
    if (!is_loom_vm(g_vmm)) {
        g_test_message("%s: answers recorded, not judged", g_vmm);
        guest_boot_clear(&b);
        return;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(policies); i++) {
        GHashTable *kv = g_hash_table_lookup(g_results, policies[i].name);

        if (!kv) {
            guest_show(&b);
        }
        g_assert_nonnull(kv);
        check_policy(&policies[i], kv);
    }
    guest_boot_clear(&b);
}

/*
 * More requests in flight than the queue has slots, for certain: the
 * first round stalls in loom-vm's fault layer while the guest posts every
 * head again; all 32 are answered once the stall ends.
 */
static void test_overcommit_stalled(void)
{
    g_autofree char *stall =
        g_strdup_printf("stall@1-16=%u", OVERCOMMIT_STALL_MS);
    g_autoptr(GHashTable) res = NULL;
    struct guest_boot b;
    GHashTable *kv;
    const char *n;

    if (!is_loom_vm(g_vmm)) {
        g_test_skip("x-loom-fault is loom-vm's");
        return;
    }
    boot(&b, g_vmm, "case=overcommit settle_ms=500 timeout_ms=20000", stall);
    res = parse(&b, NULL);
    expect_complete(&b, res, 1);
    kv = g_hash_table_lookup(res, "overcommit");
    check_policy(&policies[NR_CASES - 1], kv);
    n = g_hash_table_lookup(kv, "reposted_in_flight");
    g_assert_nonnull(n);
    if (atoi(n) < 1) {
        guest_show(&b);
    }
    g_assert_cmpint(atoi(n), >=, 1);
    guest_boot_clear(&b);
}

/* ------------------------------------------------------------------ */
/* The table                                                           */
/* ------------------------------------------------------------------ */

/* One cell: what the device did with the case, in a few words. */
static char *summary(GHashTable *kv)
{
    GString *s = g_string_new(NULL);
    const char *setup, *req, *more;

    if (!kv) {
        return g_string_free(g_string_append(s, "(no report)"), false);
    }
    setup = g_hash_table_lookup(kv, "setup");
    req = g_hash_table_lookup(kv, "request");
    if (g_strcmp0(setup, "ok") != 0) {
        g_string_append_printf(s, "%s; ", setup);
    }
    if (g_strcmp0(req, "answered") == 0) {
        g_string_append_printf(s, "%s, used len %s",
                               (char *)g_hash_table_lookup(kv, "status"),
                               (char *)g_hash_table_lookup(kv, "used_len"));
    } else {
        g_string_append(s, req ? req : "?");
    }
    if (g_strcmp0(g_hash_table_lookup(kv, "needs_reset"), "yes") == 0) {
        g_string_append(s, "; NEEDS_RESET");
        if (g_strcmp0(g_hash_table_lookup(kv, "config_irq"), "yes") == 0) {
            g_string_append(s, " + config irq");
        }
    }
    g_string_append_printf(s, "; queue 1 %s",
                           (char *)g_hash_table_lookup(kv, "queue1"));
    if (g_strcmp0(g_hash_table_lookup(kv, "vdb"), "OK") != 0) {
        g_string_append_printf(s, "; vdb %s",
                               (char *)g_hash_table_lookup(kv, "vdb"));
    }
    if (g_strcmp0(g_hash_table_lookup(kv, "after_reset"), "OK") != 0) {
        g_string_append_printf(s, "; after reset %s",
                               (char *)g_hash_table_lookup(kv, "after_reset"));
    }
    more = g_hash_table_lookup(kv, "answered");
    if (more) {
        g_string_append_printf(s, "; %s answered", more);
    }
    more = g_hash_table_lookup(kv, "queue_num_max");
    if (more) {
        g_string_append_printf(s, "; QueueNumMax %s", more);
    }
    return g_string_free(s, false);
}

/*
 * The same guest on --peer (QEMU): it must finish there too (it never
 * waits for a request longer than its timeout); the log gets the table.
 */
static void test_table(void)
{
    g_autoptr(GHashTable) peer = NULL;
    g_autofree char *peer_path = NULL, *peer_name = NULL;
    const char *mine = is_loom_vm(g_vmm) ? "loom-vm" : g_vmm;
    struct guest_boot b;
    GString *t;

    if (!g_results) {
        g_test_skip("no results from /malicious/cases");
        return;
    }
    peer_path = g_peer ? g_find_program_in_path(g_peer) : NULL;
    if (!peer_path) {
        g_test_skip("no --peer monitor to compare with");
        return;
    }
    boot(&b, peer_path, "", NULL);
    peer = parse(&b, NULL);
    expect_complete(&b, peer, NR_CASES);
    peer_name = g_path_get_basename(g_peer);
    t = g_string_new(NULL);
    g_string_append_printf(t, "| case | %s | %s |\n|---|---|---|\n", mine,
                           peer_name);
    for (guint i = 0; i < g_order->len; i++) {
        const char *name = g_order->pdata[i];
        g_autofree char *a = summary(g_hash_table_lookup(g_results, name));
        g_autofree char *p = summary(g_hash_table_lookup(peer, name));

        g_string_append_printf(t, "| `%s` | %s | %s |\n", name, a, p);
    }
    g_test_message("malicious-guest cases:\n%s", t->str);
    g_string_free(t, true);
    guest_boot_clear(&b);
}

int main(int argc, char **argv)
{
    int out = 1, ret;

    for (int i = 1; i < argc; i++) {
        if (g_str_has_prefix(argv[i], "--peer=")) {
            g_peer = argv[i] + strlen("--peer=");
            continue;
        }
        if (g_str_has_prefix(argv[i], "--vmm=")) {
            g_vmm = argv[i] + strlen("--vmm=");
        }
        argv[out++] = argv[i];
    }
    argv[out] = NULL;
    argc = out;
    guest_run_init(&argc, &argv);
    g_dir = g_dir_make_tmp("loom-malicious-XXXXXX", NULL);
    g_assert_nonnull(g_dir);
    g_vda = make_image("vda.img", VDA_SIZE);
    g_vdb = make_image("vdb.img", VDB_SIZE);
    g_test_add_func("/malicious/cases", test_cases);
    g_test_add_func("/malicious/overcommit-stalled", test_overcommit_stalled);
    g_test_add_func("/malicious/table", test_table);
    ret = g_test_run();
    if (g_results) {
        g_hash_table_unref(g_results);
        g_ptr_array_free(g_order, true);
    }
    g_unlink(g_vda);
    g_unlink(g_vdb);
    g_rmdir(g_dir);
    g_free(g_vda);
    g_free(g_vdb);
    g_free(g_dir);
    return ret;
}
