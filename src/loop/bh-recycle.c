/* SPDX-License-Identifier: MIT */
/*
 * Memory of one-shot BHs: recycled rather than freed, because a one-shot
 * is allocated by the posting thread and released by the loop thread,
 * which glibc's per-thread caches never turn into a reuse.  Allocation
 * happens in any thread (loom_bh_oneshot()); release and teardown in the
 * loop's home thread.  A one-shot's block is LOOP_BH_ONESHOT_SIZE (32)
 * bytes, the head of a struct loom_bh (loop-priv.h): a burst of them is
 * walked twice by the loop, and 48-byte blocks made those walks a third
 * slower.  BHs from loom_bh_new() are malloc()ed (bh.c).
 *
 * The loop (home thread) gathers the memory of the one-shots it runs on
 * l->bh_cache; each BH_BATCH of them it publishes as one batch in an empty
 * slot of l->bh_spare[].  An allocating thread uses its own thread-local
 * list first, then the rest of the chunk it carves from (see below), and
 * when both are empty takes one whole batch from a slot with one xchg.
 * Only the loop stores a non-NULL slot, and only into a slot it read as
 * NULL; other threads only exchange a slot for NULL.  So a slot never
 * changes under the loop between its load and its store, and a thread
 * that takes a batch owns it before it looks at any node's next field:
 * no ABA.  The blocks are plain malloc() memory of one
 * size, so a thread may take them from one loop and use them for another.
 *
 * New blocks are carved from 1 KiB chunks (BH_PER_CHUNK blocks each), not
 * malloc'ed one by one: a burst of posts larger than what the loop has
 * recycled (producer and loop sharing a CPU: the loop runs only when the
 * producer is preempted) costs one malloc per chunk, and the loop thread
 * frees a chunk, not each block, once its last block is freed.  A chunk
 * counts its blocks not yet freed (atomic: blocks of one chunk end up in
 * different loops), uncarved ones included until their carving thread
 * drops them.
 *
 * A chunk whose last block is freed goes to a process-wide pool of empty
 * chunks (a mutex, taken once per chunk) that carving takes from before
 * malloc: a burst larger than the recycler (producer and loop sharing a
 * CPU post 30,000-250,000 one-shots before the loop runs) then reuses the
 * chunks of the previous burst.  Freeing them instead cost a third of the
 * posting thread's time in the kernel, faulting in the pages that malloc
 * had just trimmed off its arena.  The pool keeps at most POOL_MAX chunks
 * (8 MiB) and frees beyond that.  The loop thread drops the blocks it
 * frees from one chunk in a row with one RMW on the chunk's count, at the
 * first block of another chunk: a burst is released in the order it was
 * carved, 30 blocks a chunk.  The run is the loop's (l->bh_put_chunk and
 * l->bh_put_n, counted inline by loom__bh_mem_release()), dropped at the
 * next chunk's first block or at the loop's teardown.
 *
 * Chunks carved in a row lie end to end (see BH_CHUNK_ALLOC), so a
 * burst's blocks do too, and the loop's walks over a burst's list (the
 * reversal, then the run; bh.c) stream through memory.  With each 1 KiB
 * chunk in a 2 KiB slot, those walks cost 40-90 ns a block instead of 3-12
 * on AMD EPYC hosts: a burst of 1M one-shots outgrows the caches, and
 * the prefetcher does not follow the half-used stride.
 *
 * Bounds: a thread holds at most one batch (BH_BATCH blocks, 4 KiB) and
 * the rest of the chunk it carves from, freed by a pthread key destructor
 * when it exits; a loop holds at most LOOP_BH_SLOTS published batches plus
 * the one it is filling (about 4,200 blocks, only after a burst of that
 * many posts in flight), freed at its teardown; beyond that, blocks are
 * freed (the loop's run of them keeps one chunk live until it is
 * dropped).  A cached block keeps its chunk alive, so the memory behind a
 * loop's cache is about 140 KiB when blocks are recycled in the order they
 * were carved, as a burst recycles them, and at worst 30 times that.
 * Under ASan nothing is recycled or carved, so that a use of a one-shot's
 * block after it ran stays detectable.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "base/atomic.h"
#include "base/check.h"
#include "base/compiler.h"
#include "loop/loop-priv.h"

#define BH_RECYCLE LOOM__BH_RECYCLE

#define BH_BATCH LOOP_BH_BATCH

#if BH_RECYCLE
/*
 * Chunks: BH_CHUNK_ALLOC bytes aligned to BH_CHUNK_SIZE, header first.
 * Not the whole BH_CHUNK_SIZE: malloc's own header (glibc: one word before
 * the block, sizes rounded to 16) then fits in the slot's tail, and chunks
 * allocated in a row come 1 KiB apart.  Asking for 1 KiB put each in a
 * 2 KiB slot (see the top).  The header takes a whole block, so that
 * blocks never straddle a cache line.
 */
#define BH_CHUNK_SIZE LOOP_BH_CHUNK_SIZE
#define BH_CHUNK_ALLOC (BH_CHUNK_SIZE - 16u)
#define BH_BLOCK ((unsigned)LOOP_BH_ONESHOT_SIZE)
#define BH_CHUNK_HDR BH_BLOCK
#define BH_PER_CHUNK LOOP_BH_PER_CHUNK
_Static_assert(BH_CHUNK_HDR + BH_PER_CHUNK * BH_BLOCK <= BH_CHUNK_ALLOC,
               "a chunk's blocks fit in its allocation");

struct bh_chunk {
    unsigned live; /* atomic: blocks not yet freed, uncarved ones included */
    struct bh_chunk *next; /* in g_pool */
};

_Static_assert(sizeof(struct bh_chunk) <= BH_CHUNK_HDR, "chunk header");

/* initial-exec: a plain %fs access, no __tls_get_addr() call per post. */
#define BH_TLS_MODEL __attribute__((tls_model("initial-exec")))
/* Linked by ->next; loom__bh_mem_alloc() (loop-priv.h) pops it inline. */
__thread struct loom_bh *loom__bh_tls_free BH_TLS_MODEL;
static __thread unsigned tls_slot BH_TLS_MODEL; /* next bh_spare slot to try */
/* Next block to carve and how many are left; carved inline, loop-priv.h. */
__thread char *loom__bh_tls_carve BH_TLS_MODEL;
__thread unsigned loom__bh_tls_carve_left BH_TLS_MODEL;
static __thread bool tls_key_set BH_TLS_MODEL;
static pthread_key_t tls_key;
static pthread_once_t tls_key_once = PTHREAD_ONCE_INIT;
static bool tls_key_ok;

/*
 * Empty chunks kept for carving (see the top); 8 MiB at most.  A queue,
 * not a stack: a burst empties its chunks in the order they were carved,
 * and the next burst carves them in that order again, so its blocks keep
 * rising addresses across chunks and the prefetchers (and bh.c's walks)
 * keep streaming.  A stack handed them out in reverse, chunk by chunk.
 */
#define POOL_MAX 8192u
static pthread_mutex_t g_pool_lock = PTHREAD_MUTEX_INITIALIZER;
/* Protected by g_pool_lock: oldest first, linked by ->next. */
static struct bh_chunk *g_pool, *g_pool_tail;
static unsigned g_npool;

/* An empty chunk from the pool, or a new one; NULL without memory. */
static struct bh_chunk *chunk_get(void)
{
    struct bh_chunk *c;
    void *p;

    pthread_mutex_lock(&g_pool_lock);
    c = g_pool;
    if (c) {
        g_pool = c->next;
        g_npool--;
    }
    if (!g_pool) {
        g_pool_tail = NULL;
    }
    pthread_mutex_unlock(&g_pool_lock);
    if (c) {
        return c;
    }
    /* posix_memalign(): aligned_alloc() wants a multiple of the alignment. */
    return posix_memalign(&p, BH_CHUNK_SIZE, BH_CHUNK_ALLOC) ? NULL : p;
}

/* Drop @n blocks of the chunk holding @p; the last one pools or frees it. */
static void chunk_put(void *p, unsigned n)
{
    struct bh_chunk *c = (struct bh_chunk *)loom__bh_chunk_of(p);

    /* Pairs with itself: the last dropper sees every block's last use. */
    if (loom__atomic_sub_fetch(&c->live, n) != 0) {
        return;
    }
    pthread_mutex_lock(&g_pool_lock);
    if (g_npool < POOL_MAX) {
        c->next = NULL;
        if (g_pool_tail) {
            g_pool_tail->next = c;
        } else {
            g_pool = c;
        }
        g_pool_tail = c;
        g_npool++;
        c = NULL;
    }
    pthread_mutex_unlock(&g_pool_lock);
    free(c);
}

static void free_chain(struct loom_bh *bh)
{
    struct loom_bh *next;

    for (; bh; bh = next) {
        next = bh->next;
        chunk_put(bh, 1);
    }
}

/*
 * Drop the run of @l's released blocks (l->bh_put_n blocks of the chunk
 * at l->bh_put_chunk; loom__bh_mem_release() counts it).
 */
static void put_flush(struct loom_loop *l)
{
    if (l->bh_put_n) {
        chunk_put((void *)l->bh_put_chunk, l->bh_put_n);
        l->bh_put_chunk = 0;
        l->bh_put_n = 0;
    }
}

/* Thread exit: free what the thread took and did not use. */
static void tls_destructor(void *unused)
{
    (void)unused;
    free_chain(loom__bh_tls_free);
    loom__bh_tls_free = NULL;
    if (loom__bh_tls_carve_left) {
        chunk_put(loom__bh_tls_carve, loom__bh_tls_carve_left);
        loom__bh_tls_carve_left = 0;
    }
}

static void tls_key_init(void)
{
    tls_key_ok = pthread_key_create(&tls_key, tls_destructor) == 0;
}

/*
 * Arm the thread-exit destructor before the thread holds memory of ours.
 * Return: false if it cannot be (no pthread key left).
 */
static bool tls_ready(void)
{
    if (LOOM_UNLIKELY(!tls_key_set)) {
        pthread_once(&tls_key_once, tls_key_init);
        if (!tls_key_ok || pthread_setspecific(tls_key, &tls_key) != 0) {
            return false;
        }
        tls_key_set = true;
    }
    return true;
}

/* A new block from the thread's chunk (a new chunk when it is used up). */
static struct loom_bh *carve(void)
{
    struct loom_bh *bh;

    if (LOOM_UNLIKELY(!loom__bh_tls_carve_left)) {
        struct bh_chunk *c;

        if (!tls_ready()) {
            return NULL;
        }
        c = chunk_get();
        if (!c) {
            return NULL;
        }
        c->live = BH_PER_CHUNK;
        loom__bh_tls_carve = (char *)c + BH_CHUNK_HDR;
        loom__bh_tls_carve_left = BH_PER_CHUNK;
    }
    bh = (struct loom_bh *)loom__bh_tls_carve;
    loom__bh_tls_carve += BH_BLOCK;
    loom__bh_tls_carve_left--;
    return bh;
}

/* Take one published batch of @l into loom__bh_tls_free; false if none. */
static bool take_spare(struct loom_loop *l)
{
    struct loom_bh *batch;
    unsigned i, k;

    /* One load while nothing is published (the line rarely changes). */
    if (!loom__atomic_read(&l->bh_nspare)) {
        return false;
    }
    /* Without the destructor the batch would leak at thread exit. */
    if (!tls_ready()) {
        return false;
    }
    for (i = 0; i < LOOP_BH_SLOTS; i++) {
        k = (tls_slot + i) % LOOP_BH_SLOTS;
        if (!loom__atomic_read(&l->bh_spare[k])) {
            continue;
        }
        /*
         * Pairs with the store-release in recycle_publish(): the loop's
         * last writes to the blocks happen before we reuse them.
         */
        batch = __atomic_exchange_n(&l->bh_spare[k], NULL, __ATOMIC_ACQUIRE);
        if (batch) {
            __atomic_fetch_sub(&l->bh_nspare, 1, __ATOMIC_RELAXED);
            tls_slot = k + 1;
            loom__bh_tls_free = batch;
            return true;
        }
    }
    return false;
}

/* Context: home(loop).  Publish the full batch if a slot is free. */
static bool recycle_publish(struct loom_loop *l)
{
    unsigned k = l->bh_slot;

    if (loom__atomic_read(&l->bh_spare[k])) {
        return false;
    }
    /*
     * Only the loop stores non-NULL, and it read NULL: nobody else can
     * have stored since.  Pairs with the xchg in take_spare().
     */
    loom__atomic_store_release(&l->bh_spare[k], l->bh_cache);
    __atomic_fetch_add(&l->bh_nspare, 1, __ATOMIC_RELAXED);
    l->bh_slot = (k + 1) % LOOP_BH_SLOTS;
    l->bh_cache = NULL;
    l->bh_ncache = 0;
    return true;
}
#endif

struct loom_bh *loom__bh_mem_alloc_slow(struct loom_loop *l)
{
#if BH_RECYCLE
    struct loom_bh *bh;

    /* The thread's list is empty: loom__bh_mem_alloc() popped it else. */
    if (take_spare(l)) {
        bh = loom__bh_tls_free;
        loom__bh_tls_free = bh->next;
        return bh;
    }
    return carve();
#else
    (void)l;
    /* A short block, as carved: ASan sees any use of ->l or ->name. */
    return malloc(LOOP_BH_ONESHOT_SIZE);
#endif
}

void loom__bh_mem_free(struct loom_bh *bh)
{
#if BH_RECYCLE
    chunk_put(bh, 1);
#else
    free(bh);
#endif
}

void loom__bh_mem_release_slow(struct loom_loop *l, struct loom_bh *bh)
{
#if BH_RECYCLE
    /* The inline path in loop-priv.h took every other case. */
    if (l->bh_ncache < BH_BATCH) {
        /* The batch's last block: publish it if a slot is free. */
        bh->next = l->bh_cache;
        l->bh_cache = bh;
        if (++l->bh_ncache == BH_BATCH) {
            (void)recycle_publish(l);
        }
        return;
    }
    /*
     * A full batch stays here while every slot we try is taken, and
     * released blocks go back to their chunks.  At each block of another
     * chunk than the run's (every BH_PER_CHUNK blocks of a burst), try the
     * slot again.
     */
    if (recycle_publish(l)) {
        bh->next = NULL;
        l->bh_cache = bh;
        l->bh_ncache = 1;
        return;
    }
    put_flush(l);
    l->bh_put_chunk = loom__bh_chunk_of(bh);
    l->bh_put_n = 1;
#else
    (void)l;
    free(bh);
#endif
}

unsigned loom__bh_mem_pooled(void)
{
#if BH_RECYCLE
    struct bh_chunk *c, *last = NULL;
    unsigned n = 0;

    /* Tests only: walk the queue, so that a broken link shows. */
    pthread_mutex_lock(&g_pool_lock);
    for (c = g_pool; c; c = c->next) {
        last = c;
        n++;
    }
    if (n != g_npool || last != g_pool_tail) {
        loom__panic("bh-recycle: chunk pool queue broken (%u linked, %u "
                    "counted)",
                    n, g_npool);
    }
    pthread_mutex_unlock(&g_pool_lock);
    return n;
#else
    return 0;
#endif
}

void loom__bh_mem_teardown(struct loom_loop *l)
{
#if BH_RECYCLE
    unsigned i;

    free_chain(l->bh_cache);
    l->bh_cache = NULL;
    l->bh_ncache = 0;
    for (i = 0; i < LOOP_BH_SLOTS; i++) {
        /* Pairs with the xchg in take_spare() (teardown: none races). */
        free_chain(loom__atomic_xchg(&l->bh_spare[i], NULL));
    }
    l->bh_nspare = 0;
    /* The pool's count is exact again once teardown returns. */
    put_flush(l);
#else
    (void)l;
#endif
}
