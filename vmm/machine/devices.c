/* SPDX-License-Identifier: MIT */
/*
 * Devices from the configuration: isa-debug-exit, the i8042 reset port,
 * COM1 with its character backend, and the virtio-mmio transports.  Main
 * thread, BQL held.  Teardown flushes the console first, so the guest's
 * last line is out before loom-vm says anything else.
 */
#include "machine/machine-int.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <loom/cpu.h>
#include <loom/main.h>

#include "machine/microvm.h"

/* How long teardown waits for a slow terminal to take the last output. */
#define CONSOLE_FLUSH_NS 1000000000ll

/*
 * The keyboard controller's reset line: Linux's reboot path writes 0xfe
 * to port 0x64 before it tries a triple fault.  QEMU microvm has no
 * i8042; answering the one command costs nothing and ends the VM cleanly.
 * Reads see an idle controller.  Callback: vCPU thread, BQL held.
 */
static uint64_t i8042_read(void *opaque, uint64_t off, unsigned size)
{
    return 0;
}

static void i8042_write(void *opaque, uint64_t off, uint64_t v, unsigned size)
{
    struct vmm_machine *m = opaque;

    /* Pulse the reset line: decided on the main loop, like a triple fault. */
    if ((v & 0xff) == 0xfe) {
        struct loom_cpu *cpu = loom_current_cpu();

        vmm__machine_post_event(m, VMM_KVM_EV_SYSTEM_RESET, 0,
                                cpu ? loom_cpu_index(cpu) : -1);
    }
}

static const struct vmm_bus_ops g_i8042_ops = {
    .read = i8042_read,
    .write = i8042_write,
};

/* Ctrl-a x on a multiplexed console.  Callback: main loop, BQL held. */
static void console_quit(void *opaque)
{
    struct vmm_machine *m = opaque;

    vmm_machine_quit(m, VMM_SHUTDOWN_HOST_UI, 0);
}

static int create_console(struct vmm_machine *m, char **errmsg)
{
    const struct vmm_config *cfg = m->cfg;
    struct vmm_irq irq;
    int r;

    if (cfg->serial.kind == VMM_CHR_NONE || cfg->isa_serial == VMM_OFF) {
        return 0; /* no UART at all, as QEMU */
    }
    /* A closed stdout must be an error to handle, not a fatal signal. */
    signal(SIGPIPE, SIG_IGN);
    r = vmm_chr_new(&cfg->serial, loom_main_loop(), console_quit, m,
                    &m->console);
    if (r < 0) {
        return vmm__machine_fail(errmsg, r, "-serial: %s",
                                 r == -EBUSY ? "stdio is in use already"
                                             : strerror(-r));
    }
    vmm__machine_isa_irq(m, VMM_MICROVM_COM1_IRQ, &m->com1_irq, &irq);
    r = vmm_serial_new(m->pio, VMM_MICROVM_COM1_PORT, &irq, m->console,
                       &m->com1);
    if (r < 0) {
        return vmm__machine_fail(errmsg, r, "COM1: %s", strerror(-r));
    }
    return 0;
}

int vmm__machine_devices_create(struct vmm_machine *m, char **errmsg)
{
    const struct vmm_config *cfg = m->cfg;
    int r;

    if (cfg->debug_exit) {
        r = vmm_debug_exit_new(m->pio, cfg->debug_exit_iobase,
                               cfg->debug_exit_iosize,
                               vmm__machine_on_debug_exit, m, &m->debug_exit);
        if (r < 0) {
            return vmm__machine_fail(
                errmsg, r, "-device isa-debug-exit,iobase=%#x,iosize=%u: %s",
                cfg->debug_exit_iobase, cfg->debug_exit_iosize,
                r == -EEXIST ? "ports already in use" : strerror(-r));
        }
    }
    r = vmm_bus_add(m->pio, VMM_MICROVM_I8042_CMD_PORT, 1, &g_i8042_ops, m, 0);
    if (r < 0) {
        return vmm__machine_fail(errmsg, r, "i8042 reset port: %s",
                                 r == -EEXIST ? "port in use" : strerror(-r));
    }
    m->i8042 = true;
    return create_console(m, errmsg);
}

int vmm__machine_devices_reset(struct vmm_machine *m)
{
    if (m->com1) {
        vmm_serial_reset(m->com1);
    }
    return 0;
}

void vmm__machine_devices_flush(struct vmm_machine *m)
{
    if (m->com1) {
        (void)vmm_serial_flush(m->com1, CONSOLE_FLUSH_NS);
    }
}

void vmm__machine_devices_free(struct vmm_machine *m)
{
    vmm__machine_devices_flush(m);
    vmm_serial_free(m->com1);
    m->com1 = NULL;
    vmm_chr_free(m->console);
    m->console = NULL;
    if (m->i8042) {
        (void)vmm_bus_remove(m->pio, VMM_MICROVM_I8042_CMD_PORT);
        m->i8042 = false;
    }
    vmm_debug_exit_free(m->debug_exit);
    m->debug_exit = NULL;
}
