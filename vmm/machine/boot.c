/* SPDX-License-Identifier: MIT */
/*
 * The kernel and its boot data: read -kernel (and -initrd) once, load the
 * PVH ELF into guest RAM, build hvm_start_info with the command line
 * (-append plus the virtio_mmio.device= entries) and the MP table, and do
 * it all again on a reset, on zeroed RAM, since the guest may have written
 * over any of it. Main thread, BQL held, no vCPU running guest code.
 */
#include "machine/machine-int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/x86_64/pvh.h"
#include "machine/microvm.h"

/* Largest kernel or initrd file loom-vm reads (RAM bounds it further). */
#define MAX_IMAGE (1ull << 32)

/* Read all of @path into a malloc'ed buffer. */
static int read_file(const char *path, void **ret, size_t *ret_size)
{
    struct stat st;
    size_t done = 0;
    char *buf;
    int fd, r = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    if (fstat(fd, &st) < 0) {
        r = -errno;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        r = -EINVAL;
        goto out;
    }
    if ((uint64_t)st.st_size > MAX_IMAGE) {
        r = -EFBIG;
        goto out;
    }
    buf = malloc(st.st_size ? (size_t)st.st_size : 1);
    if (!buf) {
        r = -ENOMEM;
        goto out;
    }
    while (done < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + done, (size_t)st.st_size - done);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            r = n < 0 ? -errno : -EIO; /* shrank under us */
            free(buf);
            goto out;
        }
        done += (size_t)n;
    }
    *ret = buf;
    *ret_size = done;
out:
    close(fd);
    return r;
}

/* Load the kernel and build start_info from what was read. */
static int load(struct vmm_machine *m, char *err, size_t errlen)
{
    struct vmm_pvh_image img;
    int r;

    r = vmm_pvh_load(m->gmem, m->kernel, m->kernel_size, &img, err, errlen);
    if (r < 0) {
        return r;
    }
    m->img = img;
    return vmm_pvh_setup(m->gmem, &img, m->cmdline, m->initrd, m->initrd_size,
                         &m->boot, err, errlen);
}

int vmm__machine_boot_load(struct vmm_machine *m, char **errmsg)
{
    const struct vmm_config *cfg = m->cfg;
    char err[256] = "";
    int r;

    if (!cfg->kernel) {
        return vmm__machine_fail(errmsg, -EINVAL, "no -kernel given");
    }
    r = read_file(cfg->kernel, &m->kernel, &m->kernel_size);
    if (r < 0) {
        return vmm__machine_fail(errmsg, r, "-kernel %s: %s", cfg->kernel,
                                 strerror(-r));
    }
    if (cfg->initrd) {
        r = read_file(cfg->initrd, &m->initrd, &m->initrd_size);
        if (r < 0) {
            return vmm__machine_fail(errmsg, r, "-initrd %s: %s", cfg->initrd,
                                     strerror(-r));
        }
    }
    m->cmdline = vmm_microvm_cmdline(cfg->append, cfg->nr_blks,
                                     cfg->auto_kernel_cmdline);
    if (!m->cmdline) {
        return vmm__machine_fail(errmsg, -ENOMEM, "out of memory");
    }
    r = load(m, err, sizeof(err));
    if (r < 0) {
        return vmm__machine_fail(errmsg, r, "-kernel %s: %s", cfg->kernel,
                                 err[0] ? err : strerror(-r));
    }
    return 0;
}

int vmm__machine_boot_reload(struct vmm_machine *m)
{
    char err[256] = "";
    char *msg = NULL;
    unsigned i;
    int r;

    /*
     * A reset starts from the state of a fresh boot: RAM zeroed (the PVH
     * entry relies on zeroed low memory, VMM.md "This machine"), which
     * MADV_DONTNEED does without touching a page, and gives the memory
     * back; KVM drops its mappings through its MMU notifier.
     */
    for (i = 0; i < m->nr_ram; i++) {
        if (madvise(m->ram[i].hva, m->ram[i].size, MADV_DONTNEED) < 0) {
            r = -errno;
            fprintf(stderr, "loom-vm: clearing guest RAM: %s\n", strerror(-r));
            return r;
        }
    }
    r = load(m, err, sizeof(err));

    if (r < 0) {
        fprintf(stderr, "loom-vm: reloading the kernel: %s\n",
                err[0] ? err : strerror(-r));
        return r;
    }
    r = vmm__machine_mptable(m, &msg);
    if (r < 0) {
        fprintf(stderr, "loom-vm: %s\n", msg ? msg : strerror(-r));
        free(msg);
    }
    return r;
}

void vmm__machine_boot_free(struct vmm_machine *m)
{
    free(m->kernel);
    m->kernel = NULL;
    free(m->initrd);
    m->initrd = NULL;
    free(m->cmdline);
    m->cmdline = NULL;
}
