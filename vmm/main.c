/* SPDX-License-Identifier: MIT */
/*
 * loom-vm: parse the command line, build the machine, run the main loop
 * until the VM ends, tear it down, exit with QEMU's status (0 on power-off,
 * quit or a signal; (v << 1) | 1 for isa-debug-exit value v; 1 on errors).
 * The only exit() of the program is here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <loom/main.h>

#include "config.h"
#include "machine/machine.h"

#define PROG "loom-vm"

static int run(const struct vmm_config *cfg)
{
    struct vmm_machine *m = NULL;
    char *err = NULL;
    int r, status;

    /* Before any thread exists, so that every thread blocks the signals
     * the main loop receives through its signalfd. */
    r = loom_main_init();
    if (r < 0) {
        fprintf(stderr, PROG ": main loop: %s\n", strerror(-r));
        return 1;
    }
    loom_bql_lock();
    r = vmm_machine_create(cfg, &m, &err);
    if (r < 0) {
        fprintf(stderr, PROG ": %s\n", err ? err : strerror(-r));
        free(err);
        loom_bql_unlock();
        loom_main_cleanup();
        return 1;
    }
    status = 1;
    if (vmm_machine_start(m) == 0) {
        status = vmm_machine_run(m);
    }
    vmm_machine_destroy(m);
    loom_bql_unlock();
    loom_main_cleanup();
    return status;
}

int main(int argc, char **argv)
{
    struct vmm_config *cfg = NULL;
    char *err = NULL;
    int r, status;

    r = vmm_config_parse(argc, argv, &cfg, &err);
    if (r < 0) {
        fprintf(stderr, PROG ": %s\n", err ? err : strerror(-r));
        free(err);
        exit(1);
    }
    if (cfg->show_help) {
        fputs(vmm_config_usage(), stdout);
        vmm_config_free(cfg);
        exit(0);
    }
    if (cfg->show_version) {
        printf(PROG " version " VMM_VERSION " (QEMU 7.2 microvm command line)\n"
                    "Copyright (c) the loom authors; MIT licence\n");
        vmm_config_free(cfg);
        exit(0);
    }
    status = run(cfg);
    vmm_config_free(cfg);
    exit(status);
}
