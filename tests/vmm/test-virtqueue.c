/* SPDX-License-Identifier: MIT */
/*
 * The split virtqueue (vmm/devices/virtio/queue.c) against fake guest RAM:
 * chains direct and indirect, every malformed-chain class (data errors
 * that fail one request, ring errors that break the queue), ring setup
 * checks, EVENT_IDX in both directions across the 16-bit wrap, and
 * notification suppression.
 */
#include <errno.h>
#include <string.h>

#include "devices/virtio/queue.h"
#include "harness.h"
#include "vq-driver.h"

#define RAM_SIZE (1u << 20)
#define FEAT_ALL                                                               \
    ((1ull << VMM_VIRTIO_F_EVENT_IDX) | (1ull << VMM_VIRTIO_F_INDIRECT_DESC) | \
     (1ull << VMM_VIRTIO_F_VERSION_1))
#define FEAT_PLAIN (1ull << VMM_VIRTIO_F_VERSION_1)

struct fixture {
    struct test_ram ram;
    struct vq_driver drv;
    struct vmm_vq vq;
    struct vmm_vq_seg segs[1024];
    struct vmm_vq_elem elem;
    uint64_t buf; /* 64 KiB of data buffers */
};

static void fx_init(struct fixture *f, uint16_t size, uint64_t features)
{
    struct vmm_virtio_queue_cfg cfg;

    memset(f, 0, sizeof(*f));
    test_ram_init(&f->ram, RAM_SIZE);
    vq_driver_init(&f->drv, &f->ram, size,
                   features & (1ull << VMM_VIRTIO_F_EVENT_IDX));
    cfg = vq_driver_cfg(&f->drv);
    g_assert_cmpint(vmm_vq_init(&f->vq, f->ram.gm, &cfg, features), ==, 0);
    f->buf = test_ram_alloc(&f->ram, 0x10000, 4096);
}

static void fx_destroy(struct fixture *f)
{
    test_ram_destroy(&f->ram);
}

static int pop(struct fixture *f)
{
    return vmm_vq_pop(&f->vq, &f->elem, f->segs);
}

/* A three-buffer request: header (R), data (W), status (W). */
static uint16_t post_rww(struct fixture *f, bool indirect)
{
    const struct vq_buf b[] = {
        {f->buf, 16, false},
        {f->buf + 512, 4096, true},
        {f->buf + 8192, 1, true},
    };

    return vq_driver_post(&f->drv, b, 3, indirect);
}

static void check_rww(struct fixture *f, uint16_t head)
{
    g_assert_cmpint(f->elem.head, ==, head);
    g_assert_cmpuint(f->elem.nr_segs, ==, 3);
    g_assert_cmpint(f->elem.err, ==, VMM_VQ_OK);
    g_assert_cmpuint(f->elem.out_bytes, ==, 16);
    g_assert_cmpuint(f->elem.in_bytes, ==, 4097);
    g_assert_false(f->segs[0].write);
    g_assert_true(f->segs[1].write);
    g_assert_true(f->segs[2].write);
    g_assert_true(f->segs[1].hva == test_ram_ptr(&f->ram, f->buf + 512, 4096));
    g_assert_cmpuint(f->segs[2].gpa, ==, f->buf + 8192);
}

static void test_direct_and_indirect(void)
{
    struct fixture f;
    uint32_t id, len;
    uint16_t h1, h2;

    fx_init(&f, 8, FEAT_ALL);
    g_assert_false(vmm_vq_has_work(&f.vq));
    g_assert_cmpint(pop(&f), ==, 0);
    h1 = post_rww(&f, false);
    h2 = post_rww(&f, true);
    g_assert_true(vmm_vq_has_work(&f.vq));
    g_assert_cmpint(pop(&f), ==, 1);
    check_rww(&f, h1);
    g_assert_cmpint(pop(&f), ==, 1);
    check_rww(&f, h2);
    g_assert_cmpint(pop(&f), ==, 0);
    /* Out of order completion. */
    vmm_vq_push(&f.vq, h2, 7);
    vmm_vq_push(&f.vq, h1, 4097);
    g_assert_true(vq_driver_get_used(&f.drv, &id, &len));
    g_assert_cmpuint(id, ==, h2);
    g_assert_cmpuint(len, ==, 7);
    g_assert_true(vq_driver_get_used(&f.drv, &id, &len));
    g_assert_cmpuint(id, ==, h1);
    g_assert_cmpuint(len, ==, 4097);
    g_assert_false(vq_driver_get_used(&f.drv, &id, &len));
    fx_destroy(&f);
}

/* A chain that uses every descriptor of the queue is not too long. */
static void test_full_length_chain(void)
{
    struct vq_buf b[16];
    struct fixture f;
    unsigned i;

    fx_init(&f, 16, FEAT_ALL);
    for (i = 0; i < 16; i++) {
        b[i] = (struct vq_buf){f.buf + 64 * i, 64, i >= 8};
    }
    vq_driver_post(&f.drv, b, 16, false);
    g_assert_cmpint(pop(&f), ==, 1);
    g_assert_cmpuint(f.elem.nr_segs, ==, 16);
    g_assert_cmpint(f.elem.err, ==, VMM_VQ_OK);
    vmm_vq_push(&f.vq, f.elem.head, 0);
    {
        uint32_t id, len;

        g_assert_true(vq_driver_get_used(&f.drv, &id, &len));
    }
    /* The same through a table of the queue's size. */
    vq_driver_post(&f.drv, b, 16, true);
    g_assert_cmpint(pop(&f), ==, 1);
    g_assert_cmpuint(f.elem.nr_segs, ==, 16);
    fx_destroy(&f);
}

/* An indirect descriptor at the end of a direct chain is legal. */
static void test_indirect_after_direct(void)
{
    struct fixture f;
    uint64_t table;
    uint16_t a, b;

    fx_init(&f, 8, FEAT_ALL);
    table = test_ram_alloc(&f.ram, 32, 16);
    vq_driver_set_table_desc(&f.drv, table, 0, f.buf + 512, 512,
                             VMM_VRING_DESC_F_WRITE | VMM_VRING_DESC_F_NEXT, 1);
    vq_driver_set_table_desc(&f.drv, table, 1, f.buf + 1024, 1,
                             VMM_VRING_DESC_F_WRITE, 0);
    a = vq_driver_alloc_desc(&f.drv);
    b = vq_driver_alloc_desc(&f.drv);
    vq_driver_set_desc(&f.drv, a, f.buf, 16, VMM_VRING_DESC_F_NEXT, b);
    vq_driver_set_desc(&f.drv, b, table, 32, VMM_VRING_DESC_F_INDIRECT, 0);
    vq_driver_publish(&f.drv, a);
    g_assert_cmpint(pop(&f), ==, 1);
    g_assert_cmpuint(f.elem.nr_segs, ==, 3);
    g_assert_cmpuint(f.elem.in_bytes, ==, 513);
    g_assert_cmpint(f.elem.err, ==, VMM_VQ_OK);
    fx_destroy(&f);
}

/* Post a one-descriptor chain at @addr/@len/@flags, pop it. */
static void post_one(struct fixture *f, uint64_t addr, uint32_t len,
                     uint16_t flags)
{
    uint16_t h = vq_driver_alloc_desc(&f->drv);

    vq_driver_set_desc(&f->drv, h, addr, len, flags, 0);
    f->drv.chain_len[h] = 1;
    vq_driver_publish(&f->drv, h);
}

/* Data-buffer errors fail the element, never the queue. */
static void test_data_errors(void)
{
    static const struct {
        uint64_t addr;
        uint32_t len;
        enum vmm_vq_err err;
    } cases[] = {
        {0x1000, 0, VMM_VQ_ERR_ZERO_LEN},
        {RAM_SIZE, 16, VMM_VQ_ERR_FAULT},                /* just past low RAM */
        {RAM_SIZE - 8, 16, VMM_VQ_ERR_FAULT},            /* straddles its end */
        {0x80000000ull, 16, VMM_VQ_ERR_FAULT},           /* the hole */
        {UINT64_MAX - 7, 16, VMM_VQ_ERR_FAULT},          /* addr + len wraps */
        {0x100000000ull + 0xfff0, 32, VMM_VQ_ERR_FAULT}, /* high end */
        {0x100000000ull, 4096, VMM_VQ_OK},               /* high RAM is fine */
    };
    struct fixture f;
    unsigned i;

    fx_init(&f, 8, FEAT_ALL);
    for (i = 0; i < G_N_ELEMENTS(cases); i++) {
        post_one(&f, cases[i].addr, cases[i].len, VMM_VRING_DESC_F_WRITE);
        g_assert_cmpint(pop(&f), ==, 1);
        g_assert_cmpint(f.elem.err, ==, cases[i].err);
        g_assert_cmpuint(f.elem.nr_segs, ==, 1);
        g_assert_true((f.segs[0].hva != NULL) ==
                      (cases[i].len != 0 && cases[i].err == VMM_VQ_OK));
        vmm_vq_push(&f.vq, f.elem.head, 0);
        g_assert_cmpint(vmm_vq_broken(&f.vq), ==, VMM_VQ_BROKEN_NONE);
        {
            uint32_t id, len;

            g_assert_true(vq_driver_get_used(&f.drv, &id, &len));
        }
    }
    /* Wrong direction: readable after writable. */
    {
        const struct vq_buf b[] = {
            {f.buf, 16, false},
            {f.buf + 512, 16, true},
            {f.buf + 1024, 16, false},
        };

        vq_driver_post(&f.drv, b, 3, false);
        g_assert_cmpint(pop(&f), ==, 1);
        g_assert_cmpint(f.elem.err, ==, VMM_VQ_ERR_ORDER);
        vq_driver_post(&f.drv, b, 3, true);
        g_assert_cmpint(pop(&f), ==, 1);
        g_assert_cmpint(f.elem.err, ==, VMM_VQ_ERR_ORDER);
    }
    /* The queue still works. */
    post_rww(&f, false);
    g_assert_cmpint(pop(&f), ==, 1);
    g_assert_cmpint(f.elem.err, ==, VMM_VQ_OK);
    {
        struct vmm_vq_stats st;

        vmm_vq_stats(&f.vq, &st);
        g_assert_cmpuint(st.bad_elems, ==, 8);
        g_assert_cmpuint(st.popped, ==, 10);
    }
    fx_destroy(&f);
}

/* Expect the next pop to break the queue for @why, and stay broken. */
static void expect_broken(struct fixture *f, enum vmm_vq_broken why)
{
    g_assert_cmpint(pop(f), ==, -EPROTO);
    g_assert_cmpint(vmm_vq_broken(&f->vq), ==, why);
    g_assert_cmpint(pop(f), ==, -EPROTO);
    g_assert_false(vmm_vq_has_work(&f->vq));
    g_assert_false(vmm_vq_enable_notify(&f->vq));
    /* Nothing is written to a broken queue's used ring. */
    vmm_vq_push(&f->vq, 0, 1);
    g_assert_cmpuint(vq_driver_used_idx(&f->drv), ==, 0);
    g_assert_cmpstr(vmm_vq_broken_name(why), !=, "unknown");
}

/*
 * Publish a one-descriptor chain at index @idx of a fresh queue of 8
 * (@addr 0 means "a 64-byte scratch table") and expect @why.
 */
static void expect_head_broken(uint64_t features, uint16_t idx, uint64_t addr,
                               uint32_t len, uint16_t flags, uint16_t next,
                               enum vmm_vq_broken why)
{
    struct fixture f;

    fx_init(&f, 8, features);
    if (!addr) {
        addr = test_ram_alloc(&f.ram, 16 * 9, 16);
    }
    vq_driver_set_desc(&f.drv, idx, addr, len, flags, next);
    vq_driver_publish(&f.drv, idx);
    expect_broken(&f, why);
    fx_destroy(&f);
}

/* One entry of an indirect table; @to_table points it at the table. */
struct tdesc {
    bool to_table;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

/* A head pointing at a table of @n entries @t; expect @why. */
static void expect_table_broken(const struct tdesc *t, unsigned n,
                                enum vmm_vq_broken why)
{
    struct fixture f;
    uint64_t table;
    unsigned i;

    fx_init(&f, 8, FEAT_ALL);
    table = test_ram_alloc(&f.ram, 16u * n, 16);
    for (i = 0; i < n; i++) {
        vq_driver_set_table_desc(&f.drv, table, (uint16_t)i,
                                 t[i].to_table ? table : f.buf, t[i].len,
                                 t[i].flags, t[i].next);
    }
    vq_driver_set_desc(&f.drv, 0, table, 16u * n, VMM_VRING_DESC_F_INDIRECT, 0);
    vq_driver_publish(&f.drv, 0);
    expect_broken(&f, why);
    fx_destroy(&f);
}

static void test_ring_errors(void)
{
    const uint16_t ind = VMM_VRING_DESC_F_INDIRECT, nxt = VMM_VRING_DESC_F_NEXT;
    struct fixture f;
    uint64_t table;
    uint16_t i;

    /* Head past the queue. */
    fx_init(&f, 8, FEAT_ALL);
    vq_driver_publish(&f.drv, 8);
    expect_broken(&f, VMM_VQ_BROKEN_HEAD);
    fx_destroy(&f);
    /* Next past the queue; a self-loop. */
    expect_head_broken(FEAT_ALL, 0, 0x1000, 16, nxt, 9, VMM_VQ_BROKEN_NEXT);
    expect_head_broken(FEAT_ALL, 3, 0x1000, 16, nxt, 3, VMM_VQ_BROKEN_LOOP);

    /* A loop: 0 -> 1 -> 0. */
    fx_init(&f, 8, FEAT_ALL);
    vq_driver_set_desc(&f.drv, 0, f.buf, 16, nxt, 1);
    vq_driver_set_desc(&f.drv, 1, f.buf, 16, nxt, 0);
    vq_driver_publish(&f.drv, 0);
    expect_broken(&f, VMM_VQ_BROKEN_LOOP);
    fx_destroy(&f);

    /* Avail idx jumping by more than the queue size, also backwards. */
    fx_init(&f, 8, FEAT_ALL);
    vq_driver_set_avail_idx(&f.drv, 9);
    expect_broken(&f, VMM_VQ_BROKEN_AVAIL_IDX);
    fx_destroy(&f);
    fx_init(&f, 8, FEAT_ALL);
    vq_driver_set_avail_idx(&f.drv, 0xffff);
    expect_broken(&f, VMM_VQ_BROKEN_AVAIL_IDX);
    fx_destroy(&f);
    /* ... but exactly the queue size is a full ring. */
    fx_init(&f, 8, FEAT_ALL);
    vq_driver_set_avail_idx(&f.drv, 8);
    g_assert_cmpint(pop(&f), ==, 1);
    fx_destroy(&f);

    /* Indirect: without the feature, with NEXT, bad table lengths. */
    expect_head_broken(FEAT_PLAIN, 0, 0, 16, ind, 0, VMM_VQ_BROKEN_INDIRECT);
    expect_head_broken(FEAT_ALL, 0, 0, 16, ind | nxt, 1,
                       VMM_VQ_BROKEN_INDIRECT);
    expect_head_broken(FEAT_ALL, 0, 0, 0, ind, 0, VMM_VQ_BROKEN_INDIRECT);
    expect_head_broken(FEAT_ALL, 0, 0, 24, ind, 0, VMM_VQ_BROKEN_INDIRECT);
    expect_head_broken(FEAT_ALL, 0, 0, 16 * 9, ind, 0, VMM_VQ_BROKEN_INDIRECT);
    /* Tables outside RAM, straddling its end, overflowing. */
    expect_head_broken(FEAT_ALL, 0, RAM_SIZE, 32, ind, 0,
                       VMM_VQ_BROKEN_INDIRECT_RAM);
    expect_head_broken(FEAT_ALL, 0, RAM_SIZE - 16, 32, ind, 0,
                       VMM_VQ_BROKEN_INDIRECT_RAM);
    expect_head_broken(FEAT_ALL, 0, UINT64_MAX - 15, 32, ind, 0,
                       VMM_VQ_BROKEN_INDIRECT_RAM);

    /* Inside a table: nesting, next past the table, a loop. */
    {
        const struct tdesc nested[] = {{true, 32, ind, 0}, {0}};
        const struct tdesc past[] = {{false, 16, nxt, 2}, {false, 16, 0, 0}};
        const struct tdesc loop[] = {{false, 16, nxt, 1}, {false, 16, nxt, 0}};

        expect_table_broken(nested, 2, VMM_VQ_BROKEN_INDIRECT);
        expect_table_broken(past, 2, VMM_VQ_BROKEN_NEXT);
        expect_table_broken(loop, 2, VMM_VQ_BROKEN_LOOP);
    }

    /*
     * Longer than the queue overall: a full direct chain of 8 whose last
     * descriptor leads into a table of 8 more.
     */
    fx_init(&f, 8, FEAT_ALL);
    table = test_ram_alloc(&f.ram, 16 * 8, 16);
    for (i = 0; i < 8; i++) {
        vq_driver_set_table_desc(&f.drv, table, i, f.buf, 16, i < 7 ? nxt : 0,
                                 (uint16_t)(i + 1));
        if (i < 7) {
            vq_driver_set_desc(&f.drv, i, f.buf, 16, nxt, (uint16_t)(i + 1));
        }
    }
    vq_driver_set_desc(&f.drv, 7, table, 16 * 8, ind, 0);
    vq_driver_publish(&f.drv, 0);
    expect_broken(&f, VMM_VQ_BROKEN_LOOP);
    fx_destroy(&f);
}

static void test_init_checks(void)
{
    struct test_ram ram;
    struct vmm_vq vq;
    struct vmm_virtio_queue_cfg cfg = {
        .size = 8,
        .desc = 0x2000,
        .avail = 0x3000,
        .used = 0x4000,
    };
    struct vmm_vq_elem elem;
    struct vmm_vq_seg segs[8];

    test_ram_init(&ram, RAM_SIZE);
    g_assert_cmpint(vmm_vq_init(&vq, ram.gm, &cfg, FEAT_ALL), ==, 0);
    /* Sizes: 0, not a power of two, above 1024. */
    cfg.size = 0;
    g_assert_cmpint(vmm_vq_init(&vq, ram.gm, &cfg, FEAT_ALL), ==, -EINVAL);
    g_assert_cmpint(vmm_vq_pop(&vq, &elem, segs), ==, -EPROTO);
    cfg.size = 12;
    g_assert_cmpint(vmm_vq_init(&vq, ram.gm, &cfg, FEAT_ALL), ==, -EINVAL);
    cfg.size = 2048;
    g_assert_cmpint(vmm_vq_init(&vq, ram.gm, &cfg, FEAT_ALL), ==, -EINVAL);
    cfg.size = 8;
    /* Alignment. */
    cfg.desc = 0x2008;
    g_assert_cmpint(vmm_vq_init(&vq, ram.gm, &cfg, FEAT_ALL), ==, -EINVAL);
    cfg.desc = 0x2000;
    cfg.avail = 0x3001;
    g_assert_cmpint(vmm_vq_init(&vq, ram.gm, &cfg, FEAT_ALL), ==, -EINVAL);
    cfg.avail = 0x3000;
    cfg.used = 0x4002;
    g_assert_cmpint(vmm_vq_init(&vq, ram.gm, &cfg, FEAT_ALL), ==, -EINVAL);
    /* Outside RAM, straddling its end, overflowing. */
    cfg.used = RAM_SIZE;
    g_assert_cmpint(vmm_vq_init(&vq, ram.gm, &cfg, FEAT_ALL), ==, -EFAULT);
    cfg.used = RAM_SIZE - 8 * 8;
    g_assert_cmpint(vmm_vq_init(&vq, ram.gm, &cfg, FEAT_ALL), ==, -EFAULT);
    cfg.used = 0x4000;
    cfg.desc = UINT64_MAX & ~15ull;
    g_assert_cmpint(vmm_vq_init(&vq, ram.gm, &cfg, FEAT_ALL), ==, -EFAULT);
    /* The event field counts only with EVENT_IDX: avail ends at RAM's end. */
    cfg.desc = 0x2000;
    cfg.avail = RAM_SIZE - (4 + 2 * 8);
    g_assert_cmpint(vmm_vq_init(&vq, ram.gm, &cfg, FEAT_PLAIN), ==, 0);
    g_assert_cmpint(vmm_vq_init(&vq, ram.gm, &cfg, FEAT_ALL), ==, -EFAULT);
    test_ram_destroy(&ram);
}

static void test_need_event(void)
{
    /* Crossing: old < event + 1 <= new, modulo 2^16. */
    g_assert_true(vmm_vq_need_event(0, 1, 0));
    g_assert_false(vmm_vq_need_event(1, 1, 0));
    g_assert_true(vmm_vq_need_event(5, 10, 0));
    g_assert_false(vmm_vq_need_event(10, 10, 0));
    g_assert_true(vmm_vq_need_event(9, 10, 9));
    g_assert_false(vmm_vq_need_event(8, 10, 9));
    /* Across the wrap. */
    g_assert_true(vmm_vq_need_event(0xffff, 0, 0xfffe));
    g_assert_true(vmm_vq_need_event(0xfffe, 2, 0xfffe));
    g_assert_true(vmm_vq_need_event(1, 2, 0xfffe));
    g_assert_false(vmm_vq_need_event(2, 2, 0xfffe));
    g_assert_false(vmm_vq_need_event(0xfffd, 2, 0xfffe));
    /* Nothing moved: never. */
    g_assert_false(vmm_vq_need_event(7, 7, 7));
}

/* Move both indices to @target by posting and completing one by one. */
static void advance_to(struct fixture *f, uint16_t target)
{
    uint32_t id, len;

    vq_driver_set_no_interrupt(&f->drv, false);
    while (f->drv.avail_idx != target) {
        post_one(f, f->buf, 16, VMM_VRING_DESC_F_WRITE);
        g_assert_cmpint(pop(f), ==, 1);
        vmm_vq_push(&f->vq, f->elem.head, 1);
        (void)vmm_vq_should_notify(&f->vq);
        g_assert_true(vq_driver_get_used(&f->drv, &id, &len));
    }
}

/* Interrupt suppression with EVENT_IDX across the 16-bit wrap. */
static void test_event_idx_interrupts(void)
{
    struct fixture f;
    unsigned i;

    fx_init(&f, 8, FEAT_ALL);
    /* No push since the last call: never. */
    g_assert_false(vmm_vq_should_notify(&f.vq));
    advance_to(&f, 0xfffd);
    /* The driver wants an interrupt when used idx passes 0x0001. */
    vq_driver_set_used_event(&f.drv, 0x0001);
    for (i = 0; i < 3; i++) {
        post_one(&f, f.buf, 16, VMM_VRING_DESC_F_WRITE);
    }
    /* 0xfffd -> 0xfffe -> 0xffff -> 0x0000: no crossing of 1. */
    for (i = 0; i < 3; i++) {
        g_assert_cmpint(pop(&f), ==, 1);
        vmm_vq_push(&f.vq, f.elem.head, 1);
        g_assert_false(vmm_vq_should_notify(&f.vq));
    }
    g_assert_cmpuint(vq_driver_used_idx(&f.drv), ==, 0);
    /* 0x0000 -> 0x0002 in one batch crosses it. */
    post_one(&f, f.buf, 16, VMM_VRING_DESC_F_WRITE);
    post_one(&f, f.buf, 16, VMM_VRING_DESC_F_WRITE);
    g_assert_cmpint(pop(&f), ==, 1);
    vmm_vq_push(&f.vq, f.elem.head, 1);
    g_assert_cmpint(pop(&f), ==, 1);
    vmm_vq_push(&f.vq, f.elem.head, 1);
    g_assert_true(vmm_vq_should_notify(&f.vq));
    /* Not again for the same event. */
    post_one(&f, f.buf, 16, VMM_VRING_DESC_F_WRITE);
    g_assert_cmpint(pop(&f), ==, 1);
    vmm_vq_push(&f.vq, f.elem.head, 1);
    g_assert_false(vmm_vq_should_notify(&f.vq));
    {
        struct vmm_vq_stats st;

        vmm_vq_stats(&f.vq, &st);
        g_assert_cmpuint(st.irqs_suppressed, >=, 4);
    }
    fx_destroy(&f);
}

/* Without EVENT_IDX: NO_INTERRUPT is honoured. */
static void test_no_interrupt_flag(void)
{
    struct fixture f;

    fx_init(&f, 8, FEAT_PLAIN);
    post_one(&f, f.buf, 16, VMM_VRING_DESC_F_WRITE);
    g_assert_cmpint(pop(&f), ==, 1);
    vmm_vq_push(&f.vq, f.elem.head, 1);
    g_assert_true(vmm_vq_should_notify(&f.vq));
    vq_driver_set_no_interrupt(&f.drv, true);
    post_one(&f, f.buf, 16, VMM_VRING_DESC_F_WRITE);
    g_assert_cmpint(pop(&f), ==, 1);
    vmm_vq_push(&f.vq, f.elem.head, 1);
    g_assert_false(vmm_vq_should_notify(&f.vq));
    fx_destroy(&f);
}

/* Notification suppression (device -> driver), both mechanisms. */
static void check_notify_suppression(uint64_t features, uint16_t start)
{
    struct fixture f;
    uint16_t old;

    fx_init(&f, 8, features);
    advance_to(&f, start);
    g_assert_false(vmm_vq_enable_notify(&f.vq));
    old = f.drv.avail_idx;
    post_one(&f, f.buf, 16, VMM_VRING_DESC_F_WRITE);
    g_assert_true(vq_driver_must_kick(&f.drv, old));
    /* The device takes it and turns notifications off while busy. */
    vmm_vq_disable_notify(&f.vq);
    g_assert_cmpint(pop(&f), ==, 1);
    old = f.drv.avail_idx;
    post_one(&f, f.buf, 16, VMM_VRING_DESC_F_WRITE);
    g_assert_false(vq_driver_must_kick(&f.drv, old));
    /* Re-enabling finds the chain that came without a kick. */
    g_assert_true(vmm_vq_enable_notify(&f.vq));
    g_assert_cmpint(pop(&f), ==, 1);
    g_assert_false(vmm_vq_enable_notify(&f.vq));
    old = f.drv.avail_idx;
    post_one(&f, f.buf, 16, VMM_VRING_DESC_F_WRITE);
    g_assert_true(vq_driver_must_kick(&f.drv, old));
    fx_destroy(&f);
}

static void test_notify_suppression(void)
{
    check_notify_suppression(FEAT_PLAIN, 0);
    check_notify_suppression(FEAT_ALL, 0);
    check_notify_suppression(FEAT_ALL, 0xfffe); /* avail event wraps */
}

int main(int argc, char **argv)
{
    harness_init(&argc, &argv);
    g_test_add_func("/virtqueue/direct-and-indirect", test_direct_and_indirect);
    g_test_add_func("/virtqueue/full-length-chain", test_full_length_chain);
    g_test_add_func("/virtqueue/indirect-after-direct",
                    test_indirect_after_direct);
    g_test_add_func("/virtqueue/data-errors", test_data_errors);
    g_test_add_func("/virtqueue/ring-errors", test_ring_errors);
    g_test_add_func("/virtqueue/init-checks", test_init_checks);
    g_test_add_func("/virtqueue/need-event", test_need_event);
    g_test_add_func("/virtqueue/event-idx-interrupts",
                    test_event_idx_interrupts);
    g_test_add_func("/virtqueue/no-interrupt-flag", test_no_interrupt_flag);
    g_test_add_func("/virtqueue/notify-suppression", test_notify_suppression);
    return g_test_run();
}
