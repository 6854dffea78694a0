/* SPDX-License-Identifier: MIT */
/*
 * The machine (machine.h): creation in a fixed order, teardown in reverse,
 * and run control.  Entered on the main thread with the BQL held, except
 * the vCPU event and debug-exit callbacks, which run on vCPU threads and
 * only record what happened and schedule a BH: every decision (reset,
 * shut down, stop) is taken on the main loop, because only the main
 * thread may stop vCPUs (a vCPU cannot wait for itself).
 */
#include "machine/machine-int.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <loom/bh.h>
#include <loom/cpu.h>
#include <loom/iothread.h>
#include <loom/main.h>

#include "machine/microvm.h"

/* loom_request_shutdown() reasons of our own (signals use 0x1xx). */
#define REASON_QUIT 1

static const char *const g_runstate_names[] = {
    [VMM_RUNSTATE_PRELAUNCH] = "prelaunch",
    [VMM_RUNSTATE_RUNNING] = "running",
    [VMM_RUNSTATE_PAUSED] = "paused",
    [VMM_RUNSTATE_SHUTDOWN] = "shutdown",
    [VMM_RUNSTATE_INTERNAL_ERROR] = "internal-error",
    [VMM_RUNSTATE_IO_ERROR] = "io-error",
    [VMM_RUNSTATE_GUEST_PANICKED] = "guest-panicked",
};

static const char *const g_cause_names[] = {
    [VMM_SHUTDOWN_NONE] = "none",
    [VMM_SHUTDOWN_HOST_ERROR] = "host-error",
    [VMM_SHUTDOWN_HOST_QMP_QUIT] = "host-qmp-quit",
    [VMM_SHUTDOWN_HOST_QMP_SYSTEM_RESET] = "host-qmp-system-reset",
    [VMM_SHUTDOWN_HOST_SIGNAL] = "host-signal",
    [VMM_SHUTDOWN_HOST_UI] = "host-ui",
    [VMM_SHUTDOWN_GUEST_SHUTDOWN] = "guest-shutdown",
    [VMM_SHUTDOWN_GUEST_RESET] = "guest-reset",
    [VMM_SHUTDOWN_GUEST_PANIC] = "guest-panic",
};

const char *vmm_runstate_name(enum vmm_runstate st)
{
    if ((unsigned)st >=
        sizeof(g_runstate_names) / sizeof(g_runstate_names[0])) {
        return "unknown";
    }
    return g_runstate_names[st];
}

const char *vmm_shutdown_cause_name(enum vmm_shutdown_cause c)
{
    if ((unsigned)c >= sizeof(g_cause_names) / sizeof(g_cause_names[0])) {
        return "none";
    }
    return g_cause_names[c];
}

int vmm__machine_fail(char **errmsg, int err, const char *fmt, ...)
{
    va_list ap;
    char *msg = NULL;

    if (errmsg) {
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0) {
            msg = NULL;
        }
        va_end(ap);
        free(*errmsg);
        *errmsg = msg;
    }
    return err;
}

/* ------------------------------------------------------------------ */
/* Guest RAM                                                           */
/* ------------------------------------------------------------------ */

/* Guest RAM is backed by transparent huge pages where the host allows. */
#define RAM_HUGE_ALIGN ((size_t)2 << 20)

/*
 * Map one guest RAM region: reserved, not committed (a mostly idle guest
 * costs only what it touches), zeroed by mmap (the PVH entry relies on
 * 0x0-0x2067 being zero: VMM.md, "This machine"), and 2 MiB aligned with
 * MADV_HUGEPAGE, as QEMU maps its RAM: the guest-physical regions start on
 * 2 MiB boundaries, so KVM can then map the guest with 2 MiB pages.  That
 * saves a fault per 4 KiB page the guest touches (on this host's shadow
 * paging, an exit each: a Linux boot to init takes 34,000 exits instead
 * of 55,000, as many as on QEMU).  The cost: a guest touching a byte of
 * a 2 MiB range commits all of it (the hello guest: 6.2 MiB RSS, not 3.8).
 * Returns MAP_FAILED with errno set on failure.
 */
static void *map_ram(size_t size)
{
    size_t len = size + RAM_HUGE_ALIGN;
    uintptr_t base, start;
    uint8_t *p;

    p = mmap(NULL, len, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        return MAP_FAILED;
    }
    base = (uintptr_t)p;
    start = (base + RAM_HUGE_ALIGN - 1) & ~(uintptr_t)(RAM_HUGE_ALIGN - 1);
    if (start > base) {
        (void)munmap(p, start - base);
    }
    if (base + len > start + size) {
        (void)munmap((void *)(start + size), base + len - (start + size));
    }
    (void)madvise((void *)start, size, MADV_HUGEPAGE);
    (void)madvise((void *)start, size, MADV_DONTDUMP);
    return (void *)start;
}

static int create_ram(struct vmm_machine *m, char **errmsg)
{
    struct vmm_gmem_region regions[2];
    int n, i, r;

    n = vmm_microvm_ram_layout(m->cfg->ram_size, regions);
    if (n < 0) {
        return vmm__machine_fail(errmsg, n, "-m: invalid RAM size %llu",
                                 (unsigned long long)m->cfg->ram_size);
    }
    for (i = 0; i < n; i++) {
        void *p = map_ram(regions[i].size);

        if (p == MAP_FAILED) {
            return vmm__machine_fail(
                errmsg, -errno, "cannot allocate %llu MiB of guest RAM",
                (unsigned long long)(regions[i].size >> 20));
        }
        regions[i].hva = p;
        m->ram[i] = regions[i];
        m->nr_ram = (unsigned)i + 1;
    }
    r = vmm_gmem_new(regions, (unsigned)n, &m->gmem);
    if (r < 0) {
        return vmm__machine_fail(errmsg, r, "guest memory map: %s",
                                 strerror(-r));
    }
    return 0;
}

static void free_ram(struct vmm_machine *m)
{
    unsigned i;

    vmm_gmem_free(m->gmem);
    m->gmem = NULL;
    for (i = 0; i < m->nr_ram; i++) {
        munmap(m->ram[i].hva, m->ram[i].size);
    }
    m->nr_ram = 0;
}

/* ------------------------------------------------------------------ */
/* KVM: VM, memory slots, irqchip, PIT                                 */
/* ------------------------------------------------------------------ */

static int create_kvm(struct vmm_machine *m, char **errmsg)
{
    struct vmm_config const *cfg = m->cfg;
    unsigned i;
    int r;

    r = vmm_bus_new(0xffff, &m->pio);
    if (r == 0) {
        r = vmm_bus_new(UINT64_MAX, &m->mmio);
    }
    if (r < 0) {
        return vmm__machine_fail(errmsg, r, "%s", strerror(-r));
    }
    r = vmm_kvm_vm_new(m->pio, m->mmio, &m->vm);
    if (r < 0) {
        return vmm__machine_fail(errmsg, r, "failed to initialize kvm: %s",
                                 strerror(-r));
    }
    vmm_kvm_vm_set_event_handler(m->vm, vmm__machine_on_vcpu_event, m);
    /*
     * Intel's real-mode helpers live in the hole; PVM and AMD hosts do not
     * know the ioctls (ENOTTY/EINVAL), which is fine: they need neither.
     */
    {
        uint64_t ident = VMM_MICROVM_KVM_IDENTITY_MAP;

        (void)vmm_kvm_vm_ioctl(m->vm, KVM_SET_IDENTITY_MAP_ADDR, &ident);
        (void)vmm_kvm_vm_ioctl(m->vm, KVM_SET_TSS_ADDR,
                               (void *)(uintptr_t)VMM_MICROVM_KVM_TSS);
    }
    /* RAM slots before the irqchip: the other order costs 5-9 ms here. */
    for (i = 0; i < m->nr_ram; i++) {
        r = vmm_kvm_mem_add(m->vm, m->ram[i].gpa, m->ram[i].size, m->ram[i].hva,
                            0, NULL);
        if (r < 0) {
            return vmm__machine_fail(errmsg, r, "KVM memory slot: %s",
                                     strerror(-r));
        }
    }
    r = vmm_kvm_vm_create_irqchip(m->vm);
    if (r < 0) {
        return vmm__machine_fail(errmsg, r, "KVM irqchip: %s", strerror(-r));
    }
    if (cfg->pit != VMM_OFF) {
        r = vmm_kvm_vm_create_pit(m->vm);
        if (r < 0) {
            return vmm__machine_fail(errmsg, r, "KVM PIT: %s", strerror(-r));
        }
    }
    return 0;
}

/* struct vmm_irq for ISA lines: KVM_IRQ_LINE on the in-kernel PIC+IOAPIC. */
static void isa_irq_set(void *opaque, bool level)
{
    struct vmm_machine_isa_irq *li = opaque;

    (void)vmm_kvm_vm_irq_line(li->m->vm, li->gsi, level);
}

void vmm__machine_isa_irq(struct vmm_machine *m, unsigned gsi,
                          struct vmm_machine_isa_irq *li, struct vmm_irq *irq)
{
    li->m = m;
    li->gsi = gsi;
    irq->set = isa_irq_set;
    irq->opaque = li;
}

/* struct vmm_doorbells through KVM MMIO ioeventfds with a data match. */
static int doorbell_add(void *opaque, int fd, uint64_t addr, unsigned len,
                        uint64_t data)
{
    struct vmm_machine *m = opaque;

    return vmm_kvm_ioeventfd_add(m->vm, fd, addr, len, data,
                                 VMM_KVM_IOEVENTFD_DATAMATCH);
}

static int doorbell_del(void *opaque, int fd, uint64_t addr, unsigned len,
                        uint64_t data)
{
    struct vmm_machine *m = opaque;

    return vmm_kvm_ioeventfd_del(m->vm, fd, addr, len, data,
                                 VMM_KVM_IOEVENTFD_DATAMATCH);
}

void vmm__machine_doorbells(struct vmm_machine *m, struct vmm_doorbells *db)
{
    db->add = doorbell_add;
    db->del = doorbell_del;
    db->opaque = m;
}

/* ------------------------------------------------------------------ */
/* IOThreads                                                           */
/* ------------------------------------------------------------------ */

static int create_iothreads(struct vmm_machine *m, char **errmsg)
{
    const struct vmm_config *cfg = m->cfg;
    unsigned i;
    int r;

    for (i = 0; i < cfg->nr_iothreads; i++) {
        const struct vmm_config_iothread *c = &cfg->iothreads[i];
        struct loom_iothread_opts o;

        memset(&o, 0, sizeof(o));
        o.poll_max_ns = c->poll_max_ns >= 0 ? c->poll_max_ns : 32768;
        o.poll_grow = c->poll_grow >= 0 ? c->poll_grow : 0;
        o.poll_shrink = c->poll_shrink >= 0 ? c->poll_shrink : 0;
        o.pool_min = c->thread_pool_min >= 0 ? (int)c->thread_pool_min : 0;
        o.pool_max = c->thread_pool_max >= 0 ? (int)c->thread_pool_max : 64;
        r = loom_iothread_new(c->id, &o, &m->iothreads[i]);
        if (r < 0) {
            return vmm__machine_fail(errmsg, r, "-object iothread,id=%s: %s",
                                     c->id, strerror(-r));
        }
        m->nr_iothreads = i + 1;
    }
    return 0;
}

struct loom_iothread *vmm__machine_iothread(struct vmm_machine *m,
                                            const char *id)
{
    unsigned i;

    for (i = 0; id && i < m->nr_iothreads; i++) {
        if (strcmp(m->cfg->iothreads[i].id, id) == 0) {
            return m->iothreads[i];
        }
    }
    return NULL;
}

static void free_iothreads(struct vmm_machine *m)
{
    while (m->nr_iothreads > 0) {
        m->nr_iothreads--;
        loom_iothread_free(m->iothreads[m->nr_iothreads]);
        m->iothreads[m->nr_iothreads] = NULL;
    }
}

/* ------------------------------------------------------------------ */
/* Events from vCPU threads, decided on the main loop                  */
/* ------------------------------------------------------------------ */

static const char *event_name(enum vmm_kvm_event ev)
{
    switch (ev) {
    case VMM_KVM_EV_TRIPLE_FAULT:
        return "triple fault";
    case VMM_KVM_EV_INTERNAL_ERROR:
        return "KVM internal error";
    case VMM_KVM_EV_FAIL_ENTRY:
        return "KVM entry failure";
    case VMM_KVM_EV_SYSTEM_SHUTDOWN:
        return "system shutdown";
    case VMM_KVM_EV_SYSTEM_RESET:
        return "system reset";
    case VMM_KVM_EV_SYSTEM_CRASH:
        return "guest crash";
    case VMM_KVM_EV_UNKNOWN:
        return "unknown KVM exit";
    case VMM_KVM_EV_RUN_ERROR:
        return "KVM_RUN failed";
    }
    return "?";
}

/*
 * Context: any thread (vCPU threads, no BQL needed).  The first event
 * wins until the main loop has handled it; later ones (other vCPUs
 * tripping over the same condition) add nothing.
 */
void vmm__machine_post_event(struct vmm_machine *m, enum vmm_kvm_event ev,
                             uint64_t detail, int cpu)
{
    int expected = 0;

    if (!__atomic_compare_exchange_n(&m->ev_pending, &expected, 1, false,
                                     __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
        return;
    }
    m->ev_kind = ev;
    m->ev_detail = detail;
    m->ev_cpu = cpu;
    /* Pairs with the acquire load in event_bh(). */
    __atomic_store_n(&m->ev_pending, 2, __ATOMIC_RELEASE);
    loom_bh_schedule(m->event_bh);
}

/* Callback: a vCPU thread, no BQL. */
void vmm__machine_on_vcpu_event(void *opaque, struct vmm_kvm_vcpu *vcpu,
                                enum vmm_kvm_event ev, uint64_t detail)
{
    vmm__machine_post_event(opaque, ev, detail,
                            loom_cpu_index(vmm_kvm_vcpu_cpu(vcpu)));
}

/* The guest asked for a reset (triple fault, i8042, system event). */
void vmm__machine_guest_reset(struct vmm_machine *m)
{
    if (m->cfg->no_reboot) {
        vmm__machine_guest_shutdown(m, VMM_SHUTDOWN_GUEST_RESET);
        return;
    }
    (void)vmm_machine_reset(m, VMM_SHUTDOWN_GUEST_RESET);
}

/* The guest shut itself down: exit, or stop with -no-shutdown. */
void vmm__machine_guest_shutdown(struct vmm_machine *m,
                                 enum vmm_shutdown_cause cause)
{
    if (m->cfg->no_shutdown) {
        struct vmm_machine_event e = {
            .kind = VMM_EVENT_SHUTDOWN, .guest = true, .cause = cause};

        vmm_machine_emit(m, &e);
        (void)vmm_machine_stop(m, VMM_RUNSTATE_SHUTDOWN);
        return;
    }
    m->shutdown_guest = true;
    vmm_machine_quit(m, cause, 0);
}

/* Callback: main loop, BQL held. */
static void event_bh(void *opaque)
{
    struct vmm_machine *m = opaque;
    enum vmm_kvm_event ev;
    uint64_t detail;
    int cpu;

    /* Pairs with the release store in vmm__machine_on_vcpu_event(). */
    if (__atomic_load_n(&m->ev_pending, __ATOMIC_ACQUIRE) != 2) {
        return;
    }
    ev = m->ev_kind;
    detail = m->ev_detail;
    cpu = m->ev_cpu;
    __atomic_store_n(&m->ev_pending, 0, __ATOMIC_RELEASE);
    if (m->quitting) {
        return;
    }
    switch (ev) {
    case VMM_KVM_EV_TRIPLE_FAULT:
    case VMM_KVM_EV_SYSTEM_RESET:
        vmm__machine_guest_reset(m);
        break;
    case VMM_KVM_EV_SYSTEM_SHUTDOWN:
        vmm__machine_guest_shutdown(m, VMM_SHUTDOWN_GUEST_SHUTDOWN);
        break;
    case VMM_KVM_EV_SYSTEM_CRASH:
        fprintf(stderr, "loom-vm: guest panicked (vCPU %d)\n", cpu);
        (void)vmm_machine_stop(m, VMM_RUNSTATE_GUEST_PANICKED);
        break;
    default:
        /* QEMU's behaviour: report, and leave the VM stopped for a look. */
        fprintf(stderr, "loom-vm: %s on vCPU %d (detail %#llx): VM stopped\n",
                event_name(ev), cpu, (unsigned long long)detail);
        (void)vmm_machine_stop(m, VMM_RUNSTATE_INTERNAL_ERROR);
        break;
    }
}

/* isa-debug-exit: callback on a vCPU thread with the BQL held. */
void vmm__machine_on_debug_exit(void *opaque, int status)
{
    struct vmm_machine *m = opaque;

    if (__atomic_exchange_n(&m->exit_requested, true, __ATOMIC_ACQ_REL)) {
        return;
    }
    /* QEMU exits inside this write: run no further guest code. */
    vmm_kvm_vm_freeze(m->vm);
    m->debug_exit_status = status;
    loom_bh_schedule(m->exit_bh);
}

/* Callback: main loop, BQL held. */
static void exit_bh(void *opaque)
{
    struct vmm_machine *m = opaque;

    /* QEMU exits at once, without a SHUTDOWN event. */
    m->exit_status = m->debug_exit_status;
    m->quitting = true;
    loom_request_shutdown(REASON_QUIT);
}

/* ------------------------------------------------------------------ */
/* Create, start, destroy                                              */
/* ------------------------------------------------------------------ */

bool g_machine_exists;

static int create_bhs(struct vmm_machine *m, char **errmsg)
{
    int r;

    r = loom_bh_new(loom_main_loop(), event_bh, m, "vmm-event", &m->event_bh);
    if (r == 0) {
        r = loom_bh_new(loom_main_loop(), exit_bh, m, "vmm-exit", &m->exit_bh);
    }
    if (r < 0) {
        return vmm__machine_fail(errmsg, r, "%s", strerror(-r));
    }
    return 0;
}

int vmm_machine_create(const struct vmm_config *cfg, struct vmm_machine **ret,
                       char **errmsg)
{
    struct vmm_machine *m;
    int r;

    if (!cfg || !ret) {
        return vmm__machine_fail(errmsg, -EINVAL, "no configuration");
    }
    if (g_machine_exists) {
        /* loom's vCPU layer is process-global: one machine at a time. */
        return vmm__machine_fail(errmsg, -EBUSY, "a machine exists already");
    }
    m = calloc(1, sizeof(*m));
    if (!m) {
        return vmm__machine_fail(errmsg, -ENOMEM, "out of memory");
    }
    m->cfg = cfg;
    m->state = VMM_RUNSTATE_PRELAUNCH;
    g_machine_exists = true;
    r = create_ram(m, errmsg);
    if (r == 0) {
        r = create_kvm(m, errmsg);
    }
    if (r == 0) {
        r = create_bhs(m, errmsg);
    }
    if (r == 0) {
        r = vmm__machine_devices_create(m, errmsg);
    }
    if (r == 0) {
        r = create_iothreads(m, errmsg);
    }
    if (r == 0) {
        r = vmm__machine_virtio_create(m, errmsg);
    }
    if (r == 0) {
        r = vmm__machine_boot_load(m, errmsg);
    }
    if (r == 0) {
        r = vmm__machine_vcpus_create(m, errmsg);
    }
    if (r == 0) {
        r = vmm__machine_mptable(m, errmsg);
    }
    if (r < 0) {
        vmm_machine_destroy(m);
        return r;
    }
    *ret = m;
    return 0;
}

int vmm_machine_start(struct vmm_machine *m)
{
    int r;

    /*
     * Every vCPU exists in KVM before any runs guest code: an AP created
     * after the BSP sent its INIT/SIPI would miss them.  So the vCPUs
     * start stopped, and run once all are there (or, with -S, at cont).
     */
    (void)loom_vm_stop((int)VMM_RUNSTATE_PRELAUNCH);
    r = vmm__machine_vcpus_start(m);
    if (r < 0) {
        fprintf(stderr, "loom-vm: cannot start vCPUs: %s\n", strerror(-r));
        return r;
    }
    if (m->cfg->start_paused) {
        m->state = VMM_RUNSTATE_PRELAUNCH;
        return 0;
    }
    m->state = VMM_RUNSTATE_RUNNING;
    (void)loom_vm_start();
    return 0;
}

void vmm_machine_destroy(struct vmm_machine *m)
{
    if (!m) {
        return;
    }
    m->quitting = true;
    vmm__machine_vcpus_destroy(m);
    vmm__machine_devices_free(m);
    free_iothreads(m);
    vmm__machine_boot_free(m);
    loom_bh_free(m->event_bh);
    loom_bh_free(m->exit_bh);
    vmm_kvm_vm_free(m->vm);
    vmm_bus_free(m->pio);
    vmm_bus_free(m->mmio);
    free_ram(m);
    free(m);
    g_machine_exists = false;
}

/* ------------------------------------------------------------------ */
/* Run control                                                         */
/* ------------------------------------------------------------------ */

int vmm_machine_run(struct vmm_machine *m)
{
    int reason = loom_main_loop_run();

    if (LOOM_SHUTDOWN_IS_SIGNAL(reason)) {
        struct vmm_machine_event e = {
            .kind = VMM_EVENT_SHUTDOWN,
            .cause = VMM_SHUTDOWN_HOST_SIGNAL,
        };

        fprintf(stderr, "loom-vm: terminating on signal %d\n", reason & 0xff);
        m->quitting = true;
        vmm_machine_emit(m, &e);
        return 0;
    }
    return m->exit_status;
}

enum vmm_runstate vmm_machine_runstate(struct vmm_machine *m)
{
    return m->state;
}

int vmm_machine_stop(struct vmm_machine *m, enum vmm_runstate state)
{
    struct vmm_machine_event e = {.kind = VMM_EVENT_STOP};
    bool was_running = m->state == VMM_RUNSTATE_RUNNING;

    m->state = state;
    if (!was_running) {
        return 0;
    }
    (void)loom_vm_stop((int)state);
    /* vCPUs stopped first, then the disks drained: nothing new comes in. */
    vmm__machine_devices_pause(m);
    vmm_machine_emit(m, &e);
    return 0;
}

int vmm_machine_cont(struct vmm_machine *m)
{
    struct vmm_machine_event e = {.kind = VMM_EVENT_RESUME};

    switch (m->state) {
    case VMM_RUNSTATE_RUNNING:
        return 0;
    case VMM_RUNSTATE_SHUTDOWN:
    case VMM_RUNSTATE_INTERNAL_ERROR:
    case VMM_RUNSTATE_GUEST_PANICKED:
        return -EBUSY;
    default:
        break;
    }
    m->state = VMM_RUNSTATE_RUNNING;
    vmm__machine_devices_resume(m);
    (void)loom_vm_start();
    vmm_machine_emit(m, &e);
    return 0;
}

int vmm_machine_reset(struct vmm_machine *m, enum vmm_shutdown_cause cause)
{
    struct vmm_machine_event e = {
        .kind = VMM_EVENT_RESET,
        .guest = cause == VMM_SHUTDOWN_GUEST_RESET,
        .cause = cause,
    };
    bool was_running = m->state == VMM_RUNSTATE_RUNNING;
    int r;

    /* Everything stands still while state is rebuilt. */
    if (loom_vm_running()) {
        (void)loom_vm_stop((int)VMM_RUNSTATE_PAUSED);
    }
    r = vmm__machine_devices_reset(m);
    if (r == 0) {
        r = vmm__machine_boot_reload(m);
    }
    if (r == 0) {
        r = vmm__machine_vcpus_reset(m);
    }
    vmm_machine_emit(m, &e);
    if (r < 0) {
        fprintf(stderr, "loom-vm: reset failed: %s\n", strerror(-r));
        m->state = VMM_RUNSTATE_INTERNAL_ERROR;
        return r;
    }
    /* QEMU's rule: a VM that ran runs on; any other becomes prelaunch. */
    if (was_running) {
        (void)loom_vm_start();
    } else {
        m->state = VMM_RUNSTATE_PRELAUNCH;
    }
    return 0;
}

void vmm_machine_quit(struct vmm_machine *m, enum vmm_shutdown_cause cause,
                      int status)
{
    struct vmm_machine_event e = {
        .kind = VMM_EVENT_SHUTDOWN,
        .guest = cause == VMM_SHUTDOWN_GUEST_SHUTDOWN ||
                 cause == VMM_SHUTDOWN_GUEST_RESET ||
                 cause == VMM_SHUTDOWN_GUEST_PANIC,
        .cause = cause,
    };

    if (m->quitting) {
        return;
    }
    m->quitting = true;
    m->exit_status = status;
    vmm_machine_emit(m, &e);
    loom_request_shutdown(REASON_QUIT);
}

int vmm_machine_add_listener(struct vmm_machine *m, vmm_machine_listener_fn *fn,
                             void *opaque)
{
    if (!m || !fn) {
        return -EINVAL;
    }
    if (m->nr_listeners >= VMM_MACHINE_MAX_LISTENERS) {
        return -ENOSPC;
    }
    m->listeners[m->nr_listeners].fn = fn;
    m->listeners[m->nr_listeners].opaque = opaque;
    m->nr_listeners++;
    return 0;
}

void vmm_machine_emit(struct vmm_machine *m, const struct vmm_machine_event *ev)
{
    unsigned i;

    for (i = 0; i < m->nr_listeners; i++) {
        m->listeners[i].fn(m->listeners[i].opaque, ev);
    }
}

const struct vmm_config *vmm_machine_config(struct vmm_machine *m)
{
    return m->cfg;
}
