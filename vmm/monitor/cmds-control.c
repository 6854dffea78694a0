/* SPDX-License-Identifier: MIT */
/*
 * The protocol's own commands and run control: qmp_capabilities,
 * query-version, query-commands, query-name, query-status, query-kvm,
 * stop, cont, system_reset, quit.  Replies have QEMU 7.2's shapes.
 * Main thread, BQL held.
 */
#include "monitor/qmp-int.h"

#include <errno.h>
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

static json_t *cmd_query_name(struct qmp_ctx *c, json_t *args,
                              struct qmp_error **errp)
{
    const struct vmm_config *cfg = c->ops->config(c->opaque);

    /* QEMU leaves "name" out when -name was not given. */
    if (!cfg->name) {
        return json_object();
    }
    return json_pack("{s:s}", "name", cfg->name);
}

static json_t *cmd_query_status(struct qmp_ctx *c, json_t *args,
                                struct qmp_error **errp)
{
    enum vmm_runstate st = c->ops->runstate(c->opaque);

    return json_pack("{s:s,s:b,s:b}", "status", vmm_runstate_name(st),
                     "singlestep", 0, "running", st == VMM_RUNSTATE_RUNNING);
}

static json_t *cmd_query_kvm(struct qmp_ctx *c, json_t *args,
                             struct qmp_error **errp)
{
    bool present = false, enabled = false;

    c->ops->kvm(c->opaque, &present, &enabled);
    return json_pack("{s:b,s:b}", "enabled", enabled, "present", present);
}

/* An -errno from run control as QEMU words it. */
static json_t *done(int r, struct qmp_error **errp)
{
    if (r == -EBUSY) {
        vmm__qmp_error_set(errp, QMP_ERR_GENERIC,
                           "Resetting the Virtual Machine is required");
        return NULL;
    }
    if (r < 0) {
        vmm__qmp_error_set(errp, QMP_ERR_GENERIC, "%s", strerror(-r));
        return NULL;
    }
    return json_object();
}

static json_t *cmd_stop(struct qmp_ctx *c, json_t *args,
                        struct qmp_error **errp)
{
    return done(c->ops->stop(c->opaque), errp);
}

static json_t *cmd_cont(struct qmp_ctx *c, json_t *args,
                        struct qmp_error **errp)
{
    return done(c->ops->cont(c->opaque), errp);
}

static json_t *cmd_system_reset(struct qmp_ctx *c, json_t *args,
                                struct qmp_error **errp)
{
    return done(c->ops->system_reset(c->opaque), errp);
}

static json_t *cmd_quit(struct qmp_ctx *c, json_t *args,
                        struct qmp_error **errp)
{
    /* The main loop ends after this dispatch; the reply is flushed at
     * teardown (vmm_monitor_flush()). */
    c->ops->quit(c->opaque);
    return json_object();
}

static const struct qmp_arg g_caps_args[] = {
    {"enable", QMP_T_ARRAY, true},
    {NULL},
};

const struct qmp_cmd vmm__qmp_cmds_control[] = {
    {"qmp_capabilities", cmd_qmp_capabilities, g_caps_args},
    {"query-version", cmd_query_version, NULL},
    {"query-commands", cmd_query_commands, NULL},
    {"query-name", cmd_query_name, NULL},
    {"query-status", cmd_query_status, NULL},
    {"query-kvm", cmd_query_kvm, NULL},
    {"stop", cmd_stop, NULL},
    {"cont", cmd_cont, NULL},
    {"system_reset", cmd_system_reset, NULL},
    {"quit", cmd_quit, NULL},
    {NULL},
};
