/* SPDX-License-Identifier: MIT */
/*
 * Inside the QMP monitor: the framing scanner (qmp-scan.c).  Everything
 * runs on the main thread with the BQL held.
 */
#ifndef VMM_MONITOR_QMP_INT_H
#define VMM_MONITOR_QMP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "monitor/monitor.h"

/* ------------------------------------------------------------------ */
/* Framing (qmp-scan.c)                                                */
/* ------------------------------------------------------------------ */

/*
 * struct qmp_scan - where the scanner is in a session's input.  Offsets
 * are into the session's input buffer; @start is the first byte of the
 * message being scanned (whitespace before it is skipped), @pos the next
 * byte to look at.  The scanner does not parse JSON: it tracks strings,
 * escapes and nesting depth, enough to know where each top-level value
 * ends; jansson then parses exactly that value.
 */
struct qmp_scan {
    size_t start, pos;
    unsigned depth;
    bool in_str;    /* inside a string */
    bool esc;       /* the previous byte was a backslash in a string */
    bool in_scalar; /* a bare top-level number or keyword */
    bool skipping;  /* after an error: dropping input up to a newline */
    char why[64];   /* the last error, for the GenericError's desc */
};

enum qmp_scan_res {
    QMP_SCAN_MORE, /* every byte scanned; no complete message yet */
    QMP_SCAN_MSG,  /* a message: [start, *ret_end) */
    QMP_SCAN_BAD,  /* a framing error (->why); now skipping to '\n' */
};

/* Context for the scanner functions: the session's, main thread. */
void vmm__qmp_scan_init(struct qmp_scan *s);
enum qmp_scan_res vmm__qmp_scan(struct qmp_scan *s, const char *buf, size_t len,
                                size_t *ret_end);
/* The message that ended at @end was taken: go on after it. */
void vmm__qmp_scan_next(struct qmp_scan *s, size_t end);
/* Drop input up to the next newline (after a message jansson refused). */
void vmm__qmp_scan_resync(struct qmp_scan *s);
/* Input ended: a bare scalar is complete (MSG); a partial value is BAD;
 * otherwise MORE (nothing pending). */
enum qmp_scan_res vmm__qmp_scan_eof(struct qmp_scan *s, size_t len,
                                    size_t *ret_end);
/* The first @n bytes of the buffer were discarded: shift the offsets. */
void vmm__qmp_scan_shift(struct qmp_scan *s, size_t n);
/* Bytes before this offset are no longer needed. */
size_t vmm__qmp_scan_keep_from(const struct qmp_scan *s);

#endif /* VMM_MONITOR_QMP_INT_H */
