/* SPDX-License-Identifier: MIT */
/*
 * Portable coroutine context switch on top of getcontext/makecontext/
 * swapcontext, for architectures without a hand-written switch (or when
 * built with -Dcoroutine_backend=ucontext).  Much slower than the assembly
 * switches (glibc saves and restores the signal mask with a system call on
 * every switch) but needs nothing beyond POSIX.1-2001.  Runs on whichever
 * thread switches.
 */
#include "co/co-int.h"

#include <errno.h>
#include <stdint.h>

/*
 * makecontext() passes int arguments only: the context pointer travels as
 * two 32-bit halves.
 */
static void trampoline(unsigned int lo, unsigned int hi)
{
    uintptr_t p = ((uintptr_t)hi << 16 << 16) | (uintptr_t)lo;
    struct loom__co_ctx *ctx = (struct loom__co_ctx *)p;

    ctx->start(ctx->xfer, ctx->arg);
    /* The start function never returns (and uc_link is NULL). */
    __builtin_trap();
}

int loom__co_ctx_make(struct loom__co_ctx *ctx, void *stack, size_t size,
                      loom__co_start_fn *start, void *arg)
{
    uintptr_t p = (uintptr_t)ctx;

    if (getcontext(&ctx->uc) != 0) {
        return -errno;
    }
    ctx->uc.uc_stack.ss_sp = stack;
    ctx->uc.uc_stack.ss_size = size;
    ctx->uc.uc_link = NULL;
    ctx->start = start;
    ctx->arg = arg;
    ctx->xfer = NULL;
    makecontext(&ctx->uc, (void (*)(void))trampoline, 2,
                (unsigned int)(p & 0xffffffffu), (unsigned int)(p >> 16 >> 16));
    return 0;
}

void *loom__co_ctx_switch(struct loom__co_ctx *from, struct loom__co_ctx *to,
                          void *val)
{
    to->xfer = val;
    if (swapcontext(&from->uc, &to->uc) != 0) {
        /* Only fails for a corrupted context: an internal invariant. */
        __builtin_trap();
    }
    return from->xfer;
}
