/* SPDX-License-Identifier: MIT */
/*
 * blk-crash: the guest of the crash-consistency test
 * (tests/guest/test-crash.c).  It writes blocks 0 .. count-1 (4 KiB each)
 * of the first virtio-blk disk, up to qd at a time, each block filled
 * with blk_crash_word(run, block, k) for k = 0 .. 511; as soon as a write
 * has completed (and, with flush=on, a FLUSH sent after it completed too)
 * it prints "ack RUN BLOCK" on the console.  The test kills the monitor
 * with SIGKILL somewhere along the way and checks that every block whose
 * ack it read is on the disk: nothing the guest was told is written may
 * sit in the monitor's own buffers.
 *
 * Command line: run=N (chosen by the test, so that blocks of an earlier
 * run never pass), count=N (1..256), qd=N (1..16), flush=on|off, and the
 * vblk options (mode=poll|irq ...).  Ends with "blk-crash: done" and
 * SDK_EXIT_PASS if it is not killed first.
 */
#include "sdk/sdk.h"
#include "sdk/virtio-blk.h"
#include "sdk/virtio-mmio.h"

#define BLOCK 4096u
#define WORDS (BLOCK / 8)
#define MAX_COUNT 256u
#define MAX_QD 16u

/* The word k of block @block in run @run; tests/guest/test-crash.c too. */
static uint64_t blk_crash_word(uint64_t run, uint64_t block, uint64_t k)
{
    return 0x6c6f6f6d63726173ull ^ (run << 40) ^ (block << 16) ^ k;
}

static void fill(uint64_t *buf, uint64_t run, uint64_t block)
{
    for (unsigned k = 0; k < WORDS; k++) {
        buf[k] = blk_crash_word(run, block, k);
    }
}

/*
 * What is written but not yet acknowledged.  Without flush=on a block is
 * acknowledged when its write completes; with it, when a FLUSH sent after
 * that completion completes (one FLUSH in flight covers every block
 * completed before it was sent).
 */
struct acks {
    uint64_t run;
    uint64_t waiting[MAX_COUNT], flushing[MAX_COUNT];
    unsigned nr_waiting, nr_flushing;
    uint64_t acked;
};

static void ack_all(struct acks *a, const uint64_t *blocks, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        sdk_printf("ack %lu %lu\n", (unsigned long)a->run,
                   (unsigned long)blocks[i]);
    }
    a->acked += n;
}

int guest_main(void)
{
    static struct vblk d;
    static struct vblk_req reqs[MAX_QD], flush_req;
    static struct acks a;
    struct virtio_mmio_dev dev;
    struct vblk_options opt;
    uint64_t count, qd, next = 0;
    bool do_flush, flush_busy = false;
    uint8_t *bufs;
    int r;

    vblk_options_from_cmdline(&opt);
    a.run = sdk_arg_u64("run", 1, 0xffffff);
    count = sdk_arg_u64("count", 64, MAX_COUNT);
    qd = sdk_arg_u64("qd", 1, MAX_QD);
    do_flush = sdk_arg_bool("flush", false);
    if (qd == 0 || count == 0) {
        sdk_printf("blk-crash: count and qd must be at least 1\n");
        return SDK_EXIT_USAGE;
    }
    if (virtio_mmio_find(VIRTIO_ID_BLOCK, &dev, 1) < 1) {
        sdk_printf("blk-crash: FAIL: no disk\n");
        return SDK_EXIT_FAIL;
    }
    r = vblk_init(&d, &dev, &opt);
    if (r < 0 || d.ro || d.capacity < count * (BLOCK / 512)) {
        sdk_printf("blk-crash: FAIL: disk unusable (error %d)\n", r);
        return SDK_EXIT_FAIL;
    }
    if (do_flush && !vblk_has(&d, VIRTIO_BLK_F_FLUSH)) {
        sdk_printf("blk-crash: FAIL: flush=on without VIRTIO_BLK_F_FLUSH\n");
        return SDK_EXIT_FAIL;
    }
    bufs = sdk_alloc(MAX_QD * BLOCK, BLOCK);
    sdk_printf("blk-crash: run %lu, %lu blocks, qd %lu, flush %s\n",
               (unsigned long)a.run, (unsigned long)count, (unsigned long)qd,
               do_flush ? "on" : "off");
    /* Each slot writes one block at a time, refilled as it completes. */
    for (unsigned i = 0; i < qd; i++) {
        reqs[i].buf = bufs + (uint64_t)i * BLOCK;
    }
    for (unsigned i = 0; i < qd && next < count; i++, next++) {
        reqs[i].type = VIRTIO_BLK_T_OUT;
        reqs[i].sector = next * (BLOCK / 512);
        reqs[i].len = BLOCK;
        fill(reqs[i].buf, a.run, next);
        if (vblk_submit(&d, 0, &reqs[i]) < 0) {
            return SDK_EXIT_FAIL;
        }
    }
    vblk_kick(&d, 0);
    while (a.acked < count) {
        struct vblk_req *done;

        vblk_wait(&d);
        while ((done = vblk_poll(&d, 0)) != NULL) {
            if (done->status != VIRTIO_BLK_S_OK) {
                sdk_printf("blk-crash: FAIL: %s request: %s\n",
                           done == &flush_req ? "FLUSH" : "write",
                           vblk_status_name(done->status));
                return SDK_EXIT_FAIL;
            }
            if (done == &flush_req) {
                ack_all(&a, a.flushing, a.nr_flushing);
                a.nr_flushing = 0;
                flush_busy = false;
                continue;
            }
            a.waiting[a.nr_waiting++] = done->sector / (BLOCK / 512);
            if (!do_flush) {
                ack_all(&a, a.waiting, a.nr_waiting);
                a.nr_waiting = 0;
            }
            if (next < count) {
                done->sector = next * (BLOCK / 512);
                fill(done->buf, a.run, next);
                next++;
                if (vblk_submit(&d, 0, done) < 0) {
                    return SDK_EXIT_FAIL;
                }
            }
        }
        if (do_flush && !flush_busy && a.nr_waiting) {
            /* This FLUSH covers every write that completed so far. */
            for (unsigned i = 0; i < a.nr_waiting; i++) {
                a.flushing[i] = a.waiting[i];
            }
            a.nr_flushing = a.nr_waiting;
            a.nr_waiting = 0;
            flush_req.type = VIRTIO_BLK_T_FLUSH;
            flush_req.sector = 0;
            flush_req.buf = NULL;
            flush_req.len = 0;
            if (vblk_submit(&d, 0, &flush_req) < 0) {
                return SDK_EXIT_FAIL;
            }
            flush_busy = true;
        }
        vblk_kick(&d, 0);
    }
    vblk_reset(&d);
    sdk_printf("blk-crash: done\n");
    return SDK_EXIT_PASS;
}
