/* SPDX-License-Identifier: MIT */
/*
 * Test harness shared by every loom test program.
 *
 * harness_init() replaces g_test_init(): it removes loom's own options
 * (--fdmon=poll|epoll|io_uring) from argv and hands the rest to GTest.
 * A --fdmon that cannot be honoured here (io_uring forbidden or not built)
 * skips the whole program before any output.
 * Loop tests create their loops with harness_loop_new(), which applies the
 * chosen fd monitor, so the same program covers every backend (the
 * library itself reads no environment variables).
 */
#ifndef LOOM_TEST_HARNESS_H
#define LOOM_TEST_HARNESS_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

/* Exit status meaning "skipped" to Meson's TAP/exitcode protocols. */
#define HARNESS_EXIT_SKIP 77

struct loom_loop;

void harness_init(int *argc, char ***argv);

/* The --fdmon= value, or NULL when none was given (library default). */
const char *harness_fdmon_name(void);

/*
 * A new loop using the fd monitor named by --fdmon (asserts success).
 * Defined in harness-loop.c.
 */
struct loom_loop *harness_loop_new(void);

/*
 * Switch an existing loop (e.g. the main loop) to the --fdmon monitor, if
 * one was given (asserts success).  Defined in harness-loop.c.
 */
void harness_loop_apply_fdmon(struct loom_loop *l);

/*
 * NULL if fd monitor @name can be used here, else why not (a static
 * string).  harness_init() calls it for --fdmon= and skips the whole
 * program ("1..0 # SKIP <why>" under --tap) before any test output.
 * Unknown names print a message and exit(1).  Defined in harness-loop.c.
 */
const char *harness_fdmon_unavailable(const char *name);

/* Monotonic nanoseconds, for watchdogs (never for asserting speed). */
int64_t harness_now_ns(void);

/* Number of CPUs available to this process (>= 1). */
int harness_ncpus(void);

struct loom_cpuset;

/* The calling thread's CPU affinity (asserts success). */
void harness_self_cpuset(struct loom_cpuset *out);

/* The highest-numbered CPU this process may run on. */
unsigned harness_last_cpu(void);

#endif /* LOOM_TEST_HARNESS_H */
