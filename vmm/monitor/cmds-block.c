/* SPDX-License-Identifier: MIT */
/*
 * Block commands: query-block and query-blockstats in QEMU 7.2's shapes,
 * one entry per virtio-blk device and its drive (format raw over a file
 * node, as QEMU with -drive format=raw).  Values loom-vm does not have
 * are what they mean in QEMU: no I/O throttling (limits 0), no write
 * threshold, no request merging (merged 0), no interval statistics.
 * Main thread, BQL held.
 */
#include "monitor/qmp-int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void vmm__qmp_qdev_of(const struct vmm_machine_drive_info *d, char *buf,
                      size_t len)
{
    if (d->id) {
        snprintf(buf, len, "%s", d->id);
    } else {
        snprintf(buf, len, "/machine/peripheral-anon/device[%u]/virtio-backend",
                 d->index);
    }
}

static const char *io_status_name(int err)
{
    return err == 0 ? "ok" : err == -ENOSPC ? "nospace" : "failed";
}

static json_t *inserted_json(const struct vmm_machine_drive_info *d)
{
    return json_pack(
        "{s:s,s:s,s:b,s:s,s:i,s:b,s:s,s:i,s:i,s:i,s:i,s:i,s:i,s:i,"
        "s:{s:b,s:b,s:b},s:{s:s,s:s,s:I,s:I,s:b}}",
        "file", d->file, "node-name", d->drive, "ro", d->readonly, "drv", "raw",
        "backing_file_depth", 0, "encrypted", 0, "detect_zeroes", "off", "bps",
        0, "bps_rd", 0, "bps_wr", 0, "iops", 0, "iops_rd", 0, "iops_wr", 0,
        "write_threshold", 0, "cache", "writeback", 1, "direct", d->direct,
        "no-flush", d->no_flush, "image", "filename", d->file, "format", "raw",
        "virtual-size", (json_int_t)d->size, "actual-size",
        (json_int_t)d->actual_size, "dirty-flag", 0);
}

static bool drive_info(struct qmp_ctx *c, unsigned i,
                       struct vmm_machine_drive_info *d,
                       struct qmp_error **errp)
{
    int r = c->ops->drive_info(c->opaque, i, d);

    if (r < 0) {
        vmm__qmp_error_set(errp, QMP_ERR_GENERIC, "block device %u: %s", i,
                           strerror(-r));
        return false;
    }
    return true;
}

static json_t *cmd_query_block(struct qmp_ctx *c, json_t *args,
                               struct qmp_error **errp)
{
    unsigned i, n = c->ops->nr_drives(c->opaque);
    json_t *list = json_array();

    for (i = 0; list && i < n; i++) {
        struct vmm_machine_drive_info d;
        char qdev[96];

        if (!drive_info(c, i, &d, errp)) {
            json_decref(list);
            return NULL;
        }
        vmm__qmp_qdev_of(&d, qdev, sizeof(qdev));
        if (json_array_append_new(
                list,
                json_pack("{s:s,s:s,s:b,s:b,s:s,s:s,s:o}", "device", d.drive,
                          "qdev", qdev, "locked", 0, "removable", 0,
                          "io-status", io_status_name(d.io_status), "type",
                          "unknown", "inserted", inserted_json(&d))) < 0) {
            json_decref(list);
            list = NULL;
        }
    }
    return list;
}

/*
 * QEMU's BlockDeviceStats.  @accounted: the node counts failed and
 * invalid requests (the device's node does; its file node does not).
 */
static json_t *stats_json(const struct vmm_machine_drive_stats *s,
                          bool accounted)
{
    const struct {
        const char *key;
        uint64_t v;
    } f[] = {
        {"rd_bytes", s->rd_bytes},
        {"wr_bytes", s->wr_bytes},
        {"unmap_bytes", s->unmap_bytes},
        {"rd_operations", s->rd_ops},
        {"wr_operations", s->wr_ops},
        {"flush_operations", s->flush_ops},
        {"unmap_operations", s->unmap_ops},
        {"rd_total_time_ns", s->rd_ns},
        {"wr_total_time_ns", s->wr_ns},
        {"flush_total_time_ns", s->flush_ns},
        {"unmap_total_time_ns", s->unmap_ns},
        {"wr_highest_offset", s->wr_highest_offset},
        {"rd_merged", 0},
        {"wr_merged", 0},
        {"unmap_merged", 0},
        {"failed_rd_operations", accounted ? s->failed_rd : 0},
        {"failed_wr_operations", accounted ? s->failed_wr : 0},
        {"failed_flush_operations", accounted ? s->failed_flush : 0},
        {"failed_unmap_operations", accounted ? s->failed_unmap : 0},
        {"invalid_rd_operations", accounted ? s->invalid_rd : 0},
        {"invalid_wr_operations", accounted ? s->invalid_wr : 0},
        {"invalid_flush_operations", accounted ? s->invalid_flush : 0},
        {"invalid_unmap_operations", accounted ? s->invalid_unmap : 0},
    };
    json_t *o = json_pack("{s:b,s:b,s:[]}", "account_invalid", accounted,
                          "account_failed", accounted, "timed_stats");
    size_t i;

    for (i = 0; o && i < sizeof(f) / sizeof(f[0]); i++) {
        if (!vmm__qmp_set(o, f[i].key, vmm__qmp_u64(f[i].v))) {
            json_decref(o);
            o = NULL;
        }
    }
    return o;
}

static json_t *blockstats_json(const struct vmm_machine_drive_info *d,
                               const struct vmm_machine_drive_stats *s)
{
    char qdev[96], file_node[96];

    vmm__qmp_qdev_of(d, qdev, sizeof(qdev));
    snprintf(file_node, sizeof(file_node), "%s-file", d->drive);
    /* With format=raw the file node sees the device's requests. */
    return json_pack("{s:s,s:s,s:s,s:o,s:{s:s,s:o,s:{s:s,s:o,s:o,s:o}}}",
                     "device", d->drive, "qdev", qdev, "node-name", d->drive,
                     "stats", stats_json(s, true), "parent", "node-name",
                     file_node, "stats", stats_json(s, false),
                     "driver-specific", "driver", "file", "discard-nb-ok",
                     vmm__qmp_u64(s->unmap_ops - s->failed_unmap),
                     "discard-nb-failed", vmm__qmp_u64(s->failed_unmap),
                     "discard-bytes-ok", vmm__qmp_u64(s->unmap_bytes));
}

static json_t *cmd_query_blockstats(struct qmp_ctx *c, json_t *args,
                                    struct qmp_error **errp)
{
    unsigned i, n = c->ops->nr_drives(c->opaque);
    json_t *list = json_array();

    for (i = 0; list && i < n; i++) {
        struct vmm_machine_drive_info d;
        struct vmm_machine_drive_stats s;
        int r;

        if (!drive_info(c, i, &d, errp)) {
            json_decref(list);
            return NULL;
        }
        r = c->ops->drive_stats(c->opaque, i, &s);
        if (r < 0) {
            vmm__qmp_error_set(errp, QMP_ERR_GENERIC, "block device %u: %s", i,
                               strerror(-r));
            json_decref(list);
            return NULL;
        }
        if (json_array_append_new(list, blockstats_json(&d, &s)) < 0) {
            json_decref(list);
            list = NULL;
        }
    }
    return list;
}

/* A histogram as a list of its bucket counts. */
static json_t *hist_json(const uint64_t *b, size_t n)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; a && i < n; i++) {
        if (json_array_append_new(a, vmm__qmp_u64(b[i])) < 0) {
            json_decref(a);
            a = NULL;
        }
    }
    return a;
}

/* The answers and latencies of a queue (x-loom-query-stats). */
static bool add_vq_latency(json_t *o, const struct vmm_machine_vq_stats *v)
{
    /* Counters read one by one: in flight may be seen below 0 briefly. */
    uint64_t done = v->answered + v->dropped;
    uint64_t inflight = v->processed > done ? v->processed - done : 0;

    return vmm__qmp_set(o, "answered", vmm__qmp_u64(v->answered)) &&
           vmm__qmp_set(o, "in-flight", vmm__qmp_u64(inflight)) &&
           vmm__qmp_set(o, "dropped", vmm__qmp_u64(v->dropped)) &&
           vmm__qmp_set(o, "moves", vmm__qmp_u64(v->moves)) &&
           vmm__qmp_set(o, "wait-ns", vmm__qmp_u64(v->wait_ns)) &&
           vmm__qmp_set(o, "service-ns", vmm__qmp_u64(v->service_ns)) &&
           vmm__qmp_set(o, "wait-hist",
                        hist_json(v->wait, VMM_MACHINE_LAT_BUCKETS)) &&
           vmm__qmp_set(o, "service-hist",
                        hist_json(v->service, VMM_MACHINE_LAT_BUCKETS));
}

json_t *vmm__qmp_virtqueues_json(struct qmp_ctx *c, struct qmp_error **errp)
{
    unsigned i, q, n = c->ops->nr_drives(c->opaque);
    json_t *list = json_array();

    for (i = 0; list && i < n; i++) {
        struct vmm_machine_drive_info d;
        struct vmm_machine_drive_stats s;
        char qdev[96];

        if (!drive_info(c, i, &d, errp) ||
            c->ops->drive_stats(c->opaque, i, &s) < 0) {
            vmm__qmp_error_set(errp, QMP_ERR_GENERIC,
                               "block device %u: no statistics", i);
            json_decref(list);
            return NULL;
        }
        vmm__qmp_qdev_of(&d, qdev, sizeof(qdev));
        for (q = 0; list && q < d.num_queues; q++) {
            const struct vmm_machine_vq_stats *v = &s.queue[q];
            json_t *o = json_pack(
                "{s:s,s:i,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "device", qdev,
                "queue", (int)q, "iothread",
                d.queue_iothread[q] ? d.queue_iothread[q] : "main", "kicks",
                vmm__qmp_u64(v->kicks), "kicks-ignored",
                vmm__qmp_u64(v->kicks_ignored), "poll-hits",
                vmm__qmp_u64(v->poll_hits), "processed",
                vmm__qmp_u64(v->processed), "irqs", vmm__qmp_u64(v->irqs),
                "irqs-suppressed", vmm__qmp_u64(v->irqs_suppressed), "broken",
                vmm__qmp_u64(v->broken), "notify-suppressed",
                vmm__qmp_u64(v->notify_suppressed));

            if (o && !add_vq_latency(o, v)) {
                json_decref(o);
                o = NULL;
            }
            if (json_array_append_new(list, o) < 0) {
                json_decref(list);
                list = NULL;
            }
        }
    }
    return list;
}

/*
 * Every block device's backend counters QEMU's query-blockstats has no
 * place for, for x-loom-query-stats: the syncs its image completed (a
 * FLUSH is acknowledged only after one, VMM.md "Durability"), next to the
 * FLUSH requests and those held by the stop policy and retried.
 */
json_t *vmm__qmp_drives_json(struct qmp_ctx *c, struct qmp_error **errp)
{
    unsigned i, n = c->ops->nr_drives(c->opaque);
    json_t *list = json_array();

    for (i = 0; list && i < n; i++) {
        struct vmm_machine_drive_info d;
        struct vmm_machine_drive_stats s;
        char qdev[96];

        if (!drive_info(c, i, &d, errp) ||
            c->ops->drive_stats(c->opaque, i, &s) < 0) {
            vmm__qmp_error_set(errp, QMP_ERR_GENERIC,
                               "block device %u: no statistics", i);
            json_decref(list);
            return NULL;
        }
        vmm__qmp_qdev_of(&d, qdev, sizeof(qdev));
        if (json_array_append_new(list,
                                  json_pack("{s:s,s:s,s:o,s:o,s:o}", "device",
                                            d.drive, "qdev", qdev, "flushes",
                                            vmm__qmp_u64(s.flush_ops), "syncs",
                                            vmm__qmp_u64(s.syncs), "retried",
                                            vmm__qmp_u64(s.retried))) < 0) {
            json_decref(list);
            list = NULL;
        }
    }
    return list;
}

static const struct qmp_arg g_blockstats_args[] = {
    {"query-nodes", QMP_T_BOOL, true},
    {NULL},
};

const struct qmp_cmd vmm__qmp_cmds_block[] = {
    {"query-block", cmd_query_block, NULL},
    {"query-blockstats", cmd_query_blockstats, g_blockstats_args},
    {NULL},
};
