/* SPDX-License-Identifier: MIT */
/*
 * blk-bench: virtio-blk read performance as the guest sees it, timed with
 * the TSC.  On the first disk (or disk=N): 4 KiB random reads at queue
 * depth 1 (each request's latency), at queue depth 4 (time per request,
 * per round of `round` completions), and 1 MiB sequential reads (MB/s per
 * round of `seq_round` MiB).  Prints one line per figure in loom's
 * benchmark format (bench/README.md):
 *
 *   bench=blk-randread-4k-qd1 impl=IMPL value=MEDIAN min=MIN max=MAX
 *       runs=N unit=us
 *
 * with IMPL from impl= (default "guest": the guest cannot tell which
 * monitor runs it).  Exits with SDK_EXIT_PASS (33) when every request
 * completed with OK, SDK_EXIT_FAIL (35) otherwise.
 *
 * Command line: mode=poll|irq (poll), event_idx=off, indirect=on,
 * requests=N (QD1 requests, 2000), rounds=N (20), round=N (100),
 * seq_rounds=N (10), seq_round=N (16), warmup=N (100), seed=N (1),
 * impl=NAME, disk=N (0).
 */
#include "sdk/virtio-blk.h"

#define BLOCK 4096u
#define SEQ (1u << 20)
#define QD 4
#define MAX_RUNS 100000

static struct vblk d;
static uint64_t rng;
static uint64_t blocks; /* 4 KiB blocks on the disk */
static uint64_t errors;
static const char *impl;

static uint64_t next_random(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545f4914f6cdd1dull;
}

static void sort(uint64_t *v, unsigned n)
{
    static const unsigned gaps[] = {701, 301, 132, 57, 23, 10, 4, 1};
    unsigned g, i, j;

    for (g = 0; g < SDK_ARRAY_SIZE(gaps); g++) {
        for (i = gaps[g]; i < n; i++) {
            uint64_t t = v[i];

            for (j = i; j >= gaps[g] && v[j - gaps[g]] > t; j -= gaps[g]) {
                v[j] = v[j - gaps[g]];
            }
            v[j] = t;
        }
    }
}

/* Print "X.YY" for @milli thousandths. */
static void fixed(char *buf, size_t size, uint64_t milli)
{
    sdk_snprintf(buf, size, "%lu.%02lu", (unsigned long)(milli / 1000),
                 (unsigned long)(milli % 1000 / 10));
}

/* One result line from @n samples, in thousandths of @unit. */
static void report(const char *name, uint64_t *v, unsigned n, const char *unit)
{
    char med[24], lo[24], hi[24];

    if (!n) {
        return;
    }
    sort(v, n);
    fixed(med, sizeof(med), v[n / 2]);
    fixed(lo, sizeof(lo), v[0]);
    fixed(hi, sizeof(hi), v[n - 1]);
    sdk_printf("bench=%s impl=%s value=%s min=%s max=%s runs=%u unit=%s\n",
               name, impl, med, lo, hi, n, unit);
}

static void submit_read(struct vblk_req *r, uint64_t sector, uint32_t len)
{
    r->type = VIRTIO_BLK_T_IN;
    r->sector = sector;
    r->len = len;
    if (vblk_submit(&d, 0, r) < 0) {
        sdk_panic("blk-bench: submit failed");
    }
    vblk_kick(&d, 0);
}

static struct vblk_req *complete_one(void)
{
    struct vblk_req *r;

    while ((r = vblk_poll(&d, 0)) == NULL) {
        vblk_wait(&d);
    }
    if (r->status != VIRTIO_BLK_S_OK) {
        errors++;
    }
    return r;
}

static uint64_t random_sector(void)
{
    return next_random() % blocks * (BLOCK / VIRTIO_BLK_SECTOR_SIZE);
}

/* QD1: each request's own latency, in nanoseconds. */
static unsigned qd1(struct vblk_req *r, uint64_t *lat, unsigned n)
{
    unsigned i;

    for (i = 0; i < n; i++) {
        uint64_t t0 = sdk_rdtsc();

        submit_read(r, random_sector(), BLOCK);
        complete_one();
        lat[i] = sdk_tsc_to_ns(sdk_rdtsc() - t0);
    }
    return n;
}

/* QD4: rounds of @per completions with four always in flight. */
static unsigned qd4(struct vblk_req *reqs, uint64_t *per_req, unsigned rounds,
                    unsigned per)
{
    unsigned round, i;

    for (i = 0; i < QD; i++) {
        submit_read(&reqs[i], random_sector(), BLOCK);
    }
    for (round = 0; round < rounds; round++) {
        uint64_t t0 = sdk_rdtsc();

        for (i = 0; i < per; i++) {
            submit_read(complete_one(), random_sector(), BLOCK);
        }
        per_req[round] = sdk_tsc_to_ns(sdk_rdtsc() - t0) / per;
    }
    for (i = 0; i < QD; i++) {
        complete_one();
    }
    return rounds;
}

/* Sequential 1 MiB reads, one in flight; MB/s per round of @mib MiB. */
static unsigned seq(struct vblk_req *r, uint64_t *mbps, uint64_t *lat,
                    unsigned rounds, unsigned mib)
{
    uint64_t sector = 0, span = blocks * (BLOCK / VIRTIO_BLK_SECTOR_SIZE);
    uint64_t per_mib = SEQ / VIRTIO_BLK_SECTOR_SIZE;
    unsigned round, i, n = 0;

    for (round = 0; round < rounds; round++) {
        uint64_t t0 = sdk_rdtsc(), ns;

        for (i = 0; i < mib; i++) {
            uint64_t t1 = sdk_rdtsc();

            if (sector + per_mib > span) {
                sector = 0;
            }
            submit_read(r, sector, SEQ);
            complete_one();
            sector += per_mib;
            if (n < MAX_RUNS) {
                lat[n++] = sdk_tsc_to_ns(sdk_rdtsc() - t1);
            }
        }
        ns = sdk_tsc_to_ns(sdk_rdtsc() - t0);
        /* MB/s in thousandths: bytes * 1e3 / ns * 1e3 / 1e6 * 1e3. */
        mbps[round] = (uint64_t)mib * SEQ * 1000000ull / (ns ? ns : 1);
    }
    return n;
}

int guest_main(void)
{
    struct virtio_mmio_dev devs[VIRTIO_MMIO_SLOTS];
    struct vblk_options opt;
    struct vblk_req *reqs;
    unsigned n, which, requests, rounds, per, seq_rounds, seq_mib, i;
    uint64_t *lat, *samples;
    uint8_t *bufs;
    int r;

    vblk_options_from_cmdline(&opt);
    opt.queues = 1;
    impl = sdk_arg("impl") ? sdk_arg("impl") : "guest";
    rng = sdk_arg_u64("seed", 1, UINT64_MAX) | 1;
    requests = (unsigned)sdk_arg_u64("requests", 2000, MAX_RUNS);
    rounds = (unsigned)sdk_arg_u64("rounds", 20, 1000);
    per = (unsigned)sdk_arg_u64("round", 100, 100000);
    seq_rounds = (unsigned)sdk_arg_u64("seq_rounds", 10, 1000);
    seq_mib = (unsigned)sdk_arg_u64("seq_round", 16, 4096);
    which = (unsigned)sdk_arg_u64("disk", 0, VIRTIO_MMIO_SLOTS - 1);

    n = virtio_mmio_find(VIRTIO_ID_BLOCK, devs, VIRTIO_MMIO_SLOTS);
    if (which >= n) {
        sdk_printf("blk-bench: FAIL: no disk %u (%u found)\n", which, n);
        return SDK_EXIT_FAIL;
    }
    r = vblk_init(&d, &devs[which], &opt);
    if (r < 0) {
        sdk_printf("blk-bench: FAIL: init: error %d\n", r);
        return SDK_EXIT_FAIL;
    }
    blocks = d.capacity / (BLOCK / VIRTIO_BLK_SECTOR_SIZE);
    if (blocks < SEQ / BLOCK) {
        sdk_printf("blk-bench: FAIL: disk smaller than 1 MiB\n");
        return SDK_EXIT_FAIL;
    }
    sdk_printf("blk-bench: virtio-mmio v%u, %lu MiB, %s mode%s%s, "
               "tsc %lu kHz (%s)\n",
               d.dev.version, (unsigned long)(d.capacity >> 11),
               opt.irq ? "interrupt" : "polling",
               d.event_idx ? ", event-idx" : "", d.indirect ? ", indirect" : "",
               (unsigned long)(sdk_tsc_hz() / 1000), sdk_tsc_source());

    reqs = sdk_alloc(QD * sizeof(*reqs), 64);
    bufs = sdk_alloc(QD * BLOCK + SEQ, 4096);
    for (i = 0; i < QD; i++) {
        reqs[i].buf = bufs + i * BLOCK;
    }
    lat = sdk_alloc(MAX_RUNS * sizeof(*lat), 8);
    samples = sdk_alloc(1000 * sizeof(*samples), 8);

    qd1(&reqs[0], lat, (unsigned)sdk_arg_u64("warmup", 100, MAX_RUNS));
    /* Samples are in nanoseconds: thousandths of the unit, us. */
    n = qd1(&reqs[0], lat, requests);
    report("blk-randread-4k-qd1", lat, n, "us");
    n = qd4(reqs, samples, rounds, per);
    report("blk-randread-4k-qd4", samples, n, "us");

    reqs[0].buf = bufs + QD * BLOCK;
    n = seq(&reqs[0], samples, lat, seq_rounds, seq_mib);
    report("blk-seqread-1m", samples, seq_rounds, "MB/s");
    report("blk-seqread-1m-latency", lat, n, "us");

    sdk_printf("blk-bench: %lu requests, %lu errors, %lu notifies, "
               "%lu suppressed, %lu sleeps\n",
               (unsigned long)d.stats.completed, (unsigned long)errors,
               (unsigned long)d.stats.notifies,
               (unsigned long)d.stats.suppressed, (unsigned long)d.stats.waits);
    vblk_reset(&d);
    return errors ? SDK_EXIT_FAIL : SDK_EXIT_PASS;
}
