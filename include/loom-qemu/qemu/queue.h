/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: QEMU's intrusive list macros (<qemu/queue.h>), the BSD
 * queue(3) family under QEMU's names:
 *
 *   QLIST     doubly linked list, O(1) removal, head of one pointer
 *   QSLIST    singly linked list (also a lock-free LIFO with _ATOMIC)
 *   QSIMPLEQ  singly linked tail queue: O(1) insertion at both ends
 *   QTAILQ    doubly linked tail queue, walkable in both directions
 *
 * Field names (lh_first, le_next, le_prev, slh_first, sle_next, sqh_first,
 * sqh_last, sqe_next, tqh_first, tqh_circ, tqe_next, tqe_circ, tql_next,
 * tql_prev) are QEMU's, because ported code reads them.  Heads and links
 * are plain memory: the caller serialises writers; <qemu/rcu_queue.h>
 * adds the versions readers may walk concurrently.  A QLIST or QTAILQ
 * element taken off its list has its links cleared, so QLIST_IS_INSERTED()
 * and QTAILQ_IN_USE() tell whether it is on one.
 */
#ifndef LOOM_QEMU_QUEUE_H
#define LOOM_QEMU_QUEUE_H

#include <stddef.h>

/* ---- QLIST ---- */

#define QLIST_HEAD(name, type)                                                \
    struct name {                                                             \
        struct type *lh_first;                                                \
    }
#define QLIST_HEAD_INITIALIZER(head) { NULL }
#define QLIST_ENTRY(type)                                                     \
    struct {                                                                  \
        struct type *le_next;  /* next element */                            \
        struct type **le_prev; /* the pointer that points to this element */ \
    }

#define QLIST_INIT(head)                                                      \
    do {                                                                      \
        (head)->lh_first = NULL;                                              \
    } while (0)

/* Repoint the first element at @head (after the head struct moved). */
#define QLIST_FIX_HEAD_PTR(head, field)                                       \
    do {                                                                      \
        if ((head)->lh_first != NULL) {                                       \
            (head)->lh_first->field.le_prev = &(head)->lh_first;              \
        }                                                                     \
    } while (0)

#define QLIST_SWAP(dstlist, srclist, field)                                   \
    do {                                                                      \
        __typeof__((dstlist)->lh_first) loom_q_tmp_ = (srclist)->lh_first;    \
        (srclist)->lh_first = (dstlist)->lh_first;                            \
        QLIST_FIX_HEAD_PTR(srclist, field);                                   \
        (dstlist)->lh_first = loom_q_tmp_;                                    \
        QLIST_FIX_HEAD_PTR(dstlist, field);                                   \
    } while (0)

#define QLIST_INSERT_AFTER(listelm, elm, field)                               \
    do {                                                                      \
        (elm)->field.le_next = (listelm)->field.le_next;                      \
        if ((elm)->field.le_next != NULL) {                                   \
            (elm)->field.le_next->field.le_prev = &(elm)->field.le_next;      \
        }                                                                     \
        (listelm)->field.le_next = (elm);                                     \
        (elm)->field.le_prev = &(listelm)->field.le_next;                     \
    } while (0)

#define QLIST_INSERT_BEFORE(listelm, elm, field)                              \
    do {                                                                      \
        (elm)->field.le_prev = (listelm)->field.le_prev;                      \
        (elm)->field.le_next = (listelm);                                     \
        *(listelm)->field.le_prev = (elm);                                    \
        (listelm)->field.le_prev = &(elm)->field.le_next;                     \
    } while (0)

#define QLIST_INSERT_HEAD(head, elm, field)                                   \
    do {                                                                      \
        (elm)->field.le_next = (head)->lh_first;                              \
        if ((elm)->field.le_next != NULL) {                                   \
            (head)->lh_first->field.le_prev = &(elm)->field.le_next;          \
        }                                                                     \
        (head)->lh_first = (elm);                                             \
        (elm)->field.le_prev = &(head)->lh_first;                             \
    } while (0)

#define QLIST_REMOVE(elm, field)                                              \
    do {                                                                      \
        if ((elm)->field.le_next != NULL) {                                   \
            (elm)->field.le_next->field.le_prev = (elm)->field.le_prev;       \
        }                                                                     \
        *(elm)->field.le_prev = (elm)->field.le_next;                         \
        (elm)->field.le_next = NULL;                                          \
        (elm)->field.le_prev = NULL;                                          \
    } while (0)

/* Remove @elm if it is on a list; a no-op otherwise. */
#define QLIST_SAFE_REMOVE(elm, field)                                         \
    do {                                                                      \
        if ((elm)->field.le_prev != NULL) {                                   \
            QLIST_REMOVE(elm, field);                                         \
        }                                                                     \
    } while (0)

#define QLIST_IS_INSERTED(elm, field) ((elm)->field.le_prev != NULL)

#define QLIST_FOREACH(var, head, field)                                       \
    for ((var) = ((head)->lh_first); (var); (var) = ((var)->field.le_next))

/* A walk that may remove (or free) @var. */
#define QLIST_FOREACH_SAFE(var, head, field, next_var)                        \
    for ((var) = ((head)->lh_first);                                          \
         (var) && ((next_var) = ((var)->field.le_next), 1);                   \
         (var) = (next_var))

#define QLIST_EMPTY(head) ((head)->lh_first == NULL)
#define QLIST_FIRST(head) ((head)->lh_first)
#define QLIST_NEXT(elm, field) ((elm)->field.le_next)

/* ---- QSLIST ---- */

#define QSLIST_HEAD(name, type)                                               \
    struct name {                                                             \
        struct type *slh_first;                                               \
    }
#define QSLIST_HEAD_INITIALIZER(head) { NULL }
#define QSLIST_ENTRY(type)                                                    \
    struct {                                                                  \
        struct type *sle_next;                                                \
    }

#define QSLIST_INIT(head)                                                     \
    do {                                                                      \
        (head)->slh_first = NULL;                                             \
    } while (0)

#define QSLIST_INSERT_AFTER(slistelm, elm, field)                             \
    do {                                                                      \
        (elm)->field.sle_next = (slistelm)->field.sle_next;                   \
        (slistelm)->field.sle_next = (elm);                                   \
    } while (0)

#define QSLIST_INSERT_HEAD(head, elm, field)                                  \
    do {                                                                      \
        (elm)->field.sle_next = (head)->slh_first;                            \
        (head)->slh_first = (elm);                                            \
    } while (0)

/* Push @elm from any thread (lock-free); pairs with QSLIST_MOVE_ATOMIC. */
#define QSLIST_INSERT_HEAD_ATOMIC(head, elm, field)                           \
    do {                                                                      \
        __typeof__(elm) loom_q_old_ =                                         \
            __atomic_load_n(&(head)->slh_first, __ATOMIC_RELAXED);            \
        do {                                                                  \
            (elm)->field.sle_next = loom_q_old_;                              \
        } while (!__atomic_compare_exchange_n(&(head)->slh_first,             \
                                              &loom_q_old_, (elm), false,     \
                                              __ATOMIC_SEQ_CST,               \
                                              __ATOMIC_RELAXED));             \
    } while (0)

/* Take the whole list of @src into @dest (atomically emptying @src). */
#define QSLIST_MOVE_ATOMIC(dest, src)                                         \
    do {                                                                      \
        (dest)->slh_first =                                                   \
            __atomic_exchange_n(&(src)->slh_first, NULL, __ATOMIC_SEQ_CST);   \
    } while (0)

#define QSLIST_REMOVE_HEAD(head, field)                                       \
    do {                                                                      \
        __typeof__((head)->slh_first) loom_q_elm_ = (head)->slh_first;        \
        (head)->slh_first = loom_q_elm_->field.sle_next;                      \
        loom_q_elm_->field.sle_next = NULL;                                   \
    } while (0)

#define QSLIST_REMOVE_AFTER(slistelm, field)                                  \
    do {                                                                      \
        __typeof__(slistelm) loom_q_elm_ = (slistelm)->field.sle_next;        \
        (slistelm)->field.sle_next = loom_q_elm_->field.sle_next;             \
        loom_q_elm_->field.sle_next = NULL;                                   \
    } while (0)

#define QSLIST_REMOVE(head, elm, type, field)                                 \
    do {                                                                      \
        if ((head)->slh_first == (elm)) {                                     \
            QSLIST_REMOVE_HEAD((head), field);                                \
        } else {                                                              \
            struct type *loom_q_cur_ = (head)->slh_first;                     \
            while (loom_q_cur_->field.sle_next != (elm)) {                    \
                loom_q_cur_ = loom_q_cur_->field.sle_next;                    \
            }                                                                 \
            QSLIST_REMOVE_AFTER(loom_q_cur_, field);                          \
        }                                                                     \
    } while (0)

#define QSLIST_FOREACH(var, head, field)                                      \
    for ((var) = (head)->slh_first; (var); (var) = (var)->field.sle_next)

#define QSLIST_FOREACH_SAFE(var, head, field, next_var)                       \
    for ((var) = QSLIST_FIRST((head));                                        \
         (var) && ((next_var) = QSLIST_NEXT((var), field), 1);                \
         (var) = (next_var))

#define QSLIST_EMPTY(head) ((head)->slh_first == NULL)
#define QSLIST_FIRST(head) ((head)->slh_first)
#define QSLIST_NEXT(elm, field) ((elm)->field.sle_next)

/* ---- QSIMPLEQ ---- */

#define QSIMPLEQ_HEAD(name, type)                                             \
    struct name {                                                             \
        struct type *sqh_first; /* first element */                          \
        struct type **sqh_last; /* where the next tail insertion goes */     \
    }
#define QSIMPLEQ_HEAD_INITIALIZER(head) { NULL, &(head).sqh_first }
#define QSIMPLEQ_ENTRY(type)                                                  \
    struct {                                                                  \
        struct type *sqe_next;                                                \
    }

#define QSIMPLEQ_INIT(head)                                                   \
    do {                                                                      \
        (head)->sqh_first = NULL;                                             \
        (head)->sqh_last = &(head)->sqh_first;                                \
    } while (0)

#define QSIMPLEQ_INSERT_HEAD(head, elm, field)                                \
    do {                                                                      \
        (elm)->field.sqe_next = (head)->sqh_first;                            \
        if ((elm)->field.sqe_next == NULL) {                                  \
            (head)->sqh_last = &(elm)->field.sqe_next;                        \
        }                                                                     \
        (head)->sqh_first = (elm);                                            \
    } while (0)

#define QSIMPLEQ_INSERT_TAIL(head, elm, field)                                \
    do {                                                                      \
        (elm)->field.sqe_next = NULL;                                         \
        *(head)->sqh_last = (elm);                                            \
        (head)->sqh_last = &(elm)->field.sqe_next;                            \
    } while (0)

#define QSIMPLEQ_INSERT_AFTER(head, listelm, elm, field)                      \
    do {                                                                      \
        (elm)->field.sqe_next = (listelm)->field.sqe_next;                    \
        if ((elm)->field.sqe_next == NULL) {                                  \
            (head)->sqh_last = &(elm)->field.sqe_next;                        \
        }                                                                     \
        (listelm)->field.sqe_next = (elm);                                    \
    } while (0)

#define QSIMPLEQ_REMOVE_HEAD(head, field)                                     \
    do {                                                                      \
        __typeof__((head)->sqh_first) loom_q_elm_ = (head)->sqh_first;        \
        (head)->sqh_first = loom_q_elm_->field.sqe_next;                      \
        if ((head)->sqh_first == NULL) {                                      \
            (head)->sqh_last = &(head)->sqh_first;                            \
        }                                                                     \
        loom_q_elm_->field.sqe_next = NULL;                                   \
    } while (0)

/* Move everything after @elm from @head to @removed (initialised here). */
#define QSIMPLEQ_SPLIT_AFTER(head, elm, field, removed)                       \
    do {                                                                      \
        QSIMPLEQ_INIT(removed);                                               \
        (removed)->sqh_first = (elm)->field.sqe_next;                         \
        if ((removed)->sqh_first != NULL) {                                   \
            (removed)->sqh_last = (head)->sqh_last;                           \
            (head)->sqh_last = &(elm)->field.sqe_next;                        \
            (elm)->field.sqe_next = NULL;                                     \
        }                                                                     \
    } while (0)

#define QSIMPLEQ_REMOVE(head, elm, type, field)                               \
    do {                                                                      \
        if ((head)->sqh_first == (elm)) {                                     \
            QSIMPLEQ_REMOVE_HEAD((head), field);                              \
        } else {                                                              \
            struct type *loom_q_cur_ = (head)->sqh_first;                     \
            while (loom_q_cur_->field.sqe_next != (elm)) {                    \
                loom_q_cur_ = loom_q_cur_->field.sqe_next;                    \
            }                                                                 \
            loom_q_cur_->field.sqe_next = (elm)->field.sqe_next;              \
            if (loom_q_cur_->field.sqe_next == NULL) {                        \
                (head)->sqh_last = &loom_q_cur_->field.sqe_next;              \
            }                                                                 \
            (elm)->field.sqe_next = NULL;                                     \
        }                                                                     \
    } while (0)

#define QSIMPLEQ_FOREACH(var, head, field)                                    \
    for ((var) = ((head)->sqh_first); (var); (var) = ((var)->field.sqe_next))

#define QSIMPLEQ_FOREACH_SAFE(var, head, field, next)                         \
    for ((var) = ((head)->sqh_first);                                         \
         (var) && ((next) = ((var)->field.sqe_next), 1);                      \
         (var) = (next))

/* Append all of @head2 to @head1, leaving @head2 empty. */
#define QSIMPLEQ_CONCAT(head1, head2)                                         \
    do {                                                                      \
        if (!QSIMPLEQ_EMPTY((head2))) {                                       \
            *(head1)->sqh_last = (head2)->sqh_first;                          \
            (head1)->sqh_last = (head2)->sqh_last;                            \
            QSIMPLEQ_INIT((head2));                                           \
        }                                                                     \
    } while (0)

/* Put all of @head2 in front of @head1, leaving @head2 empty. */
#define QSIMPLEQ_PREPEND(head1, head2)                                        \
    do {                                                                      \
        if (!QSIMPLEQ_EMPTY((head2))) {                                       \
            *(head2)->sqh_last = (head1)->sqh_first;                          \
            if (QSIMPLEQ_EMPTY((head1))) {                                    \
                (head1)->sqh_last = (head2)->sqh_last;                        \
            }                                                                 \
            (head1)->sqh_first = (head2)->sqh_first;                          \
            QSIMPLEQ_INIT((head2));                                           \
        }                                                                     \
    } while (0)

#define QSIMPLEQ_LAST(head, type, field)                                      \
    (QSIMPLEQ_EMPTY((head))                                                   \
         ? NULL                                                               \
         : ((struct type *)(void *)((char *)((head)->sqh_last) -              \
                                    offsetof(struct type, field))))

#define QSIMPLEQ_EMPTY_ATOMIC(head)                                           \
    (__atomic_load_n(&(head)->sqh_first, __ATOMIC_RELAXED) == NULL)
#define QSIMPLEQ_EMPTY(head) ((head)->sqh_first == NULL)
#define QSIMPLEQ_FIRST(head) ((head)->sqh_first)
#define QSIMPLEQ_NEXT(elm, field) ((elm)->field.sqe_next)

/* ---- QTAILQ ---- */

/*
 * Heads and entries overlay a "next" pointer with a QTailQLink whose
 * tql_next is that same pointer and whose tql_prev points at the previous
 * element's link (or the head's).  The head's tql_prev points at the last
 * element's link, so the tail and every predecessor are found in O(1).
 */
typedef struct QTailQLink {
    void *tql_next;
    struct QTailQLink *tql_prev;
} QTailQLink;

#define QTAILQ_HEAD(name, type)                                               \
    union name {                                                              \
        struct type *tqh_first;                                               \
        QTailQLink tqh_circ;                                                  \
    }
#define QTAILQ_HEAD_INITIALIZER(head) { .tqh_circ = { NULL, &(head).tqh_circ } }
#define QTAILQ_ENTRY(type)                                                    \
    union {                                                                   \
        struct type *tqe_next;                                                \
        QTailQLink tqe_circ;                                                  \
    }

#define QTAILQ_INIT(head)                                                     \
    do {                                                                      \
        (head)->tqh_first = NULL;                                             \
        (head)->tqh_circ.tql_prev = &(head)->tqh_circ;                        \
    } while (0)

#define QTAILQ_INSERT_HEAD(head, elm, field)                                  \
    do {                                                                      \
        (elm)->field.tqe_next = (head)->tqh_first;                            \
        if ((elm)->field.tqe_next != NULL) {                                  \
            (head)->tqh_first->field.tqe_circ.tql_prev =                      \
                &(elm)->field.tqe_circ;                                       \
        } else {                                                              \
            (head)->tqh_circ.tql_prev = &(elm)->field.tqe_circ;               \
        }                                                                     \
        (head)->tqh_first = (elm);                                            \
        (elm)->field.tqe_circ.tql_prev = &(head)->tqh_circ;                   \
    } while (0)

#define QTAILQ_INSERT_TAIL(head, elm, field)                                  \
    do {                                                                      \
        (elm)->field.tqe_next = NULL;                                         \
        (elm)->field.tqe_circ.tql_prev = (head)->tqh_circ.tql_prev;           \
        (head)->tqh_circ.tql_prev->tql_next = (elm);                          \
        (head)->tqh_circ.tql_prev = &(elm)->field.tqe_circ;                   \
    } while (0)

#define QTAILQ_INSERT_AFTER(head, listelm, elm, field)                        \
    do {                                                                      \
        (elm)->field.tqe_next = (listelm)->field.tqe_next;                    \
        if ((elm)->field.tqe_next != NULL) {                                  \
            (elm)->field.tqe_next->field.tqe_circ.tql_prev =                  \
                &(elm)->field.tqe_circ;                                       \
        } else {                                                              \
            (head)->tqh_circ.tql_prev = &(elm)->field.tqe_circ;               \
        }                                                                     \
        (listelm)->field.tqe_next = (elm);                                    \
        (elm)->field.tqe_circ.tql_prev = &(listelm)->field.tqe_circ;          \
    } while (0)

#define QTAILQ_INSERT_BEFORE(listelm, elm, field)                             \
    do {                                                                      \
        (elm)->field.tqe_circ.tql_prev = (listelm)->field.tqe_circ.tql_prev;  \
        (elm)->field.tqe_next = (listelm);                                    \
        (listelm)->field.tqe_circ.tql_prev->tql_next = (elm);                 \
        (listelm)->field.tqe_circ.tql_prev = &(elm)->field.tqe_circ;          \
    } while (0)

#define QTAILQ_REMOVE(head, elm, field)                                       \
    do {                                                                      \
        if ((elm)->field.tqe_next != NULL) {                                  \
            (elm)->field.tqe_next->field.tqe_circ.tql_prev =                  \
                (elm)->field.tqe_circ.tql_prev;                               \
        } else {                                                              \
            (head)->tqh_circ.tql_prev = (elm)->field.tqe_circ.tql_prev;       \
        }                                                                     \
        (elm)->field.tqe_circ.tql_prev->tql_next = (elm)->field.tqe_next;     \
        (elm)->field.tqe_circ.tql_prev = NULL;                                \
        (elm)->field.tqe_circ.tql_next = NULL;                                \
    } while (0)

/* Remove the run of elements from @left to @right (inclusive). */
#define QTAILQ_REMOVE_SEVERAL(head, left, right, field)                       \
    do {                                                                      \
        if ((right)->field.tqe_next != NULL) {                                \
            (right)->field.tqe_next->field.tqe_circ.tql_prev =                \
                (left)->field.tqe_circ.tql_prev;                              \
        } else {                                                              \
            (head)->tqh_circ.tql_prev = (left)->field.tqe_circ.tql_prev;      \
        }                                                                     \
        (left)->field.tqe_circ.tql_prev->tql_next = (right)->field.tqe_next;  \
    } while (0)

#define QTAILQ_FOREACH(var, head, field)                                      \
    for ((var) = ((head)->tqh_first); (var); (var) = ((var)->field.tqe_next))

#define QTAILQ_FOREACH_SAFE(var, head, field, next_var)                       \
    for ((var) = ((head)->tqh_first);                                         \
         (var) && ((next_var) = ((var)->field.tqe_next), 1);                  \
         (var) = (next_var))

#define QTAILQ_FOREACH_REVERSE(var, head, field)                              \
    for ((var) = QTAILQ_LAST(head); (var); (var) = QTAILQ_PREV(var, field))

#define QTAILQ_FOREACH_REVERSE_SAFE(var, head, field, prev_var)               \
    for ((var) = QTAILQ_LAST(head);                                           \
         (var) && ((prev_var) = QTAILQ_PREV(var, field), 1);                  \
         (var) = (prev_var))

#define QTAILQ_EMPTY(head) ((head)->tqh_first == NULL)
#define QTAILQ_FIRST(head) ((head)->tqh_first)
#define QTAILQ_NEXT(elm, field) ((elm)->field.tqe_next)
#define QTAILQ_IN_USE(elm, field) ((elm)->field.tqe_circ.tql_prev != NULL)

/* The element before the one whose link is @link (NULL before the first). */
#define QTAILQ_LINK_PREV(link) ((link).tql_prev->tql_prev->tql_next)
#define QTAILQ_LAST(head)                                                     \
    ((__typeof__((head)->tqh_first))QTAILQ_LINK_PREV((head)->tqh_circ))
#define QTAILQ_PREV(elm, field)                                               \
    ((__typeof__((elm)->field.tqe_next))QTAILQ_LINK_PREV((elm)->field.tqe_circ))

#endif /* LOOM_QEMU_QUEUE_H */
