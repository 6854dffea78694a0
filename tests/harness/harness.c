/* SPDX-License-Identifier: MIT */
/* Generic part of the test harness: option parsing and small utilities. */
#include "harness.h"

#include <sched.h>
#include <string.h>
#include <time.h>

static const char *g_fdmon_name;

void harness_init(int *argc, char ***argv)
{
    int i, j = 1;

    for (i = 1; i < *argc; i++) {
        const char *a = (*argv)[i];

        if (strncmp(a, "--fdmon=", 8) == 0) {
            g_fdmon_name = a + 8;
            continue;
        }
        (*argv)[j++] = (*argv)[i];
    }
    *argc = j;
    (*argv)[j] = NULL;
    g_test_init(argc, argv, NULL);
}

const char *harness_fdmon_name(void)
{
    return g_fdmon_name;
}

int64_t harness_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int harness_ncpus(void)
{
    cpu_set_t set;

    if (sched_getaffinity(0, sizeof(set), &set) != 0) {
        return 1;
    }
    return CPU_COUNT(&set) > 0 ? CPU_COUNT(&set) : 1;
}
