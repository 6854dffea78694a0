/* SPDX-License-Identifier: MIT */
/*
 * Allocation failure where the API promises -ENOMEM (issue 10, item 4):
 * every allocation the library makes on the calling thread is made to
 * fail in turn - the first, then the second, ... - until the call needs
 * no more, and each time the call must return 0 or -ENOMEM (nothing
 * else, no abort), leave no leak (ASan's leak check at exit), and leave
 * what it was called on working: the loop still runs BHs, timers and fd
 * handlers, the pool still runs jobs, threads still start.
 *
 * The library's malloc, calloc, realloc, aligned_alloc, posix_memalign
 * and strdup are wrapped at link time (-Wl,--wrap=..., see meson.build),
 * so only libloom's own calls (and this program's) can fail, and only
 * on the thread that armed the failure; GLib's are untouched.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <loom/bh.h>
#include <loom/clock.h>
#include <loom/co.h>
#include <loom/iothread.h>
#include <loom/loop.h>
#include <loom/pool.h>
#include <loom/thread.h>
#include <loom/timer.h>

#include "harness.h"

/* ---- The wrappers ------------------------------------------------------ */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);
int __real_posix_memalign(void **p, size_t align, size_t n);
char *__real_strdup(const char *s);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t align, size_t n);
int __wrap_posix_memalign(void **p, size_t align, size_t n);
char *__wrap_strdup(const char *s);

/* This thread's allocations: counted while armed; the fail_at-th fails. */
static __thread unsigned t_fail_at, t_count;

static bool fail_now(void)
{
    return t_fail_at && ++t_count == t_fail_at;
}

void *__wrap_malloc(size_t n)
{
    return fail_now() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return fail_now() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return fail_now() ? NULL : __real_realloc(p, n);
}

void *__wrap_aligned_alloc(size_t align, size_t n)
{
    return fail_now() ? NULL : __real_aligned_alloc(align, n);
}

int __wrap_posix_memalign(void **p, size_t align, size_t n)
{
    return fail_now() ? ENOMEM : __real_posix_memalign(p, align, n);
}

char *__wrap_strdup(const char *s)
{
    return fail_now() ? NULL : __real_strdup(s);
}

/* Fail the @n-th allocation of this thread from now on (0: none). */
static void arm(unsigned n)
{
    t_count = 0;
    t_fail_at = n;
}

/* Disarm; whether the armed failure happened. */
static bool disarm(void)
{
    bool hit = t_fail_at && t_count >= t_fail_at;

    t_fail_at = 0;
    return hit;
}

/*
 * Run @op with the 1st, 2nd, ... allocation failing until one run needs
 * fewer allocations than that; each run gives 0 or -ENOMEM, and -ENOMEM
 * only when the failure was hit.  @undo releases what a successful run
 * made; @check proves the object still works.  Returns how many
 * allocations the call made (each was failed once).
 */
static unsigned each_failure(const char *what, int (*op)(void *), void *arg,
                             void (*undo)(void *), void (*check)(void *))
{
    unsigned n;

    for (n = 1;; n++) {
        int r;
        bool hit;

        arm(n);
        r = op(arg);
        hit = disarm();
        if (r != 0 && r != -ENOMEM) {
            g_error("%s with allocation %u failing: %d", what, n, r);
        }
        if (hit && r == 0) {
            /* Some allocations may have a fallback: allowed, once. */
            g_test_message("%s: allocation %u failed, call succeeded", what, n);
        }
        if (!hit) {
            g_assert_cmpint(r, ==, 0);
        }
        if (r == 0) {
            undo(arg);
        }
        if (check) {
            check(arg);
        }
        if (!hit) {
            break;
        }
    }
    g_test_message("%s: %u allocations, each failed once", what, n - 1);
    return n - 1;
}

/* ---- A loop to work on -------------------------------------------------- */

struct ctx {
    struct loom_loop *loop;
    struct loom_loop *made;
    struct loom_bh *bh;
    struct loom_timer *timer;
    struct loom_thread *thread;
    struct loom_iothread *io;
    struct loom_co *co;
    int efd;
    unsigned runs;
};

static void count_cb(void *opaque)
{
    ((struct ctx *)opaque)->runs++;
}

/* The loop still runs a BH and a timer. */
static void check_loop(void *arg)
{
    struct ctx *c = arg;
    struct loom_timer *t;
    struct loom_bh *bh;
    unsigned before = c->runs;

    g_assert_cmpint(loom_bh_new(c->loop, count_cb, c, "check", &bh), ==, 0);
    g_assert_cmpint(loom_timer_new(c->loop, LOOM_CLOCK_HOST, count_cb, c, &t),
                    ==, 0);
    loom_bh_schedule(bh);
    loom_timer_mod(t, loom_clock_ns(LOOM_CLOCK_HOST));
    while (c->runs < before + 2) {
        (void)loom_loop_poll(c->loop, true);
    }
    loom_timer_free(t);
    loom_bh_free(bh);
}

static int op_loop_new(void *arg)
{
    return loom_loop_new(&((struct ctx *)arg)->made);
}

static void undo_loop_new(void *arg)
{
    struct ctx *c = arg;

    loom_loop_unref(c->made);
    c->made = NULL;
}

static int op_bh_new(void *arg)
{
    struct ctx *c = arg;

    return loom_bh_new(c->loop, count_cb, c, "enomem", &c->bh);
}

static void undo_bh_new(void *arg)
{
    loom_bh_free(((struct ctx *)arg)->bh);
}

static int op_bh_oneshot(void *arg)
{
    struct ctx *c = arg;

    return loom_bh_oneshot(c->loop, count_cb, c);
}

/* A oneshot BH frees itself once it ran. */
static void undo_oneshot(void *arg)
{
    struct ctx *c = arg;
    unsigned before = c->runs;

    while (c->runs == before) {
        (void)loom_loop_poll(c->loop, true);
    }
}

static int op_timer_new(void *arg)
{
    struct ctx *c = arg;

    return loom_timer_new(c->loop, LOOM_CLOCK_VIRTUAL, count_cb, c, &c->timer);
}

static void undo_timer_new(void *arg)
{
    loom_timer_free(((struct ctx *)arg)->timer);
}

static void on_readable(void *opaque)
{
    struct ctx *c = opaque;
    uint64_t v;

    g_assert_cmpint(read(c->efd, &v, sizeof(v)), ==, sizeof(v));
    c->runs++;
}

static int op_fd_handler(void *arg)
{
    struct ctx *c = arg;

    return loom_set_fd_handler(c->loop, c->efd, on_readable, NULL, NULL, NULL,
                               c);
}

/* The handler works, then goes. */
static void undo_fd_handler(void *arg)
{
    struct ctx *c = arg;
    uint64_t one = 1;
    unsigned before = c->runs;

    g_assert_cmpint(write(c->efd, &one, sizeof(one)), ==, sizeof(one));
    while (c->runs == before) {
        (void)loom_loop_poll(c->loop, true);
    }
    g_assert_cmpint(
        loom_set_fd_handler(c->loop, c->efd, NULL, NULL, NULL, NULL, NULL), ==,
        0);
}

static int job(void *arg)
{
    return 7;
}

static void job_done(void *opaque, int ret)
{
    struct ctx *c = opaque;

    g_assert_cmpint(ret, ==, 7);
    c->runs++;
}

static int op_pool_submit(void *arg)
{
    struct ctx *c = arg;
    /* Created on first use: NULL when memory ran out (pool.h). */
    struct loom_pool *p = loom_loop_pool(c->loop);

    if (!p) {
        return -ENOMEM;
    }
    return loom_pool_submit(p, job, NULL, job_done, c, NULL);
}

static void undo_pool_submit(void *arg)
{
    struct ctx *c = arg;
    unsigned before = c->runs;

    while (c->runs == before) {
        (void)loom_loop_poll(c->loop, true);
    }
}

/* The pool still runs a job. */
static void check_pool(void *arg)
{
    g_assert_cmpint(op_pool_submit(arg), ==, 0);
    undo_pool_submit(arg);
}

static void *thread_fn(void *arg)
{
    return arg;
}

static int op_thread_create(void *arg)
{
    struct ctx *c = arg;

    return loom_thread_create(&c->thread, "enomem", thread_fn, c,
                              LOOM_THREAD_JOINABLE);
}

static void undo_thread_create(void *arg)
{
    struct ctx *c = arg;
    void *ret = NULL;

    g_assert_cmpint(loom_thread_join(c->thread, &ret), ==, 0);
    g_assert_true(ret == c);
}

static int op_iothread_new(void *arg)
{
    return loom_iothread_new("enomem-io", NULL, &((struct ctx *)arg)->io);
}

static int io_fn(void *arg)
{
    return 5;
}

/* It runs work, and goes. */
static void undo_iothread_new(void *arg)
{
    struct ctx *c = arg;

    g_assert_cmpint(loom_iothread_run(c->io, io_fn, NULL), ==, 5);
    loom_iothread_free(c->io);
}

static void co_entry(void *opaque)
{
    ((struct ctx *)opaque)->runs++;
}

static int op_co_create(void *arg)
{
    struct ctx *c = arg;

    return loom_co_create(co_entry, c, &c->co);
}

static void undo_co_create(void *arg)
{
    struct ctx *c = arg;
    unsigned before = c->runs;

    loom_co_enter(c->co); /* runs to its end and is freed */
    g_assert_cmpuint(c->runs, ==, before + 1);
}

static void ctx_init(struct ctx *c)
{
    memset(c, 0, sizeof(*c));
    c->loop = harness_loop_new();
    c->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    g_assert_cmpint(c->efd, >=, 0);
}

static void ctx_destroy(struct ctx *c)
{
    close(c->efd);
    loom_loop_unref(c->loop);
}

static void test_loop(void)
{
    struct ctx c;

    ctx_init(&c);
    g_assert_cmpuint(
        each_failure("loom_loop_new", op_loop_new, &c, undo_loop_new, NULL), >,
        0);
    each_failure("loom_bh_new", op_bh_new, &c, undo_bh_new, check_loop);
    each_failure("loom_bh_oneshot", op_bh_oneshot, &c, undo_oneshot,
                 check_loop);
    each_failure("loom_timer_new", op_timer_new, &c, undo_timer_new,
                 check_loop);
    each_failure("loom_set_fd_handler", op_fd_handler, &c, undo_fd_handler,
                 check_loop);
    ctx_destroy(&c);
}

static void test_pool(void)
{
    struct ctx c;

    ctx_init(&c);
    /* The first submission creates the pool and a worker. */
    g_assert_cmpuint(each_failure("loom_pool_submit", op_pool_submit, &c,
                                  undo_pool_submit, check_pool),
                     >, 0);
    ctx_destroy(&c);
}

static void test_threads(void)
{
    struct ctx c;

    ctx_init(&c);
    g_assert_cmpuint(each_failure("loom_thread_create", op_thread_create, &c,
                                  undo_thread_create, NULL),
                     >, 0);
    g_assert_cmpuint(each_failure("loom_iothread_new", op_iothread_new, &c,
                                  undo_iothread_new, NULL),
                     >, 0);
    each_failure("loom_co_create", op_co_create, &c, undo_co_create,
                 check_loop);
    ctx_destroy(&c);
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/enomem/loop", test_loop);
    g_test_add_func("/enomem/pool", test_pool);
    g_test_add_func("/enomem/threads", test_threads);
    return g_test_run();
}
