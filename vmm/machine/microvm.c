/* SPDX-License-Identifier: MIT */
/*
 * QEMU microvm's memory map and device placement (microvm.h).
 */
#include "machine/microvm.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int vmm_microvm_ram_layout(uint64_t ram_size, struct vmm_gmem_region regions[2])
{
    uint64_t low;

    if (ram_size == 0 || (ram_size & 0xfffu) ||
        (ram_size > VMM_MICROVM_LOW_RAM_MAX &&
         ram_size - VMM_MICROVM_LOW_RAM_MAX >
             UINT64_MAX - VMM_MICROVM_HIGH_RAM_BASE + 1)) {
        return -EINVAL;
    }
    low =
        ram_size < VMM_MICROVM_LOW_RAM_MAX ? ram_size : VMM_MICROVM_LOW_RAM_MAX;
    regions[0] = (struct vmm_gmem_region){.gpa = 0, .size = low};
    if (low == ram_size) {
        return 1;
    }
    regions[1] = (struct vmm_gmem_region){
        .gpa = VMM_MICROVM_HIGH_RAM_BASE,
        .size = ram_size - low,
    };
    return 2;
}

int vmm_microvm_virtio_slot(unsigned n)
{
    if (n >= VMM_MICROVM_VIRTIO_SLOTS) {
        return -ENOSPC;
    }
    return (int)(VMM_MICROVM_VIRTIO_SLOTS - 1 - n);
}

uint64_t vmm_microvm_virtio_addr(unsigned slot)
{
    return VMM_MICROVM_VIRTIO_BASE + VMM_MICROVM_VIRTIO_STRIDE * slot;
}

unsigned vmm_microvm_virtio_irq(unsigned slot)
{
    return VMM_MICROVM_VIRTIO_IRQ0 + slot;
}

char *vmm_microvm_cmdline(const char *append, unsigned nr_virtio,
                          bool auto_cmdline)
{
    /* "virtio_mmio.device=512@0x" + 16 digits + ":" + 3 digits + " " */
    enum { PER_DEV = 48 };
    size_t alen = append ? strlen(append) : 0, cap, len;
    unsigned n;
    char *s;

    if (!auto_cmdline) {
        nr_virtio = 0;
    }
    if (nr_virtio > VMM_MICROVM_VIRTIO_SLOTS) {
        nr_virtio = VMM_MICROVM_VIRTIO_SLOTS;
    }
    cap = alen + (size_t)nr_virtio * PER_DEV + 1;
    s = malloc(cap);
    if (!s) {
        return NULL;
    }
    memcpy(s, append ? append : "", alen + 1);
    len = alen;
    for (n = 0; n < nr_virtio; n++) {
        unsigned slot = (unsigned)vmm_microvm_virtio_slot(n);
        int w;

        /* QEMU puts a space before each entry, even after an empty
         * -append: the guest sees the same string on both. */
        w = snprintf(
            s + len, cap - len, " virtio_mmio.device=512@0x%" PRIx64 ":%u",
            vmm_microvm_virtio_addr(slot), vmm_microvm_virtio_irq(slot));
        if (w < 0 || (size_t)w >= cap - len) {
            free(s);
            return NULL;
        }
        len += (size_t)w;
    }
    return s;
}
