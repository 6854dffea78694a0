/* SPDX-License-Identifier: MIT */
/*
 * Devices from the configuration: isa-debug-exit, the i8042 reset port,
 * COM1 with its character backend, and the virtio-blk devices on their
 * virtio-mmio transports (created once the IOThreads run, which serve
 * them).  Main thread, BQL held.  Teardown flushes the console first, so
 * the guest's last line is out before loom-vm says anything else.
 */
#include "machine/machine-int.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

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

/*
 * A virtio-mmio transport's interrupt: an irqfd into the in-kernel IOAPIC,
 * edge-triggered (fired on each assert; deasserts need no action), so a
 * device on an IOThread raises it with one eventfd write, no exit, no
 * BQL.  Callback: any thread.
 */
static void irqfd_set(void *opaque, bool level)
{
    struct vmm_machine_virtio *v = opaque;

    if (level) {
        (void)eventfd_write(v->irqfd, 1);
    }
}

int vmm__machine_virtio_create(struct vmm_machine *m, char **errmsg)
{
    const struct vmm_config *cfg = m->cfg;
    struct loom_loop *loops[VMM_MAX_IOTHREADS];
    struct vmm_doorbells db;
    unsigned i;
    int r;

    for (i = 0; i < m->nr_iothreads; i++) {
        loops[i] = loom_iothread_loop(m->iothreads[i]);
    }
    r = cfg->nr_blks ? vmm__machine_blk_errors_init(m) : 0;
    if (r < 0) {
        return vmm__machine_fail(errmsg, r, "%s", strerror(-r));
    }
    vmm__machine_doorbells(m, &db);
    for (i = 0; i < cfg->nr_blks; i++) {
        const struct vmm_config_blk *blk = &cfg->blks[i];
        struct vmm_machine_virtio *v = &m->virtio[i];
        unsigned slot = (unsigned)vmm_microvm_virtio_slot(i);
        struct vmm_blk_wiring w;
        unsigned d;

        for (d = 0; d < cfg->nr_drives; d++) {
            if (strcmp(cfg->drives[d].id, blk->drive) == 0) {
                break;
            }
        }
        if (d == cfg->nr_drives) {
            return vmm__machine_fail(errmsg, -EINVAL,
                                     "-device virtio-blk-device: no drive "
                                     "'%s'",
                                     blk->drive);
        }
        v->m = m;
        v->gsi = vmm_microvm_virtio_irq(slot);
        v->irqfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (v->irqfd < 0) {
            return vmm__machine_fail(errmsg, -errno, "eventfd: %s",
                                     strerror(errno));
        }
        r = vmm_kvm_irqfd_add(m->vm, v->irqfd, v->gsi, -1);
        if (r < 0) {
            close(v->irqfd);
            v->irqfd = -1;
            return vmm__machine_fail(errmsg, r, "irqfd for IRQ %u: %s", v->gsi,
                                     strerror(-r));
        }
        v->irqfd_added = true;
        m->nr_virtio = i + 1;
        memset(&w, 0, sizeof(w));
        w.blk = blk;
        w.drive = &cfg->drives[d];
        w.gmem = m->gmem;
        w.mmio_bus = m->mmio;
        w.base = vmm_microvm_virtio_addr(slot);
        w.irq.set = irqfd_set;
        w.irq.opaque = v;
        w.doorbells = &db;
        w.main_loop = loom_main_loop();
        w.nr_iothreads = m->nr_iothreads;
        w.iothreads = cfg->iothreads;
        w.iothread_loops = loops;
        w.force_legacy = cfg->force_legacy;
        w.on_error = vmm__machine_blk_error;
        w.error_opaque = v;
        r = vmm_machine_blk_create(&w, &v->blk, errmsg);
        if (r < 0) {
            return r;
        }
    }
    return 0;
}

static void virtio_free(struct vmm_machine *m)
{
    while (m->nr_virtio > 0) {
        struct vmm_machine_virtio *v = &m->virtio[--m->nr_virtio];

        vmm_machine_blk_free(v->blk);
        v->blk = NULL;
        if (v->irqfd_added) {
            (void)vmm_kvm_irqfd_del(m->vm, v->irqfd, v->gsi);
            v->irqfd_added = false;
        }
        if (v->irqfd >= 0) {
            close(v->irqfd);
            v->irqfd = -1;
        }
    }
    vmm__machine_blk_errors_destroy(m);
}

void vmm__machine_devices_pause(struct vmm_machine *m)
{
    unsigned i;

    for (i = 0; i < m->nr_virtio; i++) {
        vmm_machine_blk_pause(m->virtio[i].blk);
    }
}

void vmm__machine_devices_resume(struct vmm_machine *m)
{
    unsigned i;

    for (i = 0; i < m->nr_virtio; i++) {
        vmm_machine_blk_resume(m->virtio[i].blk);
    }
}

int vmm__machine_devices_reset(struct vmm_machine *m)
{
    unsigned i;

    if (m->com1) {
        vmm_serial_reset(m->com1);
    }
    for (i = 0; i < m->nr_virtio; i++) {
        vmm_machine_blk_reset(m->virtio[i].blk);
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
    /* Requests in flight complete while the IOThreads still run. */
    virtio_free(m);
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
