/* SPDX-License-Identifier: MIT */
/*
 * Block I/O errors, from the devices to QMP (QEMU's BLOCK_IO_ERROR and
 * werror/rerror=stop).  A device reports every failed read or write on
 * the thread serving its queue (an IOThread, without the BQL), where
 * nothing may block: vmm__machine_blk_error() only records it under a
 * small lock and schedules a BH.  The BH, on the main loop with the BQL,
 * emits one BLOCK_IO_ERROR per error, then, if the stop policy hit and
 * the VM runs, stops it in io-error.  The failed requests of the stop
 * policy are held by their queues and go again at cont (the dataplane's
 * resume), so none is lost or answered twice.
 *
 * The ring is bounded: errors past VMM_MACHINE_BLK_ERRS waiting for the
 * main loop are counted, not reported, and a stop is never lost.
 */
#include "machine/machine-int.h"

#include <errno.h>
#include <string.h>

#include <loom/bh.h>
#include <loom/main.h>

static const char *action_name(enum vmm_blk_error_action a)
{
    switch (a) {
    case VMM_BLK_ERR_IGNORE:
        return "ignore";
    case VMM_BLK_ERR_STOP:
        return "stop";
    case VMM_BLK_ERR_REPORT:
        break;
    }
    return "report";
}

/* Callback: the main loop, BQL held. */
static void errors_bh(void *opaque)
{
    struct vmm_machine *m = opaque;
    struct vmm_machine_blk_errors *q = &m->blk_errors;
    struct vmm_machine_blk_err batch[VMM_MACHINE_BLK_ERRS];
    unsigned n = 0, i;
    bool stop;

    loom_mutex_lock(&q->lock);
    while (q->len > 0) {
        batch[n++] = q->ring[q->head];
        q->head = (q->head + 1) % VMM_MACHINE_BLK_ERRS;
        q->len--;
    }
    stop = q->stop_pending;
    q->stop_pending = false;
    loom_mutex_unlock(&q->lock);

    for (i = 0; i < n; i++) {
        const struct vmm_machine_blk_err *e = &batch[i];
        struct vmm_blk_info info;
        struct vmm_machine_event ev = {
            .kind = VMM_EVENT_BLOCK_IO_ERROR,
            .is_write = !e->is_read,
            .action = action_name(e->action),
            .nospace = e->err == -ENOSPC,
            .reason = strerror(-e->err),
        };

        vmm_machine_blk_info(e->v->blk, &info);
        ev.device = info.id ? info.id : "";
        ev.node = info.drive;
        if (e->action == VMM_BLK_ERR_STOP) {
            e->v->io_status = e->err;
        }
        vmm_machine_emit(m, &ev);
    }
    /* QEMU stops a running VM only (stopped already: it stays as it is). */
    if (stop && !m->quitting && m->state == VMM_RUNSTATE_RUNNING) {
        (void)vmm_machine_stop(m, VMM_RUNSTATE_IO_ERROR);
    }
}

void vmm__machine_blk_error(void *opaque, bool is_read, int err,
                            enum vmm_blk_error_action action)
{
    struct vmm_machine_virtio *v = opaque;
    struct vmm_machine_blk_errors *q = &v->m->blk_errors;

    loom_mutex_lock(&q->lock);
    if (q->len < VMM_MACHINE_BLK_ERRS) {
        struct vmm_machine_blk_err *e =
            &q->ring[(q->head + q->len) % VMM_MACHINE_BLK_ERRS];

        e->v = v;
        e->is_read = is_read;
        e->err = err;
        e->action = action;
        q->len++;
    } else {
        q->lost++;
    }
    q->stop_pending = q->stop_pending || action == VMM_BLK_ERR_STOP;
    loom_mutex_unlock(&q->lock);
    loom_bh_schedule(q->bh);
}

int vmm__machine_blk_errors_init(struct vmm_machine *m)
{
    struct vmm_machine_blk_errors *q = &m->blk_errors;

    loom_mutex_init(&q->lock);
    return loom_bh_new(loom_main_loop(), errors_bh, m, "vmm-blk-errors",
                       &q->bh);
}

void vmm__machine_blk_errors_destroy(struct vmm_machine *m)
{
    struct vmm_machine_blk_errors *q = &m->blk_errors;

    if (!q->bh) {
        return;
    }
    /* The devices are gone: nothing reports any more. */
    loom_bh_free(q->bh);
    q->bh = NULL;
    loom_mutex_destroy(&q->lock);
}
