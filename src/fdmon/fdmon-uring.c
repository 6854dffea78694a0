/* SPDX-License-Identifier: MIT */
/*
 * io_uring fd monitor (through liburing): one IORING_OP_POLL_ADD per
 * watched handler, changes batched into SQEs and submitted with the wait
 * (io_uring_submit_and_wait_timeout).  Entered only by the loop's home
 * thread; the availability hook and probe at the end, by any thread.
 * Without liburing (LOOM_HAVE_IO_URING unset) only "unavailable" remains.
 */
#include "fdmon/fdmon.h"

#include <errno.h>
#include <stdlib.h>

#include "base/atomic.h"
#include "base/timeout.h"
#include "fdmon/fdmon-config.h"
#include "loop/loop-int.h"

/* Atomic: set by the test hook. */
static bool g_forced_off;
/* Atomic: a ring setup was refused here (forbidden or too old a kernel). */
static bool g_refused;

void loom__fdmon_uring_force_unavailable(bool on)
{
    loom__atomic_set(&g_forced_off, on);
}

#ifdef LOOM_HAVE_IO_URING

#include <poll.h>
#include <time.h>

#include <liburing.h>

/*
 * Each watched handler has a "watch" here; the kernel holds "requests",
 * one POLL_ADD each, found again through the CQE's user_data (index into
 * a table + generation, so a late removal can never hit a reused entry).
 * add/update/remove only record what must change; wait() turns it into
 * SQEs ("flush") and submits them with the wait itself.
 *
 * Polls are one-shot and re-armed after each completion, at the next
 * wait: the loop's handlers are level-triggered (a handler that leaves
 * data unread is called again), and a re-armed poll re-checks readiness
 * while a multishot poll only reports new wake-ups.  The loop's own
 * eventfd is drained every time it is reported, so it uses a multishot
 * poll where the kernel has them.  A changed event mask cancels the
 * request and arms a new one; a removed or superseded request becomes a
 * tombstone (no watch) whose completions are dropped, and its table entry
 * is recycled only after its last CQE.
 *
 * Top-level-group handlers: a completion seen by a nested wait "parks"
 * the watch (nothing reported, no re-arm, so a ready top-level fd cannot make
 * nested polls spin or return); the next top-level wait re-arms it, and the
 * fresh poll reports it if it is still ready.
 */
#define SQ_ENTRIES 128
#define CQ_ENTRIES 1024

/* user_data of CQEs to ignore: removals (and liburing's own timeouts). */
#define UD_IGNORE (1ull << 63)
#define GEN_MASK 0x7fffffffu
#define NO_REQ UINT32_MAX

struct uwatch;

/* One POLL_ADD that the kernel may hold (a table entry). */
struct ureq {
    uint32_t gen;     /* bumped on each reuse; part of user_data */
    uint32_t next;    /* free list or cancel list link */
    bool used;        /* allocated: a POLL_ADD is in flight or queued */
    bool on_cancel;   /* waiting on the cancel list for its POLL_REMOVE */
    bool done;        /* its last CQE came while on the cancel list */
    bool multishot;   /* IORING_POLL_ADD_MULTI */
    unsigned events;  /* LOOM__EV_* asked for */
    struct uwatch *w; /* NULL: a tombstone (removed or superseded) */
};

/* Per handler: what it wants and which request serves it. */
struct uwatch {
    struct loom__fdh *h;
    unsigned want;         /* LOOM__EV_* to watch; 0: none */
    uint32_t req;          /* the live request, or NO_REQ */
    bool parked;           /* on the parked list (waits for a top-level wait) */
    bool broken;           /* the last poll failed: no re-arm until update */
    /*
     * The handler's fd, group and internal flag (fixed for its life),
     * kept here so that a completion and its re-arm do not touch the
     * handler's cold part.
     */
    bool internal;
    uint8_t group;
    int fd;
    struct loom__list link; /* dirty or parked list */
    struct loom__list all;  /* the monitor's watches */
};

struct fdmon_uring {
    struct loom__fdmon base;
    struct io_uring ring;
    bool multishot_ok; /* kernel has multishot polls */
    bool skip_ok;      /* kernel has IOSQE_CQE_SKIP_SUCCESS */
    struct ureq *reqs;
    uint32_t nreqs, free_head;
    uint32_t cancel_head, cancel_tail;
    struct loom__list dirty;   /* watches whose request must change */
    struct loom__list parked;  /* top-level watches done in a nested poll */
    struct loom__list watches; /* every watch, for destroy */
};

static const struct loom__fdmon_ops uring_ops_table;

static struct fdmon_uring *to_u(struct loom__fdmon *m)
{
    return loom__container_of(m, struct fdmon_uring, base);
}

static uint64_t req_ud(const struct fdmon_uring *u, uint32_t idx)
{
    return ((uint64_t)(u->reqs[idx].gen & GEN_MASK) << 32) | idx;
}

static int req_alloc(struct fdmon_uring *u, uint32_t *ret)
{
    struct ureq *r;
    uint32_t idx, i, n;

    if (u->free_head == NO_REQ) {
        n = u->nreqs ? u->nreqs * 2 : 64;
        if (n > (GEN_MASK >> 1)) {
            return -ENOMEM;
        }
        r = realloc(u->reqs, n * sizeof(*r));
        if (!r) {
            return -ENOMEM;
        }
        for (i = u->nreqs; i < n; i++) {
            r[i] = (struct ureq){.next = i + 1 < n ? i + 1 : NO_REQ};
        }
        u->reqs = r;
        u->free_head = u->nreqs;
        u->nreqs = n;
    }
    idx = u->free_head;
    r = &u->reqs[idx];
    u->free_head = r->next;
    r->gen = (r->gen + 1) & GEN_MASK;
    r->next = NO_REQ;
    r->used = true;
    r->on_cancel = false;
    r->done = false;
    r->w = NULL;
    *ret = idx;
    return 0;
}

static void req_free(struct fdmon_uring *u, uint32_t idx)
{
    struct ureq *r = &u->reqs[idx];

    r->used = false;
    r->w = NULL;
    r->next = u->free_head;
    u->free_head = idx;
}

/* Make @idx a tombstone and queue its POLL_REMOVE for the next flush. */
static void req_cancel(struct fdmon_uring *u, uint32_t idx)
{
    struct ureq *r = &u->reqs[idx];

    r->w = NULL;
    r->on_cancel = true;
    r->next = NO_REQ;
    if (u->cancel_tail == NO_REQ) {
        u->cancel_head = idx;
    } else {
        u->reqs[u->cancel_tail].next = idx;
    }
    u->cancel_tail = idx;
}

/* True if @w's request does not match what it wants. */
static bool watch_stale(const struct fdmon_uring *u, const struct uwatch *w)
{
    if (w->req != NO_REQ) {
        return u->reqs[w->req].events != w->want;
    }
    return w->want && !w->broken;
}

/* Put @w on the dirty list if (and only if) it needs a flush. */
static void watch_refresh(struct fdmon_uring *u, struct uwatch *w)
{
    bool stale = watch_stale(u, w);

    if (w->parked) {
        return;
    }
    if (stale && !loom__list_linked(&w->link)) {
        loom__list_add_tail(&u->dirty, &w->link);
    } else if (!stale && loom__list_linked(&w->link)) {
        loom__list_del(&w->link);
    }
}

static void watch_unpark(struct uwatch *w)
{
    if (w->parked) {
        loom__list_del(&w->link);
        w->parked = false;
    }
}

/* An SQE, submitting what is queued if the ring is full; NULL if none. */
static struct io_uring_sqe *get_sqe(struct fdmon_uring *u)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

    if (!sqe) {
        (void)io_uring_submit(&u->ring);
        sqe = io_uring_get_sqe(&u->ring);
    }
    return sqe;
}

static unsigned to_pollev(unsigned events)
{
    return ((events & LOOM__EV_IN) ? POLLIN : 0) |
           ((events & LOOM__EV_OUT) ? POLLOUT : 0);
}

static unsigned from_pollev(unsigned re)
{
    return ((re & POLLIN) ? LOOM__EV_IN : 0) |
           ((re & POLLOUT) ? LOOM__EV_OUT : 0) |
           ((re & (POLLHUP | POLLERR | POLLNVAL)) ? LOOM__EV_ERR : 0);
}

/* Queue the POLL_REMOVEs of the cancel list.  Return: false if SQ full. */
static bool flush_cancels(struct fdmon_uring *u)
{
    while (u->cancel_head != NO_REQ) {
        uint32_t idx = u->cancel_head;
        struct ureq *r = &u->reqs[idx];
        struct io_uring_sqe *sqe = NULL;

        if (!r->done) {
            sqe = get_sqe(u);
            if (!sqe) {
                return false;
            }
        }
        u->cancel_head = r->next;
        if (u->cancel_head == NO_REQ) {
            u->cancel_tail = NO_REQ;
        }
        r->on_cancel = false;
        if (r->done) {
            /* Completed before its removal was sent: nothing to cancel. */
            req_free(u, idx);
            continue;
        }
        io_uring_prep_poll_remove(sqe, req_ud(u, idx));
        io_uring_sqe_set_data64(sqe, UD_IGNORE);
        if (u->skip_ok) {
            sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
        }
    }
    return true;
}

/* Bring @w's request in line with what it wants.  Return: false if stuck. */
static bool flush_watch(struct fdmon_uring *u, struct uwatch *w)
{
    struct io_uring_sqe *sqe;
    struct ureq *r;
    uint32_t idx;

    if (w->req != NO_REQ && u->reqs[w->req].events != w->want) {
        req_cancel(u, w->req);
        w->req = NO_REQ;
        if (!flush_cancels(u)) {
            return false;
        }
    }
    if (w->req != NO_REQ || !w->want || w->broken) {
        return true;
    }
    if (req_alloc(u, &idx) < 0) {
        return false;
    }
    sqe = get_sqe(u);
    if (!sqe) {
        req_free(u, idx);
        return false;
    }
    r = &u->reqs[idx];
    r->w = w;
    r->events = w->want;
    /* Multishot is edge-triggered: only for the always-drained eventfd. */
    r->multishot = w->internal && u->multishot_ok;
    if (r->multishot) {
        io_uring_prep_poll_multishot(sqe, w->fd, to_pollev(w->want));
    } else {
        io_uring_prep_poll_add(sqe, w->fd, to_pollev(w->want));
    }
    io_uring_sqe_set_data64(sqe, req_ud(u, idx));
    w->req = idx;
    return true;
}

/* Turn recorded changes into SQEs (not submitted yet). */
static void flush(struct fdmon_uring *u)
{
    if (!flush_cancels(u)) {
        return;
    }
    while (!loom__list_empty(&u->dirty)) {
        struct uwatch *w = loom__list_entry(u->dirty.next, struct uwatch, link);

        if (!flush_watch(u, w)) {
            /* Out of SQEs or memory: the rest waits for the next wait. */
            return;
        }
        loom__list_del(&w->link);
    }
}

/* One completion.  Return: 1 if a handler was reported, else 0. */
static int handle_cqe(struct fdmon_uring *u, const struct io_uring_cqe *cqe,
                      bool toplevel, struct loom__list *ready)
{
    uint64_t ud = io_uring_cqe_get_data64(cqe);
    uint32_t idx = (uint32_t)ud;
    bool more = cqe->flags & IORING_CQE_F_MORE;
    struct uwatch *w;
    struct ureq *r;
    unsigned revents;

    if (ud & UD_IGNORE) {
        return 0;
    }
    if (idx >= u->nreqs || !u->reqs[idx].used ||
        (uint32_t)(ud >> 32) != (u->reqs[idx].gen & GEN_MASK)) {
        return 0;
    }
    r = &u->reqs[idx];
    w = r->w;
    if (!more) {
        /* The kernel is done with this request. */
        if (w) {
            w->req = NO_REQ;
        }
        if (r->on_cancel) {
            r->done = true;
        } else {
            req_free(u, idx);
        }
        if (w && r->multishot && cqe->res == -EINVAL) {
            /* No multishot polls after all: re-arm one-shot. */
            u->multishot_ok = false;
            watch_refresh(u, w);
            return 0;
        }
    }
    if (!w || !w->want) {
        /* A tombstone (removed or superseded), or no longer watched. */
        return 0;
    }
    if (cqe->res == -ECANCELED) {
        /* Cancelled by the kernel, not by us: arm again. */
        watch_refresh(u, w);
        return 0;
    }
    if (cqe->res < 0) {
        /* E.g. -EBADF: report an error once, re-arm only after update. */
        w->broken = true;
        revents = LOOM__EV_ERR;
    } else {
        revents = from_pollev((unsigned)cqe->res) & (w->want | LOOM__EV_ERR);
    }
    if (w->group != LOOM__GROUP_DEFAULT && !toplevel) {
        /* Not this wait's business: park until the next top-level wait. */
        if (!more) {
            if (loom__list_linked(&w->link)) {
                loom__list_del(&w->link);
            }
            loom__list_add_tail(&u->parked, &w->link);
            w->parked = true;
        }
        return 0;
    }
    if (!more) {
        watch_refresh(u, w);
    }
    if (!revents) {
        return 0;
    }
    loom__fdmon_add_ready(ready, w->h, revents);
    return 1;
}

/* Process every available completion.  Return: handlers reported. */
static int reap(struct fdmon_uring *u, bool toplevel, struct loom__list *ready)
{
    struct io_uring_cqe *cqe;
    unsigned head, n;
    int found = 0;

    for (;;) {
        n = 0;
        io_uring_for_each_cqe(&u->ring, head, cqe)
        {
            found += handle_cqe(u, cqe, toplevel, ready);
            n++;
        }
        io_uring_cq_advance(&u->ring, n);
        if (!n || !io_uring_cq_has_overflow(&u->ring)) {
            return found;
        }
        /* Completions the CQ ring had no room for: fetch them. */
        (void)io_uring_get_events(&u->ring);
    }
}

static int uring_wait(struct loom__fdmon *m, int64_t timeout_ns, bool toplevel,
                      struct loom__list *ready)
{
    struct fdmon_uring *u = to_u(m);
    int64_t deadline = timeout_ns > 0 ? loom__mono_ns() + timeout_ns : 0;
    struct __kernel_timespec ts;
    struct io_uring_cqe *cqe;
    int found = 0, ret;

    if (toplevel) {
        /* Top-level watches parked by nested polls: poll them afresh. */
        while (!loom__list_empty(&u->parked)) {
            struct uwatch *w =
                loom__list_entry(u->parked.next, struct uwatch, link);

            watch_unpark(w);
            w->broken = false;
            watch_refresh(u, w);
        }
    }
    for (;;) {
        flush(u);
        ret = 0;
        if (timeout_ns == 0) {
            if (io_uring_sq_ready(&u->ring)) {
                ret = io_uring_submit(&u->ring);
            }
        } else {
            struct timespec rel =
                loom__timespec_ns(timeout_ns < 0 ? 0 : timeout_ns);

            ts.tv_sec = rel.tv_sec;
            ts.tv_nsec = rel.tv_nsec;
            ret = io_uring_submit_and_wait_timeout(
                &u->ring, &cqe, 1, timeout_ns < 0 ? NULL : &ts, NULL);
        }
        found += reap(u, toplevel, ready);
        if (found || timeout_ns == 0 || ret == -ETIME || ret == -EINTR) {
            return found;
        }
        if (ret < 0 && ret != -EAGAIN && ret != -EBUSY) {
            return ret;
        }
        /*
         * Woken only by completions reported to nobody (removals,
         * tombstones, parked top-level fds): sleep for the rest.
         */
        if (timeout_ns > 0) {
            timeout_ns = deadline - loom__mono_ns();
            if (timeout_ns <= 0) {
                return 0;
            }
        }
    }
}

static bool uring_need_wait(struct loom__fdmon *m)
{
    struct fdmon_uring *u = to_u(m);

    return u->cancel_head != NO_REQ || !loom__list_empty(&u->dirty) ||
           io_uring_sq_ready(&u->ring) > 0;
}

static int uring_add(struct loom__fdmon *m, struct loom__fdh *h,
                     unsigned events)
{
    struct fdmon_uring *u = to_u(m);
    struct uwatch *w = calloc(1, sizeof(*w));

    if (!w) {
        return -ENOMEM;
    }
    w->h = h;
    w->fd = h->cold->fd;
    w->group = h->cold->group;
    w->internal = h->cold->internal;
    w->want = events;
    w->req = NO_REQ;
    loom__list_init(&w->link);
    loom__list_add_tail(&u->watches, &w->all);
    h->cold->mon[m->slot].priv = w;
    h->cold->mon[m->slot].idx = 0;
    h->cold->mon[m->slot].events = events;
    watch_refresh(u, w);
    return 0;
}

static int uring_update(struct loom__fdmon *m, struct loom__fdh *h,
                        unsigned events)
{
    struct fdmon_uring *u = to_u(m);
    struct uwatch *w = h->cold->mon[m->slot].priv;

    if (!events) {
        watch_unpark(w);
    }
    w->want = events;
    w->broken = false;
    h->cold->mon[m->slot].events = events;
    watch_refresh(u, w);
    return 0;
}

static void uring_remove(struct loom__fdmon *m, struct loom__fdh *h)
{
    struct fdmon_uring *u = to_u(m);
    struct uwatch *w = h->cold->mon[m->slot].priv;

    if (w->req != NO_REQ) {
        req_cancel(u, w->req);
    }
    if (loom__list_linked(&w->link)) {
        loom__list_del(&w->link);
    }
    loom__list_del(&w->all);
    free(w);
    h->cold->mon[m->slot].priv = NULL;
    h->cold->mon[m->slot].events = 0;
}

static bool refused(int err)
{
    return err == -EPERM || err == -ENOSYS || err == -EACCES ||
           err == -ENOTSUP || err == -EINVAL;
}

static int uring_create(unsigned slot, struct loom__fdmon **ret)
{
    struct io_uring_params p = {
        .flags = IORING_SETUP_CQSIZE,
        .cq_entries = CQ_ENTRIES,
    };
    struct fdmon_uring *u;
    int err;

    if (loom__atomic_read(&g_forced_off)) {
        return -ENOSYS;
    }
    u = calloc(1, sizeof(*u));
    if (!u) {
        return -ENOMEM;
    }
    err = io_uring_queue_init_params(SQ_ENTRIES, &u->ring, &p);
    if (err == -EINVAL) {
        /* Before Linux 5.5: no CQSIZE (and no NODROP, refused below). */
        p = (struct io_uring_params){0};
        err = io_uring_queue_init_params(SQ_ENTRIES, &u->ring, &p);
    }
    if (err == 0 && !(p.features & IORING_FEAT_NODROP)) {
        /* Completions could be lost on overflow: not good enough. */
        io_uring_queue_exit(&u->ring);
        err = -ENOTSUP;
    }
    if (err < 0) {
        free(u);
        if (refused(err)) {
            loom__atomic_set(&g_refused, true);
        }
        return err;
    }
    /* CQE_SKIP came in 5.17, after multishot polls (5.13). */
    u->skip_ok = p.features & IORING_FEAT_CQE_SKIP;
    u->multishot_ok = u->skip_ok;
    u->free_head = NO_REQ;
    u->cancel_head = NO_REQ;
    u->cancel_tail = NO_REQ;
    loom__list_init(&u->dirty);
    loom__list_init(&u->parked);
    loom__list_init(&u->watches);
    u->base.ops = &uring_ops_table;
    u->base.slot = slot;
    *ret = &u->base;
    return 0;
}

static void uring_destroy(struct loom__fdmon *m)
{
    struct fdmon_uring *u = to_u(m);

    /* Closing the ring cancels every request; none touches our memory. */
    io_uring_queue_exit(&u->ring);
    while (!loom__list_empty(&u->watches)) {
        struct uwatch *w =
            loom__list_entry(u->watches.next, struct uwatch, all);

        loom__list_del(&w->all);
        free(w);
    }
    free(u->reqs);
    free(u);
}

static const struct loom__fdmon_ops uring_ops_table = {
    .kind = LOOM_FDMON_IO_URING,
    .create = uring_create,
    .destroy = uring_destroy,
    .add = uring_add,
    .update = uring_update,
    .remove = uring_remove,
    .wait = uring_wait,
    .need_wait = uring_need_wait,
};

const struct loom__fdmon_ops *const loom__fdmon_uring_ops = &uring_ops_table;

bool loom__fdmon_uring_usable(void)
{
    return !loom__atomic_read(&g_forced_off) && !loom__atomic_read(&g_refused);
}

#else /* !LOOM_HAVE_IO_URING */

const struct loom__fdmon_ops *const loom__fdmon_uring_ops = NULL;

bool loom__fdmon_uring_usable(void)
{
    (void)g_refused;
    return false;
}

#endif /* LOOM_HAVE_IO_URING */
