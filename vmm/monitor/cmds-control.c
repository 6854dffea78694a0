/* SPDX-License-Identifier: MIT */
/*
 * The protocol's own commands: qmp_capabilities, query-version,
 * query-commands.  Replies have QEMU 7.2's shapes.
 * Main thread, BQL held.
 */
#include "monitor/qmp-int.h"

#include <stdio.h>
#include <string.h>

json_t *vmm__qmp_version_json(void)
{
    /* The protocol is QEMU 7.2's; the package says what answers it. */
    return json_pack("{s:{s:i,s:i,s:i},s:s}", "qemu", "major", 7, "minor", 2,
                     "micro", 0, "package", "loom-vm " VMM_VERSION);
}

/* Capabilities offered in the greeting: none (no out-of-band). */
static const char *const g_caps[] = {"oob", NULL};

static json_t *cmd_qmp_capabilities(struct qmp_ctx *c, json_t *args,
                                    struct qmp_error **errp)
{
    json_t *enable = json_object_get(args, "enable"), *v;
    size_t i;

    json_array_foreach (enable, i, v) {
        char what[32];

        snprintf(what, sizeof(what), "enable[%zu]", i);
        if (!vmm__qmp_check_type(what, v, QMP_T_STR, errp) ||
            vmm__qmp_enum(what, json_string_value(v), g_caps, errp) < 0) {
            return NULL;
        }
    }
    if (json_array_size(enable) > 0) {
        /* Known to QEMU, but not offered by loom-vm. */
        vmm__qmp_error_set(errp, QMP_ERR_GENERIC,
                           "Capability '%s' not available",
                           json_string_value(json_array_get(enable, 0)));
        return NULL;
    }
    c->enter_cmd_mode = true;
    return json_object();
}

static json_t *cmd_query_version(struct qmp_ctx *c, json_t *args,
                                 struct qmp_error **errp)
{
    return vmm__qmp_version_json();
}

static void add_name(const struct qmp_cmd *cmd, void *opaque)
{
    json_t **list = opaque;

    if (*list && json_array_append_new(
                     *list, json_pack("{s:s}", "name", cmd->name)) < 0) {
        json_decref(*list);
        *list = NULL;
    }
}

static json_t *cmd_query_commands(struct qmp_ctx *c, json_t *args,
                                  struct qmp_error **errp)
{
    json_t *list = json_array();

    vmm__qmp_foreach(add_name, &list);
    return list;
}

static const struct qmp_arg g_caps_args[] = {
    {"enable", QMP_T_ARRAY, true},
    {NULL},
};

const struct qmp_cmd vmm__qmp_cmds_control[] = {
    {"qmp_capabilities", cmd_qmp_capabilities, g_caps_args},
    {"query-version", cmd_query_version, NULL},
    {"query-commands", cmd_query_commands, NULL},
    {NULL},
};
