/* SPDX-License-Identifier: MIT */
/*
 * bench-wakeup's libev side: ev_async_send ping-pong between two
 * ev_loops (see bench-wakeup.c).  Thread A is the caller, thread B runs
 * libev_b_main().
 */
#include "bench-wakeup.h"

#include <errno.h>

#include <ev.h>

static void libev_b_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    struct pp *p = w->data;

    if (pp_stopping(p)) {
        ev_break(loop, EVBREAK_ALL);
    } else {
        ev_async_send(p->la, p->a);
    }
}

static void libev_a_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    struct pp *p = w->data;

    if (pp_pong(p)) {
        ev_async_send(p->lb, p->b);
    } else {
        ev_break(loop, EVBREAK_ALL);
    }
}

static void *libev_b_main(void *opaque)
{
    struct pp *p = opaque;

    ev_run(p->lb, 0);
    return NULL;
}

int wakeup_run_libev(void *arg, double *out)
{
    struct ev_loop *la = ev_loop_new(EVFLAG_AUTO);
    struct ev_loop *lb = ev_loop_new(EVFLAG_AUTO);
    ev_async aa, ab;
    struct pp p;
    pthread_t th;
    int rc = -ENOMEM;

    pp_init(&p, arg);
    p.b_main = libev_b_main;
    p.la = la;
    p.lb = lb;
    p.a = &aa;
    p.b = &ab;
    if (la && lb) {
        ev_async_init(&aa, libev_a_cb);
        ev_async_init(&ab, libev_b_cb);
        aa.data = ab.data = &p;
        ev_async_start(la, &aa);
        ev_async_start(lb, &ab);
        rc = pp_begin(&p, &th);
        if (rc == 0) {
            ev_async_send(lb, &ab);
            ev_run(la, 0);
            pp_set_stop(&p);
            ev_async_send(lb, &ab);
            pthread_join(th, NULL);
            rc = pp_end(&p, out);
        }
        ev_async_stop(la, &aa);
        ev_async_stop(lb, &ab);
    }
    if (la) {
        ev_loop_destroy(la);
    }
    if (lb) {
        ev_loop_destroy(lb);
    }
    return rc;
}
