/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: QemuLockable, one handle for any of QEMU's lock types
 * (QemuMutex, QemuRecMutex, CoMutex, QemuSpin), and the scope guards
 * QEMU_LOCK_GUARD() / WITH_QEMU_LOCK_GUARD().
 */
#ifndef LOOM_QEMU_LOCKABLE_H
#define LOOM_QEMU_LOCKABLE_H

#include <stddef.h>
#include <stdlib.h>

#include "qemu/compiler.h"
#include "qemu/thread.h"
#include "qemu/typedefs.h"

typedef void QemuLockUnlockFunc(void *);

struct QemuLockable {
    void *object;
    QemuLockUnlockFunc *lock;
    QemuLockUnlockFunc *unlock;
};

/* From <qemu/coroutine-core.h>; a CoMutex lock needs a coroutine. */
void qemu_co_mutex_lock(CoMutex *mutex);
void qemu_co_mutex_unlock(CoMutex *mutex);

/* private: typed trampolines, one per lock type. */
static inline void loom_q_lk_mutex_lock(void *p)
{
    qemu_mutex_lock((QemuMutex *)p);
}

static inline void loom_q_lk_mutex_unlock(void *p)
{
    qemu_mutex_unlock((QemuMutex *)p);
}

static inline void loom_q_lk_rec_lock(void *p)
{
    qemu_rec_mutex_lock((QemuRecMutex *)p);
}

static inline void loom_q_lk_rec_unlock(void *p)
{
    qemu_rec_mutex_unlock((QemuRecMutex *)p);
}

static inline void loom_q_lk_co_lock(void *p)
{
    qemu_co_mutex_lock((CoMutex *)p);
}

static inline void loom_q_lk_co_unlock(void *p)
{
    qemu_co_mutex_unlock((CoMutex *)p);
}

static inline void loom_q_lk_spin_lock(void *p)
{
    qemu_spin_lock((QemuSpin *)p);
}

static inline void loom_q_lk_spin_unlock(void *p)
{
    qemu_spin_unlock((QemuSpin *)p);
}

/* private: never called (only for type-checking unselected branches). */
static inline void loom_q_lk_none(void *p)
{
    (void)p;
    abort();
}

#define LOOM_Q_LOCK_FN(x)                                                     \
    _Generic((x), QemuMutex *: loom_q_lk_mutex_lock,                          \
             QemuRecMutex *: loom_q_lk_rec_lock,                              \
             CoMutex *: loom_q_lk_co_lock,                                    \
             QemuSpin *: loom_q_lk_spin_lock,                                 \
             default: loom_q_lk_none)
#define LOOM_Q_UNLOCK_FN(x)                                                   \
    _Generic((x), QemuMutex *: loom_q_lk_mutex_unlock,                        \
             QemuRecMutex *: loom_q_lk_rec_unlock,                            \
             CoMutex *: loom_q_lk_co_unlock,                                  \
             QemuSpin *: loom_q_lk_spin_unlock,                               \
             default: loom_q_lk_none)

/* private: @l if @x is not NULL (a function: no -Waddress on &obj). */
static inline QemuLockable *loom_q_lockable_or_null(const void *x,
                                                    QemuLockable *l)
{
    return x ? l : NULL;
}

/**
 * QEMU_MAKE_LOCKABLE_NONNULL() - a QemuLockable for lock @x.
 *
 * The handle lives until the end of the enclosing block.
 */
#define QEMU_MAKE_LOCKABLE_NONNULL(x)                                         \
    (&(QemuLockable){ (void *)(x), LOOM_Q_LOCK_FN(x), LOOM_Q_UNLOCK_FN(x) })

/**
 * QEMU_MAKE_LOCKABLE() - a QemuLockable for @x; NULL for a NULL @x; @x
 * itself if it is a QemuLockable pointer already.
 */
#define QEMU_MAKE_LOCKABLE(x)                                                 \
    _Generic((x), QemuLockable *: (x),                                        \
             void *: (QemuLockable *)NULL,                                    \
             default: loom_q_lockable_or_null((x),                            \
                                              QEMU_MAKE_LOCKABLE_NONNULL(x)))

static inline void qemu_lockable_lock(QemuLockable *x)
{
    x->lock(x->object);
}

static inline void qemu_lockable_unlock(QemuLockable *x)
{
    x->unlock(x->object);
}

/* private: lock @x (if any) and return it for the guard's cleanup. */
static inline QemuLockable *loom_q_lockable_auto_lock(QemuLockable *x)
{
    if (x) {
        qemu_lockable_lock(x);
    }
    return x;
}

static inline void loom_q_lockable_auto_unlock(QemuLockable **x)
{
    if (*x) {
        qemu_lockable_unlock(*x);
    }
}

#define LOOM_Q_LOCK_GUARD(var, x)                                             \
    QemuLockable *var                                                         \
        __attribute__((cleanup(loom_q_lockable_auto_unlock), unused)) =       \
            loom_q_lockable_auto_lock(QEMU_MAKE_LOCKABLE((x)))

/* Hold lock @x from here to the end of the enclosing scope. */
#define QEMU_LOCK_GUARD(x) LOOM_Q_LOCK_GUARD(QEMU_UNIQUE_ID(qemu_lk_guard), x)

#define LOOM_Q_WITH_LOCK(var, x)                                              \
    for (QemuLockable *var                                                    \
             __attribute__((cleanup(loom_q_lockable_auto_unlock))) =          \
                 loom_q_lockable_auto_lock(QEMU_MAKE_LOCKABLE((x)));          \
         var; loom_q_lockable_auto_unlock(&var), var = NULL)

/* Hold lock @x around the following statement (break releases it too). */
#define WITH_QEMU_LOCK_GUARD(x) LOOM_Q_WITH_LOCK(QEMU_UNIQUE_ID(qemu_lk_with), x)

#endif /* LOOM_QEMU_LOCKABLE_H */
