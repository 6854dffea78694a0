/* SPDX-License-Identifier: MIT */
/*
 * Mutexes, recursive mutexes and condition variables: thin wrappers over
 * pthreads that turn every unexpected error into a panic naming the object
 * and translate the expected ones (EBUSY, ETIMEDOUT) to -errno.  Condition
 * waits use CLOCK_MONOTONIC through pthread_cond_clockwait(), so no
 * condattr is needed and static initialisers work.  Any thread.
 */
#include <loom/sync.h>

#include <errno.h>
#include <time.h>

#include "base/check.h"
#include "base/timeout.h"

static void check(int err, const char *what, const void *obj)
{
    if (LOOM_UNLIKELY(err != 0)) {
        loom__panic("%s %p failed: %s", what, obj, loom_strerror(err));
    }
}

void loom_mutex_init(struct loom_mutex *m)
{
    check(pthread_mutex_init(&m->m, NULL), "mutex init", m);
}

void loom_mutex_destroy(struct loom_mutex *m)
{
    int err = pthread_mutex_destroy(&m->m);

    if (err == EBUSY) {
        loom__panic("mutex %p destroyed while locked", (void *)m);
    }
    check(err, "mutex destroy", m);
}

void loom_mutex_lock(struct loom_mutex *m)
{
    check(pthread_mutex_lock(&m->m), "mutex lock", m);
}

int loom_mutex_trylock(struct loom_mutex *m)
{
    int err = pthread_mutex_trylock(&m->m);

    if (err == EBUSY) {
        return -EBUSY;
    }
    check(err, "mutex trylock", m);
    return 0;
}

void loom_mutex_unlock(struct loom_mutex *m)
{
    check(pthread_mutex_unlock(&m->m), "mutex unlock", m);
}

void loom_rec_mutex_init(struct loom_rec_mutex *m)
{
    pthread_mutexattr_t attr;

    check(pthread_mutexattr_init(&attr), "rec mutex attr init", m);
    check(pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE),
          "rec mutex settype", m);
    check(pthread_mutex_init(&m->m, &attr), "rec mutex init", m);
    pthread_mutexattr_destroy(&attr);
}

void loom_rec_mutex_destroy(struct loom_rec_mutex *m)
{
    int err = pthread_mutex_destroy(&m->m);

    if (err == EBUSY) {
        loom__panic("recursive mutex %p destroyed while locked", (void *)m);
    }
    check(err, "rec mutex destroy", m);
}

void loom_rec_mutex_lock(struct loom_rec_mutex *m)
{
    check(pthread_mutex_lock(&m->m), "rec mutex lock", m);
}

int loom_rec_mutex_trylock(struct loom_rec_mutex *m)
{
    int err = pthread_mutex_trylock(&m->m);

    if (err == EBUSY) {
        return -EBUSY;
    }
    check(err, "rec mutex trylock", m);
    return 0;
}

void loom_rec_mutex_unlock(struct loom_rec_mutex *m)
{
    int err = pthread_mutex_unlock(&m->m);

    if (err == EPERM) {
        loom__panic("recursive mutex %p unlocked by a thread not holding it",
                   (void *)m);
    }
    check(err, "rec mutex unlock", m);
}

void loom_cond_init(struct loom_cond *c)
{
    check(pthread_cond_init(&c->c, NULL), "cond init", c);
}

void loom_cond_destroy(struct loom_cond *c)
{
    check(pthread_cond_destroy(&c->c), "cond destroy", c);
}

void loom_cond_signal(struct loom_cond *c)
{
    check(pthread_cond_signal(&c->c), "cond signal", c);
}

void loom_cond_broadcast(struct loom_cond *c)
{
    check(pthread_cond_broadcast(&c->c), "cond broadcast", c);
}

void loom_cond_wait(struct loom_cond *c, struct loom_mutex *m)
{
    check(pthread_cond_wait(&c->c, &m->m), "cond wait", c);
}

int loom_cond_timedwait(struct loom_cond *c, struct loom_mutex *m,
                        int64_t timeout_ns)
{
    struct timespec deadline;
    int err;

    loom__deadline(&deadline, timeout_ns);
    err = pthread_cond_clockwait(&c->c, &m->m, CLOCK_MONOTONIC, &deadline);
    if (err == ETIMEDOUT) {
        return -ETIMEDOUT;
    }
    check(err, "cond timedwait", c);
    return 0;
}
