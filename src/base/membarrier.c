/* SPDX-License-Identifier: MIT */
/*
 * membarrier(2) wrappers (see membarrier.h).  Any thread.
 */
#include "base/membarrier.h"

#include <errno.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/check.h"

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
/* Written once under g_once. */
static bool g_ok;

static long sys_membarrier(int cmd)
{
    return syscall(__NR_membarrier, cmd, 0, 0);
}

static void init_once(void)
{
    long mask = sys_membarrier(MEMBARRIER_CMD_QUERY);

    g_ok = mask >= 0 && (mask & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
           sys_membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
}

bool loom__membarrier_init(void)
{
    (void)pthread_once(&g_once, init_once);
    return g_ok;
}

void loom__membarrier(void)
{
    if (sys_membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0) {
        loom__panic("membarrier failed after registration: %s",
                    loom_strerror(-errno));
    }
}
