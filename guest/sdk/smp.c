/* SPDX-License-Identifier: MIT */
/*
 * CPUs: APIC IDs and CPUID's CPU count, bringing up the application
 * processors with INIT and SIPI through the local APIC (xAPIC MMIO, at
 * CPL3).
 *
 * sdk_smp_start() copies boot.S's real-mode trampoline to
 * SDK_AP_TRAMPOLINE and broadcasts INIT, SIPI, SIPI to all CPUs but
 * itself.  Each AP runs the trampoline and boot.S's long-mode switch,
 * takes the next CPU index, and enters sdk_ap_start() at CPL3.
 */
#include "sdk-int.h"

#define ICR_INIT 0x00000500u
#define ICR_STARTUP 0x00000600u
#define ICR_ASSERT (1u << 14)
#define ICR_ALL_BUT_SELF (3u << 18)

static uint32_t online;
static sdk_cpu_fn *ap_fn;
static void *ap_opaque;
static bool started;

/* sdk_apic_id() - see sdk.h.  Context: any CPU. */
uint32_t sdk_apic_id(void)
{
    if (sdk_cpuid(0, 0).eax >= 0xb) {
        struct sdk_cpuid r = sdk_cpuid(0xb, 0);

        if (r.ebx & 0xffff) {
            return r.edx; /* the x2APIC ID */
        }
    }
    return sdk_cpuid(1, 0).ebx >> 24;
}

/* sdk_cpuid_cpu_count() - see sdk.h.  Context: any CPU. */
unsigned sdk_cpuid_cpu_count(void)
{
    struct sdk_cpuid r;
    unsigned level, count = 0;

    if (sdk_cpuid(0, 0).eax >= 0xb) {
        for (level = 0; level < 8; level++) {
            r = sdk_cpuid(0xb, level);
            if (((r.ecx >> 8) & 0xff) == 0) {
                break; /* invalid level: the previous one was the last */
            }
            count = r.ebx & 0xffff;
        }
        if (count) {
            return count;
        }
    }
    r = sdk_cpuid(1, 0);
    if (r.edx & (1u << 28)) { /* HTT: EBX[23:16] is meaningful */
        return (r.ebx >> 16) & 0xff;
    }
    return 1;
}

/* sdk_cpus_online() - see sdk.h.  Context: any CPU. */
unsigned sdk_cpus_online(void)
{
    return sdk_atomic_load(&online);
}

/* sdk__smp_init() - count the boot CPU.  Context: boot CPU, at start-up. */
void sdk__smp_init(void)
{
    sdk_atomic_store(&online, 1);
}

/* sdk_ap_start() - an AP's first C code.  Context: that AP. */
void sdk_ap_start(unsigned cpu)
{
    sdk_cpu_fn *fn = sdk_atomic_load(&ap_fn);

    sdk_atomic_fetch_add(&online, 1);
    if (fn) {
        fn(cpu, sdk_atomic_load(&ap_opaque));
    }
    sdk_cpu_park();
}

/* sdk_smp_start() - see sdk.h.  Context: boot CPU. */
unsigned sdk_smp_start(unsigned expect, uint64_t timeout_us, sdk_cpu_fn *fn,
                       void *opaque)
{
    size_t size = (size_t)(sdk_ap_trampoline_end - sdk_ap_trampoline);
    uint64_t start, limit;

    if (started) {
        sdk_panic("sdk_smp_start() called twice");
    }
    started = true;
    if (!sdk_memmap_is_ram(SDK_AP_TRAMPOLINE, 4096)) {
        sdk_panic("AP trampoline page %#x is not RAM", SDK_AP_TRAMPOLINE);
    }
    if (expect > SDK_MAX_CPUS) {
        expect = SDK_MAX_CPUS;
    }
    memcpy((void *)(uintptr_t)SDK_AP_TRAMPOLINE, sdk_ap_trampoline, size);
    sdk_atomic_store(&ap_opaque, opaque);
    sdk_atomic_store(&ap_fn, fn);

    /* INIT, then two start-ups; a CPU already running ignores a SIPI. */
    if (!sdk__lapic_icr(0, ICR_ALL_BUT_SELF | ICR_ASSERT | ICR_INIT) ||
        !sdk__lapic_icr(0, ICR_ALL_BUT_SELF | ICR_ASSERT | ICR_STARTUP |
                               SDK_AP_SIPI_VECTOR)) {
        sdk_panic("local APIC does not send IPIs");
    }
    start = sdk_rdtsc();
    limit = sdk_ns_to_tsc(timeout_us * 1000);
    sdk_delay_us(200);
    if (!expect || sdk_cpus_online() < expect) {
        sdk__lapic_icr(0, ICR_ALL_BUT_SELF | ICR_ASSERT | ICR_STARTUP |
                              SDK_AP_SIPI_VECTOR);
    }
    while ((!expect || sdk_cpus_online() < expect) &&
           sdk_rdtsc() - start < limit) {
        sdk_pause();
    }
    if (sdk_atomic_load(&sdk_cpu_surplus)) {
        sdk_printf("sdk: %u CPUs beyond the %u supported were halted\n",
                   sdk_atomic_load(&sdk_cpu_surplus), SDK_MAX_CPUS);
    }
    return sdk_cpus_online();
}
