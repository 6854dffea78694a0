/* SPDX-License-Identifier: MIT */
/*
 * Interrupt and exception stubs, one SDK_ISR_STUB_SIZE slot per vector so
 * that the IDT can be static (boot.S, guest.ld), and the kernel calls.
 * All of it runs at CPL0, so each path is a handful of instructions:
 *  - exceptions (0-31): push the vector and an error code, save the
 *    registers and call sdk_trap() (start.c), which reports and exits;
 *  - kernel calls: CPL3 code calls one of the sdk_kcall_* functions below,
 *    whose ud2 raises #UD; the #UD path recognises the address, does the
 *    work and returns past the ud2.  (INT n from CPL3 is not usable: some
 *    hosts answer it with #UD.)  The calls are WRMSR and RDMSR (%ecx,
 *    %edx:%eax), WAIT (sti; hlt: sleep until an interrupt has been
 *    handled) and PARK (halt for good);
 *  - every other vector: count it in sdk_irq_counts[] and EOI the local
 *    APIC; the spurious vector is only counted.
 * CPL3 code runs with interrupts off, so interrupts are taken only inside
 * WAIT: one that arrives between the guest's last check and its WAIT
 * stays pending, and hlt returns at once.
 */
#include "sdk/layout.h"

.macro STUB vec
1:
    .if \vec == 6
      jmp sdk_ud_entry
    .elseif \vec < 32
      .if \vec == 8 || (\vec >= 10 && \vec <= 14) || \vec == 17 || \
          \vec == 21 || \vec == 29 || \vec == 30
        pushq $\vec
      .else
        pushq $0
        pushq $\vec
      .endif
      jmp sdk_trap_entry
    .elseif \vec == SDK_VEC_SPURIOUS
      lock incl sdk_irq_counts + 4 * \vec(%rip)
      iretq
    .else
      lock incl sdk_irq_counts + 4 * \vec(%rip)
      pushq %rax
      movl $SDK_LAPIC_EOI, %eax
      movl $0, (%rax)
      popq %rax
      iretq
    .endif
    .org 1b + SDK_ISR_STUB_SIZE, 0xcc
.endm

    .section .text.isr, "ax"
    .balign 8192
    .globl sdk_isr_stubs
sdk_isr_stubs:
    .set vec, 0
    .rept 256
    STUB vec
    .set vec, vec + 1
    .endr
    .globl sdk_isr_stubs_end
sdk_isr_stubs_end:

/*
 * #UD: a kernel call when it comes from one of the sdk_kcall_* addresses
 * (the saved RIP is at the top of the stack; #UD has no error code),
 * otherwise an exception to report.
 */
    .text
    .type sdk_ud_entry, @function
sdk_ud_entry:
    cmpq $sdk_kcall_wait, (%rsp)
    je 1f
    cmpq $sdk_kcall_wrmsr, (%rsp)
    je 2f
    cmpq $sdk_kcall_rdmsr, (%rsp)
    je 3f
    cmpq $sdk_kcall_park, (%rsp)
    je 4f
    pushq $0
    pushq $6
    jmp sdk_trap_entry
1:  addq $2, (%rsp)
    sti
    hlt
    iretq
2:  addq $2, (%rsp)
    wrmsr
    iretq
3:  addq $2, (%rsp)
    rdmsr
    iretq
4:  cli
5:  hlt
    jmp 5b

/*
 * Exceptions: build a struct sdk_trap_frame (sdk-int.h) below the vector,
 * error code and the CPU's interrupt frame, and call sdk_trap() on the
 * CPL0 stack.  It does not return.
 */
    .type sdk_trap_entry, @function
sdk_trap_entry:
    cld
    pushq %r15
    pushq %r14
    pushq %r13
    pushq %r12
    pushq %r11
    pushq %r10
    pushq %r9
    pushq %r8
    pushq %rbp
    pushq %rdi
    pushq %rsi
    pushq %rdx
    pushq %rcx
    pushq %rbx
    pushq %rax
    movq %rsp, %rdi
    call sdk_trap
    ud2

/*
 * The kernel calls, called from CPL3 (x86.h).  Each is a ud2 that the
 * #UD path above completes, then a return; they clobber nothing but the
 * documented registers.
 */
    .globl sdk_kcall_wrmsr, sdk_kcall_rdmsr, sdk_kcall_wait, sdk_kcall_park
    .type sdk_kcall_wrmsr, @function
sdk_kcall_wrmsr:
    ud2
    ret
    .type sdk_kcall_rdmsr, @function
sdk_kcall_rdmsr:
    ud2
    ret
    .type sdk_kcall_wait, @function
sdk_kcall_wait:
    ud2
    ret
    .type sdk_kcall_park, @function
sdk_kcall_park:
    ud2

    .bss
    .balign 64
    .globl sdk_irq_counts
sdk_irq_counts:
    .skip 4 * 256

    .section .note.GNU-stack, "", @progbits
