/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: forward declarations of the types QEMU code names everywhere,
 * so that headers can refer to them without including each other.
 */
#ifndef LOOM_QEMU_TYPEDEFS_H
#define LOOM_QEMU_TYPEDEFS_H

typedef struct AioContext AioContext;
typedef struct BlockAIOCB BlockAIOCB;
typedef struct BlockDriverState BlockDriverState;
typedef struct Coroutine Coroutine;
typedef struct CoMutex CoMutex;
typedef struct Error Error;
typedef struct EventNotifier EventNotifier;
typedef struct IOThread IOThread;
typedef struct QEMUBH QEMUBH;
typedef struct QemuLockable QemuLockable;
typedef struct QEMUTimer QEMUTimer;
typedef struct QEMUTimerListGroup QEMUTimerListGroup;

/* An fd handler callback (QEMU's IOHandler). */
typedef void IOHandler(void *opaque);

#endif /* LOOM_QEMU_TYPEDEFS_H */
