/* SPDX-License-Identifier: MIT */
/*
 * The Linux boot timeline, loom-vm against QEMU microvm in the same run:
 * the kernel of guest/linux/ (built and cached by build-kernel), an ext4
 * root on a virtio-blk disk served by an IOThread, the same command line
 * on both monitors (guest/linux/linux-boot.h), boots alternating between
 * them.  Figures, seconds from the monitor's exec:
 *   linux-boot/first-line    the first console line
 *   linux-boot/disk          "virtio_blk virtio0: [vda]" (the disk probed)
 *   linux-boot/root-mounted  "EXT4-fs (vda): mounted filesystem"
 *   linux-boot/init          "Run /sbin/init as init process"
 * The guest's emulated CPL0 work dominates here (issue 12), so a slower
 * machine model shows up as extra seconds.  Each repetition is one boot
 * per monitor (a minute or more each on this host): --reps=3 for a
 * shorter run.
 *
 *   bench-linux-boot [--loom-vm=PATH] [--qemu=PATH] [--build-kernel=SCRIPT]
 *                    [--work-dir=DIR] [--aio=io_uring|threads] [--smp=N]
 *                    [common]
 *
 * --smp=N boots N vCPUs (default 1, the figures of issue 12; others are
 * named linux-boot-smpN/...); the KVM pv features this host cannot run
 * stay masked on both monitors.
 *
 * Without /dev/kvm, or when the kernel cannot be built here (no
 * linux-source-6.1), everything is skipped; without QEMU, its figures.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "linux-boot.h"

#ifndef BENCH_LOOM_VM
#define BENCH_LOOM_VM "loom-vm"
#endif
#ifndef BENCH_BUILD_KERNEL
#define BENCH_BUILD_KERNEL "guest/linux/build-kernel"
#endif

#define BOOT_TIMEOUT_S 1500.0
#define IMAGE_MIB 64

/* The figures: every milestone but virtio-mmio. */
static const enum lxb_milestone g_figures[] = {LXB_FIRST_LINE, LXB_DISK,
                                               LXB_ROOT_MOUNTED, LXB_INIT};
#define NR_FIGURES (sizeof(g_figures) / sizeof(g_figures[0]))

struct monitor {
    const char *impl;
    const char *path;
    bool skip;
    struct bench_samples s[NR_FIGURES];
};

static const char *g_work = "/tmp";
static const char *g_aio = "io_uring";
static unsigned g_cpus = 1;
static char *g_kernel;

/* "name" -> the executable's path, or NULL. */
static char *find_program(const char *name)
{
    const char *path = getenv("PATH");
    char buf[4096];

    if (strchr(name, '/')) {
        return access(name, X_OK) == 0 ? strdup(name) : NULL;
    }
    while (path && *path) {
        size_t n = strcspn(path, ":");

        snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, name);
        if (access(buf, X_OK) == 0) {
            return strdup(buf);
        }
        path += n + (path[n] == ':');
    }
    return NULL;
}

/* One boot of @m; its milestones into the samples. */
static void boot_once(struct monitor *m)
{
    char image[4096];
    struct lxb_opts o = {
        .vmm = m->path,
        .kernel = g_kernel,
        .image = image,
        .aio = g_aio,
        .cpus = g_cpus,
        .timeout_s = BOOT_TIMEOUT_S,
    };
    struct lxb_result r;
    char *msg = NULL;
    unsigned i;

    snprintf(image, sizeof(image), "%s/bench-linux-root-%d.img", g_work,
             (int)getpid());
    if (lxb_make_image(image, IMAGE_MIB, &msg) != 0) {
        fprintf(stderr, "# cannot make %s: %s\n", image, msg);
        free(msg);
        bench_fail("mkfs.ext4", -EIO);
        return;
    }
    o.cache = lxb_direct_io_ok(image) ? "none" : "writeback";
    if (lxb_boot(&o, &r) < 0 || r.reached != LXB_NR_MILESTONES) {
        fprintf(stderr, "# %s stopped after %s (status %d%s):\n%s%s\n", m->impl,
                r.reached ? lxb_milestone_name(r.reached - 1) : "nothing",
                r.status, r.timed_out ? ", timed out" : "", r.out, r.err);
        bench_fail(m->impl, -EIO);
    } else {
        printf("# %s:", m->impl);
        for (i = 0; i < NR_FIGURES; i++) {
            bench_samples_add(&m->s[i], r.at[g_figures[i]]);
            printf(" %s=%.2f", lxb_milestone_name(g_figures[i]),
                   r.at[g_figures[i]]);
        }
        printf("\n");
        fflush(stdout);
    }
    (void)unlink(image);
    lxb_result_free(&r);
}

static void report(struct monitor *m)
{
    unsigned i;

    for (i = 0; i < NR_FIGURES; i++) {
        char name[64];
        size_t n = m->s[i].n;

        if (g_cpus == 1) {
            snprintf(name, sizeof(name), "linux-boot/%s",
                     lxb_milestone_name(g_figures[i]));
        } else {
            snprintf(name, sizeof(name), "linux-boot-smp%u/%s", g_cpus,
                     lxb_milestone_name(g_figures[i]));
        }
        if (n == 0 || !bench_figure_wanted(name)) {
            continue;
        }
        printf("bench=%s impl=%s value=%.2f", name, m->impl,
               bench_samples_pct(&m->s[i], 50));
        printf(" min=%.2f max=%.2f runs=%zu unit=s\n",
               bench_samples_pct(&m->s[i], 0), bench_samples_pct(&m->s[i], 100),
               n);
    }
}

int main(int argc, char **argv)
{
    struct monitor mon[2] = {{.impl = "loom", .path = BENCH_LOOM_VM},
                             {.impl = "qemu", .path = "qemu-system-x86_64"}};
    const char *script = BENCH_BUILD_KERNEL;
    char *msg = NULL;
    int i, j = 1, r, reps, fd;

    /* Our options first; the rest go to the common parser. */
    for (i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--loom-vm=", 10) == 0) {
            mon[0].path = argv[i] + 10;
        } else if (strncmp(argv[i], "--qemu=", 7) == 0) {
            mon[1].path = argv[i] + 7;
        } else if (strncmp(argv[i], "--build-kernel=", 15) == 0) {
            script = argv[i] + 15;
        } else if (strncmp(argv[i], "--work-dir=", 11) == 0) {
            g_work = argv[i] + 11;
        } else if (strncmp(argv[i], "--aio=", 6) == 0) {
            g_aio = argv[i] + 6;
        } else if (strncmp(argv[i], "--smp=", 6) == 0) {
            g_cpus = (unsigned)atoi(argv[i] + 6);
            if (g_cpus < 1 || g_cpus > 64) {
                fprintf(stderr, "bench-linux-boot: --smp=1..64\n");
                return 2;
            }
        } else {
            argv[j++] = argv[i];
        }
    }
    argv[j] = NULL;
    bench_init(j, argv, "bench-linux-boot");
    reps = bench_opts.quick ? 1 : bench_opts.reps;

    fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        printf("# skipped: /dev/kvm unusable\n");
        return 0;
    }
    close(fd);
    r = lxb_build_kernel(script, &g_kernel, &msg);
    if (r != 0) {
        printf("# skipped: the Linux kernel cannot be built: %s\n",
               msg ? msg : "?");
        free(msg);
        return r == LXB_CANNOT_BUILD ? 0 : 1;
    }
    printf("# kernel %s, aio=%s, smp=%u, %d boot(s) per monitor\n", g_kernel,
           g_aio, g_cpus, reps);
    for (i = 0; i < 2; i++) {
        char *p = find_program(mon[i].path);
        unsigned k;

        for (k = 0; k < NR_FIGURES; k++) {
            bench_samples_init(&mon[i].s[k], (size_t)reps);
        }
        mon[i].skip = !p || (bench_opts.impl &&
                             strcmp(bench_opts.impl, mon[i].impl) != 0);
        if (!p && !mon[i].skip) {
            printf("# %s: %s not found, skipped\n", mon[i].impl, mon[i].path);
        }
        mon[i].path = p;
    }
    /* Alternate, and alternate which goes first. */
    for (i = 0; i < reps; i++) {
        int k;

        for (k = 0; k < 2; k++) {
            struct monitor *m = &mon[(i + k) % 2];

            if (!m->skip) {
                boot_once(m);
            }
        }
    }
    for (i = 0; i < 2; i++) {
        unsigned k;

        report(&mon[i]);
        for (k = 0; k < NR_FIGURES; k++) {
            bench_samples_free(&mon[i].s[k]);
        }
        free((char *)mon[i].path);
    }
    free(g_kernel);
    return bench_finish();
}
