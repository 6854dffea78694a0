/* SPDX-License-Identifier: MIT */
/*
 * Fault injection end to end (issue 10, item 4): the blk-flush guest
 * (writes, FLUSH, read back and compare, round after round) on loom-vm
 * whose disk sits behind x-loom-fault (vmm/block/backend.h):
 *   - every transfer cut short (short@1-) or every request stalled: the
 *     backend goes on with the rest, the guest reads back what it wrote;
 *   - the Nth request failing with EIO or ENOSPC, and werror/rerror=report:
 *     that write, FLUSH or read is answered IOERR (a failed sync is never
 *     acknowledged as done), the guest reports it and exits on its own;
 *   - rerror=stop: a failed read stops the VM in io-error with
 *     BLOCK_IO_ERROR; cont retries it and the guest passes;
 *   - io_uring refused by the kernel (a seccomp filter answering ENOSYS to
 *     io_uring_setup, inherited by loom-vm): aio=io_uring runs on the
 *     IOThread's thread pool, which x-loom-query-stats shows; without the
 *     filter the pool is never used, so the check can tell.
 * Both engines (aio=threads, aio=io_uring) for the first two.  The layer
 * is loom-vm's: on another monitor every case is skipped.
 *
 *   test-faults --vmm=PATH --guest-dir=DIR [--vmm-arg=ARG]... [GTest]
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "guest-run.h"
#include "harness.h"
#include "qmp-vm.h"

#define WRITES 3u
/* Requests per round with verify=on: the writes, a FLUSH, the reads. */
#define PER_ROUND (2 * WRITES + 1)
#define IMG_MIB 1

static const char *g_vmm;

struct image {
    char *dir;
    char *path;
};

static void image_new(struct image *im)
{
    int fd;

    im->dir = g_dir_make_tmp("loom-faults-XXXXXX", NULL);
    g_assert_nonnull(im->dir);
    im->path = g_build_filename(im->dir, "disk.img", NULL);
    fd = open(im->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, (off_t)IMG_MIB << 20), ==, 0);
    close(fd);
}

static void image_drop(struct image *im)
{
    g_unlink(im->path);
    g_rmdir(im->dir);
    g_free(im->path);
    g_free(im->dir);
}

/* One boot of blk-flush with verify=on over x-loom-fault:@spec. */
static void boot(struct guest_boot *b, const struct image *im, const char *spec,
                 const char *aio, const char *errors, unsigned rounds)
{
    g_autofree char *drive =
        g_strdup_printf("id=d0,file=x-loom-fault:%s:%s,format=raw,if=none,"
                        "aio=%s%s",
                        spec, im->path, aio, errors);
    g_autofree char *append =
        g_strdup_printf("rounds=%u writes=%u verify=on", rounds, WRITES);
    const char *const extra[] = {"-drive", drive, "-device",
                                 "virtio-blk-device,drive=d0", NULL};

    guest_boot(b, "blk-flush", 1, append, extra);
}

struct slow_case {
    const char *aio;
    const char *spec;
};

/* Short transfers and stalls: slower, never wrong. */
static void test_slow(const void *data)
{
    const struct slow_case *p = data;
    struct guest_boot b;
    struct image im;

    image_new(&im);
    boot(&b, &im, p->spec, p->aio, "", 8);
    guest_expect_status(&b, GUEST_EXIT_PASS);
    g_assert_nonnull(guest_find_line(&b, "blk-flush: done"));
    guest_boot_clear(&b);
    image_drop(&im);
}

struct fail_case {
    const char *name;
    const char *aio;
    const char *spec;   /* fails one request of round 1 */
    const char *errors; /* werror/rerror options */
    const char *line;   /* what the guest must report */
};

/* A failed request is answered IOERR; loom-vm stays up for the guest. */
static void test_fail(const void *data)
{
    const struct fail_case *p = data;
    struct guest_boot b;
    struct image im;

    image_new(&im);
    boot(&b, &im, p->spec, p->aio, p->errors, 4);
    /* The guest's own exit (isa-debug-exit), not a crash of loom-vm. */
    guest_expect_status(&b, GUEST_EXIT_FAIL);
    guest_expect_line(&b, p->line);
    /* It stopped in round 1. */
    g_assert_null(guest_find_line(&b, "flushed 2 "));
    guest_boot_clear(&b);
    image_drop(&im);
}

static json_t *qmp_event_data(struct qclient *c, const char *name)
{
    json_t *e = qclient_event(c, name);
    json_t *d = json_object_get(e, "data");

    json_incref(d);
    json_decref(e);
    return d;
}

static void expect_status(struct qclient *c, const char *status)
{
    json_t *s = qcall(c, "{\"execute\":\"query-status\"}");

    g_assert_cmpstr(jstr(s, "status"), ==, status);
    json_decref(s);
}

/* rerror=stop: a failed read stops the VM; cont retries it. */
static void test_rerror_stop(void)
{
    g_autofree char *drive = NULL;
    g_autofree char *spec = g_strdup_printf("fail@%u=EIO", WRITES + 2);
    const char *extra[] = {"-S",
                           "-serial",
                           "stdio",
                           "-qmp",
                           "unix:@SOCK@,server=on,wait=off",
                           "-object",
                           "iothread,id=io0",
                           "-drive",
                           NULL,
                           "-device",
                           "virtio-blk-device,drive=d0,id=vda,iothread=io0",
                           NULL};
    struct qclient c;
    struct image im;
    struct qvm v;
    json_t *d;

    image_new(&im);
    drive = g_strdup_printf("id=d0,file=x-loom-fault:%s:%s,format=raw,"
                            "if=none,rerror=stop",
                            spec, im.path);
    extra[8] = drive;
    qvm_start(&v, g_vmm, "blk-flush", "rounds=4 writes=3 verify=on", extra,
              false);
    qclient_connect(&c, v.sock);
    qclient_negotiate(&c);
    expect_return(qclient_cmd(&c, "{\"execute\":\"cont\"}"));
    json_decref(qclient_event(&c, "RESUME"));
    d = qmp_event_data(&c, "BLOCK_IO_ERROR");
    g_assert_cmpstr(jstr(d, "device"), ==, "vda");
    g_assert_cmpstr(jstr(d, "operation"), ==, "read");
    g_assert_cmpstr(jstr(d, "action"), ==, "stop");
    g_assert_true(json_is_false(json_object_get(d, "nospace")));
    json_decref(d);
    json_decref(qclient_event(&c, "STOP"));
    expect_status(&c, "io-error");
    /* Held while stopped: round 1's reads are not answered. */
    g_usleep(200000);
    g_assert_cmpuint(qvm_count(&v, "flushed 2 "), ==, 0);
    expect_return(qclient_cmd(&c, "{\"execute\":\"cont\"}"));
    json_decref(qclient_event(&c, "RESUME"));
    g_assert_true(qclient_wait_eof(&c, 60000));
    if (qvm_wait(&v) != GUEST_EXIT_PASS) {
        qvm_show(&v);
    }
    g_assert_cmpint(v.status, ==, GUEST_EXIT_PASS);
    g_assert_cmpuint(qvm_count(&v, "blk-flush: done"), ==, 1);
    qclient_close(&c);
    qvm_destroy(&v);
    image_drop(&im);
}

/* The jobs io0's thread pool was given (0 when it has none). */
static json_int_t io0_pool_jobs(struct qclient *c)
{
    json_t *st = qcall(c, "{\"execute\":\"x-loom-query-stats\"}");
    json_int_t n = 0;
    json_t *p;
    size_t i;

    json_array_foreach (json_object_get(st, "pools"), i, p) {
        if (strcmp(jstr(p, "loop"), "io0") == 0) {
            n = jint(p, "submitted");
        }
    }
    json_decref(st);
    return n;
}

/* aio=io_uring on an IOThread; the jobs its pool ran. */
static json_int_t run_uring(void)
{
    g_autofree char *drive = NULL;
    const char *extra[] = {"-serial", "stdio",
                           "-qmp",    "unix:@SOCK@,server=on,wait=off",
                           "-object", "iothread,id=io0",
                           "-drive",  NULL,
                           "-device", "virtio-blk-device,drive=d0,iothread=io0",
                           NULL};
    struct qclient c;
    struct image im;
    struct qvm v;
    json_int_t jobs = -1;

    image_new(&im);
    drive = g_strdup_printf("id=d0,file=%s,format=raw,if=none,aio=io_uring",
                            im.path);
    extra[7] = drive;
    qvm_start(&v, g_vmm, "blk-flush", "rounds=4 writes=3 verify=on gate=on",
              extra, true);
    qclient_connect(&c, v.sock);
    qclient_negotiate(&c);
    /* Each round waits for a byte (sent once it is waiting: the guest
     * clears its UART's FIFO at boot); the pool is read at the last. */
    for (unsigned round = 1; round <= 4; round++) {
        g_autofree char *line =
            g_strdup_printf("flushed %u %u\n", round, round * WRITES);

        qvm_wait_output(&v, line, 1);
        if (round == 4) {
            jobs = io0_pool_jobs(&c);
        }
        g_assert_cmpint(write(v.in_fd, "g", 1), ==, 1);
    }
    g_assert_true(qclient_wait_eof(&c, 60000));
    if (qvm_wait(&v) != GUEST_EXIT_PASS) {
        qvm_show(&v);
    }
    g_assert_cmpint(v.status, ==, GUEST_EXIT_PASS);
    qclient_close(&c);
    qvm_destroy(&v);
    image_drop(&im);
    return jobs;
}

/* The kernel refuses io_uring: the pool serves aio=io_uring. */
static void test_uring_refused(void)
{
    json_int_t jobs;
    int status;
    pid_t pid;

    /* With io_uring: the pool is never needed. */
    jobs = run_uring();
    g_test_message("io_uring available: %lld pool jobs", (long long)jobs);
    g_assert_cmpint(jobs, ==, 0);
    /* In a child process, so that the filter stays there. */
    pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        harness_refuse_io_uring();
        jobs = run_uring();
        g_test_message("io_uring refused: %lld pool jobs", (long long)jobs);
        /* Four rounds of writes and a FLUSH at least. */
        g_assert_cmpint(jobs, >=, 4 * (WRITES + 1));
        _exit(0);
    }
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);
}

#define FAILED(what) "blk-flush: FAIL: " what " request: IOERR"

static void test_not_loom(void)
{
    g_test_skip("x-loom-fault is loom-vm's");
}

int main(int argc, char **argv)
{
    static const struct slow_case slow[] = {
        {"threads", "short@1-"},
        {"io_uring", "short@1-"},
        {"threads", "stall@1-=15"},
        {"io_uring", "stall@1-=15"},
    };
    /* Round 1 is requests 1-3 (writes), 4 (FLUSH), 5-7 (reads). */
    static const struct fail_case fail[] = {
        {"write-eio", "threads", "fail@2=EIO", "", FAILED("write")},
        {"write-eio", "io_uring", "fail@2=EIO", "", FAILED("write")},
        {"write-enospc", "threads", "fail@1=ENOSPC", ",werror=report",
         FAILED("write")},
        {"write-enospc", "io_uring", "fail@1=ENOSPC", ",werror=report",
         FAILED("write")},
        {"flush-eio", "threads", "fail@4=EIO", "", FAILED("FLUSH")},
        {"flush-eio", "io_uring", "fail@4=EIO", "", FAILED("FLUSH")},
        {"read-eio", "threads", "fail@5=EIO", "", FAILED("read")},
        {"read-eio", "io_uring", "fail@6=EIO", "", FAILED("read")},
    };

    for (int i = 1; i < argc; i++) {
        if (g_str_has_prefix(argv[i], "--vmm=")) {
            g_vmm = argv[i] + strlen("--vmm=");
        }
    }
    guest_run_init(&argc, &argv);
    if (!guest_run_is_loom_vm()) {
        g_test_add_func("/faults/not-loom-vm", test_not_loom);
    }
    for (size_t i = 0; guest_run_is_loom_vm() && i < G_N_ELEMENTS(slow); i++) {
        g_autofree char *name = g_strdup_printf(
            "/faults/%s/%s", slow[i].aio,
            g_str_has_prefix(slow[i].spec, "short") ? "short" : "stall");

        g_test_add_data_func(name, &slow[i], test_slow);
    }
    for (size_t i = 0; guest_run_is_loom_vm() && i < G_N_ELEMENTS(fail); i++) {
        g_autofree char *name =
            g_strdup_printf("/faults/%s/%s", fail[i].aio, fail[i].name);

        g_test_add_data_func(name, &fail[i], test_fail);
    }
    if (guest_run_is_loom_vm()) {
        g_test_add_func("/faults/rerror-stop", test_rerror_stop);
        g_test_add_func("/faults/uring-refused", test_uring_refused);
    }
    return g_test_run();
}
