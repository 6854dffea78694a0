/* SPDX-License-Identifier: MIT */
/*
 * Event notifiers (QEMU's EventNotifier): an eventfd that one side sets
 * and the other tests and clears, usually watched by a loop through
 * loom_set_notifier_handler().
 */
#ifndef LOOM_NOTIFIER_H
#define LOOM_NOTIFIER_H

#include <stdbool.h>

#include <loom/common.h>
#include <loom/loop.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * struct loom_notifier - an event notifier; embed it, then
 * loom_notifier_init() it.
 */
struct loom_notifier {
    /* private: */
    int fd;
};

/**
 * loom_notifier_init() - create the notifier's eventfd.
 * @n: the notifier.
 * @active: start in the set state.
 *
 * The eventfd is EFD_NONBLOCK | EFD_CLOEXEC.
 *
 * Context: any.
 * Return: 0; -EINVAL if @n is NULL; the negative errno of eventfd()
 * (e.g. -EMFILE).  On failure loom_notifier_cleanup() is still safe.
 */
LOOM_API int loom_notifier_init(struct loom_notifier *n, bool active);

/**
 * loom_notifier_cleanup() - close the eventfd.
 * @n: the notifier (NULL, or an already cleaned up one, is ignored).
 *
 * Remove its handler from every loop first.
 *
 * Context: any.
 */
LOOM_API void loom_notifier_cleanup(struct loom_notifier *n);

/**
 * loom_notifier_set() - set the notifier (wakes whoever watches it).
 * @n: the notifier.
 *
 * Context: any (async-signal-safe).
 * Return: 0; -EINVAL if @n is NULL; -EBADF if @n is not initialised.
 */
LOOM_API int loom_notifier_set(struct loom_notifier *n);

/**
 * loom_notifier_test_and_clear() - clear the notifier.
 * @n: the notifier.
 *
 * Context: any.
 * Return: true if it was set; false if not, or @n is NULL or not
 * initialised.
 */
LOOM_API bool loom_notifier_test_and_clear(struct loom_notifier *n);

/**
 * loom_notifier_fd() - the notifier's eventfd.
 * @n: the notifier.
 *
 * Context: any.
 * Return: the fd; -EBADF if @n is NULL or not initialised.
 */
LOOM_API int loom_notifier_fd(const struct loom_notifier *n);

/**
 * loom_set_notifier_handler() - watch a notifier in a loop.
 * @l: the loop.
 * @n: an initialised notifier.
 * @on_event: called while @n is set (it should test_and_clear it), or
 *            NULL to remove the handler.  Callback: home(@l).
 * @on_poll: busy-poll callback, called with @n as opaque, or NULL.
 * @on_poll_ready: called when @on_poll found work, or NULL.
 *
 * Built on loom_set_fd_handler(); the same rules apply (changing in
 * place, removal from callbacks, no re-entry from nested polls).
 *
 * Context: home(@l).
 * Return: 0; -EINVAL if @l or @n is NULL or @on_poll_ready is set without
 * @on_poll; -EBADF if @n is not initialised; -ENOENT when removing a
 * handler that is not set; -ENOMEM.
 */
LOOM_API int
loom_set_notifier_handler(struct loom_loop *l, struct loom_notifier *n,
                          void (*on_event)(struct loom_notifier *),
                          bool (*on_poll)(void *opaque),
                          void (*on_poll_ready)(struct loom_notifier *));

/**
 * loom_set_notifier_poll_hooks() - poll mode hooks of a notifier handler
 * (QEMU's aio_set_event_notifier_poll()).
 * @l: the loop.
 * @n: a notifier whose handler in @l has an on_poll callback.
 * @poll_begin: called with @n when the handler enters poll mode, or NULL.
 * @poll_end: called with @n when it leaves poll mode, or NULL.
 *
 * loom_set_fd_poll_hooks() for a notifier handler; the same rules apply.
 * Removing the handler drops the hooks.
 *
 * Context: home(@l).
 * Return: 0; -EINVAL if @l or @n is NULL, or the handler has no on_poll
 * (and a hook is given); -EBADF if @n is not initialised; -ENOENT if @n
 * has no handler in @l.
 */
LOOM_API int
loom_set_notifier_poll_hooks(struct loom_loop *l, struct loom_notifier *n,
                             void (*poll_begin)(struct loom_notifier *),
                             void (*poll_end)(struct loom_notifier *));

#ifdef __cplusplus
}
#endif

#endif /* LOOM_NOTIFIER_H */
