/* SPDX-License-Identifier: MIT */
/*
 * QEMU-style code on loom, through the loom-qemu compatibility layer:
 * this file uses only QEMU's headers and names, and builds with
 *   cc qemu-hello.c $(pkg-config --cflags --libs loom-qemu)
 * A bottom half, a timer on QEMU_CLOCK_REALTIME and a coroutine that
 * yields once, all run by the main loop.
 */
#include "qemu/osdep.h"

#include "block/aio.h"
#include "qapi/error.h"
#include "qemu/coroutine.h"
#include "qemu/main-loop.h"
#include "qemu/timer.h"

static int steps;

static void bh_cb(void *opaque)
{
    printf("bottom half\n");
    steps++;
}

static void timer_cb(void *opaque)
{
    printf("timer\n");
    steps++;
}

static void coroutine_fn co_entry(void *opaque)
{
    printf("coroutine, first half\n");
    qemu_coroutine_yield();
    printf("coroutine, second half\n");
    steps++;
}

int main(void)
{
    AioContext *ctx;
    QEMUTimer *t;
    Coroutine *co;

    qemu_init_main_loop(&error_fatal);
    ctx = qemu_get_aio_context();
    aio_bh_schedule_oneshot(ctx, bh_cb, NULL);
    while (steps < 1) {
        main_loop_wait(false);
    }
    t = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_MS, timer_cb, NULL);
    timer_mod(t, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) + 1);
    while (steps < 2) {
        main_loop_wait(false);
    }
    timer_free(t);
    co = qemu_coroutine_create(co_entry, NULL);
    qemu_coroutine_enter(co);
    aio_co_wake(co);
    while (steps < 3) {
        main_loop_wait(false);
    }
    return 0;
}
