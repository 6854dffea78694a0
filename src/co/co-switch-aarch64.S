/* SPDX-License-Identifier: MIT */
/*
 * Coroutine context switch for AArch64 (AAPCS64), used by co.c through
 * co-int.h.  Runs on whichever thread switches; touches only the two
 * stacks involved.
 *
 * A suspended context is a stack pointer; the 160 bytes above it hold
 * d8-d15, x19-x28, the frame pointer x29 and the resume address x30: the
 * callee-saved registers of the procedure call standard, nothing else.
 * FPCR is not switched (boost.context does not either): the standard
 * treats it as thread-global state that code changing it must restore.
 * The resumed context is entered with `br`, not `ret`, so that the
 * return-address predictor is not consulted with the other context's
 * entry (with branch target identification enabled, `ret` is used, since
 * resume addresses carry no landing pad).
 */

#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
#define LOOM_RESUME(reg) ret reg
#else
#define LOOM_RESUME(reg) br reg
#endif

    .text

/* void *loom__co_swap(void **save_sp, void *new_sp, void *val) */
    .globl  loom__co_swap
    .hidden loom__co_swap
    .type   loom__co_swap, %function
    .p2align 4
loom__co_swap:
    .cfi_startproc
    sub     sp, sp, #160
    stp     d8, d9, [sp, #0]
    stp     d10, d11, [sp, #16]
    stp     d12, d13, [sp, #32]
    stp     d14, d15, [sp, #48]
    stp     x19, x20, [sp, #64]
    stp     x21, x22, [sp, #80]
    stp     x23, x24, [sp, #96]
    stp     x25, x26, [sp, #112]
    stp     x27, x28, [sp, #128]
    stp     x29, x30, [sp, #144]
    mov     x9, sp
    str     x9, [x0]
    /* Everything below runs on the other context's stack. */
    mov     sp, x1
    ldp     d8, d9, [sp, #0]
    ldp     d10, d11, [sp, #16]
    ldp     d12, d13, [sp, #32]
    ldp     d14, d15, [sp, #48]
    ldp     x19, x20, [sp, #64]
    ldp     x21, x22, [sp, #80]
    ldp     x23, x24, [sp, #96]
    ldp     x25, x26, [sp, #112]
    ldp     x27, x28, [sp, #128]
    ldp     x29, x30, [sp, #144]
    add     sp, sp, #160
    mov     x0, x2
    LOOM_RESUME(x30)
    .cfi_endproc
    .size   loom__co_swap, .-loom__co_swap

/*
 * First code of a fresh context: start function in x19, its argument in
 * x20, the switched value already in x0.  The start function never
 * returns; if it did, brk traps instead of running off the stack.
 */
    .type   loom__co_trampoline, %function
    .p2align 4
loom__co_trampoline:
    .cfi_startproc
    .cfi_undefined x30
    mov     x1, x20
    blr     x19
    brk     #0x3e8
    .cfi_endproc
    .size   loom__co_trampoline, .-loom__co_trampoline

/*
 * Resume address patched in by co.c when work is left for a suspended
 * context (see loom__co_post_tramp in co-int.h).  Reached from
 * loom__co_swap() with that context's registers restored and x0 = its
 * thread state, whose first field is the real resume address: make that
 * the link register and tail-call the C function.
 */
    .globl  loom__co_post_tramp
    .hidden loom__co_post_tramp
    .type   loom__co_post_tramp, %function
    .p2align 4
loom__co_post_tramp:
    .cfi_startproc
    ldr     x30, [x0]
    b       loom__co_post_run
    .cfi_endproc
    .size   loom__co_post_tramp, .-loom__co_post_tramp

/*
 * int loom__co_ctx_make(struct loom__co_ctx *ctx, void *stack, size_t size,
 *                       loom__co_start_fn *start, void *arg)
 *
 * Builds the frame loom__co_swap() pops, 16 bytes below the aligned top of
 * the stack (left zero as a terminating frame record): zeroed registers
 * except x19 = start, x20 = arg, x30 = the trampoline.
 */
    .globl  loom__co_ctx_make
    .hidden loom__co_ctx_make
    .type   loom__co_ctx_make, %function
    .p2align 4
loom__co_ctx_make:
    .cfi_startproc
    add     x9, x1, x2
    and     x9, x9, #~15
    sub     x9, x9, #176
    stp     xzr, xzr, [x9, #0]
    stp     xzr, xzr, [x9, #16]
    stp     xzr, xzr, [x9, #32]
    stp     xzr, xzr, [x9, #48]
    stp     xzr, xzr, [x9, #64]
    stp     xzr, xzr, [x9, #80]
    stp     xzr, xzr, [x9, #96]
    stp     xzr, xzr, [x9, #112]
    stp     xzr, xzr, [x9, #128]
    stp     xzr, xzr, [x9, #144]
    stp     xzr, xzr, [x9, #160]
    stp     x3, x4, [x9, #64]
    adr     x10, loom__co_trampoline
    str     x10, [x9, #152]
    str     x9, [x0]
    mov     w0, #0
    ret
    .cfi_endproc
    .size   loom__co_ctx_make, .-loom__co_ctx_make

    .section .note.GNU-stack, "", %progbits
