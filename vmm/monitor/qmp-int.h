/* SPDX-License-Identifier: MIT */
/*
 * Inside the QMP monitor: the framing scanner (qmp-scan.c), errors and
 * argument checks (qmp-cmd.c).  Everything runs on the main thread with
 * the BQL held.
 */
#ifndef VMM_MONITOR_QMP_INT_H
#define VMM_MONITOR_QMP_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

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

/* ------------------------------------------------------------------ */
/* Errors and arguments (qmp-cmd.c)                                    */
/* ------------------------------------------------------------------ */

/* QEMU's QapiErrorClass. */
enum qmp_error_class {
    QMP_ERR_GENERIC,
    QMP_ERR_COMMAND_NOT_FOUND,
    QMP_ERR_DEVICE_NOT_ACTIVE,
    QMP_ERR_DEVICE_NOT_FOUND,
    QMP_ERR_KVM_MISSING_CAP,
};

/* An error reply in the making (STYLE.md: error objects, QEMU's rules). */
struct qmp_error {
    enum qmp_error_class cls;
    char *desc;
};

/*
 * Set *@errp (if @errp is not NULL and *@errp is still NULL) to a new
 * error.  Context: any.
 */
void vmm__qmp_error_set(struct qmp_error **errp, enum qmp_error_class cls,
                        const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void vmm__qmp_error_free(struct qmp_error *e);
const char *vmm__qmp_error_class_name(enum qmp_error_class cls);

/* Argument types, with QEMU's names in its messages. */
enum qmp_type {
    QMP_T_STR,
    QMP_T_INT,
    QMP_T_BOOL,
    QMP_T_NUMBER,
    QMP_T_ARRAY,
    QMP_T_OBJECT,
    QMP_T_ANY,
};

/* One parameter of a command; a table ends with a NULL @name. */
struct qmp_arg {
    const char *name;
    enum qmp_type type;
    bool optional;
};

/*
 * Check @args (an object, or NULL for none) against @spec: unknown
 * members, missing ones, wrong types, with QEMU's messages.
 * Context: any.  Return: true if they fit.
 */
bool vmm__qmp_check_args(const struct qmp_arg *spec, json_t *args,
                         struct qmp_error **errp);
/* Check that @v (named @what) has type @t.  Context: any. */
bool vmm__qmp_check_type(const char *what, json_t *v, enum qmp_type t,
                         struct qmp_error **errp);
/*
 * The index of @value in the NULL-terminated @names, or -1 with QEMU's
 * "Parameter '@param' does not accept value ..." error.  Context: any.
 */
int vmm__qmp_enum(const char *param, const char *value,
                  const char *const *names, struct qmp_error **errp);
/* A JSON integer for a counter (a real past INT64_MAX).  Context: any. */
json_t *vmm__qmp_u64(uint64_t v);
/* Add @v to object @o under @key, stealing @v; false on OOM. */
bool vmm__qmp_set(json_t *o, const char *key, json_t *v);

#endif /* VMM_MONITOR_QMP_INT_H */
