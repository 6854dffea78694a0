/* SPDX-License-Identifier: MIT */
/*
 * Benchmark harness implementation (see common.h): option parsing, clocks,
 * pinning, percentiles and the alternating runner.  Entered only by the
 * main thread of a benchmark program, except bench_pin(), bench_unpin()
 * and the clocks, which any benchmark thread may call.
 */
#include "common.h"

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

struct bench_opts bench_opts = {
    .quick = false,
    .reps = 7,
    .filter = NULL,
    .impl = NULL,
};

static int g_failures;

static void usage(const char *prog, FILE *f)
{
    fprintf(f,
            "usage: %s [--quick] [--reps=N] [--filter=SUBSTR] [--impl=NAME]\n"
            "  --quick          smaller sizes (smoke run)\n"
            "  --reps=N         repetitions per implementation (default 7)\n"
            "  --filter=SUBSTR  only figures whose name contains SUBSTR\n"
            "  --impl=NAME      only implementation NAME (for profiling)\n",
            prog);
}

void bench_init(int argc, char **argv, const char *prog)
{
    int i;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (strcmp(a, "--quick") == 0) {
            bench_opts.quick = true;
        } else if (strncmp(a, "--reps=", 7) == 0) {
            bench_opts.reps = atoi(a + 7);
            if (bench_opts.reps < 1) {
                bench_opts.reps = 1;
            }
        } else if (strncmp(a, "--filter=", 9) == 0) {
            bench_opts.filter = a + 9;
        } else if (strncmp(a, "--impl=", 7) == 0) {
            bench_opts.impl = a + 7;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(prog, stdout);
            exit(0);
        } else {
            usage(prog, stderr);
            exit(2);
        }
    }
    /* Results go to a pipe or file; keep each line whole and in order. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("# %s: cpus=%d reps=%d quick=%d\n", prog, bench_ncpus(),
           bench_opts.reps, bench_opts.quick ? 1 : 0);
}

int bench_finish(void)
{
    fflush(stdout);
    return g_failures ? 1 : 0;
}

long bench_size(long n, long quick_div)
{
    if (bench_opts.quick && quick_div > 1) {
        n /= quick_div;
    }
    return n > 0 ? n : 1;
}

int64_t bench_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t bench_thread_cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

const char *bench_place_name(enum bench_place p)
{
    switch (p) {
    case BENCH_SPLIT:
        return "split";
    case BENCH_SAME:
        return "same";
    case BENCH_UNPINNED:
        return "unpinned";
    }
    return "?";
}

/* The CPUs the process was started on; pinning picks from these. */
static cpu_set_t g_all_cpus;
static int g_cpu[2] = { -1, -1 };
static int g_ncpus;

static void cpus_discover(void)
{
    int c;

    if (g_ncpus) {
        return;
    }
    if (sched_getaffinity(0, sizeof(g_all_cpus), &g_all_cpus) != 0) {
        CPU_ZERO(&g_all_cpus);
        CPU_SET(0, &g_all_cpus);
    }
    for (c = 0; c < CPU_SETSIZE; c++) {
        if (CPU_ISSET(c, &g_all_cpus)) {
            if (g_ncpus < 2) {
                g_cpu[g_ncpus] = c;
            }
            g_ncpus++;
        }
    }
}

int bench_ncpus(void)
{
    cpus_discover();
    return g_ncpus;
}

bool bench_place_ok(enum bench_place p)
{
    return p != BENCH_SPLIT || bench_ncpus() >= 2;
}

int bench_pin(enum bench_place p, int role)
{
    cpu_set_t set;
    int rc;

    cpus_discover();
    if (p == BENCH_UNPINNED) {
        set = g_all_cpus;
    } else {
        int cpu = g_cpu[0];

        if (p == BENCH_SPLIT && role == 1) {
            if (g_ncpus < 2) {
                return -ENOTSUP;
            }
            cpu = g_cpu[1];
        }
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
    }
    rc = sched_setaffinity(0, sizeof(set), &set);
    return rc == 0 ? 0 : -errno;
}

void bench_unpin(void)
{
    (void)bench_pin(BENCH_UNPINNED, 0);
}

long bench_raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return -errno;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            return -errno;
        }
    }
    return (long)rl.rlim_cur;
}

void bench_samples_init(struct bench_samples *s, size_t cap)
{
    s->n = 0;
    s->cap = cap ? cap : 16;
    s->v = malloc(s->cap * sizeof(*s->v));
    if (!s->v) {
        fprintf(stderr, "bench: out of memory\n");
        abort();
    }
}

void bench_samples_add(struct bench_samples *s, double x)
{
    if (s->n == s->cap) {
        double *nv = realloc(s->v, 2 * s->cap * sizeof(*s->v));

        if (!nv) {
            fprintf(stderr, "bench: out of memory\n");
            abort();
        }
        s->v = nv;
        s->cap *= 2;
    }
    s->v[s->n++] = x;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y ? 1 : 0;
}

/* Nearest-rank percentile of @v[0..n-1], sorting it. */
static double pct_sorted(double *v, size_t n, double p)
{
    size_t rank;

    if (n == 0) {
        return 0;
    }
    qsort(v, n, sizeof(*v), cmp_double);
    rank = (size_t)ceil(p / 100.0 * (double)n);
    if (rank < 1) {
        rank = 1;
    }
    if (rank > n) {
        rank = n;
    }
    return v[rank - 1];
}

double bench_samples_pct(struct bench_samples *s, double p)
{
    return pct_sorted(s->v, s->n, p);
}

void bench_samples_free(struct bench_samples *s)
{
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

void bench_fail(const char *what, int err)
{
    fprintf(stderr, "bench: %s failed: %s\n", what, strerror(err < 0 ? -err
                                                                 : err));
    g_failures++;
}

bool bench_figure_wanted(const char *name)
{
    return !bench_opts.filter || strstr(name, bench_opts.filter);
}

/* Median of @v[0..n-1] (sorts it): the middle one, or the mean of two. */
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    if (n % 2) {
        return v[n / 2];
    }
    return (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void print_value(const char *key, double x)
{
    double ax = fabs(x);

    if (ax >= 10000) {
        printf(" %s=%.0f", key, x);
    } else if (ax >= 100) {
        printf(" %s=%.1f", key, x);
    } else if (ax >= 1) {
        printf(" %s=%.3f", key, x);
    } else {
        printf(" %s=%.4f", key, x);
    }
}

struct impl_state {
    bool dead;    /* skipped or broken: no more runs, no line */
    double *vals; /* [out][rep] */
    int runs;
};

/* One run of implementation @i; false if it dropped out. */
static bool run_once(const struct bench_figure *f,
                     const struct bench_impl *im, struct impl_state *st,
                     bool record)
{
    double out[BENCH_MAX_OUT] = { 0 };
    int rc, k;

    rc = im->run(im->arg, out);
    bench_unpin();
    if (rc == BENCH_SKIP) {
        printf("# bench=%s impl=%s skipped\n", f->name, im->impl);
        st->dead = true;
        return false;
    }
    if (rc < 0) {
        char what[256];

        snprintf(what, sizeof(what), "%s impl=%s", f->name, im->impl);
        bench_fail(what, rc);
        st->dead = true;
        return false;
    }
    if (record) {
        for (k = 0; k < f->nout; k++) {
            st->vals[k * bench_opts.reps + st->runs] = out[k];
        }
        st->runs++;
    }
    return true;
}

static void print_lines(const struct bench_figure *f,
                        const struct bench_impl *im, struct impl_state *st)
{
    int k, r;

    for (k = 0; k < f->nout; k++) {
        double *v = &st->vals[k * bench_opts.reps];
        double lo = v[0], hi = v[0];

        for (r = 1; r < st->runs; r++) {
            lo = v[r] < lo ? v[r] : lo;
            hi = v[r] > hi ? v[r] : hi;
        }
        if (f->nout > 1 && f->suffix[k]) {
            printf("bench=%s/%s impl=%s", f->name, f->suffix[k], im->impl);
        } else {
            printf("bench=%s impl=%s", f->name, im->impl);
        }
        print_value("value", median(v, st->runs));
        print_value("min", lo);
        print_value("max", hi);
        printf(" runs=%d unit=%s\n", st->runs, f->unit);
    }
}

void bench_run(const struct bench_figure *f, const struct bench_impl *impls,
               int n)
{
    struct impl_state *st;
    int i, r;

    if (!bench_figure_wanted(f->name)) {
        return;
    }
    st = calloc((size_t)n, sizeof(*st));
    if (!st) {
        abort();
    }
    for (i = 0; i < n; i++) {
        st[i].vals = calloc((size_t)(BENCH_MAX_OUT * bench_opts.reps),
                            sizeof(double));
        if (!st[i].vals) {
            abort();
        }
        st[i].dead = bench_opts.impl && strcmp(bench_opts.impl,
                                               impls[i].impl) != 0;
    }
    /* Warm-up: caches, page faults, lazily started library threads. */
    for (i = 0; i < n; i++) {
        if (!st[i].dead) {
            run_once(f, &impls[i], &st[i], false);
        }
    }
    for (r = 0; r < bench_opts.reps; r++) {
        for (i = 0; i < n; i++) {
            /* Alternate the order so no one always runs first. */
            int j = (r % 2) ? n - 1 - i : i;

            if (!st[j].dead) {
                run_once(f, &impls[j], &st[j], true);
            }
        }
    }
    for (i = 0; i < n; i++) {
        if (!st[i].dead && st[i].runs > 0) {
            print_lines(f, &impls[i], &st[i]);
        }
        free(st[i].vals);
    }
    free(st);
}
