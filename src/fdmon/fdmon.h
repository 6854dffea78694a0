/* SPDX-License-Identifier: MIT */
/*
 * fd monitor backends (QEMU's FDMonOps): the part of a loop that asks the
 * kernel which fds are ready.  One file per backend (fdmon-poll.c,
 * fdmon-epoll.c, fdmon-uring.c), all home(loop) only.
 *
 * The loop owns the handlers (struct loom__fdh) and tells the monitor what
 * to watch with add/update/remove; wait() blocks and appends the ready
 * handlers, with ->revents set, to the caller's ready list.  Handlers of
 * the top-level group are watched only by wait(..., toplevel = true).
 *
 * Each handler has two monitor slots so that a loop can register every
 * handler in a new backend while the old one still holds its own state
 * (switching rolls back cleanly on failure); a backend uses
 * h->cold->mon[m->slot] only.
 */
#ifndef LOOM_FDMON_H
#define LOOM_FDMON_H

#include <stdbool.h>
#include <stdint.h>

#include "base/compiler.h"
#include "base/list.h"
#include <loom/loop.h>
#include <loom/notifier.h>

/*
 * Event bits (wanted and reported).  The values of poll(2)'s and epoll's
 * POLLIN / POLLOUT / POLLERR, so that a backend converts with a mask
 * (fdmon-epoll.c checks this at build time).
 */
#define LOOM__EV_IN 0x1u
#define LOOM__EV_OUT 0x4u
#define LOOM__EV_ERR 0x8u /* reported only: hang-up or error */
/* The bits a backend reports; the loop may keep others in ->revents. */
#define LOOM__EV_MONITOR (LOOM__EV_IN | LOOM__EV_OUT | LOOM__EV_ERR)

/*
 * The functions every loop iteration with a ready fd runs (the poll, the
 * monitor's wait, the dispatch): placed together in .text.hot, so that
 * the iteration's code spans a few adjacent cache lines and one or two
 * pages instead of pages spread over three object files.  Each syscall
 * of an iteration evicts them, so every line and page costs a miss.
 * Line-aligned, so that how many lines each one touches does not depend
 * on where the code before it happens to end.
 */
#define LOOM__FD_HOT __attribute__((hot, aligned(64)))

/* A backend's per-handler state. */
struct loom__fdmon_slot {
    int idx;         /* backend-defined (poll: array index) */
    unsigned events; /* what the backend watches now */
    void *priv;      /* backend-defined (io_uring: its watch object) */
};

/*
 * A handler's poll mode hooks (loom_set_fd_poll_hooks(): the loom_fd_cb
 * ones; loom_set_notifier_poll_hooks(): the notifier ones).
 */
struct loom__fdh_hooks {
    loom_fd_cb *poll_begin, *poll_end;
    void (*notifier_begin)(struct loom_notifier *);
    void (*notifier_end)(struct loom_notifier *);
};

/*
 * An fd handler, home(loop) only, in two parts.  struct loom__fdh is what
 * a wait that finds the handler and the dispatch of its read (or notifier
 * event) callback touch: one cache line.  Everything else, touched when
 * the handler is added, changed or removed and by the busy-poll walks,
 * is in its struct loom__fdh_cold.  The loop carves both from chunks
 * (fdhandler.c); backends see the pair through ->cold.
 */
struct loom__fdh_cold {
    /* First what a busy-poll walk of the handler list reads. */
    struct loom__list link; /* loop's handler list or deleted list */
    struct loom__fdh *hot;  /* the other part */
    loom_poll_cb *on_poll;
    uint8_t group;   /* enum loom__handler_group */
    bool internal;   /* the loop's own eventfd */
    int fd;
    unsigned events; /* wanted: LOOM__EV_IN / LOOM__EV_OUT */

    loom_fd_cb *on_write, *on_poll_ready;
    void (*on_notifier_ready)(struct loom_notifier *);
    /* Kept when the handler's callbacks change in place. */
    struct loom__fdh_hooks hooks;

    struct loom__list poll_link; /* loop's polling list: in poll mode */
    struct loom__fdmon_slot mon[2];
};

struct loom__fdh {
    struct loom__list ready_link; /* some poll level's ready list */
    /* Next on the loop's running stack (valid while ->running). */
    struct loom__fdh *run_next;
    /* Notifier handlers (->notifier set) use on_event, fd handlers on_read. */
    union {
        loom_fd_cb *on_read;
        void (*on_event)(struct loom_notifier *);
    };
    void *opaque;
    struct loom_notifier *notifier;
    struct loom__fdh_cold *cold;
    unsigned revents; /* reported by the last wait that found it */
    bool running;     /* its callbacks are on the stack (never re-entered) */
    bool deleted;     /* removed; freed when no walker is left */
    bool masked;      /* running while a nested poll runs: not watched */
} LOOM_CACHE_ALIGNED;
_Static_assert(sizeof(struct loom__fdh) == 64, "a handler's hot part: 1 line");

struct loom__fdmon;

struct loom__fdmon_ops {
    enum loom_fdmon kind;
    /* Create an empty monitor using handler slot @slot. */
    int (*create)(unsigned slot, struct loom__fdmon **ret);
    void (*destroy)(struct loom__fdmon *m);
    /* Start watching @h for @events (may be 0: registered, not watched). */
    int (*add)(struct loom__fdmon *m, struct loom__fdh *h, unsigned events);
    /* Change the watched events of a registered handler. */
    int (*update)(struct loom__fdmon *m, struct loom__fdh *h, unsigned events);
    /* Forget @h (its fd may already be closed). */
    void (*remove)(struct loom__fdmon *m, struct loom__fdh *h);
    /*
     * Wait up to @timeout_ns (-1: forever, 0: just look) and append ready
     * handlers to @ready (taking them off any other ready list).  Return:
     * the number found, or -errno (-EINTR is reported as 0).
     */
    int (*wait)(struct loom__fdmon *m, int64_t timeout_ns, bool toplevel,
                struct loom__list *ready);
    /*
     * True if wait() must be entered even with a zero timeout and no fd
     * being watched (io_uring: pending submissions).
     */
    bool (*need_wait)(struct loom__fdmon *m);
};

/* Common head of every backend's monitor object. */
struct loom__fdmon {
    const struct loom__fdmon_ops *ops;
    unsigned slot;
};

extern const struct loom__fdmon_ops loom__fdmon_poll_ops;
extern const struct loom__fdmon_ops loom__fdmon_epoll_ops;
/* NULL when loom was built without liburing. */
extern const struct loom__fdmon_ops *const loom__fdmon_uring_ops;

/*
 * loom__fdmon_uring_usable() - false if io_uring is known not to work here
 * (built without liburing, forced off, or a ring setup was refused with
 * -EPERM / -ENOSYS / -ENOTSUP); true if it worked or was never tried.
 * For tests and diagnostics: whether explicit LOOM_FDMON_IO_URING can
 * work.  Context: any.
 */
bool loom__fdmon_uring_usable(void);

/*
 * loom__fdmon_uring_force_unavailable() - test hook: while @on, creating
 * an io_uring monitor fails with -ENOSYS, as under a seccomp filter or
 * kernel.io_uring_disabled; monitors already created keep working.
 * Context: any (tests only).
 */
void loom__fdmon_uring_force_unavailable(bool on);

/*
 * loom__fdmon_epoll_fd() - the epoll fd of an epoll monitor's default
 * group: it polls readable while a default-group handler (or the loop's
 * eventfd) is ready, so an external event loop can wait on it (see
 * loop/external.c).  Context: home(loop); @m must be an epoll monitor.
 */
int loom__fdmon_epoll_fd(struct loom__fdmon *m);

/*
 * loom__fdmon_add_ready() - record that @h is ready with @revents.
 * Context: home(loop), from a backend's wait().
 */
static inline void loom__fdmon_add_ready(struct loom__list *ready,
                                         struct loom__fdh *h, unsigned revents)
{
    /*
     * A handler found again by a nested poll moves to the nested poll's
     * list: it is dispatched once, with the freshest events.  Bits the
     * loop added (busy-polling's LOOP_EV_POLLED) stay: io_uring may be
     * waited on after busy-polling found the same handler.
     */
    if (loom__list_linked(&h->ready_link)) {
        loom__list_del(&h->ready_link);
        revents |= h->revents & ~LOOM__EV_MONITOR;
    }
    h->revents = revents;
    loom__list_add_tail(ready, &h->ready_link);
}

#endif /* LOOM_FDMON_H */
