/* SPDX-License-Identifier: MIT */
/*
 * isa-debug-exit (debug-exit.h).  A BQL region on the PIO bus: writes
 * arrive on vCPU threads with the BQL held and are handed to the
 * machine, which ends the VM; reads see 0, as on QEMU.
 */
#include "devices/debug-exit.h"

#include <errno.h>
#include <stdlib.h>

struct vmm_debug_exit {
    struct vmm_bus *pio;
    uint16_t iobase;
    vmm_debug_exit_fn *fn;
    void *opaque;
};

static uint64_t de_read(void *opaque, uint64_t off, unsigned size)
{
    return 0;
}

static void de_write(void *opaque, uint64_t off, uint64_t value, unsigned size)
{
    struct vmm_debug_exit *d = opaque;

    /* The status is an int: QEMU takes the written value as is. */
    d->fn(d->opaque, (int)((uint32_t)(value << 1) | 1u));
}

static const struct vmm_bus_ops de_ops = {
    .read = de_read,
    .write = de_write,
};

int vmm_debug_exit_new(struct vmm_bus *pio, uint16_t iobase, uint16_t iosize,
                       vmm_debug_exit_fn *fn, void *opaque,
                       struct vmm_debug_exit **ret)
{
    struct vmm_debug_exit *d;
    int r;

    if (!pio || !fn || !ret || (iosize != 1 && iosize != 2 && iosize != 4) ||
        (uint32_t)iobase + iosize > 0x10000u) {
        return -EINVAL;
    }
    d = calloc(1, sizeof(*d));
    if (!d) {
        return -ENOMEM;
    }
    d->pio = pio;
    d->iobase = iobase;
    d->fn = fn;
    d->opaque = opaque;
    r = vmm_bus_add(pio, iobase, iosize, &de_ops, d, 0);
    if (r < 0) {
        free(d);
        return r;
    }
    *ret = d;
    return 0;
}

void vmm_debug_exit_free(struct vmm_debug_exit *d)
{
    if (!d) {
        return;
    }
    (void)vmm_bus_remove(d->pio, d->iobase);
    free(d);
}
