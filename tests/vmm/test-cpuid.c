/* SPDX-License-Identifier: MIT */
/*
 * The CPUID policy (vmm/arch/x86_64/cpuid.c) on synthetic host tables, no
 * KVM needed: QEMU's feature names and spellings, the warnings for
 * features the host lacks (QEMU 7.2's exact text), unknown and MSR
 * names refused, the hypervisor bit and KVM's leaves, and the per-vCPU
 * APIC IDs and topology leaves for several -smp shapes on Intel and AMD
 * tables.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86_64/cpuid.h"
#include "harness.h"

#define SIG 1 /* KVM_CPUID_FLAG_SIGNIFCANT_INDEX */

static struct vmm_x86_cpuid g_host, g_out;

static void put(struct vmm_x86_cpuid *c, uint32_t leaf, uint32_t sub,
                uint32_t flags, uint32_t a, uint32_t b, uint32_t cx, uint32_t d)
{
    struct kvm_cpuid_entry2 *e = &c->e[c->nr++];

    memset(e, 0, sizeof(*e));
    *e = (struct kvm_cpuid_entry2){.function = leaf,
                                   .index = sub,
                                   .flags = flags,
                                   .eax = a,
                                   .ebx = b,
                                   .ecx = cx,
                                   .edx = d};
}

/*
 * An Intel host as KVM might report it: SSE4.2, x2APIC, AVX but no
 * AVX-512; four caches; host topology leaves that must be replaced; the
 * KVM leaves with kvmclock, PV EOI, PV unhalt and PV IPI.
 */
static void intel_host(struct vmm_x86_cpuid *c)
{
    memset(c, 0, sizeof(*c));
    put(c, 0, 0, 0, 0x1f, 0x756e6547, 0x6c65746e, 0x49656e69);
    put(c, 1, 0, 0, 0x000806f8, 0x07020800,
        (1u << 20) | (1u << 21) | (1u << 28), (1u << 25) | (1u << 26));
    put(c, 4, 0, SIG, 0x1c004121, 0x02c0003f, 0x3f, 0);   /* L1d */
    put(c, 4, 1, SIG, 0x1c004122, 0x01c0003f, 0x3f, 0);   /* L1i */
    put(c, 4, 2, SIG, 0x1c004143, 0x03c0003f, 0x7ff, 0);  /* L2 */
    put(c, 4, 3, SIG, 0x1c03c163, 0x03c0003f, 0xbfff, 4); /* L3 */
    put(c, 4, 4, SIG, 0, 0, 0, 0);
    put(c, 7, 0, SIG, 1, (1u << 5), 0, (1u << 29) | (1u << 26));
    put(c, 7, 1, SIG, (1u << 4), 0, 0, 0);
    put(c, 0xb, 0, SIG, 1, 2, 0x100, 7);
    put(c, 0xb, 1, SIG, 5, 32, 0x201, 7);
    put(c, 0x1f, 0, SIG, 1, 2, 0x100, 7);
    put(c, 0xd, 1, SIG, 0xf, 0, 0, 0);
    put(c, 0x80000000, 0, 0, 0x80000008, 0, 0, 0);
    put(c, 0x80000001, 0, 0, 0, 0, 1, (1u << 26) | (1u << 29));
    put(c, 0x80000008, 0, 0, 0x3030, 0, 0, 0);
    put(c, 0x40000000, 0, 0, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x4d);
    put(c, 0x40000001, 0, 0, 0x01000ad9, 0, 0, 0);
}

/* An AMD host with the extended topology and cache leaves. */
static void amd_host(struct vmm_x86_cpuid *c)
{
    memset(c, 0, sizeof(*c));
    put(c, 0, 0, 0, 0x10, 0x68747541, 0x444d4163, 0x69746e65);
    put(c, 1, 0, 0, 0x00a00f11, 0x00020800, 1u << 21, 1u << 25);
    put(c, 0xb, 0, SIG, 1, 2, 0x100, 9);
    put(c, 0x80000000, 0, 0, 0x80000021, 0, 0, 0);
    put(c, 0x80000008, 0, 0, 0x3030, 0, 0x7007, 0);
    put(c, 0x8000001d, 0, SIG, 0x00004121, 0, 0, 0);
    put(c, 0x8000001d, 3, SIG, 0x0003c163, 0, 0, 0);
    put(c, 0x8000001e, 0, 0, 9, 0x103, 0x300, 0);
}

/* ------------------------------------------------------------------ */
/* Names                                                               */
/* ------------------------------------------------------------------ */

static void check_feature(const char *name, const char *canon, uint32_t leaf,
                          uint32_t sub, enum vmm_x86_reg reg, uint32_t mask)
{
    const struct vmm_x86_feature *f = vmm_x86_feature_find(name);

    g_assert_nonnull(f);
    g_assert_cmpstr(f->name, ==, canon);
    g_assert_cmphex(f->leaf, ==, leaf);
    g_assert_cmphex(f->subleaf, ==, sub);
    g_assert_cmpint(f->reg, ==, reg);
    g_assert_cmphex(f->mask, ==, mask);
}

static void test_names(void)
{
    check_feature("sse4.2", "sse4.2", 1, 0, VMM_X86_ECX, 1u << 20);
    check_feature("sse4_2", "sse4.2", 1, 0, VMM_X86_ECX, 1u << 20);
    check_feature("sse4-1", "sse4.1", 1, 0, VMM_X86_ECX, 1u << 19);
    check_feature("sse3", "pni", 1, 0, VMM_X86_ECX, 1u << 0);
    check_feature("x2apic", "x2apic", 1, 0, VMM_X86_ECX, 1u << 21);
    check_feature("avx", "avx", 1, 0, VMM_X86_ECX, 1u << 28);
    check_feature("hypervisor", "hypervisor", 1, 0, VMM_X86_ECX, 1u << 31);
    check_feature("pdpe1gb", "pdpe1gb", 0x80000001, 0, VMM_X86_EDX, 1u << 26);
    check_feature("xd", "nx", 0x80000001, 0, VMM_X86_EDX, 1u << 20);
    check_feature("i64", "lm", 0x80000001, 0, VMM_X86_EDX, 1u << 29);
    check_feature("lahf_lm", "lahf-lm", 0x80000001, 0, VMM_X86_ECX, 1);
    check_feature("arch-capabilities", "arch-capabilities", 7, 0, VMM_X86_EDX,
                  1u << 29);
    check_feature("avx-vnni", "avx-vnni", 7, 1, VMM_X86_EAX, 1u << 4);
    check_feature("xsavec", "xsavec", 0xd, 1, VMM_X86_EAX, 1u << 1);
    check_feature("kvm-pv-ipi", "kvm-pv-ipi", 0x40000001, 0, VMM_X86_EAX,
                  1u << 11);
    check_feature("kvm_pv_unhalt", "kvm-pv-unhalt", 0x40000001, 0, VMM_X86_EAX,
                  1u << 7);
    check_feature("kvm-pv-sched-yield", "kvm-pv-sched-yield", 0x40000001, 0,
                  VMM_X86_EAX, 1u << 13);
    check_feature("kvm-pv-eoi", "kvm-pv-eoi", 0x40000001, 0, VMM_X86_EAX,
                  1u << 6);
    check_feature("kvm-pv-tlb-flush", "kvm-pv-tlb-flush", 0x40000001, 0,
                  VMM_X86_EAX, 1u << 9);
    check_feature("kvm-asyncpf", "kvm-asyncpf", 0x40000001, 0, VMM_X86_EAX,
                  1u << 4);
    check_feature("kvmclock", "kvmclock", 0x40000001, 0, VMM_X86_EAX,
                  (1u << 0) | (1u << 3));
    check_feature("kvm-hint-dedicated", "kvm-hint-dedicated", 0x40000001, 0,
                  VMM_X86_EDX, 1);
    check_feature("npt", "npt", 0x8000000a, 0, VMM_X86_EDX, 1);
    check_feature("sgx-kss", "sgx-kss", 0x12, 1, VMM_X86_EAX, 1u << 7);

    g_assert_null(vmm_x86_feature_find("foo"));
    g_assert_null(vmm_x86_feature_find(""));
    g_assert_null(vmm_x86_feature_find(NULL));
    g_assert_null(vmm_x86_feature_find("+avx"));
    g_assert_null(vmm_x86_feature_find("AVX"));
    g_assert_null(vmm_x86_feature_find("sse4.2.0"));
    g_assert_null(vmm_x86_feature_find("mds-no")); /* an MSR bit */
    g_assert_null(
        vmm_x86_feature_find("a-name-far-longer-than-any-feature-name-is"));
}

/* ------------------------------------------------------------------ */
/* Policy                                                              */
/* ------------------------------------------------------------------ */

struct warnings {
    unsigned n;
    char last[128];
    char all[2048];
};

static void collect(void *opaque, const char *msg)
{
    struct warnings *w = opaque;

    w->n++;
    g_strlcpy(w->last, msg, sizeof(w->last));
    g_strlcat(w->all, msg, sizeof(w->all));
    g_strlcat(w->all, "\n", sizeof(w->all));
}

static uint32_t reg(const struct vmm_x86_cpuid *c, uint32_t leaf, uint32_t sub,
                    enum vmm_x86_reg r)
{
    const struct kvm_cpuid_entry2 *e = vmm_x86_cpuid_find(c, leaf, sub);

    g_assert_nonnull(e);
    switch (r) {
    case VMM_X86_EAX:
        return e->eax;
    case VMM_X86_EBX:
        return e->ebx;
    case VMM_X86_ECX:
        return e->ecx;
    default:
        return e->edx;
    }
}

/* Apply "-cpu host,<spec>" (comma-separated +f / -f) to g_host. */
static int policy(const char *spec, struct warnings *w, char *err,
                  size_t errlen)
{
    struct vmm_config_cpu_feature f[16];
    char **parts = g_strsplit(spec, ",", -1);
    unsigned n = 0, i;
    int r;

    for (i = 0; parts[i] && *parts[i]; i++) {
        f[n].name = parts[i] + 1;
        f[n].on = parts[i][0] == '+';
        n++;
    }
    memset(w, 0, sizeof(*w));
    r = vmm_x86_cpuid_policy(&g_host, f, n, &g_out, collect, w, err, errlen);
    g_strfreev(parts);
    return r;
}

static void test_policy_defaults(void)
{
    struct warnings w;

    intel_host(&g_host);
    g_assert_cmpint(policy("", &w, NULL, 0), ==, 0);
    g_assert_cmpuint(w.n, ==, 0);
    g_assert_cmphex(reg(&g_out, 1, 0, VMM_X86_ECX), ==,
                    reg(&g_host, 1, 0, VMM_X86_ECX) | (1u << 31));
    g_assert_cmphex(reg(&g_out, 0x40000000, 0, VMM_X86_EBX), ==, 0x4b4d564b);
    g_assert_cmphex(reg(&g_out, 0x40000000, 0, VMM_X86_ECX), ==, 0x564b4d56);
    g_assert_cmphex(reg(&g_out, 0x40000000, 0, VMM_X86_EDX), ==, 0x4d);
    g_assert_cmphex(reg(&g_out, 0x40000000, 0, VMM_X86_EAX), ==, 0x40000001);
    g_assert_cmphex(reg(&g_out, 0x40000001, 0, VMM_X86_EAX), ==, 0x01000ad9);
    g_assert_cmpuint(g_out.nr, ==, g_host.nr);

    /* A host table without KVM's leaves gets them, features none. */
    g_host.nr -= 2;
    g_assert_cmpint(policy("", &w, NULL, 0), ==, 0);
    g_assert_cmphex(reg(&g_out, 0x40000000, 0, VMM_X86_EBX), ==, 0x4b4d564b);
    g_assert_cmphex(reg(&g_out, 0x40000001, 0, VMM_X86_EAX), ==, 0);
    g_assert_cmpuint(g_out.nr, ==, g_host.nr + 2);
    g_assert_cmpint(policy("+kvm-pv-ipi", &w, NULL, 0), ==, 0);
    g_assert_cmpstr(w.last, ==,
                    "host doesn't support requested feature: "
                    "CPUID.40000001H:EAX.kvm-pv-ipi [bit 11]");
    g_assert_cmphex(reg(&g_out, 0x40000001, 0, VMM_X86_EAX), ==, 0);
    /* No room for them. */
    while (g_host.nr < VMM_X86_CPUID_MAX) {
        put(&g_host, 0x20 + g_host.nr, 0, 0, 0, 0, 0, 0);
    }
    g_assert_cmpint(policy("", &w, NULL, 0), ==, -E2BIG);
}

static void test_policy_switches(void)
{
    uint32_t kvm = 0x01000ad9;
    struct warnings w;

    intel_host(&g_host);
    /* Off, on, the last of several wins. */
    g_assert_cmpint(policy("-avx", &w, NULL, 0), ==, 0);
    g_assert_cmphex(reg(&g_out, 1, 0, VMM_X86_ECX) & (1u << 28), ==, 0);
    g_assert_cmpint(policy("-avx,+avx", &w, NULL, 0), ==, 0);
    g_assert_cmphex(reg(&g_out, 1, 0, VMM_X86_ECX) & (1u << 28), !=, 0);
    g_assert_cmpint(policy("+avx,-avx", &w, NULL, 0), ==, 0);
    g_assert_cmphex(reg(&g_out, 1, 0, VMM_X86_ECX) & (1u << 28), ==, 0);
    g_assert_cmpuint(w.n, ==, 0);
    /* QEMU's spellings. */
    g_assert_cmpint(policy("-sse4_2,-sse4-1", &w, NULL, 0), ==, 0);
    g_assert_cmphex(reg(&g_out, 1, 0, VMM_X86_ECX) & (1u << 20), ==, 0);
    /* The paravirtual switches of the issue. */
    g_assert_cmpint(policy("-kvm-pv-ipi,-kvm-pv-unhalt,-kvm-pv-eoi,"
                           "-kvmclock,-arch-capabilities,-x2apic,-pdpe1gb",
                           &w, NULL, 0),
                    ==, 0);
    g_assert_cmphex(reg(&g_out, 0x40000001, 0, VMM_X86_EAX), ==,
                    kvm &
                        ~((1u << 11) | (1u << 7) | (1u << 6) | 1u | (1u << 3)));
    g_assert_cmphex(reg(&g_out, 7, 0, VMM_X86_EDX), ==, 1u << 26);
    g_assert_cmphex(reg(&g_out, 1, 0, VMM_X86_ECX) & (1u << 21), ==, 0);
    g_assert_cmphex(reg(&g_out, 0x80000001, 0, VMM_X86_EDX), ==, 1u << 29);
    /* The hypervisor bit can go, and come back without a warning. */
    g_assert_cmpint(policy("-hypervisor", &w, NULL, 0), ==, 0);
    g_assert_cmphex(reg(&g_out, 1, 0, VMM_X86_ECX) & (1u << 31), ==, 0);
    g_assert_cmpint(policy("-hypervisor,+hypervisor", &w, NULL, 0), ==, 0);
    g_assert_cmphex(reg(&g_out, 1, 0, VMM_X86_ECX) & (1u << 31), !=, 0);
    g_assert_cmpuint(w.n, ==, 0);
    /*
     * In place (@ret is @host): switching a bit back on looks at the
     * host's table as it was, not as the earlier switch left it.
     */
    {
        struct vmm_config_cpu_feature f[2] = {{"avx", false}, {"avx", true}};

        g_assert_cmpint(
            vmm_x86_cpuid_policy(&g_host, f, 2, &g_host, collect, &w, NULL, 0),
            ==, 0);
        g_assert_cmphex(reg(&g_host, 1, 0, VMM_X86_ECX) & (1u << 28), !=, 0);
        g_assert_cmphex(reg(&g_host, 1, 0, VMM_X86_ECX) & (1u << 31), !=, 0);
        g_assert_cmpuint(w.n, ==, 0);
    }
}

static void test_policy_missing(void)
{
    struct warnings w;

    intel_host(&g_host);
    /* QEMU 7.2's warnings, word for word (without its prefix). */
    g_assert_cmpint(
        policy("+avx512vnni,+sse4a,+avx512f,+xfd,+la57", &w, NULL, 0), ==, 0);
    g_assert_cmpstr(w.all, ==,
                    "host doesn't support requested feature: "
                    "CPUID.07H:ECX.avx512vnni [bit 11]\n"
                    "host doesn't support requested feature: "
                    "CPUID.80000001H:ECX.sse4a [bit 6]\n"
                    "host doesn't support requested feature: "
                    "CPUID.07H:EBX.avx512f [bit 16]\n"
                    "host doesn't support requested feature: "
                    "CPUID.0DH:EAX.xfd [bit 4]\n"
                    "host doesn't support requested feature: "
                    "CPUID.07H:ECX.la57 [bit 16]\n");
    g_assert_cmphex(reg(&g_out, 7, 0, VMM_X86_ECX), ==, 0);
    g_assert_cmphex(reg(&g_out, 7, 0, VMM_X86_EBX), ==, 1u << 5);
    g_assert_cmphex(reg(&g_out, 0xd, 1, VMM_X86_EAX), ==, 0xf);
    /* A leaf the host does not have at all. */
    g_assert_cmpint(policy("+xstore", &w, NULL, 0), ==, 0);
    g_assert_cmpstr(w.last, ==,
                    "host doesn't support requested feature: "
                    "CPUID.C0000001H:EDX.xstore [bit 2]");
    g_assert_null(vmm_x86_cpuid_find(&g_out, 0xc0000001, 0));
    /* kvmclock is two bits: the host has bit 0 only here. */
    intel_host(&g_host);
    vmm_x86_cpuid_find(&g_host, 0x40000001, 0)->eax = 1;
    g_assert_cmpint(policy("-kvmclock,+kvmclock", &w, NULL, 0), ==, 0);
    g_assert_cmpstr(w.last, ==,
                    "host doesn't support requested feature: "
                    "CPUID.40000001H:EAX.kvmclock [bit 3]");
    g_assert_cmphex(reg(&g_out, 0x40000001, 0, VMM_X86_EAX), ==, 1);
    /* No warning callback: still fine. */
    {
        struct vmm_config_cpu_feature f = {"avx512f", true};

        g_assert_cmpint(
            vmm_x86_cpuid_policy(&g_host, &f, 1, &g_out, NULL, NULL, NULL, 0),
            ==, 0);
    }
}

static void test_policy_refused(void)
{
    struct vmm_config_cpu_feature f = {"avx", false};
    char err[128] = "";
    struct warnings w;

    intel_host(&g_host);
    memset(&g_out, 0x5a, sizeof(g_out));
    g_assert_cmpint(policy("+avx512f,-foo", &w, err, sizeof(err)), ==, -EINVAL);
    g_assert_cmpstr(err, ==, "-cpu host: unknown CPU feature 'foo'");
    g_assert_cmpuint(w.n, ==, 0); /* refused before any warning */
    g_assert_cmpuint(g_out.nr, ==, 0x5a5a5a5au);
    g_assert_cmpint(policy("-mds_no", &w, err, sizeof(err)), ==, -ENOTSUP);
    g_assert_nonnull(strstr(err, "'mds_no' is an MSR feature"));
    g_assert_cmpint(policy("+rdctl-no", &w, err, sizeof(err)), ==, -ENOTSUP);
    g_assert_cmpuint(g_out.nr, ==, 0x5a5a5a5au);
    g_assert_cmpint(
        vmm_x86_cpuid_policy(NULL, &f, 1, &g_out, NULL, NULL, NULL, 0), ==,
        -EINVAL);
    g_assert_cmpint(
        vmm_x86_cpuid_policy(&g_host, NULL, 1, &g_out, NULL, NULL, NULL, 0), ==,
        -EINVAL);
    g_assert_cmpint(
        vmm_x86_cpuid_policy(&g_host, &f, 1, NULL, NULL, NULL, NULL, 0), ==,
        -EINVAL);
    f.name = NULL;
    g_assert_cmpint(vmm_x86_cpuid_policy(&g_host, &f, 1, &g_out, NULL, NULL,
                                         err, sizeof(err)),
                    ==, -EINVAL);
    g_host.nr = VMM_X86_CPUID_MAX + 1;
    g_assert_cmpint(
        vmm_x86_cpuid_policy(&g_host, NULL, 0, &g_out, NULL, NULL, NULL, 0), ==,
        -EINVAL);
}

/* ------------------------------------------------------------------ */
/* Topology                                                            */
/* ------------------------------------------------------------------ */

static void test_apic_ids(void)
{
    const struct {
        struct vmm_x86_topo t;
        uint32_t ids[8];
    } cases[] = {
        {{1, 4, 1}, {0, 1, 2, 3}},       {{4, 1, 1}, {0, 1, 2, 3}},
        {{1, 2, 2}, {0, 1, 2, 3}},       {{2, 3, 1}, {0, 1, 2, 4, 5, 6}},
        {{2, 1, 3}, {0, 1, 2, 4, 5, 6}}, {{2, 2, 2}, {0, 1, 2, 3, 4, 5, 6, 7}},
        {{1, 3, 2}, {0, 1, 2, 3, 4, 5}},
    };
    struct vmm_x86_topo t;
    unsigned i, j, n;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        n = cases[i].t.sockets * cases[i].t.cores * cases[i].t.threads;
        g_assert_cmpint(vmm_x86_topo_check(&cases[i].t), ==, 0);
        for (j = 0; j < n; j++) {
            g_assert_cmpuint(vmm_x86_apic_id(&cases[i].t, j), ==,
                             cases[i].ids[j]);
        }
    }
    /* 64 vCPUs in odd shapes stay below the xAPIC limit. */
    t = (struct vmm_x86_topo){4, 16, 1};
    g_assert_cmpint(vmm_x86_topo_check(&t), ==, 0);
    g_assert_cmpuint(vmm_x86_apic_id(&t, 63), ==, 63);
    t = (struct vmm_x86_topo){21, 3, 1};
    g_assert_cmpint(vmm_x86_topo_check(&t), ==, 0);
    g_assert_cmpuint(vmm_x86_apic_id(&t, 62), ==, 20 * 4 + 2);
    /* Refused. */
    t = (struct vmm_x86_topo){0, 1, 1};
    g_assert_cmpint(vmm_x86_topo_check(&t), ==, -EINVAL);
    g_assert_cmpuint(vmm_x86_apic_id(&t, 0), ==, 0);
    t = (struct vmm_x86_topo){1, 0, 1};
    g_assert_cmpint(vmm_x86_topo_check(&t), ==, -EINVAL);
    t = (struct vmm_x86_topo){1, 1, 0};
    g_assert_cmpint(vmm_x86_topo_check(&t), ==, -EINVAL);
    g_assert_cmpint(vmm_x86_topo_check(NULL), ==, -EINVAL);
    t = (struct vmm_x86_topo){64, 3, 3};
    g_assert_cmpint(vmm_x86_topo_check(&t), ==, -ERANGE);
    t = (struct vmm_x86_topo){256, 1, 1};
    g_assert_cmpint(vmm_x86_topo_check(&t), ==, -ERANGE);
    t = (struct vmm_x86_topo){1, 1, 0x80000000u};
    g_assert_cmpint(vmm_x86_topo_check(&t), ==, -ERANGE);
}

/* Leaves 1, 4, 0xB and 0x1F of vCPU @i of topology @t on the Intel host. */
static void check_intel_vcpu(const struct vmm_x86_topo *t, unsigned i)
{
    static struct vmm_x86_cpuid c;
    unsigned sw = t->threads > 2 ? 2 : t->threads - 1;
    unsigned cw = t->cores > 2 ? 2 : t->cores - 1;
    unsigned per_pkg = t->cores * t->threads, sub;
    uint32_t id = vmm_x86_apic_id(t, i), leaf;

    g_assert_cmpint(vmm_x86_cpuid_vcpu(&g_out, t, i, &c), ==, 0);
    g_assert_cmphex(reg(&c, 1, 0, VMM_X86_EBX) >> 24, ==, id);
    g_assert_cmphex(reg(&c, 1, 0, VMM_X86_EBX) & 0xffff, ==, 0x0800);
    g_assert_cmphex((reg(&c, 1, 0, VMM_X86_EBX) >> 16) & 0xff, ==,
                    per_pkg > 1 ? per_pkg : 0);
    g_assert_cmphex(reg(&c, 1, 0, VMM_X86_EDX) & (1u << 28), ==,
                    per_pkg > 1 ? 1u << 28 : 0);
    g_assert_cmphex(reg(&c, 1, 0, VMM_X86_ECX) & (1u << 31), !=, 0);
    for (leaf = 0xb; leaf <= 0x1f; leaf += 0x1f - 0xb) {
        for (sub = 0; sub < 3; sub++) {
            g_assert_cmphex(reg(&c, leaf, sub, VMM_X86_EDX), ==, id);
            g_assert_cmphex(reg(&c, leaf, sub, VMM_X86_ECX) & 0xff, ==, sub);
        }
        g_assert_cmphex(reg(&c, leaf, 0, VMM_X86_EAX), ==, sw);
        g_assert_cmphex(reg(&c, leaf, 0, VMM_X86_EBX), ==, t->threads);
        g_assert_cmphex(reg(&c, leaf, 0, VMM_X86_ECX) >> 8, ==, 1);
        g_assert_cmphex(reg(&c, leaf, 1, VMM_X86_EAX), ==, sw + cw);
        g_assert_cmphex(reg(&c, leaf, 1, VMM_X86_EBX), ==, per_pkg);
        g_assert_cmphex(reg(&c, leaf, 1, VMM_X86_ECX) >> 8, ==, 2);
        g_assert_cmphex(reg(&c, leaf, 2, VMM_X86_EAX), ==, 0);
        g_assert_cmphex(reg(&c, leaf, 2, VMM_X86_EBX), ==, 0);
        g_assert_cmphex(reg(&c, leaf, 2, VMM_X86_ECX) >> 8, ==, 0);
    }
    /* Caches: L1/L2 per core, L3 per package; cores field; rest kept. */
    for (sub = 0; sub < 4; sub++) {
        uint32_t a = reg(&c, 4, sub, VMM_X86_EAX);
        uint32_t share = sub < 3 ? (1u << sw) : (1u << (sw + cw));

        g_assert_cmphex((a >> 14) & 0xfff, ==, share - 1);
        g_assert_cmphex(a >> 26, ==, (1u << cw) - 1);
        g_assert_cmphex(a & 0x3fff, ==,
                        reg(&g_host, 4, sub, VMM_X86_EAX) & 0x3fff);
        g_assert_cmphex(reg(&c, 4, sub, VMM_X86_EBX), ==,
                        reg(&g_host, 4, sub, VMM_X86_EBX));
    }
    g_assert_cmphex(reg(&c, 4, 4, VMM_X86_EAX), ==, 0);
    /* The host's own topology entries are gone: three of each. */
    g_assert_cmpuint(c.nr, ==, g_out.nr - 2 - 1 + 3 + 3);
}

static void test_vcpu_intel(void)
{
    const struct vmm_x86_topo shapes[] = {
        {1, 1, 1}, {1, 4, 1}, {2, 2, 1}, {1, 2, 2}, {2, 3, 1}, {2, 1, 2},
    };
    struct warnings w;
    unsigned s, i;

    intel_host(&g_host);
    g_assert_cmpint(policy("", &w, NULL, 0), ==, 0);
    for (s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
        unsigned n = shapes[s].sockets * shapes[s].cores * shapes[s].threads;

        for (i = 0; i < n; i++) {
            check_intel_vcpu(&shapes[s], i);
        }
        g_assert_cmpint(vmm_x86_cpuid_vcpu(&g_out, &shapes[s], n, &g_host), ==,
                        -EINVAL);
    }
}

static void test_vcpu_amd(void)
{
    const struct vmm_x86_topo t = {2, 3, 2}; /* 12 vCPUs */
    static struct vmm_x86_cpuid c;
    struct warnings w;
    unsigned i;

    amd_host(&g_host);
    g_assert_cmpint(policy("", &w, NULL, 0), ==, 0);
    for (i = 0; i < 12; i++) {
        uint32_t id = vmm_x86_apic_id(&t, i);

        g_assert_cmpint(vmm_x86_cpuid_vcpu(&g_out, &t, i, &c), ==, 0);
        g_assert_cmphex(reg(&c, 1, 0, VMM_X86_EBX) >> 24, ==, id);
        g_assert_cmphex(reg(&c, 0x8000001e, 0, VMM_X86_EAX), ==, id);
        g_assert_cmphex(reg(&c, 0x8000001e, 0, VMM_X86_EBX), ==,
                        (1u << 8) | ((i / 2) % 3));
        g_assert_cmphex(reg(&c, 0x8000001e, 0, VMM_X86_ECX), ==, i / 6);
        g_assert_cmphex(reg(&c, 0x8000001e, 0, VMM_X86_EDX), ==, 0);
        /* NC = 6 - 1 logical per package, ApicIdSize = 1 + 2 bits. */
        g_assert_cmphex(reg(&c, 0x80000008, 0, VMM_X86_ECX), ==,
                        (3u << 12) | 5);
        g_assert_cmphex(reg(&c, 0x8000001d, 0, VMM_X86_EAX) >> 14 & 0xfff, ==,
                        1);
        g_assert_cmphex(reg(&c, 0x8000001d, 3, VMM_X86_EAX) >> 14 & 0xfff, ==,
                        7);
        /* Leaf 0xB exists (max basic 0x10), 0x1F does not. */
        g_assert_cmphex(reg(&c, 0xb, 1, VMM_X86_EDX), ==, id);
        g_assert_null(vmm_x86_cpuid_find(&c, 0x1f, 0));
    }
}

static void test_vcpu_refused(void)
{
    struct vmm_x86_topo t = {1, 2, 1};
    struct warnings w;

    intel_host(&g_host);
    g_assert_cmpint(policy("", &w, NULL, 0), ==, 0);
    g_assert_cmpint(vmm_x86_cpuid_vcpu(NULL, &t, 0, &g_host), ==, -EINVAL);
    g_assert_cmpint(vmm_x86_cpuid_vcpu(&g_out, &t, 0, NULL), ==, -EINVAL);
    g_assert_cmpint(vmm_x86_cpuid_vcpu(&g_out, NULL, 0, &g_host), ==, -EINVAL);
    g_assert_cmpint(vmm_x86_cpuid_vcpu(&g_out, &t, 2, &g_host), ==, -EINVAL);
    t.threads = 0;
    g_assert_cmpint(vmm_x86_cpuid_vcpu(&g_out, &t, 0, &g_host), ==, -EINVAL);
    t = (struct vmm_x86_topo){128, 4, 1};
    g_assert_cmpint(vmm_x86_cpuid_vcpu(&g_out, &t, 0, &g_host), ==, -ERANGE);
    /* A full table cannot take the three 0xB entries for its two. */
    t = (struct vmm_x86_topo){1, 2, 1};
    while (g_out.nr < VMM_X86_CPUID_MAX) {
        put(&g_out, 0x50 + g_out.nr, 0, 0, 0, 0, 0, 0);
    }
    memset(&g_host, 0x5a, sizeof(g_host));
    g_assert_cmpint(vmm_x86_cpuid_vcpu(&g_out, &t, 0, &g_host), ==, -E2BIG);
    g_assert_cmpuint(g_host.nr, ==, 0x5a5a5a5au);
    g_assert_cmpint(vmm_x86_cpuid_set_fd(-1, &g_out), ==, -EINVAL);
    g_assert_cmpint(vmm_x86_cpuid_set(NULL, &g_out), ==, -EINVAL);
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/cpuid/names", test_names);
    g_test_add_func("/cpuid/policy-defaults", test_policy_defaults);
    g_test_add_func("/cpuid/policy-switches", test_policy_switches);
    g_test_add_func("/cpuid/policy-missing", test_policy_missing);
    g_test_add_func("/cpuid/policy-refused", test_policy_refused);
    g_test_add_func("/cpuid/apic-ids", test_apic_ids);
    g_test_add_func("/cpuid/vcpu-intel", test_vcpu_intel);
    g_test_add_func("/cpuid/vcpu-amd", test_vcpu_amd);
    g_test_add_func("/cpuid/vcpu-refused", test_vcpu_refused);
    return g_test_run();
}
