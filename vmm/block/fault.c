/* SPDX-License-Identifier: MIT */
/*
 * x-loom-fault: the fault-injecting layer of a block backend (backend.h
 * documents SPEC).  Parsing happens once at open; the decision for each
 * request takes a ticket from an atomic counter, so requests submitted on
 * several threads are numbered in the order they took one.
 */
#include "block/block-int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    int err;
} g_errnames[] = {
    {"EIO", EIO},       {"ENOSPC", ENOSPC},       {"EPERM", EPERM},
    {"EINVAL", EINVAL}, {"ENOMEM", ENOMEM},       {"EROFS", EROFS},
    {"EDQUOT", EDQUOT}, {"ETIMEDOUT", ETIMEDOUT},
};

static int fault_error(char **errmsg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int fault_error(char **errmsg, const char *fmt, ...)
{
    va_list ap;

    if (errmsg) {
        va_start(ap, fmt);
        if (vasprintf(errmsg, fmt, ap) < 0) {
            *errmsg = NULL;
        }
        va_end(ap);
    }
    return -EINVAL;
}

/* A decimal number in [0, max]; *end past it. */
static bool parse_num(const char *s, const char **end, uint64_t max,
                      uint64_t *ret)
{
    uint64_t v = 0;
    const char *p = s;

    if (*p < '0' || *p > '9') {
        return false;
    }
    while (*p >= '0' && *p <= '9') {
        if (v > (max - (uint64_t)(*p - '0')) / 10) {
            return false;
        }
        v = v * 10 + (uint64_t)(*p - '0');
        p++;
    }
    *end = p;
    *ret = v;
    return true;
}

static bool parse_errno(const char *s, int *ret)
{
    const char *end;
    uint64_t v;
    size_t i;

    for (i = 0; i < sizeof(g_errnames) / sizeof(g_errnames[0]); i++) {
        if (!strcmp(s, g_errnames[i].name)) {
            *ret = g_errnames[i].err;
            return true;
        }
    }
    if (parse_num(s, &end, 4095, &v) && !*end && v > 0) {
        *ret = (int)v;
        return true;
    }
    return false;
}

/* "N", "N-M" or "N-" after '@'; *rest at what follows. */
static bool parse_range(const char *s, const char **rest,
                        struct blk_fault_rule *r)
{
    const char *p;

    if (!parse_num(s, &p, UINT64_MAX, &r->first) || r->first == 0) {
        return false;
    }
    r->last = r->first;
    if (*p == '-') {
        p++;
        if (*p >= '0' && *p <= '9') {
            if (!parse_num(p, &p, UINT64_MAX, &r->last) || r->last < r->first) {
                return false;
            }
        } else {
            r->last = UINT64_MAX;
        }
    }
    *rest = p;
    return true;
}

static int parse_rule(struct blk_fault *f, char *tok, char **errmsg)
{
    struct blk_fault_rule *r = &f->rules[f->nr];
    const char *rest;
    uint64_t v;
    char *at;

    if (!strncmp(tok, "align=", 6)) {
        if (!parse_num(tok + 6, &rest, 65536, &v) || *rest || v < 512 ||
            (v & (v - 1))) {
            return fault_error(errmsg, "x-loom-fault: bad alignment '%s'", tok);
        }
        f->align = (unsigned)v;
        return 0;
    }
    if (f->nr == BLK_MAX_FAULT_RULES) {
        return fault_error(errmsg, "x-loom-fault: more than %d rules",
                           BLK_MAX_FAULT_RULES);
    }
    at = strchr(tok, '@');
    if (!at) {
        return fault_error(errmsg, "x-loom-fault: bad rule '%s'", tok);
    }
    *at = '\0';
    if (!strcmp(tok, "fail")) {
        r->kind = BLK_FAULT_FAIL;
    } else if (!strcmp(tok, "short")) {
        r->kind = BLK_FAULT_SHORT;
    } else if (!strcmp(tok, "stall")) {
        r->kind = BLK_FAULT_STALL;
    } else {
        return fault_error(errmsg, "x-loom-fault: unknown rule '%s'", tok);
    }
    if (!parse_range(at + 1, &rest, r)) {
        return fault_error(errmsg, "x-loom-fault: bad request range '%s'",
                           at + 1);
    }
    if (r->kind == BLK_FAULT_SHORT) {
        if (*rest) {
            return fault_error(errmsg, "x-loom-fault: junk after '%s'", tok);
        }
    } else if (*rest != '=') {
        return fault_error(errmsg, "x-loom-fault: '%s' needs '=VALUE'", tok);
    } else if (r->kind == BLK_FAULT_FAIL) {
        if (!parse_errno(rest + 1, &r->err)) {
            return fault_error(errmsg, "x-loom-fault: bad errno '%s'",
                               rest + 1);
        }
    } else {
        if (!parse_num(rest + 1, &rest, 3600000, &v) || *rest) {
            return fault_error(errmsg, "x-loom-fault: bad stall time");
        }
        r->stall_ns = (int64_t)v * 1000000;
    }
    f->nr++;
    return 0;
}

int blk_fault_parse(const char *spec, struct blk_fault **ret, char **errmsg)
{
    struct blk_fault *f;
    char *copy, *tok, *plus;
    int err = 0;

    f = calloc(1, sizeof(*f));
    copy = strdup(spec);
    if (!f || !copy) {
        free(f);
        free(copy);
        return -ENOMEM;
    }
    /* Rules joined with '+'; an empty one (also an empty SPEC) is an error. */
    for (tok = copy; !err; tok = plus + 1) {
        plus = strchr(tok, '+');
        if (plus) {
            *plus = '\0';
        }
        err = *tok ? parse_rule(f, tok, errmsg)
                   : fault_error(errmsg, "x-loom-fault: empty rule in '%s'",
                                 spec);
        if (!plus) {
            break;
        }
    }
    free(copy);
    if (err) {
        free(f);
        return err;
    }
    *ret = f;
    return 0;
}

void blk_fault_decide(struct blk_fault *f, enum vmm_blk_op op,
                      struct blk_fault_action *act)
{
    uint64_t n = __atomic_add_fetch(&f->counter, 1, __ATOMIC_RELAXED);
    unsigned i;

    memset(act, 0, sizeof(*act));
    for (i = 0; i < f->nr; i++) {
        const struct blk_fault_rule *r = &f->rules[i];

        if (n < r->first || n > r->last) {
            continue;
        }
        switch (r->kind) {
        case BLK_FAULT_FAIL:
            if (!act->err) {
                act->err = r->err;
            }
            break;
        case BLK_FAULT_SHORT:
            act->shorten = op == VMM_BLK_OP_READ || op == VMM_BLK_OP_WRITE;
            break;
        case BLK_FAULT_STALL:
            act->stall_ns = r->stall_ns;
            break;
        }
    }
}
