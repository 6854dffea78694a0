/* SPDX-License-Identifier: MIT */
/*
 * Instructions the guest runs at CPL3: port I/O (allowed by IOPL=3 and the
 * TSS's zero I/O bitmap), CPUID, the TSC, and the kernel calls that reach
 * the few CPL0 stubs in isr.S.
 */
#ifndef SDK_X86_H
#define SDK_X86_H

#include <stdint.h>

#include "sdk/layout.h"

static inline uint8_t sdk_inb(uint16_t port)
{
    uint8_t v;

    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline uint16_t sdk_inw(uint16_t port)
{
    uint16_t v;

    __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline uint32_t sdk_inl(uint16_t port)
{
    uint32_t v;

    __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline void sdk_outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void sdk_outw(uint16_t port, uint16_t v)
{
    __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

static inline void sdk_outl(uint16_t port, uint32_t v)
{
    __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

struct sdk_cpuid {
    uint32_t eax, ebx, ecx, edx;
};

static inline struct sdk_cpuid sdk_cpuid(uint32_t leaf, uint32_t subleaf)
{
    struct sdk_cpuid r;

    __asm__ volatile("cpuid"
                     : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx)
                     : "a"(leaf), "c"(subleaf));
    return r;
}

static inline uint64_t sdk_rdtsc(void)
{
    uint32_t lo, hi;

    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

static inline void sdk_pause(void)
{
    __asm__ volatile("pause" ::: "memory");
}

static inline void sdk_barrier(void)
{
    __asm__ volatile("" ::: "memory");
}

/* A full barrier: orders a store before a later load (x86 reorders those). */
static inline void sdk_mb(void)
{
    __asm__ volatile("mfence" ::: "memory");
}

/* 32-bit MMIO; the device sees exactly one access of that width. */
static inline uint32_t sdk_mmio_read32(uint64_t addr)
{
    return *(volatile uint32_t *)(uintptr_t)addr;
}

static inline void sdk_mmio_write32(uint64_t addr, uint32_t v)
{
    *(volatile uint32_t *)(uintptr_t)addr = v;
}

static inline uint16_t sdk_mmio_read16(uint64_t addr)
{
    return *(volatile uint16_t *)(uintptr_t)addr;
}

static inline uint8_t sdk_mmio_read8(uint64_t addr)
{
    return *(volatile uint8_t *)(uintptr_t)addr;
}

static inline void sdk_mmio_write8(uint64_t addr, uint8_t v)
{
    *(volatile uint8_t *)(uintptr_t)addr = v;
}

/*
 * Kernel calls: a call to a ud2 in isr.S whose #UD the CPL0 side turns
 * into the operation (a few instructions at CPL0).  Needs -mno-red-zone
 * (the SDK's flags): the call pushes below the stack pointer.  A missing
 * MSR raises #GP at CPL0, which is reported like any other exception.
 */
static inline void sdk_wrmsr(uint32_t msr, uint64_t v)
{
    __asm__ volatile("call sdk_kcall_wrmsr"
                     :
                     : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32))
                     : "memory");
}

static inline uint64_t sdk_rdmsr(uint32_t msr)
{
    uint32_t lo, hi;

    __asm__ volatile("call sdk_kcall_rdmsr"
                     : "=a"(lo), "=d"(hi)
                     : "c"(msr)
                     : "memory");
    return ((uint64_t)hi << 32) | lo;
}

/*
 * sdk_wait_interrupt() - sleep until an interrupt has been handled.
 * Returns at once if one is already pending.  Context: any CPU.
 */
static inline void sdk_wait_interrupt(void)
{
    __asm__ volatile("call sdk_kcall_wait" : : : "memory");
}

#endif /* SDK_X86_H */
