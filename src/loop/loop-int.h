/* SPDX-License-Identifier: MIT */
/*
 * Internal interface of struct loom_loop for the layers built on it (the
 * timers in src/timer/, the main loop in src/main/).  The loop owner may
 * add declarations; the ones below are relied upon by other modules.
 */
#ifndef LOOM_LOOP_INT_H
#define LOOM_LOOP_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "base/check.h"
#include <loom/loop.h>

struct loom__timers;

/*
 * loom__loop_timers() - the loop's timer state (see timer/timer-int.h).
 * Context: any.
 */
struct loom__timers *loom__loop_timers(struct loom_loop *l);

/*
 * Handler groups.  LOOM__GROUP_TOPLEVEL handlers (the main loop's
 * loom_main_set_fd_handler(), QEMU's iohandler context) are the ones only
 * the outermost main-loop iteration dispatches: they are watched and run
 * only by loom__loop_poll_ex(l, blocking, true), i.e. by
 * loom_main_loop_wait(), never by a nested loom_loop_poll().  A top-level
 * fd that is ready while only nested polls run must not make them spin or
 * return early.
 */
enum loom__handler_group {
    LOOM__GROUP_DEFAULT = 0,
    LOOM__GROUP_TOPLEVEL = 1,
};

/*
 * loom__set_fd_handler_group() - loom_set_fd_handler() for a given group.
 * An fd has at most one handler per group; the same fd may have one in
 * each group.  Context: home(loop).  Return: as loom_set_fd_handler().
 */
int loom__set_fd_handler_group(struct loom_loop *l, int fd,
                               enum loom__handler_group group,
                               loom_fd_cb *on_read, loom_fd_cb *on_write,
                               loom_poll_cb *on_poll, loom_fd_cb *on_poll_ready,
                               void *opaque);

/*
 * loom__loop_poll_ex() - loom_loop_poll(), optionally also watching and
 * dispatching the top-level group.  loom_loop_poll(l, b) is
 * loom__loop_poll_ex(l, b, false).  Context: home(loop).
 */
bool loom__loop_poll_ex(struct loom_loop *l, bool blocking, bool toplevel);

/*
 * loom__loop_set_sleep_hooks() - callbacks run immediately before and
 * after the loop blocks in its fd monitor with a non-zero timeout (not
 * around non-blocking polls, not around busy-polling), and only in the
 * outermost poll of the loop (nesting depth 0): a nested poll never calls
 * them.  The main loop uses them to drop the BQL while it sleeps.  NULL
 * removes.
 * Context: home(loop), while no poll is running.
 */
void loom__loop_set_sleep_hooks(struct loom_loop *l, loom_cb *before_sleep,
                                loom_cb *after_sleep, void *opaque);

/*
 * loom__loop_set_main() - designate the process's main loop: the loop
 * LOOM_WAIT_WHILE() polls when called outside the waited loop's home
 * thread, and which loom_wait_kick() wakes.  NULL clears.
 * Context: any, once at main-loop init/teardown.
 */
void loom__loop_set_main(struct loom_loop *l);

/*
 * loom__loop_is_home() - true if the calling thread is running (or, before
 * any poll, created and owns) @l.  Used by debug checks and by
 * LOOM_WAIT_WHILE.  Context: any.
 */
bool loom__loop_is_home(struct loom_loop *l);

/*
 * loom__loop_set_home() - make the calling thread @l's home thread (an
 * IOThread calls it first thing in its thread).  Context: the new home
 * thread, while no other thread polls @l.
 */
void loom__loop_set_home(struct loom_loop *l);

/*
 * The calling thread's loop, as loom_loop_current() returns it: the loop
 * it is polling (innermost), else its default loop.  One TLS load, for
 * hot paths (coroutine enter).  Written only by the loop module.
 */
extern __thread struct loom_loop *loom__t_loop
    __attribute__((tls_model("initial-exec")));

/*
 * loom__loop_set_thread_default() - make @l the calling thread's loop
 * outside its polls (an IOThread's loop; the main loop in the thread that
 * created it), or forget it with NULL.  Context: the thread concerned,
 * outside any loom_loop_poll().
 */
void loom__loop_set_thread_default(struct loom_loop *l);

/*
 * loom__loop_kick() - make @l's current or next loom_loop_poll() return
 * (it counts as no progress), by scheduling an internal BH: no allocation,
 * coalesced, and race-free.  Use it after changing state that the loop's
 * caller checks between polls (e.g. a shutdown flag): a bare
 * loom_loop_notify() can be missed by a poll that is just starting.
 * Context: any.
 */
void loom__loop_kick(struct loom_loop *l);

/*
 * LOOM_ASSERT_HOME() - in debug-check builds, panic unless the calling
 * thread is @l's home thread.  @what names the operation in the message.
 */
#ifdef LOOM_DEBUG_CHECKS
#define LOOM_ASSERT_HOME(l, what)                                              \
    do {                                                                       \
        if (!loom__loop_is_home(l)) {                                          \
            loom__panic("%s: loop %p used outside its home thread", (what),    \
                       (void *)(l));                                           \
        }                                                                      \
    } while (0)
#else
#define LOOM_ASSERT_HOME(l, what) ((void)0)
#endif

/*
 * The loop's thread pool (src/pool/), created lazily by loom_loop_pool().
 * loom__loop_get_pool() returns it or NULL.  loom__loop_install_pool()
 * installs @p with its destructor unless a pool is already installed, and
 * returns the installed one (the caller frees @p if it lost the race).  The
 * loop's teardown calls @free_fn before it checks for leaked BHs.
 * Context: any.
 */
struct loom_pool;
struct loom_pool *loom__loop_get_pool(struct loom_loop *l);
struct loom_pool *loom__loop_install_pool(struct loom_loop *l,
                                          struct loom_pool *p,
                                          void (*free_fn)(struct loom_pool *));

/*
 * Driving a loop from an external event loop (the GLib GSource in
 * src/glib/; loop/external.c).  The external loop waits on one fd and
 * calls, in its iteration, prepare -> (its poll) -> check -> dispatch
 * (dispatch is loom_loop_poll(l, false)).  struct loom__ext_poll is the
 * caller's per-attachment state; zero it before first use.
 *
 * loom__loop_ext_prepare(): pin the loop to the epoll monitor (the one fd
 * the caller waits on is its epoll fd), announce that the caller may block
 * on it, and compute the timeout.  Return: that fd (it changes only if
 * someone switched the loop's monitor in between); *@ret_timeout_ns is
 * -1 (no deadline), 0 (work is pending: do not block; nothing stays
 * announced) or the time until the next timer or idle BH.  -errno if the
 * epoll monitor cannot be created.  Context: home(loop) (the first
 * caller becomes home, as with loom_loop_poll()).
 *
 * loom__loop_ext_check(): withdraw the announcement, accept a
 * notification; @fd_ready is what the caller's poll said about the fd.
 * Return: true if the loop has work (dispatch now).  Context: home(loop).
 *
 * loom__loop_ext_withdraw(): withdraw the announcement if one is left
 * (before dispatching, or when the external loop gives up on the loop
 * between prepare and check).  Context: any.
 *
 * loom__loop_ext_detach(): withdraw, and if called from the loop's home
 * thread give the loop back the fd monitor mode it had before the first
 * prepare.  Context: any.
 */
struct loom__ext_poll {
    bool announced; /* holds one announce count in l->wake */
    bool pinned;    /* saved_mode is valid */
    int saved_mode; /* enum loom_fdmon the loop had before pinning */
};

int loom__loop_ext_prepare(struct loom_loop *l, struct loom__ext_poll *ep,
                           int64_t *ret_timeout_ns);
bool loom__loop_ext_check(struct loom_loop *l, struct loom__ext_poll *ep,
                          bool fd_ready);
void loom__loop_ext_withdraw(struct loom_loop *l, struct loom__ext_poll *ep);
void loom__loop_ext_detach(struct loom_loop *l, struct loom__ext_poll *ep);

#endif /* LOOM_LOOP_INT_H */
