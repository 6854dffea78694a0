/* SPDX-License-Identifier: MIT */
/*
 * Intrusive min-heap keyed by int64_t (internal), stored in an array as
 * an implicit 4-ary tree (see heap.c for why not binary).
 *
 * The heap is an array of entries { key, node }; each node records its
 * own index in that array, so removal and re-keying of an arbitrary node
 * are O(log n) and peeking at the minimum is O(1).  Keys are compared
 * first, then a per-heap sequence number assigned at every insert and
 * re-key: among equal keys the node (re-)inserted first comes out first
 * (FIFO tie-break).  Keys live in the array so that sifting reads
 * contiguous memory; the sequence number lives in the node, read only
 * when two keys are equal, so that an entry is 16 bytes (64-bit targets)
 * and the four children of a node share one cache line (see heap.c).
 *
 * Not thread-safe: the owner's lock guards the heap and its nodes.
 */
#ifndef LOOM_BASE_HEAP_H
#define LOOM_BASE_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Index of a node that is not in any heap. */
#define LOOM__HEAP_NONE SIZE_MAX

/* Embed one in each object that can sit in a heap. */
struct loom__heap_node {
    size_t index; /* position in the heap's array, or LOOM__HEAP_NONE */
    uint64_t seq; /* tie-break among equal keys, while in a heap */
};

struct loom__heap_entry {
    int64_t key;
    struct loom__heap_node *node;
};

struct loom__heap {
    /*
     * a[0] is the minimum.  The allocation starts a few entries before
     * a[0], at a cache-line boundary (heap.c); NULL while cap is 0.
     */
    struct loom__heap_entry *a;
    size_t len;
    size_t cap;
    uint64_t seq; /* next sequence number */
};

/* Context: owner.  An empty heap; allocates nothing. */
void loom__heap_init(struct loom__heap *h);

/* Context: owner.  Frees the array; nodes still in it are dropped. */
void loom__heap_destroy(struct loom__heap *h);

/*
 * loom__heap_reserve() - make room for @n entries, so that the next
 * inserts up to that size cannot fail.
 * Context: owner.  Return: 0, or -ENOMEM (the heap is unchanged).
 */
int loom__heap_reserve(struct loom__heap *h, size_t n);

/* Children per node. */
#define LOOM__HEAP_ARITY 4

/* The slot of slot @i's parent (@i > 0). */
static inline size_t loom__heap_parent(size_t i)
{
    return (i - 1) / LOOM__HEAP_ARITY;
}

/*
 * The helpers below are shared by heap.c and the inline insert (arming a
 * timer inserts; a call and a stack frame were a tenth of its
 * instructions).  Strict (key, seq) order; seq values are unique within
 * a heap.  Equal keys are rare outside tests, so the node (another cache
 * line) is read only then.
 */
static inline bool loom__heap_entry_less(const struct loom__heap_entry *a,
                                         const struct loom__heap_entry *b)
{
    return a->key < b->key ||
           (a->key == b->key && a->node->seq < b->node->seq);
}

/*
 * Store @e at slot @i of array @a.  Callers pass h->a in a local: the
 * index store may alias anything (-fno-strict-aliasing), and reloading
 * h->a after each would cost a load per level.
 */
static inline void loom__heap_put(struct loom__heap_entry *a, size_t i,
                                  const struct loom__heap_entry *e)
{
    a[i] = *e;
    e->node->index = i;
}

/*
 * Place @e at or above slot @i of @h, whose old content is already
 * elsewhere: the entries it passes move down one level each, and it is
 * stored once.
 */
static inline void loom__heap_sift_up(struct loom__heap *h, size_t i,
                                      const struct loom__heap_entry *e)
{
    struct loom__heap_entry *a = h->a;

    while (i > 0) {
        size_t p = loom__heap_parent(i);

        if (!loom__heap_entry_less(e, &a[p])) {
            break;
        }
        loom__heap_put(a, i, &a[p]);
        i = p;
    }
    loom__heap_put(a, i, e);
}

/*
 * loom__heap_insert_grow() - loom__heap_insert() when the array is full.
 * Context: owner.  Return: 0, or -ENOMEM (the heap is unchanged).
 */
int loom__heap_insert_grow(struct loom__heap *h, struct loom__heap_node *node,
                           int64_t key);

/*
 * loom__heap_insert() - add @node (not in any heap) with @key, behind the
 * nodes already present with the same key.
 * Context: owner.  Return: 0, or -ENOMEM when the array had to grow and
 * could not (never after a sufficient loom__heap_reserve()).
 */
static inline int loom__heap_insert(struct loom__heap *h,
                                    struct loom__heap_node *node, int64_t key)
{
    struct loom__heap_entry e = {.key = key, .node = node};

    if (__builtin_expect(h->len == h->cap, 0)) {
        return loom__heap_insert_grow(h, node, key);
    }
    node->seq = h->seq++;
    loom__heap_sift_up(h, h->len++, &e);
    return 0;
}

/* Context: owner.  @node must be in @h; it is out of it afterwards. */
void loom__heap_remove(struct loom__heap *h, struct loom__heap_node *node);

/*
 * loom__heap_update() - give @node (in @h) a new key; it goes behind the
 * nodes with the same key, as if removed and inserted again.
 * Context: owner.
 */
void loom__heap_update(struct loom__heap *h, struct loom__heap_node *node,
                       int64_t key);

/* Context: owner.  Removes and returns the minimum, or NULL when empty. */
struct loom__heap_node *loom__heap_pop(struct loom__heap *h);

static inline void loom__heap_node_init(struct loom__heap_node *node)
{
    node->index = LOOM__HEAP_NONE;
}

static inline bool loom__heap_node_linked(const struct loom__heap_node *node)
{
    return node->index != LOOM__HEAP_NONE;
}

static inline size_t loom__heap_len(const struct loom__heap *h)
{
    return h->len;
}

/* The minimum node, or NULL when empty; the heap is unchanged. */
static inline struct loom__heap_node *loom__heap_min(const struct loom__heap *h)
{
    return h->len ? h->a[0].node : NULL;
}

/* Key of the minimum; the heap must not be empty. */
static inline int64_t loom__heap_min_key(const struct loom__heap *h)
{
    return h->a[0].key;
}

/* Sequence number of the minimum; the heap must not be empty. */
static inline uint64_t loom__heap_min_seq(const struct loom__heap *h)
{
    return h->a[0].node->seq;
}

/*
 * The sequence number the next insert or update will get: every node
 * inserted or updated from now on has a sequence number >= this.
 */
static inline uint64_t loom__heap_next_seq(const struct loom__heap *h)
{
    return h->seq;
}

/* Key of @node, which must be in @h. */
static inline int64_t loom__heap_key(const struct loom__heap *h,
                                     const struct loom__heap_node *node)
{
    return h->a[node->index].key;
}

/*
 * loom__heap_check() - verify the heap property, every node's index and
 * the array's cache-line layout (tests).
 * Context: owner.  Return: true if consistent.
 */
bool loom__heap_check(const struct loom__heap *h);

#endif /* LOOM_BASE_HEAP_H */
