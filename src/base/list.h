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

struct loom_list {
    struct loom_list *next, *prev;
};

#define LOOM_LIST_INIT(name) { &(name), &(name) }

static inline void loom_list_init(struct loom_list *head)
{
    head->next = head;
    head->prev = head;
}

static inline bool loom_list_empty(const struct loom_list *head)
{
    return head->next == head;
}

static inline void loom__list_insert(struct loom_list *n,
                                     struct loom_list *prev,
                                     struct loom_list *next)
{
    n->next = next;
    n->prev = prev;
    prev->next = n;
    next->prev = n;
}

static inline void loom_list_add_head(struct loom_list *head,
                                      struct loom_list *n)
{
    loom__list_insert(n, head, head->next);
}

static inline void loom_list_add_tail(struct loom_list *head,
                                      struct loom_list *n)
{
    loom__list_insert(n, head->prev, head);
}

/* Unlink @n and leave it pointing at itself (so list_linked() is false). */
static inline void loom_list_del(struct loom_list *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->next = n;
    n->prev = n;
}

/* True while @n sits on some list (requires init or a previous del). */
static inline bool loom_list_linked(const struct loom_list *n)
{
    return n->next != n;
}

/* Move every node of @from to the tail of @to; @from becomes empty. */
static inline void loom_list_splice_tail(struct loom_list *to,
                                         struct loom_list *from)
{
    if (loom_list_empty(from)) {
        return;
    }
    from->next->prev = to->prev;
    to->prev->next = from->next;
    from->prev->next = to;
    to->prev = from->prev;
    loom_list_init(from);
}

#define loom_list_entry(ptr, type, member) loom_container_of(ptr, type, member)

#define loom_list_first(head, type, member)                                   \
    (loom_list_empty(head) ? NULL                                             \
                           : loom_list_entry((head)->next, type, member))

#define loom_list_foreach(pos, head) \
    for ((pos) = (head)->next; (pos) != (head); (pos) = (pos)->next)

/* Safe against removal of @pos inside the body. */
#define loom_list_foreach_safe(pos, tmp, head)                                \
    for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head);          \
         (pos) = (tmp), (tmp) = (pos)->next)

#endif /* LOOM_BASE_LIST_H */
