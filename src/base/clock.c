/* SPDX-License-Identifier: MIT */
/*
 * Clocks.  REALTIME and HOST are clock_gettime() (vDSO).  VIRTUAL is
 * either "host time + bias" while it advances, or a frozen value while it
 * is stopped or deterministic.  Readers (any thread) take a lock-free
 * snapshot of that state through a seqlock; writers (stop/start/step/mode
 * changes, any thread) are serialised by g_vclock.lock and then call the
 * timer module's hook with no lock held.
 *
 * Monotonicity: every transition computes the new state from the current
 * virtual value, read inside the write section, so the value never jumps
 * back: stop freezes "host + bias", start picks bias = frozen - host.
 */
#include <loom/clock.h>

#include <errno.h>
#include <time.h>

#include <loom/thread.h>

#include "base/atomic.h"
#include "base/clock-int.h"
#include "base/compiler.h"

static struct {
    /* Serialises writers of the fields below. */
    struct loom_mutex lock;
    /* Readers snapshot advancing/bias/frozen through it. */
    struct loom_seqlock seq;
    /* Written under ->lock inside ->seq; read lock-free (relaxed). */
    bool advancing;     /* running && !deterministic */
    int64_t bias;       /* VIRTUAL - HOST while advancing */
    int64_t frozen;     /* VIRTUAL while not advancing */
    /* Written under ->lock; read lock-free (relaxed). */
    bool running;
    bool deterministic;
    /* Atomic; see loom__clock_set_virtual_hook(). */
    void (*hook)(void);
} g_vclock = {
    .lock = LOOM_MUTEX_INITIALIZER,
    .seq = LOOM_SEQLOCK_INITIALIZER,
    .advancing = true,
    .running = true,
};

static inline int64_t read_clock(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t virtual_ns(void)
{
    unsigned s;
    int64_t v;

    do {
        s = loom_seqlock_read_begin(&g_vclock.seq);
        if (loom__atomic_read(&g_vclock.advancing)) {
            /* Host time is read inside the section: see write_begin(). */
            v = read_clock(CLOCK_MONOTONIC) + loom__atomic_read(&g_vclock.bias);
        } else {
            v = loom__atomic_read(&g_vclock.frozen);
        }
    } while (loom_seqlock_read_retry(&g_vclock.seq, s));
    return v;
}

int64_t loom_clock_ns(enum loom_clock clock)
{
    switch (clock) {
    case LOOM_CLOCK_REALTIME:
        return read_clock(CLOCK_REALTIME);
    case LOOM_CLOCK_HOST:
        return read_clock(CLOCK_MONOTONIC);
    case LOOM_CLOCK_VIRTUAL:
        return virtual_ns();
    }
    return -EINVAL;
}

/*
 * Enter the write section; returns the virtual time now.  The full barrier
 * after the odd sequence makes the host clock read below come after it, so
 * a reader that finished without seeing the write read host time no later
 * than we do, and the value we freeze is not below what it returned.
 */
static int64_t write_begin(void)
{
    loom_mutex_lock(&g_vclock.lock);
    loom_seqlock_write_begin(&g_vclock.seq);
#ifndef LOOM_TSAN
    /*
     * Pairs with the seqlock reads in virtual_ns().  (TSan builds, which
     * do not model fences, do without: this orders a hardware clock read,
     * not memory accesses.)
     */
    loom__smp_mb();
#endif
    if (g_vclock.advancing) {
        return read_clock(CLOCK_MONOTONIC) + g_vclock.bias;
    }
    return g_vclock.frozen;
}

/* Leave the write section; call the hook if @notify. */
static void write_end(bool notify)
{
    void (*hook)(void);

    loom_seqlock_write_end(&g_vclock.seq);
    loom_mutex_unlock(&g_vclock.lock);
    if (notify) {
        /* Pairs with the release store in loom__clock_set_virtual_hook(). */
        hook = loom__atomic_load_acquire(&g_vclock.hook);
        if (hook) {
            hook();
        }
    }
}

/* Freeze at @now (held by the writer). */
static void freeze(int64_t now)
{
    loom__atomic_set(&g_vclock.frozen, now);
    loom__atomic_set(&g_vclock.advancing, false);
}

/* Advance from @now on (held by the writer). */
static void thaw(int64_t now)
{
    loom__atomic_set(&g_vclock.bias, now - read_clock(CLOCK_MONOTONIC));
    loom__atomic_set(&g_vclock.advancing, true);
}

void loom_clock_virtual_stop(void)
{
    int64_t now = write_begin();

    if (g_vclock.running) {
        freeze(now);
        loom__atomic_set(&g_vclock.running, false);
    }
    write_end(false);
}

void loom_clock_virtual_start(void)
{
    int64_t now = write_begin();
    bool notify = false;

    if (!g_vclock.running) {
        loom__atomic_set(&g_vclock.running, true);
        if (!g_vclock.deterministic) {
            thaw(now);
            notify = true;
        }
    }
    write_end(notify);
}

bool loom_clock_virtual_running(void)
{
    return loom__atomic_read(&g_vclock.running);
}

void loom_clock_virtual_set_deterministic(bool on)
{
    int64_t now = write_begin();
    bool notify = false;

    if (on && !g_vclock.deterministic) {
        freeze(now);
        loom__atomic_set(&g_vclock.deterministic, true);
    } else if (!on && g_vclock.deterministic) {
        loom__atomic_set(&g_vclock.deterministic, false);
        if (g_vclock.running) {
            thaw(now);
            notify = true;
        }
    }
    write_end(notify);
}

int loom_clock_virtual_step(int64_t ns)
{
    int64_t now;

    if (ns < 0) {
        return -EINVAL;
    }
    now = write_begin();
    if (!g_vclock.deterministic) {
        write_end(false);
        return -EINVAL;
    }
    /* Saturate rather than wrap. */
    freeze(now > INT64_MAX - ns ? INT64_MAX : now + ns);
    write_end(true);
    return 0;
}

void loom__clock_set_virtual_hook(void (*fn)(void))
{
    /* Pairs with the acquire load in write_end(). */
    loom__atomic_store_release(&g_vclock.hook, fn);
}

bool loom__clock_virtual_advancing(void)
{
    /*
     * Pairs with the seqlock write in the transitions: a caller that then
     * reads the clock sees at least this state.
     */
    return loom__atomic_load_acquire(&g_vclock.advancing);
}
