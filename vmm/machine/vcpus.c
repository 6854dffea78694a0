/* SPDX-License-Identifier: MIT */
/*
 * The vCPUs: one KVM vCPU per -smp CPU, each on its own loom vCPU thread.
 * The CPUID policy (-cpu host and its switches, the -smp topology) is
 * computed once; each vCPU's thread installs its own table and, for the
 * BSP, the PVH entry state, before it first runs.  APs stay in KVM's
 * wait-for-INIT state until the guest starts them.  A reset runs
 * vmm_x86_vcpu_reset() on every vCPU's thread while all are paused.  The
 * MP table, which tells the guest about these CPUs, is written here too.
 */
#include "machine/machine-int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <loom/cpu.h>

#include "arch/x86_64/boot.h"
#include "arch/x86_64/cpuid.h"
#include "arch/x86_64/mptable.h"
#include "machine/microvm.h"

struct vcpu_init {
    struct vmm_machine *m;
    unsigned index;
    uint32_t signature; /* CPUID.1:EAX, EDX after a reset */
};

static void cpuid_warn(void *opaque, const char *msg)
{
    fprintf(stderr, "loom-vm: warning: %s\n", msg);
}

struct vmm_x86_topo vmm__machine_topo(const struct vmm_config *cfg)
{
    struct vmm_x86_topo t = {
        .sockets = cfg->sockets ? cfg->sockets : 1,
        .cores = cfg->cores ? cfg->cores : cfg->nr_cpus,
        .threads = cfg->threads ? cfg->threads : 1,
    };

    return t;
}

/* Callback: the vCPU's own thread, before it first runs guest code. */
static int vcpu_init(struct vmm_kvm_vcpu *vcpu, void *opaque)
{
    struct vcpu_init *vi = opaque;
    struct vmm_machine *m = vi->m;
    struct vmm_x86_topo t = vmm__machine_topo(m->cfg);
    struct vmm_x86_cpuid *c;
    struct kvm_cpuid_entry2 *leaf1;
    int r;

    c = malloc(sizeof(*c));
    if (!c) {
        return -ENOMEM;
    }
    r = vmm_x86_cpuid_vcpu(m->cpuid, &t, vi->index, c);
    if (r == 0) {
        r = vmm_x86_cpuid_set(vcpu, c);
    }
    leaf1 = r == 0 ? vmm_x86_cpuid_find(c, 1, 0) : NULL;
    vi->signature = leaf1 ? leaf1->eax : 0;
    free(c);
    if (r == 0 && vi->index == 0) {
        r = vmm_x86_pvh_enter(vcpu, &m->boot);
    }
    return r;
}

int vmm__machine_vcpus_create(struct vmm_machine *m, char **errmsg)
{
    const struct vmm_config *cfg = m->cfg;
    struct vmm_x86_topo t = vmm__machine_topo(cfg);
    char err[256] = "";
    unsigned i;
    int r;

    r = vmm_x86_topo_check(&t);
    if (r < 0) {
        return vmm__machine_fail(errmsg, r, "-smp: topology not supported");
    }
    m->cpuid = malloc(sizeof(*m->cpuid));
    m->vcpu_init = calloc(cfg->nr_cpus, sizeof(*m->vcpu_init));
    if (!m->cpuid || !m->vcpu_init) {
        return vmm__machine_fail(errmsg, -ENOMEM, "out of memory");
    }
    r = vmm_x86_cpuid_host(m->vm, m->cpuid);
    if (r == 0) {
        r = vmm_x86_cpuid_policy(m->cpuid, cfg->cpu_features,
                                 cfg->nr_cpu_features, m->cpuid, cpuid_warn,
                                 NULL, err, sizeof(err));
    }
    if (r < 0) {
        return vmm__machine_fail(errmsg, r, "-cpu host: %s",
                                 err[0] ? err : strerror(-r));
    }
    for (i = 0; i < cfg->nr_cpus; i++) {
        struct vcpu_init *vi = &m->vcpu_init[i];

        vi->m = m;
        vi->index = i;
        r = vmm_kvm_vcpu_new_id(m->vm, (int)i, vmm_x86_apic_id(&t, i),
                                vcpu_init, vi, &m->vcpus[i]);
        if (r < 0) {
            return vmm__machine_fail(errmsg, r, "vCPU %u: %s", i, strerror(-r));
        }
        m->nr_vcpus = i + 1;
    }
    return 0;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return alen && blen && a < b + blen && b < a + alen;
}

/*
 * The IOAPIC's ID: QEMU's firmware gives it the CPU count + 1 (2 for
 * -smp 1); with sparse APIC IDs that may be a CPU's, so it is the larger
 * of that and the highest APIC ID + 1, or the lowest free ID if that
 * would be the broadcast 0xff.
 */
static uint8_t ioapic_id(const uint8_t *ids, unsigned n)
{
    bool used[256] = {false};
    unsigned i, id = n + 1;

    for (i = 0; i < n; i++) {
        used[ids[i]] = true;
        if (ids[i] + 1u > id) {
            id = ids[i] + 1u;
        }
    }
    for (i = 0; id >= 0xff && i < 0xff; i++) {
        if (!used[i]) {
            id = i;
        }
    }
    return (uint8_t)id;
}

/* Whether [at, at + size) is clear of the kernel and its boot data. */
static bool mptable_room(const struct vmm_machine *m, uint64_t at,
                         uint64_t size)
{
    unsigned i;

    if (overlaps(at, size, m->boot.area, m->boot.area_size) ||
        overlaps(at, size, m->boot.initrd, m->boot.initrd_size)) {
        return false;
    }
    for (i = 0; i < m->img.nr_segments; i++) {
        if (overlaps(at, size, m->img.seg[i].gpa, m->img.seg[i].memsz)) {
            return false;
        }
    }
    return true;
}

/*
 * The MP table (mptable.h): with ACPI off, the only way a guest such as
 * Linux learns of its IOAPIC and of the CPUs beyond the first.  Written
 * once the CPU policy exists (the table carries its CPUID.1), after the
 * kernel and boot data (at a reset too), at QEMU's place.
 */
int vmm__machine_mptable(struct vmm_machine *m, char **errmsg)
{
    struct vmm_x86_topo t = vmm__machine_topo(m->cfg);
    struct kvm_cpuid_entry2 *leaf1 = vmm_x86_cpuid_find(m->cpuid, 1, 0);
    uint8_t ids[VMM_MAX_CPUS];
    struct vmm_mptable mp = {
        .nr_cpus = m->nr_vcpus,
        .apic_ids = ids,
        .lapic_version = 0x14, /* KVM's LAPIC */
        .cpu_signature = leaf1 ? leaf1->eax : 0,
        .cpu_features = leaf1 ? leaf1->edx : 0,
        .lapic_addr = (uint32_t)VMM_MICROVM_LAPIC,
        .ioapic_version = 0x11, /* KVM's IOAPIC */
        .ioapic_addr = (uint32_t)VMM_MICROVM_IOAPIC,
        .ioapic_pins = KVM_IOAPIC_NUM_PINS,
    };
    uint64_t at = VMM_MICROVM_MPTABLE;
    unsigned i;
    int r;

    for (i = 0; i < m->nr_vcpus; i++) {
        ids[i] = (uint8_t)vmm_x86_apic_id(&t, i);
    }
    mp.ioapic_id = ioapic_id(ids, m->nr_vcpus);
    r = mptable_room(m, at, vmm_mptable_size(m->nr_vcpus)) ? 0 : -ENOSPC;
    if (r == 0) {
        r = vmm_mptable_write(m->gmem, &mp, at);
    }
    if (r < 0) {
        return vmm__machine_fail(
            errmsg, r, "MP table at %#llx: %s", (unsigned long long)at,
            r == -ENOSPC ? "the kernel or its boot data is there"
                         : strerror(-r));
    }
    return 0;
}

int vmm__machine_vcpus_start(struct vmm_machine *m)
{
    unsigned i;
    int r;

    for (i = 0; i < m->nr_vcpus; i++) {
        r = vmm_kvm_vcpu_start(m->vcpus[i]);
        if (r < 0) {
            return r;
        }
    }
    return 0;
}

struct reset_req {
    struct vmm_machine *m;
    struct vcpu_init *vi;
    int ret;
};

/* Callback: the vCPU's thread (run_on_cpu), every vCPU paused. */
static void reset_fn(struct loom_cpu *cpu, void *data)
{
    struct reset_req *q = data;

    q->ret = vmm_x86_vcpu_reset(vmm_kvm_vcpu_of(cpu),
                                q->vi->index == 0 ? &q->m->boot : NULL,
                                q->vi->signature);
}

int vmm__machine_vcpus_reset(struct vmm_machine *m)
{
    unsigned i;
    int r;

    for (i = 0; i < m->nr_vcpus; i++) {
        struct reset_req q = {.m = m, .vi = &m->vcpu_init[i]};

        r = loom_run_on_cpu(vmm_kvm_vcpu_cpu(m->vcpus[i]), reset_fn, &q);
        if (r == 0) {
            r = q.ret;
        }
        if (r < 0) {
            return r;
        }
    }
    return 0;
}

void vmm__machine_vcpus_destroy(struct vmm_machine *m)
{
    /* Every vCPU thread stops before any is freed: APs may be waiting on
     * the BSP's state, and the VM must outlive them all. */
    while (m->nr_vcpus > 0) {
        m->nr_vcpus--;
        vmm_kvm_vcpu_free(m->vcpus[m->nr_vcpus]);
        m->vcpus[m->nr_vcpus] = NULL;
    }
    free(m->vcpu_init);
    m->vcpu_init = NULL;
    free(m->cpuid);
    m->cpuid = NULL;
}
