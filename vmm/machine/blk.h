/* SPDX-License-Identifier: MIT */
/*
 * One virtio-blk device on a virtio-mmio transport, wired from the
 * command line: the machine calls vmm_machine_blk_create() once per
 * -device virtio-blk-device, with everything it owns (guest RAM, the MMIO
 * bus, the transport's address and interrupt line, doorbells, loops), and
 * gets back a handle for run control (pause/resume around vm stop/cont),
 * reset, statistics (QMP query-block, query-blockstats,
 * x-loom-query-stats) and teardown.
 *
 * Inside: the drive's backend (block/), the device (devices/virtio/blk.c),
 * its dataplane binding each queue to a loop (blk-dataplane.c) and the
 * transport (mmio.c).
 */
#ifndef VMM_MACHINE_BLK_H
#define VMM_MACHINE_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include <loom/loop.h>

#include "block/backend.h"
#include "config.h"
#include "core/bus.h"
#include "core/guest-mem.h"
#include "core/irq.h"
#include "devices/virtio/blk-dataplane.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/mmio.h"

/**
 * struct vmm_blk_wiring - what the machine hands over for one device.
 * @blk: the -device options.
 * @drive: the -drive it names.
 * @gmem: guest RAM.
 * @mmio_bus: the MMIO bus.
 * @base: the transport's address (VMM_VIRTIO_MMIO_SIZE bytes).
 * @irq: its interrupt line (an irqfd: edge, fired on each assert).
 * @doorbells: MMIO ioeventfds for QueueNotify, or NULL.
 * @main_loop: the main loop (queues without an IOThread run there; it
 *     must dispatch only with the BQL held).
 * @nr_iothreads: entries in @iothreads and @iothread_loops.
 * @iothreads: the -object iothread options (ids, aio-max-batch).
 * @iothread_loops: the loop of each, in the same order.
 * @force_legacy: -global virtio-mmio.force-legacy=on.
 * @on_error: the hook told of every failed read or write (werror= /
 *     rerror=: the stop policy holds the request until resume), or NULL.
 * @error_opaque: passed to @on_error.
 */
struct vmm_blk_wiring {
    const struct vmm_config_blk *blk;
    const struct vmm_config_drive *drive;
    const struct vmm_gmem *gmem;
    struct vmm_bus *mmio_bus;
    uint64_t base;
    struct vmm_irq irq;
    const struct vmm_doorbells *doorbells;
    struct loom_loop *main_loop;
    unsigned nr_iothreads;
    const struct vmm_config_iothread *iothreads;
    struct loom_loop *const *iothread_loops;
    bool force_legacy;
    vmm_blk_error_fn *on_error;
    void *error_opaque;
};

struct vmm_blk;

/**
 * vmm_machine_blk_create() - build and map one virtio-blk device.
 * @w: the wiring.
 * @ret: receives the device.
 * @errmsg: receives a malloc'ed one-line message on failure (naming the
 *     device or drive), or NULL.
 *
 * Defaults: num-queues 1, queue-size 256; a serial longer than 20 bytes
 * is cut to 20 (QEMU cuts it in GET_ID).  Queues go to the device's
 * IOThread, or are spread over iothread-vq-mapping (QEMU 9: each entry's
 * vqs, or round-robin when no entry lists any), or run on the main loop.
 * The IOThreads must be running.
 *
 * Context: the main loop's thread.
 * Return: 0; -EINVAL for bad options (queue size not a power of two in
 * 4..1024, more than 16 queues, an unknown IOThread, a vq mapping that does not
 * cover every queue exactly once); the error of opening the image or mapping
 * the transport.
 */
int vmm_machine_blk_create(const struct vmm_blk_wiring *w, struct vmm_blk **ret,
                           char **errmsg);

/**
 * vmm_machine_blk_free() - unmap and free (the device is reset first:
 * requests in flight complete).
 * @b: the device, or NULL.
 * Context: the main loop's thread, bql; the IOThreads must still run.
 */
void vmm_machine_blk_free(struct vmm_blk *b);

/**
 * vmm_machine_blk_pause() - vm stop: take no more requests and wait until
 * none is in flight.
 * Context: the main loop's thread.
 */
void vmm_machine_blk_pause(struct vmm_blk *b);

/**
 * vmm_machine_blk_resume() - cont: take requests again.
 * Context: the main loop's thread.
 */
void vmm_machine_blk_resume(struct vmm_blk *b);

/**
 * vmm_machine_blk_reset() - a system reset: as if the driver reset it.
 * Context: the main loop's thread, bql.
 */
void vmm_machine_blk_reset(struct vmm_blk *b);

/**
 * struct vmm_blk_info - what QMP's query-block reports.
 * @id: the -device id (may be NULL).
 * @drive: the -drive id.
 * @file: the image (as given, x-loom-fault prefix included).
 * @size: bytes.
 * @readonly: read-only.
 * @cache: the cache mode.
 * @aio: the engine asked for.
 * @num_queues: request queues.
 * @queue_size: their maximum size.
 * @base: the transport's address.
 * @legacy: virtio-mmio version 1.
 * @queue_iothread: the IOThread id serving each queue, NULL for the main
 *     loop.
 */
struct vmm_blk_info {
    const char *id;
    const char *drive;
    const char *file;
    uint64_t size;
    bool readonly;
    enum vmm_cache_mode cache;
    enum vmm_aio_mode aio;
    unsigned num_queues;
    unsigned queue_size;
    uint64_t base;
    bool legacy;
    const char *queue_iothread[VMM_MAX_QUEUES];
};

/**
 * vmm_machine_blk_info() - describe the device.
 * Context: any.  Strings live as long as @b, except a queue's IOThread
 * id, which lives until that queue moves (vmm_machine_blk_move_queue()).
 */
void vmm_machine_blk_info(const struct vmm_blk *b, struct vmm_blk_info *info);

/**
 * vmm_machine_blk_move_queue() - serve queue @q from IOThread @io (whose
 * loop is @loop) from now on, while the guest runs
 * (vmm_blk_dataplane_move_queue()).
 * @b: the device.
 * @q: the queue.
 * @io: the IOThread's configuration (its id; its aio-max-batch if the
 *     device has no backend context on it yet).
 * @loop: the IOThread's loop.
 *
 * Context: main thread, BQL held; the IOThreads running.
 * Return: 0 (also when @io serves @q already); -EINVAL for a bad @q, a
 * NULL @io or @loop, or a device served by the main loop; -ENOMEM; the
 * dataplane's error (the queue then stays where it was).
 */
int vmm_machine_blk_move_queue(struct vmm_blk *b, unsigned q,
                               const struct vmm_config_iothread *io,
                               struct loom_loop *loop);

/**
 * struct vmm_blk_stats - every counter of one device.
 * @dev: the device's (QMP blockstats).
 * @backend: the backend's (syncs, batching, faults).
 * @transport: the transport's.
 * @queue: each queue's (num_queues entries).
 */
struct vmm_blk_stats {
    struct vmm_virtio_blk_stats dev;
    struct vmm_blk_backend_stats backend;
    struct vmm_virtio_mmio_stats transport;
    struct vmm_blk_queue_stats queue[VMM_MAX_QUEUES];
};

/**
 * vmm_machine_blk_stats() - read every counter (each atomically).
 * Context: any.
 */
void vmm_machine_blk_stats(const struct vmm_blk *b, struct vmm_blk_stats *st);

#endif /* VMM_MACHINE_BLK_H */
