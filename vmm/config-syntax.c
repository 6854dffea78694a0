/* SPDX-License-Identifier: MIT */
/*
 * The syntax layer of loom-vm's command line: QEMU's key=value lists
 * (QemuOpts and keyval: ",," escapes, an implied first key, short-form
 * booleans), the JSON form of -device and -object read through jansson,
 * typed getters over both, C-syntax integers, QEMU's sizes and booleans,
 * and the one-line error message.  No state beyond the parser passed in.
 */
#include "config-int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Messages and identifiers ----------------------------------------- */

int vmm_cfg_fail(struct vmm_cfg_parser *p, const char *fmt, ...)
{
    char *msg, *full;
    va_list ap;

    if (p->err || p->nomem) {
        return -EINVAL;
    }
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0) {
        va_end(ap);
        p->nomem = true;
        return -ENOMEM;
    }
    va_end(ap);
    if (asprintf(&full, "%s%s%s", p->opt ? p->opt : "", p->opt ? ": " : "",
                 msg) < 0) {
        free(msg);
        p->nomem = true;
        return -ENOMEM;
    }
    free(msg);
    for (char *c = full; *c; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7f) {
            *c = '?';
        }
    }
    p->err = full;
    return -EINVAL;
}

int vmm_cfg_nomem(struct vmm_cfg_parser *p)
{
    p->nomem = true;
    return -ENOMEM;
}

int vmm_cfg_set_str(struct vmm_cfg_parser *p, char **dst, const char *src)
{
    char *s = strdup(src);

    if (!s) {
        return vmm_cfg_nomem(p);
    }
    free(*dst);
    *dst = s;
    return 0;
}

/* QEMU's id_wellformed(): a letter, then letters, digits, '-', '.', '_'. */
static bool id_ok(const char *id)
{
    static const char extra[] = "-._";

    if (!((*id >= 'a' && *id <= 'z') || (*id >= 'A' && *id <= 'Z'))) {
        return false;
    }
    for (const char *c = id + 1; *c; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
              (*c >= '0' && *c <= '9') || strchr(extra, *c))) {
            return false;
        }
    }
    return true;
}

int vmm_cfg_check_id(struct vmm_cfg_parser *p, const char *id)
{
    if (!id_ok(id)) {
        return vmm_cfg_fail(p,
                            "id '%.64s' is not an identifier (a letter, then "
                            "letters, digits, '-', '.', '_')",
                            id);
    }
    return 0;
}

/* ---- Numbers ----------------------------------------------------------- */

/* C syntax as QEMU reads integers: [+]digits, 0x hex, 0 octal. */
static int parse_u64(const char *s, uint64_t *out)
{
    unsigned long long v;
    char *end;

    if (*s == '+') {
        s++;
    }
    if (*s < '0' || *s > '9') {
        return -EINVAL;
    }
    errno = 0;
    v = strtoull(s, &end, 0);
    if (*end) {
        return -EINVAL;
    }
    if (errno == ERANGE) {
        return -ERANGE;
    }
    *out = v;
    return 0;
}

static int parse_i64(const char *s, int64_t *out)
{
    uint64_t v;
    bool neg = *s == '-';
    int r = parse_u64(neg ? s + 1 : s, &v);

    if (r < 0 || (neg && s[1] == '+')) {
        return r < 0 ? r : -EINVAL;
    }
    if (v > (uint64_t)INT64_MAX + neg) {
        return -ERANGE;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

static unsigned hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return 16;
}

/*
 * A size as QEMU's -m reads it: an integer (decimal, or hex without a
 * fraction), an optional fraction when a unit other than B follows, and a
 * unit B K M G T P E (either case); @unit applies when none is given.
 */
int vmm_cfg_parse_size(const char *s, uint64_t unit, uint64_t *out)
{
    static const char units[] = "bkmgtpe";
    uint64_t ival = 0, frac = 0, fden = 1, mult = unit;
    bool hex = false, has_frac = false, suffix = false;
    const char *c = s, *u;
    unsigned base = 10, d;

    while (*c == ' ' || *c == '\t' || *c == '\n') {
        c++;
    }
    if (*c == '+') {
        c++;
    }
    if (c[0] == '0' && (c[1] == 'x' || c[1] == 'X')) {
        hex = true;
        base = 16;
        c += 2;
    }
    if (hexval(*c) >= base) {
        return -EINVAL;
    }
    for (; (d = hexval(*c)) < base; c++) {
        if (ival > (UINT64_MAX - d) / base) {
            return -ERANGE;
        }
        ival = ival * base + d;
    }
    if (*c == '.' && !hex) {
        has_frac = true;
        for (c++; *c >= '0' && *c <= '9'; c++) {
            if (fden < 1000000000000000000ull) { /* further digits: cut */
                frac = frac * 10 + (uint64_t)(*c - '0');
                fden *= 10;
            }
        }
    }
    if (*c && (u = strchr(units, *c | 0x20)) != NULL) {
        mult = 1ull << (10 * (u - units));
        suffix = true;
        c++;
    }
    if (*c || (has_frac && (!suffix || mult == 1))) {
        return -EINVAL;
    }
    if (ival > UINT64_MAX / mult) {
        return -ERANGE;
    }
    ival *= mult;
    frac = (uint64_t)((unsigned __int128)frac * mult / fden);
    if (ival > UINT64_MAX - frac) {
        return -ERANGE;
    }
    *out = ival + frac;
    return 0;
}

/* QEMU's boolean spellings (qapi_bool_parse). */
int vmm_cfg_parse_bool(const char *s, bool *out)
{
    static const char *const on[] = {"on", "yes", "true", "y"};
    static const char *const off[] = {"off", "no", "false", "n"};

    for (size_t i = 0; i < 4; i++) {
        if (!strcmp(s, on[i]) || !strcmp(s, off[i])) {
            *out = !strcmp(s, on[i]);
            return 0;
        }
    }
    return -EINVAL;
}

/* ---- key=value lists and JSON objects ---------------------------------- */

void vmm_cfg_opts_free(struct vmm_cfg_opts *o)
{
    free(o->kv);
    free(o->buf);
    json_decref(o->root);
    memset(o, 0, sizeof(*o));
}

static int opts_add(struct vmm_cfg_parser *p, struct vmm_cfg_opts *o,
                    const char *key, const char *val)
{
    if (!*key) {
        return vmm_cfg_fail(p, "invalid parameter ''");
    }
    o->kv[o->n].key = key;
    o->kv[o->n].val = val;
    o->n++;
    return 0;
}

/*
 * Splits @s at single commas (",," is a literal comma).  The first element
 * without '=' is the value of @implied; a trailing comma is allowed, an
 * empty element elsewhere is not.
 */
int vmm_cfg_opts_split(struct vmm_cfg_parser *p, const char *s,
                       const char *implied, enum vmm_cfg_style style,
                       struct vmm_cfg_opts *o)
{
    size_t commas = 0;
    const char *r = s;
    char *w;
    int ret;

    memset(o, 0, sizeof(*o));
    for (const char *c = s; *c; c++) {
        commas += *c == ',';
    }
    o->buf = malloc(strlen(s) + 1);
    o->kv = calloc(commas + 1, sizeof(*o->kv));
    if (!o->buf || !o->kv) {
        vmm_cfg_opts_free(o);
        return vmm_cfg_nomem(p);
    }
    w = o->buf;
    while (*s) {
        char *start = w, *eq;
        bool last;

        while (*r && !(*r == ',' && r[1] != ',')) {
            r += *r == ',' ? 2 : 1;
            *w++ = r[-1];
        }
        *w++ = '\0';
        last = !*r;
        if (!*start && last && o->n) {
            break; /* trailing comma */
        }
        eq = strchr(start, '=');
        if (eq) {
            *eq = '\0';
            ret = opts_add(p, o, start, eq + 1);
        } else if (!o->n && implied) {
            ret = opts_add(p, o, implied, start);
        } else if (style == VMM_CFG_KEYVAL && *start) {
            ret =
                vmm_cfg_fail(p, "expected '=' after parameter '%.64s'", start);
        } else {
            ret = opts_add(p, o, start, NULL);
        }
        if (ret < 0) {
            vmm_cfg_opts_free(o);
            return ret;
        }
        if (last) {
            break;
        }
        r++;
    }
    return 0;
}

int vmm_cfg_opts_json(struct vmm_cfg_parser *p, const char *s,
                      struct vmm_cfg_opts *o)
{
    json_error_t jerr;
    const char *key;
    json_t *val;

    memset(o, 0, sizeof(*o));
    o->root = json_loads(s, JSON_REJECT_DUPLICATES, &jerr);
    if (!o->root) {
        return vmm_cfg_fail(p, "JSON parse error: %s", jerr.text);
    }
    if (!json_is_object(o->root)) {
        vmm_cfg_opts_free(o);
        return vmm_cfg_fail(p, "the JSON form must be an object");
    }
    o->kv = calloc(json_object_size(o->root) + 1, sizeof(*o->kv));
    if (!o->kv) {
        vmm_cfg_opts_free(o);
        return vmm_cfg_nomem(p);
    }
    json_object_foreach(o->root, key, val) {
        o->kv[o->n].key = key;
        o->kv[o->n].json = val;
        o->n++;
    }
    return 0;
}

/* The last occurrence of @key (QEMU: the last one wins); all are used. */
struct vmm_cfg_kv *vmm_cfg_opts_find(struct vmm_cfg_opts *o, const char *key)
{
    struct vmm_cfg_kv *found = NULL;

    for (size_t i = 0; i < o->n; i++) {
        if (!strcmp(o->kv[i].key, key)) {
            o->kv[i].used = true;
            found = &o->kv[i];
        }
    }
    return found;
}

/* Return: 1 found, 0 absent, -EINVAL. */
int vmm_cfg_str(struct vmm_cfg_parser *p, struct vmm_cfg_opts *o,
                const char *key, const char **out)
{
    struct vmm_cfg_kv *kv = vmm_cfg_opts_find(o, key);

    if (!kv) {
        return 0;
    }
    if (kv->json) {
        if (!json_is_string(kv->json)) {
            return vmm_cfg_fail(p, "parameter '%s' expects a string", key);
        }
        *out = json_string_value(kv->json);
        return 1;
    }
    if (!kv->val) {
        return vmm_cfg_fail(p, "parameter '%s' expects a value", key);
    }
    *out = kv->val;
    return 1;
}

int vmm_cfg_bool(struct vmm_cfg_parser *p, struct vmm_cfg_opts *o,
                 const char *key, bool *out)
{
    struct vmm_cfg_kv *kv = NULL;

    /* "key" alone is key=on, "nokey" alone key=off (short forms). */
    for (size_t i = 0; i < o->n; i++) {
        struct vmm_cfg_kv *k = &o->kv[i];

        if (!strcmp(k->key, key) ||
            (!k->val && !k->json && !strncmp(k->key, "no", 2) &&
             !strcmp(k->key + 2, key))) {
            k->used = true;
            kv = k;
        }
    }
    if (!kv) {
        return 0;
    }
    if (kv->json) {
        if (!json_is_boolean(kv->json)) {
            return vmm_cfg_fail(p, "parameter '%s' expects a boolean", key);
        }
        *out = json_is_true(kv->json);
    } else if (!kv->val) {
        *out = !strcmp(kv->key, key);
    } else if (vmm_cfg_parse_bool(kv->val, out) < 0) {
        return vmm_cfg_fail(p,
                            "parameter '%s' expects 'on' or 'off', not '%.64s'",
                            key, kv->val);
    }
    return 1;
}

int vmm_cfg_i64(struct vmm_cfg_parser *p, struct vmm_cfg_opts *o,
                const char *key, int64_t min, int64_t max, int64_t *out)
{
    struct vmm_cfg_kv *kv = vmm_cfg_opts_find(o, key);
    int64_t v;

    if (!kv) {
        return 0;
    }
    if (kv->json) {
        if (!json_is_integer(kv->json)) {
            return vmm_cfg_fail(p, "parameter '%s' expects an integer", key);
        }
        v = json_integer_value(kv->json);
    } else if (!kv->val || parse_i64(kv->val, &v) < 0) {
        return vmm_cfg_fail(p, "parameter '%s' expects an integer, not '%.64s'",
                            key, kv->val ? kv->val : "");
    }
    if (v < min || v > max) {
        return vmm_cfg_fail(p,
                            "parameter '%s' must be in [%lld, %lld], not %lld",
                            key, (long long)min, (long long)max, (long long)v);
    }
    *out = v;
    return 1;
}

/* A uint32 property (iobase=, num-queues=, ...), checked against @max. */
int vmm_cfg_uint(struct vmm_cfg_parser *p, struct vmm_cfg_opts *o,
                 const char *key, uint64_t max, uint64_t *out)
{
    int64_t v;
    int r = vmm_cfg_i64(p, o, key, 0,
                        max > INT64_MAX ? INT64_MAX : (int64_t)max, &v);

    if (r > 0) {
        *out = (uint64_t)v;
    }
    return r;
}

/* @names is NULL-terminated; *out gets the index. */
int vmm_cfg_enum(struct vmm_cfg_parser *p, struct vmm_cfg_opts *o,
                 const char *key, const char *const *names, unsigned *out)
{
    const char *v;
    int r = vmm_cfg_str(p, o, key, &v);

    if (r <= 0) {
        return r;
    }
    for (unsigned i = 0; names[i]; i++) {
        if (!strcmp(v, names[i])) {
            *out = i;
            return 1;
        }
    }
    return vmm_cfg_fail(p, "parameter '%s' does not accept value '%.64s'", key,
                        v);
}

int vmm_cfg_opts_done(struct vmm_cfg_parser *p, struct vmm_cfg_opts *o,
                      const char *what)
{
    for (size_t i = 0; i < o->n; i++) {
        if (!o->kv[i].used) {
            return vmm_cfg_fail(p, "%s%sunsupported parameter '%.64s'",
                                what ? what : "", what ? ": " : "",
                                o->kv[i].key);
        }
    }
    return 0;
}
