/* SPDX-License-Identifier: MIT */
/*
 * loom-qemu: the part of QEMU's <block/block.h> that asynchronous
 * requests need: cancelling a BlockAIOCB (thread-pool requests here; the
 * block layer itself is not part of loom-qemu).
 */
#ifndef LOOM_QEMU_BLOCK_BLOCK_H
#define LOOM_QEMU_BLOCK_BLOCK_H

#include "block/aio.h"

/**
 * bdrv_aio_cancel_async() - ask for @acb to be cancelled; it still
 * completes (its callback runs), with -ECANCELED if it had not started.
 * Context: the home thread of the request's context.
 */
void bdrv_aio_cancel_async(BlockAIOCB *acb);

/**
 * bdrv_aio_cancel() - bdrv_aio_cancel_async(), then wait (polling as
 * AIO_WAIT_WHILE() does) until the callback has run.
 * Context: the request's context's home thread, or the main loop's.
 */
void bdrv_aio_cancel(BlockAIOCB *acb);

#endif /* LOOM_QEMU_BLOCK_BLOCK_H */
