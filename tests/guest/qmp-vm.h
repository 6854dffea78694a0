/* SPDX-License-Identifier: MIT */
/*
 * A machine monitor (loom-vm or QEMU) running a bundled guest with a QMP
 * socket, for the QMP conversation tests (test-qmp-vm.c): started with
 * the shared command line (VMM.md), its console (stdout) and messages
 * (stderr) collected while the test talks to it.
 */
#ifndef LOOM_TEST_QMP_VM_H
#define LOOM_TEST_QMP_VM_H

#include <glib.h>
#include <stdbool.h>

#include "../vmm/qmp-client.h"

struct qvm {
    GPid pid;
    int in_fd;  /* its stdin (a pipe), or -1 */
    int out_fd; /* its stdout: the console, or -qmp stdio */
    int err_fd;
    GString *out, *err;
    char *dir;  /* a private directory */
    char *sock; /* dir/qmp.sock */
    int status; /* exit status, or 128 + signal, once exited */
    bool exited;
};

/*
 * Start @vmm on guest @guest (NAME of NAME.elf in guest_run_dir()) with
 * kernel command line @append, one vCPU, the shared options (no serial
 * port, no -no-reboot), then @extra (NULL-terminated, may be NULL), then
 * the --vmm-arg words.  "@SOCK@"
 * in @extra is replaced by the socket path and "@DIR@" by the private
 * directory.  With
 * @stdin_pipe its stdin is a pipe (->in_fd), else /dev/null.
 */
void qvm_start(struct qvm *v, const char *vmm, const char *guest,
               const char *append, const char *const *extra, bool stdin_pipe);

/* Start with "-serial stdio -qmp unix:SOCK,server=on,wait=off" added and
 * connect @c to the socket (greeting not read). */
void qvm_start_qmp(struct qvm *v, struct qclient *c, const char *vmm,
                   const char *guest, const char *append,
                   const char *const *extra);

/* Read what the monitor printed so far (never blocks). */
void qvm_drain(struct qvm *v);
/* Wait until the console shows @text @count times (30 s at most). */
void qvm_wait_output(struct qvm *v, const char *text, unsigned count);
/* How many times the console shows @text now. */
unsigned qvm_count(struct qvm *v, const char *text);
/* Wait for the monitor to exit (30 s, then SIGKILL); its status. */
int qvm_wait(struct qvm *v);
/* Print the console, messages and status (test messages). */
void qvm_show(struct qvm *v);
/* Kill it if still running, remove its directory, free everything. */
void qvm_destroy(struct qvm *v);

#endif /* LOOM_TEST_QMP_VM_H */
