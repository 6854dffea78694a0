/* SPDX-License-Identifier: MIT */
/*
 * The PVH boot ABI's start-of-day structure, as the loader (QEMU, loom-vm)
 * hands it over in %ebx: hvm_start_info version 1 with its memory map.
 */
#ifndef SDK_PVH_H
#define SDK_PVH_H

#include <stdint.h>

#define HVM_START_MAGIC 0x336ec578u

struct hvm_start_info {
    uint32_t magic;
    uint32_t version;
    uint32_t flags;
    uint32_t nr_modules;
    uint64_t modlist_paddr;
    uint64_t cmdline_paddr;
    uint64_t rsdp_paddr;
    /* Version 1. */
    uint64_t memmap_paddr;
    uint32_t memmap_entries;
    uint32_t reserved;
};

struct hvm_modlist_entry {
    uint64_t paddr;
    uint64_t size;
    uint64_t cmdline_paddr;
    uint64_t reserved;
};

/* Memory map entry types (the E820 numbering). */
enum {
    HVM_MEMMAP_RAM = 1,
    HVM_MEMMAP_RESERVED = 2,
    HVM_MEMMAP_ACPI = 3,
    HVM_MEMMAP_NVS = 4,
    HVM_MEMMAP_UNUSABLE = 5,
};

struct hvm_memmap_table_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
    uint32_t reserved;
};

#endif /* SDK_PVH_H */
