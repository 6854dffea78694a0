/* SPDX-License-Identifier: MIT */
/*
 * blk-malicious: a hostile virtio-blk driver.  It breaks one rule of the
 * virtio specification per case on the first disk (vda, two queues) and
 * prints what the device did, so that a test can hold a monitor to its
 * written policy (loom-vm: docs/design/vmm-virtio.md, "Guest-facing
 * policy") and record what another does.  One line per case:
 *
 *   case NAME: setup=ok request=answered status=IOERR used_len=1
 *       dev_status=0xf needs_reset=no config_irq=no queue1=OK vdb=OK
 *       after_reset=OK [more=...]
 *
 * setup: "ok", or the step the device refused; request: "answered",
 * "no-answer" (none within timeout_ms, or the device set NEEDS_RESET) or
 * "not-sent"; status: the status byte ("untouched" when the device did not
 * write it); used_len: the used entry's length; dev_status: the Status
 * register afterwards; needs_reset: its DEVICE_NEEDS_RESET bit;
 * config_irq: InterruptStatus' configuration-change bit; queue1: a good
 * read on vda's other queue; vdb: a good read on the second disk; and
 * after_reset: a good read after vda was reset and set up again.  Never
 * waits longer than timeout_ms for anything, so a device that hangs a
 * request is reported, not waited for.
 *
 * Disks: vda writable (8 MiB or more, two queues), vdb read-only.
 * Command line: case=NAME (one case; default all), timeout_ms=N (2000),
 * settle_ms=N (20: see overcommit()).
 * Exits with SDK_EXIT_PASS once every case has reported, SDK_EXIT_FAIL
 * when the disks are not there.
 */
#include "raw.h"

#define QSIZE 16              /* entries of vda's queues */
#define FAR_ADDR (1ull << 36) /* 64 GiB: no RAM there */
#define WRAP_ADDR 0xfffffffffffffe00ull
#define PAST_QUEUE 200 /* an index past every queue */
#define SECTOR VIRTIO_BLK_SECTOR_SIZE
#define BIG_READ (1u << 20) /* overcommit: each request reads 1 MiB */
#define CHECK_NS 1000000ull /* Status polled every 1 ms while waiting */

/* The request buffers of one head: header and status byte. */
struct slot {
    struct virtio_blk_outhdr hdr;
    uint8_t status;
} __attribute__((aligned(32)));

struct obs {
    const char *setup;   /* "ok" or the refused step */
    const char *request; /* "answered", "no-answer", "not-sent" */
    int status;          /* the status byte, -1 if untouched */
    uint32_t used_len;
    char more[96]; /* case-specific "key=value" words */
};

struct ctx {
    struct virtio_mmio_dev vda, vdb;
    struct raw_dev a;
    struct vblk b;
    struct vblk_req breq;
    struct slot *slots;     /* QSIZE */
    uint8_t *data;          /* BIG_READ */
    struct vring_desc *tab; /* indirect tables: 4 * QSIZE entries */
    uint64_t timeout_tsc, check_tsc, settle_tsc;
    uint64_t want; /* features raw_standard() asks for */
};

static const char *status_word(int st, char *buf, size_t len)
{
    if (st < 0) {
        return "untouched";
    }
    if (st <= VIRTIO_BLK_S_UNSUPP) {
        return vblk_status_name((uint8_t)st);
    }
    sdk_snprintf(buf, len, "0x%02x", st);
    return buf;
}

static int read_status(const struct slot *s)
{
    uint8_t st = *(volatile const uint8_t *)&s->status;

    return st == 0xff ? -1 : st;
}

static bool needs_reset(const struct raw_dev *d)
{
    return raw_rd(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET;
}

/*
 * Wait until @q holds @n used entries not yet taken, the timeout passes,
 * or, when @stop_on_reset, the device sets NEEDS_RESET (a device that
 * declares the queue broken will not answer on it).  Returns how many it
 * holds.
 */
static unsigned wait_used(const struct ctx *c, const struct raw_queue *q,
                          unsigned n, bool stop_on_reset)
{
    uint64_t start = sdk_rdtsc(), checked = start, now;
    unsigned got;

    for (;;) {
        got = (uint16_t)(raw_used_idx(q) - q->last_used);
        if (got >= n) {
            return got;
        }
        now = sdk_rdtsc();
        if (now - start > c->timeout_tsc) {
            return got;
        }
        if (stop_on_reset && now - checked > c->check_tsc) {
            if (needs_reset(&c->a)) {
                return got;
            }
            checked = now;
        }
        sdk_pause();
    }
}

/* Header, data and status descriptors at @base, @base + 1, @base + 2. */
static void chain3(struct raw_queue *q, unsigned base, struct slot *s,
                   uint32_t type, uint64_t sector, uint64_t data, uint32_t len,
                   uint16_t dflags)
{
    s->hdr = (struct virtio_blk_outhdr){.type = type, .sector = sector};
    s->status = 0xff;
    raw_desc(q, base, (uintptr_t)&s->hdr, sizeof(s->hdr), VRING_DESC_F_NEXT,
             (uint16_t)(base + 1));
    raw_desc(q, base + 1, data, len, dflags | VRING_DESC_F_NEXT,
             (uint16_t)(base + 2));
    raw_desc(q, base + 2, (uintptr_t)&s->status, 1, VRING_DESC_F_WRITE, 0);
}

/*
 * Post @head on queue @qi, notify, and note what comes back; see
 * wait_used() for @stop_on_reset.
 */
static void request_on(struct ctx *c, unsigned qi, uint16_t head,
                       const struct slot *s, struct obs *o, bool stop_on_reset)
{
    struct raw_queue *q = &c->a.q[qi];
    uint32_t id, len;

    raw_post(q, head);
    raw_notify(&c->a, qi);
    if (!wait_used(c, q, 1, stop_on_reset) || !raw_take(q, &id, &len)) {
        o->request = "no-answer";
        return;
    }
    o->request = "answered";
    o->used_len = len;
    o->status = read_status(s);
}

/* The case's own request on queue @qi. */
static void request(struct ctx *c, unsigned qi, uint16_t head,
                    const struct slot *s, struct obs *o)
{
    request_on(c, qi, head, s, o, true);
}

/*
 * A good 512-byte read of sector 0 on vda's queue @qi, as one word.  It
 * waits the whole timeout even when the device has set NEEDS_RESET: a
 * device may stop only the queue that broke.
 */
static const char *good_read(struct ctx *c, unsigned qi)
{
    struct raw_queue *q = &c->a.q[qi];
    struct slot *s = &c->slots[qi];
    struct obs o = {.status = -1};
    static char buf[8];

    if (qi >= c->a.nqueues || !q->ready) {
        return "n/a";
    }
    chain3(q, 0, s, VIRTIO_BLK_T_IN, 0, (uintptr_t)c->data, SECTOR,
           VRING_DESC_F_WRITE);
    request_on(c, qi, 0, s, &o, false);
    if (strcmp(o.request, "answered") != 0) {
        return o.request;
    }
    return status_word(o.status, buf, sizeof(buf));
}

/* One request on vdb through the SDK's driver, within the timeout. */
static void vdb_request(struct ctx *c, uint32_t type, struct obs *o)
{
    struct vblk_options opt = {.queue_size = QSIZE, .queues = 1};
    struct vblk_req *r = &c->breq;
    uint64_t start;

    if (vblk_init(&c->b, &c->vdb, &opt) < 0) {
        o->setup = "vdb-init-failed";
        return;
    }
    *r = (struct vblk_req){
        .type = type, .sector = 0, .buf = c->data, .len = SECTOR};
    if (vblk_submit(&c->b, 0, r) < 0) {
        o->setup = "vdb-submit-failed";
        return;
    }
    vblk_kick(&c->b, 0);
    start = sdk_rdtsc();
    while (!vblk_poll(&c->b, 0)) {
        if (sdk_rdtsc() - start > c->timeout_tsc) {
            o->request = "no-answer";
            return;
        }
        sdk_pause();
    }
    o->request = "answered";
    o->status = r->status == 0xff ? -1 : r->status;
    o->used_len = r->used_len;
}

static const char *vdb_works(struct ctx *c)
{
    struct obs o = {.setup = "ok", .request = "not-sent", .status = -1};
    static char buf[8];

    vdb_request(c, VIRTIO_BLK_T_IN, &o);
    if (strcmp(o.setup, "ok") != 0) {
        return o.setup;
    }
    if (strcmp(o.request, "answered") != 0) {
        return o.request;
    }
    return status_word(o.status, buf, sizeof(buf));
}

static const char *standard(struct ctx *c)
{
    return raw_standard(&c->a, &c->vda, c->want, QSIZE);
}

/* ---- the cases ---------------------------------------------------- */

static void good(struct ctx *c, struct obs *o)
{
    chain3(&c->a.q[0], 0, &c->slots[0], VIRTIO_BLK_T_IN, 0, (uintptr_t)c->data,
           SECTOR, VRING_DESC_F_WRITE);
    request(c, 0, 0, &c->slots[0], o);
}

/* 0 -> 1 -> 2 -> 1 -> ... */
static void desc_loop(struct ctx *c, struct obs *o)
{
    struct raw_queue *q = &c->a.q[0];

    chain3(q, 0, &c->slots[0], VIRTIO_BLK_T_IN, 0, (uintptr_t)c->data, SECTOR,
           VRING_DESC_F_WRITE);
    raw_desc(q, 2, (uintptr_t)&c->slots[0].status, 1,
             VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
    request(c, 0, 0, &c->slots[0], o);
}

static bool need_indirect(struct ctx *c, struct obs *o)
{
    if (!(c->a.features & (1ull << VIRTIO_F_INDIRECT_DESC))) {
        o->setup = "no-indirect";
        return false;
    }
    return true;
}

/* An indirect table of QSIZE + 1 descriptors: longer than the queue. */
static void chain_long(struct ctx *c, struct obs *o)
{
    struct slot *s = &c->slots[0];
    struct vring_desc *t = c->tab;
    unsigned i, n = QSIZE + 1;

    if (!need_indirect(c, o)) {
        return;
    }
    s->hdr = (struct virtio_blk_outhdr){.type = VIRTIO_BLK_T_IN};
    s->status = 0xff;
    t[0] = (struct vring_desc){(uintptr_t)&s->hdr, sizeof(s->hdr),
                               VRING_DESC_F_NEXT, 1};
    for (i = 1; i + 1 < n; i++) {
        t[i] = (struct vring_desc){
            (uintptr_t)c->data + SECTOR * (i - 1), SECTOR,
            VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, (uint16_t)(i + 1)};
    }
    t[n - 1] =
        (struct vring_desc){(uintptr_t)&s->status, 1, VRING_DESC_F_WRITE, 0};
    raw_desc(&c->a.q[0], 0, (uintptr_t)t, n * sizeof(*t), VRING_DESC_F_INDIRECT,
             0);
    request(c, 0, 0, s, o);
}

/* An indirect table whose second entry is itself an indirect table. */
static void indirect_nested(struct ctx *c, struct obs *o)
{
    struct slot *s = &c->slots[0];
    struct vring_desc *a = c->tab, *b = c->tab + 2;

    if (!need_indirect(c, o)) {
        return;
    }
    s->hdr = (struct virtio_blk_outhdr){.type = VIRTIO_BLK_T_IN};
    s->status = 0xff;
    a[0] = (struct vring_desc){(uintptr_t)&s->hdr, sizeof(s->hdr),
                               VRING_DESC_F_NEXT, 1};
    a[1] = (struct vring_desc){(uintptr_t)b, 2 * sizeof(*b),
                               VRING_DESC_F_INDIRECT, 0};
    b[0] = (struct vring_desc){(uintptr_t)c->data, SECTOR,
                               VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1};
    b[1] = (struct vring_desc){(uintptr_t)&s->status, 1, VRING_DESC_F_WRITE, 0};
    raw_desc(&c->a.q[0], 0, (uintptr_t)a, 2 * sizeof(*a), VRING_DESC_F_INDIRECT,
             0);
    request(c, 0, 0, s, o);
}

static void indirect_outside_ram(struct ctx *c, struct obs *o)
{
    if (!need_indirect(c, o)) {
        return;
    }
    c->slots[0].status = 0xff;
    raw_desc(&c->a.q[0], 0, FAR_ADDR, 3 * sizeof(struct vring_desc),
             VRING_DESC_F_INDIRECT, 0);
    request(c, 0, 0, &c->slots[0], o);
}

static void head_past_queue(struct ctx *c, struct obs *o)
{
    chain3(&c->a.q[0], 0, &c->slots[0], VIRTIO_BLK_T_IN, 0, (uintptr_t)c->data,
           SECTOR, VRING_DESC_F_WRITE);
    request(c, 0, PAST_QUEUE, &c->slots[0], o);
}

static void next_past_queue(struct ctx *c, struct obs *o)
{
    struct raw_queue *q = &c->a.q[0];

    chain3(q, 0, &c->slots[0], VIRTIO_BLK_T_IN, 0, (uintptr_t)c->data, SECTOR,
           VRING_DESC_F_WRITE);
    q->desc[0].next = PAST_QUEUE;
    request(c, 0, 0, &c->slots[0], o);
}

/* A read into @addr, @len bytes, with data flags @flags. */
static void bad_buffer(struct ctx *c, struct obs *o, uint64_t addr,
                       uint32_t len, uint16_t flags)
{
    chain3(&c->a.q[0], 0, &c->slots[0], VIRTIO_BLK_T_IN, 0, addr, len, flags);
    request(c, 0, 0, &c->slots[0], o);
}

static void buffer_outside_ram(struct ctx *c, struct obs *o)
{
    bad_buffer(c, o, FAR_ADDR, SECTOR, VRING_DESC_F_WRITE);
}

static void buffer_overflow(struct ctx *c, struct obs *o)
{
    bad_buffer(c, o, WRAP_ADDR, 2 * SECTOR, VRING_DESC_F_WRITE);
}

static void zero_length(struct ctx *c, struct obs *o)
{
    bad_buffer(c, o, (uintptr_t)c->data, 0, VRING_DESC_F_WRITE);
}

/* A read whose data buffer the device may only read. */
static void wrong_direction(struct ctx *c, struct obs *o)
{
    bad_buffer(c, o, (uintptr_t)c->data, SECTOR, 0);
}

static void status_readonly(struct ctx *c, struct obs *o)
{
    struct raw_queue *q = &c->a.q[0];

    chain3(q, 0, &c->slots[0], VIRTIO_BLK_T_IN, 0, (uintptr_t)c->data, SECTOR,
           VRING_DESC_F_WRITE);
    q->desc[2].flags = 0;
    request(c, 0, 0, &c->slots[0], o);
}

/* header, data (writable), 16 readable bytes, status. */
static void readable_after_writable(struct ctx *c, struct obs *o)
{
    struct raw_queue *q = &c->a.q[0];
    struct slot *s = &c->slots[0];

    chain3(q, 0, s, VIRTIO_BLK_T_IN, 0, (uintptr_t)c->data, SECTOR,
           VRING_DESC_F_WRITE);
    raw_desc(q, 2, (uintptr_t)c->data + SECTOR, 16, VRING_DESC_F_NEXT, 3);
    raw_desc(q, 3, (uintptr_t)&s->status, 1, VRING_DESC_F_WRITE, 0);
    request(c, 0, 0, s, o);
}

/*
 * Queue 0 set up with @size entries and its descriptor table at @desc (0:
 * in RAM), queue 1 as usual (unless @skip_q1), then DRIVER_OK; a good read
 * on queue 0 if the device took it.
 */
static void custom_queue(struct ctx *c, struct obs *o, unsigned size,
                         uint64_t desc, bool skip_q1)
{
    struct raw_dev *d = &c->a;
    struct raw_rings r;

    if (!raw_begin(d, &c->vda)) {
        o->setup = "reset-refused";
        return;
    }
    raw_features(d, d->offered & (c->want | (d->dev.version == 2
                                                 ? 1ull << VIRTIO_F_VERSION_1
                                                 : 0)));
    if (d->dev.version == 2 && !(raw_status(d, VIRTIO_STATUS_FEATURES_OK) &
                                 VIRTIO_STATUS_FEATURES_OK)) {
        o->setup = "features-refused";
        return;
    }
    raw_alloc_rings(size, &r);
    if (desc) {
        r.desc = desc;
    }
    if (!raw_queue(d, 0, size, &r)) {
        o->setup = "queue-refused";
    }
    if (!skip_q1 && d->nqueues > 1) {
        raw_queue(d, 1, QSIZE, NULL);
    }
    raw_status(d, VIRTIO_STATUS_DRIVER_OK |
                      (d->dev.version == 2 ? VIRTIO_STATUS_FEATURES_OK : 0));
    if (!d->q[0].ready) {
        return;
    }
    if (!desc) {
        chain3(&d->q[0], 0, &c->slots[0], VIRTIO_BLK_T_IN, 0,
               (uintptr_t)c->data, SECTOR, VRING_DESC_F_WRITE);
    }
    request(c, 0, 0, &c->slots[0], o);
}

static void ring_outside_ram(struct ctx *c, struct obs *o)
{
    custom_queue(c, o, QSIZE, FAR_ADDR, false);
}

static void queue_size_not_pow2(struct ctx *c, struct obs *o)
{
    custom_queue(c, o, QSIZE - 4, 0, false);
}

static void queue_size_too_big(struct ctx *c, struct obs *o)
{
    unsigned size = 2u * c->a.num_max;

    sdk_snprintf(o->more, sizeof(o->more), "queue_num_max=%u size=%u",
                 c->a.num_max, size);
    custom_queue(c, o, size, 0, false);
}

static void avail_jump(struct ctx *c, struct obs *o)
{
    struct raw_queue *q = &c->a.q[0];
    uint32_t id, len;

    chain3(q, 0, &c->slots[0], VIRTIO_BLK_T_IN, 0, (uintptr_t)c->data, SECTOR,
           VRING_DESC_F_WRITE);
    q->avail->ring[0] = 0;
    raw_set_avail_idx(q, QSIZE + 1);
    raw_notify(&c->a, 0);
    if (!wait_used(c, q, 1, true) || !raw_take(q, &id, &len)) {
        o->request = "no-answer";
        return;
    }
    o->request = "answered";
    o->used_len = len;
    o->status = read_status(&c->slots[0]);
}

/* Notifications for queues the device does not have, then a good read. */
static void notify_unset_queue(struct ctx *c, struct obs *o)
{
    raw_notify(&c->a, c->a.nqueues);
    raw_notify(&c->a, 7);
    raw_notify(&c->a, 0xffff);
    good(c, o);
}

/* Queue 1 never set up, notified anyway; then a good read on queue 0. */
static void notify_unready_queue(struct ctx *c, struct obs *o)
{
    custom_queue(c, o, QSIZE, 0, true);
    raw_notify(&c->a, 1);
    if (strcmp(o->request, "answered") == 0) {
        *o = (struct obs){.setup = o->setup, .status = -1};
        good(c, o);
    }
}

static void driver_ok_before_features_ok(struct ctx *c, struct obs *o)
{
    struct raw_dev *d = &c->a;

    if (c->vda.version != 2) {
        o->setup = "legacy";
        return;
    }
    raw_begin(d, &c->vda);
    raw_features(d, d->offered & (c->want | 1ull << VIRTIO_F_VERSION_1));
    raw_queue(d, 0, QSIZE, NULL);
    if (d->nqueues > 1) {
        raw_queue(d, 1, QSIZE, NULL);
    }
    raw_status(d, VIRTIO_STATUS_DRIVER_OK);
    if (d->q[0].ready) {
        good(c, o);
    }
}

static void read_past_end(struct ctx *c, struct obs *o)
{
    chain3(&c->a.q[0], 0, &c->slots[0], VIRTIO_BLK_T_IN, c->a.capacity,
           (uintptr_t)c->data, SECTOR, VRING_DESC_F_WRITE);
    request(c, 0, 0, &c->slots[0], o);
}

static void read_across_end(struct ctx *c, struct obs *o)
{
    chain3(&c->a.q[0], 0, &c->slots[0], VIRTIO_BLK_T_IN, c->a.capacity - 1,
           (uintptr_t)c->data, 2 * SECTOR, VRING_DESC_F_WRITE);
    request(c, 0, 0, &c->slots[0], o);
}

static void write_read_only(struct ctx *c, struct obs *o)
{
    vdb_request(c, VIRTIO_BLK_T_OUT, o);
    if (strcmp(o->setup, "ok") == 0 && !c->b.ro) {
        o->setup = "vdb-writable";
    }
}

/*
 * Every head in flight, then each posted again before the device has
 * answered: up to twice the queue's requests at once.  The second round
 * goes out once the device has taken the first: when EVENT_IDX's
 * avail_event says so, or settle_ms after the notification (a device
 * whose request slots are all busy need not update avail_event).
 */
static void overcommit(struct ctx *c, struct obs *o)
{
    struct raw_queue *q = &c->a.q[0];
    uint64_t start;
    unsigned h, got, ok = 0, in_flight;
    volatile uint16_t *avail_event;

    c->want |= 1ull << VIRTIO_F_EVENT_IDX;
    o->setup = standard(c);
    c->want &= ~(1ull << VIRTIO_F_EVENT_IDX);
    if (o->setup) {
        return;
    }
    o->setup = "ok";
    if (!need_indirect(c, o)) {
        return;
    }
    if (!(c->a.features & (1ull << VIRTIO_F_EVENT_IDX))) {
        o->setup = "no-event-idx";
        return;
    }
    avail_event = (volatile uint16_t *)&q->used->ring[q->size];
    for (h = 0; h < QSIZE; h++) {
        struct vring_desc *t = c->tab + 3 * h;
        struct slot *s = &c->slots[h];

        s->hdr = (struct virtio_blk_outhdr){.type = VIRTIO_BLK_T_IN};
        s->status = 0xff;
        t[0] = (struct vring_desc){(uintptr_t)&s->hdr, sizeof(s->hdr),
                                   VRING_DESC_F_NEXT, 1};
        t[1] = (struct vring_desc){(uintptr_t)c->data, BIG_READ,
                                   VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2};
        t[2] = (struct vring_desc){(uintptr_t)&s->status, 1, VRING_DESC_F_WRITE,
                                   0};
        raw_desc(q, h, (uintptr_t)t, 3 * sizeof(*t), VRING_DESC_F_INDIRECT, 0);
        raw_post(q, (uint16_t)h);
    }
    raw_notify(&c->a, 0);
    start = sdk_rdtsc();
    while (*avail_event != QSIZE && raw_used_idx(q) != QSIZE &&
           sdk_rdtsc() - start < c->settle_tsc) {
        sdk_pause();
    }
    in_flight = (uint16_t)(QSIZE - raw_used_idx(q));
    for (h = 0; h < QSIZE; h++) {
        raw_post(q, (uint16_t)h);
    }
    raw_notify(&c->a, 0);
    got = wait_used(c, q, 2 * QSIZE, true);
    for (h = 0; h < QSIZE; h++) {
        ok += read_status(&c->slots[h]) == VIRTIO_BLK_S_OK;
    }
    o->request = got == 2 * QSIZE ? "answered" : "no-answer";
    o->status = ok == QSIZE ? VIRTIO_BLK_S_OK : read_status(&c->slots[0]);
    o->used_len = got ? q->used->ring[0].len : 0;
    sdk_snprintf(o->more, sizeof(o->more),
                 "answered=%u/%u reposted_in_flight=%u", got, 2 * QSIZE,
                 in_flight);
    q->last_used = (uint16_t)(q->last_used + got);
}

struct mcase {
    const char *name;
    void (*run)(struct ctx *c, struct obs *o);
    bool custom; /* sets vda up itself */
};

static const struct mcase cases[] = {
    {"good", good, false},
    {"desc-loop", desc_loop, false},
    {"chain-longer-than-queue", chain_long, false},
    {"indirect-nested", indirect_nested, false},
    {"indirect-outside-ram", indirect_outside_ram, false},
    {"head-past-queue", head_past_queue, false},
    {"next-past-queue", next_past_queue, false},
    {"buffer-outside-ram", buffer_outside_ram, false},
    {"buffer-overflow", buffer_overflow, false},
    {"zero-length", zero_length, false},
    {"wrong-direction", wrong_direction, false},
    {"status-readonly", status_readonly, false},
    {"readable-after-writable", readable_after_writable, false},
    {"ring-outside-ram", ring_outside_ram, true},
    {"queue-size-not-pow2", queue_size_not_pow2, true},
    {"queue-size-too-big", queue_size_too_big, true},
    {"avail-jump", avail_jump, false},
    {"notify-unset-queue", notify_unset_queue, false},
    {"notify-unready-queue", notify_unready_queue, true},
    {"driver-ok-before-features-ok", driver_ok_before_features_ok, true},
    {"read-past-end", read_past_end, false},
    {"read-across-end", read_across_end, false},
    {"write-read-only", write_read_only, false},
    {"overcommit", overcommit, true},
};

static void run_case(struct ctx *c, const struct mcase *mc)
{
    struct obs o = {.setup = "ok", .request = "not-sent", .status = -1};
    char sbuf[8], lbuf[16];
    const char *q1, *vdb, *after;
    uint32_t st, isr;

    if (!mc->custom) {
        const char *why = standard(c);

        if (why) {
            o.setup = why;
        }
    }
    if (strcmp(o.setup, "ok") == 0) {
        mc->run(c, &o);
    }
    st = raw_rd(&c->a, VIRTIO_MMIO_STATUS);
    isr = raw_rd(&c->a, VIRTIO_MMIO_INTERRUPT_STATUS);
    raw_wr(&c->a, VIRTIO_MMIO_INTERRUPT_ACK, isr);
    q1 = good_read(c, 1);
    vdb = vdb_works(c);
    after = standard(c);
    if (!after) {
        after = good_read(c, 0);
    }
    if (strcmp(o.request, "answered") == 0) {
        sdk_snprintf(lbuf, sizeof(lbuf), "%u", o.used_len);
    } else {
        lbuf[0] = '-';
        lbuf[1] = 0;
    }
    sdk_printf("case %s: setup=%s request=%s status=%s used_len=%s "
               "dev_status=%#x needs_reset=%s config_irq=%s queue1=%s "
               "vdb=%s after_reset=%s%s%s\n",
               mc->name, o.setup, o.request,
               strcmp(o.request, "answered") == 0
                   ? status_word(o.status, sbuf, sizeof(sbuf))
                   : "-",
               lbuf, st, st & VIRTIO_STATUS_NEEDS_RESET ? "yes" : "no",
               isr & VIRTIO_MMIO_INT_CONFIG ? "yes" : "no", q1, vdb, after,
               o.more[0] ? " " : "", o.more);
}

int guest_main(void)
{
    struct virtio_mmio_dev devs[2];
    const char *only = sdk_arg("case");
    struct ctx c = {0};
    unsigned i, n = 0;

    if (virtio_mmio_find(VIRTIO_ID_BLOCK, devs, 2) < 2) {
        sdk_printf("blk-malicious: FAIL: needs two virtio-blk disks\n");
        return SDK_EXIT_FAIL;
    }
    c.vda = devs[0];
    c.vdb = devs[1];
    c.timeout_tsc =
        sdk_ns_to_tsc(sdk_arg_u64("timeout_ms", 2000, 600000) * 1000000ull);
    c.check_tsc = sdk_ns_to_tsc(CHECK_NS);
    c.settle_tsc =
        sdk_ns_to_tsc(sdk_arg_u64("settle_ms", 20, 600000) * 1000000ull);
    c.want = 1ull << VIRTIO_F_INDIRECT_DESC | 1ull << VIRTIO_BLK_F_MQ |
             1ull << VIRTIO_BLK_F_RO | 1ull << VIRTIO_BLK_F_FLUSH |
             1ull << VIRTIO_BLK_F_BLK_SIZE;
    c.slots = sdk_alloc(QSIZE * sizeof(*c.slots), 64);
    c.data = sdk_alloc(BIG_READ, 4096);
    c.tab = sdk_alloc(4 * QSIZE * sizeof(*c.tab), 64);
    sdk_printf("blk-malicious: vda %#lx (version %u), vdb %#lx\n",
               (unsigned long)c.vda.base, c.vda.version,
               (unsigned long)c.vdb.base);
    for (i = 0; i < SDK_ARRAY_SIZE(cases); i++) {
        if (!only || strcmp(only, cases[i].name) == 0) {
            run_case(&c, &cases[i]);
            n++;
        }
    }
    if (!n) {
        sdk_printf("usage: case=%s: no such case\n", only);
        return SDK_EXIT_USAGE;
    }
    raw_begin(&c.a, &c.vda); /* leave vda reset */
    sdk_printf("blk-malicious: %u cases\n", n);
    return SDK_EXIT_PASS;
}
