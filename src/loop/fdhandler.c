/* SPDX-License-Identifier: MIT */
/*
 * fd handlers: registration, dispatch, and the loop's fd monitor (choice
 * and run-time switching).  home(loop) only.
 *
 * Lifetime: a removed handler leaves the fd table, the monitor and any
 * ready list at once (so it is never called again), but its memory is
 * given back only when the outermost loom_loop_poll() returns ("walkers":
 * the dispatch code of every poll level may still hold it).
 *
 * Re-entrancy: a handler whose callback is running sits on the loop's
 * running stack (innermost first).  A nested poll first masks those
 * handlers (stops watching their fds, so a still-readable fd cannot make
 * it spin) and never dispatches them; they are unmasked when their
 * callback returns.
 */
#include <loom/loop.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/atomic.h"
#include "base/check.h"
#include "loop/loop-priv.h"

static unsigned effective_events(const struct loom__fdh *h)
{
    return h->masked ? 0 : h->cold->events;
}

static void count_watched(struct loom_loop *l, const struct loom__fdh *h,
                          unsigned old, unsigned new)
{
    if (h->cold->internal || !old == !new) {
        return;
    }
    if (new) {
        l->watched[h->cold->group]++;
    } else {
        l->watched[h->cold->group]--;
    }
}

/* Make the monitor watch what @h wants now. */
static int mon_apply(struct loom_loop *l, struct loom__fdh *h)
{
    struct loom__fdmon *m = l->mon;
    unsigned old = h->cold->mon[m->slot].events;
    unsigned new = effective_events(h);
    int ret;

    if (old == new) {
        return 0;
    }
    ret = m->ops->update(m, h, new);
    if (ret == 0) {
        count_watched(l, h, old, new);
    }
    return ret;
}

int loom__loop_mon_init(struct loom_loop *l)
{
    struct loom__fdh *n = &l->notify_h;
    int ret;

    loom__list_init(&l->fdh_chunks);
    memset(n, 0, sizeof(*n));
    memset(&l->notify_cold, 0, sizeof(l->notify_cold));
    n->cold = &l->notify_cold;
    n->cold->hot = n;
    n->cold->fd = l->notify_fd;
    n->cold->internal = true;
    n->cold->events = LOOM__EV_IN;
    loom__list_init(&n->cold->link);
    loom__list_init(&n->ready_link);
    loom__list_init(&n->cold->poll_link);
    ret = loom__fdmon_poll_ops.create(0, &l->mon);
    if (ret < 0) {
        return ret;
    }
    ret = l->mon->ops->add(l->mon, n, n->cold->events);
    if (ret < 0) {
        l->mon->ops->destroy(l->mon);
        return ret;
    }
    loom__atomic_set(&l->fdmon_kind, (int)LOOM_FDMON_POLL);
    return 0;
}

void loom__loop_mon_destroy(struct loom_loop *l)
{
    l->mon->ops->destroy(l->mon);
    l->mon = NULL;
    if (l->fdh_spare) {
        /* No handler is left (loop_destroy() checks): the spare is all. */
        l->fdh_nchunks--;
        free(l->fdh_spare);
        l->fdh_spare = NULL;
    }
}

/* Move every registration to a new monitor; on failure nothing changes. */
static int switch_mon(struct loom_loop *l, const struct loom__fdmon_ops *ops)
{
    struct loom__fdmon *old = l->mon, *m;
    struct loom__list *pos;
    int ret;

    if (old->ops == ops) {
        return 0;
    }
    ret = ops->create(old->slot ^ 1, &m);
    if (ret < 0) {
        return ret;
    }
    ret = ops->add(m, &l->notify_h, effective_events(&l->notify_h));
    for (pos = l->handlers.next; pos != &l->handlers; pos = pos->next) {
        struct loom__fdh *h =
            loom__list_entry(pos, struct loom__fdh_cold, link)->hot;

        if (ret < 0) {
            break;
        }
        ret = ops->add(m, h, effective_events(h));
    }
    if (ret < 0) {
        /* The old monitor's slot in every handler is untouched. */
        ops->destroy(m);
        return ret;
    }
    l->mon = m;
    old->ops->destroy(old);
    loom__atomic_set(&l->fdmon_kind, (int)ops->kind);
    return 0;
}

/*
 * LOOM_FDMON_AUTO: poll(2) up to LOOP_AUTO_EPOLL_THRESHOLD handlers; above
 * it epoll; back to poll(2) at half of it (the gap avoids flapping around
 * the threshold).  poll(2) costs ~60 ns per watched fd per iteration here,
 * epoll a flat cost (one fd ready per iteration: poll(2) 0.87-1.18 us vs
 * epoll 0.67-0.96 at 4 fds, 4.5 vs 0.73 at 64; a nested non-blocking poll
 * 635 vs 195 ns at 4 and 8 fds), but a change of a handler's events costs
 * an epoll_ctl (293 vs 40 ns), so poll(2) keeps the smallest loops.  Not
 * io_uring: for pure fd monitoring it costs 1.25-1.35x epoll per busy
 * iteration here (one POLL_ADD re-arm per ready fd), so it is for loops
 * that ask for it (e.g. those that also carry block I/O).
 */
static const struct loom__fdmon_ops *auto_ops(struct loom_loop *l)
{
    if (l->nhandlers > LOOP_AUTO_EPOLL_THRESHOLD) {
        return &loom__fdmon_epoll_ops;
    }
    if (l->nhandlers <= LOOP_AUTO_EPOLL_THRESHOLD / 2) {
        return &loom__fdmon_poll_ops;
    }
    return l->mon->ops;
}

/* Switch to AUTO's choice. */
static int auto_apply(struct loom_loop *l)
{
    return switch_mon(l, auto_ops(l));
}

static void auto_switch(struct loom_loop *l)
{
    if (l->mode == LOOM_FDMON_AUTO) {
        /* Best effort: on failure stay where we are. */
        (void)auto_apply(l);
    }
}

int loom_loop_set_fdmon(struct loom_loop *l, enum loom_fdmon kind)
{
    const struct loom__fdmon_ops *ops;
    int ret;

    LOOM_CHECK(l, -EINVAL);
    LOOM_ASSERT_HOME(l, "loom_loop_set_fdmon");
    switch (kind) {
    case LOOM_FDMON_AUTO:
        ret = auto_apply(l);
        if (ret == 0) {
            l->mode = kind;
        }
        return ret;
    case LOOM_FDMON_POLL:
        ops = &loom__fdmon_poll_ops;
        break;
    case LOOM_FDMON_EPOLL:
        ops = &loom__fdmon_epoll_ops;
        break;
    case LOOM_FDMON_IO_URING:
        if (!loom__fdmon_uring_ops) {
            return -ENOTSUP;
        }
        ops = loom__fdmon_uring_ops;
        break;
    default:
        return -EINVAL;
    }
    ret = switch_mon(l, ops);
    if (ret == -EPERM || ret == -ENOSYS || ret == -EACCES || ret == -EINVAL) {
        /* io_uring forbidden (seccomp, sysctl) or too old a kernel. */
        ret = -ENOTSUP;
    }
    if (ret == 0) {
        l->mode = kind;
    }
    return ret;
}

static struct loom__fdh **fd_slot(struct loom_loop *l, int fd,
                                  enum loom__handler_group group)
{
    return (unsigned)fd < l->fds_size ? &l->fds[fd].h[group] : NULL;
}

static int grow_fd_table(struct loom_loop *l, int fd)
{
    unsigned size = l->fds_size ? l->fds_size : 64;
    struct loom__fd_slot *fds;

    while (size <= (unsigned)fd) {
        if (size > UINT_MAX / 2) {
            return -ENOMEM;
        }
        size *= 2;
    }
    fds = realloc(l->fds, size * sizeof(*fds));
    if (!fds) {
        return -ENOMEM;
    }
    memset(fds + l->fds_size, 0, (size - l->fds_size) * sizeof(*fds));
    l->fds = fds;
    l->fds_size = size;
    return 0;
}

static bool hooks_set(const struct loom__fdh_hooks *k)
{
    return k->poll_begin || k->poll_end || k->notifier_begin ||
           k->notifier_end;
}

static bool has_hooks(const struct loom__fdh *h)
{
    return hooks_set(&h->cold->hooks);
}

static void poll_mode_leave(struct loom_loop *l, struct loom__fdh *h)
{
    loom__list_del(&h->cold->poll_link);
    l->npolling[h->cold->group]--;
}

/*
 * Handler memory.  A chunk holds LOOP_FDH_PER_CHUNK handlers: their hot
 * parts side by side from its (aligned) start, then their cold parts.
 * The line a wait finds is cold when a loop has many handlers, and where
 * each handler was one 256-byte allocation, 10,000 of them spread those
 * lines 384 bytes apart over 3.7 MB; carved from chunks they fill 640 KB
 * of whole pages (bench-fds: one ready fd among 10,000).
 *
 * Chunks with a free handler sit on the loop's fdh_chunks list, free
 * handlers on their chunk's list.  An empty chunk is freed, but for one
 * kept as the spare (at the list's tail, so partly used chunks fill
 * first): a loop that adds and removes a handler at a chunk's boundary
 * does not allocate every time.  Under ASan a chunk holds one handler
 * and none is kept, so that a use after free stays visible.
 */
#define FDH_KEEP_SPARE (LOOP_FDH_PER_CHUNK > 1)
#define FDH_CHUNK_ALIGN (LOOP_FDH_PER_CHUNK * sizeof(struct loom__fdh))

struct loom__fdh_chunk {
    struct loom__fdh hot[LOOP_FDH_PER_CHUNK];
    struct loom__fdh_cold cold[LOOP_FDH_PER_CHUNK];
    struct loom__list link; /* on the loop's list: a handler is free */
    struct loom__fdh *free; /* free hot parts, linked by ->run_next */
    unsigned used;
};
_Static_assert(offsetof(struct loom__fdh_chunk, hot) == 0 &&
                   sizeof(((struct loom__fdh_chunk *)0)->hot) ==
                       FDH_CHUNK_ALIGN,
               "the hot parts fill the chunk's first aligned block");

/* The chunk of a carved handler: its hot part lies in the first block. */
static struct loom__fdh_chunk *chunk_of(const struct loom__fdh *h)
{
    return (struct loom__fdh_chunk *)((uintptr_t)h &
                                      ~(uintptr_t)(FDH_CHUNK_ALIGN - 1));
}

static struct loom__fdh_chunk *chunk_new(struct loom_loop *l)
{
    size_t size = (sizeof(struct loom__fdh_chunk) + FDH_CHUNK_ALIGN - 1) /
                  FDH_CHUNK_ALIGN * FDH_CHUNK_ALIGN;
    struct loom__fdh_chunk *c = aligned_alloc(FDH_CHUNK_ALIGN, size);
    unsigned i;

    if (!c) {
        return NULL;
    }
    c->free = NULL;
    /* Handed out in address order. */
    for (i = LOOP_FDH_PER_CHUNK; i-- > 0;) {
        c->hot[i].run_next = c->free;
        c->free = &c->hot[i];
    }
    c->used = 0;
    loom__list_add_head(&l->fdh_chunks, &c->link);
    l->fdh_nchunks++;
    return c;
}

/* A zeroed handler, both parts, or NULL if out of memory. */
static struct loom__fdh *fdh_alloc(struct loom_loop *l)
{
    struct loom__fdh_chunk *c;
    struct loom__fdh_cold *cold;
    struct loom__fdh *h;

    if (!loom__list_empty(&l->fdh_chunks)) {
        c = loom__list_entry(l->fdh_chunks.next, struct loom__fdh_chunk,
                             link);
    } else if (!(c = chunk_new(l))) {
        return NULL;
    }
    if (c == l->fdh_spare) {
        l->fdh_spare = NULL;
    }
    h = c->free;
    c->free = h->run_next;
    if (!c->free) {
        loom__list_del(&c->link);
    }
    c->used++;
    cold = &c->cold[h - c->hot];
    memset(h, 0, sizeof(*h));
    memset(cold, 0, sizeof(*cold));
    h->cold = cold;
    cold->hot = h;
    return h;
}

static void fdh_free(struct loom_loop *l, struct loom__fdh *h)
{
    struct loom__fdh_chunk *c = chunk_of(h);

    if (!c->free) {
        /* It was full: it has a free handler again. */
        loom__list_add_head(&l->fdh_chunks, &c->link);
    }
    h->run_next = c->free;
    c->free = h;
    if (--c->used) {
        return;
    }
    loom__list_del(&c->link);
    if (FDH_KEEP_SPARE && !l->fdh_spare) {
        l->fdh_spare = c;
        loom__list_add_tail(&l->fdh_chunks, &c->link);
        return;
    }
    l->fdh_nchunks--;
    free(c);
}

static void handler_remove(struct loom_loop *l, struct loom__fdh *h)
{
    unsigned old = h->cold->mon[l->mon->slot].events;

    if (loom__list_linked(&h->ready_link)) {
        /* Found ready in this iteration: it must not be called now. */
        loom__list_del(&h->ready_link);
    }
    l->mon->ops->remove(l->mon, h);
    count_watched(l, h, old, 0);
    l->fds[h->cold->fd].h[h->cold->group] = NULL;
    loom__list_del(&h->cold->link);
    l->nhandlers--;
    if (!h->cold->on_poll) {
        l->nopoll[h->cold->group]--;
    }
    if (h->notifier) {
        l->nnotifiers--;
    }
    if (has_hooks(h)) {
        l->nhooked--;
    }
    if (loom__list_linked(&h->cold->poll_link)) {
        /* Never called again: no poll_end (see loom_set_fd_poll_hooks()). */
        poll_mode_leave(l, h);
    }
    h->deleted = true;
    if (l->depth) {
        loom__list_add_tail(&l->deleted, &h->cold->link);
    } else {
        fdh_free(l, h);
    }
    auto_switch(l);
}

static void copy_callbacks(struct loom_loop *l, struct loom__fdh *h,
                           const struct loom__fdh_spec *spec)
{
    if (h->notifier && !spec->notifier) {
        l->nnotifiers--;
    } else if (!h->notifier && spec->notifier) {
        l->nnotifiers++;
    }
    h->cold->on_write = spec->on_write;
    h->cold->on_poll = spec->on_poll;
    h->cold->on_poll_ready = spec->on_poll_ready;
    h->opaque = spec->opaque;
    h->notifier = spec->notifier;
    if (spec->notifier) {
        h->on_event = spec->on_event;
    } else {
        h->on_read = spec->on_read;
    }
    h->cold->on_notifier_ready = spec->on_notifier_ready;
}

static int handler_add(struct loom_loop *l, int fd,
                       enum loom__handler_group group,
                       const struct loom__fdh_spec *spec, unsigned events)
{
    struct loom__fdh *h;
    int ret;

    if (fcntl(fd, F_GETFD) < 0) {
        return -EBADF;
    }
    if ((unsigned)fd >= l->fds_size && (ret = grow_fd_table(l, fd)) < 0) {
        return ret;
    }
    h = fdh_alloc(l);
    if (!h) {
        return -ENOMEM;
    }
    h->cold->fd = fd;
    h->cold->group = (uint8_t)group;
    h->cold->events = events;
    loom__list_init(&h->ready_link);
    loom__list_init(&h->cold->poll_link);
    ret = l->mon->ops->add(l->mon, h, events);
    if (ret < 0) {
        fdh_free(l, h);
        return ret;
    }
    count_watched(l, h, 0, events);
    copy_callbacks(l, h, spec);
    if (!h->cold->on_poll) {
        l->nopoll[group]++;
    }
    loom__list_add_tail(&l->handlers, &h->cold->link);
    l->fds[fd].h[group] = h;
    l->nhandlers++;
    auto_switch(l);
    return 0;
}

int loom__set_handler(struct loom_loop *l, int fd,
                      enum loom__handler_group group,
                      const struct loom__fdh_spec *spec)
{
    struct loom__fdh **slot, *h;
    unsigned events, old;
    int ret;

    LOOM_CHECK(l, -EINVAL);
    LOOM_CHECK(group == LOOM__GROUP_DEFAULT || group == LOOM__GROUP_TOPLEVEL,
               -EINVAL);
    LOOM_CHECK(!spec->on_poll_ready || spec->on_poll, -EINVAL);
    LOOM_CHECK(!spec->on_notifier_ready || spec->on_poll, -EINVAL);
    if (fd < 0) {
        return -EBADF;
    }
    LOOM_ASSERT_HOME(l, "loom_set_fd_handler");
    /* Tells a busy-poll walk (loom__fdh_poll()) to stop. */
    l->handlers_gen++;
    slot = fd_slot(l, fd, group);
    h = slot ? *slot : NULL;
    events = ((spec->on_read || spec->on_event) ? LOOM__EV_IN : 0) |
             (spec->on_write ? LOOM__EV_OUT : 0);
    if (!events && !spec->on_poll) {
        if (!h) {
            return -ENOENT;
        }
        handler_remove(l, h);
        return 0;
    }
    if (!h) {
        return handler_add(l, fd, group, spec, events);
    }
    old = h->cold->events;
    h->cold->events = events;
    ret = mon_apply(l, h);
    if (ret < 0) {
        h->cold->events = old;
        return ret;
    }
    if (!h->cold->on_poll != !spec->on_poll) {
        if (spec->on_poll) {
            l->nopoll[group]--;
        } else {
            l->nopoll[group]++;
        }
    }
    copy_callbacks(l, h, spec);
    return 0;
}

int loom__set_fd_handler_group(struct loom_loop *l, int fd,
                               enum loom__handler_group group,
                               loom_fd_cb *on_read, loom_fd_cb *on_write,
                               loom_poll_cb *on_poll, loom_fd_cb *on_poll_ready,
                               void *opaque)
{
    struct loom__fdh_spec spec = {
        .on_read = on_read,
        .on_write = on_write,
        .on_poll = on_poll,
        .on_poll_ready = on_poll_ready,
        .opaque = opaque,
    };

    return loom__set_handler(l, fd, group, &spec);
}

int loom_set_fd_handler(struct loom_loop *l, int fd, loom_fd_cb *on_read,
                        loom_fd_cb *on_write, loom_poll_cb *on_poll,
                        loom_fd_cb *on_poll_ready, void *opaque)
{
    return loom__set_fd_handler_group(l, fd, LOOM__GROUP_DEFAULT, on_read,
                                      on_write, on_poll, on_poll_ready, opaque);
}

int loom__set_poll_hooks(struct loom_loop *l, int fd,
                         const struct loom__fdh_spec *spec)
{
    struct loom__fdh **slot, *h;
    bool hooked = hooks_set(&spec->hooks);

    LOOM_CHECK(l, -EINVAL);
    if (fd < 0) {
        return -EBADF;
    }
    LOOM_ASSERT_HOME(l, "loom_set_fd_poll_hooks");
    slot = fd_slot(l, fd, LOOM__GROUP_DEFAULT);
    h = slot ? *slot : NULL;
    if (!h) {
        return -ENOENT;
    }
    /* fd hooks for fd handlers, notifier hooks for that notifier's. */
    LOOM_CHECK(h->notifier == spec->notifier, -EINVAL);
    LOOM_CHECK(!hooked || h->cold->on_poll, -EINVAL);
    if (has_hooks(h) != hooked) {
        if (hooked) {
            l->nhooked++;
        } else {
            l->nhooked--;
        }
    }
    h->cold->hooks = spec->hooks;
    if (!hooked && loom__list_linked(&h->cold->poll_link)) {
        /* Nothing left to call at the end of poll mode. */
        poll_mode_leave(l, h);
    }
    /* Tells a walk of the polling list to start again. */
    l->handlers_gen++;
    return 0;
}

int loom_set_fd_poll_hooks(struct loom_loop *l, int fd, loom_fd_cb *poll_begin,
                           loom_fd_cb *poll_end)
{
    struct loom__fdh_spec spec = {
        .hooks = {.poll_begin = poll_begin, .poll_end = poll_end},
    };

    return loom__set_poll_hooks(l, fd, &spec);
}

/*
 * Stop watching the fds of handlers running further up the stack, for
 * the duration of their callback.  Called on entry to a nested poll.
 * Return: how many were newly masked.
 */
unsigned loom__fdh_mask_running(struct loom_loop *l)
{
    struct loom__fdh *h;
    unsigned n = 0;

    for (h = l->running; h; h = h->run_next) {
        if (!h->masked && !h->deleted) {
            h->masked = true;
            /* Best effort: on failure the handler is merely skipped. */
            (void)mon_apply(l, h);
            n++;
        }
    }
    return n;
}

static unsigned call_read(struct loom__fdh *h)
{
    if (h->notifier) {
        if (h->on_event) {
            h->on_event(h->notifier);
            return 1;
        }
    } else if (h->on_read) {
        h->on_read(h->opaque);
        return 1;
    }
    return 0;
}

/* The handler's on_poll found work: tell it.  Cold: busy-polling only. */
static __attribute__((noinline, cold)) unsigned
call_poll_ready(struct loom__fdh *h)
{
    if (h->notifier) {
        if (h->cold->on_notifier_ready) {
            h->cold->on_notifier_ready(h->notifier);
            return 1;
        }
    } else if (h->cold->on_poll_ready) {
        h->cold->on_poll_ready(h->opaque);
        return 1;
    }
    return 0;
}

/* @h is not on top of the running stack: walk down to it. */
static __attribute__((noinline, cold)) void
running_pop_deep(struct loom_loop *l, struct loom__fdh *h)
{
    struct loom__fdh **pp = &l->running;

    while (*pp != h) {
        pp = &(*pp)->run_next;
    }
    *pp = h->run_next;
}

/*
 * Take @h off the running stack.  Callbacks return in reverse order of
 * their calls, so @h is on top; the walk is for a callback that did not
 * (it switched coroutines with a nested poll's callback on the stack).
 */
static void running_pop(struct loom_loop *l, struct loom__fdh *h)
{
    if (LOOM_LIKELY(l->running == h)) {
        l->running = h->run_next;
    } else {
        running_pop_deep(l, h);
    }
}

/* A nested poll masked @h while its callback ran: watch it again. */
static __attribute__((noinline, cold)) void unmask(struct loom_loop *l,
                                                   struct loom__fdh *h)
{
    h->masked = false;
    if (!h->deleted) {
        (void)mon_apply(l, h);
    }
}

static unsigned dispatch_one(struct loom_loop *l, struct loom__fdh *h)
{
    unsigned re = h->revents, n = 0;

    if (h->running) {
        /* Never re-enter a handler running further up the stack. */
        return 0;
    }
    h->running = true;
    h->run_next = l->running;
    l->running = h;
    if (re & LOOP_EV_POLLED) {
        n += call_poll_ready(h);
    }
    /* Each callback may have removed or changed the handler. */
    if (!h->deleted && (re & (LOOM__EV_IN | LOOM__EV_ERR))) {
        n += call_read(h);
    }
    /* The read callback may have removed or changed the handler. */
    if (!h->deleted && (re & (LOOM__EV_OUT | LOOM__EV_ERR)) &&
        h->cold->on_write) {
        h->cold->on_write(h->opaque);
        n++;
    }
    h->running = false;
    running_pop(l, h);
    if (h->masked) {
        unmask(l, h);
    }
    return n;
}

/* The handler phase: dispatch this level's ready list. */
LOOM__FD_HOT bool loom__fdh_dispatch(struct loom_loop *l,
                                     struct loom__list *ready)
{
    unsigned n = 0;

    /*
     * Pop from the head each time: callbacks (and nested polls) may take
     * any entry off this list, including the next one.
     */
    while (!loom__list_empty(ready)) {
        struct loom__fdh *h =
            loom__list_entry(ready->next, struct loom__fdh, ready_link);

        loom__list_del(&h->ready_link);
        n += dispatch_one(l, h);
    }
    if (n) {
        LOOP_STAT_ADD(l, fd_events, n);
    }
    return n > 0;
}

/*
 * One busy-poll round (adaptive polling, called from busy_poll() in
 * poll.c).  Handlers whose callback is running further up the stack are
 * skipped, like in dispatch.  An on_poll callback should only look (at a
 * ring, a flag); if it adds, changes or removes a handler anyway, the
 * list may have changed under the walk, so the round ends there and
 * counts as work found (the dispatch phases then run).
 */
bool loom__fdh_poll(struct loom_loop *l, bool toplevel,
                    struct loom__list *ready)
{
    unsigned gen = l->handlers_gen;
    bool found = false;
    struct loom__list *pos;

    for (pos = l->handlers.next; pos != &l->handlers; pos = pos->next) {
        struct loom__fdh *h =
            loom__list_entry(pos, struct loom__fdh_cold, link)->hot;
        bool work;

        if (!h->cold->on_poll || h->running ||
            (h->cold->group == LOOM__GROUP_TOPLEVEL && !toplevel)) {
            continue;
        }
        work = h->cold->on_poll(h->opaque);
        if (l->handlers_gen != gen) {
            return true;
        }
        if (work) {
            /* Keep fd events an outer level found for it. */
            unsigned re = loom__list_linked(&h->ready_link) ? h->revents : 0;

            loom__fdmon_add_ready(ready, h, re | LOOP_EV_POLLED);
            found = true;
        }
    }
    return found;
}

/*
 * Poll mode (QEMU's io_poll_begin / io_poll_end), driven by poll.c: a
 * handler with hooks enters it when a busy-poll window starts (its
 * poll_begin runs, typically turning its event source's notifications
 * off) and leaves it when the loop is about to wait without polling (its
 * poll_end turns them back on).  Handlers in poll mode sit on the loop's
 * polling list.  Like busy-polling, a level never touches a handler whose
 * callback is running further up the stack, nor (outside the main loop's
 * own iteration) a top-level one.
 */

static bool level_may_poll(const struct loom__fdh *h, bool toplevel)
{
    return !h->running && (h->cold->group != LOOM__GROUP_TOPLEVEL || toplevel);
}

static void call_poll_hook(struct loom__fdh *h, bool begin)
{
    const struct loom__fdh_hooks *k = &h->cold->hooks;

    if (h->notifier) {
        void (*fn)(struct loom_notifier *) =
            begin ? k->notifier_begin : k->notifier_end;

        if (fn) {
            fn(h->notifier);
        }
    } else {
        loom_fd_cb *fn = begin ? k->poll_begin : k->poll_end;

        if (fn) {
            fn(h->opaque);
        }
    }
}

/* Call on_poll; queue the handler on @ready if it found work. */
static bool poll_once(struct loom__fdh *h, struct loom__list *ready)
{
    unsigned re;

    if (h->deleted || !h->cold->on_poll || !h->cold->on_poll(h->opaque) ||
        h->deleted) {
        return false;
    }
    /* Keep fd events an outer level found for it. */
    re = loom__list_linked(&h->ready_link) ? h->revents : 0;
    loom__fdmon_add_ready(ready, h, re | LOOP_EV_POLLED);
    return true;
}

void loom__fdh_poll_begin(struct loom_loop *l, bool toplevel)
{
    unsigned gen = l->handlers_gen;
    struct loom__list *pos;

    for (pos = l->handlers.next; pos != &l->handlers; pos = pos->next) {
        struct loom__fdh *h =
            loom__list_entry(pos, struct loom__fdh_cold, link)->hot;

        if (!has_hooks(h) || !h->cold->on_poll ||
            !level_may_poll(h, toplevel) ||
            loom__list_linked(&h->cold->poll_link)) {
            continue;
        }
        loom__list_add_tail(&l->polling, &h->cold->poll_link);
        l->npolling[h->cold->group]++;
        call_poll_hook(h, true);
        if (l->handlers_gen != gen) {
            /* The list changed under the walk: the others stay out. */
            return;
        }
    }
}

/* The first handler on the polling list this level may end, or NULL. */
static struct loom__fdh *first_to_end(struct loom_loop *l, bool toplevel)
{
    struct loom__list *pos;

    for (pos = l->polling.next; pos != &l->polling; pos = pos->next) {
        struct loom__fdh *h =
            loom__list_entry(pos, struct loom__fdh_cold, poll_link)->hot;

        if (level_may_poll(h, toplevel)) {
            return h;
        }
    }
    return NULL;
}

bool loom__fdh_poll_end(struct loom_loop *l, bool toplevel,
                        struct loom__list *ready)
{
    struct loom__fdh *h;
    bool found = false;

    /*
     * Start from the head each time: the hooks may add or remove
     * handlers.  Every round takes one handler off the list.
     */
    while ((h = first_to_end(l, toplevel))) {
        poll_mode_leave(l, h);
        call_poll_hook(h, false);
        /*
         * Poll one last time: work that arrived before poll_end turned
         * notifications back on sent none.
         */
        found |= poll_once(h, ready);
    }
    return found;
}

bool loom__fdh_poll_round(struct loom_loop *l, bool toplevel,
                          struct loom__list *ready)
{
    unsigned gen = l->handlers_gen;
    struct loom__list *pos;
    bool found = false;

    for (pos = l->polling.next; pos != &l->polling; pos = pos->next) {
        struct loom__fdh *h =
            loom__list_entry(pos, struct loom__fdh_cold, poll_link)->hot;

        if (!level_may_poll(h, toplevel)) {
            continue;
        }
        found |= poll_once(h, ready);
        if (l->handlers_gen != gen) {
            /* As in loom__fdh_poll(): the walk ends; dispatch runs. */
            return true;
        }
    }
    return found;
}

/* Free removed handlers; only when no poll level can hold them. */
void loom__fdh_reap(struct loom_loop *l)
{
    while (!loom__list_empty(&l->deleted)) {
        struct loom__fdh *h =
            loom__list_entry(l->deleted.next, struct loom__fdh_cold, link)
                ->hot;

        loom__list_del(&h->cold->link);
        fdh_free(l, h);
    }
}
