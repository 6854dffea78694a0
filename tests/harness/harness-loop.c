/* SPDX-License-Identifier: MIT */
/*
 * harness_loop_new(): a loop using the fd monitor chosen with --fdmon=
 * (poll, epoll, io_uring); without the option, the library's default.
 * io_uring skips the test (exit 77) while the backend is unavailable.
 */
#include "harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <loom/loop.h>

struct loom_loop *harness_loop_new(void)
{
    const char *name = harness_fdmon_name();
    struct loom_loop *l = NULL;
    enum loom_fdmon kind;
    int ret;

    ret = loom_loop_new(&l);
    g_assert_cmpint(ret, ==, 0);
    if (!name) {
        return l;
    }
    if (strcmp(name, "poll") == 0) {
        kind = LOOM_FDMON_POLL;
    } else if (strcmp(name, "epoll") == 0) {
        kind = LOOM_FDMON_EPOLL;
    } else if (strcmp(name, "io_uring") == 0) {
        kind = LOOM_FDMON_IO_URING;
    } else {
        fprintf(stderr, "harness: unknown --fdmon=%s\n", name);
        exit(1);
    }
    ret = loom_loop_set_fdmon(l, kind);
    if (ret == -ENOTSUP) {
        printf("# SKIP fd monitor %s not supported\n", name);
        loom_loop_unref(l);
        exit(HARNESS_EXIT_SKIP);
    }
    g_assert_cmpint(ret, ==, 0);
    return l;
}
