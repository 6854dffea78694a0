/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: EventNotifier (<qemu/event_notifier.h>), an eventfd that one
 * side sets and the other tests and clears; watched by an AioContext with
 * aio_set_event_notifier(), or by the main loop with
 * event_notifier_set_handler().
 */
#ifndef LOOM_QEMU_EVENT_NOTIFIER_H
#define LOOM_QEMU_EVENT_NOTIFIER_H

#include <stdbool.h>

#include "qemu/typedefs.h"

typedef void EventNotifierHandler(EventNotifier *);

struct EventNotifier {
    int rfd;
    int wfd;
    bool initialized;
    /* private: the handlers aio_set_event_notifier() dispatches to. */
    EventNotifierHandler *io_read;
    EventNotifierHandler *io_poll_ready;
};

/**
 * event_notifier_init() - create the eventfd (non-blocking, close-on-exec).
 * @e: the notifier.
 * @active: non-zero to start in the set state.
 * Context: any.
 * Return: 0, or the negative errno of eventfd().
 */
int event_notifier_init(EventNotifier *e, int active);

/** event_notifier_init_fd() - use an existing eventfd @fd (not owned). */
void event_notifier_init_fd(EventNotifier *e, int fd);

/** event_notifier_cleanup() - close the eventfd; no-op if not initialised. */
void event_notifier_cleanup(EventNotifier *e);

/** event_notifier_set() - set it.  Return: 0 or a negative errno. */
int event_notifier_set(EventNotifier *e);

/** event_notifier_test_and_clear() - clear it; non-zero if it was set. */
int event_notifier_test_and_clear(EventNotifier *e);

int event_notifier_get_fd(const EventNotifier *e);
int event_notifier_get_wfd(const EventNotifier *e);

/**
 * event_notifier_set_handler() - watch @e in the main loop's handler
 * group that nested aio_poll() calls never dispatch (QEMU's iohandler).
 * @e: the notifier.
 * @handler: called when @e is set, or NULL to stop watching.
 *
 * Context: the main loop's thread, after qemu_init_main_loop().
 */
void event_notifier_set_handler(EventNotifier *e, EventNotifierHandler *handler);

#endif /* LOOM_QEMU_EVENT_NOTIFIER_H */
