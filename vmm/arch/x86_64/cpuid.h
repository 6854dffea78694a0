/* SPDX-License-Identifier: MIT */
/*
 * CPUID of loom-vm's vCPUs: `-cpu host[,+feat,-feat,feat=on|off...]`.
 *
 * The base is what KVM supports on this host (KVM_GET_SUPPORTED_CPUID),
 * as QEMU's `-cpu host` does; the hypervisor bit is set and KVM's
 * paravirtual leaves 0x40000000/0x40000001 are present.  Feature switches
 * use QEMU's names (table in cpuid.c): an unknown name is an error, a
 * feature the host lacks asked for with +feat is a warning and stays off
 * (QEMU's behaviour).  Then each vCPU gets its APIC ID and a topology
 * consistent with -smp sockets/cores/threads in leaves 1, 4, 0xB, 0x1F
 * and AMD's 0x80000008, 0x8000001D, 0x8000001E.
 *
 * Everything is pure (tables in, tables out) except vmm_x86_cpuid_host()
 * and vmm_x86_cpuid_set*(), so the policy is tested without KVM.  The
 * policy is documented in docs/design/vmm-boot.md.
 */
#ifndef VMM_ARCH_X86_64_CPUID_H
#define VMM_ARCH_X86_64_CPUID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/kvm.h>

#include "config.h"
#include "vstate/kvm.h"

/** VMM_X86_CPUID_MAX - most entries of a table (KVM's own limit). */
#define VMM_X86_CPUID_MAX 256u

/** VMM_X86_MAX_APIC_ID - highest APIC ID a topology may need (xAPIC). */
#define VMM_X86_MAX_APIC_ID 254u

/**
 * struct vmm_x86_cpuid - a CPUID table (KVM's entry format).
 * @nr: entries used.
 * @e: the entries; a leaf with subleaves has
 *     KVM_CPUID_FLAG_SIGNIFCANT_INDEX in its flags.
 */
struct vmm_x86_cpuid {
    unsigned nr;
    struct kvm_cpuid_entry2 e[VMM_X86_CPUID_MAX];
};

/**
 * struct vmm_x86_topo - the -smp topology.
 * @sockets: packages.
 * @cores: cores per package.
 * @threads: threads per core.
 */
struct vmm_x86_topo {
    unsigned sockets;
    unsigned cores;
    unsigned threads;
};

/* Registers, for struct vmm_x86_feature. */
enum vmm_x86_reg {
    VMM_X86_EAX,
    VMM_X86_EBX,
    VMM_X86_ECX,
    VMM_X86_EDX,
};

/**
 * struct vmm_x86_feature - a feature switch QEMU knows by name.
 * @name: QEMU's name (e.g. "sse4.2", "kvm-pv-ipi", "arch-capabilities").
 * @leaf: CPUID leaf.
 * @subleaf: CPUID subleaf (0 for leaves without subleaves).
 * @reg: the register.
 * @mask: its bits (one, except "kvmclock": bits 0 and 3 of 0x40000001).
 */
struct vmm_x86_feature {
    const char *name;
    uint32_t leaf;
    uint32_t subleaf;
    enum vmm_x86_reg reg;
    uint32_t mask;
};

/**
 * typedef vmm_x86_warn_fn - receives a warning.
 * @opaque: the caller's pointer.
 * @msg: one line, without "warning: " or a newline, e.g. "host doesn't
 *     support requested feature: CPUID.07H:ECX.avx512vnni [bit 11]".
 *
 * Callback: the thread calling vmm_x86_cpuid_policy(), from inside it.
 */
typedef void vmm_x86_warn_fn(void *opaque, const char *msg);

/**
 * vmm_x86_feature_find() - look a feature name up.
 * @name: as given after "-cpu host," without +/- (QEMU's spellings:
 *     '_' and '-' are the same, aliases such as "sse4_2", "sse3" and "xd"
 *     are accepted).
 *
 * Context: any (pure).
 * Return: the feature, or NULL for a name loom-vm does not know.
 */
const struct vmm_x86_feature *vmm_x86_feature_find(const char *name);

/**
 * vmm_x86_cpuid_host() - what KVM supports here (KVM_GET_SUPPORTED_CPUID).
 * @vm: a VM whose /dev/kvm fd to ask, or NULL to open /dev/kvm.
 * @ret: receives the table.
 * Context: any.
 * Return: 0; -EINVAL for NULL @ret; -errno from open(2) or KVM.
 */
int vmm_x86_cpuid_host(struct vmm_kvm_vm *vm, struct vmm_x86_cpuid *ret);

/**
 * vmm_x86_cpuid_policy() - the VM-wide table: host, hypervisor bit, KVM
 * leaves, then the feature switches in command-line order (a later
 * switch of the same feature wins).
 * @host: vmm_x86_cpuid_host()'s table (or a test's).
 * @feats: the -cpu switches (struct vmm_config's cpu_features).
 * @nr: their number.
 * @ret: receives the table (may be @host itself).
 * @warn: called once per feature the host lacks that was asked for
 *     with +feat / feat=on (NULL: no warnings).
 * @opaque: for @warn.
 * @err: receives a one-line message on failure (may be NULL).
 * @errlen: size of @err.
 *
 * Context: any (pure).
 * Return: 0; -EINVAL for NULL arguments or an unknown feature name (with
 * a message naming it); -ENOTSUP for one of QEMU's MSR feature names
 * (e.g. "mds-no"), which loom-vm does not filter; -E2BIG if @host is too
 * full to add a KVM leaf; -ENOMEM.
 */
int vmm_x86_cpuid_policy(const struct vmm_x86_cpuid *host,
                         const struct vmm_config_cpu_feature *feats,
                         unsigned nr, struct vmm_x86_cpuid *ret,
                         vmm_x86_warn_fn *warn, void *opaque, char *err,
                         size_t errlen);

/**
 * vmm_x86_topo_check() - whether a topology can be expressed.
 * @t: the topology.
 * Context: any (pure).
 * Return: 0; -EINVAL for NULL or a zero count; -ERANGE when an APIC ID
 * would exceed VMM_X86_MAX_APIC_ID.
 */
int vmm_x86_topo_check(const struct vmm_x86_topo *t);

/**
 * vmm_x86_apic_id() - the APIC ID of vCPU @index (QEMU's numbering:
 * thread, core and package fields, each as wide as its count needs).
 * @t: a topology vmm_x86_topo_check() accepts.
 * @index: 0 .. sockets * cores * threads - 1.
 *
 * With the in-kernel LAPIC, KVM derives a vCPU's APIC ID from its vCPU
 * id: create vCPU @index with KVM vCPU id vmm_x86_apic_id(@t, @index).
 * IDs are contiguous when cores and threads are powers of two.
 *
 * Context: any (pure).
 * Return: the APIC ID (0 for a topology vmm_x86_topo_check() refuses).
 */
uint32_t vmm_x86_apic_id(const struct vmm_x86_topo *t, unsigned index);

/**
 * vmm_x86_cpuid_vcpu() - the table of one vCPU.
 * @policy: vmm_x86_cpuid_policy()'s table.
 * @t: the topology (vmm_x86_topo_check() must accept it).
 * @index: the vCPU, 0 .. sockets * cores * threads - 1.
 * @ret: receives the table (may be @policy itself).
 *
 * Context: any (pure).
 * Return: 0; -EINVAL for NULL, a bad topology or @index; -ERANGE as
 * vmm_x86_topo_check(); -E2BIG if the topology leaves do not fit.
 */
int vmm_x86_cpuid_vcpu(const struct vmm_x86_cpuid *policy,
                       const struct vmm_x86_topo *t, unsigned index,
                       struct vmm_x86_cpuid *ret);

/**
 * vmm_x86_cpuid_find() - an entry of a table.
 * @c: the table.
 * @leaf: CPUID leaf.
 * @subleaf: subleaf (ignored for entries without a significant index).
 * Context: any (pure).
 * Return: the entry, or NULL.
 */
struct kvm_cpuid_entry2 *vmm_x86_cpuid_find(const struct vmm_x86_cpuid *c,
                                            uint32_t leaf, uint32_t subleaf);

/**
 * vmm_x86_cpuid_set() - give a vCPU its table (KVM_SET_CPUID2).
 * @vcpu: the vCPU.
 * @c: vmm_x86_cpuid_vcpu()'s table.
 *
 * Call it before the vCPU first runs (KVM refuses changes afterwards):
 * in its vmm_kvm_vcpu_init_fn.
 *
 * Context: vcpu(cpu), outside exec.
 * Return: 0; -EINVAL; -ENOMEM; as vmm_kvm_vcpu_ioctl().
 */
int vmm_x86_cpuid_set(struct vmm_kvm_vcpu *vcpu, const struct vmm_x86_cpuid *c);

/**
 * vmm_x86_cpuid_set_fd() - vmm_x86_cpuid_set() on a raw KVM vCPU fd.
 * @vcpu_fd: the fd.
 * @c: the table.
 * Context: the thread that runs the vCPU, outside KVM_RUN.
 * Return: 0; -EINVAL; -ENOMEM; another -errno from KVM.
 */
int vmm_x86_cpuid_set_fd(int vcpu_fd, const struct vmm_x86_cpuid *c);

#endif /* VMM_ARCH_X86_64_CPUID_H */
