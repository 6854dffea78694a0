/* SPDX-License-Identifier: MIT */
/*
 * Many idle fds, one ready per iteration (single thread).
 *
 *  fds-10k   10,000 eventfds registered for reading; each iteration makes
 *            one of them readable (a write, in a fixed random order), runs
 *            one loop iteration, and the handler reads it: us per
 *            iteration.  loom: loom_set_fd_handler, loom_loop_poll(l,
 *            true), default AUTO fd monitor (epoll at this size);
 *            libuv: uv_poll_t + UV_RUN_ONCE; libevent: persistent
 *            EV_READ events + EVLOOP_ONCE; libev: ev_io + EVRUN_ONCE
 *            (bench-fds-libev.c); floor: epoll_wait + read.
 *  fds-10k-poll  the same with loom forced onto poll(2)
 *            (LOOM_FDMON_POLL), against a raw poll(2) loop over the same
 *            pollfd array: for interest, poll(2) scans every fd.
 *
 * Timed in the thread's CPU time (the loop never sleeps: an fd is ready).
 * The same 10,000 eventfds serve every implementation in turn (the
 * open-file limit here is 20,000); RLIMIT_NOFILE is raised first.
 */
#include "bench-fds.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#if BENCH_HAVE_LOOM
#include <loom/loop.h>
#endif
#ifdef HAVE_LIBUV
#include <uv.h>
#endif
#ifdef HAVE_LIBEVENT
#include <event2/event.h>
#endif

struct fd_ent *g_ents;
int g_nfds;
int *g_order;
long g_iters;

void fds_consume(struct fd_ent *e)
{
    uint64_t v;

    if (read(e->fd, &v, sizeof(v)) == sizeof(v)) {
        (*e->count)++;
    }
}

int fds_kick(long i)
{
    uint64_t one = 1;

    if (write(g_ents[g_order[i % g_nfds]].fd, &one, sizeof(one)) < 0) {
        return -errno;
    }
    return 0;
}

/* Point every entry at this run's counter. */
static void fds_bind(long *count)
{
    int i;

    *count = 0;
    for (i = 0; i < g_nfds; i++) {
        g_ents[i].count = count;
    }
}

/* After a run: nothing may stay readable for the next implementation. */
static int fds_drain(long expect, long count)
{
    uint64_t v;
    int i, left = 0;

    for (i = 0; i < g_nfds; i++) {
        if (read(g_ents[i].fd, &v, sizeof(v)) == sizeof(v)) {
            left++;
        }
    }
    return left == 0 && count == expect ? 0 : -EPROTO;
}

#if BENCH_HAVE_LOOM
static void loom_fd_read(void *opaque)
{
    fds_consume(opaque);
}

static bool g_auto_reported;

static int run_loom(void *arg, double *out)
{
    enum loom_fdmon kind = *(enum loom_fdmon *)arg;
    long count, it, n = kind == LOOM_FDMON_POLL ? g_iters / 200 : g_iters;
    struct loom_loop_stats st;
    struct loom_loop *l;
    int64_t t0, t1;
    int i, rc;

    rc = loom_loop_new(&l);
    if (rc < 0) {
        return rc;
    }
    fds_bind(&count);
    rc = loom_loop_set_fdmon(l, kind);
    for (i = 0; rc == 0 && i < g_nfds; i++) {
        rc = loom_set_fd_handler(l, g_ents[i].fd, loom_fd_read, NULL, NULL,
                                 NULL, &g_ents[i]);
    }
    if (rc == 0) {
        t0 = bench_thread_cpu_ns();
        for (it = 0; it < n && rc == 0; it++) {
            rc = fds_kick(it);
            loom_loop_poll(l, true);
        }
        t1 = bench_thread_cpu_ns();
        out[0] = (double)(t1 - t0) / (double)n / 1000.0;
        loom_loop_stats(l, &st);
        if (kind == LOOM_FDMON_AUTO && !g_auto_reported) {
            /* Which monitor AUTO chose at this size. */
            printf("# loom AUTO ran on fd monitor %d (%s)\n", (int)st.fdmon,
                   st.fdmon == LOOM_FDMON_IO_URING ? "io_uring"
                   : st.fdmon == LOOM_FDMON_EPOLL  ? "epoll"
                                                   : "poll");
            g_auto_reported = true;
        }
    } else {
        i--;
    }
    while (i-- > 0) {
        loom_set_fd_handler(l, g_ents[i].fd, NULL, NULL, NULL, NULL, NULL);
    }
    loom_loop_unref(l);
    return rc ? rc : fds_drain(n, count);
}
#endif

#ifdef HAVE_LIBUV
static void uv_fd_read(uv_poll_t *h, int status, int events)
{
    fds_consume(h->data);
}

static int run_libuv(void *arg, double *out)
{
    uv_poll_t *h = calloc((size_t)g_nfds, sizeof(*h));
    long count, it, n = g_iters;
    uv_loop_t loop;
    int64_t t0, t1;
    int i, rc = 0;

    if (!h) {
        return -ENOMEM;
    }
    fds_bind(&count);
    uv_loop_init(&loop);
    for (i = 0; i < g_nfds; i++) {
        uv_poll_init(&loop, &h[i], g_ents[i].fd);
        h[i].data = &g_ents[i];
        uv_poll_start(&h[i], UV_READABLE, uv_fd_read);
    }
    t0 = bench_thread_cpu_ns();
    for (it = 0; it < n && rc == 0; it++) {
        rc = fds_kick(it);
        uv_run(&loop, UV_RUN_ONCE);
    }
    t1 = bench_thread_cpu_ns();
    out[0] = (double)(t1 - t0) / (double)n / 1000.0;
    for (i = 0; i < g_nfds; i++) {
        uv_close((uv_handle_t *)&h[i], NULL);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    free(h);
    return rc ? rc : fds_drain(n, count);
}
#endif

#ifdef HAVE_LIBEVENT
static void ev_fd_read(evutil_socket_t fd, short what, void *opaque)
{
    fds_consume(opaque);
}

static int run_libevent(void *arg, double *out)
{
    struct event **ev = calloc((size_t)g_nfds, sizeof(*ev));
    struct event_base *base = event_base_new();
    long count, it, n = g_iters;
    int64_t t0, t1;
    int i, rc = 0;

    if (!ev || !base) {
        rc = -ENOMEM;
        goto out;
    }
    fds_bind(&count);
    for (i = 0; i < g_nfds; i++) {
        ev[i] = event_new(base, g_ents[i].fd, EV_READ | EV_PERSIST,
                          ev_fd_read, &g_ents[i]);
        if (!ev[i] || event_add(ev[i], NULL) < 0) {
            rc = -ENOMEM;
            goto out;
        }
    }
    t0 = bench_thread_cpu_ns();
    for (it = 0; it < n && rc == 0; it++) {
        rc = fds_kick(it);
        event_base_loop(base, EVLOOP_ONCE);
    }
    t1 = bench_thread_cpu_ns();
    out[0] = (double)(t1 - t0) / (double)n / 1000.0;
out:
    for (i = 0; ev && i < g_nfds; i++) {
        if (ev[i]) {
            event_free(ev[i]);
        }
    }
    free(ev);
    if (base) {
        event_base_free(base);
    }
    return rc ? rc : fds_drain(n, count);
}
#endif

static int run_raw_epoll(void *arg, double *out)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    long count, it, n = g_iters;
    struct epoll_event evs[64];
    int64_t t0, t1;
    int i, k, rc = 0;

    if (ep < 0) {
        return -errno;
    }
    fds_bind(&count);
    for (i = 0; i < g_nfds; i++) {
        struct epoll_event e = { .events = EPOLLIN, .data.ptr = &g_ents[i] };

        if (epoll_ctl(ep, EPOLL_CTL_ADD, g_ents[i].fd, &e) < 0) {
            rc = -errno;
            close(ep);
            return rc;
        }
    }
    t0 = bench_thread_cpu_ns();
    for (it = 0; it < n && rc == 0; it++) {
        rc = fds_kick(it);
        k = epoll_wait(ep, evs, 64, -1);
        for (i = 0; i < k; i++) {
            fds_consume(evs[i].data.ptr);
        }
    }
    t1 = bench_thread_cpu_ns();
    out[0] = (double)(t1 - t0) / (double)n / 1000.0;
    close(ep);
    return rc ? rc : fds_drain(n, count);
}

static int run_raw_poll(void *arg, double *out)
{
    struct pollfd *pfd = calloc((size_t)g_nfds, sizeof(*pfd));
    long count, it, n = g_iters / 200;
    int64_t t0, t1;
    int i, k, rc = 0;

    if (!pfd) {
        return -ENOMEM;
    }
    fds_bind(&count);
    for (i = 0; i < g_nfds; i++) {
        pfd[i].fd = g_ents[i].fd;
        pfd[i].events = POLLIN;
    }
    t0 = bench_thread_cpu_ns();
    for (it = 0; it < n && rc == 0; it++) {
        rc = fds_kick(it);
        k = poll(pfd, (nfds_t)g_nfds, -1);
        for (i = 0; k > 0 && i < g_nfds; i++) {
            if (pfd[i].revents & POLLIN) {
                fds_consume(&g_ents[i]);
                k--;
            }
        }
    }
    t1 = bench_thread_cpu_ns();
    out[0] = (double)(t1 - t0) / (double)n / 1000.0;
    free(pfd);
    return rc ? rc : fds_drain(n, count);
}

static int fds_setup(int nfds)
{
    long lim = bench_raise_nofile();
    int i;

    if (lim > 0 && lim < nfds + 200) {
        nfds = (int)lim - 200;
        printf("# RLIMIT_NOFILE is %ld: using %d fds\n", lim, nfds);
    }
    g_ents = calloc((size_t)nfds, sizeof(*g_ents));
    g_order = calloc((size_t)nfds, sizeof(*g_order));
    if (!g_ents || !g_order) {
        return -ENOMEM;
    }
    for (i = 0; i < nfds; i++) {
        g_ents[i].fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (g_ents[i].fd < 0) {
            return -errno;
        }
        g_nfds = i + 1;
        g_order[i] = i;
    }
    /* A fixed shuffle, so that neighbouring iterations touch far fds. */
    for (i = nfds - 1; i > 0; i--) {
        int j = (int)(((unsigned)i * 2654435761u) % (unsigned)(i + 1));
        int tmp = g_order[i];

        g_order[i] = g_order[j];
        g_order[j] = tmp;
    }
    return 0;
}

static void fds_teardown(void)
{
    int i;

    for (i = 0; i < g_nfds; i++) {
        close(g_ents[i].fd);
    }
    free(g_ents);
    free(g_order);
}

/*
 * Take this program's own option, --nfds=N (default 10,000: the figure's
 * definition), out of @argv before the common parser sees it.  For
 * experiments: how the cost per iteration grows with the fd count.
 * Return: the new argc.
 */
static int take_nfds(int argc, char **argv, int *ret_nfds)
{
    int i, j, nfds = 10000;

    for (i = j = 1; i < argc; i++) {
        if (strncmp(argv[i], "--nfds=", 7) == 0) {
            nfds = atoi(argv[i] + 7);
            if (nfds < 1 || nfds > 1000000) {
                fprintf(stderr, "bench-fds: --nfds out of range\n");
                exit(2);
            }
        } else {
            argv[j++] = argv[i];
        }
    }
    argv[j] = NULL;
    *ret_nfds = nfds;
    return j;
}

int main(int argc, char **argv)
{
#if BENCH_HAVE_LOOM
    static enum loom_fdmon mon_auto = LOOM_FDMON_AUTO;
    static enum loom_fdmon mon_epoll = LOOM_FDMON_EPOLL;
    static enum loom_fdmon mon_poll = LOOM_FDMON_POLL;
#endif
    const struct bench_impl impls[] = {
#if BENCH_HAVE_LOOM
        { "loom", run_loom, &mon_auto },
        { "loom-epoll", run_loom, &mon_epoll },
#endif
#ifdef HAVE_LIBUV
        { "libuv", run_libuv, NULL },
#endif
#ifdef HAVE_LIBEVENT
        { "libevent", run_libevent, NULL },
#endif
#ifdef HAVE_LIBEV
        { "libev", fds_run_libev, NULL },
#endif
        { "raw-epoll", run_raw_epoll, NULL },
    };
    const struct bench_impl impls_poll[] = {
#if BENCH_HAVE_LOOM
        { "loom", run_loom, &mon_poll },
#endif
        { "raw", run_raw_poll, NULL },
    };
    const struct bench_figure f = { "fds-10k", "us", 1, { NULL } };
    const struct bench_figure fpoll = { "fds-10k-poll", "us", 1, { NULL } };
    int rc, nfds;

    argc = take_nfds(argc, argv, &nfds);
    bench_init(argc, argv, "bench-fds");
    g_iters = bench_size(100000, 10);
    if (nfds != 10000) {
        /* The figures keep their names; say that they were resized. */
        printf("# --nfds=%d: the fds-10k figures use %d fds\n", nfds, nfds);
    }
    if (bench_figure_wanted(f.name) || bench_figure_wanted(fpoll.name)) {
        rc = fds_setup(nfds);
        if (rc < 0) {
            bench_fail("creating eventfds", rc);
        } else {
            bench_run(&f, impls, (int)(sizeof(impls) / sizeof(impls[0])));
            bench_run(&fpoll, impls_poll,
                      (int)(sizeof(impls_poll) / sizeof(impls_poll[0])));
        }
        fds_teardown();
    }
    return bench_finish();
}
