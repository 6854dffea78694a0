/* SPDX-License-Identifier: MIT */
/*
 * Shared benchmark harness: clocks, sample statistics, CPU placement and
 * the runner that alternates implementations and prints result lines.
 *
 * Every figure is measured for loom and its peers in the same process:
 * one warm-up run of each implementation, then at least five repetitions
 * in alternating order (forward, then backward, ...).  One line per figure
 * and implementation goes to stdout:
 *
 *   bench=<name> impl=<impl> value=<median> min=<x> max=<y> runs=<n>
 *   unit=<unit>
 *
 * <impl> is loom, a peer (libuv, glib, libevent, libev, urcu) or raw (the
 * floor), optionally followed by "-<variant>" (loom-poll, raw-futex,
 * urcu-qsbr).  Lines starting with '#' are comments.  Benchmarks never
 * fail on a timing; a program exits non-zero only when something broke.
 */
#ifndef LOOM_BENCH_COMMON_H
#define LOOM_BENCH_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * BENCH_HAVE_LOOM (set by meson.build once the measured modules exist)
 * compiles the loom side.  Building with -DBENCH_PEERS_ONLY drops it, to
 * measure only the peers and floors.
 */
#ifdef BENCH_PEERS_ONLY
#undef BENCH_HAVE_LOOM
#define BENCH_HAVE_LOOM 0
#endif

/* A run function returns this to say "not available here, skip me". */
#define BENCH_SKIP 1

/* Most values one run may produce (e.g. p50 and p99). */
#define BENCH_MAX_OUT 2

/* Thread placement of two-thread figures. */
enum bench_place {
    BENCH_SPLIT,    /* role 0 on CPU 0, role 1 on CPU 1 */
    BENCH_SAME,     /* both on CPU 0 */
    BENCH_UNPINNED, /* the scheduler decides */
};
#define BENCH_NPLACES 3

struct bench_opts {
    bool quick;         /* --quick: smaller sizes, for a smoke run */
    int reps;           /* --reps=N (default 7, minimum 1) */
    const char *filter; /* --filter=SUBSTR: only figures containing it */
    const char *impl;   /* --impl=NAME: only this implementation */
};
extern struct bench_opts bench_opts;

/*
 * bench_init() - parse the common options (--quick, --reps=N,
 * --filter=SUBSTR, --help) and print a comment line naming the program.
 * Exits on --help or a bad option.
 */
void bench_init(int argc, char **argv, const char *prog);

/* bench_finish() - exit status: 0 unless some run reported an error. */
int bench_finish(void);

/* bench_size() - @n, or @n / @quick_div (at least 1) under --quick. */
long bench_size(long n, long quick_div);

/* Clocks (nanoseconds). */
int64_t bench_now_ns(void);        /* CLOCK_MONOTONIC */
/*
 * CLOCK_THREAD_CPUTIME_ID: times single-thread figures that never sleep,
 * so that preemption by other load on a shared machine is not counted.
 */
int64_t bench_thread_cpu_ns(void);

/* CPU placement.  bench_place_name() gives "split", "same", "unpinned". */
const char *bench_place_name(enum bench_place p);
int bench_ncpus(void);
/* false when @p cannot be honoured here (split on a 1-CPU machine). */
bool bench_place_ok(enum bench_place p);
/* Pin the calling thread for @role (0 or 1) of @p; 0 or -errno. */
int bench_pin(enum bench_place p, int role);
/* Allow the calling thread on every CPU again. */
void bench_unpin(void);

/* Raise RLIMIT_NOFILE's soft limit to the hard one; returns the limit. */
long bench_raise_nofile(void);

/*
 * Start a struct member on a cache line of its own, apart from the
 * members before it (state one thread writes, another reads).
 */
#define BENCH_LINE_ALIGNED __attribute__((aligned(64)))

/* A growable array of samples, for percentiles. */
struct bench_samples {
    double *v;
    size_t n, cap;
};
void bench_samples_init(struct bench_samples *s, size_t cap);
void bench_samples_add(struct bench_samples *s, double x);
/* @p in [0, 100]; sorts in place; 0 with no samples. */
double bench_samples_pct(struct bench_samples *s, double p);
void bench_samples_free(struct bench_samples *s);

/*
 * typedef bench_run_fn - one repetition of one implementation.
 * @arg: the implementation's argument.
 * @out: receives the figure's value(s) (out[0] .. out[nout - 1]).
 *
 * Return: 0, BENCH_SKIP (not available; the implementation is dropped
 * from the figure), or -errno when something is broken (reported, and the
 * program will exit 1).
 */
typedef int bench_run_fn(void *arg, double *out);

struct bench_impl {
    const char *impl;
    bench_run_fn *run;
    void *arg;
};

struct bench_figure {
    const char *name; /* e.g. "wakeup-rt-blocking/split" */
    const char *unit; /* ns/op, ops/s, us, ... */
    int nout;         /* 1, or up to BENCH_MAX_OUT */
    /* With nout > 1: appended as "<name>/<suffix>" (e.g. "p50"). */
    const char *suffix[BENCH_MAX_OUT];
};

/*
 * bench_figure_wanted() - false when --filter excludes @name, so that a
 * program can skip expensive set-up.
 */
bool bench_figure_wanted(const char *name);

/*
 * bench_run() - measure @n implementations of figure @f and print one
 * line per implementation and output.
 */
void bench_run(const struct bench_figure *f, const struct bench_impl *impls,
               int n);

/* bench_fail() - report a broken run (stderr) and remember to exit 1. */
void bench_fail(const char *what, int err);

/* Keep the compiler from optimising a value or memory away. */
#define bench_escape(p) __asm__ __volatile__("" : : "g"(p) : "memory")
#define bench_clobber() __asm__ __volatile__("" : : : "memory")

/* Spin-wait hint. */
static inline void bench_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    bench_clobber();
#endif
}

#endif /* LOOM_BENCH_COMMON_H */
