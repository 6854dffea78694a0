/* SPDX-License-Identifier: MIT */
/*
 * Spinlocks: an exchange to take, a relaxed read while waiting (so that
 * waiters do not bounce the line), pause in the loop.
 */
#include "sdk-int.h"

/* sdk_spin_lock() - take @l, spinning.  Context: any CPU. */
void sdk_spin_lock(struct sdk_spinlock *l)
{
    while (__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE)) {
        while (__atomic_load_n(&l->locked, __ATOMIC_RELAXED)) {
            sdk_pause();
        }
    }
}

/* sdk_spin_trylock() - take @l if it is free.  Context: any CPU. */
bool sdk_spin_trylock(struct sdk_spinlock *l)
{
    return !__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE);
}

/* sdk_spin_unlock() - release @l.  Context: the CPU holding it. */
void sdk_spin_unlock(struct sdk_spinlock *l)
{
    __atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
}
