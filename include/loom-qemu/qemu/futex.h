/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: the futex helpers of QEMU's <qemu/futex.h> (Linux).
 * qemu_futex_wait() sleeps while *@f == @val (it may return spuriously);
 * qemu_futex_wake_*() wake sleepers of @f.
 */
#ifndef LOOM_QEMU_FUTEX_H
#define LOOM_QEMU_FUTEX_H

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static inline void qemu_futex_wake(void *f, int n)
{
    (void)syscall(SYS_futex, f, FUTEX_WAKE, n, NULL, NULL, 0);
}

static inline void qemu_futex_wake_all(void *f)
{
    qemu_futex_wake(f, INT_MAX);
}

static inline void qemu_futex_wake_single(void *f)
{
    qemu_futex_wake(f, 1);
}

static inline void qemu_futex_wait(void *f, unsigned val)
{
    while (syscall(SYS_futex, f, FUTEX_WAIT, (int)val, NULL, NULL, 0) < 0) {
        if (errno == EAGAIN) {
            return; /* the value had changed */
        }
        if (errno != EINTR) {
            abort(); /* a bad address: a broken caller */
        }
    }
}

#endif /* LOOM_QEMU_FUTEX_H */
