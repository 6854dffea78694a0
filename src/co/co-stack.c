/* SPDX-License-Identifier: MIT */
/*
 * Coroutine stacks: anonymous mappings with an inaccessible guard page at
 * the low end, so that a coroutine overflowing its stack faults at once
 * instead of silently writing over a neighbour.  The top of the mapping is
 * reserved for a header (co.c puts the coroutine object there, so one
 * mapping is the whole coroutine).  Pooling is done by co.c.  Any thread
 * may map or unmap.
 */
#include "co/co-int.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/compiler.h"

#ifdef LOOM_ASAN
#include <sanitizer/asan_interface.h>
#endif
#if LOOM_CO_VALGRIND
#include <valgrind/valgrind.h>
#endif

static size_t page_size(void)
{
    static size_t cached;
    size_t ps = __atomic_load_n(&cached, __ATOMIC_RELAXED);

    if (ps == 0) {
        long v = sysconf(_SC_PAGESIZE);

        ps = v > 0 ? (size_t)v : 4096;
        __atomic_store_n(&cached, ps, __ATOMIC_RELAXED);
    }
    return ps;
}

int loom__co_stack_map(struct loom__co_stack *st, size_t hdr_size)
{
    size_t ps = page_size();
    size_t line = LOOM_CACHELINE;
    size_t hdr = (hdr_size + line - 1) & ~(line - 1);
    size_t len = ps + LOOM__CO_STACK_SIZE + hdr;
    char *map;

    len = (len + ps - 1) & ~(ps - 1);
    /*
     * MAP_NORESERVE: a coroutine that never goes deep never commits more
     * than the pages it touched.
     */
    map = mmap(NULL, len, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (map == MAP_FAILED) {
        return -ENOMEM;
    }
    if (mprotect(map, ps, PROT_NONE) != 0) {
        munmap(map, len);
        return -ENOMEM;
    }
#ifdef LOOM_ASAN
    /*
     * Whoever had these addresses before may have left their shadow
     * poisoned: another stack switcher that unmaps without clearing what
     * its frames poisoned (ASan does not clear the shadow on munmap).
     */
    ASAN_UNPOISON_MEMORY_REGION(map + ps, len - ps);
#endif
    st->map = map;
    st->map_size = len;
    st->hdr = map + len - hdr;
    st->base = map + ps;
    st->size = (size_t)((char *)st->hdr - (char *)st->base) & ~(size_t)15;
#if LOOM_CO_VALGRIND
    /* Outside Valgrind a handful of instructions, and it returns 0. */
    st->vg_id = VALGRIND_STACK_REGISTER(st->base, (char *)st->base + st->size);
#endif
    return 0;
}

void loom__co_stack_unmap(const struct loom__co_stack *st)
{
    struct loom__co_stack copy = *st;

#ifdef LOOM_ASAN
    /*
     * A parked coroutine's frames leave redzones poisoned in the shadow
     * memory; clear them, or a later mapping at this address would report
     * false errors.
     */
    ASAN_UNPOISON_MEMORY_REGION(copy.base, copy.size);
#endif
#if LOOM_CO_VALGRIND
    VALGRIND_STACK_DEREGISTER(copy.vg_id);
#endif
    munmap(copy.map, copy.map_size);
}
