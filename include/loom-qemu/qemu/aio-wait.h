/* SPDX-License-Identifier: MIT */
/* loom-qemu: <qemu/aio-wait.h>, the same API as <block/aio-wait.h>. */
#ifndef LOOM_QEMU_QEMU_AIO_WAIT_H
#define LOOM_QEMU_QEMU_AIO_WAIT_H

#include "block/aio-wait.h"

#endif /* LOOM_QEMU_QEMU_AIO_WAIT_H */
