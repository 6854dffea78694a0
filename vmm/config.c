/* SPDX-License-Identifier: MIT */
/*
 * loom-vm's command line: QEMU's option syntax, parsed into a struct
 * vmm_config.  Pure: argv in, a config or a one-line message out; no file,
 * socket or environment is touched and there is no global state, so the
 * entry point can be fuzzed as is.
 *
 * This file holds the entry points, the option table, and the options of
 * the machine itself (-machine, -m, -smp, -cpu, -accel, the kernel, the
 * run-control flags); config-syntax.c reads QEMU's key=value and JSON
 * syntax, config-chr.c the character devices, config-dev.c the devices.
 * Checks across options (topology, hotplug, references between options,
 * the serial default, stdio users) run once argv is read, as in QEMU.
 * The accepted syntax and every difference from QEMU 7.2 are written up
 * in docs/design/vmm-config.md.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config-int.h"

#define DEFAULT_RAM_SIZE (128ull << 20)
#define RAM_ALIGN 8192           /* QEMU rounds -m up to this */
#define MAX_SMP_VALUE (1u << 20) /* bounds every topology product */

enum smp_key {
    SMP_CPUS,
    SMP_SOCKETS,
    SMP_DIES,
    SMP_CLUSTERS,
    SMP_CORES,
    SMP_THREADS,
    SMP_MAXCPUS,
    SMP_NR,
};

_Static_assert(SMP_NR == VMM_CFG_SMP_KEYS, "one slot per -smp key");

/* QEMU's OnOffAuto, in enum vmm_onoffauto's order. */
static const char *const onoffauto_names[] = {"auto", "on", "off", NULL};

/* ---- Memory and CPUs --------------------------------------------------- */

static int mem_size(struct vmm_cfg_parser *p, struct vmm_cfg_opts *o,
                    const char *key, uint64_t unit, uint64_t *out)
{
    const char *s;
    int r = vmm_cfg_str(p, o, key, &s);

    if (r <= 0) {
        return r;
    }
    r = vmm_cfg_parse_size(s, unit, out);
    if (r == -ERANGE) {
        return vmm_cfg_fail(p, "%s '%.64s' is out of range", key, s);
    }
    if (r < 0) {
        return vmm_cfg_fail(p,
                            "invalid %s '%.64s' (a number, optionally with a "
                            "unit k, M, G, T, P or E)",
                            key, s);
    }
    return 1;
}

static int opt_memory(struct vmm_cfg_parser *p, const char *arg)
{
    struct vmm_cfg_mem *m = &p->mem;
    struct vmm_cfg_opts o;
    int r, r1, r2, r3;

    r = vmm_cfg_opts_split(p, arg, "size", VMM_CFG_QEMUOPTS, &o);
    if (r < 0) {
        return r;
    }
    r1 = mem_size(p, &o, "size", 1ull << 20, &m->size);
    r2 = r1 < 0 ? r1 : mem_size(p, &o, "maxmem", 1, &m->maxmem);
    r3 = r2 < 0 ? r2 : vmm_cfg_uint(p, &o, "slots", UINT64_MAX, &m->slots);
    m->size_set |= r1 > 0;
    m->maxmem_set |= r2 > 0;
    m->slots_set |= r3 > 0;
    r = r3 < 0 ? r3 : vmm_cfg_opts_done(p, &o, NULL);
    vmm_cfg_opts_free(&o);
    return r;
}

/* -m: QEMU's rounding and defaults, then loom-vm's limits. */
static int resolve_memory(struct vmm_cfg_parser *p)
{
    struct vmm_cfg_mem *m = &p->mem;
    uint64_t size = m->size_set && m->size ? m->size : DEFAULT_RAM_SIZE;

    p->opt = "-m";
    if (size > VMM_MAX_RAM_SIZE) {
        return vmm_cfg_fail(p,
                            "%llu MiB is more than loom-vm supports (%llu MiB)",
                            (unsigned long long)(size >> 20),
                            (unsigned long long)(VMM_MAX_RAM_SIZE >> 20));
    }
    size = (size + RAM_ALIGN - 1) & ~(uint64_t)(RAM_ALIGN - 1);
    if (size < VMM_MIN_RAM_SIZE) {
        return vmm_cfg_fail(p, "%llu bytes: loom-vm needs at least %llu MiB",
                            (unsigned long long)size,
                            (unsigned long long)(VMM_MIN_RAM_SIZE >> 20));
    }
    if (m->maxmem_set && m->maxmem < size) {
        return vmm_cfg_fail(p,
                            "maxmem (%llu) must be at least the memory size "
                            "(%llu)",
                            (unsigned long long)m->maxmem,
                            (unsigned long long)size);
    }
    if ((m->maxmem_set && m->maxmem != size) || (m->slots_set && m->slots)) {
        return vmm_cfg_fail(
            p, "memory hotplug (slots=, maxmem= above the size) is "
               "not supported by loom-vm");
    }
    p->cfg->ram_size = size;
    return 0;
}

static int opt_smp(struct vmm_cfg_parser *p, const char *arg)
{
    static const char *const keys[SMP_NR] = {
        "cpus", "sockets", "dies", "clusters", "cores", "threads", "maxcpus",
    };
    struct vmm_cfg_opts o;
    int r = vmm_cfg_opts_split(p, arg, "cpus", VMM_CFG_QEMUOPTS, &o);

    for (unsigned i = 0; r >= 0 && i < SMP_NR; i++) {
        r = vmm_cfg_uint(p, &o, keys[i], MAX_SMP_VALUE, &p->smp[i]);
        p->smp_set[i] |= r > 0;
    }
    if (r >= 0) {
        r = vmm_cfg_opts_done(p, &o, NULL);
    }
    vmm_cfg_opts_free(&o);
    return r;
}

/*
 * QEMU 7.2's topology rules for a machine that prefers cores over
 * sockets: omitted values are derived from the others; then loom-vm
 * requires maxcpus == cpus (no CPU hotplug) and at most VMM_MAX_CPUS.
 */
static int resolve_smp(struct vmm_cfg_parser *p)
{
    uint64_t v[SMP_NR], cpus, sockets, cores, threads, maxcpus;

    p->opt = "-smp";
    for (unsigned i = 0; i < SMP_NR; i++) {
        if (p->smp_set[i] && !p->smp[i]) {
            return vmm_cfg_fail(p,
                                "invalid CPU topology: values must be greater "
                                "than zero");
        }
        v[i] = p->smp_set[i] ? p->smp[i] : 0;
    }
    if (v[SMP_DIES] > 1 || v[SMP_CLUSTERS] > 1) {
        return vmm_cfg_fail(p,
                            "%s not supported by this machine's CPU topology",
                            v[SMP_DIES] > 1 ? "dies" : "clusters");
    }
    cpus = v[SMP_CPUS];
    sockets = v[SMP_SOCKETS];
    cores = v[SMP_CORES];
    threads = v[SMP_THREADS];
    maxcpus = v[SMP_MAXCPUS];
    if (!cpus && !maxcpus) {
        sockets = sockets ? sockets : 1;
        cores = cores ? cores : 1;
        threads = threads ? threads : 1;
    } else {
        maxcpus = maxcpus ? maxcpus : cpus;
        if (!cores) {
            sockets = sockets ? sockets : 1;
            threads = threads ? threads : 1;
            cores = maxcpus / (sockets * threads);
        } else if (!sockets) {
            threads = threads ? threads : 1;
            sockets = maxcpus / (cores * threads);
        }
        if (!threads) {
            threads = maxcpus / (sockets * cores);
        }
    }
    maxcpus = maxcpus ? maxcpus : sockets * cores * threads;
    cpus = cpus ? cpus : maxcpus;
    if (sockets * cores * threads != maxcpus) {
        return vmm_cfg_fail(
            p,
            "invalid CPU topology: sockets (%llu) * cores (%llu) "
            "* threads (%llu) != maxcpus (%llu)",
            (unsigned long long)sockets, (unsigned long long)cores,
            (unsigned long long)threads, (unsigned long long)maxcpus);
    }
    if (maxcpus < cpus) {
        return vmm_cfg_fail(
            p, "invalid CPU topology: maxcpus (%llu) < cpus (%llu)",
            (unsigned long long)maxcpus, (unsigned long long)cpus);
    }
    if (maxcpus != cpus) {
        return vmm_cfg_fail(p,
                            "maxcpus (%llu) above cpus (%llu): loom-vm has no "
                            "CPU hotplug",
                            (unsigned long long)maxcpus,
                            (unsigned long long)cpus);
    }
    if (cpus > VMM_MAX_CPUS) {
        return vmm_cfg_fail(p, "invalid number of CPUs '%llu' (1 to %d)",
                            (unsigned long long)cpus, VMM_MAX_CPUS);
    }
    p->cfg->nr_cpus = (unsigned)cpus;
    p->cfg->sockets = (unsigned)sockets;
    p->cfg->cores = (unsigned)cores;
    p->cfg->threads = (unsigned)threads;
    return 0;
}

/* QEMU's x86 feature-name syntax, after its '_' to '-' folding. */
static int cpu_feature_name(struct vmm_cfg_parser *p, const char *tok,
                            size_t len, char *name)
{
    if (!len || len > 63) {
        return vmm_cfg_fail(p, "invalid feature name '%.*s'",
                            (int)(len < 64 ? len : 64), tok);
    }
    for (size_t i = 0; i < len; i++) {
        char c = tok[i] == '_' ? '-' : tok[i];

        if (c >= 'A' && c <= 'Z') {
            return vmm_cfg_fail(p,
                                "feature '%.*s': QEMU's feature names are "
                                "lower-case",
                                (int)len, tok);
        }
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              (i && (c == '-' || c == '.')))) {
            return vmm_cfg_fail(p, "invalid feature name '%.*s'", (int)len,
                                tok);
        }
        name[i] = c;
    }
    name[len] = '\0';
    return 0;
}

static int cpu_feature(struct vmm_cfg_parser *p, const char *tok, size_t len)
{
    struct vmm_config *cfg = p->cfg;
    const char *eq = memchr(tok, '=', len);
    size_t nlen = eq ? (size_t)(eq - tok) : len;
    char name[64], value[8];
    struct vmm_cfg_feat *f;
    bool sign = *tok == '+' || *tok == '-', on = true;
    unsigned i;
    int r;

    if (sign && !eq) {
        r = cpu_feature_name(p, tok + 1, len - 1, name);
    } else {
        r = cpu_feature_name(p, tok, nlen, name);
    }
    if (r < 0) {
        return r;
    }
    if (eq) {
        size_t vlen = len - nlen - 1;

        if (vlen < sizeof(value)) {
            memcpy(value, eq + 1, vlen);
            value[vlen] = '\0';
        }
        if (vlen >= sizeof(value) || vmm_cfg_parse_bool(value, &on) < 0) {
            return vmm_cfg_fail(p,
                                "'%.*s': loom-vm supports only on/off feature "
                                "switches",
                                (int)(len < 64 ? len : 64), tok);
        }
    }
    for (i = 0; i < cfg->nr_cpu_features; i++) {
        if (!strcmp(cfg->cpu_features[i].name, name)) {
            break;
        }
    }
    if (i == cfg->nr_cpu_features) {
        if (i == VMM_MAX_CPU_FEATURES) {
            return vmm_cfg_fail(p, "more than %d feature names",
                                VMM_MAX_CPU_FEATURES);
        }
        cfg->cpu_features[i].name = strdup(name);
        if (!cfg->cpu_features[i].name) {
            return vmm_cfg_nomem(p);
        }
        memset(&p->feats[i], 0, sizeof(p->feats[i]));
        cfg->nr_cpu_features++;
    }
    f = &p->feats[i];
    if (sign && !eq) {
        f->plus |= *tok == '+';
        f->minus |= *tok == '-';
    } else {
        f->kv_set = true;
        f->kv_on = on;
    }
    /* QEMU applies feat=on|off first, then +feat, then -feat. */
    cfg->cpu_features[i].on = !f->minus && (f->plus || !f->kv_set || f->kv_on);
    return 0;
}

static int opt_cpu(struct vmm_cfg_parser *p, const char *arg)
{
    struct vmm_config *cfg = p->cfg;
    const char *c = strchr(arg, ',');
    size_t mlen = c ? (size_t)(c - arg) : strlen(arg);

    if (mlen != 4 || memcmp(arg, "host", 4)) {
        return vmm_cfg_fail(p,
                            "unsupported CPU model '%.*s' (loom-vm supports "
                            "only 'host')",
                            (int)(mlen < 64 ? mlen : 64), arg);
    }
    for (unsigned i = 0; i < cfg->nr_cpu_features; i++) {
        free(cfg->cpu_features[i].name);
    }
    cfg->nr_cpu_features = 0;
    /* QEMU splits features at every comma and skips empty ones. */
    while (c) {
        const char *tok = c + 1;
        int r;

        c = strchr(tok, ',');
        if ((c ? (size_t)(c - tok) : strlen(tok)) == 0) {
            continue;
        }
        r = cpu_feature(p, tok, c ? (size_t)(c - tok) : strlen(tok));
        if (r < 0) {
            return r;
        }
    }
    return 0;
}

/* ---- Machine and accelerator ------------------------------------------- */

static int machine_accel(struct vmm_cfg_parser *p)
{
    if (p->accel_opt) {
        return vmm_cfg_fail(p, "the -accel and \"-machine accel=\" options are "
                               "incompatible");
    }
    p->machine_accel = true;
    return 0;
}

static int opt_machine(struct vmm_cfg_parser *p, const char *arg)
{
    struct vmm_config *cfg = p->cfg;
    const char *s;
    unsigned e;
    bool b;
    struct vmm_cfg_opts o;
    int r = vmm_cfg_opts_split(p, arg, "type", VMM_CFG_KEYVAL, &o);

    if (r < 0) {
        return r;
    }
    if ((r = vmm_cfg_str(p, &o, "type", &s)) > 0 && strcmp(s, "microvm")) {
        r = vmm_cfg_fail(p,
                         "unsupported machine type '%.64s' (loom-vm provides "
                         "only microvm)",
                         s);
    }
    if (r >= 0 && (r = vmm_cfg_bool(p, &o, "x-option-roms", &b)) > 0) {
        cfg->option_roms = b;
    }
    if (r >= 0 && (r = vmm_cfg_enum(p, &o, "pit", onoffauto_names, &e)) > 0) {
        cfg->pit = (enum vmm_onoffauto)e;
    }
    if (r >= 0 && (r = vmm_cfg_enum(p, &o, "pic", onoffauto_names, &e)) > 0) {
        cfg->pic = (enum vmm_onoffauto)e;
    }
    if (r >= 0 && (r = vmm_cfg_enum(p, &o, "rtc", onoffauto_names, &e)) > 0 &&
        e == VMM_ON) {
        r = vmm_cfg_fail(p, "rtc=on: loom-vm has no RTC (use rtc=off)");
    }
    if (r >= 0 && (r = vmm_cfg_bool(p, &o, "isa-serial", &b)) > 0) {
        cfg->isa_serial = b ? VMM_ON : VMM_OFF;
    }
    if (r >= 0 && (r = vmm_cfg_enum(p, &o, "acpi", onoffauto_names, &e)) > 0 &&
        e == VMM_ON) {
        r = vmm_cfg_fail(
            p, "acpi=on: loom-vm builds no ACPI tables (use acpi=off)");
    }
    if (r >= 0 && (r = vmm_cfg_bool(p, &o, "auto-kernel-cmdline", &b)) > 0) {
        cfg->auto_kernel_cmdline = b;
    }
    if (r >= 0 && (r = vmm_cfg_str(p, &o, "accel", &s)) > 0) {
        r = strcmp(s, "kvm") ? vmm_cfg_fail(p,
                                            "unsupported accelerator '%.64s' "
                                            "(loom-vm runs only on kvm)",
                                            s)
                             : machine_accel(p);
    }
    if (r >= 0) {
        r = vmm_cfg_opts_done(p, &o, "microvm");
    }
    vmm_cfg_opts_free(&o);
    return r;
}

static int opt_enable_kvm(struct vmm_cfg_parser *p, const char *arg)
{
    return machine_accel(p);
}

static int opt_accel(struct vmm_cfg_parser *p, const char *arg)
{
    const char *s = NULL;
    struct vmm_cfg_opts o;
    int r = vmm_cfg_opts_split(p, arg, "accel", VMM_CFG_QEMUOPTS, &o);

    if (r < 0) {
        return r;
    }
    r = vmm_cfg_str(p, &o, "accel", &s);
    if (r == 0 || (r > 0 && strcmp(s, "kvm"))) {
        r = vmm_cfg_fail(
            p,
            "unsupported accelerator '%.64s' (loom-vm runs only on "
            "kvm)",
            s ? s : "");
    }
    if (r >= 0 && p->machine_accel) {
        r = vmm_cfg_fail(p, "the -accel and \"-machine accel=\" options are "
                            "incompatible");
    }
    if (r >= 0) {
        p->accel_opt = true;
        r = vmm_cfg_opts_done(p, &o, "kvm");
    }
    vmm_cfg_opts_free(&o);
    return r;
}

/* ---- Kernel, run control, sandbox ------------------------------------- */

static int opt_path(struct vmm_cfg_parser *p, const char *arg, char **dst)
{
    if (!*arg) {
        return vmm_cfg_fail(p, "empty file name");
    }
    return vmm_cfg_set_str(p, dst, arg);
}

static int opt_kernel(struct vmm_cfg_parser *p, const char *arg)
{
    return opt_path(p, arg, &p->cfg->kernel);
}

static int opt_initrd(struct vmm_cfg_parser *p, const char *arg)
{
    return opt_path(p, arg, &p->cfg->initrd);
}

static int opt_pidfile(struct vmm_cfg_parser *p, const char *arg)
{
    return opt_path(p, arg, &p->cfg->pidfile);
}

static int opt_append(struct vmm_cfg_parser *p, const char *arg)
{
    return vmm_cfg_set_str(p, &p->cfg->append, arg);
}

static int opt_display(struct vmm_cfg_parser *p, const char *arg)
{
    if (strcmp(arg, "none")) {
        return vmm_cfg_fail(
            p,
            "unsupported display '%.64s' (loom-vm has none: use "
            "-display none or -nographic)",
            arg);
    }
    return 0;
}

static int opt_name(struct vmm_cfg_parser *p, const char *arg)
{
    const char *guest;
    bool debug_threads;
    struct vmm_cfg_opts o;
    int r = vmm_cfg_opts_split(p, arg, "guest", VMM_CFG_QEMUOPTS, &o);

    if (r < 0) {
        return r;
    }
    if ((r = vmm_cfg_str(p, &o, "guest", &guest)) > 0) {
        r = vmm_cfg_set_str(p, &p->cfg->name, guest);
    }
    /* Accepted and moot: loom-vm always names its threads. */
    if (r >= 0) {
        r = vmm_cfg_bool(p, &o, "debug-threads", &debug_threads);
    }
    if (r >= 0) {
        r = vmm_cfg_opts_done(p, &o, NULL);
    }
    vmm_cfg_opts_free(&o);
    return r;
}

/*
 * loom-vm's filter always denies obsolete calls, privilege changes and
 * fork/exec, so =deny (and elevateprivileges=children) are implied and
 * =allow cannot be honoured; resourcecontrol is recorded either way.
 */
static int opt_sandbox(struct vmm_cfg_parser *p, const char *arg)
{
    static const char *const groups[] = {"obsolete", "elevateprivileges",
                                         "spawn", "resourcecontrol"};
    static const char *const allow_deny[] = {"allow", "deny", NULL};
    static const char *const elevate[] = {"allow", "deny", "children", NULL};
    bool enable = false, rc_deny = false;
    unsigned e;
    struct vmm_cfg_opts o;
    int r = vmm_cfg_opts_split(p, arg, "enable", VMM_CFG_QEMUOPTS, &o);

    if (r >= 0) {
        r = vmm_cfg_bool(p, &o, "enable", &enable);
    }
    for (unsigned i = 0; r >= 0 && i < 4; i++) {
        r = vmm_cfg_enum(p, &o, groups[i], i == 1 ? elevate : allow_deny, &e);
        if (r > 0 && i == 3) {
            rc_deny = e == 1;
        } else if (r > 0 && e == 0 && enable) {
            r = vmm_cfg_fail(p,
                             "%s=allow: loom-vm's filter always denies that "
                             "group",
                             groups[i]);
        }
    }
    if (r >= 0) {
        r = vmm_cfg_opts_done(p, &o, NULL);
    }
    if (r >= 0) {
        p->cfg->sandbox = enable;
        p->cfg->sandbox_resourcecontrol_deny = enable && rc_deny;
    }
    vmm_cfg_opts_free(&o);
    return r;
}

static int opt_daemonize(struct vmm_cfg_parser *p, const char *arg)
{
    return vmm_cfg_fail(p, "not supported by loom-vm (run it under a service "
                           "manager instead)");
}

/* ---- The option table and the checks across options ------------------- */

struct option {
    const char *name;
    bool has_arg;
    int (*fn)(struct vmm_cfg_parser *p, const char *arg);
    size_t flag; /* offsetof + 1 of a bool in struct vmm_config, or 0 */
};

#define FLAG(field) (offsetof(struct vmm_config, field) + 1)

static const struct option options[] = {
    {"-M", true, opt_machine, 0},
    {"-machine", true, opt_machine, 0},
    {"-m", true, opt_memory, 0},
    {"-smp", true, opt_smp, 0},
    {"-kernel", true, opt_kernel, 0},
    {"-append", true, opt_append, 0},
    {"-initrd", true, opt_initrd, 0},
    {"-enable-kvm", false, opt_enable_kvm, 0},
    {"-accel", true, opt_accel, 0},
    {"-cpu", true, opt_cpu, 0},
    {"-nodefaults", false, NULL, FLAG(nodefaults)},
    {"-no-user-config", false, NULL, 0}, /* loom-vm reads no config files */
    {"-nographic", false, NULL, FLAG(nographic)},
    {"-display", true, opt_display, 0},
    {"-serial", true, vmm_cfg_opt_serial, 0},
    {"-no-reboot", false, NULL, FLAG(no_reboot)},
    {"-no-shutdown", false, NULL, FLAG(no_shutdown)},
    {"-S", false, NULL, FLAG(start_paused)},
    {"-name", true, opt_name, 0},
    {"-pidfile", true, opt_pidfile, 0},
    {"-sandbox", true, opt_sandbox, 0},
    {"-daemonize", false, opt_daemonize, 0},
    {"-device", true, vmm_cfg_opt_device, 0},
    {"-drive", true, vmm_cfg_opt_drive, 0},
    {"-object", true, vmm_cfg_opt_object, 0},
    {"-global", true, vmm_cfg_opt_global, 0},
    {"-qmp", true, vmm_cfg_opt_qmp, 0},
    {"-qmp-pretty", true, vmm_cfg_opt_qmp_pretty, 0},
    {"-chardev", true, vmm_cfg_opt_chardev, 0},
    {"-mon", true, vmm_cfg_opt_mon, 0},
    {"-x-loom-summary", false, NULL, FLAG(summary)},
    {"-version", false, NULL, FLAG(show_version)},
    {"-h", false, NULL, FLAG(show_help)},
    {"-help", false, NULL, FLAG(show_help)},
};

static int finish(struct vmm_cfg_parser *p)
{
    struct vmm_config *cfg = p->cfg;
    int r;

    if (cfg->show_version || cfg->show_help) {
        return 0;
    }
    if ((r = resolve_memory(p)) < 0 || (r = resolve_smp(p)) < 0) {
        return r;
    }
    if (!cfg->kernel) {
        p->opt = "-kernel";
        return vmm_cfg_fail(p,
                            "no kernel given (loom-vm boots a PVH ELF image)");
    }
    if ((r = vmm_cfg_resolve_devices(p)) < 0 ||
        (r = vmm_cfg_resolve_monitors(p)) < 0) {
        return r;
    }
    return vmm_cfg_resolve_serial(p);
}

static int parse_args(struct vmm_cfg_parser *p, int argc, char *const *argv)
{
    struct vmm_config *cfg = p->cfg;

    for (int i = 1; i < argc && argv[i]; i++) {
        const char *a = argv[i], *name = a, *arg = NULL;
        const struct option *opt = NULL;
        int r;

        if (a[0] == '-' && a[1] == '-' && a[2]) {
            name = a + 1; /* QEMU takes --opt for -opt */
        }
        for (size_t k = 0; k < sizeof(options) / sizeof(options[0]); k++) {
            if (!strcmp(name, options[k].name)) {
                opt = &options[k];
                break;
            }
        }
        p->opt = NULL;
        if (!opt && a[0] != '-') {
            return vmm_cfg_fail(
                p,
                "unsupported argument '%.64s' (loom-vm takes no "
                "disk image argument: use -drive and -device)",
                a);
        }
        if (!opt) {
            return vmm_cfg_fail(p, "unsupported option '%.64s'", a);
        }
        p->opt = opt->name;
        if (opt->has_arg) {
            if (i + 1 >= argc || !argv[i + 1]) {
                return vmm_cfg_fail(p, "requires an argument");
            }
            arg = argv[++i];
        }
        if (opt->flag) {
            *(bool *)((char *)cfg + opt->flag - 1) = true;
        }
        if (opt->fn && (r = opt->fn(p, arg)) < 0) {
            return r;
        }
        if (cfg->show_version || cfg->show_help) {
            break; /* QEMU acts on these at once */
        }
    }
    return finish(p);
}

static void parser_cleanup(struct vmm_cfg_parser *p)
{
    free(p->serial.path);
    free(p->debug_exit_id);
    for (unsigned i = 0; i < p->nr_chardevs; i++) {
        free(p->chardevs[i].id);
        free(p->chardevs[i].chr.path);
    }
    for (unsigned i = 0; i < VMM_MAX_QMP; i++) {
        free(p->mon_chardev[i]);
    }
}

/* ---- Entry points ------------------------------------------------------ */

int vmm_config_parse(int argc, char *const *argv, struct vmm_config **ret,
                     char **errmsg)
{
    struct vmm_cfg_parser p;
    struct vmm_config *cfg;
    int r;

    memset(&p, 0, sizeof(p));
    if (!ret || argc < 0 || (argc && !argv)) {
        r = vmm_cfg_fail(&p, "invalid arguments to vmm_config_parse()");
        goto out;
    }
    cfg = calloc(1, sizeof(*cfg));
    if (!cfg) {
        r = vmm_cfg_nomem(&p);
        goto out;
    }
    cfg->ram_size = DEFAULT_RAM_SIZE;
    cfg->nr_cpus = cfg->sockets = cfg->cores = cfg->threads = 1;
    cfg->rtc = VMM_OFF;
    cfg->auto_kernel_cmdline = true;
    cfg->option_roms = true;
    cfg->debug_exit_iobase = 0x501;
    cfg->debug_exit_iosize = 2;
    p.cfg = cfg;
    r = parse_args(&p, argc, argv);
    parser_cleanup(&p);
    if (r >= 0) {
        *ret = cfg;
        return 0;
    }
    vmm_config_free(cfg);
out:
    if (p.nomem) {
        free(p.err);
        p.err = strdup("out of memory");
        r = -ENOMEM;
    }
    if (errmsg) {
        *errmsg = p.err;
    } else {
        free(p.err);
    }
    return r;
}

void vmm_config_free(struct vmm_config *cfg)
{
    if (!cfg) {
        return;
    }
    free(cfg->kernel);
    free(cfg->append);
    free(cfg->initrd);
    free(cfg->name);
    free(cfg->pidfile);
    free(cfg->serial.path);
    for (unsigned i = 0; i < cfg->nr_cpu_features; i++) {
        free(cfg->cpu_features[i].name);
    }
    for (unsigned i = 0; i < cfg->nr_iothreads; i++) {
        free(cfg->iothreads[i].id);
    }
    for (unsigned i = 0; i < cfg->nr_drives; i++) {
        free(cfg->drives[i].id);
        free(cfg->drives[i].file);
    }
    for (unsigned i = 0; i < cfg->nr_blks; i++) {
        struct vmm_config_blk *b = &cfg->blks[i];

        free(b->id);
        free(b->drive);
        free(b->iothread);
        free(b->serial);
        for (unsigned m = 0; m < b->nr_vq_maps; m++) {
            free(b->vq_maps[m].iothread);
        }
    }
    for (unsigned i = 0; i < cfg->nr_qmp; i++) {
        free(cfg->qmp[i].chr.path);
    }
    free(cfg);
}

const char *vmm_config_usage(void)
{
    return "usage: loom-vm [options] -kernel FILE\n"
           "QEMU's command line, for what loom-vm supports "
           "(docs/design/vmm-config.md):\n"
           "  -M|-machine microvm[,acpi=off|auto][,pit=,pic=on|off|auto]\n"
           "        [,rtc=off|auto][,isa-serial=,x-option-roms=,"
           "auto-kernel-cmdline=on|off][,accel=kvm]\n"
           "  -m [size=]SIZE[,maxmem=SIZE][,slots=0]   RAM (default 128M)\n"
           "  -smp [cpus=]N[,sockets=,cores=,threads=,maxcpus=N]\n"
           "  -kernel FILE  -append STRING  -initrd FILE\n"
           "  -enable-kvm | -accel kvm          (KVM is always used)\n"
           "  -cpu host[,+FEAT][,-FEAT][,FEAT=on|off]\n"
           "  -nodefaults  -no-user-config  -nographic  -display none\n"
           "  -serial stdio|mon:stdio|null|none|file:PATH|"
           "unix:PATH[,server=on][,wait=off]\n"
           "  -no-reboot  -no-shutdown  -S  -pidfile FILE\n"
           "  -x-loom-summary   (loom-vm only) threads and their statistics "
           "on stderr at exit\n"
           "  -name [guest=]NAME[,debug-threads=on]\n"
           "  -sandbox on|off[,obsolete=deny][,elevateprivileges="
           "deny|children][,spawn=deny][,resourcecontrol=allow|deny]\n"
           "  -device isa-debug-exit[,iobase=N][,iosize=N]\n"
           "  -device virtio-blk-device,drive=ID[,id=][,iothread=]"
           "[,num-queues=][,queue-size=][,serial=][,werror=][,rerror=]\n"
           "  -device '{\"driver\":\"virtio-blk-device\",...,"
           "\"iothread-vq-mapping\":[{\"iothread\":ID,\"vqs\":[N,...]}]}'\n"
           "  -drive id=ID,file=PATH,format=raw[,if=none]"
           "[,cache=writeback|none|unsafe][,aio=threads|io_uring]\n"
           "        [,readonly=on|off][,werror=][,rerror=]"
           "[,discard=ignore|unmap]\n"
           "  -object iothread,id=ID[,poll-max-ns=][,poll-grow=]"
           "[,poll-shrink=][,aio-max-batch=]\n"
           "        [,thread-pool-min=][,thread-pool-max=]"
           "[,x-cpu-affinity=0-1:3]\n"
           "  -global virtio-mmio.force-legacy=on|off\n"
           "  -qmp|-qmp-pretty stdio|unix:PATH,server=on[,wait=off]\n"
           "  -chardev socket,id=ID,path=PATH,server=on[,wait=off] | "
           "-chardev stdio,id=ID\n"
           "  -mon [chardev=]ID,mode=control[,pretty=on]\n"
           "  -version  -h|-help\n";
}
