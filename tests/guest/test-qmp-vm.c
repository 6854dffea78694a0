/* SPDX-License-Identifier: MIT */
/*
 * QMP conversations with a running machine monitor — loom-vm, and QEMU
 * microvm with the same command line and the same assertions (VMM.md:
 * loom-vm answers as QEMU 7.2 does).  The guest is the smp guest asked to
 * wait for a second CPU that never comes: it prints one line and stays
 * running.  Covered: every query on a live machine (thread ids are the
 * process's threads, the vCPU's KVM statistics), run control and its
 * events with what the guest shows (a reset restarts it, a stopped VM
 * that is reset waits in prelaunch), -S, -no-reboot and -no-shutdown,
 * SIGTERM, the guest's own exit, -qmp stdio, -mon with pretty=on, wait=on,
 * clients vanishing; on loom-vm also many clients at once, bad input and
 * x-loom-query-stats.
 *
 *   test-qmp-vm --vmm=PATH --guest-dir=DIR [GTest options]
 *
 * With --peer=QEMU as well, it runs the compatibility check instead: one
 * conversation with both monitors, comparing the shape (keys and JSON
 * types) of every reply and event, and the class of every error.
 */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "guest-run.h"
#include "harness.h"
#include "qmp-vm.h"

#define STAY "cpus=2 ap_timeout_ms=600000"
#define BOOTED "smp: expecting 2 CPUs"

static const char *g_vmm;
static const char *g_peer;

/* Whether @c talks to loom-vm (QEMU lacks loom-vm's extensions). */
static bool is_loom(struct qclient *c)
{
    json_t *v = qcall(c, "{\"execute\":\"query-version\"}");
    bool loom = g_str_has_prefix(jstr(v, "package"), "loom-vm");

    json_decref(v);
    return loom;
}

/* Whether --vmm is loom-vm, asked before starting it (-version). */
static bool vmm_is_loom(void)
{
    const char *argv[] = {g_vmm, "-version", NULL};
    g_autofree char *out = NULL;
    bool loom;

    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL,
                               G_SPAWN_STDERR_TO_DEV_NULL | G_SPAWN_SEARCH_PATH,
                               NULL, NULL, &out, NULL, NULL, NULL));
    loom = strstr(out, "loom-vm") != NULL;
    return loom;
}

static void expect_status(struct qclient *c, const char *status)
{
    json_t *s = qcall(c, "{\"execute\":\"query-status\"}");

    g_assert_cmpstr(jstr(s, "status"), ==, status);
    g_assert_true(json_is_boolean(json_object_get(s, "singlestep")));
    g_assert_true(json_is_true(json_object_get(s, "running")) ==
                  (strcmp(status, "running") == 0));
    json_decref(s);
}

/* @cmd succeeds and @event (with @reason, if given) is emitted. */
static void cmd_event(struct qclient *c, const char *cmd, const char *event,
                      const char *reason)
{
    json_t *e;

    expect_return(qclient_cmd(c, cmd));
    e = qclient_event(c, event);
    if (reason) {
        json_t *d = json_object_get(e, "data");

        g_assert_true(json_is_false(json_object_get(d, "guest")));
        g_assert_cmpstr(jstr(d, "reason"), ==, reason);
    }
    json_decref(e);
}

static bool is_task(struct qvm *v, json_int_t tid)
{
    g_autofree char *p =
        g_strdup_printf("/proc/%d/task/%lld", (int)v->pid, (long long)tid);

    return tid > 0 && g_file_test(p, G_FILE_TEST_IS_DIR);
}

/* The statistic @name of a query-stats result, or NULL. */
static json_t *stat_of(json_t *result, const char *name)
{
    json_t *e;
    size_t i;

    json_array_foreach (json_object_get(result, "stats"), i, e) {
        if (strcmp(jstr(e, "name"), name) == 0) {
            return json_object_get(e, "value");
        }
    }
    return NULL;
}

static void quit(struct qvm *v, struct qclient *c)
{
    cmd_event(c, "{\"execute\":\"quit\"}", "SHUTDOWN", "host-qmp-quit");
    g_assert_true(qclient_wait_eof(c, 30000));
    if (qvm_wait(v) != 0) {
        qvm_show(v);
    }
    g_assert_cmpint(v->status, ==, 0);
}

static void test_queries(void)
{
    const char *const extra[] = {"-name", "vm-q", "-object", "iothread,id=io0",
                                 NULL};
    struct qvm v;
    struct qclient c;
    json_t *r, *e;
    json_int_t cpu_tid;
    char path[64];

    qvm_start_qmp(&v, &c, g_vmm, "smp", STAY, extra);
    qclient_negotiate(&c);
    qvm_wait_output(&v, BOOTED, 1);
    expect_status(&c, "running");
    r = qcall(&c, "{\"execute\":\"query-name\"}");
    g_assert_cmpstr(jstr(r, "name"), ==, "vm-q");
    json_decref(r);
    r = qcall(&c, "{\"execute\":\"query-kvm\"}");
    g_assert_true(json_is_true(json_object_get(r, "enabled")));
    g_assert_true(json_is_true(json_object_get(r, "present")));
    json_decref(r);

    r = qcall(&c, "{\"execute\":\"query-cpus-fast\"}");
    g_assert_cmpuint(json_array_size(r), ==, 1);
    e = json_array_get(r, 0);
    cpu_tid = jint(e, "thread-id");
    g_assert_true(is_task(&v, cpu_tid));
    g_assert_cmpint(cpu_tid, !=, v.pid);
    g_assert_cmpstr(jstr(e, "target"), ==, "x86_64");
    g_snprintf(path, sizeof(path), "%s", jstr(e, "qom-path"));
    json_decref(r);

    r = qcall(&c, "{\"execute\":\"query-iothreads\"}");
    g_assert_cmpuint(json_array_size(r), ==, 1);
    e = json_array_get(r, 0);
    g_assert_cmpstr(jstr(e, "id"), ==, "io0");
    g_assert_true(is_task(&v, jint(e, "thread-id")));
    g_assert_cmpint(jint(e, "thread-id"), !=, cpu_tid);
    g_assert_cmpint(jint(e, "poll-max-ns"), ==, 32768);
    json_decref(r);
    expect_return(qclient_cmd(&c, "{\"execute\":\"qom-set\",\"arguments\":{"
                                  "\"path\":\"/objects/io0\",\"property\":"
                                  "\"poll-max-ns\",\"value\":5000}}"));
    r = qcall(&c, "{\"execute\":\"qom-get\",\"arguments\":{\"path\":"
                  "\"/objects/io0\",\"property\":\"poll-max-ns\"}}");
    g_assert_cmpint(json_integer_value(r), ==, 5000);
    json_decref(r);

    /* KVM's own statistics of the vCPU and of the VM. */
    r = qcall(&c, "{\"execute\":\"query-stats\","
                  "\"arguments\":{\"target\":\"vcpu\"}}");
    if (json_array_size(r) == 0) {
        g_test_message("this KVM has no binary statistics");
    } else {
        e = json_array_get(r, 0);
        g_assert_cmpstr(jstr(e, "provider"), ==, "kvm");
        g_assert_cmpstr(jstr(e, "qom-path"), ==, path);
        g_assert_true(json_is_integer(stat_of(e, "exits")));
        g_assert_cmpint(json_integer_value(stat_of(e, "exits")), >, 0);
        json_decref(r);
        r = qcall(&c, "{\"execute\":\"query-stats\","
                      "\"arguments\":{\"target\":\"vm\"}}");
        g_assert_nonnull(stat_of(json_array_get(r, 0), "remote_tlb_flush"));
        json_decref(r);
        r = qcall(&c, "{\"execute\":\"query-stats-schemas\"}");
        g_assert_cmpuint(json_array_size(r), ==, 2);
    }
    json_decref(r);

    if (is_loom(&c)) {
        r = qcall(&c, "{\"execute\":\"x-loom-query-stats\"}");
        e = json_array_get(json_object_get(r, "vcpus"), 0);
        g_assert_cmpint(jint(e, "thread-id"), ==, cpu_tid);
        g_assert_cmpint(jint(e, "kvm-runs"), >, 0);
        g_assert_cmpint(jint(e, "exits-io"), >, 0); /* the console line */
        g_assert_cmpint(jint(e, "guest-ns"), >, 0);
        g_assert_cmpuint(json_array_size(json_object_get(r, "loops")), ==, 2);
        json_decref(r);
    }
    quit(&v, &c);
    qclient_close(&c);
    qvm_destroy(&v);
}

static void test_run_control(void)
{
    struct qvm v;
    struct qclient c;
    bool loom;

    qvm_start_qmp(&v, &c, g_vmm, "smp", STAY, NULL);
    qclient_negotiate(&c);
    loom = is_loom(&c);
    qvm_wait_output(&v, BOOTED, 1);
    cmd_event(&c, "{\"execute\":\"stop\"}", "STOP", NULL);
    expect_status(&c, "paused");
    if (loom) {
        json_t *r = qcall(&c, "{\"execute\":\"x-loom-query-stats\"}");

        /* The vCPU really stopped (it acknowledged the stop). */
        g_assert_cmpint(
            jint(json_array_get(json_object_get(r, "vcpus"), 0), "stops"), >=,
            1);
        json_decref(r);
    }
    cmd_event(&c, "{\"execute\":\"cont\"}", "RESUME", NULL);
    expect_status(&c, "running");
    /* A reset of a running VM: the guest starts over. */
    cmd_event(&c, "{\"execute\":\"system_reset\"}", "RESET",
              "host-qmp-system-reset");
    qvm_wait_output(&v, BOOTED, 2);
    expect_status(&c, "running");
    /* A stopped VM that is reset waits in prelaunch until cont. */
    cmd_event(&c, "{\"execute\":\"stop\"}", "STOP", NULL);
    cmd_event(&c, "{\"execute\":\"system_reset\"}", "RESET",
              "host-qmp-system-reset");
    expect_status(&c, "prelaunch");
    g_usleep(300000);
    g_assert_cmpuint(qvm_count(&v, BOOTED), ==, 2);
    cmd_event(&c, "{\"execute\":\"cont\"}", "RESUME", NULL);
    qvm_wait_output(&v, BOOTED, 3);
    quit(&v, &c);
    qclient_close(&c);
    qvm_destroy(&v);
}

static void test_start_paused(void)
{
    const char *const extra[] = {"-S", NULL};
    struct qvm v;
    struct qclient c;

    qvm_start_qmp(&v, &c, g_vmm, "smp", STAY, extra);
    qclient_negotiate(&c);
    expect_status(&c, "prelaunch");
    /* stop leaves prelaunch alone (QEMU). */
    expect_return(qclient_cmd(&c, "{\"execute\":\"stop\"}"));
    expect_status(&c, "prelaunch");
    g_usleep(200000);
    g_assert_cmpuint(qvm_count(&v, BOOTED), ==, 0);
    cmd_event(&c, "{\"execute\":\"cont\"}", "RESUME", NULL);
    qvm_wait_output(&v, BOOTED, 1);
    expect_status(&c, "running");
    quit(&v, &c);
    qclient_close(&c);
    qvm_destroy(&v);
}

/* Under -no-reboot, system_reset is a shutdown; with -no-shutdown the VM
 * then waits in "shutdown", where cont is refused. */
static void test_no_reboot(void)
{
    const char *const nr[] = {"-no-reboot", NULL};
    const char *const nrns[] = {"-no-reboot", "-no-shutdown", NULL};
    struct qvm v;
    struct qclient c;

    qvm_start_qmp(&v, &c, g_vmm, "smp", STAY, nr);
    qclient_negotiate(&c);
    qvm_wait_output(&v, BOOTED, 1);
    cmd_event(&c, "{\"execute\":\"system_reset\"}", "SHUTDOWN",
              "host-qmp-system-reset");
    g_assert_true(qclient_wait_eof(&c, 30000));
    g_assert_cmpint(qvm_wait(&v), ==, 0);
    qclient_close(&c);
    qvm_destroy(&v);

    qvm_start_qmp(&v, &c, g_vmm, "smp", STAY, nrns);
    qclient_negotiate(&c);
    qvm_wait_output(&v, BOOTED, 1);
    cmd_event(&c, "{\"execute\":\"system_reset\"}", "SHUTDOWN",
              "host-qmp-system-reset");
    json_decref(qclient_event(&c, "STOP"));
    expect_status(&c, "shutdown");
    expect_error(qclient_cmd(&c, "{\"execute\":\"cont\"}"), "GenericError",
                 "Resetting the Virtual Machine is required");
    quit(&v, &c);
    qclient_close(&c);
    qvm_destroy(&v);
}

static void test_signal(void)
{
    struct qvm v;
    struct qclient c;
    json_t *e;

    qvm_start_qmp(&v, &c, g_vmm, "smp", STAY, NULL);
    qclient_negotiate(&c);
    qvm_wait_output(&v, BOOTED, 1);
    g_assert_cmpint(kill(v.pid, SIGTERM), ==, 0);
    e = qclient_event(&c, "SHUTDOWN");
    g_assert_cmpstr(jstr(json_object_get(e, "data"), "reason"), ==,
                    "host-signal");
    json_decref(e);
    g_assert_true(qclient_wait_eof(&c, 30000));
    g_assert_cmpint(qvm_wait(&v), ==, 0);
    qclient_close(&c);
    qvm_destroy(&v);
}

/* The guest ends itself (isa-debug-exit): no SHUTDOWN, as QEMU. */
static void test_guest_exit(void)
{
    const char *const extra[] = {"-S", NULL};
    struct qvm v;
    struct qclient c;

    qvm_start_qmp(&v, &c, g_vmm, "hello", "cpus=1", extra);
    qclient_negotiate(&c);
    cmd_event(&c, "{\"execute\":\"cont\"}", "RESUME", NULL);
    g_assert_null(qclient_recv(&c, true));
    g_assert_true(g_queue_is_empty(c.events));
    g_assert_cmpint(qvm_wait(&v), ==, GUEST_EXIT_PASS);
    qclient_close(&c);
    qvm_destroy(&v);
}

static void test_stdio(void)
{
    const char *const extra[] = {"-serial", "file:@DIR@/console", "-qmp",
                                 "stdio", NULL};
    struct qvm v;
    struct qclient c;

    qvm_start(&v, g_vmm, "smp", STAY, extra, true);
    qclient_init(&c, dup(v.out_fd), v.in_fd);
    v.in_fd = -1; /* the client closes it */
    qclient_negotiate(&c);
    expect_status(&c, "running");
    cmd_event(&c, "{\"execute\":\"quit\"}", "SHUTDOWN", "host-qmp-quit");
    g_assert_cmpint(qvm_wait(&v), ==, 0);
    qclient_close(&c);
    qvm_destroy(&v);
}

static void test_mon_pretty(void)
{
    const char *const extra[] = {
        "-serial",  "stdio",
        "-chardev", "socket,id=m0,path=@SOCK@,server=on,wait=off",
        "-mon",     "chardev=m0,mode=control,pretty=on",
        NULL,
    };
    struct qvm v;
    struct qclient c;
    json_t *g;

    qvm_start(&v, g_vmm, "smp", STAY, extra, false);
    qclient_connect(&c, v.sock);
    g = qclient_recv(&c, false);
    g_assert_nonnull(json_object_get(g, "QMP"));
    json_decref(g);
    expect_return(qclient_cmd(&c, "{\"execute\":\"qmp_capabilities\"}"));
    qclient_sends(&c, "{\"execute\":\"query-status\"}");
    while (!strstr(c.in->str, "}\r\n")) {
        g_assert_false(qclient_wait_eof(&c, 10));
    }
    /* Indented, every line ended with CR LF (as QEMU does). */
    g_assert_nonnull(strstr(c.in->str, "{\r\n    \"return\": {\r\n"));
    expect_return(qclient_recv(&c, false));
    quit(&v, &c);
    qclient_close(&c);
    qvm_destroy(&v);
}

/* wait=on: nothing runs until a client connects. */
static void test_wait_on(void)
{
    const char *const extra[] = {"-serial", "stdio", "-qmp",
                                 "unix:@SOCK@,server=on", NULL};
    struct qvm v;
    struct qclient c;

    qvm_start(&v, g_vmm, "smp", STAY, extra, false);
    while (!g_file_test(v.sock, G_FILE_TEST_EXISTS)) {
        g_usleep(2000);
    }
    g_usleep(300000);
    g_assert_cmpuint(qvm_count(&v, BOOTED), ==, 0);
    qclient_connect(&c, v.sock);
    qclient_negotiate(&c);
    qvm_wait_output(&v, BOOTED, 1);
    quit(&v, &c);
    qclient_close(&c);
    qvm_destroy(&v);
}

/* A client leaves with commands in flight; the next is served. */
static void test_vanish(void)
{
    struct qvm v;
    struct qclient a, b;

    qvm_start_qmp(&v, &a, g_vmm, "smp", STAY, NULL);
    qclient_negotiate(&a);
    for (int i = 0; i < 50; i++) {
        qclient_sends(&a, "{\"execute\":\"query-cpus-fast\"}");
    }
    qclient_sends(&a, "{\"execute\":\"query-st");
    qclient_close(&a);
    qclient_connect(&b, v.sock);
    qclient_negotiate(&b);
    expect_status(&b, "running");
    quit(&v, &b);
    qclient_close(&b);
    qvm_destroy(&v);
}

#define NCLIENTS 20

/* loom-vm's extension: many clients at once, each its own session. */
static void test_clients(void)
{
    struct qclient c[NCLIENTS];
    struct qvm v;

    qvm_start_qmp(&v, &c[0], g_vmm, "smp", STAY, NULL);
    qclient_negotiate(&c[0]);
    if (!is_loom(&c[0])) {
        g_test_skip("one client per socket (QEMU)");
        qclient_close(&c[0]);
        qvm_destroy(&v);
        return;
    }
    for (int i = 1; i < NCLIENTS; i++) {
        qclient_connect(&c[i], v.sock);
    }
    for (int i = 1; i < NCLIENTS; i++) {
        qclient_negotiate(&c[i]);
    }
    cmd_event(&c[7], "{\"execute\":\"stop\"}", "STOP", NULL);
    for (int i = 0; i < NCLIENTS; i++) {
        if (i != 7) {
            json_decref(qclient_event(&c[i], "STOP"));
        }
    }
    expect_status(&c[3], "paused");
    quit(&v, &c[0]);
    for (int i = 1; i < NCLIENTS; i++) {
        json_decref(qclient_event(&c[i], "SHUTDOWN"));
        g_assert_true(qclient_wait_eof(&c[i], 30000));
        qclient_close(&c[i]);
    }
    qclient_close(&c[0]);
    qvm_destroy(&v);
}

/* loom-vm: bad input gets one error each and the session goes on. */
static void test_bad_input(void)
{
    GString *big = g_string_new("{\"execute\":\"");
    struct qvm v;
    struct qclient c;
    json_t *r;

    qvm_start_qmp(&v, &c, g_vmm, "smp", STAY, NULL);
    qclient_negotiate(&c);
    if (!is_loom(&c)) {
        g_test_skip("QEMU's limits and error counts differ");
        g_string_free(big, TRUE);
        qclient_close(&c);
        qvm_destroy(&v);
        return;
    }
    while (big->len < 2 * 1024 * 1024) {
        g_string_append(big, "xxxxxxxxxxxxxxxx");
    }
    g_string_append(big, "\"}\n\xff\xfe\x01garbage\n{bad}\n");
    qclient_send(&c, big->str, big->len);
    for (int i = 0; i < 3; i++) {
        expect_error(qclient_recv(&c, false), "GenericError",
                     "JSON parse error");
    }
    r = qclient_cmd(&c, "{\"execute\":\"query-status\",\"id\":1}");
    g_assert_cmpint(jint(r, "id"), ==, 1);
    json_decref(r);
    quit(&v, &c);
    g_string_free(big, TRUE);
    qclient_close(&c);
    qvm_destroy(&v);
}

/* An image of @mib MiB in a new private directory @dir. */
static char *make_image(char **dir, unsigned mib)
{
    char *img;
    int fd;

    *dir = g_dir_make_tmp("loom-qmp-img-XXXXXX", NULL);
    g_assert_nonnull(*dir);
    img = g_build_filename(*dir, "disk.img", NULL);
    fd = open(img, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, (off_t)mib << 20), ==, 0);
    close(fd);
    return img;
}

static void drop_image(char *dir, char *img)
{
    g_unlink(img);
    g_rmdir(dir);
    g_free(img);
    g_free(dir);
}

/*
 * werror=enospc (QEMU's default) with an injected ENOSPC on a guest's
 * write (loom-vm's x-loom-fault backend): BLOCK_IO_ERROR, the VM stops in
 * io-error with the device's io-status nospace; cont retries the held
 * request and the guest, which checks every byte it wrote and that every
 * request was answered, passes.
 */
static void test_werror_stop(void)
{
    g_autofree char *drive = NULL;
    char *dir, *img = make_image(&dir, 1);
    const char *extra[] = {"-S",
                           "-object",
                           "iothread,id=io0",
                           "-drive",
                           NULL,
                           "-device",
                           "virtio-blk-device,drive=d0,id=vda,iothread=io0",
                           NULL};
    struct qclient c;
    struct qvm v;
    json_t *e, *d;

    if (!vmm_is_loom()) {
        g_test_skip("no x-loom-fault backend (QEMU)");
        drop_image(dir, img);
        return;
    }
    drive = g_strdup_printf("id=d0,file=x-loom-fault:fail@5=ENOSPC:%s,"
                            "format=raw,if=none",
                            img);
    extra[4] = drive;
    qvm_start_qmp(&v, &c, g_vmm, "blk-check", "mode=poll disks=1 seed=7",
                  extra);
    qclient_negotiate(&c);
    cmd_event(&c, "{\"execute\":\"cont\"}", "RESUME", NULL);
    e = qclient_event(&c, "BLOCK_IO_ERROR");
    d = json_object_get(e, "data");
    g_assert_cmpstr(jstr(d, "device"), ==, "vda");
    g_assert_cmpstr(jstr(d, "node-name"), ==, "d0");
    g_assert_cmpstr(jstr(d, "operation"), ==, "write");
    g_assert_cmpstr(jstr(d, "action"), ==, "stop");
    g_assert_true(json_is_true(json_object_get(d, "nospace")));
    json_decref(e);
    json_decref(qclient_event(&c, "STOP"));
    expect_status(&c, "io-error");
    e = qcall(&c, "{\"execute\":\"query-block\"}");
    g_assert_cmpstr(jstr(json_array_get(e, 0), "io-status"), ==, "nospace");
    json_decref(e);
    /* Stopped: the guest is not answered meanwhile. */
    g_usleep(200000);
    g_assert_cmpuint(qvm_count(&v, "PASS vda/write-pattern"), ==, 0);
    cmd_event(&c, "{\"execute\":\"cont\"}", "RESUME", NULL);
    e = qcall(&c, "{\"execute\":\"query-block\"}");
    g_assert_cmpstr(jstr(json_array_get(e, 0), "io-status"), ==, "ok");
    json_decref(e);
    e = qcall(&c, "{\"execute\":\"query-blockstats\"}");
    g_assert_cmpint(jint(json_object_get(json_array_get(e, 0), "stats"),
                         "failed_wr_operations"),
                    ==, 1);
    json_decref(e);
    /* The guest checks every request and byte, then exits. */
    g_assert_true(qclient_wait_eof(&c, 60000));
    if (qvm_wait(&v) != GUEST_EXIT_PASS) {
        qvm_show(&v);
    }
    g_assert_cmpint(v.status, ==, GUEST_EXIT_PASS);
    g_assert_cmpuint(qvm_count(&v, "FAIL"), ==, 0);
    qclient_close(&c);
    qvm_destroy(&v);
    drop_image(dir, img);
}

/* The vda queues of an x-loom-query-stats reply, in queue order. */
static json_t *vda_queues(json_t *stats)
{
    json_t *out = json_array(), *e;
    size_t i;

    json_array_foreach (json_object_get(stats, "virtqueues"), i, e) {
        if (strcmp(jstr(e, "device"), "vda") == 0) {
            g_assert_cmpint(jint(e, "queue"), ==,
                            (json_int_t)json_array_size(out));
            json_array_append(out, e);
        }
    }
    return out;
}

static json_int_t hist_sum(json_t *q, const char *key)
{
    json_int_t n = 0;
    json_t *b;
    size_t i;

    g_assert_cmpuint(json_array_size(json_object_get(q, key)), ==, 32);
    json_array_foreach (json_object_get(q, key), i, b) {
        n += json_integer_value(b);
    }
    return n;
}

/*
 * x-loom-set-vq-mapping while the guest does continuous I/O: blk-check
 * writes and reads back a 16 MiB disk many times over four queues with
 * sixteen requests in flight, taking interrupts, while the test moves
 * the queues between two IOThreads over and over (all on one, split,
 * one queue alone, round-robin).  Every request is answered exactly once
 * (the guest checks each answer and its data; its count of completions
 * equals the device's answers; nothing is left in flight or dropped),
 * the image holds what the guest wrote, and the histograms add up.
 */
static void test_vq_remap(void)
{
    static const struct {
        const char *map;
        const char *io[4]; /* each queue's IOThread afterwards */
    } maps[] = {
        {"[{\"iothread\":\"io1\"}]", {"io1", "io1", "io1", "io1"}},
        {"[{\"iothread\":\"io0\",\"vqs\":[0,2]},"
         "{\"iothread\":\"io1\",\"vqs\":[1,3]}]",
         {"io0", "io1", "io0", "io1"}},
        {"[{\"iothread\":\"io1\",\"vqs\":[0]}]", {"io1", "io1", "io0", "io1"}},
        {"[{\"iothread\":\"io1\"},{\"iothread\":\"io0\"}]",
         {"io1", "io0", "io1", "io0"}},
        {"[{\"iothread\":\"io0\"}]", {"io0", "io0", "io0", "io0"}},
    };
    g_autofree char *drive = NULL;
    char *dir, *img = make_image(&dir, 16);
    const char *extra[] = {
        "-object",
        "iothread,id=io0",
        "-object",
        "iothread,id=io1",
        "-drive",
        NULL,
        "-device",
        "virtio-blk-device,drive=d0,id=vda,num-queues=4,iothread=io0",
        NULL};
    json_int_t answered = 0, moves = 0, n;
    unsigned long guest_reqs, img_seed, zero, nzero;
    unsigned i, round = 0, during_io = 0;
    const char *line;
    struct qclient c;
    struct qvm v;
    json_t *st, *qs, *q;
    int64_t deadline;

    if (!vmm_is_loom()) {
        g_test_skip("x-loom-set-vq-mapping is loom-vm's");
        drop_image(dir, img);
        return;
    }
    drive =
        g_strdup_printf("id=d0,file=%s,format=raw,if=none,aio=io_uring", img);
    extra[5] = drive;
    qvm_start_qmp(&v, &c, g_vmm, "blk-check",
                  "mode=irq disks=1 qd=16 seed=21 passes=40 stay=on", extra);
    qclient_negotiate(&c);
    deadline = harness_now_ns() + 6 * HARNESS_WATCHDOG_NS;
    while (qvm_count(&v, "blk-check: staying") == 0) {
        unsigned k = round++ % G_N_ELEMENTS(maps);
        char *cmd = g_strdup_printf(
            "{\"execute\":\"x-loom-set-vq-mapping\",\"arguments\":{"
            "\"device\":\"vda\",\"iothread-vq-mapping\":%s}}",
            maps[k].map);

        harness_watchdog(deadline, "blk-check: staying");
        expect_return(qclient_cmd(&c, cmd));
        g_free(cmd);
        st = qcall(&c, "{\"execute\":\"x-loom-query-stats\"}");
        qs = vda_queues(st);
        g_assert_cmpuint(json_array_size(qs), ==, 4);
        n = 0;
        json_array_foreach (qs, i, q) {
            g_assert_cmpstr(jstr(q, "iothread"), ==, maps[k].io[i]);
            n += jint(q, "answered");
        }
        /* Moved while the guest was still at it. */
        if (n > answered && qvm_count(&v, "blk-check: 0 failed") == 0) {
            during_io++;
        }
        answered = n;
        json_decref(qs);
        json_decref(st);
        g_usleep(5000);
    }
    g_test_message("%u mappings, %u of them during I/O", round, during_io);
    g_assert_cmpuint(during_io, >=, 5);

    /* The guest checked every answer and byte. */
    g_assert_cmpuint(qvm_count(&v, "FAIL"), ==, 0);
    g_assert_cmpuint(qvm_count(&v, "blk-check: 0 failed"), ==, 1);
    g_assert_cmpuint(qvm_count(&v, "PASS vda/read-pattern"), ==, 40);
    line = strstr(v.out->str, "vda: image: seed ");
    g_assert_nonnull(line);
    g_assert_cmpint(sscanf(line, "vda: image: seed %lu zero %lu+%lu", &img_seed,
                           &zero, &nzero),
                    ==, 3);
    g_assert_cmpuint(img_seed, ==, 21 + 39);
    line = strstr(v.out->str, " requests, ");
    g_assert_nonnull(line);
    while (line > v.out->str && line[-1] != '\n') {
        line--;
    }
    g_assert_cmpint(sscanf(line, "vda: %lu requests", &guest_reqs), ==, 1);

    /* The device answered each request once: no more, no fewer. */
    st = qcall(&c, "{\"execute\":\"x-loom-query-stats\"}");
    qs = vda_queues(st);
    answered = 0;
    json_array_foreach (qs, i, q) {
        g_assert_cmpint(jint(q, "processed"), ==, jint(q, "answered"));
        g_assert_cmpint(jint(q, "in-flight"), ==, 0);
        g_assert_cmpint(jint(q, "dropped"), ==, 0);
        g_assert_cmpint(jint(q, "broken"), ==, 0);
        g_assert_cmpint(hist_sum(q, "wait-hist"), ==, jint(q, "processed"));
        g_assert_cmpint(hist_sum(q, "service-hist"), ==, jint(q, "answered"));
        g_assert_cmpint(jint(q, "answered"), >, 0);
        g_assert_cmpint(jint(q, "service-ns"), >, 0);
        answered += jint(q, "answered");
        moves += jint(q, "moves");
    }
    g_assert_cmpint(answered, ==, (json_int_t)guest_reqs);
    g_assert_cmpint(moves, >=, 5);
    json_decref(qs);
    json_decref(st);
    quit(&v, &c);
    g_assert_cmpint(guest_verify_image(img, 16u << 20, img_seed, zero, nzero),
                    ==, -1);
    qclient_close(&c);
    qvm_destroy(&v);
    drop_image(dir, img);
}

/* ------------------------------------------------------------------ */
/* Compatibility: the same conversation with both monitors              */
/* ------------------------------------------------------------------ */

struct step {
    const char *cmd;
    const char *event; /* emitted by it, or NULL */
};

static const struct step g_steps[] = {
    {"{\"execute\":\"query-status\"}"}, /* before negotiation */
    {"{\"execute\":\"qmp_capabilities\"}"},
    {"{\"execute\":\"query-version\"}"},
    {"{\"execute\":\"query-name\"}"},
    {"{\"execute\":\"query-status\"}"},
    {"{\"execute\":\"query-kvm\"}"},
    {"{\"execute\":\"query-cpus-fast\"}"},
    {"{\"execute\":\"query-iothreads\"}"},
    {"{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"/objects/io0\","
     "\"property\":\"poll-max-ns\"}}"},
    {"{\"execute\":\"qom-set\",\"arguments\":{\"path\":\"/objects/io0\","
     "\"property\":\"poll-grow\",\"value\":2}}"},
    {"{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"/objects/io0\","
     "\"property\":\"poll-grow\"}}"},
    {"{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"/objects/io0\","
     "\"property\":\"nope\"}}"},
    {"{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"/objects/none\","
     "\"property\":\"poll-grow\"}}"},
    {"{\"execute\":\"qom-set\",\"arguments\":{\"path\":\"/objects/io0\","
     "\"property\":\"poll-max-ns\",\"value\":-5}}"},
    {"{\"execute\":\"qom-set\",\"arguments\":{\"path\":\"/objects/io0\","
     "\"property\":\"poll-max-ns\",\"value\":\"x\"}}"},
    {"{\"execute\":\"query-stats\",\"arguments\":{\"target\":\"vcpu\"}}"},
    {"{\"execute\":\"query-stats\",\"arguments\":{\"target\":\"vm\"}}"},
    {"{\"execute\":\"query-stats\",\"arguments\":{\"target\":\"vcpu\","
     "\"providers\":[{\"provider\":\"kvm\",\"names\":[\"exits\"]}]}}"},
    {"{\"execute\":\"query-stats\",\"arguments\":{\"target\":\"bogus\"}}"},
    {"{\"execute\":\"query-stats\"}"},
    {"{\"execute\":\"query-stats-schemas\"}"},
    {"{\"execute\":\"query-commands\"}"},
    {"{\"execute\":\"query-block\"}"},
    {"{\"execute\":\"query-blockstats\"}"},
    {"{\"execute\":\"stop\"}"}, /* prelaunch: nothing happens */
    {"{\"execute\":\"cont\"}", "RESUME"},
    {"{\"execute\":\"stop\"}", "STOP"},
    {"{\"execute\":\"query-status\"}"},
    {"{\"execute\":\"cont\"}", "RESUME"},
    {"{\"execute\":\"system_reset\"}", "RESET"},
    {"{\"execute\":\"no-such-command\"}"},
    {"{\"execute\":\"query-status\",\"arguments\":{\"x\":1}}"},
    {"{\"execute\":\"query-status\",\"id\":[1,{\"a\":null}]}"},
    {"{\"execute\":\"query-status\",\"arguments\":[]}"},
    {"{\"execute\":1,\"id\":\"i\"}"},
    {"{\"arguments\":{}}"},
    {"{\"execute\":\"query-status\",\"bogus\":1}"},
    {"[1]"},
    {"{\"execute\":\"qmp_capabilities\"}"},
    {"{\"execute\":\"quit\"}", "SHUTDOWN"},
};

/* The comparable form of a reply: its shape, with an error's class. */
static char *describe(json_t *r)
{
    json_t *e = json_object_get(r, "error");
    g_autofree char *shape = json_shape(r);

    if (e) {
        return g_strdup_printf("%s class=%s", shape, jstr(e, "class"));
    }
    return g_steal_pointer(&shape);
}

/* Every command loom-vm lists, but its own x- ones, QEMU lists too. */
static void compare_commands(json_t *loom, json_t *qemu)
{
    json_t *e, *f;
    size_t i, j;

    json_array_foreach (json_object_get(loom, "return"), i, e) {
        bool found = false;

        if (g_str_has_prefix(jstr(e, "name"), "x-loom-")) {
            continue;
        }
        json_array_foreach (json_object_get(qemu, "return"), j, f) {
            found = found || strcmp(jstr(e, "name"), jstr(f, "name")) == 0;
        }
        if (!found) {
            g_test_message("QEMU has no %s", jstr(e, "name"));
        }
        g_assert_true(found);
    }
}

static void test_compat(void)
{
    char *dir, *img = make_image(&dir, 1);
    g_autofree char *drive =
        g_strdup_printf("id=d0,file=%s,format=raw,if=none", img);
    const char *const extra[] = {
        "-S",      "-name",           "compat",
        "-object", "iothread,id=io0", "-drive",
        drive,     "-device",         "virtio-blk-device,drive=d0,id=vda",
        NULL,
    };
    struct qvm vm[2];
    struct qclient c[2];
    json_t *g;
    bool mismatch = false;

    qvm_start_qmp(&vm[0], &c[0], g_vmm, "smp", STAY, extra);
    qvm_start_qmp(&vm[1], &c[1], g_peer, "smp", STAY, extra);
    for (int k = 0; k < 2; k++) {
        /* The greetings differ only in the capabilities offered. */
        g = qclient_recv(&c[k], false);
        g_assert_nonnull(
            json_object_get(json_object_get(g, "QMP"), "capabilities"));
        json_decref(g);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(g_steps); i++) {
        const struct step *s = &g_steps[i];
        json_t *r[2], *ev[2] = {NULL, NULL};
        char *d[2];

        for (int k = 0; k < 2; k++) {
            r[k] = qclient_cmd(&c[k], s->cmd);
            g_assert_nonnull(r[k]);
            if (s->event) {
                ev[k] = qclient_event(&c[k], s->event);
            }
            g_assert_true(g_queue_is_empty(c[k].events));
        }
        if (strstr(s->cmd, "query-commands")) {
            compare_commands(r[0], r[1]);
            json_decref(r[0]);
            json_decref(r[1]);
            continue;
        }
        d[0] = describe(r[0]);
        d[1] = describe(r[1]);
        if (strcmp(d[0], d[1]) != 0) {
            g_test_message("%s\n  loom-vm: %s\n  QEMU:    %s", s->cmd, d[0],
                           d[1]);
            mismatch = true;
        }
        g_free(d[0]);
        g_free(d[1]);
        if (s->event) {
            d[0] = json_shape(ev[0]);
            d[1] = json_shape(ev[1]);
            if (strcmp(d[0], d[1]) != 0) {
                g_test_message("event %s\n  loom-vm: %s\n  QEMU:    %s",
                               s->event, d[0], d[1]);
                mismatch = true;
            }
            g_free(d[0]);
            g_free(d[1]);
        }
        for (int k = 0; k < 2; k++) {
            json_decref(r[k]);
            json_decref(ev[k]);
        }
    }
    g_assert_false(mismatch);
    for (int k = 0; k < 2; k++) {
        g_assert_true(qclient_wait_eof(&c[k], 30000));
        g_assert_cmpint(qvm_wait(&vm[k]), ==, 0);
        qclient_close(&c[k]);
        qvm_destroy(&vm[k]);
    }
    drop_image(dir, img);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (g_str_has_prefix(argv[i], "--vmm=")) {
            g_vmm = argv[i] + strlen("--vmm=");
        }
        if (g_str_has_prefix(argv[i], "--peer=")) {
            g_peer = argv[i] + strlen("--peer=");
            memmove(&argv[i], &argv[i + 1], (size_t)(argc - i) * sizeof(*argv));
            argc--;
            i--;
        }
    }
    if (g_peer && !strchr(g_peer, '/')) {
        g_peer = g_find_program_in_path(g_peer);
    }
    if (g_peer && access(g_peer, X_OK) != 0) {
        harness_skip_all(harness_args_have_tap(argc, argv),
                         "no QEMU to compare with");
    }
    guest_run_init(&argc, &argv);
    if (g_peer) {
        g_test_add_func("/qmp-compat/conversation", test_compat);
        return g_test_run();
    }
    g_test_add_func("/qmp-vm/queries", test_queries);
    g_test_add_func("/qmp-vm/run-control", test_run_control);
    g_test_add_func("/qmp-vm/start-paused", test_start_paused);
    g_test_add_func("/qmp-vm/no-reboot", test_no_reboot);
    g_test_add_func("/qmp-vm/signal", test_signal);
    g_test_add_func("/qmp-vm/guest-exit", test_guest_exit);
    g_test_add_func("/qmp-vm/stdio", test_stdio);
    g_test_add_func("/qmp-vm/mon-pretty", test_mon_pretty);
    g_test_add_func("/qmp-vm/wait-on", test_wait_on);
    g_test_add_func("/qmp-vm/vanish", test_vanish);
    g_test_add_func("/qmp-vm/clients", test_clients);
    g_test_add_func("/qmp-vm/bad-input", test_bad_input);
    g_test_add_func("/qmp-vm/werror-stop", test_werror_stop);
    g_test_add_func("/qmp-vm/vq-remap", test_vq_remap);
    return g_test_run();
}
