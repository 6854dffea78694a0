/* SPDX-License-Identifier: MIT */
/*
 * RCU unit tests: nesting, registration, grace periods against readers in
 * other threads, call_rcu and drain, publication helpers, fork, and the
 * contract violations that must panic.
 */
#include <loom/rcu.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "rcu/rcu-int.h"

/* A cross-thread flag, with acquire/release so plain data follows it. */
static void flag_set(unsigned int *f, unsigned int v)
{
    __atomic_store_n(f, v, __ATOMIC_RELEASE);
}

static unsigned int flag_get(unsigned int *f)
{
    return __atomic_load_n(f, __ATOMIC_ACQUIRE);
}

static void flag_wait(unsigned int *f, unsigned int v)
{
    while (flag_get(f) != v) {
        sched_yield();
    }
}

/*
 * Spin until a synchronize waiting for the calling reader has asked it for
 * a wake-up: proof that a grace period is blocked on this thread.
 */
static void wait_until_writer_waits(void)
{
    while (!__atomic_load_n(&loom__rcu_reader.waiting, __ATOMIC_ACQUIRE)) {
        sched_yield();
    }
}

static void test_nesting(void)
{
    g_assert_false(loom_rcu_read_locked());
    loom_rcu_read_lock();
    g_assert_true(loom_rcu_read_locked());
    g_assert_cmpuint(loom__rcu_reader.registered, ==, 1);
    g_assert_cmpuint(loom__rcu_reader.ctr, !=, 0);
    loom_rcu_read_lock();
    loom_rcu_read_lock();
    g_assert_cmpuint(loom__rcu_reader.ctr & LOOM__RCU_NEST_MASK, ==, 3);
    loom_rcu_read_unlock();
    loom_rcu_read_unlock();
    /* Still inside the outermost section. */
    g_assert_true(loom_rcu_read_locked());
    g_assert_cmpuint(loom__rcu_reader.ctr, !=, 0);
    loom_rcu_read_unlock();
    g_assert_false(loom_rcu_read_locked());
    g_assert_cmpuint(loom__rcu_reader.ctr, ==, 0);
    /* Our own finished sections never block a grace period. */
    loom_synchronize_rcu();
}

static void test_sync_no_readers(void)
{
    unsigned long before = __atomic_load_n(&loom__rcu_global.gp_ctr,
                                           __ATOMIC_RELAXED);

    for (int i = 0; i < 100; i++) {
        loom_synchronize_rcu();
    }
    /* The counter always carries nesting 1 for readers to copy. */
    g_assert_cmpuint(loom__rcu_global.gp_ctr & LOOM__RCU_NEST_MASK, ==, 1);
    g_assert_cmpuint(loom__rcu_global.gp_ctr, >=, before);
}

static void *sync_thread(void *arg)
{
    (void)arg;
    loom_synchronize_rcu();
    return NULL;
}

static void test_sync_from_unregistered_thread(void)
{
    pthread_t t;

    g_assert_cmpint(pthread_create(&t, NULL, sync_thread, NULL), ==, 0);
    g_assert_cmpint(pthread_join(t, NULL), ==, 0);
}

struct old_reader {
    unsigned int in;        /* reader: section entered */
    unsigned int released;  /* reader: about to unlock */
    unsigned int sync_done; /* main: synchronize returned */
};

static void *old_reader_thread(void *arg)
{
    struct old_reader *s = arg;

    loom_rcu_read_lock();
    loom_rcu_read_lock();
    flag_set(&s->in, 1);
    wait_until_writer_waits();
    /* The writer is blocked on us: it must not have returned. */
    g_assert_cmpuint(flag_get(&s->sync_done), ==, 0);
    loom_rcu_read_unlock();
    /* Inner unlock: still a reader, the writer still waits. */
    g_assert_cmpuint(flag_get(&s->sync_done), ==, 0);
    flag_set(&s->released, 1);
    loom_rcu_read_unlock();
    return NULL;
}

static void test_sync_waits_for_reader(void)
{
    struct old_reader s = { 0 };
    pthread_t t;

    /* No grace period of the call_rcu thread may set ->waiting for us. */
    loom_drain_call_rcu();
    g_assert_cmpint(pthread_create(&t, NULL, old_reader_thread, &s), ==, 0);
    flag_wait(&s.in, 1);
    loom_synchronize_rcu();
    g_assert_cmpuint(flag_get(&s.released), ==, 1);
    flag_set(&s.sync_done, 1);
    g_assert_cmpint(pthread_join(t, NULL), ==, 0);
}

struct new_reader {
    unsigned int old_in;   /* A: section entered before the writer */
    unsigned int old_go;   /* main: A may leave */
    unsigned int new_in;   /* B: section entered while the writer waits */
    unsigned int new_go;   /* main: B may leave */
    unsigned int sync_done;
};

static void *new_reader_old_thread(void *arg)
{
    struct new_reader *s = arg;

    loom_rcu_read_lock();
    flag_set(&s->old_in, 1);
    wait_until_writer_waits();
    /* Now the writer has flipped and is blocked on us: start B. */
    flag_set(&s->old_go, 1);
    flag_wait(&s->new_in, 1);
    loom_rcu_read_unlock();
    return NULL;
}

static void *new_reader_new_thread(void *arg)
{
    struct new_reader *s = arg;

    flag_wait(&s->old_go, 1);
    loom_rcu_read_lock();
    flag_set(&s->new_in, 1);
    /* The writer returns although we stay inside our section. */
    flag_wait(&s->sync_done, 1);
    loom_rcu_read_unlock();
    return NULL;
}

static void *new_reader_sync_thread(void *arg)
{
    struct new_reader *s = arg;

    flag_wait(&s->old_in, 1);
    loom_synchronize_rcu();
    flag_set(&s->sync_done, 1);
    return NULL;
}

static void test_sync_ignores_new_reader(void)
{
    struct new_reader s = { 0 };
    pthread_t a, b, w;

    /* Only W may set A's ->waiting: nothing else waits for a grace period. */
    loom_drain_call_rcu();

    g_assert_cmpint(pthread_create(&a, NULL, new_reader_old_thread, &s), ==,
                    0);
    g_assert_cmpint(pthread_create(&b, NULL, new_reader_new_thread, &s), ==,
                    0);
    g_assert_cmpint(pthread_create(&w, NULL, new_reader_sync_thread, &s), ==,
                    0);
    g_assert_cmpint(pthread_join(w, NULL), ==, 0);
    g_assert_cmpint(pthread_join(a, NULL), ==, 0);
    g_assert_cmpint(pthread_join(b, NULL), ==, 0);
}

static void *lazy_thread(void *arg)
{
    unsigned int *registered = arg;

    g_assert_cmpuint(loom__rcu_reader.registered, ==, 0);
    loom_rcu_read_lock();
    *registered = loom__rcu_reader.registered;
    loom_rcu_read_unlock();
    /* Exits without unregistering: the key destructor does it. */
    return NULL;
}

static void test_lazy_registration(void)
{
    for (int i = 0; i < 20; i++) {
        unsigned int registered = 0;
        pthread_t t;

        g_assert_cmpint(pthread_create(&t, NULL, lazy_thread, &registered),
                        ==, 0);
        g_assert_cmpint(pthread_join(t, NULL), ==, 0);
        g_assert_cmpuint(registered, ==, 1);
        /* Would touch the exited thread's storage if it stayed listed. */
        loom_synchronize_rcu();
    }
}

static void *explicit_thread(void *arg)
{
    (void)arg;
    loom_rcu_register_thread();
    loom_rcu_register_thread();
    g_assert_cmpuint(loom__rcu_reader.registered, ==, 1);
    loom_rcu_read_lock();
    loom_rcu_read_unlock();
    loom_rcu_unregister_thread();
    g_assert_cmpuint(loom__rcu_reader.registered, ==, 0);
    loom_rcu_unregister_thread();
    /* Reading again registers again; the exit hook cleans up. */
    loom_rcu_read_lock();
    g_assert_cmpuint(loom__rcu_reader.registered, ==, 1);
    loom_rcu_read_unlock();
    return NULL;
}

/*
 * A thread never registered, and one that unregistered, is outside any
 * section (its counter holds LOOM__RCU_UNREG, which the fast paths treat
 * as "take the slow path").
 */
static void *unregistered_state_thread(void *arg)
{
    (void)arg;
    g_assert_cmpuint(loom__rcu_reader.registered, ==, 0);
    g_assert_false(loom_rcu_read_locked());
    loom_rcu_read_lock();
    g_assert_true(loom_rcu_read_locked());
    g_assert_cmpuint(loom__rcu_reader.registered, ==, 1);
    g_assert_cmpuint(loom__rcu_reader.ctr & LOOM__RCU_NEST_MASK, ==, 1);
    loom_rcu_read_unlock();
    g_assert_false(loom_rcu_read_locked());
    loom_rcu_unregister_thread();
    g_assert_false(loom_rcu_read_locked());
    /* The lazy path again, then nesting on top of it. */
    loom_rcu_read_lock();
    loom_rcu_read_lock();
    g_assert_cmpuint(loom__rcu_reader.ctr & LOOM__RCU_NEST_MASK, ==, 2);
    loom_rcu_read_unlock();
    g_assert_true(loom_rcu_read_locked());
    loom_rcu_read_unlock();
    g_assert_false(loom_rcu_read_locked());
    loom_rcu_unregister_thread();
    return NULL;
}

static void test_unregistered_state(void)
{
    pthread_t t;

    g_assert_cmpint(pthread_create(&t, NULL, unregistered_state_thread,
                                   NULL), ==, 0);
    g_assert_cmpint(pthread_join(t, NULL), ==, 0);
    loom_synchronize_rcu();
}

/*
 * The deepest nesting allowed, whose unlocks leave through the slow path,
 * comes back out balanced; a grace period still waits for that reader.
 */
static void *deepest_thread(void *arg)
{
    unsigned int *f = arg;

    for (unsigned long i = 0; i < LOOM__RCU_NEST_MASK; i++) {
        loom_rcu_read_lock();
    }
    g_assert_cmpuint(loom__rcu_reader.ctr & LOOM__RCU_NEST_MASK, ==,
                     LOOM__RCU_NEST_MASK);
    g_assert_true(loom_rcu_read_locked());
    flag_set(f, 1);
    wait_until_writer_waits();
    for (unsigned long i = 0; i < LOOM__RCU_NEST_MASK - 1; i++) {
        loom_rcu_read_unlock();
        g_assert_true(loom_rcu_read_locked());
    }
    g_assert_cmpuint(flag_get(f), ==, 1);
    loom_rcu_read_unlock();
    g_assert_false(loom_rcu_read_locked());
    g_assert_cmpuint(loom__rcu_reader.ctr, ==, 0);
    return NULL;
}

static void test_deepest_nesting(void)
{
    unsigned int f = 0;
    pthread_t t;

    g_assert_cmpint(pthread_create(&t, NULL, deepest_thread, &f), ==, 0);
    flag_wait(&f, 1);
    loom_synchronize_rcu();
    flag_set(&f, 2);
    g_assert_cmpint(pthread_join(t, NULL), ==, 0);
}

static void test_register_idempotent(void)
{
    pthread_t t;

    g_assert_cmpint(pthread_create(&t, NULL, explicit_thread, NULL), ==, 0);
    g_assert_cmpint(pthread_join(t, NULL), ==, 0);
    loom_synchronize_rcu();
}

struct pub {
    int a, b;
};

static struct pub *g_pub;

static void test_publish(void)
{
    struct pub *p = malloc(sizeof(*p)), *q = malloc(sizeof(*q)), *r;

    loom_rcu_init_pointer(g_pub, NULL);
    g_assert_null(loom_rcu_access_pointer(g_pub));
    p->a = 1;
    p->b = 2;
    loom_rcu_assign_pointer(g_pub, p);
    loom_rcu_read_lock();
    r = loom_rcu_dereference(g_pub);
    g_assert_true(r == p);
    g_assert_cmpint(r->a + r->b, ==, 3);
    loom_rcu_read_unlock();
    q->a = 3;
    q->b = 4;
    loom_rcu_assign_pointer(g_pub, q);
    g_assert_true(loom_rcu_access_pointer(g_pub) == q);
    loom_synchronize_rcu();
    free(p);
    loom_rcu_read_lock();
    g_assert_cmpint(loom_rcu_dereference(g_pub)->b, ==, 4);
    loom_rcu_read_unlock();
    loom_rcu_assign_pointer(g_pub, NULL);
    loom_synchronize_rcu();
    free(q);
}

#define NCB 1000

struct cb_obj {
    struct loom_rcu_head rh;
    unsigned int runs;
    unsigned int *blocker; /* non-NULL: must be 1 when the callback runs */
};

static unsigned int g_cb_runs;
static unsigned int g_cb_bad_thread;

static void cb_count(struct loom_rcu_head *rh)
{
    struct cb_obj *o = (struct cb_obj *)((char *)rh -
                                         offsetof(struct cb_obj, rh));
    char name[32] = "";

    pthread_getname_np(pthread_self(), name, sizeof(name));
    if (strcmp(name, "loom-call-rcu") != 0 || loom_rcu_read_locked()) {
        __atomic_fetch_add(&g_cb_bad_thread, 1, __ATOMIC_RELAXED);
    }
    if (o->blocker) {
        g_assert_cmpuint(flag_get(o->blocker), ==, 1);
    }
    __atomic_fetch_add(&o->runs, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&g_cb_runs, 1, __ATOMIC_RELAXED);
}

static void test_call_rcu_once(void)
{
    struct cb_obj *objs = calloc(NCB, sizeof(*objs));

    __atomic_store_n(&g_cb_runs, 0, __ATOMIC_RELAXED);
    for (int i = 0; i < NCB; i++) {
        loom_call_rcu(&objs[i].rh, cb_count);
    }
    /* NULL arguments are ignored. */
    loom_call_rcu(NULL, cb_count);
    loom_call_rcu(&objs[0].rh, NULL);
    loom_drain_call_rcu();
    g_assert_cmpuint(__atomic_load_n(&g_cb_runs, __ATOMIC_RELAXED), ==, NCB);
    for (int i = 0; i < NCB; i++) {
        g_assert_cmpuint(__atomic_load_n(&objs[i].runs, __ATOMIC_RELAXED),
                         ==, 1);
    }
    g_assert_cmpuint(__atomic_load_n(&g_cb_bad_thread, __ATOMIC_RELAXED), ==,
                     0);
    /* Draining again with nothing queued returns at once. */
    loom_drain_call_rcu();
    g_assert_cmpuint(__atomic_load_n(&g_cb_runs, __ATOMIC_RELAXED), ==, NCB);
    free(objs);
}

struct gp_reader {
    unsigned int in;
    unsigned int released;
};

static void *gp_reader_thread(void *arg)
{
    struct gp_reader *s = arg;

    loom_rcu_read_lock();
    flag_set(&s->in, 1);
    /* The call_rcu thread's grace period is blocked on us. */
    wait_until_writer_waits();
    flag_set(&s->released, 1);
    loom_rcu_read_unlock();
    return NULL;
}

static void test_call_rcu_after_grace_period(void)
{
    struct gp_reader s = { 0 };
    struct cb_obj o = { .blocker = &s.released };
    pthread_t t;

    g_assert_cmpint(pthread_create(&t, NULL, gp_reader_thread, &s), ==, 0);
    flag_wait(&s.in, 1);
    loom_call_rcu(&o.rh, cb_count);
    /* cb_count asserts the reader had left before it ran. */
    loom_drain_call_rcu();
    g_assert_cmpuint(o.runs, ==, 1);
    g_assert_cmpint(pthread_join(t, NULL), ==, 0);
}

struct chain {
    struct loom_rcu_head rh;
    unsigned int left;
    unsigned int runs;
};

static void cb_chain(struct loom_rcu_head *rh)
{
    struct chain *c = (struct chain *)rh;

    c->runs++;
    if (--c->left > 0) {
        loom_call_rcu(&c->rh, cb_chain);
    }
}

static void test_call_rcu_from_callback(void)
{
    struct chain c = { .left = 3 };

    loom_call_rcu(&c.rh, cb_chain);
    /* Each drain covers what was queued before it: one link at a time. */
    loom_drain_call_rcu();
    loom_drain_call_rcu();
    loom_drain_call_rcu();
    g_assert_cmpuint(c.runs, ==, 3);
    g_assert_cmpuint(c.left, ==, 0);
}

#define DRAIN_THREADS 4
#define DRAIN_PER_THREAD 200

static void *drain_thread(void *arg)
{
    struct cb_obj *objs = arg;

    for (int i = 0; i < DRAIN_PER_THREAD; i++) {
        loom_call_rcu(&objs[i].rh, cb_count);
        if (i % 50 == 0) {
            loom_drain_call_rcu();
            for (int j = 0; j <= i; j++) {
                g_assert_cmpuint(__atomic_load_n(&objs[j].runs,
                                                 __ATOMIC_RELAXED), ==, 1);
            }
        }
    }
    loom_drain_call_rcu();
    return NULL;
}

static void test_drain_concurrent(void)
{
    struct cb_obj *objs = calloc(DRAIN_THREADS * DRAIN_PER_THREAD,
                                 sizeof(*objs));
    pthread_t t[DRAIN_THREADS];

    for (int i = 0; i < DRAIN_THREADS; i++) {
        g_assert_cmpint(pthread_create(&t[i], NULL, drain_thread,
                                       objs + i * DRAIN_PER_THREAD), ==, 0);
    }
    for (int i = 0; i < DRAIN_THREADS; i++) {
        g_assert_cmpint(pthread_join(t[i], NULL), ==, 0);
    }
    for (int i = 0; i < DRAIN_THREADS * DRAIN_PER_THREAD; i++) {
        g_assert_cmpuint(objs[i].runs, ==, 1);
    }
    free(objs);
}

struct fork_reader {
    unsigned int in;
    unsigned int go;
};

static void *fork_reader_thread(void *arg)
{
    struct fork_reader *s = arg;

    loom_rcu_read_lock();
    flag_set(&s->in, 1);
    flag_wait(&s->go, 1);
    loom_rcu_read_unlock();
    return NULL;
}

/* True (and the test skipped) where a test cannot fork with threads. */
static bool fork_unsupported(void)
{
#ifdef LOOM__RCU_TSAN
    /* ThreadSanitizer cannot start threads after a multi-threaded fork. */
    g_test_skip("fork with threads is not supported under TSan");
    return true;
#else
    return false;
#endif
}

/*
 * Fork; the child exits with @child(@arg)'s verdict.  Asserts that it
 * passed within 10 s (a hung child is killed and fails the test).
 */
static void assert_child_passes(bool (*child)(void *), void *arg)
{
    int status;
    pid_t pid = fork();

    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        _exit(child(arg) ? 0 : 1);
    }
    status = harness_wait_child(pid, 10LL * 1000 * 1000 * 1000, NULL, NULL);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);
}

/* The parent's reader thread does not exist in the child: nothing waits. */
static bool fork_child_sync_and_call(void *arg)
{
    struct cb_obj o = { 0 };

    (void)arg;
    loom_synchronize_rcu();
    loom_call_rcu(&o.rh, cb_count);
    loom_drain_call_rcu();
    return o.runs == 1;
}

static void test_fork(void)
{
    struct fork_reader s = { 0 };
    pthread_t t;

    if (fork_unsupported()) {
        return;
    }
    /* Make sure the call_rcu thread exists in the parent. */
    loom_drain_call_rcu();
    g_assert_cmpint(pthread_create(&t, NULL, fork_reader_thread, &s), ==, 0);
    flag_wait(&s.in, 1);
    assert_child_passes(fork_child_sync_and_call, NULL);
    flag_set(&s.go, 1);
    g_assert_cmpint(pthread_join(t, NULL), ==, 0);
}

/* @arg: the callback whose call the parent had not finished at fork(). */
static bool fork_child_call_past_unlinked(void *arg)
{
    struct cb_obj *unlinked = arg;
    struct cb_obj o = { 0 };

    loom_call_rcu(&o.rh, cb_count);
    loom_drain_call_rcu();
    return o.runs == 1 && unlinked->runs == 0;
}

/*
 * fork() while another thread has swapped the queue's tail but not yet
 * linked its callback: that thread does not exist in the child, so the
 * child's drain must not wait for the link.  Run in a fresh subprocess,
 * where no call_rcu thread exists yet to wait for the link first.
 */
static void test_fork_unlinked(void)
{
    if (g_test_subprocess()) {
        struct cb_obj a = { 0 };
        struct loom_rcu_head **link;

        link = loom__call_rcu_test_unlinked(&a.rh, cb_count);
        assert_child_passes(fork_child_call_past_unlinked, &a);
        /* The parent's producer finishes its call: it runs here. */
        __atomic_store_n(link, &a.rh, __ATOMIC_RELEASE);
        loom_drain_call_rcu();
        g_assert_cmpuint(a.runs, ==, 1);
        return;
    }
    if (fork_unsupported()) {
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_passed();
}

/* Contract violations: each runs in a subprocess that must panic. */
static void test_panic_sync_in_section(void)
{
    if (g_test_subprocess()) {
        loom_rcu_read_lock();
        loom_synchronize_rcu();
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*loom: panic: *loom_synchronize_rcu() called "
                              "inside an RCU read-side section*");
}

static void test_panic_drain_in_section(void)
{
    if (g_test_subprocess()) {
        loom_rcu_read_lock();
        loom_drain_call_rcu();
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*loom: panic: *loom_drain_call_rcu() called "
                              "inside an RCU read-side section*");
}

static void cb_drain(struct loom_rcu_head *rh)
{
    (void)rh;
    loom_drain_call_rcu();
}

static void test_panic_drain_in_callback(void)
{
    if (g_test_subprocess()) {
        static struct loom_rcu_head rh;

        loom_call_rcu(&rh, cb_drain);
        loom_drain_call_rcu();
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*loom: panic: *loom_drain_call_rcu() called "
                              "from a call_rcu callback*");
}

static void test_panic_unbalanced(void)
{
    if (g_test_subprocess()) {
        loom_rcu_read_unlock();
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*loom: panic: *loom_rcu_read_unlock() without "
                              "a matching loom_rcu_read_lock()*");
}

/* @arg non-NULL: register, then unregister first. */
static void *unbalanced_thread(void *arg)
{
    if (arg) {
        loom_rcu_read_lock();
        loom_rcu_read_unlock();
        loom_rcu_unregister_thread();
    }
    loom_rcu_read_unlock();
    return NULL;
}

/*
 * In a subprocess, an unlock without a lock in a new thread (@arg: see
 * unbalanced_thread()) panics.
 */
static void check_unbalanced_thread_panics(void *arg)
{
    pthread_t t;

    if (g_test_subprocess()) {
        g_assert_cmpint(pthread_create(&t, NULL, unbalanced_thread, arg),
                        ==, 0);
        g_assert_cmpint(pthread_join(t, NULL), ==, 0);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*loom: panic: *loom_rcu_read_unlock() without "
                              "a matching loom_rcu_read_lock()*");
}

/* An unlock in a thread that never registered. */
static void test_panic_unbalanced_never_registered(void)
{
    check_unbalanced_thread_panics(NULL);
}

/* An unlock in a thread that unregistered. */
static void test_panic_unbalanced_unregistered(void)
{
    static int unregister_first = 1;

    check_unbalanced_thread_panics(&unregister_first);
}

static void test_panic_unregister_in_section(void)
{
    if (g_test_subprocess()) {
        loom_rcu_read_lock();
        loom_rcu_unregister_thread();
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*loom: panic: *loom_rcu_unregister_thread() "
                              "called inside an RCU read-side section*");
}

static void test_panic_too_deep(void)
{
    if (g_test_subprocess()) {
        for (unsigned long i = 0; i <= LOOM__RCU_NEST_MASK; i++) {
            loom_rcu_read_lock();
        }
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*loom: panic: *loom_rcu_read_lock() nested "
                              "more than 65535 deep*");
}

static void *exit_in_section_thread(void *arg)
{
    (void)arg;
    loom_rcu_read_lock();
    return NULL;
}

static void test_panic_exit_in_section(void)
{
    if (g_test_subprocess()) {
        pthread_t t;

        pthread_create(&t, NULL, exit_in_section_thread, NULL);
        pthread_join(t, NULL);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*loom: panic: *thread exiting inside an RCU "
                              "read-side section*");
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/rcu/nesting", test_nesting);
    g_test_add_func("/rcu/sync/no-readers", test_sync_no_readers);
    g_test_add_func("/rcu/sync/unregistered-caller",
                    test_sync_from_unregistered_thread);
    g_test_add_func("/rcu/sync/waits-for-old-reader",
                    test_sync_waits_for_reader);
    g_test_add_func("/rcu/sync/ignores-new-reader",
                    test_sync_ignores_new_reader);
    g_test_add_func("/rcu/register/lazy", test_lazy_registration);
    g_test_add_func("/rcu/register/idempotent", test_register_idempotent);
    g_test_add_func("/rcu/register/unregistered-state",
                    test_unregistered_state);
    g_test_add_func("/rcu/nesting/deepest", test_deepest_nesting);
    g_test_add_func("/rcu/publish", test_publish);
    g_test_add_func("/rcu/call/once", test_call_rcu_once);
    g_test_add_func("/rcu/call/after-grace-period",
                    test_call_rcu_after_grace_period);
    g_test_add_func("/rcu/call/from-callback", test_call_rcu_from_callback);
    g_test_add_func("/rcu/call/drain-concurrent", test_drain_concurrent);
    g_test_add_func("/rcu/fork", test_fork);
    g_test_add_func("/rcu/fork/unlinked", test_fork_unlinked);
    g_test_add_func("/rcu/panic/sync-in-section", test_panic_sync_in_section);
    g_test_add_func("/rcu/panic/drain-in-section",
                    test_panic_drain_in_section);
    g_test_add_func("/rcu/panic/drain-in-callback",
                    test_panic_drain_in_callback);
    g_test_add_func("/rcu/panic/unbalanced-unlock", test_panic_unbalanced);
    g_test_add_func("/rcu/panic/unbalanced-never-registered",
                    test_panic_unbalanced_never_registered);
    g_test_add_func("/rcu/panic/unbalanced-unregistered",
                    test_panic_unbalanced_unregistered);
    g_test_add_func("/rcu/panic/unregister-in-section",
                    test_panic_unregister_in_section);
    g_test_add_func("/rcu/panic/too-deep", test_panic_too_deep);
    g_test_add_func("/rcu/panic/exit-in-section",
                    test_panic_exit_in_section);
    return g_test_run();
}
