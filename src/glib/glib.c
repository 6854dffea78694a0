/* SPDX-License-Identifier: MIT */
/*
 * GLib integration (optional; the only file of libloom that uses GLib).
 *
 * loom_loop_gsource(): a GSource whose prepare/check are the external-
 * poller halves of the loop's notify protocol (loop/external.c) and whose
 * dispatch is loom_loop_poll(l, false).  Its callbacks run in the thread
 * iterating the GMainContext, which must be the loop's home thread;
 * finalize may run in any thread.
 *
 * loom_main_use_glib(): hooks around loom_main_loop_wait() (main-int.h)
 * prepare and query the context before the main loop's poll and check and
 * dispatch it afterwards.  GLib's fds go into a private epoll fd, watched
 * as one top-level-group handler of the main loop; GLib's timeout arms a loom
 * timer.  All of it runs in the main loop's thread.
 */
#include <loom/glib.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <loom/clock.h>
#include <loom/main.h>
#include <loom/timer.h>

#include "base/check.h"
#include "loop/loop-int.h"
#include "main/main-int.h"

/* Timeout of a source whose loop has no epoll fd (degraded mode). */
#define DEGRADED_POLL_MS 1

/* ---- loom_loop_gsource() ---- */

struct loop_source {
    GSource src;
    /* Immutable after creation. */
    struct loom_loop *l;
    /* home(loop) only (finalize: after the last iteration). */
    struct loom__ext_poll ep;
    int fd; /* the fd behind tag, -1 if none */
    gpointer tag;
};

static gint ns_to_ms_ceil(int64_t ns)
{
    int64_t ms = (ns + 999999) / 1000000;

    return ms > G_MAXINT ? G_MAXINT : (gint)ms;
}

static gboolean source_prepare(GSource *src, gint *timeout)
{
    struct loop_source *s = (struct loop_source *)src;
    int64_t ns = 0;
    int fd = loom__loop_ext_prepare(s->l, &s->ep, &ns);

    if (fd != s->fd) {
        /* First iteration, or the loop's monitor was switched. */
        if (s->tag) {
            g_source_remove_unix_fd(src, s->tag);
            s->tag = NULL;
        }
        if (fd >= 0) {
            s->tag = g_source_add_unix_fd(src, fd, G_IO_IN);
        }
        s->fd = fd < 0 ? -1 : fd;
    }
    if (fd < 0) {
        *timeout = DEGRADED_POLL_MS;
        return FALSE;
    }
    if (ns == 0) {
        *timeout = 0;
        return TRUE;
    }
    *timeout = ns < 0 ? -1 : ns_to_ms_ceil(ns);
    return FALSE;
}

static gboolean source_check(GSource *src)
{
    struct loop_source *s = (struct loop_source *)src;
    bool ready = s->tag && g_source_query_unix_fd(src, s->tag) != 0;

    return loom__loop_ext_check(s->l, &s->ep, ready);
}

static gboolean source_dispatch(GSource *src, GSourceFunc cb, gpointer data)
{
    struct loop_source *s = (struct loop_source *)src;

    /* GLib may dispatch without calling check (prepare said ready). */
    loom__loop_ext_withdraw(s->l, &s->ep);
    (void)loom_loop_poll(s->l, false);
    return G_SOURCE_CONTINUE;
}

static void source_finalize(GSource *src)
{
    struct loop_source *s = (struct loop_source *)src;

    loom__loop_ext_detach(s->l, &s->ep);
    loom_loop_unref(s->l);
}

static GSourceFuncs loop_source_funcs = {
    .prepare = source_prepare,
    .check = source_check,
    .dispatch = source_dispatch,
    .finalize = source_finalize,
};

GSource *loom_loop_gsource(struct loom_loop *l)
{
    struct loop_source *s;

    LOOM_CHECK(l, NULL);
    s = (struct loop_source *)g_source_new(&loop_source_funcs, sizeof(*s));
    loom_loop_ref(l);
    s->l = l;
    s->fd = -1;
    g_source_set_name(&s->src, "loom-loop");
    return &s->src;
}

/* ---- loom_main_use_glib() ---- */

/* One fd as registered in the private epoll set. */
struct glib_reg {
    int fd;
    uint32_t events; /* EPOLL* */
};

/* Main-loop thread only. */
struct main_glib {
    GMainContext *ctx; /* referenced */
    struct loom_loop *l;
    struct loom_timer *timer; /* GLib's timeout; NULL once stopped */
    int epfd;                 /* GLib's fds; -1 once stopped */
    GPollFD *fds;             /* the last query */
    gint nfds, fds_size, max_prio;
    struct glib_reg *regs, *next_regs; /* registered / being computed */
    size_t nregs, regs_size;
    bool prepared;     /* fds is valid and not yet checked */
    bool fired;        /* epfd was reported ready */
    bool force_poll;   /* an fd epoll refuses: never sleep on GLib */
    unsigned acquired; /* g_main_context_acquire()s to release */
    unsigned busy;     /* post hooks on the stack */
    bool dead;         /* stopped while busy: the last post frees it */
};

static struct main_glib *g_glib; /* main-loop thread only */

static void glib_timer_cb(void *opaque)
{
    /* Only there to end the main loop's sleep. */
}

static void glib_epfd_read(void *opaque)
{
    struct main_glib *s = opaque;

    s->fired = true;
}

static uint32_t to_epoll(gushort ev)
{
    return ((ev & G_IO_IN) ? EPOLLIN : 0) | ((ev & G_IO_OUT) ? EPOLLOUT : 0) |
           ((ev & G_IO_PRI) ? EPOLLPRI : 0);
}

static int reg_cmp(const void *a, const void *b)
{
    const struct glib_reg *x = a, *y = b;

    return (x->fd > y->fd) - (x->fd < y->fd);
}

static int grow_regs(struct main_glib *s, size_t n)
{
    struct glib_reg *a, *b;
    size_t size = s->regs_size ? s->regs_size : 16;

    while (size < n) {
        size *= 2;
    }
    if (size == s->regs_size) {
        return 0;
    }
    a = realloc(s->regs, size * sizeof(*a));
    if (!a) {
        return -ENOMEM;
    }
    s->regs = a;
    b = realloc(s->next_regs, size * sizeof(*b));
    if (!b) {
        return -ENOMEM;
    }
    s->next_regs = b;
    s->regs_size = size;
    return 0;
}

/* GLib's fds, sorted by fd, duplicates merged, into s->next_regs. */
static size_t build_next(struct main_glib *s)
{
    struct glib_reg *r = s->next_regs;
    size_t i, n = 0;

    for (i = 0; i < (size_t)s->nfds; i++) {
        r[i].fd = s->fds[i].fd;
        r[i].events = to_epoll(s->fds[i].events);
    }
    qsort(r, (size_t)s->nfds, sizeof(*r), reg_cmp);
    for (i = 0; i < (size_t)s->nfds; i++) {
        if (n && r[n - 1].fd == r[i].fd) {
            r[n - 1].events |= r[i].events;
        } else {
            r[n++] = r[i];
        }
    }
    return n;
}

static bool ctl(struct main_glib *s, int op, const struct glib_reg *r)
{
    struct epoll_event ev = {.events = r->events, .data.fd = r->fd};
    int ret = epoll_ctl(s->epfd, op, r->fd, &ev);

    /*
     * The fd number may have been closed and reused since it was
     * registered: epoll then forgot the old file, so retry the other way.
     */
    if (ret < 0 && op == EPOLL_CTL_ADD && errno == EEXIST) {
        ret = epoll_ctl(s->epfd, EPOLL_CTL_MOD, r->fd, &ev);
    } else if (ret < 0 && op == EPOLL_CTL_MOD && errno == ENOENT) {
        ret = epoll_ctl(s->epfd, EPOLL_CTL_ADD, r->fd, &ev);
    }
    return ret == 0 || op == EPOLL_CTL_DEL;
}

/*
 * Make the epoll set match the last query: a merge of two sorted lists.
 * An fd epoll refuses (EPERM: a regular file) sets force_poll: the main
 * loop then does not sleep while GLib watches it (poll(2) would report
 * such an fd ready at once anyway).
 */
static void sync_epoll(struct main_glib *s)
{
    struct glib_reg *old = s->regs, *tmp;
    size_t n, i = 0, j = 0;
    bool ok = true;

    if (grow_regs(s, (size_t)s->nfds) < 0) {
        s->force_poll = true;
        return;
    }
    old = s->regs;
    n = build_next(s);
    while (i < s->nregs || j < n) {
        if (j == n || (i < s->nregs && old[i].fd < s->next_regs[j].fd)) {
            (void)ctl(s, EPOLL_CTL_DEL, &old[i++]);
        } else if (i == s->nregs || s->next_regs[j].fd < old[i].fd) {
            ok &= ctl(s, EPOLL_CTL_ADD, &s->next_regs[j++]);
        } else {
            if (old[i].events != s->next_regs[j].events) {
                ok &= ctl(s, EPOLL_CTL_MOD, &s->next_regs[j]);
            }
            i++;
            j++;
        }
    }
    tmp = s->regs;
    s->regs = s->next_regs;
    s->next_regs = tmp;
    s->nregs = n;
    s->force_poll = !ok;
}

static int query(struct main_glib *s, gint *timeout)
{
    gint n;
    GPollFD *fds;

    for (;;) {
        n = g_main_context_query(s->ctx, s->max_prio, timeout, s->fds,
                                 s->fds_size);
        if (n <= s->fds_size) {
            return n;
        }
        fds = g_try_renew(GPollFD, s->fds, n);
        if (!fds) {
            return -ENOMEM;
        }
        s->fds = fds;
        s->fds_size = n;
    }
}

static void glib_pre_wait(void *opaque, bool nonblocking)
{
    struct main_glib *s = opaque;
    gint timeout = -1;
    gint n;

    if (!g_main_context_acquire(s->ctx)) {
        /*
         * Another thread runs this context now: stop watching its fds
         * (they would keep waking us) and its timeout until we get it.
         */
        s->nfds = 0;
        sync_epoll(s);
        loom_timer_del(s->timer);
        return;
    }
    s->acquired++;
    (void)g_main_context_prepare(s->ctx, &s->max_prio);
    n = query(s, &timeout);
    if (n < 0) {
        /* Out of memory: check nothing, look again soon. */
        s->nfds = 0;
        timeout = DEGRADED_POLL_MS;
    } else {
        s->nfds = n;
    }
    sync_epoll(s);
    if (s->force_poll) {
        timeout = 0;
    }
    s->prepared = true;
    s->fired = false;
    if (timeout < 0) {
        loom_timer_del(s->timer);
    } else {
        loom_timer_mod(s->timer, loom_clock_ns(LOOM_CLOCK_HOST) +
                                     (int64_t)timeout * 1000000);
    }
}

static void fill_revents(struct main_glib *s)
{
    gint i;

    if ((s->fired || s->force_poll) && s->nfds) {
        /*
         * Exact per-fd events (HUP, ERR, NVAL too), without sleeping.  On
         * Unix GPollFD is laid out as struct pollfd and G_IO_* are the
         * POLL* bits (GLib relies on it for g_poll()).
         */
        if (poll((struct pollfd *)s->fds, (nfds_t)s->nfds, 0) >= 0) {
            return;
        }
    }
    for (i = 0; i < s->nfds; i++) {
        s->fds[i].revents = 0;
    }
}

static void glib_free(struct main_glib *s)
{
    g_free(s->fds);
    free(s->regs);
    free(s->next_regs);
    g_main_context_unref(s->ctx);
    free(s);
}

static bool glib_post_wait(void *opaque)
{
    struct main_glib *s = opaque;
    bool progress = false;

    if (s->prepared) {
        s->prepared = false;
        fill_revents(s);
        s->fired = false;
        s->busy++;
        if (g_main_context_check(s->ctx, s->max_prio, s->fds, s->nfds)) {
            /* Callbacks may nest waits or stop the integration. */
            g_main_context_dispatch(s->ctx);
            progress = true;
        }
        s->busy--;
    }
    if (s->dead) {
        if (!s->busy) {
            /* Stopped meanwhile: drop what nested waits acquired too. */
            for (; s->acquired; s->acquired--) {
                g_main_context_release(s->ctx);
            }
            glib_free(s);
        }
        return progress;
    }
    if (s->acquired) {
        s->acquired--;
        g_main_context_release(s->ctx);
    }
    return progress;
}

/* Undo glib_start(); frees @s unless a post hook is on the stack. */
static void glib_stop(struct main_glib *s)
{
    loom__main_set_wait_hooks(NULL, NULL, NULL);
    if (s->epfd >= 0) {
        (void)loom_main_set_fd_handler(s->epfd, NULL, NULL, NULL);
        close(s->epfd);
        s->epfd = -1;
    }
    loom_timer_free(s->timer);
    s->timer = NULL;
    s->prepared = false;
    if (s->busy) {
        s->dead = true;
        return;
    }
    /* Stopped between a pre and its post: that post will not run. */
    for (; s->acquired; s->acquired--) {
        g_main_context_release(s->ctx);
    }
    glib_free(s);
}

static int glib_start(struct loom_loop *l, GMainContext *ctx,
                      struct main_glib **ret)
{
    struct main_glib *s = calloc(1, sizeof(*s));
    int err;

    if (!s) {
        return -ENOMEM;
    }
    s->l = l;
    s->ctx = g_main_context_ref(ctx);
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (s->epfd < 0) {
        err = -errno;
        goto fail;
    }
    err = loom_timer_new(l, LOOM_CLOCK_HOST, glib_timer_cb, s, &s->timer);
    if (err < 0) {
        goto fail;
    }
    err = loom_main_set_fd_handler(s->epfd, glib_epfd_read, NULL, s);
    if (err < 0) {
        goto fail;
    }
    loom__main_set_wait_hooks(glib_pre_wait, glib_post_wait, s);
    *ret = s;
    return 0;

fail:
    loom_timer_free(s->timer);
    if (s->epfd >= 0) {
        close(s->epfd);
    }
    g_main_context_unref(s->ctx);
    free(s);
    return err;
}

int loom_main_use_glib(GMainContext *ctx)
{
    struct loom_loop *l = loom_main_loop();
    struct main_glib *s = NULL;
    int ret;

    LOOM_CHECK(l, -EINVAL);
    LOOM_ASSERT_HOME(l, "loom_main_use_glib");
    if (g_glib && g_glib->ctx == ctx) {
        return 0;
    }
    if (g_glib) {
        s = g_glib;
        g_glib = NULL;
        glib_stop(s);
    }
    if (!ctx) {
        return 0;
    }
    ret = glib_start(l, ctx, &s);
    if (ret < 0) {
        return ret;
    }
    g_glib = s;
    return 0;
}
