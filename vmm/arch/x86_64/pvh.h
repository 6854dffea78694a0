/* SPDX-License-Identifier: MIT */
/*
 * PVH boot (the x86/HVM direct boot ABI of Xen, which QEMU's microvm and
 * Linux's vmlinux speak): load an ELF kernel that carries the
 * XEN_ELFNOTE_PHYS32_ENTRY note, then build the hvm_start_info structure
 * (version 1), the memory map, the command line and the initrd module in
 * guest RAM.  The vCPU entry state is in boot.h.
 *
 * Everything here is pure with respect to the host: bytes in, guest-RAM
 * writes out through struct vmm_gmem, nothing else.  The kernel file and
 * the initrd are untrusted: every field is validated, with overflow-safe
 * arithmetic, before the first byte is written, so on any error guest
 * RAM is left exactly as it was.  The policy (what is accepted, where
 * things go) is documented in docs/design/vmm-boot.md.
 */
#ifndef VMM_ARCH_X86_64_PVH_H
#define VMM_ARCH_X86_64_PVH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/guest-mem.h"

/* ------------------------------------------------------------------ */
/* The guest ABI (layouts of Xen's public start_info.h, version 1)     */
/* ------------------------------------------------------------------ */

/** VMM_HVM_START_MAGIC - hvm_start_info.magic ("xEn3", 0x80 on the E). */
#define VMM_HVM_START_MAGIC 0x336ec578u

/** VMM_XEN_ELFNOTE_PHYS32_ENTRY - the note type giving the 32-bit entry. */
#define VMM_XEN_ELFNOTE_PHYS32_ENTRY 18u

/* Memory map entry types (the E820 types). */
#define VMM_HVM_MEMMAP_RAM 1u
#define VMM_HVM_MEMMAP_RESERVED 2u
#define VMM_HVM_MEMMAP_ACPI 3u
#define VMM_HVM_MEMMAP_NVS 4u

/**
 * struct vmm_hvm_start_info - what %ebx points to at the PVH entry.
 * @magic: VMM_HVM_START_MAGIC.
 * @version: 1 (the memory map fields exist).
 * @flags: SIF_* flags; 0 (not a Xen domain).
 * @nr_modules: entries at @modlist_paddr (1 with an initrd, else 0).
 * @modlist_paddr: guest-physical address of the module list, or 0.
 * @cmdline_paddr: guest-physical address of the NUL-terminated command
 *     line.
 * @rsdp_paddr: ACPI RSDP; 0 (loom-vm builds no ACPI tables).
 * @memmap_paddr: guest-physical address of the memory map.
 * @memmap_entries: entries in it.
 * @reserved: 0.
 */
struct vmm_hvm_start_info {
    uint32_t magic;
    uint32_t version;
    uint32_t flags;
    uint32_t nr_modules;
    uint64_t modlist_paddr;
    uint64_t cmdline_paddr;
    uint64_t rsdp_paddr;
    uint64_t memmap_paddr;
    uint32_t memmap_entries;
    uint32_t reserved;
};

/**
 * struct vmm_hvm_modlist_entry - one module (the initrd).
 * @paddr: guest-physical address.
 * @size: bytes.
 * @cmdline_paddr: the module's command line, 0 for none.
 * @reserved: 0.
 */
struct vmm_hvm_modlist_entry {
    uint64_t paddr;
    uint64_t size;
    uint64_t cmdline_paddr;
    uint64_t reserved;
};

/**
 * struct vmm_hvm_memmap_entry - one memory map range (E820 style).
 * @addr: guest-physical base.
 * @size: bytes.
 * @type: VMM_HVM_MEMMAP_*.
 * @reserved: 0.
 */
struct vmm_hvm_memmap_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
    uint32_t reserved;
};

/* ------------------------------------------------------------------ */
/* Limits                                                              */
/* ------------------------------------------------------------------ */

/**
 * VMM_PVH_LOW_RESERVED - [0, this) is kept zeroed by loom-vm (VMM.md,
 * "This machine"): no kernel segment and no boot data may touch it.
 */
#define VMM_PVH_LOW_RESERVED 0x2068u

/** VMM_PVH_MAX_PHDRS - most program headers an ELF may have. */
#define VMM_PVH_MAX_PHDRS 64u

/** VMM_PVH_MAX_SEGMENTS - most non-empty PT_LOAD segments. */
#define VMM_PVH_MAX_SEGMENTS 16u

/** VMM_PVH_CMDLINE_MAX - most bytes of command line, without the NUL. */
#define VMM_PVH_CMDLINE_MAX 16383u

/** VMM_PVH_MEMMAP_MAX - most memory map entries loom-vm produces. */
#define VMM_PVH_MEMMAP_MAX 32u

/** VMM_PVH_BOOT_LIMIT - boot data lies below this address (1 MiB). */
#define VMM_PVH_BOOT_LIMIT 0x100000u

/*
 * The boot GDT vmm_pvh_setup() writes, with the selectors and flat 4 GiB
 * descriptors QEMU's firmware uses at the PVH entry: 0x08 32-bit code,
 * 0x10 data (boot.h loads them).
 */
#define VMM_PVH_SEL_CODE 0x08u
#define VMM_PVH_SEL_DATA 0x10u
#define VMM_PVH_GDT_CODE 0x00cf9b000000ffffull
#define VMM_PVH_GDT_DATA 0x00cf93000000ffffull
#define VMM_PVH_GDT_ENTRIES 3u

/** VMM_PVH_ERR_SIZE - a good size for the error message buffers. */
#define VMM_PVH_ERR_SIZE 160u

/* ------------------------------------------------------------------ */
/* ELF loading (pvh.c)                                                 */
/* ------------------------------------------------------------------ */

/**
 * struct vmm_pvh_segment - one PT_LOAD segment, as loaded.
 * @gpa: guest-physical address (p_paddr).
 * @offset: offset of its bytes in the file.
 * @filesz: bytes copied from the file.
 * @memsz: bytes it occupies in RAM (the rest is zeroed), >= @filesz, > 0.
 */
struct vmm_pvh_segment {
    uint64_t gpa;
    uint64_t offset;
    uint64_t filesz;
    uint64_t memsz;
};

/**
 * struct vmm_pvh_image - a validated PVH kernel.
 * @entry: the XEN_ELFNOTE_PHYS32_ENTRY address, inside a segment.
 * @elf64: the file is ELFCLASS64.
 * @nr_segments: entries in @seg.
 * @seg: the non-empty PT_LOAD segments, sorted by @gpa, disjoint.
 */
struct vmm_pvh_image {
    uint32_t entry;
    bool elf64;
    unsigned nr_segments;
    struct vmm_pvh_segment seg[VMM_PVH_MAX_SEGMENTS];
};

/**
 * vmm_pvh_parse() - validate a PVH kernel without writing anything.
 * @gm: the guest RAM map the segments must fit in.
 * @elf: the file's bytes (untrusted).
 * @size: their number.
 * @ret: receives the image on success.
 * @err: receives a one-line message on failure (may be NULL).
 * @errlen: size of @err.
 *
 * Accepts little-endian ELF executables (ET_EXEC) of class 32 with
 * machine EM_386 or EM_X86_64, or of class 64 with EM_X86_64, whose
 * PT_NOTE segments hold a "Xen" note of type 18 with a 4- or 8-byte
 * value below 4 GiB.  Every header field, program header, offset and
 * size is checked; see docs/design/vmm-boot.md for the full list.
 *
 * Context: any (pure).
 * Return: 0; -EINVAL for NULL arguments; -ENOEXEC for a file that is not
 * a valid ELF of the accepted kinds (bad or truncated headers, lying
 * counts or sizes, offsets past the end, malformed notes, overlapping
 * segments); -ENOENT when the PVH note is missing; -ERANGE for a
 * segment outside guest RAM or touching [0, VMM_PVH_LOW_RESERVED);
 * -E2BIG for more headers or segments than the limits above.
 */
int vmm_pvh_parse(const struct vmm_gmem *gm, const void *elf, size_t size,
                  struct vmm_pvh_image *ret, char *err, size_t errlen);

/**
 * vmm_pvh_load() - validate a PVH kernel, then copy it into guest RAM.
 * @gm, @elf, @size, @ret, @err, @errlen: as vmm_pvh_parse().
 *
 * Copies each segment's file bytes to its p_paddr and zeroes the rest of
 * its memory size.  Nothing is written unless the whole file is valid.
 *
 * Context: any, while no vCPU runs.
 * Return: as vmm_pvh_parse().
 */
int vmm_pvh_load(const struct vmm_gmem *gm, const void *elf, size_t size,
                 struct vmm_pvh_image *ret, char *err, size_t errlen);

/* ------------------------------------------------------------------ */
/* Boot data (pvh-start-info.c)                                        */
/* ------------------------------------------------------------------ */

/**
 * struct vmm_pvh_boot - where vmm_pvh_setup() put things; what the entry
 * state (boot.h) needs.
 * @entry: the kernel's 32-bit entry point.
 * @start_info: guest-physical address of the struct vmm_hvm_start_info.
 * @gdt: guest-physical address of the boot GDT (boot.h).
 * @gdt_limit: its limit (size - 1).
 * @modlist: the module list, 0 without an initrd.
 * @memmap: the memory map.
 * @memmap_entries: its entries.
 * @cmdline: the command line.
 * @cmdline_len: its length without the NUL.
 * @initrd: the initrd's address, 0 without one.
 * @initrd_size: its size.
 * @area: start of the boot data block (start_info ... cmdline).
 * @area_size: its size, a multiple of 4 KiB.
 */
struct vmm_pvh_boot {
    uint32_t entry;
    uint64_t start_info;
    uint64_t gdt;
    uint16_t gdt_limit;
    uint64_t modlist;
    uint64_t memmap;
    unsigned memmap_entries;
    uint64_t cmdline;
    size_t cmdline_len;
    uint64_t initrd;
    uint64_t initrd_size;
    uint64_t area;
    uint64_t area_size;
};

/**
 * vmm_pvh_memmap() - the memory map a guest with RAM @gm is given.
 * @gm: the RAM map.
 * @out: receives up to @max entries.
 * @max: room in @out; VMM_PVH_MEMMAP_MAX always suffices.
 *
 * QEMU microvm's map (acpi=off) in QEMU's order: RAM below 0x9fc00, then
 * the fixed ranges [0x9fc00, 0xa0000) reserved, [0xd0000, 0xf0000) NVS
 * (where loom-vm keeps boot data, as QEMU's firmware does),
 * [0xf0000, 0x100000) reserved and [0xfeffc000, 0xff000000) reserved
 * (KVM's identity map and TSS pages in QEMU), then the RAM from 1 MiB up,
 * ascending.  RAM inside the fixed ranges is not reported as RAM.
 *
 * Context: any (pure).
 * Return: the number of entries; -EINVAL for NULL; -ENOSPC if @max is
 * too small (nothing useful in @out then).
 */
int vmm_pvh_memmap(const struct vmm_gmem *gm, struct vmm_hvm_memmap_entry *out,
                   unsigned max);

/**
 * vmm_pvh_setup() - build the boot data of a loaded kernel.
 * @gm: the RAM map the kernel was loaded into.
 * @img: the kernel (vmm_pvh_load()).
 * @cmdline: the command line, or NULL for an empty one; at most
 *     VMM_PVH_CMDLINE_MAX bytes.
 * @initrd: the initrd's bytes, or NULL for none.
 * @initrd_size: their number (0 with a NULL @initrd).
 * @ret: receives the placement on success.
 * @err: receives a one-line message on failure (may be NULL).
 * @errlen: size of @err.
 *
 * The initrd goes where QEMU puts it: (end of low RAM - 1 - size) rounded
 * down to 4 KiB, where low RAM is the RAM region that ends highest at or
 * below 4 GiB.  The boot data block (start_info, boot GDT, module list,
 * memory map, command line) goes at the highest 4 KiB-aligned address
 * below 1 MiB where it is RAM, clear of [0, VMM_PVH_LOW_RESERVED), of the
 * kernel's segments and of the initrd.  Nothing is written on failure.
 *
 * Context: any, while no vCPU runs.
 * Return: 0; -EINVAL for NULL or inconsistent arguments; -E2BIG for a
 * command line longer than VMM_PVH_CMDLINE_MAX or an initrd larger than
 * low RAM; -ENOSPC when the initrd or the boot data do not fit clear of
 * the kernel.
 */
int vmm_pvh_setup(const struct vmm_gmem *gm, const struct vmm_pvh_image *img,
                  const char *cmdline, const void *initrd, size_t initrd_size,
                  struct vmm_pvh_boot *ret, char *err, size_t errlen);

#endif /* VMM_ARCH_X86_64_PVH_H */
