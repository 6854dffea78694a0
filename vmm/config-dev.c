/* SPDX-License-Identifier: MIT */
/*
 * loom-vm's devices on the command line: -device isa-debug-exit (also in
 * QEMU's JSON form), -object iothread (also JSON), and -global
 * virtio-mmio.force-legacy.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config-int.h"

static bool device_id_taken(struct vmm_cfg_parser *p, const char *id)
{
    if (p->debug_exit_id && !strcmp(p->debug_exit_id, id)) {
        return true;
    }
    for (unsigned i = 0; i < p->cfg->nr_blks; i++) {
        if (p->cfg->blks[i].id && !strcmp(p->cfg->blks[i].id, id)) {
            return true;
        }
    }
    return false;
}

/* id= of a -device: an identifier not used by another device. */
static int device_id(struct vmm_cfg_parser *p, struct vmm_cfg_opts *o,
                     char **out)
{
    const char *id;
    int r = vmm_cfg_str(p, o, "id", &id);

    if (r <= 0) {
        return r;
    }
    if ((r = vmm_cfg_check_id(p, id)) < 0) {
        return r;
    }
    if (device_id_taken(p, id)) {
        return vmm_cfg_fail(p, "duplicate ID '%.64s' for device", id);
    }
    return vmm_cfg_set_str(p, out, id);
}

static int dev_debug_exit(struct vmm_cfg_parser *p, struct vmm_cfg_opts *o)
{
    struct vmm_config *cfg = p->cfg;
    uint64_t base = cfg->debug_exit_iobase, size = cfg->debug_exit_iosize;
    int r;

    if (cfg->debug_exit) {
        return vmm_cfg_fail(p, "loom-vm supports one isa-debug-exit device");
    }
    r = vmm_cfg_uint(p, o, "iobase", UINT32_MAX, &base);
    if (r >= 0) {
        r = vmm_cfg_uint(p, o, "iosize", UINT32_MAX, &size);
    }
    if (r >= 0 && (base > 0xffff || !size || base + size > 0x10000)) {
        r = vmm_cfg_fail(p,
                         "isa-debug-exit: ports 0x%llx+%llu are not inside the "
                         "I/O port space (iosize >= 1, iobase + iosize <= "
                         "0x10000)",
                         (unsigned long long)base, (unsigned long long)size);
    }
    if (r >= 0) {
        r = device_id(p, o, &p->debug_exit_id);
    }
    if (r >= 0) {
        r = vmm_cfg_opts_done(p, o, "isa-debug-exit");
    }
    if (r >= 0) {
        cfg->debug_exit = true;
        cfg->debug_exit_iobase = (uint16_t)base;
        cfg->debug_exit_iosize = (uint16_t)size;
    }
    return r;
}

int vmm_cfg_opt_device(struct vmm_cfg_parser *p, const char *arg)
{
    const char *driver;
    struct vmm_cfg_opts o;
    int r = arg[0] == '{'
                ? vmm_cfg_opts_json(p, arg, &o)
                : vmm_cfg_opts_split(p, arg, "driver", VMM_CFG_QEMUOPTS, &o);

    if (r < 0) {
        return r;
    }
    if ((r = vmm_cfg_str(p, &o, "driver", &driver)) == 0) {
        r = vmm_cfg_fail(p, "parameter 'driver' is missing");
    }
    if (r > 0 && !strcmp(driver, "isa-debug-exit")) {
        r = dev_debug_exit(p, &o);
    } else if (r > 0) {
        r = vmm_cfg_fail(p,
                         "unsupported device '%.64s' (loom-vm supports "
                         "isa-debug-exit)",
                         driver);
    }
    vmm_cfg_opts_free(&o);
    return r;
}

/* "N", "N-M", joined by ',' (",," inside a key=value list) or ':'. */
static int cpuset_add(struct vmm_cfg_parser *p, struct vmm_config_cpuset *set,
                      const char *s)
{
    const char *c = s;
    char *end;

    for (;;) {
        unsigned long long lo, hi;

        if (*c < '0' || *c > '9') {
            break;
        }
        lo = hi = strtoull(c, &end, 10);
        c = end;
        if (*c == '-') {
            if (c[1] < '0' || c[1] > '9') {
                break;
            }
            hi = strtoull(c + 1, &end, 10);
            c = end;
        }
        if (lo > hi || hi >= VMM_MAX_CPUSET) {
            return vmm_cfg_fail(p,
                                "x-cpu-affinity: '%.64s': CPUs are 0 to %d, "
                                "ranges low-high",
                                s, VMM_MAX_CPUSET - 1);
        }
        for (unsigned long long v = lo; v <= hi; v++) {
            set->bits[v / 64] |= 1ull << (v % 64);
        }
        set->set = true;
        if (!*c) {
            return 0;
        }
        if (*c != ',' && *c != ':') {
            break;
        }
        c++;
    }
    return vmm_cfg_fail(
        p, "x-cpu-affinity: invalid CPU list '%.64s' (e.g. 0-1:3)", s);
}

/* x-cpu-affinity= may repeat (QEMU's list style); JSON: string or list. */
static int iothread_affinity(struct vmm_cfg_parser *p, struct vmm_cfg_opts *o,
                             struct vmm_config_cpuset *set)
{
    char num[24];
    size_t j;
    json_t *v;
    int r = 0;

    for (size_t i = 0; r >= 0 && i < o->n; i++) {
        struct vmm_cfg_kv *kv = &o->kv[i];

        if (strcmp(kv->key, "x-cpu-affinity")) {
            continue;
        }
        kv->used = true;
        if (kv->json && json_is_array(kv->json)) {
            json_array_foreach(kv->json, j, v) {
                if (!json_is_integer(v) || json_integer_value(v) < 0) {
                    return vmm_cfg_fail(
                        p, "x-cpu-affinity: a list of CPU numbers");
                }
                snprintf(num, sizeof(num), "%lld",
                         (long long)json_integer_value(v));
                if ((r = cpuset_add(p, set, num)) < 0) {
                    return r;
                }
            }
        } else if (kv->json && !json_is_string(kv->json)) {
            return vmm_cfg_fail(p,
                                "x-cpu-affinity: a CPU list string or array");
        } else if (!kv->json && !kv->val) {
            return vmm_cfg_fail(p,
                                "parameter 'x-cpu-affinity' expects a value");
        } else {
            r = cpuset_add(p, set,
                           kv->json ? json_string_value(kv->json) : kv->val);
        }
    }
    return r;
}

static int iothread_props(struct vmm_cfg_parser *p, struct vmm_cfg_opts *o,
                          struct vmm_config_iothread *t)
{
    static const char *const keys[] = {
        "poll-max-ns",   "poll-grow",       "poll-shrink",
        "aio-max-batch", "thread-pool-min", "thread-pool-max",
    };
    int64_t *fields[] = {
        &t->poll_max_ns,   &t->poll_grow,       &t->poll_shrink,
        &t->aio_max_batch, &t->thread_pool_min, &t->thread_pool_max,
    };
    int64_t min, max;
    int r = 0;

    for (size_t i = 0; r >= 0 && i < 6; i++) {
        r = vmm_cfg_i64(p, o, keys[i], 0, INT64_MAX, fields[i]);
    }
    if (r < 0) {
        return r;
    }
    /* QEMU's defaults are 0 and 64; max must stay a positive int. */
    min = t->thread_pool_min < 0 ? 0 : t->thread_pool_min;
    max = t->thread_pool_max < 0 ? 64 : t->thread_pool_max;
    if (min > max || max < 1 || max > INT_MAX) {
        return vmm_cfg_fail(p,
                            "bad thread-pool-min/thread-pool-max values (%lld, "
                            "%lld)",
                            (long long)min, (long long)max);
    }
    return iothread_affinity(p, o, &t->affinity);
}

int vmm_cfg_opt_object(struct vmm_cfg_parser *p, const char *arg)
{
    struct vmm_config *cfg = p->cfg;
    struct vmm_config_iothread *t;
    const char *type, *id;
    struct vmm_cfg_opts o;
    int r = arg[0] == '{'
                ? vmm_cfg_opts_json(p, arg, &o)
                : vmm_cfg_opts_split(p, arg, "qom-type", VMM_CFG_QEMUOPTS, &o);

    if (r < 0) {
        return r;
    }
    if ((r = vmm_cfg_str(p, &o, "qom-type", &type)) == 0) {
        r = vmm_cfg_fail(p, "parameter 'qom-type' is missing");
    }
    if (r > 0 && strcmp(type, "iothread")) {
        r = vmm_cfg_fail(p,
                         "unsupported object type '%.64s' (loom-vm supports "
                         "iothread)",
                         type);
    }
    if (r >= 0 && cfg->nr_iothreads == VMM_MAX_IOTHREADS) {
        r = vmm_cfg_fail(p, "more than %d IOThreads", VMM_MAX_IOTHREADS);
    }
    if (r >= 0 && (r = vmm_cfg_str(p, &o, "id", &id)) == 0) {
        r = vmm_cfg_fail(p, "parameter 'id' is missing");
    }
    if (r > 0) {
        r = vmm_cfg_check_id(p, id);
    }
    for (unsigned i = 0; r >= 0 && i < cfg->nr_iothreads; i++) {
        if (!strcmp(cfg->iothreads[i].id, id)) {
            r = vmm_cfg_fail(p, "duplicate ID '%.64s' for object", id);
        }
    }
    if (r >= 0) {
        t = &cfg->iothreads[cfg->nr_iothreads++];
        t->poll_max_ns = t->poll_grow = t->poll_shrink = -1;
        t->aio_max_batch = t->thread_pool_min = t->thread_pool_max = -1;
        r = vmm_cfg_set_str(p, &t->id, id);
    }
    if (r >= 0) {
        r = iothread_props(p, &o, t);
    }
    if (r >= 0) {
        r = vmm_cfg_opts_done(p, &o, "iothread");
    }
    vmm_cfg_opts_free(&o);
    return r;
}

/* Only virtio-mmio.force-legacy, spelled either way QEMU accepts. */
int vmm_cfg_opt_global(struct vmm_cfg_parser *p, const char *arg)
{
    size_t dlen = strcspn(arg, ".="), plen = 0;
    const char *driver = arg, *prop = NULL, *value = NULL;
    struct vmm_cfg_opts o = {0};
    bool legacy;
    int r = 0;

    /* QEMU: "DRIVER.PROP=VALUE" when that parses, else key=value. */
    if (dlen && arg[dlen] == '.') {
        prop = arg + dlen + 1;
        plen = strcspn(prop, "=");
        if (plen && prop[plen] == '=') {
            value = prop + plen + 1;
        }
    }
    if (!value) {
        r = vmm_cfg_opts_split(p, arg, NULL, VMM_CFG_QEMUOPTS, &o);
        if (r >= 0 &&
            ((r = vmm_cfg_str(p, &o, "driver", &driver)) == 0 ||
             (r > 0 && (r = vmm_cfg_str(p, &o, "property", &prop)) == 0) ||
             (r > 0 && (r = vmm_cfg_str(p, &o, "value", &value)) == 0))) {
            r = vmm_cfg_fail(
                p, "expected DRIVER.PROPERTY=VALUE or driver=,property=,"
                   "value=");
        }
        if (r >= 0) {
            r = vmm_cfg_opts_done(p, &o, NULL);
        }
        dlen = driver ? strlen(driver) : 0;
        plen = prop ? strlen(prop) : 0;
    }
    if (r >= 0 && (dlen != 11 || memcmp(driver, "virtio-mmio", 11) ||
                   plen != 12 || memcmp(prop, "force-legacy", 12))) {
        r = vmm_cfg_fail(p,
                         "unsupported global '%.*s.%.*s' (loom-vm supports "
                         "virtio-mmio.force-legacy)",
                         (int)(dlen < 64 ? dlen : 64), driver,
                         (int)(plen < 64 ? plen : 64), prop);
    }
    if (r >= 0 && vmm_cfg_parse_bool(value, &legacy) < 0) {
        r = vmm_cfg_fail(p, "force-legacy expects 'on' or 'off', not '%.64s'",
                         value);
    }
    if (r >= 0) {
        p->cfg->force_legacy = legacy;
    }
    vmm_cfg_opts_free(&o);
    return r;
}

