/* SPDX-License-Identifier: MIT */
/*
 * isa-debug-exit: a write of value v to its ports ends the VM with exit
 * status (v << 1) | 1, as QEMU's device does, so that test guests report
 * their verdict through the VMM's exit status.
 */
#ifndef VMM_DEVICES_DEBUG_EXIT_H
#define VMM_DEVICES_DEBUG_EXIT_H

#include <stdint.h>

#include "core/bus.h"

/**
 * typedef vmm_debug_exit_fn - the guest asked to exit.
 * @opaque: vmm_debug_exit_new()'s pointer.
 * @status: the exit status it asks for, (value << 1) | 1.
 *
 * Callback: the vCPU thread that wrote the port, with the BQL held.
 */
typedef void vmm_debug_exit_fn(void *opaque, int status);

struct vmm_debug_exit;

/**
 * vmm_debug_exit_new() - map the device at [@iobase, @iobase + @iosize).
 * @pio: the port I/O bus.
 * @iobase: first port (QEMU's default 0x501).
 * @iosize: 1, 2 or 4 ports (QEMU's default 2); writes of any width up to
 *     it are taken, the value being what was written.
 * @fn: told of each exit request.
 * @opaque: passed to @fn.
 * @ret: receives the device.
 *
 * Context: any, !rcu.
 * Return: 0; -EINVAL for NULL, a bad @iosize or a range past port
 * 0xffff; -EEXIST if the ports are taken; -ENOMEM.
 */
int vmm_debug_exit_new(struct vmm_bus *pio, uint16_t iobase, uint16_t iosize,
                       vmm_debug_exit_fn *fn, void *opaque,
                       struct vmm_debug_exit **ret);

/**
 * vmm_debug_exit_free() - unmap and free the device (NULL is ignored).
 * Context: any, bql (its region is a BQL region), !rcu.
 */
void vmm_debug_exit_free(struct vmm_debug_exit *d);

#endif /* VMM_DEVICES_DEBUG_EXIT_H */
