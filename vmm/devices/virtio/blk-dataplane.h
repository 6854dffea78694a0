/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk dataplane: the only code that binds a virtio-blk device to
 * threads (QEMU's dataplane).  Each request queue is served by one loop -
 * an IOThread's, without the BQL, or the main loop's, under the BQL -
 * which watches the queue's doorbell eventfd, polls its avail ring when
 * the loop busy-polls, submits to the backend context of that loop and
 * raises the queue's interrupts.  It implements struct vmm_virtio_dev_ops
 * for the transport: start, reset, notifications and the configuration
 * space, handing each change to the queue's loop.
 *
 * Threads (docs/design/vmm-virtio.md has the whole argument): transport
 * calls arrive with the BQL held (vCPU threads, or the main thread).  A
 * queue's state is changed only by its loop's thread: the caller hands
 * the change over with a BH and waits (an IOThread never needs the BQL,
 * so waiting for it with the BQL held cannot deadlock).  For a queue on
 * the main loop, which dispatches only with the BQL held, holding the BQL
 * already excludes its thread, so the change runs in the caller; a
 * reset there cannot poll the main loop, so it waits for the requests'
 * I/O and cancels them instead of completing them.
 */
#ifndef VMM_DEVICES_VIRTIO_BLK_DATAPLANE_H
#define VMM_DEVICES_VIRTIO_BLK_DATAPLANE_H

#include <stdbool.h>
#include <stdint.h>

#include <loom/loop.h>

#include "block/backend.h"
#include "core/guest-mem.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/virtio.h"

#define VMM_BLK_DP_MAX_QUEUES 16

/**
 * struct vmm_blk_dataplane_opts - how to serve a device.
 * @blk: the device.
 * @backend: its image.
 * @gm: guest RAM.
 * @aio: the engine of every backend context.
 * @loops: the loop serving each queue (vmm_virtio_blk_num_queues()).
 * @max_batch: each queue's loop's aio-max-batch (0: no limit).
 * @main_loop: the main loop, or NULL if no queue runs on it.  A queue on
 *     the main loop requires that the main loop runs its callbacks only
 *     with the BQL held (loom-vm's main.c: loom_main_loop_wait() with the
 *     BQL).
 */
struct vmm_blk_dataplane_opts {
    struct vmm_virtio_blk *blk;
    struct vmm_blk_backend *backend;
    const struct vmm_gmem *gm;
    enum vmm_aio_mode aio;
    struct loom_loop *loops[VMM_BLK_DP_MAX_QUEUES];
    unsigned max_batch[VMM_BLK_DP_MAX_QUEUES];
    struct loom_loop *main_loop;
};

struct vmm_blk_dataplane;

/**
 * vmm_blk_dataplane_new() - bind a device's queues to their loops.
 * @o: the options (copied).
 * @ret: receives the dataplane.
 *
 * Creates a backend context on each loop and registers each queue's
 * doorbell handler there; the loops other than the main loop must be
 * running (their threads do the registration).
 *
 * Context: the main loop's thread (if a queue runs there), bql or not.
 * Return: 0; -EINVAL for bad options; -ENOMEM; the error of creating a
 * context, a notifier or a handler.
 */
int vmm_blk_dataplane_new(const struct vmm_blk_dataplane_opts *o,
                          struct vmm_blk_dataplane **ret);

/**
 * vmm_blk_dataplane_free() - unbind and free (queues running are stopped,
 * their requests completed, first).
 * @dp: the dataplane, or NULL.
 *
 * Context: as vmm_blk_dataplane_new(); the loops must still run.
 */
void vmm_blk_dataplane_free(struct vmm_blk_dataplane *dp);

/**
 * vmm_blk_dataplane_dev_ops() - the device as the transport drives it.
 * Context: any.  Return: valid as long as @dp.
 */
const struct vmm_virtio_dev_ops *
vmm_blk_dataplane_dev_ops(struct vmm_blk_dataplane *dp);

/**
 * vmm_blk_dataplane_set_host() - the transport's calls (interrupts,
 * NEEDS_RESET), before the driver can start the device.
 * Context: bql.
 */
void vmm_blk_dataplane_set_host(struct vmm_blk_dataplane *dp,
                                const struct vmm_virtio_host *host);

/**
 * vmm_blk_dataplane_pause() - stop taking requests and wait until none
 * is in flight (vm stop).  Doorbells that ring meanwhile are remembered.
 * Context: the main loop's thread.
 */
void vmm_blk_dataplane_pause(struct vmm_blk_dataplane *dp);

/**
 * vmm_blk_dataplane_resume() - take requests again (cont).
 * Context: the main loop's thread.
 */
void vmm_blk_dataplane_resume(struct vmm_blk_dataplane *dp);

/**
 * vmm_blk_dataplane_move_queue() - serve queue @q from @loop from now on,
 * while the guest runs.
 * @dp: the dataplane.
 * @q: the queue index.
 * @loop: its new loop (an IOThread's, running; or the main loop).
 * @max_batch: @loop's aio-max-batch (0: no limit), if the device has no
 *     backend context there yet.
 *
 * The queue stops taking requests on its old loop, whose thread waits for
 * its requests in flight to complete (they are answered there); its
 * doorbell handler leaves that loop and joins @loop, whose thread then
 * looks at the ring once more - requests whose doorbell rang during the
 * move, or that the old loop saw but did not take, are taken there - and
 * makes an interrupt decision (answers whose interrupt the old loop had
 * not decided yet).  Nothing the guest submitted is lost or answered
 * twice.  A paused queue (vm stop) stays paused, with its held requests
 * (werror/rerror=stop), which the new loop retries at resume.  A loop
 * left without a queue of the device loses its backend context.
 *
 * Context: the main loop's thread, bql; the queue's old and new loops
 * must be running.
 * Return: 0 (also when @loop already serves @q); -EINVAL for a bad @q
 * or a NULL @loop; -ENOSPC if the device has a queue on each of
 * VMM_BLK_DP_MAX_QUEUES other loops; -ENOMEM; the error of creating a
 * backend context on @loop, or of registering the doorbell there (the
 * queue is then back on its old loop).
 */
int vmm_blk_dataplane_move_queue(struct vmm_blk_dataplane *dp, unsigned q,
                                 struct loom_loop *loop, unsigned max_batch);

/**
 * vmm_blk_dataplane_reset() - what a driver's reset does: stop every
 * queue (requests completed, or cancelled on the main loop from a vCPU)
 * and reset the device's configuration.
 * Context: bql, or the main loop's thread.
 */
void vmm_blk_dataplane_reset(struct vmm_blk_dataplane *dp);

/**
 * struct vmm_blk_queue_stats - counters of one queue (since creation).
 * @kicks: doorbell events (guest notifications that reached the loop).
 * @kicks_ignored: of those, for a queue that was not running.
 * @poll_hits: times busy-polling found requests (no notification needed).
 * @processed: chains taken from the avail ring.
 * @irqs: interrupts raised.
 * @irqs_suppressed: interrupt decisions that EVENT_IDX / NO_INTERRUPT
 *     turned down.
 * @broken: times the ring was found corrupted.
 * @notify_suppressed: times processing ended with guest notifications
 *     left off because the loop was polling.
 * @dropped: requests taken and never answered because the driver reset
 *     the device (cancelled; in flight = @processed - @lat.answered -
 *     @dropped).
 * @moves: times the queue moved to another loop
 *     (vmm_blk_dataplane_move_queue()).
 * @lat: answers and their service times (pickup to used entry).
 * @wait: per request taken, the time it waited in the ring: from the
 *     first doorbell, poll hit or processing pass that found it there but
 *     could not take it (the queue was paused, being moved, or had every
 *     request slot busy) to the batch that took it; 0 for a request taken
 *     by the pass that found it.  Its counts add up to @processed.
 */
struct vmm_blk_queue_stats {
    uint64_t kicks, kicks_ignored, poll_hits, processed;
    uint64_t irqs, irqs_suppressed, broken, notify_suppressed;
    uint64_t dropped, moves;
    struct vmm_virtio_blk_lat_stats lat;
    struct vmm_blk_lat wait;
};

/**
 * vmm_blk_dataplane_queue_stats() - read a queue's counters.
 * @dp: the dataplane.
 * @q: the queue index.
 * @st: receives them (each read atomically).
 * Context: any.  Return: 0; -EINVAL for a bad @q.
 */
int vmm_blk_dataplane_queue_stats(struct vmm_blk_dataplane *dp, unsigned q,
                                  struct vmm_blk_queue_stats *st);

#endif /* VMM_DEVICES_VIRTIO_BLK_DATAPLANE_H */
