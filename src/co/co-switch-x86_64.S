/* SPDX-License-Identifier: MIT */
/*
 * Coroutine context switch for x86-64 (System V ABI), used by co.c through
 * co-int.h.  Runs on whichever thread switches; touches only the two
 * stacks involved.
 *
 * A suspended context is a stack pointer; the stack holds, from it upward:
 * MXCSR and the x87 control word (8 bytes), r12, r13, r14, r15, rbx, rbp
 * and the address to resume at.  Only callee-saved state is saved: the
 * switch is an ordinary call for the compiler.  The MXCSR control bits and
 * the x87 control word are callee-saved in the ABI (rounding modes,
 * exception masks), so they travel with the context.  MXCSR's sticky
 * exception flags (bits 0-5) are not: they stay with the thread.  Loading
 * MXCSR or the x87 control word stalls the pipeline (some Intel cores
 * take ~60 ns whenever the value changes, e.g. because the two contexts'
 * sticky flags differ), so each is loaded only when the control bits the
 * resumed context wants differ from the current ones: in the common case
 * a switch loads neither.  The resumed context is entered with an indirect
 * `jmp`, not `ret`:
 * a `ret` would pop the return-stack predictor entry pushed by this call,
 * which belongs to the other context, and mispredict on every switch.
 *
 * No endbr64/shadow-stack support: the switch is incompatible with CET
 * shadow stacks, which Debian does not enable.
 */

    .text

/*
 * Save r12-r15, rbx, rbp in the frame just pushed (leaq -0x38(%rsp), %rsp
 * first: each switch stores its control word before these).
 */
.macro SAVE_GPRS
    movq    %r12, 0x8(%rsp)
    movq    %r13, 0x10(%rsp)
    movq    %r14, 0x18(%rsp)
    movq    %r15, 0x20(%rsp)
    movq    %rbx, 0x28(%rsp)
    movq    %rbp, 0x30(%rsp)
.endm

/* Restore them from the resumed frame, return @val (rdx), jump to \to. */
.macro RESTORE_GPRS_AND_JUMP to
    movq    0x8(%rsp), %r12
    movq    0x10(%rsp), %r13
    movq    0x18(%rsp), %r14
    movq    0x20(%rsp), %r15
    movq    0x28(%rsp), %rbx
    movq    0x30(%rsp), %rbp
    leaq    0x40(%rsp), %rsp
    movq    %rdx, %rax
    jmpq    *\to
.endm

/*
 * Load the resumed frame's MXCSR control bits, keeping the thread's
 * sticky flags (in r9d).  Clobbers r8d and the frame's MXCSR word.
 */
.macro LOAD_MXCSR_KEEP_FLAGS
    movl    (%rsp), %r8d
    andl    $0xffc0, %r8d
    andl    $0x3f, %r9d
    orl     %r9d, %r8d
    movl    %r8d, (%rsp)
    ldmxcsr (%rsp)
.endm

/* void *loom__co_swap(void **save_sp, void *new_sp, void *val) */
    .globl  loom__co_swap
    .hidden loom__co_swap
    .type   loom__co_swap, @function
    .p2align 4
loom__co_swap:
    .cfi_startproc
    leaq    -0x38(%rsp), %rsp
    stmxcsr (%rsp)
    fnstcw  0x4(%rsp)
    SAVE_GPRS
    /* r9, r10: MXCSR and x87 control word in force now. */
    movl    (%rsp), %r9d
    movzwl  0x4(%rsp), %r10d
    movq    %rsp, (%rdi)
    /* Everything below runs on the other context's stack. */
    movq    %rsi, %rsp
    /* Load the target first so that the jump resolves early. */
    movq    0x38(%rsp), %rcx
    /* Does the resumed context want other control bits? */
    movl    (%rsp), %r8d
    xorl    %r9d, %r8d
    testl   $0xffc0, %r8d
    jnz     .Lload_mxcsr
.Lmxcsr_done:
    cmpw    0x4(%rsp), %r10w
    jne     .Lload_x87
.Lcontrol_done:
    RESTORE_GPRS_AND_JUMP %rcx

/*
 * Rare paths: the control bits differ.  MXCSR gets the resumed context's
 * control bits and keeps the thread's sticky flags (r9); the x87 control
 * word is the resumed context's.
 */
.Lload_mxcsr:
    LOAD_MXCSR_KEEP_FLAGS
    jmp     .Lmxcsr_done
.Lload_x87:
    fldcw   0x4(%rsp)
    jmp     .Lcontrol_done
    .cfi_endproc
    .size   loom__co_swap, .-loom__co_swap

/*
 * void *loom__co_swap_exit(void **save_sp, void *new_sp, void *val,
 *                          uint64_t fp_ctl)
 *
 * loom__co_swap() for a coroutine whose entry function has returned.
 * The ABI makes the MXCSR control bits and the x87 control word
 * callee-saved, so they are now what they were when the entry function
 * was called: @fp_ctl, the coroutine's first frame word (MXCSR in bits
 * 0-31, x87 control word in bits 32-47).  So this reads neither
 * register: it stores @fp_ctl as the parked frame's word (a pooled
 * coroutine starts again with the same bits) and compares it with the
 * resumed context's.  Both words were written long ago, so the compare
 * does not wait on a store just made: stmxcsr is slow on some cores (~20
 * cycles on Zen 3) and so is reading back what it stored.
 */
    .globl  loom__co_swap_exit
    .hidden loom__co_swap_exit
    .type   loom__co_swap_exit, @function
    .p2align 4
loom__co_swap_exit:
    .cfi_startproc
    leaq    -0x38(%rsp), %rsp
    movq    %rcx, (%rsp)
    SAVE_GPRS
    movq    %rsp, (%rdi)
    /* Everything below runs on the other context's stack. */
    movq    %rsi, %rsp
    movq    0x38(%rsp), %r11
    movl    (%rsp), %r8d
    xorl    %ecx, %r8d
    testl   $0xffc0, %r8d
    jnz     .Lexit_load_mxcsr
.Lexit_mxcsr_done:
    shrq    $32, %rcx
    cmpw    0x4(%rsp), %cx
    jne     .Lexit_load_x87
.Lexit_control_done:
    RESTORE_GPRS_AND_JUMP %r11

/*
 * Rare paths, as in loom__co_swap(); the thread's sticky flags come from
 * MXCSR itself, stored just below the resumed frame (in the red zone,
 * which signal frames leave alone).
 */
.Lexit_load_mxcsr:
    stmxcsr -0x8(%rsp)
    movl    -0x8(%rsp), %r9d
    LOAD_MXCSR_KEEP_FLAGS
    jmp     .Lexit_mxcsr_done
.Lexit_load_x87:
    fldcw   0x4(%rsp)
    jmp     .Lexit_control_done
    .cfi_endproc
    .size   loom__co_swap_exit, .-loom__co_swap_exit

/*
 * First code of a fresh context, reached from loom__co_swap() with the
 * start function in r12, its argument in rbx and the switched value in
 * rax; rsp is 16-byte aligned.  The start function never returns; if it
 * did, ud2 traps instead of running off the stack.
 */
    .type   loom__co_trampoline, @function
    .p2align 4
loom__co_trampoline:
    .cfi_startproc
    .cfi_undefined rip
    movq    %rax, %rdi
    movq    %rbx, %rsi
    callq   *%r12
    ud2
    .cfi_endproc
    .size   loom__co_trampoline, .-loom__co_trampoline

/*
 * Resume address patched in by co.c when work is left for a suspended
 * context (see loom__co_post_tramp in co-int.h).  Reached from
 * loom__co_swap() with that context's registers restored, rax = its
 * thread state (whose first field is the real resume address) and rsp
 * 16-byte aligned as right after a return: push the real address and
 * enter the C function as if called from there.
 */
    .globl  loom__co_post_tramp
    .hidden loom__co_post_tramp
    .type   loom__co_post_tramp, @function
    .p2align 4
loom__co_post_tramp:
    .cfi_startproc
    pushq   (%rax)
    movq    %rax, %rdi
    jmp     loom__co_post_run
    .cfi_endproc
    .size   loom__co_post_tramp, .-loom__co_post_tramp

/*
 * int loom__co_ctx_make(struct loom__co_ctx *ctx, void *stack, size_t size,
 *                       loom__co_start_fn *start, void *arg)
 *
 * Builds the frame loom__co_swap() pops at the top of the stack: current
 * MXCSR and x87 control word, zeroed registers except r12 = start and
 * rbx = arg, resume address = the trampoline; above it a zero word where
 * the trampoline's return address would be, for debuggers.
 */
    .globl  loom__co_ctx_make
    .hidden loom__co_ctx_make
    .type   loom__co_ctx_make, @function
    .p2align 4
loom__co_ctx_make:
    .cfi_startproc
    leaq    (%rsi,%rdx), %rax
    andq    $-16, %rax
    subq    $80, %rax
    stmxcsr (%rax)
    fnstcw  4(%rax)
    movq    %rcx, 8(%rax)
    movq    $0, 16(%rax)
    movq    $0, 24(%rax)
    movq    $0, 32(%rax)
    movq    %r8, 40(%rax)
    movq    $0, 48(%rax)
    leaq    loom__co_trampoline(%rip), %rcx
    movq    %rcx, 56(%rax)
    movq    $0, 64(%rax)
    movq    $0, 72(%rax)
    movq    %rax, (%rdi)
    xorl    %eax, %eax
    ret
    .cfi_endproc
    .size   loom__co_ctx_make, .-loom__co_ctx_make

    .section .note.GNU-stack, "", @progbits
