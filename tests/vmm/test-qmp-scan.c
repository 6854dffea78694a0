/* SPDX-License-Identifier: MIT */
/*
 * The QMP framing scanner (vmm/monitor/qmp-scan.c): where each top-level
 * JSON value ends, whatever the chunking of the input; strings, escapes
 * and nesting; bare scalars; one error per bad message and the
 * resynchronisation at the next newline; the nesting and size limits;
 * end of input.
 */
#include <string.h>

#include "harness.h"
#include "monitor/qmp-int.h"

/* Scan @in delivered in chunks of @chunk bytes (0: all at once); return
 * what came out, one line per message ("M:<text>") or error ("E"). */
static GString *scan_all(const char *in, size_t len, size_t chunk, bool eof)
{
    GString *out = g_string_new(NULL);
    struct qmp_scan s;
    size_t avail = 0, end;

    vmm__qmp_scan_init(&s);
    while (avail < len) {
        avail = chunk ? MIN(len, avail + chunk) : len;
        for (;;) {
            enum qmp_scan_res r = vmm__qmp_scan(&s, in, avail, &end);

            if (r == QMP_SCAN_MORE) {
                break;
            }
            if (r == QMP_SCAN_BAD) {
                g_string_append(out, "E\n");
                continue;
            }
            g_string_append_printf(out, "M:%.*s\n", (int)(end - s.start),
                                   in + s.start);
            vmm__qmp_scan_next(&s, end);
        }
    }
    if (eof) {
        enum qmp_scan_res r = vmm__qmp_scan_eof(&s, len, &end);

        if (r == QMP_SCAN_MSG) {
            g_string_append_printf(out, "M:%.*s\n", (int)(end - s.start),
                                   in + s.start);
        } else if (r == QMP_SCAN_BAD) {
            g_string_append(out, "E\n");
        }
    }
    return out;
}

/* Every chunking gives the same result. */
static void check(const char *in, const char *want)
{
    size_t len = strlen(in);

    for (size_t chunk = 0; chunk <= len; chunk++) {
        g_autoptr(GString) got = scan_all(in, len, chunk, false);

        if (strcmp(got->str, want) != 0) {
            g_test_message("input %s, chunk %zu", in, chunk);
        }
        g_assert_cmpstr(got->str, ==, want);
    }
}

static void test_objects(void)
{
    check("{\"execute\":\"x\"}", "M:{\"execute\":\"x\"}\n");
    check("  \r\n\t{}\n[]{\"a\":[1,{\"b\":[]}]}",
          "M:{}\nM:[]\nM:{\"a\":[1,{\"b\":[]}]}\n");
    /* A message may span lines. */
    check("{\"execute\":\n \"query-status\"\n}\n",
          "M:{\"execute\":\n \"query-status\"\n}\n");
    /* Not yet complete: nothing. */
    check("{\"a\": [1, 2", "");
}

static void test_strings(void)
{
    check("{\"a\":\"}]{[\"}", "M:{\"a\":\"}]{[\"}\n");
    check("{\"a\":\"\\\"}\"}", "M:{\"a\":\"\\\"}\"}\n");
    check("{\"a\":\"\\\\\"}", "M:{\"a\":\"\\\\\"}\n");
    check("\"top\\\"\" {}", "M:\"top\\\"\"\nM:{}\n");
}

static void test_scalars(void)
{
    /* A bare scalar ends at what cannot continue it. */
    check("3 true\nnull{}-1.5e3[]", "M:3\nM:true\nM:null\nM:{}\nM:-1.5e3\n"
                                    "M:[]\n");
    check("12", "");
}

static void test_errors_resync(void)
{
    /* One error, then the rest of the line is dropped. */
    check("} {\"x\":1}\n{\"y\":2}", "E\nM:{\"y\":2}\n");
    check("]\n]]\n{}", "E\nE\nM:{}\n");
    check("\xff\xfe\x01 {}\n{}", "E\nM:{}\n");
    check(",:\n{}", "E\nM:{}\n");
    /* After resync by the caller (jansson refused a framed message). */
    {
        const char *in = "{bad} {\"x\":1}\n{\"y\":2}";
        struct qmp_scan s;
        size_t end;

        vmm__qmp_scan_init(&s);
        g_assert_cmpint(vmm__qmp_scan(&s, in, strlen(in), &end), ==,
                        QMP_SCAN_MSG);
        g_assert_cmpuint(end, ==, 5);
        vmm__qmp_scan_next(&s, end);
        vmm__qmp_scan_resync(&s);
        g_assert_cmpint(vmm__qmp_scan(&s, in, strlen(in), &end), ==,
                        QMP_SCAN_MSG);
        g_assert_cmpstr(in + s.start, ==, "{\"y\":2}");
    }
}

static void test_depth(void)
{
    GString *in = g_string_new(NULL);
    g_autoptr(GString) got = NULL;
    unsigned i;

    /* The limit itself is fine. */
    for (i = 0; i < VMM_QMP_MAX_DEPTH; i++) {
        g_string_append_c(in, '[');
    }
    for (i = 0; i < VMM_QMP_MAX_DEPTH; i++) {
        g_string_append_c(in, ']');
    }
    got = scan_all(in->str, in->len, 0, false);
    g_assert_cmpuint(got->len, ==, in->len + 3);
    g_string_free(got, TRUE);
    /* One more is an error, reported once, then a fresh line works. */
    g_string_truncate(in, 0);
    for (i = 0; i < VMM_QMP_MAX_DEPTH + 5; i++) {
        g_string_append_c(in, '[');
    }
    g_string_append(in, "]]]]\n{}");
    got = scan_all(in->str, in->len, 0, false);
    g_assert_cmpstr(got->str, ==, "E\nM:{}\n");
    g_string_free(in, TRUE);
}

static void test_size_limit(void)
{
    GString *in = g_string_new("{\"a\":\"");
    g_autoptr(GString) got = NULL;

    /* Exactly the limit passes. */
    while (in->len < VMM_QMP_MAX_MSG - 2) {
        g_string_append_c(in, 'x');
    }
    g_string_append(in, "\"}");
    got = scan_all(in->str, in->len, 65536, false);
    g_assert_cmpuint(got->len, ==, VMM_QMP_MAX_MSG + 3);
    g_string_free(got, TRUE);
    /* One byte more: one error; a long tail (even with braces) is
     * dropped up to the newline. */
    g_string_truncate(in, in->len - 2);
    g_string_append(in, "x\"}");
    for (int i = 0; i < 1000; i++) {
        g_string_append(in, "{}[]");
    }
    g_string_append(in, "\n{\"b\":1}");
    got = scan_all(in->str, in->len, 4096, false);
    g_assert_cmpstr(got->str, ==, "E\nM:{\"b\":1}\n");
    g_string_free(in, TRUE);
}

static void test_eof(void)
{
    g_autoptr(GString) a = scan_all("{\"a\":1", 6, 0, true);
    g_autoptr(GString) b = scan_all("{} 42", 5, 0, true);
    g_autoptr(GString) c = scan_all("{} \"open", 8, 0, true);
    g_autoptr(GString) d = scan_all("{}  ", 4, 0, true);

    g_assert_cmpstr(a->str, ==, "E\n");
    g_assert_cmpstr(b->str, ==, "M:{}\nM:42\n");
    g_assert_cmpstr(c->str, ==, "M:{}\nE\n");
    g_assert_cmpstr(d->str, ==, "M:{}\n");
}

/* Dropping consumed bytes keeps the scanner's place. */
static void test_shift(void)
{
    char buf[64] = "{} {\"a\":";
    struct qmp_scan s;
    size_t end, keep;

    vmm__qmp_scan_init(&s);
    g_assert_cmpint(vmm__qmp_scan(&s, buf, strlen(buf), &end), ==,
                    QMP_SCAN_MSG);
    vmm__qmp_scan_next(&s, end);
    g_assert_cmpint(vmm__qmp_scan(&s, buf, strlen(buf), &end), ==,
                    QMP_SCAN_MORE);
    keep = vmm__qmp_scan_keep_from(&s);
    g_assert_cmpuint(keep, ==, 3);
    memmove(buf, buf + keep, strlen(buf) - keep + 1);
    vmm__qmp_scan_shift(&s, keep);
    strcat(buf, "[1]}");
    g_assert_cmpint(vmm__qmp_scan(&s, buf, strlen(buf), &end), ==,
                    QMP_SCAN_MSG);
    g_assert_cmpuint(s.start, ==, 0);
    g_assert_cmpuint(end, ==, strlen(buf));
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/qmp-scan/objects", test_objects);
    g_test_add_func("/qmp-scan/strings", test_strings);
    g_test_add_func("/qmp-scan/scalars", test_scalars);
    g_test_add_func("/qmp-scan/errors-resync", test_errors_resync);
    g_test_add_func("/qmp-scan/depth", test_depth);
    g_test_add_func("/qmp-scan/size-limit", test_size_limit);
    g_test_add_func("/qmp-scan/eof", test_eof);
    g_test_add_func("/qmp-scan/shift", test_shift);
    return g_test_run();
}
