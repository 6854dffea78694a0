/* SPDX-License-Identifier: MIT */
/*
 * Internal interface of the main loop for optional integrations (the GLib
 * one in src/glib/): hooks run around each loom_main_loop_wait().
 */
#ifndef LOOM_MAIN_INT_H
#define LOOM_MAIN_INT_H

#include <stdbool.h>

/*
 * Called by loom_main_loop_wait() before its poll (@nonblocking as the
 * caller passed it) and after it; post's return value counts as progress.
 * Both may run nested (a callback of post calling loom_main_loop_wait()).
 */
typedef void loom__main_pre_wait_fn(void *opaque, bool nonblocking);
typedef bool loom__main_post_wait_fn(void *opaque);

/*
 * loom__main_set_wait_hooks() - install the hooks (NULL, NULL removes).
 * One set at a time.  Context: the main loop's thread.
 */
void loom__main_set_wait_hooks(loom__main_pre_wait_fn *pre,
                               loom__main_post_wait_fn *post, void *opaque);

#endif /* LOOM_MAIN_INT_H */
