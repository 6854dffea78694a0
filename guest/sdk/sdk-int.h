/* SPDX-License-Identifier: MIT */
/*
 * Between the SDK's own files: the entry points boot.S and isr.S call,
 * the symbols they define, and the runtime's start-up steps.
 */
#ifndef SDK_SDK_INT_H
#define SDK_SDK_INT_H

#include "sdk/sdk.h"

/* What sdk_trap_entry (isr.S) builds on the CPL0 stack. */
struct sdk_trap_frame {
    uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp;
    uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
    uint64_t vector, error;
    uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};

/* Defined in boot.S and isr.S. */
extern char sdk_ap_trampoline[], sdk_ap_trampoline_end[];
extern uint8_t sdk_stacks[], sdk_kstacks[];
extern char __sdk_image_end[]; /* guest.ld */
extern uint32_t sdk_irq_counts[256];
extern uint64_t sdk_idt[2 * 256]; /* boot.S: 256 16-byte gates */
extern uint32_t sdk_cpu_surplus; /* APs beyond SDK_MAX_CPUS, halted */

/* Called from boot.S at CPL3; never return. */
SDK_NORETURN void sdk_bsp_start(uint32_t start_info_paddr);
SDK_NORETURN void sdk_ap_start(unsigned cpu);
/* Called from isr.S at CPL0 for exceptions; never returns. */
SDK_NORETURN void sdk_trap(struct sdk_trap_frame *f);

/* serial.c: COM1. */
void sdk__serial_init(void);
void sdk__serial_putc(char c);

/* printf.c: the console lock; the emergency path takes it or, after a
 * bounded wait, goes ahead without it (panic and trap reports). */
void sdk__console_lock(bool emergency);
void sdk__console_unlock(void);
int sdk__vprintf_locked(const char *fmt, va_list ap);

/* irq.c: the ICR write behind every IPI. */
bool sdk__lapic_icr(uint32_t hi, uint32_t lo);

/* cmdline.c, start.c, tsc.c, smp.c: start-up steps on the boot CPU. */
void sdk__cmdline_init(const char *src, size_t max);
void sdk__time_init(void);
void sdk__smp_init(void);

#endif /* SDK_SDK_INT_H */
