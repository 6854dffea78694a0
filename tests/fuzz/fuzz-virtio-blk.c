/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the split virtqueue (vmm/devices/virtio/queue.c) and the
 * virtio-blk device model (blk.c) on fake guest RAM, served by a real
 * block backend (vmm/block/) on a loop of the fuzzer's own thread: what a
 * hostile guest can put in its descriptor table, avail ring, request
 * headers and buffers, against every request type, feature set, drive
 * mode and injected backend fault.
 *
 * Input: an 8-byte header, then guest RAM from address 0 (the rest is
 * zero).  RAM is one 128 KiB region allocated to its exact size, so ASan
 * sees any access past it; the rings sit at fixed addresses (descriptors
 * at 0, avail ring at 0x4000, used ring at 0x5000), so the input edits
 * them directly, the avail index included.
 *   byte 0  the queue size, 2 << (byte % 10) (2 .. 1024);
 *   byte 1  the driver's features: EVENT_IDX, INDIRECT_DESC, FLUSH,
 *           DISCARD, WRITE_ZEROES, CONFIG_WCE (bits 0-5); bit 6: the
 *           driver turns the writeback cache off;
 *   byte 2  the drive: bit 0 read-only, bit 1 io_uring, bit 2
 *           cache=unsafe, bit 3 discard=unmap, bits 4-6 an x-loom-fault
 *           rule (faults[] below);
 *   byte 3  werror (bits 0-1) and rerror (bits 2-3): default, report,
 *           ignore, stop.
 * With werror/rerror=stop, failed requests are held and retried as cont
 * would, up to three times.  Checked besides memory safety: the queue
 * sets up on good rings; every chain taken is answered exactly once, or
 * still held after a stop, unless the ring broke (then none twice); nothing
 * stays in flight; every answer names a head inside the queue (checked as
 * the device pushes it: see __wrap_vmm_vq_push()); the used index counts
 * the answers; a read-only image is never written and no image ever
 * changes size.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <loom/clock.h>
#include <loom/loop.h>

#include "block/backend.h"
#include "core/guest-mem.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/queue.h"
#include "fuzz.h"

#define HEADER 8u
#define RAM_SIZE (128u << 10)
#define DESC_GPA 0x0u
#define AVAIL_GPA 0x4000u
#define USED_GPA 0x5000u
#define IMG_SIZE (64u << 10)

/* x-loom-fault rules a drive may get (byte 2, bits 4-6). */
static const char *const faults[8] = {
    NULL,         "fail@1=EIO",         "fail@2-=ENOSPC",      "short@1-3",
    "align=4096", "align=512+short@1-", "fail@1-=EIO+short@2", NULL,
};

static const enum vmm_on_error policies[4] = {
    VMM_ONERR_DEFAULT, VMM_ONERR_REPORT, VMM_ONERR_IGNORE, VMM_ONERR_STOP};

static struct loom_loop *g_loop;
static char g_path[32]; /* the image's name: /proc/self/fd/N */
static int g_fd = -1;   /* the image, to restore and check it */
static uint8_t g_pattern[IMG_SIZE];

struct run {
    bool broken;
    bool resume;
    unsigned used_calls;
    unsigned stops;
};

static void env_used(void *opaque)
{
    ((struct run *)opaque)->used_calls++;
}

static void env_broken(void *opaque)
{
    ((struct run *)opaque)->broken = true;
}

static void env_resume(void *opaque)
{
    ((struct run *)opaque)->resume = true;
}

static void on_error(void *opaque, bool is_read, int err,
                     enum vmm_blk_error_action action)
{
    FUZZ_CHECK(err < 0, "error hook with error %d", err);
    if (action == VMM_BLK_ERR_STOP) {
        ((struct run *)opaque)->stops++;
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *dir = getenv("TMPDIR");
    char name[4096];

    for (size_t i = 0; i < IMG_SIZE; i++) {
        g_pattern[i] = (uint8_t)(i * 13 + (i >> 9));
    }
    /*
     * The image lives in TMPDIR's file system but leaves no name there,
     * however the run ends: each drive opens it through the descriptor.
     */
    if (!dir || !*dir) {
        dir = "/tmp"; /* an empty TMPDIR too, as mktemp(1) and replay.c */
    }
    snprintf(name, sizeof(name), "%s/loom-fuzz-blk-XXXXXX", dir);
    g_fd = mkstemp(name);
    FUZZ_CHECK(g_fd >= 0 && unlink(name) == 0, "image in %s", dir);
    snprintf(g_path, sizeof(g_path), "/proc/self/fd/%d", g_fd);
    FUZZ_CHECK(loom_loop_new(&g_loop) == 0, "loop");
    return 0;
}

static uint64_t driver_features(const struct vmm_virtio_blk *blk, uint8_t b)
{
    static const unsigned bits[] = {
        VMM_VIRTIO_F_EVENT_IDX,        VMM_VIRTIO_F_INDIRECT_DESC,
        VMM_VIRTIO_BLK_F_FLUSH,        VMM_VIRTIO_BLK_F_DISCARD,
        VMM_VIRTIO_BLK_F_WRITE_ZEROES, VMM_VIRTIO_BLK_F_CONFIG_WCE,
    };
    uint64_t f = 1ull << VMM_VIRTIO_F_VERSION_1;

    for (unsigned i = 0; i < sizeof(bits) / sizeof(bits[0]); i++) {
        if (b & (1u << i)) {
            f |= 1ull << bits[i];
        }
    }
    return f & (vmm_virtio_blk_features(blk) | 1ull << VMM_VIRTIO_F_VERSION_1);
}

/*
 * What the dataplane does on a notification: take requests with guest
 * notifications off, then turn them on and look once more.
 */
static void process(struct vmm_virtio_blk_queue *q)
{
    struct vmm_vq *vq = vmm_virtio_blk_queue_vq(q);

    do {
        vmm_vq_disable_notify(vq);
        vmm_virtio_blk_queue_process(q, loom_clock_ns(LOOM_CLOCK_HOST));
        if (vmm_virtio_blk_queue_full(q) ||
            vmm_vq_broken(vq) != VMM_VQ_BROKEN_NONE) {
            return; /* env.resume will call again, or nothing will */
        }
    } while (vmm_vq_enable_notify(vq));
}

/*
 * Let the queue run until nothing is in flight and nothing waits, deciding
 * on interrupts after each batch of completions as the dataplane does.
 * Requests the stop policy holds are retried, as cont would, a few times
 * (a fault that never clears keeps failing them).  Returns how many are
 * still held.
 */
#define MAX_CONTS 3

static unsigned drain(struct vmm_virtio_blk_queue *q, struct run *run)
{
    struct vmm_vq *vq = vmm_virtio_blk_queue_vq(q);

    process(q);
    for (unsigned conts = 0;; conts++) {
        while (vmm_virtio_blk_queue_inflight(q) > 0 || run->resume) {
            if (run->resume) {
                run->resume = false;
                process(q);
            } else {
                (void)loom_loop_poll(g_loop, true);
            }
            (void)vmm_vq_should_notify(vq);
        }
        (void)vmm_vq_should_notify(vq);
        if (!vmm_virtio_blk_queue_held(q) || conts == MAX_CONTS) {
            return vmm_virtio_blk_queue_held(q);
        }
        vmm_virtio_blk_queue_retry(q);
        process(q);
    }
}

/*
 * Every answer, checked as the device gives it: its head must be inside
 * the queue.  The used ring cannot be checked for this afterwards: the
 * guest may point its own read buffers at it, and a read that completes
 * after another request's answer overwrites that entry (thread-pool
 * completions come in any order), as a real guest would see too.  Linked
 * with -Wl,--wrap=vmm_vq_push (tests/fuzz/meson.build), which sends
 * blk.c's calls here.
 */
void __real_vmm_vq_push(struct vmm_vq *vq, uint16_t head, uint32_t len);
void __wrap_vmm_vq_push(struct vmm_vq *vq, uint16_t head, uint32_t len);

void __wrap_vmm_vq_push(struct vmm_vq *vq, uint16_t head, uint32_t len)
{
    FUZZ_CHECK(head < vmm_vq_size(vq), "answer names head %u of %u", head,
               vmm_vq_size(vq));
    __real_vmm_vq_push(vq, head, len);
}

/* The used index against what the queue says it answered. */
static void check_used(const uint8_t *ram, struct vmm_virtio_blk_queue *q,
                       const struct run *run, unsigned held)
{
    struct vmm_vq_stats st;
    uint16_t idx;

    vmm_vq_stats(vmm_virtio_blk_queue_vq(q), &st);
    /* Held requests are answered at a later cont, or dropped by a reset. */
    FUZZ_CHECK(run->broken || st.pushed + held == st.popped,
               "%llu chains taken, %llu answered, %u held",
               (unsigned long long)st.popped, (unsigned long long)st.pushed,
               held);
    FUZZ_CHECK(held == 0 || run->stops > 0, "requests held without a stop");
    FUZZ_CHECK(st.pushed <= st.popped, "answered more than taken");
    FUZZ_CHECK(run->broken == (vmm_vq_broken(vmm_virtio_blk_queue_vq(q)) !=
                               VMM_VQ_BROKEN_NONE),
               "broken callback and queue disagree");
    /*
     * The index is stored after every answer, so it is the device's last
     * word unless a request wrote guest memory and was not answered after
     * (held by a stop, or finished after the ring broke, when answers are
     * dropped).
     */
    if (st.pushed == 0 || held > 0 || run->broken) {
        return;
    }
    memcpy(&idx, ram + USED_GPA + 2, sizeof(idx));
    FUZZ_CHECK(idx == (uint16_t)st.pushed, "used index %u after %llu", idx,
               (unsigned long long)st.pushed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint16_t qsize = (uint16_t)(2u << (size ? data[0] % 10 : 0));
    uint8_t hdr[HEADER] = {0};
    struct vmm_gmem_region region = {0, RAM_SIZE, NULL};
    struct vmm_config_drive drive = {.id = "d0"};
    struct vmm_virtio_blk_opts bo = {.num_queues = 1,
                                     .queue_size = VMM_VIRTIO_MAX_QUEUE_SIZE,
                                     .serial = "fuzz-serial"};
    struct vmm_virtio_queue_cfg qc = {qsize, DESC_GPA, AVAIL_GPA, USED_GPA,
                                      true};
    struct run run = {0};
    struct vmm_virtio_blk_env env = {env_used, env_broken, env_resume, &run};
    struct vmm_blk_backend *be = NULL;
    struct vmm_virtio_blk *blk = NULL;
    struct vmm_virtio_blk_queue *q = NULL;
    struct vmm_blk_ctx *ctx = NULL;
    struct vmm_gmem *gm = NULL;
    char file[160];
    uint8_t *ram;
    struct stat st;
    unsigned held;
    int r;

    memcpy(hdr, data, size < HEADER ? size : HEADER);
    ram = calloc(1, RAM_SIZE);
    FUZZ_CHECK(ram, "RAM");
    if (size > HEADER) {
        memcpy(ram, data + HEADER,
               size - HEADER < RAM_SIZE ? size - HEADER : RAM_SIZE);
    }
    region.hva = ram;
    FUZZ_CHECK(vmm_gmem_new(&region, 1, &gm) == 0, "guest RAM map");

    /* A fresh image every time: the same input, the same run. */
    FUZZ_CHECK(ftruncate(g_fd, IMG_SIZE) == 0 &&
                   pwrite(g_fd, g_pattern, IMG_SIZE, 0) == IMG_SIZE,
               "image");
    if (faults[(hdr[2] >> 4) & 7]) {
        snprintf(file, sizeof(file), "x-loom-fault:%s:%s",
                 faults[(hdr[2] >> 4) & 7], g_path);
    } else {
        snprintf(file, sizeof(file), "%s", g_path);
    }
    drive.file = file;
    drive.readonly = hdr[2] & 1;
    drive.aio = (hdr[2] & 2) ? VMM_AIO_IO_URING : VMM_AIO_THREADS;
    drive.cache = (hdr[2] & 4) ? VMM_CACHE_UNSAFE : VMM_CACHE_WRITEBACK;
    drive.discard = (hdr[2] & 8) ? VMM_DISCARD_UNMAP : VMM_DISCARD_IGNORE;
    drive.werror = policies[hdr[3] & 3];
    drive.rerror = policies[(hdr[3] >> 2) & 3];
    FUZZ_CHECK(vmm_blk_backend_open(&drive, &be, NULL) == 0, "backend %s",
               file);

    bo.backend = be;
    bo.discard = drive.discard;
    bo.werror = drive.werror;
    bo.rerror = drive.rerror;
    bo.on_error = on_error;
    bo.error_opaque = &run;
    FUZZ_CHECK(vmm_virtio_blk_new(&bo, &blk) == 0, "device");
    vmm_virtio_blk_set_features(blk, driver_features(blk, hdr[1]));
    if (hdr[1] & 0x40) {
        uint8_t off = 0;

        vmm_virtio_blk_config_write(blk, VMM_VIRTIO_BLK_CFG_WRITEBACK, &off, 1);
    }
    FUZZ_CHECK(vmm_blk_ctx_new(be, g_loop, drive.aio, 0, &ctx) == 0,
               "backend context");
    r = vmm_virtio_blk_queue_new(blk, 0, gm, &qc, ctx, &env, &q);
    FUZZ_CHECK(r == 0, "queue of %u on good rings: %d", qsize, r);

    held = drain(q, &run);
    check_used(ram, q, &run, held);

    vmm_virtio_blk_queue_free(q);
    vmm_blk_ctx_free(ctx);
    vmm_virtio_blk_free(blk);
    vmm_blk_backend_free(be);
    vmm_gmem_free(gm);
    free(ram);

    FUZZ_CHECK(fstat(g_fd, &st) == 0 && st.st_size == IMG_SIZE,
               "image of %lld bytes", (long long)st.st_size);
    if (drive.readonly) {
        static uint8_t now[IMG_SIZE];

        FUZZ_CHECK(pread(g_fd, now, IMG_SIZE, 0) == IMG_SIZE &&
                       memcmp(now, g_pattern, IMG_SIZE) == 0,
                   "read-only image written");
    }
    return 0;
}
