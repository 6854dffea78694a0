/* SPDX-License-Identifier: MIT */
/*
 * lifecycle: the guest side of the machine's run-state tests.  It prints
 * "lifecycle: boot N" first (N counts the boots this RAM has seen: a word
 * at BOOTS_ADDR survives a reset on a monitor that keeps RAM, and is zero
 * on one that clears it), waits delay_ms, then does what action= says:
 *
 *   exit          print "lifecycle: done" and exit with SDK_EXIT_PASS (33);
 *   triple-fault  print "lifecycle: triple fault" and shut the CPU down;
 *   i8042         print "lifecycle: i8042 reset" and write 0xfe to port
 *                 0x64;
 *   idle          print "lifecycle: idle" and halt for good (hlt through
 *                 the SDK's kernel call, interrupts off);
 *   spin          print "lifecycle: spin" and spin at CPL3 for good.
 *
 * A triple fault never returns (the monitor resets the VM, ends it or
 * stops it).  When the i8042 write returns and nothing happens (QEMU
 * microvm has no i8042), the guest keeps running for wait_ms (2000),
 * prints "lifecycle: still running N ms after the i8042 reset" and exits
 * with SDK_EXIT_FAIL (35).
 */
#include "sdk/sdk.h"

/* 16 MiB: above the image, below any -m the tests use, never allocated. */
#define BOOTS_ADDR 0x1000000ull
#define BOOTS_MAGIC 0x6c6f6f6d626f6f74ull /* "loomboot" */

struct boots {
    uint64_t magic;
    uint64_t count;
};

/* This boot's number: 1 on fresh RAM, one more each boot if RAM stays. */
static uint64_t count_boot(void)
{
    volatile struct boots *b = (volatile struct boots *)(uintptr_t)BOOTS_ADDR;

    if (!sdk_memmap_is_ram(BOOTS_ADDR, sizeof(*b))) {
        return 0;
    }
    if (b->magic != BOOTS_MAGIC) {
        b->magic = BOOTS_MAGIC;
        b->count = 0;
    }
    b->count = b->count + 1;
    return b->count;
}

/* After a reset request that did not take: report and fail. */
static int survived(const char *what, uint64_t wait_ms)
{
    sdk_delay_us(wait_ms * 1000);
    sdk_printf("lifecycle: still running %lu ms after the %s\n",
               (unsigned long)wait_ms, what);
    return SDK_EXIT_FAIL;
}

int guest_main(void)
{
    const char *action = sdk_arg("action");
    uint64_t delay_ms = sdk_arg_u64("delay_ms", 0, 600000);
    uint64_t wait_ms = sdk_arg_u64("wait_ms", 2000, 600000);

    sdk_printf("lifecycle: boot %lu\n", (unsigned long)count_boot());
    if (!action) {
        action = "exit";
    }
    sdk_delay_us(delay_ms * 1000);
    if (strcmp(action, "exit") == 0) {
        sdk_printf("lifecycle: done\n");
        return SDK_EXIT_PASS;
    }
    if (strcmp(action, "triple-fault") == 0) {
        sdk_printf("lifecycle: triple fault\n");
        sdk_triple_fault();
    }
    if (strcmp(action, "i8042") == 0) {
        sdk_printf("lifecycle: i8042 reset\n");
        sdk_i8042_reset();
        return survived("i8042 reset", wait_ms);
    }
    if (strcmp(action, "idle") == 0) {
        sdk_printf("lifecycle: idle\n");
        sdk_cpu_park();
    }
    if (strcmp(action, "spin") == 0) {
        sdk_printf("lifecycle: spin\n");
        for (;;) {
            sdk_pause();
        }
    }
    sdk_printf("usage: action=%s: expected exit, triple-fault, i8042, idle "
               "or spin\n",
               action);
    return SDK_EXIT_USAGE;
}
