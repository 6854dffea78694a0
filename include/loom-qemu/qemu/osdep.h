/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu prelude: what QEMU's <qemu/osdep.h> gives every file of QEMU
 * (the usual libc headers, GLib, the common macros and type names), for
 * code ported out of QEMU onto loom.  Include it first, as in QEMU.
 *
 * Written for loom from QEMU's documented API (target: QEMU 10.x, see
 * docs/qemu-compat.md); it contains no QEMU code.
 */
#ifndef LOOM_QEMU_OSDEP_H
#define LOOM_QEMU_OSDEP_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

/* Host configuration that QEMU's configure would have produced. */
#ifndef CONFIG_LINUX
#define CONFIG_LINUX 1
#endif
#ifndef CONFIG_POSIX
#define CONFIG_POSIX 1
#endif
#ifndef CONFIG_EVENTFD
#define CONFIG_EVENTFD 1
#endif
#ifndef CONFIG_COROUTINE_POOL
#define CONFIG_COROUTINE_POOL 1
#endif
/* LOOM_QEMU - defined for code that wants to know it runs on loom-qemu. */
#define LOOM_QEMU 1

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "qemu/compiler.h"
#include "qemu/typedefs.h"

#ifndef O_BINARY
#define O_BINARY 0
#endif

#ifndef MIN
#define MIN(a, b) (((a) < (b)) ? (a) : (b))
#endif
#ifndef MAX
#define MAX(a, b) (((a) > (b)) ? (a) : (b))
#endif
/* MIN/MAX that evaluate their arguments once. */
#define MIN_NON_ZERO(a, b)                                                    \
    ((a) == 0 ? (b) : ((b) == 0 ? (a) : (MIN(a, b))))

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(x) (sizeof(x) / sizeof((x)[0]))
#endif
#ifndef DIV_ROUND_UP
#define DIV_ROUND_UP(n, d) (((n) + (d) - 1) / (d))
#endif
#define ROUND_DOWN(n, d) ((n) & -(0 ? (n) : (d)))
#define ROUND_UP(n, d) ROUND_DOWN((n) + (d) - 1, (d))
#define QEMU_ALIGN_DOWN(n, m) ((n) / (m) * (m))
#define QEMU_ALIGN_UP(n, m) QEMU_ALIGN_DOWN((n) + (m) - 1, (m))
#define QEMU_IS_ALIGNED(n, m) (((n) % (m)) == 0)
#define QEMU_ALIGN_PTR_DOWN(p, n)                                             \
    ((__typeof__(p))QEMU_ALIGN_DOWN((uintptr_t)(p), (n)))
#define QEMU_ALIGN_PTR_UP(p, n)                                               \
    ((__typeof__(p))QEMU_ALIGN_UP((uintptr_t)(p), (n)))
#define QEMU_PTR_IS_ALIGNED(p, n) QEMU_IS_ALIGNED((uintptr_t)(p), (n))

/* Nanosecond scale factors (also in <qemu/timer.h>). */
#define NANOSECONDS_PER_SECOND 1000000000LL

/* The thread id of the caller (gettid). */
int qemu_get_thread_id(void);

/* Set close-on-exec on @fd (errors ignored, as in QEMU). */
static inline void qemu_set_cloexec(int fd)
{
    int flags = fcntl(fd, F_GETFD);

    if (flags >= 0) {
        (void)fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    }
}

/* pipe(2), close-on-exec.  Return: 0, or -1 with errno set. */
static inline int qemu_pipe(int pipefd[2])
{
    return pipe2(pipefd, O_CLOEXEC);
}

/* Abort with a message naming the place: code that must not be reached. */
#define qemu_build_not_reached() g_assert_not_reached()

#endif /* LOOM_QEMU_OSDEP_H */
