/* SPDX-License-Identifier: MIT */
/*
 * Booting a bundled guest (guest/) on a machine monitor and checking what
 * it printed: shared by the tests in tests/guest.  The monitor comes from
 * the command line (--vmm=PATH, plus --vmm-arg=ARG to append, and
 * --vmm-wrapper=ARG to run it under another program, e.g. Valgrind), as do
 * the guest ELFs (--guest-dir=DIR), so that QEMU and loom-vm run the same
 * tests with the same command line (VMM.md).
 */
#ifndef LOOM_TEST_GUEST_RUN_H
#define LOOM_TEST_GUEST_RUN_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exit statuses: (value << 1) | 1 of the SDK's enum sdk_exit values. */
#define GUEST_EXIT_PASS 33
#define GUEST_EXIT_FAIL 35
#define GUEST_EXIT_PANIC 37
#define GUEST_EXIT_TRAP 39
#define GUEST_EXIT_USAGE 41

struct guest_boot {
    int status; /* exit status, or 128 + signal */
    char *out;  /* the guest's console (the monitor's stdout) */
    char *err;  /* the monitor's own messages */
    char *cmd;  /* the command line, for messages */
};

/*
 * guest_run_init() - take --vmm=, --guest-dir=, --vmm-arg= and
 * --vmm-wrapper= out of argv
 * and hand the rest to harness_init().  When the monitor or a usable
 * /dev/kvm is missing, report every test skipped and exit: under --tap a
 * "1..0 # SKIP" plan and status 0, else status 77.  A usage error exits 1.
 */
void guest_run_init(int *argc, char ***argv);

/* Whether the monitor is loom-vm (for its extensions, e.g. QEMU 9's
 * iothread-vq-mapping, which QEMU 7.2 lacks). */
bool guest_run_is_loom_vm(void);

/*
 * The -cpu option every monitor gets: "host", or with the feature switch
 * this host's QEMU needs to start (guest/host/monitor-cpu.h).  The first
 * call may start QEMU to find out.
 */
const char *guest_run_cpu(void);

/* The --guest-dir directory, holding NAME.elf. */
const char *guest_run_dir(void);

/* The --vmm-arg words, in order (@ret_n receives how many). */
char *const *guest_run_vmm_args(unsigned *ret_n);

/*
 * guest_boot() - boot @guest (NAME of NAME.elf) on @cpus vCPUs with
 * kernel command line @append; @extra (NULL-terminated, may be NULL) is
 * appended to the monitor's command line, then the --vmm-arg words; the
 * --vmm-wrapper words go before the monitor.  Waits for the monitor to
 * exit (killing it after 120 s).
 */
void guest_boot(struct guest_boot *b, const char *guest, unsigned cpus,
                const char *append, const char *const *extra);

/*
 * guest_boot_on() - guest_boot() on the monitor @vmm (a path) instead of
 * --vmm's, without the --vmm-arg and --vmm-wrapper words: a second monitor
 * to compare with.
 */
void guest_boot_on(struct guest_boot *b, const char *vmm, const char *guest,
                   unsigned cpus, const char *append, const char *const *extra);

void guest_boot_clear(struct guest_boot *b);

/*
 * guest_run_argv() - the command line guest_boot() would run (the
 * --vmm-wrapper words, the monitor, the shared options, -smp, -kernel,
 * -append, @extra, then the --vmm-arg words), for tests that start the
 * monitor themselves.
 * Returns a NULL-terminated array that owns its strings.
 */
GPtrArray *guest_run_argv(const char *guest, unsigned cpus, const char *append,
                          const char *const *extra);

/* Print the command line, console, stderr and status (test messages). */
void guest_show(const struct guest_boot *b);

/* The first console line starting with @prefix, or NULL. */
const char *guest_find_line(const struct guest_boot *b, const char *prefix);

/* Assertions; on failure they print the whole boot first. */
void guest_expect_status(const struct guest_boot *b, int status);
void guest_expect_line(const struct guest_boot *b, const char *line);
void guest_expect_prefix(const struct guest_boot *b, const char *prefix);
void guest_expect_no_prefix(const struct guest_boot *b, const char *prefix);

/*
 * Check the image file @path (@size bytes) against what blk-check leaves
 * there: the pattern of @seed (guest/sdk/include/sdk/pattern.h) except
 * zeros over sectors [@zero, @zero + @nzero).  Return: -1 if it matches,
 * else the offset of the first word that differs.
 */
int64_t guest_verify_image(const char *path, size_t size, uint64_t seed,
                           uint64_t zero, uint64_t nzero);

#endif /* LOOM_TEST_GUEST_RUN_H */
