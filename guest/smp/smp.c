/* SPDX-License-Identifier: MIT */
/*
 * smp: every CPU reports in.  The boot CPU starts the others; each CPU
 * (the boot CPU too) prints "cpu N: apic A", then adds `iters` to two
 * shared counters, one under a spinlock and one with atomic adds.  The
 * guest passes (SDK_EXIT_PASS, status 33) when the expected number of
 * CPUs arrived, their APIC IDs are distinct, each knows its own index,
 * and both counters add up; otherwise it prints why and fails
 * (SDK_EXIT_FAIL, status 35).
 *
 * Command line: cpus=N, the expected CPU count (default: CPUID's count,
 * see sdk_cpuid_cpu_count()); iters=N (default 2000); ap_timeout_ms=N
 * (default 5000).
 */
#include "sdk/sdk.h"

static struct sdk_spinlock lock = SDK_SPINLOCK_INIT;
static uint64_t locked_sum;
static uint64_t atomic_sum;
static uint32_t reported;
static uint32_t bad_index;
static uint32_t apic_of[SDK_MAX_CPUS];
static uint64_t iters;

static void report(unsigned cpu)
{
    uint32_t id = sdk_apic_id();
    uint64_t i;

    apic_of[cpu] = id;
    if (sdk_cpu_index() != cpu) {
        sdk_atomic_fetch_add(&bad_index, 1);
    }
    sdk_printf("cpu %u: apic %u\n", cpu, id);
    for (i = 0; i < iters; i++) {
        sdk_spin_lock(&lock);
        locked_sum++;
        sdk_spin_unlock(&lock);
        sdk_atomic_fetch_add(&atomic_sum, 1);
    }
    sdk_atomic_fetch_add(&reported, 1);
}

static void ap_main(unsigned cpu, void *opaque)
{
    report(cpu);
}

static bool apic_ids_distinct(unsigned n)
{
    unsigned i, j;

    for (i = 0; i < n; i++) {
        for (j = i + 1; j < n; j++) {
            if (apic_of[i] == apic_of[j]) {
                sdk_printf("smp: cpu %u and cpu %u share apic %u\n", i, j,
                           apic_of[i]);
                return false;
            }
        }
    }
    return true;
}

int guest_main(void)
{
    unsigned expect, online, done;
    uint64_t timeout_us, start;
    bool ok = true;

    expect = (unsigned)sdk_arg_u64("cpus", sdk_cpuid_cpu_count(), SDK_MAX_CPUS);
    iters = sdk_arg_u64("iters", 2000, 1u << 30);
    timeout_us = sdk_arg_u64("ap_timeout_ms", 5000, 600000) * 1000;
    sdk_printf("smp: expecting %u CPUs\n", expect);

    online = sdk_smp_start(expect, timeout_us, ap_main, NULL);
    report(0);
    start = sdk_now_ns();
    while ((done = sdk_atomic_load(&reported)) < sdk_cpus_online() &&
           sdk_now_ns() - start < timeout_us * 1000) {
        sdk_pause();
    }
    online = sdk_cpus_online();
    sdk_printf("smp: %u of %u CPUs reported in (%u online)\n", done, expect,
               online);
    if (online != expect || done != online) {
        sdk_printf("smp: FAIL: CPU count\n");
        ok = false;
    }
    if (!apic_ids_distinct(done < SDK_MAX_CPUS ? done : SDK_MAX_CPUS)) {
        ok = false;
    }
    if (bad_index) {
        sdk_printf("smp: FAIL: %u CPUs got a wrong index\n", bad_index);
        ok = false;
    }
    if (locked_sum != done * iters || atomic_sum != done * iters) {
        sdk_printf("smp: FAIL: sums %lu (lock) and %lu (atomic), want %lu\n",
                   (unsigned long)locked_sum, (unsigned long)atomic_sum,
                   (unsigned long)(done * iters));
        ok = false;
    }
    sdk_printf("smp: %s\n", ok ? "PASS" : "FAIL");
    return ok ? SDK_EXIT_PASS : SDK_EXIT_FAIL;
}
