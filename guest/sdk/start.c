/* SPDX-License-Identifier: MIT */
/*
 * The boot CPU's C entry (from boot.S, at CPL3): console, hvm_start_info,
 * command line, clock, then guest_main() and the exit.  Also exit, panic
 * and the report of CPU exceptions (sdk_trap(), at CPL0); the CPU index
 * and parking.
 */
#include "sdk-int.h"

#define MEMMAP_MAX 128
#define FOUR_GIB (1ull << 32)

static const struct hvm_start_info *info;
static struct hvm_memmap_table_entry memmap[MEMMAP_MAX];
static unsigned memmap_count;

/* Whether [addr, addr + size) is inside the identity-mapped 4 GiB. */
static bool mapped(uint64_t addr, uint64_t size)
{
    return addr >= SDK_LOW_RESERVED_END && addr < FOUR_GIB &&
           size <= FOUR_GIB - addr;
}

static void read_start_info(uint32_t paddr)
{
    const struct hvm_memmap_table_entry *src;
    unsigned i, n;

    if (!mapped(paddr, sizeof(*info))) {
        sdk_panic("hvm_start_info at %#x is outside the mapped memory", paddr);
    }
    info = (const struct hvm_start_info *)(uintptr_t)paddr;
    if (info->magic != HVM_START_MAGIC) {
        sdk_panic("bad hvm_start_info magic %#x at %#x", info->magic, paddr);
    }
    if (info->cmdline_paddr && mapped(info->cmdline_paddr, 1)) {
        sdk__cmdline_init((const char *)(uintptr_t)info->cmdline_paddr,
                          FOUR_GIB - info->cmdline_paddr);
    } else {
        sdk__cmdline_init(NULL, 0);
    }
    if (info->version < 1 || !info->memmap_paddr) {
        return;
    }
    n = info->memmap_entries;
    if (n > MEMMAP_MAX) {
        sdk_printf("sdk: memory map has %u entries, using %u\n", n, MEMMAP_MAX);
        n = MEMMAP_MAX;
    }
    if (!mapped(info->memmap_paddr, (uint64_t)n * sizeof(*src))) {
        sdk_panic("memory map at %#lx is outside the mapped memory",
                  (unsigned long)info->memmap_paddr);
    }
    src = (const struct hvm_memmap_table_entry *)(uintptr_t)info->memmap_paddr;
    for (i = 0; i < n; i++) {
        memmap[i] = src[i];
    }
    memmap_count = n;
}

/* sdk_bsp_start() - the boot CPU's first C code.  Context: boot CPU. */
void sdk_bsp_start(uint32_t start_info_paddr)
{
    sdk__time_init();
    sdk__serial_init();
    sdk__smp_init();
    read_start_info(start_info_paddr);
    sdk_exit((unsigned)guest_main());
}

/* sdk_start_info() - the loader's hvm_start_info.  Context: any CPU. */
const struct hvm_start_info *sdk_start_info(void)
{
    return info;
}

/* sdk_memmap() - the memory map (a copy); *@count its entries. */
const struct hvm_memmap_table_entry *sdk_memmap(unsigned *count)
{
    *count = memmap_count;
    return memmap;
}

/* sdk_memmap_is_ram() - see sdk.h.  Context: any CPU. */
bool sdk_memmap_is_ram(uint64_t addr, uint64_t size)
{
    unsigned i;

    for (i = 0; i < memmap_count; i++) {
        const struct hvm_memmap_table_entry *e = &memmap[i];

        if (e->type == HVM_MEMMAP_RAM && addr >= e->addr &&
            addr - e->addr <= e->size && size <= e->size - (addr - e->addr)) {
            return true;
        }
    }
    return false;
}

static struct sdk_spinlock heap_lock;
static uint64_t heap_next, heap_end;

/* The heap: from the image's end to the end of its RAM entry (< 4 GiB). */
static void heap_init(void)
{
    uint64_t start = ((uintptr_t)__sdk_image_end + 4095) & ~4095ull;
    unsigned i;

    for (i = 0; i < memmap_count; i++) {
        const struct hvm_memmap_table_entry *e = &memmap[i];

        if (e->type == HVM_MEMMAP_RAM && start >= e->addr &&
            start - e->addr < e->size) {
            heap_end = e->size - (start - e->addr) > FOUR_GIB - start
                           ? FOUR_GIB
                           : start + (e->size - (start - e->addr));
            break;
        }
    }
    if (!heap_end) {
        sdk_panic("no RAM entry in the memory map holds %#lx",
                  (unsigned long)start);
    }
    heap_next = start;
}

/* sdk_alloc() - see sdk.h.  Context: any CPU. */
void *sdk_alloc(size_t size, size_t align)
{
    uint64_t at;

    if (align < 16) {
        align = 16;
    }
    sdk_spin_lock(&heap_lock);
    if (!heap_next) {
        heap_init();
    }
    at = (heap_next + align - 1) & ~((uint64_t)align - 1);
    if (at < heap_next || at > heap_end || size > heap_end - at) {
        sdk_spin_unlock(&heap_lock);
        sdk_panic("out of memory: %lu bytes, %lu left", (unsigned long)size,
                  (unsigned long)(heap_end - heap_next));
    }
    heap_next = at + size;
    sdk_spin_unlock(&heap_lock);
    return memset((void *)(uintptr_t)at, 0, size);
}

/* sdk_memmap_type_name() - "RAM", "reserved", ...  Context: any CPU. */
const char *sdk_memmap_type_name(uint32_t type)
{
    switch (type) {
    case HVM_MEMMAP_RAM:
        return "RAM";
    case HVM_MEMMAP_RESERVED:
        return "reserved";
    case HVM_MEMMAP_ACPI:
        return "ACPI";
    case HVM_MEMMAP_NVS:
        return "NVS";
    case HVM_MEMMAP_UNUSABLE:
        return "unusable";
    default:
        return "unknown";
    }
}

/* sdk_cpu_index() - see sdk.h.  Context: any CPU. */
unsigned sdk_cpu_index(void)
{
    uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
    uintptr_t u = (uintptr_t)sdk_stacks, k = (uintptr_t)sdk_kstacks;

    if (sp - u < ((uintptr_t)SDK_MAX_CPUS << SDK_STACK_SHIFT)) {
        return (unsigned)((sp - u) >> SDK_STACK_SHIFT);
    }
    if (sp - k < ((uintptr_t)SDK_MAX_CPUS << SDK_KSTACK_SHIFT)) {
        return (unsigned)((sp - k) >> SDK_KSTACK_SHIFT);
    }
    return SDK_MAX_CPUS; /* not on an SDK stack */
}

/* sdk_cpu_park() - see sdk.h.  Context: any CPU. */
void sdk_cpu_park(void)
{
    for (;;) {
        __asm__ volatile("call sdk_kcall_park" : : : "memory");
    }
}

/* sdk_exit() - see sdk.h.  Context: any CPU. */
void sdk_exit(unsigned value)
{
    sdk_outb(SDK_DEBUG_EXIT_PORT, (uint8_t)value);
    sdk_printf("sdk: exit %#x: no isa-debug-exit device, halting\n", value);
    sdk_cpu_park();
}

/* sdk_triple_fault() - see sdk.h.  Context: any CPU. */
void sdk_triple_fault(void)
{
    /* Volatile: the compiler must not drop stores it sees no reader for. */
    volatile uint64_t *gate = (volatile uint64_t *)sdk_idt;

    for (unsigned i = 0; i < 2 * 256; i++) {
        gate[i] = 0;
    }
    sdk_mb();
    for (;;) {
        __asm__ volatile("ud2" : : : "memory");
    }
}

/* sdk_i8042_reset() - see sdk.h.  Context: any CPU. */
void sdk_i8042_reset(void)
{
    sdk_outb(SDK_I8042_CMD_PORT, SDK_I8042_CMD_RESET);
}

/* Print with the console held (panic and trap reports). */
SDK_PRINTF(1, 2) static void trap_print(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    sdk__vprintf_locked(fmt, ap);
    va_end(ap);
}

/* sdk_panic() - see sdk.h.  Context: any CPU. */
void sdk_panic(const char *fmt, ...)
{
    static uint32_t panicking;
    va_list ap;

    if (sdk_atomic_xchg(&panicking, 1)) {
        sdk_exit(SDK_EXIT_PANIC); /* a panic while reporting one */
    }
    sdk__console_lock(true);
    trap_print("PANIC: ");
    va_start(ap, fmt);
    sdk__vprintf_locked(fmt, ap);
    va_end(ap);
    trap_print("\n");
    sdk__console_unlock();
    sdk_exit(SDK_EXIT_PANIC);
}

static const char *const exception_names[32] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS",
    "#NP", "#SS", "#GP", "#PF", "#15", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
    "#22", "#23", "#24", "#25", "#26", "#27", "#HV", "#VC", "#SX", "#31",
};

/*
 * sdk_trap() - report an unexpected exception and exit with
 * SDK_EXIT_TRAP.  Runs at CPL0 (slowly, on emulating hosts; it is the
 * failure path).  Context: any CPU, from isr.S.
 */
void sdk_trap(struct sdk_trap_frame *f)
{
    uint64_t cr2;

    __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
    sdk__console_lock(true);
    trap_print("TRAP: %s (vector %lu) error %#lx on CPU %u at CPL%lu\n",
               exception_names[f->vector & 31], (unsigned long)f->vector,
               (unsigned long)f->error, sdk_cpu_index(),
               (unsigned long)(f->cs & 3));
    trap_print("  rip %016lx rsp %016lx rflags %08lx cr2 %016lx\n",
               (unsigned long)f->rip, (unsigned long)f->rsp,
               (unsigned long)f->rflags, (unsigned long)cr2);
    trap_print("  rax %016lx rbx %016lx rcx %016lx rdx %016lx\n",
               (unsigned long)f->rax, (unsigned long)f->rbx,
               (unsigned long)f->rcx, (unsigned long)f->rdx);
    trap_print("  rsi %016lx rdi %016lx rbp %016lx r8  %016lx\n",
               (unsigned long)f->rsi, (unsigned long)f->rdi,
               (unsigned long)f->rbp, (unsigned long)f->r8);
    sdk__console_unlock();
    sdk_exit(SDK_EXIT_TRAP);
}
