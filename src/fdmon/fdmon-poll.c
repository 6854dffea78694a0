/* SPDX-License-Identifier: MIT */
/*
 * poll(2) fd monitor.  Entered only by the loop's home thread.
 *
 * The pollfd array is kept ready for ppoll() at all times, so a wait is
 * one syscall with no rebuilding: default-group entries first, top-level ones
 * after them, so that a nested poll passes only the prefix.  Removal moves
 * the last entry of the group into the hole (O(1)).  A handler watching no
 * events keeps its slot with fd -1, which ppoll() ignores.
 */
#include "fdmon/fdmon.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <time.h>

#include "base/timeout.h"
#include "loop/loop-int.h"

struct fdmon_poll {
    struct loom__fdmon base;
    struct pollfd *pfds;
    struct loom__fdh **hs;
    unsigned n;    /* entries in use */
    unsigned ndef; /* of which default-group entries: [0, ndef) */
    unsigned cap;
};

static struct fdmon_poll *to_poll(struct loom__fdmon *m)
{
    return loom__container_of(m, struct fdmon_poll, base);
}

static int poll_create(unsigned slot, struct loom__fdmon **ret)
{
    struct fdmon_poll *p = calloc(1, sizeof(*p));

    if (!p) {
        return -ENOMEM;
    }
    p->base.ops = &loom__fdmon_poll_ops;
    p->base.slot = slot;
    *ret = &p->base;
    return 0;
}

static void poll_destroy(struct loom__fdmon *m)
{
    struct fdmon_poll *p = to_poll(m);

    free(p->pfds);
    free(p->hs);
    free(p);
}

static short to_pollev(unsigned events)
{
    return (short)(((events & LOOM__EV_IN) ? POLLIN : 0) |
                   ((events & LOOM__EV_OUT) ? POLLOUT : 0));
}

static void set_entry(struct fdmon_poll *p, unsigned i, struct loom__fdh *h,
                      unsigned events)
{
    p->hs[i] = h;
    p->pfds[i].fd = events ? h->cold->fd : -1;
    p->pfds[i].events = to_pollev(events);
    p->pfds[i].revents = 0;
    h->cold->mon[p->base.slot].idx = (int)i;
    h->cold->mon[p->base.slot].events = events;
}

static void move_entry(struct fdmon_poll *p, unsigned from, unsigned to)
{
    if (from == to) {
        return;
    }
    p->pfds[to] = p->pfds[from];
    p->hs[to] = p->hs[from];
    p->hs[to]->cold->mon[p->base.slot].idx = (int)to;
}

static int grow(struct fdmon_poll *p)
{
    unsigned cap = p->cap ? p->cap * 2 : 16;
    struct pollfd *pfds;
    struct loom__fdh **hs;

    pfds = realloc(p->pfds, cap * sizeof(*pfds));
    if (!pfds) {
        return -ENOMEM;
    }
    p->pfds = pfds;
    hs = realloc(p->hs, cap * sizeof(*hs));
    if (!hs) {
        return -ENOMEM;
    }
    p->hs = hs;
    p->cap = cap;
    return 0;
}

static int poll_add(struct loom__fdmon *m, struct loom__fdh *h, unsigned events)
{
    struct fdmon_poll *p = to_poll(m);
    unsigned i;

    if (p->n == p->cap) {
        int ret = grow(p);

        if (ret < 0) {
            return ret;
        }
    }
    if (h->cold->group == LOOM__GROUP_DEFAULT) {
        /* Make room at the end of the default prefix. */
        move_entry(p, p->ndef, p->n);
        i = p->ndef++;
    } else {
        i = p->n;
    }
    p->n++;
    set_entry(p, i, h, events);
    return 0;
}

static int poll_update(struct loom__fdmon *m, struct loom__fdh *h,
                       unsigned events)
{
    struct fdmon_poll *p = to_poll(m);

    set_entry(p, (unsigned)h->cold->mon[m->slot].idx, h, events);
    return 0;
}

static void poll_remove(struct loom__fdmon *m, struct loom__fdh *h)
{
    struct fdmon_poll *p = to_poll(m);
    unsigned i = (unsigned)h->cold->mon[m->slot].idx;

    if (h->cold->group == LOOM__GROUP_DEFAULT) {
        move_entry(p, p->ndef - 1, i);
        move_entry(p, p->n - 1, p->ndef - 1);
        p->ndef--;
    } else {
        move_entry(p, p->n - 1, i);
    }
    p->n--;
    h->cold->mon[m->slot].idx = -1;
    h->cold->mon[m->slot].events = 0;
}

static unsigned from_pollev(short re)
{
    return ((re & POLLIN) ? LOOM__EV_IN : 0) |
           ((re & POLLOUT) ? LOOM__EV_OUT : 0) |
           ((re & (POLLHUP | POLLERR | POLLNVAL)) ? LOOM__EV_ERR : 0);
}

static int poll_wait(struct loom__fdmon *m, int64_t timeout_ns, bool toplevel,
                     struct loom__list *ready)
{
    struct fdmon_poll *p = to_poll(m);
    unsigned count = toplevel ? p->n : p->ndef;
    struct timespec ts, *tsp = NULL;
    int ret, found = 0;
    unsigned i;

    if (timeout_ns >= 0) {
        ts = loom__timespec_ns(timeout_ns);
        tsp = &ts;
    }
    ret = ppoll(p->pfds, count, tsp, NULL);
    if (ret <= 0) {
        return (ret < 0 && errno != EINTR) ? -errno : 0;
    }
    for (i = 0; i < count && found < ret; i++) {
        short re = p->pfds[i].revents;

        if (re) {
            p->pfds[i].revents = 0;
            found++;
            loom__fdmon_add_ready(ready, p->hs[i], from_pollev(re));
        }
    }
    return found;
}

static bool poll_need_wait(struct loom__fdmon *m)
{
    return false;
}

const struct loom__fdmon_ops loom__fdmon_poll_ops = {
    .kind = LOOM_FDMON_POLL,
    .create = poll_create,
    .destroy = poll_destroy,
    .add = poll_add,
    .update = poll_update,
    .remove = poll_remove,
    .wait = poll_wait,
    .need_wait = poll_need_wait,
};
