/* SPDX-License-Identifier: MIT */
/*
 * COM1, a 16550A at 0x3f8, polled: the transmitter-holding-register-empty
 * bit is read before every byte, so a UART that applies backpressure (as
 * loom-vm's does) never loses one.  Without a UART the reads return 0xff
 * and the bytes go nowhere.  Context: callers hold the console lock.
 */
#include "sdk-int.h"

#define COM1 0x3f8
#define UART_THR 0
#define UART_IER 1
#define UART_DLL 0
#define UART_DLM 1
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define LSR_THRE 0x20

/* sdk__serial_init() - 115200 8N1, FIFOs, no interrupts.  Context: boot CPU. */
void sdk__serial_init(void)
{
    sdk_outb(COM1 + UART_IER, 0);
    sdk_outb(COM1 + UART_LCR, 0x80); /* divisor latch */
    sdk_outb(COM1 + UART_DLL, 1);
    sdk_outb(COM1 + UART_DLM, 0);
    sdk_outb(COM1 + UART_LCR, 0x03); /* 8 bits, no parity, 1 stop */
    sdk_outb(COM1 + UART_FCR, 0x07); /* enable and clear the FIFOs */
    sdk_outb(COM1 + UART_MCR, 0x03); /* DTR, RTS */
}

/* sdk__serial_putc() - send one byte once THR is empty.  Context: any CPU. */
void sdk__serial_putc(char c)
{
    while (!(sdk_inb(COM1 + UART_LSR) & LSR_THRE)) {
        sdk_pause();
    }
    sdk_outb(COM1 + UART_THR, (uint8_t)c);
}
