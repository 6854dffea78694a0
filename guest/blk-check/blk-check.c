/* SPDX-License-Identifier: MIT */
/*
 * blk-check: exercises every virtio-blk disk it finds and prints one line
 * per case, "PASS vdX/case" or "FAIL vdX/case: why" (or "SKIP vdX/case:
 * why" for a feature the device does not offer); exits with SDK_EXIT_PASS
 * (33) when every case passed, else SDK_EXIT_FAIL (35).  Disks are named
 * vda, vdb, ... in the order of the monitor's -device options.
 *
 * A writable disk: the pattern (sdk/pattern.h, seed `seed`) written over
 * the whole disk with up to `qd` requests in flight spread over its
 * queues, read back in mixed sizes and checked; FLUSH; GET_ID (compared
 * with `serial` when given); WRITE_ZEROES over a range, read back as
 * zeros; DISCARD over another range, then the pattern written there
 * again; reads and writes past the capacity, and a DISCARD and a
 * WRITE_ZEROES past it, expecting IOERR; an unknown request type
 * expecting UNSUPP.  It ends holding the pattern everywhere except the
 * zeroed range, which it prints ("image: seed S zero SECTOR+COUNT") so
 * that the host can verify the image byte for byte.
 *
 * A read-only disk (VIRTIO_BLK_F_RO): reads (checked against the pattern
 * of `ro_seed` when given), FLUSH, GET_ID (against `ro_serial`), and OUT
 * and WRITE_ZEROES expecting IOERR.  What a DISCARD gets is only printed
 * ("INFO"): QEMU answers OK, as its default discard=ignore drops it.
 *
 * With passes=N the pattern is written and read back N times, pass p
 * with seed `seed` + p (the image line gives the last one): long,
 * continuous I/O for tests that change the device meanwhile.  With
 * stay=on the guest does not exit at the end: it prints "blk-check:
 * staying" and halts for good, so that the host can still look at the
 * device.
 *
 * Command line: mode=poll|irq (poll), level=on (level-triggered IOAPIC
 * input in irq mode), event_idx=off, indirect=on, queues=N (0: all),
 * queue_size=N, qd=N (8), seed=N (1), ro_seed=N, serial=S, ro_serial=S,
 * disks=N (fail unless exactly N disks are found), passes=N (1),
 * stay=on.
 */
#include "sdk/pattern.h"
#include "sdk/virtio-blk.h"

#define MAX_DISKS 8
#define MAX_QD 64
#define CHUNK (64u << 10)
#define SECTOR VIRTIO_BLK_SECTOR_SIZE
#define UNKNOWN_TYPE 0x55

static unsigned failures;
static char disk_name[8];
static uint64_t seed;
static unsigned qd;

SDK_PRINTF(2, 3) static void result(bool ok, const char *fmt, ...)
{
    char what[160];
    va_list ap;

    va_start(ap, fmt);
    sdk_vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (!ok) {
        failures++;
    }
    sdk_printf("%s %s/%s\n", ok ? "PASS" : "FAIL", disk_name, what);
}

SDK_PRINTF(1, 2) static void skip(const char *fmt, ...)
{
    char what[160];
    va_list ap;

    va_start(ap, fmt);
    sdk_vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    sdk_printf("SKIP %s/%s\n", disk_name, what);
}

static void fill(void *buf, uint64_t off, uint32_t len, uint64_t s)
{
    uint64_t *w = buf;
    uint32_t i;

    for (i = 0; i < len / 8; i++) {
        w[i] = sdk_pattern_word(s, off + 8ull * i);
    }
}

/* Offset of the first word that differs from the pattern, or -1. */
static int64_t check(const void *buf, uint64_t off, uint32_t len, uint64_t s)
{
    const uint64_t *w = buf;
    uint32_t i;

    for (i = 0; i < len / 8; i++) {
        if (w[i] != sdk_pattern_word(s, off + 8ull * i)) {
            return (int64_t)(off + 8ull * i);
        }
    }
    return -1;
}

static bool all_zero(const void *buf, uint32_t len)
{
    const uint64_t *w = buf;
    uint32_t i;

    for (i = 0; i < len / 8; i++) {
        if (w[i]) {
            return false;
        }
    }
    return true;
}

/* One request, synchronously; returns its status (or a driver error). */
static int one(struct vblk *d, uint32_t type, uint64_t sector, void *buf,
               uint32_t len)
{
    static struct vblk_req r;

    r = (struct vblk_req){
        .type = type, .sector = sector, .buf = buf, .len = len};
    return vblk_do(d, &r);
}

static bool expect_status(struct vblk *d, const char *name, uint32_t type,
                          uint64_t sector, void *buf, uint32_t len, int want)
{
    int st = one(d, type, sector, buf, len);

    if (st != want) {
        result(false, "%s: status %d (%s), want %s", name, st,
               st >= 0 ? vblk_status_name((uint8_t)st) : "driver error",
               vblk_status_name((uint8_t)want));
        return false;
    }
    result(true, "%s", name);
    return true;
}

/*
 * Stream requests over the disk with up to qd in flight, round-robin over
 * the queues.  @next fills in request i (false: no more); @done checks a
 * completed one (false: a failure, already counted in *@bad).
 */
struct stream {
    struct vblk *d;
    uint8_t *bufs;
    uint32_t buf_size;
    bool (*next)(struct stream *s, struct vblk_req *r, uint64_t i);
    bool (*done)(struct stream *s, struct vblk_req *r);
    uint64_t bad;
    uint64_t pos; /* progress of next() */
    uint32_t round;
};

static void run_stream(struct stream *s)
{
    static struct vblk_req reqs[MAX_QD];
    struct vblk_req *free_list[MAX_QD];
    unsigned nfree = 0, inflight = 0, q, rr = 0, i;
    uint64_t issued = 0;
    bool more = true;
    struct vblk_req *r;

    for (i = 0; i < qd; i++) {
        reqs[i].buf = s->bufs + (uint64_t)i * s->buf_size;
        free_list[nfree++] = &reqs[i];
    }
    while (more || inflight) {
        while (more && nfree) {
            r = free_list[nfree - 1];
            r->buf = s->bufs + (uint64_t)(r - reqs) * s->buf_size;
            if (!s->next(s, r, issued)) {
                more = false;
                break;
            }
            q = rr++ % s->d->nqueues;
            if (vblk_submit(s->d, q, r) < 0) {
                sdk_panic("%s: submit failed with %u in flight", disk_name,
                          inflight);
            }
            nfree--;
            inflight++;
            issued++;
        }
        for (q = 0; q < s->d->nqueues; q++) {
            vblk_kick(s->d, q);
        }
        if (!inflight) {
            break;
        }
        vblk_wait(s->d);
        for (q = 0; q < s->d->nqueues; q++) {
            while ((r = vblk_poll(s->d, q)) != NULL) {
                if (!s->done(s, r)) {
                    s->bad++;
                }
                free_list[nfree++] = r;
                inflight--;
            }
        }
    }
}

static uint64_t capacity;

static bool write_next(struct stream *s, struct vblk_req *r, uint64_t i)
{
    uint64_t sectors = CHUNK / SECTOR;

    if (s->pos >= capacity) {
        return false;
    }
    if (sectors > capacity - s->pos) {
        sectors = capacity - s->pos;
    }
    r->type = VIRTIO_BLK_T_OUT;
    r->sector = s->pos;
    r->len = (uint32_t)(sectors * SECTOR);
    fill(r->buf, s->pos * SECTOR, r->len, seed);
    s->pos += sectors;
    return true;
}

static bool status_ok(struct stream *s, struct vblk_req *r)
{
    if (r->status != VIRTIO_BLK_S_OK) {
        sdk_printf("  %s: sector %lu: status %u\n", disk_name,
                   (unsigned long)r->sector, r->status);
        return false;
    }
    return true;
}

/* Reads of 1, 8, 3 and 128 sectors in turn, so sizes and offsets vary. */
static bool read_next(struct stream *s, struct vblk_req *r, uint64_t i)
{
    static const uint32_t sizes[] = {1, 8, 3, 128};
    uint64_t sectors = sizes[s->round++ % SDK_ARRAY_SIZE(sizes)];

    if (s->pos >= capacity) {
        return false;
    }
    if (sectors > capacity - s->pos) {
        sectors = capacity - s->pos;
    }
    r->type = VIRTIO_BLK_T_IN;
    r->sector = s->pos;
    r->len = (uint32_t)(sectors * SECTOR);
    memset(r->buf, 0xa5, r->len);
    s->pos += sectors;
    return true;
}

static uint64_t check_seed;

static bool read_done(struct stream *s, struct vblk_req *r)
{
    int64_t at;

    if (!status_ok(s, r)) {
        return false;
    }
    at = check(r->buf, r->sector * SECTOR, r->len, check_seed);
    if (at >= 0) {
        sdk_printf("  %s: byte %ld differs from the pattern\n", disk_name,
                   (long)at);
        return false;
    }
    return true;
}

static void stream_case(struct vblk *d, uint8_t *bufs, const char *name,
                        bool (*next)(struct stream *, struct vblk_req *,
                                     uint64_t),
                        bool (*done)(struct stream *, struct vblk_req *))
{
    struct stream s = {
        .d = d, .bufs = bufs, .buf_size = CHUNK, .next = next, .done = done};
    uint64_t t0 = sdk_now_ns();

    run_stream(&s);
    result(s.bad == 0, "%s (%lu MiB, qd %u, %u queues, %lu ms)", name,
           (unsigned long)(capacity * SECTOR >> 20), qd, d->nqueues,
           (unsigned long)((sdk_now_ns() - t0) / 1000000));
}

static void get_id(struct vblk *d, uint8_t *buf, const char *want)
{
    char id[VIRTIO_BLK_ID_BYTES + 1];
    int st;

    memset(buf, 0, VIRTIO_BLK_ID_BYTES);
    st = one(d, VIRTIO_BLK_T_GET_ID, 0, buf, VIRTIO_BLK_ID_BYTES);
    memcpy(id, buf, VIRTIO_BLK_ID_BYTES);
    id[VIRTIO_BLK_ID_BYTES] = '\0';
    if (st != VIRTIO_BLK_S_OK) {
        result(false, "get-id: status %d", st);
    } else if (want && strcmp(id, want) != 0) {
        result(false, "get-id: \"%s\", want \"%s\"", id, want);
    } else {
        result(true, "get-id \"%s\"", id);
    }
}

static uint64_t range_len(uint64_t want, uint32_t max)
{
    return max && max < want ? max : want;
}

/* WRITE_ZEROES or DISCARD over [sector, sector + n). */
static int zero_or_discard(struct vblk *d, uint32_t type, uint64_t sector,
                           uint64_t n,
                           struct virtio_blk_discard_write_zeroes *seg)
{
    *seg = (struct virtio_blk_discard_write_zeroes){.sector = sector,
                                                    .num_sectors = (uint32_t)n};
    return one(d, type, 0, seg, sizeof(*seg));
}

static void check_writable(struct vblk *d, uint8_t *bufs)
{
    struct virtio_blk_discard_write_zeroes *seg = (void *)bufs;
    uint64_t z0 = capacity / 4, zn, d0 = capacity / 2, dn;
    uint8_t *buf = bufs + 4096;
    uint64_t base = seed, p, passes = sdk_arg_u64("passes", 1, 1000000);
    int st;

    for (p = 0; p < passes; p++) {
        seed = base + p;
        check_seed = seed;
        stream_case(d, bufs, "write-pattern", write_next, status_ok);
        stream_case(d, bufs, "read-pattern", read_next, read_done);
    }

    if (vblk_has(d, VIRTIO_BLK_F_FLUSH)) {
        expect_status(d, "flush", VIRTIO_BLK_T_FLUSH, 0, NULL, 0,
                      VIRTIO_BLK_S_OK);
    } else {
        skip("flush: not offered");
    }
    get_id(d, buf, sdk_arg("serial"));

    zn = range_len(64, d->max_write_zeroes_sectors);
    if (!vblk_has(d, VIRTIO_BLK_F_WRITE_ZEROES)) {
        skip("write-zeroes: not offered");
        zn = 0;
    } else if ((st = zero_or_discard(d, VIRTIO_BLK_T_WRITE_ZEROES, z0, zn,
                                     seg)) != VIRTIO_BLK_S_OK) {
        result(false, "write-zeroes: status %d", st);
    } else {
        memset(buf, 0xa5, zn * SECTOR);
        st = one(d, VIRTIO_BLK_T_IN, z0, buf, (uint32_t)(zn * SECTOR));
        result(st == VIRTIO_BLK_S_OK && all_zero(buf, zn * SECTOR),
               "write-zeroes (sectors %lu+%lu read back as zeros)",
               (unsigned long)z0, (unsigned long)zn);
    }

    dn = range_len(64, d->max_discard_sectors);
    if (!vblk_has(d, VIRTIO_BLK_F_DISCARD)) {
        skip("discard: not offered");
    } else if ((st = zero_or_discard(d, VIRTIO_BLK_T_DISCARD, d0, dn, seg)) !=
               VIRTIO_BLK_S_OK) {
        result(false, "discard: status %d", st);
    } else {
        fill(buf, d0 * SECTOR, (uint32_t)(dn * SECTOR), seed);
        st = one(d, VIRTIO_BLK_T_OUT, d0, buf, (uint32_t)(dn * SECTOR));
        result(st == VIRTIO_BLK_S_OK,
               "discard (sectors %lu+%lu, then the pattern again)",
               (unsigned long)d0, (unsigned long)dn);
    }

    expect_status(d, "read-beyond", VIRTIO_BLK_T_IN, capacity, buf, SECTOR,
                  VIRTIO_BLK_S_IOERR);
    expect_status(d, "read-across-end", VIRTIO_BLK_T_IN, capacity - 1, buf,
                  2 * SECTOR, VIRTIO_BLK_S_IOERR);
    expect_status(d, "write-beyond", VIRTIO_BLK_T_OUT, capacity, buf, SECTOR,
                  VIRTIO_BLK_S_IOERR);
    if (vblk_has(d, VIRTIO_BLK_F_WRITE_ZEROES)) {
        st = zero_or_discard(d, VIRTIO_BLK_T_WRITE_ZEROES, capacity, 8, seg);
        result(st == VIRTIO_BLK_S_IOERR, "write-zeroes-beyond (status %d)", st);
    }
    if (vblk_has(d, VIRTIO_BLK_F_DISCARD)) {
        st = zero_or_discard(d, VIRTIO_BLK_T_DISCARD, capacity, 8, seg);
        result(st == VIRTIO_BLK_S_IOERR, "discard-beyond (status %d)", st);
    }
    expect_status(d, "unknown-type", UNKNOWN_TYPE, 0, NULL, 0,
                  VIRTIO_BLK_S_UNSUPP);
    sdk_printf("%s: image: seed %lu zero %lu+%lu\n", disk_name,
               (unsigned long)seed, (unsigned long)z0, (unsigned long)zn);
}

static void check_read_only(struct vblk *d, uint8_t *bufs)
{
    struct virtio_blk_discard_write_zeroes *seg = (void *)bufs;
    uint8_t *buf = bufs + 4096;
    const char *ro_seed = sdk_arg("ro_seed");
    int st;

    result(d->ro, "ro-feature");
    if (ro_seed) {
        check_seed = sdk_arg_u64("ro_seed", 0, UINT64_MAX);
        stream_case(d, bufs, "ro-read-pattern", read_next, read_done);
    } else {
        expect_status(d, "ro-read", VIRTIO_BLK_T_IN, 0, buf, CHUNK,
                      VIRTIO_BLK_S_OK);
    }
    if (vblk_has(d, VIRTIO_BLK_F_FLUSH)) {
        expect_status(d, "ro-flush", VIRTIO_BLK_T_FLUSH, 0, NULL, 0,
                      VIRTIO_BLK_S_OK);
    }
    get_id(d, buf, sdk_arg("ro_serial"));
    expect_status(d, "ro-write", VIRTIO_BLK_T_OUT, 0, buf, SECTOR,
                  VIRTIO_BLK_S_IOERR);
    if (vblk_has(d, VIRTIO_BLK_F_WRITE_ZEROES)) {
        st = zero_or_discard(d, VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, seg);
        result(st == VIRTIO_BLK_S_IOERR, "ro-write-zeroes (status %d)", st);
    }
    if (vblk_has(d, VIRTIO_BLK_F_DISCARD)) {
        /* Not a case: QEMU answers OK with its default discard=ignore. */
        st = zero_or_discard(d, VIRTIO_BLK_T_DISCARD, 0, 8, seg);
        sdk_printf("INFO %s/ro-discard: status %d\n", disk_name, st);
    }
}

int guest_main(void)
{
    static struct vblk d;
    struct virtio_mmio_dev devs[MAX_DISKS];
    struct vblk_options opt;
    unsigned n, i, want;
    uint8_t *bufs;
    int r;

    vblk_options_from_cmdline(&opt);
    seed = sdk_arg_u64("seed", 1, UINT64_MAX);
    qd = (unsigned)sdk_arg_u64("qd", 8, MAX_QD);
    if (qd == 0) {
        qd = 1;
    }
    bufs = sdk_alloc((uint64_t)MAX_QD * CHUNK, 4096);
    n = virtio_mmio_find(VIRTIO_ID_BLOCK, devs, MAX_DISKS);
    if (n > MAX_DISKS) {
        n = MAX_DISKS;
    }
    sdk_printf("blk-check: %u disks, %s mode\n", n,
               opt.irq ? "interrupt" : "polling");
    want = (unsigned)sdk_arg_u64("disks", n, MAX_DISKS);
    if (n != want || n == 0) {
        sdk_printf("blk-check: FAIL: found %u disks, want %u\n", n, want);
        return SDK_EXIT_FAIL;
    }
    for (i = 0; i < n; i++) {
        sdk_snprintf(disk_name, sizeof(disk_name), "vd%c", 'a' + i);
        r = vblk_init(&d, &devs[i], &opt);
        if (r < 0) {
            result(false, "init: error %d (version %u at %#lx)", r,
                   devs[i].version, (unsigned long)devs[i].base);
            continue;
        }
        capacity = d.capacity;
        sdk_printf(
            "%s: virtio-mmio v%u at %#lx irq %u: %lu sectors, "
            "features %#lx, %u of %u queues of %u%s%s%s\n",
            disk_name, d.dev.version, (unsigned long)d.dev.base, d.dev.irq,
            (unsigned long)d.capacity, (unsigned long)d.features, d.nqueues,
            d.device_queues, d.q[0].size, d.ro ? ", read-only" : "",
            d.event_idx ? ", event-idx" : "", d.indirect ? ", indirect" : "");
        if (capacity < 1024) {
            result(false, "capacity %lu: too small to check",
                   (unsigned long)capacity);
        } else if (d.ro) {
            check_read_only(&d, bufs);
        } else {
            check_writable(&d, bufs);
        }
        sdk_printf("%s: %lu requests, %lu notifies, %lu suppressed, "
                   "%lu sleeps, %u interrupts\n",
                   disk_name, (unsigned long)d.stats.completed,
                   (unsigned long)d.stats.notifies,
                   (unsigned long)d.stats.suppressed,
                   (unsigned long)d.stats.waits,
                   sdk_irq_count(SDK_VEC_IRQ_BASE + d.dev.irq));
        vblk_reset(&d);
    }
    sdk_printf("blk-check: %u failed\n", failures);
    if (sdk_arg_bool("stay", false)) {
        sdk_printf("blk-check: staying\n");
        sdk_cpu_park();
    }
    return failures ? SDK_EXIT_FAIL : SDK_EXIT_PASS;
}
