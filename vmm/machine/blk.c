/* SPDX-License-Identifier: MIT */
/*
 * Wiring of one virtio-blk device (blk.h): resolve the options, build the
 * pieces in order - backend, device, dataplane, transport - and tear them
 * down in reverse.  Runs on the main loop's thread.
 */
#include "machine/blk.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_QUEUE_SIZE 256u

struct vmm_blk {
    struct vmm_blk_backend *backend;
    struct vmm_virtio_blk *dev;
    struct vmm_blk_dataplane *dp;
    struct vmm_virtio_mmio *transport;
    struct vmm_blk_info info;
    char *id, *drive, *file;
    char serial[VMM_VIRTIO_BLK_ID_BYTES + 1];
    char *iothread_ids[VMM_MAX_QUEUES];
};

static int fail(char **errmsg, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char **errmsg, int err, const char *fmt, ...)
{
    va_list ap;

    if (errmsg) {
        va_start(ap, fmt);
        if (vasprintf(errmsg, fmt, ap) < 0) {
            *errmsg = NULL;
        }
        va_end(ap);
    }
    return err;
}

/* The index of IOThread @id, or -1. */
static int find_iothread(const struct vmm_blk_wiring *w, const char *id)
{
    unsigned i;

    for (i = 0; id && i < w->nr_iothreads; i++) {
        if (w->iothreads[i].id && !strcmp(w->iothreads[i].id, id)) {
            return (int)i;
        }
    }
    return -1;
}

/*
 * QEMU 9's iothread-vq-mapping: every entry lists its vqs, or none does
 * and the queues are dealt round-robin; every queue exactly once.
 */
static int map_queues(const struct vmm_blk_wiring *w, unsigned nq, int *which,
                      char **errmsg)
{
    const struct vmm_config_blk *c = w->blk;
    bool listed = c->vq_maps[0].nr_vqs > 0;
    unsigned i, j, v;

    for (i = 0; i < nq; i++) {
        which[i] = -1;
    }
    for (i = 0; i < c->nr_vq_maps; i++) {
        const struct vmm_config_vq_map *m = &c->vq_maps[i];
        int io = find_iothread(w, m->iothread);

        if (io < 0) {
            return fail(errmsg, -EINVAL,
                        "iothread-vq-mapping: no iothread "
                        "'%s'",
                        m->iothread ? m->iothread : "");
        }
        if ((m->nr_vqs > 0) != listed) {
            return fail(errmsg, -EINVAL,
                        "iothread-vq-mapping: either all "
                        "or no entries list vqs");
        }
        for (j = 0; j < m->nr_vqs; j++) {
            v = m->vqs[j];
            if (v >= nq || which[v] >= 0) {
                return fail(errmsg, -EINVAL,
                            "iothread-vq-mapping: vq %u is "
                            "%s",
                            v, v >= nq ? "out of range" : "mapped twice");
            }
            which[v] = io;
        }
    }
    for (i = 0; i < nq; i++) {
        if (!listed) {
            which[i] = find_iothread(w, c->vq_maps[i % c->nr_vq_maps].iothread);
        } else if (which[i] < 0) {
            return fail(errmsg, -EINVAL,
                        "iothread-vq-mapping: vq %u is not "
                        "mapped",
                        i);
        }
    }
    return 0;
}

/* aio-max-batch: unset (-1) or 0 is the ring's size; huge is no limit. */
static unsigned batch_of(const struct vmm_config_iothread *io)
{
    if (io->aio_max_batch <= 0 || io->aio_max_batch > UINT32_MAX) {
        return 0;
    }
    return (unsigned)io->aio_max_batch;
}

/* Each queue's loop and aio-max-batch. */
static int resolve_loops(const struct vmm_blk_wiring *w, struct vmm_blk *b,
                         struct vmm_blk_dataplane_opts *o, char **errmsg)
{
    unsigned nq = b->info.num_queues, i;
    int which[VMM_MAX_QUEUES], io = -1, err;

    if (w->blk->nr_vq_maps) {
        err = map_queues(w, nq, which, errmsg);
        if (err) {
            return err;
        }
    } else {
        if (w->blk->iothread) {
            io = find_iothread(w, w->blk->iothread);
            if (io < 0) {
                return fail(errmsg, -EINVAL, "no iothread '%s'",
                            w->blk->iothread);
            }
        } else if (!w->main_loop) {
            return fail(errmsg, -EINVAL, "no loop to serve the device");
        }
        for (i = 0; i < nq; i++) {
            which[i] = io;
        }
    }
    for (i = 0; i < nq; i++) {
        if (which[i] < 0) {
            o->loops[i] = w->main_loop;
            continue;
        }
        o->loops[i] = w->iothread_loops[which[i]];
        o->max_batch[i] = batch_of(&w->iothreads[which[i]]);
        b->iothread_ids[i] = strdup(w->iothreads[which[i]].id);
        if (!b->iothread_ids[i]) {
            return -ENOMEM;
        }
        b->info.queue_iothread[i] = b->iothread_ids[i];
    }
    o->main_loop = w->main_loop;
    return 0;
}

static int check_opts(const struct vmm_blk_wiring *w, struct vmm_blk *b,
                      char **errmsg)
{
    const struct vmm_config_blk *c = w->blk;
    unsigned qs = c->queue_size ? c->queue_size : DEFAULT_QUEUE_SIZE;
    unsigned nq = c->num_queues ? c->num_queues : 1;

    if (qs < 4 || qs > VMM_VIRTIO_MAX_QUEUE_SIZE || (qs & (qs - 1))) {
        return fail(errmsg, -EINVAL,
                    "virtio-blk: queue-size %u is not a "
                    "power of two in 4..1024",
                    qs);
    }
    if (nq > VMM_MAX_QUEUES || nq > VMM_BLK_DP_MAX_QUEUES) {
        return fail(errmsg, -EINVAL, "virtio-blk: num-queues %u is above %d",
                    nq, VMM_MAX_QUEUES);
    }
    /* A longer serial is cut, as QEMU cuts it in GET_ID. */
    if (c->serial) {
        snprintf(b->serial, sizeof(b->serial), "%s", c->serial);
    }
    if (w->iothread_loops == NULL && w->nr_iothreads) {
        return -EINVAL;
    }
    b->info.num_queues = nq;
    b->info.queue_size = qs;
    return 0;
}

static int copy_strings(const struct vmm_blk_wiring *w, struct vmm_blk *b)
{
    b->id = w->blk->id ? strdup(w->blk->id) : NULL;
    b->drive = strdup(w->drive->id ? w->drive->id : "");
    b->file = strdup(w->drive->file ? w->drive->file : "");
    if ((w->blk->id && !b->id) || !b->drive || !b->file) {
        return -ENOMEM;
    }
    b->info.id = b->id;
    b->info.drive = b->drive;
    b->info.file = b->file;
    return 0;
}

static int build(const struct vmm_blk_wiring *w, struct vmm_blk *b,
                 char **errmsg)
{
    struct vmm_virtio_blk_opts bo = {0};
    struct vmm_blk_dataplane_opts dpo = {0};
    struct vmm_virtio_mmio_opts mo = {0};
    struct vmm_virtio_host host;
    int err;

    err = vmm_blk_backend_open(w->drive, &b->backend, errmsg);
    if (err) {
        return err;
    }
    bo.backend = b->backend;
    bo.num_queues = b->info.num_queues;
    bo.queue_size = (uint16_t)b->info.queue_size;
    bo.serial = w->blk->serial ? b->serial : NULL;
    bo.discard = w->drive->discard;
    bo.werror = w->blk->werror ? w->blk->werror : w->drive->werror;
    bo.rerror = w->blk->rerror ? w->blk->rerror : w->drive->rerror;
    bo.on_error = w->on_error;
    bo.error_opaque = w->error_opaque;
    err = vmm_virtio_blk_new(&bo, &b->dev);
    if (err) {
        return fail(errmsg, err, "virtio-blk: bad device options");
    }
    dpo.blk = b->dev;
    dpo.backend = b->backend;
    dpo.gm = w->gmem;
    dpo.aio = w->drive->aio;
    err = resolve_loops(w, b, &dpo, errmsg);
    if (!err) {
        err = vmm_blk_dataplane_new(&dpo, &b->dp);
        if (err) {
            fail(errmsg, err, "virtio-blk: cannot serve drive '%s': %s",
                 b->drive, strerror(-err));
        }
    }
    if (err) {
        return err;
    }
    mo.dev = vmm_blk_dataplane_dev_ops(b->dp);
    mo.irq = &w->irq;
    mo.bus = w->mmio_bus;
    mo.base = w->base;
    mo.doorbells = w->doorbells;
    mo.legacy = w->force_legacy;
    mo.name = b->id ? b->id : b->drive;
    err = vmm_virtio_mmio_new(&mo, &b->transport);
    if (err) {
        return fail(errmsg, err, "virtio-mmio at 0x%llx: %s",
                    (unsigned long long)w->base, strerror(-err));
    }
    host = vmm_virtio_mmio_host(b->transport);
    vmm_blk_dataplane_set_host(b->dp, &host);
    return 0;
}

int vmm_machine_blk_create(const struct vmm_blk_wiring *w, struct vmm_blk **ret,
                           char **errmsg)
{
    struct vmm_blk *b;
    int err;

    if (errmsg) {
        *errmsg = NULL;
    }
    if (!w || !ret || !w->blk || !w->drive || !w->gmem || !w->mmio_bus) {
        return -EINVAL;
    }
    b = calloc(1, sizeof(*b));
    if (!b) {
        return -ENOMEM;
    }
    err = copy_strings(w, b);
    if (!err) {
        err = check_opts(w, b, errmsg);
    }
    if (!err) {
        b->info.base = w->base;
        b->info.legacy = w->force_legacy;
        b->info.cache = w->drive->cache;
        b->info.aio = w->drive->aio;
        b->info.readonly = w->drive->readonly;
        err = build(w, b, errmsg);
    }
    if (err) {
        vmm_machine_blk_free(b);
        return err;
    }
    b->info.size = vmm_blk_backend_size(b->backend);
    *ret = b;
    return 0;
}

void vmm_machine_blk_free(struct vmm_blk *b)
{
    unsigned i;

    if (!b) {
        return;
    }
    if (b->transport) {
        vmm_virtio_mmio_reset(b->transport);
    } else if (b->dp) {
        vmm_blk_dataplane_reset(b->dp);
    }
    vmm_virtio_mmio_free(b->transport);
    vmm_blk_dataplane_free(b->dp);
    vmm_virtio_blk_free(b->dev);
    vmm_blk_backend_free(b->backend);
    for (i = 0; i < VMM_MAX_QUEUES; i++) {
        free(b->iothread_ids[i]);
    }
    free(b->id);
    free(b->drive);
    free(b->file);
    free(b);
}

void vmm_machine_blk_pause(struct vmm_blk *b)
{
    vmm_blk_dataplane_pause(b->dp);
}

void vmm_machine_blk_resume(struct vmm_blk *b)
{
    vmm_blk_dataplane_resume(b->dp);
}

void vmm_machine_blk_reset(struct vmm_blk *b)
{
    vmm_virtio_mmio_reset(b->transport);
}

int vmm_machine_blk_move_queue(struct vmm_blk *b, unsigned q,
                               const struct vmm_config_iothread *io,
                               struct loom_loop *loop)
{
    char *id;
    int err;

    if (q >= b->info.num_queues || !io || !io->id || !loop ||
        !b->iothread_ids[q]) {
        return -EINVAL;
    }
    if (strcmp(b->iothread_ids[q], io->id) == 0) {
        return 0;
    }
    id = strdup(io->id);
    if (!id) {
        return -ENOMEM;
    }
    err = vmm_blk_dataplane_move_queue(b->dp, q, loop, batch_of(io));
    if (err) {
        free(id);
        return err;
    }
    free(b->iothread_ids[q]);
    b->iothread_ids[q] = id;
    b->info.queue_iothread[q] = id;
    return 0;
}

void vmm_machine_blk_info(const struct vmm_blk *b, struct vmm_blk_info *info)
{
    *info = b->info;
}

void vmm_machine_blk_stats(const struct vmm_blk *b, struct vmm_blk_stats *st)
{
    unsigned i;

    memset(st, 0, sizeof(*st));
    vmm_virtio_blk_stats(b->dev, &st->dev);
    vmm_blk_backend_stats(b->backend, &st->backend);
    vmm_virtio_mmio_stats(b->transport, &st->transport);
    for (i = 0; i < b->info.num_queues; i++) {
        (void)vmm_blk_dataplane_queue_stats(b->dp, i, &st->queue[i]);
    }
}
