/* SPDX-License-Identifier: MIT */
/*
 * Array min-heap with per-node indices and a FIFO tie-break (see heap.h),
 * entered by whichever thread holds the owner's lock.  4-ary, like libev's:
 * every level an entry moves writes another node's index (usually a cache
 * miss), and half the levels of a binary heap made arming 100,000 timers
 * ~25% cheaper and re-arming one among them ~15% (same machine and run).
 * Sifting moves a "hole": the entry being placed is held aside, the ones it
 * passes move one step, and it is stored once at its final slot.
 *
 * An entry is 16 bytes on 64-bit targets (key and node; the FIFO
 * sequence number is in the node, read only on equal keys), and the array
 * starts PAD entries into a cache-line-aligned allocation, so that the
 * four children of slot i, 4i+1 .. 4i+4, fill exactly one 64-byte line
 * (libev lays its 4-heap out the same way): choosing the smallest child
 * reads one line, not two.
 */
#include "base/heap.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARITY LOOM__HEAP_ARITY
#define LINE 64
/*
 * Whether four entries fill a line exactly (16-byte entries: 64-bit
 * targets); elsewhere the array is merely line-aligned.
 */
#define LINE_FIT (LINE / sizeof(struct loom__heap_entry) == ARITY &&           \
                  LINE % sizeof(struct loom__heap_entry) == 0)
/* Entries before a[0] in the allocation: (4i + 1 + PAD) * 16 % 64 == 0. */
#define PAD ((size_t)(LINE_FIT ? ARITY - 1 : 0))

/* The smallest of the children @c.. (fewer than ARITY at the end) of @n. */
static inline size_t min_child(const struct loom__heap_entry *a, size_t c,
                               size_t n)
{
    size_t m = c, m2, j;

    if (c + ARITY <= n) {
        /* A full set (nearly always): a tournament, no loop. */
        m = loom__heap_entry_less(&a[c + 1], &a[c]) ? c + 1 : c;
        m2 = loom__heap_entry_less(&a[c + 3], &a[c + 2]) ? c + 3 : c + 2;
        return loom__heap_entry_less(&a[m2], &a[m]) ? m2 : m;
    }
    for (j = c + 1; j < n; j++) {
        if (loom__heap_entry_less(&a[j], &a[m])) {
            m = j;
        }
    }
    return m;
}

/* Place @e at or below slot @i (whose old content is already elsewhere). */
static void sift_down(struct loom__heap *h, size_t i,
                      const struct loom__heap_entry *e)
{
    struct loom__heap_entry *a = h->a;
    size_t n = h->len;

    for (;;) {
        size_t c = ARITY * i + 1;

        if (c >= n) {
            break;
        }
        c = min_child(a, c, n);
        if (!loom__heap_entry_less(&a[c], e)) {
            break;
        }
        loom__heap_put(a, i, &a[c]);
        i = c;
    }
    loom__heap_put(a, i, e);
}

/* Re-place @e, which belongs at slot @i or anywhere above or below it. */
static void sift(struct loom__heap *h, size_t i,
                 const struct loom__heap_entry *e)
{
    if (i > 0 && loom__heap_entry_less(e, &h->a[loom__heap_parent(i)])) {
        loom__heap_sift_up(h, i, e);
    } else {
        sift_down(h, i, e);
    }
}

void loom__heap_init(struct loom__heap *h)
{
    h->a = NULL;
    h->len = 0;
    h->cap = 0;
    h->seq = 0;
}

void loom__heap_destroy(struct loom__heap *h)
{
    size_t i;

    for (i = 0; i < h->len; i++) {
        h->a[i].node->index = LOOM__HEAP_NONE;
    }
    if (h->a) {
        free(h->a - PAD);
    }
    loom__heap_init(h);
}

int loom__heap_reserve(struct loom__heap *h, size_t n)
{
    struct loom__heap_entry *base;
    size_t cap, bytes;

    if (n <= h->cap) {
        return 0;
    }
    cap = h->cap < 16 ? 16 : h->cap;
    while (cap < n) {
        if (cap > SIZE_MAX / 2) {
            cap = n;
            break;
        }
        cap *= 2;
    }
    if (cap > (SIZE_MAX - LINE) / sizeof(*base) - PAD) {
        return -ENOMEM;
    }
    /* aligned_alloc() wants a multiple of the alignment. */
    bytes = ((cap + PAD) * sizeof(*base) + LINE - 1) / LINE * LINE;
    base = aligned_alloc(LINE, bytes);
    if (!base) {
        return -ENOMEM;
    }
    if (h->a) {
        memcpy(base + PAD, h->a, h->len * sizeof(*base));
        free(h->a - PAD);
    }
    /*
     * Touch the new room now: its page faults then hit the reserving call
     * (loom_timer_new()) rather than the arming fast path.
     */
    memset(base + PAD + h->len, 0, bytes - (PAD + h->len) * sizeof(*base));
    h->a = base + PAD;
    h->cap = cap;
    return 0;
}

int loom__heap_insert_grow(struct loom__heap *h, struct loom__heap_node *node,
                           int64_t key)
{
    int ret = loom__heap_reserve(h, h->len + 1);

    if (ret < 0) {
        return ret;
    }
    return loom__heap_insert(h, node, key);
}

void loom__heap_remove(struct loom__heap *h, struct loom__heap_node *node)
{
    size_t i = node->index;
    struct loom__heap_entry last;

    node->index = LOOM__HEAP_NONE;
    last = h->a[--h->len];
    if (i != h->len) {
        sift(h, i, &last);
    }
}

void loom__heap_update(struct loom__heap *h, struct loom__heap_node *node,
                       int64_t key)
{
    struct loom__heap_entry e = {.key = key, .node = node};

    node->seq = h->seq++;
    sift(h, node->index, &e);
}

/*
 * Removing the minimum (Floyd's variant): the last entry, which replaces
 * it, almost always belongs near the bottom, so move the hole down along
 * the smallest children to a leaf without comparing against that entry
 * (one comparison per level saved), then sift the entry up from there:
 * usually zero or one step.
 */
struct loom__heap_node *loom__heap_pop(struct loom__heap *h)
{
    struct loom__heap_node *node;
    struct loom__heap_entry last, *a = h->a;
    size_t i = 0, n, c;

    if (!h->len) {
        return NULL;
    }
    node = a[0].node;
    node->index = LOOM__HEAP_NONE;
    n = --h->len;
    if (!n) {
        return node;
    }
    last = a[n];
    for (;;) {
        c = ARITY * i + 1;
        if (c >= n) {
            break;
        }
        c = min_child(a, c, n);
        loom__heap_put(a, i, &a[c]);
        i = c;
    }
    loom__heap_sift_up(h, i, &last);
    return node;
}

bool loom__heap_check(const struct loom__heap *h)
{
    size_t i;

    /* The children of every slot share one cache line (see top). */
    if (LINE_FIT && h->a && (uintptr_t)&h->a[1] % LINE != 0) {
        return false;
    }
    for (i = 0; i < h->len; i++) {
        if (h->a[i].node->index != i) {
            return false;
        }
        if (i > 0 &&
            loom__heap_entry_less(&h->a[i], &h->a[loom__heap_parent(i)])) {
            return false;
        }
    }
    return true;
}
