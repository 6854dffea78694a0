/* SPDX-License-Identifier: MIT */
/*
 * Finding virtio-mmio devices: the kernel command line's
 * virtio_mmio.device=SIZE@BASE:IRQ[:ID] words (Linux's syntax, which QEMU
 * and loom-vm append with acpi=off), else a probe of QEMU microvm's eight
 * transports.  Each candidate is checked (magic, version) before use.
 * See virtio-mmio.h.
 */
#include "sdk/virtio-mmio.h"
#include "sdk/virtio.h"

#define SLOT_BASE 0xfeb00000ull
#define SLOT_STRIDE 0x200
#define SLOT_IRQ0 5

static bool read_dev(uint64_t base, uint32_t irq, struct virtio_mmio_dev *d)
{
    uint32_t version;

    if (base < 0xc0000000ull || base > 0xffffffffull - 0x1000 ||
        (base & 0xff)) {
        return false; /* outside the mapped MMIO hole, or misaligned */
    }
    if (sdk_mmio_read32(base + VIRTIO_MMIO_MAGIC) != VIRTIO_MMIO_MAGIC_VALUE) {
        return false;
    }
    version = sdk_mmio_read32(base + VIRTIO_MMIO_VERSION);
    if (version != 1 && version != 2) {
        return false;
    }
    d->base = base;
    d->irq = irq;
    d->version = version;
    d->device_id = sdk_mmio_read32(base + VIRTIO_MMIO_DEVICE_ID);
    return true;
}

/* Split "SIZE@BASE:IRQ[:ID]"; false when malformed. */
static bool parse_word(const char *s, uint64_t *base, uint32_t *irq)
{
    char part[3][24];
    uint64_t v[3];
    unsigned i = 0, n = 0;

    for (; *s && i < 3; s++) {
        if ((*s == '@' && i == 0) || (*s == ':' && i == 1)) {
            part[i++][n] = '\0';
            n = 0;
        } else if (*s == ':' && i == 2) {
            break; /* an optional device ID follows */
        } else if (n + 1 < sizeof(part[0])) {
            part[i][n++] = *s;
        } else {
            return false;
        }
    }
    if (i != 2) {
        return false;
    }
    part[2][n] = '\0';
    for (i = 0; i < 3; i++) {
        if (!sdk_parse_u64(part[i], &v[i])) {
            return false;
        }
    }
    if (v[2] > 23) {
        return false;
    }
    *base = v[1];
    *irq = (uint32_t)v[2];
    return true;
}

static void add(struct virtio_mmio_dev *found, unsigned *n,
                const struct virtio_mmio_dev *d)
{
    unsigned i;

    for (i = 0; i < *n; i++) {
        if (found[i].base == d->base) {
            return;
        }
    }
    if (*n < VIRTIO_MMIO_SLOTS * 4) {
        found[(*n)++] = *d;
    }
}

/* virtio_mmio_find() - see virtio-mmio.h.  Context: any CPU. */
unsigned virtio_mmio_find(uint32_t device_id, struct virtio_mmio_dev *out,
                          unsigned max)
{
    struct virtio_mmio_dev found[VIRTIO_MMIO_SLOTS * 4], d, t;
    unsigned i, j, n = 0, count = 0;
    uint64_t base;
    uint32_t irq;

    for (i = 0; i < sdk_arg_count(); i++) {
        if (strcmp(sdk_arg_key(i), "virtio_mmio.device") != 0) {
            continue;
        }
        if (!parse_word(sdk_arg_value(i), &base, &irq)) {
            sdk_printf("sdk: ignoring virtio_mmio.device=%s\n",
                       sdk_arg_value(i));
        } else if (read_dev(base, irq, &d)) {
            add(found, &n, &d);
        }
    }
    if (n == 0) {
        for (i = 0; i < VIRTIO_MMIO_SLOTS; i++) {
            if (read_dev(SLOT_BASE + i * SLOT_STRIDE, SLOT_IRQ0 + i, &d) &&
                d.device_id != 0) {
                add(found, &n, &d);
            }
        }
    }
    /* Descending addresses: the first -device first. */
    for (i = 1; i < n; i++) {
        for (j = i; j > 0 && found[j - 1].base < found[j].base; j--) {
            t = found[j];
            found[j] = found[j - 1];
            found[j - 1] = t;
        }
    }
    for (i = 0; i < n; i++) {
        if (found[i].device_id == device_id) {
            if (count < max) {
                out[count] = found[i];
            }
            count++;
        }
    }
    return count;
}
