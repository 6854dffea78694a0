/* SPDX-License-Identifier: MIT */
/*
 * Memory of BHs: recycled rather than freed, because a one-shot BH is
 * allocated by the posting thread and released by the loop thread, which
 * glibc's per-thread caches never turn into a reuse.  Allocation happens
 * in any thread (loom_bh_new(), loom_bh_oneshot()); release and teardown
 * in the loop's home thread.
 *
 * The loop (home thread) gathers the memory of the BHs it reclaims on
 * l->bh_cache; each BH_BATCH of them it publishes as one batch in an empty
 * slot of l->bh_spare[].  An allocating thread uses its own
 * thread-local list first, and when that is empty takes one whole batch
 * from a slot with one xchg.  Only the loop stores a non-NULL slot, and
 * only into a slot it read as NULL; other threads only exchange a slot for
 * NULL.  So a slot never changes under the loop between its load and its
 * store, and a thread that takes a batch owns it before it looks at any
 * node's next field: no ABA.  The blocks are plain malloc() memory of one
 * size, so a thread may take them from one loop and use them for another.
 *
 * Bounds: a thread holds at most one batch (BH_BATCH blocks, 6 KiB), freed
 * by a pthread key destructor when it exits; a loop holds at most
 * LOOP_BH_SLOTS published batches plus the one it is filling (about
 * 200 KiB, only after a burst of that many posts in flight, e.g. producer
 * and loop sharing a CPU), freed at its teardown; beyond that, memory is
 * freed.  Under ASan nothing is recycled, so that a use after
 * loom_bh_free() stays detectable.
 */
#include <pthread.h>
#include <stdlib.h>

#include "base/atomic.h"
#include "base/compiler.h"
#include "loop/loop-priv.h"

#ifdef LOOM_ASAN
#define BH_RECYCLE 0
#else
#define BH_RECYCLE 1
#endif

#define BH_BATCH 128u

#if BH_RECYCLE
/* initial-exec: a plain %fs access, no __tls_get_addr() call per post. */
#define BH_TLS_MODEL __attribute__((tls_model("initial-exec")))
static __thread struct loom_bh *tls_free BH_TLS_MODEL; /* linked by ->next */
static __thread unsigned tls_slot BH_TLS_MODEL; /* next bh_spare slot to try */
static __thread bool tls_key_set BH_TLS_MODEL;
static pthread_key_t tls_key;
static pthread_once_t tls_key_once = PTHREAD_ONCE_INIT;
static bool tls_key_ok;

static void free_chain(struct loom_bh *bh)
{
    struct loom_bh *next;

    for (; bh; bh = next) {
        next = bh->next;
        free(bh);
    }
}

/* Thread exit: free what the thread took and did not use. */
static void tls_destructor(void *unused)
{
    (void)unused;
    free_chain(tls_free);
    tls_free = NULL;
}

static void tls_key_init(void)
{
    tls_key_ok = pthread_key_create(&tls_key, tls_destructor) == 0;
}

/* Take one published batch of @l into tls_free; false if none. */
static bool take_spare(struct loom_loop *l)
{
    struct loom_bh *batch;
    unsigned i, k;

    /* One load while nothing is published (the line rarely changes). */
    if (!loom__atomic_read(&l->bh_nspare)) {
        return false;
    }
    if (LOOM_UNLIKELY(!tls_key_set)) {
        /* Without the destructor the batch would leak at thread exit. */
        pthread_once(&tls_key_once, tls_key_init);
        if (!tls_key_ok || pthread_setspecific(tls_key, &tls_key) != 0) {
            return false;
        }
        tls_key_set = true;
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
            tls_free = batch;
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

struct loom_bh *loom__bh_mem_alloc(struct loom_loop *l)
{
#if BH_RECYCLE
    struct loom_bh *bh = tls_free;

    if (LOOM_LIKELY(bh) || take_spare(l)) {
        bh = tls_free;
        tls_free = bh->next;
        return bh;
    }
#else
    (void)l;
#endif
    return malloc(sizeof(struct loom_bh));
}

void loom__bh_mem_release(struct loom_loop *l, struct loom_bh *bh)
{
#if BH_RECYCLE
    /*
     * A full batch stays here while every slot we try is taken; then the
     * memory goes back to malloc.
     */
    if (l->bh_ncache < BH_BATCH || recycle_publish(l)) {
        bh->next = l->bh_cache;
        l->bh_cache = bh;
        if (++l->bh_ncache == BH_BATCH) {
            (void)recycle_publish(l);
        }
        return;
    }
#else
    (void)l;
#endif
    free(bh);
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
#else
    (void)l;
#endif
}
