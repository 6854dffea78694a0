/* SPDX-License-Identifier: MIT */
/* Umbrella header: every public loom module. */
#ifndef LOOM_LOOM_H
#define LOOM_LOOM_H

#include <loom/common.h>
#include <loom/sync.h>
#include <loom/thread.h>
#include <loom/clock.h>
#include <loom/rcu.h>
#include <loom/rcu-list.h>
#include <loom/loop.h>
#include <loom/bh.h>
#include <loom/timer.h>
#include <loom/notifier.h>
#include <loom/main.h>
#include <loom/co.h>
#include <loom/pool.h>
#include <loom/iothread.h>
#include <loom/cpu.h>

#endif /* LOOM_LOOM_H */
