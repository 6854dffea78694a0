/* SPDX-License-Identifier: MIT */
/*
 * A whole virtio-blk device for tests, built the way the machine builds
 * it (vmm_machine_blk_create()): a real image file, an MMIO bus, fake
 * guest RAM, a fake interrupt line that counts asserts, fake doorbells
 * (the test "rings" them by writing the eventfd, as KVM's ioeventfd
 * would), IOThreads or the main loop, and a driver that programs the
 * transport through the bus and posts requests with vq-driver.
 *
 * The test's main thread holds the BQL (it is the main loop's thread and
 * plays the vCPU for register accesses); bf_wait() lets the main loop run.
 */
#ifndef TESTS_VMM_BLK_FIXTURE_H
#define TESTS_VMM_BLK_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>

#include <loom/iothread.h>

#include "machine/blk.h"
#include "vq-driver.h"

#define BF_BASE 0xfeb00e00ull
#define BF_IMG_SIZE (4u << 20)
#define BF_MAX_IO 4

/* How to build the device. */
struct bf_opts {
    enum vmm_aio_mode aio;
    enum vmm_cache_mode cache;
    enum vmm_discard_mode discard;
    bool readonly;
    bool legacy;
    bool no_doorbells;     /* notifications exit to the transport */
    unsigned nr_iothreads; /* 0: the main loop serves */
    int64_t poll_max_ns;   /* of the IOThreads (0: no polling) */
    int64_t poll_grow;     /* of the IOThreads (0: default) */
    unsigned num_queues;
    unsigned queue_size;
    const char *serial;
    const char *fault; /* x-loom-fault SPEC, or NULL */
    unsigned nr_maps;  /* iothread-vq-mapping entries (round-robin) */
    uint64_t features; /* the driver's; 0: everything offered */
    bool no_event_idx; /* leave EVENT_IDX out */
    enum vmm_on_error werror, rerror;
    const char *image_dir; /* where the image lives; NULL: /tmp */
};

struct bf {
    struct bf_opts o;
    struct test_ram ram;
    struct vmm_bus *bus;
    struct vmm_blk *blk;
    char dir[64], path[96], file[256];
    struct vmm_config_drive drive;
    struct vmm_config_blk cfg;
    struct vmm_config_iothread iocfg[BF_MAX_IO];
    struct loom_iothread *io[BF_MAX_IO];
    struct loom_loop *ioloop[BF_MAX_IO];
    struct vmm_doorbells db;
    int db_fd[16];
    unsigned irq_asserts; /* atomic */
    bool irq_level;       /* atomic */
    uint64_t features;    /* negotiated */
    unsigned nq;
    struct vq_driver q[16];
    uint64_t scratch; /* 1 MiB of guest RAM for the tests' buffers */
    uint64_t hdr[16], status[16]; /* the last request's, per queue */
    unsigned errors;              /* atomic: error hook calls */
    unsigned stops;               /* atomic: of those, the stop policy's */
    int stop_err;                 /* atomic: its last errno */
};

/* Build (asserting success) and bring the driver up to DRIVER_OK. */
void bf_init(struct bf *f, const struct bf_opts *o);
/* Build only; the error of vmm_machine_blk_create(). */
int bf_create(struct bf *f, const struct bf_opts *o);
void bf_destroy(struct bf *f);

/* Register access as a vCPU would (BQL held by the caller). */
uint32_t bf_rd(struct bf *f, uint64_t off);
void bf_wr(struct bf *f, uint64_t off, uint32_t v);
/* Reset, negotiate, set the queues up and DRIVER_OK; false if refused. */
bool bf_driver_up(struct bf *f);

/* Ring queue @q's doorbell (or write QueueNotify without doorbells). */
void bf_kick(struct bf *f, unsigned q);
/* Let the device work (runs the main loop once, or sleeps briefly). */
void bf_step(struct bf *f);
/* Wait for the next used entry of queue @q (asserts within 10 s). */
void bf_wait(struct bf *f, unsigned q, uint32_t *id, uint32_t *len);

/*
 * A request: header {type, 0, sector} at @hdr, @n data buffers, then a
 * one-byte status; posted on queue @q and kicked.  Returns the head.
 */
uint16_t bf_req(struct bf *f, unsigned q, uint32_t type, uint64_t sector,
                const struct vq_buf *data, unsigned n);
/* Post, kick, wait: the status byte (0xff if none written) and used len. */
uint8_t bf_run(struct bf *f, unsigned q, uint32_t type, uint64_t sector,
               const struct vq_buf *data, unsigned n, uint32_t *used_len);
/*
 * Post @n reads of 512 bytes from sectors 0.. on queue @q, without a
 * kick: read i has its header at @area + i * 4096, its data 512 bytes
 * further and its status byte (0xff until answered) at + 1024.  Their
 * heads in @heads.
 */
void bf_post_reads(struct bf *f, unsigned q, unsigned n, uint64_t area,
                   uint16_t *heads, bool indirect);
/* The total count of a latency histogram. */
uint64_t bf_lat_sum(const struct vmm_blk_lat *h);
/* The status byte of the last bf_req() on @q. */
uint8_t bf_status(struct bf *f, unsigned q);
/* Host pointer of guest RAM. */
void *bf_ptr(struct bf *f, uint64_t gpa, uint64_t len);

struct vmm_blk_stats bf_stats(struct bf *f);

/* Read the stats into @st until @cond holds (the watchdog), stepping. */
#define BF_WAIT_FOR(f, st, cond)                                               \
    STEP_UNTIL(((st) = bf_stats(f), (cond)), bf_step(f))

#endif /* TESTS_VMM_BLK_FIXTURE_H */
