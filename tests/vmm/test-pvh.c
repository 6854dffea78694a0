/* SPDX-License-Identifier: MIT */
/*
 * The PVH loader (vmm/arch/x86_64/pvh.c) against ELF files crafted here:
 * valid 32- and 64-bit kernels load byte for byte with their BSS zeroed;
 * every malformed header, lying count, out-of-file offset, overflowing
 * size, out-of-RAM or overlapping segment and broken note is refused with
 * the documented error, a message, and guest RAM left untouched.  Then
 * the boot data (pvh-start-info.c): the memory map, start_info field by
 * field, command line and initrd placement, compared with what QEMU 7.2
 * microvm gives the same kernel.
 */
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "arch/x86_64/pvh.h"
#include "harness.h"
#include "pvh-elf.h"

#define LOW_SIZE 0x400000u /* 4 MiB at 0 */
#define HIGH_GPA 0x100000000ull
#define HIGH_SIZE 0x10000u
#define FILL 0xa5

static uint8_t *g_low, *g_high;
static struct vmm_gmem *g_gm;

/* ------------------------------------------------------------------ */
/* Guest RAM                                                           */
/* ------------------------------------------------------------------ */

static void ram_fill(void)
{
    memset(g_low, FILL, LOW_SIZE);
    memset(g_high, FILL, HIGH_SIZE);
}

static bool bytes_are(const uint8_t *p, uint64_t len, uint8_t byte)
{
    uint64_t i;

    for (i = 0; i < len; i++) {
        if (p[i] != byte) {
            return false;
        }
    }
    return true;
}

/* Whether [gpa, gpa + len) of low RAM all holds @byte. */
static bool ram_is(uint64_t gpa, uint64_t len, uint8_t byte)
{
    return bytes_are(g_low + gpa, len, byte);
}

static bool ram_untouched(void)
{
    return ram_is(0, LOW_SIZE, FILL) && bytes_are(g_high, HIGH_SIZE, FILL);
}

/*
 * Load @e and expect @code with a message containing @why; RAM and the
 * image are untouched.
 */
static void expect_refused(const struct t_elf *e, int code, const char *why)
{
    static uint8_t buf[ELF_MAX];
    struct vmm_pvh_image img;
    char err[VMM_PVH_ERR_SIZE] = "";
    size_t n = t_build(e, buf);

    ram_fill();
    memset(&img, 0x5a, sizeof(img));
    g_assert_cmpint(vmm_pvh_load(g_gm, buf, n, &img, err, sizeof(err)), ==,
                    code);
    g_test_message("refused (%d): %s", code, err);
    g_assert_nonnull(strstr(err, why));
    g_assert_true(ram_untouched());
    g_assert_cmpuint(img.nr_segments, ==, 0x5a5a5a5au);
}

static void expect_loaded(const struct t_elf *e, struct vmm_pvh_image *img)
{
    static uint8_t buf[ELF_MAX];
    char err[VMM_PVH_ERR_SIZE] = "";
    size_t n = t_build(e, buf);
    int r;

    ram_fill();
    r = vmm_pvh_load(g_gm, buf, n, img, err, sizeof(err));
    if (r < 0) {
        g_test_message("unexpected refusal: %s", err);
    }
    g_assert_cmpint(r, ==, 0);
}

/* ------------------------------------------------------------------ */
/* Valid kernels                                                       */
/* ------------------------------------------------------------------ */

static void check_default_load(const struct vmm_pvh_image *img, bool is64)
{
    unsigned i;

    g_assert_cmpuint(img->entry, ==, ENTRY);
    g_assert_true(img->elf64 == is64);
    g_assert_cmpuint(img->nr_segments, ==, 2);
    g_assert_cmpuint(img->seg[0].gpa, ==, CODE_GPA);
    g_assert_cmpuint(img->seg[0].filesz, ==, CODE_FILESZ);
    g_assert_cmpuint(img->seg[0].memsz, ==, CODE_MEMSZ);
    g_assert_cmpuint(img->seg[1].gpa, ==, DATA_GPA);
    for (i = 0; i < CODE_FILESZ; i++) {
        g_assert_cmpuint(g_low[CODE_GPA + i], ==, (uint8_t)(0xc0 + i));
    }
    for (i = 0; i < DATA_SIZE; i++) {
        g_assert_cmpuint(g_low[DATA_GPA + i], ==, (uint8_t)(0x40 + i));
    }
    /* BSS zeroed, nothing around the segments touched. */
    g_assert_true(ram_is(CODE_GPA + CODE_FILESZ, CODE_MEMSZ - CODE_FILESZ, 0));
    g_assert_true(ram_is(0, CODE_GPA, FILL));
    g_assert_true(
        ram_is(CODE_GPA + CODE_MEMSZ, DATA_GPA - CODE_GPA - CODE_MEMSZ, FILL));
    g_assert_true(
        ram_is(DATA_GPA + DATA_SIZE, LOW_SIZE - DATA_GPA - DATA_SIZE, FILL));
}

static void test_valid(void)
{
    struct vmm_pvh_image img;
    struct t_elf e;
    int is64;

    for (is64 = 0; is64 < 2; is64++) {
        t_default(&e, is64);
        expect_loaded(&e, &img);
        check_default_load(&img, is64);
    }
}

static void test_valid_variants(void)
{
    struct vmm_pvh_image img;
    struct t_elf e;

    /* 64-bit note value (Linux's _ASM_PTR), 8-byte padding (p_align 8). */
    t_default(&e, true);
    e.note_descsz = 8;
    e.ph[2].filesz = e.ph[2].memsz = 24;
    e.ph[2].align = 8;
    expect_loaded(&e, &img);
    check_default_load(&img, true);

    /* elf32-x86-64 (x32 linker output) is accepted, as QEMU does. */
    t_default(&e, false);
    e.machine = EM_X86_64;
    expect_loaded(&e, &img);
    check_default_load(&img, false);

    /* Segments listed out of order come back sorted. */
    t_default(&e, true);
    {
        struct t_phdr t = e.ph[0];

        e.ph[0] = e.ph[1];
        e.ph[1] = t;
    }
    expect_loaded(&e, &img);
    check_default_load(&img, true);

    /* Empty PT_LOADs, PT_NULL and unknown types are ignored. */
    t_default(&e, true);
    e.ph[3] = (struct t_phdr){PT_LOAD, 0, 0, 0, 0, 0, 0x1000};
    e.ph[4] = (struct t_phdr){PT_NULL, ~0ull, 0, 0, ~0ull, ~0ull, 3};
    e.ph[5] = (struct t_phdr){0x6fff1234, 0, 0, 0, 0, 0, 0};
    e.nph = e.phnum = 6;
    expect_loaded(&e, &img);
    check_default_load(&img, true);

    /* No section headers at all (a stripped file). */
    t_default(&e, false);
    e.shoff = 0;
    e.shnum = 0;
    expect_loaded(&e, &img);

    /* A segment in the high RAM region, adjacent segments. */
    t_default(&e, true);
    e.ph[1].paddr = HIGH_GPA + 0x1000;
    e.ph[3] = (struct t_phdr){
        PT_LOAD, DATA_OFF, CODE_GPA + CODE_MEMSZ, CODE_GPA + CODE_MEMSZ, 0x10,
        0x10,    0x1000};
    e.nph = e.phnum = 4;
    expect_loaded(&e, &img);
    g_assert_cmpuint(img.nr_segments, ==, 3);
    g_assert_cmpuint(img.seg[1].gpa, ==, CODE_GPA + CODE_MEMSZ);
    g_assert_cmpuint(img.seg[2].gpa, ==, HIGH_GPA + 0x1000);
    g_assert_cmpuint(g_high[0x1000], ==, 0x40);
    g_assert_cmpuint(g_high[0x1000 + DATA_SIZE - 1], ==,
                     (uint8_t)(0x40 + DATA_SIZE - 1));
    g_assert_cmpuint(g_high[0x1000 + DATA_SIZE], ==, FILL);

    /* Lowest allowed address: right after the reserved area. */
    t_default(&e, false);
    e.ph[1].paddr = VMM_PVH_LOW_RESERVED;
    e.ph[1].vaddr = DATA_GPA; /* vaddr carries the alignment */
    expect_loaded(&e, &img);
    g_assert_cmpuint(img.seg[0].gpa, ==, VMM_PVH_LOW_RESERVED);

    /* Two PVH notes that agree. */
    t_default(&e, true);
    e.ph[3] = e.ph[2];
    e.nph = e.phnum = 4;
    expect_loaded(&e, &img);
}

/* The parser alone writes nothing, even for a valid file. */
static void test_parse_pure(void)
{
    static uint8_t buf[ELF_MAX];
    struct vmm_pvh_image img;
    struct t_elf e;
    size_t n;

    t_default(&e, true);
    n = t_build(&e, buf);
    ram_fill();
    g_assert_cmpint(vmm_pvh_parse(g_gm, buf, n, &img, NULL, 0), ==, 0);
    g_assert_true(ram_untouched());
    g_assert_cmpuint(img.entry, ==, ENTRY);
    g_assert_cmpint(vmm_pvh_parse(NULL, buf, n, &img, NULL, 0), ==, -EINVAL);
    g_assert_cmpint(vmm_pvh_parse(g_gm, NULL, n, &img, NULL, 0), ==, -EINVAL);
    g_assert_cmpint(vmm_pvh_load(g_gm, buf, n, NULL, NULL, 0), ==, -EINVAL);
}

/* ------------------------------------------------------------------ */
/* Refusals: the ELF header                                            */
/* ------------------------------------------------------------------ */

static void test_bad_ident(void)
{
    struct t_elf e;
    int is64;

    for (is64 = 0; is64 < 2; is64++) {
        t_default(&e, is64);
        e.ident_class = 3;
        expect_refused(&e, -ENOEXEC, "class");
        t_default(&e, is64);
        e.ident_data = ELFDATA2MSB;
        expect_refused(&e, -ENOEXEC, "little-endian");
        t_default(&e, is64);
        e.ident_version = 0;
        expect_refused(&e, -ENOEXEC, "ident version");
    }
}

static void test_truncated(void)
{
    static uint8_t buf[ELF_MAX];
    struct vmm_pvh_image img;
    char err[VMM_PVH_ERR_SIZE];
    struct t_elf e;
    size_t n, cut;
    int is64;

    for (is64 = 0; is64 < 2; is64++) {
        t_default(&e, is64);
        n = t_build(&e, buf);
        ram_fill();
        /* Every length short of the section headers' end is refused. */
        for (cut = 0; cut < n; cut += (cut < 0x200 ? 1 : 0x80)) {
            err[0] = 0;
            g_assert_cmpint(
                vmm_pvh_load(g_gm, buf, cut, &img, err, sizeof(err)), ==,
                -ENOEXEC);
            g_assert_cmpuint(strlen(err), >, 5);
            g_assert_true(ram_is(CODE_GPA, CODE_MEMSZ, FILL));
            g_assert_true(ram_is(DATA_GPA, DATA_SIZE, FILL));
        }
        g_assert_cmpint(vmm_pvh_load(g_gm, buf, n - 1, &img, err, sizeof(err)),
                        ==, -ENOEXEC);
        g_assert_true(ram_untouched());
    }
    /* Not even an ident. */
    g_assert_cmpint(vmm_pvh_load(g_gm, "\177ELF", 4, &img, err, sizeof(err)),
                    ==, -ENOEXEC);
    g_assert_cmpint(vmm_pvh_load(g_gm, "MZ\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 17,
                                 &img, err, sizeof(err)),
                    ==, -ENOEXEC);
}

static void test_bad_ehdr(void)
{
    struct t_elf e;
    int is64;

    for (is64 = 0; is64 < 2; is64++) {
        t_default(&e, is64);
        e.type = ET_DYN;
        expect_refused(&e, -ENOEXEC, "not an executable");
        t_default(&e, is64);
        e.type = ET_REL;
        expect_refused(&e, -ENOEXEC, "not an executable");
        t_default(&e, is64);
        e.machine = EM_ARM;
        expect_refused(&e, -ENOEXEC, "machine 40");
        t_default(&e, is64);
        e.version = 2;
        expect_refused(&e, -ENOEXEC, "unknown version");
        t_default(&e, is64);
        e.flags = 1;
        expect_refused(&e, -ENOEXEC, "flags");
        t_default(&e, is64);
        e.ehsize++;
        expect_refused(&e, -ENOEXEC, "header size");
    }
    /* A 64-bit file claiming i386. */
    t_default(&e, true);
    e.machine = EM_386;
    expect_refused(&e, -ENOEXEC, "machine 3 ");
}

static void test_phdr_lies(void)
{
    struct t_elf e;
    int is64;

    for (is64 = 0; is64 < 2; is64++) {
        /* Entry size other than the class's. */
        t_default(&e, is64);
        e.phentsize--;
        expect_refused(&e, -ENOEXEC, "program header size");
        t_default(&e, is64);
        e.phentsize = is64 ? sizeof(Elf32_Phdr) : sizeof(Elf64_Phdr);
        expect_refused(&e, -ENOEXEC, "program header size");
        /* No headers; more than the limit; extended numbering. */
        t_default(&e, is64);
        e.phnum = 0;
        expect_refused(&e, -ENOEXEC, "no program headers");
        t_default(&e, is64);
        e.phnum = VMM_PVH_MAX_PHDRS + 1;
        expect_refused(&e, -E2BIG, "(at most 64)");
        t_default(&e, is64);
        e.phnum = PN_XNUM;
        expect_refused(&e, -E2BIG, "65535 program headers");
        /* More headers than the file holds. */
        t_default(&e, is64);
        e.phoff = e.size - 2 * e.phentsize;
        expect_refused(&e, -ENOEXEC, "outside the file");
        /* Offset misaligned, inside the ELF header, past the end. */
        t_default(&e, is64);
        e.phoff += 2;
        expect_refused(&e, -ENOEXEC, "misaligned");
        t_default(&e, is64);
        e.phoff = 0;
        expect_refused(&e, -ENOEXEC, "program headers at 0 ");
        t_default(&e, is64);
        e.phoff = 0x10000;
        expect_refused(&e, -ENOEXEC, "program headers at 0x10000");
    }
    /* phoff + phnum * phentsize overflowing 64 bits. */
    t_default(&e, true);
    e.phoff = UINT64_MAX - 7;
    expect_refused(&e, -ENOEXEC, "at 0xfffffffffffffff8");
}

static void test_shdr_lies(void)
{
    struct t_elf e;
    int is64;

    for (is64 = 0; is64 < 2; is64++) {
        t_default(&e, is64);
        e.shoff = 0x10000;
        expect_refused(&e, -ENOEXEC, "section headers at 0x10000");
        t_default(&e, is64);
        e.shentsize++;
        expect_refused(&e, -ENOEXEC, "section header size");
        t_default(&e, is64);
        e.shnum = 3; /* one more than the file holds */
        expect_refused(&e, -ENOEXEC, "(3 x");
        t_default(&e, is64);
        e.shstrndx = 2;
        expect_refused(&e, -ENOEXEC, "name table index");
        t_default(&e, is64);
        e.shnum = 0; /* extended numbering */
        expect_refused(&e, -ENOEXEC, "extended numbering");
        t_default(&e, is64);
        e.shoff = 0; /* but sections claimed */
        expect_refused(&e, -ENOEXEC, "section headers at offset 0");
        t_default(&e, is64);
        e.shoff += 1;
        expect_refused(&e, -ENOEXEC, "section headers at 0x3101");
    }
}

/* ------------------------------------------------------------------ */
/* Refusals: segments                                                  */
/* ------------------------------------------------------------------ */

static void test_bad_segments(void)
{
    struct t_elf e;
    int is64;

    for (is64 = 0; is64 < 2; is64++) {
        /* File size larger than memory size. */
        t_default(&e, is64);
        e.ph[0].memsz = CODE_FILESZ - 1;
        expect_refused(&e, -ENOEXEC, "file size 0x200 > memory size");
        /* Bytes past the end of the file; offset past the end. */
        t_default(&e, is64);
        e.ph[1].filesz = e.ph[1].memsz = e.size - DATA_OFF + 1;
        expect_refused(&e, -ENOEXEC, "past the end");
        t_default(&e, is64);
        e.ph[1].offset = 0x10000;
        e.ph[1].vaddr = DATA_GPA + 0x10000;
        expect_refused(&e, -ENOEXEC, "past the end");
        /* Alignment not a power of two; address/offset disagreeing. */
        t_default(&e, is64);
        e.ph[0].align = 0x3000;
        expect_refused(&e, -ENOEXEC, "power of two");
        t_default(&e, is64);
        e.ph[0].vaddr += 0x10;
        expect_refused(&e, -ENOEXEC, "disagree modulo");
        /* Overlapping segments (partly, and one inside the other). */
        t_default(&e, is64);
        e.ph[1].paddr = CODE_GPA + CODE_MEMSZ - 1;
        expect_refused(&e, -ENOEXEC, "overlap");
        t_default(&e, is64);
        e.ph[1].paddr = CODE_GPA + 0x100;
        expect_refused(&e, -ENOEXEC, "overlap");
        /* The entry outside the file bytes: in BSS, and nowhere. */
        t_default(&e, is64);
        e.note_value = CODE_GPA + CODE_FILESZ;
        expect_refused(&e, -ENOEXEC, "not inside a segment");
        t_default(&e, is64);
        e.note_value = 0x50000;
        expect_refused(&e, -ENOEXEC, "not inside a segment");
    }
}

static void test_segments_outside_ram(void)
{
    struct t_elf e;
    int is64;

    for (is64 = 0; is64 < 2; is64++) {
        /* Past the end of low RAM, straddling it, in the gap. */
        t_default(&e, is64);
        e.ph[1].paddr = LOW_SIZE;
        expect_refused(&e, -ERANGE, "not inside guest RAM");
        t_default(&e, is64);
        e.ph[1].paddr = LOW_SIZE - DATA_SIZE + 1;
        expect_refused(&e, -ERANGE, "not inside guest RAM");
        t_default(&e, is64);
        e.ph[1].paddr = 0x80000000u;
        expect_refused(&e, -ERANGE, "not inside guest RAM");
        /* A memory size reaching far past RAM. */
        t_default(&e, is64);
        e.ph[1].memsz = 0x7fffffff;
        expect_refused(&e, -ERANGE, "not inside guest RAM");
        /* Touching the reserved low area [0, 0x2068). */
        t_default(&e, is64);
        e.ph[1].paddr = 0;
        expect_refused(&e, -ERANGE, "keeps zeroed");
        t_default(&e, is64);
        e.ph[1].paddr = VMM_PVH_LOW_RESERVED - 1;
        expect_refused(&e, -ERANGE, "keeps zeroed");
    }
    /* Wrapping the 32-bit address space, and the 64-bit one. */
    t_default(&e, false);
    e.ph[1].paddr = 0xffffff80u;
    expect_refused(&e, -ENOEXEC, "wraps");
    t_default(&e, true);
    e.ph[1].paddr = UINT64_MAX - 0x10;
    expect_refused(&e, -ENOEXEC, "wraps");
    t_default(&e, true);
    e.ph[1].memsz = UINT64_MAX;
    expect_refused(&e, -ENOEXEC, "wraps");
    /* High region: beyond its end. */
    t_default(&e, true);
    e.ph[1].paddr = HIGH_GPA + HIGH_SIZE - 0x10;
    expect_refused(&e, -ERANGE, "not inside guest RAM");
    /* 64-bit file sizes and offsets that overflow when added. */
    t_default(&e, true);
    e.ph[1].offset = UINT64_MAX - 0x10;
    e.ph[1].vaddr = e.ph[1].offset; /* congruent modulo anything */
    expect_refused(&e, -ENOEXEC, "past the end");
    t_default(&e, true);
    e.ph[1].filesz = UINT64_MAX;
    e.ph[1].memsz = UINT64_MAX;
    expect_refused(&e, -ENOEXEC, "past the end");
}

static void test_too_many_segments(void)
{
    struct t_elf e;
    unsigned i;

    t_default(&e, true);
    /* VMM_PVH_MAX_SEGMENTS + 1 one-page segments, plus the note. */
    for (i = 0; i <= VMM_PVH_MAX_SEGMENTS; i++) {
        e.ph[i] = (struct t_phdr){PT_LOAD,
                                  CODE_OFF,
                                  CODE_GPA + i * 0x1000,
                                  CODE_GPA + i * 0x1000,
                                  0x100,
                                  0x100,
                                  0x1000};
    }
    e.ph[i] = (struct t_phdr){PT_NOTE, NOTE_OFF, 0, 0, 20, 20, 4};
    e.nph = e.phnum = i + 1;
    expect_refused(&e, -E2BIG, "more than 16");
    /* One fewer is fine. */
    e.ph[i - 1] = e.ph[i];
    e.nph = e.phnum = i;
    {
        struct vmm_pvh_image img;

        expect_loaded(&e, &img);
        g_assert_cmpuint(img.nr_segments, ==, VMM_PVH_MAX_SEGMENTS);
    }
}

/* ------------------------------------------------------------------ */
/* Refusals: the note                                                  */
/* ------------------------------------------------------------------ */

static void test_note_missing(void)
{
    struct t_elf e;
    int is64;

    for (is64 = 0; is64 < 2; is64++) {
        /* No PT_NOTE: the SHT_NOTE section alone is not looked at. */
        t_default(&e, is64);
        e.ph[2].type = PT_NULL;
        expect_refused(&e, -ENOENT, "no XEN_ELFNOTE");
        /* Wrong owner, wrong type. */
        t_default(&e, is64);
        memcpy(e.note_name, "Xeo", 4);
        expect_refused(&e, -ENOENT, "no XEN_ELFNOTE");
        t_default(&e, is64);
        e.note_type = 17;
        expect_refused(&e, -ENOENT, "no XEN_ELFNOTE");
        t_default(&e, is64);
        e.note_namesz = 3; /* "Xen" without its NUL */
        expect_refused(&e, -ENOENT, "no XEN_ELFNOTE");
    }
}

static void test_note_malformed(void)
{
    struct t_elf e;
    int is64;

    for (is64 = 0; is64 < 2; is64++) {
        /* Name or value running past the segment, or overflowing. */
        t_default(&e, is64);
        e.note_namesz = 0xffffffffu;
        expect_refused(&e, -ENOEXEC, "runs past");
        t_default(&e, is64);
        e.note_descsz = 0xfffffff0u;
        expect_refused(&e, -ENOEXEC, "runs past");
        t_default(&e, is64);
        e.note_descsz = 8; /* segment holds only 4 value bytes */
        expect_refused(&e, -ENOEXEC, "runs past");
        /* A header cut short by the segment's end. */
        t_default(&e, is64);
        e.ph[2].filesz = 8;
        expect_refused(&e, -ENOEXEC, "truncated note");
        t_default(&e, is64);
        e.ph[2].filesz = 24; /* 4 stray bytes after the note */
        expect_refused(&e, -ENOEXEC, "truncated note");
        /* Values of a size other than 4 or 8, or above 4 GiB. */
        t_default(&e, is64);
        e.note_descsz = 2;
        expect_refused(&e, -ENOEXEC, "2-byte value");
        t_default(&e, is64);
        e.note_descsz = 8;
        e.ph[2].filesz = 24;
        e.note_value = 0x100000000ull + ENTRY;
        expect_refused(&e, -ENOEXEC, "above 4 GiB");
        /* The note segment itself outside the file. */
        t_default(&e, is64);
        e.ph[2].offset = e.size - 4;
        expect_refused(&e, -ENOEXEC, "past the end");
    }
    /* Two PVH notes that disagree: a second note segment at an offset
     * where the entry reads differently (inside the first's value). */
    t_default(&e, true);
    e.ph[3] = (struct t_phdr){PT_NOTE, NOTE_OFF, 0, 0, 20, 20, 4};
    e.nph = e.phnum = 4;
    {
        static uint8_t buf[ELF_MAX];
        struct vmm_pvh_image img;
        char err[VMM_PVH_ERR_SIZE] = "";
        uint32_t other[5] = {4, 4, 18, 0x006e6558, CODE_GPA + 4};
        size_t n = t_build(&e, buf);
        Elf64_Phdr ph;

        memcpy(buf + NOTE_OFF + 0x40, other, sizeof(other));
        memcpy(&ph, buf + e.phoff + 3 * sizeof(ph), sizeof(ph));
        ph.p_offset = NOTE_OFF + 0x40;
        memcpy(buf + e.phoff + 3 * sizeof(ph), &ph, sizeof(ph));
        ram_fill();
        g_assert_cmpint(vmm_pvh_load(g_gm, buf, n, &img, err, sizeof(err)), ==,
                        -ENOEXEC);
        g_assert_nonnull(strstr(err, "disagree"));
        g_assert_true(ram_untouched());
    }
}

/* ------------------------------------------------------------------ */
/* Random corruption: never a crash, and all or nothing                */
/* ------------------------------------------------------------------ */

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

static void test_random_corruption(void)
{
    static uint8_t good[ELF_MAX], buf[ELF_MAX];
    unsigned iter, k, loaded = 0;
    struct t_elf e;

    ram_fill();
    for (iter = 0; iter < 3000; iter++) {
        struct vmm_pvh_image img;
        size_t n;
        int r;

        t_default(&e, iter & 1);
        n = t_build(&e, good);
        memcpy(buf, good, ELF_MAX);
        /* Flip a few bytes among the headers and the note. */
        for (k = 0; k < 1 + rnd() % 4; k++) {
            size_t at = rnd() % 2 ? rnd() % 0x100 : NOTE_OFF + rnd() % 24;

            buf[at] ^= (uint8_t)(1u << (rnd() % 8));
        }
        r = vmm_pvh_load(g_gm, buf, n, &img, NULL, 0);
        if (r < 0) {
            g_assert_true(ram_is(CODE_GPA, CODE_MEMSZ, FILL));
            g_assert_true(ram_is(DATA_GPA, DATA_SIZE, FILL));
            continue;
        }
        loaded++;
        g_assert_cmpuint(img.nr_segments, <=, VMM_PVH_MAX_SEGMENTS);
        /* Put the fill back where it loaded. */
        for (k = 0; k < img.nr_segments; k++) {
            g_assert_cmpint(
                vmm_gmem_fill(g_gm, img.seg[k].gpa, FILL, img.seg[k].memsz), ==,
                0);
        }
    }
    g_test_message("%u of 3000 corrupted files still loaded", loaded);
}

/* ------------------------------------------------------------------ */
/* Boot data: memory map, start_info, command line, initrd             */
/* ------------------------------------------------------------------ */

#define MIB (1024ull * 1024)
#define GIB (1024 * MIB)

/* A RAM map backed by untouched anonymous memory (as large as asked). */
struct big_ram {
    struct vmm_gmem *gm;
    void *hva[2];
    uint64_t size[2];
};

static void big_ram_new(struct big_ram *b, uint64_t low, uint64_t high)
{
    struct vmm_gmem_region r[2];
    unsigned n = 0;

    memset(b, 0, sizeof(*b));
    b->size[0] = low;
    b->size[1] = high;
    for (n = 0; n < 2 && b->size[n]; n++) {
        b->hva[n] = mmap(NULL, b->size[n], PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        g_assert_true(b->hva[n] != MAP_FAILED);
        r[n] = (struct vmm_gmem_region){n ? 4 * GIB : 0, b->size[n], b->hva[n]};
    }
    g_assert_cmpint(vmm_gmem_new(r, n, &b->gm), ==, 0);
}

static void big_ram_free(struct big_ram *b)
{
    unsigned n;

    vmm_gmem_free(b->gm);
    for (n = 0; n < 2; n++) {
        if (b->hva[n]) {
            munmap(b->hva[n], b->size[n]);
        }
    }
}

/*
 * What QEMU 7.2 microvm (acpi=off) reports with -m 128M and -m 4G, less
 * the empty entry (size 0, type 0) its firmware appends and counts.
 */
static const struct vmm_hvm_memmap_entry qemu_128m[] = {
    {0, 0x9fc00, 1, 0},         {0x9fc00, 0x400, 2, 0},
    {0xd0000, 0x20000, 4, 0},   {0xf0000, 0x10000, 2, 0},
    {0xfeffc000, 0x4000, 2, 0}, {0x100000, 0x7f00000, 1, 0},
};
static const struct vmm_hvm_memmap_entry qemu_4g[] = {
    {0, 0x9fc00, 1, 0},
    {0x9fc00, 0x400, 2, 0},
    {0xd0000, 0x20000, 4, 0},
    {0xf0000, 0x10000, 2, 0},
    {0xfeffc000, 0x4000, 2, 0},
    {0x100000, 0xbff00000, 1, 0},
    {0x100000000, 0x40000000, 1, 0},
};

static void check_map(const struct vmm_hvm_memmap_entry *got, int n,
                      const struct vmm_hvm_memmap_entry *want, int nwant)
{
    int i;

    g_assert_cmpint(n, ==, nwant);
    for (i = 0; i < n; i++) {
        g_assert_cmphex(got[i].addr, ==, want[i].addr);
        g_assert_cmphex(got[i].size, ==, want[i].size);
        g_assert_cmpuint(got[i].type, ==, want[i].type);
        g_assert_cmpuint(got[i].reserved, ==, 0);
    }
}

static void test_memmap_qemu(void)
{
    struct vmm_hvm_memmap_entry m[VMM_PVH_MEMMAP_MAX];
    struct big_ram b;
    int n;

    big_ram_new(&b, 128 * MIB, 0);
    n = vmm_pvh_memmap(b.gm, m, VMM_PVH_MEMMAP_MAX);
    check_map(m, n, qemu_128m, 6);
    big_ram_free(&b);

    big_ram_new(&b, 3 * GIB, 1 * GIB);
    n = vmm_pvh_memmap(b.gm, m, VMM_PVH_MEMMAP_MAX);
    check_map(m, n, qemu_4g, 7);
    /* Too small an array; bad arguments. */
    g_assert_cmpint(vmm_pvh_memmap(b.gm, m, 6), ==, -ENOSPC);
    g_assert_cmpint(vmm_pvh_memmap(b.gm, m, 0), ==, -ENOSPC);
    g_assert_cmpint(vmm_pvh_memmap(NULL, m, 8), ==, -EINVAL);
    g_assert_cmpint(vmm_pvh_memmap(b.gm, NULL, 8), ==, -EINVAL);
    big_ram_free(&b);
}

/* RAM inside the reported holes is never reported as RAM. */
static void test_memmap_holes(void)
{
    static uint8_t m1[0x20000], m2[0x200000];
    const struct vmm_gmem_region r[] = {
        {0xa0000, sizeof(m1), m1},    /* inside the low hole */
        {0xfef00000, sizeof(m2), m2}, /* across the KVM pages */
    };
    struct vmm_hvm_memmap_entry m[VMM_PVH_MEMMAP_MAX];
    const struct vmm_hvm_memmap_entry want[] = {
        {0x9fc00, 0x400, 2, 0},      {0xd0000, 0x20000, 4, 0},
        {0xf0000, 0x10000, 2, 0},    {0xfeffc000, 0x4000, 2, 0},
        {0xfef00000, 0xfc000, 1, 0}, {0xff000000, 0x100000, 1, 0},
    };
    struct vmm_gmem *gm;

    g_assert_cmpint(vmm_gmem_new(r, 2, &gm), ==, 0);
    check_map(m, vmm_pvh_memmap(gm, m, VMM_PVH_MEMMAP_MAX), want, 6);
    vmm_gmem_free(gm);
}

/* Load the default 64-bit kernel into @gm. */
static void load_default(const struct vmm_gmem *gm, struct t_elf *e,
                         struct vmm_pvh_image *img)
{
    static uint8_t buf[ELF_MAX];
    size_t n = t_build(e, buf);

    g_assert_cmpint(vmm_pvh_load(gm, buf, n, img, NULL, 0), ==, 0);
}

static void read_guest(const struct vmm_gmem *gm, uint64_t gpa, void *dst,
                       size_t len)
{
    g_assert_cmpint(vmm_gmem_read(gm, gpa, dst, len), ==, 0);
}

/* Field by field: start_info and what it points to. */
static void check_boot(const struct vmm_gmem *gm, const struct vmm_pvh_boot *b,
                       const struct vmm_pvh_image *img, const char *cmdline)
{
    struct vmm_hvm_memmap_entry map[VMM_PVH_MEMMAP_MAX],
        want[VMM_PVH_MEMMAP_MAX];
    struct vmm_hvm_start_info si;
    uint64_t gdt[VMM_PVH_GDT_ENTRIES];
    char line[VMM_PVH_CMDLINE_MAX + 1];
    unsigned i;
    int n;

    read_guest(gm, b->start_info, &si, sizeof(si));
    g_assert_cmphex(si.magic, ==, 0x336ec578);
    g_assert_cmpuint(si.version, ==, 1);
    g_assert_cmpuint(si.flags, ==, 0);
    g_assert_cmpuint(si.nr_modules, ==, b->initrd_size ? 1 : 0);
    g_assert_cmphex(si.modlist_paddr, ==, b->modlist);
    g_assert_cmphex(si.cmdline_paddr, ==, b->cmdline);
    g_assert_cmphex(si.rsdp_paddr, ==, 0);
    g_assert_cmphex(si.memmap_paddr, ==, b->memmap);
    g_assert_cmpuint(si.memmap_entries, ==, b->memmap_entries);
    g_assert_cmpuint(si.reserved, ==, 0);
    g_assert_cmpuint(b->entry, ==, img->entry);

    /* The block: page-aligned, below 1 MiB, clear of the low area and of
     * every segment; everything inside it. */
    g_assert_cmphex(b->area & 0xfff, ==, 0);
    g_assert_cmphex(b->area_size & 0xfff, ==, 0);
    g_assert_cmphex(b->area, >=, VMM_PVH_LOW_RESERVED);
    g_assert_cmphex(b->area + b->area_size, <=, 0x100000);
    for (i = 0; i < img->nr_segments; i++) {
        g_assert_true(b->area + b->area_size <= img->seg[i].gpa ||
                      img->seg[i].gpa + img->seg[i].memsz <= b->area);
    }
    g_assert_cmphex(b->start_info, ==, b->area);
    g_assert_cmphex(b->cmdline + b->cmdline_len + 1, <=,
                    b->area + b->area_size);

    /* Memory map, as vmm_pvh_memmap() computes it. */
    n = vmm_pvh_memmap(gm, want, VMM_PVH_MEMMAP_MAX);
    read_guest(gm, b->memmap, map, si.memmap_entries * sizeof(map[0]));
    check_map(map, (int)si.memmap_entries, want, n);

    /* Command line, NUL-terminated. */
    read_guest(gm, b->cmdline, line, b->cmdline_len + 1);
    g_assert_cmpuint(b->cmdline_len, ==, strlen(cmdline));
    g_assert_cmpuint(line[b->cmdline_len], ==, 0);
    g_assert_cmpint(memcmp(line, cmdline, b->cmdline_len), ==, 0);

    /* Boot GDT: null, flat 32-bit code at 0x08, flat data at 0x10. */
    g_assert_cmpuint(b->gdt_limit, ==, 0x17);
    read_guest(gm, b->gdt, gdt, sizeof(gdt));
    g_assert_cmphex(gdt[0], ==, 0);
    g_assert_cmphex(gdt[1], ==, 0x00cf9b000000ffffull);
    g_assert_cmphex(gdt[2], ==, 0x00cf93000000ffffull);
    g_assert_true(b->gdt >= b->area && b->gdt + 24 <= b->area + b->area_size);
}

static void test_setup_qemu_128m(void)
{
    struct vmm_pvh_image img;
    struct vmm_pvh_boot b;
    struct big_ram ram;
    struct t_elf e;
    char err[VMM_PVH_ERR_SIZE];

    big_ram_new(&ram, 128 * MIB, 0);
    t_default(&e, true);
    load_default(ram.gm, &e, &img);
    g_assert_cmpint(vmm_pvh_setup(ram.gm, &img, "hello world cmdline", NULL, 0,
                                  &b, err, sizeof(err)),
                    ==, 0);
    check_boot(ram.gm, &b, &img, "hello world cmdline");
    /* High, like QEMU: in the last page below 1 MiB, which the map says
     * is not RAM; no module. */
    g_assert_cmphex(b.area, ==, 0xff000);
    g_assert_cmpuint(b.memmap_entries, ==, 6);
    g_assert_cmphex(b.modlist, ==, 0);
    g_assert_cmphex(b.initrd, ==, 0);
    /* The reserved low area stays zero. */
    g_assert_true(bytes_are(ram.hva[0], VMM_PVH_LOW_RESERVED, 0));

    /* No command line at all: an empty string. */
    g_assert_cmpint(
        vmm_pvh_setup(ram.gm, &img, NULL, NULL, 0, &b, err, sizeof(err)), ==,
        0);
    check_boot(ram.gm, &b, &img, "");
    big_ram_free(&ram);
}

static void test_setup_initrd_qemu_4g(void)
{
    enum { N = 100000 };
    static uint8_t initrd[N], back[N];
    struct vmm_hvm_modlist_entry mod;
    struct vmm_pvh_image img;
    struct vmm_pvh_boot b;
    struct big_ram ram;
    struct t_elf e;
    unsigned i;

    for (i = 0; i < N; i++) {
        initrd[i] = (uint8_t)(i * 7 + 1);
    }
    big_ram_new(&ram, 3 * GIB, 1 * GIB);
    t_default(&e, false);
    load_default(ram.gm, &e, &img);
    g_assert_cmpint(
        vmm_pvh_setup(ram.gm, &img, "console=ttyS0", initrd, N, &b, NULL, 0),
        ==, 0);
    check_boot(ram.gm, &b, &img, "console=ttyS0");
    /* Where QEMU puts the same initrd with -m 4G. */
    g_assert_cmphex(b.initrd, ==, 0xbffe7000);
    g_assert_cmpuint(b.initrd_size, ==, N);
    read_guest(ram.gm, b.initrd, back, N);
    g_assert_cmpint(memcmp(back, initrd, N), ==, 0);
    g_assert_cmphex(b.modlist, !=, 0);
    read_guest(ram.gm, b.modlist, &mod, sizeof(mod));
    g_assert_cmphex(mod.paddr, ==, 0xbffe7000);
    g_assert_cmpuint(mod.size, ==, N);
    g_assert_cmphex(mod.cmdline_paddr, ==, 0);
    g_assert_cmphex(mod.reserved, ==, 0);
    g_assert_cmpuint(b.memmap_entries, ==, 7);
    big_ram_free(&ram);
}

/* Setting up must write nothing when it fails: compare all low RAM. */
static void expect_setup_refused(const struct vmm_pvh_image *img,
                                 const char *cmdline, const void *initrd,
                                 size_t initrd_size, int code, const char *why)
{
    static uint8_t before[LOW_SIZE];
    struct vmm_pvh_boot b;
    char err[VMM_PVH_ERR_SIZE] = "";

    memcpy(before, g_low, LOW_SIZE);
    memset(&b, 0x5a, sizeof(b));
    g_assert_cmpint(vmm_pvh_setup(g_gm, img, cmdline, initrd, initrd_size, &b,
                                  err, sizeof(err)),
                    ==, code);
    g_test_message("refused (%d): %s", code, err);
    g_assert_nonnull(strstr(err, why));
    g_assert_cmpint(memcmp(before, g_low, LOW_SIZE), ==, 0);
    g_assert_cmpuint(b.memmap_entries, ==, 0x5a5a5a5au);
}

static void test_cmdline_limits(void)
{
    static char line[VMM_PVH_CMDLINE_MAX + 2];
    struct vmm_pvh_image img;
    struct vmm_pvh_boot b;
    struct t_elf e;

    t_default(&e, true);
    expect_loaded(&e, &img);
    memset(line, 'a', VMM_PVH_CMDLINE_MAX);
    line[VMM_PVH_CMDLINE_MAX] = 0;
    g_assert_cmpint(vmm_pvh_setup(g_gm, &img, line, NULL, 0, &b, NULL, 0), ==,
                    0);
    check_boot(g_gm, &b, &img, line);
    g_assert_cmpuint(b.cmdline_len, ==, VMM_PVH_CMDLINE_MAX);
    /* Still below 1 MiB and high: a few pages under it. */
    g_assert_cmphex(b.area, >=, 0xf0000);

    line[VMM_PVH_CMDLINE_MAX] = 'a';
    line[VMM_PVH_CMDLINE_MAX + 1] = 0;
    expect_setup_refused(&img, line, NULL, 0, -E2BIG, "longer than");
}

static void test_block_placement(void)
{
    struct vmm_pvh_image img;
    struct vmm_pvh_boot b;
    struct t_elf e;

    /* A kernel segment right under 1 MiB pushes the block below it. */
    t_default(&e, true);
    e.ph[1].paddr = 0xff800;
    expect_loaded(&e, &img);
    g_assert_cmpint(vmm_pvh_setup(g_gm, &img, "x", NULL, 0, &b, NULL, 0), ==,
                    0);
    check_boot(g_gm, &b, &img, "x");
    g_assert_cmphex(b.area, ==, 0xfe000);

    /* Segments covering everything between the low area and 1 MiB. */
    t_default(&e, true);
    e.ph[0].paddr = 0x3000;
    e.ph[0].memsz = 0x100000 - 0x3000 - 0x800;
    e.ph[1].paddr = 0x100000 - 0x800;
    e.note_value = 0x3010;
    expect_loaded(&e, &img);
    expect_setup_refused(&img, "x", NULL, 0, -ENOSPC, "no room");
    /* ... or all but the last 5.75 KiB: one page, not three. */
    e.ph[0].memsz -= 0x1000;
    e.ph[1].paddr -= 0x1000;
    expect_loaded(&e, &img);
    g_assert_cmpint(vmm_pvh_setup(g_gm, &img, "short", NULL, 0, &b, NULL, 0),
                    ==, 0);
    check_boot(g_gm, &b, &img, "short");
    g_assert_cmphex(b.area, ==, 0xff000);
    {
        static char line[8192];

        memset(line, 'b', sizeof(line) - 1);
        expect_setup_refused(&img, line, NULL, 0, -ENOSPC, "no room");
    }
}

static void test_initrd_refusals(void)
{
    static uint8_t initrd[LOW_SIZE];
    struct vmm_pvh_image img;
    struct vmm_pvh_boot b;
    struct t_elf e;

    t_default(&e, true);
    expect_loaded(&e, &img);
    /* At the top of 4 MiB it would reach down over the data at 2 MiB. */
    expect_setup_refused(&img, "", initrd, 0x201000, -ENOSPC, "overlaps");
    /* As large as low RAM. */
    expect_setup_refused(&img, "", initrd, LOW_SIZE - 1, -E2BIG, "larger");
    /* Bytes missing. */
    expect_setup_refused(&img, "", NULL, 10, -EINVAL, "bad arguments");
    /*
     * QEMU's rule, (end - 1 - size) & ~0xfff, leaves a page-multiple size
     * one page lower than it must: 0x1ff000 bytes would start on the data
     * at 0x200000; 0x1fefff bytes are the most that fit, at 0x201000.
     */
    expect_setup_refused(&img, "", initrd, 0x1ff000, -ENOSPC, "overlaps");
    g_assert_cmpint(
        vmm_pvh_setup(g_gm, &img, "", initrd, 0x1fefff, &b, NULL, 0), ==, 0);
    g_assert_cmphex(b.initrd, ==, 0x201000);
    check_boot(g_gm, &b, &img, "");
    g_assert_cmpint(vmm_pvh_setup(NULL, &img, "", NULL, 0, &b, NULL, 0), ==,
                    -EINVAL);
    g_assert_cmpint(vmm_pvh_setup(g_gm, NULL, "", NULL, 0, &b, NULL, 0), ==,
                    -EINVAL);
    g_assert_cmpint(vmm_pvh_setup(g_gm, &img, "", NULL, 0, NULL, NULL, 0), ==,
                    -EINVAL);
}

/* ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    const struct vmm_gmem_region r[] = {
        {0, LOW_SIZE, NULL},
        {HIGH_GPA, HIGH_SIZE, NULL},
    };
    struct vmm_gmem_region rr[2];
    int ret;

    harness_init(&argc, &argv);
    g_low = malloc(LOW_SIZE);
    g_high = malloc(HIGH_SIZE);
    g_assert_nonnull(g_low);
    g_assert_nonnull(g_high);
    memcpy(rr, r, sizeof(rr));
    rr[0].hva = g_low;
    rr[1].hva = g_high;
    g_assert_cmpint(vmm_gmem_new(rr, 2, &g_gm), ==, 0);

    g_test_add_func("/pvh/elf/valid", test_valid);
    g_test_add_func("/pvh/elf/valid-variants", test_valid_variants);
    g_test_add_func("/pvh/elf/parse-pure", test_parse_pure);
    g_test_add_func("/pvh/elf/bad-ident", test_bad_ident);
    g_test_add_func("/pvh/elf/truncated", test_truncated);
    g_test_add_func("/pvh/elf/bad-ehdr", test_bad_ehdr);
    g_test_add_func("/pvh/elf/phdr-lies", test_phdr_lies);
    g_test_add_func("/pvh/elf/shdr-lies", test_shdr_lies);
    g_test_add_func("/pvh/elf/bad-segments", test_bad_segments);
    g_test_add_func("/pvh/elf/outside-ram", test_segments_outside_ram);
    g_test_add_func("/pvh/elf/too-many-segments", test_too_many_segments);
    g_test_add_func("/pvh/elf/note-missing", test_note_missing);
    g_test_add_func("/pvh/elf/note-malformed", test_note_malformed);
    g_test_add_func("/pvh/elf/random-corruption", test_random_corruption);
    g_test_add_func("/pvh/boot/memmap-qemu", test_memmap_qemu);
    g_test_add_func("/pvh/boot/memmap-holes", test_memmap_holes);
    g_test_add_func("/pvh/boot/setup-qemu-128m", test_setup_qemu_128m);
    g_test_add_func("/pvh/boot/initrd-qemu-4g", test_setup_initrd_qemu_4g);
    g_test_add_func("/pvh/boot/cmdline-limits", test_cmdline_limits);
    g_test_add_func("/pvh/boot/block-placement", test_block_placement);
    g_test_add_func("/pvh/boot/initrd-refusals", test_initrd_refusals);
    ret = g_test_run();
    vmm_gmem_free(g_gm);
    free(g_low);
    free(g_high);
    return ret;
}
