/* SPDX-License-Identifier: MIT */
/*
 * Stress: the announce count lives in the loop's futex word (loop.c,
 * "Notify protocol"), so a count change by another thread races the
 * loop's futex sleep and the notifiers.  The home thread announces an
 * external poller (loom__loop_ext_prepare(), as the GLib source does),
 * then polls blocking with no fd to watch: each poll announces again and
 * sleeps on the futex.  One helper thread withdraws the external
 * announcement (allowed from any thread) while another schedules a BH,
 * each after a random delay, often while the loop sleeps.  The BH must
 * run every time: a wake-up lost to the count change leaves the loop
 * asleep for good, which the watchdog fails.  At the end the count is 0.
 *
 * Run without and with adaptive polling (then the announce also sets
 * SPIN and the notifier makes no syscall while the loop spins).
 */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <unistd.h>

#include "harness.h"
#include <loom/bh.h>
#include <loom/loop.h>

#include "base/atomic.h"
#include "loop/loop-int.h"
#include "loop/loop-priv.h"

#define ITERS 10000

struct ctx {
    struct loom_loop *l;
    struct loom_bh *bh;
    struct loom__ext_poll ep;
    struct harness_watchdog wd;
    /* Atomic: iteration the home thread announced (helper may act). */
    unsigned long go;
    /* Atomic: BH runs. */
    unsigned long ran;
};

static uint64_t rnd(uint64_t *s)
{
    /* xorshift64 */
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void bh_cb(void *opaque)
{
    struct ctx *c = opaque;

    loom__atomic_set(&c->ran, loom__atomic_read(&c->ran) + 1);
}

static void pause_a_bit(uint64_t r, unsigned long *slept)
{
    unsigned i, n = (unsigned)(r >> 8) % 512;

    if ((r & 7) == 0) {
        /* Long enough for the loop to reach its futex sleep. */
        usleep(20 + (unsigned)(r >> 16) % 80);
        (*slept)++;
        return;
    }
    for (i = 0; i < n; i++) {
        loom__cpu_relax();
    }
}

/* The two helpers: 0 withdraws the external announce, 1 notifies. */
struct helper {
    struct ctx *c;
    int role;
    pthread_t th;
    uint64_t seed;
    /* Atomic: the iteration this helper finished. */
    unsigned long done;
    unsigned long slept; /* pauses long enough for the loop to sleep */
};

static void *helper(void *opaque)
{
    struct helper *h = opaque;
    struct ctx *c = h->c;
    unsigned long i;

    for (i = 1; i <= ITERS; i++) {
        uint64_t r = rnd(&h->seed);

        /* Pairs with the release store in run(): the ep is ours now. */
        while (loom__atomic_load_acquire(&c->go) != i) {
            sched_yield();
        }
        pause_a_bit(r, &h->slept);
        if (h->role == 0) {
            loom__loop_ext_withdraw(c->l, &c->ep);
        } else {
            loom_bh_schedule(c->bh);
        }
        /* Pairs with the acquire load in run(): hands the ep back. */
        loom__atomic_store_release(&h->done, i);
    }
    return NULL;
}

static void run(bool spin)
{
    struct ctx c = {0};
    struct helper h[2];
    unsigned long i;
    int64_t timeout;
    int k;

    c.l = harness_loop_new();
    if (spin) {
        g_assert_cmpint(loom_loop_set_poll_params(c.l, 50 * 1000, 2, 2), ==,
                        0);
    }
    g_assert_cmpint(loom_bh_new(c.l, bh_cb, &c, "count", &c.bh), ==, 0);
    harness_watchdog_start(&c.wd, 20, "a BH scheduled around a withdraw");
    for (k = 0; k < 2; k++) {
        h[k] = (struct helper){.c = &c, .role = k,
                               .seed = 0x9e3779b97f4a7c15ull + 77 * k};
        g_assert_cmpint(pthread_create(&h[k].th, NULL, helper, &h[k]), ==,
                        0);
    }
    for (i = 1; i <= ITERS; i++) {
        g_assert_cmpint(loom__loop_ext_prepare(c.l, &c.ep, &timeout), >=, 0);
        loom__atomic_store_release(&c.go, i);
        while (loom__atomic_read(&c.ran) < i) {
            loom_loop_poll(c.l, true);
        }
        for (k = 0; k < 2; k++) {
            while (loom__atomic_load_acquire(&h[k].done) != i) {
                sched_yield();
            }
        }
        harness_watchdog_progress(&c.wd);
    }
    for (k = 0; k < 2; k++) {
        pthread_join(h[k].th, NULL);
        /* The sleeping case was exercised. */
        g_assert_cmpuint(h[k].slept, >, 0);
    }
    harness_watchdog_stop(&c.wd);
    /* Every announce was withdrawn, SPIN is clear. */
    g_assert_cmpuint(loom__atomic_read(&c.l->wake) & LOOP_WAKE_COUNT, ==, 0);
    g_assert_cmpuint(loom__atomic_read(&c.l->wake) & LOOP_WAKE_SPIN, ==, 0);
    loom__loop_ext_detach(c.l, &c.ep);
    loom_bh_free(c.bh);
    while (loom_loop_poll(c.l, false)) {
    }
    loom_loop_unref(c.l);
}

static void test_futex(void)
{
    run(false);
}

static void test_spin(void)
{
    run(true);
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/wake-count-mt/futex", test_futex);
    g_test_add_func("/wake-count-mt/spin", test_spin);
    return g_test_run();
}
