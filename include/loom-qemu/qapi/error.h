/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: QEMU's Error ** convention (<qapi/error.h>).
 *
 * A fallible function takes "Error **errp" last and also returns a status
 * (bool, int or a pointer).  On failure it sets *errp with error_setg()
 * (when errp is not NULL); on success it leaves *errp alone.  The caller
 * passes:
 *   NULL          - ignore the error;
 *   &error_abort  - a failure is a bug: print it and abort();
 *   &error_fatal  - a failure ends the program: print it and exit(1);
 *   &error_warn   - print it as a warning and go on;
 *   &local_err    - (with Error *local_err = NULL) examine it, then
 *                   error_free() or error_propagate() it.
 * *errp must be NULL when an error is set into it (setting an error twice
 * is a bug, and aborts).  ERRP_GUARD() lets a function look at *errp even
 * when its caller passed NULL or &error_fatal.
 */
#ifndef LOOM_QEMU_QAPI_ERROR_H
#define LOOM_QEMU_QAPI_ERROR_H

#include <stdarg.h>
#include <stdbool.h>

#include "qemu/compiler.h"
#include "qemu/typedefs.h"

/* The class of an error, as QMP reports it. */
typedef enum ErrorClass {
    ERROR_CLASS_GENERIC_ERROR,
    ERROR_CLASS_COMMAND_NOT_FOUND,
    ERROR_CLASS_DEVICE_NOT_ACTIVE,
    ERROR_CLASS_DEVICE_NOT_FOUND,
    ERROR_CLASS_KVM_MISSING_CAP,
    ERROR_CLASS__MAX,
} ErrorClass;

/* The special destinations. */
extern Error *error_abort;
extern Error *error_fatal;
extern Error *error_warn;

/* private: the functions behind the macros, which add the source place. */
void loom_q_error_setg(Error **errp, const char *src, int line,
                       const char *func, ErrorClass cls, int os_errno,
                       const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
void loom_q_error_vsetg(Error **errp, const char *src, int line,
                        const char *func, ErrorClass cls, int os_errno,
                        const char *fmt, va_list ap)
    __attribute__((format(printf, 7, 0)));

/** error_setg() - set a new error in @errp (see the file comment). */
#define error_setg(errp, fmt, ...)                                            \
    loom_q_error_setg((errp), __FILE__, __LINE__, __func__,                   \
                      ERROR_CLASS_GENERIC_ERROR, 0, (fmt), ##__VA_ARGS__)

/** error_setg_errno() - error_setg() with ": strerror(os_errno)" appended. */
#define error_setg_errno(errp, os_errno, fmt, ...)                            \
    loom_q_error_setg((errp), __FILE__, __LINE__, __func__,                   \
                      ERROR_CLASS_GENERIC_ERROR, (os_errno), (fmt),           \
                      ##__VA_ARGS__)

/** error_set() - error_setg() with an explicit class. */
#define error_set(errp, err_class, fmt, ...)                                  \
    loom_q_error_setg((errp), __FILE__, __LINE__, __func__, (err_class), 0,   \
                      (fmt), ##__VA_ARGS__)

#define error_vsetg(errp, fmt, ap)                                            \
    loom_q_error_vsetg((errp), __FILE__, __LINE__, __func__,                  \
                       ERROR_CLASS_GENERIC_ERROR, 0, (fmt), (ap))

/** error_get_pretty() - the message of @err (owned by @err). */
const char *error_get_pretty(const Error *err);

/** error_get_class() - the class of @err. */
ErrorClass error_get_class(const Error *err);

/** error_copy() - a new error equal to @err. */
Error *error_copy(const Error *err);

/** error_free() - free @err (NULL is ignored). */
void error_free(Error *err);

/** error_free_or_abort() - *@errp must hold an error: free it, clear it. */
void error_free_or_abort(Error **errp);

/**
 * error_propagate() - move @local_err into @dst_errp.
 *
 * Nothing happens when @local_err is NULL.  Otherwise @dst_errp's special
 * meanings apply (abort, exit, warn); a NULL @dst_errp, or one that holds
 * an error already, frees @local_err (the first error wins).
 */
void error_propagate(Error **dst_errp, Error *local_err);

/** error_propagate_prepend() - error_prepend() then error_propagate(). */
void error_propagate_prepend(Error **dst_errp, Error *local_err,
                             const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** error_prepend() - put a formatted prefix before *@errp's message. */
void error_prepend(Error *const *errp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** error_vprepend() - error_prepend() with a va_list. */
void error_vprepend(Error *const *errp, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/**
 * error_append_hint() - add a hint printed after the message (by
 * error_report_err()).  @errp must not be &error_fatal or &error_abort
 * unless guarded by ERRP_GUARD() (the hint would be lost); NULL ignores.
 */
void error_append_hint(Error *const *errp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** error_report_err() - print @err as an error and free it. */
void error_report_err(Error *err);

/** warn_report_err() - print @err as a warning and free it. */
void warn_report_err(Error *err);

/** error_reportf_err() - error_prepend() a prefix, then error_report_err(). */
void error_reportf_err(Error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** warn_reportf_err() - error_prepend() a prefix, then warn_report_err(). */
void warn_reportf_err(Error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** error_init() - name the program in messages (argv[0]); optional. */
void error_init(const char *argv0);

/* private: ERRP_GUARD()'s state and its scope-exit propagation. */
typedef struct {
    Error *local_err;
    Error **errp;
} ErrorPropagator;

static inline void loom_q_error_propagator_cleanup(ErrorPropagator *prop)
{
    error_propagate(prop->errp, prop->local_err);
}

/**
 * ERRP_GUARD() - make "errp" usable for *errp tests in this function.
 *
 * When the caller passed NULL or &error_fatal, errp is pointed at a local
 * error that is propagated to the caller's errp when the function returns
 * (so error_fatal exits only then, with hints and prefixes applied).
 */
#define ERRP_GUARD()                                                          \
    ErrorPropagator loom_q_auto_errp_prop                                     \
        __attribute__((cleanup(loom_q_error_propagator_cleanup))) = {         \
            .errp = errp};                                                    \
    do {                                                                      \
        if (!errp || errp == &error_fatal) {                                  \
            errp = &loom_q_auto_errp_prop.local_err;                          \
        }                                                                     \
    } while (0)

#endif /* LOOM_QEMU_QAPI_ERROR_H */
