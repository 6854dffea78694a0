/* SPDX-License-Identifier: MIT */
/*
 * What every command shares: error objects with QEMU's classes, argument
 * checks with QEMU's messages (so that a client that matches on them
 * works with both), the command tables, and small JSON helpers.  Main
 * thread, BQL held (the helpers themselves touch no shared state).
 */
#include "monitor/qmp-int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const g_class_names[] = {
    [QMP_ERR_GENERIC] = "GenericError",
    [QMP_ERR_COMMAND_NOT_FOUND] = "CommandNotFound",
    [QMP_ERR_DEVICE_NOT_ACTIVE] = "DeviceNotActive",
    [QMP_ERR_DEVICE_NOT_FOUND] = "DeviceNotFound",
    [QMP_ERR_KVM_MISSING_CAP] = "KVMMissingCap",
};

const char *vmm__qmp_error_class_name(enum qmp_error_class cls)
{
    if ((unsigned)cls >= sizeof(g_class_names) / sizeof(g_class_names[0])) {
        return g_class_names[QMP_ERR_GENERIC];
    }
    return g_class_names[cls];
}

void vmm__qmp_error_set(struct qmp_error **errp, enum qmp_error_class cls,
                        const char *fmt, ...)
{
    struct qmp_error *e;
    va_list ap;

    if (!errp || *errp) {
        return; /* QEMU's rule: the first error wins */
    }
    e = calloc(1, sizeof(*e));
    if (!e) {
        return;
    }
    e->cls = cls;
    va_start(ap, fmt);
    if (vasprintf(&e->desc, fmt, ap) < 0) {
        e->desc = NULL;
    }
    va_end(ap);
    *errp = e;
}

void vmm__qmp_error_free(struct qmp_error *e)
{
    if (e) {
        free(e->desc);
        free(e);
    }
}

static const char *type_name(enum qmp_type t)
{
    switch (t) {
    case QMP_T_STR:
        return "string";
    case QMP_T_INT:
        return "integer";
    case QMP_T_BOOL:
        return "boolean";
    case QMP_T_NUMBER:
        return "number";
    case QMP_T_ARRAY:
        return "array";
    case QMP_T_OBJECT:
        return "object";
    case QMP_T_ANY:
        break;
    }
    return "any";
}

static bool type_fits(json_t *v, enum qmp_type t)
{
    switch (t) {
    case QMP_T_STR:
        return json_is_string(v);
    case QMP_T_INT:
        return json_is_integer(v);
    case QMP_T_BOOL:
        return json_is_boolean(v);
    case QMP_T_NUMBER:
        return json_is_number(v);
    case QMP_T_ARRAY:
        return json_is_array(v);
    case QMP_T_OBJECT:
        return json_is_object(v);
    case QMP_T_ANY:
        break;
    }
    return true;
}

bool vmm__qmp_check_type(const char *what, json_t *v, enum qmp_type t,
                         struct qmp_error **errp)
{
    if (type_fits(v, t)) {
        return true;
    }
    vmm__qmp_error_set(errp, QMP_ERR_GENERIC,
                       "Invalid parameter type for '%s', expected: %s", what,
                       type_name(t));
    return false;
}

static bool in_spec(const struct qmp_arg *spec, const char *key)
{
    for (; spec && spec->name; spec++) {
        if (strcmp(spec->name, key) == 0) {
            return true;
        }
    }
    return false;
}

bool vmm__qmp_check_args(const struct qmp_arg *spec, json_t *args,
                         struct qmp_error **errp)
{
    const struct qmp_arg *a;
    const char *key;
    json_t *v;

    /* QEMU's order: the declared members first, then what is left over. */
    for (a = spec; a && a->name; a++) {
        v = args ? json_object_get(args, a->name) : NULL;
        if (!v) {
            if (!a->optional) {
                vmm__qmp_error_set(errp, QMP_ERR_GENERIC,
                                   "Parameter '%s' is missing", a->name);
                return false;
            }
            continue;
        }
        if (!vmm__qmp_check_type(a->name, v, a->type, errp)) {
            return false;
        }
    }
    if (args) {
        json_object_foreach (args, key, v) {
            if (!in_spec(spec, key)) {
                vmm__qmp_error_set(errp, QMP_ERR_GENERIC,
                                   "Parameter '%s' is unexpected", key);
                return false;
            }
        }
    }
    return true;
}

int vmm__qmp_enum(const char *param, const char *value,
                  const char *const *names, struct qmp_error **errp)
{
    int i;

    for (i = 0; names[i]; i++) {
        if (strcmp(names[i], value) == 0) {
            return i;
        }
    }
    vmm__qmp_error_set(errp, QMP_ERR_GENERIC,
                       "Parameter '%s' does not accept value '%s'", param,
                       value);
    return -1;
}

json_t *vmm__qmp_u64(uint64_t v)
{
    /* jansson's integers are signed 64-bit; QEMU prints larger counters
     * unsigned, which a JSON reader sees as a number either way. */
    if (v > (uint64_t)INT64_MAX) {
        return json_real((double)v);
    }
    return json_integer((json_int_t)v);
}

bool vmm__qmp_set(json_t *o, const char *key, json_t *v)
{
    return v && json_object_set_new(o, key, v) == 0;
}

static const struct qmp_cmd *const g_tables[] = {
    vmm__qmp_cmds_control, vmm__qmp_cmds_cpu,  vmm__qmp_cmds_iothread,
    vmm__qmp_cmds_block,   vmm__qmp_cmds_loom,
};

const struct qmp_cmd *vmm__qmp_find(const char *name)
{
    const struct qmp_cmd *c;
    size_t t;

    for (t = 0; t < sizeof(g_tables) / sizeof(g_tables[0]); t++) {
        for (c = g_tables[t]; c->name; c++) {
            if (strcmp(c->name, name) == 0) {
                return c;
            }
        }
    }
    return NULL;
}

void vmm__qmp_foreach(void (*fn)(const struct qmp_cmd *cmd, void *opaque),
                      void *opaque)
{
    const struct qmp_cmd *c;
    size_t t;

    for (t = 0; t < sizeof(g_tables) / sizeof(g_tables[0]); t++) {
        for (c = g_tables[t]; c->name; c++) {
            fn(c, opaque);
        }
    }
}
