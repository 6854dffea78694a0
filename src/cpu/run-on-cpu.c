/* SPDX-License-Identifier: MIT */
/*
 * Work on a vCPU: the per-vCPU queue (a list under cpu->lock), the
 * synchronous loom_run_on_cpu() and the asynchronous forms.  Any thread
 * queues; only the thread serving the vCPU drains, outside exec.  A
 * synchronous caller's item lives on its stack and is completed under a
 * process-wide lock + condition (never freed memory of the vCPU, which may
 * be reclaimed once the item ran), so the waiter can return as soon as it
 * sees ->done.
 */
#include <loom/cpu.h>

#include <errno.h>
#include <stdlib.h>

#include <loom/main.h>

#include "base/atomic.h"
#include "base/check.h"
#include "cpu/cpu-int.h"

/* Completion of synchronous items: ->done is written under this lock. */
struct loom_mutex loom__cpu_done_lock = LOOM_MUTEX_INITIALIZER;
struct loom_cond loom__cpu_done_cond = LOOM_COND_INITIALIZER;

int loom__cpu_queue_work(struct loom_cpu *cpu, struct loom__cpu_work *w)
{
    bool was_empty;

    loom_mutex_lock(&cpu->lock);
    /* CPU_DEAD is set under cpu->lock: accepted items are always run. */
    if (loom__atomic_read(&cpu->state) != CPU_RUNNING) {
        loom_mutex_unlock(&cpu->lock);
        return -ESRCH;
    }
    was_empty = loom__list_empty(&cpu->work);
    loom__list_add_tail(&cpu->work, &w->link);
    loom__atomic_store_seq(&cpu->queue_len, loom__atomic_read(&cpu->queue_len)
                                               + 1);
    loom_mutex_unlock(&cpu->lock);

    /*
     * One kick per empty -> non-empty transition is enough: the thread
     * takes the whole queue at once under cpu->lock, so an item that found
     * the queue non-empty will be taken together with the one whose
     * enqueuer kicks (after its own insertion, hence after ours too, or
     * the queue would have been empty for us).
     */
    if (was_empty) {
        loom__cpu_kick(cpu);
    }
    return 0;
}

void loom__cpu_process_work(struct loom_cpu *cpu)
{
    struct loom__list local;

    if (loom__atomic_load_seq(&cpu->queue_len) == 0) {
        return;
    }
    loom__list_init(&local);
    loom_mutex_lock(&cpu->lock);
    loom__list_splice_tail(&local, &cpu->work);
    loom__atomic_store_seq(&cpu->queue_len, 0);
    loom_mutex_unlock(&cpu->lock);

    while (!loom__list_empty(&local)) {
        struct loom__cpu_work *w =
            loom__list_first(&local, struct loom__cpu_work, link);

        loom__list_del(&w->link);
        if (w->safe) {
            /* cpu is outside exec here, so it is not waited for. */
            loom_start_exclusive();
            w->fn(cpu, w->data);
            loom_end_exclusive();
            loom__atomic_add_relaxed(&cpu->stats.safe_work_items, 1);
        } else {
            w->fn(cpu, w->data);
        }
        loom__atomic_add_relaxed(&cpu->stats.work_items, 1);
        if (w->sync) {
            /* Pairs with the wait loop in loom_run_on_cpu(). */
            loom_mutex_lock(&loom__cpu_done_lock);
            w->done = true;
            loom_cond_broadcast(&loom__cpu_done_cond);
            loom_mutex_unlock(&loom__cpu_done_lock);
        } else {
            free(w);
        }
    }
}

int loom_run_on_cpu(struct loom_cpu *cpu, loom_cpu_fn *fn, void *data)
{
    struct loom__cpu_work w = { .fn = fn, .data = data, .sync = true };
    bool bql;
    int ret;

    LOOM_CHECK(cpu != NULL && fn != NULL, -EINVAL);
    if (loom__cpu_is_self(cpu)) {
        fn(cpu, data);
        loom__atomic_add_relaxed(&cpu->stats.work_items, 1);
        return 0;
    }
    if (loom__in_exclusive()) {
        loom__panic("loom_run_on_cpu: waiting for vcpu %d inside an "
                   "exclusive section would deadlock", cpu->index);
    }
    loom__list_init(&w.link);
    ret = loom__cpu_queue_work(cpu, &w);
    if (ret < 0) {
        return ret;
    }

    /* vCPUs may need the BQL to get to their queue: never wait with it. */
    bql = loom_bql_locked();
    if (bql) {
        loom_bql_unlock();
    }
    loom_mutex_lock(&loom__cpu_done_lock);
    while (!w.done) {
        loom_cond_wait(&loom__cpu_done_cond, &loom__cpu_done_lock);
    }
    loom_mutex_unlock(&loom__cpu_done_lock);
    if (bql) {
        loom_bql_lock();
    }
    return 0;
}

static int queue_async(struct loom_cpu *cpu, loom_cpu_fn *fn, void *data,
                       bool safe)
{
    struct loom__cpu_work *w;
    int ret;

    LOOM_CHECK(cpu != NULL && fn != NULL, -EINVAL);
    if (loom__atomic_read(&cpu->state) != CPU_RUNNING) {
        return -ESRCH; /* cheap early answer; rechecked under the lock */
    }
    w = calloc(1, sizeof(*w));
    if (!w) {
        return -ENOMEM;
    }
    w->fn = fn;
    w->data = data;
    w->safe = safe;
    loom__list_init(&w->link);
    ret = loom__cpu_queue_work(cpu, w);
    if (ret < 0) {
        free(w);
    }
    return ret;
}

int loom_async_run_on_cpu(struct loom_cpu *cpu, loom_cpu_fn *fn, void *data)
{
    return queue_async(cpu, fn, data, false);
}

int loom_async_safe_run_on_cpu(struct loom_cpu *cpu, loom_cpu_fn *fn,
                               void *data)
{
    return queue_async(cpu, fn, data, true);
}
