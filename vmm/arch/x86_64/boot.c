/* SPDX-License-Identifier: MIT */
/*
 * x86 vCPU boot state: the PVH entry of the BSP (from its init callback)
 * and the reset of any vCPU, through vstate (vmm_kvm_vcpu_ioctl()) or,
 * for raw KVM users, on a vCPU fd.  The register images are pure
 * functions so that tests and the reset path build them the same way.
 * Runs on the vCPU's thread.
 */
#include "arch/x86_64/boot.h"

#include "arch/x86_64/x86-int.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#define CR0_PE (1ull << 0)
#define CR0_ET (1ull << 4)
#define CR0_NW (1ull << 29)
#define CR0_CD (1ull << 30)
#define RFLAGS_RESERVED 0x2ull
#define APIC_BASE_BSP (1ull << 8)
#define APIC_BASE_ENABLE (1ull << 11)

/* LAPIC register offsets (xAPIC MMIO layout, as KVM_GET_LAPIC has it). */
#define APIC_ID 0x20
#define APIC_LVR 0x30
#define APIC_DFR 0xe0
#define APIC_SVR 0xf0
#define APIC_LVT_FIRST 0x2f0 /* CMCI */
#define APIC_LVT_LAST 0x370  /* error */
#define APIC_ICR 0x300
#define APIC_ICR2 0x310
#define APIC_LVT_MASKED 0x10000u

/* A flat segment cache from a GDT descriptor, as the CPU would load it. */
static void seg_from_desc(uint64_t d, uint16_t sel, struct kvm_segment *s)
{
    uint32_t limit = (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000));

    memset(s, 0, sizeof(*s));
    s->base = ((d >> 16) & 0xffffff) | (((d >> 56) & 0xff) << 24);
    s->g = (d >> 55) & 1;
    s->limit = s->g ? (limit << 12) | 0xfff : limit;
    s->selector = sel;
    s->type = (d >> 40) & 0xf;
    s->s = (d >> 44) & 1;
    s->dpl = (d >> 45) & 3;
    s->present = (d >> 47) & 1;
    s->avl = (d >> 52) & 1;
    s->l = (d >> 53) & 1;
    s->db = (d >> 54) & 1;
}

/* A segment in its reset state: base 0, limit 0xffff, present. */
static void seg_reset(struct kvm_segment *s, uint8_t type, bool system)
{
    memset(s, 0, sizeof(*s));
    s->limit = 0xffff;
    s->type = type;
    s->s = !system;
    s->present = 1;
}

/* LDT, TR, IDTR: as after reset (QEMU leaves them so at the PVH entry). */
static void system_regs_reset(struct kvm_sregs *sr)
{
    seg_reset(&sr->ldt, 0x2, true); /* LDT */
    seg_reset(&sr->tr, 0xb, true);  /* busy 32-bit TSS */
    sr->idt.base = 0;
    sr->idt.limit = 0xffff;
    memset(sr->idt.padding, 0, sizeof(sr->idt.padding));
    sr->cr2 = sr->cr3 = sr->cr4 = sr->cr8 = 0;
    sr->efer = 0;
    memset(sr->interrupt_bitmap, 0, sizeof(sr->interrupt_bitmap));
}

void vmm_x86_pvh_sregs(const struct vmm_pvh_boot *b, struct kvm_sregs *sr)
{
    seg_from_desc(VMM_PVH_GDT_CODE, VMM_PVH_SEL_CODE, &sr->cs);
    seg_from_desc(VMM_PVH_GDT_DATA, VMM_PVH_SEL_DATA, &sr->ds);
    sr->es = sr->fs = sr->gs = sr->ss = sr->ds;
    system_regs_reset(sr);
    sr->gdt.base = b->gdt;
    sr->gdt.limit = b->gdt_limit;
    memset(sr->gdt.padding, 0, sizeof(sr->gdt.padding));
    sr->cr0 = CR0_PE | CR0_ET;
}

void vmm_x86_pvh_regs(const struct vmm_pvh_boot *b, struct kvm_regs *r)
{
    memset(r, 0, sizeof(*r));
    r->rip = b->entry;
    r->rbx = b->start_info;
    r->rflags = RFLAGS_RESERVED;
}

int vmm_x86_pvh_enter(struct vmm_kvm_vcpu *vcpu, const struct vmm_pvh_boot *b)
{
    struct kvm_sregs sr;
    struct kvm_regs r;
    int ret;

    if (!vcpu || !b) {
        return -EINVAL;
    }
    ret = vmm_kvm_vcpu_get_sregs(vcpu, &sr);
    if (ret < 0) {
        return ret;
    }
    vmm_x86_pvh_sregs(b, &sr);
    ret = vmm_kvm_vcpu_set_sregs(vcpu, &sr);
    if (ret < 0) {
        return ret;
    }
    vmm_x86_pvh_regs(b, &r);
    return vmm_kvm_vcpu_set_regs(vcpu, &r);
}

void vmm_x86_reset_sregs(struct kvm_sregs *sr)
{
    seg_reset(&sr->cs, 0xb, false);
    sr->cs.selector = 0xf000;
    sr->cs.base = 0xffff0000;
    seg_reset(&sr->ds, 0x3, false);
    sr->es = sr->fs = sr->gs = sr->ss = sr->ds;
    system_regs_reset(sr);
    sr->gdt.base = 0;
    sr->gdt.limit = 0xffff;
    memset(sr->gdt.padding, 0, sizeof(sr->gdt.padding));
    sr->cr0 = CR0_CD | CR0_NW | CR0_ET;
}

void vmm_x86_reset_regs(uint32_t signature, struct kvm_regs *r)
{
    memset(r, 0, sizeof(*r));
    r->rdx = signature;
    r->rip = 0xfff0;
    r->rflags = RFLAGS_RESERVED;
}

static void put_reg(struct kvm_lapic_state *s, unsigned off, uint32_t v)
{
    memcpy(s->regs + off, &v, sizeof(v));
}

void vmm_x86_lapic_reset_state(struct kvm_lapic_state *s)
{
    uint32_t id, lvr;
    unsigned off;

    memcpy(&id, s->regs + APIC_ID, 4);
    memcpy(&lvr, s->regs + APIC_LVR, 4);
    memset(s->regs, 0, sizeof(s->regs));
    put_reg(s, APIC_ID, id);
    put_reg(s, APIC_LVR, lvr);
    put_reg(s, APIC_DFR, 0xffffffffu);
    put_reg(s, APIC_SVR, 0xff);
    for (off = APIC_LVT_FIRST; off <= APIC_LVT_LAST; off += 0x10) {
        if (off != APIC_ICR && off != APIC_ICR2) {
            put_reg(s, off, APIC_LVT_MASKED);
        }
    }
}

/* ------------------------------------------------------------------ */
/* Reset: through vstate, or on a raw vCPU fd                          */
/* ------------------------------------------------------------------ */

int vmm__x86_vcpu_ioctl(const struct vmm__x86_vcpu_io *io, unsigned long req,
                        void *arg)
{
    int r;

    if (io->vcpu) {
        return vmm_kvm_vcpu_ioctl(io->vcpu, req, arg);
    }
    if (io->fd < 0) {
        return -EINVAL;
    }
    r = ioctl(io->fd, req, arg);
    return r < 0 ? -errno : r;
}

/* Success as 0: some requests return a count. */
static int xioctl(const struct vmm__x86_vcpu_io *io, unsigned long req,
                  void *arg)
{
    int r = vmm__x86_vcpu_ioctl(io, req, arg);

    return r < 0 ? r : 0;
}

/* MSRs with state a guest may leave armed, and their reset values. */
static const struct {
    uint32_t index;
    uint64_t value;
} reset_msrs[] = {
    {0x00000011, 0},                     /* KVM wall clock (old) */
    {0x00000012, 0},                     /* KVM system time (old) */
    {0x4b564d00, 0},                     /* KVM wall clock */
    {0x4b564d01, 0},                     /* KVM system time */
    {0x4b564d02, 0},                     /* KVM async PF enable */
    {0x4b564d03, 0},                     /* KVM steal time */
    {0x4b564d04, 0},                     /* KVM PV EOI */
    {0x4b564d05, 1},                     /* KVM poll control */
    {0x4b564d06, 0},                     /* KVM async PF interrupt */
    {0x00000174, 0},                     /* SYSENTER_CS */
    {0x00000175, 0},                     /* SYSENTER_ESP */
    {0x00000176, 0},                     /* SYSENTER_EIP */
    {0x00000277, 0x0007040600070406ull}, /* PAT */
    {0x000006e0, 0},                     /* TSC deadline */
    {0xc0000081, 0},                     /* STAR */
    {0xc0000082, 0},                     /* LSTAR */
    {0xc0000083, 0},                     /* CSTAR */
    {0xc0000084, 0},                     /* FMASK */
    {0xc0000102, 0},                     /* KERNEL_GS_BASE */
};

#define NR_RESET_MSRS (sizeof(reset_msrs) / sizeof(reset_msrs[0]))

/*
 * KVM_SET_MSRS stops at the first MSR it refuses and returns how many it
 * set: skip that one (this KVM lacks it: nothing to reset) and go on.
 */
static int reset_msrs_set(const struct vmm__x86_vcpu_io *io)
{
    /* struct kvm_msrs and its entries, suitably aligned. */
    uint64_t buf[(sizeof(struct kvm_msrs) +
                  NR_RESET_MSRS * sizeof(struct kvm_msr_entry)) /
                 sizeof(uint64_t)];
    struct kvm_msrs *m = (struct kvm_msrs *)buf;
    unsigned first = 0, i;
    int n;

    while (first < NR_RESET_MSRS) {
        memset(buf, 0, sizeof(buf));
        m->nmsrs = NR_RESET_MSRS - first;
        for (i = first; i < NR_RESET_MSRS; i++) {
            m->entries[i - first].index = reset_msrs[i].index;
            m->entries[i - first].data = reset_msrs[i].value;
        }
        n = vmm__x86_vcpu_ioctl(io, KVM_SET_MSRS, m);
        if (n < 0) {
            return n;
        }
        first += (unsigned)n + 1;
    }
    return 0;
}

static int reset_fpu_xcr_debug(const struct vmm__x86_vcpu_io *io)
{
    struct kvm_debugregs dr;
    struct kvm_xcrs xcrs;
    struct kvm_fpu fpu;
    int r;

    memset(&fpu, 0, sizeof(fpu));
    fpu.fcw = 0x37f;
    fpu.mxcsr = 0x1f80;
    r = xioctl(io, KVM_SET_FPU, &fpu);
    if (r == 0) {
        memset(&xcrs, 0, sizeof(xcrs));
        /* Without XSAVE in the guest's CPUID there is no XCR0. */
        if (xioctl(io, KVM_GET_XCRS, &xcrs) == 0 && xcrs.nr_xcrs > 0) {
            xcrs.nr_xcrs = 1;
            xcrs.xcrs[0].xcr = 0;
            xcrs.xcrs[0].value = 1; /* x87 only */
            r = xioctl(io, KVM_SET_XCRS, &xcrs);
        }
    }
    if (r == 0) {
        memset(&dr, 0, sizeof(dr));
        dr.dr6 = 0xffff0ff0;
        dr.dr7 = 0x400;
        r = xioctl(io, KVM_SET_DEBUGREGS, &dr);
    }
    return r;
}

static int reset_cpu_regs(const struct vmm__x86_vcpu_io *io,
                          const struct vmm_pvh_boot *b, uint32_t signature)
{
    struct kvm_vcpu_events ev;
    struct kvm_sregs sr;
    struct kvm_regs r;
    int ret;

    /*
     * No exception, interrupt or NMI pending, not in SMM, and no INIT
     * latched (VALID_SMM with latched_init 0 clears it): an INIT the old
     * guest sent must not restart the vCPU.  A stale SIPI is dropped by
     * KVM on its next look, as the vCPU is not in INIT_RECEIVED.
     */
    memset(&ev, 0, sizeof(ev));
    ev.flags = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SMM;
    ret = xioctl(io, KVM_SET_VCPU_EVENTS, &ev);
    if (ret == 0) {
        ret = xioctl(io, KVM_GET_SREGS, &sr);
    }
    if (ret < 0) {
        return ret;
    }
    if (b) {
        vmm_x86_pvh_sregs(b, &sr);
        vmm_x86_pvh_regs(b, &r);
    } else {
        vmm_x86_reset_sregs(&sr);
        vmm_x86_reset_regs(signature, &r);
    }
    /* xAPIC mode, enabled; the BSP flag as at power-on. */
    sr.apic_base =
        VMM_X86_APIC_BASE | APIC_BASE_ENABLE | (b ? APIC_BASE_BSP : 0);
    ret = xioctl(io, KVM_SET_SREGS, &sr);
    if (ret == 0) {
        ret = xioctl(io, KVM_SET_REGS, &r);
    }
    return ret;
}

static int vcpu_reset(const struct vmm__x86_vcpu_io *io,
                      const struct vmm_pvh_boot *b, uint32_t signature)
{
    struct kvm_mp_state mp;
    struct kvm_lapic_state lapic;
    int r;

    r = reset_cpu_regs(io, b, signature);
    if (r == 0) {
        r = reset_fpu_xcr_debug(io);
    }
    if (r == 0) {
        r = reset_msrs_set(io);
    }
    /* After the APIC base: the LAPIC is in xAPIC mode now. */
    if (r == 0) {
        r = xioctl(io, KVM_GET_LAPIC, &lapic);
    }
    if (r == 0) {
        vmm_x86_lapic_reset_state(&lapic);
        r = xioctl(io, KVM_SET_LAPIC, &lapic);
    }
    if (r == 0) {
        mp.mp_state = b ? KVM_MP_STATE_RUNNABLE : KVM_MP_STATE_UNINITIALIZED;
        r = xioctl(io, KVM_SET_MP_STATE, &mp);
    }
    return r;
}

int vmm_x86_vcpu_reset(struct vmm_kvm_vcpu *vcpu, const struct vmm_pvh_boot *b,
                       uint32_t signature)
{
    const struct vmm__x86_vcpu_io io = {vcpu, -1};

    return vcpu ? vcpu_reset(&io, b, signature) : -EINVAL;
}

int vmm_x86_vcpu_reset_fd(int vcpu_fd, const struct vmm_pvh_boot *b,
                          uint32_t signature)
{
    const struct vmm__x86_vcpu_io io = {NULL, vcpu_fd};

    return vcpu_fd >= 0 ? vcpu_reset(&io, b, signature) : -EINVAL;
}

static int mp_state(const struct vmm__x86_vcpu_io *io, uint32_t *ret)
{
    struct kvm_mp_state mp;
    int r;

    if (!ret) {
        return -EINVAL;
    }
    r = xioctl(io, KVM_GET_MP_STATE, &mp);
    if (r == 0) {
        *ret = mp.mp_state;
    }
    return r;
}

int vmm_x86_mp_state(struct vmm_kvm_vcpu *vcpu, uint32_t *ret)
{
    const struct vmm__x86_vcpu_io io = {vcpu, -1};

    return vcpu ? mp_state(&io, ret) : -EINVAL;
}

int vmm_x86_mp_state_fd(int vcpu_fd, uint32_t *ret)
{
    const struct vmm__x86_vcpu_io io = {NULL, vcpu_fd};

    return vcpu_fd >= 0 ? mp_state(&io, ret) : -EINVAL;
}
