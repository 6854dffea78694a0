/* SPDX-License-Identifier: MIT */
/*
 * The QMP protocol and every command against a fake machine (no KVM):
 * greeting, capabilities negotiation, ids, the envelope's and the
 * arguments' errors with QEMU's classes and words, run control and its
 * events, event delivery to sessions, and the reply of each query in
 * QEMU 7.2's shape.  Transport and bad input: test-qmp-io.c.
 */
#include <errno.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "harness.h"
#include "qmp-fake.h"

static struct fake_machine g_f;
static struct vmm_monitor *g_mon;

static void setup(unsigned cpus, const char *name)
{
    fake_init(&g_f, cpus, name);
    g_assert_cmpint(vmm_monitor_new(&fake_ops, &g_f, &g_mon), ==, 0);
}

static void teardown(void)
{
    vmm_monitor_free(g_mon);
    g_mon = NULL;
    fake_destroy(&g_f);
}

/* A negotiated client of a fresh fake with 2 vCPUs. */
static void start(struct qclient *c)
{
    setup(2, "vm0");
    qclient_pair(c, g_mon, false);
    qclient_negotiate(c);
}

static void stop(struct qclient *c)
{
    qclient_close(c);
    teardown();
}

static void expect_shape(json_t *v, const char *shape)
{
    char *s = json_shape(v);

    g_assert_cmpstr(s, ==, shape);
    g_free(s);
}

/* ------------------------------------------------------------------ */

static void test_greeting(void)
{
    struct qclient c;
    json_t *g, *v, *r;

    setup(1, NULL);
    qclient_pair(&c, g_mon, false);
    g = qclient_recv(&c, false);
    expect_shape(g, "{QMP:{capabilities:[],version:{package:str,qemu:"
                    "{major:int,micro:int,minor:int}}}}");
    v = json_object_get(json_object_get(g, "QMP"), "version");
    g_assert_cmpint(jint(json_object_get(v, "qemu"), "major"), ==, 7);
    g_assert_cmpint(jint(json_object_get(v, "qemu"), "minor"), ==, 2);
    g_assert_cmpint(jint(json_object_get(v, "qemu"), "micro"), ==, 0);
    g_assert_true(g_str_has_prefix(jstr(v, "package"), "loom-vm "));
    /* The same in query-version. */
    expect_return(qclient_cmd(&c, "{\"execute\":\"qmp_capabilities\"}"));
    r = qcall(&c, "{\"execute\":\"query-version\"}");
    g_assert_true(json_equal(r, v));
    json_decref(r);
    json_decref(g);
    stop(&c);
}

static void test_negotiation(void)
{
    struct qclient a, c;
    json_t *r;

    setup(1, NULL);
    qclient_pair(&a, g_mon, false);
    qclient_negotiate(&a);
    qclient_pair(&c, g_mon, false);
    json_decref(qclient_recv(&c, false)); /* greeting */
    /* Commands wait for negotiation; so do events. */
    expect_error(qclient_cmd(&c, "{\"execute\":\"query-status\",\"id\":5}"),
                 "CommandNotFound",
                 "Expecting capabilities negotiation with 'qmp_capabilities'");
    expect_error(qclient_cmd(&c, "{\"execute\":\"no-such\"}"),
                 "CommandNotFound", "Expecting capabilities negotiation");
    expect_return(qclient_cmd(&a, "{\"execute\":\"stop\"}"));
    json_decref(qclient_event(&a, "STOP"));
    /* Capabilities: none offered; QEMU's known one refused. */
    expect_error(qclient_cmd(&c, "{\"execute\":\"qmp_capabilities\","
                                 "\"arguments\":{\"enable\":[\"oob\"]}}"),
                 "GenericError", "Capability 'oob' not available");
    expect_error(qclient_cmd(&c, "{\"execute\":\"qmp_capabilities\","
                                 "\"arguments\":{\"enable\":[\"x\"]}}"),
                 "GenericError", "does not accept value 'x'");
    expect_error(qclient_cmd(&c, "{\"execute\":\"qmp_capabilities\","
                                 "\"arguments\":{\"enable\":\"oob\"}}"),
                 "GenericError",
                 "Invalid parameter type for 'enable', expected: array");
    expect_error(qclient_cmd(&c, "{\"execute\":\"qmp_capabilities\","
                                 "\"arguments\":{\"enable\":[1]}}"),
                 "GenericError", "expected: string");
    r = qclient_cmd(&c, "{\"execute\":\"qmp_capabilities\","
                        "\"arguments\":{\"enable\":[]},\"id\":{\"a\":[1]}}");
    g_assert_nonnull(json_object_get(r, "return"));
    g_assert_cmpint(json_object_size(json_object_get(r, "return")), ==, 0);
    json_decref(r);
    expect_error(qclient_cmd(&c, "{\"execute\":\"qmp_capabilities\"}"),
                 "CommandNotFound",
                 "Capabilities negotiation is already complete");
    /* The STOP sent before negotiation never reaches c. */
    expect_return(qclient_cmd(&c, "{\"execute\":\"query-status\"}"));
    g_assert_true(g_queue_is_empty(c.events));
    qclient_close(&a);
    stop(&c);
}

/* Any JSON value as id comes back unchanged, on returns and errors. */
static void test_ids(void)
{
    static const char *const ids[] = {
        "5",
        "-1",
        "1.5",
        "\"x\"",
        "null",
        "true",
        "[1,{\"a\":null}]",
        "{\"k\":[\"v\"],\"n\":{}}",
        "\"\\u00e9\\n\"",
    };
    struct qclient c;

    start(&c);
    for (size_t i = 0; i < G_N_ELEMENTS(ids); i++) {
        g_autofree char *ok =
            g_strdup_printf("{\"execute\":\"query-status\",\"id\":%s}", ids[i]);
        g_autofree char *bad =
            g_strdup_printf("{\"execute\":\"nope\",\"id\":%s}", ids[i]);
        json_t *want = json_loads(ids[i], JSON_DECODE_ANY, NULL);
        json_t *r;

        g_assert_nonnull(want);
        r = qclient_cmd(&c, ok);
        g_assert_true(json_equal(json_object_get(r, "id"), want));
        json_decref(r);
        r = qclient_cmd(&c, bad);
        g_assert_true(json_equal(json_object_get(r, "id"), want));
        g_assert_nonnull(json_object_get(r, "error"));
        json_decref(r);
        json_decref(want);
    }
    /* No id, no id member. */
    {
        json_t *r = qclient_cmd(&c, "{\"execute\":\"query-status\"}");

        g_assert_null(json_object_get(r, "id"));
        json_decref(r);
    }
    stop(&c);
}

static void test_envelope(void)
{
    struct qclient c;
    json_t *r;

    start(&c);
    expect_error(qclient_cmd(&c, "[1,2]\n"), "GenericError",
                 "QMP input must be a JSON object");
    expect_error(qclient_cmd(&c, "\"query-status\"\n"), "GenericError",
                 "QMP input must be a JSON object");
    expect_error(qclient_cmd(&c, "42\n"), "GenericError",
                 "QMP input must be a JSON object");
    expect_error(qclient_cmd(&c, "{}"), "GenericError",
                 "QMP input lacks member 'execute'");
    expect_error(qclient_cmd(&c, "{\"exec\":\"query-status\"}"), "GenericError",
                 "QMP input member 'exec' is unexpected");
    expect_error(qclient_cmd(&c, "{\"execute\":\"query-status\",\"x\":1}"),
                 "GenericError", "QMP input member 'x' is unexpected");
    expect_error(qclient_cmd(&c, "{\"execute\":1}"), "GenericError",
                 "QMP input member 'execute' must be a string");
    expect_error(qclient_cmd(&c, "{\"execute\":\"query-status\","
                                 "\"arguments\":[]}"),
                 "GenericError",
                 "QMP input member 'arguments' must be an object");
    expect_error(qclient_cmd(&c, "{\"execute\":\"query-status\","
                                 "\"arguments\":null}"),
                 "GenericError",
                 "QMP input member 'arguments' must be an object");
    expect_error(qclient_cmd(&c, "{\"execute\":\"no-such-command\"}"),
                 "CommandNotFound",
                 "The command no-such-command has not been found");
    /* The id is echoed on envelope errors of an object. */
    r = qclient_cmd(&c, "{\"execute\":1,\"id\":\"e\"}");
    g_assert_cmpstr(jstr(r, "id"), ==, "e");
    json_decref(r);
    stop(&c);
}

static void test_arguments(void)
{
    struct qclient c;

    start(&c);
    expect_error(qclient_cmd(&c, "{\"execute\":\"query-status\","
                                 "\"arguments\":{\"x\":1}}"),
                 "GenericError", "Parameter 'x' is unexpected");
    expect_return(qclient_cmd(&c, "{\"execute\":\"query-status\","
                                  "\"arguments\":{}}"));
    expect_error(qclient_cmd(&c, "{\"execute\":\"qom-get\",\"arguments\":"
                                 "{\"path\":\"/objects/io0\"}}"),
                 "GenericError", "Parameter 'property' is missing");
    expect_error(qclient_cmd(&c, "{\"execute\":\"qom-get\",\"arguments\":"
                                 "{\"path\":1,\"property\":\"x\"}}"),
                 "GenericError",
                 "Invalid parameter type for 'path', expected: string");
    expect_error(qclient_cmd(&c, "{\"execute\":\"qom-get\",\"arguments\":"
                                 "{\"path\":\"/objects/io0\","
                                 "\"property\":\"poll-max-ns\",\"z\":[]}}"),
                 "GenericError", "Parameter 'z' is unexpected");
    expect_error(qclient_cmd(&c, "{\"execute\":\"query-stats\","
                                 "\"arguments\":{\"target\":true}}"),
                 "GenericError", "'target', expected: string");
    stop(&c);
}

static void test_query_commands(void)
{
    static const char *const want[] = {
        "qmp_capabilities",
        "query-version",
        "query-commands",
        "query-name",
        "query-status",
        "query-kvm",
        "stop",
        "cont",
        "system_reset",
        "quit",
        "query-cpus-fast",
        "query-stats",
        "query-stats-schemas",
        "query-iothreads",
        "qom-get",
        "qom-set",
        "query-block",
        "query-blockstats",
        "x-loom-query-stats",
        "x-loom-set-vq-mapping",
    };
    struct qclient c;
    json_t *list, *e;
    size_t i;

    start(&c);
    list = qcall(&c, "{\"execute\":\"query-commands\"}");
    expect_shape(list, "[{name:str}]");
    g_assert_cmpuint(json_array_size(list), ==, G_N_ELEMENTS(want));
    json_array_foreach (list, i, e) {
        g_assert_cmpstr(jstr(e, "name"), ==, want[i]);
    }
    json_decref(list);
    stop(&c);
}

static void check_timestamp(json_t *ev)
{
    json_t *ts = json_object_get(ev, "timestamp");
    struct timeval now;

    gettimeofday(&now, NULL);
    g_assert_cmpint(json_object_size(ts), ==, 2);
    g_assert_cmpint(jint(ts, "seconds"), <=, now.tv_sec);
    g_assert_cmpint(jint(ts, "seconds"), >=, now.tv_sec - 60);
    g_assert_cmpint(jint(ts, "microseconds"), >=, 0);
    g_assert_cmpint(jint(ts, "microseconds"), <, 1000000);
}

static void expect_status(struct qclient *c, const char *status, bool running)
{
    json_t *s = qcall(c, "{\"execute\":\"query-status\"}");

    expect_shape(s, "{running:bool,singlestep:bool,status:str}");
    g_assert_cmpstr(jstr(s, "status"), ==, status);
    g_assert_true(json_is_true(json_object_get(s, "running")) == running);
    g_assert_true(json_is_false(json_object_get(s, "singlestep")));
    json_decref(s);
}

/* The event comes before the reply of the command that caused it. */
static json_t *cmd_with_event(struct qclient *c, const char *cmd,
                              const char *event)
{
    json_t *ev;

    qclient_sends(c, cmd);
    ev = qclient_recv(c, true);
    g_assert_cmpstr(jstr(ev, "event"), ==, event);
    check_timestamp(ev);
    expect_return(qclient_recv(c, true));
    return ev;
}

static void test_run_control(void)
{
    struct qclient c;
    json_t *ev, *d;

    start(&c);
    expect_status(&c, "running", true);
    ev = cmd_with_event(&c, "{\"execute\":\"stop\"}", "STOP");
    expect_shape(ev, "{event:str,timestamp:{microseconds:int,seconds:int}}");
    json_decref(ev);
    expect_status(&c, "paused", false);
    /* Stopping a stopped VM: no event. */
    expect_return(qclient_cmd(&c, "{\"execute\":\"stop\"}"));
    json_decref(cmd_with_event(&c, "{\"execute\":\"cont\"}", "RESUME"));
    expect_return(qclient_cmd(&c, "{\"execute\":\"cont\"}"));
    expect_status(&c, "running", true);
    ev = cmd_with_event(&c, "{\"execute\":\"system_reset\"}", "RESET");
    d = json_object_get(ev, "data");
    expect_shape(d, "{guest:bool,reason:str}");
    g_assert_true(json_is_false(json_object_get(d, "guest")));
    g_assert_cmpstr(jstr(d, "reason"), ==, "host-qmp-system-reset");
    json_decref(ev);
    g_assert_true(g_queue_is_empty(c.events));
    g_assert_cmpuint(g_f.stops, ==, 1);
    g_assert_cmpuint(g_f.conts, ==, 1);
    g_assert_cmpuint(g_f.resets, ==, 1);
    /* From shutdown, cont needs a reset first (QEMU's rule and words). */
    g_f.state = VMM_RUNSTATE_SHUTDOWN;
    expect_status(&c, "shutdown", false);
    expect_error(qclient_cmd(&c, "{\"execute\":\"cont\"}"), "GenericError",
                 "Resetting the Virtual Machine is required");
    g_f.state = VMM_RUNSTATE_IO_ERROR;
    expect_status(&c, "io-error", false);
    json_decref(cmd_with_event(&c, "{\"execute\":\"cont\"}", "RESUME"));
    g_f.state = VMM_RUNSTATE_PRELAUNCH;
    expect_status(&c, "prelaunch", false);
    g_f.state = VMM_RUNSTATE_RUNNING;
    ev = cmd_with_event(&c, "{\"execute\":\"quit\"}", "SHUTDOWN");
    d = json_object_get(ev, "data");
    g_assert_true(json_is_false(json_object_get(d, "guest")));
    g_assert_cmpstr(jstr(d, "reason"), ==, "host-qmp-quit");
    json_decref(ev);
    g_assert_cmpuint(g_f.quits, ==, 1);
    stop(&c);
}

/* Events reach every session in command mode, in QEMU's form. */
static void test_events(void)
{
    struct vmm_machine_event sd = {
        .kind = VMM_EVENT_SHUTDOWN,
        .guest = true,
        .cause = VMM_SHUTDOWN_GUEST_SHUTDOWN,
    };
    struct vmm_machine_event io = {
        .kind = VMM_EVENT_BLOCK_IO_ERROR,
        .device = "vda",
        .node = "drive0",
        .is_write = true,
        .action = "stop",
        .nospace = false,
        .reason = "Input/output error",
    };
    struct qclient a, b, c;
    json_t *e;

    setup(1, NULL);
    qclient_pair(&a, g_mon, false);
    qclient_pair(&b, g_mon, true);
    qclient_pair(&c, g_mon, false);
    qclient_negotiate(&a);
    qclient_negotiate(&b);
    json_decref(qclient_recv(&c, false));
    fake_emit(&g_f, &sd);
    fake_emit(&g_f, &io);
    for (int i = 0; i < 2; i++) {
        struct qclient *x = i ? &b : &a;

        e = qclient_event(x, "SHUTDOWN");
        check_timestamp(e);
        g_assert_true(
            json_is_true(json_object_get(json_object_get(e, "data"), "guest")));
        g_assert_cmpstr(jstr(json_object_get(e, "data"), "reason"), ==,
                        "guest-shutdown");
        json_decref(e);
        e = qclient_event(x, "BLOCK_IO_ERROR");
        expect_shape(json_object_get(e, "data"),
                     "{action:str,device:str,node-name:str,nospace:bool,"
                     "operation:str,reason:str}");
        g_assert_cmpstr(jstr(json_object_get(e, "data"), "operation"), ==,
                        "write");
        g_assert_cmpstr(jstr(json_object_get(e, "data"), "action"), ==, "stop");
        json_decref(e);
    }
    /* c was still negotiating: nothing for it. */
    expect_return(qclient_cmd(&c, "{\"execute\":\"qmp_capabilities\"}"));
    expect_return(qclient_cmd(&c, "{\"execute\":\"query-status\"}"));
    g_assert_true(g_queue_is_empty(c.events));
    qclient_close(&a);
    qclient_close(&b);
    stop(&c);
}

static void test_name_kvm(void)
{
    struct qclient c;
    json_t *r;

    start(&c);
    r = qcall(&c, "{\"execute\":\"query-name\"}");
    expect_shape(r, "{name:str}");
    g_assert_cmpstr(jstr(r, "name"), ==, "vm0");
    json_decref(r);
    r = qcall(&c, "{\"execute\":\"query-kvm\"}");
    expect_shape(r, "{enabled:bool,present:bool}");
    g_assert_true(json_is_true(json_object_get(r, "enabled")));
    json_decref(r);
    stop(&c);
    /* Without -name, QEMU returns an empty object. */
    setup(1, NULL);
    qclient_pair(&c, g_mon, false);
    qclient_negotiate(&c);
    r = qcall(&c, "{\"execute\":\"query-name\"}");
    g_assert_cmpint(json_object_size(r), ==, 0);
    json_decref(r);
    stop(&c);
}

static void test_query_cpus_fast(void)
{
    struct qclient c;
    json_t *list, *e, *p;
    size_t i;

    setup(4, NULL);
    qclient_pair(&c, g_mon, false);
    qclient_negotiate(&c);
    list = qcall(&c, "{\"execute\":\"query-cpus-fast\"}");
    expect_shape(list, "[{cpu-index:int,props:{core-id:int,socket-id:int,"
                       "thread-id:int},qom-path:str,target:str,"
                       "thread-id:int}]");
    g_assert_cmpuint(json_array_size(list), ==, 4);
    json_array_foreach (list, i, e) {
        g_autofree char *path =
            g_strdup_printf("/machine/unattached/device[%zu]", i ? i + 1 : 0);

        p = json_object_get(e, "props");
        g_assert_cmpint(jint(e, "cpu-index"), ==, (json_int_t)i);
        g_assert_cmpint(jint(e, "thread-id"), ==, 5000 + (json_int_t)i);
        g_assert_cmpstr(jstr(e, "target"), ==, "x86_64");
        g_assert_cmpstr(jstr(e, "qom-path"), ==, path);
        /* 2 sockets of 2 cores. */
        g_assert_cmpint(jint(p, "socket-id"), ==, (json_int_t)i / 2);
        g_assert_cmpint(jint(p, "core-id"), ==, (json_int_t)i % 2);
        g_assert_cmpint(jint(p, "thread-id"), ==, 0);
    }
    json_decref(list);
    stop(&c);
}

/* The value of statistic @name in one StatsResult's "stats". */
static json_t *stat_value(json_t *result, const char *name)
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

static void test_query_stats(void)
{
    struct qclient c;
    json_t *list, *e, *v;
    size_t i;

    start(&c);
    list = qcall(&c, "{\"execute\":\"query-stats\","
                     "\"arguments\":{\"target\":\"vcpu\"}}");
    expect_shape(list, "[{provider:str,qom-path:str,stats:[{name:str,value:"
                       "[int]}|{name:str,value:bool}|{name:str,value:int}]}]");
    g_assert_cmpuint(json_array_size(list), ==, 2);
    json_array_foreach (list, i, e) {
        g_assert_cmpstr(jstr(e, "provider"), ==, "kvm");
        g_assert_cmpint(json_integer_value(stat_value(e, "exits")), ==,
                        1000 + (json_int_t)i);
        g_assert_true(json_is_true(stat_value(e, "guest_mode")));
        v = stat_value(e, "halt_wait_hist");
        g_assert_cmpuint(json_array_size(v), ==, 4);
        g_assert_cmpint(json_integer_value(json_array_get(v, 3)), ==, 4);
        g_assert_cmpuint(json_array_size(stat_value(e, "lin_hist")), ==, 2);
    }
    g_assert_cmpstr(jstr(json_array_get(list, 1), "qom-path"), ==,
                    "/machine/unattached/device[2]");
    json_decref(list);

    list = qcall(&c, "{\"execute\":\"query-stats\","
                     "\"arguments\":{\"target\":\"vm\"}}");
    expect_shape(list, "[{provider:str,stats:[{name:str,value:int}]}]");
    g_assert_cmpint(json_integer_value(stat_value(json_array_get(list, 0),
                                                  "remote_tlb_flush")),
                    ==, 999);
    json_decref(list);

    /* Filters: names, vCPUs, providers. */
    list = qcall(&c, "{\"execute\":\"query-stats\",\"arguments\":{"
                     "\"target\":\"vcpu\",\"vcpus\":"
                     "[\"/machine/unattached/device[2]\"],\"providers\":"
                     "[{\"provider\":\"kvm\",\"names\":[\"exits\"]}]}}");
    g_assert_cmpuint(json_array_size(list), ==, 1);
    e = json_array_get(list, 0);
    g_assert_cmpuint(json_array_size(json_object_get(e, "stats")), ==, 1);
    g_assert_cmpint(json_integer_value(stat_value(e, "exits")), ==, 1001);
    json_decref(list);
    list = qcall(&c, "{\"execute\":\"query-stats\",\"arguments\":{"
                     "\"target\":\"vm\",\"providers\":[]}}");
    g_assert_cmpuint(json_array_size(list), ==, 0);
    json_decref(list);
    list = qcall(&c, "{\"execute\":\"query-stats\",\"arguments\":{"
                     "\"target\":\"vcpu\",\"vcpus\":[]}}");
    g_assert_cmpuint(json_array_size(list), ==, 0);
    json_decref(list);

    /* Errors. */
    expect_error(qclient_cmd(&c, "{\"execute\":\"query-stats\","
                                 "\"arguments\":{\"target\":\"cryptodev\"}}"),
                 "GenericError",
                 "Parameter 'target' does not accept value 'cryptodev'");
    expect_error(qclient_cmd(&c, "{\"execute\":\"query-stats\",\"arguments\":"
                                 "{\"target\":\"vm\",\"vcpus\":[]}}"),
                 "GenericError", "Parameter 'vcpus' is unexpected");
    expect_error(qclient_cmd(&c, "{\"execute\":\"query-stats\",\"arguments\":"
                                 "{\"target\":\"vm\",\"providers\":"
                                 "[{\"provider\":\"nope\"}]}}"),
                 "GenericError", "does not accept value 'nope'");
    expect_error(qclient_cmd(&c, "{\"execute\":\"query-stats\",\"arguments\":"
                                 "{\"target\":\"vm\",\"providers\":[{}]}}"),
                 "GenericError", "Parameter 'provider' is missing");
    expect_error(qclient_cmd(&c, "{\"execute\":\"query-stats\",\"arguments\":"
                                 "{\"target\":\"vm\",\"providers\":"
                                 "[{\"provider\":\"kvm\",\"names\":[1]}]}}"),
                 "GenericError", "expected: string");
    expect_error(qclient_cmd(&c, "{\"execute\":\"query-stats\",\"arguments\":"
                                 "{\"target\":\"vcpu\",\"vcpus\":[0]}}"),
                 "GenericError", "expected: string");
    expect_error(qclient_cmd(&c, "{\"execute\":\"query-stats\"}"),
                 "GenericError", "Parameter 'target' is missing");
    /* A host without binary statistics: nothing, as QEMU; a failing read
     * is an error. */
    g_f.kstats_err = -ENOTTY;
    list = qcall(&c, "{\"execute\":\"query-stats\","
                     "\"arguments\":{\"target\":\"vcpu\"}}");
    g_assert_cmpuint(json_array_size(list), ==, 0);
    json_decref(list);
    g_f.kstats_err = -EIO;
    expect_error(qclient_cmd(&c, "{\"execute\":\"query-stats\","
                                 "\"arguments\":{\"target\":\"vm\"}}"),
                 "GenericError", "cannot read KVM statistics");
    stop(&c);
}

static json_t *schema_entry(json_t *schema, const char *name)
{
    json_t *e;
    size_t i;

    json_array_foreach (json_object_get(schema, "stats"), i, e) {
        if (strcmp(jstr(e, "name"), name) == 0) {
            return e;
        }
    }
    return NULL;
}

static void test_query_stats_schemas(void)
{
    struct qclient c;
    json_t *list, *vcpu, *e;

    start(&c);
    list = qcall(&c, "{\"execute\":\"query-stats-schemas\"}");
    g_assert_cmpuint(json_array_size(list), ==, 2);
    vcpu = json_array_get(list, 0);
    g_assert_cmpstr(jstr(vcpu, "target"), ==, "vcpu");
    g_assert_cmpstr(jstr(vcpu, "provider"), ==, "kvm");
    g_assert_cmpstr(jstr(json_array_get(list, 1), "target"), ==, "vm");
    e = schema_entry(vcpu, "exits");
    expect_shape(e, "{exponent:int,name:str,type:str}");
    g_assert_cmpstr(jstr(e, "type"), ==, "cumulative");
    e = schema_entry(vcpu, "guest_mode");
    expect_shape(e, "{exponent:int,name:str,type:str,unit:str}");
    g_assert_cmpstr(jstr(e, "unit"), ==, "boolean");
    g_assert_cmpstr(jstr(e, "type"), ==, "instant");
    e = schema_entry(vcpu, "halt_wait_hist");
    expect_shape(e, "{base:int,exponent:int,name:str,type:str,unit:str}");
    g_assert_cmpstr(jstr(e, "type"), ==, "log2-histogram");
    g_assert_cmpint(jint(e, "base"), ==, 10);
    g_assert_cmpint(jint(e, "exponent"), ==, -9);
    e = schema_entry(vcpu, "lin_hist");
    g_assert_cmpint(jint(e, "bucket-size"), ==, 8);
    g_assert_cmpstr(jstr(e, "type"), ==, "linear-histogram");
    g_assert_cmpstr(
        jstr(schema_entry(json_array_get(list, 1), "max_mmu_rmap_size"),
             "type"),
        ==, "peak");
    json_decref(list);
    list = qcall(&c, "{\"execute\":\"query-stats-schemas\","
                     "\"arguments\":{\"provider\":\"kvm\"}}");
    g_assert_cmpuint(json_array_size(list), ==, 2);
    json_decref(list);
    expect_error(qclient_cmd(&c, "{\"execute\":\"query-stats-schemas\","
                                 "\"arguments\":{\"provider\":\"x\"}}"),
                 "GenericError",
                 "Parameter 'provider' does not accept value 'x'");
    stop(&c);
}

static void test_iothreads(void)
{
    struct qclient c;
    json_t *list, *e, *v;
    size_t i;

    start(&c);
    list = qcall(&c, "{\"execute\":\"query-iothreads\"}");
    expect_shape(list, "[{aio-max-batch:int,id:str,poll-grow:int,"
                       "poll-max-ns:int,poll-shrink:int,thread-id:int}]");
    g_assert_cmpuint(json_array_size(list), ==, 2);
    json_array_foreach (list, i, e) {
        g_autofree char *id = g_strdup_printf("io%zu", i);

        g_assert_cmpstr(jstr(e, "id"), ==, id);
        g_assert_cmpint(jint(e, "thread-id"), >, 0);
        g_assert_cmpint(jint(e, "thread-id"), !=, getpid());
        g_assert_cmpint(jint(e, "poll-max-ns"), ==, 32768);
    }
    json_decref(list);
    v = qcall(&c, "{\"execute\":\"qom-get\",\"arguments\":{\"path\":"
                  "\"/objects/io1\",\"property\":\"poll-max-ns\"}}");
    g_assert_cmpint(json_integer_value(v), ==, 32768);
    json_decref(v);
    expect_return(qclient_cmd(&c, "{\"execute\":\"qom-set\",\"arguments\":{"
                                  "\"path\":\"/objects/io1\",\"property\":"
                                  "\"poll-max-ns\",\"value\":1000}}"));
    expect_return(qclient_cmd(&c, "{\"execute\":\"qom-set\",\"arguments\":{"
                                  "\"path\":\"/objects/io1\",\"property\":"
                                  "\"poll-grow\",\"value\":4}}"));
    expect_return(qclient_cmd(&c, "{\"execute\":\"qom-set\",\"arguments\":{"
                                  "\"path\":\"/objects/io1\",\"property\":"
                                  "\"poll-shrink\",\"value\":3}}"));
    g_assert_cmpint(g_f.poll[1][0], ==, 1000);
    g_assert_cmpint(g_f.poll[1][1], ==, 4);
    g_assert_cmpint(g_f.poll[1][2], ==, 3);
    g_assert_cmpint(g_f.poll[0][0], ==, 32768);
    list = qcall(&c, "{\"execute\":\"query-iothreads\"}");
    e = json_array_get(list, 1);
    g_assert_cmpint(jint(e, "poll-max-ns"), ==, 1000);
    g_assert_cmpint(jint(e, "poll-grow"), ==, 4);
    g_assert_cmpint(jint(e, "poll-shrink"), ==, 3);
    json_decref(list);
    v = qcall(&c, "{\"execute\":\"qom-get\",\"arguments\":{\"path\":"
                  "\"/objects/io1\",\"property\":\"aio-max-batch\"}}");
    g_assert_cmpint(json_integer_value(v), ==, 0);
    json_decref(v);

    expect_error(qclient_cmd(&c, "{\"execute\":\"qom-get\",\"arguments\":{"
                                 "\"path\":\"/objects/nope\",\"property\":"
                                 "\"poll-max-ns\"}}"),
                 "DeviceNotFound", "Device '/objects/nope' not found");
    expect_error(qclient_cmd(&c, "{\"execute\":\"qom-get\",\"arguments\":{"
                                 "\"path\":\"/machine\",\"property\":"
                                 "\"type\"}}"),
                 "DeviceNotFound", "Device '/machine' not found");
    expect_error(qclient_cmd(&c, "{\"execute\":\"qom-get\",\"arguments\":{"
                                 "\"path\":\"/objects/io0\",\"property\":"
                                 "\"nope\"}}"),
                 "GenericError", "Property 'iothread.nope' not found");
    expect_error(qclient_cmd(&c, "{\"execute\":\"qom-set\",\"arguments\":{"
                                 "\"path\":\"/objects/io0\",\"property\":"
                                 "\"poll-max-ns\",\"value\":-1}}"),
                 "GenericError",
                 "poll-max-ns value must be in range [0, 9223372036854775807]");
    expect_error(qclient_cmd(&c, "{\"execute\":\"qom-set\",\"arguments\":{"
                                 "\"path\":\"/objects/io0\",\"property\":"
                                 "\"poll-grow\",\"value\":\"x\"}}"),
                 "GenericError",
                 "Invalid parameter type for 'poll-grow', expected: integer");
    expect_error(qclient_cmd(&c, "{\"execute\":\"qom-set\",\"arguments\":{"
                                 "\"path\":\"/objects/io0\",\"property\":"
                                 "\"poll-grow\",\"value\":1.5}}"),
                 "GenericError", "expected: integer");
    expect_error(qclient_cmd(&c, "{\"execute\":\"qom-set\",\"arguments\":{"
                                 "\"path\":\"/objects/io0\",\"property\":"
                                 "\"aio-max-batch\",\"value\":8}}"),
                 "GenericError", "cannot be changed");
    g_f.set_poll_err = -EINVAL;
    expect_error(qclient_cmd(&c, "{\"execute\":\"qom-set\",\"arguments\":{"
                                 "\"path\":\"/objects/io0\",\"property\":"
                                 "\"poll-max-ns\",\"value\":5}}"),
                 "GenericError", "poll-max-ns");
    g_assert_cmpint(g_f.poll[0][0], ==, 32768);
    stop(&c);
}

static void test_loom_stats(void)
{
    struct qclient c;
    json_t *s, *e;
    size_t i;

    start(&c);
    s = qcall(&c, "{\"execute\":\"x-loom-query-stats\"}");
    expect_shape(json_object_get(s, "loops"),
                 "[{bh-runs:int,fd-events:int,fdmon:str,iterations:int,"
                 "name:str,notify-sent:int,notify-skipped:int,poll-hits:int,"
                 "poll-misses:int,poll-ns:int,timer-runs:int}]");
    g_assert_cmpuint(json_array_size(json_object_get(s, "loops")), ==, 3);
    g_assert_cmpstr(
        jstr(json_array_get(json_object_get(s, "loops"), 0), "name"), ==,
        "main");
    g_assert_cmpstr(
        jstr(json_array_get(json_object_get(s, "loops"), 2), "name"), ==,
        "io1");
    /* The main loop has been running this conversation. */
    g_assert_cmpint(
        jint(json_array_get(json_object_get(s, "loops"), 0), "iterations"), >,
        0);
    expect_shape(json_object_get(s, "vcpus"),
                 "[{cpu-index:int,exec-count:int,exits-intr:int,exits-io:int,"
                 "exits-mmio:int,exits-other:int,guest-ns:int,halts:int,"
                 "kicks:int,"
                 "kvm-runs:int,last-exit-reason:int,safe-work-items:int,"
                 "signal-kicks:int,stops:int,thread-id:int,work-items:int}]");
    json_array_foreach (json_object_get(s, "vcpus"), i, e) {
        g_assert_cmpint(jint(e, "kvm-runs"), ==, 100 + (json_int_t)i);
        g_assert_cmpint(jint(e, "guest-ns"), ==, 1000000 * ((json_int_t)i + 1));
    }
    e = json_object_get(s, "monitor");
    g_assert_cmpint(jint(e, "sessions"), ==, 1);
    g_assert_cmpint(jint(e, "commands"), ==, 2);
    g_assert_true(json_is_array(json_object_get(s, "pools")));
    json_decref(s);
    stop(&c);
}

static void test_block(void)
{
    struct qclient c;
    json_t *list, *e, *st;
    size_t i;

    start(&c);
    g_f.nr_drives = 2;
    g_f.io_status[1] = -ENOSPC;
    list = qcall(&c, "{\"execute\":\"query-block\"}");
    expect_shape(list,
                 "[{device:str,inserted:{backing_file_depth:int,bps:int,"
                 "bps_rd:int,bps_wr:int,cache:{direct:bool,no-flush:bool,"
                 "writeback:bool},detect_zeroes:str,drv:str,encrypted:bool,"
                 "file:str,image:{actual-size:int,dirty-flag:bool,"
                 "filename:str,format:str,virtual-size:int},iops:int,"
                 "iops_rd:int,iops_wr:int,node-name:str,ro:bool,"
                 "write_threshold:int},io-status:str,locked:bool,qdev:str,"
                 "removable:bool,type:str}]");
    e = json_array_get(list, 0);
    g_assert_cmpstr(jstr(e, "device"), ==, "d0");
    g_assert_cmpstr(jstr(e, "qdev"), ==, "vda");
    g_assert_cmpstr(jstr(e, "io-status"), ==, "ok");
    g_assert_true(json_is_true(json_object_get(
        json_object_get(json_object_get(e, "inserted"), "cache"), "direct")));
    g_assert_cmpint(
        jint(json_object_get(json_object_get(e, "inserted"), "image"),
             "virtual-size"),
        ==, 1 << 20);
    e = json_array_get(list, 1);
    g_assert_cmpstr(jstr(e, "qdev"), ==,
                    "/machine/peripheral-anon/device[1]/virtio-backend");
    g_assert_cmpstr(jstr(e, "io-status"), ==, "nospace");
    g_assert_true(
        json_is_true(json_object_get(json_object_get(e, "inserted"), "ro")));
    json_decref(list);

    list = qcall(&c, "{\"execute\":\"query-blockstats\"}");
    g_assert_cmpuint(json_array_size(list), ==, 2);
    json_array_foreach (list, i, e) {
        st = json_object_get(e, "stats");
        g_assert_cmpint(jint(st, "rd_operations"), ==, 10 + (json_int_t)i);
        g_assert_cmpint(jint(st, "wr_bytes"), ==, 81920);
        g_assert_cmpint(jint(st, "failed_wr_operations"), ==, 2);
        g_assert_cmpint(jint(st, "invalid_rd_operations"), ==, 4);
        g_assert_cmpint(jint(st, "wr_highest_offset"), ==, 1 << 20);
        g_assert_true(json_is_true(json_object_get(st, "account_failed")));
        /* The file node: same requests, no failure accounting. */
        st = json_object_get(json_object_get(e, "parent"), "stats");
        g_assert_cmpint(jint(st, "wr_operations"), ==, 20);
        g_assert_cmpint(jint(st, "failed_wr_operations"), ==, 0);
        st = json_object_get(json_object_get(e, "parent"), "driver-specific");
        g_assert_cmpint(jint(st, "discard-nb-ok"), ==, 2);
        g_assert_cmpint(jint(st, "discard-nb-failed"), ==, 1);
    }
    expect_shape(json_object_get(json_array_get(list, 0), "parent"),
                 "{driver-specific:{discard-bytes-ok:int,discard-nb-failed:"
                 "int,discard-nb-ok:int,driver:str},node-name:str,stats:{"
                 "account_failed:bool,account_invalid:bool,failed_flush_"
                 "operations:int,failed_rd_operations:int,failed_unmap_"
                 "operations:int,failed_wr_operations:int,flush_operations:"
                 "int,flush_total_time_ns:int,invalid_flush_operations:int,"
                 "invalid_rd_operations:int,invalid_unmap_operations:int,"
                 "invalid_wr_operations:int,rd_bytes:int,rd_merged:int,"
                 "rd_operations:int,rd_total_time_ns:int,timed_stats:[],"
                 "unmap_bytes:int,unmap_merged:int,unmap_operations:int,"
                 "unmap_total_time_ns:int,wr_bytes:int,wr_highest_offset:int,"
                 "wr_merged:int,wr_operations:int,wr_total_time_ns:int}}");
    json_decref(list);
    expect_error(qclient_cmd(&c, "{\"execute\":\"query-blockstats\","
                                 "\"arguments\":{\"query-nodes\":1}}"),
                 "GenericError", "expected: boolean");

    /* Every virtqueue in x-loom-query-stats. */
    st = qcall(&c, "{\"execute\":\"x-loom-query-stats\"}");
    list = json_object_get(st, "virtqueues");
    g_assert_cmpuint(json_array_size(list), ==, 4);
    e = json_array_get(list, 1);
    g_assert_cmpstr(jstr(e, "device"), ==, "vda");
    g_assert_cmpint(jint(e, "queue"), ==, 1);
    g_assert_cmpstr(jstr(e, "iothread"), ==, "io0");
    g_assert_cmpint(jint(e, "processed"), ==, 7);
    g_assert_cmpint(jint(e, "answered"), ==, 5);
    g_assert_cmpint(jint(e, "dropped"), ==, 1);
    g_assert_cmpint(jint(e, "in-flight"), ==, 1);
    g_assert_cmpint(jint(e, "service-ns"), ==, 25000);
    g_assert_cmpuint(json_array_size(json_object_get(e, "wait-hist")), ==, 32);
    g_assert_cmpint(
        json_integer_value(json_array_get(json_object_get(e, "wait-hist"), 20)),
        ==, 1);
    g_assert_cmpint(json_integer_value(
                        json_array_get(json_object_get(e, "service-hist"), 12)),
                    ==, 5);
    expect_shape(list, "[{answered:int,broken:int,device:str,dropped:int,"
                       "in-flight:int,iothread:str,irqs:int,irqs-suppressed:"
                       "int,kicks:int,kicks-ignored:int,moves:int,"
                       "notify-suppressed:int,poll-hits:int,processed:int,"
                       "queue:int,service-hist:[int],service-ns:int,"
                       "wait-hist:[int],wait-ns:int}]");
    g_assert_cmpstr(jstr(json_array_get(list, 0), "iothread"), ==, "io0");
    g_assert_cmpstr(jstr(json_array_get(list, 3), "iothread"), ==, "main");
    /* And every drive's backend counters. */
    list = json_object_get(st, "drives");
    expect_shape(list, "[{device:str,flushes:int,qdev:str,retried:int,"
                       "syncs:int}]");
    g_assert_cmpuint(json_array_size(list), ==, 2);
    e = json_array_get(list, 0);
    g_assert_cmpstr(jstr(e, "device"), ==, "d0");
    g_assert_cmpstr(jstr(e, "qdev"), ==, "vda");
    g_assert_cmpint(jint(e, "flushes"), ==, 6);
    g_assert_cmpint(jint(e, "syncs"), ==, 5);
    g_assert_cmpint(jint(json_array_get(list, 1), "syncs"), ==, 6);
    json_decref(st);
    stop(&c);
}

/* Send x-loom-set-vq-mapping for @dev with mapping @map (JSON text). */
static json_t *set_map(struct qclient *c, const char *dev, const char *map)
{
    char *cmd = g_strdup_printf("{\"execute\":\"x-loom-set-vq-mapping\","
                                "\"arguments\":{\"device\":\"%s\","
                                "\"iothread-vq-mapping\":%s}}",
                                dev, map);
    json_t *r = qclient_cmd(c, cmd);

    g_free(cmd);
    return r;
}

/* The IOThread x-loom-query-stats shows for virtqueue @i (in order). */
static void expect_vq_iothread(struct qclient *c, unsigned i, const char *io)
{
    json_t *st = qcall(c, "{\"execute\":\"x-loom-query-stats\"}");

    g_assert_cmpstr(
        jstr(json_array_get(json_object_get(st, "virtqueues"), i), "iothread"),
        ==, io);
    json_decref(st);
}

static void test_set_vq_mapping(void)
{
    static const struct {
        const char *dev, *map, *desc;
    } bad[] = {
        /* The device. */
        {"nope", "[{\"iothread\":\"io1\"}]", "Device 'nope' not found"},
        {"d0", "[{\"iothread\":\"io1\"}]", "Device 'd0' not found"},
        {"/machine/peripheral-anon/device[1]/virtio-backend",
         "[{\"iothread\":\"io1\"}]",
         "is not served by IOThreads (queue 0 runs in the main loop)"},
        /* The mapping's structure, with QEMU's nested names. */
        {"vda", "[]", "Parameter 'iothread-vq-mapping' must not be empty"},
        {"vda", "[1]",
         "Invalid parameter type for 'iothread-vq-mapping[0]', expected: "
         "object"},
        {"vda", "[{}]",
         "Parameter 'iothread-vq-mapping[0].iothread' is "
         "missing"},
        {"vda", "[{\"iothread\":5}]",
         "Invalid parameter type for 'iothread-vq-mapping[0].iothread', "
         "expected: string"},
        {"vda", "[{\"iothread\":\"io1\",\"vqs\":{}}]",
         "Invalid parameter type for 'iothread-vq-mapping[0].vqs', "
         "expected: array"},
        {"vda", "[{\"iothread\":\"io1\",\"vqs\":[0,\"1\"]}]",
         "Invalid parameter type for 'iothread-vq-mapping[0].vqs[1]', "
         "expected: integer"},
        {"vda", "[{\"iothread\":\"io1\",\"vqs\":[1.0]}]",
         "'iothread-vq-mapping[0].vqs[0]', expected: integer"},
        {"vda", "[{\"iothread\":\"io1\",\"x\":1}]",
         "Parameter 'iothread-vq-mapping[0].x' is unexpected"},
        /* What it means. */
        {"vda", "[{\"iothread\":\"io7\"}]", "IOThread 'io7' not found"},
        {"vda", "[{\"iothread\":\"io1\"},{\"iothread\":\"io1\"}]",
         "IOThread 'io1' is listed twice"},
        {"vda", "[{\"iothread\":\"io1\",\"vqs\":[2]}]",
         "vq 2 is out of range: the device has 2 queues"},
        {"vda", "[{\"iothread\":\"io1\",\"vqs\":[-1]}]",
         "vq -1 is out of range"},
        {"vda", "[{\"iothread\":\"io1\",\"vqs\":[1,1]}]",
         "vq 1 is listed twice"},
        {"vda",
         "[{\"iothread\":\"io1\",\"vqs\":[1]},"
         "{\"iothread\":\"io0\",\"vqs\":[1]}]",
         "vq 1 is listed twice"},
        {"vda", "[{\"iothread\":\"io1\",\"vqs\":[1]},{\"iothread\":\"io0\"}]",
         "Either all or no entries of 'iothread-vq-mapping' must list vqs"},
    };
    struct qclient c;
    size_t i;

    start(&c);
    g_f.nr_drives = 2;
    for (i = 0; i < G_N_ELEMENTS(bad); i++) {
        expect_error(set_map(&c, bad[i].dev, bad[i].map), "GenericError",
                     bad[i].desc);
    }
    expect_error(qclient_cmd(&c, "{\"execute\":\"x-loom-set-vq-mapping\","
                                 "\"arguments\":{\"device\":\"vda\"}}"),
                 "GenericError", "Parameter 'iothread-vq-mapping' is missing");
    expect_error(qclient_cmd(&c, "{\"execute\":\"x-loom-set-vq-mapping\","
                                 "\"arguments\":{\"device\":\"vda\","
                                 "\"iothread-vq-mapping\":{}}}"),
                 "GenericError", "'iothread-vq-mapping', expected: array");
    /* Nothing was moved by any of them. */
    g_assert_cmpuint(g_f.vq_moves, ==, 0);
    g_assert_cmpint(g_f.vq_io[0][0], ==, 0);
    g_assert_cmpint(g_f.vq_io[0][1], ==, 0);

    /* One queue by name; the other stays. */
    expect_return(set_map(&c, "vda", "[{\"iothread\":\"io1\",\"vqs\":[1]}]"));
    g_assert_cmpint(g_f.vq_io[0][0], ==, 0);
    g_assert_cmpint(g_f.vq_io[0][1], ==, 1);
    expect_vq_iothread(&c, 0, "io0");
    expect_vq_iothread(&c, 1, "io1");
    /* Every queue listed, swapped. */
    expect_return(set_map(&c, "vda",
                          "[{\"iothread\":\"io0\",\"vqs\":[1]},"
                          "{\"iothread\":\"io1\",\"vqs\":[0]}]"));
    expect_vq_iothread(&c, 0, "io1");
    expect_vq_iothread(&c, 1, "io0");
    /* No vqs: round-robin over the entries, in their order. */
    expect_return(
        set_map(&c, "vda", "[{\"iothread\":\"io0\"},{\"iothread\":\"io1\"}]"));
    g_assert_cmpint(g_f.vq_io[0][0], ==, 0);
    g_assert_cmpint(g_f.vq_io[0][1], ==, 1);
    expect_return(set_map(&c, "vda", "[{\"iothread\":\"io1\"}]"));
    g_assert_cmpint(g_f.vq_io[0][0], ==, 1);
    g_assert_cmpint(g_f.vq_io[0][1], ==, 1);
    /* An entry may list no vq (its IOThread gets none). */
    expect_return(set_map(&c, "vda",
                          "[{\"iothread\":\"io0\",\"vqs\":[]},"
                          "{\"iothread\":\"io1\",\"vqs\":[0]}]"));
    g_assert_cmpuint(g_f.vq_moves, ==, 5);
    /* The machine's error. */
    g_f.set_vq_map_err = -ENOMEM;
    expect_error(set_map(&c, "vda", "[{\"iothread\":\"io0\"}]"), "GenericError",
                 "Cannot move the queues of 'vda': ");
    g_assert_cmpint(g_f.vq_io[0][0], ==, 1);
    stop(&c);
}

/* -mon pretty=on: indented replies, still one message each. */
static void test_pretty(void)
{
    struct qclient c;
    json_t *r;

    setup(1, "p");
    qclient_pair(&c, g_mon, true);
    qclient_negotiate(&c);
    qclient_sends(&c, "{\"execute\":\"query-name\"}");
    r = qclient_recv(&c, false);
    g_assert_cmpstr(jstr(json_object_get(r, "return"), "name"), ==, "p");
    json_decref(r);
    /* The raw bytes span lines. */
    qclient_sends(&c, "{\"execute\":\"query-status\"}");
    while (!strstr(c.in->str, "}\r\n")) {
        qmp_spin(1);
        (void)qclient_wait_eof(&c, 1);
    }
    g_assert_nonnull(strstr(c.in->str, "{\r\n    \"return\": {\r\n"));
    expect_return(qclient_recv(&c, false));
    stop(&c);
}

int main(int argc, char **argv)
{
    int r;

    harness_init(&argc, &argv);
    qmp_test_main_init();
    g_test_add_func("/qmp/greeting", test_greeting);
    g_test_add_func("/qmp/negotiation", test_negotiation);
    g_test_add_func("/qmp/ids", test_ids);
    g_test_add_func("/qmp/envelope", test_envelope);
    g_test_add_func("/qmp/arguments", test_arguments);
    g_test_add_func("/qmp/query-commands", test_query_commands);
    g_test_add_func("/qmp/run-control", test_run_control);
    g_test_add_func("/qmp/events", test_events);
    g_test_add_func("/qmp/name-kvm", test_name_kvm);
    g_test_add_func("/qmp/query-cpus-fast", test_query_cpus_fast);
    g_test_add_func("/qmp/query-stats", test_query_stats);
    g_test_add_func("/qmp/query-stats-schemas", test_query_stats_schemas);
    g_test_add_func("/qmp/iothreads", test_iothreads);
    g_test_add_func("/qmp/x-loom-query-stats", test_loom_stats);
    g_test_add_func("/qmp/block", test_block);
    g_test_add_func("/qmp/set-vq-mapping", test_set_vq_mapping);
    g_test_add_func("/qmp/pretty", test_pretty);
    r = g_test_run();
    qmp_test_main_cleanup();
    return r;
}
