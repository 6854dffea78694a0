/* SPDX-License-Identifier: MIT */
/*
 * -x-loom-summary: when the VM ends, what ran — the time to the guest's
 * first console byte, each disk with its queues, and every thread loom-vm
 * used with its counters (the main loop, each vCPU, each IOThread and its
 * pool).  The README's
 * demo prints it.  Main thread, BQL held, after the console is flushed so
 * that it follows the guest's last line.
 */
#include "machine/machine-int.h"

#include <stdio.h>
#include <stdlib.h>

#include <loom/clock.h>
#include <loom/cpu.h>
#include <loom/loop.h>
#include <loom/main.h>
#include <loom/pool.h>

static const char *fdmon_name(enum loom_fdmon k)
{
    switch (k) {
    case LOOM_FDMON_POLL:
        return "poll";
    case LOOM_FDMON_EPOLL:
        return "epoll";
    case LOOM_FDMON_IO_URING:
        return "io_uring";
    default:
        return "auto";
    }
}

static void print_loop(FILE *f, const struct loom_loop_stats *st)
{
    fprintf(
        f,
        "      loop: %llu iterations, %llu BHs, %llu fd events, "
        "%llu timers, %s\n"
        "            notifies %llu sent / %llu skipped, "
        "polling %llu hits / %llu misses\n",
        (unsigned long long)st->iterations, (unsigned long long)st->bh_runs,
        (unsigned long long)st->fd_events, (unsigned long long)st->timer_runs,
        fdmon_name(st->fdmon), (unsigned long long)st->notify_sent,
        (unsigned long long)st->notify_skipped,
        (unsigned long long)st->poll_hits, (unsigned long long)st->poll_misses);
}

static void print_vcpu(FILE *f, struct vmm_kvm_vcpu *v)
{
    struct loom_cpu *cpu = vmm_kvm_vcpu_cpu(v);
    struct vmm_kvm_vcpu_stats ks;
    struct loom_cpu_stats cs;

    (void)vmm_kvm_vcpu_stats(v, &ks);
    (void)loom_cpu_stats(cpu, &cs);
    fprintf(
        f,
        "    vcpu-%d (tid %d)\n"
        "      KVM_RUN %llu: exits %llu port I/O, %llu MMIO, "
        "%llu interrupted, %llu other; %llu kicks\n"
        "      %llu run_on_cpu items, %llu halts, %llu stops\n",
        loom_cpu_index(cpu), vmm_kvm_vcpu_tid(v), (unsigned long long)ks.runs,
        (unsigned long long)ks.exits_io, (unsigned long long)ks.exits_mmio,
        (unsigned long long)ks.exits_intr, (unsigned long long)ks.exits_other,
        (unsigned long long)cs.kicks, (unsigned long long)cs.work_items,
        (unsigned long long)cs.halts, (unsigned long long)cs.stops);
}

static void print_iothread(FILE *f, const char *id, struct loom_iothread *io)
{
    struct loom_iothread_stats st;

    loom_iothread_stats(io, &st);
    fprintf(f, "    iothread %s\n", id);
    print_loop(f, &st.loop);
    if (st.has_pool) {
        fprintf(f,
                "      pool: %llu jobs done, %llu workers now "
                "(%d..%d)\n",
                (unsigned long long)st.pool.completed,
                (unsigned long long)st.pool.workers, st.pool.min_workers,
                st.pool.max_workers);
    }
}

static void print_disk(FILE *f, struct vmm_blk *b)
{
    struct vmm_blk_info info;
    struct vmm_blk_stats *st = calloc(1, sizeof(*st));
    unsigned q;

    if (!st) {
        return;
    }
    vmm_machine_blk_info(b, &info);
    vmm_machine_blk_stats(b, st);
    fprintf(f,
            "  disk %s (%s, %s): %llu reads (%llu KiB), %llu writes "
            "(%llu KiB), %llu flushes, %llu syncs, %llu failed\n",
            info.drive, info.aio == VMM_AIO_IO_URING ? "io_uring" : "threads",
            info.legacy ? "virtio-mmio v1" : "virtio-mmio v2",
            (unsigned long long)st->dev.rd_ops,
            (unsigned long long)(st->dev.rd_bytes >> 10),
            (unsigned long long)st->dev.wr_ops,
            (unsigned long long)(st->dev.wr_bytes >> 10),
            (unsigned long long)st->dev.flush_ops,
            (unsigned long long)st->backend.syncs,
            (unsigned long long)(st->dev.failed_rd + st->dev.failed_wr +
                                 st->dev.failed_flush + st->dev.failed_other));
    for (q = 0; q < info.num_queues; q++) {
        const struct vmm_blk_queue_stats *qs = &st->queue[q];

        fprintf(f,
                "    queue %u on %s: %llu requests, %llu doorbells, "
                "%llu poll hits, %llu interrupts (%llu suppressed)\n",
                q, info.queue_iothread[q] ? info.queue_iothread[q] : "main",
                (unsigned long long)qs->processed,
                (unsigned long long)qs->kicks,
                (unsigned long long)qs->poll_hits, (unsigned long long)qs->irqs,
                (unsigned long long)qs->irqs_suppressed);
    }
    free(st);
}

void vmm_machine_summary(struct vmm_machine *m, int64_t start_ns, FILE *f)
{
    struct loom_loop_stats ls;
    unsigned i;

    vmm__machine_devices_flush(m);
    fprintf(f, "loom-vm summary\n");
    if (m->com1) {
        struct vmm_serial_stats ss;

        vmm_serial_stats(m->com1, &ss);
        if (ss.first_tx_ns > 0) {
            fprintf(f, "  first guest console byte: %.1f ms after start\n",
                    (double)(ss.first_tx_ns - start_ns) / 1e6);
        }
        fprintf(f, "  console: %llu bytes out, %llu dropped\n",
                (unsigned long long)ss.tx_bytes,
                (unsigned long long)ss.tx_dropped);
    }
    for (i = 0; i < m->nr_virtio; i++) {
        print_disk(f, m->virtio[i].blk);
    }
    fprintf(f, "  run time: %.1f ms\n",
            (double)(loom_clock_ns(LOOM_CLOCK_HOST) - start_ns) / 1e6);
    fprintf(f, "  threads:\n    main (main loop, BQL)\n");
    loom_loop_stats(loom_main_loop(), &ls);
    print_loop(f, &ls);
    for (i = 0; i < m->nr_vcpus; i++) {
        print_vcpu(f, m->vcpus[i]);
    }
    for (i = 0; i < m->nr_iothreads; i++) {
        print_iothread(f, m->cfg->iothreads[i].id, m->iothreads[i]);
    }
    fflush(f);
}
