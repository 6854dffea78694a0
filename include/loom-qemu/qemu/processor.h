/* SPDX-License-Identifier: MIT */
/* loom-qemu: cpu_relax(), the busy-wait hint (<qemu/processor.h>). */
#ifndef LOOM_QEMU_PROCESSOR_H
#define LOOM_QEMU_PROCESSOR_H

#include <loom/thread.h>

static inline void cpu_relax(void)
{
    loom__spin_relax();
}

#endif /* LOOM_QEMU_PROCESSOR_H */
