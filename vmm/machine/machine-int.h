/* SPDX-License-Identifier: MIT */
/*
 * The machine's state, shared by the files of vmm/machine/ (machine.c:
 * creation and run control; boot.c: kernel and boot data; vcpus.c: the
 * vCPUs; devices.c: devices from the configuration).
 */
#ifndef VMM_MACHINE_MACHINE_INT_H
#define VMM_MACHINE_MACHINE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <loom/bh.h>
#include <loom/iothread.h>
#include <loom/sync.h>

#include "arch/x86_64/cpuid.h"
#include "arch/x86_64/pvh.h"
#include "core/bus.h"
#include "core/guest-mem.h"
#include "core/irq.h"
#include "chardev/chardev.h"
#include "devices/debug-exit.h"
#include "devices/serial-8250.h"
#include "machine/blk.h"
#include "machine/machine.h"
#include "vstate/kvm.h"

#define VMM_MACHINE_MAX_LISTENERS 8

/* A virtio-mmio transport with its device and interrupt (devices.c). */
struct vmm_machine_virtio {
    struct vmm_machine *m;
    struct vmm_blk *blk;
    unsigned gsi;
    int irqfd;
    bool irqfd_added;
    /* QMP's io-status after the stop policy hit (blk-errors.c): 0 ok,
     * -ENOSPC nospace, another -errno failed; main thread, BQL. */
    int io_status;
};

/* One failed request, on its way from a serving thread to the main loop. */
struct vmm_machine_blk_err {
    struct vmm_machine_virtio *v;
    bool is_read;
    int err;
    enum vmm_blk_error_action action;
};

#define VMM_MACHINE_BLK_ERRS 64

/*
 * Block I/O errors reported by the devices' serving threads, handed to
 * the main loop (blk-errors.c): BLOCK_IO_ERROR events, and the stop in
 * io-error.  Protected by ->lock, except ->bh (immutable).
 */
struct vmm_machine_blk_errors {
    struct loom_mutex lock;
    struct loom_bh *bh;
    struct vmm_machine_blk_err ring[VMM_MACHINE_BLK_ERRS];
    unsigned head, len;
    uint64_t lost;     /* events not reported: the ring was full */
    bool stop_pending; /* a stop policy hit (kept even when lost) */
};

/* An ISA interrupt line backed by KVM_IRQ_LINE. */
struct vmm_machine_isa_irq {
    struct vmm_machine *m;
    unsigned gsi;
};

struct vcpu_init;

struct vmm_machine {
    /* Immutable after vmm_machine_create(). */
    const struct vmm_config *cfg;
    struct vmm_gmem_region ram[2];
    unsigned nr_ram;
    struct vmm_gmem *gmem;
    struct vmm_bus *pio;
    struct vmm_bus *mmio;
    struct vmm_kvm_vm *vm;
    struct loom_iothread *iothreads[VMM_MAX_IOTHREADS];
    unsigned nr_iothreads;
    struct vmm_kvm_vcpu *vcpus[VMM_MAX_CPUS];
    unsigned nr_vcpus;
    struct vmm_x86_cpuid *cpuid; /* the VM-wide CPUID policy */
    struct vcpu_init *vcpu_init; /* per vCPU, vcpus.c */
    struct loom_bh *event_bh;    /* vCPU events -> main loop */
    struct loom_bh *exit_bh;     /* isa-debug-exit -> main loop */

    /* Devices; main thread, BQL. */
    struct vmm_debug_exit *debug_exit;
    bool i8042;
    struct vmm_chr *console;
    struct vmm_serial *com1;
    struct vmm_machine_isa_irq com1_irq;
    struct vmm_machine_virtio virtio[VMM_MAX_VIRTIO_DEVS];
    unsigned nr_virtio;
    struct vmm_machine_blk_errors blk_errors;

    /* Boot image (boot.c), kept for resets; main thread, BQL. */
    void *kernel;
    size_t kernel_size;
    void *initrd;
    size_t initrd_size;
    char *cmdline;
    struct vmm_pvh_image img;
    struct vmm_pvh_boot boot;

    /* Run control; main thread, BQL. */
    enum vmm_runstate state;
    bool quitting;       /* vmm_machine_quit() or a debug exit happened */
    bool shutdown_guest; /* the guest powered off */
    int exit_status;
    struct {
        vmm_machine_listener_fn *fn;
        void *opaque;
    } listeners[VMM_MACHINE_MAX_LISTENERS];
    unsigned nr_listeners;

    /*
     * Atomic: written by the first vCPU with an event (0 -> 1, fields,
     * then 2 with release), consumed by event_bh() (acquire, then 0).
     */
    int ev_pending;
    enum vmm_kvm_event ev_kind;
    uint64_t ev_detail;
    int ev_cpu;

    /* IOThread settings the monitor reads and changes (qmp-glue.c);
     * main thread, BQL. */
    struct vmm_machine_io_state {
        bool known; /* filled in from the configuration */
        int tid;    /* 0 until first asked for */
        int64_t poll_max_ns, poll_grow, poll_shrink;
    } io_state[VMM_MAX_IOTHREADS];

    /* Atomic: set once by the first isa-debug-exit write. */
    bool exit_requested;
    int debug_exit_status;
};

/* machine.c: one machine per process (loom's vCPU layer is global). */
extern bool g_machine_exists;

/*
 * Record a one-line error in *@errmsg (if @errmsg) and return @err.
 * Context: any.
 */
int vmm__machine_fail(char **errmsg, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* machine.c.  Context: main thread, BQL unless said otherwise. */
void vmm__machine_post_event(struct vmm_machine *m, enum vmm_kvm_event ev,
                             uint64_t detail, int cpu);
void vmm__machine_on_vcpu_event(void *opaque, struct vmm_kvm_vcpu *vcpu,
                                enum vmm_kvm_event ev, uint64_t detail);
void vmm__machine_guest_shutdown(struct vmm_machine *m,
                                 enum vmm_shutdown_cause cause);
void vmm__machine_guest_reset(struct vmm_machine *m);
/* Callback: vCPU thread, BQL held. */
void vmm__machine_on_debug_exit(void *opaque, int status);
void vmm__machine_isa_irq(struct vmm_machine *m, unsigned gsi,
                          struct vmm_machine_isa_irq *li, struct vmm_irq *irq);
void vmm__machine_doorbells(struct vmm_machine *m, struct vmm_doorbells *db);
struct loom_iothread *vmm__machine_iothread(struct vmm_machine *m,
                                            const char *id);

/* boot.c: read the kernel (and initrd), load it, build start_info. */
int vmm__machine_boot_load(struct vmm_machine *m, char **errmsg);
int vmm__machine_boot_reload(struct vmm_machine *m);
void vmm__machine_boot_free(struct vmm_machine *m);

/* vcpus.c */
struct vmm_x86_topo vmm__machine_topo(const struct vmm_config *cfg);
int vmm__machine_vcpus_create(struct vmm_machine *m, char **errmsg);
/* The MP table describing the vCPUs (after vcpus_create and boot data). */
int vmm__machine_mptable(struct vmm_machine *m, char **errmsg);
int vmm__machine_vcpus_start(struct vmm_machine *m);
int vmm__machine_vcpus_reset(struct vmm_machine *m);
void vmm__machine_vcpus_destroy(struct vmm_machine *m);

/* blk-errors.c: the devices' error hook (any thread) and its BH. */
int vmm__machine_blk_errors_init(struct vmm_machine *m);
void vmm__machine_blk_errors_destroy(struct vmm_machine *m);
void vmm__machine_blk_error(void *opaque, bool is_read, int err,
                            enum vmm_blk_error_action action);

/* devices.c */
int vmm__machine_devices_create(struct vmm_machine *m, char **errmsg);
int vmm__machine_virtio_create(struct vmm_machine *m, char **errmsg);
void vmm__machine_devices_pause(struct vmm_machine *m);
void vmm__machine_devices_resume(struct vmm_machine *m);
int vmm__machine_devices_reset(struct vmm_machine *m);
void vmm__machine_devices_flush(struct vmm_machine *m);
void vmm__machine_devices_free(struct vmm_machine *m);

#endif /* VMM_MACHINE_MACHINE_INT_H */
