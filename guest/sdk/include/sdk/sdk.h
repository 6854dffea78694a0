/* SPDX-License-Identifier: MIT */
/*
 * The micro-guest SDK: what a bundled guest sees.  A guest defines
 * guest_main(); the runtime calls it on the boot CPU at CPL3 once the
 * console, the command line and the memory map are ready, and exits with
 * its return value through isa-debug-exit.  See guest/README.md.
 *
 * Contexts: "any CPU" functions may run on every CPU at once; "boot CPU"
 * ones only on CPU 0.  Everything runs at CPL3 except the SDK's exception
 * report, which runs at CPL0.
 */
#ifndef SDK_SDK_H
#define SDK_SDK_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sdk/pvh.h"
#include "sdk/x86.h"

#define SDK_NORETURN __attribute__((noreturn))
#define SDK_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define SDK_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/**
 * enum sdk_exit - values written to isa-debug-exit.  QEMU and loom-vm
 * exit with (value << 1) | 1, given in parentheses.
 * @SDK_EXIT_PASS: (33) the guest did what it was asked.
 * @SDK_EXIT_FAIL: (35) a check the guest makes failed.
 * @SDK_EXIT_PANIC: (37) sdk_panic() or a failed SDK_ASSERT().
 * @SDK_EXIT_TRAP: (39) an unexpected CPU exception.
 * @SDK_EXIT_USAGE: (41) a bad command-line argument.
 */
enum sdk_exit {
    SDK_EXIT_PASS = 0x10,
    SDK_EXIT_FAIL = 0x11,
    SDK_EXIT_PANIC = 0x12,
    SDK_EXIT_TRAP = 0x13,
    SDK_EXIT_USAGE = 0x14,
};

/**
 * guest_main() - the guest's program, provided by the guest.
 *
 * Context: boot CPU, at CPL3, interrupts off.
 * Return: an enum sdk_exit value, passed to sdk_exit().
 */
int guest_main(void);

/* Error codes returned as negative values (Linux's numbers). */
#define SDK_EIO 5
#define SDK_EAGAIN 11
#define SDK_ENOMEM 12
#define SDK_ENODEV 19
#define SDK_EINVAL 22
#define SDK_ENOTSUP 95

/* ---- exit, panic ---- */

/**
 * sdk_exit() - end the VM by writing @value to isa-debug-exit (port
 * 0x501).  Without that device, print a note and park this CPU.
 * @value: an enum sdk_exit value (or any byte).
 *
 * Context: any CPU.
 */
SDK_NORETURN void sdk_exit(unsigned value);

/**
 * sdk_triple_fault() - reset the machine the hard way: clear every gate of
 * the IDT (from CPL3: the tables are ordinary memory) and raise #UD.  The
 * CPU can deliver neither it, nor the #NP for its missing gate, nor the
 * double fault that follows, and shuts down; the monitor then resets the
 * VM, or ends it under -no-reboot.
 *
 * Context: any CPU; the other CPUs lose their IDT too.
 */
SDK_NORETURN void sdk_triple_fault(void);

/**
 * sdk_i8042_reset() - ask for a reset through the keyboard controller
 * (0xfe to port 0x64, PC reset line pulse).  Returns when the machine has
 * no such controller (QEMU microvm ignores the write).
 *
 * Context: any CPU.
 */
void sdk_i8042_reset(void);

/**
 * sdk_panic() - print "PANIC: <message>" and exit with SDK_EXIT_PANIC.
 * @fmt: printf format of the message.
 *
 * Context: any CPU.
 */
SDK_NORETURN SDK_PRINTF(1, 2) void sdk_panic(const char *fmt, ...);

/* SDK_ASSERT() - panic with the condition, file and line unless @cond. */
#define SDK_ASSERT(cond)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            sdk_panic("assertion failed: %s at %s:%d", #cond, __FILE__,        \
                      __LINE__);                                               \
        }                                                                      \
    } while (0)

/* ---- console (COM1) ---- */

/**
 * sdk_printf() - formatted output on COM1, one call's output kept together
 * (a console lock).  Conversions: %d %i %u %x %X %o %c %s %p %%, flags
 * '-' '0' ' ' '+' '#', a width and a precision (digits or '*'), length
 * modifiers hh h l ll z t j.  No floating point.
 * @fmt: the format.
 *
 * Context: any CPU.
 * Return: the number of bytes written.
 */
SDK_PRINTF(1, 2) int sdk_printf(const char *fmt, ...);

/**
 * sdk_vprintf() - sdk_printf() with a va_list.
 * @fmt: the format.
 * @ap: its arguments.
 *
 * Context: any CPU.
 * Return: the number of bytes written.
 */
int sdk_vprintf(const char *fmt, va_list ap);

/**
 * sdk_snprintf() - format into @buf, NUL-terminated whenever @size > 0.
 * @buf: the buffer (may be NULL when @size is 0).
 * @size: its size.
 * @fmt: the format, as for sdk_printf().
 *
 * Context: any CPU.
 * Return: the length the whole output has, even where it was cut short.
 */
SDK_PRINTF(3, 4) int sdk_snprintf(char *buf, size_t size, const char *fmt, ...);

/**
 * sdk_vsnprintf() - sdk_snprintf() with a va_list.
 * @buf: the buffer.
 * @size: its size.
 * @fmt: the format.
 * @ap: its arguments.
 *
 * Context: any CPU.
 * Return: as sdk_snprintf().
 */
int sdk_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);

/**
 * sdk_puts() - write @s as it is (no newline added).
 * @s: the string.
 *
 * Context: any CPU.
 */
void sdk_puts(const char *s);

/* ---- command line ---- */

/*
 * hvm_start_info's command line, split at blanks into words; "key=value"
 * has a value, a bare word has the value "".  A later word wins over an
 * earlier one with the same key.  All read-only after start-up.
 */

/**
 * sdk_cmdline() - the whole command line ("" without one).
 *
 * Context: any CPU.
 */
const char *sdk_cmdline(void);

/**
 * sdk_arg_count() - the number of words.
 *
 * Context: any CPU.
 */
unsigned sdk_arg_count(void);

/**
 * sdk_arg_key() - word @i's key; sdk_arg_value(): its value.
 * @i: 0 .. sdk_arg_count() - 1.
 *
 * Context: any CPU.
 * Return: the string, or NULL when @i is out of range.
 */
const char *sdk_arg_key(unsigned i);
const char *sdk_arg_value(unsigned i);

/**
 * sdk_arg() - look @key up.
 * @key: the key.
 *
 * Context: any CPU.
 * Return: its value, "" for a bare word, NULL when absent.
 */
const char *sdk_arg(const char *key);

/**
 * sdk_arg_u64() - @key as a number: decimal, or hexadecimal with 0x, with
 * an optional k, M or G suffix (powers of 1024).  A malformed value, or
 * one above @max, ends the guest with SDK_EXIT_USAGE and a message.
 * @key: the key.
 * @dflt: the result when @key is absent.
 * @max: the largest value accepted.
 *
 * Context: any CPU.
 */
uint64_t sdk_arg_u64(const char *key, uint64_t dflt, uint64_t max);

/**
 * sdk_arg_bool() - @key as on/off, yes/no, true/false or 1/0; a bare word
 * is true.  Anything else ends the guest with SDK_EXIT_USAGE.
 * @key: the key.
 * @dflt: the result when @key is absent.
 *
 * Context: any CPU.
 */
bool sdk_arg_bool(const char *key, bool dflt);

/**
 * sdk_parse_u64() - parse @s as sdk_arg_u64() does.
 * @s: the text.
 * @ret: the value, written only on success.
 *
 * Context: any CPU.
 * Return: false when @s is malformed or does not fit 64 bits.
 */
bool sdk_parse_u64(const char *s, uint64_t *ret);

/* ---- start info, memory map ---- */

/**
 * sdk_start_info() - the loader's hvm_start_info (its magic checked).
 *
 * Context: any CPU.
 */
const struct hvm_start_info *sdk_start_info(void);

/**
 * sdk_memmap() - the start_info memory map, as copied at start-up (at most
 * 128 entries, as the loader gave them).
 * @count: receives the number of entries.
 *
 * Context: any CPU.
 */
const struct hvm_memmap_table_entry *sdk_memmap(unsigned *count);

/**
 * sdk_memmap_is_ram() - whether [@addr, @addr + @size) lies inside one RAM
 * entry of the memory map.
 * @addr: the start.
 * @size: the length.
 *
 * Context: any CPU.
 */
bool sdk_memmap_is_ram(uint64_t addr, uint64_t size);

/**
 * sdk_memmap_type_name() - "RAM", "reserved", "ACPI", "NVS", "unusable" or
 * "unknown".
 * @type: an HVM_MEMMAP_* type.
 *
 * Context: any CPU.
 */
const char *sdk_memmap_type_name(uint32_t type);

/**
 * sdk_alloc() - zeroed memory from the RAM after the image, never freed
 * (a bump allocator over the memory-map entry the image sits in, below
 * 4 GiB).  Panics when it runs out.
 * @size: bytes.
 * @align: a power of two (at least 16 is used).
 *
 * Context: any CPU.
 * Return: the memory; its address is also its physical address.
 */
void *sdk_alloc(size_t size, size_t align);

/* ---- time ---- */

/**
 * sdk_tsc_hz() - the TSC frequency, calibrated on first use: from kvmclock
 * (its pvclock scale) when CPUID offers it, else by counting TSC ticks
 * over at least 25 ms of PIT channel 1 (within 0.05% by construction).
 * The word sdk.clock=kvmclock|pit forces a source; a source that cannot
 * be used panics.
 *
 * Context: any CPU.
 */
uint64_t sdk_tsc_hz(void);

/**
 * sdk_tsc_source() - "kvmclock" or "pit": where sdk_tsc_hz() came from.
 *
 * Context: any CPU.
 */
const char *sdk_tsc_source(void);

/**
 * sdk_tsc_to_ns() - @ticks of the TSC in nanoseconds; sdk_ns_to_tsc():
 * the reverse.  Exact to the nanosecond in 64-bit arithmetic for TSCs
 * below 18 GHz.
 *
 * Context: any CPU.
 */
uint64_t sdk_tsc_to_ns(uint64_t ticks);
uint64_t sdk_ns_to_tsc(uint64_t ns);

/**
 * sdk_now_ns() - nanoseconds since the boot CPU entered C.
 *
 * Context: any CPU.
 */
uint64_t sdk_now_ns(void);

/**
 * sdk_delay_us() - spin on the TSC for @us microseconds.
 * @us: the delay.
 *
 * Context: any CPU.
 */
void sdk_delay_us(uint64_t us);

/* ---- CPUs ---- */

/**
 * sdk_cpu_index() - this CPU's index: 0 for the boot CPU, then the APs in
 * order of arrival.  Derived from the stack pointer (each CPU has its own
 * stacks), so it costs no exit.
 *
 * Context: any CPU, on an SDK stack.
 * Return: the index, or SDK_MAX_CPUS when not on an SDK stack.
 */
unsigned sdk_cpu_index(void);

/**
 * sdk_apic_id() - this CPU's APIC ID from CPUID (leaf 0xb's x2APIC ID,
 * else leaf 1's initial APIC ID).
 *
 * Context: any CPU.
 */
uint32_t sdk_apic_id(void);

/**
 * sdk_cpus_online() - CPUs that have reached C so far.
 *
 * Context: any CPU.
 */
unsigned sdk_cpus_online(void);

/**
 * sdk_cpuid_cpu_count() - the CPU count CPUID describes, assuming one
 * package: the logical processors of leaf 0xb's last level, else leaf 1's
 * count when HTT is set, else 1.  QEMU and loom-vm give -smp N as N.
 *
 * Context: any CPU.
 */
unsigned sdk_cpuid_cpu_count(void);

typedef void sdk_cpu_fn(unsigned cpu, void *opaque);

/**
 * sdk_smp_start() - start the application processors: copy the real-mode
 * trampoline to SDK_AP_TRAMPOLINE (which must be RAM in the memory map),
 * broadcast INIT and two SIPIs to all CPUs but this one, and wait until
 * @expect CPUs (this one included) are online or @timeout_us has passed.
 * Each AP calls @fn at CPL3 on its own stack and then parks.  Callable
 * once; APs beyond SDK_MAX_CPUS halt without running anything.
 * @expect: CPUs to wait for; 0 waits the whole timeout.
 * @timeout_us: the longest wait.
 * @fn: what each AP runs (may be NULL).
 * @opaque: its second argument.
 *
 * Context: boot CPU.
 * Return: the number of CPUs online when the wait ended.
 */
unsigned sdk_smp_start(unsigned expect, uint64_t timeout_us, sdk_cpu_fn *fn,
                       void *opaque);

/**
 * sdk_cpu_park() - halt this CPU for good (interrupts off).
 *
 * Context: any CPU.
 */
SDK_NORETURN void sdk_cpu_park(void);

/* ---- locks and atomics ---- */

struct sdk_spinlock {
    uint32_t locked;
};

/* clang-format off */
#define SDK_SPINLOCK_INIT {0}
/* clang-format on */

/**
 * sdk_spin_lock() - take @l, spinning with pause; sdk_spin_trylock():
 * take it only if free (true if taken); sdk_spin_unlock(): release it.
 * Not recursive.
 * @l: the lock.
 *
 * Context: any CPU.
 */
void sdk_spin_lock(struct sdk_spinlock *l);
bool sdk_spin_trylock(struct sdk_spinlock *l);
void sdk_spin_unlock(struct sdk_spinlock *l);

/* Atomics on 1-, 2-, 4- and 8-byte objects (never cmpxchg16b). */
#define sdk_atomic_load(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define sdk_atomic_store(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define sdk_atomic_fetch_add(p, v)                                             \
    __atomic_fetch_add((p), (v), __ATOMIC_SEQ_CST)
#define sdk_atomic_xchg(p, v) __atomic_exchange_n((p), (v), __ATOMIC_SEQ_CST)
#define sdk_atomic_cmpxchg(p, expp, v)                                         \
    __atomic_compare_exchange_n((p), (expp), (v), false, __ATOMIC_SEQ_CST,     \
                                __ATOMIC_SEQ_CST)

/* ---- interrupts ---- */

/**
 * sdk_lapic_enable() - let this CPU's local APIC accept interrupts:
 * software-enabled with SDK_VEC_SPURIOUS, the local vectors (timer, LINT0,
 * LINT1, error) masked, priority 0.  Interrupts are then taken only inside
 * sdk_wait_interrupt().
 *
 * Context: any CPU, for its own APIC.
 */
void sdk_lapic_enable(void);

/**
 * sdk_send_ipi() - send fixed interrupt @vector to the CPU whose xAPIC ID
 * is @apic_id; sdk_send_ipi_self(): to this CPU.
 * @apic_id: the destination (physical mode).
 * @vector: 0x20-0xfe.
 *
 * Context: any CPU.
 * Return: false if the APIC never reports the IPI sent.
 */
bool sdk_send_ipi(uint32_t apic_id, uint8_t vector);
bool sdk_send_ipi_self(uint8_t vector);

/**
 * sdk_ioapic_route() - deliver IOAPIC input @pin as @vector to the CPU
 * with APIC ID @apic_id (fixed, physical), edge-triggered active-high
 * unless @level, and unmask it; sdk_ioapic_mask() masks it again.
 * @pin: 0-23 (QEMU's microvm: virtio-mmio slot i is pin 5 + i).
 * @vector: 0x20-0xfe; SDK_VEC_IRQ_BASE + @pin by convention.
 * @apic_id: the destination.
 * @level: level-triggered.
 *
 * Context: any CPU.
 */
void sdk_ioapic_route(unsigned pin, uint8_t vector, uint32_t apic_id,
                      bool level);
void sdk_ioapic_mask(unsigned pin);

/**
 * sdk_irq_count() - how many times vector @vec was taken, on all CPUs.
 * @vec: the vector.
 *
 * Context: any CPU.
 */
uint32_t sdk_irq_count(unsigned vec);

/* ---- strings (freestanding; the compiler may also call these) ---- */

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);

#endif /* SDK_SDK_H */
