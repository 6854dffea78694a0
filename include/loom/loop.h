/* SPDX-License-Identifier: MIT */
/*
 * Event-loop contexts (QEMU's AioContext): one home thread polls a loop,
 * which watches fd handlers, event notifiers, timers and bottom halves and
 * dispatches their callbacks one at a time.  BHs (<loom/bh.h>), notifiers
 * (<loom/notifier.h>) and timers (<loom/timer.h>) attach to a loop.
 */
#ifndef LOOM_LOOP_H
#define LOOM_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include <loom/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * struct loom_loop - an event-loop context (opaque, reference counted).
 */
struct loom_loop;

/**
 * loom_loop_new() - create a loop.
 * @ret: receives the loop, with one reference, on success.
 *
 * The creating thread is the loop's home thread until another thread
 * polls it first (the first thread to call loom_loop_poll() claims it).
 * The fd monitor is LOOM_FDMON_AUTO.
 *
 * Context: any.
 * Return: 0; -EINVAL if @ret is NULL; -ENOMEM; or the negative errno of a
 * failed eventfd()/epoll_create1().
 */
LOOM_API int loom_loop_new(struct loom_loop **ret);

/**
 * loom_loop_current() - the calling thread's loop (QEMU's
 * qemu_get_current_aio_context()).
 *
 * Inside loom_loop_poll(l) (and so in every callback it dispatches), @l:
 * the innermost loop the thread is polling.  Elsewhere in an IOThread,
 * the IOThread's loop; in the thread that called loom_main_init(), the
 * main loop until loom_main_cleanup().  NULL in any other thread (pool
 * workers, vCPU threads, the program's own threads outside a poll).
 *
 * Coroutines use it: one entered with loom_co_enter() remembers the
 * entering thread's loop, so that loom_co_sleep_ns(), loom_co_wake() from
 * other threads and the coroutine locks know where to resume it.
 *
 * Context: any.
 * Return: the loop (no reference is taken: it lives at least as long as
 * the caller stays in that poll or that thread), or NULL.
 */
LOOM_API struct loom_loop *loom_loop_current(void);

/**
 * loom_loop_ref() - take a reference.
 * @l: the loop (NULL is ignored).
 *
 * Context: any (the caller must already own a reference).
 */
LOOM_API void loom_loop_ref(struct loom_loop *l);

/**
 * loom_loop_unref() - drop a reference; the last one frees the loop.
 * @l: the loop (NULL is ignored).
 *
 * When the last reference goes, every BH must have been freed (and every
 * one-shot BH run), every fd and notifier handler removed and every timer
 * freed; otherwise this panics with a message counting what leaked.
 * BHs freed with loom_bh_free() but not yet reclaimed are released here.
 *
 * Context: any for a non-final reference; the final unref must not race
 * with any other use of @l and must not happen inside loom_loop_poll(@l).
 */
LOOM_API void loom_loop_unref(struct loom_loop *l);

/**
 * loom_loop_poll() - run one iteration of the loop.
 * @l: the loop.
 * @blocking: wait for an event when nothing is ready.
 *
 * One iteration: compute the timeout (0 when BHs are pending or
 * @blocking is false; at most 10 ms when only idle BHs are pending; else
 * the nearest timer) → wait for fds → run scheduled BHs → dispatch ready
 * fd handlers → run expired timers.  Re-entrant: a callback may call it
 * again (a "nested" poll); a nested poll never re-enters an fd handler
 * that is running further up the stack, and processes the BHs left over
 * by outer levels.  A blocking poll returns after one wake-up even if
 * nothing made progress (e.g. after a bare loom_loop_notify(), or when
 * the wait is interrupted: by a signal, or by io_uring waking the thread
 * to run task work for a ring the thread submitted to).
 *
 * Context: home(l); the first thread that polls a loop becomes its home.
 * Return: true if a callback made progress (an fd handler, a non-idle BH
 * or a timer ran).
 */
LOOM_API bool loom_loop_poll(struct loom_loop *l, bool blocking);

/**
 * loom_loop_notify() - wake @l if it is, or is about to be, blocked.
 * @l: the loop.
 *
 * Costs no syscall when the loop is running or already notified (counted
 * as notify_skipped); otherwise wakes it with one syscall (notify_sent):
 * an eventfd write, or a futex wake when the loop has no fd to watch.
 * It only ends a wait that may block: state that loom_loop_poll() itself
 * looks at (BHs, timers, fds) is never missed, but a flag the caller of
 * loom_loop_poll() checks between polls can be - publish such changes
 * with a BH (e.g. loom_bh_oneshot()) instead.
 *
 * Context: any.
 */
LOOM_API void loom_loop_notify(struct loom_loop *l);

/**
 * typedef loom_fd_cb - fd readiness callback.
 * @opaque: the pointer given to loom_set_fd_handler().
 *
 * Callback: home(loop).
 */
typedef void loom_fd_cb(void *opaque);

/**
 * typedef loom_poll_cb - busy-poll callback (adaptive polling).
 * @opaque: the pointer given to loom_set_fd_handler().
 *
 * Called repeatedly while the loop busy-polls (see
 * loom_loop_set_poll_params()), so it should be cheap and only look (at
 * a ring index, a flag); it must not poll the loop.  If it adds, changes
 * or removes a handler, the busy-poll round ends there.
 *
 * Callback: home(loop).  Return: true if there is work (on_poll_ready
 * will then be called, once, in the dispatch phase of the same poll).
 */
typedef bool loom_poll_cb(void *opaque);

/**
 * loom_set_fd_handler() - add, change or remove the handler of an fd.
 * @l: the loop.
 * @fd: an open file descriptor (pollable: socket, pipe, eventfd, ...).
 * @on_read: called while @fd is readable (or hung up / in error), or NULL.
 * @on_write: called while @fd is writable (or in error), or NULL.
 * @on_poll: busy-poll callback, or NULL (adaptive polling: while any
 *           handler of @l has none, @l does not busy-poll).
 * @on_poll_ready: called when @on_poll returned true, or NULL.
 * @opaque: passed to every callback.
 *
 * Level-triggered.  With @on_read, @on_write and @on_poll all NULL the
 * handler of @fd is removed; a removed handler is never called again,
 * even if it was already found ready in the current iteration.  Allowed
 * from inside any callback, including the handler's own, and from nested
 * polls.  Re-registering an fd changes its callbacks in place.
 *
 * Context: home(l).
 * Return: 0; -EINVAL if @l is NULL or @on_poll_ready is set without
 * @on_poll; -EBADF if @fd is negative or (when adding) not open;
 * -ENOENT when removing an fd that has no handler; -ENOMEM; or the
 * negative errno of the fd monitor (e.g. -EPERM: epoll cannot watch a
 * regular file).
 */
LOOM_API int loom_set_fd_handler(struct loom_loop *l, int fd,
                                 loom_fd_cb *on_read, loom_fd_cb *on_write,
                                 loom_poll_cb *on_poll,
                                 loom_fd_cb *on_poll_ready, void *opaque);

/**
 * loom_set_fd_poll_hooks() - be told when the loop starts and stops
 * busy-polling a handler (QEMU's io_poll_begin / io_poll_end).
 * @l: the loop.
 * @fd: an fd with a handler in @l that has an on_poll callback.
 * @poll_begin: called when the handler enters poll mode, or NULL.
 * @poll_end: called when it leaves poll mode, or NULL.
 *
 * Poll mode lets a handler whose event source can be told not to signal
 * (a virtqueue's notifications, a ring's wake-up flag) run without those
 * signals while the loop busy-polls anyway:
 *
 * - @poll_begin runs when a busy-poll window starts (see
 *   loom_loop_set_poll_params()), before the first on_poll of the spin;
 *   the handler typically turns its notifications off.
 * - The handler stays in poll mode while the loop keeps busy-polling
 *   (windows that find work) or has work due without sleeping; in an
 *   iteration that does not spin because a BH or timer is due, its
 *   on_poll is still called once, so work it would no longer be
 *   notified of is found.
 * - Before the loop waits for events with a non-zero timeout without
 *   busy-polling (the window passed without work, polling was turned
 *   off, or a handler without on_poll appeared), and in every
 *   non-blocking loom_loop_poll(), @poll_end runs; the handler typically
 *   turns its notifications back on.  Then on_poll is called once more
 *   ("poll one last time": work that arrived just before the
 *   notifications were back on was not notified); if it returns true,
 *   on_poll_ready runs in this iteration's dispatch phase and the loop
 *   does not sleep.
 *
 * So begin and end alternate, starting with begin, and the loop never
 * sleeps with the handler in poll mode.  A handler whose callback is
 * running further up the stack is neither put into nor taken out of
 * poll mode by a nested poll.  A handler removed while in poll mode, or
 * whose hooks are set to NULL then, leaves it without @poll_end: its
 * owner restores what @poll_begin changed.  Changing the handler's
 * callbacks with loom_set_fd_handler() keeps its hooks and its mode;
 * removing the handler drops the hooks.
 *
 * The hooks, like on_poll, should only flip a flag or look; they must not
 * poll the loop.  Callback: home(@l), with @opaque of the handler.
 *
 * Context: home(@l).
 * Return: 0; -EINVAL if @l is NULL, if the handler has no on_poll (and a
 * hook is given) or is a notifier's (use loom_set_notifier_poll_hooks());
 * -EBADF if @fd is negative; -ENOENT if @fd has no handler in @l.
 */
LOOM_API int loom_set_fd_poll_hooks(struct loom_loop *l, int fd,
                                    loom_fd_cb *poll_begin,
                                    loom_fd_cb *poll_end);

/**
 * loom_loop_set_poll_params() - configure adaptive polling.
 * @l: the loop.
 * @max_ns: longest busy-poll window before sleeping; 0 turns it off.
 * @grow: factor the window grows by (0: default 2).
 * @shrink: divisor it shrinks by (0: reset to 0).
 *
 * When a blocking loom_loop_poll() finds nothing to do and would sleep,
 * it first spins for the current window (stats: poll_ns): it calls the
 * on_poll callback of every fd and notifier handler (except those whose
 * callback is running, in a nested poll) and watches for BHs scheduled
 * and loom_loop_notify() calls from any thread.  When an on_poll returns
 * true, that handler's on_poll_ready runs in this poll's dispatch phase
 * (and the fd wait is skipped); the window counts as a hit.  When the
 * window passes without work (a miss), the loop sleeps as usual.  The
 * spin never runs past the next timer's deadline, and never starts when
 * a BH or timer is due already.  While any registered handler lacks
 * on_poll, the loop does not busy-poll at all.
 *
 * The window adapts after each wait that polling did not avoid: if the
 * loop slept longer than @max_ns, it shrinks (divided by @shrink, or
 * reset to 0; below 4 us it becomes 0); if the event came after the
 * window but within @max_ns, it grows (multiplied by @grow; from 0 it
 * starts at 4 us, or @max_ns if smaller), up to @max_ns.  Unlike QEMU,
 * a window at 0 is tried again: after 8 waits in a row longer than
 * @max_ns, the next wait spins the starting window once (a thread whose
 * own wake-up takes longer than @max_ns would otherwise never poll
 * again).  Handlers with poll hooks are told when polling starts and stops
 * (loom_set_fd_poll_hooks()).
 * Polling trades CPU for wake-up latency: a spinning loop costs a
 * notifier no syscall.  New values take effect at the next blocking poll;
 * a lower @max_ns caps the current window.
 *
 * Context: any.
 * Return: 0; -EINVAL if @l is NULL or a value is negative.
 */
LOOM_API int loom_loop_set_poll_params(struct loom_loop *l, int64_t max_ns,
                                       int64_t grow, int64_t shrink);

/**
 * loom_loop_set_precise_timers() - wake up for timers without timer slack.
 * @l: the loop.
 * @precise: true to turn precise timers on, false to turn them off.
 *
 * Linux lets a sleep with a timeout end up to the thread's timer slack
 * after the timeout (50 us by default, prctl(PR_SET_TIMERSLACK)), so that
 * it can batch wake-ups and save power.  With precise timers on, the
 * thread that polls @l lowers its own timer slack to 1 ns, the least
 * Linux allows, the first time it sleeps for one of @l's timers or runs
 * them: a timer then fires within the wake-up latency of its deadline
 * (libevent's EVENT_BASE_FLAG_PRECISE_TIMER; QEMU sets the same slack for
 * its whole process at start-up).  The cost is more wake-ups where the
 * kernel would have merged several, not CPU time in the loop: one check
 * when a timer bounds the sleep.
 *
 * The slack belongs to the thread, not to the loop: it stays lowered after
 * the option is turned off or the loop is freed, applies to every other
 * timed sleep of the thread too, and is inherited by the threads it
 * creates afterwards.  A program that sets it back with prctl() while the
 * option is on turns the option off and on again to have it lowered anew.
 *
 * loom_main_init() turns the option on for the main loop and lowers the
 * calling thread's slack at once, as QEMU's main-loop initialisation
 * does: every thread created afterwards (IOThreads, pool workers, vCPU
 * threads) inherits 1 ns from it, before a seccomp filter that refuses
 * prctl() may confine it.  Other loops start with the option off, so that
 * a loop never changes its thread unasked; an IOThread's loop needs it
 * only when the IOThread was created by a thread with default slack.
 * Without PR_SET_TIMERSLACK (not Linux) the option has no effect.
 *
 * Context: any.
 * Return: 0; -EINVAL if @l is NULL.
 */
LOOM_API int loom_loop_set_precise_timers(struct loom_loop *l, bool precise);

/**
 * enum loom_fdmon - fd monitor backend of a loop.
 * @LOOM_FDMON_AUTO: poll(2), switching to epoll above 4 fd handlers (and
 *                   back at 2 or fewer).  Never io_uring, which costs more
 *                   per busy iteration for pure fd monitoring.
 * @LOOM_FDMON_POLL: poll(2) (ppoll with a nanosecond timeout).
 * @LOOM_FDMON_EPOLL: epoll.
 * @LOOM_FDMON_IO_URING: io_uring (one-shot poll requests), on request only:
 *                       for loops that also submit block I/O to a ring.
 */
enum loom_fdmon {
    LOOM_FDMON_AUTO,
    LOOM_FDMON_POLL,
    LOOM_FDMON_EPOLL,
    LOOM_FDMON_IO_URING,
};

/**
 * loom_loop_set_fdmon() - choose the fd monitor backend.
 * @l: the loop.
 * @kind: the backend; LOOM_FDMON_AUTO picks by the number of handlers.
 *
 * Every registered handler moves to the new backend; allowed from inside
 * callbacks.  On failure nothing changes.
 *
 * Context: home(l).
 * Return: 0; -EINVAL for a NULL @l or an unknown @kind; -ENOTSUP for
 * LOOM_FDMON_IO_URING where io_uring is unavailable (built without
 * liburing, refused by a seccomp filter or kernel.io_uring_disabled, or too
 * old a kernel); -ENOMEM, or the backend's negative errno.
 */
LOOM_API int loom_loop_set_fdmon(struct loom_loop *l, enum loom_fdmon kind);

/**
 * struct loom_loop_stats - counters of a loop since it was created.
 * @iterations: loom_loop_poll() calls (all nesting levels).
 * @bh_runs: BH callbacks run (idle and one-shot ones included).
 * @fd_events: fd and notifier handler callbacks run.
 * @timer_runs: timer callbacks run.
 * @poll_hits: busy-poll windows that found work (adaptive polling).
 * @poll_misses: busy-poll windows that did not.
 * @notify_sent: loom_loop_notify() calls that woke the loop (a syscall).
 * @notify_skipped: loom_loop_notify() calls that did not need to (the
 *                  loop was running, or a wake-up was already on its way);
 *                  counted without an atomic read-modify-write, so
 *                  notifiers racing in different threads may undercount.
 * @poll_ns: current busy-poll window (0: polling off).
 * @fdmon: the backend in use now (never LOOM_FDMON_AUTO).
 */
struct loom_loop_stats {
    uint64_t iterations, bh_runs, fd_events, timer_runs, poll_hits, poll_misses,
        notify_sent, notify_skipped;
    int64_t poll_ns;
    enum loom_fdmon fdmon;
};

/**
 * loom_loop_stats() - read the loop's counters.
 * @l: the loop.
 * @st: receives the counters (each read atomically, not as a snapshot).
 *
 * Context: any.  A NULL @l or @st is ignored.
 */
LOOM_API void loom_loop_stats(struct loom_loop *l, struct loom_loop_stats *st);

/*
 * Internal to LOOM_WAIT_WHILE(): loom__wait_begin() returns the loop to
 * poll (@l in its home thread, else the main loop, registering the caller
 * as a waiter) and loom__wait_end() undoes the registration.  Do not call
 * them directly.
 */
LOOM_API struct loom_loop *loom__wait_begin(struct loom_loop *l);
LOOM_API void loom__wait_end(struct loom_loop *polled);

/**
 * LOOM_WAIT_WHILE() - poll until a condition becomes false.
 * @loop: the loop whose activity makes @cond false.
 * @cond: an expression, re-evaluated after every iteration.
 *
 * In @loop's home thread, polls @loop (blocking) until !@cond.  In any
 * other thread (normally the main thread waiting for work done in another
 * thread's loop), polls the main loop instead, registered as a waiter so
 * that loom_wait_kick() wakes it; whoever makes @cond false from another
 * thread must then call loom_wait_kick().  Panics if the caller is not
 * @loop's home thread and no main loop exists.
 *
 * Context: home(@loop) or home(main loop).
 */
#define LOOM_WAIT_WHILE(loop, cond)                                            \
    do {                                                                       \
        struct loom_loop *loom_ww_polled_ = loom__wait_begin(loop);            \
        while (cond) {                                                         \
            loom_loop_poll(loom_ww_polled_, true);                             \
        }                                                                      \
        loom__wait_end(loom_ww_polled_);                                       \
    } while (0)

/**
 * loom_wait_kick() - make LOOM_WAIT_WHILE() waiters re-evaluate.
 *
 * Schedules a BH on the main loop, only when someone waits there (no
 * cost otherwise).  Call it after making a waited-for condition false.
 *
 * Context: any.
 */
LOOM_API void loom_wait_kick(void);

#ifdef __cplusplus
}
#endif

#endif /* LOOM_LOOP_H */
