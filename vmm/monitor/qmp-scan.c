/* SPDX-License-Identifier: MIT */
/*
 * QMP framing: find where each top-level JSON value of a byte stream
 * ends, so that jansson (which parses complete documents only) is handed
 * exactly one message.  The scanner tracks strings, escapes and nesting
 * depth — nothing more; jansson checks everything else.  Top-level values
 * may span lines and several may share one; whitespace between them is
 * skipped.  A framing error (a stray closing bracket, a byte no JSON
 * value starts with, too deep a nesting, a message over VMM_QMP_MAX_MSG)
 * is reported once, and then input is dropped up to the next newline, so
 * that a client sending one message per line — every QMP client does —
 * is back in step at its next line.  Runs on the main thread, over one
 * session's input buffer.
 */
#include "monitor/qmp-int.h"

#include <stdio.h>
#include <string.h>

void vmm__qmp_scan_init(struct qmp_scan *s)
{
    memset(s, 0, sizeof(*s));
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* What ends a bare number or keyword (true, false, null). */
static bool ends_scalar(char c)
{
    return is_ws(c) || strchr("{}[],:\"", c) != NULL;
}

/* A byte a bare top-level scalar may start with. */
static bool starts_scalar(char c)
{
    return c == '-' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z');
}

/* A framing error: record why (already in ->why) and skip to a newline. */
static enum qmp_scan_res fail(struct qmp_scan *s)
{
    s->depth = 0;
    s->in_str = s->esc = s->in_scalar = false;
    s->skipping = true;
    return QMP_SCAN_BAD;
}

static enum qmp_scan_res stray(struct qmp_scan *s, unsigned char c)
{
    if (c >= 0x20 && c < 0x7f) {
        snprintf(s->why, sizeof(s->why), "stray '%c'", c);
    } else {
        snprintf(s->why, sizeof(s->why), "stray byte 0x%02x", c);
    }
    return fail(s);
}

/* Between messages: skip whitespace, start the next one. */
static enum qmp_scan_res scan_idle(struct qmp_scan *s, char c)
{
    if (is_ws(c)) {
        s->start = s->pos + 1;
        return QMP_SCAN_MORE;
    }
    if (c == '{' || c == '[') {
        s->depth = 1;
    } else if (c == '"') {
        s->in_str = true;
    } else if (starts_scalar(c)) {
        s->in_scalar = true;
    } else {
        return stray(s, (unsigned char)c);
    }
    return QMP_SCAN_MORE;
}

/* Inside an array or object (depth > 0), outside strings. */
static enum qmp_scan_res scan_nested(struct qmp_scan *s, char c)
{
    if (c == '"') {
        s->in_str = true;
    } else if (c == '{' || c == '[') {
        if (s->depth >= VMM_QMP_MAX_DEPTH) {
            snprintf(s->why, sizeof(s->why), "nesting deeper than %u levels",
                     VMM_QMP_MAX_DEPTH);
            return fail(s);
        }
        s->depth++;
    } else if (c == '}' || c == ']') {
        s->depth--;
        if (s->depth == 0) {
            return QMP_SCAN_MSG;
        }
    }
    return QMP_SCAN_MORE;
}

/* A string: the message ends at its closing quote if it is top-level. */
static enum qmp_scan_res scan_string(struct qmp_scan *s, char c)
{
    if (s->esc) {
        s->esc = false;
    } else if (c == '\\') {
        s->esc = true;
    } else if (c == '"') {
        s->in_str = false;
        if (s->depth == 0) {
            return QMP_SCAN_MSG;
        }
    }
    return QMP_SCAN_MORE;
}

enum qmp_scan_res vmm__qmp_scan(struct qmp_scan *s, const char *buf, size_t len,
                                size_t *ret_end)
{
    enum qmp_scan_res r = QMP_SCAN_MORE;

    for (; s->pos < len; s->pos++) {
        char c = buf[s->pos];

        r = QMP_SCAN_MORE;
        if (s->skipping) {
            if (c == '\n') {
                s->skipping = false;
            }
            s->start = s->pos + 1;
            continue;
        }
        if (!s->in_scalar && !s->in_str && s->depth == 0) {
            r = scan_idle(s, c);
        } else if (s->pos - s->start >= VMM_QMP_MAX_MSG) {
            /* This byte would be one too many; skipping starts at it. */
            snprintf(s->why, sizeof(s->why), "message longer than %u bytes",
                     VMM_QMP_MAX_MSG);
            r = fail(s);
            s->start = s->pos;
            return r;
        } else if (s->in_scalar) {
            if (ends_scalar(c)) {
                /* The byte after a scalar belongs to what follows. */
                s->in_scalar = false;
                *ret_end = s->pos;
                return QMP_SCAN_MSG;
            }
        } else if (s->in_str) {
            r = scan_string(s, c);
        } else {
            r = scan_nested(s, c);
        }
        if (r == QMP_SCAN_MSG) {
            *ret_end = ++s->pos;
            return r;
        }
        if (r == QMP_SCAN_BAD) {
            /* The bad byte is not a newline (whitespace never is bad). */
            s->start = ++s->pos;
            return r;
        }
    }
    return QMP_SCAN_MORE;
}

void vmm__qmp_scan_next(struct qmp_scan *s, size_t end)
{
    s->start = s->pos = end;
    s->depth = 0;
    s->in_str = s->esc = s->in_scalar = false;
}

void vmm__qmp_scan_resync(struct qmp_scan *s)
{
    s->depth = 0;
    s->in_str = s->esc = s->in_scalar = false;
    s->skipping = true;
    s->start = s->pos;
}

enum qmp_scan_res vmm__qmp_scan_eof(struct qmp_scan *s, size_t len,
                                    size_t *ret_end)
{
    if (s->skipping) {
        return QMP_SCAN_MORE;
    }
    if (s->in_scalar) {
        s->in_scalar = false;
        *ret_end = len;
        return QMP_SCAN_MSG;
    }
    if (s->in_str || s->depth > 0) {
        snprintf(s->why, sizeof(s->why), "input ended inside a message");
        fail(s);
        s->start = s->pos = len;
        return QMP_SCAN_BAD;
    }
    return QMP_SCAN_MORE;
}

void vmm__qmp_scan_shift(struct qmp_scan *s, size_t n)
{
    s->start -= n;
    s->pos -= n;
}

size_t vmm__qmp_scan_keep_from(const struct qmp_scan *s)
{
    return s->start;
}
