/* SPDX-License-Identifier: MIT */
/*
 * Stress for the fd monitors, io_uring above all: two threads write
 * eventfds, schedule a BH and notify while the home thread polls, removes
 * and re-adds handlers (polls in flight become tombstones) and switches
 * poll -> io_uring -> epoll -> AUTO at run time.  A removed handler must
 * never be called, and every write must be counted exactly once in the
 * end (an eventfd sums its writes, so nothing may be lost or doubled).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "harness.h"
#include <loom/bh.h>
#include <loom/loop.h>

#define NWRITERS 2
#define NFDS 16
#define WRITES 200000

struct sfd {
    int fd;
    bool registered;   /* home thread only */
    uint64_t received; /* home thread only */
    uint64_t sent;     /* atomic */
};

static struct sfd g_fds[NFDS];
static struct loom_loop *g_loop;
static struct loom_bh *g_bh;
static unsigned g_bh_runs;
static int g_writers_done; /* atomic */

static void on_read(void *opaque)
{
    struct sfd *s = opaque;
    uint64_t v;

    g_assert_true(s->registered);
    if (read(s->fd, &v, sizeof(v)) == sizeof(v)) {
        s->received += v;
    }
}

static void on_bh(void *opaque)
{
    g_bh_runs++;
}

static void set(struct sfd *s, bool on)
{
    g_assert_cmpint(loom_set_fd_handler(g_loop, s->fd, on ? on_read : NULL,
                                        NULL, NULL, NULL, on ? s : NULL),
                    ==, 0);
    s->registered = on;
}

static void *writer(void *opaque)
{
    unsigned seed = (unsigned)(uintptr_t)opaque * 7919u + 1;
    uint64_t one = 1;
    int i;

    for (i = 0; i < WRITES; i++) {
        struct sfd *s;

        seed = seed * 1103515245u + 12345u;
        s = &g_fds[(seed >> 16) % NFDS];
        /* Count first: the home thread may read the write at once. */
        __atomic_fetch_add(&s->sent, 1, __ATOMIC_RELAXED);
        g_assert_cmpint(write(s->fd, &one, sizeof(one)), ==, sizeof(one));
        if (i % 64 == 0) {
            loom_bh_schedule(g_bh);
        } else if (i % 64 == 32) {
            loom_loop_notify(g_loop);
        }
    }
    /* Pairs with the acquire load in test_churn(); the BH wakes it. */
    __atomic_fetch_add(&g_writers_done, 1, __ATOMIC_RELEASE);
    loom_bh_schedule(g_bh);
    return NULL;
}

static bool all_received(void)
{
    int i;

    for (i = 0; i < NFDS; i++) {
        if (g_fds[i].received !=
            __atomic_load_n(&g_fds[i].sent, __ATOMIC_RELAXED)) {
            return false;
        }
    }
    return true;
}

static void test_churn(void)
{
    static const enum loom_fdmon kinds[] = {
        LOOM_FDMON_POLL,
        LOOM_FDMON_IO_URING,
        LOOM_FDMON_EPOLL,
        LOOM_FDMON_AUTO,
    };
    pthread_t th[NWRITERS];
    int64_t deadline;
    unsigned iter = 0, seed = 12345;
    int i, ret;

    g_loop = harness_loop_new();
    g_assert_cmpint(loom_bh_new(g_loop, on_bh, NULL, "stress", &g_bh), ==, 0);
    for (i = 0; i < NFDS; i++) {
        g_fds[i] = (struct sfd){.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)};
        g_assert_cmpint(g_fds[i].fd, >=, 0);
        set(&g_fds[i], true);
    }
    for (i = 0; i < NWRITERS; i++) {
        g_assert_cmpint(
            pthread_create(&th[i], NULL, writer, (void *)(uintptr_t)i), ==, 0);
    }
    deadline = harness_now_ns() + 2 * HARNESS_WATCHDOG_NS;
    /* Churn while the writers run. */
    while (__atomic_load_n(&g_writers_done, __ATOMIC_ACQUIRE) < NWRITERS) {
        harness_watchdog(deadline, "every writer finished");
        loom_loop_poll(g_loop, true);
        iter++;
        seed = seed * 1103515245u + 12345u;
        if (iter % 8 == 0) {
            struct sfd *s = &g_fds[(seed >> 16) % NFDS];

            /* Off for a few iterations, with its poll in flight. */
            set(s, !s->registered);
        }
        if (iter % 256 == 0) {
            ret = loom_loop_set_fdmon(g_loop, kinds[(iter / 256) % 4]);
            g_assert_true(ret == 0 || ret == -ENOTSUP);
        }
    }
    /* Everyone back: every write must be counted, once. */
    for (i = 0; i < NFDS; i++) {
        if (!g_fds[i].registered) {
            set(&g_fds[i], true);
        }
    }
    while (!all_received()) {
        harness_watchdog(deadline, "all_received()");
        loom_loop_poll(g_loop, false);
    }
    g_assert_cmpuint(g_bh_runs, >, 0);
    g_test_message("%u iterations, %u BH runs", iter, g_bh_runs);
    for (i = 0; i < NWRITERS; i++) {
        g_assert_cmpint(pthread_join(th[i], NULL), ==, 0);
    }
    g_assert_true(all_received());
    for (i = 0; i < NFDS; i++) {
        set(&g_fds[i], false);
        close(g_fds[i].fd);
    }
    loom_bh_free(g_bh);
    loom_loop_unref(g_loop);
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/fdmon-uring-mt/churn", test_churn);
    return g_test_run();
}
