/* SPDX-License-Identifier: MIT */
/*
 * The main loop and the big lock (BQL).
 *
 * The main loop is an ordinary struct loom_loop owned by the thread that
 * called loom_main_init(), plus a "top-level" group of fd handlers that only
 * the main loop's own iteration (loom_main_loop_wait()) watches and
 * dispatches: a nested loom_loop_poll(loom_main_loop()) never runs them.
 * SIGINT and SIGTERM are received through a signalfd in that group and turn
 * into loom_request_shutdown(LOOM_SHUTDOWN_SIGNAL(signo)).
 *
 * The BQL is one process-wide mutex serialising state that is not
 * thread-safe.  loom_main_loop_wait() drops it while the main loop sleeps if
 * the caller holds it, and takes it back before dispatching.
 */
#ifndef LOOM_MAIN_H
#define LOOM_MAIN_H

#include <loom/common.h>
#include <loom/loop.h>
#include <loom/thread.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Shutdown reasons for loom_request_shutdown(); any non-zero int is valid. */
#define LOOM_SHUTDOWN_REQUEST 1          /* generic request by the program */
#define LOOM_SHUTDOWN_SIGNAL(signo) (0x100 | (signo)) /* SIGINT, SIGTERM */
#define LOOM_SHUTDOWN_IS_SIGNAL(r) (((r) & ~0xff) == 0x100)

/**
 * loom_main_init() - create the main loop and make the caller its thread.
 *
 * Blocks SIGINT and SIGTERM in the calling thread and receives them through
 * a signalfd watched by the main loop; call it before creating other
 * threads so that they inherit the mask (a thread that does not block them
 * would receive the default action instead).
 *
 * Context: the thread that will run the main loop, once.
 * Return: 0; -EALREADY if already initialised; -ENOMEM, -EMFILE or another
 * negative errno if the loop or the signalfd cannot be created.
 */
LOOM_API int loom_main_init(void);

/**
 * loom_main_cleanup() - destroy the main loop created by loom_main_init().
 *
 * Removes the signalfd and restores the signal mask that loom_main_init()
 * found.  Every handler, BH and timer the program added to the main loop
 * must be gone (otherwise the loop's leak check panics).  Afterwards
 * loom_main_init() may be called again.
 *
 * Context: the main loop's thread, outside any loom_main_loop_wait().
 */
LOOM_API void loom_main_cleanup(void);

/**
 * loom_main_loop() - the main loop's context.
 *
 * Context: any.
 * Return: the loop, or NULL before loom_main_init().
 */
LOOM_API struct loom_loop *loom_main_loop(void);

/**
 * loom_main_loop_wait() - run one iteration of the main loop.
 * @nonblocking: true to only dispatch what is ready now.
 *
 * Watches the main loop's handlers, BHs, timers and the top-level group.  If
 * the caller holds the BQL it is released while the loop sleeps and
 * re-taken before anything is dispatched.
 *
 * Context: the main loop's thread.
 * Return: true if any callback ran; false if none did, or before
 * loom_main_init().
 */
LOOM_API bool loom_main_loop_wait(bool nonblocking);

/**
 * loom_main_loop_run() - iterate the main loop until a shutdown request.
 *
 * Context: the main loop's thread.
 * Return: the reason passed to loom_request_shutdown() (> 0), after which
 * the request is consumed; -EINVAL before loom_main_init().
 */
LOOM_API int loom_main_loop_run(void);

/**
 * loom_request_shutdown() - ask loom_main_loop_run() to return.
 * @reason: non-zero reason it will return (e.g. LOOM_SHUTDOWN_REQUEST);
 *          0 is ignored.  A later request replaces an unconsumed one.
 *
 * Context: any thread; async-signal-safe (an atomic store and an eventfd
 * write).
 */
LOOM_API void loom_request_shutdown(int reason);

/**
 * loom_main_shutdown_requested() - the pending shutdown reason, 0 if none.
 * Context: any.
 */
LOOM_API int loom_main_shutdown_requested(void);

/**
 * loom_main_set_fd_handler() - add, change or remove a top-level fd handler.
 * @fd: the file descriptor.
 * @on_read: called when @fd is readable, or NULL.
 * @on_write: called when @fd is writable, or NULL.
 * @opaque: passed to the callbacks.
 *
 * Top-level handlers are dispatched by loom_main_loop_wait() only, never by a
 * nested loom_loop_poll(loom_main_loop()); use them for code that cannot
 * cope with re-entrancy.  Both callbacks NULL removes the handler.
 *
 * Callback: the main loop's thread, with the BQL in whatever state the
 * caller of loom_main_loop_wait() had it.
 * Context: the main loop's thread.
 * Return: 0; -EINVAL before loom_main_init(); otherwise as
 * loom_set_fd_handler() (-EBADF for a bad fd, -ENOENT when removing a
 * handler that does not exist).
 */
LOOM_API int loom_main_set_fd_handler(int fd, loom_fd_cb *on_read,
                                      loom_fd_cb *on_write, void *opaque);

/**
 * loom_bql_lock() - take the big lock.
 *
 * Not recursive: taking it twice on one thread is a contract violation
 * and panics.
 *
 * Context: any thread not holding it.
 */
LOOM_API void loom_bql_lock(void);

/**
 * loom_bql_unlock() - release the big lock.
 * Context: the thread holding it (panics otherwise).
 */
LOOM_API void loom_bql_unlock(void);

/**
 * loom_bql_locked() - whether the calling thread holds the big lock.
 * Context: any.
 */
LOOM_API bool loom_bql_locked(void);

/**
 * loom_bql_cond_wait() - wait on @c, releasing the BQL while waiting.
 * @c: a condition variable signalled by a thread that changes the state
 *     the caller waits for (typically while holding the BQL).
 *
 * Context: bql (panics if the caller does not hold it); returns with it
 * held.  Spurious wake-ups are possible: wait in a loop.
 */
LOOM_API void loom_bql_cond_wait(struct loom_cond *c);

/**
 * loom_bql_cond_timedwait() - loom_bql_cond_wait() with a relative
 * timeout.
 * Context: bql.  Return: 0, or -ETIMEDOUT.
 */
LOOM_API int loom_bql_cond_timedwait(struct loom_cond *c, int64_t timeout_ns);

#ifdef __cplusplus
}
#endif

#endif /* LOOM_MAIN_H */
