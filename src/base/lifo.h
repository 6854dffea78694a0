/* SPDX-License-Identifier: MIT */
/*
 * The lock-free multi-producer LIFO (internal), written once for the BH
 * list of a loop and the completion list of a pool: objects linked through
 * one of their pointer fields; any thread pushes one object or a chain it
 * linked itself, with a compare-and-swap on the head; one consumer takes
 * the whole list with an exchange.  No ABA: nothing but the consumer's
 * exchange ever removes entries.
 *
 * Ordering: the push is a seq_cst CAS, so everything the pusher wrote
 * before (the links included) is visible to the consumer after its seq_cst
 * exchange, and the push is ordered before whatever seq_cst load the
 * pusher makes next (a loop's wake word).
 */
#ifndef LOOM_BASE_LIFO_H
#define LOOM_BASE_LIFO_H

#include "base/atomic.h"

/*
 * loom__lifo_push() - push the chain @first .. @last (already linked
 * through @link; @first == @last for one object) on the list at *@head.
 * Context: any; the caller owns the chain's links until the push.
 * Return: the previous head: NULL when the list was empty.
 */
#define loom__lifo_push(head, first, last, link)                              \
    ({                                                                        \
        __typeof__(*(head)) lifo_old_ = loom__atomic_read(head);               \
        do {                                                                  \
            (last)->link = lifo_old_;                                         \
            /* Pairs with the xchg in loom__lifo_take(). */                   \
        } while (!loom__atomic_cas((head), &lifo_old_, (first)));              \
        lifo_old_;                                                            \
    })

/*
 * loom__lifo_take() - take the whole list at *@head, newest first.
 * Context: the list's one consumer.
 */
#define loom__lifo_take(head)                                                 \
    /* Pairs with the CAS in loom__lifo_push(): the links are visible. */     \
    loom__atomic_xchg((head), (__typeof__(*(head)))NULL)

/*
 * loom__lifo_reverse() - relink a list taken with loom__lifo_take()
 * (newest first, ending in NULL) through @link and return it oldest first.
 * Context: the list's one consumer.
 */
#define loom__lifo_reverse(first, link)                                       \
    ({                                                                        \
        __typeof__(first) lifo_n_ = (first);                                  \
        __typeof__(first) lifo_fifo_ = NULL, lifo_next_;                      \
        for (; lifo_n_; lifo_n_ = lifo_next_) {                               \
            lifo_next_ = lifo_n_->link;                                       \
            lifo_n_->link = lifo_fifo_;                                       \
            lifo_fifo_ = lifo_n_;                                             \
        }                                                                     \
        lifo_fifo_;                                                           \
    })

/*
 * loom__lifo_take_fifo() - take the whole list at *@head and return it
 * oldest first (relinked through @link).
 * Context: the list's one consumer.
 */
#define loom__lifo_take_fifo(head, link)                                      \
    loom__lifo_reverse(loom__lifo_take(head), link)

#endif /* LOOM_BASE_LIFO_H */
