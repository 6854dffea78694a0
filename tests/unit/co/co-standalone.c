/* SPDX-License-Identifier: MIT */
/*
 * Standalone coroutine check without GLib or loops, for cross-built
 * targets run under qemu-user (scripts/test-aarch64-co): create, enter,
 * yield, callee-saved integer and floating-point registers across
 * switches, 25,000 mutual enters, pool reuse, CoMutex FIFO hand-over,
 * coroutines moving between threads.  Prints one line per check; exit
 * status 0 when all passed.
 *
 * Built from the coroutine sources plus the few base files they use; the
 * loop layer's part (the current loop, cross-thread wake-ups) is replaced
 * below by its no-loop equivalent.
 */
#include <loom/co.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "co/co-int.h"

static int g_failed;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
            g_failed++;                                                        \
        }                                                                      \
    } while (0)

/*
 * The loop layer, which this program does not link: no thread runs a
 * loop (loom_loop_current() would be NULL everywhere), and a wake-up can
 * only be local (the loop-facing half of loom_co_wake() fails).
 */
__thread struct loom_loop *loom__t_loop
    __attribute__((tls_model("initial-exec")));

void loom_co_wake(struct loom_co *co)
{
    if (co && !loom__co_wake_here(co)) {
        fprintf(stderr, "unexpected cross-thread loom_co_wake(%p)\n",
                (void *)co);
        abort();
    }
}

static struct loom_co *co_new(void (*fn)(void *), void *opaque)
{
    struct loom_co *co = NULL;

    if (loom_co_create(fn, opaque, &co) != 0) {
        fprintf(stderr, "loom_co_create failed\n");
        exit(1);
    }
    return co;
}

/* ------------------------------------------------------------------ */

static void yield3(void *opaque)
{
    int *n = opaque;

    (*n)++;
    loom_co_yield();
    (*n)++;
    loom_co_yield();
    (*n)++;
}

static void check_basic(void)
{
    int n = 0;
    struct loom_co *co = co_new(yield3, &n);

    CHECK(!loom_in_co());
    loom_co_enter(co);
    CHECK(n == 1);
    loom_co_enter(co);
    CHECK(n == 2);
    loom_co_enter(co);
    CHECK(n == 3);
    CHECK(loom_co_self() == NULL);
    printf("ok basic\n");
}

/*
 * Keep values live in registers across switches: the compiler puts them
 * in callee-saved registers (integer and FP) since yield is a call.
 */
struct regs {
    double d;
    long i;
    int ok;
};

static __attribute__((noinline)) double fp_work(double a, double b)
{
    __asm__ __volatile__("" : : : "memory");
    return a * 1.5 + b;
}

static void regs_fn(void *opaque)
{
    struct regs *r = opaque;
    double d0 = r->d, d1 = r->d * 2, d2 = r->d * 3, d3 = r->d * 4;
    double d4 = r->d * 5, d5 = r->d * 6, d6 = r->d * 7, d7 = r->d * 8;
    long i0 = r->i, i1 = r->i + 1, i2 = r->i + 2, i3 = r->i + 3;
    long i4 = r->i + 4, i5 = r->i + 5;
    int k;

    r->ok = 1;
    for (k = 0; k < 100; k++) {
        loom_co_yield();
        if (d0 + d1 + d2 + d3 + d4 + d5 + d6 + d7 != r->d * 36 ||
            i0 + i1 + i2 + i3 + i4 + i5 != r->i * 6 + 15) {
            r->ok = 0;
        }
        d0 = fp_work(d0, 0) / 1.5;
    }
}

static void check_registers(void)
{
    struct regs a = {.d = 1.25, .i = 1000}, b = {.d = -3.5, .i = -77};
    struct loom_co *ca = co_new(regs_fn, &a), *cb = co_new(regs_fn, &b);
    double mine = 0.5;
    int k;

    for (k = 0; k <= 100; k++) {
        loom_co_enter(ca);
        mine = fp_work(mine, 1);
        loom_co_enter(cb);
    }
    CHECK(a.ok && b.ok);
    CHECK(mine > 0);
    printf("ok registers\n");
}

/* ------------------------------------------------------------------ */

#define PINGPONG 25000
static struct loom_co *g_pp[2];
static int g_pp_count[2];

static void pingpong_fn(void *opaque)
{
    int me = (int)(intptr_t)opaque;
    int i;

    for (i = 0; i < PINGPONG; i++) {
        g_pp_count[me]++;
        if (i < PINGPONG - 1 || me == 0) {
            loom_co_enter(g_pp[!me]);
        }
        if (i < PINGPONG - 1) {
            loom_co_yield();
        }
    }
}

static void check_pingpong(void)
{
    g_pp[0] = co_new(pingpong_fn, (void *)(intptr_t)0);
    g_pp[1] = co_new(pingpong_fn, (void *)(intptr_t)1);
    loom_co_enter(g_pp[0]);
    CHECK(g_pp_count[0] == PINGPONG && g_pp_count[1] == PINGPONG);
    printf("ok pingpong\n");
}

static void nop_fn(void *opaque)
{
    (*(int *)opaque)++;
}

static void check_pool(void)
{
    int n = 0;
    struct loom_co *a = co_new(nop_fn, &n), *b;
    int i;

    loom_co_enter(a);
    b = co_new(nop_fn, &n);
    CHECK(a == b);
    loom_co_enter(b);
    for (i = 0; i < 1000; i++) {
        loom_co_enter(co_new(nop_fn, &n));
    }
    CHECK(n == 1002);
    printf("ok pool\n");
}

/* ------------------------------------------------------------------ */

static struct loom_co_mutex g_m;
static int g_order[8], g_norder;

static void mutex_fn(void *opaque)
{
    loom_co_mutex_lock(&g_m);
    g_order[g_norder++] = (int)(intptr_t)opaque;
    loom_co_yield();
    loom_co_mutex_unlock(&g_m);
}

static void check_mutex(void)
{
    struct loom_co *co[4];
    int i;

    loom_co_mutex_init(&g_m);
    for (i = 0; i < 4; i++) {
        co[i] = co_new(mutex_fn, (void *)(intptr_t)i);
        loom_co_enter(co[i]);
    }
    for (i = 0; i < 4; i++) {
        loom_co_enter(co[i]);
    }
    CHECK(g_norder == 4);
    for (i = 0; i < 4; i++) {
        CHECK(g_order[i] == i);
    }
    printf("ok mutex\n");
}

/* A coroutine entered alternately by two threads (handed over by join). */
static void *enter_in_thread(void *arg)
{
    loom_co_enter(arg);
    return NULL;
}

static void migrate_fn(void *opaque)
{
    int i;

    for (i = 0; i < 10; i++) {
        (*(int *)opaque)++;
        loom_co_yield();
    }
}

static void check_threads(void)
{
    int n = 0, i;
    struct loom_co *co = co_new(migrate_fn, &n);

    for (i = 0; i <= 10; i++) {
        pthread_t th;

        if (i % 2) {
            loom_co_enter(co);
            continue;
        }
        if (pthread_create(&th, NULL, enter_in_thread, co) != 0 ||
            pthread_join(th, NULL) != 0) {
            fprintf(stderr, "pthread failed\n");
            exit(1);
        }
    }
    CHECK(n == 10);
    printf("ok threads\n");
}

int main(void)
{
    check_basic();
    check_registers();
    check_pingpong();
    check_pool();
    check_mutex();
    check_threads();
    loom__co_pool_drain();
    if (g_failed) {
        printf("FAILED: %d checks\n", g_failed);
        return 1;
    }
    printf("all passed\n");
    return 0;
}
