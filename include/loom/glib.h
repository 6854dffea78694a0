/* SPDX-License-Identifier: MIT */
/*
 * Optional GLib integration (built when GLib is found; Meson option
 * "glib").  Not included by <loom/loom.h>: include <loom/glib.h> yourself
 * and build with GLib's flags (pkg-config glib-2.0).
 *
 * Two directions:
 *  - loom_loop_gsource(): a GSource that, attached to any GMainContext,
 *    makes that context's iterations run a loom loop's BHs, fd handlers
 *    and timers (a GTK or GIO program hosting loom loops);
 *  - loom_main_use_glib(): the loom main loop also polls a GMainContext's
 *    fds in its own wait and dispatches its sources (a loom program
 *    hosting GLib code), like QEMU's main loop does.
 */
#ifndef LOOM_GLIB_H
#define LOOM_GLIB_H

#include <glib.h>

#include <loom/common.h>
#include <loom/loop.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * loom_loop_gsource() - a GSource that runs @l inside a GMainContext.
 * @l: the loop; the source holds a reference to it until finalized.
 *
 * Attach the result with g_source_attach() and drop your reference with
 * g_source_unref() (or keep it to g_source_destroy() it later).  Each
 * iteration of the context then waits for @l's work along with its other
 * sources (one fd: @l's epoll fd, plus a timeout for @l's timers and idle
 * BHs) and, when there is any, runs loom_loop_poll(@l, false).  BHs
 * scheduled and timers armed from other threads wake the context through
 * the usual loom_loop_notify() protocol.
 *
 * While the source is attached, @l uses the epoll fd monitor (it switches
 * on the first iteration and switches back to the previous mode when the
 * source is finalized in @l's home thread); a loom_loop_set_fdmon() to
 * another kind meanwhile is undone by the next iteration.  The context
 * must be iterated in @l's home thread (the first thread to iterate it
 * becomes home if nobody polled @l yet), and @l may still be polled
 * directly there, also from callbacks (nesting).  Callbacks set with
 * g_source_set_callback() are ignored.  If the epoll fd cannot be created
 * the source degrades to looking at @l every millisecond.
 *
 * Context: any (creation); iteration: home(loop).
 * Return: a new source (GLib aborts on OOM, as g_source_new() does), or
 * NULL if @l is NULL.
 */
LOOM_API GSource *loom_loop_gsource(struct loom_loop *l);

/**
 * loom_main_use_glib() - make the main loop also run a GMainContext.
 * @ctx: the context (g_main_context_default() or any other), or NULL to
 *       stop.
 *
 * Every loom_main_loop_wait() (so also loom_main_loop_run()) then
 * acquires @ctx, prepares and queries it, waits for its fds and timeout in
 * the same sleep as the main loop's own handlers, BHs and timers, and
 * after those have been dispatched checks and dispatches @ctx's sources.
 * If another thread owns @ctx, that iteration skips it.  GLib callbacks
 * run in the main loop's thread with the BQL as the caller of
 * loom_main_loop_wait() holds it; they may call loom_main_loop_wait() or
 * loom_loop_poll(loom_main_loop()) (nesting) and loom_main_use_glib()
 * itself.  A nested loom_loop_poll(loom_main_loop()) does not run GLib
 * sources.  Replacing one context with another stops the first.  Call
 * loom_main_use_glib(NULL) before loom_main_cleanup().
 *
 * Context: the main loop's thread.
 * Return: 0; -EINVAL before loom_main_init(); -ENOMEM, -EMFILE or another
 * -errno if the integration cannot be set up (it is then off).
 */
LOOM_API int loom_main_use_glib(GMainContext *ctx);

#ifdef __cplusplus
}
#endif

#endif /* LOOM_GLIB_H */
