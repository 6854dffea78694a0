/* SPDX-License-Identifier: MIT */
/*
 * The main loop: the process's main-thread loom_loop, its top-level handler
 * group, shutdown requests and SIGINT/SIGTERM through a signalfd.
 *
 * loom_main_init(), loom_main_loop_wait(), loom_main_loop_run() and
 * loom_main_set_fd_handler() run in the main loop's thread;
 * loom_request_shutdown() may come from any thread or a signal handler.
 * The BQL, if the caller holds it, is dropped only around the outermost
 * blocking wait of the main loop (sleep hooks), never in nested polls.
 */
#include <loom/main.h>

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "base/atomic.h"
#include "base/check.h"
#include "loop/loop-int.h"
#include "main/main-int.h"
#include "timer/timer-int.h"

/* Written by loom_main_init()/cleanup() only; read by any thread. */
static struct loom_loop *g_main;
/* Pending shutdown reason, 0 if none.  Atomic. */
static int g_shutdown_reason;

/* Main-loop thread only. */
static int g_sigfd = -1;
static sigset_t g_saved_mask;
static bool g_bql_dropped;
/* Wait hooks (main-int.h); main-loop thread only. */
static loom__main_pre_wait_fn *g_pre_wait;
static loom__main_post_wait_fn *g_post_wait;
static void *g_wait_opaque;

static void main_before_sleep(void *opaque)
{
    if (loom_bql_locked()) {
        loom_bql_unlock();
        g_bql_dropped = true;
    }
}

static void main_after_sleep(void *opaque)
{
    if (g_bql_dropped) {
        g_bql_dropped = false;
        loom_bql_lock();
    }
}

static void main_signal_read(void *opaque)
{
    struct signalfd_siginfo si;
    ssize_t n;

    /* Drain everything queued; the last signal's number wins. */
    for (;;) {
        n = read(g_sigfd, &si, sizeof(si));
        if (n != (ssize_t)sizeof(si)) {
            break;
        }
        loom_request_shutdown(LOOM_SHUTDOWN_SIGNAL((int)si.ssi_signo));
    }
}

static int main_signals_init(void)
{
    sigset_t set;
    int fd, ret;

    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    ret = pthread_sigmask(SIG_BLOCK, &set, &g_saved_mask);
    if (ret != 0) {
        return -ret;
    }
    fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) {
        ret = -errno;
        pthread_sigmask(SIG_SETMASK, &g_saved_mask, NULL);
        return ret;
    }
    g_sigfd = fd;
    return 0;
}

static void main_signals_cleanup(void)
{
    if (g_sigfd >= 0) {
        close(g_sigfd);
        g_sigfd = -1;
        pthread_sigmask(SIG_SETMASK, &g_saved_mask, NULL);
    }
}

int loom_main_init(void)
{
    struct loom_loop *l;
    int ret;

    if (loom__atomic_load_acquire(&g_main)) {
        return -EALREADY;
    }
    ret = loom_loop_new(&l);
    if (ret < 0) {
        return ret;
    }
    /*
     * The least timer slack for this thread now, as QEMU's main-loop
     * initialisation sets it: the threads created afterwards (IOThreads,
     * pool workers, vCPUs) inherit it before any of them is confined.
     */
    (void)loom_loop_set_precise_timers(l, true);
    loom__timers_precise_here(loom__loop_timers(l));
    ret = main_signals_init();
    if (ret < 0) {
        goto fail_loop;
    }
    ret = loom__set_fd_handler_group(l, g_sigfd, LOOM__GROUP_TOPLEVEL,
                                     main_signal_read, NULL, NULL, NULL,
                                     NULL);
    if (ret < 0) {
        goto fail_signals;
    }
    loom__loop_set_sleep_hooks(l, main_before_sleep, main_after_sleep, NULL);
    loom__atomic_set(&g_shutdown_reason, 0);
    loom__loop_set_main(l);
    loom__loop_set_thread_default(l);
    /* Pairs with the acquire loads in loom_main_loop() and init. */
    loom__atomic_store_release(&g_main, l);
    return 0;

fail_signals:
    main_signals_cleanup();
fail_loop:
    loom_loop_unref(l);
    return ret;
}

void loom_main_cleanup(void)
{
    struct loom_loop *l = g_main;

    if (!l) {
        return;
    }
    loom__loop_set_main(NULL);
    loom__loop_set_sleep_hooks(l, NULL, NULL, NULL);
    loom__set_fd_handler_group(l, g_sigfd, LOOM__GROUP_TOPLEVEL, NULL, NULL,
                               NULL, NULL, NULL);
    main_signals_cleanup();
    loom__loop_set_thread_default(NULL);
    loom__atomic_store_release(&g_main, NULL);
    loom_loop_unref(l);
}

struct loom_loop *loom_main_loop(void)
{
    /* Pairs with the release store in loom_main_init(). */
    return loom__atomic_load_acquire(&g_main);
}

bool loom_main_loop_wait(bool nonblocking)
{
    struct loom_loop *l = g_main;
    loom__main_post_wait_fn *post = g_post_wait;
    void *opaque = g_wait_opaque;
    bool progress;

    if (!l) {
        return false;
    }
    if (g_pre_wait) {
        g_pre_wait(opaque, nonblocking);
    }
    progress = loom__loop_poll_ex(l, !nonblocking, true);
    /* The hooks seen before the poll: they may be removed meanwhile. */
    if (post && post == g_post_wait && opaque == g_wait_opaque) {
        progress |= post(opaque);
    }
    return progress;
}

void loom__main_set_wait_hooks(loom__main_pre_wait_fn *pre,
                               loom__main_post_wait_fn *post, void *opaque)
{
    g_pre_wait = pre;
    g_post_wait = post;
    g_wait_opaque = opaque;
}

int loom_main_loop_run(void)
{
    int reason;

    if (!g_main) {
        return -EINVAL;
    }
    for (;;) {
        /* Consume the request so a later run starts afresh. */
        reason = loom__atomic_xchg(&g_shutdown_reason, 0);
        if (reason) {
            return reason;
        }
        loom_main_loop_wait(false);
    }
}

void loom_request_shutdown(int reason)
{
    struct loom_loop *l;

    if (reason == 0) {
        return;
    }
    /*
     * Publish the reason, then kick.  A bare loom_loop_notify() could be
     * skipped if loom_main_loop_run() had just read no reason and not yet
     * announced that its poll may block; the kick is a BH, which that poll
     * finds however the two interleave.  Pairs with the xchg in
     * loom_main_loop_run().  Both steps are lock-free, so this stays
     * async-signal-safe.
     */
    loom__atomic_store_seq(&g_shutdown_reason, reason);
    l = loom_main_loop();
    if (l) {
        loom__loop_kick(l);
    }
}

int loom_main_shutdown_requested(void)
{
    return loom__atomic_load_seq(&g_shutdown_reason);
}

int loom_main_set_fd_handler(int fd, loom_fd_cb *on_read,
                             loom_fd_cb *on_write, void *opaque)
{
    LOOM_CHECK(g_main, -EINVAL);
    return loom__set_fd_handler_group(g_main, fd, LOOM__GROUP_TOPLEVEL, on_read,
                                      on_write, NULL, NULL, opaque);
}
