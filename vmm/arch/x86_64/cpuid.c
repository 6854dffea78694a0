/* SPDX-License-Identifier: MIT */
/*
 * CPUID tables for loom-vm's vCPUs: the host's KVM-supported set, the
 * -cpu host feature switches by QEMU's names, and each vCPU's APIC ID and
 * topology leaves.  Pure table functions, except the two KVM ioctls at
 * the end.  Called by the machine's set-up (policy) and by each vCPU's
 * init callback (per-vCPU table, KVM_SET_CPUID2).
 */
#include "arch/x86_64/cpuid.h"

#include "arch/x86_64/x86-int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define KVM_SIG_EBX 0x4b4d564bu /* "KVMKVMKVM\0\0\0" */
#define KVM_SIG_ECX 0x564b4d56u
#define KVM_SIG_EDX 0x0000004du
#define LEAF_KVM 0x40000000u
#define LEAF_KVM_FEATURES 0x40000001u
#define CPUID_1_ECX_HYPERVISOR (1u << 31)
#define CPUID_1_EDX_HTT (1u << 28)

/* ------------------------------------------------------------------ */
/* QEMU's feature names                                                */
/* ------------------------------------------------------------------ */

#define F(n, l, s, r, b)                                                       \
    {                                                                          \
        n, l, s, VMM_X86_##r, 1u << (b)                                        \
    }

/*
 * Names and positions as QEMU 7.2 has them (its "Recognized CPUID flags"
 * and its warnings' "CPUID.<leaf>H:<reg>.<name> [bit <n>]"), from the
 * Intel SDM and AMD APM bit definitions.  Only CPUID bits: QEMU's MSR
 * feature words (e.g. "rdctl-no", "mds-no") and VMX/SVM controls are not
 * here and are refused as unknown.
 */
/* clang-format off */
static const struct vmm_x86_feature features[] = {
    /* Leaf 1, EDX. */
    F("fpu", 1, 0, EDX, 0), F("vme", 1, 0, EDX, 1), F("de", 1, 0, EDX, 2),
    F("pse", 1, 0, EDX, 3), F("tsc", 1, 0, EDX, 4), F("msr", 1, 0, EDX, 5),
    F("pae", 1, 0, EDX, 6), F("mce", 1, 0, EDX, 7), F("cx8", 1, 0, EDX, 8),
    F("apic", 1, 0, EDX, 9), F("sep", 1, 0, EDX, 11), F("mtrr", 1, 0, EDX, 12),
    F("pge", 1, 0, EDX, 13), F("mca", 1, 0, EDX, 14), F("cmov", 1, 0, EDX, 15),
    F("pat", 1, 0, EDX, 16), F("pse36", 1, 0, EDX, 17), F("pn", 1, 0, EDX, 18),
    F("clflush", 1, 0, EDX, 19), F("ds", 1, 0, EDX, 21),
    F("acpi", 1, 0, EDX, 22), F("mmx", 1, 0, EDX, 23),
    F("fxsr", 1, 0, EDX, 24), F("sse", 1, 0, EDX, 25),
    F("sse2", 1, 0, EDX, 26), F("ss", 1, 0, EDX, 27), F("ht", 1, 0, EDX, 28),
    F("tm", 1, 0, EDX, 29), F("ia64", 1, 0, EDX, 30), F("pbe", 1, 0, EDX, 31),
    /* Leaf 1, ECX. */
    F("pni", 1, 0, ECX, 0), F("pclmulqdq", 1, 0, ECX, 1),
    F("dtes64", 1, 0, ECX, 2), F("monitor", 1, 0, ECX, 3),
    F("ds-cpl", 1, 0, ECX, 4), F("vmx", 1, 0, ECX, 5), F("smx", 1, 0, ECX, 6),
    F("est", 1, 0, ECX, 7), F("tm2", 1, 0, ECX, 8), F("ssse3", 1, 0, ECX, 9),
    F("cid", 1, 0, ECX, 10), F("fma", 1, 0, ECX, 12), F("cx16", 1, 0, ECX, 13),
    F("xtpr", 1, 0, ECX, 14), F("pdcm", 1, 0, ECX, 15),
    F("pcid", 1, 0, ECX, 17), F("dca", 1, 0, ECX, 18),
    F("sse4.1", 1, 0, ECX, 19), F("sse4.2", 1, 0, ECX, 20),
    F("x2apic", 1, 0, ECX, 21), F("movbe", 1, 0, ECX, 22),
    F("popcnt", 1, 0, ECX, 23), F("tsc-deadline", 1, 0, ECX, 24),
    F("aes", 1, 0, ECX, 25), F("xsave", 1, 0, ECX, 26),
    F("avx", 1, 0, ECX, 28), F("f16c", 1, 0, ECX, 29),
    F("rdrand", 1, 0, ECX, 30), F("hypervisor", 1, 0, ECX, 31),
    /* Leaf 6, EAX. */
    F("arat", 6, 0, EAX, 2),
    /* Leaf 7.0, EBX. */
    F("fsgsbase", 7, 0, EBX, 0), F("tsc-adjust", 7, 0, EBX, 1),
    F("sgx", 7, 0, EBX, 2), F("bmi1", 7, 0, EBX, 3), F("hle", 7, 0, EBX, 4),
    F("avx2", 7, 0, EBX, 5), F("smep", 7, 0, EBX, 7), F("bmi2", 7, 0, EBX, 8),
    F("erms", 7, 0, EBX, 9), F("invpcid", 7, 0, EBX, 10),
    F("rtm", 7, 0, EBX, 11), F("mpx", 7, 0, EBX, 14),
    F("avx512f", 7, 0, EBX, 16), F("avx512dq", 7, 0, EBX, 17),
    F("rdseed", 7, 0, EBX, 18), F("adx", 7, 0, EBX, 19),
    F("smap", 7, 0, EBX, 20), F("avx512ifma", 7, 0, EBX, 21),
    F("pcommit", 7, 0, EBX, 22), F("clflushopt", 7, 0, EBX, 23),
    F("clwb", 7, 0, EBX, 24), F("intel-pt", 7, 0, EBX, 25),
    F("avx512pf", 7, 0, EBX, 26), F("avx512er", 7, 0, EBX, 27),
    F("avx512cd", 7, 0, EBX, 28), F("sha-ni", 7, 0, EBX, 29),
    F("avx512bw", 7, 0, EBX, 30), F("avx512vl", 7, 0, EBX, 31),
    /* Leaf 7.0, ECX. */
    F("avx512vbmi", 7, 0, ECX, 1), F("umip", 7, 0, ECX, 2),
    F("pku", 7, 0, ECX, 3), F("waitpkg", 7, 0, ECX, 5),
    F("avx512vbmi2", 7, 0, ECX, 6), F("gfni", 7, 0, ECX, 8),
    F("vaes", 7, 0, ECX, 9), F("vpclmulqdq", 7, 0, ECX, 10),
    F("avx512vnni", 7, 0, ECX, 11), F("avx512bitalg", 7, 0, ECX, 12),
    F("avx512-vpopcntdq", 7, 0, ECX, 14), F("la57", 7, 0, ECX, 16),
    F("rdpid", 7, 0, ECX, 22), F("bus-lock-detect", 7, 0, ECX, 24),
    F("cldemote", 7, 0, ECX, 25), F("movdiri", 7, 0, ECX, 27),
    F("movdir64b", 7, 0, ECX, 28), F("sgxlc", 7, 0, ECX, 30),
    F("pks", 7, 0, ECX, 31),
    /* Leaf 7.0, EDX. */
    F("avx512-4vnniw", 7, 0, EDX, 2), F("avx512-4fmaps", 7, 0, EDX, 3),
    F("fsrm", 7, 0, EDX, 4), F("avx512-vp2intersect", 7, 0, EDX, 8),
    F("md-clear", 7, 0, EDX, 10), F("serialize", 7, 0, EDX, 14),
    F("tsx-ldtrk", 7, 0, EDX, 16), F("arch-lbr", 7, 0, EDX, 19),
    F("amx-bf16", 7, 0, EDX, 22), F("avx512-fp16", 7, 0, EDX, 23),
    F("amx-tile", 7, 0, EDX, 24), F("amx-int8", 7, 0, EDX, 25),
    F("spec-ctrl", 7, 0, EDX, 26), F("stibp", 7, 0, EDX, 27),
    F("arch-capabilities", 7, 0, EDX, 29), F("core-capability", 7, 0, EDX, 30),
    F("ssbd", 7, 0, EDX, 31),
    /* Leaf 7.1, EAX. */
    F("avx-vnni", 7, 1, EAX, 4), F("avx512-bf16", 7, 1, EAX, 5),
    /* Leaf 0xD.1, EAX. */
    F("xsaveopt", 0xd, 1, EAX, 0), F("xsavec", 0xd, 1, EAX, 1),
    F("xgetbv1", 0xd, 1, EAX, 2), F("xsaves", 0xd, 1, EAX, 3),
    F("xfd", 0xd, 1, EAX, 4),
    /* Leaf 0x12: SGX. */
    F("sgx1", 0x12, 0, EAX, 0), F("sgx2", 0x12, 0, EAX, 1),
    F("sgx-exinfo", 0x12, 0, EBX, 0), F("sgx-debug", 0x12, 1, EAX, 1),
    F("sgx-mode64", 0x12, 1, EAX, 2), F("sgx-provisionkey", 0x12, 1, EAX, 4),
    F("sgx-tokenkey", 0x12, 1, EAX, 5), F("sgx-kss", 0x12, 1, EAX, 7),
    /* Leaf 0x14, ECX: processor trace. */
    F("intel-pt-lip", 0x14, 0, ECX, 31),
    /* Leaf 0x80000001, EDX. */
    F("syscall", 0x80000001, 0, EDX, 11), F("nx", 0x80000001, 0, EDX, 20),
    F("mmxext", 0x80000001, 0, EDX, 22), F("fxsr-opt", 0x80000001, 0, EDX, 25),
    F("pdpe1gb", 0x80000001, 0, EDX, 26), F("rdtscp", 0x80000001, 0, EDX, 27),
    F("lm", 0x80000001, 0, EDX, 29), F("3dnowext", 0x80000001, 0, EDX, 30),
    F("3dnow", 0x80000001, 0, EDX, 31),
    /* Leaf 0x80000001, ECX. */
    F("lahf-lm", 0x80000001, 0, ECX, 0),
    F("cmp-legacy", 0x80000001, 0, ECX, 1), F("svm", 0x80000001, 0, ECX, 2),
    F("extapic", 0x80000001, 0, ECX, 3), F("cr8legacy", 0x80000001, 0, ECX, 4),
    F("abm", 0x80000001, 0, ECX, 5), F("sse4a", 0x80000001, 0, ECX, 6),
    F("misalignsse", 0x80000001, 0, ECX, 7),
    F("3dnowprefetch", 0x80000001, 0, ECX, 8),
    F("osvw", 0x80000001, 0, ECX, 9), F("ibs", 0x80000001, 0, ECX, 10),
    F("xop", 0x80000001, 0, ECX, 11), F("skinit", 0x80000001, 0, ECX, 12),
    F("wdt", 0x80000001, 0, ECX, 13), F("lwp", 0x80000001, 0, ECX, 15),
    F("fma4", 0x80000001, 0, ECX, 16), F("tce", 0x80000001, 0, ECX, 17),
    F("nodeid-msr", 0x80000001, 0, ECX, 19), F("tbm", 0x80000001, 0, ECX, 21),
    F("topoext", 0x80000001, 0, ECX, 22),
    F("perfctr-core", 0x80000001, 0, ECX, 23),
    F("perfctr-nb", 0x80000001, 0, ECX, 24),
    /* Leaf 0x80000007, EDX; leaf 0x80000008, EBX. */
    F("invtsc", 0x80000007, 0, EDX, 8), F("clzero", 0x80000008, 0, EBX, 0),
    F("xsaveerptr", 0x80000008, 0, EBX, 2),
    F("wbnoinvd", 0x80000008, 0, EBX, 9), F("ibpb", 0x80000008, 0, EBX, 12),
    F("ibrs", 0x80000008, 0, EBX, 14), F("amd-stibp", 0x80000008, 0, EBX, 15),
    F("amd-ssbd", 0x80000008, 0, EBX, 24),
    F("virt-ssbd", 0x80000008, 0, EBX, 25),
    F("amd-no-ssb", 0x80000008, 0, EBX, 26),
    /* Leaf 0x8000000A, EDX: SVM features. */
    F("npt", 0x8000000a, 0, EDX, 0), F("lbrv", 0x8000000a, 0, EDX, 1),
    F("svm-lock", 0x8000000a, 0, EDX, 2),
    F("nrip-save", 0x8000000a, 0, EDX, 3),
    F("tsc-scale", 0x8000000a, 0, EDX, 4),
    F("vmcb-clean", 0x8000000a, 0, EDX, 5),
    F("flushbyasid", 0x8000000a, 0, EDX, 6),
    F("decodeassists", 0x8000000a, 0, EDX, 7),
    F("pause-filter", 0x8000000a, 0, EDX, 10),
    F("pfthreshold", 0x8000000a, 0, EDX, 12),
    F("avic", 0x8000000a, 0, EDX, 13),
    F("v-vmsave-vmload", 0x8000000a, 0, EDX, 15),
    F("vgif", 0x8000000a, 0, EDX, 16),
    F("svme-addr-chk", 0x8000000a, 0, EDX, 28),
    /* Leaf 0xC0000001, EDX: VIA PadLock. */
    F("xstore", 0xc0000001, 0, EDX, 2), F("xstore-en", 0xc0000001, 0, EDX, 3),
    F("xcrypt", 0xc0000001, 0, EDX, 6), F("xcrypt-en", 0xc0000001, 0, EDX, 7),
    F("ace2", 0xc0000001, 0, EDX, 8), F("ace2-en", 0xc0000001, 0, EDX, 9),
    F("phe", 0xc0000001, 0, EDX, 10), F("phe-en", 0xc0000001, 0, EDX, 11),
    F("pmm", 0xc0000001, 0, EDX, 12), F("pmm-en", 0xc0000001, 0, EDX, 13),
    /* KVM's paravirtual features: leaf 0x40000001, EAX and EDX. */
    {"kvmclock", LEAF_KVM_FEATURES, 0, VMM_X86_EAX, (1u << 0) | (1u << 3)},
    F("kvm-nopiodelay", LEAF_KVM_FEATURES, 0, EAX, 1),
    F("kvm-mmu", LEAF_KVM_FEATURES, 0, EAX, 2),
    F("kvm-asyncpf", LEAF_KVM_FEATURES, 0, EAX, 4),
    F("kvm-steal-time", LEAF_KVM_FEATURES, 0, EAX, 5),
    F("kvm-pv-eoi", LEAF_KVM_FEATURES, 0, EAX, 6),
    F("kvm-pv-unhalt", LEAF_KVM_FEATURES, 0, EAX, 7),
    F("kvm-pv-tlb-flush", LEAF_KVM_FEATURES, 0, EAX, 9),
    F("kvm-pv-ipi", LEAF_KVM_FEATURES, 0, EAX, 11),
    F("kvm-poll-control", LEAF_KVM_FEATURES, 0, EAX, 12),
    F("kvm-pv-sched-yield", LEAF_KVM_FEATURES, 0, EAX, 13),
    F("kvm-asyncpf-int", LEAF_KVM_FEATURES, 0, EAX, 14),
    F("kvm-msi-ext-dest-id", LEAF_KVM_FEATURES, 0, EAX, 15),
    F("kvmclock-stable-bit", LEAF_KVM_FEATURES, 0, EAX, 24),
    F("kvm-hint-dedicated", LEAF_KVM_FEATURES, 0, EDX, 0),
};
/* clang-format on */

/*
 * QEMU's features that are MSR bits (IA32_ARCH_CAPABILITIES, core
 * capabilities, PERF_CAPABILITIES), not CPUID: refused with their own
 * message, as loom-vm filters CPUID only.
 */
static const char *const msr_features[] = {
    "rdctl-no",           "ibrs-all",         "rsba",
    "skip-l1dfl-vmentry", "ssb-no",           "mds-no",
    "pschange-mc-no",     "tsx-ctrl",         "taa-no",
    "split-lock-detect",  "full-width-write",
};

/* QEMU's other spellings (after '_' became '-'). */
static const struct {
    const char *alias, *name;
} aliases[] = {
    {"sse3", "pni"},       {"pclmuldq", "pclmulqdq"},
    {"sse4-1", "sse4.1"},  {"sse4-2", "sse4.2"},
    {"xd", "nx"},          {"i64", "lm"},
    {"ffxsr", "fxsr-opt"},
};

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

const struct vmm_x86_feature *vmm_x86_feature_find(const char *name)
{
    char n[32];
    size_t i, len;

    if (!name) {
        return NULL;
    }
    len = strlen(name);
    if (len == 0 || len >= sizeof(n)) {
        return NULL;
    }
    for (i = 0; i <= len; i++) {
        n[i] = name[i] == '_' ? '-' : name[i];
    }
    for (i = 0; i < ARRAY_LEN(aliases); i++) {
        if (strcmp(n, aliases[i].alias) == 0) {
            return vmm_x86_feature_find(aliases[i].name);
        }
    }
    for (i = 0; i < ARRAY_LEN(features); i++) {
        if (strcmp(n, features[i].name) == 0) {
            return &features[i];
        }
    }
    return NULL;
}

static bool is_msr_feature(const char *name)
{
    size_t i, k;

    for (i = 0; i < ARRAY_LEN(msr_features); i++) {
        const char *m = msr_features[i];

        /* As vmm_x86_feature_find() compares: '_' is '-'. */
        for (k = 0; m[k] && (name[k] == '_' ? '-' : name[k]) == m[k]; k++) {
        }
        if (!m[k] && !name[k]) {
            return true;
        }
    }
    return false;
}

/* ------------------------------------------------------------------ */
/* Tables                                                              */
/* ------------------------------------------------------------------ */

static bool entry_is(const struct kvm_cpuid_entry2 *e, uint32_t leaf,
                     uint32_t subleaf)
{
    return e->function == leaf &&
           (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) ||
            e->index == subleaf);
}

struct kvm_cpuid_entry2 *vmm_x86_cpuid_find(const struct vmm_x86_cpuid *c,
                                            uint32_t leaf, uint32_t subleaf)
{
    unsigned i;

    if (!c) {
        return NULL;
    }
    for (i = 0; i < c->nr && i < VMM_X86_CPUID_MAX; i++) {
        if (entry_is(&c->e[i], leaf, subleaf)) {
            return (struct kvm_cpuid_entry2 *)&c->e[i];
        }
    }
    return NULL;
}

static struct kvm_cpuid_entry2 *add(struct vmm_x86_cpuid *c, uint32_t leaf,
                                    uint32_t subleaf, uint32_t flags)
{
    struct kvm_cpuid_entry2 *e;

    if (c->nr >= VMM_X86_CPUID_MAX) {
        return NULL;
    }
    e = &c->e[c->nr++];
    memset(e, 0, sizeof(*e));
    e->function = leaf;
    e->index = subleaf;
    e->flags = flags;
    return e;
}

/* Every entry of @leaf, whatever its subleaf. */
static void remove_leaf(struct vmm_x86_cpuid *c, uint32_t leaf)
{
    unsigned i, j = 0;

    for (i = 0; i < c->nr; i++) {
        if (c->e[i].function != leaf) {
            c->e[j++] = c->e[i];
        }
    }
    c->nr = j;
}

static uint32_t *reg_of(struct kvm_cpuid_entry2 *e, enum vmm_x86_reg r)
{
    switch (r) {
    case VMM_X86_EAX:
        return &e->eax;
    case VMM_X86_EBX:
        return &e->ebx;
    case VMM_X86_ECX:
        return &e->ecx;
    default:
        return &e->edx;
    }
}

/* ------------------------------------------------------------------ */
/* VM-wide policy                                                      */
/* ------------------------------------------------------------------ */

static int kvm_leaves(struct vmm_x86_cpuid *c)
{
    struct kvm_cpuid_entry2 *e = vmm_x86_cpuid_find(c, LEAF_KVM, 0);

    if (!e) {
        e = add(c, LEAF_KVM, 0, 0);
    }
    if (!e) {
        return -E2BIG;
    }
    if (e->eax < LEAF_KVM_FEATURES) {
        e->eax = LEAF_KVM_FEATURES;
    }
    e->ebx = KVM_SIG_EBX;
    e->ecx = KVM_SIG_ECX;
    e->edx = KVM_SIG_EDX;
    if (!vmm_x86_cpuid_find(c, LEAF_KVM_FEATURES, 0) &&
        !add(c, LEAF_KVM_FEATURES, 0, 0)) {
        return -E2BIG;
    }
    return 0;
}

static void warn_missing(const struct vmm_x86_feature *f, uint32_t missing,
                         vmm_x86_warn_fn *warn, void *opaque)
{
    static const char *const names[] = {"EAX", "EBX", "ECX", "EDX"};
    char msg[128];

    if (!warn) {
        return;
    }
    /* QEMU's wording; one line for the lowest missing bit. */
    snprintf(msg, sizeof(msg),
             "host doesn't support requested feature: CPUID.%02XH:%s.%s "
             "[bit %d]",
             f->leaf, names[f->reg], f->name, __builtin_ctz(missing));
    warn(opaque, msg);
}

/* One switch: on only as far as the host has it; off always. */
static void apply(struct vmm_x86_cpuid *c, const struct vmm_x86_cpuid *host,
                  const struct vmm_x86_feature *f, bool on,
                  vmm_x86_warn_fn *warn, void *opaque)
{
    struct kvm_cpuid_entry2 *e = vmm_x86_cpuid_find(c, f->leaf, f->subleaf);
    struct kvm_cpuid_entry2 *h = vmm_x86_cpuid_find(host, f->leaf, f->subleaf);
    uint32_t have = h ? *reg_of(h, f->reg) & f->mask : 0;

    if (!on) {
        if (e) {
            *reg_of(e, f->reg) &= ~f->mask;
        }
        return;
    }
    /* The hypervisor bit is loom-vm's to give, whatever the host says. */
    if (f->leaf == 1 && f->reg == VMM_X86_ECX &&
        f->mask == CPUID_1_ECX_HYPERVISOR) {
        have = f->mask;
    }
    if (have != f->mask) {
        warn_missing(f, f->mask & ~have, warn, opaque);
    }
    if (e) {
        *reg_of(e, f->reg) |= have;
    }
}

int vmm_x86_cpuid_policy(const struct vmm_x86_cpuid *host,
                         const struct vmm_config_cpu_feature *feats,
                         unsigned nr, struct vmm_x86_cpuid *ret,
                         vmm_x86_warn_fn *warn, void *opaque, char *err,
                         size_t errlen)
{
    struct vmm_x86_cpuid *out;
    struct kvm_cpuid_entry2 *e;
    unsigned i;
    int r;

    if (!host || !ret || (nr && !feats) || host->nr > VMM_X86_CPUID_MAX) {
        return vmm__x86_err(err, errlen, -EINVAL, "-cpu: bad arguments");
    }
    /* Names first: an unknown one stops everything, no warning printed. */
    for (i = 0; i < nr; i++) {
        const char *n = feats[i].name ? feats[i].name : "";

        if (vmm_x86_feature_find(n)) {
            continue;
        }
        if (is_msr_feature(n)) {
            return vmm__x86_err(err, errlen, -ENOTSUP,
                                "-cpu host: '%s' is an MSR feature, which "
                                "loom-vm does not filter",
                                n);
        }
        return vmm__x86_err(err, errlen, -EINVAL,
                            "-cpu host: unknown CPU feature '%s'", n);
    }
    out = malloc(sizeof(*out));
    if (!out) {
        return vmm__x86_err(err, errlen, -ENOMEM, "-cpu: out of memory");
    }
    *out = *host;
    e = vmm_x86_cpuid_find(out, 1, 0);
    if (e) {
        e->ecx |= CPUID_1_ECX_HYPERVISOR;
    }
    r = kvm_leaves(out);
    if (r < 0) {
        free(out);
        return vmm__x86_err(err, errlen, r, "-cpu: CPUID table full");
    }
    for (i = 0; i < nr; i++) {
        apply(out, host, vmm_x86_feature_find(feats[i].name), feats[i].on, warn,
              opaque);
    }
    *ret = *out;
    free(out);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Topology                                                            */
/* ------------------------------------------------------------------ */

/* Bits needed to number @n things (0 for one). */
static unsigned width(unsigned n)
{
    unsigned w = 0;

    while (w < 31 && (1u << w) < n) {
        w++;
    }
    return w;
}

int vmm_x86_topo_check(const struct vmm_x86_topo *t)
{
    unsigned sw, cw;

    if (!t || !t->sockets || !t->cores || !t->threads) {
        return -EINVAL;
    }
    if (t->sockets > VMM_X86_MAX_APIC_ID + 1 ||
        t->cores > VMM_X86_MAX_APIC_ID + 1 ||
        t->threads > VMM_X86_MAX_APIC_ID + 1) {
        return -ERANGE;
    }
    sw = width(t->threads);
    cw = width(t->cores);
    /* The last vCPU has the highest ID: every field at its maximum. */
    if (((uint64_t)(t->sockets - 1) << (sw + cw)) +
            ((uint64_t)(t->cores - 1) << sw) + (t->threads - 1) >
        VMM_X86_MAX_APIC_ID) {
        return -ERANGE;
    }
    return 0;
}

uint32_t vmm_x86_apic_id(const struct vmm_x86_topo *t, unsigned index)
{
    unsigned sw, cw;

    if (vmm_x86_topo_check(t) < 0) {
        return 0;
    }
    sw = width(t->threads);
    cw = width(t->cores);
    return ((index / (t->threads * t->cores)) << (sw + cw)) |
           (((index / t->threads) % t->cores) << sw) | (index % t->threads);
}

enum vendor { VENDOR_OTHER, VENDOR_INTEL, VENDOR_AMD };

static enum vendor vendor_of(const struct vmm_x86_cpuid *c)
{
    const struct kvm_cpuid_entry2 *e = vmm_x86_cpuid_find(c, 0, 0);

    if (!e) {
        return VENDOR_OTHER;
    }
    if (e->ebx == 0x756e6547 && e->edx == 0x49656e69 && e->ecx == 0x6c65746e) {
        return VENDOR_INTEL; /* GenuineIntel */
    }
    if ((e->ebx == 0x68747541 && e->edx == 0x69746e65 &&
         e->ecx == 0x444d4163) || /* AuthenticAMD */
        (e->ebx == 0x6f677948 && e->edx == 0x6e65476e &&
         e->ecx == 0x656e6975)) { /* HygonGenuine */
        return VENDOR_AMD;
    }
    return VENDOR_OTHER;
}

struct topo {
    unsigned sw, cw;    /* thread and core field widths */
    unsigned per_pkg;   /* logical processors per package */
    uint32_t id;        /* this vCPU's APIC ID */
    unsigned core, pkg; /* its core (in the package) and package */
};

/* Leaf 1: the initial APIC ID, logical processors per package, HTT. */
static void topo_leaf1(struct vmm_x86_cpuid *c, const struct topo *t)
{
    struct kvm_cpuid_entry2 *e = vmm_x86_cpuid_find(c, 1, 0);

    if (!e) {
        return;
    }
    e->ebx &= 0x0000ff00u; /* CLFLUSH line size stays */
    e->ebx |= t->id << 24;
    e->edx &= ~CPUID_1_EDX_HTT;
    if (t->per_pkg > 1) {
        e->ebx |= (t->per_pkg > 255 ? 255 : t->per_pkg) << 16;
        e->edx |= CPUID_1_EDX_HTT;
    }
}

/*
 * Cache leaves (Intel 4, AMD 0x8000001D): who shares each cache.  L1 and
 * L2 belong to a core (its threads), L3 and beyond to the package; the
 * counts are the addressable IDs, powers of two, as the SDM defines them.
 */
static void topo_caches(struct vmm_x86_cpuid *c, const struct topo *t,
                        uint32_t leaf, bool cores_field)
{
    unsigned i;

    for (i = 0; i < c->nr; i++) {
        struct kvm_cpuid_entry2 *e = &c->e[i];
        unsigned level = (e->eax >> 5) & 7;
        uint32_t sharing;

        if (e->function != leaf || (e->eax & 0x1f) == 0) {
            continue; /* another leaf, or "no more caches" */
        }
        sharing = level <= 2 ? 1u << t->sw : 1u << (t->sw + t->cw);
        e->eax &= ~(0xfffu << 14);
        e->eax |= ((sharing - 1) & 0xfff) << 14;
        if (cores_field) {
            e->eax &= ~(0x3fu << 26);
            e->eax |= (((1u << t->cw) - 1) & 0x3f) << 26;
        }
    }
}

/* Leaves 0xB and 0x1F: SMT and core levels, then an invalid level. */
static int topo_levels(struct vmm_x86_cpuid *c, const struct topo *t,
                       const struct vmm_x86_topo *vt, uint32_t leaf)
{
    const uint32_t shift[2] = {t->sw, t->sw + t->cw};
    const uint32_t count[2] = {vt->threads, t->per_pkg};
    uint32_t sub;

    remove_leaf(c, leaf);
    for (sub = 0; sub < 3; sub++) {
        struct kvm_cpuid_entry2 *e =
            add(c, leaf, sub, KVM_CPUID_FLAG_SIGNIFCANT_INDEX);

        if (!e) {
            return -E2BIG;
        }
        e->ecx = sub;
        e->edx = t->id;
        if (sub < 2) {
            e->eax = shift[sub];
            e->ebx = count[sub] & 0xffff;
            e->ecx |= (sub + 1) << 8; /* 1: SMT, 2: core */
        }
    }
    return 0;
}

/* AMD: extended APIC ID, core and node (one node per package). */
static void topo_amd(struct vmm_x86_cpuid *c, const struct topo *t,
                     const struct vmm_x86_topo *vt)
{
    struct kvm_cpuid_entry2 *e = vmm_x86_cpuid_find(c, 0x80000008, 0);

    if (e) {
        e->ecx &= ~0xf0ffu;
        e->ecx |= ((t->sw + t->cw) & 0xf) << 12;
        e->ecx |= (t->per_pkg - 1) & 0xff;
    }
    e = vmm_x86_cpuid_find(c, 0x8000001e, 0);
    if (e) {
        e->eax = t->id;
        e->ebx = ((vt->threads - 1) & 0xff) << 8 | (t->core & 0xff);
        e->ecx = t->pkg & 0xff;
        e->edx = 0;
    }
}

int vmm_x86_cpuid_vcpu(const struct vmm_x86_cpuid *policy,
                       const struct vmm_x86_topo *vt, unsigned index,
                       struct vmm_x86_cpuid *ret)
{
    struct vmm_x86_cpuid *out;
    const struct kvm_cpuid_entry2 *e0;
    struct topo t;
    uint32_t max_basic;
    int r;

    if (!policy || !ret || policy->nr > VMM_X86_CPUID_MAX) {
        return -EINVAL;
    }
    r = vmm_x86_topo_check(vt);
    if (r < 0) {
        return r;
    }
    t.sw = width(vt->threads);
    t.cw = width(vt->cores);
    t.per_pkg = vt->threads * vt->cores;
    if (index >= t.per_pkg * vt->sockets) {
        return -EINVAL;
    }
    t.id = vmm_x86_apic_id(vt, index);
    t.core = (index / vt->threads) % vt->cores;
    t.pkg = index / t.per_pkg;
    out = malloc(sizeof(*out));
    if (!out) {
        return -ENOMEM;
    }
    *out = *policy;
    e0 = vmm_x86_cpuid_find(out, 0, 0);
    max_basic = e0 ? e0->eax : 0;
    topo_leaf1(out, &t);
    topo_caches(out, &t, 4, true);
    if (max_basic >= 0xb) {
        r = topo_levels(out, &t, vt, 0xb);
    }
    if (r == 0 && max_basic >= 0x1f && vmm_x86_cpuid_find(policy, 0x1f, 0)) {
        r = topo_levels(out, &t, vt, 0x1f);
    }
    if (vendor_of(out) == VENDOR_AMD) {
        topo_caches(out, &t, 0x8000001d, false);
        topo_amd(out, &t, vt);
    }
    if (r == 0) {
        *ret = *out;
    }
    free(out);
    return r;
}

/* ------------------------------------------------------------------ */
/* KVM                                                                 */
/* ------------------------------------------------------------------ */

static struct kvm_cpuid2 *cpuid2_new(unsigned n)
{
    struct kvm_cpuid2 *c =
        calloc(1, sizeof(*c) + n * sizeof(struct kvm_cpuid_entry2));

    if (c) {
        c->nent = n;
    }
    return c;
}

int vmm_x86_cpuid_host(struct vmm_kvm_vm *vm, struct vmm_x86_cpuid *ret)
{
    struct kvm_cpuid2 *c;
    int fd = -1, r;

    if (!ret) {
        return -EINVAL;
    }
    if (!vm) {
        fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
        if (fd < 0) {
            return -errno;
        }
    }
    c = cpuid2_new(VMM_X86_CPUID_MAX);
    if (!c) {
        r = -ENOMEM;
    } else if (vm) {
        r = vmm_kvm_sys_ioctl(vm, KVM_GET_SUPPORTED_CPUID, c);
    } else {
        r = ioctl(fd, KVM_GET_SUPPORTED_CPUID, c) < 0 ? -errno : 0;
    }
    if (r >= 0 && c->nent > VMM_X86_CPUID_MAX) {
        r = -E2BIG;
    }
    if (r >= 0) {
        ret->nr = c->nent;
        memcpy(ret->e, c->entries, c->nent * sizeof(c->entries[0]));
        r = 0;
    }
    free(c);
    if (fd >= 0) {
        close(fd);
    }
    return r;
}

static int cpuid_set(const struct vmm__x86_vcpu_io *io,
                     const struct vmm_x86_cpuid *t)
{
    struct kvm_cpuid2 *c;
    int r;

    if (!t || t->nr > VMM_X86_CPUID_MAX) {
        return -EINVAL;
    }
    c = cpuid2_new(t->nr);
    if (!c) {
        return -ENOMEM;
    }
    memcpy(c->entries, t->e, t->nr * sizeof(t->e[0]));
    r = vmm__x86_vcpu_ioctl(io, KVM_SET_CPUID2, c);
    free(c);
    return r < 0 ? r : 0;
}

int vmm_x86_cpuid_set(struct vmm_kvm_vcpu *vcpu, const struct vmm_x86_cpuid *t)
{
    const struct vmm__x86_vcpu_io io = {vcpu, -1};

    return vcpu ? cpuid_set(&io, t) : -EINVAL;
}

int vmm_x86_cpuid_set_fd(int vcpu_fd, const struct vmm_x86_cpuid *t)
{
    const struct vmm__x86_vcpu_io io = {NULL, vcpu_fd};

    return vcpu_fd >= 0 ? cpuid_set(&io, t) : -EINVAL;
}
