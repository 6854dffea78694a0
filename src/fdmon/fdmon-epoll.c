/* SPDX-License-Identifier: MIT */
/*
 * epoll fd monitor.  Entered only by the loop's home thread.
 *
 * Default-group handlers live in one epoll instance.  Top-level handlers get
 * a second instance, created on first use, which also watches the first
 * one: wait(toplevel = true) sleeps on the second and harvests the first
 * when it signals, while wait(toplevel = false) never sees top-level fds, so a
 * ready top-level fd cannot make a nested poll spin.  A handler watching no
 * events is not in the kernel set at all (epoll would still report
 * hang-ups for it).
 */
#include "fdmon/fdmon.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "base/atomic.h"
#include "base/timeout.h"
#include "loop/loop-int.h"

#define MAX_EVENTS 128

struct fdmon_epoll {
    struct loom__fdmon base;
    int epfd;        /* default group */
    int toplevel_epfd; /* top-level group + epfd; -1 until needed */
    struct epoll_event evs[MAX_EVENTS];
};

/* Cleared the first time epoll_pwait2() reports ENOSYS; atomic. */
static bool g_have_pwait2 = true;

static struct fdmon_epoll *to_ep(struct loom__fdmon *m)
{
    return loom__container_of(m, struct fdmon_epoll, base);
}

static int ep_create(unsigned slot, struct loom__fdmon **ret)
{
    struct fdmon_epoll *e = calloc(1, sizeof(*e));

    if (!e) {
        return -ENOMEM;
    }
    e->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (e->epfd < 0) {
        int err = -errno;

        free(e);
        return err;
    }
    e->toplevel_epfd = -1;
    e->base.ops = &loom__fdmon_epoll_ops;
    e->base.slot = slot;
    *ret = &e->base;
    return 0;
}

static void ep_destroy(struct loom__fdmon *m)
{
    struct fdmon_epoll *e = to_ep(m);

    close(e->epfd);
    if (e->toplevel_epfd >= 0) {
        close(e->toplevel_epfd);
    }
    free(e);
}

static int toplevel_epfd(struct fdmon_epoll *e)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    int fd;

    if (e->toplevel_epfd >= 0) {
        return e->toplevel_epfd;
    }
    fd = epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    /* data.ptr NULL marks "the default set has events". */
    if (epoll_ctl(fd, EPOLL_CTL_ADD, e->epfd, &ev) < 0) {
        int err = -errno;

        close(fd);
        return err;
    }
    e->toplevel_epfd = fd;
    return fd;
}

static int ctl(struct fdmon_epoll *e, struct loom__fdh *h, unsigned old,
               unsigned events)
{
    struct epoll_event ev = {.data.ptr = h};
    int epfd = e->epfd;
    int op;

    if (h->cold->group != LOOM__GROUP_DEFAULT) {
        epfd = toplevel_epfd(e);
        if (epfd < 0) {
            return epfd;
        }
    }
    ev.events = events & (LOOM__EV_IN | LOOM__EV_OUT);
    op = !old ? EPOLL_CTL_ADD : !events ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
    if (epoll_ctl(epfd, op, h->cold->fd, &ev) < 0 && op != EPOLL_CTL_DEL) {
        return -errno;
    }
    h->cold->mon[e->base.slot].events = events;
    return 0;
}

static int ep_add(struct loom__fdmon *m, struct loom__fdh *h, unsigned events)
{
    h->cold->mon[m->slot].events = 0;
    h->cold->mon[m->slot].idx = 0;
    return events ? ctl(to_ep(m), h, 0, events) : 0;
}

static int ep_update(struct loom__fdmon *m, struct loom__fdh *h,
                     unsigned events)
{
    unsigned old = h->cold->mon[m->slot].events;

    return old == events ? 0 : ctl(to_ep(m), h, old, events);
}

static void ep_remove(struct loom__fdmon *m, struct loom__fdh *h)
{
    unsigned old = h->cold->mon[m->slot].events;

    if (old) {
        /* The fd may be closed already; epoll then forgot it itself. */
        (void)ctl(to_ep(m), h, old, 0);
    }
}

/* A wait with a finite timeout: nanoseconds where the kernel has them. */
static __attribute__((noinline)) int wait_timed(int epfd,
                                                struct epoll_event *evs,
                                                int max, int64_t timeout_ns)
{
    struct timespec ts;
    int ret, ms;

    if (loom__atomic_read(&g_have_pwait2)) {
        ts = loom__timespec_ns(timeout_ns);
        ret = epoll_pwait2(epfd, evs, max, &ts, NULL);
        if (ret >= 0 || errno != ENOSYS) {
            return ret;
        }
        loom__atomic_set(&g_have_pwait2, false);
    }
    /* Round up: never wake before a timer's deadline. */
    ms = timeout_ns > (int64_t)999999 * 1000000
             ? 999999 * 1000
             : (int)((timeout_ns + 999999) / 1000000);
    return epoll_wait(epfd, evs, max, ms);
}

static int do_wait(int epfd, struct epoll_event *evs, int max,
                   int64_t timeout_ns)
{
    if (timeout_ns <= 0) {
        /* Forever or not at all: exact in milliseconds, no timespec. */
        return epoll_wait(epfd, evs, max, timeout_ns < 0 ? -1 : 0);
    }
    return wait_timed(epfd, evs, max, timeout_ns);
}

/* epoll's IN, OUT and ERR bits are the loop's; HUP reports as ERR. */
_Static_assert(LOOM__EV_IN == EPOLLIN && LOOM__EV_OUT == EPOLLOUT &&
                   LOOM__EV_ERR == EPOLLERR && EPOLLHUP == EPOLLERR << 1,
               "LOOM__EV_* must match the epoll bits");

static unsigned from_epev(uint32_t re)
{
    return (re & LOOM__EV_MONITOR) | ((re & EPOLLHUP) >> 1);
}

/*
 * Append the handlers of @n events to @ready.  Return: how many; a
 * NULL data.ptr (the default set signalling inside the top-level one)
 * is not counted but sets *@nested_ready.
 */
static inline __attribute__((always_inline)) int
collect(const struct epoll_event *evs, int n, struct loom__list *ready,
        bool *nested_ready)
{
    int i, found = n;

    for (i = 0; i < n; i++) {
        struct loom__fdh *h = evs[i].data.ptr;

        if (LOOM_UNLIKELY(!h)) {
            *nested_ready = true;
            found--;
            continue;
        }
        loom__fdmon_add_ready(ready, h, from_epev(evs[i].events));
    }
    return found;
}

static LOOM__FD_HOT int ep_wait(struct loom__fdmon *m, int64_t timeout_ns,
                                bool toplevel, struct loom__list *ready)
{
    struct fdmon_epoll *e = to_ep(m);
    bool harvest = false;
    int epfd = (toplevel && e->toplevel_epfd >= 0) ? e->toplevel_epfd : e->epfd;
    int ret, found;

    ret = do_wait(epfd, e->evs, MAX_EVENTS, timeout_ns);
    if (LOOM_UNLIKELY(ret <= 0)) {
        return (ret < 0 && errno != EINTR) ? -errno : 0;
    }
    found = collect(e->evs, ret, ready, &harvest);
    if (LOOM_UNLIKELY(harvest)) {
        /* The default set signalled inside the top-level one. */
        harvest = false;
        ret = do_wait(e->epfd, e->evs, MAX_EVENTS, 0);
        if (ret > 0) {
            found += collect(e->evs, ret, ready, &harvest);
        }
    }
    return found;
}

static bool ep_need_wait(struct loom__fdmon *m)
{
    return false;
}

int loom__fdmon_epoll_fd(struct loom__fdmon *m)
{
    return to_ep(m)->epfd;
}

const struct loom__fdmon_ops loom__fdmon_epoll_ops = {
    .kind = LOOM_FDMON_EPOLL,
    .create = ep_create,
    .destroy = ep_destroy,
    .add = ep_add,
    .update = ep_update,
    .remove = ep_remove,
    .wait = ep_wait,
    .need_wait = ep_need_wait,
};
