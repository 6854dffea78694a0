/* SPDX-License-Identifier: MIT */
/*
 * Coroutine objects: creation, the per-thread pool of finished ones,
 * entering (with the per-thread queue of pending enters that keeps enters
 * from nesting), yielding, and the sanitizer fiber annotations around
 * every switch.  Any thread creates and enters coroutines; each thread
 * has its own state (struct loom__co_thread) and its own pool, which
 * overflows into a bounded global pool protected by a mutex.
 *
 * Enters never nest.  The thread's native stack ("leader") enters a
 * coroutine; an enter issued inside a coroutine is queued on the thread,
 * and a yielding coroutine switches straight to the next queued one, the
 * last one back to the leader.  So no stack ever holds frames of another
 * coroutine's dispatch.
 *
 * Fast path (assembly switch, no sanitizer): each switch is the last call
 * of loom_co_enter()/loom_co_yield() and compiles to a tail jump, so a
 * resumed context continues right at its caller without a `ret` that the
 * return-stack predictor would miss.  Work that must run after a switch
 * (releasing a finished coroutine's stack to the global pool, a
 * coroutine's after_yield hook) is handed to the resumed context by
 * patching its resume address to loom__co_post_tramp.  With a sanitizer or
 * the ucontext backend the same work is done by C code after the switch.
 */
#include "co/co-int.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>

#include "base/atomic.h"
#include "base/check.h"
#include "base/compiler.h"

/* Sanitizer fiber support (the asm switch is invisible to them). */
#ifdef LOOM_ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef LOOM_TSAN
#include <sanitizer/tsan_interface.h>
#endif

/* See the file comment. */
#if LOOM_CO_BACKEND_ASM && !defined(LOOM_ASAN) && !defined(LOOM_TSAN)
#define CO_FAST 1
#else
#define CO_FAST 0
#endif

/*
 * initial-exec: a %fs-relative access instead of a __tls_get_addr() call
 * on every enter and yield.  The block is small enough for the static TLS
 * surplus glibc keeps for libraries loaded with dlopen() (not so with the
 * ucontext backend, whose contexts are ~1 KiB and whose switches are slow
 * anyway).
 */
#if LOOM_CO_BACKEND_ASM
#define CO_TLS_MODEL __attribute__((tls_model("initial-exec")))
#else
#define CO_TLS_MODEL
#endif
static __thread struct loom__co_thread g_co_thread CO_TLS_MODEL;

/* loom__co_post_tramp finds the real resume address at offset 0. */
_Static_assert(offsetof(struct loom__co_thread, post_ret) == 0,
               "post_ret must be the first field");

/* Runs the exit destructor of threads that used coroutines. */
static pthread_key_t g_exit_key;
static pthread_once_t g_exit_key_once = PTHREAD_ONCE_INIT;

/* Global overflow pool.  Protected by g_pool_lock. */
static pthread_mutex_t g_pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct loom_co *g_pool;
static unsigned g_npool;

/* ------------------------------------------------------------------ */
/* Per-thread state and pools.                                        */

static void co_unmap(struct loom_co *co)
{
#ifdef LOOM_TSAN
    __tsan_destroy_fiber(co->tsan_fiber);
#endif
    loom__co_stack_unmap(&co->stack);
}

/* Put @co in the global pool if there is room; false if full. */
static bool global_pool_put(struct loom_co *co)
{
    bool ok = false;

    pthread_mutex_lock(&g_pool_lock);
    if (g_npool < LOOM__CO_POOL_GLOBAL_MAX) {
        co->pool_next = g_pool;
        g_pool = co;
        g_npool++;
        ok = true;
    }
    pthread_mutex_unlock(&g_pool_lock);
    return ok;
}

static struct loom_co *global_pool_get(void)
{
    struct loom_co *co;

    pthread_mutex_lock(&g_pool_lock);
    co = g_pool;
    if (co) {
        g_pool = co->pool_next;
        g_npool--;
    }
    pthread_mutex_unlock(&g_pool_lock);
    return co;
}

/* Thread exit: hand the thread's pool to the global one (or unmap). */
static void thread_exit(void *arg)
{
    struct loom__co_thread *t = arg;
    struct loom_co *co;

    while ((co = t->pool) != NULL) {
        t->pool = co->pool_next;
        if (!global_pool_put(co)) {
            co_unmap(co);
        }
    }
    t->pool_room = 0;
    t->registered = false;
}

static void make_exit_key(void)
{
    if (pthread_key_create(&g_exit_key, thread_exit) != 0) {
        loom__panic("coroutines: cannot create the thread-exit key");
    }
}

static __attribute__((noinline, cold)) void
thread_register(struct loom__co_thread *t)
{
    pthread_once(&g_exit_key_once, make_exit_key);
    if (pthread_setspecific(g_exit_key, t) != 0) {
        loom__panic("coroutines: cannot register thread %p", (void *)t);
    }
#ifdef LOOM_TSAN
    t->tsan_leader = __tsan_get_current_fiber();
#endif
    /* The pool is empty: new, or emptied by thread_exit(). */
    t->pool_room = LOOM__CO_POOL_THREAD_MAX;
    t->registered = true;
}

/*
 * The calling thread's state, for code that runs on the thread's own
 * stack or that does not switch before it is done with the pointer.
 */
static inline struct loom__co_thread *thread_get(void)
{
    struct loom__co_thread *t = &g_co_thread;

    if (LOOM_UNLIKELY(!t->registered)) {
        thread_register(t);
    }
    return t;
}

/*
 * The state for entering coroutines.  Registration matters only once a
 * stack goes to this thread's pool (co_start() registers then) and, with
 * ThreadSanitizer, for the leader's fiber; the fast path skips the check.
 */
static inline struct loom__co_thread *thread_for_enter(void)
{
#if CO_FAST
    return &g_co_thread;
#else
    return thread_get();
#endif
}

LOOM_NORETURN static void co_start(void *val, void *arg);

static int co_alloc(struct loom_co **ret)
{
    struct loom__co_stack st;
    struct loom_co *co = global_pool_get();
    int r;

    if (co) {
        *ret = co;
        return 0;
    }
    r = loom__co_stack_map(&st, sizeof(struct loom_co));
    if (r < 0) {
        return r;
    }
    co = st.hdr;
    memset(co, 0, sizeof(*co));
    co->stack = st;
    r = loom__co_ctx_make(&co->ctx, st.base, st.size, co_start, co);
    if (r < 0) {
        loom__co_stack_unmap(&st);
        return r;
    }
#if LOOM_CO_BACKEND_ASM
    co->fp_ctl = loom__co_ctx_fp(&co->ctx);
#endif
#ifdef LOOM_TSAN
    co->tsan_fiber = __tsan_create_fiber(0);
#endif
    *ret = co;
    return 0;
}

void loom__co_pool_count(unsigned *thread_pool, unsigned *global_pool)
{
    *thread_pool = g_co_thread.registered
                       ? LOOM__CO_POOL_THREAD_MAX - g_co_thread.pool_room
                       : 0;
    pthread_mutex_lock(&g_pool_lock);
    *global_pool = g_npool;
    pthread_mutex_unlock(&g_pool_lock);
}

void loom__co_pool_drain(void)
{
    struct loom__co_thread *t = &g_co_thread;
    struct loom_co *co;

    while ((co = t->pool) != NULL) {
        t->pool = co->pool_next;
        t->pool_room++;
        co_unmap(co);
    }
    while ((co = global_pool_get()) != NULL) {
        co_unmap(co);
    }
}

/* ------------------------------------------------------------------ */
/* Public interface.                                                  */

/* Give @co, fresh from a pool, its entry and the state of a new one. */
static inline void co_init(struct loom_co *co, void (*entry)(void *),
                           void *opaque)
{
    co->entry = entry;
    co->opaque = opaque;
    co->state = LOOM__CO_CREATED;
    co->thread = NULL;
    co->loop = NULL;
    /*
     * pending_next and wait_next are written by whoever queues the
     * coroutine.  after_yield is NULL already: set just before a yield,
     * cleared by its one use right after the switch, so never set when a
     * coroutine finishes (and zero in a fresh one).
     */
    loom__atomic_set(&co->scheduled, 0);
}

/*
 * loom_co_create() with the thread's pool empty: register the thread and
 * take a coroutine from the global pool or map a new one.  Out of line,
 * so that the pooled path needs no stack frame.
 */
static __attribute__((noinline)) int
co_create_slow(void (*entry)(void *), void *opaque, struct loom_co **ret)
{
    struct loom_co *co;
    int r;

    (void)thread_get();
    r = co_alloc(&co);
    if (r < 0) {
        return r;
    }
    co_init(co, entry, opaque);
    *ret = co;
    return 0;
}

int loom_co_create(void (*entry)(void *), void *opaque, struct loom_co **ret)
{
    struct loom__co_thread *t;
    struct loom_co *co;

    LOOM_CHECK(entry != NULL && ret != NULL, -EINVAL);
    /* A thread has a pool only once registered (see co_start()). */
    t = &g_co_thread;
    co = t->pool;
    if (LOOM_UNLIKELY(co == NULL)) {
        return co_create_slow(entry, opaque, ret);
    }
    t->pool = co->pool_next;
    t->pool_room++;
    co_init(co, entry, opaque);
    *ret = co;
    return 0;
}

static LOOM_NORETURN __attribute__((noinline, cold)) void
bad_enter(const char *fn, struct loom_co *co)
{
    switch (co->state) {
    case LOOM__CO_RUNNING:
        loom__panic("%s: coroutine %p is running (entered recursively or "
                   "from another thread)",
                   fn, (void *)co);
    case LOOM__CO_QUEUED:
        loom__panic("%s: coroutine %p is already queued to be entered", fn,
                   (void *)co);
    case LOOM__CO_FINISHED:
    case LOOM__CO_FREE:
        loom__panic("%s: coroutine %p has finished", fn, (void *)co);
    default:
        loom__panic("%s: coroutine %p is scheduled with loom_co_schedule() "
                   "and must not be entered before that runs",
                   fn, (void *)co);
    }
}

/* ------------------------------------------------------------------ */
/* Switching.                                                         */

void loom__co_post_run(struct loom__co_thread *t)
{
    struct loom_co *co = t->post_co;
    void (*fn)(struct loom_co *, void *);

    t->post_co = NULL;
    if (co->state == LOOM__CO_FINISHED) {
        /* Its stack is free now: the global pool may hand it out. */
        co->state = LOOM__CO_FREE;
        if (!global_pool_put(co)) {
            co_unmap(co);
        }
        return;
    }
    fn = co->after_yield;
    co->after_yield = NULL;
    fn(co, co->after_arg);
}

static inline void set_running(struct loom__co_thread *t, struct loom_co *co)
{
    co->state = LOOM__CO_RUNNING;
    co->thread = t;
    t->current = co;
}

/* The thread's own stack switches to @co; returns once all yielded. */
static inline void leader_switch(struct loom__co_thread *t, struct loom_co *co)
{
#if CO_FAST
    /* A tail call: the leader resumes right in loom_co_enter's caller. */
    (void)loom__co_swap(&t->leader.sp, co->ctx.sp, t);
#else
#ifdef LOOM_ASAN
    t->asan_capture = true;
    __sanitizer_start_switch_fiber(&t->asan_leader_fake, co->stack.base,
                                   co->stack.size);
#endif
#ifdef LOOM_TSAN
    __tsan_switch_to_fiber(co->tsan_fiber, 0);
#endif
    t = loom__co_ctx_switch(&t->leader, &co->ctx, t);
#ifdef LOOM_ASAN
    __sanitizer_finish_switch_fiber(t->asan_leader_fake, NULL, NULL);
#endif
    if (t->post_co) {
        loom__co_post_run(t);
    }
#endif
}

#if !CO_FAST
/* A coroutine right after a switch into it (slow path). */
static void co_resumed(struct loom__co_thread *t, struct loom_co *co,
                       bool first)
{
#ifdef LOOM_ASAN
    /* Learn the leader's stack when we come from it. */
    bool capture = t->asan_capture;

    t->asan_capture = false;
    __sanitizer_finish_switch_fiber(first ? NULL : co->asan_fake,
                                    capture ? &t->asan_leader_bottom : NULL,
                                    capture ? &t->asan_leader_size : NULL);
#endif
    (void)co;
    (void)first;
    if (t->post_co) {
        loom__co_post_run(t);
    }
}
#endif

/*
 * The running coroutine @co (state already set) leaves its thread @t to
 * the next queued coroutine, or to the leader, handing it @post to run
 * first (struct loom__co_thread.post_co) when not NULL.  @fin: @co has
 * finished (its entry returned).  Returns when @co is entered again,
 * maybe on another thread.  Inline, so that a caller with constant
 * arguments (nothing to hand over, not finished) skips that code.
 */
static inline void co_leave(struct loom__co_thread *t, struct loom_co *co,
                            struct loom_co *post, bool fin)
{
    struct loom_co *next = t->pend_head;
    struct loom__co_ctx *to;

    if (next) {
        t->pend_head = next->pending_next;
        if (!t->pend_head) {
            t->pend_tail = NULL;
        }
        set_running(t, next);
        to = &next->ctx;
    } else {
        t->current = NULL;
        to = &t->leader;
    }
#if CO_FAST
    if (LOOM_UNLIKELY(post != NULL)) {
        void **frame = to->sp;

        t->post_co = post;
        t->post_ret = frame[LOOM__CO_RET_SLOT];
        frame[LOOM__CO_RET_SLOT] = (void *)loom__co_post_tramp;
    }
    if (fin) {
        (void)loom__co_swap_exit(&co->ctx.sp, to->sp, t, co->fp_ctl);
    } else {
        (void)loom__co_swap(&co->ctx.sp, to->sp, t);
    }
#else
    (void)fin;
    if (post) {
        t->post_co = post;
    }
#ifdef LOOM_ASAN
    __sanitizer_start_switch_fiber(
        &co->asan_fake, next ? next->stack.base : t->asan_leader_bottom,
        next ? next->stack.size : t->asan_leader_size);
#endif
#ifdef LOOM_TSAN
    __tsan_switch_to_fiber(next ? next->tsan_fiber : t->tsan_leader, 0);
#endif
    /*
     * We may come back on another thread: use the thread pointer handed
     * over by the switch, never TLS read before it.
     */
    t = loom__co_ctx_switch(&co->ctx, to, t);
    co_resumed(t, co, false);
#endif
}

/*
 * The thread's pool is full, or the thread is not registered yet: then
 * register it (the pool must go back when the thread exits), which opens
 * an empty pool.  True if the pool takes a coroutine now.
 */
static __attribute__((noinline, cold)) bool
pool_open(struct loom__co_thread *t)
{
    if (t->registered) {
        return false;
    }
    thread_register(t);
    return true;
}

/*
 * The switch out of a finished coroutine trusts the ABI: the entry
 * function returned with the floating-point control state it was called
 * with (loom__co_swap_exit()).  Debug builds check it, since a breach
 * would leave that state to whatever context runs next.
 */
static inline void check_fp_returned(struct loom_co *co)
{
#if defined(LOOM_DEBUG_CHECKS) && CO_FAST && defined(__x86_64__)
    uint16_t cw;
    uint32_t mx = __builtin_ia32_stmxcsr();

    __asm__ volatile("fnstcw %0" : "=m"(cw));
    if (((mx ^ (uint32_t)co->fp_ctl) & 0xffc0u) != 0 ||
        cw != (uint16_t)(co->fp_ctl >> 32)) {
        loom__panic("coroutine %p: entry returned with the floating-point "
                   "control state changed (MXCSR %#x, x87 control word "
                   "%#x; started with %#x, %#x), which the ABI makes "
                   "callee-saved",
                   (void *)co, mx, cw, (unsigned)(uint32_t)co->fp_ctl,
                   (unsigned)(uint16_t)(co->fp_ctl >> 32));
    }
#else
    (void)co;
#endif
}

/*
 * Bottom of every coroutine stack.  A finished coroutine parks here, in
 * co_leave(), while it sits in a pool; loom_co_create() reuses it by
 * setting a new entry, and the next enter resumes the loop.
 */
LOOM_NORETURN static void co_start(void *val, void *arg)
{
    struct loom_co *co = arg;

#if !CO_FAST
    co_resumed(val, co, true);
#else
    /* val may be stale here (see loom__co_post_tramp): unused. */
    (void)val;
#endif
    for (;;) {
        struct loom__co_thread *t;

        /* entry and opaque stay as they are: loom_co_create() sets both. */
        co->entry(co->opaque);
        check_fp_returned(co);
        t = co->thread;
        if (LOOM_LIKELY(t->pool_room != 0) || pool_open(t)) {
            /*
             * Nothing runs on this thread before the switch below is
             * over, so the stack may go to the thread's pool already.
             */
            co->state = LOOM__CO_FREE;
            co->pool_next = t->pool;
            t->pool = co;
            t->pool_room--;
            co_leave(t, co, NULL, true);
        } else {
            /* Other threads could take it: release after the switch. */
            co->state = LOOM__CO_FINISHED;
            co_leave(t, co, co, true);
        }
    }
}

/* ------------------------------------------------------------------ */
/* Entering and yielding.                                             */

static inline void co_enter(struct loom__co_thread *t, struct loom_co *co,
                            struct loom_loop *loop, const char *fn)
{
    if (LOOM_UNLIKELY(co->state > LOOM__CO_CREATED ||
                      loom__atomic_read(&co->scheduled))) {
        bad_enter(fn, co);
    }
    if (loop) {
        co->loop = loop;
    } else if (co->thread != t || !co->loop) {
        /*
         * None remembered, or entered outside that loop's home thread:
         * take the entering thread's (QEMU's qemu_coroutine_enter()).
         */
        co->loop = loom__t_loop;
    }
    if (t->current) {
        /* Inside a coroutine: run after it yields, in arrival order. */
        co->state = LOOM__CO_QUEUED;
        co->thread = t;
        co->pending_next = NULL;
        if (t->pend_tail) {
            t->pend_tail->pending_next = co;
        } else {
            t->pend_head = co;
        }
        t->pend_tail = co;
        return;
    }
    set_running(t, co);
    leader_switch(t, co);
}

void loom_co_enter(struct loom_co *co)
{
    if (co) {
        co_enter(thread_for_enter(), co, NULL, "loom_co_enter");
    }
}

void loom__co_enter_loop(struct loom_loop *l, struct loom_co *co)
{
    co_enter(thread_for_enter(), co, l, "loom_co_enter");
}

void loom_co_yield(void)
{
    /*
     * TLS is read before the switch only: after it, this code may run on
     * another thread while the compiler still holds the old address.
     */
    struct loom_co *co = g_co_thread.current;

    if (LOOM_UNLIKELY(co == NULL)) {
        loom__panic("loom_co_yield: called outside a coroutine");
    }
    co->state = LOOM__CO_YIELDED;
    /* Its after_yield hook runs once the switch is over. */
    co_leave(co->thread, co,
             LOOM_UNLIKELY(co->after_yield != NULL) ? co : NULL, false);
}

bool loom__co_wake_here(struct loom_co *co)
{
    struct loom__co_thread *t = thread_for_enter();

    if (co->thread != t && co->thread != NULL) {
        return false;
    }
    /* Our thread (so its loop's, if it has one): enter or queue. */
    co_enter(t, co, NULL, "loom_co_wake");
    return true;
}

/*
 * These never switch, and callers outside this file cannot keep the
 * result across their own switches: direct TLS reads are safe.
 */
struct loom_co *loom_co_self(void)
{
    return g_co_thread.current;
}

bool loom_in_co(void)
{
    return g_co_thread.current != NULL;
}
