/* SPDX-License-Identifier: MIT */
/*
 * loom-vm's devices on the command line: -device isa-debug-exit and
 * virtio-blk-device (also in QEMU 9's JSON form with iothread-vq-mapping),
 * -drive for their raw images, -object iothread, and -global
 * virtio-mmio.force-legacy.  After argv is read, each virtio-blk-device
 * takes its -drive and finds its IOThreads, in any order, as in QEMU.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config-int.h"

/* BlockdevOnError, in enum vmm_on_error's order ("auto" is DEFAULT). */
static const char *const onerror_names[] = {
    "auto", "report", "ignore", "stop", "enospc", NULL,
};

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

/* QEMU 9's iothread-vq-mapping: [{"iothread": ID[, "vqs": [N, ...]]}]. */
static int blk_vq_mapping(struct vmm_cfg_parser *p, struct vmm_config_blk *b,
                          json_t *list)
{
    size_t i, j;
    json_t *ent, *vq;

    if (!json_is_array(list) || !json_array_size(list)) {
        return vmm_cfg_fail(p, "iothread-vq-mapping must be a non-empty list");
    }
    if (json_array_size(list) > VMM_MAX_IOTHREADS) {
        return vmm_cfg_fail(p, "iothread-vq-mapping: more than %d entries",
                            VMM_MAX_IOTHREADS);
    }
    json_array_foreach(list, i, ent) {
        struct vmm_config_vq_map *m = &b->vq_maps[i];
        json_t *it = json_object_get(ent, "iothread");
        json_t *vqs = json_object_get(ent, "vqs");
        const char *key;
        json_t *val;

        if (!json_is_object(ent) || !json_is_string(it)) {
            return vmm_cfg_fail(p,
                                "iothread-vq-mapping: each entry is an object "
                                "with an \"iothread\" string");
        }
        json_object_foreach(ent, key, val) {
            if (strcmp(key, "iothread") && strcmp(key, "vqs")) {
                return vmm_cfg_fail(p,
                                    "iothread-vq-mapping: unsupported member "
                                    "'%.64s'",
                                    key);
            }
        }
        for (j = 0; j < i; j++) {
            if (!strcmp(b->vq_maps[j].iothread, json_string_value(it))) {
                return vmm_cfg_fail(p,
                                    "iothread-vq-mapping: duplicate IOThread "
                                    "name '%.64s'",
                                    json_string_value(it));
            }
        }
        if (vmm_cfg_set_str(p, &m->iothread, json_string_value(it)) < 0) {
            return -ENOMEM;
        }
        b->nr_vq_maps = (unsigned)i + 1;
        if (!vqs) {
            continue;
        }
        if (!json_is_array(vqs) || !json_array_size(vqs) ||
            json_array_size(vqs) > VMM_MAX_QUEUES) {
            return vmm_cfg_fail(
                p,
                "iothread-vq-mapping: \"vqs\" must be a list of "
                "1 to %d queue numbers",
                VMM_MAX_QUEUES);
        }
        json_array_foreach(vqs, j, vq) {
            if (!json_is_integer(vq) || json_integer_value(vq) < 0 ||
                json_integer_value(vq) >= VMM_MAX_QUEUES) {
                return vmm_cfg_fail(p,
                                    "iothread-vq-mapping: \"vqs\" entries are "
                                    "queue numbers below %d",
                                    VMM_MAX_QUEUES);
            }
            m->vqs[m->nr_vqs++] = (unsigned)json_integer_value(vq);
        }
    }
    return 0;
}

/* QEMU 9's rules: vqs for every entry or none; each queue exactly once. */
static int blk_check_mapping(struct vmm_cfg_parser *p, struct vmm_config_blk *b)
{
    bool seen[VMM_MAX_QUEUES] = {false};
    unsigned with = 0;

    if (b->nr_vq_maps && b->iothread) {
        return vmm_cfg_fail(p,
                            "iothread and iothread-vq-mapping cannot both be "
                            "given");
    }
    for (unsigned i = 0; i < b->nr_vq_maps; i++) {
        with += b->vq_maps[i].nr_vqs > 0;
    }
    if (with && with != b->nr_vq_maps) {
        return vmm_cfg_fail(p,
                            "iothread-vq-mapping: give \"vqs\" for every entry "
                            "or for none");
    }
    for (unsigned i = 0; i < b->nr_vq_maps; i++) {
        struct vmm_config_vq_map *m = &b->vq_maps[i];

        for (unsigned j = 0; j < m->nr_vqs; j++) {
            if (m->vqs[j] >= b->num_queues) {
                return vmm_cfg_fail(p,
                                    "iothread-vq-mapping: vq %u of IOThread "
                                    "'%.64s' is not below num-queues %u",
                                    m->vqs[j], m->iothread, b->num_queues);
            }
            if (seen[m->vqs[j]]) {
                return vmm_cfg_fail(p,
                                    "iothread-vq-mapping: vq %u is assigned "
                                    "twice",
                                    m->vqs[j]);
            }
            seen[m->vqs[j]] = true;
        }
    }
    for (unsigned q = 0; with && q < b->num_queues; q++) {
        if (!seen[q]) {
            return vmm_cfg_fail(p, "iothread-vq-mapping: vq %u has no IOThread",
                                q);
        }
    }
    return 0;
}

static int dev_blk(struct vmm_cfg_parser *p, struct vmm_cfg_opts *o)
{
    struct vmm_config *cfg = p->cfg;
    struct vmm_config_blk *b;
    struct vmm_cfg_kv *map;
    const char *s;
    uint64_t v;
    unsigned e;
    int r;

    if (cfg->nr_blks == VMM_MAX_VIRTIO_DEVS) {
        return vmm_cfg_fail(p,
                            "more than %d virtio devices (one per virtio-mmio "
                            "transport)",
                            VMM_MAX_VIRTIO_DEVS);
    }
    /* Counted at once: on error vmm_config_free() frees what was set. */
    b = &cfg->blks[cfg->nr_blks++];
    b->num_queues = 1;
    b->queue_size = 256;
    r = device_id(p, o, &b->id);
    if (r >= 0 && (r = vmm_cfg_str(p, o, "drive", &s)) == 0) {
        r = vmm_cfg_fail(p, "virtio-blk-device: drive property not set");
    }
    if (r > 0) {
        r = vmm_cfg_set_str(p, &b->drive, s);
    }
    if (r >= 0 && (r = vmm_cfg_str(p, o, "iothread", &s)) > 0) {
        r = vmm_cfg_set_str(p, &b->iothread, s);
    }
    if (r >= 0 && (r = vmm_cfg_uint(p, o, "num-queues", UINT16_MAX, &v)) > 0) {
        r = v < 1 || v > VMM_MAX_QUEUES
                ? vmm_cfg_fail(p, "num-queues %llu: 1 to %d",
                               (unsigned long long)v, VMM_MAX_QUEUES)
                : 0;
        b->num_queues = (unsigned)v;
    }
    if (r >= 0 && (r = vmm_cfg_uint(p, o, "queue-size", UINT16_MAX, &v)) > 0) {
        r = v <= 2 || v > VMM_MAX_QUEUE_SIZE || (v & (v - 1))
                ? vmm_cfg_fail(p,
                               "invalid queue-size %llu: a power of 2 above 2, "
                               "at most %d",
                               (unsigned long long)v, VMM_MAX_QUEUE_SIZE)
                : 0;
        b->queue_size = (unsigned)v;
    }
    if (r >= 0 && (r = vmm_cfg_str(p, o, "serial", &s)) > 0) {
        /* GET_ID returns 20 bytes: QEMU cuts longer serials there too. */
        free(b->serial);
        b->serial = strndup(s, 20);
        r = b->serial ? 0 : vmm_cfg_nomem(p);
    }
    if (r >= 0 && (r = vmm_cfg_enum(p, o, "werror", onerror_names, &e)) > 0) {
        b->werror = (enum vmm_on_error)e;
    }
    if (r >= 0 && (r = vmm_cfg_enum(p, o, "rerror", onerror_names, &e)) > 0) {
        b->rerror = (enum vmm_on_error)e;
    }
    if (r >= 0 && (map = vmm_cfg_opts_find(o, "iothread-vq-mapping")) != NULL) {
        r = map->json
                ? blk_vq_mapping(p, b, map->json)
                : vmm_cfg_fail(p, "iothread-vq-mapping needs the JSON form "
                                  "of -device");
    }
    if (r >= 0) {
        r = vmm_cfg_opts_done(p, o, "virtio-blk-device");
    }
    return r < 0 ? r : blk_check_mapping(p, b);
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
    } else if (r > 0 && !strcmp(driver, "virtio-blk-device")) {
        r = dev_blk(p, &o);
    } else if (r > 0) {
        r = vmm_cfg_fail(p,
                         "unsupported device '%.64s' (loom-vm supports "
                         "isa-debug-exit and virtio-blk-device)",
                         driver);
    }
    vmm_cfg_opts_free(&o);
    return r;
}

/* -drive id=, file=, format=raw and if=none: what names the image. */
static int drive_image(struct vmm_cfg_parser *p, struct vmm_cfg_opts *o,
                       struct vmm_config_drive *d)
{
    struct vmm_config *cfg = p->cfg;
    const char *s;
    int r;

    if ((r = vmm_cfg_str(p, o, "id", &s)) == 0) {
        r = vmm_cfg_fail(p,
                         "parameter 'id' is missing (a -device refers to it)");
    }
    if (r > 0 && (r = vmm_cfg_check_id(p, s)) >= 0) {
        for (unsigned i = 0; r >= 0 && i + 1 < cfg->nr_drives; i++) {
            if (!strcmp(cfg->drives[i].id, s)) {
                r = vmm_cfg_fail(p, "duplicate ID '%.64s' for drive", s);
            }
        }
        if (r >= 0) {
            r = vmm_cfg_set_str(p, &d->id, s);
        }
    }
    if (r >= 0 &&
        ((r = vmm_cfg_str(p, o, "file", &s)) == 0 || (r > 0 && !*s))) {
        r = vmm_cfg_fail(p, "parameter 'file' is missing");
    }
    if (r > 0) {
        r = vmm_cfg_set_str(p, &d->file, s);
    }
    if (r >= 0 && (r = vmm_cfg_str(p, o, "format", &s)) == 0) {
        r = vmm_cfg_fail(p,
                         "format=raw is required (loom-vm does not probe image "
                         "formats)");
    }
    if (r > 0 && strcmp(s, "raw")) {
        r = vmm_cfg_fail(p, "format '%.64s' is not supported (only raw)", s);
    }
    if (r >= 0 && (r = vmm_cfg_str(p, o, "if", &s)) > 0 && strcmp(s, "none")) {
        r = vmm_cfg_fail(p,
                         "if=%.64s is not supported (use if=none and -device "
                         "virtio-blk-device)",
                         s);
    }
    return r;
}

/* -drive cache=, aio=, readonly=, werror=, rerror=, discard=. */
static int drive_modes(struct vmm_cfg_parser *p, struct vmm_cfg_opts *o,
                       struct vmm_config_drive *d)
{
    /* The first three of each are in the enum's order. */
    static const char *const caches[] = {
        "writeback", "none", "unsafe", "directsync", "writethrough", NULL,
    };
    static const char *const aios[] = {"threads", "io_uring", "native", NULL};
    static const char *const discards[] = {"ignore", "unmap", "off", "on",
                                           NULL};
    unsigned e;
    bool b;
    int r = 0;

    if ((r = vmm_cfg_enum(p, o, "cache", caches, &e)) > 0) {
        r = e > VMM_CACHE_UNSAFE
                ? vmm_cfg_fail(p,
                               "cache=%s is not supported by "
                               "loom-vm (none, writeback, unsafe)",
                               caches[e])
                : 0;
        d->cache = (enum vmm_cache_mode)e;
    }
    if (r >= 0 && (r = vmm_cfg_enum(p, o, "aio", aios, &e)) > 0) {
        r = e > VMM_AIO_IO_URING
                ? vmm_cfg_fail(p, "aio=native is not supported by "
                                  "loom-vm (threads, io_uring)")
                : 0;
        d->aio = (enum vmm_aio_mode)e;
    }
    if (r >= 0 && (r = vmm_cfg_bool(p, o, "readonly", &b)) > 0) {
        d->readonly = b;
    }
    if (r >= 0 && (r = vmm_cfg_enum(p, o, "werror", onerror_names, &e)) > 0) {
        r = e == VMM_ONERR_DEFAULT
                ? vmm_cfg_fail(p, "'auto' is not a valid write "
                                  "error action")
                : 0;
        d->werror = (enum vmm_on_error)e;
    }
    if (r >= 0 && (r = vmm_cfg_enum(p, o, "rerror", onerror_names, &e)) > 0) {
        r = e == VMM_ONERR_DEFAULT || e == VMM_ONERR_ENOSPC
                ? vmm_cfg_fail(p,
                               "'%s' is not a valid read error action (report, "
                               "ignore, stop)",
                               onerror_names[e])
                : 0;
        d->rerror = (enum vmm_on_error)e;
    }
    if (r >= 0 && (r = vmm_cfg_enum(p, o, "discard", discards, &e)) > 0) {
        d->discard = e & 1 ? VMM_DISCARD_UNMAP : VMM_DISCARD_IGNORE;
    }
    return r;
}

int vmm_cfg_opt_drive(struct vmm_cfg_parser *p, const char *arg)
{
    struct vmm_config *cfg = p->cfg;
    struct vmm_config_drive *d;
    struct vmm_cfg_opts o;
    int r;

    if (cfg->nr_drives == VMM_MAX_DRIVES) {
        return vmm_cfg_fail(p, "more than %d drives", VMM_MAX_DRIVES);
    }
    r = vmm_cfg_opts_split(p, arg, NULL, VMM_CFG_QEMUOPTS, &o);
    if (r < 0) {
        return r;
    }
    /* Counted at once: on error vmm_config_free() frees what was set. */
    d = &cfg->drives[cfg->nr_drives++];
    r = drive_image(p, &o, d);
    if (r >= 0) {
        r = drive_modes(p, &o, d);
    }
    if (r >= 0) {
        r = vmm_cfg_opts_done(p, &o, NULL);
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

/* ---- Checks across options --------------------------------------------- */

static bool iothread_exists(struct vmm_config *cfg, const char *id)
{
    for (unsigned i = 0; i < cfg->nr_iothreads; i++) {
        if (!strcmp(cfg->iothreads[i].id, id)) {
            return true;
        }
    }
    return false;
}

/* Each virtio-blk-device names one -drive, each -drive has one device. */
int vmm_cfg_resolve_devices(struct vmm_cfg_parser *p)
{
    struct vmm_config *cfg = p->cfg;
    bool used[VMM_MAX_DRIVES] = {false};

    p->opt = "-device";
    for (unsigned i = 0; i < cfg->nr_blks; i++) {
        struct vmm_config_blk *b = &cfg->blks[i];
        unsigned d;

        for (d = 0; d < cfg->nr_drives; d++) {
            if (!strcmp(cfg->drives[d].id, b->drive)) {
                break;
            }
        }
        if (d == cfg->nr_drives) {
            return vmm_cfg_fail(p, "virtio-blk-device: drive '%.64s' not found",
                                b->drive);
        }
        if (used[d]) {
            return vmm_cfg_fail(p,
                                "drive '%.64s' is already in use by another "
                                "device",
                                b->drive);
        }
        used[d] = true;
        if (b->iothread && !iothread_exists(cfg, b->iothread)) {
            return vmm_cfg_fail(p, "IOThread '%.64s' not found", b->iothread);
        }
        for (unsigned m = 0; m < b->nr_vq_maps; m++) {
            if (!iothread_exists(cfg, b->vq_maps[m].iothread)) {
                return vmm_cfg_fail(p, "IOThread '%.64s' not found",
                                    b->vq_maps[m].iothread);
            }
        }
    }
    p->opt = "-drive";
    for (unsigned d = 0; d < cfg->nr_drives; d++) {
        if (!used[d]) {
            return vmm_cfg_fail(p, "drive '%.64s' is not used by any -device",
                                cfg->drives[d].id);
        }
    }
    return 0;
}
