/* SPDX-License-Identifier: MIT */
/*
 * ELF files for the PVH tests, built in memory: a class-neutral
 * description (struct t_elf) serialised as a 32- or 64-bit file.  The
 * default kernel has code at 1 MiB (with BSS), data at 2 MiB, a Xen
 * PHYS32_ENTRY note in a PT_NOTE segment (also listed as an SHT_NOTE
 * section) and a PT_GNU_STACK header.  Tests change fields to make it
 * lie, or give real code and data bytes to boot it.
 */
#ifndef LOOM_TEST_PVH_ELF_H
#define LOOM_TEST_PVH_ELF_H

#include <elf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define ELF_MAX 0x8000u

/* The default kernel's layout. */
#define CODE_GPA 0x100000u
#define CODE_OFF 0x1000u
#define CODE_FILESZ 0x200u
#define CODE_MEMSZ 0x3000u
#define DATA_GPA 0x200000u
#define DATA_OFF 0x2000u
#define DATA_SIZE 0x100u
#define NOTE_OFF 0x3000u
#define ENTRY 0x100010u
#define SH_OFF 0x3100u

/* ------------------------------------------------------------------ */
/* ELF files, described class-neutrally and serialised per class       */
/* ------------------------------------------------------------------ */

struct t_phdr {
    uint32_t type;
    uint64_t offset, vaddr, paddr, filesz, memsz, align;
};

struct t_elf {
    bool is64;
    uint8_t ident_class, ident_data, ident_version;
    uint16_t type, machine, ehsize, phentsize, phnum, shentsize, shnum;
    uint16_t shstrndx;
    uint32_t version, flags;
    uint64_t phoff, shoff;
    unsigned nph; /* headers serialised (phnum may lie about it) */
    struct t_phdr ph[20];
    /* The note at NOTE_OFF. */
    uint32_t note_namesz, note_descsz, note_type;
    char note_name[8];
    uint64_t note_value;
    size_t size; /* file size */
    /* Bytes at CODE_OFF and DATA_OFF; NULL: a counting pattern. */
    const uint8_t *code, *data;
    size_t code_len, data_len;
};

static inline void t_default(struct t_elf *e, bool is64)
{
    memset(e, 0, sizeof(*e));
    e->is64 = is64;
    e->ident_class = is64 ? ELFCLASS64 : ELFCLASS32;
    e->ident_data = ELFDATA2LSB;
    e->ident_version = EV_CURRENT;
    e->type = ET_EXEC;
    e->machine = is64 ? EM_X86_64 : EM_386;
    e->version = EV_CURRENT;
    e->ehsize = is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
    e->phentsize = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
    e->shentsize = is64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr);
    e->phoff = e->ehsize;
    e->nph = e->phnum = 4;
    e->ph[0] = (struct t_phdr){PT_LOAD,     CODE_OFF,   CODE_GPA, CODE_GPA,
                               CODE_FILESZ, CODE_MEMSZ, 0x1000};
    e->ph[1] = (struct t_phdr){PT_LOAD,   DATA_OFF,  DATA_GPA, DATA_GPA,
                               DATA_SIZE, DATA_SIZE, 0x1000};
    e->ph[2] = (struct t_phdr){PT_NOTE, NOTE_OFF, 0, 0, 20, 20, 4};
    e->ph[3] = (struct t_phdr){PT_GNU_STACK, 0, 0, 0, 0, 0, 16};
    e->note_namesz = 4;
    e->note_descsz = 4;
    e->note_type = 18;
    memcpy(e->note_name, "Xen", 4);
    e->note_value = ENTRY;
    e->shoff = SH_OFF;
    e->shnum = 2;
    e->shstrndx = 0;
    e->size = SH_OFF + 2 * e->shentsize;
}

static inline void put_ehdr(const struct t_elf *e, uint8_t *buf)
{
    uint8_t ident[EI_NIDENT] = {ELFMAG0,         ELFMAG1,        ELFMAG2,
                                ELFMAG3,         e->ident_class, e->ident_data,
                                e->ident_version};

    if (e->is64) {
        Elf64_Ehdr h = {.e_type = e->type,
                        .e_machine = e->machine,
                        .e_version = e->version,
                        .e_entry = 0xdead,
                        .e_phoff = e->phoff,
                        .e_shoff = e->shoff,
                        .e_flags = e->flags,
                        .e_ehsize = e->ehsize,
                        .e_phentsize = e->phentsize,
                        .e_phnum = e->phnum,
                        .e_shentsize = e->shentsize,
                        .e_shnum = e->shnum,
                        .e_shstrndx = e->shstrndx};

        memcpy(h.e_ident, ident, EI_NIDENT);
        memcpy(buf, &h, sizeof(h));
    } else {
        Elf32_Ehdr h = {.e_type = e->type,
                        .e_machine = e->machine,
                        .e_version = e->version,
                        .e_entry = 0xdead,
                        .e_phoff = (Elf32_Off)e->phoff,
                        .e_shoff = (Elf32_Off)e->shoff,
                        .e_flags = e->flags,
                        .e_ehsize = e->ehsize,
                        .e_phentsize = e->phentsize,
                        .e_phnum = e->phnum,
                        .e_shentsize = e->shentsize,
                        .e_shnum = e->shnum,
                        .e_shstrndx = e->shstrndx};

        memcpy(h.e_ident, ident, EI_NIDENT);
        memcpy(buf, &h, sizeof(h));
    }
}

static inline void put_phdr(const struct t_elf *e, unsigned i, uint8_t *buf)
{
    const struct t_phdr *p = &e->ph[i];
    uint64_t at = e->phoff + (uint64_t)i * (e->is64 ? sizeof(Elf64_Phdr)
                                                    : sizeof(Elf32_Phdr));

    if (e->is64) {
        Elf64_Phdr h = {p->type,  PF_R | PF_X, p->offset, p->vaddr,
                        p->paddr, p->filesz,   p->memsz,  p->align};

        if (at <= ELF_MAX - sizeof(h)) {
            memcpy(buf + at, &h, sizeof(h));
        }
    } else {
        Elf32_Phdr h = {p->type,
                        (Elf32_Off)p->offset,
                        (Elf32_Addr)p->vaddr,
                        (Elf32_Addr)p->paddr,
                        (Elf32_Word)p->filesz,
                        (Elf32_Word)p->memsz,
                        PF_R | PF_X,
                        (Elf32_Word)p->align};

        if (at <= ELF_MAX - sizeof(h)) {
            memcpy(buf + at, &h, sizeof(h));
        }
    }
}

/* The note and the section headers (null + the note as SHT_NOTE). */
static inline void put_note_and_sections(const struct t_elf *e, uint8_t *buf)
{
    uint32_t nh[3] = {e->note_namesz, e->note_descsz, e->note_type};
    unsigned i;

    memcpy(buf + NOTE_OFF, nh, sizeof(nh));
    memcpy(buf + NOTE_OFF + 12, e->note_name, 4);
    memcpy(buf + NOTE_OFF + 16, &e->note_value, 8);
    if (e->is64) {
        Elf64_Shdr sh = {.sh_type = SHT_NOTE,
                         .sh_flags = SHF_ALLOC,
                         .sh_offset = NOTE_OFF,
                         .sh_size = 20,
                         .sh_addralign = 4};

        memcpy(buf + SH_OFF + sizeof(sh), &sh, sizeof(sh));
    } else {
        Elf32_Shdr sh = {.sh_type = SHT_NOTE,
                         .sh_flags = SHF_ALLOC,
                         .sh_offset = NOTE_OFF,
                         .sh_size = 20,
                         .sh_addralign = 4};

        memcpy(buf + SH_OFF + sizeof(sh), &sh, sizeof(sh));
    }
    for (i = 0; i < CODE_FILESZ; i++) {
        buf[CODE_OFF + i] = (uint8_t)(0xc0 + i);
    }
    for (i = 0; i < DATA_SIZE; i++) {
        buf[DATA_OFF + i] = (uint8_t)(0x40 + i);
    }
    if (e->code) {
        memcpy(buf + CODE_OFF, e->code, e->code_len);
    }
    if (e->data) {
        memcpy(buf + DATA_OFF, e->data, e->data_len);
    }
}

/* Serialise @e into @buf (ELF_MAX bytes); returns the file size. */
static inline size_t t_build(const struct t_elf *e, uint8_t *buf)
{
    unsigned i;

    memset(buf, 0, ELF_MAX);
    put_note_and_sections(e, buf);
    for (i = 0; i < e->nph; i++) {
        put_phdr(e, i, buf);
    }
    put_ehdr(e, buf);
    return e->size;
}

#endif /* LOOM_TEST_PVH_ELF_H */
