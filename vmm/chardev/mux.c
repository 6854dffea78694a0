/* SPDX-License-Identifier: MIT */
/*
 * mon:stdio: the terminal multiplexed between the guest's console and the
 * emulator's own commands, which follow the escape character Ctrl-a (as
 * QEMU's -serial mon:stdio and -nographic):
 *
 *   Ctrl-a h or ?     print the list of commands
 *   Ctrl-a x          quit (the machine's quit callback; exit status 0)
 *   Ctrl-a b          send a break to the guest (Linux: magic SysRq)
 *   Ctrl-a c          QEMU switches to its monitor; loom-vm has no HMP,
 *                     so it prints a one-line note instead
 *   Ctrl-a Ctrl-a     send Ctrl-a to the guest (also Ctrl-a a, as screen)
 *
 * Any other byte after Ctrl-a is swallowed, as in QEMU.  Messages end in
 * "\n" alone: the terminal keeps output processing on, which adds the CR.
 * Runs on the chardev's loop thread with the BQL, from the read handler;
 * unlike QEMU the terminal is always read, so Ctrl-a x works while the
 * guest ignores its input (what the guest does not take in time is
 * dropped, counted).
 */
#include <loom/main.h>

#include "chardev/chardev-int.h"

static const char mux_help[] =
    "\n"
    "C-a h    print this help\n"
    "C-a x    exit loom-vm\n"
    "C-a b    send break (magic sysrq)\n"
    "C-a c    switch to the monitor (loom-vm has none: use -qmp)\n"
    "C-a C-a  send C-a (C-a a also does)\n";

static void mux_command(struct vmm_chr *chr, uint8_t c)
{
    switch (c) {
    case 'h':
    case '?':
        vmm__chr_write_msg(chr, mux_help);
        break;
    case 'x':
        vmm__chr_write_msg(chr, "loom-vm: terminated\n");
        if (chr->quit) {
            chr->quit(chr->quit_opaque);
        } else {
            loom_request_shutdown(LOOM_SHUTDOWN_REQUEST);
        }
        break;
    case 'b':
        if (chr->fe && chr->fe->event) {
            chr->fe->event(chr->fe_opaque, VMM_CHR_EVENT_BREAK);
        }
        break;
    case 'c':
        vmm__chr_write_msg(chr, "\nloom-vm: no monitor on this console "
                                "(use -qmp)\n");
        break;
    default:
        break;
    }
}

void vmm__chr_mux_input(struct vmm_chr *chr, const uint8_t *buf, size_t len)
{
    size_t i, start = 0;

    for (i = 0; i < len; i++) {
        uint8_t c = buf[i];

        if (chr->mux_escape) {
            chr->mux_escape = false;
            start = i + 1;
            if (c == VMM_CHR_MUX_ESCAPE || c == 'a') {
                vmm__chr_input_push(chr, &(uint8_t){VMM_CHR_MUX_ESCAPE}, 1);
            } else {
                mux_command(chr, c);
            }
        } else if (c == VMM_CHR_MUX_ESCAPE) {
            /* Pass what came before, in order, then wait for the command. */
            vmm__chr_input_push(chr, buf + start, i - start);
            chr->mux_escape = true;
            start = i + 1;
        }
    }
    if (!chr->mux_escape && start < len) {
        vmm__chr_input_push(chr, buf + start, len - start);
    }
}
