/* SPDX-License-Identifier: MIT */
/*
 * Internal interface of the coroutine module: the context-switch backend
 * (co-switch-*.{S,c}), the stack allocator (co-stack.c), the coroutine
 * object and the per-thread state shared by co.c, co-lock.c and
 * co-loop.c.
 */
#ifndef LOOM_CO_INT_H
#define LOOM_CO_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <loom/co.h>

#include "co/co-config.h"
#include "loop/loop-int.h"

/* ------------------------------------------------------------------ */
/* Context switch backend.                                            */

/*
 * The function a fresh context starts in.  @val is the value passed by
 * the first switch into it, @arg the one given to loom__co_ctx_make().
 * It must never return.
 */
typedef void loom__co_start_fn(void *val, void *arg);

#if LOOM_CO_BACKEND_ASM

/* A suspended context is its stack pointer; the rest is on its stack. */
struct loom__co_ctx {
    void *sp;
};

/*
 * loom__co_swap() - save the callee-saved registers on the current stack,
 * store the stack pointer in *@save_sp, switch to @new_sp and resume the
 * context saved there, which sees @val as the return value of its own
 * loom__co_swap() call (or as the first argument of its start function).
 * Written in assembly (co-switch-<arch>.S).
 * Context: the thread owning both contexts.
 */
void *loom__co_swap(void **save_sp, void *new_sp, void *val);

#if defined(__x86_64__)
/*
 * loom__co_swap_exit() - loom__co_swap() for a finished coroutine, whose
 * entry function has returned: the ABI then guarantees that the MXCSR
 * control bits and the x87 control word are @fp_ctl, the ones the
 * coroutine started with (loom__co_ctx_fp()), so the switch need not
 * read them.  The parked frame gets @fp_ctl.  Assembly.
 * Context: the thread owning both contexts.
 */
void *loom__co_swap_exit(void **save_sp, void *new_sp, void *val,
                         uint64_t fp_ctl);

/*
 * The floating-point control word a fresh context from
 * loom__co_ctx_make() starts with: its frame's first word (MXCSR, then
 * the x87 control word).
 */
static inline uint64_t loom__co_ctx_fp(const struct loom__co_ctx *ctx)
{
    uint64_t w;

    memcpy(&w, ctx->sp, sizeof(w));
    return w;
}
#else
/* Nothing but the integer and vector registers travels. */
static inline void *loom__co_swap_exit(void **save_sp, void *new_sp,
                                       void *val, uint64_t fp_ctl)
{
    (void)fp_ctl;
    return loom__co_swap(save_sp, new_sp, val);
}

static inline uint64_t loom__co_ctx_fp(const struct loom__co_ctx *ctx)
{
    (void)ctx;
    return 0;
}
#endif

static inline void *loom__co_ctx_switch(struct loom__co_ctx *from,
                                        struct loom__co_ctx *to, void *val)
{
    return loom__co_swap(&from->sp, to->sp, val);
}

#else /* ucontext */

#include <ucontext.h>

struct loom__co_ctx {
    ucontext_t uc;
    void *xfer; /* value handed to this context when it is resumed */
    loom__co_start_fn *start;
    void *arg;
};

/* Context: the thread owning both contexts.  Defined in
 * co-switch-ucontext.c. */
void *loom__co_ctx_switch(struct loom__co_ctx *from, struct loom__co_ctx *to,
                          void *val);

#endif

/*
 * loom__co_ctx_make() - prepare @ctx so that the first switch into it
 * calls @start(val, @arg) on the stack [@stack, @stack + @size).
 * Context: any.
 * Return: 0, or -errno from the backend.
 */
int loom__co_ctx_make(struct loom__co_ctx *ctx, void *stack, size_t size,
                      loom__co_start_fn *start, void *arg);

/* ------------------------------------------------------------------ */
/* Stacks (co-stack.c).                                               */

/* Usable stack size of every coroutine (the guard page comes on top). */
#define LOOM__CO_STACK_SIZE ((size_t)1 << 20)

/*
 * struct loom__co_stack - one mapping: a guard page at the bottom, the
 * usable stack above it and @hdr_size bytes at the very top reserved for
 * the caller (the coroutine object lives there).
 */
struct loom__co_stack {
    void *map;       /* start of the mapping (the guard page) */
    size_t map_size; /* whole mapping */
    void *base;      /* lowest usable stack byte */
    size_t size;     /* usable stack bytes, 16-byte multiple */
    void *hdr;       /* the reserved header, 64-byte aligned */
#if LOOM_CO_VALGRIND
    unsigned vg_id; /* Valgrind's stack id (VALGRIND_STACK_REGISTER) */
#endif
};

/*
 * loom__co_stack_map() - map a stack with a guard page.
 * Context: any.
 * Return: 0, or -ENOMEM.
 */
int loom__co_stack_map(struct loom__co_stack *st, size_t hdr_size);

/*
 * loom__co_stack_unmap() - return a stack's memory to the system.  The
 * descriptor may live inside the header being unmapped: it is copied
 * first.
 * Context: any thread not running on that stack.
 */
void loom__co_stack_unmap(const struct loom__co_stack *st);

/* ------------------------------------------------------------------ */
/* Coroutine objects.                                                 */

/* The two enterable states come first: one comparison tests for both. */
enum loom__co_state {
    LOOM__CO_YIELDED,  /* suspended by loom_co_yield() */
    LOOM__CO_CREATED,  /* created, never entered */
    LOOM__CO_QUEUED,   /* waiting in a thread's queue of pending enters */
    LOOM__CO_RUNNING,  /* on a thread right now */
    LOOM__CO_FINISHED, /* entry returned; about to be released */
    LOOM__CO_FREE,     /* in a pool; the handle is dead */
};

struct loom__co_thread;

struct loom_co {
    /*
     * Owned by whoever runs or enters the coroutine; another thread only
     * after a hand-off that orders it (a BH, a lock's spinlock).
     */
    struct loom__co_ctx ctx;
    void (*entry)(void *);
    void *opaque;
    enum loom__co_state state;
    struct loom__co_thread *thread; /* the thread it last ran on */
    struct loom_loop *loop;         /* the loop it last ran in, or NULL */
    struct loom_co *pending_next;   /* thread's queue of pending enters */
    /*
     * Run by the thread's dispatcher once the coroutine has yielded and
     * its context is completely saved (then cleared); with @after_arg.
     */
    void (*after_yield)(struct loom_co *co, void *arg);
    void *after_arg;

    /* Protected by the lock or queue the coroutine waits in. */
    struct loom_co *wait_next;
    bool wait_write; /* rwlock: waits for write mode */
    bool granted;    /* lock handed over by the unlocker */

    /*
     * Atomic: set by loom_co_schedule(), cleared by the dispatching BH;
     * see co-loop.c.  @sched_loop is written before the BH is published.
     */
    int scheduled;
    struct loom_loop *sched_loop;

    /*
     * The floating-point control state the coroutine starts with (its
     * first frame's, loom__co_ctx_fp()); its entry function returns with
     * the same (the ABI makes it callee-saved).  Asm backend only.
     */
    uint64_t fp_ctl;

    /* The pool's link, and the memory this object lives in. */
    struct loom_co *pool_next;
    struct loom__co_stack stack;

    /* Sanitizer fiber state (unused in other builds). */
    void *tsan_fiber;
    void *asan_fake;
};

/*
 * Per-thread state.  Only the owning thread touches it, and only from its
 * own native stack or through the pointer handed to a coroutine by the
 * switch that resumed it (never by reading TLS inside a coroutine after a
 * switch: the coroutine may have moved to another thread).
 */
struct loom__co_thread {
    /*
     * Must stay first: loom__co_post_tramp reads it at offset 0.  The
     * return address the context resumed through loom__co_post_tramp
     * really returns to.
     */
    void *post_ret;
    /*
     * Work left by the context that just switched away, for the context
     * it switched to, which runs it before anything else (the previous
     * stack is only free once the switch is over): a finished coroutine
     * to release to the global pool, or a coroutine whose after_yield
     * hook must run.
     */
    struct loom_co *post_co;

    struct loom_co *current;    /* running coroutine, or NULL */
    struct loom__co_ctx leader; /* the thread's own stack */
    struct loom_co *pend_head, *pend_tail;
    struct loom_co *pool; /* finished coroutines, LIFO */
    /*
     * How many more the pool takes: LOOM__CO_POOL_THREAD_MAX minus its
     * length once registered, 0 before (one test for both on the pooled
     * path).
     */
    unsigned pool_room;
    bool registered; /* exit destructor installed */

    void *tsan_leader;
    bool asan_capture; /* next coroutine resumed came from the leader */
    void *asan_leader_fake;
    const void *asan_leader_bottom;
    size_t asan_leader_size;
};

#if LOOM_CO_BACKEND_ASM
/*
 * loom__co_post_tramp - resume address patched into a suspended context's
 * frame when work is left for it (struct loom__co_thread.post_co): calls
 * loom__co_post_run() with the thread state (the switched value), which
 * then returns to the original resume address.  Assembly.
 */
void loom__co_post_tramp(void);

/* Slot of the resume address in a suspended context's frame. */
#if defined(__x86_64__)
#define LOOM__CO_RET_SLOT 7
#elif defined(__aarch64__)
#define LOOM__CO_RET_SLOT 19
#endif
#endif

/*
 * loom__co_post_run() - run the work left in @t->post_co.
 * Context: the context that was just switched to, on @t's thread.
 */
void loom__co_post_run(struct loom__co_thread *t);

/*
 * loom__co_enter_loop() - loom_co_enter() on behalf of a dispatcher of loop
 * @l running in @l's home thread: the coroutine records @l as its loop.
 * Context: home(l).
 */
void loom__co_enter_loop(struct loom_loop *l, struct loom_co *co);

/*
 * loom__co_wake_here() - loom_co_wake()'s local half: if @co last ran on
 * the calling thread (or never ran), enter it now, or queue it when
 * called from a coroutine.
 * Context: any.  Return: true if done; false if @co belongs to another
 * thread (the caller goes through its loop).
 */
bool loom__co_wake_here(struct loom_co *co);

/*
 * loom__co_bind_loop() - give a running coroutine that remembers no loop
 * its thread's loom_loop_current() (before it waits to be woken).
 * Context: co (the coroutine itself, on its thread).
 * Return: the coroutine's loop, possibly still NULL.
 */
static inline struct loom_loop *loom__co_bind_loop(struct loom_co *co)
{
    if (!co->loop) {
        co->loop = loom__t_loop;
    }
    return co->loop;
}

/*
 * loom__co_pool_count() - coroutines in the calling thread's pool and in
 * the global pool (for tests).
 * Context: any.
 */
void loom__co_pool_count(unsigned *thread_pool, unsigned *global_pool);

/*
 * loom__co_pool_drain() - return every pooled stack of the calling thread
 * and of the global pool to the system.
 * Context: any.
 */
void loom__co_pool_drain(void);

/* Pool bounds. */
#define LOOM__CO_POOL_THREAD_MAX 64u
#define LOOM__CO_POOL_GLOBAL_MAX 256u

#endif /* LOOM_CO_INT_H */
