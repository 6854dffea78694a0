/* SPDX-License-Identifier: MIT */
/*
 * The README's first program: a loop, a one-shot bottom half, a timer and
 * a BH scheduled from another thread.  Built against the installed library
 * by scripts/check-install (pkg-config --cflags --libs loom).
 */
#include <loom/loom.h>

#include <stdio.h>

static void hello(void *opaque)
{
    puts(opaque);
}

static void on_timer(void *opaque)
{
    int *fired = opaque;

    *fired = 1;
}

static void *poster(void *arg)
{
    loom_bh_schedule(arg);
    return NULL;
}

int main(void)
{
    struct loom_loop *loop;
    struct loom_timer *timer;
    struct loom_thread *t;
    struct loom_bh *bh;
    int fired = 0, ret;

    ret = loom_loop_new(&loop);
    if (ret < 0) {
        fprintf(stderr, "loom_loop_new: %s\n", loom_strerror(ret));
        return 1;
    }
    loom_bh_oneshot(loop, hello, "hello from a bottom half");
    loom_loop_poll(loop, true);

    loom_timer_new(loop, LOOM_CLOCK_HOST, on_timer, &fired, &timer);
    loom_timer_mod(timer, loom_clock_ns(LOOM_CLOCK_HOST) + 1000000);
    while (!fired) {
        loom_loop_poll(loop, true);
    }
    puts("timer fired");

    loom_bh_new(loop, hello, "hello from another thread", "poster", &bh);
    loom_thread_create(&t, "poster", poster, bh, LOOM_THREAD_JOINABLE);
    loom_loop_poll(loop, true);
    loom_thread_join(t, NULL);

    loom_bh_free(bh);
    loom_timer_free(timer);
    loom_loop_unref(loop);
    return 0;
}
