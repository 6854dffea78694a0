/* SPDX-License-Identifier: MIT */
/*
 * PVH boot data: the memory map, the initrd's place and the boot data
 * block (hvm_start_info version 1, a boot GDT, the module list, the
 * memory map and the command line), laid out as QEMU microvm does: the
 * initrd at the top of low RAM, the rest high below 1 MiB, in a range
 * the memory map reports as not RAM, so a guest allocating RAM does not
 * overwrite it.  Every placement is computed and checked before the first
 * write.  Called by the machine's set-up, with no vCPU running.
 */
#include "arch/x86_64/pvh.h"

#include "arch/x86_64/x86-int.h"

#include <errno.h>
#include <string.h>

_Static_assert(sizeof(struct vmm_hvm_start_info) == 56, "start_info ABI");
_Static_assert(sizeof(struct vmm_hvm_modlist_entry) == 32, "modlist ABI");
_Static_assert(sizeof(struct vmm_hvm_memmap_entry) == 24, "memmap ABI");

#define PAGE 0x1000ull
#define GIB4 0x100000000ull

/* Offsets in the boot data block. */
#define OFF_START_INFO 0x00u
#define OFF_GDT 0x40u
#define OFF_MODLIST 0x60u
#define OFF_MEMMAP 0x80u

/* The fixed ranges of QEMU microvm's map, in QEMU's order. */
static const struct vmm_hvm_memmap_entry fixed[] = {
    {0x9fc00, 0x400, VMM_HVM_MEMMAP_RESERVED, 0},     /* EBDA */
    {0xd0000, 0x20000, VMM_HVM_MEMMAP_NVS, 0},        /* boot data */
    {0xf0000, 0x10000, VMM_HVM_MEMMAP_RESERVED, 0},   /* BIOS area */
    {0xfeffc000, 0x4000, VMM_HVM_MEMMAP_RESERVED, 0}, /* KVM pages */
};

/* RAM is not reported inside these (inclusive bounds), ascending. */
static const struct {
    uint64_t first, last;
} holes[] = {
    {0x9fc00, 0xfffff},
    {0xfeffc000, 0xfeffffff},
};

/* ------------------------------------------------------------------ */
/* Memory map                                                          */
/* ------------------------------------------------------------------ */

struct map_out {
    struct vmm_hvm_memmap_entry *e;
    unsigned n, max;
    bool full;
};

static void emit(struct map_out *o, uint64_t first, uint64_t last,
                 uint32_t type)
{
    if (o->n == o->max) {
        o->full = true;
        return;
    }
    o->e[o->n++] =
        (struct vmm_hvm_memmap_entry){first, last - first + 1, type, 0};
}

/*
 * The RAM of [first, last] minus the holes; only the pieces on one side
 * of 1 MiB (@high), so that the fixed ranges can go in between.
 */
static void emit_ram(struct map_out *o, uint64_t first, uint64_t last,
                     bool high)
{
    uint64_t cur = first;
    unsigned i;

    for (i = 0; i < sizeof(holes) / sizeof(holes[0]); i++) {
        if (holes[i].last < cur || holes[i].first > last) {
            continue;
        }
        if (holes[i].first > cur && (cur >= VMM_PVH_BOOT_LIMIT) == high) {
            emit(o, cur, holes[i].first - 1, VMM_HVM_MEMMAP_RAM);
        }
        if (holes[i].last >= last) {
            return;
        }
        cur = holes[i].last + 1;
    }
    if ((cur >= VMM_PVH_BOOT_LIMIT) == high) {
        emit(o, cur, last, VMM_HVM_MEMMAP_RAM);
    }
}

int vmm_pvh_memmap(const struct vmm_gmem *gm, struct vmm_hvm_memmap_entry *out,
                   unsigned max)
{
    const struct vmm_gmem_region *r;
    struct map_out o = {out, 0, max, false};
    unsigned nr, i;

    if (!gm || !out) {
        return -EINVAL;
    }
    nr = vmm_gmem_regions(gm, &r);
    for (i = 0; i < nr; i++) {
        emit_ram(&o, r[i].gpa, r[i].gpa + (r[i].size - 1), false);
    }
    for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        emit(&o, fixed[i].addr, fixed[i].addr + fixed[i].size - 1,
             fixed[i].type);
    }
    for (i = 0; i < nr; i++) {
        emit_ram(&o, r[i].gpa, r[i].gpa + (r[i].size - 1), true);
    }
    return o.full ? -ENOSPC : (int)o.n;
}

/* ------------------------------------------------------------------ */
/* Placement                                                           */
/* ------------------------------------------------------------------ */

/* [a, a + alen) and [b, b + blen) intersect (both lengths > 0, no wrap). */
static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

/* End of low RAM: the highest end of a region, at or below 4 GiB. */
static uint64_t low_ram_end(const struct vmm_gmem *gm)
{
    const struct vmm_gmem_region *r;
    unsigned nr = vmm_gmem_regions(gm, &r), i;
    uint64_t end = 0;

    for (i = 0; i < nr; i++) {
        uint64_t e;

        if (r[i].gpa >= GIB4) {
            continue;
        }
        e = r[i].size > GIB4 - r[i].gpa ? GIB4 : r[i].gpa + r[i].size;
        if (e > end) {
            end = e;
        }
    }
    return end;
}

static int place_initrd(const struct vmm_gmem *gm,
                        const struct vmm_pvh_image *img, uint64_t size,
                        uint64_t *ret, char *err, size_t errlen)
{
    uint64_t end = low_ram_end(gm), addr;
    unsigned i;

    /* QEMU's rule: below (end - 1), page-aligned down. */
    if (end < PAGE || size >= end - 1) {
        return vmm__x86_err(
            err, errlen, -E2BIG,
            "initrd of %llu bytes is larger than low RAM (%#llx)",
            (unsigned long long)size, (unsigned long long)end);
    }
    addr = (end - 1 - size) & ~(PAGE - 1);
    if (addr < VMM_PVH_LOW_RESERVED || !vmm_gmem_ptr(gm, addr, size)) {
        return vmm__x86_err(err, errlen, -ENOSPC,
                            "initrd of %llu bytes does not fit in low RAM",
                            (unsigned long long)size);
    }
    for (i = 0; i < img->nr_segments; i++) {
        if (overlaps(addr, size, img->seg[i].gpa, img->seg[i].memsz)) {
            return vmm__x86_err(err, errlen, -ENOSPC,
                                "initrd at %#llx (%llu bytes, top of low RAM) "
                                "overlaps the kernel at %#llx",
                                (unsigned long long)addr,
                                (unsigned long long)size,
                                (unsigned long long)img->seg[i].gpa);
        }
    }
    *ret = addr;
    return 0;
}

/*
 * The highest page-aligned @size bytes below 1 MiB, above the reserved
 * low area, clear of the kernel and the initrd.  Each conflict moves the
 * candidate strictly down below the conflicting range, so this ends.
 */
static int place_block(const struct vmm_gmem *gm,
                       const struct vmm_pvh_image *img, uint64_t initrd,
                       uint64_t initrd_size, uint64_t size, uint64_t *ret,
                       char *err, size_t errlen)
{
    uint64_t floor = (VMM_PVH_LOW_RESERVED + PAGE - 1) & ~(PAGE - 1);
    uint64_t a, below;
    unsigned i;

    if (size > VMM_PVH_BOOT_LIMIT - floor) {
        goto nospace;
    }
    a = VMM_PVH_BOOT_LIMIT - size; /* size is page-aligned */
    for (;;) {
        below = 0;
        for (i = 0; i < img->nr_segments && !below; i++) {
            if (overlaps(a, size, img->seg[i].gpa, img->seg[i].memsz)) {
                below = img->seg[i].gpa;
            }
        }
        if (!below && initrd_size && overlaps(a, size, initrd, initrd_size)) {
            below = initrd;
        }
        if (!below) {
            break;
        }
        if (below < floor + size) {
            goto nospace;
        }
        a = (below - size) & ~(PAGE - 1);
    }
    if (!vmm_gmem_ptr(gm, a, size)) {
        goto nospace;
    }
    *ret = a;
    return 0;

nospace:
    return vmm__x86_err(
        err, errlen, -ENOSPC,
        "no room for %llu bytes of boot data below 1 MiB clear of "
        "the kernel",
        (unsigned long long)size);
}

/* ------------------------------------------------------------------ */
/* Set-up                                                              */
/* ------------------------------------------------------------------ */

/* The block's contents, written in one go once everything is placed. */
static int write_block(const struct vmm_gmem *gm, const struct vmm_pvh_boot *b,
                       const struct vmm_hvm_memmap_entry *map,
                       const char *cmdline)
{
    const uint64_t gdt[VMM_PVH_GDT_ENTRIES] = {0, VMM_PVH_GDT_CODE,
                                               VMM_PVH_GDT_DATA};
    struct vmm_hvm_start_info si = {
        .magic = VMM_HVM_START_MAGIC,
        .version = 1,
        .nr_modules = b->initrd_size ? 1 : 0,
        .modlist_paddr = b->modlist,
        .cmdline_paddr = b->cmdline,
        .memmap_paddr = b->memmap,
        .memmap_entries = b->memmap_entries,
    };
    struct vmm_hvm_modlist_entry mod = {b->initrd, b->initrd_size, 0, 0};
    int r;

    /* The block was checked to be RAM by place_block(): none can fail. */
    r = vmm_gmem_fill(gm, b->area, 0, b->area_size);
    if (r == 0) {
        r = vmm_gmem_write(gm, b->start_info, &si, sizeof(si));
    }
    if (r == 0) {
        r = vmm_gmem_write(gm, b->gdt, gdt, sizeof(gdt));
    }
    if (r == 0 && b->initrd_size) {
        r = vmm_gmem_write(gm, b->modlist, &mod, sizeof(mod));
    }
    if (r == 0) {
        r = vmm_gmem_write(gm, b->memmap, map,
                           b->memmap_entries * sizeof(map[0]));
    }
    if (r == 0) {
        r = vmm_gmem_write(gm, b->cmdline, cmdline, b->cmdline_len);
    }
    return r;
}

int vmm_pvh_setup(const struct vmm_gmem *gm, const struct vmm_pvh_image *img,
                  const char *cmdline, const void *initrd, size_t initrd_size,
                  struct vmm_pvh_boot *ret, char *err, size_t errlen)
{
    struct vmm_hvm_memmap_entry map[VMM_PVH_MEMMAP_MAX];
    struct vmm_pvh_boot b;
    uint64_t cmd_off, size;
    int n, r;

    if (!gm || !img || !ret || (!initrd && initrd_size)) {
        return vmm__x86_err(err, errlen, -EINVAL, "PVH: bad arguments");
    }
    memset(&b, 0, sizeof(b));
    b.entry = img->entry;
    b.cmdline_len = cmdline ? strnlen(cmdline, VMM_PVH_CMDLINE_MAX + 1) : 0;
    if (b.cmdline_len > VMM_PVH_CMDLINE_MAX) {
        return vmm__x86_err(err, errlen, -E2BIG,
                            "kernel command line longer than %u bytes",
                            VMM_PVH_CMDLINE_MAX);
    }
    n = vmm_pvh_memmap(gm, map, VMM_PVH_MEMMAP_MAX);
    if (n < 0) {
        return vmm__x86_err(err, errlen, n, "PVH: memory map too large");
    }
    b.memmap_entries = (unsigned)n;
    if (initrd_size) {
        r = place_initrd(gm, img, initrd_size, &b.initrd, err, errlen);
        if (r < 0) {
            return r;
        }
        b.initrd_size = initrd_size;
    }
    cmd_off = (OFF_MEMMAP + (uint64_t)n * sizeof(map[0]) + 15) & ~15ull;
    size = (cmd_off + b.cmdline_len + 1 + PAGE - 1) & ~(PAGE - 1);
    r = place_block(gm, img, b.initrd, b.initrd_size, size, &b.area, err,
                    errlen);
    if (r < 0) {
        return r;
    }
    b.area_size = size;
    b.start_info = b.area + OFF_START_INFO;
    b.gdt = b.area + OFF_GDT;
    b.gdt_limit = VMM_PVH_GDT_ENTRIES * 8 - 1;
    b.modlist = b.initrd_size ? b.area + OFF_MODLIST : 0;
    b.memmap = b.area + OFF_MEMMAP;
    b.cmdline = b.area + cmd_off;

    if (b.initrd_size) {
        r = vmm_gmem_write(gm, b.initrd, initrd, initrd_size);
        if (r < 0) {
            return vmm__x86_err(err, errlen, r, "PVH: initrd copy failed");
        }
    }
    /* The command line's NUL comes from the zeroed block. */
    r = write_block(gm, &b, map, cmdline ? cmdline : "");
    if (r < 0) {
        return vmm__x86_err(err, errlen, r, "PVH: boot data copy failed");
    }
    *ret = b;
    return 0;
}
