/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: loom-vm's command-line parser, vmm_config_parse().
 *
 * Input: the arguments after argv[0], one per line ('\n' ends each, the
 * last one's newline is optional; a NUL byte ends an argument early, as
 * it would in a real argv).  Each argument is its own exact-size
 * allocation and argv has no NULL terminator, so ASan catches a read past
 * either.  Checked besides memory safety: the return is 0 or -EINVAL; on
 * success no message is written, every count is within its VMM_MAX_*
 * limit and the cross-option rules of docs/design/vmm-config.md hold; on
 * failure the result is not written and the message is one non-empty
 * line; the same line parsed without a message pointer gives the same
 * result.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"

/* More arguments than any sensible command line; bounds the work. */
#define MAX_ARGS 512

static bool is_pow2(unsigned v)
{
    return v && !(v & (v - 1));
}

static bool drive_exists(const struct vmm_config *cfg, const char *id)
{
    for (unsigned i = 0; i < cfg->nr_drives; i++) {
        if (!strcmp(cfg->drives[i].id, id)) {
            return true;
        }
    }
    return false;
}

static bool iothread_exists(const struct vmm_config *cfg, const char *id)
{
    for (unsigned i = 0; i < cfg->nr_iothreads; i++) {
        if (!strcmp(cfg->iothreads[i].id, id)) {
            return true;
        }
    }
    return false;
}

static void check_blk(const struct vmm_config *cfg,
                      const struct vmm_config_blk *b)
{
    FUZZ_CHECK(b->drive && drive_exists(cfg, b->drive), "drive '%s'",
               b->drive ? b->drive : "(null)");
    FUZZ_CHECK(b->num_queues <= VMM_MAX_QUEUES, "num_queues %u", b->num_queues);
    FUZZ_CHECK(b->queue_size == 0 ||
                   (is_pow2(b->queue_size) && b->queue_size > 2 &&
                    b->queue_size <= VMM_MAX_QUEUE_SIZE),
               "queue_size %u", b->queue_size);
    FUZZ_CHECK(!b->serial || strlen(b->serial) <= 20, "serial of %zu bytes",
               strlen(b->serial));
    FUZZ_CHECK(!b->iothread || iothread_exists(cfg, b->iothread),
               "iothread '%s'", b->iothread);
    FUZZ_CHECK(b->nr_vq_maps <= VMM_MAX_IOTHREADS, "%u vq maps", b->nr_vq_maps);
    FUZZ_CHECK(!b->nr_vq_maps || !b->iothread, "iothread and a vq map");
    for (unsigned i = 0; i < b->nr_vq_maps; i++) {
        const struct vmm_config_vq_map *m = &b->vq_maps[i];
        unsigned nq = b->num_queues ? b->num_queues : 1;

        FUZZ_CHECK(m->iothread && iothread_exists(cfg, m->iothread),
                   "vq map iothread");
        FUZZ_CHECK(m->nr_vqs <= VMM_MAX_QUEUES, "%u vqs", m->nr_vqs);
        for (unsigned q = 0; q < m->nr_vqs; q++) {
            FUZZ_CHECK(m->vqs[q] < nq, "vq %u of %u", m->vqs[q], nq);
        }
    }
}

/* The documented properties of a parsed command line. */
static void check_config(const struct vmm_config *cfg)
{
    if (cfg->show_help || cfg->show_version) {
        return;
    }
    FUZZ_CHECK(cfg->kernel && cfg->kernel[0], "no -kernel");
    FUZZ_CHECK(cfg->nr_cpus >= 1 && cfg->nr_cpus <= VMM_MAX_CPUS, "%u CPUs",
               cfg->nr_cpus);
    FUZZ_CHECK((uint64_t)cfg->sockets * cfg->cores * cfg->threads ==
                   cfg->nr_cpus,
               "topology %u*%u*%u != %u", cfg->sockets, cfg->cores,
               cfg->threads, cfg->nr_cpus);
    FUZZ_CHECK(cfg->ram_size >= VMM_MIN_RAM_SIZE &&
                   cfg->ram_size <= VMM_MAX_RAM_SIZE &&
                   cfg->ram_size % 8192 == 0,
               "ram_size %llu", (unsigned long long)cfg->ram_size);
    FUZZ_CHECK(!cfg->acpi && cfg->rtc == VMM_OFF, "acpi or rtc on");
    FUZZ_CHECK(cfg->nr_cpu_features <= VMM_MAX_CPU_FEATURES, "%u features",
               cfg->nr_cpu_features);
    FUZZ_CHECK(cfg->nr_iothreads <= VMM_MAX_IOTHREADS &&
                   cfg->nr_drives <= VMM_MAX_DRIVES &&
                   cfg->nr_blks <= VMM_MAX_VIRTIO_DEVS &&
                   cfg->nr_qmp <= VMM_MAX_QMP,
               "counts %u %u %u %u", cfg->nr_iothreads, cfg->nr_drives,
               cfg->nr_blks, cfg->nr_qmp);
    FUZZ_CHECK(cfg->nr_drives == cfg->nr_blks, "%u drives for %u devices",
               cfg->nr_drives, cfg->nr_blks);
    for (unsigned i = 0; i < cfg->nr_blks; i++) {
        check_blk(cfg, &cfg->blks[i]);
    }
    if (cfg->debug_exit) {
        FUZZ_CHECK(cfg->debug_exit_iosize >= 1 &&
                       (unsigned)cfg->debug_exit_iobase +
                               cfg->debug_exit_iosize <=
                           0x10000u,
                   "debug-exit ports %#x+%u", cfg->debug_exit_iobase,
                   cfg->debug_exit_iosize);
    }
    for (unsigned i = 0; i < cfg->nr_iothreads; i++) {
        const struct vmm_config_iothread *t = &cfg->iothreads[i];

        FUZZ_CHECK(t->id && t->id[0], "iothread without id");
        FUZZ_CHECK(t->thread_pool_min < 0 || t->thread_pool_max < 0 ||
                       t->thread_pool_min <= t->thread_pool_max,
                   "pool %lld > %lld", (long long)t->thread_pool_min,
                   (long long)t->thread_pool_max);
    }
}

static void check_message(const char *err)
{
    FUZZ_CHECK(err && err[0], "failure without a message");
    FUZZ_CHECK(!strchr(err, '\n'), "message of several lines: %s", err);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vmm_config *cfg = (struct vmm_config *)&cfg, *cfg2 = NULL;
    char *argv_buf[MAX_ARGS + 1];
    char **argv;
    char *err = NULL;
    size_t start = 0;
    int argc = 1, r, r2;

    argv_buf[0] = strdup("loom-vm");
    for (size_t i = 0; i <= size && argc < MAX_ARGS + 1; i++) {
        if (i == size && start == size) {
            break; /* a final newline ends the last argument */
        }
        if (i == size || data[i] == '\n') {
            size_t n = strnlen((const char *)data + start, i - start);
            char *a = malloc(n + 1);

            FUZZ_CHECK(a, "out of memory");
            memcpy(a, data + start, n);
            a[n] = '\0';
            argv_buf[argc++] = a;
            start = i + 1;
        }
    }
    /* Exactly argc pointers, no NULL after them. */
    argv = malloc(sizeof(*argv) * (size_t)argc);
    FUZZ_CHECK(argv && argv_buf[0], "out of memory");
    memcpy(argv, argv_buf, sizeof(*argv) * (size_t)argc);

    r = vmm_config_parse(argc, argv, &cfg, &err);
    FUZZ_CHECK(r == 0 || r == -EINVAL, "returned %d", r);
    if (r == 0) {
        FUZZ_CHECK(!err, "message on success: %s", err);
        FUZZ_CHECK(cfg && cfg != (struct vmm_config *)&cfg, "no config");
        check_config(cfg);
        vmm_config_free(cfg);
    } else {
        FUZZ_CHECK(cfg == (struct vmm_config *)&cfg, "config written");
        check_message(err);
        free(err);
    }
    /* Without a message pointer: the same outcome. */
    r2 = vmm_config_parse(argc, argv, &cfg2, NULL);
    FUZZ_CHECK(r2 == r, "%d with a message pointer, %d without", r, r2);
    vmm_config_free(cfg2);

    for (int i = 0; i < argc; i++) {
        free(argv[i]);
    }
    free(argv);
    return 0;
}
