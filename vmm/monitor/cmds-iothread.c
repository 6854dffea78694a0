/* SPDX-License-Identifier: MIT */
/*
 * IOThread commands: query-iothreads, and qom-get / qom-set of an
 * IOThread's properties at /objects/ID (QEMU's object path for
 * -object iothread,id=ID): the adaptive polling parameters, which take
 * effect at the IOThread loop's next wait, and aio-max-batch (read only
 * here: the block devices fix their batch size when they start).  Main
 * thread, BQL held.
 */
#include "monitor/qmp-int.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

enum prop {
    PROP_POLL_MAX_NS,
    PROP_POLL_GROW,
    PROP_POLL_SHRINK,
    PROP_AIO_MAX_BATCH,
};

static const char *const g_props[] = {
    [PROP_POLL_MAX_NS] = "poll-max-ns",
    [PROP_POLL_GROW] = "poll-grow",
    [PROP_POLL_SHRINK] = "poll-shrink",
    [PROP_AIO_MAX_BATCH] = "aio-max-batch",
    NULL,
};

static json_t *iothread_json(const struct vmm_machine_iothread_info *it)
{
    return json_pack("{s:s,s:i,s:I,s:I,s:I,s:I}", "id", it->id, "thread-id",
                     it->thread_id, "poll-max-ns", (json_int_t)it->poll_max_ns,
                     "poll-grow", (json_int_t)it->poll_grow, "poll-shrink",
                     (json_int_t)it->poll_shrink, "aio-max-batch",
                     (json_int_t)it->aio_max_batch);
}

static bool get_info(struct qmp_ctx *c, unsigned i,
                     struct vmm_machine_iothread_info *it,
                     struct qmp_error **errp)
{
    int r = c->ops->iothread_info(c->opaque, i, it);

    if (r < 0) {
        vmm__qmp_error_set(errp, QMP_ERR_GENERIC, "IOThread %u: %s", i,
                           strerror(-r));
        return false;
    }
    return true;
}

static json_t *cmd_query_iothreads(struct qmp_ctx *c, json_t *args,
                                   struct qmp_error **errp)
{
    unsigned i, n = c->ops->nr_iothreads(c->opaque);
    json_t *list = json_array();

    for (i = 0; list && i < n; i++) {
        struct vmm_machine_iothread_info it;

        if (!get_info(c, i, &it, errp)) {
            json_decref(list);
            return NULL;
        }
        if (json_array_append_new(list, iothread_json(&it)) < 0) {
            json_decref(list);
            list = NULL;
        }
    }
    return list;
}

/*
 * Find the IOThread of QOM path @path ("/objects/ID") and the property
 * @name.  Return: false with QEMU's error (DeviceNotFound for the path).
 */
static bool lookup(struct qmp_ctx *c, json_t *args, unsigned *ret_i,
                   struct vmm_machine_iothread_info *it, enum prop *ret_prop,
                   struct qmp_error **errp)
{
    const char *path = json_string_value(json_object_get(args, "path"));
    const char *name = json_string_value(json_object_get(args, "property"));
    unsigned i, n = c->ops->nr_iothreads(c->opaque);
    const char *id = NULL;
    int p;

    if (strncmp(path, "/objects/", 9) == 0) {
        id = path + 9;
    }
    for (i = 0; id && i < n; i++) {
        if (!get_info(c, i, it, errp)) {
            return false;
        }
        if (strcmp(it->id, id) == 0) {
            break;
        }
    }
    if (!id || i == n) {
        vmm__qmp_error_set(errp, QMP_ERR_DEVICE_NOT_FOUND,
                           "Device '%s' not found", path);
        return false;
    }
    for (p = 0; g_props[p]; p++) {
        if (strcmp(g_props[p], name) == 0) {
            break;
        }
    }
    if (!g_props[p]) {
        vmm__qmp_error_set(errp, QMP_ERR_GENERIC,
                           "Property 'iothread.%s' not found", name);
        return false;
    }
    *ret_i = i;
    *ret_prop = (enum prop)p;
    return true;
}

static int64_t prop_value(const struct vmm_machine_iothread_info *it,
                          enum prop p)
{
    switch (p) {
    case PROP_POLL_MAX_NS:
        return it->poll_max_ns;
    case PROP_POLL_GROW:
        return it->poll_grow;
    case PROP_POLL_SHRINK:
        return it->poll_shrink;
    case PROP_AIO_MAX_BATCH:
        break;
    }
    return it->aio_max_batch;
}

static json_t *cmd_qom_get(struct qmp_ctx *c, json_t *args,
                           struct qmp_error **errp)
{
    struct vmm_machine_iothread_info it;
    enum prop p;
    unsigned i;

    if (!lookup(c, args, &i, &it, &p, errp)) {
        return NULL;
    }
    return json_integer(prop_value(&it, p));
}

static json_t *cmd_qom_set(struct qmp_ctx *c, json_t *args,
                           struct qmp_error **errp)
{
    json_t *value = json_object_get(args, "value");
    struct vmm_machine_iothread_info it;
    int64_t v, max_ns, grow, shrink;
    enum prop p;
    unsigned i;
    int r;

    if (!lookup(c, args, &i, &it, &p, errp) ||
        !vmm__qmp_check_type(g_props[p], value, QMP_T_INT, errp)) {
        return NULL;
    }
    v = json_integer_value(value);
    if (v < 0) {
        vmm__qmp_error_set(errp, QMP_ERR_GENERIC,
                           "%s value must be in range [0, %lld]", g_props[p],
                           (long long)INT64_MAX);
        return NULL;
    }
    if (p == PROP_AIO_MAX_BATCH) {
        vmm__qmp_error_set(errp, QMP_ERR_GENERIC,
                           "Property 'iothread.aio-max-batch' cannot be "
                           "changed while loom-vm runs");
        return NULL;
    }
    max_ns = p == PROP_POLL_MAX_NS ? v : it.poll_max_ns;
    grow = p == PROP_POLL_GROW ? v : it.poll_grow;
    shrink = p == PROP_POLL_SHRINK ? v : it.poll_shrink;
    r = c->ops->iothread_set_poll(c->opaque, i, max_ns, grow, shrink);
    if (r < 0) {
        vmm__qmp_error_set(errp, QMP_ERR_GENERIC, "%s: %s", g_props[p],
                           strerror(-r));
        return NULL;
    }
    return json_object();
}

static const struct qmp_arg g_get_args[] = {
    {"path", QMP_T_STR, false},
    {"property", QMP_T_STR, false},
    {NULL},
};

static const struct qmp_arg g_set_args[] = {
    {"path", QMP_T_STR, false},
    {"property", QMP_T_STR, false},
    {"value", QMP_T_ANY, false},
    {NULL},
};

const struct qmp_cmd vmm__qmp_cmds_iothread[] = {
    {"query-iothreads", cmd_query_iothreads, NULL},
    {"qom-get", cmd_qom_get, g_get_args},
    {"qom-set", cmd_qom_set, g_set_args},
    {NULL},
};
