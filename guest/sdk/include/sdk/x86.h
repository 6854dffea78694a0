/* SPDX-License-Identifier: MIT */
/*
 * Instructions the guest runs at CPL3: port I/O (allowed by IOPL=3 and the
 * TSS's zero I/O bitmap), CPUID, the TSC, MMIO.
 */
#ifndef SDK_X86_H
#define SDK_X86_H

#include <stdint.h>

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

/* 32-bit MMIO; the device sees exactly one access of that width. */
static inline uint32_t sdk_mmio_read32(uint64_t addr)
{
    return *(volatile uint32_t *)(uintptr_t)addr;
}

static inline void sdk_mmio_write32(uint64_t addr, uint32_t v)
{
    *(volatile uint32_t *)(uintptr_t)addr = v;
}

static inline uint8_t sdk_mmio_read8(uint64_t addr)
{
    return *(volatile uint8_t *)(uintptr_t)addr;
}

static inline void sdk_mmio_write8(uint64_t addr, uint8_t v)
{
    *(volatile uint8_t *)(uintptr_t)addr = v;
}

#endif /* SDK_X86_H */
