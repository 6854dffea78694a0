/* SPDX-License-Identifier: MIT */
/*
 * Stress: adaptive polling across threads.  Thread A (the test's main
 * thread) and thread B each run a loop with busy-polling on; they play
 * ROUNDS round trips of ping-pong.  Each message carries its round number
 * and goes by one of three paths, rotating: a BH scheduled on the other
 * loop, a one-shot BH, or a "ring" word plus the other side's notifier,
 * whose handler has on_poll (so the spin finds it without a syscall) and
 * on_event (when the loop slept).  A sometimes waits a random while
 * before pinging, so that B's spin misses, B sleeps, and the window grows
 * and shrinks; every notify path (before, during, after a spin) is hit.
 *
 * Exact accounting: every message is received exactly once and in order
 * (round numbers), per path counts match, and on each side on_poll_ready
 * ran exactly as often as on_poll returned true.  A watchdog fails the
 * test if no message arrives for STALL_NS (a lost wake-up).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"
#include <loom/bh.h>
#include <loom/clock.h>
#include <loom/loop.h>
#include <loom/notifier.h>

#define ROUNDS 100000
#define NPATHS 3
#define STALL_NS (20LL * 1000 * 1000 * 1000)

enum { PATH_BH, PATH_ONESHOT, PATH_RING };

struct side {
    struct loom_notifier n; /* first: notifier callbacks cast back */
    struct loom_loop *l;
    struct loom_bh *bh;
    struct side *peer;
    bool is_a;
    /* Atomic: written by the peer before it wakes us. */
    unsigned long bh_msg, ring_msg;
    /* Home only. */
    unsigned long last; /* last round received */
    unsigned long recv[NPATHS];
    unsigned long poll_true, poll_ready;
    unsigned long bad;
    uint64_t rng;
};

/* Atomic: rounds completed (A's last), for the watchdog. */
static unsigned long g_done;
/* Atomic: the test is over (watchdog). */
static int g_stop;
/* B's home only: set by the kick A sends last. */
static bool g_b_exit;

static uint64_t rnd(struct side *s)
{
    /* xorshift64 */
    s->rng ^= s->rng << 13;
    s->rng ^= s->rng >> 7;
    s->rng ^= s->rng << 17;
    return s->rng;
}

static void receive(struct side *s, unsigned long r, int path);

static void bh_cb(void *opaque)
{
    struct side *s = opaque;

    receive(s, __atomic_load_n(&s->bh_msg, __ATOMIC_RELAXED), PATH_BH);
}

struct oneshot_msg {
    struct side *s;
    unsigned long r;
};

static void oneshot_cb(void *opaque)
{
    struct oneshot_msg *m = opaque;
    struct side *s = m->s;
    unsigned long r = m->r;

    free(m);
    receive(s, r, PATH_ONESHOT);
}

static void msg_send(struct side *to, unsigned long r, int path)
{
    struct oneshot_msg *m;

    switch (path) {
    case PATH_BH:
        /* Published by the BH schedule's RMW (see loom_bh_schedule()). */
        __atomic_store_n(&to->bh_msg, r, __ATOMIC_RELAXED);
        loom_bh_schedule(to->bh);
        break;
    case PATH_ONESHOT:
        m = malloc(sizeof(*m));
        g_assert_nonnull(m);
        m->s = to;
        m->r = r;
        g_assert_cmpint(loom_bh_oneshot(to->l, oneshot_cb, m), ==, 0);
        break;
    default:
        /* Pairs with the acquire load in ring_check(). */
        __atomic_store_n(&to->ring_msg, r, __ATOMIC_RELEASE);
        g_assert_cmpint(loom_notifier_set(&to->n), ==, 0);
        break;
    }
}

/* A: wait a little before some pings, so that B's spin misses. */
static void maybe_delay(struct side *a)
{
    uint64_t x = rnd(a);
    int64_t until;

    if (x % 16) {
        return;
    }
    until = loom_clock_ns(LOOM_CLOCK_HOST) + (int64_t)((x >> 8) % 200000);
    while (loom_clock_ns(LOOM_CLOCK_HOST) < until) {
    }
}

static void receive(struct side *s, unsigned long r, int path)
{
    if (r != s->last + 1) {
        s->bad++;
        return;
    }
    s->last = r;
    s->recv[path]++;
    if (!s->is_a) {
        /* Pong by the next path. */
        msg_send(s->peer, r, (int)((r + 1) % NPATHS));
        return;
    }
    __atomic_store_n(&g_done, r, __ATOMIC_RELAXED);
    if (r < ROUNDS) {
        maybe_delay(s);
        msg_send(s->peer, r + 1, (int)((r + 1) % NPATHS));
    }
}

static bool ring_pending(struct side *s)
{
    /* Pairs with the release store in msg_send(). */
    return __atomic_load_n(&s->ring_msg, __ATOMIC_ACQUIRE) == s->last + 1;
}

static bool ring_poll(void *opaque)
{
    struct side *s = (struct side *)((struct loom_notifier *)opaque);

    if (ring_pending(s)) {
        s->poll_true++;
        return true;
    }
    return false;
}

static void ring_take(struct side *s)
{
    if (ring_pending(s)) {
        receive(s, s->last + 1, PATH_RING);
    }
}

static void ring_ready(struct loom_notifier *n)
{
    struct side *s = (struct side *)n;

    s->poll_ready++;
    ring_take(s);
}

static void ring_event(struct loom_notifier *n)
{
    loom_notifier_test_and_clear(n);
    ring_take((struct side *)n);
}

static void side_init(struct side *s, bool is_a, struct loom_loop *l)
{
    s->l = l;
    s->is_a = is_a;
    s->rng = is_a ? 0x9e3779b97f4a7c15ull : 0xd1b54a32d192ed03ull;
    /* Start small so that the window grows and shrinks during the run. */
    g_assert_cmpint(loom_loop_set_poll_params(l, 100 * 1000, 2, 2), ==, 0);
    g_assert_cmpint(loom_bh_new(l, bh_cb, s, "poll-mt", &s->bh), ==, 0);
    g_assert_cmpint(loom_notifier_init(&s->n, false), ==, 0);
    g_assert_cmpint(
        loom_set_notifier_handler(l, &s->n, ring_event, ring_poll, ring_ready),
        ==, 0);
}

static void side_destroy(struct side *s)
{
    g_assert_cmpint(loom_set_notifier_handler(s->l, &s->n, NULL, NULL, NULL),
                    ==, 0);
    loom_notifier_cleanup(&s->n);
    loom_bh_free(s->bh);
}

static void *b_main(void *opaque)
{
    struct side *b = opaque;

    while (!g_b_exit) {
        loom_loop_poll(b->l, true);
    }
    side_destroy(b);
    return NULL;
}

static void *watchdog(void *opaque)
{
    struct harness_stall stall;
    unsigned long now;

    (void)opaque;
    harness_stall_init(&stall);
    while (!__atomic_load_n(&g_stop, __ATOMIC_ACQUIRE)) {
        now = __atomic_load_n(&g_done, __ATOMIC_RELAXED);
        if (harness_stalled(&stall, now, STALL_NS)) {
            fprintf(stderr, "test-poll-mt: stalled at round %lu\n", now);
            abort();
        }
        g_usleep(10000);
    }
    return NULL;
}

static void kick_cb(void *opaque)
{
    (void)opaque;
    g_b_exit = true;
}

static void test_pingpong(void)
{
    struct side *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
    struct loom_loop *la = harness_loop_new(), *lb = harness_loop_new();
    struct loom_loop_stats sa, sb;
    unsigned long want_a[NPATHS] = {0}, want_b[NPATHS] = {0};
    pthread_t tb, tw;
    unsigned long r;
    int p;

    side_init(a, true, la);
    side_init(b, false, lb);
    a->peer = b;
    b->peer = a;
    g_assert_cmpint(pthread_create(&tb, NULL, b_main, b), ==, 0);
    g_assert_cmpint(pthread_create(&tw, NULL, watchdog, NULL), ==, 0);

    msg_send(b, 1, 1 % NPATHS);
    while (a->last < ROUNDS && !a->bad) {
        loom_loop_poll(la, true);
    }
    /* Pairs with the acquire load in watchdog(). */
    __atomic_store_n(&g_stop, 1, __ATOMIC_RELEASE);
    g_assert_cmpint(loom_bh_oneshot(lb, kick_cb, NULL), ==, 0);
    g_assert_cmpint(pthread_join(tb, NULL), ==, 0);
    g_assert_cmpint(pthread_join(tw, NULL), ==, 0);

    g_assert_cmpuint(a->bad, ==, 0);
    g_assert_cmpuint(b->bad, ==, 0);
    g_assert_cmpuint(a->last, ==, ROUNDS);
    g_assert_cmpuint(b->last, ==, ROUNDS);
    for (r = 1; r <= ROUNDS; r++) {
        want_b[r % NPATHS]++;
        want_a[(r + 1) % NPATHS]++;
    }
    for (p = 0; p < NPATHS; p++) {
        g_assert_cmpuint(a->recv[p], ==, want_a[p]);
        g_assert_cmpuint(b->recv[p], ==, want_b[p]);
    }
    g_assert_cmpuint(a->poll_ready, ==, a->poll_true);
    g_assert_cmpuint(b->poll_ready, ==, b->poll_true);

    loom_loop_stats(la, &sa);
    loom_loop_stats(lb, &sb);
    g_test_message("A: hits %lu misses %lu poll_ns %ld sent %lu skipped %lu",
                   (unsigned long)sa.poll_hits, (unsigned long)sa.poll_misses,
                   (long)sa.poll_ns, (unsigned long)sa.notify_sent,
                   (unsigned long)sa.notify_skipped);
    g_test_message("B: hits %lu misses %lu poll_ns %ld sent %lu skipped %lu",
                   (unsigned long)sb.poll_hits, (unsigned long)sb.poll_misses,
                   (long)sb.poll_ns, (unsigned long)sb.notify_sent,
                   (unsigned long)sb.notify_skipped);
    g_assert_cmpuint(sa.poll_hits + sb.poll_hits, >, 0);

    /* Whatever the last wake-ups left (B ran its kick last). */
    while (loom_loop_poll(la, false)) {
    }
    side_destroy(a);
    loom_loop_unref(la);
    loom_loop_unref(lb);
    free(a);
    free(b);
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/poll-mt/pingpong", test_pingpong);
    return g_test_run();
}
