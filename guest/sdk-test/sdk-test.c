/* SPDX-License-Identifier: MIT */
/*
 * sdk-test: the SDK's own checks, run inside a guest.  Each case prints
 * "PASS name" or "FAIL name: why"; the guest exits with SDK_EXIT_PASS
 * (status 33) when every case passed, SDK_EXIT_FAIL (35) otherwise.
 *
 * Cases: printf formatting, number parsing, the command line (the test
 * runner passes the words listed at check_cmdline()), string functions,
 * the allocator, the spinlock, the TSC conversions and delays, RDMSR through
 * the kernel call, a self-IPI taken in sdk_wait_interrupt(), and with two or
 * more CPUs an IPI that wakes another CPU sleeping in sdk_wait_interrupt().
 */
#include "sdk/sdk.h"

#define VEC_SELF 0x50
#define VEC_WAKE 0x51
#define MSR_APIC_BASE 0x1b

static unsigned failures;
static unsigned case_failures;
static const char *case_name;

SDK_PRINTF(1, 2) static void fail(const char *fmt, ...)
{
    char why[160];
    va_list ap;

    va_start(ap, fmt);
    sdk_vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    sdk_printf("FAIL %s: %s\n", case_name, why);
    case_failures++;
}

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fail("%s (line %d)", #cond, __LINE__);                             \
        }                                                                      \
    } while (0)

static void run(const char *name, void (*fn)(void))
{
    case_name = name;
    case_failures = 0;
    fn();
    if (case_failures) {
        failures++;
    } else {
        sdk_printf("PASS %s\n", name);
    }
}

/* snprintf into a buffer and compare with @want. */
#define FMT(want, ...)                                                         \
    do {                                                                       \
        char b_[96];                                                           \
        int n_ = sdk_snprintf(b_, sizeof(b_), __VA_ARGS__);                    \
        if (strcmp(b_, (want)) != 0 || n_ != (int)strlen(want)) {              \
            fail("format %s gave \"%s\" (%d), want \"%s\"", #__VA_ARGS__, b_,  \
                 n_, (want));                                                  \
        }                                                                      \
    } while (0)

static void check_printf(void)
{
    const char *volatile nothing = NULL;
    char small[4];

    FMT("-42", "%d", -42);
    FMT("   42|42   |", "%5d|%-5d|", 42, 42);
    FMT("-0042", "%05d", -42);
    FMT("  007", "%5.3d", 7);
    FMT("+5 5", "%+d% d", 5, 5);
    FMT("   7", "%*d", 4, 7);
    FMT("7   |", "%*d|", -4, 7);
    FMT("4294967295", "%u", 4294967295u);
    FMT("beef BEEF 0xff 0", "%x %X %#x %#x", 0xbeefu, 0xbeefu, 255u, 0u);
    FMT("deadbeefcafef00d", "%lx", 0xdeadbeefcafef00dul);
    FMT("18446744073709551615", "%lu", UINT64_MAX);
    FMT("-9223372036854775808", "%ld", INT64_MIN);
    FMT("-9223372036854775807", "%lld", -9223372036854775807ll);
    FMT("00000000000000ff", "%016lx", 255ul);
    FMT("abc|  abc|abc  |ab", "%s|%5s|%-5s|%.2s", "abc", "abc", "abc", "abc");
    FMT("(null)", "%s", nothing);
    FMT("x  x", "%c%3c", 'x', 'x');
    FMT("0x1234", "%p", (void *)0x1234);
    FMT("100%", "%d%%", 100);
    FMT("1 -1 123 10 017", "%hhu %hd %zu %o %#o", (unsigned char)257,
        (short)65535, (size_t)123, 8, 15);
    FMT("0", "%d", 0);
    FMT("", "%.0d", 0);
    CHECK(sdk_snprintf(small, sizeof(small), "hello") == 5);
    CHECK(strcmp(small, "hel") == 0);
    CHECK(sdk_snprintf(NULL, 0, "%d", 12345) == 5);
}

static void check_parse(void)
{
    static const struct {
        const char *s;
        bool ok;
        uint64_t v;
    } cases[] = {
        {"0", true, 0},
        {"123", true, 123},
        {"0x1f", true, 31},
        {"0XFF", true, 255},
        {"4k", true, 4096},
        {"2M", true, 2 << 20},
        {"16G", true, 16ull << 30},
        {"18446744073709551615", true, UINT64_MAX},
        {"18446744073709551616", false, 0},
        {"0xffffffffffffffff", true, UINT64_MAX},
        {"0x10000000000000000", false, 0},
        {"17179869184G", false, 0},
        {"", false, 0},
        {"0x", false, 0},
        {"12a", false, 0},
        {"-1", false, 0},
        {"4kk", false, 0},
    };
    unsigned i;

    for (i = 0; i < SDK_ARRAY_SIZE(cases); i++) {
        uint64_t v = 0xabababab;
        bool ok = sdk_parse_u64(cases[i].s, &v);

        if (ok != cases[i].ok || (ok && v != cases[i].v)) {
            fail("parse \"%s\": %d %lu", cases[i].s, ok, (unsigned long)v);
        } else if (!ok && v != 0xabababab) {
            fail("parse \"%s\" wrote its result on failure", cases[i].s);
        }
    }
}

/* The runner passes: alpha=1 beta= gamma flag=off num=0x10 dup=a dup=b */
static void check_cmdline(void)
{
    const char *s;

    CHECK((s = sdk_arg("alpha")) && strcmp(s, "1") == 0);
    CHECK((s = sdk_arg("beta")) && strcmp(s, "") == 0);
    CHECK((s = sdk_arg("gamma")) && strcmp(s, "") == 0);
    CHECK((s = sdk_arg("dup")) && strcmp(s, "b") == 0);
    CHECK(sdk_arg("missing") == NULL);
    CHECK(sdk_arg("alph") == NULL);
    CHECK(!sdk_arg_bool("flag", true));
    CHECK(sdk_arg_bool("gamma", false));
    CHECK(sdk_arg_bool("missing", true));
    CHECK(sdk_arg_u64("num", 0, 100) == 16);
    CHECK(sdk_arg_u64("missing", 7, 100) == 7);
    CHECK(sdk_arg_count() >= 7);
    CHECK(strncmp(sdk_cmdline(), "alpha=1 ", 8) == 0);
}

static void check_strings(void)
{
    char b[16];

    memcpy(b, "0123456789", 11);
    memmove(b + 2, b, 5); /* overlapping, forwards */
    CHECK(memcmp(b, "0101234789", 11) == 0);
    memcpy(b, "0123456789", 11);
    memmove(b, b + 3, 5); /* overlapping, backwards */
    CHECK(memcmp(b, "3456756789", 11) == 0);
    memset(b, 'z', 4);
    CHECK(memcmp(b, "zzzz", 4) == 0 && b[4] == '7');
    CHECK(memcmp("a\x80", "a\x01", 2) > 0);
    CHECK(strlen("") == 0 && strlen("abc") == 3);
    CHECK(strcmp("abc", "abd") < 0 && strcmp("b", "a") > 0);
    CHECK(strcmp("abc", "abc") == 0);
    CHECK(strncmp("abcx", "abcy", 3) == 0 && strncmp("ab", "abc", 3) < 0);
    CHECK(strchr("key=value", '=') != NULL && *strchr("key=value", '=') == '=');
    CHECK(strchr("abc", 'z') == NULL);
    CHECK(strchr("abc", '\0') != NULL);
}

static void check_alloc(void)
{
    uint8_t *a = sdk_alloc(100, 4096), *b = sdk_alloc(3, 1);
    uint8_t *c = sdk_alloc(1 << 20, 64);
    size_t i;

    CHECK(((uintptr_t)a & 4095) == 0);
    CHECK(((uintptr_t)b & 15) == 0 && b >= a + 100);
    CHECK(((uintptr_t)c & 63) == 0 && c >= b + 3);
    CHECK(sdk_memmap_is_ram((uintptr_t)a,
                            (uintptr_t)c + (1 << 20) - (uintptr_t)a));
    for (i = 0; i < (1 << 20); i++) {
        if (c[i]) {
            fail("byte %zu of a new block is %#x", i, c[i]);
            break;
        }
    }
    memset(a, 0xff, 100); /* the memory is there to use */
    CHECK(b[0] == 0);
}

static void check_spinlock(void)
{
    struct sdk_spinlock l = SDK_SPINLOCK_INIT;

    sdk_spin_lock(&l);
    CHECK(!sdk_spin_trylock(&l));
    sdk_spin_unlock(&l);
    CHECK(sdk_spin_trylock(&l));
    sdk_spin_unlock(&l);
}

static void check_time(void)
{
    uint64_t hz = sdk_tsc_hz(), t0, ns;

    sdk_printf("  tsc %lu Hz from %s\n", (unsigned long)hz, sdk_tsc_source());
    CHECK(hz > 100000000ull && hz < 20000000000ull);
    ns = sdk_tsc_to_ns(sdk_ns_to_tsc(1000000000ull));
    CHECK(ns > 999999000ull && ns < 1000001000ull);
    CHECK(sdk_tsc_to_ns(hz) == 1000000000ull);
    t0 = sdk_now_ns();
    sdk_delay_us(2000);
    ns = sdk_now_ns() - t0;
    CHECK(ns >= 2000000ull);
    CHECK(ns < 60000000000ull);
}

static void check_msr(void)
{
    uint64_t base = sdk_rdmsr(MSR_APIC_BASE);

    CHECK((base & 0xffffff000ull) == SDK_LAPIC_BASE);
    CHECK(base & (1u << 11)); /* APIC enabled */
    CHECK(base & (1u << 8));  /* this is the boot CPU */
}

static void check_self_ipi(void)
{
    uint32_t before = sdk_irq_count(VEC_SELF);
    int i;

    sdk_lapic_enable();
    for (i = 1; i <= 3; i++) {
        CHECK(sdk_send_ipi_self(VEC_SELF));
        /* Interrupts are off at CPL3: nothing is taken before the wait. */
        CHECK(sdk_irq_count(VEC_SELF) == before + (uint32_t)i - 1);
        sdk_wait_interrupt();
        CHECK(sdk_irq_count(VEC_SELF) == before + (uint32_t)i);
    }
}

static uint32_t ap_ready, ap_woken, ap_apic;

static void ap_sleeper(unsigned cpu, void *opaque)
{
    if (cpu != 1) {
        return;
    }
    sdk_lapic_enable();
    sdk_atomic_store(&ap_apic, sdk_apic_id());
    sdk_atomic_store(&ap_ready, 1);
    while (sdk_irq_count(VEC_WAKE) == 0) {
        sdk_wait_interrupt();
    }
    sdk_atomic_store(&ap_woken, 1);
}

static void check_ipi_wake(void)
{
    uint64_t t0;

    t0 = sdk_now_ns();
    while (!sdk_atomic_load(&ap_ready) && sdk_now_ns() - t0 < 10000000000ull) {
        sdk_pause();
    }
    CHECK(sdk_atomic_load(&ap_ready));
    CHECK(!sdk_atomic_load(&ap_woken));
    CHECK(sdk_send_ipi(sdk_atomic_load(&ap_apic), VEC_WAKE));
    t0 = sdk_now_ns();
    while (!sdk_atomic_load(&ap_woken) && sdk_now_ns() - t0 < 10000000000ull) {
        sdk_pause();
    }
    CHECK(sdk_atomic_load(&ap_woken));
    CHECK(sdk_irq_count(VEC_WAKE) == 1);
}

int guest_main(void)
{
    unsigned cpus = sdk_cpuid_cpu_count();

    sdk_printf("sdk-test: %u CPUs\n", cpus);
    run("printf", check_printf);
    run("parse", check_parse);
    run("cmdline", check_cmdline);
    run("strings", check_strings);
    run("alloc", check_alloc);
    run("spinlock", check_spinlock);
    run("time", check_time);
    run("msr", check_msr);
    run("self-ipi", check_self_ipi);
    if (cpus > 1) {
        if (sdk_smp_start(cpus, 5000000, ap_sleeper, NULL) != cpus) {
            case_name = "smp-start";
            fail("%u of %u CPUs came up", sdk_cpus_online(), cpus);
            failures++;
        } else {
            run("ipi-wake", check_ipi_wake);
        }
    }
    sdk_printf("sdk-test: %u failed\n", failures);
    return failures ? SDK_EXIT_FAIL : SDK_EXIT_PASS;
}
