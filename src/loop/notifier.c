/* SPDX-License-Identifier: MIT */
/*
 * Event notifiers (eventfd) and their loop handlers, which are ordinary
 * fd handlers whose callbacks receive the notifier.  The notifier calls
 * run in any thread; loom_set_notifier_handler() in the loop's home.
 */
#include <loom/notifier.h>

#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/check.h"
#include "loop/loop-priv.h"

int loom_notifier_init(struct loom_notifier *n, bool active)
{
    int fd;

    LOOM_CHECK(n, -EINVAL);
    n->fd = -1;
    fd = eventfd(active ? 1 : 0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    n->fd = fd;
    return 0;
}

void loom_notifier_cleanup(struct loom_notifier *n)
{
    if (n && n->fd >= 0) {
        close(n->fd);
        n->fd = -1;
    }
}

int loom_notifier_set(struct loom_notifier *n)
{
    uint64_t one = 1;

    LOOM_CHECK(n, -EINVAL);
    if (n->fd < 0) {
        return -EBADF;
    }
    if (write(n->fd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
        /* EAGAIN: the counter is saturated, i.e. it is set. */
        return -errno;
    }
    return 0;
}

bool loom_notifier_test_and_clear(struct loom_notifier *n)
{
    uint64_t val;

    if (!n || n->fd < 0) {
        return false;
    }
    return read(n->fd, &val, sizeof(val)) == (ssize_t)sizeof(val);
}

int loom_notifier_fd(const struct loom_notifier *n)
{
    return (n && n->fd >= 0) ? n->fd : -EBADF;
}

int loom_set_notifier_handler(struct loom_loop *l, struct loom_notifier *n,
                              void (*on_event)(struct loom_notifier *),
                              bool (*on_poll)(void *opaque),
                              void (*on_poll_ready)(struct loom_notifier *))
{
    struct loom__fdh_spec spec = {
        .notifier = n,
        .on_event = on_event,
        .on_poll = on_event ? on_poll : NULL,
        .on_notifier_ready = on_event ? on_poll_ready : NULL,
        .opaque = n,
    };

    LOOM_CHECK(l && n, -EINVAL);
    LOOM_CHECK(!on_poll_ready || on_poll, -EINVAL);
    if (n->fd < 0) {
        return -EBADF;
    }
    return loom__set_handler(l, n->fd, LOOM__GROUP_DEFAULT, &spec);
}

int loom_set_notifier_poll_hooks(struct loom_loop *l, struct loom_notifier *n,
                                 void (*poll_begin)(struct loom_notifier *),
                                 void (*poll_end)(struct loom_notifier *))
{
    struct loom__fdh_spec spec = {
        .notifier = n,
        .hooks = {.notifier_begin = poll_begin, .notifier_end = poll_end},
    };

    LOOM_CHECK(l && n, -EINVAL);
    if (n->fd < 0) {
        return -EBADF;
    }
    return loom__set_poll_hooks(l, n->fd, &spec);
}
