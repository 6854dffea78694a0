/* SPDX-License-Identifier: MIT */
/*
 * PVH boot on real vCPUs (vmm/arch/x86_64/boot.c): a tiny 32-bit PVH
 * kernel, built here, loaded by vmm_pvh_load() and entered through
 * vmm_x86_pvh_enter() from the BSP's init callback.  It reports what it
 * sees at the entry (EBX, the start_info magic, the command line, CR0,
 * CS, DS, TR, GDTR), reloads its segments from the boot GDT, then starts
 * vCPU 1 with INIT/SIPI through the in-kernel LAPIC; the AP, left in
 * KVM's wait-for-SIPI state, runs real-mode code that reports in.  Then
 * the reset path on raw vCPU fds: KVM's initial MP states, a vCPU messed
 * up and reset, and the reset BSP booting the kernel again.  Last, the
 * CPUID policy set on two vCPUs, read back by a kernel executing CPUID.
 * Skipped without a usable /dev/kvm.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <loom/cpu.h>
#include <loom/thread.h>

#include "arch/x86_64/boot.h"
#include "arch/x86_64/cpuid.h"
#include "arch/x86_64/flat.h"
#include "guest.h"
#include "harness.h"
#include "pvh-elf.h"

#define RAM_SIZE 0x400000u /* 4 MiB */
#define PORT_REPORT 0x600u
#define PORT_AP 0x608u
#define PORT_DONE 0x60cu
#define AP_GPA 0x8000u
#define NR_REPORTS 10
#define WAIT_NS (40 * 1000000000ll)

/*
 * The BSP's code, at CODE_GPA (assembled from the listing beside it).
 * LJMP_AT is the offset of the far jump's 32-bit target.
 */
#define LJMP_AT 0x3b
#define RELOADED 0x41
/* clang-format off */
static const uint8_t bsp_code[] = {
    0x66, 0xba, 0x00, 0x06,                   /* mov $0x600, %dx */
    0x89, 0xd8, 0xef,                         /* mov %ebx, %eax; out (1) */
    0x8b, 0x03, 0xef,                         /* mov (%ebx), %eax; out (2) */
    0x8b, 0x73, 0x18,                         /* mov 0x18(%ebx), %esi */
    0x8b, 0x06, 0xef,                         /* mov (%esi), %eax; out (3) */
    0x0f, 0x20, 0xc0, 0xef,                   /* mov %cr0, %eax; out (4) */
    0x8c, 0xc8, 0xef,                         /* mov %cs, %eax; out (5) */
    0x8c, 0xd8, 0xef,                         /* mov %ds, %eax; out (6) */
    0x0f, 0x00, 0xc8, 0xef,                   /* str %eax; out (7) */
    0x0f, 0x01, 0x05, 0x00, 0x02, 0x10, 0x00, /* sgdt 0x100200 */
    0xa1, 0x00, 0x02, 0x10, 0x00, 0xef,       /* mov 0x100200, %eax; out (8) */
    0xa1, 0x02, 0x02, 0x10, 0x00, 0xef,       /* mov 0x100202, %eax; out (9) */
    0xb8, 0x10, 0x00, 0x00, 0x00,             /* mov $0x10, %eax */
    0x8e, 0xd8, 0x8e, 0xd0,                   /* mov %eax, %ds; mov %eax, %ss */
    0xea, 0, 0, 0, 0, 0x08, 0x00,             /* ljmp $0x08, $reloaded */
    /* reloaded: */
    0x8b, 0x03, 0xef,                         /* mov (%ebx), %eax; out (10) */
    /* ICR high = APIC ID 1; INIT; SIPI with vector 8 (0x8000). */
    0xc7, 0x05, 0x10, 0x03, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x01,
    0xc7, 0x05, 0x00, 0x03, 0xe0, 0xfe, 0x00, 0x45, 0x00, 0x00,
    0xc7, 0x05, 0x00, 0x03, 0xe0, 0xfe, 0x08, 0x46, 0x00, 0x00,
    0x66, 0xba, 0x0c, 0x06, 0xef,             /* mov $0x60c, %dx; out */
    0xf4, 0xeb, 0xfd,                         /* 1: hlt; jmp 1b */
};
/* clang-format on */

/* The AP's real-mode code at 0x8000 (CS 0x800, IP 0). */
static const uint8_t ap_code[] = {
    0xba, 0x08, 0x06, /* mov $0x608, %dx */
    0xb0, 0x5a, 0xee, /* mov $0x5a, %al; out %al, (%dx) */
    0xf4, 0xeb, 0xfd, /* 1: hlt; jmp 1b */
};

/* A 32-bit kernel: @code at 1 MiB (the entry), the AP code at 0x8000. */
static size_t build_kernel_with(uint8_t *buf, const uint8_t *code, size_t len)
{
    struct t_elf e;

    t_default(&e, false);
    e.code = code;
    e.code_len = len;
    e.data = ap_code;
    e.data_len = sizeof(ap_code);
    e.ph[1] = (struct t_phdr){PT_LOAD,         DATA_OFF,        AP_GPA, AP_GPA,
                              sizeof(ap_code), sizeof(ap_code), 0x1000};
    e.note_value = CODE_GPA;
    return t_build(&e, buf);
}

/* The kernel of bsp_code, its far jump pointed at CODE_GPA. */
static size_t build_kernel(uint8_t *buf)
{
    static uint8_t code[sizeof(bsp_code)];
    uint32_t target = CODE_GPA + RELOADED;

    memcpy(code, bsp_code, sizeof(code));
    memcpy(code + LJMP_AT, &target, 4);
    return build_kernel_with(buf, code, sizeof(code));
}

/* ------------------------------------------------------------------ */
/* Devices                                                             */
/* ------------------------------------------------------------------ */

struct reports {
    uint32_t v[NR_REPORTS];
    unsigned n;  /* written by one vCPU, read after done */
    uint32_t ap; /* the AP's byte */
    struct loom_sem done, ap_in;
};

static void report_write(void *opaque, uint64_t off, uint64_t val, unsigned sz)
{
    struct reports *r = opaque;

    if (r->n < NR_REPORTS) {
        r->v[r->n] = (uint32_t)val;
    }
    r->n++;
}

static void ap_write(void *opaque, uint64_t off, uint64_t val, unsigned sz)
{
    struct reports *r = opaque;

    r->ap = (uint32_t)val;
    loom_cpu_halt(loom_current_cpu());
    loom_sem_post(&r->ap_in);
}

static void done_write(void *opaque, uint64_t off, uint64_t val, unsigned sz)
{
    struct reports *r = opaque;

    loom_cpu_halt(loom_current_cpu());
    loom_sem_post(&r->done);
}

static const struct vmm_bus_ops report_ops = {.write = report_write};
static const struct vmm_bus_ops ap_ops = {.write = ap_write};
static const struct vmm_bus_ops done_ops = {.write = done_write};

/* What the kernel reports at the entry, checked against the boot data. */
static void check_reports(const struct reports *r, const struct vmm_pvh_boot *b)
{
    g_assert_cmpuint(r->n, ==, NR_REPORTS);
    g_assert_cmphex(r->v[0], ==, b->start_info);
    g_assert_cmphex(r->v[1], ==, VMM_HVM_START_MAGIC);
    g_assert_cmpint(memcmp(&r->v[2], "loom", 4), ==, 0);
    g_assert_cmphex(r->v[3] & 0xffff, ==, 0x11); /* PE | ET */
    g_assert_cmphex(r->v[4] & 0xffff, ==, VMM_PVH_SEL_CODE);
    g_assert_cmphex(r->v[5] & 0xffff, ==, VMM_PVH_SEL_DATA);
    g_assert_cmphex(r->v[6] & 0xffff, ==, 0); /* TR as after reset */
    g_assert_cmphex(r->v[7] & 0xffff, ==, b->gdt_limit);
    g_assert_cmphex(r->v[8], ==, b->gdt);
    g_assert_cmphex(r->v[9], ==, VMM_HVM_START_MAGIC);
}

/* ------------------------------------------------------------------ */
/* Boot through vstate                                                 */
/* ------------------------------------------------------------------ */

struct machine {
    struct vmm_kvm_vm *vm;
    struct vmm_gmem *gm;
    uint8_t *ram;
    struct vmm_pvh_boot boot;
    struct reports rep;
    struct kvm_sregs sregs; /* the BSP's, read back after entry set-up */
    struct kvm_regs regs;
    /* CPUID of one package of two cores, as machine/ would set it. */
    struct vmm_x86_cpuid policy, mine[2];
    struct vmm_x86_topo topo;
    uint32_t mp[2]; /* each vCPU's MP state in its init callback */
};

/* What the machine does in every vCPU's init callback. */
static int vcpu_common_init(struct vmm_kvm_vcpu *v, struct machine *m)
{
    int i = loom_cpu_index(vmm_kvm_vcpu_cpu(v));
    int r = vmm_x86_mp_state(v, &m->mp[i]);

    if (r == 0) {
        r = vmm_x86_cpuid_vcpu(&m->policy, &m->topo, (unsigned)i, &m->mine[i]);
    }
    if (r == 0) {
        r = vmm_x86_cpuid_set(v, &m->mine[i]);
    }
    return r;
}

static int bsp_init(struct vmm_kvm_vcpu *v, void *opaque)
{
    struct machine *m = opaque;
    int r = vcpu_common_init(v, m);

    if (r == 0) {
        r = vmm_x86_pvh_enter(v, &m->boot);
    }
    if (r == 0) {
        r = vmm_kvm_vcpu_get_sregs(v, &m->sregs);
    }
    if (r == 0) {
        r = vmm_kvm_vcpu_get_regs(v, &m->regs);
    }
    return r;
}

static int ap_init(struct vmm_kvm_vcpu *v, void *opaque)
{
    return vcpu_common_init(v, opaque);
}

/* system_reset's work on one vCPU, then what it left. */
struct reset_work {
    struct machine *m;
    int ret;
    uint32_t mp;
    struct kvm_regs regs;
};

static void reset_fn(struct loom_cpu *cpu, void *data)
{
    struct reset_work *w = data;
    struct vmm_kvm_vcpu *v = vmm_kvm_vcpu_of(cpu);
    bool bsp = loom_cpu_index(cpu) == 0;

    w->ret = vmm_x86_vcpu_reset(v, bsp ? &w->m->boot : NULL, 0x806f8);
    if (w->ret == 0) {
        w->ret = vmm_x86_mp_state(v, &w->mp);
    }
    if (w->ret == 0) {
        w->ret = vmm_kvm_vcpu_get_regs(v, &w->regs);
    }
}

/* A VM with RAM, irqchip, the report devices and a kernel of @n bytes. */
static void machine_new(struct machine *m, const uint8_t *elf, size_t n)
{
    struct vmm_bus *pio = NULL, *mmio = NULL;
    struct vmm_gmem_region reg;
    struct vmm_pvh_image img;
    char err[VMM_PVH_ERR_SIZE] = "";
    void *hva;

    memset(m, 0, sizeof(*m));
    g_assert_cmpint(vmm_bus_new(0xffff, &pio), ==, 0);
    g_assert_cmpint(vmm_bus_new(UINT64_MAX, &mmio), ==, 0);
    g_assert_cmpint(vmm_kvm_vm_new(pio, mmio, &m->vm), ==, 0);
    /* RAM first, then the irqchip (VMM.md: the other order is slow). */
    g_assert_cmpint(vmm_kvm_mem_add(m->vm, 0, RAM_SIZE, NULL, 0, &hva), ==, 0);
    g_assert_cmpint(vmm_kvm_vm_create_irqchip(m->vm), ==, 0);
    m->ram = hva;
    reg = (struct vmm_gmem_region){0, RAM_SIZE, hva};
    g_assert_cmpint(vmm_gmem_new(&reg, 1, &m->gm), ==, 0);
    g_assert_cmpint(vmm_pvh_load(m->gm, elf, n, &img, err, sizeof(err)), ==, 0);
    g_assert_cmpint(vmm_pvh_setup(m->gm, &img, "loom test", "initrd", 6,
                                  &m->boot, err, sizeof(err)),
                    ==, 0);
    loom_sem_init(&m->rep.done, 0);
    loom_sem_init(&m->rep.ap_in, 0);
    g_assert_cmpint(vmm_bus_add(pio, PORT_REPORT, 4, &report_ops, &m->rep,
                                VMM_BUS_UNLOCKED),
                    ==, 0);
    g_assert_cmpint(
        vmm_bus_add(pio, PORT_AP, 1, &ap_ops, &m->rep, VMM_BUS_UNLOCKED), ==,
        0);
    g_assert_cmpint(
        vmm_bus_add(pio, PORT_DONE, 4, &done_ops, &m->rep, VMM_BUS_UNLOCKED),
        ==, 0);
}

static void machine_free(struct machine *m)
{
    vmm_gmem_free(m->gm);
    guest_vm_free(m->vm);
    loom_sem_destroy(&m->rep.done);
    loom_sem_destroy(&m->rep.ap_in);
}

static void test_pvh_boot_smp(void)
{
    struct vmm_kvm_vcpu *bsp, *ap;
    struct machine m;

    static uint8_t elf[ELF_MAX];

    machine_new(&m, elf, build_kernel(elf));
    m.topo = (struct vmm_x86_topo){1, 2, 1};
    g_assert_cmpint(vmm_x86_cpuid_host(m.vm, &m.mine[0]), ==, 0);
    g_assert_cmpint(vmm_x86_cpuid_policy(&m.mine[0], NULL, 0, &m.policy, NULL,
                                         NULL, NULL, 0),
                    ==, 0);
    g_assert_cmpint(vmm_kvm_vcpu_new(m.vm, 0, bsp_init, &m, &bsp), ==, 0);
    g_assert_cmpint(vmm_kvm_vcpu_new(m.vm, 1, ap_init, &m, &ap), ==, 0);
    g_assert_cmpint(vmm_kvm_vcpu_start(ap), ==, 0);
    g_assert_cmpint(vmm_kvm_vcpu_start(bsp), ==, 0);
    g_assert_cmpint(loom_sem_timedwait(&m.rep.done, WAIT_NS), ==, 0);
    g_assert_cmpint(loom_sem_timedwait(&m.rep.ap_in, WAIT_NS), ==, 0);

    check_reports(&m.rep, &m.boot);
    g_assert_cmphex(m.rep.ap, ==, 0x5a);
    /* KVM's initial MP states with the in-kernel LAPIC, seen via vstate. */
    g_assert_cmpuint(m.mp[0], ==, KVM_MP_STATE_RUNNABLE);
    g_assert_cmpuint(m.mp[1], ==, KVM_MP_STATE_UNINITIALIZED);
    /* The registers as KVM holds them after vmm_x86_pvh_enter(). */
    g_assert_cmphex(m.regs.rip, ==, CODE_GPA);
    g_assert_cmphex(m.regs.rbx, ==, m.boot.start_info);
    g_assert_cmphex(m.regs.rflags, ==, 0x2);
    g_assert_cmphex(m.sregs.cr0 & 0xffffffff, ==, 0x11);
    g_assert_cmphex(m.sregs.cr4, ==, 0);
    g_assert_cmphex(m.sregs.efer, ==, 0);
    g_assert_cmphex(m.sregs.tr.base, ==, 0);
    g_assert_cmphex(m.sregs.tr.limit, ==, 0xffff);
    g_assert_cmpuint(m.sregs.tr.type, ==, 0xb);
    g_assert_cmpuint(m.sregs.tr.present, ==, 1);
    g_assert_cmpuint(m.sregs.tr.selector, ==, 0);
    g_assert_cmphex(m.sregs.idt.base, ==, 0);
    g_assert_cmphex(m.sregs.idt.limit, ==, 0xffff);
    g_assert_cmphex(m.sregs.gdt.base, ==, m.boot.gdt);
    g_assert_cmphex(m.sregs.cs.limit, ==, 0xffffffff);
    g_assert_cmpuint(m.sregs.cs.db, ==, 1);
    g_assert_cmpuint(m.sregs.cs.l, ==, 0);
    g_assert_cmphex(m.sregs.ss.base, ==, 0);
    g_assert_cmphex(m.sregs.ss.limit, ==, 0xffffffff);
    /* The reserved low area is still zero. */
    {
        unsigned i;

        for (i = 0; i < VMM_PVH_LOW_RESERVED; i++) {
            g_assert_cmpuint(m.ram[i], ==, 0);
        }
    }

    /* system_reset's per-vCPU step, through vstate on each vCPU thread. */
    {
        struct reset_work w = {.m = &m, .ret = -1};

        g_assert_cmpint(loom_run_on_cpu(vmm_kvm_vcpu_cpu(bsp), reset_fn, &w),
                        ==, 0);
        g_assert_cmpint(w.ret, ==, 0);
        g_assert_cmpuint(w.mp, ==, KVM_MP_STATE_RUNNABLE);
        g_assert_cmphex(w.regs.rip, ==, CODE_GPA);
        g_assert_cmphex(w.regs.rbx, ==, m.boot.start_info);
        w.ret = -1;
        g_assert_cmpint(loom_run_on_cpu(vmm_kvm_vcpu_cpu(ap), reset_fn, &w), ==,
                        0);
        g_assert_cmpint(w.ret, ==, 0);
        g_assert_cmpuint(w.mp, ==, KVM_MP_STATE_UNINITIALIZED);
        g_assert_cmphex(w.regs.rip, ==, 0xfff0);
        g_assert_cmphex(w.regs.rdx, ==, 0x806f8);
    }
    g_assert_cmpint(vmm_x86_vcpu_reset(NULL, NULL, 0), ==, -EINVAL);
    g_assert_cmpint(vmm_x86_mp_state(NULL, NULL), ==, -EINVAL);
    g_assert_cmpint(vmm_x86_cpuid_set(NULL, &m.policy), ==, -EINVAL);

    vmm_kvm_vcpu_free(bsp);
    vmm_kvm_vcpu_free(ap);
    machine_free(&m);
}

/* ------------------------------------------------------------------ */
/* MP states and reset, on raw vCPU fds                                */
/* ------------------------------------------------------------------ */

struct raw_vm {
    int kvm, vm, vcpu[2];
    uint8_t *ram;
    struct kvm_run *run[2];
    size_t run_size;
};

static void raw_vm_new(struct raw_vm *r)
{
    struct kvm_userspace_memory_region mr;
    int i;

    r->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    g_assert_cmpint(r->kvm, >=, 0);
    r->vm = ioctl(r->kvm, KVM_CREATE_VM, 0);
    g_assert_cmpint(r->vm, >=, 0);
    r->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    g_assert_true(r->ram != MAP_FAILED);
    mr = (struct kvm_userspace_memory_region){
        .slot = 0,
        .guest_phys_addr = 0,
        .memory_size = RAM_SIZE,
        .userspace_addr = (uintptr_t)r->ram,
    };
    g_assert_cmpint(ioctl(r->vm, KVM_SET_USER_MEMORY_REGION, &mr), ==, 0);
    g_assert_cmpint(ioctl(r->vm, KVM_CREATE_IRQCHIP, 0), ==, 0);
    for (i = 0; i < 2; i++) {
        r->vcpu[i] = ioctl(r->vm, KVM_CREATE_VCPU, (unsigned long)i);
        g_assert_cmpint(r->vcpu[i], >=, 0);
    }
    r->run_size = (size_t)ioctl(r->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    for (i = 0; i < 2; i++) {
        r->run[i] = mmap(NULL, r->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
                         r->vcpu[i], 0);
        g_assert_true(r->run[i] != MAP_FAILED);
    }
}

static void raw_vm_free(struct raw_vm *r)
{
    munmap(r->run[0], r->run_size);
    munmap(r->run[1], r->run_size);
    close(r->vcpu[0]);
    close(r->vcpu[1]);
    close(r->vm);
    close(r->kvm);
    munmap(r->ram, RAM_SIZE);
}

/* One MSR through KVM_GET_MSRS / KVM_SET_MSRS. */
static int msr_io(int fd, unsigned long req, uint32_t index, uint64_t *value)
{
    uint64_t buf[(sizeof(struct kvm_msrs) + sizeof(struct kvm_msr_entry)) /
                 sizeof(uint64_t)];
    struct kvm_msrs *m = (struct kvm_msrs *)buf;
    int n;

    memset(buf, 0, sizeof(buf));
    m->nmsrs = 1;
    m->entries[0].index = index;
    m->entries[0].data = *value;
    n = ioctl(fd, req, m);
    *value = m->entries[0].data;
    return n;
}

static uint64_t get_msr(int fd, uint32_t index)
{
    uint64_t v = 0;

    g_assert_cmpint(msr_io(fd, KVM_GET_MSRS, index, &v), ==, 1);
    return v;
}

static void set_msr(int fd, uint32_t index, uint64_t value)
{
    g_assert_cmpint(msr_io(fd, KVM_SET_MSRS, index, &value), ==, 1);
}

static uint32_t lapic_reg(const struct kvm_lapic_state *s, unsigned off)
{
    uint32_t v;

    memcpy(&v, s->regs + off, 4);
    return v;
}

/* Leave the vCPU in a state no boot should start from. */
static void mess_up(int fd)
{
    struct kvm_lapic_state lapic;
    struct kvm_sregs sr;
    struct kvm_regs r;
    uint32_t v = 0x1ff; /* SVR: software-enabled */

    g_assert_cmpint(ioctl(fd, KVM_GET_SREGS, &sr), ==, 0);
    vmm_x86_flat_sregs(0x1000, true, &sr);
    g_assert_cmpint(ioctl(fd, KVM_SET_SREGS, &sr), ==, 0);
    memset(&r, 0x11, sizeof(r));
    r.rflags = 0x3002;
    g_assert_cmpint(ioctl(fd, KVM_SET_REGS, &r), ==, 0);
    set_msr(fd, 0x4b564d01, 0x300001); /* kvmclock on, at 3 MiB */
    set_msr(fd, 0xc0000082, 0x123456); /* LSTAR */
    g_assert_cmpint(ioctl(fd, KVM_GET_LAPIC, &lapic), ==, 0);
    memcpy(lapic.regs + 0xf0, &v, 4);
    g_assert_cmpint(ioctl(fd, KVM_SET_LAPIC, &lapic), ==, 0);
}

/* Run raw vCPU @i until the done port, collecting the reports. */
static void raw_run(struct raw_vm *vm, int i, struct reports *rep)
{
    int guard;

    for (guard = 0; guard < 1000; guard++) {
        struct kvm_run *run = vm->run[i];
        uint32_t val = 0;

        g_assert_cmpint(ioctl(vm->vcpu[i], KVM_RUN, 0), ==, 0);
        g_assert_cmpuint(run->exit_reason, ==, KVM_EXIT_IO);
        memcpy(&val, (uint8_t *)run + run->io.data_offset, run->io.size);
        if (run->io.port == PORT_DONE) {
            return;
        }
        g_assert_cmphex(run->io.port, ==, PORT_REPORT);
        report_write(rep, 0, val, run->io.size);
    }
    g_assert_not_reached();
}

static void test_mp_state_and_reset(void)
{
    static uint8_t elf[ELF_MAX];
    struct kvm_lapic_state lapic;
    struct vmm_gmem_region reg;
    struct vmm_pvh_image img;
    struct vmm_pvh_boot boot;
    struct reports rep = {0};
    struct vmm_gmem *gm;
    struct kvm_sregs sr;
    struct kvm_regs r;
    struct raw_vm vm;
    uint32_t mp;
    size_t n = build_kernel(elf);

    raw_vm_new(&vm);
    /* KVM's defaults with the in-kernel LAPIC: BSP runs, AP waits. */
    g_assert_cmpint(vmm_x86_mp_state_fd(vm.vcpu[0], &mp), ==, 0);
    g_assert_cmpuint(mp, ==, KVM_MP_STATE_RUNNABLE);
    g_assert_cmpint(vmm_x86_mp_state_fd(vm.vcpu[1], &mp), ==, 0);
    g_assert_cmpuint(mp, ==, KVM_MP_STATE_UNINITIALIZED);
    g_assert_cmpint(vmm_x86_mp_state_fd(-1, &mp), ==, -EINVAL);

    reg = (struct vmm_gmem_region){0, RAM_SIZE, vm.ram};
    g_assert_cmpint(vmm_gmem_new(&reg, 1, &gm), ==, 0);
    g_assert_cmpint(vmm_pvh_load(gm, elf, n, &img, NULL, 0), ==, 0);
    g_assert_cmpint(
        vmm_pvh_setup(gm, &img, "loom reset", NULL, 0, &boot, NULL, 0), ==, 0);

    /* BSP: messed up, reset, then it boots the kernel. */
    mess_up(vm.vcpu[0]);
    g_assert_cmpint(vmm_x86_vcpu_reset_fd(vm.vcpu[0], &boot, 0x806f8), ==, 0);
    g_assert_cmpint(ioctl(vm.vcpu[0], KVM_GET_SREGS, &sr), ==, 0);
    g_assert_cmphex(sr.cr0 & 0xffffffff, ==, 0x11);
    g_assert_cmphex(sr.efer, ==, 0);
    g_assert_cmphex(sr.cr4, ==, 0);
    g_assert_cmpuint(sr.cs.selector, ==, VMM_PVH_SEL_CODE);
    g_assert_cmphex(sr.tr.limit, ==, 0xffff);
    g_assert_cmphex(sr.gdt.base, ==, boot.gdt);
    g_assert_cmphex(sr.apic_base, ==, 0xfee00900);
    g_assert_cmpint(ioctl(vm.vcpu[0], KVM_GET_REGS, &r), ==, 0);
    g_assert_cmphex(r.rip, ==, CODE_GPA);
    g_assert_cmphex(r.rbx, ==, boot.start_info);
    g_assert_cmphex(r.rflags, ==, 0x2);
    g_assert_cmphex(r.rax, ==, 0);
    g_assert_cmphex(get_msr(vm.vcpu[0], 0x4b564d01), ==, 0);
    g_assert_cmphex(get_msr(vm.vcpu[0], 0xc0000082), ==, 0);
    g_assert_cmpint(ioctl(vm.vcpu[0], KVM_GET_LAPIC, &lapic), ==, 0);
    g_assert_cmphex(lapic_reg(&lapic, 0xf0), ==, 0xff);
    g_assert_cmphex(lapic_reg(&lapic, 0x320), ==, 0x10000);
    g_assert_cmphex(lapic_reg(&lapic, 0x350), ==, 0x10000);
    g_assert_cmpint(vmm_x86_mp_state_fd(vm.vcpu[0], &mp), ==, 0);
    g_assert_cmpuint(mp, ==, KVM_MP_STATE_RUNNABLE);
    raw_run(&vm, 0, &rep);
    check_reports(&rep, &boot);

    /*
     * AP: the BSP's run sent it INIT and SIPI, still pending (it never
     * ran).  After the reset it waits for a new INIT, in reset state.
     */
    mess_up(vm.vcpu[1]);
    g_assert_cmpint(vmm_x86_vcpu_reset_fd(vm.vcpu[1], NULL, 0x806f8), ==, 0);
    g_assert_cmpint(ioctl(vm.vcpu[1], KVM_GET_SREGS, &sr), ==, 0);
    g_assert_cmphex(sr.cs.selector, ==, 0xf000);
    g_assert_cmphex(sr.cs.base, ==, 0xffff0000);
    g_assert_cmphex(sr.cr0 & 0xffffffff, ==, 0x60000010);
    g_assert_cmphex(sr.efer, ==, 0);
    g_assert_cmphex(sr.apic_base, ==, 0xfee00800);
    g_assert_cmpint(ioctl(vm.vcpu[1], KVM_GET_REGS, &r), ==, 0);
    g_assert_cmphex(r.rip, ==, 0xfff0);
    g_assert_cmphex(r.rdx, ==, 0x806f8);
    g_assert_cmpint(vmm_x86_mp_state_fd(vm.vcpu[1], &mp), ==, 0);
    g_assert_cmpuint(mp, ==, KVM_MP_STATE_UNINITIALIZED);
    g_assert_cmpint(vmm_x86_vcpu_reset_fd(-1, NULL, 0), ==, -EINVAL);

    vmm_gmem_free(gm);
    raw_vm_free(&vm);
}

/* ------------------------------------------------------------------ */
/* CPUID on real vCPUs                                                 */
/* ------------------------------------------------------------------ */

/* Reports CPUID 1:EBX, 1:ECX, 0xB.0:EDX, 0xB.1:EBX, 0x40000000:EBX and
 * 0x40000001:EAX, then the done port. */
/* clang-format off */
static const uint8_t cpuid_code[] = {
    0xb8, 0x01, 0x00, 0x00, 0x00, 0x31, 0xc9, 0x0f, 0xa2, /* cpuid(1, 0) */
    0x89, 0xd8, 0x66, 0xba, 0x00, 0x06, 0xef,             /* out ebx */
    0xb8, 0x01, 0x00, 0x00, 0x00, 0x31, 0xc9, 0x0f, 0xa2, /* cpuid(1, 0) */
    0x89, 0xc8, 0x66, 0xba, 0x00, 0x06, 0xef,             /* out ecx */
    0xb8, 0x0b, 0x00, 0x00, 0x00, 0x31, 0xc9, 0x0f, 0xa2, /* cpuid(0xb, 0) */
    0x89, 0xd0, 0x66, 0xba, 0x00, 0x06, 0xef,             /* out edx */
    0xb8, 0x0b, 0x00, 0x00, 0x00,                         /* cpuid(0xb, 1) */
    0xb9, 0x01, 0x00, 0x00, 0x00, 0x0f, 0xa2,
    0x89, 0xd8, 0x66, 0xba, 0x00, 0x06, 0xef,             /* out ebx */
    0xb8, 0x00, 0x00, 0x00, 0x40, 0x31, 0xc9, 0x0f, 0xa2, /* cpuid(KVM) */
    0x89, 0xd8, 0x66, 0xba, 0x00, 0x06, 0xef,             /* out ebx */
    0xb8, 0x01, 0x00, 0x00, 0x40, 0x31, 0xc9, 0x0f, 0xa2, /* cpuid(KVM+1) */
    0x66, 0xba, 0x00, 0x06, 0xef,                         /* out eax */
    0x66, 0xba, 0x0c, 0x06, 0xef,                         /* done */
    0xf4, 0xeb, 0xfd,                                     /* 1: hlt; jmp 1b */
};
/* clang-format on */

static void test_cpuid_on_vcpus(void)
{
    static struct vmm_x86_cpuid host, policy, mine;
    const struct vmm_x86_topo topo = {1, 2, 1};
    struct vmm_config_cpu_feature off[2] = {{"kvm-pv-ipi", false},
                                            {"x2apic", false}};
    uint32_t offered;
    static uint8_t elf[ELF_MAX];
    struct vmm_gmem_region reg;
    struct vmm_pvh_image img;
    struct vmm_pvh_boot boot;
    struct vmm_gmem *gm;
    struct raw_vm vm;
    size_t n = build_kernel_with(elf, cpuid_code, sizeof(cpuid_code));
    int i;

    g_assert_cmpint(vmm_x86_cpuid_host(NULL, &host), ==, 0);
    g_assert_cmpuint(host.nr, >, 0);
    g_assert_cmpint(
        vmm_x86_cpuid_policy(&host, off, 2, &policy, NULL, NULL, NULL, 0), ==,
        0);
    offered = vmm_x86_cpuid_find(&host, 1, 0)->ecx | (1u << 31);
    raw_vm_new(&vm);
    reg = (struct vmm_gmem_region){0, RAM_SIZE, vm.ram};
    g_assert_cmpint(vmm_gmem_new(&reg, 1, &gm), ==, 0);
    g_assert_cmpint(vmm_pvh_load(gm, elf, n, &img, NULL, 0), ==, 0);
    g_assert_cmpint(vmm_pvh_setup(gm, &img, "", NULL, 0, &boot, NULL, 0), ==,
                    0);
    for (i = 0; i < 2; i++) {
        struct reports rep = {0};
        struct kvm_mp_state mp = {KVM_MP_STATE_RUNNABLE};
        struct kvm_sregs sr;
        struct kvm_regs r;
        uint32_t id = vmm_x86_apic_id(&topo, (unsigned)i);

        /* KVM vCPU id i is APIC ID i in this topology. */
        g_assert_cmpuint(id, ==, (uint32_t)i);
        g_assert_cmpint(vmm_x86_cpuid_vcpu(&policy, &topo, i, &mine), ==, 0);
        g_assert_cmpint(vmm_x86_cpuid_set_fd(vm.vcpu[i], &mine), ==, 0);
        /* Both start at the PVH entry (vCPU 1 as if started). */
        g_assert_cmpint(ioctl(vm.vcpu[i], KVM_GET_SREGS, &sr), ==, 0);
        vmm_x86_pvh_sregs(&boot, &sr);
        g_assert_cmpint(ioctl(vm.vcpu[i], KVM_SET_SREGS, &sr), ==, 0);
        vmm_x86_pvh_regs(&boot, &r);
        g_assert_cmpint(ioctl(vm.vcpu[i], KVM_SET_REGS, &r), ==, 0);
        g_assert_cmpint(ioctl(vm.vcpu[i], KVM_SET_MP_STATE, &mp), ==, 0);
        raw_run(&vm, i, &rep);

        g_assert_cmpuint(rep.n, ==, 6);
        g_assert_cmphex(rep.v[0] >> 24, ==, id);
        g_assert_cmphex((rep.v[0] >> 16) & 0xff, ==, 2);
        g_assert_cmphex(rep.v[1] & (1u << 31), !=, 0); /* hypervisor */
        /*
         * Leaf 1 ECX: every bit KVM offers is as the policy set it
         * (x2apic off).  PVM adds the hardware's bits it cannot hide
         * from natively running user code, so the others are not
         * compared.
         */
        g_assert_cmphex(rep.v[1] & offered, ==,
                        vmm_x86_cpuid_find(&mine, 1, 0)->ecx & offered);
        g_assert_cmphex(rep.v[1] & (1u << 21), ==, 0);
        g_assert_cmphex(rep.v[2], ==, id);
        g_assert_cmphex(rep.v[3] & 0xffff, ==, 2);
        g_assert_cmphex(rep.v[4], ==, 0x4b4d564b);
        g_assert_cmphex(rep.v[5], ==,
                        vmm_x86_cpuid_find(&host, 0x40000001, 0)->eax &
                            ~(1u << 11));
    }
    vmm_gmem_free(gm);
    raw_vm_free(&vm);
}

/*
 * A sparse APIC ID: with 2 sockets of 3 cores, vCPU 3 is APIC ID 4.
 * Created with that KVM vCPU id, its LAPIC and its CPUID agree.
 */
struct sparse {
    struct machine *m;
    unsigned index;
    uint32_t lapic_id;
};

static int sparse_init(struct vmm_kvm_vcpu *v, void *opaque)
{
    struct sparse *sp = opaque;
    struct kvm_mp_state mp = {KVM_MP_STATE_RUNNABLE};
    struct kvm_lapic_state lapic;
    struct kvm_sregs sr;
    struct kvm_regs r;
    int ret;

    ret = vmm_x86_cpuid_vcpu(&sp->m->policy, &sp->m->topo, sp->index,
                             &sp->m->mine[0]);
    if (ret == 0) {
        ret = vmm_x86_cpuid_set(v, &sp->m->mine[0]);
    }
    if (ret == 0) {
        ret = vmm_kvm_vcpu_ioctl(v, KVM_GET_LAPIC, &lapic);
    }
    if (ret >= 0) {
        memcpy(&sp->lapic_id, lapic.regs + 0x20, 4);
        ret = vmm_kvm_vcpu_get_sregs(v, &sr);
    }
    /* Started as if by SIPI, straight at the PVH entry. */
    if (ret == 0) {
        vmm_x86_pvh_sregs(&sp->m->boot, &sr);
        ret = vmm_kvm_vcpu_set_sregs(v, &sr);
    }
    if (ret == 0) {
        vmm_x86_pvh_regs(&sp->m->boot, &r);
        ret = vmm_kvm_vcpu_set_regs(v, &r);
    }
    if (ret == 0) {
        ret = vmm_kvm_vcpu_ioctl(v, KVM_SET_MP_STATE, &mp);
    }
    return ret < 0 ? ret : 0;
}

static void test_sparse_apic_id(void)
{
    static uint8_t elf[ELF_MAX];
    struct sparse sp = {.index = 3};
    struct vmm_kvm_vcpu *v;
    struct machine m;
    uint32_t id;

    machine_new(&m, elf,
                build_kernel_with(elf, cpuid_code, sizeof(cpuid_code)));
    m.topo = (struct vmm_x86_topo){2, 3, 1};
    id = vmm_x86_apic_id(&m.topo, sp.index);
    g_assert_cmpuint(id, ==, 4);
    g_assert_cmpint(vmm_x86_cpuid_host(m.vm, &m.mine[1]), ==, 0);
    g_assert_cmpint(vmm_x86_cpuid_policy(&m.mine[1], NULL, 0, &m.policy, NULL,
                                         NULL, NULL, 0),
                    ==, 0);
    sp.m = &m;
    g_assert_cmpint(
        vmm_kvm_vcpu_new_id(m.vm, (int)sp.index, id, sparse_init, &sp, &v), ==,
        0);
    g_assert_cmpint(vmm_kvm_vcpu_start(v), ==, 0);
    g_assert_cmpint(loom_sem_timedwait(&m.rep.done, WAIT_NS), ==, 0);

    g_assert_cmphex(sp.lapic_id >> 24, ==, id);
    g_assert_cmpuint(m.rep.n, ==, 6);
    g_assert_cmphex(m.rep.v[0] >> 24, ==, id);         /* leaf 1 */
    g_assert_cmphex((m.rep.v[0] >> 16) & 0xff, ==, 3); /* per package */
    g_assert_cmphex(m.rep.v[2], ==, id);               /* 0xB x2APIC */
    g_assert_cmphex(m.rep.v[3] & 0xffff, ==, 3);       /* 0xB cores */
    vmm_kvm_vcpu_free(v);
    machine_free(&m);
}

/* The register images alone (no KVM needed, but kept with their use). */
static void test_images(void)
{
    struct vmm_pvh_boot b = {.entry = 0x123456,
                             .start_info = 0xff000,
                             .gdt = 0xff040,
                             .gdt_limit = 0x17};
    struct kvm_lapic_state l;
    struct kvm_sregs sr;
    struct kvm_regs r;
    uint32_t id = 3u << 24, lvr = 0x50014, junk = 0xdeadbeef;

    memset(&sr, 0x5a, sizeof(sr));
    sr.apic_base = 0xfee00900;
    vmm_x86_pvh_sregs(&b, &sr);
    g_assert_cmphex(sr.apic_base, ==, 0xfee00900);
    g_assert_cmphex(sr.cs.base, ==, 0);
    g_assert_cmphex(sr.cs.limit, ==, 0xffffffff);
    g_assert_cmpuint(sr.cs.type, ==, 0xb);
    g_assert_cmpuint(sr.cs.s, ==, 1);
    g_assert_cmpuint(sr.cs.present, ==, 1);
    g_assert_cmpuint(sr.cs.g, ==, 1);
    g_assert_cmpuint(sr.ds.type, ==, 0x3);
    g_assert_cmpuint(sr.ds.db, ==, 1);
    g_assert_cmpuint(sr.fs.selector, ==, 0x10);
    g_assert_cmpuint(sr.ldt.type, ==, 0x2);
    g_assert_cmpuint(sr.ldt.s, ==, 0);
    g_assert_cmpuint(sr.tr.type, ==, 0xb);
    g_assert_cmpuint(sr.tr.s, ==, 0);
    g_assert_cmphex(sr.tr.base, ==, 0);
    g_assert_cmphex(sr.gdt.limit, ==, 0x17);
    g_assert_cmphex(sr.cr0, ==, 0x11);
    g_assert_cmphex(sr.cr3, ==, 0);
    g_assert_cmphex(sr.cr8, ==, 0);
    g_assert_cmpuint(sr.interrupt_bitmap[0], ==, 0);
    vmm_x86_pvh_regs(&b, &r);
    g_assert_cmphex(r.rip, ==, 0x123456);
    g_assert_cmphex(r.rbx, ==, 0xff000);
    g_assert_cmphex(r.rsp, ==, 0);

    memset(l.regs, 0x77, sizeof(l.regs));
    memcpy(l.regs + 0x20, &id, 4);
    memcpy(l.regs + 0x30, &lvr, 4);
    memcpy(l.regs + 0x100, &junk, 4); /* ISR */
    vmm_x86_lapic_reset_state(&l);
    g_assert_cmphex(lapic_reg(&l, 0x20), ==, id);
    g_assert_cmphex(lapic_reg(&l, 0x30), ==, lvr);
    g_assert_cmphex(lapic_reg(&l, 0x100), ==, 0);
    g_assert_cmphex(lapic_reg(&l, 0x80), ==, 0);
    g_assert_cmphex(lapic_reg(&l, 0xe0), ==, 0xffffffff);
    g_assert_cmphex(lapic_reg(&l, 0xf0), ==, 0xff);
    g_assert_cmphex(lapic_reg(&l, 0x2f0), ==, 0x10000);
    g_assert_cmphex(lapic_reg(&l, 0x300), ==, 0);
    g_assert_cmphex(lapic_reg(&l, 0x370), ==, 0x10000);
    g_assert_cmphex(lapic_reg(&l, 0x380), ==, 0);
}

int main(int argc, char **argv)
{
    const char *why = guest_skip_reason();

    if (why) {
        harness_skip_all(harness_args_have_tap(argc, argv), why);
    }
    harness_init(&argc, &argv);
    g_test_add_func("/boot-kvm/images", test_images);
    g_test_add_func("/boot-kvm/pvh-boot-smp", test_pvh_boot_smp);
    g_test_add_func("/boot-kvm/mp-state-and-reset", test_mp_state_and_reset);
    g_test_add_func("/boot-kvm/cpuid-on-vcpus", test_cpuid_on_vcpus);
    g_test_add_func("/boot-kvm/sparse-apic-id", test_sparse_apic_id);
    return g_test_run();
}
