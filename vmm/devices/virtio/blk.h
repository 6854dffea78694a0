/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk (virtio 1.2, 5.2): the device model.  It parses requests out
 * of descriptor chains, turns them into block backend requests and
 * answers every one of them (status OK, IOERR or UNSUPP, or used length 0
 * when the chain has no writable status byte).  It knows neither its
 * transport nor its threads: blk-dataplane.c creates each queue's state
 * on the thread that will serve it and calls in from there.
 *
 * Limits a guest cannot exceed (docs/design/vmm-virtio.md): chains of at
 * most queue-size descriptors (seg_max = queue size - 2 advertised), one
 * discard / write-zeroes segment per request, at most 4194303 sectors per
 * discard or write zeroes, at most queue-size requests in flight per queue
 * (the queue waits for completions beyond), and, on files that need
 * alignment, bounce buffers of at most 64 MiB per request.
 */
#ifndef VMM_DEVICES_VIRTIO_BLK_H
#define VMM_DEVICES_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include "block/backend.h"
#include "config.h"
#include "core/guest-mem.h"
#include "devices/virtio/queue.h"
#include "devices/virtio/virtio.h"

/* Feature bits (5.2.3). */
#define VMM_VIRTIO_BLK_F_SIZE_MAX 1
#define VMM_VIRTIO_BLK_F_SEG_MAX 2
#define VMM_VIRTIO_BLK_F_RO 5
#define VMM_VIRTIO_BLK_F_BLK_SIZE 6
#define VMM_VIRTIO_BLK_F_FLUSH 9
#define VMM_VIRTIO_BLK_F_TOPOLOGY 10
#define VMM_VIRTIO_BLK_F_CONFIG_WCE 11
#define VMM_VIRTIO_BLK_F_MQ 12
#define VMM_VIRTIO_BLK_F_DISCARD 13
#define VMM_VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types and status values (5.2.6). */
#define VMM_VIRTIO_BLK_T_IN 0u
#define VMM_VIRTIO_BLK_T_OUT 1u
#define VMM_VIRTIO_BLK_T_FLUSH 4u
#define VMM_VIRTIO_BLK_T_GET_ID 8u
#define VMM_VIRTIO_BLK_T_DISCARD 11u
#define VMM_VIRTIO_BLK_T_WRITE_ZEROES 13u
#define VMM_VIRTIO_BLK_S_OK 0u
#define VMM_VIRTIO_BLK_S_IOERR 1u
#define VMM_VIRTIO_BLK_S_UNSUPP 2u
#define VMM_VIRTIO_BLK_DWZ_F_UNMAP 1u
#define VMM_VIRTIO_BLK_ID_BYTES 20u

/* Configuration space offsets (5.2.4), little-endian. */
#define VMM_VIRTIO_BLK_CFG_CAPACITY 0
#define VMM_VIRTIO_BLK_CFG_SIZE_MAX 8
#define VMM_VIRTIO_BLK_CFG_SEG_MAX 12
#define VMM_VIRTIO_BLK_CFG_BLK_SIZE 20
#define VMM_VIRTIO_BLK_CFG_PHYS_BLOCK_EXP 24
#define VMM_VIRTIO_BLK_CFG_MIN_IO_SIZE 26
#define VMM_VIRTIO_BLK_CFG_WRITEBACK 32
#define VMM_VIRTIO_BLK_CFG_NUM_QUEUES 34
#define VMM_VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS 36
#define VMM_VIRTIO_BLK_CFG_MAX_DISCARD_SEG 40
#define VMM_VIRTIO_BLK_CFG_DISCARD_ALIGN 44
#define VMM_VIRTIO_BLK_CFG_MAX_WZ_SECTORS 48
#define VMM_VIRTIO_BLK_CFG_MAX_WZ_SEG 52
#define VMM_VIRTIO_BLK_CFG_WZ_MAY_UNMAP 56
#define VMM_VIRTIO_BLK_CONFIG_SIZE 60

/* Advertised limits. */
#define VMM_VIRTIO_BLK_SIZE_MAX (4u << 20)
#define VMM_VIRTIO_BLK_MAX_DWZ_SECTORS 4194303u

/**
 * enum vmm_blk_error_action - what to do with a failed read or write
 * (QEMU's werror= / rerror=).
 * @VMM_BLK_ERR_REPORT: complete it with IOERR.
 * @VMM_BLK_ERR_IGNORE: complete it with OK.
 * @VMM_BLK_ERR_STOP: stop the VM (the error hook does it); the request
 *     is held, unanswered, until vmm_virtio_blk_queue_retry() submits it
 *     again (cont), or the queue is cancelled or freed (a reset); without
 *     a hook it completes with IOERR.
 */
enum vmm_blk_error_action {
    VMM_BLK_ERR_REPORT,
    VMM_BLK_ERR_IGNORE,
    VMM_BLK_ERR_STOP,
};

/**
 * typedef vmm_blk_error_fn - told about every failed read or write (QMP's
 * BLOCK_IO_ERROR), with what the werror= / rerror= policy does with it.
 * @opaque: the hook's pointer.
 * @is_read: a read (rerror) rather than a write (werror).
 * @err: the negative errno.
 * @action: the policy's decision; VMM_BLK_ERR_STOP asks the hook's owner
 *     to stop the VM (the request is held until retried).
 *
 * Callback: the queue's serving thread, !bql; must not block (post a
 * message to the main loop).
 */
typedef void vmm_blk_error_fn(void *opaque, bool is_read, int err,
                              enum vmm_blk_error_action action);

/**
 * struct vmm_virtio_blk_opts - what a device is made of.
 * @backend: the image (shared by every queue).
 * @num_queues: request queues, 1..16 (MQ is offered above 1).
 * @queue_size: QueueNumMax, a power of two up to 1024.
 * @serial: GET_ID's string, at most 20 bytes, or NULL.
 * @discard: the drive's discard= (write_zeroes_may_unmap follows it).
 * @werror: the policy for write errors (VMM_ONERR_DEFAULT: enospc).
 * @rerror: the policy for read errors (VMM_ONERR_DEFAULT: report).
 * @on_error: the stop hook, or NULL (stop then only reports).
 * @error_opaque: passed to @on_error.
 */
struct vmm_virtio_blk_opts {
    struct vmm_blk_backend *backend;
    unsigned num_queues;
    uint16_t queue_size;
    const char *serial;
    enum vmm_discard_mode discard;
    enum vmm_on_error werror;
    enum vmm_on_error rerror;
    vmm_blk_error_fn *on_error;
    void *error_opaque;
};

struct vmm_virtio_blk;
struct vmm_virtio_blk_queue;

/**
 * vmm_virtio_blk_new() - create a device.
 * @o: the options (copied).
 * @ret: receives the device.
 *
 * Context: any.
 * Return: 0; -EINVAL for bad options (a serial longer than 20 bytes, a
 * queue count or size out of range); -ENOMEM.
 */
int vmm_virtio_blk_new(const struct vmm_virtio_blk_opts *o,
                       struct vmm_virtio_blk **ret);

/**
 * vmm_virtio_blk_free() - free a device whose queues are all freed.
 * Context: any.
 */
void vmm_virtio_blk_free(struct vmm_virtio_blk *b);

/**
 * vmm_virtio_blk_features() - the features the device offers (ring
 * features included, VERSION_1 not: the transport adds it).
 * Context: any.
 */
uint64_t vmm_virtio_blk_features(const struct vmm_virtio_blk *b);

/**
 * vmm_virtio_blk_num_queues() - the number of request queues.
 * Context: any.
 */
unsigned vmm_virtio_blk_num_queues(const struct vmm_virtio_blk *b);

/**
 * vmm_virtio_blk_queue_size() - the maximum queue size.
 * Context: any.
 */
uint16_t vmm_virtio_blk_queue_size(const struct vmm_virtio_blk *b);

/**
 * vmm_virtio_blk_config_read() - read the configuration space.
 * @b: the device.
 * @off: byte offset, @off + @len <= VMM_VIRTIO_BLK_CONFIG_SIZE.
 * @buf: receives @len bytes.
 * @len: bytes.
 * Context: any.
 */
void vmm_virtio_blk_config_read(struct vmm_virtio_blk *b, unsigned off,
                                void *buf, unsigned len);

/**
 * vmm_virtio_blk_config_write() - the driver writes the configuration
 * space: only the writeback byte is writable (0 or 1; CONFIG_WCE).
 * Context: any.
 */
void vmm_virtio_blk_config_write(struct vmm_virtio_blk *b, unsigned off,
                                 const void *buf, unsigned len);

/**
 * vmm_virtio_blk_reset() - reset the volatile configuration (writeback
 * back to 1, negotiated features forgotten).  The queues must be freed.
 * Context: any.
 */
void vmm_virtio_blk_reset(struct vmm_virtio_blk *b);

/**
 * vmm_virtio_blk_set_features() - the features the driver negotiated
 * (DRIVER_OK), before any queue is created.
 * Context: any.
 */
void vmm_virtio_blk_set_features(struct vmm_virtio_blk *b, uint64_t features);

/* Buckets of a latency histogram (struct vmm_blk_lat). */
#define VMM_BLK_LAT_BUCKETS 32

/**
 * struct vmm_blk_lat - a latency histogram in log2 nanosecond buckets:
 * bucket 0 counts times below 2 ns, bucket i (1..30) those in
 * [2^i, 2^(i+1)) ns, bucket 31 those of 2^31 ns (2.1 s) and more.
 * @bucket: the counts.
 * @sum_ns: the total of the times counted.
 *
 * One writer at a time (the queue's serving thread: plain atomic stores),
 * read anywhere with atomic loads.
 */
struct vmm_blk_lat {
    uint64_t bucket[VMM_BLK_LAT_BUCKETS];
    uint64_t sum_ns;
};

/**
 * vmm_blk_lat_add() - count @n times of @ns each in @h.
 * Context: @h's writer.
 */
void vmm_blk_lat_add(struct vmm_blk_lat *h, uint64_t ns, uint64_t n);

/**
 * struct vmm_virtio_blk_lat_stats - a queue's answers and their service
 * time, kept by the device model in the serving side's memory (it
 * outlives the queue's state).
 * @answered: used entries pushed.
 * @service: per answer, the time from the batch that picked the request
 *     up (the time vmm_virtio_blk_queue_process() was given) to its used
 *     entry: the completion's clock read for requests that went to the
 *     backend, the batch's own time (0) for those answered at once.  A
 *     request the stop policy held counts once, when finally answered.
 */
struct vmm_virtio_blk_lat_stats {
    uint64_t answered;
    struct vmm_blk_lat service;
};

/**
 * struct vmm_virtio_blk_env - how a queue reaches its serving side.
 * @used: used entries were pushed: decide on an interrupt (soon; the
 *     dataplane batches the decision).
 * @broken: the ring is corrupted; the queue has stopped.
 * @resume: the queue stopped taking requests because all its request
 *     slots were busy, and one just became free: process it again.
 * @opaque: passed to each.
 * @lat: where answers are counted, or NULL (written by the serving
 *     thread only).
 *
 * Callback: the serving thread.
 */
struct vmm_virtio_blk_env {
    void (*used)(void *opaque);
    void (*broken)(void *opaque);
    void (*resume)(void *opaque);
    void *opaque;
    struct vmm_virtio_blk_lat_stats *lat;
};

/**
 * vmm_virtio_blk_queue_new() - start serving request queue @index.
 * @b: the device.
 * @index: the queue.
 * @gm: guest RAM.
 * @cfg: the queue as the driver programmed it (ready).
 * @ctx: the backend context of the serving loop.
 * @env: the serving side's callbacks (copied).
 * @ret: receives the queue.
 *
 * Context: the serving thread (or one holding its loop off, see
 * vmm_blk_ctx_abandon()).
 * Return: 0; -EINVAL or -EFAULT for rings that are misaligned or not in
 * RAM (vmm_vq_init()); -ENOMEM.
 */
int vmm_virtio_blk_queue_new(struct vmm_virtio_blk *b, unsigned index,
                             const struct vmm_gmem *gm,
                             const struct vmm_virtio_queue_cfg *cfg,
                             struct vmm_blk_ctx *ctx,
                             const struct vmm_virtio_blk_env *env,
                             struct vmm_virtio_blk_queue **ret);

/**
 * vmm_virtio_blk_queue_free() - free a queue with no request in flight.
 * Context: the serving thread.
 */
void vmm_virtio_blk_queue_free(struct vmm_virtio_blk_queue *q);

/**
 * vmm_virtio_blk_queue_vq() - the queue's virtqueue (notification and
 * interrupt suppression are the serving side's).
 * Context: the serving thread.
 */
struct vmm_vq *vmm_virtio_blk_queue_vq(struct vmm_virtio_blk_queue *q);

/**
 * vmm_virtio_blk_queue_set_ctx() - the queue is served from another loop
 * from now on: submit through @ctx (held requests too, at their retry).
 * Context: the thread that serves it, with no request in flight.
 */
void vmm_virtio_blk_queue_set_ctx(struct vmm_virtio_blk_queue *q,
                                  struct vmm_blk_ctx *ctx);

/**
 * vmm_virtio_blk_queue_process() - take every available request.
 * @q: the queue.
 * @now_ns: LOOM_CLOCK_HOST time of this batch: the pickup time of every
 *     request taken (and the submission time the block statistics
 *     count from), so that a batch costs one clock read, not one per
 *     request.
 *
 * Submits them to the backend (the caller plugs the context around it to
 * batch submissions) or answers them at once (errors, GET_ID).  Stops
 * when the avail ring is empty, the ring turns out broken (env.broken is
 * called), or every request slot is busy (env.resume is called later).
 *
 * Context: the serving thread.
 * Return: the number of chains taken.
 */
unsigned vmm_virtio_blk_queue_process(struct vmm_virtio_blk_queue *q,
                                      int64_t now_ns);

/**
 * vmm_virtio_blk_queue_full() - whether every request slot is busy (the
 * queue takes nothing until env.resume).
 * Context: the serving thread.
 */
bool vmm_virtio_blk_queue_full(const struct vmm_virtio_blk_queue *q);

/**
 * vmm_virtio_blk_queue_inflight() - requests submitted and not answered.
 * Context: the serving thread.
 */
unsigned vmm_virtio_blk_queue_inflight(const struct vmm_virtio_blk_queue *q);

/**
 * vmm_virtio_blk_queue_retry() - submit again the requests the stop
 * policy held (cont after an I/O error stopped the VM), in the order they
 * failed.  Each is answered exactly once, by this attempt or a later one.
 * Context: the serving thread.
 * Return: how many were submitted again.
 */
unsigned vmm_virtio_blk_queue_retry(struct vmm_virtio_blk_queue *q);

/**
 * vmm_virtio_blk_queue_held() - requests held by the stop policy.
 * Context: the serving thread.
 */
unsigned vmm_virtio_blk_queue_held(const struct vmm_virtio_blk_queue *q);

/**
 * vmm_virtio_blk_queue_cancel() - forget the requests in flight and those
 * held by the stop policy without answering them, after
 * vmm_blk_ctx_abandon() detached them (a reset: the driver discards them).
 * Context: the serving thread (or one holding its loop off).
 * Return: how many were cancelled.
 */
unsigned vmm_virtio_blk_queue_cancel(struct vmm_virtio_blk_queue *q);

/**
 * struct vmm_virtio_blk_stats - per-device counters, QEMU's blockstats
 * where they exist.
 * @rd_ops: IN requests; @wr_ops: OUT; @flush_ops: FLUSH; @discard_ops:
 *     DISCARD; @wz_ops: WRITE_ZEROES; @getid_ops: GET_ID.
 * @rd_bytes: bytes read successfully; @wr_bytes: written.
 * @rd_ns, @wr_ns, @flush_ns: total time from submission to completion.
 * @failed_rd, @failed_wr, @failed_flush, @failed_other: completed IOERR
 *     after a backend error (others: discard, write zeroes).
 * @failed_unmap: of @failed_other, discards.
 * @unmap_bytes: bytes discarded successfully; @unmap_ns: total time of
 *     discards from submission to completion.
 * @wr_highest_offset: the end of the highest write that succeeded.
 * @invalid: malformed requests answered IOERR without I/O (bad buffers,
 *     bad sizes, out of range, read-only).
 * @invalid_rd, @invalid_wr, @invalid_flush, @invalid_unmap: of @invalid,
 *     the IN, OUT, FLUSH and DISCARD requests.
 * @retried: failed requests held by the stop policy and submitted again
 *     (vmm_virtio_blk_queue_retry()).
 * @unsupp: requests answered UNSUPP.
 * @no_status: chains without a writable status byte (used length 0).
 * @queue_full: times a queue waited for a free request slot.
 */
struct vmm_virtio_blk_stats {
    uint64_t rd_ops, wr_ops, flush_ops, discard_ops, wz_ops, getid_ops;
    uint64_t rd_bytes, wr_bytes;
    uint64_t rd_ns, wr_ns, flush_ns;
    uint64_t failed_rd, failed_wr, failed_flush, failed_other;
    uint64_t failed_unmap, unmap_bytes, unmap_ns, wr_highest_offset;
    uint64_t invalid, unsupp, no_status, queue_full;
    uint64_t invalid_rd, invalid_wr, invalid_flush, invalid_unmap;
    uint64_t retried;
};

/**
 * vmm_virtio_blk_stats() - read the counters (each atomically).
 * Context: any.
 */
void vmm_virtio_blk_stats(const struct vmm_virtio_blk *b,
                          struct vmm_virtio_blk_stats *st);

#endif /* VMM_DEVICES_VIRTIO_BLK_H */
