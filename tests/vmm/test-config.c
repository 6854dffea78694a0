/* SPDX-License-Identifier: MIT */
/*
 * loom-vm's command line (vmm/config*.c) without KVM: the syntax layer
 * (QEMU's key=value lists, JSON, sizes, booleans, messages) against
 * tables of good and bad strings; vmm_config_parse() against tables of
 * good lines (every field of the result compared with the defaults) and
 * bad lines (the whole message), the VMM_MAX_* limits, and random
 * mutations of those lines (no crash, leak or stray read under ASan).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "config-int.h"

/* ---- The syntax layer -------------------------------------------------- */

static void parser_reset(struct vmm_cfg_parser *p)
{
    free(p->err);
    memset(p, 0, sizeof(*p));
    p->opt = "-x";
}

/* "key=val|key|..." ('key' alone: a short-form boolean), or "!error". */
static char *render_opts(const char *s, const char *implied,
                         enum vmm_cfg_style style)
{
    struct vmm_cfg_parser p = {.opt = "-x"};
    struct vmm_cfg_opts o;
    GString *out = g_string_new(NULL);
    int r = vmm_cfg_opts_split(&p, s, implied, style, &o);

    if (r < 0) {
        g_assert_cmpint(r, ==, -EINVAL);
        g_assert_nonnull(p.err);
        g_string_append_printf(out, "!%s", p.err);
    }
    for (size_t i = 0; r >= 0 && i < o.n; i++) {
        g_string_append_printf(out, "%s%s%s%s", i ? "|" : "", o.kv[i].key,
                               o.kv[i].val ? "=" : "",
                               o.kv[i].val ? o.kv[i].val : "");
    }
    vmm_cfg_opts_free(&o);
    free(p.err);
    return g_string_free(out, false);
}

static void test_syntax_split(void)
{
    static const struct {
        const char *in, *implied;
        enum vmm_cfg_style style;
        const char *out;
    } cases[] = {
        {"", "size", VMM_CFG_QEMUOPTS, ""},
        {"256", "size", VMM_CFG_QEMUOPTS, "size=256"},
        {"256,maxmem=1G", "size", VMM_CFG_QEMUOPTS, "size=256|maxmem=1G"},
        {"size=1,size=2", "size", VMM_CFG_QEMUOPTS, "size=1|size=2"},
        {"a,,b,c=d,,e,,", "name", VMM_CFG_QEMUOPTS, "name=a,b|c=d,e,"},
        {"a,,,b=1", "name", VMM_CFG_QEMUOPTS, "name=a,|b=1"},
        {"x,", "name", VMM_CFG_QEMUOPTS, "name=x"},
        {"x,k=a=b", NULL, VMM_CFG_QEMUOPTS, "x|k=a=b"},
        {"x,nofoo,bar", NULL, VMM_CFG_QEMUOPTS, "x|nofoo|bar"},
        {"k=", NULL, VMM_CFG_QEMUOPTS, "k="},
        {",", "name", VMM_CFG_QEMUOPTS, "name="},
        {"x,,", "name", VMM_CFG_QEMUOPTS, "name=x,"},
        {"microvm,acpi=off", "type", VMM_CFG_KEYVAL, "type=microvm|acpi=off"},
        {"microvm,pit", "type", VMM_CFG_KEYVAL,
         "!-x: expected '=' after parameter 'pit'"},
        {"a,,b", "type", VMM_CFG_KEYVAL, "type=a,b"},
        {"x,,,,y=1,", NULL, VMM_CFG_QEMUOPTS, "x,,y=1"},
        {"a,=1", NULL, VMM_CFG_QEMUOPTS, "!-x: invalid parameter ''"},
        {"a,,,", NULL, VMM_CFG_QEMUOPTS, "a,"},
        {",a", NULL, VMM_CFG_QEMUOPTS, "!-x: invalid parameter ''"},
        {"a,,,,,b", NULL, VMM_CFG_QEMUOPTS, "a,,|b"},
        {"=x", "k", VMM_CFG_QEMUOPTS, "!-x: invalid parameter ''"},
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        char *out = render_opts(cases[i].in, cases[i].implied,
                                cases[i].style);

        if (strcmp(out, cases[i].out)) {
            g_error("split '%s': got '%s', want '%s'", cases[i].in, out,
                    cases[i].out);
        }
        g_free(out);
    }
}

static void test_syntax_json(void)
{
    static const struct {
        const char *in, *err;
    } bad[] = {
        {"{", "-x: JSON parse error: "},
        {"{\"a\":1,}", "-x: JSON parse error: "},
        {"{\"a\":1,\"a\":2}", "duplicate object key"},
        {"[1]", "-x: the JSON form must be an object"},
        {"{\"a\":1} x", "-x: JSON parse error: "},
        {"{\"a\":\"\\u0000\"}", "-x: JSON parse error: "},
        {"{\"a\":99999999999999999999}", "-x: JSON parse error: "},
    };
    struct vmm_cfg_parser p = {.opt = "-x"};
    struct vmm_cfg_opts o;
    const char *s;
    int64_t i64;
    bool b;

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        parser_reset(&p);
        g_assert_cmpint(vmm_cfg_opts_json(&p, bad[i].in, &o), ==, -EINVAL);
        g_assert_nonnull(strstr(p.err, bad[i].err));
        vmm_cfg_opts_free(&o);
    }
    parser_reset(&p);
    g_assert_cmpint(vmm_cfg_opts_json(&p, " {\"s\":\"v\",\"n\":-3,\"b\":true,"
                                          "\"l\":[1]} \n", &o), ==, 0);
    g_assert_cmpuint(o.n, ==, 4);
    g_assert_cmpint(vmm_cfg_str(&p, &o, "s", &s), ==, 1);
    g_assert_cmpstr(s, ==, "v");
    g_assert_cmpint(vmm_cfg_i64(&p, &o, "n", -5, 5, &i64), ==, 1);
    g_assert_cmpint(i64, ==, -3);
    g_assert_cmpint(vmm_cfg_bool(&p, &o, "b", &b), ==, 1);
    g_assert_true(b);
    g_assert_nonnull(vmm_cfg_opts_find(&o, "l"));
    g_assert_cmpint(vmm_cfg_opts_done(&p, &o, NULL), ==, 0);
    /* Types are strict in JSON, as in QEMU. */
    g_assert_cmpint(vmm_cfg_str(&p, &o, "n", &s), ==, -EINVAL);
    g_assert_cmpstr(p.err, ==, "-x: parameter 'n' expects a string");
    parser_reset(&p);
    g_assert_cmpint(vmm_cfg_i64(&p, &o, "s", 0, 9, &i64), ==, -EINVAL);
    g_assert_cmpstr(p.err, ==, "-x: parameter 's' expects an integer");
    parser_reset(&p);
    g_assert_cmpint(vmm_cfg_bool(&p, &o, "s", &b), ==, -EINVAL);
    g_assert_cmpstr(p.err, ==, "-x: parameter 's' expects a boolean");
    vmm_cfg_opts_free(&o);
    parser_reset(&p);
    g_assert_cmpint(vmm_cfg_opts_json(&p, "{\"f\":1.5}", &o), ==, 0);
    g_assert_cmpint(vmm_cfg_i64(&p, &o, "f", 0, 9, &i64), ==, -EINVAL);
    vmm_cfg_opts_free(&o);
    free(p.err);
}

static void test_syntax_getters(void)
{
    static const char *const names[] = {"auto", "on", "off", NULL};
    struct vmm_cfg_parser p = {.opt = "-x"};
    struct vmm_cfg_opts o;
    const char *s = "unchanged";
    uint64_t u = 7;
    int64_t i = 7;
    unsigned e = 9;
    bool b = false;

    g_assert_cmpint(vmm_cfg_opts_split(&p, "first,s=1,s=2,b1,nob2,b3=yes,"
                                           "b4=n,i=-0x10,u=010,e=off,x=z,v,"
                                           "big=99999999999999999999",
                                       "s", VMM_CFG_QEMUOPTS, &o), ==, 0);
    /* The last of several wins. */
    g_assert_cmpint(vmm_cfg_str(&p, &o, "s", &s), ==, 1);
    g_assert_cmpstr(s, ==, "2");
    g_assert_cmpint(vmm_cfg_str(&p, &o, "absent", &s), ==, 0);
    g_assert_cmpstr(s, ==, "2");
    g_assert_cmpint(vmm_cfg_bool(&p, &o, "b1", &b), ==, 1);
    g_assert_true(b);
    g_assert_cmpint(vmm_cfg_bool(&p, &o, "b2", &b), ==, 1);
    g_assert_false(b);
    g_assert_cmpint(vmm_cfg_bool(&p, &o, "b3", &b), ==, 1);
    g_assert_true(b);
    g_assert_cmpint(vmm_cfg_bool(&p, &o, "b4", &b), ==, 1);
    g_assert_false(b);
    g_assert_cmpint(vmm_cfg_i64(&p, &o, "i", -16, 0, &i), ==, 1);
    g_assert_cmpint(i, ==, -16);
    g_assert_cmpint(vmm_cfg_uint(&p, &o, "u", 8, &u), ==, 1);
    g_assert_cmpuint(u, ==, 8);
    g_assert_cmpint(vmm_cfg_enum(&p, &o, "e", names, &e), ==, 1);
    g_assert_cmpuint(e, ==, 2);
    /* x=z and v, and the huge number, were not taken yet. */
    g_assert_cmpint(vmm_cfg_opts_done(&p, &o, "drv"), ==, -EINVAL);
    g_assert_cmpstr(p.err, ==, "-x: drv: unsupported parameter 'x'");
    parser_reset(&p);
    g_assert_cmpint(vmm_cfg_str(&p, &o, "v", &s), ==, -EINVAL);
    g_assert_cmpstr(p.err, ==, "-x: parameter 'v' expects a value");
    parser_reset(&p);
    g_assert_cmpint(vmm_cfg_bool(&p, &o, "x", &b), ==, -EINVAL);
    g_assert_cmpstr(p.err, ==, "-x: parameter 'x' expects 'on' or 'off', "
                               "not 'z'");
    parser_reset(&p);
    g_assert_cmpint(vmm_cfg_enum(&p, &o, "x", names, &e), ==, -EINVAL);
    g_assert_cmpstr(p.err, ==, "-x: parameter 'x' does not accept value "
                               "'z'");
    parser_reset(&p);
    g_assert_cmpint(vmm_cfg_i64(&p, &o, "big", 0, INT64_MAX, &i), ==,
                    -EINVAL);
    g_assert_nonnull(strstr(p.err, "'big' expects an integer"));
    parser_reset(&p);
    g_assert_cmpint(vmm_cfg_uint(&p, &o, "u", 7, &u), ==, -EINVAL);
    g_assert_cmpstr(p.err, ==, "-x: parameter 'u' must be in [0, 7], not 8");
    parser_reset(&p);
    g_assert_cmpint(vmm_cfg_i64(&p, &o, "i", 0, 5, &i), ==, -EINVAL);
    g_assert_cmpstr(p.err, ==, "-x: parameter 'i' must be in [0, 5], not "
                               "-16");
    parser_reset(&p);
    g_assert_cmpint(vmm_cfg_i64(&p, &o, "v", 0, 5, &i), ==, -EINVAL);
    parser_reset(&p);
    g_assert_cmpint(vmm_cfg_opts_done(&p, &o, NULL), ==, 0);
    vmm_cfg_opts_free(&o);
    vmm_cfg_opts_free(&o); /* a freed list is a zeroed one */
    free(p.err);
}

static void test_syntax_numbers(void)
{
    static const struct {
        const char *in;
        uint64_t unit;
        int ret;
        uint64_t val;
    } sizes[] = {
        {"256", 1 << 20, 0, 256ull << 20},
        {"256M", 1, 0, 256ull << 20},
        {"256m", 1, 0, 256ull << 20},
        {"1G", 1, 0, 1ull << 30},
        {"1g", 1, 0, 1ull << 30},
        {"1.5G", 1, 0, 3ull << 29},
        {"1.G", 1, 0, 1ull << 30},
        {"0.5k", 1, 0, 512},
        {"1.0000000001G", 1, 0, 1ull << 30},
        {"1.99999999999999999999999K", 1, 0, 2047},
        {"262144k", 1, 0, 256ull << 20},
        {"256B", 1 << 20, 0, 256},
        {"1T", 1, 0, 1ull << 40},
        {"2P", 1, 0, 2ull << 50},
        {"15E", 1, 0, 15ull << 60},
        {"0x10", 1 << 20, 0, 16ull << 20},
        {"0X1fK", 1, 0, 31ull << 10},
        {" +01G", 1, 0, 1ull << 30},
        {"18446744073709551615B", 1, 0, UINT64_MAX},
        {"18446744073709551615", 1, 0, UINT64_MAX},
        {"16E", 1, -ERANGE, 0},
        {"18446744073709551616", 1, -ERANGE, 0},
        {"17179869184G", 1, -ERANGE, 0},
        {"15.99999999999999999E", 1, 0, 18446744073709551604ull},
        {"", 1, -EINVAL, 0},
        {"abc", 1, -EINVAL, 0},
        {"-1", 1, -EINVAL, 0},
        {"1.5", 1 << 20, -EINVAL, 0},
        {"1.5B", 1, -EINVAL, 0},
        {".5G", 1, -EINVAL, 0},
        {"1e3", 1, -EINVAL, 0},
        {"0x", 1, -EINVAL, 0},
        {"0x1.5G", 1, -EINVAL, 0},
        {"256MB", 1, -EINVAL, 0},
        {"256 ", 1, -EINVAL, 0},
        {"1_000", 1, -EINVAL, 0},
    };
    static const char *const on[] = {"on", "yes", "true", "y"};
    static const char *const off[] = {"off", "no", "false", "n"};
    static const char *const neither[] = {"", "ON", "On", "1", "0", "auto",
                                          "yes ", "t"};
    uint64_t v;
    bool b;

    for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++) {
        v = 12345;
        if (vmm_cfg_parse_size(sizes[i].in, sizes[i].unit, &v) !=
                sizes[i].ret ||
            v != (sizes[i].ret ? 12345 : sizes[i].val)) {
            g_error("size '%s': got %d/%llu", sizes[i].in,
                    vmm_cfg_parse_size(sizes[i].in, sizes[i].unit, &v),
                    (unsigned long long)v);
        }
    }
    for (size_t i = 0; i < G_N_ELEMENTS(on); i++) {
        b = false;
        g_assert_cmpint(vmm_cfg_parse_bool(on[i], &b), ==, 0);
        g_assert_true(b);
        g_assert_cmpint(vmm_cfg_parse_bool(off[i], &b), ==, 0);
        g_assert_false(b);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(neither); i++) {
        g_assert_cmpint(vmm_cfg_parse_bool(neither[i], &b), ==, -EINVAL);
    }
}

static void test_syntax_messages(void)
{
    struct vmm_cfg_parser p = {.opt = "-x"};
    char *s = NULL;

    /* Identifiers as QEMU's id_wellformed(). */
    g_assert_cmpint(vmm_cfg_check_id(&p, "a"), ==, 0);
    g_assert_cmpint(vmm_cfg_check_id(&p, "Io-0.x_1"), ==, 0);
    g_assert_cmpint(vmm_cfg_check_id(&p, "0a"), ==, -EINVAL);
    g_assert_nonnull(strstr(p.err, "'0a' is not an identifier"));
    parser_reset(&p);
    g_assert_cmpint(vmm_cfg_check_id(&p, ""), ==, -EINVAL);
    parser_reset(&p);
    g_assert_cmpint(vmm_cfg_check_id(&p, "a b"), ==, -EINVAL);
    parser_reset(&p);
    g_assert_cmpint(vmm_cfg_check_id(&p, "a,b"), ==, -EINVAL);
    /* The first message wins; control characters become '?'. */
    parser_reset(&p);
    g_assert_cmpint(vmm_cfg_fail(&p, "bad '%s'", "a\nb\tc\x7f"), ==,
                    -EINVAL);
    g_assert_cmpint(vmm_cfg_fail(&p, "second"), ==, -EINVAL);
    g_assert_cmpstr(p.err, ==, "-x: bad 'a?b?c?'");
    parser_reset(&p);
    p.opt = NULL;
    g_assert_cmpint(vmm_cfg_fail(&p, "no option"), ==, -EINVAL);
    g_assert_cmpstr(p.err, ==, "no option");
    parser_reset(&p);
    g_assert_cmpint(vmm_cfg_nomem(&p), ==, -ENOMEM);
    g_assert_true(p.nomem);
    g_assert_cmpint(vmm_cfg_fail(&p, "after"), ==, -EINVAL);
    g_assert_null(p.err);
    parser_reset(&p);
    g_assert_cmpint(vmm_cfg_set_str(&p, &s, "one"), ==, 0);
    g_assert_cmpint(vmm_cfg_set_str(&p, &s, "two"), ==, 0);
    g_assert_cmpstr(s, ==, "two");
    free(s);
    parser_reset(&p);
}

/* ---- vmm_config_parse(): every field, every message --------------------- */

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* A good line and the fields it changes from the defaults' dump. */
struct good_case {
    const char *const *args;
    const char *want;
};

/* A bad line and its whole message. */
struct bad_case {
    const char *const *args;
    const char *want;
    bool no_kernel; /* do not append "-kernel k" */
};

/* Good lines: the machine, memory, CPUs, kernel and run control. */
static const struct good_case good_core[] = {
    {
     /* defaults */
     ARGS(NULL),
     ""},
    {
     ARGS("-M", "microvm"),
     ""},
    {
     ARGS("-machine",
          "type=microvm,acpi=off,pit=off,pic=on,rtc=off,isa-serial=on,"
          "x-option-roms=off,auto-kernel-cmdline=off"),
     "pit=off\n"
     "pic=on\n"
     "isa_serial=on\n"
     "auto_kernel_cmdline=0\n"
     "option_roms=0\n"},
    {
     ARGS("-M",
          "microvm,acpi=auto,pit=auto,pic=off,rtc=auto,isa-serial=off,"
          "x-option-roms=yes"),
     "pic=off\n"
     "isa_serial=off\n"
     "serial.kind=none\n"},
    {
     /* merged */
     ARGS("-M", "microvm", "-M", "acpi=off,auto-kernel-cmdline=n", "-M",
          "pit=on"),
     "pit=on\n"
     "auto_kernel_cmdline=0\n"},
    {
     ARGS("-M", ""),
     ""},
    {
     /* trailing comma */
     ARGS("-M", "microvm,acpi=off,"),
     ""},
    {
     ARGS("-M", "microvm,accel=kvm"),
     ""},
    {
     /* two dashes */
     ARGS("--machine", "microvm"),
     ""},
    {
     ARGS("-m", "256"),
     "ram_size=268435456\n"},
    {
     ARGS("-m", "256M"),
     "ram_size=268435456\n"},
    {
     ARGS("-m", "1G"),
     "ram_size=1073741824\n"},
    {
     ARGS("-m", "1.5g"),
     "ram_size=1610612736\n"},
    {
     ARGS("-m", "size=512"),
     "ram_size=536870912\n"},
    {
     ARGS("-m", "2097152k"),
     "ram_size=2147483648\n"},
    {
     /* QEMU: 0 = default */
     ARGS("-m", "0"),
     ""},
    {
     ARGS("-m", ""),
     ""},
    {
     /* rounded up to 8 KiB */
     ARGS("-m", "3145729B"),
     "ram_size=3153920\n"},
    {
     ARGS("-m", "0x100"),
     "ram_size=268435456\n"},
    {
     /* the limit */
     ARGS("-m", "1T"),
     "ram_size=1099511627776\n"},
    {
     ARGS("-m", "256,maxmem=256M,slots=0"),
     "ram_size=268435456\n"},
    {
     /* merged */
     ARGS("-m", "256", "-m", "size=64,slots=0", "-m", "maxmem=67108864"),
     "ram_size=67108864\n"},
    {
     /* rounded up to 2 MiB */
     ARGS("-m", "2047k"),
     "ram_size=2097152\n"},
    {
     ARGS("-smp", "4"),
     "nr_cpus=4\n"
     "cores=4\n"},
    {
     ARGS("-smp", "cpus=4,sockets=2"),
     "nr_cpus=4\n"
     "sockets=2\n"
     "cores=2\n"},
    {
     ARGS("-smp", "4,threads=2"),
     "nr_cpus=4\n"
     "cores=2\n"
     "threads=2\n"},
    {
     ARGS("-smp", "sockets=2,cores=2,threads=2"),
     "nr_cpus=8\n"
     "sockets=2\n"
     "cores=2\n"
     "threads=2\n"},
    {
     ARGS("-smp", "maxcpus=3"),
     "nr_cpus=3\n"
     "cores=3\n"},
    {
     ARGS("-smp", "2,maxcpus=2,dies=1,clusters=1"),
     "nr_cpus=2\n"
     "cores=2\n"},
    {
     /* sockets derived */
     ARGS("-smp", "8,cores=4"),
     "nr_cpus=8\n"
     "sockets=2\n"
     "cores=4\n"},
    {
     /* threads derived */
     ARGS("-smp", "4,sockets=2,cores=2"),
     "nr_cpus=4\n"
     "sockets=2\n"
     "cores=2\n"},
    {
     /* merged */
     ARGS("-smp", "2", "-smp", "cpus=3"),
     "nr_cpus=3\n"
     "cores=3\n"},
    {
     /* the limit */
     ARGS("-smp", "64"),
     "nr_cpus=64\n"
     "cores=64\n"},
    {
     ARGS("-smp", "0x2"),
     "nr_cpus=2\n"
     "cores=2\n"},
    {
     ARGS("-kernel", "vmlinux", "-append", "console=ttyS0 a,b", "-initrd",
          "initrd.img"),
     "kernel=vmlinux\n"
     "append=console=ttyS0 a,b\n"
     "initrd=initrd.img\n"},
    {
     /* last wins */
     ARGS("-kernel", "a", "-kernel", "b", "-append", "", "-append", "x",
          "-initrd", "i", "-initrd", "j"),
     "kernel=b\n"
     "append=x\n"
     "initrd=j\n"},
    {
     ARGS("-enable-kvm"),
     ""},
    {
     ARGS("-accel", "kvm"),
     ""},
    {
     ARGS("-accel", "accel=kvm"),
     ""},
    {
     ARGS("-cpu", "host"),
     ""},
    {
     ARGS("-cpu",
          "host,+kvm-pv-ipi,-kvm-pv-unhalt,kvm-pv-sched-yield=off,"
          "arch-capabilities=on"),
     "nr_cpu_features=4\n"
     "cpu_features[0]=kvm-pv-ipi:1\n"
     "cpu_features[1]=kvm-pv-unhalt:0\n"
     "cpu_features[2]=kvm-pv-sched-yield:0\n"
     "cpu_features[3]=arch-capabilities:1\n"},
    {
     /* some hosts need it */
     ARGS("-cpu", "host,-arch-capabilities"),
     "nr_cpu_features=1\n"
     "cpu_features[0]=arch-capabilities:0\n"},
    {
     /* '_' folded, bare name is on, empty skipped */
     ARGS("-cpu", "host,kvm_pv_ipi=no,+sse4.2,+3dnow,x2apic,,"),
     "nr_cpu_features=4\n"
     "cpu_features[0]=kvm-pv-ipi:0\n"
     "cpu_features[1]=sse4.2:1\n"
     "cpu_features[2]=3dnow:1\n"
     "cpu_features[3]=x2apic:1\n"},
    {
     /* QEMU's precedence; later -cpu replaces */
     ARGS("-cpu", "host,+a,-a", "-cpu", "host,-b,+b,c=off,+c,d=on,d=off"),
     "nr_cpu_features=3\n"
     "cpu_features[0]=b:0\n"
     "cpu_features[1]=c:1\n"
     "cpu_features[2]=d:0\n"},
    {
     ARGS("-nodefaults", "-no-user-config", "-display", "none"),
     "nodefaults=1\n"
     "serial.kind=none\n"},
    {
     ARGS("-nographic", "-nodefaults"),
     "nodefaults=1\n"
     "nographic=1\n"
     "serial.kind=none\n"},
    {
     ARGS("-no-reboot", "-no-shutdown", "-S"),
     "no_reboot=1\n"
     "no_shutdown=1\n"
     "start_paused=1\n"},
    {
     ARGS("-x-loom-summary"),
     "summary=1\n"},
    {
     ARGS("-name", "vm1"),
     "name=vm1\n"},
    {
     ARGS("-name", "guest=a,,b,debug-threads=on"),
     "name=a,b\n"},
    {
     ARGS("-name", "guest=a,,b,debug-threads=on", "-name",
          "c,nodebug-threads"),
     "name=c\n"},
    {
     ARGS("-pidfile", "/run/x.pid"),
     "pidfile=/run/x.pid\n"},
    {
     ARGS("-sandbox", "on"),
     "sandbox=1\n"},
    {
     ARGS("-sandbox",
          "on,obsolete=deny,elevateprivileges=children,spawn=deny,"
          "resourcecontrol=deny"),
     "sandbox=1\n"
     "sandbox_rc_deny=1\n"},
    {
     ARGS("-sandbox",
          "enable=on,elevateprivileges=deny,resourcecontrol=allow"),
     "sandbox=1\n"},
    {
     /* allow is moot when off */
     ARGS("-sandbox", "off,spawn=allow"),
     ""},
    {
     ARGS("-sandbox", "on,resourcecontrol=deny", "-sandbox", "off"),
     ""},
    {
     ARGS("-version"),
     "kernel=(null)\n"
     "serial.kind=none\n"
     "show_version=1\n"},
    {
     /* acts at once */
     ARGS("-version", "-bogus"),
     "kernel=(null)\n"
     "serial.kind=none\n"
     "show_version=1\n"},
    {
     ARGS("-h"),
     "kernel=(null)\n"
     "serial.kind=none\n"
     "show_help=1\n"},
    {
     ARGS("--help"),
     "kernel=(null)\n"
     "serial.kind=none\n"
     "show_help=1\n"},
    {
     ARGS("-help"),
     "kernel=(null)\n"
     "serial.kind=none\n"
     "show_help=1\n"},
};

static const struct bad_case bad_core[] = {
    {
     ARGS("-M", "pc"),
     "-M: unsupported machine type 'pc' (loom-vm provides only microvm)"},
    {
     ARGS("-M", "help"),
     "-M: unsupported machine type 'help' (loom-vm provides only microvm)"},
    {
     ARGS("-M", "microvm,acpi=on"),
     "-M: acpi=on: loom-vm builds no ACPI tables (use acpi=off)"},
    {
     ARGS("-M", "microvm,acpi=foo"),
     "-M: parameter 'acpi' does not accept value 'foo'"},
    {
     ARGS("-M", "microvm,rtc=on"),
     "-M: rtc=on: loom-vm has no RTC (use rtc=off)"},
    {
     ARGS("-M", "microvm,pit"),
     "-M: expected '=' after parameter 'pit'"},
    {
     ARGS("-M", "microvm,pit=yes"),
     "-M: parameter 'pit' does not accept value 'yes'"},
    {
     ARGS("-M", "microvm,isa-serial=auto"),
     "-M: parameter 'isa-serial' expects 'on' or 'off', not 'auto'"},
    {
     ARGS("-M", "microvm,x-option-roms="),
     "-M: parameter 'x-option-roms' expects 'on' or 'off', not ''"},
    {
     ARGS("-M", "microvm,foo=1"),
     "-M: microvm: unsupported parameter 'foo'"},
    {
     ARGS("-M", ",microvm"),
     "-M: expected '=' after parameter 'microvm'"},
    {
     ARGS("-M", "microvm,accel=tcg"),
     "-M: unsupported accelerator 'tcg' (loom-vm runs only on kvm)"},
    {
     ARGS("-M", "microvm,accel=kvm:tcg"),
     "-M: unsupported accelerator 'kvm:tcg' (loom-vm runs only on kvm)"},
    {
     ARGS("-M", "microvm,accel=kvm", "-accel", "kvm"),
     "-accel: the -accel and \"-machine accel=\" options are incompatible"},
    {
     ARGS("-accel", "kvm", "-enable-kvm"),
     "-enable-kvm: the -accel and \"-machine accel=\" options are "
     "incompatible"},
    {
     ARGS("-enable-kvm", "-accel", "kvm"),
     "-accel: the -accel and \"-machine accel=\" options are incompatible"},
    {
     ARGS("-accel", "tcg"),
     "-accel: unsupported accelerator 'tcg' (loom-vm runs only on kvm)"},
    {
     ARGS("-accel", ""),
     "-accel: unsupported accelerator '' (loom-vm runs only on kvm)"},
    {
     ARGS("-accel", "kvm,kernel-irqchip=on"),
     "-accel: kvm: unsupported parameter 'kernel-irqchip'"},
    {
     ARGS("-accel", "accel=xen"),
     "-accel: unsupported accelerator 'xen' (loom-vm runs only on kvm)"},
    {
     ARGS("-m", "abc"),
     "-m: invalid size 'abc' (a number, optionally with a unit k, M, G, T, P "
     "or E)"},
    {
     ARGS("-m", "-1"),
     "-m: invalid size '-1' (a number, optionally with a unit k, M, G, T, P "
     "or E)"},
    {
     ARGS("-m", "1.5"),
     "-m: invalid size '1.5' (a number, optionally with a unit k, M, G, T, P "
     "or E)"},
    {
     ARGS("-m", "16E"),
     "-m: size '16E' is out of range"},
    {
     ARGS("-m", "1"),
     "-m: 1048576 bytes: loom-vm needs at least 2 MiB"},
    {
     ARGS("-m", "2040k"),
     "-m: 2088960 bytes: loom-vm needs at least 2 MiB"},
    {
     ARGS("-m", "1025G"),
     "-m: 1049600 MiB is more than loom-vm supports (1048576 MiB)"},
    {
     ARGS("-m", "256,maxmem=512M"),
     "-m: memory hotplug (slots=, maxmem= above the size) is not supported by "
     "loom-vm"},
    {
     ARGS("-m", "256,maxmem=128M"),
     "-m: maxmem (134217728) must be at least the memory size (268435456)"},
    {
     ARGS("-m", "256,slots=1"),
     "-m: memory hotplug (slots=, maxmem= above the size) is not supported by "
     "loom-vm"},
    {
     ARGS("-m", "256,foo=1"),
     "-m: unsupported parameter 'foo'"},
    {
     ARGS("-m", "256,,"),
     "-m: invalid size '256,' (a number, optionally with a unit k, M, G, T, P "
     "or E)"},
    {
     ARGS("-m", "256,slots=x"),
     "-m: parameter 'slots' expects an integer, not 'x'"},
    {
     ARGS("-m", "maxmem=abc"),
     "-m: invalid maxmem 'abc' (a number, optionally with a unit k, M, G, T, "
     "P or E)"},
    {
     ARGS("-smp", "0"),
     "-smp: invalid CPU topology: values must be greater than zero"},
    {
     ARGS("-smp", "2,sockets=0"),
     "-smp: invalid CPU topology: values must be greater than zero"},
    {
     ARGS("-smp", "65"),
     "-smp: invalid number of CPUs '65' (1 to 64)"},
    {
     ARGS("-smp", "abc"),
     "-smp: parameter 'cpus' expects an integer, not 'abc'"},
    {
     ARGS("-smp", "-1"),
     "-smp: parameter 'cpus' must be in [0, 1048576], not -1"},
    {
     ARGS("-smp", "2,maxcpus=4"),
     "-smp: maxcpus (4) above cpus (2): loom-vm has no CPU hotplug"},
    {
     ARGS("-smp", "2,maxcpus=1"),
     "-smp: invalid CPU topology: maxcpus (1) < cpus (2)"},
    {
     ARGS("-smp", "3,sockets=2,cores=2"),
     "-smp: invalid CPU topology: sockets (2) * cores (2) * threads (0) != "
     "maxcpus (3)"},
    {
     ARGS("-smp", "4,sockets=3"),
     "-smp: invalid CPU topology: sockets (3) * cores (1) * threads (1) != "
     "maxcpus (4)"},
    {
     ARGS("-smp", "4,dies=2"),
     "-smp: dies not supported by this machine's CPU topology"},
    {
     ARGS("-smp", "4,clusters=2"),
     "-smp: clusters not supported by this machine's CPU topology"},
    {
     ARGS("-smp", "2,books=1"),
     "-smp: unsupported parameter 'books'"},
    {
     ARGS("-smp", "99999999"),
     "-smp: parameter 'cpus' must be in [0, 1048576], not 99999999"},
    {
     ARGS("-smp", "sockets=1024,cores=1024"),
     "-smp: invalid number of CPUs '1048576' (1 to 64)"},
    {
     ARGS("-cpu", "max"),
     "-cpu: unsupported CPU model 'max' (loom-vm supports only 'host')"},
    {
     ARGS("-cpu", "Host"),
     "-cpu: unsupported CPU model 'Host' (loom-vm supports only 'host')"},
    {
     ARGS("-cpu", ""),
     "-cpu: unsupported CPU model '' (loom-vm supports only 'host')"},
    {
     ARGS("-cpu", "host,+KVM-PV-IPI"),
     "-cpu: feature 'KVM-PV-IPI': QEMU's feature names are lower-case"},
    {
     ARGS("-cpu", "host,phys-bits=40"),
     "-cpu: 'phys-bits=40': loom-vm supports only on/off feature switches"},
    {
     ARGS("-cpu", "host,kvm-pv-ipi=maybe"),
     "-cpu: 'kvm-pv-ipi=maybe': loom-vm supports only on/off feature "
     "switches"},
    {
     ARGS("-cpu", "host,+"),
     "-cpu: invalid feature name ''"},
    {
     ARGS("-cpu", "host,-"),
     "-cpu: invalid feature name ''"},
    {
     ARGS("-cpu", "host,+a b"),
     "-cpu: invalid feature name 'a b'"},
    {
     ARGS("-cpu", "host,-.x"),
     "-cpu: invalid feature name '.x'"},
    {
     ARGS("-cpu", "host,+kvm=on"),
     "-cpu: invalid feature name '+kvm'"},
    {
     ARGS("-cpu", "host,=on"),
     "-cpu: invalid feature name ''"},
    {
     ARGS("-cpu", "host,a=onnnnnnnnnn"),
     "-cpu: 'a=onnnnnnnnnn': loom-vm supports only on/off feature switches"},
    {
     ARGS("-cpu",
          "host,+f0,+f1,+f2,+f3,+f4,+f5,+f6,+f7,+f8,+f9,+f10,+f11,+f12,+f13,"
          "+f14,+f15,+f16,+f17,+f18,+f19,+f20,+f21,+f22,+f23,+f24,+f25,+f26,"
          "+f27,+f28,+f29,+f30,+f31,+f32,+f33,+f34,+f35,+f36,+f37,+f38,+f39,"
          "+f40,+f41,+f42,+f43,+f44,+f45,+f46,+f47,+f48,+f49,+f50,+f51,+f52,"
          "+f53,+f54,+f55,+f56,+f57,+f58,+f59,+f60,+f61,+f62,+f63,+f64"),
     "-cpu: more than 64 feature names"},
    {
     ARGS("-cpu",
          "host,"
          "+aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
     "-cpu: invalid feature name "
     "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'"},
    {
     ARGS("-kernel", ""),
     "-kernel: empty file name"},
    {
     ARGS("-initrd", ""),
     "-initrd: empty file name"},
    {
     ARGS("-pidfile", ""),
     "-pidfile: empty file name"},
    {
     ARGS("-append", "x"),
     "-kernel: no kernel given (loom-vm boots a PVH ELF image)", true},
    {
     ARGS("-kernel"),
     "-kernel: requires an argument", true},
    {
     ARGS("-m"),
     "-m: requires an argument", true},
    {
     ARGS("-display", "gtk"),
     "-display: unsupported display 'gtk' (loom-vm has none: use -display "
     "none or -nographic)"},
    {
     ARGS("-display", "none,gl=off"),
     "-display: unsupported display 'none,gl=off' (loom-vm has none: use "
     "-display none or -nographic)"},
    {
     ARGS("-name", "foo,process=bar"),
     "-name: unsupported parameter 'process'"},
    {
     ARGS("-name", "foo,debug-threads=maybe"),
     "-name: parameter 'debug-threads' expects 'on' or 'off', not 'maybe'"},
    {
     ARGS("-sandbox", "maybe"),
     "-sandbox: parameter 'enable' expects 'on' or 'off', not 'maybe'"},
    {
     ARGS("-sandbox", "on,spawn=allow"),
     "-sandbox: spawn=allow: loom-vm's filter always denies that group"},
    {
     ARGS("-sandbox", "on,obsolete=allow"),
     "-sandbox: obsolete=allow: loom-vm's filter always denies that group"},
    {
     ARGS("-sandbox", "on,elevateprivileges=allow"),
     "-sandbox: elevateprivileges=allow: loom-vm's filter always denies that "
     "group"},
    {
     ARGS("-sandbox", "on,elevateprivileges=maybe"),
     "-sandbox: parameter 'elevateprivileges' does not accept value 'maybe'"},
    {
     ARGS("-sandbox", "on,foo=1"),
     "-sandbox: unsupported parameter 'foo'"},
    {
     ARGS("-daemonize"),
     "-daemonize: not supported by loom-vm (run it under a service manager "
     "instead)"},
    {
     ARGS("-foo"),
     "unsupported option '-foo'"},
    {
     ARGS("--"),
     "unsupported option '--'"},
    {
     ARGS("-"),
     "unsupported option '-'"},
    {
     ARGS("---m", "1"),
     "unsupported option '---m'"},
    {
     ARGS("foo.img"),
     "unsupported argument 'foo.img' (loom-vm takes no disk image argument: "
     "use -drive and -device)"},
    {
     ARGS("-vga", "std"),
     "unsupported option '-vga'"},
    {
     ARGS("-monitor", "stdio"),
     "unsupported option '-monitor'"},
    {
     ARGS("-hda", "x.img"),
     "unsupported option '-hda'"},
    {
     ARGS("-m", "bad\nvalue\001"),
     "-m: invalid size 'bad?value?' (a number, optionally with a unit k, M, G,"
     " T, P or E)"},
    {
     ARGS("-fooxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
          "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
          "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
          "xxxx"),
     "unsupported option "
     "'-fooxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'"},
};

/* Good lines: -serial, -qmp, -chardev, -mon. */
static const struct good_case good_chr[] = {
    {
     /* QEMU: mon:stdio */
     ARGS("-nographic"),
     "nographic=1\n"
     "serial.kind=mon:stdio\n"},
    {
     /* no UART */
     ARGS("-nodefaults"),
     "nodefaults=1\n"
     "serial.kind=none\n"},
    {
     ARGS("-serial", "stdio"),
     "serial.kind=stdio\n"},
    {
     ARGS("-serial", "mon:stdio"),
     "serial.kind=mon:stdio\n"},
    {
     ARGS("-nographic", "-serial", "null"),
     "nographic=1\n"},
    {
     /* mon: is a monitor option */
     ARGS("-nographic", "-serial", "mon:stdio"),
     "nographic=1\n"
     "serial.kind=mon:stdio\n"},
    {
     ARGS("-serial", "none"),
     "serial.kind=none\n"},
    {
     /* none takes no port */
     ARGS("-serial", "none", "-serial", "file:/tmp/ser,ial.log"),
     "serial.kind=file\n"
     "serial.path=/tmp/ser,ial.log\n"},
    {
     /* client */
     ARGS("-serial", "unix:/tmp/s.sock"),
     "serial.kind=unix\n"
     "serial.path=/tmp/s.sock\n"},
    {
     ARGS("-serial", "unix:/tmp/s.sock,server=on,wait=off"),
     "serial.kind=unix\n"
     "serial.path=/tmp/s.sock\n"
     "serial.server=1\n"},
    {
     /* legacy spellings */
     ARGS("-serial", "unix:path=/tmp/a,,b,server,nowait"),
     "serial.kind=unix\n"
     "serial.path=/tmp/a,b\n"
     "serial.server=1\n"},
    {
     /* waits */
     ARGS("-serial", "unix:/tmp/s,server=on"),
     "serial.kind=unix\n"
     "serial.path=/tmp/s\n"
     "serial.server=1\n"
     "serial.wait=1\n"},
    {
     ARGS("-nographic", "-serial", "file:/x"),
     "nographic=1\n"
     "serial.kind=file\n"
     "serial.path=/x\n"},
    {
     ARGS("-nodefaults", "-serial", "stdio"),
     "nodefaults=1\n"
     "serial.kind=stdio\n"},
    {
     /* no UART */
     ARGS("-M", "microvm,isa-serial=off", "-serial", "stdio"),
     "isa_serial=off\n"
     "serial.kind=none\n"},
    {
     ARGS("-qmp", "unix:/tmp/q.sock,server=on,wait=off"),
     "nr_qmp=1\n"
     "qmp[0].kind=unix\n"
     "qmp[0].path=/tmp/q.sock\n"
     "qmp[0].server=1\n"
     "qmp[0].wait=0\n"
     "qmp[0].pretty=0\n"},
    {
     ARGS("-qmp", "unix:/tmp/q.sock,server,nowait", "-qmp-pretty", "stdio",
          "-qmp", "unix:/tmp/r,server=on"),
     "nr_qmp=3\n"
     "qmp[0].kind=unix\n"
     "qmp[0].path=/tmp/q.sock\n"
     "qmp[0].server=1\n"
     "qmp[0].wait=0\n"
     "qmp[0].pretty=0\n"
     "qmp[1].kind=stdio\n"
     "qmp[1].path=(null)\n"
     "qmp[1].server=0\n"
     "qmp[1].wait=0\n"
     "qmp[1].pretty=1\n"
     "qmp[2].kind=unix\n"
     "qmp[2].path=/tmp/r\n"
     "qmp[2].server=1\n"
     "qmp[2].wait=1\n"
     "qmp[2].pretty=0\n"},
    {
     /* serial on plain stdio */
     ARGS("-nographic", "-qmp", "unix:/q,server=on,wait=off"),
     "nographic=1\n"
     "serial.kind=stdio\n"
     "nr_qmp=1\n"
     "qmp[0].kind=unix\n"
     "qmp[0].path=/q\n"
     "qmp[0].server=1\n"
     "qmp[0].wait=0\n"
     "qmp[0].pretty=0\n"},
    {
     ARGS("-nodefaults", "-nographic", "-qmp", "stdio"),
     "nodefaults=1\n"
     "nographic=1\n"
     "serial.kind=none\n"
     "nr_qmp=1\n"
     "qmp[0].kind=stdio\n"
     "qmp[0].path=(null)\n"
     "qmp[0].server=0\n"
     "qmp[0].wait=0\n"
     "qmp[0].pretty=0\n"},
    {
     ARGS("-serial", "file:/x", "-qmp", "stdio"),
     "serial.kind=file\n"
     "serial.path=/x\n"
     "nr_qmp=1\n"
     "qmp[0].kind=stdio\n"
     "qmp[0].path=(null)\n"
     "qmp[0].server=0\n"
     "qmp[0].wait=0\n"
     "qmp[0].pretty=0\n"},
    {
     ARGS("-chardev", "socket,id=c0,path=/tmp/m.sock,server=on,wait=off",
          "-mon", "chardev=c0,mode=control,pretty=on"),
     "nr_qmp=1\n"
     "qmp[0].kind=unix\n"
     "qmp[0].path=/tmp/m.sock\n"
     "qmp[0].server=1\n"
     "qmp[0].wait=0\n"
     "qmp[0].pretty=1\n"},
    {
     /* any order */
     ARGS("-mon", "c1,mode=control,id=mon1", "-chardev",
          "socket,id=c1,path=/m,server=on", "-qmp", "stdio"),
     "nr_qmp=2\n"
     "qmp[0].kind=unix\n"
     "qmp[0].path=/m\n"
     "qmp[0].server=1\n"
     "qmp[0].wait=1\n"
     "qmp[0].pretty=0\n"
     "qmp[1].kind=stdio\n"
     "qmp[1].path=(null)\n"
     "qmp[1].server=0\n"
     "qmp[1].wait=0\n"
     "qmp[1].pretty=0\n"},
    {
     ARGS("-chardev", "stdio,id=s", "-mon", "s,mode=control", "-serial",
          "null"),
     "nr_qmp=1\n"
     "qmp[0].kind=stdio\n"
     "qmp[0].path=(null)\n"
     "qmp[0].server=0\n"
     "qmp[0].wait=0\n"
     "qmp[0].pretty=0\n"},
};

static const struct bad_case bad_chr[] = {
    {
     ARGS("-serial", "stdio", "-serial", "file:/x"),
     "-serial: loom-vm has one serial port; 'file:/x' would be a second"},
    {
     ARGS("-serial", "file:"),
     "-serial: file: needs a path"},
    {
     ARGS("-serial", "tcp:1:2"),
     "-serial: unsupported character device 'tcp:1:2' (loom-vm supports stdio,"
     " mon:stdio, null, none, file:PATH, unix:PATH[,server=on][,wait=off])"},
    {
     ARGS("-serial", ""),
     "-serial: unsupported character device '' (loom-vm supports stdio, "
     "mon:stdio, null, none, file:PATH, unix:PATH[,server=on][,wait=off])"},
    {
     ARGS("-serial", "stdio,foo"),
     "-serial: unsupported character device 'stdio,foo' (loom-vm supports "
     "stdio, mon:stdio, null, none, file:PATH, unix:PATH[,server=on][,"
     "wait=off])"},
    {
     ARGS("-serial", "mon:file:/x"),
     "-serial: unsupported character device 'mon:file:/x' (loom-vm supports "
     "stdio, mon:stdio, null, none, file:PATH, unix:PATH[,server=on][,"
     "wait=off])"},
    {
     ARGS("-serial", "chardev:c0"),
     "-serial: unsupported character device 'chardev:c0' (loom-vm supports "
     "stdio, mon:stdio, null, none, file:PATH, unix:PATH[,server=on][,"
     "wait=off])"},
    {
     ARGS("-serial", "unix:"),
     "-serial: a unix socket needs a path"},
    {
     ARGS("-serial", "unix:,server=on"),
     "-serial: a unix socket needs a path"},
    {
     ARGS("-serial", "unix:/s,wait=off"),
     "-serial: 'wait' is incompatible with a client socket (server=off)"},
    {
     ARGS("-serial", "unix:/s,server=off,wait=on"),
     "-serial: 'wait' is incompatible with a client socket (server=off)"},
    {
     ARGS("-serial", "unix:/s,server=on,reconnect=1"),
     "-serial: unix: unsupported parameter 'reconnect'"},
    {
     ARGS("-serial",
          "unix:/ppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"
          "pppppppppppppppppppppppppppppppppppppppppppppp"),
     "-serial: unix socket path longer than 107 bytes"},
    {
     ARGS("-serial", "unix:/s,server=maybe"),
     "-serial: parameter 'server' expects 'on' or 'off', not 'maybe'"},
    {
     ARGS("-nographic", "-serial", "stdio"),
     "-serial: stdio is already used by the -nographic monitor"},
    {
     ARGS("-nographic", "-serial", "none", "-serial", "mon:stdio", "-qmp",
          "stdio"),
     "-qmp: stdio is already used by -serial"},
    {
     ARGS("-nographic", "-qmp", "stdio"),
     "-qmp: stdio is already used by -nographic"},
    {
     ARGS("-serial", "stdio", "-qmp", "stdio"),
     "-qmp: stdio is already used by -serial"},
    {
     ARGS("-serial", "mon:stdio", "-qmp-pretty", "stdio"),
     "-qmp: stdio is already used by -serial"},
    {
     ARGS("-qmp", "stdio", "-qmp", "stdio", "-nodefaults"),
     "-qmp: stdio is already used by -qmp"},
    {
     ARGS("-chardev", "stdio,id=s", "-mon", "s,mode=control", "-serial",
          "stdio"),
     "-mon: stdio is already used by -serial"},
    {
     ARGS("-qmp", "unix:/q"),
     "-qmp: loom-vm's QMP socket listens: add server=on"},
    {
     ARGS("-qmp", "unix:/q,server=off"),
     "-qmp: loom-vm's QMP socket listens: add server=on"},
    {
     ARGS("-qmp", "unix:/q,server=on,pretty=on"),
     "-qmp: unix: unsupported parameter 'pretty'"},
    {
     ARGS("-qmp", "tcp:1:2,server=on"),
     "-qmp: unsupported character device 'tcp:1:2,server=on' (loom-vm "
     "supports stdio, unix:PATH,server=on[,wait=off])"},
    {
     ARGS("-qmp", "none"),
     "-qmp: unsupported character device 'none' (loom-vm supports stdio, "
     "unix:PATH,server=on[,wait=off])"},
    {
     ARGS("-qmp", "mon:stdio"),
     "-qmp: unsupported character device 'mon:stdio' (loom-vm supports stdio, "
     "unix:PATH,server=on[,wait=off])"},
    {
     ARGS("-qmp", "stdio,server=on"),
     "-qmp: unsupported character device 'stdio,server=on' (loom-vm supports "
     "stdio, unix:PATH,server=on[,wait=off])"},
    {
     ARGS("-qmp"),
     "-qmp: requires an argument", true},
    {
     ARGS("-qmp", "stdio", "-qmp", "unix:/q,server=on", "-qmp",
          "unix:/q,server=on", "-qmp", "unix:/q,server=on", "-qmp",
          "unix:/q,server=on", "-qmp", "unix:/q,server=on", "-qmp",
          "unix:/q,server=on", "-qmp", "unix:/q,server=on", "-qmp",
          "unix:/q,server=on"),
     "-qmp: more than 8 QMP monitors"},
    {
     ARGS("-chardev", "socket,path=/q,server=on"),
     "-chardev: no id specified"},
    {
     ARGS("-chardev", "socket,id=1c,path=/q"),
     "-chardev: id '1c' is not an identifier (a letter, then letters, digits, "
     "'-', '.', '_')"},
    {
     ARGS("-chardev", "socket,id=c,server=on"),
     "-chardev: a unix socket needs a path"},
    {
     ARGS("-chardev", "socket,id=c,path=/q,host=x"),
     "-chardev: socket: unsupported parameter 'host'"},
    {
     ARGS("-chardev", "tcp,id=c"),
     "-chardev: unsupported chardev backend 'tcp' (loom-vm supports socket "
     "and stdio)"},
    {
     ARGS("-chardev", "id=c"),
     "-chardev: no backend given"},
    {
     ARGS("-chardev", "stdio,id=c,signal=off"),
     "-chardev: stdio: unsupported parameter 'signal'"},
    {
     ARGS("-chardev", "socket,id=c,path=/q,server=on", "-chardev",
          "socket,id=c,path=/r,server=on"),
     "-chardev: duplicate ID 'c' for chardev"},
    {
     ARGS("-chardev", "socket,id=c,path=/q,server=on"),
     "-chardev: chardev 'c' is not used by any -mon (loom-vm uses -chardev "
     "only for QMP)"},
    {
     ARGS("-chardev", "socket,id=c,path=/q", "-mon", "c,mode=control"),
     "-mon: loom-vm's QMP socket listens: chardev 'c' needs server=on"},
    {
     ARGS("-chardev", "socket,id=c,path=/q,server=on", "-mon",
          "c,mode=control", "-mon", "c,mode=control"),
     "-mon: chardev 'c' is already in use"},
    {
     ARGS("-mon", "c,mode=control"),
     "-mon: chardev 'c' not found"},
    {
     ARGS("-mon", "mode=control"),
     "-mon: parameter 'chardev' is missing"},
    {
     ARGS("-chardev", "socket,id=c,path=/q,server=on", "-mon", "c"),
     "-mon: mode=readline (HMP) is not supported by loom-vm; use "
     "mode=control"},
    {
     ARGS("-chardev", "socket,id=c,path=/q,server=on", "-mon",
          "c,mode=readline"),
     "-mon: mode=readline (HMP) is not supported by loom-vm; use "
     "mode=control"},
    {
     ARGS("-mon", "c,mode=foo"),
     "-mon: parameter 'mode' does not accept value 'foo'"},
    {
     ARGS("-chardev", "socket,id=c,path=/q,server=on", "-mon",
          "c,mode=control,id=1m"),
     "-mon: id '1m' is not an identifier (a letter, then letters, digits, '-',"
     " '.', '_')"},
    {
     ARGS("-mon", "c,mode=control,foo=1"),
     "-mon: unsupported parameter 'foo'"},
};

/* Good lines: -device, -drive, -object, -global. */
static const struct good_case good_dev[] = {
    {
     ARGS("-device", "isa-debug-exit"),
     "debug_exit=1\n"},
    {
     ARGS("-device", "isa-debug-exit,iobase=0xf4,iosize=0x04,id=dx"),
     "debug_exit=1\n"
     "debug_exit_iobase=0xf4\n"
     "debug_exit_iosize=4\n"},
    {
     /* octal */
     ARGS("-device", "driver=isa-debug-exit,iobase=010,iosize=1"),
     "debug_exit=1\n"
     "debug_exit_iobase=0x8\n"
     "debug_exit_iosize=1\n"},
    {
     ARGS("-device", "isa-debug-exit,iobase=0xfffe"),
     "debug_exit=1\n"
     "debug_exit_iobase=0xfffe\n"},
    {
     ARGS("-device",
          "{\"driver\":\"isa-debug-exit\",\"iobase\":1281,\"iosize\":4,"
          "\"id\":\"d\"}"),
     "debug_exit=1\n"
     "debug_exit_iosize=4\n"},
    {
     ARGS("-drive", "id=d0,file=disk.img,format=raw,if=none", "-device",
          "virtio-blk-device,drive=d0"),
     "nr_drives=1\n"
     "drives[0]=d0 file=disk.img cache=writeback aio=threads ro=0 "
     "werror=default rerror=default discard=ignore\n"
     "nr_blks=1\n"
     "blks[0]=id=(null) drive=d0 iothread=(null) nq=1 qs=256 serial=(null) "
     "werror=default rerror=default maps=0\n"},
    {
     ARGS("-drive",
          "file=/x,,y.img,id=d0,format=raw,cache=none,aio=io_uring,"
          "readonly=on,werror=stop,rerror=ignore,discard=unmap",
          "-device",
          "virtio-blk-device,drive=d0,id=vd0,num-queues=16,queue-size=1024,"
          "serial=0123456789012345678901,werror=enospc,rerror=auto"),
     "nr_drives=1\n"
     "drives[0]=d0 file=/x,y.img cache=none aio=io_uring ro=1 werror=stop "
     "rerror=ignore discard=unmap\n"
     "nr_blks=1\n"
     "blks[0]=id=vd0 drive=d0 iothread=(null) nq=16 qs=1024 "
     "serial=01234567890123456789 werror=enospc rerror=default maps=0\n"},
    {
     ARGS("-drive",
          "id=d0,file=a,format=raw,cache=unsafe,aio=threads,readonly,"
          "werror=report,rerror=stop,discard=on",
          "-device",
          "virtio-blk-device,drive=d0,queue-size=4,werror=ignore,"
          "rerror=report"),
     "nr_drives=1\n"
     "drives[0]=d0 file=a cache=unsafe aio=threads ro=1 werror=report "
     "rerror=stop discard=unmap\n"
     "nr_blks=1\n"
     "blks[0]=id=(null) drive=d0 iothread=(null) nq=1 qs=4 serial=(null) "
     "werror=ignore rerror=report maps=0\n"},
    {
     ARGS("-drive",
          "id=d0,file=a,format=raw,cache=writeback,werror=enospc,discard=off,"
          "discard=ignore",
          "-device",
          "virtio-blk-device,drive=d0,werror=auto,rerror=enospc"),
     "nr_drives=1\n"
     "drives[0]=d0 file=a cache=writeback aio=threads ro=0 werror=enospc "
     "rerror=default discard=ignore\n"
     "nr_blks=1\n"
     "blks[0]=id=(null) drive=d0 iothread=(null) nq=1 qs=256 serial=(null) "
     "werror=default rerror=enospc maps=0\n"},
    {
     /* command-line order, any option order */
     ARGS("-device", "virtio-blk-device,drive=b", "-object",
          "iothread,id=io0", "-drive", "id=a,file=a,format=raw", "-drive",
          "id=b,file=b,format=raw", "-device",
          "virtio-blk-device,drive=a,iothread=io0"),
     "nr_iothreads=1\n"
     "iothreads[0]=io0 poll=-1,-1,-1 batch=-1 pool=-1,-1\n"
     "nr_drives=2\n"
     "drives[0]=a file=a cache=writeback aio=threads ro=0 werror=default "
     "rerror=default discard=ignore\n"
     "drives[1]=b file=b cache=writeback aio=threads ro=0 werror=default "
     "rerror=default discard=ignore\n"
     "nr_blks=2\n"
     "blks[0]=id=(null) drive=b iothread=(null) nq=1 qs=256 serial=(null) "
     "werror=default rerror=default maps=0\n"
     "blks[1]=id=(null) drive=a iothread=io0 nq=1 qs=256 serial=(null) "
     "werror=default rerror=default maps=0\n"},
    {
     ARGS("-object", "iothread,id=io0"),
     "nr_iothreads=1\n"
     "iothreads[0]=io0 poll=-1,-1,-1 batch=-1 pool=-1,-1\n"},
    {
     ARGS("-object",
          "iothread,id=io0,poll-max-ns=0,poll-grow=2,poll-shrink=4,"
          "aio-max-batch=32,thread-pool-min=1,thread-pool-max=8"),
     "nr_iothreads=1\n"
     "iothreads[0]=io0 poll=0,2,4 batch=32 pool=1,8\n"},
    {
     ARGS("-object",
          "qom-type=iothread,id=io1,poll-max-ns=0x8000,thread-pool-min=64",
          "-object",
          "iothread,id=io2,thread-pool-max=2147483647,"
          "aio-max-batch=9223372036854775807"),
     "nr_iothreads=2\n"
     "iothreads[0]=io1 poll=32768,-1,-1 batch=-1 pool=64,-1\n"
     "iothreads[1]=io2 poll=-1,-1,-1 batch=9223372036854775807 pool=-1,"
     "2147483647\n"},
    {
     ARGS("-object",
          "iothread,id=io0,x-cpu-affinity=0-1:3,x-cpu-affinity=5,,7-8,"
          "x-cpu-affinity=1023"),
     "nr_iothreads=1\n"
     "iothreads[0]=io0 poll=-1,-1,-1 batch=-1 pool=-1,-1 "
     "cpus=0;1;3;5;7;8;1023;\n"},
    {
     ARGS("-object",
          "{\"qom-type\":\"iothread\",\"id\":\"io0\",\"poll-max-ns\":5,"
          "\"x-cpu-affinity\":[0,2]}",
          "-object",
          "{\"qom-type\":\"iothread\",\"id\":\"io1\",\"x-cpu-affinity\":\"1-2,"
          "4\"}"),
     "nr_iothreads=2\n"
     "iothreads[0]=io0 poll=5,-1,-1 batch=-1 pool=-1,-1 cpus=0;2;\n"
     "iothreads[1]=io1 poll=-1,-1,-1 batch=-1 pool=-1,-1 cpus=1;2;4;\n"},
    {
     ARGS("-object", "iothread,id=io0", "-object", "iothread,id=io1",
          "-drive", "id=d0,file=a,format=raw", "-device",
          "{\"driver\":\"virtio-blk-device\",\"drive\":\"d0\","
          "\"num-queues\":3,\"iothread-vq-mapping\":[{\"iothread\":\"io1\","
          "\"vqs\":[2,0]},{\"iothread\":\"io0\",\"vqs\":[1]}]}"),
     "nr_iothreads=2\n"
     "iothreads[0]=io0 poll=-1,-1,-1 batch=-1 pool=-1,-1\n"
     "iothreads[1]=io1 poll=-1,-1,-1 batch=-1 pool=-1,-1\n"
     "nr_drives=1\n"
     "drives[0]=d0 file=a cache=writeback aio=threads ro=0 werror=default "
     "rerror=default discard=ignore\n"
     "nr_blks=1\n"
     "blks[0]=id=(null) drive=d0 iothread=(null) nq=3 qs=256 serial=(null) "
     "werror=default rerror=default maps=2 io1:2;0; io0:1;\n"},
    {
     /* round-robin */
     ARGS("-object", "iothread,id=io0", "-object", "iothread,id=io1",
          "-drive", "id=d0,file=a,format=raw", "-device",
          "{\"driver\":\"virtio-blk-device\",\"id\":\"v\",\"drive\":\"d0\","
          "\"num-queues\":4,\"queue-size\":128,\"serial\":\"s\","
          "\"werror\":\"stop\","
          "\"iothread-vq-mapping\":[{\"iothread\":\"io0\"},"
          "{\"iothread\":\"io1\"}]}"),
     "nr_iothreads=2\n"
     "iothreads[0]=io0 poll=-1,-1,-1 batch=-1 pool=-1,-1\n"
     "iothreads[1]=io1 poll=-1,-1,-1 batch=-1 pool=-1,-1\n"
     "nr_drives=1\n"
     "drives[0]=d0 file=a cache=writeback aio=threads ro=0 werror=default "
     "rerror=default discard=ignore\n"
     "nr_blks=1\n"
     "blks[0]=id=v drive=d0 iothread=(null) nq=4 qs=128 serial=s werror=stop "
     "rerror=default maps=2 io0: io1:\n"},
    {
     ARGS("-object", "iothread,id=io0", "-drive",
          "id=d0,file=a,format=raw", "-device",
          "{\"driver\":\"virtio-blk-device\",\"drive\":\"d0\","
          "\"iothread\":\"io0\"}"),
     "nr_iothreads=1\n"
     "iothreads[0]=io0 poll=-1,-1,-1 batch=-1 pool=-1,-1\n"
     "nr_drives=1\n"
     "drives[0]=d0 file=a cache=writeback aio=threads ro=0 werror=default "
     "rerror=default discard=ignore\n"
     "nr_blks=1\n"
     "blks[0]=id=(null) drive=d0 iothread=io0 nq=1 qs=256 serial=(null) "
     "werror=default rerror=default maps=0\n"},
    {
     ARGS("-global", "virtio-mmio.force-legacy=on"),
     "force_legacy=1\n"},
    {
     ARGS("-global", "virtio-mmio.force-legacy=off"),
     ""},
    {
     ARGS("-global", "driver=virtio-mmio,property=force-legacy,value=yes"),
     "force_legacy=1\n"},
};

static const struct bad_case bad_dev[] = {
    {
     ARGS("-device", "foo"),
     "-device: unsupported device 'foo' (loom-vm supports isa-debug-exit and "
     "virtio-blk-device)"},
    {
     ARGS("-device", "help"),
     "-device: unsupported device 'help' (loom-vm supports isa-debug-exit and "
     "virtio-blk-device)"},
    {
     ARGS("-device", "iobase=1"),
     "-device: parameter 'driver' is missing"},
    {
     ARGS("-device", "[1]"),
     "-device: unsupported device '[1]' (loom-vm supports isa-debug-exit and "
     "virtio-blk-device)"},
    {
     ARGS("-device", "{"),
     "-device: JSON parse error: string or '}' expected near end of file"},
    {
     ARGS("-device", "{\"driver\":\"isa-debug-exit\",}"),
     "-device: JSON parse error: string or '}' expected near '}'"},
    {
     ARGS("-device", "{\"driver\":\"isa-debug-exit\",\"driver\":\"x\"}"),
     "-device: JSON parse error: duplicate object key near '\"driver\"'"},
    {
     ARGS("-device", "{\"iobase\":1}"),
     "-device: parameter 'driver' is missing"},
    {
     ARGS("-device", "{\"driver\":7}"),
     "-device: parameter 'driver' expects a string"},
    {
     ARGS("-device", "isa-debug-exit,iobase=-1"),
     "-device: parameter 'iobase' must be in [0, 4294967295], not -1"},
    {
     ARGS("-device", "isa-debug-exit,iobase=abc"),
     "-device: parameter 'iobase' expects an integer, not 'abc'"},
    {
     ARGS("-device", "isa-debug-exit,iobase="),
     "-device: parameter 'iobase' expects an integer, not ''"},
    {
     ARGS("-device", "isa-debug-exit,iobase"),
     "-device: parameter 'iobase' expects an integer, not ''"},
    {
     ARGS("-device", "isa-debug-exit,iobase=0x10000"),
     "-device: isa-debug-exit: ports 0x10000+2 are not inside the I/O port "
     "space (iosize >= 1, iobase + iosize <= 0x10000)"},
    {
     ARGS("-device", "isa-debug-exit,iosize=0"),
     "-device: isa-debug-exit: ports 0x501+0 are not inside the I/O port "
     "space (iosize >= 1, iobase + iosize <= 0x10000)"},
    {
     ARGS("-device", "isa-debug-exit,iobase=0xffff,iosize=2"),
     "-device: isa-debug-exit: ports 0xffff+2 are not inside the I/O port "
     "space (iosize >= 1, iobase + iosize <= 0x10000)"},
    {
     ARGS("-device", "isa-debug-exit,iosize=4294967296"),
     "-device: parameter 'iosize' must be in [0, 4294967295], not 4294967296"},
    {
     ARGS("-device", "isa-debug-exit,id=1x"),
     "-device: id '1x' is not an identifier (a letter, then letters, digits, "
     "'-', '.', '_')"},
    {
     ARGS("-device", "isa-debug-exit,foo=1"),
     "-device: isa-debug-exit: unsupported parameter 'foo'"},
    {
     ARGS("-device", "isa-debug-exit", "-device", "isa-debug-exit"),
     "-device: loom-vm supports one isa-debug-exit device"},
    {
     ARGS("-device",
          "{\"driver\":\"isa-debug-exit\",\"iobase\":\"0x501\"}"),
     "-device: parameter 'iobase' expects an integer"},
    {
     ARGS("-device", "isa-debug-exit,id=x", "-drive",
          "id=d,file=a,format=raw", "-device",
          "virtio-blk-device,drive=d,id=x"),
     "-device: duplicate ID 'x' for device"},
    {
     ARGS("-device", "virtio-blk-device"),
     "-device: virtio-blk-device: drive property not set"},
    {
     ARGS("-device", "virtio-blk-device,drive=d1"),
     "-device: virtio-blk-device: drive 'd1' not found"},
    {
     ARGS("-drive", "id=d0,file=a,format=raw", "-device",
          "virtio-blk-device,drive=d0", "-device",
          "virtio-blk-device,drive=d0"),
     "-device: drive 'd0' is already in use by another device"},
    {
     ARGS("-drive", "id=d0,file=a,format=raw"),
     "-drive: drive 'd0' is not used by any -device"},
    {
     ARGS("-drive", "id=d0,file=a,format=raw", "-device",
          "virtio-blk-device,drive=d0,iothread=io0"),
     "-device: IOThread 'io0' not found"},
    {
     ARGS("-drive", "id=d0,file=a,format=raw", "-device",
          "virtio-blk-device,drive=d0,queue-size=2"),
     "-device: invalid queue-size 2: a power of 2 above 2, at most 1024"},
    {
     ARGS("-drive", "id=d0,file=a,format=raw", "-device",
          "virtio-blk-device,drive=d0,queue-size=3"),
     "-device: invalid queue-size 3: a power of 2 above 2, at most 1024"},
    {
     ARGS("-drive", "id=d0,file=a,format=raw", "-device",
          "virtio-blk-device,drive=d0,queue-size=2048"),
     "-device: invalid queue-size 2048: a power of 2 above 2, at most 1024"},
    {
     ARGS("-drive", "id=d0,file=a,format=raw", "-device",
          "virtio-blk-device,drive=d0,queue-size=65536"),
     "-device: parameter 'queue-size' must be in [0, 65535], not 65536"},
    {
     ARGS("-drive", "id=d0,file=a,format=raw", "-device",
          "virtio-blk-device,drive=d0,num-queues=0"),
     "-device: num-queues 0: 1 to 16"},
    {
     ARGS("-drive", "id=d0,file=a,format=raw", "-device",
          "virtio-blk-device,drive=d0,num-queues=17"),
     "-device: num-queues 17: 1 to 16"},
    {
     ARGS("-drive", "id=d0,file=a,format=raw", "-device",
          "virtio-blk-device,drive=d0,werror=foo"),
     "-device: parameter 'werror' does not accept value 'foo'"},
    {
     ARGS("-drive", "id=d0,file=a,format=raw", "-device",
          "virtio-blk-device,drive=d0,scsi=off"),
     "-device: virtio-blk-device: unsupported parameter 'scsi'"},
    {
     ARGS("-drive", "id=d0,file=a,format=raw", "-device",
          "virtio-blk-device,drive=d0,iothread-vq-mapping=io0"),
     "-device: iothread-vq-mapping needs the JSON form of -device"},
    {
     ARGS("-drive", "id=d0,file=a,format=raw", "-device",
          "virtio-blk-device,drive=d0,id=1v"),
     "-device: id '1v' is not an identifier (a letter, then letters, digits, "
     "'-', '.', '_')"},
    {
     ARGS("-drive", "id=d0,file=a,format=raw", "-device",
          "{\"driver\":\"virtio-blk-device\",\"drive\":\"d0\","
          "\"num-queues\":\"2\"}"),
     "-device: parameter 'num-queues' expects an integer"},
    {
     ARGS("-drive", "id=d0,file=a,format=raw", "-device",
          "{\"driver\":\"virtio-blk-device\",\"drive\":\"d0\","
          "\"num-queues\":2.0}"),
     "-device: parameter 'num-queues' expects an integer"},
    {
     ARGS("-drive", "id=d0,file=a,format=raw", "-device",
          "{\"driver\":\"virtio-blk-device\",\"drive\":\"d0\",\"serial\":5}"),
     "-device: parameter 'serial' expects a string"},
    {
     ARGS("-object", "iothread,id=io0", "-object", "iothread,id=io1",
          "-drive", "id=d0,file=a,format=raw", "-device",
          "{\"driver\":\"virtio-blk-device\",\"drive\":\"d0\","
          "\"num-queues\":2,\"iothread-vq-mapping\":[{\"iothread\":\"io0\","
          "\"vqs\":[0]},{\"iothread\":\"io1\"}]}"),
     "-device: iothread-vq-mapping: give \"vqs\" for every entry or for none"},
    {
     ARGS("-object", "iothread,id=io0", "-object", "iothread,id=io1",
          "-drive", "id=d0,file=a,format=raw", "-device",
          "{\"driver\":\"virtio-blk-device\",\"drive\":\"d0\","
          "\"num-queues\":2,\"iothread-vq-mapping\":[{\"iothread\":\"io0\","
          "\"vqs\":[0,1]},{\"iothread\":\"io1\",\"vqs\":[1]}]}"),
     "-device: iothread-vq-mapping: vq 1 is assigned twice"},
    {
     ARGS("-object", "iothread,id=io0", "-object", "iothread,id=io1",
          "-drive", "id=d0,file=a,format=raw", "-device",
          "{\"driver\":\"virtio-blk-device\",\"drive\":\"d0\","
          "\"num-queues\":2,\"iothread-vq-mapping\":[{\"iothread\":\"io0\","
          "\"vqs\":[0]}]}"),
     "-device: iothread-vq-mapping: vq 1 has no IOThread"},
    {
     ARGS("-object", "iothread,id=io0", "-object", "iothread,id=io1",
          "-drive", "id=d0,file=a,format=raw", "-device",
          "{\"driver\":\"virtio-blk-device\",\"drive\":\"d0\","
          "\"num-queues\":2,\"iothread-vq-mapping\":[{\"iothread\":\"io0\","
          "\"vqs\":[0,2]}]}"),
     "-device: iothread-vq-mapping: vq 2 of IOThread 'io0' is not below "
     "num-queues 2"},
    {
     ARGS("-object", "iothread,id=io0", "-object", "iothread,id=io1",
          "-drive", "id=d0,file=a,format=raw", "-device",
          "{\"driver\":\"virtio-blk-device\",\"drive\":\"d0\","
          "\"num-queues\":2,\"iothread-vq-mapping\":[{\"iothread\":\"io0\"},"
          "{\"iothread\":\"io0\"}]}"),
     "-device: iothread-vq-mapping: duplicate IOThread name 'io0'"},
    {
     ARGS("-object", "iothread,id=io0", "-object", "iothread,id=io1",
          "-drive", "id=d0,file=a,format=raw", "-device",
          "{\"driver\":\"virtio-blk-device\",\"drive\":\"d0\","
          "\"num-queues\":2,"
          "\"iothread-vq-mapping\":[{\"iothread\":\"io9\"}]}"),
     "-device: IOThread 'io9' not found"},
    {
     ARGS("-object", "iothread,id=io0", "-object", "iothread,id=io1",
          "-drive", "id=d0,file=a,format=raw", "-device",
          "{\"driver\":\"virtio-blk-device\",\"drive\":\"d0\","
          "\"num-queues\":2,\"iothread-vq-mapping\":[]}"),
     "-device: iothread-vq-mapping must be a non-empty list"},
    {
     ARGS("-object", "iothread,id=io0", "-object", "iothread,id=io1",
          "-drive", "id=d0,file=a,format=raw", "-device",
          "{\"driver\":\"virtio-blk-device\",\"drive\":\"d0\","
          "\"num-queues\":2,\"iothread-vq-mapping\":[{\"iothread\":\"io0\","
          "\"x\":1}]}"),
     "-device: iothread-vq-mapping: unsupported member 'x'"},
    {
     ARGS("-object", "iothread,id=io0", "-object", "iothread,id=io1",
          "-drive", "id=d0,file=a,format=raw", "-device",
          "{\"driver\":\"virtio-blk-device\",\"drive\":\"d0\","
          "\"num-queues\":2,\"iothread-vq-mapping\":[{\"iothread\":\"io0\","
          "\"vqs\":[]}]}"),
     "-device: iothread-vq-mapping: \"vqs\" must be a list of 1 to 16 queue "
     "numbers"},
    {
     ARGS("-object", "iothread,id=io0", "-object", "iothread,id=io1",
          "-drive", "id=d0,file=a,format=raw", "-device",
          "{\"driver\":\"virtio-blk-device\",\"drive\":\"d0\","
          "\"num-queues\":2,\"iothread-vq-mapping\":[{\"iothread\":\"io0\","
          "\"vqs\":[-1]}]}"),
     "-device: iothread-vq-mapping: \"vqs\" entries are queue numbers below "
     "16"},
    {
     ARGS("-object", "iothread,id=io0", "-object", "iothread,id=io1",
          "-drive", "id=d0,file=a,format=raw", "-device",
          "{\"driver\":\"virtio-blk-device\",\"drive\":\"d0\","
          "\"num-queues\":2,\"iothread-vq-mapping\":[{\"iothread\":\"io0\","
          "\"vqs\":[16]}]}"),
     "-device: iothread-vq-mapping: \"vqs\" entries are queue numbers below "
     "16"},
    {
     ARGS("-object", "iothread,id=io0", "-object", "iothread,id=io1",
          "-drive", "id=d0,file=a,format=raw", "-device",
          "{\"driver\":\"virtio-blk-device\",\"drive\":\"d0\","
          "\"num-queues\":2,\"iothread-vq-mapping\":[{\"iothread\":\"io0\","
          "\"vqs\":[\"0\"]}]}"),
     "-device: iothread-vq-mapping: \"vqs\" entries are queue numbers below "
     "16"},
    {
     ARGS("-object", "iothread,id=io0", "-object", "iothread,id=io1",
          "-drive", "id=d0,file=a,format=raw", "-device",
          "{\"driver\":\"virtio-blk-device\",\"drive\":\"d0\","
          "\"num-queues\":2,\"iothread-vq-mapping\":[{\"iothread\":\"io0\","
          "\"vqs\":0}]}"),
     "-device: iothread-vq-mapping: \"vqs\" must be a list of 1 to 16 queue "
     "numbers"},
    {
     ARGS("-object", "iothread,id=io0", "-object", "iothread,id=io1",
          "-drive", "id=d0,file=a,format=raw", "-device",
          "{\"driver\":\"virtio-blk-device\",\"drive\":\"d0\","
          "\"num-queues\":2,\"iothread-vq-mapping\":[{\"iothread\":\"io0\","
          "\"vqs\":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,0]}]}"),
     "-device: iothread-vq-mapping: \"vqs\" must be a list of 1 to 16 queue "
     "numbers"},
    {
     ARGS("-object", "iothread,id=io0", "-object", "iothread,id=io1",
          "-drive", "id=d0,file=a,format=raw", "-device",
          "{\"driver\":\"virtio-blk-device\",\"drive\":\"d0\","
          "\"num-queues\":2,\"iothread-vq-mapping\":[1]}"),
     "-device: iothread-vq-mapping: each entry is an object with an "
     "\"iothread\" string"},
    {
     ARGS("-object", "iothread,id=io0", "-object", "iothread,id=io1",
          "-drive", "id=d0,file=a,format=raw", "-device",
          "{\"driver\":\"virtio-blk-device\",\"drive\":\"d0\","
          "\"num-queues\":2,\"iothread-vq-mapping\":[{\"vqs\":[0]}]}"),
     "-device: iothread-vq-mapping: each entry is an object with an "
     "\"iothread\" string"},
    {
     ARGS("-object", "iothread,id=io0", "-object", "iothread,id=io1",
          "-drive", "id=d0,file=a,format=raw", "-device",
          "{\"driver\":\"virtio-blk-device\",\"drive\":\"d0\","
          "\"num-queues\":2,\"iothread-vq-mapping\":[{\"iothread\":5}]}"),
     "-device: iothread-vq-mapping: each entry is an object with an "
     "\"iothread\" string"},
    {
     ARGS("-object", "iothread,id=io0", "-drive",
          "id=d0,file=a,format=raw", "-device",
          "{\"driver\":\"virtio-blk-device\",\"drive\":\"d0\","
          "\"iothread\":\"io0\","
          "\"iothread-vq-mapping\":[{\"iothread\":\"io0\"}]}"),
     "-device: iothread and iothread-vq-mapping cannot both be given"},
    {
     ARGS("-object", "iothread,id=io0", "-drive",
          "id=d0,file=a,format=raw", "-device",
          "{\"driver\":\"virtio-blk-device\",\"drive\":\"d0\","
          "\"iothread-vq-mapping\":{\"iothread\":\"io0\"}}"),
     "-device: iothread-vq-mapping must be a non-empty list"},
    {
     ARGS("-drive", "id=d0,file=a,format=raw", "-device",
          "{\"driver\":\"virtio-blk-device\",\"drive\":\"d0\","
          "\"iothread-vq-mapping\":[{\"iothread\":\"i0\"},"
          "{\"iothread\":\"i1\"},{\"iothread\":\"i2\"},{\"iothread\":\"i3\"},"
          "{\"iothread\":\"i4\"},{\"iothread\":\"i5\"},{\"iothread\":\"i6\"},"
          "{\"iothread\":\"i7\"},{\"iothread\":\"i8\"},{\"iothread\":\"i9\"},"
          "{\"iothread\":\"i10\"},{\"iothread\":\"i11\"},"
          "{\"iothread\":\"i12\"},{\"iothread\":\"i13\"},"
          "{\"iothread\":\"i14\"},{\"iothread\":\"i15\"},"
          "{\"iothread\":\"i16\"},{\"iothread\":\"i17\"},"
          "{\"iothread\":\"i18\"},{\"iothread\":\"i19\"},"
          "{\"iothread\":\"i20\"},{\"iothread\":\"i21\"},"
          "{\"iothread\":\"i22\"},{\"iothread\":\"i23\"},"
          "{\"iothread\":\"i24\"},{\"iothread\":\"i25\"},"
          "{\"iothread\":\"i26\"},{\"iothread\":\"i27\"},"
          "{\"iothread\":\"i28\"},{\"iothread\":\"i29\"},"
          "{\"iothread\":\"i30\"},{\"iothread\":\"i31\"},"
          "{\"iothread\":\"i32\"},{\"iothread\":\"i33\"},"
          "{\"iothread\":\"i34\"},{\"iothread\":\"i35\"},"
          "{\"iothread\":\"i36\"},{\"iothread\":\"i37\"},"
          "{\"iothread\":\"i38\"},{\"iothread\":\"i39\"},"
          "{\"iothread\":\"i40\"},{\"iothread\":\"i41\"},"
          "{\"iothread\":\"i42\"},{\"iothread\":\"i43\"},"
          "{\"iothread\":\"i44\"},{\"iothread\":\"i45\"},"
          "{\"iothread\":\"i46\"},{\"iothread\":\"i47\"},"
          "{\"iothread\":\"i48\"},{\"iothread\":\"i49\"},"
          "{\"iothread\":\"i50\"},{\"iothread\":\"i51\"},"
          "{\"iothread\":\"i52\"},{\"iothread\":\"i53\"},"
          "{\"iothread\":\"i54\"},{\"iothread\":\"i55\"},"
          "{\"iothread\":\"i56\"},{\"iothread\":\"i57\"},"
          "{\"iothread\":\"i58\"},{\"iothread\":\"i59\"},"
          "{\"iothread\":\"i60\"},{\"iothread\":\"i61\"},"
          "{\"iothread\":\"i62\"},{\"iothread\":\"i63\"},"
          "{\"iothread\":\"i64\"}]}"),
     "-device: iothread-vq-mapping: more than 64 entries"},
    {
     ARGS("-drive", "id=d0,file=a,if=none"),
     "-drive: format=raw is required (loom-vm does not probe image formats)"},
    {
     ARGS("-drive", "id=d0,file=a,format=qcow2"),
     "-drive: format 'qcow2' is not supported (only raw)"},
    {
     ARGS("-drive", "file=a,format=raw"),
     "-drive: parameter 'id' is missing (a -device refers to it)"},
    {
     ARGS("-drive", "id=d0,format=raw"),
     "-drive: parameter 'file' is missing"},
    {
     ARGS("-drive", "id=d0,file=,format=raw"),
     "-drive: parameter 'file' is missing"},
    {
     ARGS("-drive", "id=1d,file=a,format=raw"),
     "-drive: id '1d' is not an identifier (a letter, then letters, digits, "
     "'-', '.', '_')"},
    {
     ARGS("-drive", "id=d0,file=a,format=raw,if=virtio"),
     "-drive: if=virtio is not supported (use if=none and -device "
     "virtio-blk-device)"},
    {
     ARGS("-drive", "id=d0,file=a,format=raw,cache=directsync"),
     "-drive: cache=directsync is not supported by loom-vm (none, writeback, "
     "unsafe)"},
    {
     ARGS("-drive", "id=d0,file=a,format=raw,cache=writethrough"),
     "-drive: cache=writethrough is not supported by loom-vm (none, writeback,"
     " unsafe)"},
    {
     ARGS("-drive", "id=d0,file=a,format=raw,cache=foo"),
     "-drive: parameter 'cache' does not accept value 'foo'"},
    {
     ARGS("-drive", "id=d0,file=a,format=raw,aio=native"),
     "-drive: aio=native is not supported by loom-vm (threads, io_uring)"},
    {
     ARGS("-drive", "id=d0,file=a,format=raw,aio=foo"),
     "-drive: parameter 'aio' does not accept value 'foo'"},
    {
     ARGS("-drive", "id=d0,file=a,format=raw,readonly=maybe"),
     "-drive: parameter 'readonly' expects 'on' or 'off', not 'maybe'"},
    {
     ARGS("-drive", "id=d0,file=a,format=raw,werror=auto"),
     "-drive: 'auto' is not a valid write error action"},
    {
     ARGS("-drive", "id=d0,file=a,format=raw,rerror=enospc"),
     "-drive: 'enospc' is not a valid read error action (report, ignore, "
     "stop)"},
    {
     ARGS("-drive", "id=d0,file=a,format=raw,rerror=auto"),
     "-drive: 'auto' is not a valid read error action (report, ignore, stop)"},
    {
     ARGS("-drive", "id=d0,file=a,format=raw,discard=foo"),
     "-drive: parameter 'discard' does not accept value 'foo'"},
    {
     ARGS("-drive", "id=d0,file=a,format=raw,snapshot=on"),
     "-drive: unsupported parameter 'snapshot'"},
    {
     ARGS("-drive", "id=d0,file=a,format=raw,cache.direct=on"),
     "-drive: unsupported parameter 'cache.direct'"},
    {
     ARGS("-drive", "id=d0,file=a,format=raw", "-drive",
          "id=d0,file=b,format=raw"),
     "-drive: duplicate ID 'd0' for drive"},
    {
     ARGS("-drive", "id=d0,file=a,format=raw", "-drive",
          "id=d1,file=a,format=raw", "-drive", "id=d2,file=a,format=raw",
          "-drive", "id=d3,file=a,format=raw", "-drive",
          "id=d4,file=a,format=raw", "-drive", "id=d5,file=a,format=raw",
          "-drive", "id=d6,file=a,format=raw", "-drive",
          "id=d7,file=a,format=raw", "-drive", "id=d8,file=a,format=raw"),
     "-drive: more than 8 drives"},
    {
     ARGS("-object", "memory-backend-ram,id=m,size=1M"),
     "-object: unsupported object type 'memory-backend-ram' (loom-vm supports "
     "iothread)"},
    {
     ARGS("-object", "iothread"),
     "-object: parameter 'id' is missing"},
    {
     ARGS("-object", "id=io0"),
     "-object: parameter 'qom-type' is missing"},
    {
     ARGS("-object", "iothread,id=1o"),
     "-object: id '1o' is not an identifier (a letter, then letters, digits, "
     "'-', '.', '_')"},
    {
     ARGS("-object", "iothread,id=io0", "-object", "iothread,id=io0"),
     "-object: duplicate ID 'io0' for object"},
    {
     ARGS("-object", "iothread,id=io0,foo=1"),
     "-object: iothread: unsupported parameter 'foo'"},
    {
     ARGS("-object", "iothread,id=io0,poll-max-ns=-1"),
     "-object: parameter 'poll-max-ns' must be in [0, 9223372036854775807], "
     "not -1"},
    {
     ARGS("-object", "iothread,id=io0,poll-grow=-1"),
     "-object: parameter 'poll-grow' must be in [0, 9223372036854775807], not "
     "-1"},
    {
     ARGS("-object", "iothread,id=io0,poll-shrink=x"),
     "-object: parameter 'poll-shrink' expects an integer, not 'x'"},
    {
     ARGS("-object", "iothread,id=io0,aio-max-batch=9223372036854775808"),
     "-object: parameter 'aio-max-batch' expects an integer, not "
     "'9223372036854775808'"},
    {
     ARGS("-object", "iothread,id=io0,poll-max-ns=1k"),
     "-object: parameter 'poll-max-ns' expects an integer, not '1k'"},
    {
     ARGS("-object", "iothread,id=io0,thread-pool-min=100"),
     "-object: bad thread-pool-min/thread-pool-max values (100, 64)"},
    {
     ARGS("-object",
          "iothread,id=io0,thread-pool-min=4,thread-pool-max=2"),
     "-object: bad thread-pool-min/thread-pool-max values (4, 2)"},
    {
     ARGS("-object", "iothread,id=io0,thread-pool-max=0"),
     "-object: bad thread-pool-min/thread-pool-max values (0, 0)"},
    {
     ARGS("-object", "iothread,id=io0,thread-pool-max=2147483648"),
     "-object: bad thread-pool-min/thread-pool-max values (0, 2147483648)"},
    {
     ARGS("-object", "iothread,id=io0,x-cpu-affinity=1024"),
     "-object: x-cpu-affinity: '1024': CPUs are 0 to 1023, ranges low-high"},
    {
     ARGS("-object", "iothread,id=io0,x-cpu-affinity=3-1"),
     "-object: x-cpu-affinity: '3-1': CPUs are 0 to 1023, ranges low-high"},
    {
     ARGS("-object", "iothread,id=io0,x-cpu-affinity="),
     "-object: x-cpu-affinity: invalid CPU list '' (e.g. 0-1:3)"},
    {
     ARGS("-object", "iothread,id=io0,x-cpu-affinity=1-"),
     "-object: x-cpu-affinity: invalid CPU list '1-' (e.g. 0-1:3)"},
    {
     ARGS("-object", "iothread,id=io0,x-cpu-affinity=1:"),
     "-object: x-cpu-affinity: invalid CPU list '1:' (e.g. 0-1:3)"},
    {
     ARGS("-object", "iothread,id=io0,x-cpu-affinity=a"),
     "-object: x-cpu-affinity: invalid CPU list 'a' (e.g. 0-1:3)"},
    {
     ARGS("-object", "iothread,id=io0,x-cpu-affinity=1;2"),
     "-object: x-cpu-affinity: invalid CPU list '1;2' (e.g. 0-1:3)"},
    {
     ARGS("-object", "iothread,id=io0,x-cpu-affinity"),
     "-object: parameter 'x-cpu-affinity' expects a value"},
    {
     ARGS("-object",
          "iothread,id=io0,x-cpu-affinity=99999999999999999999999"),
     "-object: x-cpu-affinity: '99999999999999999999999': CPUs are 0 to 1023, "
     "ranges low-high"},
    {
     ARGS("-object",
          "{\"qom-type\":\"iothread\",\"id\":\"io0\",\"poll-max-ns\":\"5\"}"),
     "-object: parameter 'poll-max-ns' expects an integer"},
    {
     ARGS("-object",
          "{\"qom-type\":\"iothread\",\"id\":\"io0\",\"x-cpu-affinity\":[-1]}"),
     "-object: x-cpu-affinity: a list of CPU numbers"},
    {
     ARGS("-object",
          "{\"qom-type\":\"iothread\",\"id\":\"io0\","
          "\"x-cpu-affinity\":[1.5]}"),
     "-object: x-cpu-affinity: a list of CPU numbers"},
    {
     ARGS("-object",
          "{\"qom-type\":\"iothread\",\"id\":\"io0\",\"x-cpu-affinity\":{}}"),
     "-object: x-cpu-affinity: a CPU list string or array"},
    {
     ARGS("-object",
          "{\"qom-type\":\"iothread\",\"id\":\"io0\","
          "\"x-cpu-affinity\":[2000]}"),
     "-object: x-cpu-affinity: '2000': CPUs are 0 to 1023, ranges low-high"},
    {
     ARGS("-object", "{\"id\":\"io0\"}"),
     "-object: parameter 'qom-type' is missing"},
    {
     ARGS("-global", "virtio-mmio.force-legacy=maybe"),
     "-global: force-legacy expects 'on' or 'off', not 'maybe'"},
    {
     ARGS("-global", "virtio-blk-device.queue-size=128"),
     "-global: unsupported global 'virtio-blk-device.queue-size' (loom-vm "
     "supports virtio-mmio.force-legacy)"},
    {
     ARGS("-global", "foo"),
     "-global: expected DRIVER.PROPERTY=VALUE or driver=,property=,value="},
    {
     ARGS("-global", "virtio-mmio.force-legacy"),
     "-global: expected DRIVER.PROPERTY=VALUE or driver=,property=,value="},
    {
     ARGS("-global", "driver=virtio-mmio,property=force-legacy"),
     "-global: expected DRIVER.PROPERTY=VALUE or driver=,property=,value="},
    {
     ARGS("-global", "driver=virtio-mmio,property=foo,value=on"),
     "-global: unsupported global 'virtio-mmio.foo' (loom-vm supports "
     "virtio-mmio.force-legacy)"},
    {
     ARGS("-global",
          "driver=virtio-mmio,property=force-legacy,value=on,x=1"),
     "-global: unsupported parameter 'x'"},
    {
     ARGS("-global", ".force-legacy=on"),
     "-global: expected DRIVER.PROPERTY=VALUE or driver=,property=,value="},
    {
     ARGS("-global", "virtio-mmio.=on"),
     "-global: expected DRIVER.PROPERTY=VALUE or driver=,property=,value="},
};

static const char *const onoffauto_names[] = {"auto", "on", "off"};
static const char *const cache_names[] = {"writeback", "none", "unsafe"};
static const char *const aio_names[] = {"threads", "io_uring"};
static const char *const onerror_names[] = {"default", "report", "ignore",
                                            "stop", "enospc"};
static const char *const discard_names[] = {"ignore", "unmap"};
static const char *const chr_names[] = {"none", "stdio", "mon:stdio",
                                        "file", "unix", "null"};

#define NAME(tab, v) \
    ((unsigned)(v) < G_N_ELEMENTS(tab) ? (tab)[(v)] : "?")
#define STR(s) ((s) ? (s) : "(null)")

static void dump_chr(GString *g, const char *pfx,
                     const struct vmm_config_chr *c)
{
    g_string_append_printf(g, "%s.kind=%s\n%s.path=%s\n", pfx,
                           NAME(chr_names, c->kind), pfx, STR(c->path));
    g_string_append_printf(g, "%s.server=%d\n%s.wait=%d\n", pfx, c->server,
                           pfx, c->wait);
}

static void dump_iothread(GString *g, unsigned i,
                          const struct vmm_config_iothread *t)
{
    g_string_append_printf(g, "iothreads[%u]=%s poll=%lld,%lld,%lld "
                              "batch=%lld pool=%lld,%lld", i, t->id,
                           (long long)t->poll_max_ns, (long long)t->poll_grow,
                           (long long)t->poll_shrink,
                           (long long)t->aio_max_batch,
                           (long long)t->thread_pool_min,
                           (long long)t->thread_pool_max);
    if (t->affinity.set) {
        g_string_append(g, " cpus=");
        for (unsigned b = 0; b < VMM_MAX_CPUSET; b++) {
            if (t->affinity.bits[b / 64] >> (b % 64) & 1) {
                g_string_append_printf(g, "%u;", b);
            }
        }
    }
    g_string_append_c(g, '\n');
}

static void dump_blk(GString *g, unsigned i, const struct vmm_config_blk *b)
{
    g_string_append_printf(g, "blks[%u]=id=%s drive=%s iothread=%s nq=%u "
                              "qs=%u serial=%s werror=%s rerror=%s maps=%u",
                           i, STR(b->id), STR(b->drive), STR(b->iothread),
                           b->num_queues, b->queue_size, STR(b->serial),
                           NAME(onerror_names, b->werror),
                           NAME(onerror_names, b->rerror), b->nr_vq_maps);
    for (unsigned m = 0; m < b->nr_vq_maps; m++) {
        g_string_append_printf(g, " %s:", b->vq_maps[m].iothread);
        for (unsigned q = 0; q < b->vq_maps[m].nr_vqs; q++) {
            g_string_append_printf(g, "%u;", b->vq_maps[m].vqs[q]);
        }
    }
    g_string_append_c(g, '\n');
}

/* Every field of @c, one "name=value" line each. */
static char *dump_config(const struct vmm_config *c)
{
    GString *g = g_string_new(NULL);

    g_string_append_printf(g, "pit=%s\npic=%s\nrtc=%s\nisa_serial=%s\n",
                           NAME(onoffauto_names, c->pit),
                           NAME(onoffauto_names, c->pic),
                           NAME(onoffauto_names, c->rtc),
                           NAME(onoffauto_names, c->isa_serial));
    g_string_append_printf(g, "acpi=%d\nauto_kernel_cmdline=%d\n"
                              "option_roms=%d\n", c->acpi,
                           c->auto_kernel_cmdline, c->option_roms);
    g_string_append_printf(g, "ram_size=%llu\nnr_cpus=%u\nsockets=%u\n"
                              "cores=%u\nthreads=%u\n",
                           (unsigned long long)c->ram_size, c->nr_cpus,
                           c->sockets, c->cores, c->threads);
    g_string_append_printf(g, "kernel=%s\nappend=%s\ninitrd=%s\n",
                           STR(c->kernel), STR(c->append), STR(c->initrd));
    g_string_append_printf(g, "nr_cpu_features=%u\n", c->nr_cpu_features);
    for (unsigned i = 0; i < c->nr_cpu_features; i++) {
        g_string_append_printf(g, "cpu_features[%u]=%s:%d\n", i,
                               c->cpu_features[i].name,
                               c->cpu_features[i].on);
    }
    g_string_append_printf(g, "nodefaults=%d\nnographic=%d\nno_reboot=%d\n"
                              "no_shutdown=%d\nstart_paused=%d\n",
                           c->nodefaults, c->nographic, c->no_reboot,
                           c->no_shutdown, c->start_paused);
    g_string_append_printf(g, "summary=%d\n", c->summary);
    g_string_append_printf(g, "sandbox=%d\nsandbox_rc_deny=%d\n"
                              "force_legacy=%d\nname=%s\npidfile=%s\n",
                           c->sandbox, c->sandbox_resourcecontrol_deny,
                           c->force_legacy, STR(c->name), STR(c->pidfile));
    dump_chr(g, "serial", &c->serial);
    g_string_append_printf(g, "debug_exit=%d\ndebug_exit_iobase=0x%x\n"
                              "debug_exit_iosize=%u\n", c->debug_exit,
                           c->debug_exit_iobase, c->debug_exit_iosize);
    g_string_append_printf(g, "nr_iothreads=%u\n", c->nr_iothreads);
    for (unsigned i = 0; i < c->nr_iothreads; i++) {
        dump_iothread(g, i, &c->iothreads[i]);
    }
    g_string_append_printf(g, "nr_drives=%u\n", c->nr_drives);
    for (unsigned i = 0; i < c->nr_drives; i++) {
        const struct vmm_config_drive *d = &c->drives[i];

        g_string_append_printf(g, "drives[%u]=%s file=%s cache=%s aio=%s "
                                  "ro=%d werror=%s rerror=%s discard=%s\n",
                               i, d->id, d->file,
                               NAME(cache_names, d->cache),
                               NAME(aio_names, d->aio), d->readonly,
                               NAME(onerror_names, d->werror),
                               NAME(onerror_names, d->rerror),
                               NAME(discard_names, d->discard));
    }
    g_string_append_printf(g, "nr_blks=%u\n", c->nr_blks);
    for (unsigned i = 0; i < c->nr_blks; i++) {
        dump_blk(g, i, &c->blks[i]);
    }
    g_string_append_printf(g, "nr_qmp=%u\n", c->nr_qmp);
    for (unsigned i = 0; i < c->nr_qmp; i++) {
        char pfx[16];

        snprintf(pfx, sizeof(pfx), "qmp[%u]", i);
        dump_chr(g, pfx, &c->qmp[i].chr);
        g_string_append_printf(g, "%s.pretty=%d\n", pfx, c->qmp[i].pretty);
    }
    g_string_append_printf(g, "show_version=%d\nshow_help=%d\n",
                           c->show_version, c->show_help);
    return g_string_free(g, false);
}

/* The lines of @dump that are not in @base (each base line used once). */
static char *dump_diff(const char *base, const char *dump)
{
    char **b = g_strsplit(base, "\n", -1), **d = g_strsplit(dump, "\n", -1);
    GString *out = g_string_new(NULL);

    for (char **l = d; *l; l++) {
        char **m = b;

        while (*m && strcmp(*m, *l)) {
            m++;
        }
        if (*m) {
            (*m)[0] = '\x01'; /* used */
        } else if (**l) {
            g_string_append_printf(out, "%s\n", *l);
        }
    }
    g_strfreev(b);
    g_strfreev(d);
    return g_string_free(out, false);
}

static bool takes_kernel(const char *const *args)
{
    static const char *const stop[] = {"-kernel", "-version", "-h", "-help",
                                       "--help"};

    for (; *args; args++) {
        for (size_t i = 0; i < G_N_ELEMENTS(stop); i++) {
            if (!strcmp(*args, stop[i])) {
                return false;
            }
        }
    }
    return true;
}

/*
 * Parses "loom-vm ARGS [-kernel k]" from copies: argv has no NULL
 * terminator and each string its exact size, so that ASan catches a read
 * past argv or past an argument.
 */
static int parse_exact(const char *const *args, bool kernel,
                       struct vmm_config **cfg, char **err)
{
    size_t n = 0;
    int argc, r;
    char **argv;

    while (args[n]) {
        n++;
    }
    argc = (int)n + 1 + (kernel ? 2 : 0);
    argv = g_malloc(sizeof(*argv) * (size_t)argc);
    argv[0] = g_strdup("loom-vm");
    for (size_t i = 0; i < n; i++) {
        argv[i + 1] = g_strdup(args[i]);
    }
    if (kernel) {
        argv[n + 1] = g_strdup("-kernel");
        argv[n + 2] = g_strdup("k");
    }
    r = vmm_config_parse(argc, argv, cfg, err);
    for (int i = 0; i < argc; i++) {
        g_free(argv[i]);
    }
    g_free(argv);
    return r;
}

static char *join_args(const char *const *args)
{
    return g_strjoinv(" ", (char **)args);
}

static char *defaults_dump(void)
{
    struct vmm_config *cfg = NULL;
    char *err = NULL, *dump;

    g_assert_cmpint(parse_exact(ARGS("-kernel", "k"), false, &cfg, &err), ==,
                    0);
    dump = dump_config(cfg);
    vmm_config_free(cfg);
    return dump;
}

static void run_good(const struct good_case *cases, size_t n)
{
    char *base = defaults_dump();

    for (size_t i = 0; i < n; i++) {
        char untouched[] = "untouched", *err = untouched, *dump, *diff;
        char *line = join_args(cases[i].args);
        struct vmm_config *cfg = NULL;
        int r = parse_exact(cases[i].args, takes_kernel(cases[i].args), &cfg,
                            &err);

        if (r) {
            g_error("'%s': %d, %s", line, r, err);
        }
        g_assert_true(err == untouched);
        dump = dump_config(cfg);
        diff = dump_diff(base, dump);
        if (strcmp(diff, cases[i].want)) {
            g_error("'%s' changed:\n%swanted:\n%s", line, diff,
                    cases[i].want);
        }
        g_free(diff);
        g_free(dump);
        g_free(line);
        vmm_config_free(cfg);
    }
    g_free(base);
}

static void run_bad(const struct bad_case *cases, size_t n)
{
    static int sentinel;

    for (size_t i = 0; i < n; i++) {
        struct vmm_config *cfg = (struct vmm_config *)(void *)&sentinel;
        char *err = NULL, *line = join_args(cases[i].args);
        int r = parse_exact(cases[i].args, !cases[i].no_kernel, &cfg, &err);

        if (r != -EINVAL || !err || strcmp(err, cases[i].want)) {
            g_error("'%s': %d, '%s', wanted '%s'", line, r, err,
                    cases[i].want);
        }
        /* One line, and the out-parameter is written only on success. */
        g_assert_null(strchr(err, '\n'));
        g_assert_true(cfg == (struct vmm_config *)(void *)&sentinel);
        free(err);
        /* No message wanted: nothing leaks either. */
        g_assert_cmpint(parse_exact(cases[i].args, !cases[i].no_kernel, &cfg,
                                    NULL), ==, -EINVAL);
        g_free(line);
    }
}

static void test_parse_good_core(void)
{
    run_good(good_core, G_N_ELEMENTS(good_core));
}

static void test_parse_bad_core(void)
{
    run_bad(bad_core, G_N_ELEMENTS(bad_core));
}

static void test_parse_good_chr(void)
{
    run_good(good_chr, G_N_ELEMENTS(good_chr));
}

static void test_parse_bad_chr(void)
{
    run_bad(bad_chr, G_N_ELEMENTS(bad_chr));
}

static void test_parse_good_dev(void)
{
    run_good(good_dev, G_N_ELEMENTS(good_dev));
}

static void test_parse_bad_dev(void)
{
    run_bad(bad_dev, G_N_ELEMENTS(bad_dev));
}

/* Parses a GPtrArray of arguments (plus "-kernel k"); returns the message. */
static char *parse_array(GPtrArray *a, bool want_ok)
{
    struct vmm_config *cfg = NULL;
    char *err = NULL;
    int r;

    g_ptr_array_add(a, NULL);
    r = parse_exact((const char *const *)a->pdata, true, &cfg, &err);
    g_ptr_array_remove_index(a, a->len - 1);
    if (want_ok) {
        g_assert_cmpint(r, ==, 0);
        vmm_config_free(cfg);
        return NULL;
    }
    g_assert_cmpint(r, ==, -EINVAL);
    return err;
}

static void add(GPtrArray *a, const char *opt, char *arg)
{
    g_ptr_array_add(a, g_strdup(opt));
    g_ptr_array_add(a, arg);
}

/* Each VMM_MAX_* is reached, then refused one further. */
static void test_parse_limits(void)
{
    GPtrArray *a = g_ptr_array_new_with_free_func(g_free);
    GString *s = g_string_new("host");
    char *err;

    for (int i = 0; i < VMM_MAX_CPU_FEATURES; i++) {
        g_string_append_printf(s, ",+f%d", i);
    }
    add(a, "-cpu", g_strdup(s->str));
    g_assert_null(parse_array(a, true));
    g_string_append(s, ",-f0,f1=off,+extra");
    add(a, "-cpu", g_strdup(s->str));
    err = parse_array(a, false);
    g_assert_cmpstr(err, ==, "-cpu: more than 64 feature names");
    free(err);
    g_ptr_array_set_size(a, 0);

    for (int i = 0; i < VMM_MAX_QMP; i++) {
        add(a, "-qmp", g_strdup_printf("unix:/q%d,server=on", i));
    }
    g_assert_null(parse_array(a, true));
    add(a, "-qmp", g_strdup("stdio"));
    err = parse_array(a, false);
    g_assert_cmpstr(err, ==, "-qmp: more than 8 QMP monitors");
    free(err);
    g_ptr_array_set_size(a, 0);

    for (int i = 0; i < VMM_MAX_QMP; i++) {
        add(a, "-chardev",
            g_strdup_printf("socket,id=c%d,path=/m%d,server=on", i, i));
        add(a, "-mon", g_strdup_printf("c%d,mode=control", i));
    }
    g_assert_null(parse_array(a, true));
    add(a, "-chardev", g_strdup("socket,id=c8,path=/m8,server=on"));
    err = parse_array(a, false);
    g_assert_cmpstr(err, ==, "-chardev: more than 8 chardevs (loom-vm uses "
                             "them only for -mon)");
    free(err);
    g_ptr_array_set_size(a, 0);

    for (int i = 0; i < VMM_MAX_IOTHREADS; i++) {
        add(a, "-object", g_strdup_printf("iothread,id=io%d", i));
    }
    g_assert_null(parse_array(a, true));
    add(a, "-drive", g_strdup("id=d0,file=a,format=raw"));
    g_string_assign(s, "{\"driver\":\"virtio-blk-device\",\"drive\":\"d0\","
                       "\"iothread-vq-mapping\":[");
    for (int i = 0; i < VMM_MAX_IOTHREADS; i++) {
        g_string_append_printf(s, "%s{\"iothread\":\"io%d\"}", i ? "," : "",
                               i);
    }
    add(a, "-device", g_strdup_printf("%s]}", s->str));
    g_assert_null(parse_array(a, true));
    g_ptr_array_set_size(a, a->len - 2);
    g_string_append(s, ",{\"iothread\":\"io64\"}]}");
    add(a, "-device", g_strdup(s->str));
    err = parse_array(a, false);
    g_assert_cmpstr(err, ==, "-device: iothread-vq-mapping: more than 64 "
                             "entries");
    free(err);
    g_ptr_array_set_size(a, a->len - 4);
    add(a, "-object", g_strdup("iothread,id=io64"));
    err = parse_array(a, false);
    g_assert_cmpstr(err, ==, "-object: more than 64 IOThreads");
    free(err);
    g_ptr_array_set_size(a, 0);

    for (int i = 0; i < VMM_MAX_DRIVES; i++) {
        add(a, "-drive", g_strdup_printf("id=d%d,file=f%d,format=raw", i, i));
        add(a, "-device", g_strdup_printf("virtio-blk-device,drive=d%d", i));
    }
    g_assert_null(parse_array(a, true));
    add(a, "-device", g_strdup("virtio-blk-device,drive=d0"));
    err = parse_array(a, false);
    g_assert_cmpstr(err, ==, "-device: more than 8 virtio devices (one per "
                             "virtio-mmio transport)");
    free(err);
    g_ptr_array_set_size(a, a->len - 2);
    add(a, "-drive", g_strdup("id=d8,file=f8,format=raw"));
    err = parse_array(a, false);
    g_assert_cmpstr(err, ==, "-drive: more than 8 drives");
    free(err);
    g_ptr_array_unref(a);
    g_string_free(s, true);
}

/* The entry points' own arguments. */
static void test_parse_api(void)
{
    char *const argv[] = {(char *)"loom-vm", (char *)"-kernel", (char *)"k",
                          (char *)"-m", NULL, (char *)"-bogus"};
    struct vmm_config *cfg = NULL;
    char *err = NULL;
    const char *usage = vmm_config_usage();
    static const char *const opts[] = {
        "-M", "-machine", "-m ", "-smp", "-kernel", "-append", "-initrd",
        "-enable-kvm", "-accel", "-cpu", "-nodefaults", "-no-user-config",
        "-nographic", "-display", "-serial", "-no-reboot", "-no-shutdown",
        "-S", "-name", "-pidfile", "-sandbox", "-device", "-drive",
        "-object", "-global", "-qmp", "-qmp-pretty", "-chardev", "-mon",
        "-x-loom-summary", "-version", "-h",
    };

    g_assert_cmpint(vmm_config_parse(3, argv, NULL, &err), ==, -EINVAL);
    g_assert_cmpstr(err, ==, "invalid arguments to vmm_config_parse()");
    free(err);
    g_assert_cmpint(vmm_config_parse(-1, argv, &cfg, NULL), ==, -EINVAL);
    g_assert_cmpint(vmm_config_parse(1, NULL, &cfg, NULL), ==, -EINVAL);
    g_assert_null(cfg);
    /* No arguments at all: no kernel. */
    g_assert_cmpint(vmm_config_parse(0, NULL, &cfg, &err), ==, -EINVAL);
    g_assert_cmpstr(err, ==, "-kernel: no kernel given (loom-vm boots a PVH "
                             "ELF image)");
    free(err);
    g_assert_cmpint(vmm_config_parse(1, argv, &cfg, NULL), ==, -EINVAL);
    /* A NULL inside argv ends it, as execve's argv would. */
    g_assert_cmpint(vmm_config_parse(6, argv, &cfg, &err), ==, -EINVAL);
    g_assert_cmpstr(err, ==, "-m: requires an argument");
    free(err);
    g_assert_cmpint(vmm_config_parse(3, argv, &cfg, &err), ==, 0);
    g_assert_cmpstr(cfg->kernel, ==, "k");
    vmm_config_free(cfg);
    vmm_config_free(NULL);
    for (size_t i = 0; i < G_N_ELEMENTS(opts); i++) {
        g_assert_nonnull(strstr(usage, opts[i]));
    }
    g_assert_true(usage[strlen(usage) - 1] == '\n');
}


static void mutate(GRand *rnd, GPtrArray *a, const char *const *tokens,
                   size_t nr_tokens)
{
    const char *tok = tokens[g_rand_int_range(rnd, 0, (gint32)nr_tokens)];
    guint n = a->len, i = n ? (guint)g_rand_int_range(rnd, 0, (gint32)n) : 0;
    guint at = (guint)g_rand_int_range(rnd, 0, (gint32)n + 1);
    char *s = n ? g_ptr_array_index(a, i) : NULL;
    size_t pos = s ? (size_t)g_rand_int_range(rnd, 0, (gint32)strlen(s) + 1)
                   : 0;

    switch (n ? g_rand_int_range(rnd, 0, 7) : 6) {
    case 0: /* drop an argument */
        g_ptr_array_remove_index(a, i);
        break;
    case 1: /* repeat one elsewhere */
        g_ptr_array_insert(a, (gint)at, g_strdup(s));
        break;
    case 2: /* swap two */
        a->pdata[i] = a->pdata[at % n];
        a->pdata[at % n] = s;
        break;
    case 3: /* cut one short */
        s[pos] = '\0';
        break;
    case 4: /* insert a token inside one */
        a->pdata[i] = g_strdup_printf("%.*s%s%s", (int)pos, s, tok, s + pos);
        g_free(s);
        break;
    case 5: /* change a byte */
        if (s[pos]) {
            s[pos] = (char)g_rand_int_range(rnd, 1, 256);
        }
        break;
    default: /* a new argument */
        g_ptr_array_insert(a, (gint)at, g_strdup(tok));
        break;
    }
}

static void collect_lines(GPtrArray *lines)
{
    for (size_t i = 0; i < G_N_ELEMENTS(good_core); i++) {
        g_ptr_array_add(lines, (void *)good_core[i].args);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(good_chr); i++) {
        g_ptr_array_add(lines, (void *)good_chr[i].args);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(good_dev); i++) {
        g_ptr_array_add(lines, (void *)good_dev[i].args);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(bad_dev); i++) {
        g_ptr_array_add(lines, (void *)bad_dev[i].args);
    }
}

/*
 * Property: random mutations of good lines (a fixed seed) never crash,
 * leak or read out of bounds (ASan), and every outcome is either a
 * configuration or one -EINVAL line.
 */
static void test_parse_mutations(void)
{
    static const char *const tokens[] = {
        ",", ",,", "=", "{", "}", "\"", "[", "]", ":", "-", "0", "0x",
        "on", "off", "auto", "stdio", "unix:", "file:", "mon:", "id=",
        "drive=", "iothread=", "vqs", "99999999999999999999", "-1", "1.5",
        "\xff", "", "host,+", "-kernel", "-m", "-device", "-drive",
        "-object", "-qmp", "-mon", "-chardev", "-serial", "-cpu", "-smp",
        "-M", "-global", "-h", "--", "x", "\"iothread\":\"io0\"",
        "{\"driver\":\"virtio-blk-device\",\"drive\":\"d0\"}",
        "[{\"iothread\":\"io0\",\"vqs\":[0]}]", "server=on", "nowait",
    };
    GRand *rnd = g_rand_new_with_seed(0x10057);
    GPtrArray *lines = g_ptr_array_new();
    unsigned ok = 0, bad = 0;

    collect_lines(lines);
    for (int iter = 0; iter < 20000; iter++) {
        const char *const *line =
            g_ptr_array_index(lines, g_rand_int_range(rnd, 0, lines->len));
        GPtrArray *a = g_ptr_array_new_with_free_func(g_free);
        struct vmm_config *cfg = NULL;
        char *err = NULL;
        int r;

        for (const char *const *arg = line; *arg; arg++) {
            g_ptr_array_add(a, g_strdup(*arg));
        }
        if (takes_kernel(line) || g_rand_boolean(rnd)) {
            g_ptr_array_add(a, g_strdup("-kernel"));
            g_ptr_array_add(a, g_strdup("k"));
        }
        for (int m = g_rand_int_range(rnd, 1, 5); m > 0; m--) {
            mutate(rnd, a, tokens, G_N_ELEMENTS(tokens));
        }
        g_ptr_array_add(a, NULL);
        r = parse_exact((const char *const *)a->pdata, false, &cfg, &err);
        if (r == 0) {
            g_free(dump_config(cfg));
            vmm_config_free(cfg);
            g_assert_null(err);
            ok++;
        } else {
            g_assert_cmpint(r, ==, -EINVAL);
            g_assert_nonnull(err);
            g_assert_true(*err && !strchr(err, '\n'));
            free(err);
            bad++;
        }
        g_ptr_array_unref(a);
    }
    /* Both outcomes were exercised. */
    g_assert_cmpuint(ok, >, 100);
    g_assert_cmpuint(bad, >, 100);
    g_ptr_array_free(lines, true);
    g_rand_free(rnd);
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/config/syntax/split", test_syntax_split);
    g_test_add_func("/config/syntax/json", test_syntax_json);
    g_test_add_func("/config/syntax/getters", test_syntax_getters);
    g_test_add_func("/config/syntax/numbers", test_syntax_numbers);
    g_test_add_func("/config/syntax/messages", test_syntax_messages);
    g_test_add_func("/config/parse/good-core", test_parse_good_core);
    g_test_add_func("/config/parse/bad-core", test_parse_bad_core);
    g_test_add_func("/config/parse/good-chr", test_parse_good_chr);
    g_test_add_func("/config/parse/bad-chr", test_parse_bad_chr);
    g_test_add_func("/config/parse/good-dev", test_parse_good_dev);
    g_test_add_func("/config/parse/bad-dev", test_parse_bad_dev);
    g_test_add_func("/config/parse/limits", test_parse_limits);
    g_test_add_func("/config/parse/api", test_parse_api);
    g_test_add_func("/config/parse/mutations", test_parse_mutations);
    return g_test_run();
}
