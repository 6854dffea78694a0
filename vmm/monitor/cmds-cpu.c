/* SPDX-License-Identifier: MIT */
/*
 * vCPU commands: query-cpus-fast, and QEMU 7.2's query-stats and
 * query-stats-schemas over KVM's binary statistics (the VM's and each
 * vCPU's).  Main thread, BQL held; reading a vCPU's statistics runs a
 * short function on that vCPU's thread (the machine's side).
 */
#include "monitor/qmp-int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/*
 * The QOM path QEMU 7.2 microvm gives vCPU @index: CPU 0 is the first
 * unattached device, and each later CPU follows the device its
 * predecessor created, so CPU i > 0 is device[i + 1].  Clients use it to
 * pick vCPUs in query-stats.
 */
static void cpu_qom_path(unsigned index, char *buf, size_t len)
{
    snprintf(buf, len, "/machine/unattached/device[%u]",
             index == 0 ? 0 : index + 1);
}

static json_t *cpu_json(const struct vmm_machine_cpu_info *ci)
{
    char path[64];

    cpu_qom_path(ci->index, path, sizeof(path));
    return json_pack("{s:i,s:{s:i,s:i,s:i},s:s,s:i,s:s}", "thread-id",
                     ci->thread_id, "props", "core-id", (int)ci->core_id,
                     "thread-id", (int)ci->thread_in_core, "socket-id",
                     (int)ci->socket_id, "qom-path", path, "cpu-index",
                     (int)ci->index, "target", "x86_64");
}

static json_t *cmd_query_cpus_fast(struct qmp_ctx *c, json_t *args,
                                   struct qmp_error **errp)
{
    unsigned i, n = c->ops->nr_cpus(c->opaque);
    json_t *list = json_array();

    for (i = 0; list && i < n; i++) {
        struct vmm_machine_cpu_info ci;
        int r = c->ops->cpu_info(c->opaque, i, &ci);

        if (r < 0) {
            vmm__qmp_error_set(errp, QMP_ERR_GENERIC, "vCPU %u: %s", i,
                               strerror(-r));
            json_decref(list);
            return NULL;
        }
        if (json_array_append_new(list, cpu_json(&ci)) < 0) {
            json_decref(list);
            list = NULL;
        }
    }
    return list;
}

/* ------------------------------------------------------------------ */
/* query-stats, query-stats-schemas                                    */
/* ------------------------------------------------------------------ */

static const char *const g_targets[] = {"vm", "vcpu", NULL};
static const char *const g_providers[] = {"kvm", NULL};

static const char *type_name(enum vmm_kstat_type t)
{
    switch (t) {
    case VMM_KSTAT_CUMULATIVE:
        return "cumulative";
    case VMM_KSTAT_INSTANT:
        return "instant";
    case VMM_KSTAT_PEAK:
        return "peak";
    case VMM_KSTAT_LINEAR_HIST:
        return "linear-histogram";
    case VMM_KSTAT_LOG_HIST:
        return "log2-histogram";
    }
    return "cumulative";
}

static const char *unit_name(enum vmm_kstat_unit u)
{
    switch (u) {
    case VMM_KSTAT_UNIT_BYTES:
        return "bytes";
    case VMM_KSTAT_UNIT_SECONDS:
        return "seconds";
    case VMM_KSTAT_UNIT_CYCLES:
        return "cycles";
    case VMM_KSTAT_UNIT_BOOLEAN:
        return "boolean";
    case VMM_KSTAT_UNIT_NONE:
        break;
    }
    return NULL;
}

static bool is_hist(const struct vmm_kstat *k)
{
    return k->type == VMM_KSTAT_LINEAR_HIST || k->type == VMM_KSTAT_LOG_HIST;
}

/* A value as QEMU's StatsValue: a boolean, a number or a list. */
static json_t *value_json(const struct vmm_kstat *k)
{
    json_t *list;
    unsigned i;

    if (k->unit == VMM_KSTAT_UNIT_BOOLEAN && k->nr_values == 1) {
        return json_boolean(k->values[0] != 0);
    }
    if (!is_hist(k) && k->nr_values == 1) {
        return vmm__qmp_u64(k->values[0]);
    }
    list = json_array();
    for (i = 0; list && i < k->nr_values; i++) {
        if (json_array_append_new(list, vmm__qmp_u64(k->values[i])) < 0) {
            json_decref(list);
            list = NULL;
        }
    }
    return list;
}

/* A schema entry as QEMU's StatsSchemaValue. */
static json_t *schema_json(const struct vmm_kstat *k)
{
    json_t *o = json_pack("{s:s,s:s,s:i}", "name", k->name, "type",
                          type_name(k->type), "exponent", k->exponent);
    const char *unit = unit_name(k->unit);

    if (o && unit && !vmm__qmp_set(o, "unit", json_string(unit))) {
        goto fail;
    }
    /* QEMU names the base only when it scales the value. */
    if (o && k->exponent != 0 &&
        !vmm__qmp_set(o, "base", json_integer(k->base))) {
        goto fail;
    }
    if (o && k->type == VMM_KSTAT_LINEAR_HIST &&
        !vmm__qmp_set(o, "bucket-size", json_integer(k->bucket_size))) {
        goto fail;
    }
    return o;
fail:
    json_decref(o);
    return NULL;
}

/*
 * Whether @providers (NULL: every provider) asks for KVM's statistics,
 * and which: *@ret_names is NULL for all of them, or a new list of the
 * names of the "kvm" entries.  Return: 1, 0 (not asked for), -1 (error).
 */
static int kvm_wanted(json_t *providers, json_t **ret_names,
                      struct qmp_error **errp)
{
    static const struct qmp_arg spec[] = {
        {"provider", QMP_T_STR, false},
        {"names", QMP_T_ARRAY, true},
        {NULL},
    };
    json_t *p, *names, *n, *all = NULL;
    bool wanted = !providers, every = !providers;
    size_t i, j;

    json_array_foreach (providers, i, p) {
        if (!vmm__qmp_check_type("providers", p, QMP_T_OBJECT, errp) ||
            !vmm__qmp_check_args(spec, p, errp) ||
            vmm__qmp_enum("provider",
                          json_string_value(json_object_get(p, "provider")),
                          g_providers, errp) < 0) {
            json_decref(all);
            return -1;
        }
        names = json_object_get(p, "names");
        json_array_foreach (names, j, n) {
            if (!vmm__qmp_check_type("names", n, QMP_T_STR, errp)) {
                json_decref(all);
                return -1;
            }
        }
        wanted = true;
        every = every || !names; /* an entry without names wants all */
        if (names && !all) {
            all = json_array();
        }
        if (names && json_array_extend(all, names) < 0) {
            json_decref(all);
            return -1;
        }
    }
    if (every) {
        json_decref(all);
        all = NULL;
    }
    *ret_names = all;
    return wanted ? 1 : 0;
}

static bool name_wanted(json_t *names, const char *name)
{
    json_t *n;
    size_t i;

    if (!names) {
        return true;
    }
    json_array_foreach (names, i, n) {
        if (strcmp(json_string_value(n), name) == 0) {
            return true;
        }
    }
    return false;
}

/* One StatsResult: {"provider": "kvm"[, "qom-path": P], "stats": [...]}. */
static json_t *result_json(const struct vmm_kstats *st, json_t *names,
                           const char *qom_path)
{
    json_t *o = json_pack("{s:s,s:[]}", "provider", "kvm", "stats");
    json_t *list = o ? json_object_get(o, "stats") : NULL;
    unsigned i;

    for (i = 0; list && i < st->nr; i++) {
        const struct vmm_kstat *k = &st->stats[i];

        if (!name_wanted(names, k->name)) {
            continue;
        }
        if (json_array_append_new(list, json_pack("{s:s,s:o}", "name", k->name,
                                                  "value", value_json(k))) <
            0) {
            list = NULL;
        }
    }
    if (o && (!list || (qom_path &&
                        !vmm__qmp_set(o, "qom-path", json_string(qom_path))))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static bool vcpu_wanted(json_t *vcpus, const char *path)
{
    json_t *v;
    size_t i;

    if (!vcpus) {
        return true;
    }
    json_array_foreach (vcpus, i, v) {
        if (strcmp(json_string_value(v), path) == 0) {
            return true;
        }
    }
    return false;
}

/* Read @cpu's statistics (-1: the VM's).  Return: NULL with *@errp set,
 * or NULL and *@ret_none when KVM has none (QEMU then reports nothing). */
static struct vmm_kstats *read_stats(struct qmp_ctx *c, int cpu, bool *ret_none,
                                     struct qmp_error **errp)
{
    struct vmm_kstats *st = NULL;
    int r = c->ops->kvm_stats(c->opaque, cpu, &st);

    *ret_none = r == -ENOTTY || r == -EINVAL;
    if (r < 0 && !*ret_none) {
        vmm__qmp_error_set(errp, QMP_ERR_GENERIC,
                           "cannot read KVM statistics: %s", strerror(-r));
    }
    return r < 0 ? NULL : st;
}

static bool append_vcpus(struct qmp_ctx *c, json_t *list, json_t *vcpus,
                         json_t *names, struct qmp_error **errp)
{
    unsigned i, n = c->ops->nr_cpus(c->opaque);

    for (i = 0; i < n; i++) {
        struct vmm_kstats *st;
        char path[64];
        bool none;

        cpu_qom_path(i, path, sizeof(path));
        if (!vcpu_wanted(vcpus, path)) {
            continue;
        }
        st = read_stats(c, (int)i, &none, errp);
        if (!st) {
            return none;
        }
        if (json_array_append_new(list, result_json(st, names, path)) < 0) {
            vmm_kstats_free(st);
            return false;
        }
        vmm_kstats_free(st);
    }
    return true;
}

static json_t *cmd_query_stats(struct qmp_ctx *c, json_t *args,
                               struct qmp_error **errp)
{
    const char *target = json_string_value(json_object_get(args, "target"));
    json_t *vcpus = json_object_get(args, "vcpus"), *v, *names, *list;
    struct vmm_kstats *st = NULL;
    bool ok = true, none;
    size_t i;
    int t, w;

    t = vmm__qmp_enum("target", target, g_targets, errp);
    if (t < 0) {
        return NULL;
    }
    /* "vcpus" belongs to the vcpu target's branch of QEMU's union. */
    if (vcpus && t != 1) {
        vmm__qmp_error_set(errp, QMP_ERR_GENERIC,
                           "Parameter 'vcpus' is unexpected");
        return NULL;
    }
    json_array_foreach (vcpus, i, v) {
        if (!vmm__qmp_check_type("vcpus", v, QMP_T_STR, errp)) {
            return NULL;
        }
    }
    w = kvm_wanted(json_object_get(args, "providers"), &names, errp);
    if (w < 0) {
        return NULL;
    }
    list = json_array();
    if (list && w > 0 && t == 1) {
        ok = append_vcpus(c, list, vcpus, names, errp);
    } else if (list && w > 0) {
        st = read_stats(c, -1, &none, errp);
        ok = none; /* no statistics: an empty list, as QEMU */
        if (st) {
            ok = json_array_append_new(list, result_json(st, names, NULL)) == 0;
            vmm_kstats_free(st);
        }
    }
    json_decref(names);
    if (!ok) {
        json_decref(list);
        return NULL;
    }
    return list;
}

/* One StatsSchema: {"provider": "kvm", "target": T, "stats": [...]}. */
static json_t *schema_result(const struct vmm_kstats *st, const char *target)
{
    json_t *o = json_pack("{s:s,s:s,s:[]}", "provider", "kvm", "target", target,
                          "stats");
    json_t *list = o ? json_object_get(o, "stats") : NULL;
    unsigned i;

    for (i = 0; list && i < st->nr; i++) {
        if (json_array_append_new(list, schema_json(&st->stats[i])) < 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

static json_t *cmd_query_stats_schemas(struct qmp_ctx *c, json_t *args,
                                       struct qmp_error **errp)
{
    json_t *provider = json_object_get(args, "provider"), *list;
    /* Every vCPU has the same statistics: vCPU 0 describes them. */
    const int sources[] = {0, -1};
    const char *const targets[] = {"vcpu", "vm"};
    struct vmm_kstats *st;
    unsigned i;
    bool none;

    if (provider && vmm__qmp_enum("provider", json_string_value(provider),
                                  g_providers, errp) < 0) {
        return NULL;
    }
    list = json_array();
    for (i = 0; list && i < 2; i++) {
        if (sources[i] >= 0 && c->ops->nr_cpus(c->opaque) == 0) {
            continue;
        }
        st = read_stats(c, sources[i], &none, errp);
        if (!st && !none) {
            json_decref(list);
            return NULL;
        }
        if (st &&
            json_array_append_new(list, schema_result(st, targets[i])) < 0) {
            json_decref(list);
            list = NULL;
        }
        vmm_kstats_free(st);
    }
    return list;
}

static const struct qmp_arg g_stats_args[] = {
    {"target", QMP_T_STR, false},
    {"providers", QMP_T_ARRAY, true},
    {"vcpus", QMP_T_ARRAY, true},
    {NULL},
};

static const struct qmp_arg g_schemas_args[] = {
    {"provider", QMP_T_STR, true},
    {NULL},
};

const struct qmp_cmd vmm__qmp_cmds_cpu[] = {
    {"query-cpus-fast", cmd_query_cpus_fast, NULL},
    {"query-stats", cmd_query_stats, g_stats_args},
    {"query-stats-schemas", cmd_query_stats_schemas, g_schemas_args},
    {NULL},
};
