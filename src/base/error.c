/* SPDX-License-Identifier: MIT */
/* loom_strerror(): error codes are negative errno values. */
#include <loom/common.h>

#include <string.h>

const char *loom_strerror(int err)
{
    const char *s;

    if (err < 0) {
        err = -err;
    }
    if (err == 0) {
        return "Success";
    }
    /* glibc >= 2.32: thread-safe, returns NULL for unknown codes. */
    s = strerrordesc_np(err);
    return s ? s : "Unknown error";
}
