/* SPDX-License-Identifier: MIT */
/*
 * Between the SDK's own files.
 */
#ifndef SDK_SDK_INT_H
#define SDK_SDK_INT_H

#include "sdk/sdk.h"

/* serial.c: COM1. */
void sdk__serial_init(void);
void sdk__serial_putc(char c);

/* printf.c: the console lock; the emergency path takes it or, after a
 * bounded wait, goes ahead without it (panic and trap reports). */
void sdk__console_lock(bool emergency);
void sdk__console_unlock(void);
int sdk__vprintf_locked(const char *fmt, va_list ap);

#endif /* SDK_SDK_INT_H */
