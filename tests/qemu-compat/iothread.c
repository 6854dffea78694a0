/* SPDX-License-Identifier: MIT */
/* Test helper: see iothread.h. */
#include "qemu/osdep.h"

#include "block/aio.h"
#include "iothread.h"
#include "qapi/error.h"
#include "qemu/atomic.h"
#include "qemu/rcu.h"
#include "qemu/thread.h"

struct IOThread {
    AioContext *ctx;
    QemuThread thread;
    QemuSemaphore started;
    bool stopping;
};

static void *iothread_run(void *opaque)
{
    IOThread *iothread = opaque;

    rcu_register_thread();
    iothread->ctx = aio_context_new(&error_abort);
    qemu_set_current_aio_context(iothread->ctx);
    qemu_sem_post(&iothread->started);
    while (!qatomic_read(&iothread->stopping)) {
        aio_poll(iothread->ctx, true);
    }
    rcu_unregister_thread();
    return NULL;
}

static void iothread_stop_bh(void *opaque)
{
    IOThread *iothread = opaque;

    /* Read by the loop once this BH returns: no wake-up needed. */
    qatomic_set(&iothread->stopping, true);
}

IOThread *iothread_new(void)
{
    IOThread *iothread = g_new0(IOThread, 1);

    qemu_sem_init(&iothread->started, 0);
    qemu_thread_create(&iothread->thread, "iothread", iothread_run, iothread,
                       QEMU_THREAD_JOINABLE);
    qemu_sem_wait(&iothread->started);
    qemu_sem_destroy(&iothread->started);
    return iothread;
}

void iothread_join(IOThread *iothread)
{
    aio_bh_schedule_oneshot(iothread->ctx, iothread_stop_bh, iothread);
    qemu_thread_join(&iothread->thread);
    /* Run what the last iteration left (e.g. freed BHs), then free. */
    aio_context_unref(iothread->ctx);
    g_free(iothread);
}

AioContext *iothread_get_aio_context(IOThread *iothread)
{
    return iothread->ctx;
}
