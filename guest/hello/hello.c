/* SPDX-License-Identifier: MIT */
/*
 * hello: the first guest to boot.  Prints a banner, the memory map from
 * hvm_start_info, the CPU count (it starts every CPU and counts those that
 * arrive), the TSC frequency and the command line, then exits through
 * isa-debug-exit with SDK_EXIT_PASS (status 33).
 *
 * Command line: cpus=N (expected CPU count: exit with SDK_EXIT_FAIL, 35,
 * when a different number arrives; default: CPUID's count), smp=off (do not
 * start the APs), ap_timeout_ms=N (how long to wait for them, default
 * 2000), crash=panic|assert|trap (test the SDK's failure paths).
 */
#include "sdk/sdk.h"

static void crash(const char *how)
{
    if (strcmp(how, "panic") == 0) {
        sdk_panic("crash=%s requested", how);
    }
    if (strcmp(how, "assert") == 0) {
        SDK_ASSERT(strcmp(how, "panic") == 0);
    }
    if (strcmp(how, "trap") == 0) {
        *(volatile uint32_t *)(uintptr_t)(1ull << 40) = 1; /* not mapped */
    }
    sdk_printf("usage: crash=%s: expected panic, assert or trap\n", how);
    sdk_exit(SDK_EXIT_USAGE);
}

int guest_main(void)
{
    const struct hvm_memmap_table_entry *map;
    unsigned n, i, cpus, expect;
    uint64_t ram = 0, hz;
    const char *how;

    sdk_printf("loom micro-guest: hello\n");
    how = sdk_arg("crash");
    if (how) {
        crash(how);
    }
    map = sdk_memmap(&n);
    sdk_printf("memory map: %u entries\n", n);
    for (i = 0; i < n; i++) {
        sdk_printf("  base 0x%016lx size 0x%016lx type %u (%s)\n",
                   (unsigned long)map[i].addr, (unsigned long)map[i].size,
                   map[i].type, sdk_memmap_type_name(map[i].type));
        if (map[i].type == HVM_MEMMAP_RAM) {
            ram += map[i].size;
        }
    }
    sdk_printf("ram: %lu KiB\n", (unsigned long)(ram >> 10));
    expect = (unsigned)sdk_arg_u64("cpus", sdk_cpuid_cpu_count(), SDK_MAX_CPUS);
    if (sdk_arg_bool("smp", true)) {
        cpus = sdk_smp_start(expect,
                             sdk_arg_u64("ap_timeout_ms", 2000, 600000) * 1000,
                             NULL, NULL);
    } else {
        cpus = 1;
    }
    sdk_printf("cpus: %u (expected %u)\n", cpus, expect);
    hz = sdk_tsc_hz();
    sdk_printf("tsc: %lu kHz (%s)\n", (unsigned long)(hz / 1000),
               sdk_tsc_source());
    sdk_printf("cmdline: %s\n", sdk_cmdline());
    for (i = 0; i < sdk_arg_count(); i++) {
        sdk_printf("  arg %u: %s = \"%s\"\n", i, sdk_arg_key(i),
                   sdk_arg_value(i));
    }
    if (cpus != expect) {
        sdk_printf("hello: FAIL: %u CPUs arrived, expected %u\n", cpus, expect);
        return SDK_EXIT_FAIL;
    }
    sdk_printf("hello: done\n");
    return SDK_EXIT_PASS;
}
