/* SPDX-License-Identifier: MIT */
/*
 * KVM accelerator benchmarks (vmm/kvm), skipped without a usable
 * /dev/kvm.  The guest is the same micro-guest for every implementation:
 * a CPL3 loop of port writes, then a write to a "done" port.
 *
 *   kvm-pio-exit       one PIO exit round trip: loom's vCPU thread and
 *                      bus dispatch (loom) against a raw KVM_RUN loop in
 *                      the calling thread (raw, the floor), same VM.
 *   kvm-pio-2vcpu      two vCPUs exiting at once to an unlocked region
 *                      (loom-unlocked) and to BQL regions (loom-bql):
 *                      wall time per exit.
 *   kvm-run-on-cpu     loom_run_on_cpu() round trip to a spinning guest
 *                      (kick, exit, work, back into the guest): p50, p99.
 *   kvm-kick-exit      loom_cpu_kick() until KVM_RUN returned on the vCPU
 *                      thread (spinning guest): p50, p99.
 *
 * Timed intervals start at the guest's first exit, not at vCPU creation.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <loom/cpu.h>
#include <loom/main.h>
#include <loom/thread.h>

#include "common.h"
#include "arch/x86_64/flat.h"

#define RAM_SIZE (4u << 20)
#define TABLES 0x1000u
#define CODE_PIO 0x10000u
#define CODE_SPIN 0x11000u
#define STACKS 0x100000u
#define PORT_DATA 0x500u /* + 4 * vCPU index */
#define PORT_DONE 0x510u

static struct vmm_kvm_vm *g_vm;
static struct vmm_bus *g_pio, *g_mmio;

static void free_vm(void)
{
    vmm_kvm_vm_free(g_vm);
    vmm_bus_free(g_pio);
    vmm_bus_free(g_mmio);
}
static uint8_t *g_ram;
static long g_exits;   /* PIO exits per vCPU and run */
static long g_samples; /* latency samples per run */
static int g_next_index;

/* ------------------------------------------------------------------ */
/* Guest code                                                          */
/* ------------------------------------------------------------------ */

static void put(uint32_t *at, const uint8_t *code, size_t n)
{
    memcpy(g_ram + *at, code, n);
    *at += (uint32_t)n;
}

/* loop: mov eax,ecx; out dx,eax; dec ecx; jnz loop; mov edx,edi;
 * park: out dx,al; jmp park */
static void emit_guests(void)
{
    static const uint8_t pio[] = {
        0x89, 0xc8, 0xef, 0xff, 0xc9, 0x75, 0xf9, 0x89, 0xfa, 0xee, 0xeb, 0xfd,
    };
    /* spin: inc rax; jmp spin */
    static const uint8_t spin[] = {0x48, 0xff, 0xc0, 0xeb, 0xfb};
    uint32_t at = CODE_PIO;

    put(&at, pio, sizeof(pio));
    at = CODE_SPIN;
    put(&at, spin, sizeof(spin));
}

struct cpu_init {
    uint64_t rip, rcx, rdx, rdi;
};

static int init_fn(struct vmm_kvm_vcpu *v, void *opaque)
{
    const struct cpu_init *ci = opaque;
    int index = loom_cpu_index(vmm_kvm_vcpu_cpu(v));
    struct kvm_regs r;

    memset(&r, 0, sizeof(r));
    r.rip = ci->rip;
    r.rcx = ci->rcx;
    r.rdx = ci->rdx;
    r.rdi = ci->rdi;
    r.rsp = STACKS + ((uint64_t)(index % 16) + 1) * 0x1000u - 16;
    return vmm_x86_enter_flat(v, TABLES, true, &r);
}

/* ------------------------------------------------------------------ */
/* Devices: count exits, time the first and the last                   */
/* ------------------------------------------------------------------ */

struct meter {
    int64_t first_ns; /* atomic; 0 until the first exit */
    int64_t done_ns;  /* atomic */
    long count;       /* atomic */
    struct loom_sem done;
};

static void meter_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct meter *m = opaque;

    if (__atomic_fetch_add(&m->count, 1, __ATOMIC_RELAXED) == 0) {
        __atomic_store_n(&m->first_ns, bench_now_ns(), __ATOMIC_RELAXED);
    }
}

/* The BQL variant counts under the BQL, like a non-thread-safe device. */
static void meter_write_bql(void *opaque, uint64_t off, uint64_t val,
                            unsigned size)
{
    struct meter *m = opaque;

    if (m->count++ == 0) {
        __atomic_store_n(&m->first_ns, bench_now_ns(), __ATOMIC_RELAXED);
    }
}

static void done_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct meter *m = opaque;

    __atomic_store_n(&m->done_ns, bench_now_ns(), __ATOMIC_RELAXED);
    loom_cpu_halt(loom_current_cpu());
    loom_sem_post(&m->done);
}

static const struct vmm_bus_ops meter_ops = {.write = meter_write};
static const struct vmm_bus_ops meter_bql_ops = {.write = meter_write_bql};
static const struct vmm_bus_ops done_ops = {.write = done_write};

/* ------------------------------------------------------------------ */
/* kvm-pio-exit                                                        */
/* ------------------------------------------------------------------ */

/* loom: @n vCPUs, each g_exits PIO exits; ns per exit (wall / total). */
static int run_pio_loom(int n, bool bql, double *out)
{
    struct vmm_kvm_vcpu *v[2];
    struct cpu_init ci[2];
    struct meter m[2];
    struct meter done;
    int64_t first = INT64_MAX, last = 0;
    int i, r;

    memset(m, 0, sizeof(m));
    memset(&done, 0, sizeof(done));
    loom_sem_init(&done.done, 0);
    r = vmm_bus_add(vmm_kvm_vm_pio(g_vm), PORT_DONE, 1, &done_ops, &done,
                    VMM_BUS_UNLOCKED);
    for (i = 0; i < n && r == 0; i++) {
        r = vmm_bus_add(vmm_kvm_vm_pio(g_vm), PORT_DATA + 4 * i, 4,
                        bql ? &meter_bql_ops : &meter_ops, &m[i],
                        bql ? 0 : VMM_BUS_UNLOCKED);
    }
    for (i = 0; i < n && r == 0; i++) {
        ci[i] = (struct cpu_init){
            .rip = CODE_PIO,
            .rcx = (uint64_t)g_exits,
            .rdx = PORT_DATA + 4 * i,
            .rdi = PORT_DONE,
        };
        r = vmm_kvm_vcpu_new(g_vm, g_next_index++, init_fn, &ci[i], &v[i]);
    }
    for (i = 0; i < n && r == 0; i++) {
        r = vmm_kvm_vcpu_start(v[i]);
    }
    if (r == 0) {
        for (i = 0; i < n; i++) {
            loom_sem_wait(&done.done);
        }
        for (i = 0; i < n; i++) {
            if (m[i].first_ns < first) {
                first = m[i].first_ns;
            }
        }
        last = done.done_ns;
        out[0] = (double)(last - first) / (double)(g_exits * n);
    }
    for (i = 0; i < n; i++) {
        vmm_kvm_vcpu_free(v[i]);
    }
    loom_bql_lock();
    for (i = 0; i < n; i++) {
        (void)vmm_bus_remove(vmm_kvm_vm_pio(g_vm), PORT_DATA + 4 * i);
    }
    (void)vmm_bus_remove(vmm_kvm_vm_pio(g_vm), PORT_DONE);
    loom_bql_unlock();
    loom_sem_destroy(&done.done);
    return r;
}

static int run_pio_exit_loom(void *arg, double *out)
{
    return run_pio_loom(1, false, out);
}

static int run_pio_2_unlocked(void *arg, double *out)
{
    return run_pio_loom(2, false, out);
}

static int run_pio_2_bql(void *arg, double *out)
{
    return run_pio_loom(2, true, out);
}

/* raw: the same guest on a vCPU fd driven by this thread. */
static int run_pio_exit_raw(void *arg, double *out)
{
    int fd, size, r = 0;
    struct kvm_run *run;
    struct kvm_sregs sr;
    struct kvm_regs regs;
    int64_t first = 0, last;
    long count = 0;

    /* The vCPU mmap size comes from /dev/kvm. */
    fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    size = ioctl(fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    close(fd);
    fd = ioctl(vmm_kvm_vm_fd(g_vm), KVM_CREATE_VCPU, g_next_index++);
    if (fd < 0) {
        return -errno;
    }
    run = size > 0 ? mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE,
                          MAP_SHARED, fd, 0)
                   : MAP_FAILED;
    if (run == MAP_FAILED) {
        close(fd);
        return -ENOMEM;
    }
    memset(&regs, 0, sizeof(regs));
    regs.rip = CODE_PIO;
    regs.rcx = (uint64_t)g_exits;
    regs.rdx = PORT_DATA;
    regs.rdi = PORT_DONE;
    regs.rsp = STACKS + 0x1000u - 16;
    regs.rflags = vmm_x86_flat_rflags(true);
    if (ioctl(fd, KVM_GET_SREGS, &sr) < 0) {
        r = -errno;
        goto out;
    }
    vmm_x86_flat_sregs(TABLES, true, &sr);
    if (ioctl(fd, KVM_SET_SREGS, &sr) < 0 ||
        ioctl(fd, KVM_SET_REGS, &regs) < 0) {
        r = -errno;
        goto out;
    }
    for (;;) {
        if (ioctl(fd, KVM_RUN, 0) < 0) {
            if (errno == EINTR) {
                continue;
            }
            r = -errno;
            goto out;
        }
        if (run->exit_reason != KVM_EXIT_IO) {
            r = -EIO;
            goto out;
        }
        if (run->io.port == PORT_DONE) {
            break;
        }
        /* The same work as the loom device: count, stamp the first. */
        if (count++ == 0) {
            first = bench_now_ns();
        }
    }
    last = bench_now_ns();
    out[0] = (double)(last - first) / (double)g_exits;
out:
    munmap(run, (size_t)size);
    close(fd);
    return r;
}

/* ------------------------------------------------------------------ */
/* Spinning guest: run_on_cpu and kick latency                         */
/* ------------------------------------------------------------------ */

struct kick_probe {
    int64_t exit_ns; /* atomic: last KVM_EXIT_INTR */
};

static void exit_hook(struct vmm_kvm_vcpu *v, const struct kvm_run *run,
                      void *opaque)
{
    struct kick_probe *p = opaque;

    if (run->exit_reason == KVM_EXIT_INTR) {
        /* Pairs with the acquire load in run_spinning(). */
        __atomic_store_n(&p->exit_ns, bench_now_ns(), __ATOMIC_RELEASE);
    }
}

static struct kick_probe g_probe;

static int spin_init_fn(struct vmm_kvm_vcpu *v, void *opaque)
{
    vmm_kvm_vcpu_set_exit_hook(v, exit_hook, &g_probe);
    return init_fn(v, opaque);
}

static void noop_fn(struct loom_cpu *cpu, void *data)
{
}

/* Entries into KVM_RUN so far. */
static uint64_t runs_of(struct vmm_kvm_vcpu *v)
{
    struct vmm_kvm_vcpu_stats st;

    (void)vmm_kvm_vcpu_stats(v, &st);
    return st.runs;
}

/* Wait until the vCPU entered KVM_RUN again after @seen entries. */
static void wait_in_guest(struct vmm_kvm_vcpu *v, uint64_t seen)
{
    while (runs_of(v) <= seen) {
        bench_relax();
    }
    /* runs counts just before the ioctl: let it reach the guest. */
    usleep(100);
}

static int run_spinning(bool kick, double *out)
{
    struct cpu_init ci = {.rip = CODE_SPIN};
    struct vmm_kvm_vcpu *v;
    struct bench_samples s;
    uint64_t before = 0;
    long i;
    int r;

    r = vmm_kvm_vcpu_new(g_vm, g_next_index++, spin_init_fn, &ci, &v);
    if (r < 0) {
        return r;
    }
    r = vmm_kvm_vcpu_start(v);
    if (r < 0) {
        vmm_kvm_vcpu_free(v);
        return r;
    }
    bench_samples_init(&s, (size_t)g_samples);
    for (i = 0; i < g_samples; i++) {
        int64_t t0;

        /* The previous sample's exit is followed by a new KVM_RUN. */
        wait_in_guest(v, before);
        before = runs_of(v);
        __atomic_store_n(&g_probe.exit_ns, 0, __ATOMIC_RELAXED);
        t0 = bench_now_ns();
        if (kick) {
            int64_t t1;

            loom_cpu_kick(vmm_kvm_vcpu_cpu(v));
            /* Pairs with the release store in exit_hook(). */
            while ((t1 = __atomic_load_n(&g_probe.exit_ns, __ATOMIC_ACQUIRE)) ==
                   0) {
                bench_relax();
            }
            bench_samples_add(&s, (double)(t1 - t0) / 1000.0);
        } else {
            (void)loom_run_on_cpu(vmm_kvm_vcpu_cpu(v), noop_fn, NULL);
            bench_samples_add(&s, (double)(bench_now_ns() - t0) / 1000.0);
        }
    }
    out[0] = bench_samples_pct(&s, 50);
    out[1] = bench_samples_pct(&s, 99);
    bench_samples_free(&s);
    vmm_kvm_vcpu_free(v);
    return 0;
}

static int run_run_on_cpu(void *arg, double *out)
{
    return run_spinning(false, out);
}

static int run_kick_exit(void *arg, double *out)
{
    return run_spinning(true, out);
}

int main(int argc, char **argv)
{
    static const struct bench_impl pio[] = {
        {"loom", run_pio_exit_loom, NULL},
        {"raw", run_pio_exit_raw, NULL},
    };
    static const struct bench_impl pio2[] = {
        {"loom-unlocked", run_pio_2_unlocked, NULL},
        {"loom-bql", run_pio_2_bql, NULL},
    };
    static const struct bench_impl roc[] = {
        {"loom", run_run_on_cpu, NULL},
    };
    static const struct bench_impl kick[] = {
        {"loom", run_kick_exit, NULL},
    };
    static const struct bench_figure fpio = {
        "kvm-pio-exit",
        "ns/op",
        1,
        {NULL},
    };
    static const struct bench_figure fpio2 = {
        "kvm-pio-2vcpu",
        "ns/op",
        1,
        {NULL},
    };
    static const struct bench_figure froc = {
        "kvm-run-on-cpu",
        "us",
        2,
        {"p50", "p99"},
    };
    static const struct bench_figure fkick = {
        "kvm-kick-exit",
        "us",
        2,
        {"p50", "p99"},
    };
    void *ram;
    int r;

    bench_init(argc, argv, "bench-kvm");
    r = vmm_bus_new(0xffff, &g_pio);
    if (r == 0) {
        r = vmm_bus_new(UINT64_MAX, &g_mmio);
    }
    if (r == 0) {
        r = vmm_kvm_vm_new(g_pio, g_mmio, &g_vm);
    }
    if (r < 0) {
        vmm_bus_free(g_pio);
        vmm_bus_free(g_mmio);
        printf("# skipped: /dev/kvm unusable: %s\n", strerror(-r));
        return 0;
    }
    r = vmm_kvm_mem_add(g_vm, 0, RAM_SIZE, NULL, 0, &ram);
    if (r == 0) {
        g_ram = ram;
        r = vmm_x86_build_flat(g_vm, TABLES);
    }
    if (r < 0) {
        bench_fail("guest memory", r);
        free_vm();
        return bench_finish();
    }
    emit_guests();
    g_exits = bench_size(5000, 10);
    g_samples = bench_size(500, 10);

    bench_run(&fpio, pio, 2);
    bench_run(&fpio2, pio2, 2);
    bench_run(&froc, roc, 1);
    bench_run(&fkick, kick, 1);

    free_vm();
    return bench_finish();
}
