/* SPDX-License-Identifier: MIT */
/*
 * What every fuzz target of tests/fuzz shares: the libFuzzer entry points
 * (also called by replay.c, the corpus runner of ordinary builds) and a
 * check that turns a broken contract into a crash libFuzzer reports, with
 * the reason on stderr.  The targets check the documented contracts of
 * the code they drive (limits, out-parameters, messages, counters), not
 * only its memory safety, which the sanitizers watch.
 */
#ifndef LOOM_TEST_FUZZ_H
#define LOOM_TEST_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* libFuzzer's entry points; replay.c calls them the same way. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A broken contract: say which, then crash so that the input is kept. */
#define FUZZ_CHECK(cond, ...)                                                  \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: contract broken: %s: ", __FILE__,          \
                    __LINE__, #cond);                                          \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
            abort();                                                           \
        }                                                                      \
    } while (0)

#endif /* LOOM_TEST_FUZZ_H */
