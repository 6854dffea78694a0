/* SPDX-License-Identifier: MIT */
/*
 * The tests' watchdog thread (harness.h): fails the test when the code
 * under test stops making progress, so that a lost wake-up shows as a
 * failure naming what hung instead of a Meson timeout.
 */
#include "harness.h"

static gpointer watchdog_fn(gpointer opaque)
{
    struct harness_watchdog *w = opaque;
    gint last = g_atomic_int_get(&w->progress);

    g_mutex_lock(&w->lock);
    while (!g_atomic_int_get(&w->done)) {
        gint64 end = g_get_monotonic_time() +
                     (gint64)w->seconds * G_USEC_PER_SEC;

        if (!g_cond_wait_until(&w->cond, &w->lock, end) &&
            !g_atomic_int_get(&w->done)) {
            gint p = g_atomic_int_get(&w->progress);

            if (p == last) {
                g_error("watchdog: %s: no progress for %d s", w->what,
                        w->seconds);
            }
            last = p;
        }
    }
    g_mutex_unlock(&w->lock);
    return NULL;
}

void harness_watchdog_start(struct harness_watchdog *w, int seconds,
                            const char *what)
{
    g_mutex_init(&w->lock);
    g_cond_init(&w->cond);
    g_atomic_int_set(&w->done, 0);
    w->progress = 0;
    w->seconds = seconds;
    w->what = what;
    w->thread = g_thread_new("watchdog", watchdog_fn, w);
}

void harness_watchdog_progress(struct harness_watchdog *w)
{
    g_atomic_int_inc(&w->progress);
}

void harness_watchdog_stop(struct harness_watchdog *w)
{
    g_mutex_lock(&w->lock);
    g_atomic_int_set(&w->done, 1);
    g_cond_signal(&w->cond);
    g_mutex_unlock(&w->lock);
    g_thread_join(w->thread);
    g_mutex_clear(&w->lock);
    g_cond_clear(&w->cond);
}
