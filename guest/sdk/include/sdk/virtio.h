/* SPDX-License-Identifier: MIT */
/*
 * What the virtio 1.x specification defines for the devices the SDK
 * drives: the virtio-mmio register file (legacy version 1 and modern
 * version 2), device status and feature bits, the split virtqueue, and the
 * block device's configuration and requests.  All little-endian, which is
 * also what a legacy device uses on x86.
 */
#ifndef SDK_VIRTIO_H
#define SDK_VIRTIO_H

#include <stdint.h>

/* virtio-mmio registers (offsets from the transport's base). */
#define VIRTIO_MMIO_MAGIC 0x000 /* "virt" */
#define VIRTIO_MMIO_VERSION 0x004
#define VIRTIO_MMIO_DEVICE_ID 0x008
#define VIRTIO_MMIO_VENDOR_ID 0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES 0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES 0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_GUEST_PAGE_SIZE 0x028 /* legacy */
#define VIRTIO_MMIO_QUEUE_SEL 0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX 0x034
#define VIRTIO_MMIO_QUEUE_NUM 0x038
#define VIRTIO_MMIO_QUEUE_ALIGN 0x03c /* legacy */
#define VIRTIO_MMIO_QUEUE_PFN 0x040   /* legacy */
#define VIRTIO_MMIO_QUEUE_READY 0x044 /* modern */
#define VIRTIO_MMIO_QUEUE_NOTIFY 0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS 0x060
#define VIRTIO_MMIO_INTERRUPT_ACK 0x064
#define VIRTIO_MMIO_STATUS 0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW 0x080 /* modern, and the five below */
#define VIRTIO_MMIO_QUEUE_DESC_HIGH 0x084
#define VIRTIO_MMIO_QUEUE_AVAIL_LOW 0x090
#define VIRTIO_MMIO_QUEUE_AVAIL_HIGH 0x094
#define VIRTIO_MMIO_QUEUE_USED_LOW 0x0a0
#define VIRTIO_MMIO_QUEUE_USED_HIGH 0x0a4
#define VIRTIO_MMIO_CONFIG_GENERATION 0x0fc
#define VIRTIO_MMIO_CONFIG 0x100

#define VIRTIO_MMIO_MAGIC_VALUE 0x74726976u
#define VIRTIO_MMIO_INT_VRING (1u << 0)
#define VIRTIO_MMIO_INT_CONFIG (1u << 1)

/* Device status. */
#define VIRTIO_STATUS_ACKNOWLEDGE 1u
#define VIRTIO_STATUS_DRIVER 2u
#define VIRTIO_STATUS_DRIVER_OK 4u
#define VIRTIO_STATUS_FEATURES_OK 8u
#define VIRTIO_STATUS_NEEDS_RESET 64u
#define VIRTIO_STATUS_FAILED 128u

/* Device types. */
#define VIRTIO_ID_BLOCK 2

/* Transport feature bits. */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32

/* Split virtqueue. */
#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2
#define VRING_DESC_F_INDIRECT 4
#define VRING_AVAIL_F_NO_INTERRUPT 1
#define VRING_USED_F_NO_NOTIFY 1

struct vring_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

struct vring_avail {
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[]; /* then uint16_t used_event with EVENT_IDX */
};

struct vring_used_elem {
    uint32_t id;
    uint32_t len;
};

struct vring_used {
    uint16_t flags;
    uint16_t idx;
    struct vring_used_elem ring[]; /* then uint16_t avail_event */
};

/*
 * vring_need_event() - with EVENT_IDX: whether moving an index from @old
 * to @new passes @event, the other side's "tell me at" index.
 */
static inline int vring_need_event(uint16_t event, uint16_t new_idx,
                                   uint16_t old)
{
    return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

/* Block device feature bits. */
#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_CONFIG_WCE 11
#define VIRTIO_BLK_F_MQ 12
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Offsets into the block device's configuration space. */
#define VIRTIO_BLK_CFG_CAPACITY 0x00            /* u64, 512-byte sectors */
#define VIRTIO_BLK_CFG_SIZE_MAX 0x08            /* u32 */
#define VIRTIO_BLK_CFG_SEG_MAX 0x0c             /* u32 */
#define VIRTIO_BLK_CFG_BLK_SIZE 0x14            /* u32 */
#define VIRTIO_BLK_CFG_WRITEBACK 0x20           /* u8 */
#define VIRTIO_BLK_CFG_NUM_QUEUES 0x22          /* u16 */
#define VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS 0x24 /* u32 */
#define VIRTIO_BLK_CFG_MAX_DISCARD_SEG 0x28     /* u32 */
#define VIRTIO_BLK_CFG_DISCARD_ALIGN 0x2c       /* u32 */
#define VIRTIO_BLK_CFG_MAX_WZ_SECTORS 0x30      /* u32 */
#define VIRTIO_BLK_CFG_MAX_WZ_SEG 0x34          /* u32 */

/* Request types and statuses. */
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2
#define VIRTIO_BLK_ID_BYTES 20
#define VIRTIO_BLK_SECTOR_SIZE 512

struct virtio_blk_outhdr {
    uint32_t type;
    uint32_t ioprio;
    uint64_t sector;
};

struct virtio_blk_discard_write_zeroes {
    uint64_t sector;
    uint32_t num_sectors;
    uint32_t flags; /* bit 0: unmap */
};

#endif /* SDK_VIRTIO_H */
