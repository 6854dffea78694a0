/* SPDX-License-Identifier: MIT */
/*
 * The micro-guest's fixed layout: what the assembly bootstrap, the linker
 * and the C runtime must agree on.  Included from .S files too, so only
 * #defines.  The image itself is linked at 1 MiB (guest.ld).
 */
#ifndef SDK_LAYOUT_H
#define SDK_LAYOUT_H

/* CPUs the SDK can run: one stack pair and one TSS each. */
#define SDK_MAX_CPUS 64

/* CPL3 stack per CPU: 1 << SDK_STACK_SHIFT bytes, aligned to its size. */
#define SDK_STACK_SHIFT 14
/* CPL0 stack per CPU (TSS.RSP0: traps, interrupts, kernel calls). */
#define SDK_KSTACK_SHIFT 13

/* Where the AP start-up code is copied (page aligned, below 1 MiB). */
#define SDK_AP_TRAMPOLINE 0x8000
#define SDK_AP_SIPI_VECTOR (SDK_AP_TRAMPOLINE >> 12)
/* Lowest address the guest may ever write: 0x0-0x2067 is the I/O bitmap
 * of the reset-state task register QEMU leaves at PVH entry. */
#define SDK_LOW_RESERVED_END 0x2068

/* GDT selectors. */
#define SDK_SEL_KCODE 0x08   /* 64-bit, DPL0 */
#define SDK_SEL_KDATA 0x10   /* DPL0 */
#define SDK_SEL_KCODE32 0x18 /* 32-bit, DPL0: the AP's protected-mode hop */
#define SDK_SEL_UDATA 0x20   /* DPL3, used with RPL 3 */
#define SDK_SEL_UCODE 0x28   /* 64-bit, DPL3, used with RPL 3 */
#define SDK_SEL_TSS0 0x30    /* 16-byte TSS descriptors, one per CPU */

/* TSS area: SDK_MAX_CPUS TSSes SDK_TSS_STRIDE apart, then one shared
 * all-zero I/O permission bitmap (8 KiB + the 0xff terminator). */
#define SDK_TSS_STRIDE 128
#define SDK_TSS_AREA_SIZE (SDK_MAX_CPUS * SDK_TSS_STRIDE)
#define SDK_IOBITMAP_SIZE 8192

/* RFLAGS at CPL3: IOPL=3, interrupts off (see sdk_wait_interrupt()). */
#define SDK_USER_RFLAGS 0x3002

/*
 * IDT vectors: 0-31 are exceptions (reported, then exit); every other
 * vector is counted and acknowledged (isr.S); the local APIC's spurious
 * vector is only counted.
 */
#define SDK_VEC_IRQ_BASE 0x30 /* IOAPIC pin n: SDK_VEC_IRQ_BASE + n */
#define SDK_VEC_SPURIOUS 0xff
#define SDK_ISR_STUB_SIZE 32

/* Local APIC (xAPIC MMIO), IOAPIC. */
#define SDK_LAPIC_BASE 0xfee00000
#define SDK_LAPIC_EOI 0xfee000b0
#define SDK_IOAPIC_BASE 0xfec00000

/* isa-debug-exit port (QEMU's and loom-vm's default iobase). */
#define SDK_DEBUG_EXIT_PORT 0x501

/* The i8042 keyboard controller's command port and its reset command. */
#define SDK_I8042_CMD_PORT 0x64
#define SDK_I8042_CMD_RESET 0xfe

#endif /* SDK_LAYOUT_H */
