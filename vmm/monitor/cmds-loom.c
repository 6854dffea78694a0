/* SPDX-License-Identifier: MIT */
/*
 * x-loom-query-stats: what QEMU's query-stats cannot show — libloom's
 * own counters, live: every loop (the main loop and each IOThread's),
 * every IOThread's thread pool, every vCPU (the vCPU layer's and the KVM
 * accelerator's counters), every virtqueue (the dataplane's), every
 * drive's backend (its syncs) and the monitor itself.  Counters are read
 * atomically one by one, not as a snapshot.  Main thread, BQL held.
 */
#include "monitor/qmp-int.h"

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

const struct qmp_cmd vmm__qmp_cmds_loom[] = {
    {"x-loom-query-stats", cmd_x_loom_query_stats, NULL},
    {NULL},
};
