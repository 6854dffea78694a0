/* SPDX-License-Identifier: MIT */
/*
 * harness_loop_new(): a loop using the fd monitor chosen with --fdmon=
 * (poll, epoll, io_uring); without the option, the library's default.
 * harness_fdmon_unavailable() tells harness_init() whether the chosen
 * monitor works here (io_uring may be forbidden or not built), so that
 * the program is skipped before any TAP output.
 */
#include "harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <loom/loop.h>

static enum loom_fdmon fdmon_kind(const char *name)
{
    if (strcmp(name, "poll") == 0) {
        return LOOM_FDMON_POLL;
    }
    if (strcmp(name, "epoll") == 0) {
        return LOOM_FDMON_EPOLL;
    }
    if (strcmp(name, "io_uring") == 0) {
        return LOOM_FDMON_IO_URING;
    }
    fprintf(stderr, "harness: unknown --fdmon=%s\n", name);
    exit(1);
}

const char *harness_fdmon_unavailable(const char *name)
{
    enum loom_fdmon kind = fdmon_kind(name);
    struct loom_loop *l = NULL;
    int ret;

    if (loom_loop_new(&l) != 0) {
        fprintf(stderr, "harness: cannot create a loop\n");
        exit(1);
    }
    ret = loom_loop_set_fdmon(l, kind);
    loom_loop_unref(l);
    if (ret == -ENOTSUP) {
        return "fd monitor not available here";
    }
    if (ret != 0) {
        fprintf(stderr, "harness: --fdmon=%s: %s\n", name, loom_strerror(ret));
        exit(1);
    }
    return NULL;
}

void harness_loop_apply_fdmon(struct loom_loop *l)
{
    const char *name = harness_fdmon_name();

    if (name) {
        /* harness_init() skipped the program if this cannot work. */
        g_assert_cmpint(loom_loop_set_fdmon(l, fdmon_kind(name)), ==, 0);
    }
}

struct loom_loop *harness_loop_new(void)
{
    struct loom_loop *l = NULL;

    g_assert_cmpint(loom_loop_new(&l), ==, 0);
    harness_loop_apply_fdmon(l);
    return l;
}
