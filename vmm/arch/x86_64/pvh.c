/* SPDX-License-Identifier: MIT */
/*
 * The PVH ELF loader: validate an untrusted kernel file completely, then
 * copy its PT_LOAD segments into guest RAM.  Headers of both classes are
 * read with memcpy (no alignment assumed) into one class-neutral form, so
 * each rule is written once.  Every sum of file-supplied numbers is
 * checked for overflow before it is used; the copy phase runs only when
 * everything passed, so a refused file leaves guest RAM untouched.
 * Called by the machine's set-up on any thread, with no vCPU running.
 */
#include "arch/x86_64/pvh.h"

#include "arch/x86_64/x86-int.h"

#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The header fields this loader uses, class-neutral. */
struct ehdr {
    bool is64;
    uint16_t type;
    uint16_t machine;
    uint32_t version;
    uint64_t phoff;
    uint64_t shoff;
    uint32_t flags;
    uint16_t ehsize;
    uint16_t phentsize;
    uint16_t phnum;
    uint16_t shentsize;
    uint16_t shnum;
    uint16_t shstrndx;
};

struct phdr {
    uint32_t type;
    uint64_t offset;
    uint64_t vaddr;
    uint64_t paddr;
    uint64_t filesz;
    uint64_t memsz;
    uint64_t align;
};

/* What the program-header pass found. */
struct scan {
    bool have_entry;
    uint32_t entry;
};

int vmm__x86_err(char *err, size_t errlen, int code, const char *fmt, ...)
{
    va_list ap;

    if (err && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* [off, off + len) inside [0, size), without overflow. */
static bool in_file(uint64_t off, uint64_t len, size_t size)
{
    return off <= size && len <= (uint64_t)size - off;
}

static bool pow2_or_zero(uint64_t v)
{
    return (v & (v - 1)) == 0;
}

/* ------------------------------------------------------------------ */
/* ELF header                                                          */
/* ------------------------------------------------------------------ */

static int read_ident(const uint8_t *p, size_t size, bool *is64, char *err,
                      size_t errlen)
{
    if (size < EI_NIDENT) {
        return vmm__x86_err(
            err, errlen, -ENOEXEC,
            "ELF: file of %zu bytes is too short for an ELF header", size);
    }
    if (memcmp(p, ELFMAG, SELFMAG) != 0) {
        return vmm__x86_err(err, errlen, -ENOEXEC,
                            "ELF: bad magic (not an ELF file)");
    }
    if (p[EI_CLASS] != ELFCLASS32 && p[EI_CLASS] != ELFCLASS64) {
        return vmm__x86_err(err, errlen, -ENOEXEC, "ELF: unknown class %u",
                            p[EI_CLASS]);
    }
    if (p[EI_DATA] != ELFDATA2LSB) {
        return vmm__x86_err(err, errlen, -ENOEXEC,
                            "ELF: data encoding %u is not little-endian",
                            p[EI_DATA]);
    }
    if (p[EI_VERSION] != EV_CURRENT) {
        return vmm__x86_err(err, errlen, -ENOEXEC,
                            "ELF: unknown ident version %u", p[EI_VERSION]);
    }
    *is64 = p[EI_CLASS] == ELFCLASS64;
    return 0;
}

/* Both classes' headers have the same fields, of different widths. */
#define EHDR_FROM(e, is64)                                                     \
    ((struct ehdr){(is64), (e).e_type, (e).e_machine, (e).e_version,           \
                   (e).e_phoff, (e).e_shoff, (e).e_flags, (e).e_ehsize,        \
                   (e).e_phentsize, (e).e_phnum, (e).e_shentsize, (e).e_shnum, \
                   (e).e_shstrndx})

static int read_ehdr(const uint8_t *p, size_t size, struct ehdr *h, char *err,
                     size_t errlen)
{
    size_t need;
    int r = read_ident(p, size, &h->is64, err, errlen);

    if (r < 0) {
        return r;
    }
    need = h->is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
    if (size < need) {
        return vmm__x86_err(err, errlen, -ENOEXEC,
                            "ELF: truncated header (%zu of %zu bytes)", size,
                            need);
    }
    if (h->is64) {
        Elf64_Ehdr e;

        memcpy(&e, p, sizeof(e));
        *h = EHDR_FROM(e, true);
    } else {
        Elf32_Ehdr e;

        memcpy(&e, p, sizeof(e));
        *h = EHDR_FROM(e, false);
    }
    return 0;
}

/* The section header table is not used, but it must not lie. */
static int check_shdrs(const struct ehdr *h, size_t size, char *err,
                       size_t errlen)
{
    uint64_t shsize = h->is64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr);
    uint64_t align = h->is64 ? 8 : 4;

    if (h->shoff == 0) {
        if (h->shnum != 0 || h->shstrndx != SHN_UNDEF) {
            return vmm__x86_err(err, errlen, -ENOEXEC,
                                "ELF: %u section headers at offset 0",
                                h->shnum);
        }
        return 0;
    }
    if (h->shentsize != shsize) {
        return vmm__x86_err(err, errlen, -ENOEXEC,
                            "ELF: section header size %u, expected %u",
                            h->shentsize, (unsigned)shsize);
    }
    if (h->shnum == 0 || h->shnum >= SHN_LORESERVE) {
        return vmm__x86_err(err, errlen, -ENOEXEC,
                            "ELF: section count %u not supported (extended "
                            "numbering)",
                            h->shnum);
    }
    if (h->shoff % align != 0 || h->shoff < h->ehsize ||
        !in_file(h->shoff, (uint64_t)h->shnum * shsize, size)) {
        return vmm__x86_err(err, errlen, -ENOEXEC,
                            "ELF: section headers at %#llx (%u x %u bytes) are "
                            "misaligned or outside the file",
                            (unsigned long long)h->shoff, h->shnum,
                            h->shentsize);
    }
    if (h->shstrndx >= h->shnum) {
        return vmm__x86_err(err, errlen, -ENOEXEC,
                            "ELF: section name table index %u out of %u",
                            h->shstrndx, h->shnum);
    }
    return 0;
}

static int check_ehdr(const struct ehdr *h, size_t size, char *err,
                      size_t errlen)
{
    uint64_t ehsize = h->is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
    uint64_t phsize = h->is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
    uint64_t align = h->is64 ? 8 : 4;

    if (h->type != ET_EXEC) {
        return vmm__x86_err(err, errlen, -ENOEXEC,
                            "ELF: type %u is not an executable (ET_EXEC)",
                            h->type);
    }
    if (h->machine != EM_X86_64 && (h->is64 || h->machine != EM_386)) {
        return vmm__x86_err(err, errlen, -ENOEXEC,
                            "ELF: machine %u is not x86 for a %d-bit file",
                            h->machine, h->is64 ? 64 : 32);
    }
    if (h->version != EV_CURRENT) {
        return vmm__x86_err(err, errlen, -ENOEXEC, "ELF: unknown version %u",
                            h->version);
    }
    if (h->flags != 0) {
        return vmm__x86_err(err, errlen, -ENOEXEC,
                            "ELF: flags %#x (x86 defines none)", h->flags);
    }
    if (h->ehsize != ehsize) {
        return vmm__x86_err(err, errlen, -ENOEXEC,
                            "ELF: header size %u, expected %u", h->ehsize,
                            (unsigned)ehsize);
    }
    if (h->phentsize != phsize) {
        return vmm__x86_err(err, errlen, -ENOEXEC,
                            "ELF: program header size %u, expected %u",
                            h->phentsize, (unsigned)phsize);
    }
    if (h->phnum == 0) {
        return vmm__x86_err(err, errlen, -ENOEXEC, "ELF: no program headers");
    }
    if (h->phnum > VMM_PVH_MAX_PHDRS) {
        return vmm__x86_err(err, errlen, -E2BIG,
                            "ELF: %u program headers (at most %u)", h->phnum,
                            VMM_PVH_MAX_PHDRS);
    }
    if (h->phoff % align != 0 || h->phoff < h->ehsize ||
        !in_file(h->phoff, (uint64_t)h->phnum * phsize, size)) {
        return vmm__x86_err(err, errlen, -ENOEXEC,
                            "ELF: program headers at %#llx (%u x %u bytes) are "
                            "misaligned or outside the file",
                            (unsigned long long)h->phoff, h->phnum,
                            h->phentsize);
    }
    return check_shdrs(h, size, err, errlen);
}

/* ------------------------------------------------------------------ */
/* Program headers                                                     */
/* ------------------------------------------------------------------ */

#define PHDR_FROM(e)                                                           \
    ((struct phdr){(e).p_type, (e).p_offset, (e).p_vaddr, (e).p_paddr,         \
                   (e).p_filesz, (e).p_memsz, (e).p_align})

static void read_phdr(const uint8_t *p, const struct ehdr *h, unsigned i,
                      struct phdr *ph)
{
    if (h->is64) {
        Elf64_Phdr e;

        memcpy(&e, p + h->phoff + (uint64_t)i * sizeof(e), sizeof(e));
        *ph = PHDR_FROM(e);
    } else {
        Elf32_Phdr e;

        memcpy(&e, p + h->phoff + (uint64_t)i * sizeof(e), sizeof(e));
        *ph = PHDR_FROM(e);
    }
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

/*
 * One PVH note's value.  Its name must be "Xen" (QEMU looks at the type
 * only; a note of another owner that happens to use type 18 is not ours).
 */
static int note_value(const uint8_t *desc, uint32_t descsz, unsigned phi,
                      uint32_t *ret, char *err, size_t errlen)
{
    uint64_t v;

    if (descsz == 4) {
        uint32_t v32;

        memcpy(&v32, desc, 4);
        v = v32;
    } else if (descsz == 8) {
        memcpy(&v, desc, 8);
    } else {
        return vmm__x86_err(
            err, errlen, -ENOEXEC,
            "ELF: PVH note in header %u has a %u-byte value (4 or 8 "
            "expected)",
            phi, descsz);
    }
    if (v > UINT32_MAX) {
        return vmm__x86_err(err, errlen, -ENOEXEC,
                            "ELF: PVH entry %#llx is above 4 GiB",
                            (unsigned long long)v);
    }
    *ret = (uint32_t)v;
    return 0;
}

/*
 * Walk the notes of PT_NOTE header @phi.  Name and value start on 4-byte
 * boundaries, or 8-byte ones when the segment says so (p_align 8, as
 * binutils emits for 8-byte notes); the final padding may be cut off by
 * the segment's end.
 */
static int scan_notes(const uint8_t *p, const struct phdr *ph, unsigned phi,
                      struct scan *sc, char *err, size_t errlen)
{
    uint64_t a = ph->align == 8 ? 8 : 4;
    uint64_t off = 0, end = ph->filesz;
    const uint8_t *base = p + ph->offset;

    while (off < end) {
        uint32_t nh[3], namesz, descsz, type, value = 0;
        uint64_t name_off, desc_off;
        int r;

        if (end - off < sizeof(nh)) {
            return vmm__x86_err(err, errlen, -ENOEXEC,
                                "ELF: truncated note in header %u", phi);
        }
        memcpy(nh, base + off, sizeof(nh));
        namesz = nh[0];
        descsz = nh[1];
        type = nh[2];
        name_off = off + sizeof(nh);
        /*
         * The value starts at the next boundary after the name (from the
         * note's start, which is aligned).  Sums of 32-bit quantities and
         * the segment size: no overflow in 64 bits.
         */
        desc_off = off + align_up(sizeof(nh) + (uint64_t)namesz, a);
        if (desc_off > end || descsz > end - desc_off) {
            return vmm__x86_err(
                err, errlen, -ENOEXEC,
                "ELF: note in header %u (name %u, value %u bytes) "
                "runs past its segment",
                phi, namesz, descsz);
        }
        if (type == VMM_XEN_ELFNOTE_PHYS32_ENTRY && namesz == 4 &&
            memcmp(base + name_off, "Xen", 4) == 0) {
            r = note_value(base + desc_off, descsz, phi, &value, err, errlen);
            if (r < 0) {
                return r;
            }
            if (sc->have_entry && sc->entry != value) {
                return vmm__x86_err(err, errlen, -ENOEXEC,
                                    "ELF: two PVH notes disagree (%#x and %#x)",
                                    sc->entry, value);
            }
            sc->have_entry = true;
            sc->entry = value;
        }
        off = align_up(desc_off + descsz, a);
    }
    return 0;
}

static int check_load(const struct vmm_gmem *gm, const struct phdr *ph,
                      unsigned phi, bool is64, char *err, size_t errlen)
{
    uint64_t limit = is64 ? UINT64_MAX : UINT32_MAX;

    if (ph->filesz > ph->memsz) {
        return vmm__x86_err(err, errlen, -ENOEXEC,
                            "ELF: segment %u has file size %#llx > memory size "
                            "%#llx",
                            phi, (unsigned long long)ph->filesz,
                            (unsigned long long)ph->memsz);
    }
    if (ph->align > 1 && ph->vaddr % ph->align != ph->offset % ph->align) {
        return vmm__x86_err(
            err, errlen, -ENOEXEC,
            "ELF: segment %u: address and offset disagree modulo "
            "the alignment %#llx",
            phi, (unsigned long long)ph->align);
    }
    if (ph->memsz == 0) {
        return 0; /* empty: nothing to place, ignored */
    }
    if (ph->memsz - 1 > limit - ph->paddr) {
        return vmm__x86_err(
            err, errlen, -ENOEXEC,
            "ELF: segment %u at %#llx of %#llx bytes wraps around", phi,
            (unsigned long long)ph->paddr, (unsigned long long)ph->memsz);
    }
    if (ph->paddr < VMM_PVH_LOW_RESERVED) {
        return vmm__x86_err(err, errlen, -ERANGE,
                            "ELF: segment %u at %#llx touches [0, %#x), which "
                            "loom-vm keeps zeroed",
                            phi, (unsigned long long)ph->paddr,
                            VMM_PVH_LOW_RESERVED);
    }
    if (!vmm_gmem_ptr(gm, ph->paddr, ph->memsz)) {
        return vmm__x86_err(
            err, errlen, -ERANGE,
            "ELF: segment %u [%#llx, +%#llx) is not inside guest "
            "RAM",
            phi, (unsigned long long)ph->paddr, (unsigned long long)ph->memsz);
    }
    return 0;
}

static void add_segment(struct vmm_pvh_image *img, const struct phdr *ph)
{
    struct vmm_pvh_segment s = {ph->paddr, ph->offset, ph->filesz, ph->memsz};
    unsigned i = img->nr_segments++;

    /* Insertion sort by address: at most VMM_PVH_MAX_SEGMENTS. */
    while (i > 0 && img->seg[i - 1].gpa > s.gpa) {
        img->seg[i] = img->seg[i - 1];
        i--;
    }
    img->seg[i] = s;
}

static int scan_phdrs(const struct vmm_gmem *gm, const uint8_t *p, size_t size,
                      const struct ehdr *h, struct vmm_pvh_image *img,
                      struct scan *sc, char *err, size_t errlen)
{
    unsigned i;
    int r;

    for (i = 0; i < h->phnum; i++) {
        struct phdr ph;

        read_phdr(p, h, i, &ph);
        if (ph.type == PT_NULL) {
            continue;
        }
        if (!in_file(ph.offset, ph.filesz, size)) {
            return vmm__x86_err(
                err, errlen, -ENOEXEC,
                "ELF: header %u: bytes [%#llx, +%#llx) are past "
                "the end of the %zu-byte file",
                i, (unsigned long long)ph.offset, (unsigned long long)ph.filesz,
                size);
        }
        if (!pow2_or_zero(ph.align)) {
            return vmm__x86_err(
                err, errlen, -ENOEXEC,
                "ELF: header %u: alignment %#llx is not a power of "
                "two",
                i, (unsigned long long)ph.align);
        }
        if (ph.type == PT_NOTE) {
            r = scan_notes(p, &ph, i, sc, err, errlen);
        } else if (ph.type == PT_LOAD) {
            r = check_load(gm, &ph, i, h->is64, err, errlen);
            if (r == 0 && ph.memsz > 0) {
                if (img->nr_segments == VMM_PVH_MAX_SEGMENTS) {
                    return vmm__x86_err(err, errlen, -E2BIG,
                                        "ELF: more than %u loadable segments",
                                        VMM_PVH_MAX_SEGMENTS);
                }
                add_segment(img, &ph);
            }
        } else {
            r = 0; /* PT_PHDR, PT_GNU_STACK ...: nothing to load */
        }
        if (r < 0) {
            return r;
        }
    }
    return 0;
}

/* Sorted segments must be disjoint; the entry must be in file bytes. */
static int check_image(const struct vmm_pvh_image *img, const struct scan *sc,
                       char *err, size_t errlen)
{
    unsigned i;

    if (!sc->have_entry) {
        return vmm__x86_err(
            err, errlen, -ENOENT,
            "ELF: no XEN_ELFNOTE_PHYS32_ENTRY note in a PT_NOTE "
            "segment: not a PVH kernel");
    }
    for (i = 1; i < img->nr_segments; i++) {
        const struct vmm_pvh_segment *a = &img->seg[i - 1], *b = &img->seg[i];

        if (b->gpa - a->gpa < a->memsz) {
            return vmm__x86_err(err, errlen, -ENOEXEC,
                                "ELF: segments at %#llx and %#llx overlap",
                                (unsigned long long)a->gpa,
                                (unsigned long long)b->gpa);
        }
    }
    for (i = 0; i < img->nr_segments; i++) {
        const struct vmm_pvh_segment *s = &img->seg[i];

        if (sc->entry >= s->gpa && sc->entry - s->gpa < s->filesz) {
            return 0;
        }
    }
    return vmm__x86_err(
        err, errlen, -ENOEXEC,
        "ELF: PVH entry %#x is not inside a segment's file bytes", sc->entry);
}

int vmm_pvh_parse(const struct vmm_gmem *gm, const void *elf, size_t size,
                  struct vmm_pvh_image *ret, char *err, size_t errlen)
{
    struct vmm_pvh_image img;
    struct scan sc = {0};
    struct ehdr h = {0};
    int r;

    if (!gm || !elf || !ret) {
        return vmm__x86_err(err, errlen, -EINVAL, "ELF: missing argument");
    }
    memset(&img, 0, sizeof(img));
    r = read_ehdr(elf, size, &h, err, errlen);
    if (r == 0) {
        r = check_ehdr(&h, size, err, errlen);
    }
    if (r == 0) {
        r = scan_phdrs(gm, elf, size, &h, &img, &sc, err, errlen);
    }
    if (r == 0) {
        r = check_image(&img, &sc, err, errlen);
    }
    if (r < 0) {
        return r;
    }
    img.entry = sc.entry;
    img.elf64 = h.is64;
    *ret = img;
    return 0;
}

int vmm_pvh_load(const struct vmm_gmem *gm, const void *elf, size_t size,
                 struct vmm_pvh_image *ret, char *err, size_t errlen)
{
    struct vmm_pvh_image img;
    const uint8_t *p = elf;
    unsigned i;
    int r;

    if (!ret) {
        return vmm__x86_err(err, errlen, -EINVAL, "ELF: missing argument");
    }
    r = vmm_pvh_parse(gm, elf, size, &img, err, errlen);
    if (r < 0) {
        return r;
    }
    for (i = 0; i < img.nr_segments; i++) {
        const struct vmm_pvh_segment *s = &img.seg[i];

        /* Checked by vmm_pvh_parse(): both ranges are RAM, in the file. */
        r = vmm_gmem_write(gm, s->gpa, p + s->offset, s->filesz);
        if (r == 0) {
            r = vmm_gmem_fill(gm, s->gpa + s->filesz, 0, s->memsz - s->filesz);
        }
        if (r < 0) {
            return vmm__x86_err(err, errlen, r,
                                "ELF: segment at %#llx: copy failed",
                                (unsigned long long)s->gpa);
        }
    }
    *ret = img;
    return 0;
}
