/* SPDX-License-Identifier: MIT */
/* loom-qemu: <qemu/aio.h>, the same API as <block/aio.h>. */
#ifndef LOOM_QEMU_QEMU_AIO_H
#define LOOM_QEMU_QEMU_AIO_H

#include "block/aio.h"

#endif /* LOOM_QEMU_QEMU_AIO_H */
