/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: QemuSeqLock (<qemu/seqlock.h>) on struct loom_seqlock.
 * Writers serialise among themselves (seqlock_write_lock() takes a lock
 * for them); readers retry until seqlock_read_retry() returns 0.
 */
#ifndef LOOM_QEMU_SEQLOCK_H
#define LOOM_QEMU_SEQLOCK_H

#include <loom/thread.h>

#include "qemu/lockable.h"

typedef struct QemuSeqLock {
    /* private: */
    struct loom_seqlock impl;
} QemuSeqLock;

static inline void seqlock_init(QemuSeqLock *sl)
{
    loom_seqlock_init(&sl->impl);
}

static inline void seqlock_write_begin(QemuSeqLock *sl)
{
    loom_seqlock_write_begin(&sl->impl);
}

static inline void seqlock_write_end(QemuSeqLock *sl)
{
    loom_seqlock_write_end(&sl->impl);
}

/* Take @lock (any lock type), then start the update. */
#define seqlock_write_lock(sl, lock)                                          \
    do {                                                                      \
        qemu_lockable_lock(QEMU_MAKE_LOCKABLE_NONNULL(lock));                 \
        seqlock_write_begin(sl);                                              \
    } while (0)

/* End the update, then release @lock. */
#define seqlock_write_unlock(sl, lock)                                        \
    do {                                                                      \
        seqlock_write_end(sl);                                                \
        qemu_lockable_unlock(QEMU_MAKE_LOCKABLE_NONNULL(lock));               \
    } while (0)

static inline unsigned seqlock_read_begin(const QemuSeqLock *sl)
{
    return loom_seqlock_read_begin(&sl->impl);
}

/* Return: non-zero if a writer intervened: read again. */
static inline int seqlock_read_retry(const QemuSeqLock *sl, unsigned start)
{
    return loom_seqlock_read_retry(&sl->impl, start);
}

#endif /* LOOM_QEMU_SEQLOCK_H */
