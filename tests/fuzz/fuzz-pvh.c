/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the PVH loader, vmm_pvh_parse() / vmm_pvh_load() of an
 * untrusted ELF file and vmm_pvh_setup() of the boot data, on a fake
 * struct vmm_gmem (host memory mapped once, several RAM layouts).
 *
 * Input: an 8-byte header, then the ELF file.
 *   byte 0     the RAM layout (layouts[] below, modulo their number);
 *   byte 1     bit 0: an initrd; bit 1: a command line;
 *   bytes 2-3  the command line's length, modulo VMM_PVH_CMDLINE_MAX + 2
 *              (so the longest allowed and one more);
 *   bytes 4-7  the initrd's size, modulo INITRD_MAX + 1.
 * Checked besides memory safety: parse and load agree; errors are the
 * documented codes with a one-line message and leave the image
 * unwritten; a loaded image has sorted, disjoint segments inside RAM and
 * clear of the low reserved area, an entry inside one of them, and RAM
 * holding the file's bytes then zeroes; set-up places the initrd and the
 * boot data in RAM, apart from the kernel and each other, the boot data
 * below 1 MiB, and start_info, the module list, the memory map and the
 * command line read back as vmm_pvh_setup() reported them.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>

#include "arch/x86_64/pvh.h"
#include "fuzz.h"

#define MIB (1ull << 20)
#define GIB4 (1ull << 32)
#define HEADER 8u
#define HOST_SIZE (16 * MIB) /* backs every layout's regions */
#define INITRD_MAX (8 * MIB + 0x1000)

struct layout {
    unsigned nr;
    struct {
        uint64_t gpa, size, host_off;
    } r[3];
};

/* RAM maps: microvm-like, a PC hole, tiny, none below 1 MiB, above 4 G. */
static const struct layout layouts[] = {
    {1, {{0, 4 * MIB, 0}}},
    {2, {{0, 4 * MIB, 0}, {GIB4, 64 << 10, 4 * MIB}}},
    {2, {{0, 0x9f000, 0}, {MIB, 3 * MIB, MIB}}},
    {1, {{0, 2 * MIB, 0}}},
    {1, {{MIB, 5 * MIB, 0}}},
    {3, {{0, 64 << 10, 0}, {MIB, 2 * MIB, MIB}, {GIB4, MIB, 4 * MIB}}},
    {1, {{0, 8 * MIB, 0}}},
    {2, {{0x1000, 0xff000, 0}, {0xfe000000, 2 * MIB, MIB}}},
};
#define NR_LAYOUTS (sizeof(layouts) / sizeof(layouts[0]))

static uint8_t *g_host, *g_initrd;
static char *g_cmdline;
static struct vmm_gmem *g_gm[NR_LAYOUTS];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    g_host = mmap(NULL, HOST_SIZE, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    g_initrd = malloc(INITRD_MAX);
    g_cmdline = malloc(VMM_PVH_CMDLINE_MAX + 2);
    FUZZ_CHECK(g_host != MAP_FAILED && g_initrd && g_cmdline, "memory");
    for (size_t i = 0; i < INITRD_MAX; i++) {
        g_initrd[i] = (uint8_t)(i * 7 + 1);
    }
    for (unsigned i = 0; i < VMM_PVH_CMDLINE_MAX + 2; i++) {
        g_cmdline[i] = (char)('a' + i % 26);
    }
    for (size_t i = 0; i < NR_LAYOUTS; i++) {
        struct vmm_gmem_region r[3];

        for (unsigned j = 0; j < layouts[i].nr; j++) {
            r[j].gpa = layouts[i].r[j].gpa;
            r[j].size = layouts[i].r[j].size;
            r[j].hva = g_host + layouts[i].r[j].host_off;
        }
        FUZZ_CHECK(vmm_gmem_new(r, layouts[i].nr, &g_gm[i]) == 0, "map %zu", i);
    }
    return 0;
}

static uint64_t le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < n; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

static bool overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

static void check_message(int r, const char *err)
{
    FUZZ_CHECK(err[0] && !strchr(err, '\n') &&
                   strnlen(err, VMM_PVH_ERR_SIZE) < VMM_PVH_ERR_SIZE,
               "error %d with message '%s'", r, err);
}

static bool all_zero(const uint8_t *p, uint64_t n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

static void check_image(const struct vmm_gmem *gm, const uint8_t *elf,
                        size_t size, const struct vmm_pvh_image *img)
{
    bool entry_in = false;

    FUZZ_CHECK(img->nr_segments >= 1 &&
                   img->nr_segments <= VMM_PVH_MAX_SEGMENTS,
               "%u segments", img->nr_segments);
    for (unsigned i = 0; i < img->nr_segments; i++) {
        const struct vmm_pvh_segment *s = &img->seg[i];
        const uint8_t *host = vmm_gmem_ptr(gm, s->gpa, s->memsz);

        FUZZ_CHECK(s->memsz > 0 && s->filesz <= s->memsz, "segment %u sizes",
                   i);
        FUZZ_CHECK(host, "segment %u at %#llx+%#llx outside RAM", i,
                   (unsigned long long)s->gpa, (unsigned long long)s->memsz);
        FUZZ_CHECK(s->gpa >= VMM_PVH_LOW_RESERVED, "segment %u at %#llx", i,
                   (unsigned long long)s->gpa);
        FUZZ_CHECK(s->offset <= size && s->filesz <= size - s->offset,
                   "segment %u bytes outside the file", i);
        FUZZ_CHECK(i == 0 ||
                       img->seg[i - 1].gpa + img->seg[i - 1].memsz <= s->gpa,
                   "segments %u and %u unsorted or overlapping", i - 1, i);
        FUZZ_CHECK(memcmp(host, elf + s->offset, s->filesz) == 0 &&
                       all_zero(host + s->filesz, s->memsz - s->filesz),
                   "segment %u not loaded byte for byte", i);
        entry_in |= img->entry >= s->gpa && img->entry - s->gpa < s->memsz;
    }
    FUZZ_CHECK(entry_in, "entry %#x outside the segments", img->entry);
}

static void check_boot(const struct vmm_gmem *gm,
                       const struct vmm_pvh_image *img, const char *cmdline,
                       size_t initrd_size, const struct vmm_pvh_boot *b)
{
    struct vmm_hvm_memmap_entry want[VMM_PVH_MEMMAP_MAX], got;
    struct vmm_hvm_start_info si;
    struct vmm_hvm_modlist_entry mod;
    const uint8_t *host;
    int n = vmm_pvh_memmap(gm, want, VMM_PVH_MEMMAP_MAX);

    FUZZ_CHECK(b->area % 0x1000 == 0 && b->area_size % 0x1000 == 0 &&
                   b->area >= VMM_PVH_LOW_RESERVED &&
                   b->area + b->area_size <= VMM_PVH_BOOT_LIMIT &&
                   vmm_gmem_ptr(gm, b->area, b->area_size),
               "boot data at %#llx+%#llx", (unsigned long long)b->area,
               (unsigned long long)b->area_size);
    FUZZ_CHECK(b->initrd_size == initrd_size, "initrd size");
    if (initrd_size) {
        host = vmm_gmem_ptr(gm, b->initrd, initrd_size);
        FUZZ_CHECK(host && b->initrd % 0x1000 == 0 &&
                       b->initrd >= VMM_PVH_LOW_RESERVED &&
                       b->initrd + initrd_size <= GIB4,
                   "initrd at %#llx", (unsigned long long)b->initrd);
        FUZZ_CHECK(!overlap(b->initrd, initrd_size, b->area, b->area_size),
                   "initrd over the boot data");
        FUZZ_CHECK(memcmp(host, g_initrd, initrd_size) == 0, "initrd bytes");
    }
    for (unsigned i = 0; i < img->nr_segments; i++) {
        FUZZ_CHECK(
            !overlap(img->seg[i].gpa, img->seg[i].memsz, b->area,
                     b->area_size) &&
                (!initrd_size || !overlap(img->seg[i].gpa, img->seg[i].memsz,
                                          b->initrd, initrd_size)),
            "segment %u under the boot data or initrd", i);
    }
    FUZZ_CHECK(vmm_gmem_read(gm, b->start_info, &si, sizeof(si)) == 0,
               "start_info");
    FUZZ_CHECK(si.magic == VMM_HVM_START_MAGIC && si.version == 1 &&
                   si.cmdline_paddr == b->cmdline &&
                   si.memmap_paddr == b->memmap &&
                   si.memmap_entries == b->memmap_entries &&
                   (int)si.memmap_entries == n &&
                   si.nr_modules == (initrd_size ? 1u : 0u) &&
                   si.modlist_paddr == b->modlist && si.rsdp_paddr == 0,
               "start_info fields");
    for (unsigned i = 0; i < si.memmap_entries; i++) {
        FUZZ_CHECK(vmm_gmem_read(gm, b->memmap + i * sizeof(got), &got,
                                 sizeof(got)) == 0 &&
                       !memcmp(&got, &want[i], sizeof(got)),
                   "memory map entry %u", i);
    }
    if (initrd_size) {
        FUZZ_CHECK(vmm_gmem_read(gm, b->modlist, &mod, sizeof(mod)) == 0 &&
                       mod.paddr == b->initrd && mod.size == initrd_size,
                   "module list");
    }
    host = vmm_gmem_ptr(gm, b->cmdline, b->cmdline_len + 1);
    FUZZ_CHECK(host && b->cmdline_len == (cmdline ? strlen(cmdline) : 0) &&
                   !memcmp(host, cmdline ? cmdline : "", b->cmdline_len) &&
                   host[b->cmdline_len] == 0,
               "command line");
    FUZZ_CHECK(b->cmdline >= b->area &&
                   b->cmdline + b->cmdline_len < b->area + b->area_size &&
                   b->memmap >= b->area && b->start_info >= b->area,
               "boot data outside its block");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vmm_pvh_image img, img2;
    struct vmm_pvh_boot boot;
    char err[VMM_PVH_ERR_SIZE] = "";
    const struct vmm_gmem *gm;
    const uint8_t *elf;
    size_t elf_size, initrd_size = 0;
    char *cmdline = NULL;
    size_t cmdline_len = 0;
    int r, r2;

    if (size < HEADER) {
        return 0;
    }
    gm = g_gm[data[0] % NR_LAYOUTS];
    elf = data + HEADER;
    elf_size = size - HEADER;

    memset(&img, 0x5a, sizeof(img));
    memcpy(&img2, &img, sizeof(img));
    r = vmm_pvh_parse(gm, elf, elf_size, &img, err, sizeof(err));
    FUZZ_CHECK(r == 0 || r == -ENOEXEC || r == -ENOENT || r == -ERANGE ||
                   r == -E2BIG,
               "parse: %d", r);
    r2 = vmm_pvh_load(gm, elf, elf_size, &img2, err, sizeof(err));
    FUZZ_CHECK(r2 == r, "parse %d, load %d", r, r2);
    if (r < 0) {
        check_message(r, err);
        FUZZ_CHECK(!memcmp(&img, &img2, sizeof(img)), "image written");
        return 0;
    }
    FUZZ_CHECK(!memcmp(&img, &img2, sizeof(img)), "parse and load differ");
    check_image(gm, elf, elf_size, &img);

    if (data[1] & 1) {
        initrd_size = le(data + 4, 4) % (INITRD_MAX + 1);
    }
    if (data[1] & 2) {
        cmdline_len = le(data + 2, 2) % (VMM_PVH_CMDLINE_MAX + 2);
        cmdline = g_cmdline;
        cmdline[cmdline_len] = '\0';
    }
    memset(&boot, 0x5a, sizeof(boot));
    err[0] = '\0';
    r = vmm_pvh_setup(gm, &img, cmdline, initrd_size ? g_initrd : NULL,
                      initrd_size, &boot, err, sizeof(err));
    FUZZ_CHECK(r == 0 || r == -E2BIG || r == -ENOSPC, "setup: %d (%s)", r, err);
    if (r < 0) {
        check_message(r, err);
        FUZZ_CHECK(r != -E2BIG || cmdline_len > VMM_PVH_CMDLINE_MAX ||
                       initrd_size > 0,
                   "E2BIG without a reason");
    } else {
        check_boot(gm, &img, cmdline, initrd_size, &boot);
    }
    if (cmdline) {
        /* The next input may want a longer one. */
        cmdline[cmdline_len] = (char)('a' + cmdline_len % 26);
    }
    return 0;
}
