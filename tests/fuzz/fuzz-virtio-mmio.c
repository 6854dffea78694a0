/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the virtio-mmio transport's register file
 * (vmm/devices/virtio/mmio.c) on an MMIO bus, driven by sequences of
 * reads and writes as a hostile driver would make them, with a fake
 * device behind it that checks every call the transport makes, and fake
 * doorbells and interrupt line.
 *
 * Input: 2 bytes of set-up, then a program of operations.
 *   byte 0     bit 0 legacy layout; bits 1-4 queues - 1 (1..16); bits 5-7
 *              the maximum queue size, 2 << n (2..256);
 *   byte 1     the configuration space size (0..255); its top bit also
 *              decides whether the device has doorbell eventfds;
 *   then each operation is one byte, perhaps followed by a value:
 *   0xxxxxxx   an access: bits 0-4 the register (regs[] below), bit 5
 *              write (then 4 value bytes, or 8 for a 64-bit access),
 *              bit 6 an access of the wrong width (1, 2 or 8 bytes, from
 *              the next byte);
 *   1xxxxxxx   bits 0-6 modulo 6: the device raises a used-buffer
 *              interrupt, reports a broken ring, changes its
 *              configuration, makes its next start fail, a system reset,
 *              or a full driver bring-up (reset, ACKNOWLEDGE, DRIVER,
 *              every offered feature, FEATURES_OK, queue 0 set up,
 *              DRIVER_OK), so that deep states are one byte away.
 * Checked besides memory safety: the device is asked only what the
 * contract allows - configuration accesses inside its space, a start only
 * on DRIVER_OK (modern: with FEATURES_OK, VERSION_1 and offered features
 * only; never twice without a reset), ready queues with valid sizes,
 * notifications only for ready queues of a started device; the line is
 * up exactly while InterruptStatus is not 0; a reset clears status,
 * interrupts and the started state, and status never reads 0 while the
 * device runs; NEEDS_RESET is only set by the
 * device's report, a failed start or DRIVER_OK without FEATURES_OK;
 * every doorbell added is removed with the same arguments.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <loom/main.h>

#include "core/bus.h"
#include "core/irq.h"
#include "devices/virtio/mmio.h"
#include "fuzz.h"

#define BASE 0xfeb00e00ull
#define MAX_Q 16u
#define FEATURES                                                               \
    ((1ull << 28) | (1ull << 29) | (1ull << 1) | (1ull << 9) | (1ull << 40))

/* Registers the program can name: all of them, and a few odd places. */
static const uint16_t regs[32] = {
    VMM_VIRTIO_MMIO_MAGIC,
    VMM_VIRTIO_MMIO_VERSION,
    VMM_VIRTIO_MMIO_DEVICE_ID,
    VMM_VIRTIO_MMIO_DEVICE_FEATURES,
    VMM_VIRTIO_MMIO_DEVICE_FEATURES_SEL,
    VMM_VIRTIO_MMIO_DRIVER_FEATURES,
    VMM_VIRTIO_MMIO_DRIVER_FEATURES_SEL,
    VMM_VIRTIO_MMIO_GUEST_PAGE_SIZE,
    VMM_VIRTIO_MMIO_QUEUE_SEL,
    VMM_VIRTIO_MMIO_QUEUE_NUM_MAX,
    VMM_VIRTIO_MMIO_QUEUE_NUM,
    VMM_VIRTIO_MMIO_QUEUE_ALIGN,
    VMM_VIRTIO_MMIO_QUEUE_PFN,
    VMM_VIRTIO_MMIO_QUEUE_READY,
    VMM_VIRTIO_MMIO_QUEUE_NOTIFY,
    VMM_VIRTIO_MMIO_INTERRUPT_STATUS,
    VMM_VIRTIO_MMIO_INTERRUPT_ACK,
    VMM_VIRTIO_MMIO_STATUS,
    VMM_VIRTIO_MMIO_QUEUE_DESC_LOW,
    VMM_VIRTIO_MMIO_QUEUE_DESC_HIGH,
    VMM_VIRTIO_MMIO_QUEUE_DRIVER_LOW,
    VMM_VIRTIO_MMIO_QUEUE_DRIVER_HIGH,
    VMM_VIRTIO_MMIO_QUEUE_DEVICE_LOW,
    VMM_VIRTIO_MMIO_QUEUE_DEVICE_HIGH,
    VMM_VIRTIO_MMIO_SHM_SEL,
    VMM_VIRTIO_MMIO_SHM_LEN_LOW,
    VMM_VIRTIO_MMIO_CONFIG_GENERATION,
    VMM_VIRTIO_MMIO_CONFIG,
    VMM_VIRTIO_MMIO_CONFIG + 0x3b,
    VMM_VIRTIO_MMIO_SIZE - 4,
    0x0fd,
    0x1ff,
};

struct fake {
    struct vmm_virtio_mmio *t;
    struct vmm_virtio_dev_ops ops;
    bool legacy;
    bool started;
    bool fail_next_start;
    bool ready[MAX_Q];
    bool level;
    bool expect_needs_reset; /* a cause for NEEDS_RESET has happened */
    int db_adds, db_dels;
};

static struct fake g_fake;

static void fake_irq_set(void *opaque, bool level)
{
    ((struct fake *)opaque)->level = level;
}

/* The transport may only reach inside the configuration space. */
static void check_config(const struct fake *f, unsigned off, unsigned len,
                         const char *what)
{
    FUZZ_CHECK(len >= 1 && len <= 8 && off < f->ops.config_size &&
                   len <= f->ops.config_size - off,
               "config %s of %u at %u (size %u)", what, len, off,
               f->ops.config_size);
}

static void fake_config_read(void *opaque, unsigned off, void *buf,
                             unsigned len)
{
    check_config(opaque, off, len, "read");
    memset(buf, 0x5a, len);
}

static void fake_config_write(void *opaque, unsigned off, const void *buf,
                              unsigned len)
{
    check_config(opaque, off, len, "write");
}

static bool pow2(unsigned v)
{
    return v && !(v & (v - 1));
}

static int fake_start(void *opaque, uint64_t features,
                      const struct vmm_virtio_queue_cfg *queues, unsigned nq)
{
    struct fake *f = opaque;
    uint32_t status = vmm_virtio_mmio_status(f->t);
    uint64_t offered = f->ops.features;

    FUZZ_CHECK(!f->started, "started twice without a reset");
    FUZZ_CHECK(status & VMM_VIRTIO_S_DRIVER_OK, "start without DRIVER_OK");
    FUZZ_CHECK(nq == f->ops.num_queues, "%u queues of %u", nq,
               f->ops.num_queues);
    if (f->legacy) {
        offered &= ~(1ull << VMM_VIRTIO_F_VERSION_1);
    } else {
        offered |= 1ull << VMM_VIRTIO_F_VERSION_1;
        FUZZ_CHECK(status & VMM_VIRTIO_S_FEATURES_OK,
                   "modern start without FEATURES_OK");
        FUZZ_CHECK(features & (1ull << VMM_VIRTIO_F_VERSION_1),
                   "modern start without VERSION_1");
    }
    FUZZ_CHECK(!(features & ~offered), "features %#llx not offered",
               (unsigned long long)features);
    for (unsigned i = 0; i < nq; i++) {
        f->ready[i] = queues[i].ready;
        FUZZ_CHECK(!queues[i].ready ||
                       (pow2(queues[i].size) &&
                        queues[i].size <= f->ops.max_queue_size),
                   "queue %u ready with size %u", i, queues[i].size);
    }
    f->started = true;
    if (f->fail_next_start) {
        f->fail_next_start = false;
        f->expect_needs_reset = true;
        return -EFAULT;
    }
    return 0;
}

static void fake_reset(void *opaque)
{
    struct fake *f = opaque;

    f->started = false;
    memset(f->ready, 0, sizeof(f->ready));
}

static bool fake_notify(void *opaque, unsigned q)
{
    struct fake *f = opaque;

    FUZZ_CHECK(q < f->ops.num_queues && f->started && f->ready[q],
               "notify for queue %u (started %d)", q, f->started);
    return true;
}

static int fake_notifier_fd(void *opaque, unsigned q)
{
    return 1000 + (int)q;
}

static int db_add(void *opaque, int fd, uint64_t addr, unsigned len,
                  uint64_t data)
{
    struct fake *f = opaque;

    FUZZ_CHECK(fd == 1000 + (int)data && data < f->ops.num_queues &&
                   addr == BASE + VMM_VIRTIO_MMIO_QUEUE_NOTIFY && len == 4,
               "doorbell fd %d addr %#llx len %u data %llu", fd,
               (unsigned long long)addr, len, (unsigned long long)data);
    f->db_adds++;
    return 0;
}

static int db_del(void *opaque, int fd, uint64_t addr, unsigned len,
                  uint64_t data)
{
    struct fake *f = opaque;

    FUZZ_CHECK(fd == 1000 + (int)data && data < f->ops.num_queues &&
                   addr == BASE + VMM_VIRTIO_MMIO_QUEUE_NOTIFY && len == 4,
               "doorbell removal fd %d", fd);
    f->db_dels++;
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    FUZZ_CHECK(loom_main_init() == 0, "main loop");
    /* Register accesses come with the BQL, as from a vCPU. */
    loom_bql_lock();
    return 0;
}

static uint32_t rd32(struct vmm_bus *bus, uint16_t off)
{
    uint32_t v = 0;

    FUZZ_CHECK(vmm_bus_read(bus, BASE + off, &v, 4) == 0, "read %#x", off);
    return v;
}

static void wr32(struct vmm_bus *bus, uint16_t off, uint32_t v)
{
    FUZZ_CHECK(vmm_bus_write(bus, BASE + off, &v, 4) == 0, "write %#x", off);
}

/* A well-behaved driver up to DRIVER_OK, queue 0 at low addresses. */
static void bring_up(struct fake *f, struct vmm_bus *bus)
{
    wr32(bus, VMM_VIRTIO_MMIO_STATUS, 0);
    wr32(bus, VMM_VIRTIO_MMIO_STATUS, VMM_VIRTIO_S_ACKNOWLEDGE);
    wr32(bus, VMM_VIRTIO_MMIO_STATUS,
         VMM_VIRTIO_S_ACKNOWLEDGE | VMM_VIRTIO_S_DRIVER);
    for (uint32_t sel = 0; sel < 2; sel++) {
        wr32(bus, VMM_VIRTIO_MMIO_DEVICE_FEATURES_SEL, sel);
        wr32(bus, VMM_VIRTIO_MMIO_DRIVER_FEATURES_SEL, sel);
        wr32(bus, VMM_VIRTIO_MMIO_DRIVER_FEATURES,
             rd32(bus, VMM_VIRTIO_MMIO_DEVICE_FEATURES));
    }
    wr32(bus, VMM_VIRTIO_MMIO_STATUS,
         VMM_VIRTIO_S_ACKNOWLEDGE | VMM_VIRTIO_S_DRIVER |
             VMM_VIRTIO_S_FEATURES_OK);
    wr32(bus, VMM_VIRTIO_MMIO_QUEUE_SEL, 0);
    wr32(bus, VMM_VIRTIO_MMIO_QUEUE_NUM, f->ops.max_queue_size);
    if (f->legacy) {
        wr32(bus, VMM_VIRTIO_MMIO_GUEST_PAGE_SIZE, 4096);
        wr32(bus, VMM_VIRTIO_MMIO_QUEUE_PFN, 1);
    } else {
        wr32(bus, VMM_VIRTIO_MMIO_QUEUE_DESC_LOW, 0x1000);
        wr32(bus, VMM_VIRTIO_MMIO_QUEUE_DRIVER_LOW, 0x3000);
        wr32(bus, VMM_VIRTIO_MMIO_QUEUE_DEVICE_LOW, 0x4000);
        wr32(bus, VMM_VIRTIO_MMIO_QUEUE_READY, 1);
    }
    wr32(bus, VMM_VIRTIO_MMIO_STATUS,
         VMM_VIRTIO_S_ACKNOWLEDGE | VMM_VIRTIO_S_DRIVER |
             VMM_VIRTIO_S_FEATURES_OK | VMM_VIRTIO_S_DRIVER_OK);
}

/* What must hold between any two operations. */
static void check_state(struct fake *f, struct vmm_bus *bus)
{
    uint32_t isr = rd32(bus, VMM_VIRTIO_MMIO_INTERRUPT_STATUS);
    uint32_t status = rd32(bus, VMM_VIRTIO_MMIO_STATUS);

    FUZZ_CHECK(f->level == (isr != 0), "line %d with InterruptStatus %#x",
               f->level, isr);
    FUZZ_CHECK(!(isr & ~3u), "InterruptStatus %#x", isr);
    FUZZ_CHECK(!(status & VMM_VIRTIO_S_NEEDS_RESET) || f->expect_needs_reset,
               "NEEDS_RESET without a cause (status %#x)", status);
    FUZZ_CHECK(!f->legacy || !(status & VMM_VIRTIO_S_NEEDS_RESET),
               "NEEDS_RESET on a legacy device");
    if (status == 0) {
        /* A driver that reads 0 takes the device for reset. */
        FUZZ_CHECK(!f->started, "status 0 with the device started");
        f->expect_needs_reset = false;
    }
}

/* Right after a reset: nothing started, nothing pending. */
static void check_reset(struct fake *f, struct vmm_bus *bus)
{
    FUZZ_CHECK(rd32(bus, VMM_VIRTIO_MMIO_STATUS) == 0 &&
                   rd32(bus, VMM_VIRTIO_MMIO_INTERRUPT_STATUS) == 0 &&
                   !f->started && !f->level,
               "a reset left state behind");
}

static void access(struct fake *f, struct vmm_bus *bus, uint8_t op,
                   const uint8_t **p, const uint8_t *end)
{
    static const unsigned odd[3] = {1, 2, 8};
    uint16_t off = regs[op & 31];
    unsigned width = 4;
    uint64_t v = 0;
    int r;

    if (op & 0x40) {
        width = *p < end ? odd[*(*p)++ % 3] : 1;
    }
    if (off + width > VMM_VIRTIO_MMIO_SIZE) {
        width = 1;
    }
    if (op & 0x20) {
        size_t n = (size_t)(end - *p) < width ? (size_t)(end - *p) : width;
        uint32_t old = rd32(bus, VMM_VIRTIO_MMIO_STATUS);

        memcpy(&v, *p, n);
        *p += n;
        /* DRIVER_OK without FEATURES_OK is the driver's doing. */
        if (off == VMM_VIRTIO_MMIO_STATUS && width == 4 && !f->legacy &&
            (v & VMM_VIRTIO_S_DRIVER_OK) && !(old & VMM_VIRTIO_S_DRIVER_OK) &&
            !f->started) {
            f->expect_needs_reset = true;
        }
        r = vmm_bus_write(bus, BASE + off, &v, width);
        if (off == VMM_VIRTIO_MMIO_STATUS && width == 4 && v == 0) {
            check_reset(f, bus);
        }
    } else {
        r = vmm_bus_read(bus, BASE + off, &v, width);
        if (r == 0 && off == VMM_VIRTIO_MMIO_MAGIC && width == 4) {
            FUZZ_CHECK(v == VMM_VIRTIO_MMIO_MAGIC_VALUE, "magic %#llx",
                       (unsigned long long)v);
        }
    }
    FUZZ_CHECK(r == 0, "access of %u at %#x: %d", width, off, r);
}

static void special(struct fake *f, struct vmm_bus *bus, uint8_t op)
{
    struct vmm_virtio_host host = vmm_virtio_mmio_host(f->t);

    switch ((op & 0x7f) % 6) {
    case 0:
        host.used(host.opaque, 0);
        break;
    case 1:
        host.needs_reset(host.opaque, 0);
        f->expect_needs_reset = true;
        break;
    case 2:
        host.config_changed(host.opaque);
        break;
    case 3:
        f->fail_next_start = true;
        break;
    case 4:
        vmm_virtio_mmio_reset(f->t);
        check_reset(f, bus);
        break;
    default:
        bring_up(f, bus);
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fake *f = &g_fake;
    struct vmm_irq irq = {fake_irq_set, f};
    struct vmm_doorbells db = {db_add, db_del, f};
    struct vmm_virtio_mmio_opts o = {0};
    const uint8_t *p = data + 2, *end = data + size;
    struct vmm_bus *bus;

    if (size < 2) {
        return 0;
    }
    memset(f, 0, sizeof(*f));
    f->legacy = data[0] & 1;
    f->ops = (struct vmm_virtio_dev_ops){
        .device_id = 2,
        .num_queues = 1 + ((data[0] >> 1) & 15),
        .max_queue_size = (uint16_t)(2u << (data[0] >> 5)),
        .config_size = data[1],
        .features = FEATURES,
        .config_read = fake_config_read,
        .config_write = fake_config_write,
        .start = fake_start,
        .reset = fake_reset,
        .notify = fake_notify,
        .notifier_fd = (data[1] & 0x80) ? fake_notifier_fd : NULL,
        .opaque = f,
    };
    o.dev = &f->ops;
    o.irq = &irq;
    o.base = BASE;
    o.doorbells = &db;
    o.legacy = f->legacy;
    o.name = "fuzz";
    FUZZ_CHECK(vmm_bus_new(UINT64_MAX, &bus) == 0, "bus");
    o.bus = bus;
    FUZZ_CHECK(vmm_virtio_mmio_new(&o, &f->t) == 0, "transport");
    while (p < end) {
        uint8_t op = *p++;

        if (op & 0x80) {
            special(f, bus, op);
        } else {
            access(f, bus, op, &p, end);
        }
        check_state(f, bus);
    }
    vmm_virtio_mmio_free(f->t);
    FUZZ_CHECK(f->db_adds == f->db_dels, "%d doorbells added, %d removed",
               f->db_adds, f->db_dels);
    vmm_bus_free(bus);
    return 0;
}
