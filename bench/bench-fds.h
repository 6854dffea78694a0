/* SPDX-License-Identifier: MIT */
/*
 * bench-fds internals shared with bench-fds-libev.c (libev's header cannot
 * share a translation unit with libevent's).
 */
#ifndef LOOM_BENCH_FDS_H
#define LOOM_BENCH_FDS_H

#include "common.h"

/* One watched eventfd; the handler reads it and counts. */
struct fd_ent {
    int fd;
    long *count;
};

extern struct fd_ent *g_ents; /* g_nfds entries, shared by every impl */
extern int g_nfds;
extern int *g_order;          /* which fd is made ready at iteration i */
extern long g_iters;          /* iterations per run (epoll-class impls) */

/* Read the eventfd of @e (made ready by fds_kick()) and count it. */
void fds_consume(struct fd_ent *e);
/* Make fd number g_order[i % g_nfds] readable; 0 or -errno. */
int fds_kick(long i);

/* bench_run_fn for libev (bench-fds-libev.c). */
int fds_run_libev(void *arg, double *out);

#endif /* LOOM_BENCH_FDS_H */
