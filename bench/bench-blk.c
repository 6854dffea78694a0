/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk on loom-vm against QEMU microvm (BENCH.md): the blk-bench
 * guest on both monitors, one command line, QEMU's best configuration
 * (-object iothread, aio=io_uring, cache=none, a raw image on tmpfs),
 * with the IOThread polling (QEMU's default poll-max-ns) and without
 * (poll-max-ns=0), alternating in one run (-cpu host, plus the feature
 * switch this host's QEMU needs to start, if any: monitor-cpu.h); plus
 * the host's own 4 KiB
 * O_DIRECT pread on the same image as the floor.  Figures:
 *   blk-randread-4k-qd1   us per request
 *   blk-randread-4k-qd4   us per request
 *   blk-seqread-1m        MB/s: 1 MiB / the median time of a 1 MiB read,
 *                         one in flight (a per-request median, so that
 *                         a descheduled vCPU on this shared host does not
 *                         decide the figure, as it does per-round rates)
 * Each repetition boots every monitor once; the value of a repetition is
 * the guest's median, and the line gives the median of those.
 *
 *   bench-blk [--loom-vm=PATH] [--qemu=PATH] [--guest-dir=DIR]
 *             [--image-dir=DIR] [common options]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "monitor-cpu.h"

#ifndef BENCH_LOOM_VM
#define BENCH_LOOM_VM "loom-vm"
#endif
#ifndef BENCH_GUEST_DIR
#define BENCH_GUEST_DIR "guest"
#endif

#define IMAGE_MIB 256
#define NFIG 3
#define MAX_REPS 64

static const char *const g_figs[NFIG] = {
    "blk-randread-4k-qd1",
    "blk-randread-4k-qd4",
    "blk-seqread-1m",
};
/* What blk-bench prints for each: the sequential figure is derived from
 * its per-request latency line. */
static const char *const g_guest_figs[NFIG] = {
    "blk-randread-4k-qd1",
    "blk-randread-4k-qd4",
    "blk-seqread-1m-latency",
};
static const char *const g_units[NFIG] = {"us", "us", "MB/s"};

struct impl {
    const char *name; /* in the result lines */
    const char *vmm;  /* NULL: the host pread floor */
    bool poll;
    bool skip;
    double v[NFIG][MAX_REPS];
    int n;
};

static char g_kernel[4096], g_image[4096];
static char g_cpu[64]; /* -cpu of both monitors (monitor-cpu.h) */

/* Boot blk-bench once on @im; parse its three medians. */
static int boot(struct impl *im)
{
    char drive[4200], it[64];
    char *const argv[] = {
        (char *)im->vmm,
        "-M",
        "microvm,acpi=off",
        "-enable-kvm",
        "-cpu",
        g_cpu,
        "-m",
        "256",
        "-smp",
        "1",
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-serial",
        "stdio",
        "-device",
        "isa-debug-exit",
        "-no-reboot",
        "-global",
        "virtio-mmio.force-legacy=off",
        "-object",
        it,
        "-drive",
        drive,
        "-device",
        "virtio-blk-device,drive=d0,iothread=io0",
        "-kernel",
        g_kernel,
        "-append",
        "requests=1000 rounds=10 seq_rounds=5",
        NULL,
    };
    double got[NFIG];
    bool have[NFIG] = {false};
    char line[512];
    int pfd[2], st, i;
    FILE *f;
    pid_t pid;

    snprintf(it, sizeof(it), "iothread,id=io0%s",
             im->poll ? "" : ",poll-max-ns=0");
    snprintf(drive, sizeof(drive),
             "id=d0,file=%s,format=raw,if=none,cache=none,aio=io_uring",
             g_image);
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        return -errno;
    }
    pid = fork();
    if (pid < 0) {
        return -errno;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);

        dup2(pfd[1], 1);
        if (null >= 0) {
            dup2(null, 2);
        }
        execvp(im->vmm, argv);
        _exit(127);
    }
    close(pfd[1]);
    f = fdopen(pfd[0], "r");
    while (f && fgets(line, sizeof(line), f)) {
        for (i = 0; i < NFIG; i++) {
            char want[64];
            const char *v;

            snprintf(want, sizeof(want), "bench=%s impl=", g_guest_figs[i]);
            if (strncmp(line, want, strlen(want)) == 0 &&
                (v = strstr(line, " value="))) {
                got[i] = strtod(v + 7, NULL);
                have[i] = got[i] > 0;
            }
        }
    }
    if (f) {
        fclose(f);
    }
    if (waitpid(pid, &st, 0) != pid) {
        return -errno;
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 127) {
        return BENCH_SKIP;
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 33) {
        fprintf(stderr, "# %s: blk-bench failed (status %d)\n", im->name, st);
        return -EIO;
    }
    for (i = 0; i < NFIG; i++) {
        if (!have[i]) {
            return -EIO;
        }
        im->v[i][im->n] = got[i];
    }
    /* 1 MiB over the median microseconds: bytes per us = MB/s. */
    im->v[2][im->n] = (double)(1 << 20) / got[2];
    im->n++;
    return 0;
}

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

/* The floor: 4 KiB O_DIRECT preads on the image, one at a time. */
static int host_pread(struct impl *im)
{
    const int n = bench_size(20000, 10);
    struct bench_samples s;
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    void *buf;
    int fd, i, r = 0;
    double seq;

    fd = open(g_image, O_RDONLY | O_DIRECT | O_CLOEXEC);
    if (fd < 0 || posix_memalign(&buf, 4096, 1 << 20) != 0) {
        if (fd >= 0) {
            close(fd);
        }
        return BENCH_SKIP;
    }
    bench_samples_init(&s, (size_t)n);
    for (i = 0; i < n; i++) {
        off_t off = (off_t)(xorshift(&rng) % (IMAGE_MIB * 256)) * 4096;
        int64_t t0 = bench_now_ns();

        if (pread(fd, buf, 4096, off) != 4096) {
            r = -EIO;
            break;
        }
        bench_samples_add(&s, (double)(bench_now_ns() - t0) / 1e3);
    }
    im->v[0][im->n] = bench_samples_pct(&s, 50);
    bench_samples_free(&s);
    bench_samples_init(&s, IMAGE_MIB);
    for (i = 0; i < IMAGE_MIB && r == 0; i++) {
        int64_t t0 = bench_now_ns();

        if (pread(fd, buf, 1 << 20, (off_t)i << 20) != 1 << 20) {
            r = -EIO;
        }
        bench_samples_add(&s, (double)(bench_now_ns() - t0) / 1e3);
    }
    seq = (double)(1 << 20) / bench_samples_pct(&s, 50);
    im->v[2][im->n] = seq;
    im->n++;
    bench_samples_free(&s);
    free(buf);
    close(fd);
    return r;
}

static int make_image(const char *dir)
{
    char *buf;
    uint64_t rng = 1;
    int fd, i, r = 0;

    snprintf(g_image, sizeof(g_image), "%s/loom-bench-blk-%d.img", dir,
             (int)getpid());
    fd = open(g_image, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    buf = malloc(1 << 20);
    if (fd < 0 || !buf) {
        free(buf);
        return -errno;
    }
    for (i = 0; i < IMAGE_MIB && r == 0; i++) {
        for (size_t j = 0; j < (1 << 20) / 8; j++) {
            ((uint64_t *)buf)[j] = xorshift(&rng);
        }
        if (write(fd, buf, 1 << 20) != 1 << 20) {
            r = -EIO;
        }
    }
    free(buf);
    close(fd);
    return r;
}

static void report(struct impl *im)
{
    struct bench_samples s;
    int i, k;

    if (im->skip || im->n == 0) {
        return;
    }
    for (i = 0; i < NFIG; i++) {
        double lo, hi, med;

        /* The host floor has no queue depth 4 of its own. */
        if (!bench_figure_wanted(g_figs[i]) || (!im->vmm && i == 1)) {
            continue;
        }
        bench_samples_init(&s, (size_t)im->n);
        for (k = 0; k < im->n; k++) {
            bench_samples_add(&s, im->v[i][k]);
        }
        lo = bench_samples_pct(&s, 0);
        hi = bench_samples_pct(&s, 100);
        med = bench_samples_pct(&s, 50);
        printf("bench=%s impl=%s value=%.4g min=%.4g max=%.4g runs=%d "
               "unit=%s\n",
               g_figs[i], im->name, med, lo, hi, im->n, g_units[i]);
        bench_samples_free(&s);
    }
}

int main(int argc, char **argv)
{
    const char *guest_dir = BENCH_GUEST_DIR, *image_dir = "/dev/shm";
    const char *loom_vm = BENCH_LOOM_VM, *qemu = "qemu-system-x86_64";
    struct impl impls[5];
    int i, j = 1, rep, reps, n = 0, r;

    for (i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--loom-vm=", 10) == 0) {
            loom_vm = argv[i] + 10;
        } else if (strncmp(argv[i], "--qemu=", 7) == 0) {
            qemu = argv[i] + 7;
        } else if (strncmp(argv[i], "--guest-dir=", 12) == 0) {
            guest_dir = argv[i] + 12;
        } else if (strncmp(argv[i], "--image-dir=", 12) == 0) {
            image_dir = argv[i] + 12;
        } else {
            argv[j++] = argv[i];
        }
    }
    argc = j;
    bench_init(argc, argv, "bench-blk");
    snprintf(g_kernel, sizeof(g_kernel), "%s/blk-bench.elf", guest_dir);
    if (access("/dev/kvm", R_OK | W_OK) < 0 || access(g_kernel, R_OK) < 0) {
        printf("# skipped: /dev/kvm or %s unusable\n", g_kernel);
        return 0;
    }
    snprintf(g_cpu, sizeof(g_cpu), "host%s", monitor_cpu_features(qemu));
    printf("# -cpu %s\n", g_cpu);
    r = make_image(image_dir);
    if (r < 0) {
        printf("# skipped: cannot write an image in %s\n", image_dir);
        unlink(g_image);
        return 0;
    }
    memset(impls, 0, sizeof(impls));
    impls[n++] = (struct impl){.name = "loom", .vmm = loom_vm, .poll = true};
    impls[n++] = (struct impl){.name = "qemu", .vmm = qemu, .poll = true};
    impls[n++] = (struct impl){.name = "loom-nopoll", .vmm = loom_vm};
    impls[n++] = (struct impl){.name = "qemu-nopoll", .vmm = qemu};
    impls[n++] = (struct impl){.name = "raw-pread"};
    reps = bench_opts.reps < MAX_REPS ? bench_opts.reps : MAX_REPS;
    if (bench_opts.quick) {
        reps = 1;
    }
    /* A warm-up of each, then the repetitions, alternating. */
    for (rep = -1; rep < reps; rep++) {
        for (i = 0; i < n; i++) {
            struct impl *im = &impls[(rep & 1) ? n - 1 - i : i];

            if (im->skip ||
                (bench_opts.impl && strcmp(bench_opts.impl, im->name))) {
                continue;
            }
            r = im->vmm ? boot(im) : host_pread(im);
            if (r == BENCH_SKIP) {
                im->skip = true;
            } else if (r < 0) {
                bench_fail(im->name, r);
                im->skip = true;
            } else if (rep < 0) {
                im->n = 0; /* the warm-up does not count */
            }
        }
    }
    for (i = 0; i < n; i++) {
        report(&impls[i]);
    }
    unlink(g_image);
    return bench_finish();
}
