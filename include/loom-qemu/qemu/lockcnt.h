/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: QemuLockCnt (<qemu/lockcnt.h>), a visitor counter plus a
 * mutex, on struct loom_lockcnt; see <loom/thread.h> for the protocol.
 */
#ifndef LOOM_QEMU_LOCKCNT_H
#define LOOM_QEMU_LOCKCNT_H

#include <loom/thread.h>

typedef struct QemuLockCnt {
    /* private: */
    struct loom_lockcnt impl;
} QemuLockCnt;

static inline void qemu_lockcnt_init(QemuLockCnt *lockcnt)
{
    loom_lockcnt_init(&lockcnt->impl);
}

static inline void qemu_lockcnt_destroy(QemuLockCnt *lockcnt)
{
    loom_lockcnt_destroy(&lockcnt->impl);
}

static inline void qemu_lockcnt_inc(QemuLockCnt *lockcnt)
{
    loom_lockcnt_inc(&lockcnt->impl);
}

static inline void qemu_lockcnt_dec(QemuLockCnt *lockcnt)
{
    loom_lockcnt_dec(&lockcnt->impl);
}

static inline bool qemu_lockcnt_dec_and_lock(QemuLockCnt *lockcnt)
{
    return loom_lockcnt_dec_and_lock(&lockcnt->impl);
}

static inline bool qemu_lockcnt_dec_if_lock(QemuLockCnt *lockcnt)
{
    return loom_lockcnt_dec_if_lock(&lockcnt->impl);
}

static inline void qemu_lockcnt_lock(QemuLockCnt *lockcnt)
{
    loom_lockcnt_lock(&lockcnt->impl);
}

static inline void qemu_lockcnt_unlock(QemuLockCnt *lockcnt)
{
    loom_lockcnt_unlock(&lockcnt->impl);
}

static inline void qemu_lockcnt_inc_and_unlock(QemuLockCnt *lockcnt)
{
    loom_lockcnt_inc_and_unlock(&lockcnt->impl);
}

static inline unsigned qemu_lockcnt_count(QemuLockCnt *lockcnt)
{
    return loom_lockcnt_get(&lockcnt->impl);
}

#endif /* LOOM_QEMU_LOCKCNT_H */
