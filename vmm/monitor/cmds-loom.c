/* SPDX-License-Identifier: MIT */
/*
 * x-loom-query-stats: what QEMU's query-stats cannot show — libloom's
 * own counters, live: every loop (the main loop and each IOThread's),
 * every IOThread's thread pool, every vCPU (the vCPU layer's and the KVM
 * accelerator's counters), every virtqueue (the dataplane's), every
 * drive's backend (its syncs) and the monitor itself.  Counters are read
 * atomically one by one, not as a snapshot.  And x-loom-set-vq-mapping:
 * move a block device's queues between IOThreads while the guest runs.
 * Main thread, BQL held.
 */
#include "monitor/qmp-int.h"

#include <stdio.h>
#include <string.h>

#include <loom/iothread.h>
#include <loom/loop.h>
#include <loom/main.h>

static const char *fdmon_name(enum loom_fdmon f)
{
    switch (f) {
    case LOOM_FDMON_POLL:
        return "poll";
    case LOOM_FDMON_EPOLL:
        return "epoll";
    case LOOM_FDMON_IO_URING:
        return "io_uring";
    case LOOM_FDMON_AUTO:
        break;
    }
    return "auto";
}

static json_t *loop_json(const char *name, const struct loom_loop_stats *st)
{
    json_t *o =
        json_pack("{s:s,s:I,s:s}", "name", name, "poll-ns",
                  (json_int_t)st->poll_ns, "fdmon", fdmon_name(st->fdmon));

    if (!o || !vmm__qmp_set(o, "iterations", vmm__qmp_u64(st->iterations)) ||
        !vmm__qmp_set(o, "bh-runs", vmm__qmp_u64(st->bh_runs)) ||
        !vmm__qmp_set(o, "fd-events", vmm__qmp_u64(st->fd_events)) ||
        !vmm__qmp_set(o, "timer-runs", vmm__qmp_u64(st->timer_runs)) ||
        !vmm__qmp_set(o, "poll-hits", vmm__qmp_u64(st->poll_hits)) ||
        !vmm__qmp_set(o, "poll-misses", vmm__qmp_u64(st->poll_misses)) ||
        !vmm__qmp_set(o, "notify-sent", vmm__qmp_u64(st->notify_sent)) ||
        !vmm__qmp_set(o, "notify-skipped", vmm__qmp_u64(st->notify_skipped))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *pool_json(const char *loop, const struct loom_pool_stats *st)
{
    json_t *o = json_pack("{s:s,s:i,s:i,s:I}", "loop", loop, "min-workers",
                          st->min_workers, "max-workers", st->max_workers,
                          "idle-ns", (json_int_t)st->idle_ns);

    if (!o || !vmm__qmp_set(o, "submitted", vmm__qmp_u64(st->submitted)) ||
        !vmm__qmp_set(o, "completed", vmm__qmp_u64(st->completed)) ||
        !vmm__qmp_set(o, "cancelled", vmm__qmp_u64(st->cancelled)) ||
        !vmm__qmp_set(o, "queued", vmm__qmp_u64(st->queued)) ||
        !vmm__qmp_set(o, "running", vmm__qmp_u64(st->running)) ||
        !vmm__qmp_set(o, "workers", vmm__qmp_u64(st->workers)) ||
        !vmm__qmp_set(o, "idle-workers", vmm__qmp_u64(st->idle_workers))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *vcpu_json(const struct vmm_machine_cpu_info *ci,
                         const struct vmm_machine_cpu_stats *st)
{
    json_t *o =
        json_pack("{s:i,s:i,s:i}", "cpu-index", (int)ci->index, "thread-id",
                  ci->thread_id, "last-exit-reason", (int)st->last_exit_reason);

    if (!o || !vmm__qmp_set(o, "exec-count", vmm__qmp_u64(st->exec_count)) ||
        !vmm__qmp_set(o, "kicks", vmm__qmp_u64(st->kicks)) ||
        !vmm__qmp_set(o, "work-items", vmm__qmp_u64(st->work_items)) ||
        !vmm__qmp_set(o, "safe-work-items",
                      vmm__qmp_u64(st->safe_work_items)) ||
        !vmm__qmp_set(o, "halts", vmm__qmp_u64(st->halts)) ||
        !vmm__qmp_set(o, "stops", vmm__qmp_u64(st->stops)) ||
        !vmm__qmp_set(o, "kvm-runs", vmm__qmp_u64(st->runs)) ||
        !vmm__qmp_set(o, "exits-io", vmm__qmp_u64(st->exits_io)) ||
        !vmm__qmp_set(o, "exits-mmio", vmm__qmp_u64(st->exits_mmio)) ||
        !vmm__qmp_set(o, "exits-intr", vmm__qmp_u64(st->exits_intr)) ||
        !vmm__qmp_set(o, "exits-other", vmm__qmp_u64(st->exits_other)) ||
        !vmm__qmp_set(o, "signal-kicks", vmm__qmp_u64(st->signal_kicks)) ||
        !vmm__qmp_set(o, "guest-ns", vmm__qmp_u64(st->guest_ns))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *monitor_json(struct vmm_monitor *mon)
{
    struct vmm_monitor_stats st;
    json_t *o;

    vmm_monitor_stats(mon, &st);
    o = json_pack("{s:i}", "sessions", (int)st.sessions);
    if (!o || !vmm__qmp_set(o, "accepted", vmm__qmp_u64(st.accepted)) ||
        !vmm__qmp_set(o, "refused", vmm__qmp_u64(st.refused)) ||
        !vmm__qmp_set(o, "dropped", vmm__qmp_u64(st.dropped)) ||
        !vmm__qmp_set(o, "commands", vmm__qmp_u64(st.commands)) ||
        !vmm__qmp_set(o, "errors", vmm__qmp_u64(st.errors)) ||
        !vmm__qmp_set(o, "events", vmm__qmp_u64(st.events))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Loops and pools: the main loop's, then each IOThread's. */
static bool add_loops(struct qmp_ctx *c, json_t *loops, json_t *pools,
                      struct qmp_error **errp)
{
    unsigned i, n = c->ops->nr_iothreads(c->opaque);
    struct loom_loop_stats ls;

    loom_loop_stats(loom_main_loop(), &ls);
    if (json_array_append_new(loops, loop_json("main", &ls)) < 0) {
        return false;
    }
    for (i = 0; i < n; i++) {
        struct vmm_machine_iothread_info it;
        struct loom_iothread_stats st;
        int r = c->ops->iothread_info(c->opaque, i, &it);

        if (r < 0) {
            vmm__qmp_error_set(errp, QMP_ERR_GENERIC, "IOThread %u: %s", i,
                               strerror(-r));
            return false;
        }
        loom_iothread_stats(it.io, &st);
        if (json_array_append_new(loops, loop_json(it.id, &st.loop)) < 0 ||
            (st.has_pool &&
             json_array_append_new(pools, pool_json(it.id, &st.pool)) < 0)) {
            return false;
        }
    }
    return true;
}

static bool add_vcpus(struct qmp_ctx *c, json_t *vcpus, struct qmp_error **errp)
{
    unsigned i, n = c->ops->nr_cpus(c->opaque);

    for (i = 0; i < n; i++) {
        struct vmm_machine_cpu_info ci;
        struct vmm_machine_cpu_stats st;
        int r = c->ops->cpu_info(c->opaque, i, &ci);

        if (r == 0) {
            r = c->ops->cpu_stats(c->opaque, i, &st);
        }
        if (r < 0) {
            vmm__qmp_error_set(errp, QMP_ERR_GENERIC, "vCPU %u: %s", i,
                               strerror(-r));
            return false;
        }
        if (json_array_append_new(vcpus, vcpu_json(&ci, &st)) < 0) {
            return false;
        }
    }
    return true;
}

static json_t *cmd_x_loom_query_stats(struct qmp_ctx *c, json_t *args,
                                      struct qmp_error **errp)
{
    json_t *o = json_pack("{s:[],s:[],s:[]}", "loops", "pools", "vcpus");

    if (!o) {
        return NULL;
    }
    if (!add_loops(c, json_object_get(o, "loops"), json_object_get(o, "pools"),
                   errp) ||
        !add_vcpus(c, json_object_get(o, "vcpus"), errp) ||
        !vmm__qmp_set(o, "virtqueues", vmm__qmp_virtqueues_json(c, errp)) ||
        !vmm__qmp_set(o, "drives", vmm__qmp_drives_json(c, errp)) ||
        !vmm__qmp_set(o, "monitor", monitor_json(c->mon))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ------------------------------------------------------------------ */
/* x-loom-set-vq-mapping                                               */
/* ------------------------------------------------------------------ */

#define MAP_ARG "iothread-vq-mapping"

/* The block device named @name (its id or its qdev path), or -1. */
static int find_drive(struct qmp_ctx *c, const char *name,
                      struct vmm_machine_drive_info *d)
{
    unsigned i, n = c->ops->nr_drives(c->opaque);
    char qdev[96];

    for (i = 0; i < n; i++) {
        if (c->ops->drive_info(c->opaque, i, d) < 0) {
            continue;
        }
        vmm__qmp_qdev_of(d, qdev, sizeof(qdev));
        if (strcmp(qdev, name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* The index of IOThread @id, or -1. */
static int find_iothread(struct qmp_ctx *c, const char *id)
{
    const struct vmm_config *cfg = c->ops->config(c->opaque);
    unsigned i, n = c->ops->nr_iothreads(c->opaque);

    for (i = 0; id && i < n && i < cfg->nr_iothreads; i++) {
        if (cfg->iothreads[i].id && strcmp(cfg->iothreads[i].id, id) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/*
 * Check entry @k of the mapping ({"iothread": ID, "vqs": [N, ...]}, vqs
 * optional) with QEMU's nested parameter names; its IOThread index.
 */
static int check_entry(struct qmp_ctx *c, size_t k, json_t *e,
                       struct qmp_error **errp)
{
    const char *key;
    json_t *v, *vqs;
    char what[112];
    size_t j;
    int io;

    snprintf(what, sizeof(what), MAP_ARG "[%zu]", k);
    if (!vmm__qmp_check_type(what, e, QMP_T_OBJECT, errp)) {
        return -1;
    }
    v = json_object_get(e, "iothread");
    if (!v) {
        vmm__qmp_error_set(errp, QMP_ERR_GENERIC,
                           "Parameter '%s.iothread' is missing", what);
        return -1;
    }
    snprintf(what, sizeof(what), MAP_ARG "[%zu].iothread", k);
    if (!vmm__qmp_check_type(what, v, QMP_T_STR, errp)) {
        return -1;
    }
    vqs = json_object_get(e, "vqs");
    snprintf(what, sizeof(what), MAP_ARG "[%zu].vqs", k);
    if (vqs && !vmm__qmp_check_type(what, vqs, QMP_T_ARRAY, errp)) {
        return -1;
    }
    json_array_foreach (vqs, j, v) {
        snprintf(what, sizeof(what), MAP_ARG "[%zu].vqs[%zu]", k, j);
        if (!vmm__qmp_check_type(what, v, QMP_T_INT, errp)) {
            return -1;
        }
    }
    json_object_foreach (e, key, v) {
        if (strcmp(key, "iothread") != 0 && strcmp(key, "vqs") != 0) {
            vmm__qmp_error_set(errp, QMP_ERR_GENERIC,
                               "Parameter '" MAP_ARG "[%zu].%s' is unexpected",
                               k, key);
            return -1;
        }
    }
    key = json_string_value(json_object_get(e, "iothread"));
    io = find_iothread(c, key);
    if (io < 0) {
        vmm__qmp_error_set(errp, QMP_ERR_GENERIC, "IOThread '%s' not found",
                           key);
    }
    return io;
}

/*
 * The new IOThread of each queue of @d into @which: QEMU's
 * iothread-vq-mapping rules (every entry lists its vqs, or none does and
 * the queues are dealt round-robin over the entries; a vq at most once,
 * an IOThread in one entry), except that queues no entry lists stay
 * where they are.
 */
static bool resolve_mapping(struct qmp_ctx *c,
                            const struct vmm_machine_drive_info *d, json_t *map,
                            unsigned *which, struct qmp_error **errp)
{
    bool listed = false, seen[VMM_MAX_QUEUES] = {false};
    int io[VMM_MAX_IOTHREADS];
    size_t k, j, n = json_array_size(map);
    json_t *e, *v;

    if (n == 0) {
        vmm__qmp_error_set(errp, QMP_ERR_GENERIC,
                           "Parameter '" MAP_ARG "' must not be empty");
        return false;
    }
    if (n > VMM_MAX_IOTHREADS) {
        vmm__qmp_error_set(errp, QMP_ERR_GENERIC,
                           "Parameter '" MAP_ARG "' has more than %d entries",
                           VMM_MAX_IOTHREADS);
        return false;
    }
    json_array_foreach (map, k, e) {
        io[k] = check_entry(c, k, e, errp);
        if (io[k] < 0) {
            return false;
        }
        for (j = 0; j < k; j++) {
            if (io[j] == io[k]) {
                vmm__qmp_error_set(
                    errp, QMP_ERR_GENERIC, "IOThread '%s' is listed twice",
                    json_string_value(json_object_get(e, "iothread")));
                return false;
            }
        }
        if (k == 0) {
            listed = json_object_get(e, "vqs") != NULL;
        } else if (listed != (json_object_get(e, "vqs") != NULL)) {
            vmm__qmp_error_set(errp, QMP_ERR_GENERIC,
                               "Either all or no entries of '" MAP_ARG
                               "' must list vqs");
            return false;
        }
    }
    if (!listed) {
        for (j = 0; j < d->num_queues; j++) {
            which[j] = (unsigned)io[j % n];
        }
        return true;
    }
    json_array_foreach (map, k, e) {
        json_array_foreach (json_object_get(e, "vqs"), j, v) {
            json_int_t q = json_integer_value(v);

            if (q < 0 || q >= (json_int_t)d->num_queues) {
                vmm__qmp_error_set(errp, QMP_ERR_GENERIC,
                                   "vq %" JSON_INTEGER_FORMAT
                                   " is out of range: the device has %u "
                                   "queues",
                                   q, d->num_queues);
                return false;
            }
            if (seen[q]) {
                vmm__qmp_error_set(
                    errp, QMP_ERR_GENERIC,
                    "vq %" JSON_INTEGER_FORMAT " is listed twice", q);
                return false;
            }
            seen[q] = true;
            which[q] = (unsigned)io[k];
        }
    }
    return true;
}

static json_t *cmd_x_loom_set_vq_mapping(struct qmp_ctx *c, json_t *args,
                                         struct qmp_error **errp)
{
    const char *name = json_string_value(json_object_get(args, "device"));
    unsigned which[VMM_MAX_QUEUES];
    struct vmm_machine_drive_info d;
    unsigned q;
    int i, r;

    i = find_drive(c, name, &d);
    if (i < 0) {
        vmm__qmp_error_set(errp, QMP_ERR_GENERIC, "Device '%s' not found",
                           name);
        return NULL;
    }
    if (d.num_queues > VMM_MAX_QUEUES) {
        vmm__qmp_error_set(errp, QMP_ERR_GENERIC, "Device '%s': %u queues",
                           name, d.num_queues);
        return NULL;
    }
    /* Where each queue is now: queues no entry lists stay there. */
    for (q = 0; q < d.num_queues; q++) {
        r = find_iothread(c, d.queue_iothread[q]);
        if (r < 0) {
            vmm__qmp_error_set(errp, QMP_ERR_GENERIC,
                               "Device '%s' is not served by IOThreads (queue "
                               "%u runs in the main loop)",
                               name, q);
            return NULL;
        }
        which[q] = (unsigned)r;
    }
    if (!resolve_mapping(c, &d, json_object_get(args, MAP_ARG), which, errp)) {
        return NULL;
    }
    r = c->ops->set_vq_mapping(c->opaque, (unsigned)i, which);
    if (r < 0) {
        vmm__qmp_error_set(errp, QMP_ERR_GENERIC,
                           "Cannot move the queues of '%s': %s", name,
                           strerror(-r));
        return NULL;
    }
    return json_object();
}

static const struct qmp_arg g_set_vq_mapping_args[] = {
    {"device", QMP_T_STR, false},
    {MAP_ARG, QMP_T_ARRAY, false},
    {NULL},
};

const struct qmp_cmd vmm__qmp_cmds_loom[] = {
    {"x-loom-query-stats", cmd_x_loom_query_stats, NULL},
    {"x-loom-set-vq-mapping", cmd_x_loom_set_vq_mapping, g_set_vq_mapping_args},
    {NULL},
};
