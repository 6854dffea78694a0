/* SPDX-License-Identifier: MIT */
/*
 * Coroutines: context switch cost and create+destroy cost.
 *
 *  co-switch          a coroutine that yields in a loop, entered again
 *                     and again by the thread: ns per switch (an
 *                     enter+yield pair is two switches).  loom:
 *                     loom_co_enter/loom_co_yield; boost: boost.context's
 *                     jump_fcontext (called from C: the functions are
 *                     extern "C"); ucontext: glibc swapcontext; sigsetjmp:
 *                     sigsetjmp/siglongjmp between stacks made with
 *                     makecontext (QEMU's technique).
 *  co-create/pooled   create a coroutine, enter it, it returns: ns per
 *                     coroutine with stack reuse.  loom: its per-thread
 *                     pool; boost: make_fcontext on a stack from a free
 *                     list, one jump in and one back.
 *  co-create/unpooled the same with a fresh stack each time (mmap with a
 *                     guard page, munmap).  loom: the pools are drained
 *                     after each coroutine.  Every implementation's
 *                     stacks are 1 MiB, as loom's.
 *
 * Single-threaded; CPU time of the calling thread.
 */
/* The sigsetjmp peer jumps between stacks, which glibc's checked longjmp
 * (_FORTIFY_SOURCE, -Dhardening) refuses as "longjmp causes uninitialized
 * stack frame"; QEMU's coroutine-ucontext.c opts out the same way. */
#undef _FORTIFY_SOURCE

#include "common.h"

#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#if BENCH_HAVE_LOOM
#include <loom/co.h>

#include "co/co-int.h"
#endif

/*
 * The peers' stacks are as large as loom's (1 MiB, QEMU's size): a larger
 * mapping costs more to create and destroy, so with smaller stacks
 * co-create/unpooled would partly measure the stack size.
 */
#define STACK_SIZE ((size_t)1 << 20)
#if BENCH_HAVE_LOOM
_Static_assert(STACK_SIZE == LOOM__CO_STACK_SIZE,
               "the peers' stacks are as large as loom's");
#endif

static long g_switch_n;
static long g_create_n;
static long g_unpooled_n;

static void *stack_map(size_t size)
{
    long ps = sysconf(_SC_PAGESIZE);
    char *p = mmap(NULL, size + (size_t)ps, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

    if (p == MAP_FAILED) {
        return NULL;
    }
    if (mprotect(p, (size_t)ps, PROT_NONE) != 0) {
        munmap(p, size + (size_t)ps);
        return NULL;
    }
    return p + ps;
}

static void stack_unmap(void *base, size_t size)
{
    long ps = sysconf(_SC_PAGESIZE);

    munmap((char *)base - ps, size + (size_t)ps);
}

/* ------------------------------------------------------------------ */
/* loom                                                                */

#if BENCH_HAVE_LOOM
static bool g_loom_stop;

static void loom_yielder(void *opaque)
{
    long *count = opaque;

    while (!g_loom_stop) {
        (*count)++;
        loom_co_yield();
    }
}

static int run_switch_loom(void *arg, double *out)
{
    struct loom_co *co;
    long count = 0, i, n = g_switch_n;
    int64_t t0, t1;
    int r = loom_co_create(loom_yielder, &count, &co);

    if (r < 0) {
        return r;
    }
    g_loom_stop = false;
    loom_co_enter(co);
    t0 = bench_thread_cpu_ns();
    for (i = 0; i < n; i++) {
        loom_co_enter(co);
    }
    t1 = bench_thread_cpu_ns();
    g_loom_stop = true;
    loom_co_enter(co);
    if (count != n + 1) {
        return -EPROTO;
    }
    out[0] = (double)(t1 - t0) / (double)(2 * n);
    return 0;
}

static void loom_nop(void *opaque)
{
    (*(long *)opaque)++;
}

static int run_create_loom(void *arg, double *out)
{
    bool unpooled = arg != NULL;
    long n = unpooled ? g_unpooled_n : g_create_n;
    long count = 0, i;
    int64_t t0, t1;

    t0 = bench_thread_cpu_ns();
    for (i = 0; i < n; i++) {
        struct loom_co *co;
        int r = loom_co_create(loom_nop, &count, &co);

        if (r < 0) {
            return r;
        }
        loom_co_enter(co);
        if (unpooled) {
            loom__co_pool_drain();
        }
    }
    t1 = bench_thread_cpu_ns();
    if (count != n) {
        return -EPROTO;
    }
    out[0] = (double)(t1 - t0) / (double)n;
    return 0;
}
#endif

/* ------------------------------------------------------------------ */
/* boost.context fcontext (extern "C" in libboost_context)             */

#ifdef HAVE_BOOST_CONTEXT
typedef void *fcontext_t;
struct fc_transfer {
    fcontext_t fctx;
    void *data;
};
struct fc_transfer jump_fcontext(fcontext_t const to, void *vp);
fcontext_t make_fcontext(void *sp, size_t size, void (*fn)(struct fc_transfer));

static bool g_fc_stop;

static void fc_yielder(struct fc_transfer t)
{
    long *count = t.data;

    while (!g_fc_stop) {
        (*count)++;
        t = jump_fcontext(t.fctx, NULL);
    }
    jump_fcontext(t.fctx, NULL);
    abort();
}

static int run_switch_boost(void *arg, double *out)
{
    void *stack = stack_map(STACK_SIZE);
    long count = 0, i, n = g_switch_n;
    struct fc_transfer t;
    int64_t t0, t1;

    if (!stack) {
        return -ENOMEM;
    }
    g_fc_stop = false;
    t.fctx = make_fcontext((char *)stack + STACK_SIZE, STACK_SIZE, fc_yielder);
    t = jump_fcontext(t.fctx, &count);
    t0 = bench_thread_cpu_ns();
    for (i = 0; i < n; i++) {
        t = jump_fcontext(t.fctx, NULL);
    }
    t1 = bench_thread_cpu_ns();
    g_fc_stop = true;
    (void)jump_fcontext(t.fctx, NULL);
    stack_unmap(stack, STACK_SIZE);
    if (count != n + 1) {
        return -EPROTO;
    }
    out[0] = (double)(t1 - t0) / (double)(2 * n);
    return 0;
}

static void fc_nop(struct fc_transfer t)
{
    (*(long *)t.data)++;
    jump_fcontext(t.fctx, NULL);
    abort();
}

#define FC_POOL 64
static int run_create_boost(void *arg, double *out)
{
    bool unpooled = arg != NULL;
    long n = unpooled ? g_unpooled_n : g_create_n;
    void *pool[FC_POOL];
    int npool = 0;
    long count = 0, i;
    int64_t t0, t1;

    t0 = bench_thread_cpu_ns();
    for (i = 0; i < n; i++) {
        void *stack = npool > 0 ? pool[--npool] : stack_map(STACK_SIZE);
        fcontext_t f;

        if (!stack) {
            return -ENOMEM;
        }
        f = make_fcontext((char *)stack + STACK_SIZE, STACK_SIZE, fc_nop);
        (void)jump_fcontext(f, &count);
        if (unpooled || npool == FC_POOL) {
            stack_unmap(stack, STACK_SIZE);
        } else {
            pool[npool++] = stack;
        }
    }
    t1 = bench_thread_cpu_ns();
    while (npool > 0) {
        stack_unmap(pool[--npool], STACK_SIZE);
    }
    if (count != n) {
        return -EPROTO;
    }
    out[0] = (double)(t1 - t0) / (double)n;
    return 0;
}
#endif

/* ------------------------------------------------------------------ */
/* glibc ucontext                                                      */

static ucontext_t g_uc_main, g_uc_co;
static bool g_uc_stop;
static long g_uc_count;

static void uc_yielder(void)
{
    while (!g_uc_stop) {
        g_uc_count++;
        swapcontext(&g_uc_co, &g_uc_main);
    }
}

static int run_switch_ucontext(void *arg, double *out)
{
    void *stack = stack_map(STACK_SIZE);
    long i, n = g_switch_n / 20; /* two system calls per switch */
    int64_t t0, t1;

    if (!stack) {
        return -ENOMEM;
    }
    g_uc_stop = false;
    g_uc_count = 0;
    getcontext(&g_uc_co);
    g_uc_co.uc_stack.ss_sp = stack;
    g_uc_co.uc_stack.ss_size = STACK_SIZE;
    g_uc_co.uc_link = &g_uc_main;
    makecontext(&g_uc_co, uc_yielder, 0);
    swapcontext(&g_uc_main, &g_uc_co);
    t0 = bench_thread_cpu_ns();
    for (i = 0; i < n; i++) {
        swapcontext(&g_uc_main, &g_uc_co);
    }
    t1 = bench_thread_cpu_ns();
    g_uc_stop = true;
    swapcontext(&g_uc_main, &g_uc_co);
    stack_unmap(stack, STACK_SIZE);
    if (g_uc_count != n + 1) {
        return -EPROTO;
    }
    out[0] = (double)(t1 - t0) / (double)(2 * n);
    return 0;
}

/* ------------------------------------------------------------------ */
/* sigsetjmp/siglongjmp (stack set up once with makecontext)           */

static sigjmp_buf g_sj_main, g_sj_co;
static ucontext_t g_sj_uc_main, g_sj_uc_co;
static volatile bool g_sj_stop;
static volatile long g_sj_count;

static void sj_start(void)
{
    /* Save a jump target on the new stack and go back to the creator. */
    if (!sigsetjmp(g_sj_co, 0)) {
        swapcontext(&g_sj_uc_co, &g_sj_uc_main);
    }
    while (!g_sj_stop) {
        g_sj_count++;
        if (!sigsetjmp(g_sj_co, 0)) {
            siglongjmp(g_sj_main, 1);
        }
    }
    siglongjmp(g_sj_main, 1);
}

static int run_switch_sigsetjmp(void *arg, double *out)
{
    void *stack = stack_map(STACK_SIZE);
    long n = g_switch_n;
    volatile long i;
    int64_t t0, t1;

    if (!stack) {
        return -ENOMEM;
    }
    g_sj_stop = false;
    g_sj_count = 0;
    getcontext(&g_sj_uc_co);
    g_sj_uc_co.uc_stack.ss_sp = stack;
    g_sj_uc_co.uc_stack.ss_size = STACK_SIZE;
    g_sj_uc_co.uc_link = NULL;
    makecontext(&g_sj_uc_co, sj_start, 0);
    swapcontext(&g_sj_uc_main, &g_sj_uc_co);
    t0 = bench_thread_cpu_ns();
    for (i = 0; i < n; i++) {
        if (!sigsetjmp(g_sj_main, 0)) {
            siglongjmp(g_sj_co, 1);
        }
    }
    t1 = bench_thread_cpu_ns();
    g_sj_stop = true;
    if (!sigsetjmp(g_sj_main, 0)) {
        siglongjmp(g_sj_co, 1);
    }
    stack_unmap(stack, STACK_SIZE);
    if (g_sj_count != n) {
        return -EPROTO;
    }
    out[0] = (double)(t1 - t0) / (double)(2 * n);
    return 0;
}

int main(int argc, char **argv)
{
    const struct bench_impl sw[] = {
#if BENCH_HAVE_LOOM
        {"loom", run_switch_loom, NULL},
#endif
#ifdef HAVE_BOOST_CONTEXT
        {"boost", run_switch_boost, NULL},
#endif
        {"ucontext", run_switch_ucontext, NULL},
        {"sigsetjmp", run_switch_sigsetjmp, NULL},
    };
    static int unpooled = 1;
    const struct bench_impl pooled_impls[] = {
#if BENCH_HAVE_LOOM
        {"loom", run_create_loom, NULL},
#endif
#ifdef HAVE_BOOST_CONTEXT
        {"boost", run_create_boost, NULL},
#endif
    };
    const struct bench_impl unpooled_impls[] = {
#if BENCH_HAVE_LOOM
        {"loom", run_create_loom, &unpooled},
#endif
#ifdef HAVE_BOOST_CONTEXT
        {"boost", run_create_boost, &unpooled},
#endif
    };
    const struct bench_figure fsw = {"co-switch", "ns/op", 1, {NULL}};
    const struct bench_figure fpool = {"co-create/pooled", "ns/op", 1, {NULL}};
    const struct bench_figure funpool = {
        "co-create/unpooled", "ns/op", 1, {NULL}};

    bench_init(argc, argv, "bench-co");
    g_switch_n = bench_size(20000000, 100);
    g_create_n = bench_size(5000000, 100);
    g_unpooled_n = bench_size(20000, 100);

    bench_run(&fsw, sw, (int)(sizeof(sw) / sizeof(sw[0])));
    if (sizeof(pooled_impls) > 0) {
        bench_run(&fpool, pooled_impls,
                  (int)(sizeof(pooled_impls) / sizeof(pooled_impls[0])));
        bench_run(&funpool, unpooled_impls,
                  (int)(sizeof(unpooled_impls) / sizeof(unpooled_impls[0])));
    }
    return bench_finish();
}
