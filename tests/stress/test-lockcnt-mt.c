/* SPDX-License-Identifier: MIT */
/*
 * Stress tests of the lock-free read paths (suite 'stress', TSan in CI):
 *  - loom_lockcnt: visitors walk a list without the mutex while a deleter
 *    inserts and removes nodes; removed nodes are freed only by whoever
 *    sees the count at zero with the mutex held.  Visitors check every node
 *    they reach is not poisoned (and ASan checks it is not freed).
 *  - loom_seqlock: readers never act on a torn multi-word value while two
 *    writers (serialised by their own mutex) keep updating it.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>

#include <loom/thread.h>

#include "harness.h"

#define SEC (1000 * 1000 * 1000LL)
/* Stress runs are long under sanitizers: twice the usual watchdog. */
#define WATCHDOG_NS (2 * HARNESS_WATCHDOG_NS)

#define NODE_MAGIC 0x600dcafe600dcafeULL
#define NODE_POISON 0xdeaddeaddeaddeadULL

static void *xmalloc(size_t n)
{
    void *p = malloc(n);

    g_assert_nonnull(p);
    return p;
}

/* Start @n loom threads running @fn(index); join them with a watchdog. */
struct crew {
    struct loom_thread *t[8];
    intptr_t idx[8];
    int n;
    struct loom_sem done;
    void *(*fn)(intptr_t);
};

static void *crew_main(void *opaque)
{
    intptr_t *idx = opaque;
    struct crew *c = (struct crew *)((char *)(idx - *idx) -
                                     offsetof(struct crew, idx));

    c->fn(*idx);
    loom_sem_post(&c->done);
    return NULL;
}

static void crew_run(struct crew *c, int n, void *(*fn)(intptr_t),
                     const char *what)
{
    int64_t deadline;
    int i;

    c->n = n;
    c->fn = fn;
    loom_sem_init(&c->done, 0);
    for (i = 0; i < n; i++) {
        c->idx[i] = i;
        g_assert_cmpint(loom_thread_create(&c->t[i], "stress", crew_main,
                                           &c->idx[i], 0), ==, 0);
    }
    deadline = harness_now_ns() + WATCHDOG_NS;
    for (i = 0; i < n; i++) {
        if (loom_sem_timedwait(&c->done, harness_left_ns(deadline)) != 0) {
            g_error("%s: workers did not finish in time", what);
        }
    }
    for (i = 0; i < n; i++) {
        g_assert_cmpint(loom_thread_join(c->t[i], NULL), ==, 0);
    }
    loom_sem_destroy(&c->done);
}

/* --- lockcnt ------------------------------------------------------- */

#define LC_VISITORS 3
#define LC_DELETER_ITERS 50000
#define LC_MAX_NS (5 * SEC) /* stop early on slow (sanitizer) builds */
#define LC_LIVE_TARGET 16

struct node {
    struct node *next;  /* atomic */
    uint64_t value;     /* atomic */
    uint32_t deleted;   /* atomic */
};

static struct {
    struct loom_lockcnt cnt;
    struct node *head;      /* atomic; modified under cnt's mutex */
    /* Under cnt's mutex. */
    unsigned live;          /* linked and not marked deleted */
    uint64_t created, freed, deferred;
    uint32_t stop;          /* atomic */
    uint32_t started;       /* atomic: visitors that visited once */
    uint64_t visits;        /* atomic */
    uint64_t sweeps;        /* atomic */
} g_lc;

/* Unlink and free every node marked deleted.  Mutex held, count zero. */
static void lc_sweep(void)
{
    struct node **pp = &g_lc.head;
    struct node *n;

    g_assert_cmpuint(loom_lockcnt_get(&g_lc.cnt), ==, 0);
    while ((n = __atomic_load_n(pp, __ATOMIC_RELAXED)) != NULL) {
        if (__atomic_load_n(&n->deleted, __ATOMIC_RELAXED)) {
            __atomic_store_n(pp, n->next, __ATOMIC_RELAXED);
            __atomic_store_n(&n->value, NODE_POISON, __ATOMIC_RELAXED);
            free(n);
            g_lc.freed++;
            continue;
        }
        pp = &n->next;
    }
    __atomic_fetch_add(&g_lc.sweeps, 1, __ATOMIC_RELAXED);
}

static void lc_visit(void)
{
    struct node *n;

    /* Pairs with the release stores in lc_deleter(). */
    for (n = __atomic_load_n(&g_lc.head, __ATOMIC_ACQUIRE); n;
         n = __atomic_load_n(&n->next, __ATOMIC_ACQUIRE)) {
        uint64_t v = __atomic_load_n(&n->value, __ATOMIC_RELAXED);

        if (v != NODE_MAGIC) {
            g_error("visitor reached a freed node (value %#llx)",
                    (unsigned long long)v);
        }
    }
    __atomic_fetch_add(&g_lc.visits, 1, __ATOMIC_RELAXED);
}

static void *lc_visitor(intptr_t index)
{
    unsigned i = 0;

    /* Make sure every visitor overlaps with the deleter. */
    loom_lockcnt_inc(&g_lc.cnt);
    lc_visit();
    loom_lockcnt_dec(&g_lc.cnt);
    __atomic_fetch_add(&g_lc.started, 1, __ATOMIC_RELEASE);

    while (!__atomic_load_n(&g_lc.stop, __ATOMIC_ACQUIRE)) {
        loom_lockcnt_inc(&g_lc.cnt);
        lc_visit();
        /* Nested visit: the count stays positive throughout. */
        if (i % 5 == 0) {
            loom_lockcnt_inc(&g_lc.cnt);
            lc_visit();
            loom_lockcnt_dec(&g_lc.cnt);
        }
        if (i % 64 == 0) {
            /* A long visit: the deleter must defer meanwhile. */
            sched_yield();
            lc_visit();
        }
        switch ((i + (unsigned)index) % 3) {
        case 0:
            if (loom_lockcnt_dec_and_lock(&g_lc.cnt)) {
                lc_sweep();
                loom_lockcnt_unlock(&g_lc.cnt);
            }
            break;
        case 1:
            if (loom_lockcnt_dec_if_lock(&g_lc.cnt)) {
                lc_sweep();
                loom_lockcnt_unlock(&g_lc.cnt);
            } else if (loom_lockcnt_dec_and_lock(&g_lc.cnt)) {
                lc_sweep();
                loom_lockcnt_unlock(&g_lc.cnt);
            }
            break;
        default:
            /* Leaves deleted nodes for someone else to sweep. */
            loom_lockcnt_dec(&g_lc.cnt);
            break;
        }
        if (++i % 64 == 0) {
            sched_yield();
        }
    }
    return NULL;
}

static void lc_deleter(void)
{
    int64_t end;
    unsigned i;

    while (__atomic_load_n(&g_lc.started, __ATOMIC_ACQUIRE) < LC_VISITORS) {
        sched_yield();
    }
    end = harness_run_end(LC_MAX_NS);

    for (i = 0; i < LC_DELETER_ITERS; i++) {
        struct node *n;

        if (i % 256 == 0) {
            if (harness_run_over(end)) {
                break;
            }
            /* Let the visitors run on a single CPU too. */
            sched_yield();
        }
        n = xmalloc(sizeof(*n));

        loom_lockcnt_lock(&g_lc.cnt);
        n->value = NODE_MAGIC;
        n->deleted = 0;
        n->next = g_lc.head;
        /* Pairs with the acquire loads in lc_visit(). */
        __atomic_store_n(&g_lc.head, n, __ATOMIC_RELEASE);
        g_lc.created++;
        g_lc.live++;

        if (g_lc.live > LC_LIVE_TARGET) {
            /* Remove the (i % live)-th live node. */
            unsigned k = i % g_lc.live;
            struct node **pp = &g_lc.head;
            struct node *v;

            for (;;) {
                v = *pp;
                if (!v->deleted && k-- == 0) {
                    break;
                }
                pp = &v->next;
            }
            if (loom_lockcnt_get(&g_lc.cnt) == 0) {
                /*
                 * No visitor, and none can start while we hold the mutex:
                 * free at once.
                 */
                __atomic_store_n(pp, v->next, __ATOMIC_RELEASE);
                __atomic_store_n(&v->value, NODE_POISON, __ATOMIC_RELAXED);
                free(v);
                g_lc.freed++;
            } else {
                __atomic_store_n(&v->deleted, 1, __ATOMIC_RELAXED);
                g_lc.deferred++;
            }
            g_lc.live--;
        }
        if (i % 3 == 0) {
            loom_lockcnt_unlock(&g_lc.cnt);
        } else {
            /* Visit right after the change, entering as we unlock. */
            loom_lockcnt_inc_and_unlock(&g_lc.cnt);
            lc_visit();
            if (loom_lockcnt_dec_and_lock(&g_lc.cnt)) {
                lc_sweep();
                loom_lockcnt_unlock(&g_lc.cnt);
            }
        }
    }
}

static void *lc_thread(intptr_t index)
{
    if (index == 0) {
        lc_deleter();
        /* Pairs with the acquire load in lc_visitor(). */
        __atomic_store_n(&g_lc.stop, 1, __ATOMIC_RELEASE);
        return NULL;
    }
    return lc_visitor(index);
}

static void test_lockcnt_visitors(void)
{
    struct crew c;
    struct node *n;

    loom_lockcnt_init(&g_lc.cnt);
    crew_run(&c, 1 + LC_VISITORS, lc_thread, "lockcnt");

    g_assert_cmpuint(loom_lockcnt_get(&g_lc.cnt), ==, 0);
    g_assert_cmpuint(g_lc.visits, >, 0);
    /* Deferred deletions happened and were swept by last visitors. */
    g_test_message("created %llu freed %llu deferred %llu sweeps %llu "
                   "visits %llu", (unsigned long long)g_lc.created,
                   (unsigned long long)g_lc.freed,
                   (unsigned long long)g_lc.deferred,
                   (unsigned long long)g_lc.sweeps,
                   (unsigned long long)g_lc.visits);
    loom_lockcnt_lock(&g_lc.cnt);
    lc_sweep();
    loom_lockcnt_unlock(&g_lc.cnt);
    g_assert_cmpuint(g_lc.created - g_lc.freed, ==, g_lc.live);
    g_assert_cmpuint(g_lc.live, ==, LC_LIVE_TARGET);
    while ((n = g_lc.head) != NULL) {
        g_assert_cmpuint(n->value, ==, NODE_MAGIC);
        g_lc.head = n->next;
        free(n);
    }
    loom_lockcnt_destroy(&g_lc.cnt);
}

/* --- seqlock ------------------------------------------------------- */

#define SQ_WORDS 4
#define SQ_WRITERS 2
#define SQ_READERS 2
#define SQ_WRITER_ITERS 100000

static struct {
    struct loom_seqlock sl;
    struct loom_mutex wlock;
    uint64_t w[SQ_WORDS];       /* atomic (relaxed), under sl */
    uint32_t writers_left;      /* atomic */
    uint32_t readers_started;   /* atomic */
    uint64_t reads, retries;    /* atomic */
} g_sq;

static void *sq_thread(intptr_t index)
{
    if (index < SQ_WRITERS) {
        uint64_t i;
        int k;

        while (__atomic_load_n(&g_sq.readers_started, __ATOMIC_ACQUIRE) <
               SQ_READERS) {
            sched_yield();
        }
        for (i = 1; i <= SQ_WRITER_ITERS; i++) {
            uint64_t v = (uint64_t)index << 40 | i;

            if (i % 1024 == 0) {
                sched_yield();
            }

            loom_mutex_lock(&g_sq.wlock);
            loom_seqlock_write_begin(&g_sq.sl);
            for (k = 0; k < SQ_WORDS; k++) {
                __atomic_store_n(&g_sq.w[k], v, __ATOMIC_RELAXED);
            }
            loom_seqlock_write_end(&g_sq.sl);
            loom_mutex_unlock(&g_sq.wlock);
        }
        __atomic_fetch_sub(&g_sq.writers_left, 1, __ATOMIC_RELEASE);
        return NULL;
    }
    __atomic_fetch_add(&g_sq.readers_started, 1, __ATOMIC_RELEASE);
    while (__atomic_load_n(&g_sq.writers_left, __ATOMIC_ACQUIRE) > 0) {
        uint64_t copy[SQ_WORDS];
        unsigned s;
        int k, tries = 0;

        do {
            s = loom_seqlock_read_begin(&g_sq.sl);
            /* Reverse order, to widen the window for tearing. */
            for (k = SQ_WORDS - 1; k >= 0; k--) {
                copy[k] = __atomic_load_n(&g_sq.w[k], __ATOMIC_RELAXED);
            }
            tries++;
        } while (loom_seqlock_read_retry(&g_sq.sl, s));
        for (k = 1; k < SQ_WORDS; k++) {
            if (copy[k] != copy[0]) {
                g_error("seqlock reader saw a torn value: word 0 %#llx, "
                        "word %d %#llx", (unsigned long long)copy[0], k,
                        (unsigned long long)copy[k]);
            }
        }
        __atomic_fetch_add(&g_sq.reads, 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&g_sq.retries, tries - 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void test_seqlock_readers(void)
{
    struct crew c;
    int k;

    loom_seqlock_init(&g_sq.sl);
    loom_mutex_init(&g_sq.wlock);
    g_sq.writers_left = SQ_WRITERS;
    crew_run(&c, SQ_WRITERS + SQ_READERS, sq_thread, "seqlock");
    g_test_message("reads %llu retries %llu",
                   (unsigned long long)g_sq.reads,
                   (unsigned long long)g_sq.retries);
    /* The last write is complete and consistent. */
    for (k = 1; k < SQ_WORDS; k++) {
        g_assert_cmpuint(g_sq.w[k], ==, g_sq.w[0]);
    }
    g_assert_cmpuint(g_sq.w[0] & 0xffffffffff, ==, SQ_WRITER_ITERS);
    loom_mutex_destroy(&g_sq.wlock);
    loom_seqlock_destroy(&g_sq.sl);
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/lockcnt-mt/visitors-and-deleter", test_lockcnt_visitors);
    g_test_add_func("/seqlock-mt/no-torn-reads", test_seqlock_readers);
    return g_test_run();
}
