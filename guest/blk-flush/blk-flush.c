/* SPDX-License-Identifier: MIT */
/*
 * blk-flush: the guest of the FLUSH ordering test
 * (tests/guest/test-flush-order.c).  Round after round it writes a few
 * 4 KiB blocks of the first virtio-blk disk at once, waits for them, sends
 * a FLUSH and waits for it, then prints "flushed ROUND WRITES" (the
 * round, 1-based, and the writes completed so far).  With gate=on it then
 * waits for one byte on COM1 before the next round, so that the test can
 * look at the monitor's counters while nothing is in flight: every FLUSH
 * acknowledged so far must have had its sync completed.
 *
 * With verify=on each round then reads its blocks back (all at once) and
 * compares them with what it wrote, for the fault-injection tests
 * (tests/guest/test-faults.c): short transfers, stalls and failures
 * under every request type.
 *
 * Command line: rounds=N (1..1000), writes=N (blocks per round, 1..8),
 * gate=on|off, gate_ms=N (how long to wait for the byte, default 60000),
 * verify=on|off and the vblk options (mode=poll|irq ...).  Ends with
 * "blk-flush: done" and SDK_EXIT_PASS; a request that fails ("blk-flush:
 * FAIL: write|read|FLUSH request: STATUS"), data that differs or no byte
 * in time is SDK_EXIT_FAIL.
 */
#include "sdk/sdk.h"
#include "sdk/virtio-blk.h"
#include "sdk/virtio-mmio.h"

#define BLOCK 4096u
#define MAX_WRITES 8u
#define COM1 0x3f8
#define UART_RBR 0
#define UART_LSR 5
#define LSR_DR 0x01

/* Wait for a byte from the console; whether one came in @ms. */
static bool gate_wait(uint64_t ms)
{
    uint64_t end = sdk_now_ns() + ms * 1000000ull;

    while (!(sdk_inb(COM1 + UART_LSR) & LSR_DR)) {
        if (sdk_now_ns() > end) {
            return false;
        }
        sdk_delay_us(100);
    }
    (void)sdk_inb(COM1 + UART_RBR);
    return true;
}

/* Submit @n requests, kick once, wait for all; whether all were OK. */
static bool run_all(struct vblk *d, struct vblk_req *reqs, unsigned n)
{
    unsigned left = n;

    for (unsigned i = 0; i < n; i++) {
        if (vblk_submit(d, 0, &reqs[i]) < 0) {
            sdk_printf("blk-flush: FAIL: no room for request %u\n", i);
            return false;
        }
    }
    vblk_kick(d, 0);
    while (left) {
        struct vblk_req *done;

        vblk_wait(d);
        while ((done = vblk_poll(d, 0)) != NULL) {
            if (done->status != VIRTIO_BLK_S_OK) {
                sdk_printf("blk-flush: FAIL: %s request: %s\n",
                           done->type == VIRTIO_BLK_T_FLUSH ? "FLUSH"
                           : done->type == VIRTIO_BLK_T_IN  ? "read"
                                                            : "write",
                           vblk_status_name(done->status));
                return false;
            }
            left--;
        }
    }
    return true;
}

/* Read back the blocks @reqs wrote into @check and compare. */
static bool read_back(struct vblk *d, struct vblk_req *reqs, unsigned n,
                      uint8_t *check)
{
    static struct vblk_req rd[MAX_WRITES];

    for (unsigned i = 0; i < n; i++) {
        rd[i].type = VIRTIO_BLK_T_IN;
        rd[i].sector = reqs[i].sector;
        rd[i].buf = check + (uint64_t)i * BLOCK;
        rd[i].len = BLOCK;
        memset(rd[i].buf, 0xee, BLOCK);
    }
    if (!run_all(d, rd, n)) {
        return false;
    }
    for (unsigned i = 0; i < n; i++) {
        if (memcmp(rd[i].buf, reqs[i].buf, BLOCK) != 0) {
            sdk_printf("blk-flush: FAIL: sector %lu reads back wrong\n",
                       (unsigned long)rd[i].sector);
            return false;
        }
    }
    return true;
}

int guest_main(void)
{
    static struct vblk d;
    static struct vblk_req reqs[MAX_WRITES], flush;
    struct virtio_mmio_dev dev;
    struct vblk_options opt;
    uint64_t rounds, writes, gate_ms, done = 0;
    uint64_t blocks;
    bool gate, verify;
    uint8_t *bufs, *check;
    int r;

    vblk_options_from_cmdline(&opt);
    rounds = sdk_arg_u64("rounds", 8, 1000);
    writes = sdk_arg_u64("writes", 2, MAX_WRITES);
    gate = sdk_arg_bool("gate", false);
    gate_ms = sdk_arg_u64("gate_ms", 60000, 3600000);
    verify = sdk_arg_bool("verify", false);
    if (rounds == 0 || writes == 0) {
        sdk_printf("blk-flush: rounds and writes must be at least 1\n");
        return SDK_EXIT_USAGE;
    }
    if (virtio_mmio_find(VIRTIO_ID_BLOCK, &dev, 1) < 1) {
        sdk_printf("blk-flush: FAIL: no disk\n");
        return SDK_EXIT_FAIL;
    }
    r = vblk_init(&d, &dev, &opt);
    if (r < 0 || d.ro || d.capacity < MAX_WRITES * (BLOCK / 512)) {
        sdk_printf("blk-flush: FAIL: disk unusable (error %d)\n", r);
        return SDK_EXIT_FAIL;
    }
    if (!vblk_has(&d, VIRTIO_BLK_F_FLUSH)) {
        sdk_printf("blk-flush: FAIL: no VIRTIO_BLK_F_FLUSH\n");
        return SDK_EXIT_FAIL;
    }
    blocks = d.capacity / (BLOCK / 512);
    bufs = sdk_alloc(MAX_WRITES * BLOCK, BLOCK);
    check = sdk_alloc(MAX_WRITES * BLOCK, BLOCK);
    sdk_printf("blk-flush: %lu rounds of %lu writes, gate %s, verify %s\n",
               (unsigned long)rounds, (unsigned long)writes,
               gate ? "on" : "off", verify ? "on" : "off");
    for (uint64_t round = 1; round <= rounds; round++) {
        for (unsigned i = 0; i < writes; i++) {
            uint64_t block = (round * writes + i) % blocks;

            reqs[i].type = VIRTIO_BLK_T_OUT;
            reqs[i].sector = block * (BLOCK / 512);
            reqs[i].buf = bufs + (uint64_t)i * BLOCK;
            reqs[i].len = BLOCK;
            memset(reqs[i].buf, (int)(round + i), BLOCK);
        }
        if (!run_all(&d, reqs, (unsigned)writes)) {
            return SDK_EXIT_FAIL;
        }
        done += writes;
        flush.type = VIRTIO_BLK_T_FLUSH;
        flush.sector = 0;
        flush.buf = NULL;
        flush.len = 0;
        if (!run_all(&d, &flush, 1)) {
            return SDK_EXIT_FAIL;
        }
        sdk_printf("flushed %lu %lu\n", (unsigned long)round,
                   (unsigned long)done);
        if (verify && !read_back(&d, reqs, (unsigned)writes, check)) {
            return SDK_EXIT_FAIL;
        }
        if (gate && !gate_wait(gate_ms)) {
            sdk_printf("blk-flush: FAIL: no go-ahead after round %lu\n",
                       (unsigned long)round);
            return SDK_EXIT_FAIL;
        }
    }
    vblk_reset(&d);
    sdk_printf("blk-flush: done\n");
    return SDK_EXIT_PASS;
}
