/* SPDX-License-Identifier: MIT */
/*
 * loom-vm's command line (vmm/config*.c) without KVM: the syntax layer
 * (QEMU's key=value lists, JSON, sizes, booleans, messages) against
 * tables of good and bad strings.
 */
#include <errno.h>
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

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/config/syntax/split", test_syntax_split);
    g_test_add_func("/config/syntax/json", test_syntax_json);
    g_test_add_func("/config/syntax/getters", test_syntax_getters);
    g_test_add_func("/config/syntax/numbers", test_syntax_numbers);
    g_test_add_func("/config/syntax/messages", test_syntax_messages);
    return g_test_run();
}
