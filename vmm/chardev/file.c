/* SPDX-License-Identifier: MIT */
/*
 * file:PATH: output only, as QEMU's file chardev: the file is created if
 * missing and truncated (O_CREAT | O_TRUNC, mode 0666 less the umask); no
 * input.  It is opened non-blocking so that a FIFO never stalls the loop:
 * a FIFO with no reader is refused at once (-ENXIO) instead of waiting at
 * start-up as QEMU does, and a slow reader applies backpressure through
 * the output buffer like a slow terminal.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "chardev/chardev-int.h"

int vmm__chr_open_file(struct vmm_chr *chr, const char *path)
{
    int fd;

    fd =
        open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NONBLOCK | O_CLOEXEC, 0666);
    if (fd < 0) {
        return -errno;
    }
    chr->out_fd = fd;
    chr->in_eof = true;
    vmm__chr_update(chr);
    return 0;
}
