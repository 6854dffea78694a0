/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: Error objects and the special destinations error_abort,
 * error_fatal and error_warn (<qapi/error.h>), and the message printers
 * of <qemu/error-report.h>.  Any thread may call everything here.
 */
#include "qemu/osdep.h"

#include "qapi/error.h"
#include "qemu/error-report.h"

struct Error {
    char *msg;
    ErrorClass cls;
    GString *hint;
    /* Where it was set, for error_abort's report. */
    const char *src, *func;
    int line;
};

/* Their addresses are what matter; the values are never set. */
Error *error_abort;
Error *error_fatal;
Error *error_warn;

bool message_with_timestamp;

/* Set once by error_init(), normally before threads exist. */
static const char *g_progname;

void error_init(const char *argv0)
{
    const char *slash = argv0 ? strrchr(argv0, '/') : NULL;

    g_progname = slash ? slash + 1 : argv0;
}

static const char *progname(void)
{
    const char *p = g_progname ? g_progname : g_get_prgname();

    return p ? p : "loom";
}

int error_vprintf(const char *fmt, va_list ap)
{
    return vfprintf(stderr, fmt, ap);
}

int error_printf(const char *fmt, ...)
{
    va_list ap;
    int ret;

    va_start(ap, fmt);
    ret = error_vprintf(fmt, ap);
    va_end(ap);
    return ret;
}

/* One line: [timestamp ]PROG: [kind: ]message\n, written in one go. */
static void __attribute__((format(printf, 2, 0)))
vreport(const char *kind, const char *fmt, va_list ap)
{
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    g_autofree char *stamp = NULL;

    if (message_with_timestamp) {
        g_autoptr(GDateTime) now = g_date_time_new_now_utc();

        stamp = g_date_time_format(now, "%Y-%m-%dT%H:%M:%S.%fZ ");
    }
    fprintf(stderr, "%s%s: %s%s\n", stamp ? stamp : "", progname(), kind,
            msg);
}

void error_vreport(const char *fmt, va_list ap)
{
    vreport("", fmt, ap);
}

void warn_vreport(const char *fmt, va_list ap)
{
    vreport("warning: ", fmt, ap);
}

void info_vreport(const char *fmt, va_list ap)
{
    vreport("info: ", fmt, ap);
}

void error_report(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    error_vreport(fmt, ap);
    va_end(ap);
}

void warn_report(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    warn_vreport(fmt, ap);
    va_end(ap);
}

void info_report(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    info_vreport(fmt, ap);
    va_end(ap);
}

static void print_hint(const Error *err)
{
    if (err->hint) {
        error_printf("%s", err->hint->str);
    }
}

static void report_and_free(Error *err, bool warn)
{
    if (warn) {
        warn_report("%s", err->msg);
    } else {
        error_report("%s", err->msg);
    }
    print_hint(err);
    error_free(err);
}

void error_report_err(Error *err)
{
    report_and_free(err, false);
}

void warn_report_err(Error *err)
{
    report_and_free(err, true);
}

void error_reportf_err(Error *err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    error_vprepend(&err, fmt, ap);
    va_end(ap);
    error_report_err(err);
}

void warn_reportf_err(Error *err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    error_vprepend(&err, fmt, ap);
    va_end(ap);
    warn_report_err(err);
}

/*
 * Hand @err to @errp's destination: abort, exit, warn, drop (NULL), or
 * store it (*errp must be empty).
 */
static void deliver(Error **errp, Error *err)
{
    if (errp == &error_abort) {
        fprintf(stderr, "Unexpected error in %s() at %s:%d:\n",
                err->func ? err->func : "?", err->src ? err->src : "?",
                err->line);
        error_report("%s", err->msg);
        abort();
    }
    if (errp == &error_fatal) {
        error_report_err(err);
        exit(1);
    }
    if (errp == &error_warn) {
        warn_report_err(err);
        return;
    }
    if (!errp) {
        error_free(err);
        return;
    }
    if (*errp) {
        /* Setting an error over another one loses the first: a bug. */
        fprintf(stderr, "error set twice: '%s' over '%s' (%s:%d)\n",
                err->msg, (*errp)->msg, err->src ? err->src : "?",
                err->line);
        abort();
    }
    *errp = err;
}

void loom_q_error_vsetg(Error **errp, const char *src, int line,
                        const char *func, ErrorClass cls, int os_errno,
                        const char *fmt, va_list ap)
{
    Error *err;
    char *msg;

    if (!errp) {
        return;
    }
    msg = g_strdup_vprintf(fmt, ap);
    if (os_errno) {
        char *full = g_strdup_printf("%s: %s", msg, g_strerror(os_errno));

        g_free(msg);
        msg = full;
    }
    err = g_new0(Error, 1);
    err->msg = msg;
    err->cls = cls;
    err->src = src;
    err->line = line;
    err->func = func;
    deliver(errp, err);
}

void loom_q_error_setg(Error **errp, const char *src, int line,
                       const char *func, ErrorClass cls, int os_errno,
                       const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    loom_q_error_vsetg(errp, src, line, func, cls, os_errno, fmt, ap);
    va_end(ap);
}

const char *error_get_pretty(const Error *err)
{
    return err->msg;
}

ErrorClass error_get_class(const Error *err)
{
    return err->cls;
}

Error *error_copy(const Error *err)
{
    Error *copy = g_new0(Error, 1);

    copy->msg = g_strdup(err->msg);
    copy->cls = err->cls;
    copy->src = err->src;
    copy->line = err->line;
    copy->func = err->func;
    if (err->hint) {
        copy->hint = g_string_new(err->hint->str);
    }
    return copy;
}

void error_free(Error *err)
{
    if (!err) {
        return;
    }
    g_free(err->msg);
    if (err->hint) {
        g_string_free(err->hint, TRUE);
    }
    g_free(err);
}

void error_free_or_abort(Error **errp)
{
    if (!errp || !*errp) {
        fprintf(stderr, "error_free_or_abort: no error was set\n");
        abort();
    }
    error_free(*errp);
    *errp = NULL;
}

void error_propagate(Error **dst_errp, Error *local_err)
{
    if (!local_err) {
        return;
    }
    if (dst_errp && dst_errp != &error_abort && dst_errp != &error_fatal &&
        dst_errp != &error_warn && *dst_errp) {
        /* The first error wins. */
        error_free(local_err);
        return;
    }
    deliver(dst_errp, local_err);
}

void error_vprepend(Error *const *errp, const char *fmt, va_list ap)
{
    char *prefix, *msg;

    if (!errp || !*errp) {
        return;
    }
    prefix = g_strdup_vprintf(fmt, ap);
    msg = g_strconcat(prefix, (*errp)->msg, NULL);
    g_free(prefix);
    g_free((*errp)->msg);
    (*errp)->msg = msg;
}

void error_prepend(Error *const *errp, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    error_vprepend(errp, fmt, ap);
    va_end(ap);
}

void error_propagate_prepend(Error **dst_errp, Error *local_err,
                             const char *fmt, ...)
{
    va_list ap;

    if (local_err && dst_errp != &error_fatal && dst_errp != &error_abort &&
        dst_errp != &error_warn && dst_errp && *dst_errp) {
        /* It will be dropped: do not bother formatting. */
        error_free(local_err);
        return;
    }
    if (local_err) {
        va_start(ap, fmt);
        error_vprepend(&local_err, fmt, ap);
        va_end(ap);
    }
    error_propagate(dst_errp, local_err);
}

void error_append_hint(Error *const *errp, const char *fmt, ...)
{
    va_list ap;

    if (!errp) {
        return;
    }
    if (errp == &error_abort || errp == &error_fatal || !*errp) {
        fprintf(stderr, "error_append_hint: no error to add a hint to "
                        "(guard errp with ERRP_GUARD())\n");
        abort();
    }
    if (!(*errp)->hint) {
        (*errp)->hint = g_string_new(NULL);
    }
    va_start(ap, fmt);
    g_string_append_vprintf((*errp)->hint, fmt, ap);
    va_end(ap);
}
