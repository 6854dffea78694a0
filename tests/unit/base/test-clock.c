/* SPDX-License-Identifier: MIT */
/*
 * Clocks: REALTIME/HOST sanity, VIRTUAL frozen while stopped and not
 * jumping at start, deterministic mode and exact steps, and the internal
 * virtual-clock hook (when it is called, and that no clock lock is held).
 * Every test leaves VIRTUAL running and non-deterministic.
 */
#include <errno.h>
#include <time.h>

#include <loom/clock.h>

#include "base/clock-int.h"
#include "harness.h"

#define MS (1000 * 1000LL)

static void sleep_ns(int64_t ns)
{
    struct timespec ts = { .tv_sec = ns / 1000000000,
                           .tv_nsec = ns % 1000000000 };

    while (nanosleep(&ts, &ts) != 0) {
    }
}

static void test_realtime_host(void)
{
    int64_t rt = loom_clock_ns(LOOM_CLOCK_REALTIME);
    int64_t prev, now;
    int i;

    /* Within a minute of time(). */
    g_assert_cmpint(rt / 1000000000 - (int64_t)time(NULL), <=, 60);
    g_assert_cmpint((int64_t)time(NULL) - rt / 1000000000, <=, 60);

    prev = loom_clock_ns(LOOM_CLOCK_HOST);
    g_assert_cmpint(prev, >, 0);
    for (i = 0; i < 100000; i++) {
        now = loom_clock_ns(LOOM_CLOCK_HOST);
        g_assert_cmpint(now, >=, prev);
        prev = now;
    }
    /* HOST is CLOCK_MONOTONIC. */
    g_assert_cmpint(harness_now_ns(), >=, prev);

    g_assert_cmpint(loom_clock_ns((enum loom_clock)7), ==, -EINVAL);
    g_assert_cmpint(loom_clock_ns((enum loom_clock)-1), ==, -EINVAL);
}

static void test_virtual_follows_host(void)
{
    int64_t h0, v, h1, prev;
    int i;

    g_assert_true(loom_clock_virtual_running());
    g_assert_true(loom__clock_virtual_advancing());
    prev = loom_clock_ns(LOOM_CLOCK_VIRTUAL);
    for (i = 0; i < 100000; i++) {
        v = loom_clock_ns(LOOM_CLOCK_VIRTUAL);
        g_assert_cmpint(v, >=, prev);
        prev = v;
    }
    /* Advances at host speed. */
    h0 = loom_clock_ns(LOOM_CLOCK_HOST);
    v = loom_clock_ns(LOOM_CLOCK_VIRTUAL);
    sleep_ns(5 * MS);
    h1 = loom_clock_ns(LOOM_CLOCK_HOST);
    g_assert_cmpint(loom_clock_ns(LOOM_CLOCK_VIRTUAL) - v, >=, 5 * MS);
    g_assert_cmpint(loom_clock_ns(LOOM_CLOCK_VIRTUAL) - v, <=,
                    loom_clock_ns(LOOM_CLOCK_HOST) - h0);
    (void)h1;
}

static void test_virtual_stop_start(void)
{
    int64_t frozen, v, h0, h1;

    loom_clock_virtual_stop();
    g_assert_false(loom_clock_virtual_running());
    g_assert_false(loom__clock_virtual_advancing());
    frozen = loom_clock_ns(LOOM_CLOCK_VIRTUAL);
    sleep_ns(20 * MS);
    g_assert_cmpint(loom_clock_ns(LOOM_CLOCK_VIRTUAL), ==, frozen);

    /* Idempotent. */
    loom_clock_virtual_stop();
    g_assert_cmpint(loom_clock_ns(LOOM_CLOCK_VIRTUAL), ==, frozen);

    /* Starting resumes from the frozen value: no jump by the 20 ms. */
    h0 = loom_clock_ns(LOOM_CLOCK_HOST);
    loom_clock_virtual_start();
    v = loom_clock_ns(LOOM_CLOCK_VIRTUAL);
    h1 = loom_clock_ns(LOOM_CLOCK_HOST);
    g_assert_true(loom_clock_virtual_running());
    g_assert_true(loom__clock_virtual_advancing());
    g_assert_cmpint(v, >=, frozen);
    g_assert_cmpint(v - frozen, <=, h1 - h0);

    loom_clock_virtual_start();
    g_assert_true(loom_clock_virtual_running());
    g_assert_cmpint(loom_clock_ns(LOOM_CLOCK_VIRTUAL), >=, v);
}

static void test_deterministic(void)
{
    int64_t v0, v, h0, h1;

    /* Stepping needs deterministic mode; negative steps never work. */
    g_assert_cmpint(loom_clock_virtual_step(1), ==, -EINVAL);

    loom_clock_virtual_set_deterministic(true);
    g_assert_true(loom_clock_virtual_running());
    g_assert_false(loom__clock_virtual_advancing());
    v0 = loom_clock_ns(LOOM_CLOCK_VIRTUAL);
    sleep_ns(10 * MS);
    g_assert_cmpint(loom_clock_ns(LOOM_CLOCK_VIRTUAL), ==, v0);

    g_assert_cmpint(loom_clock_virtual_step(1000), ==, 0);
    g_assert_cmpint(loom_clock_ns(LOOM_CLOCK_VIRTUAL), ==, v0 + 1000);
    g_assert_cmpint(loom_clock_virtual_step(0), ==, 0);
    g_assert_cmpint(loom_clock_ns(LOOM_CLOCK_VIRTUAL), ==, v0 + 1000);
    g_assert_cmpint(loom_clock_virtual_step(-1), ==, -EINVAL);
    g_assert_cmpint(loom_clock_ns(LOOM_CLOCK_VIRTUAL), ==, v0 + 1000);
    /* Idempotent. */
    loom_clock_virtual_set_deterministic(true);
    g_assert_cmpint(loom_clock_ns(LOOM_CLOCK_VIRTUAL), ==, v0 + 1000);

    /* Stopping and starting do not move it either; steps still work. */
    loom_clock_virtual_stop();
    g_assert_cmpint(loom_clock_virtual_step(500), ==, 0);
    loom_clock_virtual_start();
    g_assert_false(loom__clock_virtual_advancing());
    g_assert_cmpint(loom_clock_ns(LOOM_CLOCK_VIRTUAL), ==, v0 + 1500);

    /* A large step (an hour) moves it exactly too. */
    g_assert_cmpint(loom_clock_virtual_step(3600 * 1000 * MS), ==, 0);
    v = loom_clock_ns(LOOM_CLOCK_VIRTUAL);
    g_assert_cmpint(v, ==, v0 + 1500 + 3600 * 1000 * MS);

    /* Off: follows host time again from where it was, never backwards. */
    h0 = loom_clock_ns(LOOM_CLOCK_HOST);
    loom_clock_virtual_set_deterministic(false);
    g_assert_true(loom__clock_virtual_advancing());
    g_assert_cmpint(loom_clock_virtual_step(1), ==, -EINVAL);
    g_assert_cmpint(loom_clock_ns(LOOM_CLOCK_VIRTUAL), >=, v);
    h1 = loom_clock_ns(LOOM_CLOCK_HOST);
    g_assert_cmpint(loom_clock_ns(LOOM_CLOCK_VIRTUAL) - v, <=,
                    loom_clock_ns(LOOM_CLOCK_HOST) - h0);
    (void)h1;

    /* Off while stopped: stays frozen until started. */
    loom_clock_virtual_set_deterministic(true);
    loom_clock_virtual_stop();
    v = loom_clock_ns(LOOM_CLOCK_VIRTUAL);
    loom_clock_virtual_set_deterministic(false);
    g_assert_false(loom__clock_virtual_advancing());
    sleep_ns(2 * MS);
    g_assert_cmpint(loom_clock_ns(LOOM_CLOCK_VIRTUAL), ==, v);
    loom_clock_virtual_start();
    g_assert_true(loom__clock_virtual_advancing());
    g_assert_cmpint(loom_clock_ns(LOOM_CLOCK_VIRTUAL), >=, v);
}

static int g_hook_calls;
static int64_t g_hook_seen;

static void hook(void)
{
    g_hook_calls++;
    g_hook_seen = loom_clock_ns(LOOM_CLOCK_VIRTUAL);
    /*
     * Writers take the clock lock: this would deadlock if the hook were
     * called with it held.  In deterministic mode it changes nothing.
     */
    if (!loom__clock_virtual_advancing() && loom_clock_virtual_running()) {
        loom_clock_virtual_set_deterministic(true);
    }
}

static void test_hook(void)
{
    int64_t v;

    loom__clock_set_virtual_hook(hook);
    g_hook_calls = 0;

    /* Stopping never wakes anyone; starting does. */
    loom_clock_virtual_stop();
    g_assert_cmpint(g_hook_calls, ==, 0);
    loom_clock_virtual_stop();
    loom_clock_virtual_start();
    g_assert_cmpint(g_hook_calls, ==, 1);
    loom_clock_virtual_start();
    g_assert_cmpint(g_hook_calls, ==, 1);

    /* Entering deterministic mode: no; each step: yes, state visible. */
    loom_clock_virtual_set_deterministic(true);
    g_assert_cmpint(g_hook_calls, ==, 1);
    v = loom_clock_ns(LOOM_CLOCK_VIRTUAL);
    g_assert_cmpint(loom_clock_virtual_step(77), ==, 0);
    g_assert_cmpint(g_hook_calls, ==, 2);
    g_assert_cmpint(g_hook_seen, ==, v + 77);
    g_assert_cmpint(loom_clock_virtual_step(-77), ==, -EINVAL);
    g_assert_cmpint(g_hook_calls, ==, 2);

    /* Start while deterministic does not make it advance: no call. */
    loom_clock_virtual_stop();
    loom_clock_virtual_start();
    g_assert_cmpint(g_hook_calls, ==, 2);

    /* Leaving deterministic mode while running: it advances again. */
    loom_clock_virtual_set_deterministic(false);
    g_assert_cmpint(g_hook_calls, ==, 3);
    g_assert_cmpint(g_hook_seen, >=, v + 77);

    loom__clock_set_virtual_hook(NULL);
    loom_clock_virtual_stop();
    loom_clock_virtual_start();
    g_assert_cmpint(g_hook_calls, ==, 3);
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/clock/realtime-host", test_realtime_host);
    g_test_add_func("/clock/virtual/follows-host", test_virtual_follows_host);
    g_test_add_func("/clock/virtual/stop-start", test_virtual_stop_start);
    g_test_add_func("/clock/virtual/deterministic", test_deterministic);
    g_test_add_func("/clock/virtual/hook", test_hook);
    return g_test_run();
}
