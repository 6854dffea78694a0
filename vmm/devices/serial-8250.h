/* SPDX-License-Identifier: MIT */
/*
 * A 16550A UART (the PC's COM1) on the port I/O bus, with a character
 * backend behind it.
 *
 * The model follows the 16550A data sheet and, where the two differ, QEMU's
 * serial device, so that guests behave as on QEMU: the interrupt line is
 * not gated by MCR.OUT2, reset leaves OUT2 set, IER.ETBEI rising with THR
 * empty raises the THRE interrupt.  All registers are there (RBR/THR, IER,
 * IIR/FCR, LCR, MCR, LSR, MSR, SCR, DLL/DLM behind LCR.DLAB), with 16-byte
 * FIFOs, receive trigger levels, the character timeout, loopback and the
 * four interrupt sources in their priority order.
 *
 * Transmission never waits: a byte leaves the transmitter as soon as the
 * chardev's output buffer (VMM_CHR_OUT_BUF_SIZE) takes it.  When that
 * buffer is full, bytes stay in the transmit FIFO (16, or the THR alone
 * without FIFOs), so THRE and TEMT read 0 until the main loop has written
 * some out: a guest that waits for THRE never loses a byte, and bytes
 * written while the transmitter is full are dropped and counted.  Input is
 * taken from the chardev only when the receiver has room (QEMU's flow
 * control); the receive overrun (LSR.OE, counted) happens only when bytes
 * arrive with the receiver full (loopback).
 *
 * Threads: the region is a BQL region, so registers are accessed on vCPU
 * threads with the BQL held; chardev callbacks and the timeout timer run
 * on the chardev's loop (the main loop), also with the BQL.
 */
#ifndef VMM_DEVICES_SERIAL_8250_H
#define VMM_DEVICES_SERIAL_8250_H

#include <stdint.h>

#include "chardev/chardev.h"
#include "core/bus.h"
#include "core/irq.h"

/* Ports the UART occupies from its base. */
#define VMM_SERIAL_NR_PORTS 8
/* FIFO depth of the 16550A, each direction. */
#define VMM_SERIAL_FIFO_SIZE 16
/* Input clock / 16: the baud rate at divisor 1 (1.8432 MHz crystal). */
#define VMM_SERIAL_BAUD_BASE 115200

struct vmm_serial;

/**
 * struct vmm_serial_stats - UART counters (monotonic).
 * @tx_bytes: bytes handed to the chardev.
 * @tx_dropped: bytes written to THR with the transmitter full, or thrown
 *     away by a transmit FIFO reset or a device reset before leaving.
 * @rx_bytes: bytes received (from the chardev, or looped back).
 * @rx_overruns: bytes lost because the receiver was full (LSR.OE).
 * @bad_accesses: accesses of a width the device does not decode (8
 *     bytes): reads return all ones, writes are ignored.
 * @first_tx_ns: LOOM_CLOCK_HOST time the first byte left the UART for the
 *     chardev, 0 before (the "time to the first guest line" figures).
 */
struct vmm_serial_stats {
    uint64_t tx_bytes;
    uint64_t tx_dropped;
    uint64_t rx_bytes;
    uint64_t rx_overruns;
    uint64_t bad_accesses;
    int64_t first_tx_ns;
};

/**
 * vmm_serial_new() - create a 16550A at @base on @bus.
 * @bus: the port I/O bus; the UART takes [@base, @base + 8) as a BQL
 *     region.  Accesses of 1, 2 or 4 bytes are split into byte accesses at
 *     consecutive ports, low byte first (QEMU's serial: byte-wide
 *     implementation, unaligned accesses allowed).
 * @base: the first port (COM1: 0x3f8).
 * @irq: the interrupt line (COM1: IRQ 4); copied.  Level semantics: set
 *     true while an enabled condition is pending, false when none is; only
 *     changes are signalled.
 * @chr: the backend (its loop runs the UART's callbacks and timer); the
 *     UART attaches as its frontend and must be freed before it.
 * @ret: receives the UART, in its reset state.
 *
 * Context: the chardev loop's thread, bql.
 * Return: 0; -EINVAL for NULL arguments; -EBUSY if @chr already has a
 * frontend; -EEXIST if the ports are taken; -ENOMEM.
 */
int vmm_serial_new(struct vmm_bus *bus, uint16_t base,
                   const struct vmm_irq *irq, struct vmm_chr *chr,
                   struct vmm_serial **ret);

/**
 * vmm_serial_free() - remove the UART from its bus and detach it.
 * @s: the UART, or NULL.  Bytes still in its transmit FIFO are lost: call
 *     vmm_serial_flush() first.
 * Context: the chardev loop's thread, bql.
 */
void vmm_serial_free(struct vmm_serial *s);

/**
 * vmm_serial_reset() - the hardware reset state (machine reset).
 * Context: bql.
 */
void vmm_serial_reset(struct vmm_serial *s);

/**
 * vmm_serial_flush() - push everything the guest wrote to the backend.
 * @s: the UART.
 * @timeout_ns: the longest wait for a slow backend.
 *
 * Moves the transmit FIFO into the chardev and writes the chardev's
 * buffer out (vmm_chr_flush()), for teardown on every exit path.
 *
 * Context: the chardev loop's thread, bql.
 * Return: 0, or -ETIMEDOUT if output remains.
 */
int vmm_serial_flush(struct vmm_serial *s, int64_t timeout_ns);

/**
 * vmm_serial_stats() - read the counters.
 * Context: bql.
 */
void vmm_serial_stats(struct vmm_serial *s, struct vmm_serial_stats *st);

#endif /* VMM_DEVICES_SERIAL_8250_H */
