/* SPDX-License-Identifier: MIT */
/*
 * Test helper: a minimal IOThread written against the QEMU API (a thread
 * that creates an AioContext, makes it its current context and polls it
 * until asked to stop).
 */
#ifndef LOOM_QEMU_TEST_IOTHREAD_H
#define LOOM_QEMU_TEST_IOTHREAD_H

#include "block/aio.h"

IOThread *iothread_new(void);
void iothread_join(IOThread *iothread);
AioContext *iothread_get_aio_context(IOThread *iothread);

#endif /* LOOM_QEMU_TEST_IOTHREAD_H */
