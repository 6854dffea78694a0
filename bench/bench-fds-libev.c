/* SPDX-License-Identifier: MIT */
/*
 * bench-fds' libev side (see bench-fds.c): one ev_io per eventfd,
 * ev_run(EVRUN_ONCE) per iteration.  Runs on the main thread.
 */
#include "bench-fds.h"

#include <errno.h>
#include <stdlib.h>

#include <ev.h>

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    fds_consume(w->data);
}

int fds_run_libev(void *arg, double *out)
{
    ev_io *w = calloc((size_t)g_nfds, sizeof(*w));
    struct ev_loop *loop = ev_loop_new(EVBACKEND_EPOLL);
    long count = 0, it, n = g_iters;
    int64_t t0, t1;
    int i, rc = 0;

    if (!w || !loop) {
        free(w);
        if (loop) {
            ev_loop_destroy(loop);
        }
        return -ENOMEM;
    }
    for (i = 0; i < g_nfds; i++) {
        g_ents[i].count = &count;
        ev_io_init(&w[i], io_cb, g_ents[i].fd, EV_READ);
        w[i].data = &g_ents[i];
        ev_io_start(loop, &w[i]);
    }
    t0 = bench_thread_cpu_ns();
    for (it = 0; it < n && rc == 0; it++) {
        rc = fds_kick(it);
        ev_run(loop, EVRUN_ONCE);
    }
    t1 = bench_thread_cpu_ns();
    out[0] = (double)(t1 - t0) / (double)n / 1000.0;
    for (i = 0; i < g_nfds; i++) {
        ev_io_stop(loop, &w[i]);
    }
    ev_loop_destroy(loop);
    free(w);
    return rc ? rc : (count == n ? 0 : -EPROTO);
}
