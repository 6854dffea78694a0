/* SPDX-License-Identifier: MIT */
/*
 * Booting the Linux kernel of guest/linux/ on a machine monitor (loom-vm
 * or QEMU microvm, with one command line) and timing its console: shared
 * by the boot test (tests/guest/test-linux-boot.c) and the boot timeline
 * benchmark (bench/bench-linux-boot.c).  Plain C and POSIX: no GLib, no
 * libloom.
 *
 * A boot forks the monitor with the console on a pipe, stamps each
 * console line with the time since the fork, matches the milestones in
 * order (each a substring of one line), ends the monitor with SIGTERM
 * once the last is seen (userspace cannot run on this host, and the
 * init hand-off is the finish line) and SIGKILL after a timeout.
 */
#ifndef LOOM_GUEST_LINUX_BOOT_H
#define LOOM_GUEST_LINUX_BOOT_H

#include <stdbool.h>
#include <stddef.h>

/* Exit status of build-kernel when the kernel cannot be built here. */
#define LXB_CANNOT_BUILD 77

/* The command line the kernel is booted with (issue 12): the console,
 * and off the instructions this host's CPL0 emulator rejects. */
#define LXB_CMDLINE                                                            \
    "console=ttyS0 mitigations=off noxsave "                                   \
    "clearcpuid=popcnt,cx16,xsave,rdtscp,rdpid,smap,avx,avx2,sse4_2,"          \
    "pclmulqdq,aes,avx512f"

/* The milestones of a boot from a virtio-blk ext4 root, in order. */
enum lxb_milestone {
    LXB_FIRST_LINE,   /* any console line */
    LXB_VIRTIO_MMIO,  /* the transport from virtio_mmio.device= */
    LXB_DISK,         /* virtio_blk virtio0: [vda] */
    LXB_ROOT_MOUNTED, /* EXT4-fs (vda): mounted filesystem */
    LXB_INIT,         /* Run /sbin/init as init process */
    LXB_NR_MILESTONES,
};

/**
 * struct lxb_opts - one boot.
 * @vmm: the monitor's path (qemu-system-x86_64 or loom-vm).
 * @kernel: the vmlinux.
 * @image: the raw ext4 image for the root disk, or NULL for no disk.
 * @aio: the drive's aio= (io_uring or threads).
 * @cache: the drive's cache= (none or writeback).
 * @cpus: -smp.
 * @append: more kernel command line after LXB_CMDLINE and the root
 *     options, or NULL.
 * @timeout_s: SIGKILL after this many seconds.
 */
struct lxb_opts {
    const char *vmm;
    const char *kernel;
    const char *image;
    const char *aio;
    const char *cache;
    unsigned cpus;
    const char *append;
    double timeout_s;
};

/**
 * struct lxb_result - what a boot did.
 * @at: seconds from the fork to each milestone's line, < 0 if not seen.
 * @reached: milestones seen (in order: the first @reached of them).
 * @status: the monitor's exit status, or 128 + signal.
 * @timed_out: it was killed by the timeout.
 * @killed: it was ended by SIGTERM after the last milestone.
 * @internal_error: the monitor reported a KVM internal error (KVM could
 *     not emulate a guest instruction: this host's software KVM leaves
 *     some instructions at CPL0 unemulated) and was killed at once; both
 *     QEMU and loom-vm stop the VM there and would wait forever.
 * @out: the console (stdout), NUL-terminated, each line prefixed with
 *     its time ("  12.345 "); malloc'ed.
 * @err: the monitor's stderr, NUL-terminated; malloc'ed.
 * @cmd: the command line, for messages; malloc'ed.
 */
struct lxb_result {
    double at[LXB_NR_MILESTONES];
    unsigned reached;
    int status;
    bool timed_out;
    bool killed;
    bool internal_error;
    char *out;
    char *err;
    char *cmd;
};

/**
 * lxb_milestone_text() - what a milestone's line contains.
 * Context: any.
 * Return: a static string ("" for LXB_FIRST_LINE).
 */
const char *lxb_milestone_text(enum lxb_milestone m);

/**
 * lxb_milestone_name() - a short name (first-line, disk ...).
 * Context: any.
 * Return: a static string ("?" out of range).
 */
const char *lxb_milestone_name(enum lxb_milestone m);

/**
 * lxb_build_kernel() - run guest/linux/build-kernel.
 * @script: its path.
 * @ret_path: receives the malloc'ed path of the vmlinux.
 * @msg: receives a malloc'ed message on failure (its stderr's last lines).
 *
 * Runs the script to completion: minutes when it builds the kernel,
 * moments when it is cached.
 * Context: a thread that may block and fork.
 * Return: 0; LXB_CANNOT_BUILD when the kernel cannot be built here;
 * -1 on any other failure.
 */
int lxb_build_kernel(const char *script, char **ret_path, char **msg);

/**
 * lxb_make_image() - a fresh ext4 image of @mib MiB at @path, made by
 * mkfs.ext4 (e2fsprogs) from a root tree with the directories a kernel
 * mounts on (dev, proc, sys, sbin).
 * @msg: receives a malloc'ed message on failure.
 * Context: a thread that may block and fork.
 * Return: 0; LXB_CANNOT_BUILD without mkfs.ext4; -1 on failure.
 */
int lxb_make_image(const char *path, unsigned mib, char **msg);

/**
 * lxb_direct_io_ok() - whether @path can be opened with O_DIRECT (so
 * that cache=none works where it lies).
 * Context: any thread.
 */
bool lxb_direct_io_ok(const char *path);

/**
 * lxb_boot() - boot once and collect the result.
 * @o: the boot.
 * @r: receives the result (free it with lxb_result_free(), also after a
 *     failure).
 *
 * Blocks until the monitor has exited: after the last milestone, at the
 * deadline, or on its own.
 * Context: a thread that may block and fork; no SIGCHLD handler that
 * reaps children.
 * Return: 0 when the monitor ran (whatever it reached); -1 if it could
 * not be started (r->err says why).
 */
int lxb_boot(const struct lxb_opts *o, struct lxb_result *r);

/**
 * lxb_result_free() - free the strings of @r.
 * Context: any.
 */
void lxb_result_free(struct lxb_result *r);

#endif /* LOOM_GUEST_LINUX_BOOT_H */
