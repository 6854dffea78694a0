/* SPDX-License-Identifier: MIT */
/*
 * Intrusive circular doubly-linked list (internal).  Not thread-safe: the
 * owner's lock or home thread guards it.  RCU-safe lists are in
 * <loom/rcu-list.h>.
 */
#ifndef LOOM_BASE_LIST_H
#define LOOM_BASE_LIST_H

#include <stdbool.h>
#include <stddef.h>

#include "base/compiler.h"

struct loom__list {
    struct loom__list *next, *prev;
};

#define LOOM__LIST_INIT(name) { &(name), &(name) }

static inline void loom__list_init(struct loom__list *head)
{
    head->next = head;
    head->prev = head;
}

static inline bool loom__list_empty(const struct loom__list *head)
{
    return head->next == head;
}

static inline void loom__list_insert(struct loom__list *n,
                                     struct loom__list *prev,
                                     struct loom__list *next)
{
    n->next = next;
    n->prev = prev;
    prev->next = n;
    next->prev = n;
}

static inline void loom__list_add_head(struct loom__list *head,
                                      struct loom__list *n)
{
    loom__list_insert(n, head, head->next);
}

static inline void loom__list_add_tail(struct loom__list *head,
                                      struct loom__list *n)
{
    loom__list_insert(n, head->prev, head);
}

/* Unlink @n and leave it pointing at itself (so list_linked() is false). */
static inline void loom__list_del(struct loom__list *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->next = n;
    n->prev = n;
}

/* True while @n sits on some list (requires init or a previous del). */
static inline bool loom__list_linked(const struct loom__list *n)
{
    return n->next != n;
}

/* Move every node of @from to the tail of @to; @from becomes empty. */
static inline void loom__list_splice_tail(struct loom__list *to,
                                         struct loom__list *from)
{
    if (loom__list_empty(from)) {
        return;
    }
    from->next->prev = to->prev;
    to->prev->next = from->next;
    from->prev->next = to;
    to->prev = from->prev;
    loom__list_init(from);
}

#define loom__list_entry(ptr, type, member)                                   \
    loom__container_of(ptr, type, member)

#define loom__list_first(head, type, member)                                   \
    (loom__list_empty(head) ? NULL                                             \
                           : loom__list_entry((head)->next, type, member))

#define loom__list_foreach(pos, head) \
    for ((pos) = (head)->next; (pos) != (head); (pos) = (pos)->next)

/* Safe against removal of @pos inside the body. */
#define loom__list_foreach_safe(pos, tmp, head)                                \
    for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head);          \
         (pos) = (tmp), (tmp) = (pos)->next)

#endif /* LOOM_BASE_LIST_H */
