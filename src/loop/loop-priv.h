/* SPDX-License-Identifier: MIT */
/*
 * Private to src/loop/: the layout of struct loom_loop and struct loom_bh
 * and the functions the loop's files share.  Other modules use
 * loop-int.h.
 */
#ifndef LOOM_LOOP_PRIV_H
#define LOOM_LOOP_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/atomic.h"
#include "base/compiler.h"
#include "base/list.h"
#include "fdmon/fdmon.h"
#include "loop/loop-int.h"
#include <loom/bh.h>

/* Batches of recycled BH memory a loop can hold for other threads. */
#define LOOP_BH_SLOTS 32

/* struct loom_bh flags (atomic). */
enum {
    BH_PENDING = 1u << 0,   /* on the loop's list or a slice */
    BH_SCHEDULED = 1u << 1, /* should run when dequeued */
    BH_IDLE = 1u << 2,      /* scheduled by loom_bh_schedule_idle() */
    BH_DELETED = 1u << 3,   /* freed by the user: reclaim when dequeued */
    BH_ONESHOT = 1u << 4,   /* free after it ran */
    BH_INTERNAL = 1u << 5,  /* embedded in the loop, never freed */
};

/*
 * A one-shot's block holds only the fields up to ->l (LOOP_BH_ONESHOT_SIZE
 * bytes): what the list and the dispatch read.  Bursts of one-shots are
 * walked twice by the loop (bh.c) and outgrow the caches: 32 bytes, two
 * to a cache line, instead of 48 (bh-recycle.c).  Nothing touches ->l or
 * ->name of a one-shot.
 */
struct loom_bh {
    /*
     * Written by the thread whose fetch_or set BH_PENDING (the pusher),
     * read by the home thread after taking the list; see bh_push().  Once
     * the memory is reclaimed, links the recycling lists (bh.c).
     */
    struct loom_bh *next;
    /* Atomic: BH_* flags. */
    unsigned flags;
    /* Immutable after creation. */
    loom_cb *cb;
    void *opaque;
    /* Immutable after loom_bh_new(); not in a one-shot's block. */
    struct loom_loop *l;
    const char *name;
};

/* The size of a one-shot's block: struct loom_bh up to ->l. */
#define LOOP_BH_ONESHOT_SIZE offsetof(struct loom_bh, l)
_Static_assert(LOOP_BH_ONESHOT_SIZE == 32, "one-shot block: 2 a cache line");

/* BHs taken off the pending list by one poll level (QEMU's BHListSlice). */
struct loom__bh_slice {
    struct loom_bh *head; /* FIFO order */
    struct loom__list link;
};

/* fd table entry: at most one handler per group. */
struct loom__fd_slot {
    struct loom__fdh *h[2];
};

/*
 * A running loom_loop_poll() level (poll.c): its ready handlers, and the
 * level it nests in.  On the stack of the level's frame.
 */
struct loom__poll_level {
    struct loom__list *ready;
    struct loom__poll_level *outer;
};

struct loom_loop {
    /* Atomic; written by other threads on every schedule / notify. */
    struct loom_bh *bh_head; /* pending BHs, newest first */
    uint32_t wake; /* LOOP_WAKE_* bits and the announce count; futex word */

    /* Immutable after loom_loop_new(). */
    int notify_fd;
    struct loom__timers *timers;

    /* Atomic; rarely written. */
    int refcnt;
    uintptr_t home;    /* thread id of the home thread */
    bool home_claimed; /* a poll or loom__loop_set_home() fixed it */
    size_t bh_live;    /* loom_bh_new() BHs not freed; see loom__bh_live() */
    int fdmon_kind;    /* enum loom_fdmon in use, for stats */
    int64_t poll_max_ns, poll_grow, poll_shrink;
    struct loom_pool *pool; /* see loom__loop_install_pool() */
    void (*pool_free)(struct loom_pool *);

    /* home(loop) only. */
    unsigned depth LOOM_CACHE_ALIGNED; /* loom_loop_poll() nesting */
    struct loom__poll_level *level;    /* the innermost running poll */
    struct loom__list slices;          /* struct loom__bh_slice, oldest first */
    struct loom__list handlers;         /* live user handlers */
    struct loom__list deleted;          /* removed, waiting for depth 0 */
    struct loom__fdh *running;          /* handlers whose callback is
                                           running, innermost first */
    struct loom__list polling;          /* handlers in poll mode (poll_link) */
    struct loom__fdh notify_h;         /* the loop's eventfd */
    struct loom__fdh_cold notify_cold; /* its cold part */
    /* Handler memory (fdhandler.c): chunks with a free handler. */
    struct loom__list fdh_chunks;
    struct loom__fdh_chunk *fdh_spare; /* an empty chunk kept, or NULL */
    unsigned fdh_nchunks;              /* chunks allocated (tests) */
    struct loom__fdmon *mon;
    enum loom_fdmon mode; /* as requested; AUTO switches by count */
    struct loom__fd_slot *fds;
    unsigned fds_size;
    size_t nhandlers, nnotifiers;
    size_t watched[2];     /* user handlers the monitor watches, per group */
    size_t nopoll[2];      /* user handlers without on_poll, per group */
    size_t nhooked;        /* user handlers with poll mode hooks */
    size_t npolling[2];    /* handlers on ->polling, per group */
    unsigned handlers_gen; /* bumped by every handler add/change/remove */
    loom_cb *before_sleep, *after_sleep;
    void *sleep_opaque;
    struct loom_bh kick_bh;   /* loom_wait_kick() */
    struct loom_bh *bh_cache; /* recycled BH memory being batched, bh.c */
    unsigned bh_ncache;       /* entries on bh_cache */
    unsigned bh_slot;         /* next bh_spare slot to try to fill */
    uintptr_t bh_put_chunk;   /* chunk of the blocks counted in bh_put_n */
    unsigned bh_put_n;        /* its blocks released, not yet dropped */
    unsigned poll_probe;      /* adaptive polling: long waits in a row at 0 */

    /* Statistics; written by the home thread, relaxed atomics. */
    uint64_t iterations, bh_runs, fd_events, timer_runs;
    uint64_t poll_hits, poll_misses;
    int64_t poll_ns; /* adaptive polling: the current busy-poll window */

    /* Statistics; written by any thread, relaxed atomics. */
    uint64_t notify_sent LOOM_CACHE_ALIGNED;
    uint64_t notify_skipped;

    /*
     * Atomic: batches of recycled BH memory; only the home thread stores
     * a non-NULL slot, any thread takes one with xchg (bh.c).  bh_nspare:
     * about how many slots are full (a hint).  Own lines: written once
     * per batch, not per BH.
     */
    struct loom_bh *bh_spare[LOOP_BH_SLOTS] LOOM_CACHE_ALIGNED;
    unsigned bh_nspare;
};

/*
 * struct loom_loop.wake: the notify state, one word so that a poll level
 * announces itself, sets its wait mode and reads NOTIFIED in one RMW, and
 * withdraws and accepts in another (loop.c, "Notify protocol").
 *
 * NOTIFIED: a wake-up is on its way (set by the notifier that sends it,
 * cleared by the loop when it accepts it).  FUTEX: the level that may
 * sleep waits on this word as a futex (it has no fd to watch) rather than
 * on the eventfd; only the home thread changes it.  Keeping both in one
 * word makes a notifier's fetch_or see the mode of the latest sleeper.
 */
#define LOOP_WAKE_NOTIFIED 1u
#define LOOP_WAKE_FUTEX 2u
/*
 * SPIN: the level that may sleep is busy-polling (or will not sleep) and
 * checks NOTIFIED before it sleeps, so a notifier that finds it set only
 * sets NOTIFIED and makes no syscall; see spin() in poll.c.  Only the
 * home thread changes it.
 */
#define LOOP_WAKE_SPIN 4u
/*
 * The bits above: how many poll levels (loom_loop_poll() levels and
 * external pollers, external.c) have announced that they may block, in
 * units of LOOP_WAKE_ONE (QEMU's notify_me).  The home thread adds;
 * the home thread or an external poller's withdraw subtracts.
 */
#define LOOP_WAKE_ONE 8u
#define LOOP_WAKE_COUNT (~(LOOP_WAKE_ONE - 1))

/*
 * Adaptive polling.  LOOP_POLL_INITIAL_NS: the window the first growth
 * from 0 gives.  LOOP_EV_POLLED: a revents bit, beside fdmon.h's
 * LOOM__EV_* bits, marking a handler whose on_poll found work (its
 * on_poll_ready is due).
 */
#define LOOP_POLL_INITIAL_NS ((int64_t)4000)
/*
 * Adaptive polling: after this many waits in a row that found the window
 * at 0 and lasted longer than poll_max_ns, try LOOP_POLL_INITIAL_NS once
 * (adapt_window() in poll.c).
 */
#define LOOP_POLL_PROBE_MISSES 8u
#define LOOP_EV_POLLED 0x100u

/* Context: home; relaxed increment of a home-written counter. */
#define LOOP_STAT_ADD(l, field, n)                                             \
    __atomic_store_n(&(l)->field,                                              \
                     __atomic_load_n(&(l)->field, __ATOMIC_RELAXED) + (n),     \
                     __ATOMIC_RELAXED)

/* Above this many fd handlers LOOM_FDMON_AUTO moves to epoll. */
#define LOOP_AUTO_EPOLL_THRESHOLD 4

/*
 * loom__prefetch_w() - start fetching the cache line at @p for writing.
 * A load and then an atomic RMW of a line last written by another CPU
 * take two transfers (shared, then exclusive); after this, one.
 * Context: any; a hint only.
 */
static inline void loom__prefetch_w(const void *p)
{
#if defined(__x86_64__) || defined(__i386__)
    /* PREFETCHW (Intel CPUs before Broadwell execute it as a NOP). */
    __asm__ __volatile__("prefetchw %0" : : "m"(*(const char *)p));
#else
    __builtin_prefetch(p, 1);
#endif
}

/* Longest sleep while idle BHs are pending. */
#define LOOP_IDLE_BH_NS ((int64_t)10 * 1000 * 1000)

/*
 * bh.c.  loom__bh_init_embedded(): set up a BH embedded in the loop (not
 * counted as live, never freed; Context: loom_loop_new()).
 * loom__bh_timeout_ns(): 0 if a scheduled BH is pending, LOOP_IDLE_BH_NS
 * if only idle ones are, else -1 (Context: home, after announcing the
 * poll may block).  loom__bh_poll(): the BH phase; true if a non-idle BH
 * ran (Context: home).  loom__bh_reclaim_all(): free BHs still queued
 * (Context: the loop's teardown).
 */
void loom__bh_init_embedded(struct loom_loop *l, struct loom_bh *bh,
                            loom_cb *cb, const char *name);
int64_t loom__bh_timeout_slow(struct loom_loop *l);
bool loom__bh_poll_slow(struct loom_loop *l);

/* The common cases (nothing pending) inline, for every poll level. */
static inline int64_t loom__bh_timeout_ns(struct loom_loop *l)
{
    /*
     * Pairs with the CAS in bh_push() (bh.c): after the caller's seq_cst
     * announcing RMW of wake, either we see the BH or its pusher sees the
     * announce count != 0.
     */
    if (loom__list_empty(&l->slices) && !loom__atomic_load_seq(&l->bh_head)) {
        return -1;
    }
    return loom__bh_timeout_slow(l);
}

static inline bool loom__bh_poll(struct loom_loop *l)
{
    /* Acquire pairs with the CAS in bh_push() (bh.c). */
    if (!loom__atomic_load_acquire(&l->bh_head) &&
        loom__list_empty(&l->slices)) {
        return false;
    }
    return loom__bh_poll_slow(l);
}
size_t loom__bh_reclaim_all(struct loom_loop *l);
/*
 * bh-recycle.c: the memory of one-shots (BHs from loom_bh_new() are plain
 * malloc() memory).  loom__bh_mem_alloc(): a LOOP_BH_ONESHOT_SIZE block,
 * or NULL (Context: any).  loom__bh_mem_release(): give back the block of
 * a one-shot that ran (Context: home(loop)).
 * loom__bh_mem_free(): free a block for good (Context: any).
 * loom__bh_mem_teardown(): free every recycled block the loop holds
 * (Context: the loop's teardown).
 */
struct loom_bh *loom__bh_mem_alloc_slow(struct loom_loop *l);
void loom__bh_mem_release_slow(struct loom_loop *l, struct loom_bh *bh);
void loom__bh_mem_free(struct loom_bh *bh);
void loom__bh_mem_teardown(struct loom_loop *l);

/* BH memory is recycled except under ASan (bh-recycle.c). */
#ifdef LOOM_ASAN
#define LOOM__BH_RECYCLE 0
#else
#define LOOM__BH_RECYCLE 1
/* The calling thread's free blocks, linked by ->next (bh-recycle.c). */
extern __thread struct loom_bh *loom__bh_tls_free
    __attribute__((tls_model("initial-exec"), visibility("hidden")));
/* The rest of the chunk the calling thread carves from (bh-recycle.c). */
extern __thread char *loom__bh_tls_carve
    __attribute__((tls_model("initial-exec"), visibility("hidden")));
extern __thread unsigned loom__bh_tls_carve_left
    __attribute__((tls_model("initial-exec"), visibility("hidden")));
#endif

/*
 * The posting fast path, inline in the posting functions: a call, its
 * saved registers and a return were a fifth of a cross-thread post.
 */
static inline struct loom_bh *loom__bh_mem_alloc(struct loom_loop *l)
{
#if LOOM__BH_RECYCLE
    struct loom_bh *bh = loom__bh_tls_free;

    if (LOOM_LIKELY(bh)) {
        loom__bh_tls_free = bh->next;
        return bh;
    }
    /*
     * Then the rest of the chunk being carved, before recycled batches: a
     * burst larger than the recycler carves most of its blocks.
     */
    if (LOOM_LIKELY(loom__bh_tls_carve_left)) {
        bh = (struct loom_bh *)loom__bh_tls_carve;
        loom__bh_tls_carve += LOOP_BH_ONESHOT_SIZE;
        loom__bh_tls_carve_left--;
        return bh;
    }
#endif
    return loom__bh_mem_alloc_slow(l);
}

/* Blocks the loop gathers on bh_cache before publishing them as a batch. */
#define LOOP_BH_BATCH 128u
/* One-shot blocks are carved from chunks of this size and alignment. */
#define LOOP_BH_CHUNK_SIZE 1024u
/*
 * One-shot blocks a chunk holds: it is allocated 16 bytes short of
 * LOOP_BH_CHUNK_SIZE (room for malloc's header) and its own header takes
 * one block (bh-recycle.c).
 */
#define LOOP_BH_PER_CHUNK                                                      \
    ((LOOP_BH_CHUNK_SIZE - 16u - (unsigned)LOOP_BH_ONESHOT_SIZE) /             \
     (unsigned)LOOP_BH_ONESHOT_SIZE)

/* The address of the chunk a one-shot's block was carved from. */
static inline uintptr_t loom__bh_chunk_of(const void *block)
{
    return (uintptr_t)block & ~(uintptr_t)(LOOP_BH_CHUNK_SIZE - 1);
}

/*
 * The dispatch fast path, inline in loom__bh_poll_slow(): a block joins
 * the batch being gathered, or, once the cache is full, the run of
 * released blocks of one chunk (bh-recycle.c).  Filling the batch
 * (publish it), a block of another chunk and builds without recycling go
 * out of line.
 */
static inline void loom__bh_mem_release(struct loom_loop *l,
                                        struct loom_bh *bh)
{
#if LOOM__BH_RECYCLE
    if (LOOM_LIKELY(l->bh_ncache < LOOP_BH_BATCH - 1)) {
        bh->next = l->bh_cache;
        l->bh_cache = bh;
        l->bh_ncache++;
        return;
    }
    if (LOOM_LIKELY(loom__bh_chunk_of(bh) == l->bh_put_chunk)) {
        l->bh_put_n++;
        return;
    }
#endif
    loom__bh_mem_release_slow(l, bh);
}

/*
 * loom__bh_mem_pooled() - empty chunks in the process-wide pool that
 * carving reuses (bh-recycle.c); 0 when recycling is off (ASan).  Tests.
 * Context: any.
 */
unsigned loom__bh_mem_pooled(void);

/*
 * loom__bh_live(): BHs created and not freed plus one-shots that never
 * ran, for the leak panic (Context: the loop's teardown, depth 0).
 */
size_t loom__bh_live(struct loom_loop *l);

/*
 * What loom__set_handler() and loom__set_poll_hooks() are asked to set: a
 * handler's callbacks (fd handlers: the loom_fd_cb ones and @opaque;
 * notifier handlers: @notifier and its callbacks), or its poll mode hooks.
 */
struct loom__fdh_spec {
    loom_fd_cb *on_read, *on_write, *on_poll_ready;
    loom_poll_cb *on_poll;
    void *opaque;
    struct loom_notifier *notifier;
    void (*on_event)(struct loom_notifier *);
    void (*on_notifier_ready)(struct loom_notifier *);
    struct loom__fdh_hooks hooks;
};

/*
 * Handlers a chunk of handler memory holds (fdhandler.c); one under ASan,
 * so that a use after free stays visible.
 */
#ifdef LOOM_ASAN
#define LOOP_FDH_PER_CHUNK 1u
#else
#define LOOP_FDH_PER_CHUNK 64u
#endif

/*
 * fdhandler.c, all Context: home(loop).  loom__loop_mon_init/destroy():
 * create the poll(2) monitor with the loop's eventfd / destroy it and
 * free what handler memory is left.
 * loom__fdh_mask_running(): on entry to a nested poll, stop watching
 * handlers whose callback is running.  loom__fdh_dispatch(): the handler
 * phase over one level's ready list; true if a callback ran.
 * loom__fdh_reap(): free removed handlers (only at poll depth 0).
 * loom__set_handler(): add / change / remove a handler described by the
 * callback fields of @spec (fd and notifier handlers alike).
 */
int loom__loop_mon_init(struct loom_loop *l);
void loom__loop_mon_destroy(struct loom_loop *l);
unsigned loom__fdh_mask_running(struct loom_loop *l);
bool loom__fdh_dispatch(struct loom_loop *l, struct loom__list *ready);
void loom__fdh_reap(struct loom_loop *l);
int loom__set_handler(struct loom_loop *l, int fd,
                      enum loom__handler_group group,
                      const struct loom__fdh_spec *spec);

/*
 * fdhandler.c, adaptive polling; Context: home(loop).
 * loom__fdh_poll(): call once the on_poll of every handler this level may
 * poll (its group is watched, its callback is not running), putting those
 * that found work on @ready marked LOOP_EV_POLLED.  Return: true if one
 * did, or if an on_poll changed the loop's handlers (the walk stops then).
 */
bool loom__fdh_poll(struct loom_loop *l, bool toplevel,
                    struct loom__list *ready);

/*
 * fdhandler.c, poll mode (the poll_begin / poll_end hooks); Context:
 * home(loop).  loom__fdh_poll_begin(): a busy-poll window starts: put
 * every hooked handler this level may poll into poll mode (its
 * poll_begin runs).  loom__fdh_poll_end(): the level is about to wait
 * without polling: take them out (poll_end runs), then call each one's
 * on_poll once more, queueing those that found work on @ready.
 * loom__fdh_poll_round(): the level will not wait (work is due): call
 * on_poll once for each handler in poll mode, queueing as above; they
 * stay in poll mode.  Both return true if work was found (or the
 * handlers changed under the walk).  loom__set_poll_hooks(): set the
 * hook fields of @spec on @fd's default-group handler.
 */
void loom__fdh_poll_begin(struct loom_loop *l, bool toplevel);
bool loom__fdh_poll_end(struct loom_loop *l, bool toplevel,
                        struct loom__list *ready);
bool loom__fdh_poll_round(struct loom_loop *l, bool toplevel,
                          struct loom__list *ready);
int loom__set_poll_hooks(struct loom_loop *l, int fd,
                         const struct loom__fdh_spec *spec);

/*
 * loop.c.  loom__loop_claim_home(): the first poller becomes home; checks
 * the caller in debug builds (Context: home).  loom__loop_notify_accept():
 * clear a notification and, if @drain, the eventfd (Context: home).
 * loom__loop_notify_drain(): read the eventfd, after the caller cleared
 * NOTIFIED (Context: home).
 */
void loom__loop_claim_home(struct loom_loop *l);
void loom__loop_notify_accept(struct loom_loop *l, bool drain);
void loom__loop_notify_drain(struct loom_loop *l);

/*
 * A skipped notification is the hot path of every cross-thread post: it
 * is counted with a relaxed load and store, not an atomic RMW (a locked
 * instruction per post), at the price of losing counts when several
 * threads notify at the same instant.
 */
static inline void loom__loop_notify_skipped_inc(struct loom_loop *l)
{
    loom__atomic_set(&l->notify_skipped,
                     loom__atomic_read(&l->notify_skipped) + 1);
}

/*
 * Context: any.  loom_loop_notify() once l->wake had a level announced
 * and no wake-up on its way.
 */
void loom__loop_notify_slow(struct loom_loop *l);

/*
 * loom__loop_notify() - loom_loop_notify(), its common cases (the loop is
 * not about to block, or a wake-up is already on its way) inline in the
 * posting paths.
 * Context: any.
 */
static inline void loom__loop_notify(struct loom_loop *l)
{
    uint32_t w = loom__atomic_load_seq(&l->wake);

    /*
     * Pairs with the seq_cst announcing fetch_add in prepare_wait() and
     * the withdraw in finish_wait() (poll.c): the caller's work was
     * published before this load, the loop looks for work after its
     * announce.
     *
     * NOTIFIED in this load (the common case of a stream of posts to a
     * sleeping loop): return without an RMW, which would take the line
     * from its other readers.  A bit it sees was set after the loop's
     * last accept (the word's one modification order), so its sender's
     * wake-up, sent for the mode current at its fetch_or, ends the loop's
     * wait; or the sender saw SPIN and the loop's RMW that clears SPIN
     * returns the bit; or a later announce returns it, and the level does
     * not sleep.
     */
    if (!(w & LOOP_WAKE_COUNT) || (w & LOOP_WAKE_NOTIFIED)) {
        loom__loop_notify_skipped_inc(l);
        return;
    }
    loom__loop_notify_slow(l);
}

/*
 * poll.c.  loom__loop_timeout_ns(): how long a level that announced it may
 * block (the count in wake) may sleep: 0 if a BH is pending, else the nearest of
 * the idle-BH bound and the timers' deadline, -1 for no limit.  The one
 * timeout computation, shared with external loops (external.c).
 * Context: home(loop).
 */
int64_t loom__loop_timeout_ns(struct loom_loop *l);

#endif /* LOOM_LOOP_PRIV_H */
