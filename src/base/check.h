/* SPDX-License-Identifier: MIT */
/*
 * Argument checks and panics (internal); STYLE.md section 4's classes:
 *  - LOOM_CHECK(cond, err): cheap public argument errors; returns err
 *    (and reports at LOOM_LOG_DEBUG level in debug-check builds);
 *  - loom__panic(fmt, ...): contract violations that would corrupt state;
 *    always on, prints and aborts;
 *  - assert(): internal invariants, enabled in every build we ship.
 */
#ifndef LOOM_BASE_CHECK_H
#define LOOM_BASE_CHECK_H

#include <assert.h>

#include "base/compiler.h"
#include <loom/common.h>

LOOM_NORETURN LOOM_PRINTF(3, 4) void loom__panic_at(const char *file, int line,
                                                 const char *fmt, ...);
LOOM_PRINTF(2, 3) void loom__log(enum loom_log_level level,
                                 const char *fmt, ...);

/* Context: any.  Never returns. */
#define loom__panic(...) loom__panic_at(__FILE__, __LINE__, __VA_ARGS__)

#ifdef LOOM_DEBUG_CHECKS
#define LOOM__CHECK_REPORT(cond)                                              \
    loom__log(LOOM_LOG_DEBUG, "%s: check failed: %s", __func__, cond)
#else
#define LOOM__CHECK_REPORT(cond) ((void)0)
#endif

#define LOOM_CHECK(cond, err)                                                 \
    do {                                                                      \
        if (LOOM_UNLIKELY(!(cond))) {                                         \
            LOOM__CHECK_REPORT(#cond);                                        \
            return (err);                                                     \
        }                                                                     \
    } while (0)

#define LOOM_CHECK_VOID(cond)                                                 \
    do {                                                                      \
        if (LOOM_UNLIKELY(!(cond))) {                                         \
            LOOM__CHECK_REPORT(#cond);                                        \
            return;                                                           \
        }                                                                     \
    } while (0)

#endif /* LOOM_BASE_CHECK_H */
