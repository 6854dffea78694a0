/* SPDX-License-Identifier: MIT */
/*
 * FLUSH is ordered after a completed sync, end to end (issue 10, item 3;
 * VMM.md, "Durability"): the blk-flush guest writes a few blocks, sends a
 * FLUSH, and once it completed prints "flushed ROUND WRITES" and waits for
 * a byte on its console.  Meanwhile nothing is in flight, and the test
 * reads the drive's counters from x-loom-query-stats: the device must
 * have counted ROUND FLUSH requests and the backend ROUND completed syncs
 * (fdatasync on the thread pool, IORING_OP_FSYNC on io_uring), counted
 * before the completion that waited for them.  A FLUSH acknowledged
 * before its sync completed shows as fewer syncs than acknowledged
 * FLUSHes; to make a sync that merely lags behind its acknowledgement
 * show too, the "slow" cases delay every request by 20 ms (x-loom-fault).
 *
 * cache=unsafe is the negative control: there FLUSH is acknowledged
 * without any sync, and the same check must see every round fail.
 *
 * The counters are loom-vm's (QEMU has no such query): on any other
 * monitor every case is skipped.
 *
 *   test-flush-order --vmm=PATH --guest-dir=DIR [--vmm-arg=ARG]... [GTest]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "guest-run.h"
#include "qmp-vm.h"

#define ROUNDS 8u
#define WRITES 3u
#define IMG_SIZE (1u << 20)

struct param {
    const char *aio;
    const char *cache;
    bool slow;   /* every request delayed 20 ms */
    bool synced; /* the cache mode syncs at FLUSH (not unsafe) */
};

static const char *g_vmm;

/* Whether @dir's file system takes O_DIRECT (cache=none needs it). */
static bool direct_ok(const char *dir)
{
    g_autofree char *p = g_build_filename(dir, "direct-probe", NULL);
    int fd = open(p, O_RDWR | O_CREAT | O_DIRECT | O_CLOEXEC, 0600);

    if (fd < 0) {
        return false;
    }
    close(fd);
    g_unlink(p);
    return true;
}

/* The drive's entry in x-loom-query-stats (a new reference). */
static json_t *drive_counters(struct qclient *c)
{
    json_t *st = qcall(c, "{\"execute\":\"x-loom-query-stats\"}");
    json_t *d = json_array_get(json_object_get(st, "drives"), 0);

    g_assert_nonnull(d);
    g_assert_cmpstr(jstr(d, "device"), ==, "d0");
    json_incref(d);
    json_decref(st);
    return d;
}

/*
 * Run the guest; for each acknowledged FLUSH compare the syncs completed
 * with the FLUSHes acknowledged.  Return: the rounds where fewer syncs
 * had completed than FLUSHes were acknowledged; *@syncs: the last count.
 */
static unsigned run_rounds(const struct param *p, const char *img,
                           uint64_t *syncs)
{
    g_autofree char *drive = g_strdup_printf(
        "id=d0,file=%s%s,format=raw,if=none,aio=%s,cache=%s",
        p->slow ? "x-loom-fault:stall@1-=20:" : "", img, p->aio, p->cache);
    const char *const extra[] = {
        "-serial", "stdio", "-qmp",    "unix:@SOCK@,server=on,wait=off",
        "-drive",  drive,   "-device", "virtio-blk-device,drive=d0",
        NULL};
    g_autofree char *append =
        g_strdup_printf("rounds=%u writes=%u gate=on", ROUNDS, WRITES);
    unsigned bad = 0;
    struct qclient c;
    struct qvm v;
    json_t *d;

    qvm_start(&v, g_vmm, "blk-flush", append, extra, true);
    qclient_connect(&c, v.sock);
    qclient_negotiate(&c);
    for (unsigned round = 1; round <= ROUNDS; round++) {
        g_autofree char *line =
            g_strdup_printf("flushed %u %u\n", round, round * WRITES);

        qvm_wait_output(&v, line, 1);
        /* The guest waits for its byte: nothing is in flight now. */
        d = drive_counters(&c);
        *syncs = (uint64_t)jint(d, "syncs");
        g_assert_cmpint(jint(d, "flushes"), ==, round);
        if (*syncs < round) {
            g_test_message("round %u: FLUSH %u acknowledged after %llu "
                           "completed syncs",
                           round, round, (unsigned long long)*syncs);
            bad++;
        }
        json_decref(d);
        g_assert_cmpint(write(v.in_fd, "g", 1), ==, 1);
    }
    qvm_wait_output(&v, "blk-flush: done\n", 1);
    if (qvm_wait(&v) != GUEST_EXIT_PASS) {
        qvm_show(&v);
        g_assert_cmpint(v.status, ==, GUEST_EXIT_PASS);
    }
    qclient_close(&c);
    qvm_destroy(&v);
    return bad;
}

static void test_order(const void *data)
{
    const struct param *p = data;
    g_autofree char *dir = g_dir_make_tmp("loom-flush-XXXXXX", NULL);
    g_autofree char *img = NULL;
    uint64_t syncs = 0;
    unsigned bad;
    int fd;

    g_assert_nonnull(dir);
    img = g_build_filename(dir, "disk.img", NULL);
    if (strcmp(p->cache, "none") == 0 && !direct_ok(dir)) {
        g_test_skip("the temporary directory refuses O_DIRECT");
        g_rmdir(dir);
        return;
    }
    fd = open(img, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, IMG_SIZE), ==, 0);
    close(fd);

    bad = run_rounds(p, img, &syncs);
    g_test_message("aio=%s cache=%s%s: %u FLUSHes acknowledged, %llu syncs, "
                   "%u acknowledged ahead of their sync",
                   p->aio, p->cache, p->slow ? " (slow)" : "", ROUNDS,
                   (unsigned long long)syncs, bad);
    if (p->synced) {
        /* One sync per FLUSH (writes are not write-through here). */
        g_assert_cmpuint(bad, ==, 0);
        g_assert_cmpuint(syncs, ==, ROUNDS);
    } else {
        /* The check fails exactly where it must: every round. */
        g_assert_cmpuint(bad, ==, ROUNDS);
        g_assert_cmpuint(syncs, ==, 0);
    }
    g_unlink(img);
    g_rmdir(dir);
}

int main(int argc, char **argv)
{
    static const struct param params[] = {
        {"threads", "writeback", false, true},
        {"io_uring", "writeback", false, true},
        {"threads", "none", false, true},
        {"io_uring", "none", false, true},
        {"threads", "writeback", true, true},
        {"io_uring", "writeback", true, true},
        {"threads", "unsafe", false, false},
        {"io_uring", "unsafe", false, false},
    };

    for (int i = 1; i < argc; i++) {
        if (g_str_has_prefix(argv[i], "--vmm=")) {
            g_vmm = argv[i] + strlen("--vmm=");
        }
    }
    guest_run_init(&argc, &argv);
    for (size_t i = 0; i < G_N_ELEMENTS(params); i++) {
        const struct param *p = &params[i];
        g_autofree char *name = g_strdup_printf(
            "/flush-order/%s/%s%s", p->aio, p->slow ? "slow-" : "", p->cache);

        if (guest_run_is_loom_vm()) {
            g_test_add_data_func(name, p, test_order);
        }
    }
    return g_test_run();
}
