/* SPDX-License-Identifier: MIT */
/*
 * The KVM accelerator on real guests built by the test: vCPU threads
 * running KVM_RUN, PIO and MMIO exits dispatched through the address maps
 * (BQL and unlocked regions), I/O completion before register reads, kick
 * and run_on_cpu on spinning guests, pause/resume, ioeventfd and irqfd,
 * memory slots.  Skipped (77) when /dev/kvm is missing or unusable.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <loom/cpu.h>
#include <loom/main.h>
#include <loom/rcu.h>
#include <loom/thread.h>

#include "guest.h"
#include "harness.h"

#define MAX_VCPUS 4
#define PORT_DATA 0x500u /* + 4 * vCPU index */
#define PORT_DONE 0x510u
#define PORT_CHECK 0x520u /* + 4 * vCPU index */
#define PORT_IN 0x530u
#define MMIO_BQL 0xd0000000ull
#define MMIO_UNLOCKED 0xd0001000ull
#define MMIO_IOEVENTFD 0xd0002000ull
#define WAIT_NS (2 * HARNESS_WATCHDOG_NS)

/* ------------------------------------------------------------------ */
/* Devices                                                             */
/* ------------------------------------------------------------------ */

/* "done" port: the guest finished; halt its vCPU and tell the test. */
struct done_dev {
    struct loom_sem sem;
};

static void done_write(void *opaque, uint64_t off, uint64_t val, unsigned sz)
{
    struct done_dev *d = opaque;

    loom_cpu_halt(loom_current_cpu());
    loom_sem_post(&d->sem);
}

static const struct vmm_bus_ops done_ops = {.write = done_write};

/* A data port per vCPU (BQL region): counts, checks the sequence. */
struct count_dev {
    uint64_t count;  /* under the BQL */
    uint64_t bad;    /* under the BQL */
    uint64_t *total; /* shared by every port, under the BQL */
    uint32_t expect; /* next value: the guest counts down */
};

static void count_write(void *opaque, uint64_t off, uint64_t val, unsigned sz)
{
    struct count_dev *d = opaque;

    g_assert_true(loom_bql_locked());
    if (sz != 4 || off != 0 || val != d->expect) {
        d->bad++;
    }
    d->expect--;
    d->count++;
    (*d->total)++;
}

static const struct vmm_bus_ops count_ops = {.write = count_write};

static void wait_done(struct done_dev *d, int n)
{
    int i;

    for (i = 0; i < n; i++) {
        g_assert_cmpint(loom_sem_timedwait(&d->sem, WAIT_NS), ==, 0);
    }
}

static void free_vcpus(struct vmm_kvm_vcpu **v, int n)
{
    int i;

    for (i = 0; i < n; i++) {
        vmm_kvm_vcpu_free(v[i]);
    }
}

/* ------------------------------------------------------------------ */
/* N vCPUs x M port writes                                             */
/* ------------------------------------------------------------------ */

/* Count ecx down, writing it to port dx each time; then the done port. */
static uint64_t emit_pio_loop(uint8_t *ram)
{
    struct guest_asm a;
    uint32_t loop, done;

    ga_init(&a, ram, GUEST_CODE);
    loop = ga_here(&a);
    ga_mov_rr32(&a, RAX, RCX);
    ga_out_dx_eax(&a);
    ga_dec32(&a, RCX);
    ga_jnz(&a, loop);
    ga_mov_rr32(&a, RDX, RDI);
    done = ga_here(&a);
    ga_out_dx_al(&a);
    ga_jmp(&a, done);
    return ga_addr(&a, 0);
}

static void test_pio_counts(void)
{
    enum { N = 4, M = 10000 };
    struct vmm_kvm_vcpu *v[N];
    struct guest_cpu_init gi[N];
    struct count_dev dev[N];
    struct done_dev done;
    struct vmm_kvm_vm *vm = NULL;
    struct vmm_bus_stats bst;
    uint64_t total = 0;
    uint8_t *ram = NULL;
    uint64_t entry;
    int i;

    g_assert_cmpint(guest_vm_new(&vm, &ram), ==, 0);
    entry = emit_pio_loop(ram);
    loom_sem_init(&done.sem, 0);
    g_assert_cmpint(vmm_bus_add(vmm_kvm_vm_pio(vm), PORT_DONE, 1, &done_ops,
                                &done, VMM_BUS_UNLOCKED),
                    ==, 0);
    for (i = 0; i < N; i++) {
        dev[i] = (struct count_dev){.total = &total, .expect = M};
        g_assert_cmpint(vmm_bus_add(vmm_kvm_vm_pio(vm), PORT_DATA + 4 * i, 4,
                                    &count_ops, &dev[i], 0),
                        ==, 0);
        gi[i] = (struct guest_cpu_init){
            .rip = entry,
            .rcx = M,
            .rdx = PORT_DATA + 4 * i,
            .rdi = PORT_DONE,
        };
        g_assert_cmpint(
            vmm_kvm_vcpu_new(vm, i, guest_cpu_init_fn, &gi[i], &v[i]), ==, 0);
    }
    for (i = 0; i < N; i++) {
        g_assert_cmpint(vmm_kvm_vcpu_start(v[i]), ==, 0);
    }
    wait_done(&done, N);

    loom_bql_lock();
    for (i = 0; i < N; i++) {
        struct vmm_kvm_vcpu_stats st;

        g_assert_cmpuint(dev[i].count, ==, M);
        g_assert_cmpuint(dev[i].bad, ==, 0);
        g_assert_cmpint(vmm_kvm_vcpu_stats(v[i], &st), ==, 0);
        /* M data exits and at least one done exit, nothing else. */
        g_assert_cmpuint(st.exits_io, >=, M + 1);
        g_assert_cmpuint(st.exits_mmio, ==, 0);
        g_assert_cmpuint(st.exits_other, ==, 0);
    }
    g_assert_cmpuint(total, ==, (uint64_t)N * M);
    loom_bql_unlock();
    g_assert_cmpint(vmm_bus_stats(vmm_kvm_vm_pio(vm), &bst), ==, 0);
    g_assert_cmpuint(bst.locked, ==, (uint64_t)N * M);
    g_assert_cmpuint(bst.unassigned, ==, 0);

    free_vcpus(v, N);
    guest_vm_free(vm);
    loom_sem_destroy(&done.sem);
}

/* ------------------------------------------------------------------ */
/* MMIO: BQL region, unlocked region, reads                            */
/* ------------------------------------------------------------------ */

struct mmio_dev {
    bool unlocked;
    uint64_t count; /* BQL region: under the BQL; unlocked: atomic */
    uint64_t bad;   /* atomic */
    uint32_t read_value;
};

static void mmio_write(void *opaque, uint64_t off, uint64_t val, unsigned sz)
{
    struct mmio_dev *d = opaque;

    if (d->unlocked) {
        g_assert_false(loom_bql_locked());
        __atomic_fetch_add(&d->count, 1, __ATOMIC_RELAXED);
    } else {
        g_assert_true(loom_bql_locked());
        d->count++;
    }
    if (off != 0 || sz != 4) {
        __atomic_fetch_add(&d->bad, 1, __ATOMIC_RELAXED);
    }
}

static uint64_t mmio_read(void *opaque, uint64_t off, unsigned sz)
{
    struct mmio_dev *d = opaque;

    g_assert_true(loom_bql_locked() == !d->unlocked);
    if (off != 8 || sz != 4) {
        __atomic_fetch_add(&d->bad, 1, __ATOMIC_RELAXED);
    }
    return d->read_value;
}

static const struct vmm_bus_ops mmio_ops = {
    .read = mmio_read,
    .write = mmio_write,
};

/* Reads come back through the check port of each vCPU. */
struct check_dev {
    uint32_t seen[2];
    int n; /* under the BQL */
};

static void check_write(void *opaque, uint64_t off, uint64_t val, unsigned sz)
{
    struct check_dev *c = opaque;

    if (c->n < 2) {
        c->seen[c->n] = (uint32_t)val;
    }
    c->n++;
}

static const struct vmm_bus_ops check_ops = {.write = check_write};

/*
 * ecx times: store ecx to [rbx] (BQL) and [rsi] (unlocked); then read
 * [rsi + 8] and [rbx + 8] and write both to port dx; then the done port.
 */
static uint64_t emit_mmio_loop(uint8_t *ram)
{
    struct guest_asm a;
    uint32_t loop, done;

    ga_init(&a, ram, GUEST_CODE);
    loop = ga_here(&a);
    ga_mov_rr32(&a, RAX, RCX);
    ga_store32(&a, RBX, 0);
    ga_store32(&a, RSI, 0);
    ga_dec32(&a, RCX);
    ga_jnz(&a, loop);
    ga_load32(&a, RSI, 8);
    ga_out_dx_eax(&a);
    ga_load32(&a, RBX, 8);
    ga_out_dx_eax(&a);
    ga_mov_rr32(&a, RDX, RDI);
    done = ga_here(&a);
    ga_out_dx_al(&a);
    ga_jmp(&a, done);
    return ga_addr(&a, 0);
}

static void test_mmio(void)
{
    enum { N = 2, M = 3000 };
    struct mmio_dev locked = {.unlocked = false, .read_value = 0x1234};
    struct mmio_dev unlocked = {.unlocked = true, .read_value = 0xabcd};
    struct vmm_kvm_vcpu *v[N];
    struct guest_cpu_init gi[N];
    struct check_dev chk[N];
    struct done_dev done;
    struct vmm_kvm_vm *vm = NULL;
    struct vmm_bus_stats bst;
    uint8_t *ram = NULL;
    uint64_t entry;
    int i;

    g_assert_cmpint(guest_vm_new(&vm, &ram), ==, 0);
    entry = emit_mmio_loop(ram);
    loom_sem_init(&done.sem, 0);
    g_assert_cmpint(vmm_bus_add(vmm_kvm_vm_pio(vm), PORT_DONE, 1, &done_ops,
                                &done, VMM_BUS_UNLOCKED),
                    ==, 0);
    g_assert_cmpint(vmm_bus_add(vmm_kvm_vm_mmio(vm), MMIO_BQL, 0x1000,
                                &mmio_ops, &locked, 0),
                    ==, 0);
    g_assert_cmpint(vmm_bus_add(vmm_kvm_vm_mmio(vm), MMIO_UNLOCKED, 0x1000,
                                &mmio_ops, &unlocked, VMM_BUS_UNLOCKED),
                    ==, 0);
    for (i = 0; i < N; i++) {
        memset(&chk[i], 0, sizeof(chk[i]));
        g_assert_cmpint(vmm_bus_add(vmm_kvm_vm_pio(vm), PORT_CHECK + 4 * i, 4,
                                    &check_ops, &chk[i], 0),
                        ==, 0);
        gi[i] = (struct guest_cpu_init){
            .rip = entry,
            .rcx = M,
            .rbx = MMIO_BQL,
            .rsi = MMIO_UNLOCKED,
            .rdx = PORT_CHECK + 4 * i,
            .rdi = PORT_DONE,
        };
        g_assert_cmpint(
            vmm_kvm_vcpu_new(vm, i, guest_cpu_init_fn, &gi[i], &v[i]), ==, 0);
    }
    for (i = 0; i < N; i++) {
        g_assert_cmpint(vmm_kvm_vcpu_start(v[i]), ==, 0);
    }
    wait_done(&done, N);

    loom_bql_lock();
    g_assert_cmpuint(locked.count, ==, (uint64_t)N * M);
    for (i = 0; i < N; i++) {
        g_assert_cmpint(chk[i].n, ==, 2);
        g_assert_cmphex(chk[i].seen[0], ==, 0xabcd);
        g_assert_cmphex(chk[i].seen[1], ==, 0x1234);
    }
    loom_bql_unlock();
    g_assert_cmpuint(__atomic_load_n(&unlocked.count, __ATOMIC_RELAXED), ==,
                     (uint64_t)N * M);
    g_assert_cmpuint(locked.bad + unlocked.bad, ==, 0);
    g_assert_cmpint(vmm_bus_stats(vmm_kvm_vm_mmio(vm), &bst), ==, 0);
    g_assert_cmpuint(bst.locked, ==, (uint64_t)N * (M + 1));
    g_assert_cmpuint(bst.unlocked, ==, (uint64_t)N * (M + 1));

    free_vcpus(v, N);
    guest_vm_free(vm);
    loom_sem_destroy(&done.sem);
}

/* ------------------------------------------------------------------ */
/* Registers after an I/O exit                                         */
/* ------------------------------------------------------------------ */

struct in_dev {
    int hits; /* atomic */
};

static uint64_t in_read(void *opaque, uint64_t off, unsigned sz)
{
    struct in_dev *d = opaque;

    __atomic_fetch_add(&d->hits, 1, __ATOMIC_SEQ_CST);
    /* exec returns right after this exit, before KVM_RUN completes it. */
    loom_cpu_halt(loom_current_cpu());
    return 0x5a5aa5a5u;
}

static const struct vmm_bus_ops in_ops = {.read = in_read};

struct regs_req {
    struct kvm_regs regs;
    int ret;
};

static void get_regs_fn(struct loom_cpu *cpu, void *data)
{
    struct regs_req *q = data;

    q->ret = vmm_kvm_vcpu_get_regs(vmm_kvm_vcpu_of(cpu), &q->regs);
}

static void get_mp_state_fn(struct loom_cpu *cpu, void *data)
{
    struct regs_req *q = data;
    struct kvm_mp_state mp = {.mp_state = 0xffff};

    q->ret = vmm_kvm_vcpu_ioctl(vmm_kvm_vcpu_of(cpu), KVM_GET_MP_STATE, &mp);
    q->regs.rax = mp.mp_state;
}

static void test_in_completes(void)
{
    struct vmm_kvm_vcpu *v;
    struct guest_cpu_init gi;
    struct in_dev dev = {0};
    struct vmm_kvm_vm *vm = NULL;
    struct regs_req q;
    struct guest_asm a;
    uint32_t after;
    uint8_t *ram = NULL;

    g_assert_cmpint(guest_vm_new(&vm, &ram), ==, 0);
    ga_init(&a, ram, GUEST_CODE);
    ga_in_eax_dx(&a);
    after = ga_here(&a);
    ga_jmp(&a, after);
    g_assert_cmpint(vmm_bus_add(vmm_kvm_vm_pio(vm), PORT_IN, 4, &in_ops, &dev,
                                VMM_BUS_UNLOCKED),
                    ==, 0);
    gi = (struct guest_cpu_init){.rip = ga_addr(&a, 0), .rdx = PORT_IN};
    g_assert_cmpint(vmm_kvm_vcpu_new(vm, 0, guest_cpu_init_fn, &gi, &v), ==, 0);
    g_assert_cmpint(vmm_kvm_vcpu_start(v), ==, 0);

    STEP_UNTIL_NS(loom_cpu_is_halted(vmm_kvm_vcpu_cpu(v)) &&
                      __atomic_load_n(&dev.hits, __ATOMIC_SEQ_CST) != 0,
                  g_usleep(1000), WAIT_NS);
    /* Halted right after the IN exit: the result must be in rax. */
    g_assert_cmpint(loom_run_on_cpu(vmm_kvm_vcpu_cpu(v), get_regs_fn, &q), ==,
                    0);
    g_assert_cmpint(q.ret, ==, 0);
    g_assert_cmphex(q.regs.rax & 0xffffffffu, ==, 0x5a5aa5a5u);
    g_assert_cmphex(q.regs.rip, ==, ga_addr(&a, after));
    /* Generic vCPU ioctls: on its own thread only. */
    g_assert_cmpint(loom_run_on_cpu(vmm_kvm_vcpu_cpu(v), get_mp_state_fn, &q),
                    ==, 0);
    g_assert_cmpint(q.ret, ==, 0);
    g_assert_cmpuint(q.regs.rax, ==, KVM_MP_STATE_RUNNABLE);
    {
        struct kvm_mp_state mp;

        g_assert_cmpint(vmm_kvm_vcpu_ioctl(v, KVM_GET_MP_STATE, &mp), ==,
                        -EPERM);
    }
    g_assert_cmpint(dev.hits, ==, 1);

    /* Outside its thread the accessors refuse (KVM_RUN could block them). */
    g_assert_cmpint(vmm_kvm_vcpu_get_regs(v, &q.regs), ==, -EPERM);

    vmm_kvm_vcpu_free(v);
    guest_vm_free(vm);
}

/* ------------------------------------------------------------------ */
/* Spinning guests: kick, run_on_cpu, pause/resume                      */
/* ------------------------------------------------------------------ */

/* inc rax forever: never exits by itself. */
static uint64_t emit_spin(uint8_t *ram)
{
    struct guest_asm a;
    uint32_t loop;

    ga_init(&a, ram, GUEST_CODE);
    loop = ga_here(&a);
    ga_inc64(&a, RAX);
    ga_jmp(&a, loop);
    return ga_addr(&a, 0);
}

static uint64_t read_rax(struct vmm_kvm_vcpu *v)
{
    struct regs_req q;

    g_assert_cmpint(loom_run_on_cpu(vmm_kvm_vcpu_cpu(v), get_regs_fn, &q), ==,
                    0);
    g_assert_cmpint(q.ret, ==, 0);
    return q.regs.rax;
}

static void set_rbx_fn(struct loom_cpu *cpu, void *data)
{
    struct vmm_kvm_vcpu *v = vmm_kvm_vcpu_of(cpu);
    struct kvm_regs r;

    g_assert_cmpint(vmm_kvm_vcpu_get_regs(v, &r), ==, 0);
    r.rbx = *(uint64_t *)data;
    g_assert_cmpint(vmm_kvm_vcpu_set_regs(v, &r), ==, 0);
}

/* Wait until rax moves past @than (the guest runs again). */
static uint64_t wait_rax_above(struct vmm_kvm_vcpu *v, uint64_t than)
{
    uint64_t rax;

    STEP_UNTIL_NS((rax = read_rax(v)) > than, g_usleep(1000), WAIT_NS);
    return rax;
}

/* How many times @v entered KVM_RUN so far. */
static uint64_t vcpu_runs(struct vmm_kvm_vcpu *v)
{
    struct vmm_kvm_vcpu_stats st;

    g_assert_cmpint(vmm_kvm_vcpu_stats(v, &st), ==, 0);
    return st.runs;
}

static void test_kick_regs(void)
{
    struct vmm_kvm_vcpu *v;
    struct guest_cpu_init gi;
    struct vmm_kvm_vm *vm = NULL;
    struct loom_cpu_stats cst;
    struct vmm_kvm_vcpu_stats st;
    struct regs_req q;
    uint64_t rax1, rax2, magic = 0x0123456789abcdefull, execs, guest_ns;
    uint64_t runs, intr0 = 0;
    uint8_t *ram = NULL;
    int64_t t0;
    int i;

    g_assert_cmpint(guest_vm_new(&vm, &ram), ==, 0);
    gi = (struct guest_cpu_init){.rip = emit_spin(ram)};
    g_assert_cmpint(vmm_kvm_vcpu_new(vm, 0, guest_cpu_init_fn, &gi, &v), ==, 0);
    t0 = harness_now_ns();
    g_assert_cmpint(vmm_kvm_vcpu_start(v), ==, 0);

    rax1 = wait_rax_above(v, 0);
    rax2 = wait_rax_above(v, rax1);
    g_assert_cmpuint(rax2, >, rax1);

    /* Registers written through run_on_cpu stick while the guest runs. */
    g_assert_cmpint(loom_run_on_cpu(vmm_kvm_vcpu_cpu(v), set_rbx_fn, &magic),
                    ==, 0);
    (void)wait_rax_above(v, rax2);
    g_assert_cmpint(loom_run_on_cpu(vmm_kvm_vcpu_cpu(v), get_regs_fn, &q), ==,
                    0);
    g_assert_cmphex(q.regs.rbx, ==, magic);

    /*
     * Plain kicks: each makes exec return, then the guest goes on.  A
     * kick that finds the vCPU thread before exec's kick check returns
     * without a KVM exit (right, but not an exit to count), so after the
     * first kick each one is sent only once the thread is inside a new
     * KVM_RUN (its run count moved on): those 20 each end a KVM_RUN.
     */
    g_assert_cmpint(loom_cpu_stats(vmm_kvm_vcpu_cpu(v), &cst), ==, 0);
    execs = cst.exec_count;
    for (i = 0; i <= 20; i++) {
        int64_t deadline = harness_now_ns() + WAIT_NS;

        g_assert_cmpint(vmm_kvm_vcpu_stats(v, &st), ==, 0);
        runs = st.runs;
        if (i == 1) {
            intr0 = st.exits_intr;
        }
        loom_cpu_kick(vmm_kvm_vcpu_cpu(v));
        do {
            harness_watchdog(deadline, "the kick makes exec return");
            g_assert_cmpint(loom_cpu_stats(vmm_kvm_vcpu_cpu(v), &cst), ==, 0);
        } while (cst.exec_count <= execs);
        execs = cst.exec_count;
        STEP_UNTIL_NS(vcpu_runs(v) > runs, harness_yield(), WAIT_NS);
    }
    g_assert_cmpint(vmm_kvm_vcpu_stats(v, &st), ==, 0);
    g_assert_cmpuint(st.exits_intr - intr0, >=, 20);
    g_assert_cmpuint(st.exits_other, ==, 0);
    g_assert_cmpint(cst.last_error, ==, 0);
    /* Time in guest: the spinning guest ran; never more than wall time. */
    g_assert_cmpuint(st.guest_ns, >, 0);
    g_assert_cmpuint(st.guest_ns, <=, (uint64_t)(harness_now_ns() - t0));
    guest_ns = st.guest_ns;
    (void)wait_rax_above(v, q.regs.rax);
    t0 = harness_now_ns() + WAIT_NS;
    do {
        loom_cpu_kick(vmm_kvm_vcpu_cpu(v));
        harness_watchdog(t0, "more time in guest");
        g_assert_cmpint(vmm_kvm_vcpu_stats(v, &st), ==, 0);
    } while (st.guest_ns == guest_ns);
    g_assert_cmpuint(st.guest_ns, >, guest_ns);

    vmm_kvm_vcpu_free(v);
    guest_vm_free(vm);
}

static void test_pause_resume(void)
{
    enum { N = 4 };
    struct vmm_kvm_vcpu *v[N];
    struct guest_cpu_init gi;
    struct vmm_kvm_vm *vm = NULL;
    uint64_t rax[N];
    uint8_t *ram = NULL;
    int i, round;

    g_assert_cmpint(guest_vm_new(&vm, &ram), ==, 0);
    gi = (struct guest_cpu_init){.rip = emit_spin(ram)};
    for (i = 0; i < N; i++) {
        g_assert_cmpint(vmm_kvm_vcpu_new(vm, i, guest_cpu_init_fn, &gi, &v[i]),
                        ==, 0);
        g_assert_cmpint(vmm_kvm_vcpu_start(v[i]), ==, 0);
    }
    for (round = 0; round < 3; round++) {
        for (i = 0; i < N; i++) {
            (void)wait_rax_above(v[i], 0);
        }
        loom_pause_all_vcpus();
        for (i = 0; i < N; i++) {
            g_assert_true(loom_cpu_is_stopped(vmm_kvm_vcpu_cpu(v[i])));
            rax[i] = read_rax(v[i]);
        }
        /* Stopped guests do not move (work still runs on their threads). */
        g_usleep(20000);
        for (i = 0; i < N; i++) {
            g_assert_cmpuint(read_rax(v[i]), ==, rax[i]);
        }
        loom_resume_all_vcpus();
        for (i = 0; i < N; i++) {
            (void)wait_rax_above(v[i], rax[i]);
        }
    }
    free_vcpus(v, N);
    guest_vm_free(vm);
}

/* ------------------------------------------------------------------ */
/* ioeventfd, irqfd                                                    */
/* ------------------------------------------------------------------ */

/* ecx times: store to [rbx] (an ioeventfd), then the done port. */
static uint64_t emit_store_loop(uint8_t *ram, bool pio)
{
    struct guest_asm a;
    uint32_t loop, done;

    ga_init(&a, ram, GUEST_CODE);
    loop = ga_here(&a);
    ga_mov_rr32(&a, RAX, RCX);
    if (pio) {
        ga_out_dx_eax(&a);
    } else {
        ga_store32(&a, RBX, 0);
    }
    ga_dec32(&a, RCX);
    ga_jnz(&a, loop);
    ga_mov_rr32(&a, RDX, RDI);
    done = ga_here(&a);
    ga_out_dx_al(&a);
    ga_jmp(&a, done);
    return ga_addr(&a, 0);
}

static void run_ioeventfd(bool pio, int m)
{
    struct vmm_kvm_vcpu *v;
    struct guest_cpu_init gi;
    struct done_dev done;
    struct vmm_kvm_vm *vm = NULL;
    struct vmm_kvm_vcpu_stats st;
    struct vmm_bus_stats bst;
    uint64_t cnt = 0, addr = pio ? PORT_DATA : MMIO_IOEVENTFD;
    unsigned flags = pio ? VMM_KVM_IOEVENTFD_PIO : 0;
    uint8_t *ram = NULL;
    int efd;

    g_assert_cmpint(guest_vm_new(&vm, &ram), ==, 0);
    loom_sem_init(&done.sem, 0);
    g_assert_cmpint(vmm_bus_add(vmm_kvm_vm_pio(vm), PORT_DONE, 1, &done_ops,
                                &done, VMM_BUS_UNLOCKED),
                    ==, 0);
    efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    g_assert_cmpint(efd, >=, 0);
    g_assert_cmpint(vmm_kvm_ioeventfd_add(vm, efd, addr, 4, 0, flags), ==, 0);
    g_assert_cmpint(vmm_kvm_ioeventfd_add(vm, efd, addr, 4, 0, flags), ==,
                    -EEXIST);
    gi = (struct guest_cpu_init){
        .rip = emit_store_loop(ram, pio),
        .rcx = (uint64_t)m,
        .rbx = addr,
        .rdx = addr,
        .rdi = PORT_DONE,
    };
    g_assert_cmpint(vmm_kvm_vcpu_new(vm, 0, guest_cpu_init_fn, &gi, &v), ==, 0);
    g_assert_cmpint(vmm_kvm_vcpu_start(v), ==, 0);
    wait_done(&done, 1);

    g_assert_cmpint(read(efd, &cnt, sizeof(cnt)), ==, (ssize_t)sizeof(cnt));
    g_assert_cmpuint(cnt, ==, (uint64_t)m);
    /* None of them reached userspace. */
    g_assert_cmpint(vmm_kvm_vcpu_stats(v, &st), ==, 0);
    g_assert_cmpuint(st.exits_mmio, ==, 0);
    g_assert_cmpuint(st.exits_io, <, (uint64_t)m);
    g_assert_cmpint(vmm_bus_stats(vmm_kvm_vm_mmio(vm), &bst), ==, 0);
    g_assert_cmpuint(bst.unassigned, ==, 0);

    vmm_kvm_vcpu_free(v);
    g_assert_cmpint(vmm_kvm_ioeventfd_del(vm, efd, addr, 4, 0, flags), ==, 0);
    g_assert_cmpint(vmm_kvm_ioeventfd_del(vm, efd, addr, 4, 0, flags), <, 0);
    guest_vm_free(vm);
    close(efd);
    loom_sem_destroy(&done.sem);
}

static void test_ioeventfd_mmio(void)
{
    run_ioeventfd(false, 2000);
}

static void test_ioeventfd_pio(void)
{
    run_ioeventfd(true, 500);
}

static void test_ioeventfd_bad_args(void)
{
    struct vmm_kvm_vm *vm = NULL;
    uint8_t *ram = NULL;

    g_assert_cmpint(guest_vm_new(&vm, &ram), ==, 0);
    g_assert_cmpint(vmm_kvm_ioeventfd_add(NULL, 0, 0, 4, 0, 0), ==, -EINVAL);
    g_assert_cmpint(vmm_kvm_ioeventfd_add(vm, -1, 0, 4, 0, 0), ==, -EINVAL);
    g_assert_cmpint(vmm_kvm_ioeventfd_add(vm, 0, 0, 3, 0, 0), ==, -EINVAL);
    g_assert_cmpint(
        vmm_kvm_ioeventfd_add(vm, 0, 0x10000, 1, 0, VMM_KVM_IOEVENTFD_PIO), ==,
        -EINVAL);
    g_assert_cmpint(vmm_kvm_ioeventfd_add(vm, 0, 0, 4, 0, 0x80), ==, -EINVAL);
    g_assert_cmpint(vmm_kvm_irqfd_add(vm, 0, 5, -1), ==, -ENODEV);
    guest_vm_free(vm);
}

static void test_irqfd(void)
{
    struct vmm_kvm_vcpu *v;
    struct guest_cpu_init gi;
    struct vmm_kvm_vm *vm = NULL;
    uint64_t one = 1, cnt;
    int64_t deadline;
    uint8_t *ram = NULL;
    int efd;

    g_assert_cmpint(guest_vm_new(&vm, &ram), ==, 0);
    g_assert_cmpint(vmm_kvm_vm_create_irqchip(vm), ==, 0);
    g_assert_cmpint(vmm_kvm_vm_create_irqchip(vm), ==, -EEXIST);
    efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    g_assert_cmpint(efd, >=, 0);
    g_assert_cmpint(vmm_kvm_irqfd_add(vm, efd, 5, -1), ==, 0);
    /* KVM consumes the signal (it injects, the counter goes back to 0). */
    g_assert_cmpint(write(efd, &one, sizeof(one)), ==, (ssize_t)sizeof(one));
    deadline = harness_now_ns() + WAIT_NS;
    while (read(efd, &cnt, sizeof(cnt)) == (ssize_t)sizeof(cnt)) {
        harness_watchdog(deadline, "KVM consumes the irqfd signal");
        g_assert_cmpint(write(efd, &one, sizeof(one)), ==,
                        (ssize_t)sizeof(one));
        g_usleep(1000);
    }
    g_assert_cmpint(errno, ==, EAGAIN);
    g_assert_cmpint(vmm_kvm_irqfd_del(vm, efd, 5), ==, 0);
    /* Deassigned: the count stays for us now. */
    g_assert_cmpint(write(efd, &one, sizeof(one)), ==, (ssize_t)sizeof(one));
    g_assert_cmpint(read(efd, &cnt, sizeof(cnt)), ==, (ssize_t)sizeof(cnt));
    g_assert_cmpuint(cnt, ==, 1);

    /* A vCPU still runs with the irqchip; no more irqchip after it. */
    gi = (struct guest_cpu_init){.rip = emit_spin(ram)};
    g_assert_cmpint(vmm_kvm_vcpu_new(vm, 0, guest_cpu_init_fn, &gi, &v), ==, 0);
    g_assert_cmpint(vmm_kvm_vcpu_start(v), ==, 0);
    (void)wait_rax_above(v, 0);
    vmm_kvm_vcpu_free(v);
    close(efd);
    guest_vm_free(vm);
}

static void get_lapic_id_fn(struct loom_cpu *cpu, void *data)
{
    struct regs_req *q = data;
    struct kvm_lapic_state lapic;
    uint32_t id;

    q->ret = vmm_kvm_vcpu_ioctl(vmm_kvm_vcpu_of(cpu), KVM_GET_LAPIC, &lapic);
    memcpy(&id, &lapic.regs[0x20], sizeof(id));
    q->regs.rax = id >> 24;
}

/* A KVM vCPU id apart from the index: it is the in-kernel LAPIC's ID. */
static void test_vcpu_kvm_id(void)
{
    struct vmm_kvm_vcpu *v;
    struct vmm_kvm_vm *vm = NULL;
    struct guest_cpu_init gi;
    struct guest_asm a;
    struct regs_req q;
    uint32_t top;
    uint8_t *ram = NULL;

    g_assert_cmpint(guest_vm_new(&vm, &ram), ==, 0);
    g_assert_cmpint(vmm_kvm_vm_create_irqchip(vm), ==, 0);
    ga_init(&a, ram, GUEST_CODE);
    top = ga_here(&a);
    ga_jmp(&a, top);
    gi = (struct guest_cpu_init){.rip = ga_addr(&a, 0)};
    g_assert_cmpint(vmm_kvm_vcpu_new_id(vm, 0, 3, guest_cpu_init_fn, &gi, &v),
                    ==, 0);
    g_assert_cmpint(vmm_kvm_vcpu_start(v), ==, 0);
    g_assert_cmpint(loom_run_on_cpu(vmm_kvm_vcpu_cpu(v), get_lapic_id_fn, &q),
                    ==, 0);
    g_assert_cmpint(q.ret, ==, 0);
    g_assert_cmpuint(q.regs.rax, ==, 3);
    g_assert_cmpint(loom_cpu_index(vmm_kvm_vcpu_cpu(v)), ==, 0);
    vmm_kvm_vcpu_free(v);
    guest_vm_free(vm);
}

static void done_post(void *opaque, uint64_t off, uint64_t val, unsigned sz)
{
    loom_sem_post(opaque);
}

static const struct vmm_bus_ops done_post_ops = {.write = done_post};

/*
 * The in-kernel PIT also serves port 0x61 (channel 2's gate and output,
 * which Linux's PIT calibration polls): a guest read of it never reaches
 * the VMM's PIO map.
 */
static void test_pit_speaker_port(void)
{
    struct vmm_kvm_vcpu *v;
    struct vmm_kvm_vm *vm = NULL;
    struct vmm_bus_stats bst;
    struct guest_cpu_init gi;
    struct guest_asm a;
    struct loom_sem sem;
    uint32_t top;
    uint8_t *ram = NULL;

    g_assert_cmpint(guest_vm_new(&vm, &ram), ==, 0);
    g_assert_cmpint(vmm_kvm_vm_create_irqchip(vm), ==, 0);
    g_assert_cmpint(vmm_kvm_vm_create_pit(vm), ==, 0);
    loom_sem_init(&sem, 0);
    g_assert_cmpint(vmm_bus_add(vmm_kvm_vm_pio(vm), PORT_DONE, 1,
                                &done_post_ops, &sem, VMM_BUS_UNLOCKED),
                    ==, 0);
    ga_init(&a, ram, GUEST_CODE);
    ga_mov_imm32(&a, RDX, 0x61);
    ga_b(&a, 0xec); /* in al, dx */
    ga_mov_imm32(&a, RDX, PORT_DONE);
    ga_out_dx_al(&a);
    top = ga_here(&a);
    ga_jmp(&a, top);
    gi = (struct guest_cpu_init){.rip = ga_addr(&a, 0)};
    g_assert_cmpint(vmm_kvm_vcpu_new(vm, 0, guest_cpu_init_fn, &gi, &v), ==, 0);
    g_assert_cmpint(vmm_kvm_vcpu_start(v), ==, 0);
    g_assert_cmpint(loom_sem_timedwait(&sem, WAIT_NS), ==, 0);
    g_assert_cmpint(vmm_bus_stats(vmm_kvm_vm_pio(vm), &bst), ==, 0);
    g_assert_cmpuint(bst.unassigned, ==, 0);
    vmm_kvm_vcpu_free(v);
    guest_vm_free(vm);
}

static void test_irqchip_after_vcpu(void)
{
    struct vmm_kvm_vcpu *v;
    struct vmm_kvm_vm *vm = NULL;
    uint8_t *ram = NULL;

    g_assert_cmpint(guest_vm_new(&vm, &ram), ==, 0);
    g_assert_cmpint(vmm_kvm_vcpu_new(vm, 0, NULL, NULL, &v), ==, 0);
    g_assert_cmpint(vmm_kvm_vm_create_irqchip(vm), ==, -EBUSY);
    g_assert_cmpint(vmm_kvm_vm_irq_line(vm, 4, true), ==, -ENODEV);
    g_assert_cmpint(vmm_kvm_vm_create_pit(vm), ==, -ENODEV);
    /* Never started: freeing it touches no KVM state. */
    vmm_kvm_vcpu_free(v);
    g_assert_cmpint(vmm_kvm_vm_create_irqchip(vm), ==, 0);
    g_assert_cmpint(vmm_kvm_vm_irq_line(vm, 4, true), ==, 0);
    g_assert_cmpint(vmm_kvm_vm_irq_line(vm, 4, false), ==, 0);
    g_assert_cmpint(vmm_kvm_vm_irq_line(NULL, 4, false), ==, -EINVAL);
    g_assert_cmpint(vmm_kvm_vm_create_pit(vm), ==, 0);
    g_assert_cmpint(vmm_kvm_vm_create_pit(vm), <, 0); /* only one */
    guest_vm_free(vm);
}

/* ------------------------------------------------------------------ */
/* Memory slots; failing guests                                        */
/* ------------------------------------------------------------------ */

static void test_mem_slots(void)
{
    struct vmm_kvm_vm *vm = NULL;
    uint8_t *ram = NULL;
    void *hva, *mine;

    g_assert_cmpint(guest_vm_new(&vm, &ram), ==, 0);
    g_assert_cmpint(vmm_kvm_mem_add(vm, 0x1000, 0x1000, NULL, 0, &hva), ==,
                    -EEXIST);
    g_assert_cmpint(vmm_kvm_mem_add(vm, 0x10000001, 0x1000, NULL, 0, &hva), ==,
                    -EINVAL);
    g_assert_cmpint(vmm_kvm_mem_add(vm, 0x10000000, 0, NULL, 0, &hva), ==,
                    -EINVAL);
    g_assert_cmpint(vmm_kvm_mem_add(vm, 0x10000000, 0x2000, NULL, 0x8, &hva),
                    ==, -EINVAL);
    g_assert_cmpint(vmm_kvm_mem_add(vm, 0x10000000, 0x2000, NULL, 0, &hva), ==,
                    0);
    mine = aligned_alloc(4096, 0x1000);
    g_assert_nonnull(mine);
    g_assert_cmpint(vmm_kvm_mem_add(vm, 0x20000000, 0x1000, mine,
                                    VMM_KVM_MEM_READONLY, NULL),
                    ==, 0);

    loom_rcu_read_lock();
    g_assert_true(vmm_kvm_gpa_to_hva(vm, 0, 1) == ram);
    g_assert_true(vmm_kvm_gpa_to_hva(vm, GUEST_RAM_SIZE - 4, 4) ==
                  ram + GUEST_RAM_SIZE - 4);
    g_assert_null(vmm_kvm_gpa_to_hva(vm, GUEST_RAM_SIZE - 4, 8));
    g_assert_null(vmm_kvm_gpa_to_hva(vm, GUEST_RAM_SIZE, 1));
    g_assert_true(vmm_kvm_gpa_to_hva(vm, 0x10001000, 0x1000) ==
                  (uint8_t *)hva + 0x1000);
    g_assert_true(vmm_kvm_gpa_to_hva(vm, 0x20000010, 16) ==
                  (uint8_t *)mine + 16);
    g_assert_null(vmm_kvm_gpa_to_hva(vm, UINT64_MAX, 1));
    g_assert_null(vmm_kvm_gpa_to_hva(vm, 0, 0));
    loom_rcu_read_unlock();

    g_assert_cmpint(vmm_kvm_mem_remove(vm, 0x10001000), ==, -ENOENT);
    g_assert_cmpint(vmm_kvm_mem_remove(vm, 0x10000000), ==, 0);
    g_assert_null(vmm_kvm_gpa_to_hva(vm, 0x10000000, 1));
    g_assert_cmpint(vmm_kvm_mem_remove(vm, 0x20000000), ==, 0);
    free(mine);
    /* The freed slot id is reused. */
    g_assert_cmpint(vmm_kvm_mem_add(vm, 0x10000000, 0x1000, NULL, 0, NULL), ==,
                    0);
    guest_vm_free(vm);
}

/*
 * A guest that faults stops its vCPU with an error: ud2 at CPL3 with no
 * IDT triple-faults (-ESHUTDOWN); int3 at CPL0 is an instruction PVM
 * cannot emulate (-EIO; a triple fault on hardware).
 */
struct fault_seen {
    int calls;
    enum vmm_kvm_event ev;
    struct vmm_kvm_vcpu *vcpu;
};

static void on_fault(void *opaque, struct vmm_kvm_vcpu *vcpu,
                     enum vmm_kvm_event ev, uint64_t detail)
{
    struct fault_seen *f = opaque;

    f->vcpu = vcpu;
    f->ev = ev;
    /* Last: the test thread polls it.  Pairs with the acquire below. */
    __atomic_store_n(&f->calls, f->calls + 1, __ATOMIC_RELEASE);
}

static void run_fault(uint8_t b0, uint8_t b1, bool cpl0)
{
    struct fault_seen seen = {0};
    struct vmm_kvm_vcpu *v;
    struct guest_cpu_init gi;
    struct vmm_kvm_vm *vm = NULL;
    struct loom_cpu_stats cst;
    struct vmm_kvm_vcpu_stats st;
    struct guest_asm a;
    int64_t deadline;
    uint8_t *ram = NULL;

    g_assert_cmpint(guest_vm_new(&vm, &ram), ==, 0);
    ga_init(&a, ram, GUEST_CODE);
    ga_b(&a, b0);
    ga_b(&a, b1);
    gi = (struct guest_cpu_init){.rip = ga_addr(&a, 0), .cpl0 = cpl0};
    vmm_kvm_vm_set_event_handler(vm, on_fault, &seen);
    g_assert_cmpint(vmm_kvm_vcpu_new(vm, 0, guest_cpu_init_fn, &gi, &v), ==, 0);
    g_assert_cmpint(vmm_kvm_vcpu_tid(v), ==, 0);
    g_assert_cmpint(vmm_kvm_vcpu_start(v), ==, 0);
    g_assert_cmpint(vmm_kvm_vcpu_tid(v), >, 0);
    deadline = harness_now_ns() + WAIT_NS;
    do {
        harness_watchdog(deadline, "the vCPU reports its error");
        g_usleep(1000);
        g_assert_cmpint(loom_cpu_stats(vmm_kvm_vcpu_cpu(v), &cst), ==, 0);
    } while (cst.last_error == 0);
    g_assert_true(cst.last_error == -ESHUTDOWN || cst.last_error == -EIO);
    g_assert_cmpint(vmm_kvm_vcpu_stats(v, &st), ==, 0);
    g_assert_cmpuint(st.exits_other, ==, 1);
    g_test_message("exit reason %u, error %d", st.last_exit_reason,
                   cst.last_error);
    /* The machine was told once, with the matching event. */
    g_assert_cmpint(__atomic_load_n(&seen.calls, __ATOMIC_ACQUIRE), ==, 1);
    g_assert_true(seen.vcpu == v);
    if (cst.last_error == -ESHUTDOWN) {
        g_assert_cmpint(seen.ev, ==, VMM_KVM_EV_TRIPLE_FAULT);
    } else {
        g_assert_cmpint(seen.ev, ==, VMM_KVM_EV_INTERNAL_ERROR);
    }
    STEP_UNTIL_NS(loom_cpu_is_stopped(vmm_kvm_vcpu_cpu(v)), g_usleep(1000),
                  WAIT_NS);
    vmm_kvm_vcpu_free(v);
    guest_vm_free(vm);
}

static void test_guest_fault(void)
{
    run_fault(0x0f, 0x0b, false); /* ud2 at CPL3 */
    run_fault(0xcc, 0x90, true);  /* int3 at CPL0 */
}

struct freeze_dev {
    struct vmm_kvm_vm *vm;
    int freezes; /* writes to PORT_DONE */
    int after;   /* writes to PORT_CHECK: must stay 0 */
};

static void freeze_write(void *opaque, uint64_t off, uint64_t v, unsigned sz)
{
    struct freeze_dev *d = opaque;

    __atomic_fetch_add(&d->freezes, 1, __ATOMIC_SEQ_CST);
    vmm_kvm_vm_freeze(d->vm);
}

static void after_write(void *opaque, uint64_t off, uint64_t v, unsigned sz)
{
    struct freeze_dev *d = opaque;

    __atomic_fetch_add(&d->after, 1, __ATOMIC_SEQ_CST);
}

static const struct vmm_bus_ops freeze_ops = {.write = freeze_write};
static const struct vmm_bus_ops after_ops = {.write = after_write};

/*
 * vmm_kvm_vm_freeze() from inside an exit handler: the writing vCPU runs
 * no further guest instruction (the write right after never arrives) and
 * stops; another vCPU spinning in the guest stops too.  Thawed and
 * resumed, both run on.
 */
static void test_freeze(void)
{
    struct vmm_kvm_vcpu *v0, *v1;
    struct vmm_kvm_vm *vm = NULL;
    struct freeze_dev d = {0};
    struct guest_cpu_init g0, g1;
    struct guest_asm a;
    uint32_t spin, top;
    uint8_t *ram = NULL;

    g_assert_cmpint(guest_vm_new(&vm, &ram), ==, 0);
    d.vm = vm;
    g_assert_cmpint(vmm_bus_add(vmm_kvm_vm_pio(vm), PORT_DONE, 1, &freeze_ops,
                                &d, VMM_BUS_UNLOCKED),
                    ==, 0);
    g_assert_cmpint(vmm_bus_add(vmm_kvm_vm_pio(vm), PORT_CHECK, 1, &after_ops,
                                &d, VMM_BUS_UNLOCKED),
                    ==, 0);
    ga_init(&a, ram, GUEST_CODE);
    /* vCPU 0: out PORT_DONE; out PORT_CHECK; spin. */
    ga_mov_imm32(&a, RDX, PORT_DONE);
    ga_out_dx_al(&a);
    ga_mov_imm32(&a, RDX, PORT_CHECK);
    ga_out_dx_al(&a);
    top = ga_here(&a);
    ga_jmp(&a, top);
    /* vCPU 1: spin. */
    spin = ga_here(&a);
    ga_jmp(&a, spin);
    g0 = (struct guest_cpu_init){.rip = ga_addr(&a, 0)};
    g1 = (struct guest_cpu_init){.rip = ga_addr(&a, spin)};
    g_assert_cmpint(vmm_kvm_vcpu_new(vm, 0, guest_cpu_init_fn, &g0, &v0), ==,
                    0);
    g_assert_cmpint(vmm_kvm_vcpu_new(vm, 1, guest_cpu_init_fn, &g1, &v1), ==,
                    0);
    g_assert_cmpint(vmm_kvm_vcpu_start(v1), ==, 0);
    g_assert_cmpint(vmm_kvm_vcpu_start(v0), ==, 0);
    STEP_UNTIL_NS(loom_cpu_is_stopped(vmm_kvm_vcpu_cpu(v0)) &&
                      loom_cpu_is_stopped(vmm_kvm_vcpu_cpu(v1)),
                  g_usleep(1000), WAIT_NS);
    g_assert_cmpint(__atomic_load_n(&d.freezes, __ATOMIC_SEQ_CST), ==, 1);
    g_usleep(20000);
    g_assert_cmpint(__atomic_load_n(&d.after, __ATOMIC_SEQ_CST), ==, 0);
    /* Thawed and resumed, vCPU 0 runs on to its second write. */
    vmm_kvm_vm_thaw(vm);
    loom_resume_all_vcpus();
    STEP_UNTIL_NS(__atomic_load_n(&d.after, __ATOMIC_SEQ_CST) == 1,
                  g_usleep(1000), WAIT_NS);
    vmm_kvm_vcpu_free(v0);
    vmm_kvm_vcpu_free(v1);
    guest_vm_free(vm);
}

/* Just counts; does not halt (the guest halts itself). */
static void post_write(void *opaque, uint64_t off, uint64_t val, unsigned sz)
{
    loom_sem_post(opaque);
}

static const struct vmm_bus_ops post_ops = {.write = post_write};

/*
 * CPL0 guest (emulated on PVM): hlt exits as KVM_EXIT_HLT and halts the
 * vCPU; loom_cpu_wake() lets it run on to the port write and the next hlt.
 */
static void test_hlt_wake(void)
{
    struct vmm_kvm_vcpu *v;
    struct guest_cpu_init gi;
    struct vmm_kvm_vm *vm = NULL;
    struct loom_sem sem;
    struct guest_asm a;
    struct loom_cpu *cpu;
    uint32_t top;
    uint8_t *ram = NULL;
    int64_t deadline;
    int round;

    g_assert_cmpint(guest_vm_new(&vm, &ram), ==, 0);
    loom_sem_init(&sem, 0);
    g_assert_cmpint(vmm_bus_add(vmm_kvm_vm_pio(vm), PORT_DONE, 1, &post_ops,
                                &sem, VMM_BUS_UNLOCKED),
                    ==, 0);
    ga_init(&a, ram, GUEST_CODE);
    top = ga_here(&a);
    ga_b(&a, 0xf4); /* hlt */
    ga_out_dx_al(&a);
    ga_jmp(&a, top);
    gi = (struct guest_cpu_init){
        .rip = ga_addr(&a, 0),
        .rdx = PORT_DONE,
        .cpl0 = true,
    };
    g_assert_cmpint(vmm_kvm_vcpu_new(vm, 0, guest_cpu_init_fn, &gi, &v), ==, 0);
    cpu = vmm_kvm_vcpu_cpu(v);
    g_assert_cmpint(vmm_kvm_vcpu_start(v), ==, 0);
    for (round = 0; round < 3; round++) {
        struct loom_cpu_stats st1, st2;

        /* Wait until it is halted for good (no new halt for 20 ms). */
        deadline = harness_now_ns() + WAIT_NS;
        do {
            harness_watchdog(deadline, "the vCPU halts for good");
            g_assert_cmpint(loom_cpu_stats(cpu, &st1), ==, 0);
            g_usleep(20000);
            g_assert_cmpint(loom_cpu_stats(cpu, &st2), ==, 0);
        } while (!loom_cpu_is_halted(cpu) || st1.halts != st2.halts ||
                 st1.exec_count != st2.exec_count);
        /*
         * The previous round's wake-up ended a halt, so it must not have
         * been remembered: no extra hlt-out cycle ran.
         */
        g_assert_cmpint(loom_sem_timedwait(&sem, 0), ==, -ETIMEDOUT);
        /* Halted guests make no progress. */
        g_assert_cmpint(loom_sem_timedwait(&sem, 10 * 1000000), ==, -ETIMEDOUT);
        g_assert_true(loom_cpu_is_halted(cpu));
        loom_cpu_wake(cpu);
        g_assert_cmpint(loom_sem_timedwait(&sem, WAIT_NS), ==, 0);
    }
    vmm_kvm_vcpu_free(v);
    guest_vm_free(vm);
    loom_sem_destroy(&sem);
}

int main(int argc, char **argv)
{
    const char *why;

    why = guest_skip_reason();
    if (why) {
        harness_skip_all(harness_args_have_tap(argc, argv), why);
    }
    harness_init(&argc, &argv);
    g_test_add_func("/kvm/pio-counts", test_pio_counts);
    g_test_add_func("/kvm/mmio", test_mmio);
    g_test_add_func("/kvm/in-completes", test_in_completes);
    g_test_add_func("/kvm/kick-regs", test_kick_regs);
    g_test_add_func("/kvm/pause-resume", test_pause_resume);
    g_test_add_func("/kvm/ioeventfd-mmio", test_ioeventfd_mmio);
    g_test_add_func("/kvm/ioeventfd-pio", test_ioeventfd_pio);
    g_test_add_func("/kvm/ioeventfd-bad-args", test_ioeventfd_bad_args);
    g_test_add_func("/kvm/irqfd", test_irqfd);
    g_test_add_func("/kvm/irqchip-after-vcpu", test_irqchip_after_vcpu);
    g_test_add_func("/kvm/vcpu-kvm-id", test_vcpu_kvm_id);
    g_test_add_func("/kvm/freeze", test_freeze);
    g_test_add_func("/kvm/pit-speaker-port", test_pit_speaker_port);
    g_test_add_func("/kvm/mem-slots", test_mem_slots);
    g_test_add_func("/kvm/guest-fault", test_guest_fault);
    g_test_add_func("/kvm/hlt-wake", test_hlt_wake);
    return g_test_run();
}
