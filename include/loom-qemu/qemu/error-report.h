/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: QEMU's human-readable messages (<qemu/error-report.h>).
 * Messages go to stderr as "PROG: message" (PROG from error_init(), or
 * g_get_prgname()), warnings with "warning: ", infos with "info: ".
 */
#ifndef LOOM_QEMU_ERROR_REPORT_H
#define LOOM_QEMU_ERROR_REPORT_H

#include <stdarg.h>
#include <stdbool.h>

void error_vreport(const char *fmt, va_list ap)
    __attribute__((format(printf, 1, 0)));
void warn_vreport(const char *fmt, va_list ap)
    __attribute__((format(printf, 1, 0)));
void info_vreport(const char *fmt, va_list ap)
    __attribute__((format(printf, 1, 0)));
void error_report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void warn_report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void info_report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Continuation text without the "PROG: " prefix or newline. */
int error_vprintf(const char *fmt, va_list ap)
    __attribute__((format(printf, 1, 0)));
int error_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Report only the first time this call site is reached. */
#define error_report_once(fmt, ...)                                           \
    ({                                                                        \
        static bool loom_q_once_;                                             \
        bool loom_q_first_ =                                                  \
            !__atomic_exchange_n(&loom_q_once_, true, __ATOMIC_RELAXED);      \
        if (loom_q_first_) {                                                  \
            error_report(fmt, ##__VA_ARGS__);                                 \
        }                                                                     \
        loom_q_first_;                                                        \
    })
#define warn_report_once(fmt, ...)                                            \
    ({                                                                        \
        static bool loom_q_once_;                                             \
        bool loom_q_first_ =                                                  \
            !__atomic_exchange_n(&loom_q_once_, true, __ATOMIC_RELAXED);      \
        if (loom_q_first_) {                                                  \
            warn_report(fmt, ##__VA_ARGS__);                                  \
        }                                                                     \
        loom_q_first_;                                                        \
    })

/* Whether messages carry a time stamp (off by default). */
extern bool message_with_timestamp;

#endif /* LOOM_QEMU_ERROR_REPORT_H */
