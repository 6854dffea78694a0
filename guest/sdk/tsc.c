/* SPDX-License-Identifier: MIT */
/*
 * Time from the TSC.  Its frequency comes from kvmclock when the
 * hypervisor offers it (the pvclock structure's multiplier and shift say
 * exactly how the host scales this guest's TSC), else from counting TSC
 * ticks across a known PIT channel 1 interval.  Calibrated once, on first
 * use, by whichever CPU gets there first.
 */
#include "sdk-int.h"

#define KVM_CPUID_SIGNATURE 0x40000000
#define KVM_CPUID_FEATURES 0x40000001
#define KVM_FEATURE_CLOCKSOURCE (1u << 0)
#define KVM_FEATURE_CLOCKSOURCE2 (1u << 3)
#define MSR_KVM_SYSTEM_TIME 0x12
#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01

#define PIT_HZ 1193182u
#define PIT_CAL_MS 25u
#define NS_PER_SEC 1000000000ull

/* The per-CPU structure kvmclock keeps up to date (Linux ABI). */
struct pvclock_vcpu_time_info {
    uint32_t version;
    uint32_t pad0;
    uint64_t tsc_timestamp;
    uint64_t system_time;
    uint32_t tsc_to_system_mul;
    int8_t tsc_shift;
    uint8_t flags;
    uint8_t pad[2];
} __attribute__((aligned(64)));

static uint64_t boot_tsc;
static uint64_t tsc_hz;   /* written once under cal_lock */
static uint32_t cal_done; /* 1 once tsc_hz is set (acquire/release) */
static const char *source;
static struct sdk_spinlock cal_lock;

static bool kvm_signature(uint32_t *max_leaf)
{
    struct sdk_cpuid r = sdk_cpuid(KVM_CPUID_SIGNATURE, 0);

    *max_leaf = r.eax;
    return r.ebx == 0x4b4d564b && r.ecx == 0x564b4d56 && r.edx == 0x4d;
}

/* The TSC frequency kvmclock implies, or 0 when it is not offered. */
static uint64_t kvmclock_hz(void)
{
    static struct pvclock_vcpu_time_info pv;
    volatile struct pvclock_vcpu_time_info *v = &pv;
    uint32_t max_leaf, features, msr, version, mul = 0, tries;
    int8_t shift = 0;
    uint64_t hz;

    if (!kvm_signature(&max_leaf) || max_leaf < KVM_CPUID_FEATURES) {
        return 0;
    }
    features = sdk_cpuid(KVM_CPUID_FEATURES, 0).eax;
    if (features & KVM_FEATURE_CLOCKSOURCE2) {
        msr = MSR_KVM_SYSTEM_TIME_NEW;
    } else if (features & KVM_FEATURE_CLOCKSOURCE) {
        msr = MSR_KVM_SYSTEM_TIME;
    } else {
        return 0;
    }
    sdk_wrmsr(msr, (uintptr_t)&pv | 1);
    for (tries = 0; tries < 1000000; tries++) {
        version = v->version;
        sdk_barrier();
        mul = v->tsc_to_system_mul;
        shift = v->tsc_shift;
        sdk_barrier();
        if (version && !(version & 1) && version == v->version) {
            break;
        }
        mul = 0;
        sdk_pause();
    }
    sdk_wrmsr(msr, 0); /* stop the updates: only the scale was needed */
    if (!mul) {
        return 0;
    }
    /* ns = ((ticks << shift) * mul) >> 32: hz = (2^32 * 1e9 / mul) >> shift */
    hz = (NS_PER_SEC << 32) / mul;
    return shift >= 0 ? hz >> shift : hz << -shift;
}

/*
 * Latch and read PIT channel 1's count.  The latch happened somewhere in
 * the command's exit: *@tsc is the middle of it, *@window its length.
 */
static uint16_t pit_read(uint64_t *tsc, uint64_t *window)
{
    uint64_t before = sdk_rdtsc(), after;
    uint8_t lo, hi;

    sdk_outb(0x43, 0x40); /* latch channel 1 */
    after = sdk_rdtsc();
    lo = sdk_inb(0x41);
    hi = sdk_inb(0x41);
    *tsc = before + (after - before) / 2;
    *window = after - before;
    return (uint16_t)(lo | hi << 8);
}

/*
 * Count TSC ticks while PIT channel 1 counts at least PIT_CAL_MS.
 * Channel 1 is the one whose gate is always on and whose output drives no
 * interrupt (channel 2's gate is port 0x61, which QEMU's microvm lacks).
 *
 * The vCPU may be descheduled at any point, for tens of milliseconds on a
 * loaded host, and how long a latch takes depends on the monitor (QEMU
 * emulates the PIT in userspace, loom-vm uses KVM's in-kernel one, whose
 * reads are faster but vary more).  So nothing here is relative to the
 * fastest read seen; instead:
 *
 *  - Each read's latch lies somewhere inside its window, so a measurement
 *    from read a to read b is off by at most (window a + window b) / 2 TSC
 *    ticks.  It ends only once that bound is below 1 / ERR_DIV of its
 *    span, which holds whatever the windows are, and a read with a
 *    window START_BETTER times shorter than the starting one's becomes
 *    the new start (the bound shrinks faster than the count restarts).
 *  - The 16-bit count wraps every 55 ms, so a long gap between two reads
 *    may hide whole periods.  Once the span so far is known to within
 *    1 / TRUST_DIV, it predicts how far the count moved over a gap; a gap
 *    that may have covered half a period starts the measurement over.
 *    Until then (the first fraction of a millisecond), a gap longer than
 *    GAP_SLACK times the shortest one does, which is still far below a
 *    period.
 */
#define ERR_DIV 2000
#define START_BETTER 4
#define TRUST_DIV 8
#define TRUST_TICKS 64
#define GAP_SLACK 64
#define HALF_WRAP 32768

struct pit_cal {
    bool counting;
    uint64_t t0, w0;  /* the start: TSC at the latch, its window */
    uint32_t elapsed; /* PIT ticks since the start */
};

/* Whether the gap @gap from the previous read (at @prev_t) may hide a wrap. */
static bool pit_gap_too_long(const struct pit_cal *c, uint64_t prev_t,
                             uint64_t prev_w, uint64_t gap, uint64_t min_gap)
{
    uint64_t span = prev_t - c->t0, per_tick;

    if (c->elapsed < TRUST_TICKS || (c->w0 + prev_w) * TRUST_DIV > 2 * span) {
        return gap > GAP_SLACK * min_gap;
    }
    per_tick = span / c->elapsed; /* TSC ticks per PIT tick, within 1/8 */
    if (!per_tick) {
        per_tick = 1;
    }
    return gap / per_tick >= HALF_WRAP;
}

static uint64_t pit_hz(void)
{
    uint32_t want = PIT_HZ / 1000 * PIT_CAL_MS, tries;
    uint64_t t, prev_t, win, prev_w, gap, start, min_gap = UINT64_MAX;
    struct pit_cal c = {.counting = false};
    uint16_t first, prev, now = 0;

    sdk_outb(0x43, 0x74); /* channel 1, lobyte/hibyte, mode 2, binary */
    sdk_outb(0x41, 0);
    sdk_outb(0x41, 0); /* reload 65536: wraps every 55 ms */
    first = pit_read(&start, &win);
    for (tries = 0; tries < 1000; tries++) {
        now = pit_read(&prev_t, &prev_w);
        if (now != first) {
            break;
        }
    }
    if (now == first) {
        return 0; /* the count does not move: no PIT */
    }
    prev = now;
    for (;;) {
        now = pit_read(&t, &win);
        gap = t - prev_t;
        min_gap = gap < min_gap ? gap : min_gap;
        if (c.counting) {
            if (pit_gap_too_long(&c, prev_t, prev_w, gap, min_gap)) {
                c.counting = false;
            } else {
                c.elapsed += (uint16_t)(prev - now); /* counts down, wraps */
            }
        }
        if (c.counting && c.elapsed >= want &&
            (c.w0 + win) * ERR_DIV <= 2 * (t - c.t0)) {
            return (t - c.t0) * PIT_HZ / c.elapsed;
        }
        if (!c.counting || win * START_BETTER < c.w0) {
            c = (struct pit_cal){.counting = true, .t0 = t, .w0 = win};
        }
        prev = now;
        prev_t = t;
        prev_w = win;
        if (t - start > (1ull << 40)) {
            return 0;
        }
    }
}

static void calibrate(void)
{
    const char *want = sdk_arg("sdk.clock");
    uint64_t hz = 0;

    if (want && strcmp(want, "kvmclock") != 0 && strcmp(want, "pit") != 0) {
        sdk_printf("usage: sdk.clock=%s: expected kvmclock or pit\n", want);
        sdk_exit(SDK_EXIT_USAGE);
    }
    if (!want || strcmp(want, "kvmclock") == 0) {
        hz = kvmclock_hz();
        source = "kvmclock";
    }
    if (!hz && (!want || strcmp(want, "pit") == 0)) {
        hz = pit_hz();
        source = "pit";
    }
    if (!hz) {
        sdk_panic("no clock to calibrate the TSC with (%s)",
                  want ? want : "kvmclock, pit");
    }
    tsc_hz = hz;
}

/* sdk__time_init() - note the boot TSC.  Context: boot CPU, at start-up. */
void sdk__time_init(void)
{
    boot_tsc = sdk_rdtsc();
}

/* sdk_tsc_hz() - see sdk.h.  Context: any CPU. */
uint64_t sdk_tsc_hz(void)
{
    if (!sdk_atomic_load(&cal_done)) {
        sdk_spin_lock(&cal_lock);
        if (!cal_done) {
            calibrate();
            sdk_atomic_store(&cal_done, 1);
        }
        sdk_spin_unlock(&cal_lock);
    }
    return tsc_hz;
}

/* sdk_tsc_source() - "kvmclock" or "pit".  Context: any CPU. */
const char *sdk_tsc_source(void)
{
    sdk_tsc_hz();
    return source;
}

/* sdk_tsc_to_ns() - TSC ticks to nanoseconds (64-bit safe below 18 GHz). */
uint64_t sdk_tsc_to_ns(uint64_t ticks)
{
    uint64_t hz = sdk_tsc_hz();

    return ticks / hz * NS_PER_SEC + ticks % hz * NS_PER_SEC / hz;
}

/* sdk_ns_to_tsc() - nanoseconds to TSC ticks.  Context: any CPU. */
uint64_t sdk_ns_to_tsc(uint64_t ns)
{
    uint64_t hz = sdk_tsc_hz();

    return ns / NS_PER_SEC * hz + ns % NS_PER_SEC * hz / NS_PER_SEC;
}

/* sdk_now_ns() - see sdk.h.  Context: any CPU. */
uint64_t sdk_now_ns(void)
{
    return sdk_tsc_to_ns(sdk_rdtsc() - boot_tsc);
}

/* sdk_delay_us() - spin for @us microseconds.  Context: any CPU. */
void sdk_delay_us(uint64_t us)
{
    uint64_t start = sdk_rdtsc(), ticks = sdk_ns_to_tsc(us * 1000);

    while (sdk_rdtsc() - start < ticks) {
        sdk_pause();
    }
}
