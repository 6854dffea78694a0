/* SPDX-License-Identifier: MIT */
/*
 * Crash consistency (issue 10, item 3; VMM.md, "Durability"): a write the
 * guest was told is complete survives a SIGKILL of the monitor at that
 * very moment, so nothing acknowledged sits in the monitor's own buffers
 * or queues.  The blk-crash guest writes 4 KiB blocks, up to a random
 * queue depth at a time, and prints "ack RUN BLOCK" once each write (with
 * flush=on: a FLUSH after it) has completed; the test kills the monitor
 * with SIGKILL right after a random ack, then checks every acknowledged
 * block in the image, byte for byte.  Many iterations per backend
 * (aio=threads, aio=io_uring), with and without FLUSH.
 *
 * A kill does not lose the page cache, so this proves that loom-vm holds
 * nothing back, not that data reaches the disk: that FLUSH waits for a
 * completed sync is proved by ordering, end to end in
 * tests/guest/test-flush-order.c and in-process in
 * tests/vmm/test-virtio-blk-ops (the /virtio-blk-ops/durability cases),
 * both with cache=unsafe as the negative control.
 *
 *   test-crash --vmm=PATH --guest-dir=DIR [--vmm-arg=ARG]... [GTest]
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>

#include "guest-run.h"
#include "harness.h"

#define BLOCK 4096u
#define WORDS (BLOCK / 8)
#define COUNT 64u
#define ITERATIONS 16u
#define IMG_SIZE (1u << 20)

/* What the guest writes: blk-crash.c's blk_crash_word(). */
static uint64_t crash_word(uint64_t run, uint64_t block, uint64_t k)
{
    return 0x6c6f6f6d63726173ull ^ (run << 40) ^ (block << 16) ^ k;
}

struct param {
    const char *aio;
    bool flush;
};

/* Totals for the resolving note: iterations, acks, verified blocks. */
static unsigned g_runs, g_acks;

/* One boot, killed after the @kill_at-th ack; the acked blocks. */
static unsigned boot_and_kill(const struct param *p, const char *img,
                              unsigned run, unsigned qd, unsigned kill_at,
                              bool *acked, GString *log)
{
    g_autofree char *append =
        g_strdup_printf("run=%u count=%u qd=%u flush=%s", run, COUNT, qd,
                        p->flush ? "on" : "off");
    g_autofree char *drive =
        g_strdup_printf("id=d0,file=%s,format=raw,if=none,aio=%s", img, p->aio);
    const char *const extra[] = {
        "-global", "virtio-mmio.force-legacy=off", "-drive", drive,
        "-device", "virtio-blk-device,drive=d0",   NULL};
    g_autoptr(GPtrArray) argv = guest_run_argv("blk-crash", 1, append, extra);
    int64_t deadline = harness_now_ns() + 6 * HARNESS_WATCHDOG_NS;
    GString *line = g_string_new(NULL);
    unsigned acks = 0;
    GError *e = NULL;
    bool killed = false;
    int out, st;
    GPid pid;

    g_assert_true(g_spawn_async_with_pipes(
        NULL, (char **)argv->pdata, NULL,
        G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH |
            G_SPAWN_STDERR_TO_DEV_NULL,
        NULL, NULL, &pid, NULL, &out, NULL, &e));
    g_assert_no_error(e);
    for (;;) {
        struct pollfd pfd = {out, POLLIN, 0};
        char buf[512];
        ssize_t n;

        harness_watchdog(deadline, "the monitor exits");
        if (poll(&pfd, 1, 1000) <= 0) {
            continue;
        }
        n = read(out, buf, sizeof(buf));
        if (n <= 0) {
            break; /* the monitor exited (or was killed) */
        }
        for (ssize_t i = 0; i < n; i++) {
            unsigned r, b;

            if (buf[i] != '\n') {
                g_string_append_c(line, buf[i]);
                continue;
            }
            g_string_append_printf(log, "%s\n", line->str);
            if (sscanf(line->str, "ack %u %u", &r, &b) == 2 && r == run &&
                b < COUNT) {
                acked[b] = true;
                if (++acks == kill_at && !killed) {
                    /* Right after the guest was told: no grace at all. */
                    g_assert_cmpint(kill(pid, SIGKILL), ==, 0);
                    killed = true;
                }
            }
            g_string_truncate(line, 0);
        }
    }
    g_assert_cmpint(waitpid(pid, &st, 0), ==, pid);
    close(out);
    g_spawn_close_pid(pid);
    g_string_free(line, true);
    if (!killed) {
        /* The guest finished first: every block acknowledged. */
        g_assert_true(WIFEXITED(st));
        g_assert_cmpint(WEXITSTATUS(st), ==, GUEST_EXIT_PASS);
        g_assert_cmpuint(acks, ==, COUNT);
    }
    return acks;
}

static void check_image(const char *img, unsigned run, const bool *acked,
                        const GString *log)
{
    g_autofree uint64_t *buf = g_malloc(BLOCK);
    int fd = open(img, O_RDONLY | O_CLOEXEC);

    g_assert_cmpint(fd, >=, 0);
    for (unsigned b = 0; b < COUNT; b++) {
        if (!acked[b]) {
            continue;
        }
        g_assert_cmpint(pread(fd, buf, BLOCK, (off_t)b * BLOCK), ==, BLOCK);
        for (unsigned k = 0; k < WORDS; k++) {
            if (buf[k] != crash_word(run, b, k)) {
                g_test_message("console:\n%s", log->str);
                g_error("block %u acknowledged in run %u but word %u is "
                        "%#llx on disk",
                        b, run, k, (unsigned long long)buf[k]);
            }
        }
    }
    close(fd);
}

static void test_crash(const void *data)
{
    const struct param *p = data;
    char dir[] = "/tmp/loom-crash-XXXXXX";
    g_autofree char *img = NULL;
    unsigned runs = 0, acks = 0;

    g_assert_nonnull(mkdtemp(dir));
    img = g_strdup_printf("%s/disk.img", dir);
    for (unsigned it = 0; it < ITERATIONS; it++) {
        unsigned run = (unsigned)g_test_rand_int_range(1, 0xffffff);
        unsigned qd = (unsigned)g_test_rand_int_range(1, 9);
        unsigned kill_at = (unsigned)g_test_rand_int_range(1, COUNT + 1);
        GString *log = g_string_new(NULL);
        bool acked[COUNT] = {false};
        int fd = open(img, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(ftruncate(fd, IMG_SIZE), ==, 0);
        close(fd);
        acks += boot_and_kill(p, img, run, qd, kill_at, acked, log);
        check_image(img, run, acked, log);
        g_string_free(log, true);
        runs++;
    }
    g_test_message(
        "%s%s: %u boots killed (or finished), %u acknowledged blocks checked",
        p->aio, p->flush ? "+flush" : "", runs, acks);
    g_runs += runs;
    g_acks += acks;
    unlink(img);
    rmdir(dir);
}

int main(int argc, char **argv)
{
    static const struct param params[] = {
        {"threads", false},
        {"io_uring", false},
        {"threads", true},
        {"io_uring", true},
    };
    int ret;

    guest_run_init(&argc, &argv);
    for (size_t i = 0; i < G_N_ELEMENTS(params); i++) {
        g_autofree char *name = g_strdup_printf(
            "/crash/kill/%s%s", params[i].aio, params[i].flush ? "/flush" : "");

        g_test_add_data_func(name, &params[i], test_crash);
    }
    ret = g_test_run();
    g_test_message("total: %u boots, %u acknowledged blocks checked", g_runs,
                   g_acks);
    return ret;
}
