/* SPDX-License-Identifier: MIT */
/*
 * RCU-safe intrusive lists.
 *
 * Writers modify a list under a lock of their own; readers walk it inside
 * loom_rcu_read_lock() with LOOM_RCU_LIST_FOREACH() concurrently with the
 * writers.  A removed node may still be visited by readers that were
 * already walking: reclaim it only after a grace period
 * (loom_synchronize_rcu() or loom_call_rcu()), and do not re-insert it
 * before then.  Readers only walk forwards.
 *
 * struct loom_rcu_list is a circular doubly linked list (O(1) insertion
 * anywhere and removal); struct loom_rcu_slist is singly linked (one
 * pointer per node and head, removal is O(n)).
 */
#ifndef LOOM_RCU_LIST_H
#define LOOM_RCU_LIST_H

#include <loom/rcu.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * struct loom_rcu_list_node - link embedded in an element.
 *
 * Fields are private.
 */
struct loom_rcu_list_node {
    /* private: */
    struct loom_rcu_list_node *next; /* read by readers */
    struct loom_rcu_list_node *prev; /* writers only */
};

/**
 * struct loom_rcu_list - head of a doubly linked RCU list.
 *
 * Initialise with LOOM_RCU_LIST_INIT() or loom_rcu_list_init().
 */
struct loom_rcu_list {
    /* private: */
    struct loom_rcu_list_node head;
};

/** LOOM_RCU_LIST_INIT() - static initialiser for a list named @name. */
#define LOOM_RCU_LIST_INIT(name) { { &(name).head, &(name).head } }

/* private: the element containing @node, typed like @pos. */
#define LOOM__RCU_ENTRY(node, pos, member)                                    \
    ((__typeof__(pos))(void *)((char *)(node) -                               \
                               __builtin_offsetof(__typeof__(*(pos)),         \
                                                  member)))

/**
 * LOOM_RCU_LIST_ENTRY() - the element of type @type containing @node.
 * @node: a struct loom_rcu_list_node or loom_rcu_snode pointer, or NULL.
 * @type: the element type (without "*").
 * @member: name of the node in @type.
 *
 * Context: any.
 * Return: the element, or NULL if @node is NULL.
 */
#define LOOM_RCU_LIST_ENTRY(node, type, member)                               \
    ({                                                                        \
        char *loom__en = (char *)(node);                                      \
        loom__en ? (type *)(void *)(loom__en -                                \
                                    __builtin_offsetof(type, member))         \
                 : (type *)NULL;                                              \
    })

/**
 * loom_rcu_list_init() - make @list empty.
 *
 * Context: any, before @list is visible to readers.
 */
static inline void loom_rcu_list_init(struct loom_rcu_list *list)
{
    list->head.next = &list->head;
    list->head.prev = &list->head;
}

/**
 * loom_rcu_list_empty() - does @list have no elements?
 *
 * Context: rcu, or the writers' lock held.
 * Return: true if empty at the time of the load.
 */
static inline bool loom_rcu_list_empty(struct loom_rcu_list *list)
{
    return loom_rcu_access_pointer(list->head.next) == &list->head;
}

/* private: link @n between @prev and @next, publishing it last. */
static inline void loom__rcu_list_link(struct loom_rcu_list_node *n,
                                       struct loom_rcu_list_node *prev,
                                       struct loom_rcu_list_node *next)
{
    loom_rcu_init_pointer(n->next, next);
    n->prev = prev;
    /* Pairs with loom_rcu_dereference() in LOOM_RCU_LIST_FOREACH(). */
    loom_rcu_assign_pointer(prev->next, n);
    next->prev = n;
}

/**
 * loom_rcu_list_insert_head() - add @n as the first element of @list.
 *
 * @n's containing object must be fully initialised: readers may see it
 * as soon as this returns.
 *
 * Context: writers' lock held.
 */
static inline void loom_rcu_list_insert_head(struct loom_rcu_list *list,
                                             struct loom_rcu_list_node *n)
{
    loom__rcu_list_link(n, &list->head, list->head.next);
}

/**
 * loom_rcu_list_insert_tail() - add @n as the last element of @list.
 *
 * Context: writers' lock held.
 */
static inline void loom_rcu_list_insert_tail(struct loom_rcu_list *list,
                                             struct loom_rcu_list_node *n)
{
    loom__rcu_list_link(n, list->head.prev, &list->head);
}

/**
 * loom_rcu_list_insert_before() - add @n right before @pos (on a list).
 *
 * Context: writers' lock held.
 */
static inline void loom_rcu_list_insert_before(struct loom_rcu_list_node *pos,
                                               struct loom_rcu_list_node *n)
{
    loom__rcu_list_link(n, pos->prev, pos);
}

/**
 * loom_rcu_list_insert_after() - add @n right after @pos (on a list).
 *
 * Context: writers' lock held.
 */
static inline void loom_rcu_list_insert_after(struct loom_rcu_list_node *pos,
                                              struct loom_rcu_list_node *n)
{
    loom__rcu_list_link(n, pos, pos->next);
}

/**
 * loom_rcu_list_remove() - unlink @n from its list.
 *
 * @n->next is kept so that readers standing on @n can go on; @n may be
 * reclaimed (or inserted again) only after a grace period.
 *
 * Context: writers' lock held.
 */
static inline void loom_rcu_list_remove(struct loom_rcu_list_node *n)
{
    struct loom_rcu_list_node *next = n->next;

    /*
     * A release store although next is already published: a reader that
     * reaches next through this store then also sees next's contents in
     * the C11 model (and in ThreadSanitizer's).
     */
    loom_rcu_assign_pointer(n->prev->next, next);
    next->prev = n->prev;
    n->prev = NULL;
}

/**
 * loom_rcu_list_replace() - put @n in place of @old in one step.
 *
 * Readers see either @old or @n, never neither; @old is reclaimed after a
 * grace period.
 *
 * Context: writers' lock held.
 */
static inline void loom_rcu_list_replace(struct loom_rcu_list_node *old,
                                         struct loom_rcu_list_node *n)
{
    loom__rcu_list_link(n, old->prev, old->next);
    old->prev = NULL;
}

/**
 * LOOM_RCU_LIST_FOREACH() - walk @list from head to tail.
 * @pos: a pointer to the element type, the loop cursor.
 * @list: the struct loom_rcu_list pointer.
 * @member: name of the struct loom_rcu_list_node in the element.
 *
 * Context: rcu (inside loom_rcu_read_lock()), or the writers' lock held.
 */
#define LOOM_RCU_LIST_FOREACH(pos, list, member)                              \
    for ((pos) = LOOM__RCU_ENTRY(loom_rcu_dereference((list)->head.next),     \
                                 pos, member);                                \
         &(pos)->member != &(list)->head;                                     \
         (pos) = LOOM__RCU_ENTRY(loom_rcu_dereference((pos)->member.next),    \
                                 pos, member))

/**
 * LOOM_RCU_LIST_FOREACH_SAFE() - writer's walk that may remove @pos.
 * @pos: the loop cursor (element pointer).
 * @tmp: another element pointer, scratch.
 * @list: the struct loom_rcu_list pointer.
 * @member: name of the struct loom_rcu_list_node in the element.
 *
 * Context: writers' lock held.
 */
#define LOOM_RCU_LIST_FOREACH_SAFE(pos, tmp, list, member)                    \
    for ((pos) = LOOM__RCU_ENTRY((list)->head.next, pos, member),             \
        (tmp) = LOOM__RCU_ENTRY((pos)->member.next, pos, member);             \
         &(pos)->member != &(list)->head;                                     \
         (pos) = (tmp), (tmp) = LOOM__RCU_ENTRY((pos)->member.next, pos,      \
                                                member))

/**
 * loom_rcu_list_first() - the first element's node, or NULL if empty.
 *
 * Context: rcu, or the writers' lock held.
 */
static inline struct loom_rcu_list_node *
loom_rcu_list_first(struct loom_rcu_list *list)
{
    struct loom_rcu_list_node *n = loom_rcu_dereference(list->head.next);

    return n == &list->head ? NULL : n;
}

/**
 * loom_rcu_list_next() - the node after @n on @list, or NULL at the end.
 *
 * Context: rcu, or the writers' lock held.
 */
static inline struct loom_rcu_list_node *
loom_rcu_list_next(struct loom_rcu_list *list, struct loom_rcu_list_node *n)
{
    struct loom_rcu_list_node *next = loom_rcu_dereference(n->next);

    return next == &list->head ? NULL : next;
}

/**
 * struct loom_rcu_snode - link of a singly linked RCU list.
 *
 * Fields are private.
 */
struct loom_rcu_snode {
    /* private: */
    struct loom_rcu_snode *next;
};

/**
 * struct loom_rcu_slist - head of a singly linked RCU list (NULL-ended).
 *
 * Zero-initialised, or LOOM_RCU_SLIST_INIT, is an empty list.
 */
struct loom_rcu_slist {
    /* private: */
    struct loom_rcu_snode *first;
};

/* private: the element containing @node (may be NULL), typed like @pos. */
#define LOOM__RCU_SENTRY(node, pos, member)                                   \
    ({                                                                        \
        struct loom_rcu_snode *loom__sn = (node);                             \
        loom__sn ? LOOM__RCU_ENTRY(loom__sn, pos, member) : NULL;             \
    })

/** LOOM_RCU_SLIST_INIT - static initialiser for an empty slist. */
#define LOOM_RCU_SLIST_INIT { NULL }

/**
 * loom_rcu_slist_empty() - does @list have no elements?
 *
 * Context: rcu, or the writers' lock held.
 */
static inline bool loom_rcu_slist_empty(struct loom_rcu_slist *list)
{
    return loom_rcu_access_pointer(list->first) == NULL;
}

/**
 * loom_rcu_slist_insert_head() - add @n in front of @list.
 *
 * Context: writers' lock held.
 */
static inline void loom_rcu_slist_insert_head(struct loom_rcu_slist *list,
                                              struct loom_rcu_snode *n)
{
    loom_rcu_init_pointer(n->next, list->first);
    /* Pairs with loom_rcu_dereference() in LOOM_RCU_SLIST_FOREACH(). */
    loom_rcu_assign_pointer(list->first, n);
}

/**
 * loom_rcu_slist_insert_after() - add @n right after @pos (on a list).
 *
 * Context: writers' lock held.
 */
static inline void loom_rcu_slist_insert_after(struct loom_rcu_snode *pos,
                                               struct loom_rcu_snode *n)
{
    loom_rcu_init_pointer(n->next, pos->next);
    /* Pairs with loom_rcu_dereference() in LOOM_RCU_SLIST_FOREACH(). */
    loom_rcu_assign_pointer(pos->next, n);
}

/**
 * loom_rcu_slist_remove() - unlink @n from @list.
 *
 * Walks the list to find @n's predecessor.  @n->next is kept for readers
 * standing on @n; reclaim @n after a grace period.
 *
 * Context: writers' lock held.
 * Return: true if @n was on @list (and is now unlinked), false if not.
 */
static inline bool loom_rcu_slist_remove(struct loom_rcu_slist *list,
                                         struct loom_rcu_snode *n)
{
    struct loom_rcu_snode **link = &list->first;

    while (*link && *link != n) {
        link = &(*link)->next;
    }
    if (!*link) {
        return false;
    }
    /* Release, as in loom_rcu_list_remove(). */
    loom_rcu_assign_pointer(*link, n->next);
    return true;
}

/**
 * LOOM_RCU_SLIST_FOREACH() - walk @list from the head.
 * @pos: a pointer to the element type, the loop cursor.
 * @list: the struct loom_rcu_slist pointer.
 * @member: name of the struct loom_rcu_snode in the element.
 *
 * Context: rcu, or the writers' lock held.
 */
#define LOOM_RCU_SLIST_FOREACH(pos, list, member)                             \
    for ((pos) = LOOM__RCU_SENTRY(loom_rcu_dereference((list)->first), pos,    \
                                  member);                                    \
         (pos);                                                               \
         (pos) = LOOM__RCU_SENTRY(loom_rcu_dereference((pos)->member.next),    \
                                  pos, member))

#ifdef __cplusplus
}
#endif

#endif /* LOOM_RCU_LIST_H */
