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
#include <sys/types.h>

#include <loom/loop.h>

/* Exit status meaning "skipped" to Meson's TAP/exitcode protocols. */
#define HARNESS_EXIT_SKIP 77

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
 * harness_skip_all() - skip the whole program, before any test output.
 * @tap: whether the program runs under --tap (how Meson runs the suites)
 * @why: the reason, printed
 *
 * Under --tap Meson wants a TAP plan with a SKIP directive, "1..0 # SKIP
 * <why>", and exit status 0 (it counts 77 as an error there); otherwise the
 * exit-code protocol's 77.  Does not return.
 *
 * Context: main(), before harness_init() or in its place.
 */
G_NORETURN void harness_skip_all(bool tap, const char *why);

/*
 * harness_args_have_tap() - whether --tap is among @argv's arguments.
 *
 * Context: main(), before the arguments are parsed.
 */
bool harness_args_have_tap(int argc, char **argv);

/*
 * NULL if fd monitor @name can be used here, else why not (a static
 * string).  harness_init() calls it for --fdmon= and skips the whole
 * program ("1..0 # SKIP <why>" under --tap) before any test output.
 * Unknown names print a message and exit(1).  Defined in harness-loop.c.
 */
const char *harness_fdmon_unavailable(const char *name);

/* Monotonic nanoseconds, for watchdogs (never for asserting speed). */
int64_t harness_now_ns(void);

/*
 * The watchdog of every wait in the tests: how long a condition may take
 * before the test fails instead of hanging.  Generous, because the
 * machines are shared and sanitizers slow everything down; a wait that
 * is allowed to take long uses a multiple.
 */
#define HARNESS_WATCHDOG_NS (20LL * 1000 * 1000 * 1000)

/*
 * harness_watchdog() - fail the test, naming @what and where the wait
 * is, when @deadline passed: harness_now_ns() + HARNESS_WATCHDOG_NS, or a
 * multiple of it for a wait that is allowed to take longer.  For waits
 * whose loop does not fit STEP_UNTIL() (a loop body with several exits).
 */
#define harness_watchdog(deadline, what)                                       \
    do {                                                                       \
        if (harness_now_ns() > (deadline)) {                                   \
            harness_watchdog_expired(__FILE__, __LINE__, (what), -1);          \
        }                                                                      \
    } while (0)

/*
 * harness_watchdog_expired() - fail the test (g_error): the wait at
 * @file:@line for @what took longer than @ns (-1: its deadline passed).
 * Called by the macros here, and by waits that must report more first.
 */
G_NORETURN void harness_watchdog_expired(const char *file, int line,
                                         const char *what, int64_t ns);

/* Nanoseconds left before @deadline, 0 once it passed: for timed waits. */
int64_t harness_left_ns(int64_t deadline);

/*
 * STEP_UNTIL_NS() - run @step (an expression, e.g. a call) until @cond
 * holds; fail the test, naming @cond, when it still does not after @ns.
 * @cond is evaluated first, so a condition already true takes no step.
 */
#define STEP_UNTIL_NS(cond, step, ns)                                          \
    do {                                                                       \
        const int64_t harness_ns_ = (ns);                                      \
        const int64_t harness_dl_ = harness_now_ns() + harness_ns_;            \
        while (!(cond)) {                                                      \
            (void)(step);                                                      \
            if (harness_now_ns() > harness_dl_ && !(cond)) {                   \
                harness_watchdog_expired(__FILE__, __LINE__, #cond,            \
                                         harness_ns_);                         \
            }                                                                  \
        }                                                                      \
    } while (0)

/* STEP_UNTIL() - STEP_UNTIL_NS() with the usual HARNESS_WATCHDOG_NS. */
#define STEP_UNTIL(cond, step) STEP_UNTIL_NS(cond, step, HARNESS_WATCHDOG_NS)

/*
 * POLL_UNTIL() - poll loop @l (blocking; the caller is its home thread)
 * until @cond holds; fail after the watchdog.
 */
#define POLL_UNTIL(l, cond) STEP_UNTIL(cond, loom_loop_poll((l), true))

/*
 * WAIT_UNTIL() - wait without polling any loop (yielding the CPU) until
 * @cond holds, made true by another thread; fail after the watchdog.
 */
#define WAIT_UNTIL(cond) STEP_UNTIL(cond, harness_yield())

/*
 * MAIN_LOOP_UNTIL() - iterate the main loop without blocking (sleeping
 * 50 us when an iteration did nothing) until @cond holds; fail after the
 * watchdog.  For device tests whose events come from the main loop.
 */
#define MAIN_LOOP_UNTIL(cond) STEP_UNTIL(cond, harness_main_loop_step())

/* One non-blocking main-loop iteration for MAIN_LOOP_UNTIL(). */
void harness_main_loop_step(void);

/*
 * harness_wait_child() - reap child @pid, calling @step(@opaque) (if not
 * NULL; e.g. to drain its output pipes) and sleeping 2 ms between checks.
 * After @ns the child is killed with SIGKILL (reported with
 * g_test_message()) and reaped: the status returned, as from waitpid(),
 * then shows the signal, for the caller to fail on with its own context.
 */
int harness_wait_child(pid_t pid, int64_t ns, void (*step)(void *),
                       void *opaque);

/*
 * struct harness_stall - "no progress for too long" on a counter that
 * the caller samples (a stress test's rounds, callbacks or grace
 * periods): harness_stalled() is true once @count has stayed the same
 * for more than @ns.  The caller reports what stalled, with whatever
 * state helps, and fails.  The watchdog thread (struct harness_watchdog)
 * is the same check for code that cannot sample a counter itself.
 */
struct harness_stall {
    /* private: */
    uint64_t last;
    int64_t since;
};

void harness_stall_init(struct harness_stall *s);
bool harness_stalled(struct harness_stall *s, uint64_t count, int64_t ns);

/*
 * Stress durations ("run for @ns"), which are not watchdogs: the end of a
 * run of @ns starting now, and whether that end has come.
 */
int64_t harness_run_end(int64_t ns);
bool harness_run_over(int64_t end);

/* Give the CPU away briefly (sched_yield()), for WAIT_UNTIL(). */
void harness_yield(void);

/*
 * struct harness_watchdog - a thread that fails the test (g_error) when
 * the code under test makes no progress for @seconds: for waits that
 * could block forever inside the library (a blocking poll that is never
 * woken), which POLL_UNTIL() cannot catch.  Progress is reported with
 * harness_watchdog_progress(); without any, the limit is simply
 * @seconds from the start.  Defined in harness-watchdog.c.
 */
struct harness_watchdog {
    /* private: */
    GMutex lock;
    GCond cond;
    gint done;     /* atomic (GLib's mutex is invisible to TSan) */
    gint progress; /* atomic */
    int seconds;
    const char *what;
    GThread *thread;
};

void harness_watchdog_start(struct harness_watchdog *w, int seconds,
                            const char *what);
void harness_watchdog_progress(struct harness_watchdog *w);
void harness_watchdog_stop(struct harness_watchdog *w);

/* Number of CPUs available to this process (>= 1). */
int harness_ncpus(void);

struct loom_cpuset;

/* The calling thread's CPU affinity (asserts success). */
void harness_self_cpuset(struct loom_cpuset *out);

/* The highest-numbered CPU this process may run on. */
unsigned harness_last_cpu(void);

/*
 * From now on io_uring_setup() fails with ENOSYS in this process and the
 * children it forks or execs, as on a kernel without io_uring (or with
 * io_uring_disabled): a seccomp filter (asserts success).
 */
void harness_refuse_io_uring(void);

#endif /* LOOM_TEST_HARNESS_H */
