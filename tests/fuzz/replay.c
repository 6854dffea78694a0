/* SPDX-License-Identifier: MIT */
/*
 * Corpus runner: the main() of a fuzz target in ordinary builds (gcc or
 * clang, with or without sanitizers, no libFuzzer).  Each argument is a
 * file or a directory of files; every file is read and passed once to
 * LLVMFuzzerTestOneInput(), in name order, after LLVMFuzzerInitialize().
 * The test suite runs every target over its seed corpus and its crash
 * reproducers this way, so what the fuzzers found stays fixed in every
 * build, not only in fuzzing builds.  The target runs with TMPDIR set to
 * a directory of its own, which must be empty again at the end: a target
 * that leaves a file behind would leave one on every test run and
 * fuzzing session.  Exit status: 0 after at least one input, 1 if an
 * argument cannot be read or holds no input, or if the target left files
 * in its TMPDIR (a contract broken by an input aborts, as under
 * libFuzzer).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

/* Larger than any target's -max_len: inputs are small by design. */
#define REPLAY_MAX_INPUT (1u << 20)

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf, *in;
    size_t n;

    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    buf = malloc(REPLAY_MAX_INPUT);
    n = buf ? fread(buf, 1, REPLAY_MAX_INPUT, f) : 0;
    fclose(f);
    /* An exact-size copy, so that ASan sees reads past the input. */
    in = buf ? realloc(buf, n ? n : 1) : NULL;
    if (!in) {
        free(buf);
        fprintf(stderr, "replay: %s: out of memory\n", path);
        return -1;
    }
    (void)LLVMFuzzerTestOneInput(in, n);
    free(in);
    return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int run_dir(const char *dir, unsigned *count)
{
    struct dirent **ents;
    int n = scandir(dir, &ents, NULL, by_name), ret = 0;

    if (n < 0) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    for (int i = 0; i < n; i++) {
        char path[4096];
        struct stat st;

        snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
        if (ents[i]->d_name[0] != '.' && stat(path, &st) == 0 &&
            S_ISREG(st.st_mode)) {
            if (run_file(path) < 0) {
                ret = -1;
            } else {
                (*count)++;
            }
        }
        free(ents[i]);
    }
    free(ents);
    return ret;
}

/* The target's own TMPDIR, made inside the one given (else /tmp). */
static char g_tmpdir[4096];

static int tmpdir_make(void)
{
    const char *base = getenv("TMPDIR");

    snprintf(g_tmpdir, sizeof(g_tmpdir), "%s/loom-replay-XXXXXX",
             base && *base ? base : "/tmp");
    if (!mkdtemp(g_tmpdir) || setenv("TMPDIR", g_tmpdir, 1) < 0) {
        fprintf(stderr, "replay: TMPDIR %s: %s\n", g_tmpdir, strerror(errno));
        return -1;
    }
    return 0;
}

/* Remove the target's TMPDIR: fails if the target left anything there. */
static int tmpdir_remove(void)
{
    if (rmdir(g_tmpdir) < 0) {
        fprintf(stderr, "replay: the target's TMPDIR %s: %s\n", g_tmpdir,
                strerror(errno));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    unsigned count = 0;
    int ret = 0;

    if (tmpdir_make() < 0) {
        return 1;
    }
    (void)LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        struct stat st;
        unsigned before = count;

        if (stat(argv[i], &st) < 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            ret = 1;
        } else if (S_ISDIR(st.st_mode)) {
            ret |= run_dir(argv[i], &count) < 0;
        } else if (run_file(argv[i]) < 0) {
            ret = 1;
        } else {
            count++;
        }
        if (count == before) {
            fprintf(stderr, "replay: %s: no input\n", argv[i]);
            ret = 1;
        }
    }
    if (tmpdir_remove() < 0) {
        ret = 1;
    }
    printf("replay: %u inputs, %s\n", count, ret ? "FAILED" : "ok");
    return ret;
}
