/* SPDX-License-Identifier: MIT */
/*
 * PVH entry, the switch to long mode and the drop to CPL3, for the boot
 * CPU and for the application processors; the descriptor tables and page
 * tables they load.
 *
 * Guest CPL0 code is emulated instruction by instruction on some hosts
 * (about 1 us each), so this file runs as few CPL0 instructions as it can
 * and no loops: every table is static data filled in by the assembler and
 * the linker (guest.ld computes the descriptor fields that hold split
 * addresses).  All C code runs at CPL3 with IOPL=3.
 *
 * Boot CPU: PVH 32-bit entry (paging off, %ebx = hvm_start_info) ->
 * ENTER_LONG_MODE -> bsp_entry64 -> iretq to sdk_bsp_start(start_info).
 * APs: INIT/SIPI -> the 16-bit trampoline that smp.c copied below 1 MiB ->
 * sdk_ap_entry32 -> ENTER_LONG_MODE -> ap_entry64 -> iretq to
 * sdk_ap_start(cpu index).
 */
#include "sdk/layout.h"

#define CR0_PE 0x1
#define CR0_MP 0x2
#define CR0_ET 0x10
#define CR0_NE 0x20
#define CR0_WP 0x10000
#define CR0_PG 0x80000000
#define CR4_PAE 0x20
#define CR4_OSFXSR 0x200
#define CR4_OSXMMEXCPT 0x400
#define MSR_EFER 0xc0000080
#define EFER_LME 0x100

/* Page table entry bits: present, writable, user, 2 MiB page, no cache. */
#define PTE_TABLE 0x7
#define PTE_LARGE 0x87
#define PTE_UNCACHED 0x18

#define GDT_ENTRIES (6 + 2 * SDK_MAX_CPUS)

/* ------------------------------------------------------------------ */
/* PVH note: the 32-bit physical entry point (XEN_ELFNOTE_PHYS32_ENTRY) */
/* ------------------------------------------------------------------ */
    .section .note.Xen, "a", @note
    .balign 4
    .long 4                 /* name size */
    .long 4                 /* descriptor size */
    .long 18                /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .long sdk_pvh_entry

/*
 * From 32-bit protected mode with paging off and our GDT loaded: page
 * tables, PAE, EFER.LME, paging on, and a far jump into 64-bit code.
 * SSE is enabled so that guest code may use it; the SDK itself does not.
 */
.macro ENTER_LONG_MODE target
    movl $sdk_pml4, %eax
    movl %eax, %cr3
    movl $(CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT), %eax
    movl %eax, %cr4
    movl $MSR_EFER, %ecx
    movl $EFER_LME, %eax
    xorl %edx, %edx
    wrmsr
    movl $(CR0_PG | CR0_WP | CR0_NE | CR0_ET | CR0_MP | CR0_PE), %eax
    movl %eax, %cr0
    ljmp $SDK_SEL_KCODE, $\target
.endm

    .section .text.boot, "ax"
    .code32
    .globl sdk_pvh_entry
    .type sdk_pvh_entry, @function
sdk_pvh_entry:
    /* %ebx (hvm_start_info) survives until bsp_entry64 hands it to C. */
    lgdt sdk_gdt_ptr
    ENTER_LONG_MODE bsp_entry64

    .globl sdk_ap_entry32
    .type sdk_ap_entry32, @function
sdk_ap_entry32:
    ENTER_LONG_MODE ap_entry64

    .code64
bsp_entry64:
    movw $SDK_SEL_TSS0, %ax
    ltr %ax
    lidt sdk_idt_ptr(%rip)
    movl $(sdk_kstacks + (1 << SDK_KSTACK_SHIFT)), %esp
    movl %ebx, %edi
    pushq $(SDK_SEL_UDATA | 3)
    pushq $(sdk_stacks + (1 << SDK_STACK_SHIFT))
    pushq $SDK_USER_RFLAGS
    pushq $(SDK_SEL_UCODE | 3)
    pushq $sdk_bsp_start
    iretq

/*
 * Every AP takes the next CPU index; its TSS, CPL0 stack and CPL3 stack
 * follow from it.  An AP beyond SDK_MAX_CPUS halts for good.
 */
ap_entry64:
    movl $1, %eax
    lock xaddl %eax, sdk_cpu_next(%rip)
    cmpl $SDK_MAX_CPUS, %eax
    jae ap_surplus
    movl %eax, %edi
    movl %eax, %ecx
    shll $4, %ecx
    addl $SDK_SEL_TSS0, %ecx
    ltr %cx
    lidt sdk_idt_ptr(%rip)
    movl %edi, %esp
    shll $SDK_KSTACK_SHIFT, %esp
    addl $(sdk_kstacks + (1 << SDK_KSTACK_SHIFT)), %esp
    movl %edi, %eax
    shll $SDK_STACK_SHIFT, %eax
    addl $(sdk_stacks + (1 << SDK_STACK_SHIFT)), %eax
    pushq $(SDK_SEL_UDATA | 3)
    pushq %rax
    pushq $SDK_USER_RFLAGS
    pushq $(SDK_SEL_UCODE | 3)
    pushq $sdk_ap_start
    iretq
ap_surplus:
    lock incl sdk_cpu_surplus(%rip)
    cli
1:  hlt
    jmp 1b

/*
 * The AP trampoline, run in real mode at SDK_AP_TRAMPOLINE (CS = the SIPI
 * vector << 8, IP = 0) after smp.c copied it there: load the GDT, enter
 * protected mode and jump to sdk_ap_entry32 in the image.
 */
    .globl sdk_ap_trampoline, sdk_ap_trampoline_end
    .code16
sdk_ap_trampoline:
    lgdtl %cs:(tramp_gdt_ptr - sdk_ap_trampoline)
    movl $CR0_PE, %eax
    movl %eax, %cr0
    ljmpl $SDK_SEL_KCODE32, $sdk_ap_entry32
    .balign 8
tramp_gdt_ptr:
    .word GDT_ENTRIES * 8 - 1
    .long sdk_gdt
sdk_ap_trampoline_end:
    .code64

/* ------------------------------------------------------------------ */
/* Descriptor tables                                                   */
/* ------------------------------------------------------------------ */
    .section .data.tables, "aw"
    .balign 16
    .globl sdk_gdt
sdk_gdt:
    .quad 0
    .quad 0x00af9a000000ffff    /* SDK_SEL_KCODE: 64-bit code, DPL0 */
    .quad 0x00cf92000000ffff    /* SDK_SEL_KDATA */
    .quad 0x00cf9a000000ffff    /* SDK_SEL_KCODE32: 32-bit code, DPL0 */
    .quad 0x00cff2000000ffff    /* SDK_SEL_UDATA: DPL3 */
    .quad 0x00affa000000ffff    /* SDK_SEL_UCODE: 64-bit code, DPL3 */
    /*
     * One 64-bit TSS descriptor per CPU.  __sdk_tss_desc (guest.ld) holds
     * the area's base split into the descriptor's fields; TSS i sits
     * i * SDK_TSS_STRIDE further on (guest.ld checks that this never
     * carries out of the low 16 bits) and its limit reaches the end of
     * the shared I/O bitmap.
     */
    .set cpu, 0
    .rept SDK_MAX_CPUS
    .quad __sdk_tss_desc + ((cpu * SDK_TSS_STRIDE) << 16) + \
        (SDK_TSS_AREA_SIZE - cpu * SDK_TSS_STRIDE + SDK_IOBITMAP_SIZE)
    .quad 0
    .set cpu, cpu + 1
    .endr

    .balign 8
sdk_gdt_ptr:
    .word GDT_ENTRIES * 8 - 1
    .quad sdk_gdt

    .balign 8
sdk_idt_ptr:
    .word 256 * 16 - 1
    .quad sdk_idt

/*
 * The IDT: vector v's gate points at sdk_isr_stubs + v * SDK_ISR_STUB_SIZE
 * (isr.S); __sdk_idt_gate (guest.ld) is the gate of vector 0.  Every gate
 * is DPL0: CPL3 code reaches CPL0 only through exceptions (isr.S).
 */
    .balign 16
    .globl sdk_idt
sdk_idt:
    .set vec, 0
    .rept 256
    .quad __sdk_idt_gate + vec * SDK_ISR_STUB_SIZE
    .quad 0
    .set vec, vec + 1
    .endr

    .balign 4
    .globl sdk_cpu_surplus
sdk_cpu_next:
    .long 1                     /* the boot CPU is 0 */
sdk_cpu_surplus:
    .long 0

/*
 * TSSes: RSP0 is the CPU's CPL0 stack; the I/O bitmap offset points at the
 * shared all-zero bitmap after the last TSS, which allows every port.
 * Some hosts check it even at IOPL=3.
 */
    .section .data.tss, "aw"
    .balign 8192
    .globl sdk_tss_area
sdk_tss_area:
    .set cpu, 0
    .rept SDK_MAX_CPUS
    .long 0
    .quad sdk_kstacks + ((cpu + 1) << SDK_KSTACK_SHIFT)
    .fill 0x66 - 12, 1, 0
    .word SDK_TSS_AREA_SIZE - cpu * SDK_TSS_STRIDE
    .fill SDK_TSS_STRIDE - 0x68, 1, 0
    .set cpu, cpu + 1
    .endr
    .globl sdk_tss_area_end
sdk_tss_area_end:
    .fill SDK_IOBITMAP_SIZE, 1, 0
    .byte 0xff

/* ------------------------------------------------------------------ */
/* Page tables: the first 4 GiB identity-mapped with 2 MiB user pages;  */
/* the top GiB (the 32-bit MMIO hole) uncached.                        */
/* ------------------------------------------------------------------ */
    .section .data.pagetables, "aw"
    .balign 4096
    .globl sdk_pml4
sdk_pml4:
    .quad sdk_pdpt + PTE_TABLE
    .fill 511, 8, 0
sdk_pdpt:
    .quad sdk_pd + PTE_TABLE
    .quad sdk_pd + 0x1000 + PTE_TABLE
    .quad sdk_pd + 0x2000 + PTE_TABLE
    .quad sdk_pd + 0x3000 + PTE_TABLE
    .fill 508, 8, 0
sdk_pd:
    .set page, 0
    .rept 2048
    .if page < 1536
    .quad (page << 21) | PTE_LARGE
    .else
    .quad (page << 21) | PTE_LARGE | PTE_UNCACHED
    .endif
    .set page, page + 1
    .endr

/* ------------------------------------------------------------------ */
/* Stacks                                                              */
/* ------------------------------------------------------------------ */
    .section .bss.stacks, "aw", @nobits
    .balign (1 << SDK_STACK_SHIFT)
    .globl sdk_stacks, sdk_kstacks
sdk_stacks:
    .skip SDK_MAX_CPUS << SDK_STACK_SHIFT
    .balign (1 << SDK_KSTACK_SHIFT)
sdk_kstacks:
    .skip SDK_MAX_CPUS << SDK_KSTACK_SHIFT

    .section .note.GNU-stack, "", @progbits
