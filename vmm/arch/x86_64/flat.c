/* SPDX-License-Identifier: MIT */
/*
 * x86-64 flat set-up for micro-guests: identity-mapped long-mode page
 * tables, a GDT with ring-0 and ring-3 descriptors and a TSS, written by
 * the VMM into guest RAM; then the vCPU is put straight into 64-bit mode
 * through KVM_SET_SREGS.  With user=true the guest starts at CPL3 with
 * IOPL=3, which PVM runs natively (CPL0 code is emulated there).  Called
 * from any thread for the tables, from the vCPU thread for the registers.
 */
#include "arch/x86_64/flat.h"

#include "vstate/kvm-int.h"

#include <errno.h>
#include <string.h>

#include <loom/rcu.h>

/* Offsets inside the VMM_X86_FLAT_SIZE area. */
#define OFF_PML4 0x0000u
#define OFF_PDPT 0x1000u
#define OFF_PD 0x2000u /* four page directories */
#define OFF_GDT 0x6000u
#define OFF_TSS 0x7000u
#define GDT_ENTRIES 7
#define TSS_IOMAP 0x68u                 /* I/O bitmap offset in the TSS */
#define TSS_LIMIT (TSS_IOMAP + 0x2000u) /* 65536 ports + closing byte */

#define PTE_P 0x1ull
#define PTE_RW 0x2ull
#define PTE_US 0x4ull
#define PTE_PS 0x80ull

#define CR0_PE (1ull << 0)
#define CR0_MP (1ull << 1)
#define CR0_ET (1ull << 4)
#define CR0_NE (1ull << 5)
#define CR0_WP (1ull << 16)
#define CR0_AM (1ull << 18)
#define CR0_PG (1ull << 31)
#define CR4_PAE (1ull << 5)
#define CR4_OSFXSR (1ull << 9)
#define CR4_OSXMMEXCPT (1ull << 10)
#define EFER_SCE (1ull << 0)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)
#define RFLAGS_RESERVED (1ull << 1)
#define RFLAGS_IOPL3 (3ull << 12)

static void put64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, sizeof(v));
}

int vmm_x86_build_flat(struct vmm_kvm_vm *vm, uint64_t gpa)
{
    uint64_t tss = gpa + OFF_TSS;
    uint8_t *base;
    unsigned i, j;
    int ret = 0;

    if (!vm || (gpa & 0xfffu)) {
        return -EINVAL;
    }
    loom_rcu_read_lock();
    base = vmm_kvm_gpa_to_hva(vm, gpa, VMM_X86_FLAT_SIZE);
    if (!base) {
        ret = -EFAULT;
        goto out;
    }
    memset(base, 0, VMM_X86_FLAT_SIZE);
    put64(base + OFF_PML4, (gpa + OFF_PDPT) | PTE_P | PTE_RW | PTE_US);
    for (i = 0; i < 4; i++) {
        uint64_t pd = gpa + OFF_PD + i * 0x1000u;

        put64(base + OFF_PDPT + i * 8, pd | PTE_P | PTE_RW | PTE_US);
        for (j = 0; j < 512; j++) {
            uint64_t addr = ((uint64_t)i << 30) | ((uint64_t)j << 21);

            put64(base + OFF_PD + i * 0x1000u + j * 8,
                  addr | PTE_P | PTE_RW | PTE_US | PTE_PS);
        }
    }
    /* Flat descriptors: base 0, limit 4 GiB, present, accessed. */
    put64(base + OFF_GDT + 0x08, 0x00af9b000000ffffull); /* code, L, DPL0 */
    put64(base + OFF_GDT + 0x10, 0x00cf93000000ffffull); /* data, DPL0 */
    put64(base + OFF_GDT + 0x18, 0x00cff3000000ffffull); /* data, DPL3 */
    put64(base + OFF_GDT + 0x20, 0x00affb000000ffffull); /* code, L, DPL3 */
    /* 64-bit busy TSS: two slots. */
    put64(base + OFF_GDT + 0x28,
          (TSS_LIMIT & 0xffffu) | ((tss & 0xffffffull) << 16) |
              (0x8bull << 40) | (((tss >> 24) & 0xffull) << 56));
    put64(base + OFF_GDT + 0x30, tss >> 32);
    /*
     * An all-zero I/O bitmap lets CPL3 use every port.  IOPL=3 alone does
     * that on hardware, but PVM ignores IOPL for guest user mode and
     * consults the bitmap; the closing 0xff byte is required by the CPU.
     */
    base[OFF_TSS + 0x66] = TSS_IOMAP & 0xffu;
    base[OFF_TSS + 0x67] = TSS_IOMAP >> 8;
    base[OFF_TSS + TSS_LIMIT] = 0xff;
out:
    loom_rcu_read_unlock();
    return ret;
}

static void flat_seg(struct kvm_segment *s, uint16_t sel, uint8_t type,
                     bool code)
{
    memset(s, 0, sizeof(*s));
    s->limit = 0xffffffffu;
    s->selector = sel;
    s->type = type;
    s->present = 1;
    s->dpl = sel & 3;
    s->s = 1;
    s->g = 1;
    s->l = code;
    s->db = !code;
}

void vmm_x86_flat_sregs(uint64_t tables, bool user, struct kvm_sregs *sr)
{
    if (user) {
        flat_seg(&sr->cs, VMM_X86_SEL_CODE3, 0xb, true);
        flat_seg(&sr->ds, VMM_X86_SEL_DATA3, 0x3, false);
    } else {
        flat_seg(&sr->cs, VMM_X86_SEL_CODE0, 0xb, true);
        flat_seg(&sr->ds, VMM_X86_SEL_DATA0, 0x3, false);
    }
    sr->es = sr->fs = sr->gs = sr->ss = sr->ds;
    memset(&sr->tr, 0, sizeof(sr->tr));
    sr->tr.base = tables + OFF_TSS;
    sr->tr.limit = TSS_LIMIT;
    sr->tr.selector = VMM_X86_SEL_TSS;
    sr->tr.type = 0xb;
    sr->tr.present = 1;
    memset(&sr->ldt, 0, sizeof(sr->ldt));
    sr->ldt.type = 0x2;
    sr->ldt.unusable = 1;
    sr->gdt.base = tables + OFF_GDT;
    sr->gdt.limit = GDT_ENTRIES * 8 - 1;
    sr->idt.base = 0;
    sr->idt.limit = 0;
    sr->cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_AM | CR0_PG;
    sr->cr3 = tables + OFF_PML4;
    sr->cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
    sr->efer = EFER_SCE | EFER_LME | EFER_LMA;
}

uint64_t vmm_x86_flat_rflags(bool user)
{
    return RFLAGS_RESERVED | (user ? RFLAGS_IOPL3 : 0);
}

int vmm_x86_enter_flat(struct vmm_kvm_vcpu *vcpu, uint64_t tables, bool user,
                       const struct kvm_regs *regs)
{
    struct kvm_sregs sr;
    struct kvm_regs r;
    int ret;

    if (!regs) {
        return -EINVAL;
    }
    ret = vmm_kvm_vcpu_get_sregs(vcpu, &sr);
    if (ret < 0) {
        return ret;
    }
    vmm_x86_flat_sregs(tables, user, &sr);
    ret = vmm_kvm_vcpu_set_sregs(vcpu, &sr);
    if (ret < 0) {
        return ret;
    }
    r = *regs;
    r.rflags |= vmm_x86_flat_rflags(user);
    return vmm_kvm_vcpu_set_regs(vcpu, &r);
}
