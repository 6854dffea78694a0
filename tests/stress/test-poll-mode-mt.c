/* SPDX-License-Identifier: MIT */
/*
 * Stress: poll mode hooks (loom_set_notifier_poll_hooks()) against a
 * producer in another thread that adds work exactly around the begin and
 * end transitions.  The consumer's handler plays a virtqueue: poll_begin
 * turns "notifications" off, poll_end turns them back on; the producer
 * plays the driver: it publishes an item, then sets the notifier only if
 * notifications are on (a seq_cst store and load on each side, as the
 * virtio ring protocol's barriers).  An item published while poll_end
 * runs, before notifications are back on, sends no notification: only
 * the loop's last on_poll after poll_end finds it.  The hooks linger a
 * random moment after announcing themselves, and the producer often
 * waits for a hook to start before publishing, so that this window is
 * hit thousands of times.
 *
 * The producer waits for each item to be consumed before the next, so a
 * missed item leaves the loop asleep for good: the watchdog fails the
 * test.  Checked: every item consumed once and in order, on_poll_ready
 * exactly as often as on_poll returned true, begin and end alternating,
 * and the end window hit.
 */
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>

#include "harness.h"
#include <loom/clock.h>
#include <loom/loop.h>
#include <loom/notifier.h>

#define ITEMS 30000

struct vq {
    struct loom_notifier n; /* first: notifier callbacks cast back */
    struct loom_loop *l;
    struct harness_watchdog wd;
    /* Atomic, seq_cst: the ring protocol. */
    unsigned long produced;
    int notify_off;
    /* Atomic: bumped by the hooks; odd inside poll_end's window. */
    unsigned long phase;
    /* Atomic: items consumed (written by the consumer). */
    unsigned long consumed;
    /* Producer only. */
    unsigned long kicks, kicks_skipped, in_end_window;
    uint64_t prng;
    /* Consumer (home) only. */
    bool in_mode;
    unsigned long begins, ends, poll_true, poll_ready, events, bad;
    uint64_t crng;
};

static uint64_t rnd(uint64_t *s)
{
    /* xorshift64 */
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void spin_ns(int64_t ns)
{
    int64_t until = loom_clock_ns(LOOM_CLOCK_HOST) + ns;

    while (loom_clock_ns(LOOM_CLOCK_HOST) < until) {
    }
}

/* A hook's pause after announcing itself: the producer's chance. */
static void linger(struct vq *q)
{
    uint64_t x = rnd(&q->crng);

    switch (x % 4) {
    case 0:
        break;
    case 1:
        sched_yield(); /* a producer on this CPU runs now */
        break;
    default:
        spin_ns((int64_t)((x >> 8) % 3000));
        break;
    }
}

static void vq_begin(struct loom_notifier *n)
{
    struct vq *q = (struct vq *)n;

    g_assert_false(q->in_mode);
    q->in_mode = true;
    q->begins++;
    /* Stays even: only poll_end's window is odd. */
    __atomic_fetch_add(&q->phase, 2, __ATOMIC_SEQ_CST);
    linger(q);
    /* Pairs with the seq_cst load in produce(). */
    __atomic_store_n(&q->notify_off, 1, __ATOMIC_SEQ_CST);
}

static void vq_end(struct loom_notifier *n)
{
    struct vq *q = (struct vq *)n;

    g_assert_true(q->in_mode);
    q->in_mode = false;
    q->ends++;
    __atomic_fetch_add(&q->phase, 1, __ATOMIC_SEQ_CST);
    linger(q);
    /*
     * Pairs with the seq_cst load in produce(): either the producer sees
     * notifications on and kicks, or the loop's last on_poll, after this
     * store, sees its item.
     */
    __atomic_store_n(&q->notify_off, 0, __ATOMIC_SEQ_CST);
    __atomic_fetch_add(&q->phase, 1, __ATOMIC_SEQ_CST);
}

static bool vq_pending(struct vq *q)
{
    /* Pairs with the seq_cst store in produce(). */
    return __atomic_load_n(&q->produced, __ATOMIC_SEQ_CST) !=
           __atomic_load_n(&q->consumed, __ATOMIC_RELAXED);
}

static void consume(struct vq *q)
{
    unsigned long p = __atomic_load_n(&q->produced, __ATOMIC_SEQ_CST);
    unsigned long c = __atomic_load_n(&q->consumed, __ATOMIC_RELAXED);

    if (p == c) {
        return;
    }
    if (p != c + 1) {
        q->bad++;
    }
    /* Pairs with the acquire load in producer(). */
    __atomic_store_n(&q->consumed, p, __ATOMIC_RELEASE);
    harness_watchdog_progress(&q->wd);
}

static bool vq_poll(void *opaque)
{
    struct vq *q = (struct vq *)((struct loom_notifier *)opaque);

    if (vq_pending(q)) {
        q->poll_true++;
        return true;
    }
    return false;
}

static void vq_ready(struct loom_notifier *n)
{
    struct vq *q = (struct vq *)n;

    q->poll_ready++;
    consume(q);
}

static void vq_event(struct loom_notifier *n)
{
    struct vq *q = (struct vq *)n;

    loom_notifier_test_and_clear(n);
    q->events++;
    consume(q);
}

static void produce(struct vq *q, unsigned long i)
{
    unsigned long ph;

    /* Pairs with the seq_cst load in vq_pending() / consume(). */
    __atomic_store_n(&q->produced, i, __ATOMIC_SEQ_CST);
    ph = __atomic_load_n(&q->phase, __ATOMIC_SEQ_CST);
    /* Pairs with the seq_cst stores in vq_begin() and vq_end(). */
    if (__atomic_load_n(&q->notify_off, __ATOMIC_SEQ_CST)) {
        q->kicks_skipped++;
        /* Odd phase: inside poll_end, before notifications are on. */
        q->in_end_window += ph & 1;
        return;
    }
    q->kicks++;
    g_assert_cmpint(loom_notifier_set(&q->n), ==, 0);
}

/* Wait until a hook starts (or a while passes). */
static void wait_transition(struct vq *q)
{
    unsigned long ph = __atomic_load_n(&q->phase, __ATOMIC_SEQ_CST);
    int64_t until = loom_clock_ns(LOOM_CLOCK_HOST) + 300 * 1000;

    while (__atomic_load_n(&q->phase, __ATOMIC_SEQ_CST) == ph &&
           loom_clock_ns(LOOM_CLOCK_HOST) < until) {
        sched_yield();
    }
}

static void *producer(void *opaque)
{
    struct vq *q = opaque;
    unsigned long i;
    uint64_t x;

    for (i = 1; i <= ITEMS; i++) {
        x = rnd(&q->prng);
        switch (x % 8) {
        case 0:
        case 1:
        case 2:
            break;
        case 3:
        case 4:
        case 5:
            wait_transition(q);
            break;
        case 6:
            /* Long enough for the loop's window to pass: it sleeps. */
            spin_ns((int64_t)((x >> 8) % 300000));
            break;
        default:
            sched_yield();
            break;
        }
        produce(q, i);
        /* Pairs with the release store in consume(). */
        while (__atomic_load_n(&q->consumed, __ATOMIC_ACQUIRE) != i) {
            sched_yield();
        }
    }
    return NULL;
}

static void test_transitions(void)
{
    struct vq *q = calloc(1, sizeof(*q));
    pthread_t th;

    g_assert_nonnull(q);
    q->prng = 0x9e3779b97f4a7c15ull;
    q->crng = 0xd1b54a32d192ed03ull;
    q->l = harness_loop_new();
    /* A small window that grows and shrinks with the producer's pace. */
    g_assert_cmpint(loom_loop_set_poll_params(q->l, 50 * 1000, 2, 2), ==, 0);
    g_assert_cmpint(loom_notifier_init(&q->n, false), ==, 0);
    g_assert_cmpint(
        loom_set_notifier_handler(q->l, &q->n, vq_event, vq_poll, vq_ready), ==,
        0);
    g_assert_cmpint(
        loom_set_notifier_poll_hooks(q->l, &q->n, vq_begin, vq_end), ==, 0);
    harness_watchdog_start(&q->wd, 20, "an item published around poll_end");
    g_assert_cmpint(pthread_create(&th, NULL, producer, q), ==, 0);
    while (__atomic_load_n(&q->consumed, __ATOMIC_RELAXED) != ITEMS) {
        loom_loop_poll(q->l, true);
    }
    g_assert_cmpint(pthread_join(th, NULL), ==, 0);
    harness_watchdog_stop(&q->wd);
    /*
     * Leave poll mode (every non-blocking poll runs poll_end): begin and
     * end balance.  The last item may have been taken by on_poll while
     * its kick was in flight; that kick is dispatched first (progress),
     * then the loop has nothing left to do.
     */
    for (int extra = 0; loom_loop_poll(q->l, false); extra++) {
        g_assert_cmpint(extra, <, 3);
    }
    g_assert_false(q->in_mode);

    g_test_message("begins %lu ends %lu kicks %lu skipped %lu (in end "
                   "window %lu) events %lu poll_ready %lu",
                   q->begins, q->ends, q->kicks, q->kicks_skipped,
                   q->in_end_window, q->events, q->poll_ready);
    g_assert_cmpuint(q->bad, ==, 0);
    g_assert_cmpuint(q->begins, ==, q->ends);
    g_assert_cmpuint(q->begins, >, 0);
    g_assert_cmpuint(q->poll_ready, ==, q->poll_true);
    g_assert_cmpuint(q->kicks + q->kicks_skipped, ==, ITEMS);
    /* The race this test is about did happen. */
    g_assert_cmpuint(q->in_end_window, >, 0);

    g_assert_cmpint(loom_set_notifier_handler(q->l, &q->n, NULL, NULL, NULL),
                    ==, 0);
    loom_notifier_cleanup(&q->n);
    loom_loop_unref(q->l);
    free(q);
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/poll-mode-mt/transitions", test_transitions);
    return g_test_run();
}
