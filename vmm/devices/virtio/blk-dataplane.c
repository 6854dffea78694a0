/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk dataplane (blk-dataplane.h).
 *
 * Who touches what:
 * - struct dp_queue.running, dp->host and the start/reset/pause sequence:
 *   BQL holders (transport callbacks, the machine on the main thread).
 * - a queue's serving state (q, paused, stopping) and everything of its
 *   backend context: the queue's loop thread, or a BQL holder when that
 *   loop is the main loop (which dispatches only under the BQL: holding
 *   it keeps the main loop's callbacks out).
 * - statistics: atomics, read anywhere.
 *
 * Handing a change to a loop (run_on_loop()): in the loop's own thread,
 * or for the main loop under the BQL, the change runs at once; otherwise
 * it runs in a one-shot BH on the loop and the caller waits on an event.
 * The BH's scheduling and the event carry the happens-before both ways.
 * The waiting caller may hold the BQL: only IOThreads are waited for
 * this way, and nothing an IOThread runs here takes the BQL (interrupts
 * go through the transport's irq lock and an irqfd; NEEDS_RESET is an
 * atomic), so the wait always ends.
 *
 * Reset with requests in flight: on an IOThread, the stop runs there and
 * polls the loop (nested) until every request completed; no request
 * object is freed while the backend may still call it.  On the main loop
 * from a vCPU, the main loop cannot be polled from the vCPU thread, so
 * the requests are abandoned: vmm_blk_ctx_abandon() waits until their
 * I/O no longer touches guest memory, and they are dropped unanswered
 * (the driver, resetting, discards them).  The doorbell handlers stay
 * registered for the dataplane's whole life and test `q` before use, so
 * a stale notification after a reset is only counted.
 *
 * Moving a queue to another loop (vmm_blk_dataplane_move_queue(), BQL):
 * its old loop's thread stops it taking requests, waits for those in
 * flight, cancels its BHs and removes its doorbell handler; then the
 * queue's loop, BHs and backend context are switched while no thread
 * serves it; then the new loop's thread registers the handler and looks
 * at the ring again (a doorbell the old loop consumed during the move
 * took nothing there) and decides on an interrupt.
 *
 * Polling: the doorbell handler has poll mode hooks
 * (loom_set_notifier_poll_hooks()).  When the loop starts busy-polling,
 * poll_begin turns guest notifications off (VRING_USED_F_NO_NOTIFY, or
 * the avail event left behind) and the queue's on_poll watches the avail
 * index: a busy guest adds requests without exits.  Before the loop
 * sleeps, poll_end turns them back on, and the loop calls on_poll once
 * more, so a request added just before that (which sent no doorbell) is
 * still taken.  Processing outside poll mode re-enables notifications
 * itself and checks the ring once more.
 */
#include "devices/virtio/blk-dataplane.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <loom/bh.h>
#include <loom/clock.h>
#include <loom/main.h>
#include <loom/notifier.h>
#include <loom/thread.h>

/* A loop serving queues of the device; BQL.  A free slot has no loop. */
struct dp_loop {
    struct loom_loop *loop;
    bool is_main;
    unsigned max_batch;
    unsigned users; /* queues it serves */
    struct vmm_blk_ctx *ctx;
};

/* Loops at once: one per queue, and one more while a queue moves. */
#define DP_LOOPS (VMM_BLK_DP_MAX_QUEUES + 1)

struct dp_queue {
    /* Immutable after creation. */
    struct vmm_blk_dataplane *dp;
    unsigned index;
    struct loom_notifier notifier;
    bool notifier_ok;
    /*
     * BQL; changed only by a move (vmm_blk_dataplane_move_queue()) while
     * no loop serves the queue, so its loop's thread may read them too.
     */
    struct dp_loop *dl;
    struct loom_bh *irq_bh;
    struct loom_bh *kick_bh;
    /* BQL. */
    bool running;
    /* The serving thread (see the file comment). */
    bool handler_ok;
    struct vmm_virtio_blk_queue *q;
    bool paused;
    bool stopping;
    bool polling; /* between poll_begin and poll_end */
    bool moving;  /* leaving its loop: takes no request */
    /* Requests a pass found in the ring but could not take (wait). */
    bool rv_pending;
    uint16_t rv_left;
    int64_t rv_ns;
    /* Atomic (written by the serving thread only). */
    struct vmm_blk_queue_stats stats;
};

struct vmm_blk_dataplane {
    /* Immutable after creation. */
    struct vmm_virtio_blk *blk;
    struct vmm_blk_backend *backend;
    const struct vmm_gmem *gm;
    enum vmm_aio_mode aio;
    unsigned nq;
    struct loom_loop *main_loop;
    /* BQL. */
    struct dp_loop loops[DP_LOOPS];
    struct dp_queue queues[VMM_BLK_DP_MAX_QUEUES];
    struct vmm_virtio_dev_ops ops;
    /* BQL. */
    struct vmm_virtio_host host;
};

#define QSTAT_INC(dq, f) __atomic_fetch_add(&(dq)->stats.f, 1, __ATOMIC_RELAXED)
#define QSTAT_ADD(dq, f, n)                                                    \
    __atomic_fetch_add(&(dq)->stats.f, (n), __ATOMIC_RELAXED)

/* ------------------------------------------------------------------ */
/* Running code on a queue's loop                                      */
/* ------------------------------------------------------------------ */

typedef int dp_fn(void *arg, bool may_poll);

struct dp_call {
    dp_fn *fn;
    void *arg;
    int ret;
    struct loom_event done;
};

static void call_bh(void *opaque)
{
    struct dp_call *c = opaque;

    c->ret = c->fn(c->arg, true);
    /* Pairs with loom_event_wait() in run_on_loop(). */
    loom_event_set(&c->done);
}

/*
 * Run @fn(@arg) where it may touch @dl's serving state; its result.
 * may_poll tells @fn whether it runs in the loop's thread (and so may
 * poll the loop).
 */
static int run_on_loop(struct dp_loop *dl, dp_fn *fn, void *arg)
{
    struct dp_call c = {.fn = fn, .arg = arg};
    int err;

    if (loom_loop_current() == dl->loop) {
        return fn(arg, true);
    }
    if (dl->is_main && loom_bql_locked()) {
        /* The main loop dispatches only under the BQL: it is held off. */
        return fn(arg, false);
    }
    loom_event_init(&c.done, false);
    err = loom_bh_oneshot(dl->loop, call_bh, &c);
    if (!err) {
        loom_event_wait(&c.done);
        err = c.ret;
    }
    loom_event_destroy(&c.done);
    return err;
}

/* ------------------------------------------------------------------ */
/* Serving a queue (its loop's thread)                                 */
/* ------------------------------------------------------------------ */

/*
 * A pass found requests it cannot take now: they wait from @now_ns (the
 * first such pass counts; requests added later count from when they are
 * taken).
 */
static void note_waiting(struct dp_queue *dq, int64_t now_ns)
{
    uint16_t n;

    if (dq->rv_pending) {
        return;
    }
    n = vmm_vq_avail_pending(vmm_virtio_blk_queue_vq(dq->q));
    if (n) {
        dq->rv_pending = true;
        dq->rv_left = n;
        dq->rv_ns = now_ns;
    }
}

/* A batch at @now_ns took @n requests: their time in the ring. */
static void count_taken(struct dp_queue *dq, unsigned n, int64_t now_ns)
{
    unsigned early = 0;

    if (dq->rv_pending) {
        early = n < dq->rv_left ? n : dq->rv_left;
        dq->rv_left = (uint16_t)(dq->rv_left - early);
        dq->rv_pending = dq->rv_left > 0;
        if (early) {
            vmm_blk_lat_add(
                &dq->stats.wait,
                now_ns > dq->rv_ns ? (uint64_t)(now_ns - dq->rv_ns) : 0, early);
        }
    }
    if (n > early) {
        vmm_blk_lat_add(&dq->stats.wait, 0, n - early);
    }
    /* Last: whoever sees processed sees the histogram that adds up to it. */
    __atomic_fetch_add(&dq->stats.processed, n, __ATOMIC_RELEASE);
}

/*
 * Take every request.  Notifications are off while the ring is walked;
 * afterwards they are re-enabled and the ring checked once more (a
 * request added meanwhile came without a notification) - unless the loop
 * is busy-polling the ring, then they stay off until poll_end.  One
 * clock read per call: the pickup time of all it takes.
 */
static void process(struct dp_queue *dq)
{
    struct vmm_virtio_blk_queue *q = dq->q;
    struct vmm_blk_ctx *ctx = dq->dl->ctx;
    struct vmm_vq *vq;
    int64_t now;
    unsigned n;

    if (!q) {
        return;
    }
    now = loom_clock_ns(LOOM_CLOCK_HOST);
    if (dq->paused || dq->stopping || dq->moving) {
        note_waiting(dq, now);
        return;
    }
    vq = vmm_virtio_blk_queue_vq(q);
    vmm_blk_plug(ctx);
    for (;;) {
        vmm_vq_disable_notify(vq);
        n = vmm_virtio_blk_queue_process(q, now);
        count_taken(dq, n, now);
        if (vmm_vq_broken(vq) || vmm_virtio_blk_queue_full(q)) {
            /* A full queue is resumed by a completion; what it left in
             * the ring waits until then. */
            note_waiting(dq, now);
            break;
        }
        if (dq->polling) {
            QSTAT_INC(dq, notify_suppressed);
            break;
        }
        if (!vmm_vq_enable_notify(vq)) {
            break;
        }
    }
    vmm_blk_unplug(ctx);
}

static struct dp_queue *dq_of(struct loom_notifier *n)
{
    return (struct dp_queue *)((char *)n - offsetof(struct dp_queue, notifier));
}

static void on_kick(struct loom_notifier *n)
{
    struct dp_queue *dq = dq_of(n);
    bool ignored = !dq->q || dq->stopping;

    loom_notifier_test_and_clear(n);
    if (ignored) {
        QSTAT_INC(dq, kicks_ignored);
    }
    /* Counters in this order: whoever sees kicks sees kicks_ignored. */
    QSTAT_INC(dq, kicks);
    if (!ignored) {
        process(dq);
    }
}

static bool on_poll(void *opaque)
{
    struct dp_queue *dq = dq_of(opaque);

    return dq->q && !dq->paused && !dq->stopping && !dq->moving &&
           vmm_vq_has_work(vmm_virtio_blk_queue_vq(dq->q));
}

static void on_poll_ready(struct loom_notifier *n)
{
    struct dp_queue *dq = dq_of(n);

    QSTAT_INC(dq, poll_hits);
    process(dq);
}

/* The loop starts busy-polling: the guest need not notify. */
static void on_poll_begin(struct loom_notifier *n)
{
    struct dp_queue *dq = dq_of(n);

    dq->polling = true;
    if (dq->q) {
        vmm_vq_disable_notify(vmm_virtio_blk_queue_vq(dq->q));
    }
}

/*
 * The loop is about to sleep: notifications on again.  The loop then
 * calls on_poll once more for what came before this.
 */
static void on_poll_end(struct loom_notifier *n)
{
    struct dp_queue *dq = dq_of(n);

    dq->polling = false;
    if (dq->q) {
        (void)vmm_vq_enable_notify(vmm_virtio_blk_queue_vq(dq->q));
    }
}

static void kick_bh(void *opaque)
{
    process(opaque);
}

/* Completions pushed used entries: one interrupt decision per batch. */
static void irq_bh(void *opaque)
{
    struct dp_queue *dq = opaque;

    if (!dq->q || !vmm_vq_should_notify(vmm_virtio_blk_queue_vq(dq->q))) {
        QSTAT_INC(dq, irqs_suppressed);
        return;
    }
    dq->dp->host.used(dq->dp->host.opaque, dq->index);
    QSTAT_INC(dq, irqs);
}

/*
 * A used entry was pushed.  The interrupt decision waits for the rest of
 * the batch: to the end of the io_uring reap that delivers it, else (a
 * completion from a BH or the pool, an answer while processing) to the
 * irq BH.  Deciding at the reap's end spares the loop a pass for the BH,
 * which when busy-polling also costs an fd check and the eventfd's read.
 */
static void env_used(void *opaque)
{
    struct dp_queue *dq = opaque;

    if (!vmm_blk_ctx_defer(dq->dl->ctx, irq_bh, dq)) {
        loom_bh_schedule(dq->irq_bh);
    }
}

static void env_broken(void *opaque)
{
    struct dp_queue *dq = opaque;

    dq->dp->host.needs_reset(dq->dp->host.opaque, dq->index);
    /* After: whoever sees the counter sees NEEDS_RESET. */
    __atomic_fetch_add(&dq->stats.broken, 1, __ATOMIC_SEQ_CST);
}

static void env_resume(void *opaque)
{
    struct dp_queue *dq = opaque;

    loom_bh_schedule(dq->kick_bh);
}

/* ------------------------------------------------------------------ */
/* Start, stop, pause (handed to the loop by run_on_loop())            */
/* ------------------------------------------------------------------ */

struct start_arg {
    struct dp_queue *dq;
    const struct vmm_virtio_queue_cfg *cfg;
};

static int start_queue(void *opaque, bool may_poll)
{
    struct start_arg *a = opaque;
    struct dp_queue *dq = a->dq;
    struct vmm_blk_dataplane *dp = dq->dp;
    struct vmm_virtio_blk_env env = {env_used, env_broken, env_resume, dq,
                                     &dq->stats.lat};
    int err;

    err = vmm_virtio_blk_queue_new(dp->blk, dq->index, dp->gm, a->cfg,
                                   dq->dl->ctx, &env, &dq->q);
    if (err) {
        dq->q = NULL;
        return err;
    }
    dq->paused = false;
    dq->stopping = false;
    dq->rv_pending = false;
    /* Requests posted before DRIVER_OK, and the notification state. */
    loom_bh_schedule(dq->kick_bh);
    return 0;
}

/* Wait for the queue's requests: complete them, or cancel them. */
static void quiesce(struct dp_queue *dq, bool may_poll)
{
    if (may_poll) {
        while (vmm_virtio_blk_queue_inflight(dq->q)) {
            loom_loop_poll(dq->dl->loop, true);
        }
        return;
    }
    /* Every request of this device on this loop; the others' queues are
     * being reset too, and cancel theirs when their turn comes. */
    (void)vmm_blk_ctx_abandon(dq->dl->ctx);
    QSTAT_ADD(dq, dropped, vmm_virtio_blk_queue_cancel(dq->q));
}

static int stop_queue(void *opaque, bool may_poll)
{
    struct dp_queue *dq = opaque;

    if (!dq->q) {
        return 0;
    }
    dq->stopping = true;
    quiesce(dq, may_poll);
    loom_bh_cancel(dq->kick_bh);
    loom_bh_cancel(dq->irq_bh);
    /* Held by the stop policy: the driver discards them with the reset. */
    QSTAT_ADD(dq, dropped, vmm_virtio_blk_queue_held(dq->q));
    vmm_virtio_blk_queue_free(dq->q);
    dq->q = NULL;
    dq->stopping = false;
    dq->paused = false;
    return 0;
}

/*
 * Stop taking requests and let those in flight complete.  From the main
 * loop's thread (the only caller) may_poll is always true: the main loop
 * is home, IOThreads run this in their own thread.
 */
static int pause_queue(void *opaque, bool may_poll)
{
    struct dp_queue *dq = opaque;

    if (!dq->q) {
        return 0;
    }
    dq->paused = true;
    loom_bh_cancel(dq->kick_bh);
    while (may_poll && vmm_virtio_blk_queue_inflight(dq->q)) {
        loom_loop_poll(dq->dl->loop, true);
    }
    return 0;
}

static int resume_queue(void *opaque, bool may_poll)
{
    struct dp_queue *dq = opaque;

    if (dq->q && dq->paused) {
        dq->paused = false;
        /* Requests an I/O error held (werror/rerror=stop) go again. */
        (void)vmm_virtio_blk_queue_retry(dq->q);
        loom_bh_schedule(dq->kick_bh);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* The device, as the transport sees it (BQL)                          */
/* ------------------------------------------------------------------ */

static void ops_config_read(void *opaque, unsigned off, void *buf, unsigned len)
{
    struct vmm_blk_dataplane *dp = opaque;

    vmm_virtio_blk_config_read(dp->blk, off, buf, len);
}

static void ops_config_write(void *opaque, unsigned off, const void *buf,
                             unsigned len)
{
    struct vmm_blk_dataplane *dp = opaque;

    vmm_virtio_blk_config_write(dp->blk, off, buf, len);
}

static int ops_start(void *opaque, uint64_t features,
                     const struct vmm_virtio_queue_cfg *qs, unsigned nq)
{
    struct vmm_blk_dataplane *dp = opaque;
    struct start_arg a;
    unsigned i;

    vmm_virtio_blk_set_features(dp->blk, features);
    for (i = 0; i < nq && i < dp->nq; i++) {
        if (!qs[i].ready) {
            continue;
        }
        a.dq = &dp->queues[i];
        a.cfg = &qs[i];
        if (run_on_loop(a.dq->dl, start_queue, &a)) {
            /* Rings outside RAM or misaligned: that queue is broken. */
            QSTAT_INC(a.dq, broken);
            dp->host.needs_reset(dp->host.opaque, i);
            continue;
        }
        a.dq->running = true;
    }
    return 0;
}

void vmm_blk_dataplane_reset(struct vmm_blk_dataplane *dp)
{
    unsigned i;

    for (i = 0; i < dp->nq; i++) {
        struct dp_queue *dq = &dp->queues[i];

        if (dq->running) {
            (void)run_on_loop(dq->dl, stop_queue, dq);
            dq->running = false;
        }
    }
    vmm_virtio_blk_reset(dp->blk);
}

static void ops_reset(void *opaque)
{
    vmm_blk_dataplane_reset(opaque);
}

static bool ops_notify(void *opaque, unsigned q)
{
    struct vmm_blk_dataplane *dp = opaque;

    if (q >= dp->nq || !dp->queues[q].running) {
        return false;
    }
    /* The doorbell's eventfd: served by the queue's loop. */
    (void)loom_notifier_set(&dp->queues[q].notifier);
    return true;
}

static int ops_notifier_fd(void *opaque, unsigned q)
{
    struct vmm_blk_dataplane *dp = opaque;

    if (q >= dp->nq) {
        return -EINVAL;
    }
    return loom_notifier_fd(&dp->queues[q].notifier);
}

void vmm_blk_dataplane_pause(struct vmm_blk_dataplane *dp)
{
    unsigned i;

    for (i = 0; i < dp->nq; i++) {
        if (dp->queues[i].running) {
            (void)run_on_loop(dp->queues[i].dl, pause_queue, &dp->queues[i]);
        }
    }
}

void vmm_blk_dataplane_resume(struct vmm_blk_dataplane *dp)
{
    unsigned i;

    for (i = 0; i < dp->nq; i++) {
        if (dp->queues[i].running) {
            (void)run_on_loop(dp->queues[i].dl, resume_queue, &dp->queues[i]);
        }
    }
}

/* ------------------------------------------------------------------ */
/* Creation and teardown                                               */
/* ------------------------------------------------------------------ */

struct loop_arg {
    struct vmm_blk_dataplane *dp;
    struct dp_loop *dl;
};

static int ctx_create(void *opaque, bool may_poll)
{
    struct loop_arg *a = opaque;

    return vmm_blk_ctx_new(a->dp->backend, a->dl->loop, a->dp->aio,
                           a->dl->max_batch, &a->dl->ctx);
}

static int ctx_destroy(void *opaque, bool may_poll)
{
    struct dp_loop *dl = opaque;

    vmm_blk_ctx_free(dl->ctx);
    dl->ctx = NULL;
    return 0;
}

static int queue_register(void *opaque, bool may_poll)
{
    struct dp_queue *dq = opaque;
    int err;

    err = loom_set_notifier_handler(dq->dl->loop, &dq->notifier, on_kick,
                                    on_poll, on_poll_ready);
    dq->handler_ok = !err;
    if (!err) {
        err = loom_set_notifier_poll_hooks(dq->dl->loop, &dq->notifier,
                                           on_poll_begin, on_poll_end);
    }
    return err;
}

static int queue_unregister(void *opaque, bool may_poll)
{
    struct dp_queue *dq = opaque;

    if (dq->handler_ok) {
        (void)loom_set_notifier_handler(dq->dl->loop, &dq->notifier, NULL, NULL,
                                        NULL);
        dq->handler_ok = false;
        /* A removed handler gets no poll_end. */
        dq->polling = false;
    }
    return 0;
}

/* The slot of @loop, or a free one taken for it; NULL if none is free. */
static struct dp_loop *loop_for(struct vmm_blk_dataplane *dp,
                                struct loom_loop *loop, unsigned max_batch)
{
    struct dp_loop *free_slot = NULL;
    unsigned i;

    for (i = 0; i < DP_LOOPS; i++) {
        if (dp->loops[i].loop == loop) {
            return &dp->loops[i];
        }
        if (!dp->loops[i].loop && !free_slot) {
            free_slot = &dp->loops[i];
        }
    }
    if (free_slot) {
        free_slot->loop = loop;
        free_slot->is_main = loop == dp->main_loop;
        free_slot->max_batch = max_batch;
    }
    return free_slot;
}

/* @loop's slot with a backend context on it (not yet counted a user). */
static int loop_get(struct vmm_blk_dataplane *dp, struct loom_loop *loop,
                    unsigned max_batch, struct dp_loop **ret)
{
    struct dp_loop *dl = loop_for(dp, loop, max_batch);
    struct loop_arg a = {.dp = dp, .dl = dl};
    int err;

    if (!dl) {
        return -ENOSPC;
    }
    if (!dl->ctx) {
        err = run_on_loop(dl, ctx_create, &a);
        if (err) {
            dl->ctx = NULL;
            dl->loop = NULL;
            return err;
        }
    }
    *ret = dl;
    return 0;
}

/* A loop that serves no queue any more loses its context and slot. */
static void loop_put(struct vmm_blk_dataplane *dp, struct dp_loop *dl)
{
    if (dl->users > 0) {
        return;
    }
    if (dl->ctx) {
        (void)run_on_loop(dl, ctx_destroy, dl);
    }
    dl->loop = NULL;
}

static int setup_loops(struct vmm_blk_dataplane *dp,
                       const struct vmm_blk_dataplane_opts *o)
{
    unsigned i;
    int err;

    for (i = 0; i < dp->nq; i++) {
        if (!o->loops[i]) {
            return -EINVAL;
        }
        err = loop_get(dp, o->loops[i], o->max_batch[i], &dp->queues[i].dl);
        if (err) {
            return err;
        }
        dp->queues[i].dl->users++;
    }
    return 0;
}

static int setup_queue(struct vmm_blk_dataplane *dp, unsigned i)
{
    struct dp_queue *dq = &dp->queues[i];
    int err;

    dq->dp = dp;
    dq->index = i;
    err = loom_notifier_init(&dq->notifier, false);
    if (err) {
        return err;
    }
    dq->notifier_ok = true;
    err = loom_bh_new(dq->dl->loop, irq_bh, dq, "blk-irq", &dq->irq_bh);
    if (!err) {
        err = loom_bh_new(dq->dl->loop, kick_bh, dq, "blk-kick", &dq->kick_bh);
    }
    if (!err) {
        err = run_on_loop(dq->dl, queue_register, dq);
    }
    return err;
}

int vmm_blk_dataplane_new(const struct vmm_blk_dataplane_opts *o,
                          struct vmm_blk_dataplane **ret)
{
    struct vmm_blk_dataplane *dp;
    unsigned i;
    int err;

    if (!o || !ret || !o->blk || !o->backend || !o->gm ||
        vmm_virtio_blk_num_queues(o->blk) > VMM_BLK_DP_MAX_QUEUES) {
        return -EINVAL;
    }
    dp = calloc(1, sizeof(*dp));
    if (!dp) {
        return -ENOMEM;
    }
    dp->blk = o->blk;
    dp->backend = o->backend;
    dp->gm = o->gm;
    dp->aio = o->aio;
    dp->nq = vmm_virtio_blk_num_queues(o->blk);
    dp->main_loop = o->main_loop;
    err = setup_loops(dp, o);
    for (i = 0; !err && i < dp->nq; i++) {
        err = setup_queue(dp, i);
    }
    if (err) {
        vmm_blk_dataplane_free(dp);
        return err;
    }
    dp->ops = (struct vmm_virtio_dev_ops){
        .device_id = 2,
        .num_queues = dp->nq,
        .max_queue_size = vmm_virtio_blk_queue_size(dp->blk),
        .config_size = VMM_VIRTIO_BLK_CONFIG_SIZE,
        .features = vmm_virtio_blk_features(dp->blk),
        .config_read = ops_config_read,
        .config_write = ops_config_write,
        .start = ops_start,
        .reset = ops_reset,
        .notify = ops_notify,
        .notifier_fd = ops_notifier_fd,
        .opaque = dp,
    };
    *ret = dp;
    return 0;
}

void vmm_blk_dataplane_free(struct vmm_blk_dataplane *dp)
{
    unsigned i;

    if (!dp) {
        return;
    }
    for (i = 0; i < dp->nq; i++) {
        struct dp_queue *dq = &dp->queues[i];

        if (dq->running) {
            (void)run_on_loop(dq->dl, stop_queue, dq);
            dq->running = false;
        }
        if (dq->dl) {
            (void)run_on_loop(dq->dl, queue_unregister, dq);
        }
        loom_bh_free(dq->irq_bh);
        loom_bh_free(dq->kick_bh);
        if (dq->notifier_ok) {
            loom_notifier_cleanup(&dq->notifier);
        }
    }
    for (i = 0; i < DP_LOOPS; i++) {
        if (dp->loops[i].ctx) {
            (void)run_on_loop(&dp->loops[i], ctx_destroy, &dp->loops[i]);
        }
    }
    free(dp);
}

const struct vmm_virtio_dev_ops *
vmm_blk_dataplane_dev_ops(struct vmm_blk_dataplane *dp)
{
    return &dp->ops;
}

void vmm_blk_dataplane_set_host(struct vmm_blk_dataplane *dp,
                                const struct vmm_virtio_host *host)
{
    dp->host = *host;
}

/* ------------------------------------------------------------------ */
/* Moving a queue to another loop                                      */
/* ------------------------------------------------------------------ */

/*
 * The queue leaves its loop, in that loop's thread: it takes no more
 * requests, those in flight complete here (answered, their interrupt
 * BH scheduled), then its doorbell handler goes and its BHs are
 * cancelled - the new loop does what they would have done.
 */
static int detach_queue(void *opaque, bool may_poll)
{
    struct dp_queue *dq = opaque;

    if (!may_poll) {
        return -EBUSY; /* only the main loop's own thread moves queues */
    }
    dq->moving = true;
    while (dq->q && vmm_virtio_blk_queue_inflight(dq->q)) {
        loom_loop_poll(dq->dl->loop, true);
    }
    loom_bh_cancel(dq->kick_bh);
    loom_bh_cancel(dq->irq_bh);
    return queue_unregister(dq, may_poll);
}

/*
 * The queue joins its (new) loop, in that loop's thread: the doorbell
 * handler is registered, then the ring is looked at again (a doorbell
 * that rang during the move may have been consumed by the old loop, or
 * rang while no handler watched: the notifier keeps it, but a look at
 * the ring is what cannot miss a request) and an interrupt decision is
 * made for answers pushed before the move.
 */
static int attach_queue(void *opaque, bool may_poll)
{
    struct dp_queue *dq = opaque;
    int err = queue_register(dq, may_poll);

    if (err) {
        /* Registered without its poll hooks, perhaps: not here at all. */
        (void)queue_unregister(dq, may_poll);
        return err;
    }
    dq->moving = false;
    if (dq->q) {
        loom_bh_schedule(dq->kick_bh);
        loom_bh_schedule(dq->irq_bh);
    }
    return 0;
}

/* A queue's loop-bound objects: its loop and that loop's BHs. */
struct dp_home {
    struct dp_loop *dl;
    struct loom_bh *irq_bh, *kick_bh;
};

static int home_new(struct dp_queue *dq, struct dp_loop *dl, struct dp_home *h)
{
    int err;

    *h = (struct dp_home){.dl = dl};
    err = loom_bh_new(dl->loop, irq_bh, dq, "blk-irq", &h->irq_bh);
    if (!err) {
        err = loom_bh_new(dl->loop, kick_bh, dq, "blk-kick", &h->kick_bh);
    }
    return err;
}

static void home_free(struct dp_home *h)
{
    loom_bh_free(h->irq_bh);
    loom_bh_free(h->kick_bh);
}

/* Swap the queue's home with @h (no loop serves the queue meanwhile). */
static void home_swap(struct dp_queue *dq, struct dp_home *h)
{
    struct dp_home old = {dq->dl, dq->irq_bh, dq->kick_bh};

    dq->dl = h->dl;
    dq->irq_bh = h->irq_bh;
    dq->kick_bh = h->kick_bh;
    if (dq->q) {
        vmm_virtio_blk_queue_set_ctx(dq->q, dq->dl->ctx);
    }
    *h = old;
}

int vmm_blk_dataplane_move_queue(struct vmm_blk_dataplane *dp, unsigned q,
                                 struct loom_loop *loop, unsigned max_batch)
{
    struct dp_queue *dq;
    struct dp_loop *to;
    struct dp_home h;
    int err;

    if (!dp || q >= dp->nq || !loop) {
        return -EINVAL;
    }
    dq = &dp->queues[q];
    if (dq->dl->loop == loop) {
        return 0;
    }
    err = loop_get(dp, loop, max_batch, &to);
    if (err) {
        return err;
    }
    err = home_new(dq, to, &h);
    if (!err) {
        err = run_on_loop(dq->dl, detach_queue, dq);
    }
    if (err) {
        home_free(&h);
        loop_put(dp, to);
        return err;
    }
    /* The BQL keeps the transport (start, reset) out from here on. */
    home_swap(dq, &h);
    err = run_on_loop(dq->dl, attach_queue, dq);
    if (err) {
        /* Back to the old loop, which had it registered a moment ago. */
        home_swap(dq, &h);
        if (run_on_loop(dq->dl, attach_queue, dq)) {
            QSTAT_INC(dq, broken);
            dp->host.needs_reset(dp->host.opaque, q);
        }
        home_free(&h);
        loop_put(dp, to);
        return err;
    }
    to->users++;
    h.dl->users--;
    loop_put(dp, h.dl);
    home_free(&h);
    QSTAT_INC(dq, moves);
    return 0;
}

int vmm_blk_dataplane_queue_stats(struct vmm_blk_dataplane *dp, unsigned q,
                                  struct vmm_blk_queue_stats *st)
{
    const uint64_t *src;
    uint64_t *dst = (uint64_t *)st;
    size_t i;

    if (q >= dp->nq) {
        return -EINVAL;
    }
    src = (const uint64_t *)&dp->queues[q].stats;
    for (i = 0; i < sizeof(*st) / sizeof(uint64_t); i++) {
        dst[i] = __atomic_load_n(&src[i], __ATOMIC_ACQUIRE);
    }
    return 0;
}
