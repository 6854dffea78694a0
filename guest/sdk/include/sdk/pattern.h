/* SPDX-License-Identifier: MIT */
/*
 * The data pattern the block guests write and check, and that host-side
 * tests recompute to verify an image byte for byte: the 64-bit
 * little-endian word at byte offset @off (a multiple of 8) of a disk
 * written with @seed.  Plain C with <stdint.h> only, so that both the
 * guest and the host include it.
 */
#ifndef SDK_PATTERN_H
#define SDK_PATTERN_H

#include <stdint.h>

/**
 * sdk_pattern_word() - the pattern's word at byte offset @off.
 * @seed: which pattern.
 * @off: a multiple of 8.
 *
 * Context: any CPU (or host thread).
 */
static inline uint64_t sdk_pattern_word(uint64_t seed, uint64_t off)
{
    uint64_t z = seed * 0x9e3779b97f4a7c15ull + off;

    /* splitmix64's finaliser */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

#endif /* SDK_PATTERN_H */
