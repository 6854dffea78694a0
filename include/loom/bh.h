/* SPDX-License-Identifier: MIT */
/*
 * Bottom halves: callbacks scheduled from any thread and run by a loop's
 * home thread in its next iteration (QEMU's QEMUBH).  Scheduling is
 * lock-free and wakes the loop only when it may be sleeping.
 */
#ifndef LOOM_BH_H
#define LOOM_BH_H

#include <stdbool.h>

#include <loom/common.h>
#include <loom/loop.h>

#ifdef __cplusplus
extern "C" {
#endif

/** struct loom_bh - a bottom half (opaque). */
struct loom_bh;

/**
 * loom_bh_new() - create a bottom half (not scheduled).
 * @l: the loop that runs it.
 * @cb: the callback.  Callback: home(@l).
 * @opaque: passed to @cb.
 * @name: a label for debugging, or NULL; must outlive the BH (a literal).
 * @ret: receives the BH on success.
 *
 * Context: any.
 * Return: 0; -EINVAL if @l, @cb or @ret is NULL; -ENOMEM.
 */
LOOM_API int loom_bh_new(struct loom_loop *l, loom_cb *cb, void *opaque,
                         const char *name, struct loom_bh **ret);

/**
 * loom_bh_schedule() - run @bh once in its loop's next iteration.
 * @bh: the BH (NULL is ignored).
 *
 * Scheduling again before it ran runs it once.  A BH scheduled from its
 * own callback runs in the next iteration (once per loom_loop_poll()),
 * not in a loop.  Wakes the loop if it may be sleeping.  Lock-free.
 *
 * Lifetime: the BH may run, and its loop's home thread may free the BH or
 * drop its last loop reference, before this call returns; a thread other
 * than the home thread must hold a loop reference (loom_loop_ref()) across
 * the call if the loop could otherwise go away.  The same holds for
 * loom_bh_oneshot() and loom_loop_notify().
 *
 * Context: any.
 */
LOOM_API void loom_bh_schedule(struct loom_bh *bh);

/**
 * loom_bh_schedule_idle() - like loom_bh_schedule() without waking.
 * @bh: the BH (NULL is ignored).
 *
 * Does not wake a sleeping loop: a loop that finds idle BHs pending when
 * it goes to sleep sleeps at most 10 ms, one that was already asleep runs
 * the BH after its next wake-up.  Running an idle BH does not count as
 * progress for loom_loop_poll().  A later loom_bh_schedule() upgrades it
 * (and wakes the loop).
 *
 * Context: any.
 */
LOOM_API void loom_bh_schedule_idle(struct loom_bh *bh);

/**
 * loom_bh_cancel() - unschedule @bh if it has not started running.
 * @bh: the BH (NULL is ignored).
 *
 * Context: any (from another thread it may race with a run that is
 * just starting).
 */
LOOM_API void loom_bh_cancel(struct loom_bh *bh);

/**
 * loom_bh_free() - cancel and free @bh.
 * @bh: the BH (NULL is ignored).
 *
 * A scheduled BH that is freed never runs (a run already in progress on
 * the loop's thread completes).  Allowed from the BH's own callback.  The
 * memory is reclaimed by the loop's next iteration (or its last unref);
 * @bh must not be used after this call.
 *
 * Context: any.
 */
LOOM_API void loom_bh_free(struct loom_bh *bh);

/**
 * loom_bh_oneshot() - run @cb(@opaque) once in @l's home thread.
 * @l: the loop.
 * @cb: the callback.  Callback: home(@l).
 * @opaque: passed to @cb.
 *
 * Allocates a BH, schedules it and frees it after it ran.  A one-shot BH
 * that has not run yet counts as a leak at the loop's last unref.
 *
 * Context: any.
 * Return: 0; -EINVAL if @l or @cb is NULL; -ENOMEM.
 */
LOOM_API int loom_bh_oneshot(struct loom_loop *l, loom_cb *cb, void *opaque);

#ifdef __cplusplus
}
#endif

#endif /* LOOM_BH_H */
