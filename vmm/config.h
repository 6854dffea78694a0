/* SPDX-License-Identifier: MIT */
/*
 * loom-vm's command line: QEMU's syntax for the subset of QEMU microvm's
 * options that loom-vm supports (VMM.md, "Command line").  vmm_config_parse()
 * is pure: it reads argv and nothing else (no files, no sockets, no
 * environment), fills a struct vmm_config, and on bad input returns an
 * error with a one-line message naming the option.  Everything that
 * opens, creates or starts happens later, in machine/ and main.c.
 *
 * Defaults are QEMU 7.2 microvm's, except the documented deviations
 * (acpi off, modern virtio-mmio, -cpu host): see docs/design/vmm.md.  The
 * accepted syntax, option by option, and every decision where loom-vm
 * differs from QEMU are in docs/design/vmm-config.md.
 */
#ifndef VMM_CONFIG_H
#define VMM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits of what the command line may ask for. */
#define VMM_MAX_CPUS 64
#define VMM_MAX_IOTHREADS 64
#define VMM_MAX_DRIVES 8 /* one per virtio-mmio transport */
#define VMM_MAX_VIRTIO_DEVS 8
#define VMM_MAX_QUEUES 16 /* virtqueues per virtio-blk device */
#define VMM_MAX_QUEUE_SIZE 1024
#define VMM_MAX_QMP 8
#define VMM_MAX_CPU_FEATURES 64
#define VMM_MAX_CPUSET 1024 /* highest CPU number + 1 in x-cpu-affinity */
/* -m: at least room for the PVH boot data and a kernel at 1 MiB; at most
 * what a 40-bit guest-physical space holds above the 32-bit hole. */
#define VMM_MIN_RAM_SIZE (2ull << 20)
#define VMM_MAX_RAM_SIZE (1ull << 40)

/* A tri-state machine property: QEMU's OnOffAuto. */
enum vmm_onoffauto {
    VMM_AUTO = 0,
    VMM_ON,
    VMM_OFF,
};

/* Where a character device (serial, QMP) goes. */
enum vmm_chr_kind {
    VMM_CHR_NONE = 0,
    VMM_CHR_STDIO,     /* -serial stdio, -qmp stdio */
    VMM_CHR_MON_STDIO, /* -serial mon:stdio: stdio, multiplexed (Ctrl-a) */
    VMM_CHR_FILE,      /* -serial file:PATH (output only) */
    VMM_CHR_UNIX,      /* unix:PATH[,server=on][,wait=off] */
    VMM_CHR_NULL,      /* -serial null, and the default without -nographic
                        * (QEMU's "vc" with no display): the UART exists,
                        * its output is discarded, it never receives */
};

/* struct vmm_config_chr - one character-device backend. */
struct vmm_config_chr {
    enum vmm_chr_kind kind;
    char *path;  /* FILE, UNIX */
    bool server; /* UNIX: listen (server=on) rather than connect */
    bool wait;   /* UNIX server: block start-up until a client connects */
};

/* A CPU set as x-cpu-affinity=0-1,3 spells it (QEMU's list syntax). */
struct vmm_config_cpuset {
    bool set; /* given at all */
    uint64_t bits[VMM_MAX_CPUSET / 64];
};

/* -object iothread,id=ID[,...]; unset numbers are -1 (QEMU's defaults). */
struct vmm_config_iothread {
    char *id;
    int64_t poll_max_ns; /* -1: 32768 (QEMU's default) */
    int64_t poll_grow;   /* -1: 0 (default growth) */
    int64_t poll_shrink; /* -1: 0 (default shrink) */
    int64_t aio_max_batch;
    int64_t thread_pool_min;
    int64_t thread_pool_max;
    struct vmm_config_cpuset affinity;
};

enum vmm_cache_mode {
    VMM_CACHE_WRITEBACK = 0, /* QEMU's default */
    VMM_CACHE_NONE,          /* O_DIRECT, FLUSH still syncs */
    VMM_CACHE_UNSAFE,        /* FLUSH acknowledged without a sync */
};

enum vmm_aio_mode {
    VMM_AIO_THREADS = 0, /* QEMU's default */
    VMM_AIO_IO_URING,
};

/* werror= and rerror= (QEMU's BlockdevOnError). */
enum vmm_on_error {
    VMM_ONERR_DEFAULT = 0, /* werror: enospc; rerror: report */
    VMM_ONERR_REPORT,
    VMM_ONERR_IGNORE,
    VMM_ONERR_STOP,
    VMM_ONERR_ENOSPC, /* stop on ENOSPC, report the rest (werror only) */
};

enum vmm_discard_mode {
    VMM_DISCARD_IGNORE = 0, /* QEMU's default */
    VMM_DISCARD_UNMAP,
};

/* -drive id=ID,file=PATH,format=raw,if=none[,...] */
struct vmm_config_drive {
    char *id;
    char *file; /* may be an x-loom-fault:SPEC:IMAGE test backend */
    enum vmm_cache_mode cache;
    enum vmm_aio_mode aio;
    bool readonly;
    enum vmm_on_error werror;
    enum vmm_on_error rerror;
    enum vmm_discard_mode discard;
};

/* One entry of iothread-vq-mapping (QEMU 9's JSON -device form). */
struct vmm_config_vq_map {
    char *iothread;
    unsigned nr_vqs; /* 0: the queues are spread round-robin */
    unsigned vqs[VMM_MAX_QUEUES];
};

/* -device virtio-blk-device,drive=ID[,...] (or its JSON form). */
struct vmm_config_blk {
    char *id;                 /* optional device id */
    char *drive;              /* a struct vmm_config_drive's id */
    char *iothread;           /* NULL: served by the main loop under the BQL */
    unsigned num_queues;      /* 0: 1 */
    unsigned queue_size;      /* 0: 256 */
    char *serial;             /* GET_ID, at most 20 bytes */
    enum vmm_on_error werror; /* DEFAULT: the drive's */
    enum vmm_on_error rerror;
    unsigned nr_vq_maps; /* > 0: iothread-vq-mapping given, iothread NULL */
    struct vmm_config_vq_map vq_maps[VMM_MAX_IOTHREADS];
};

/* -qmp, or -chardev socket,id=ID,... -mon chardev=ID,mode=control. */
struct vmm_config_qmp {
    struct vmm_config_chr chr; /* STDIO or UNIX (server) */
    bool pretty;
};

/* -cpu host,+feat,-feat,feat=on|off */
struct vmm_config_cpu_feature {
    char *name; /* QEMU's name, e.g. "kvm-pv-ipi", "arch-capabilities" */
    bool on;
};

/**
 * struct vmm_config - a parsed command line.
 *
 * Strings are owned by the struct (vmm_config_free()).  Counts never
 * exceed the VMM_MAX_* limits (the parser refuses more).
 */
struct vmm_config {
    /* -M microvm[,...]: pit and pic as given (AUTO: on, in-kernel);
     * rtc is always OFF once parsed (rtc=on refused); isa_serial is ON or
     * OFF when given (a bool in QEMU), AUTO (on) when not. */
    enum vmm_onoffauto pit, pic, rtc, isa_serial;
    bool acpi;                /* always false once parsed (acpi=on refused) */
    bool auto_kernel_cmdline; /* default true */
    bool option_roms;         /* x-option-roms=, accepted, default true */

    uint64_t ram_size;                /* -m, bytes; default 128 MiB */
    unsigned nr_cpus;                 /* -smp; default 1 */
    unsigned sockets, cores, threads; /* topology, product == nr_cpus */

    char *kernel; /* -kernel (required unless -version / -h) */
    char *append; /* -append, NULL if not given */
    char *initrd; /* -initrd */

    /* -cpu host (the only model) and its feature switches, in order. */
    unsigned nr_cpu_features;
    struct vmm_config_cpu_feature cpu_features[VMM_MAX_CPU_FEATURES];

    bool nodefaults;   /* -nodefaults */
    bool nographic;    /* -nographic */
    bool no_reboot;    /* -no-reboot */
    bool no_shutdown;  /* -no-shutdown */
    bool start_paused; /* -S */
    bool sandbox;      /* -sandbox on */
    /* -sandbox on,resourcecontrol=deny: the filter also denies
     * sched_setaffinity/setpriority-type calls (after threads are set up) */
    bool sandbox_resourcecontrol_deny;
    bool force_legacy; /* -global virtio-mmio.force-legacy=on */
    char *name;        /* -name NAME or -name guest=NAME,... */
    char *pidfile;     /* -pidfile PATH */

    /* The serial port: kind NONE means no UART at all (resolved from
     * -serial, -nographic, -nodefaults and isa-serial= as QEMU does; NULL
     * is a UART whose output goes nowhere). */
    struct vmm_config_chr serial;

    /* -device isa-debug-exit[,iobase=N][,iosize=N] */
    bool debug_exit;
    uint16_t debug_exit_iobase; /* default 0x501 */
    uint16_t debug_exit_iosize; /* default 2 */

    unsigned nr_iothreads;
    struct vmm_config_iothread iothreads[VMM_MAX_IOTHREADS];
    unsigned nr_drives;
    struct vmm_config_drive drives[VMM_MAX_DRIVES];
    unsigned nr_blks; /* in command-line order: the n-th takes slot 7 - n */
    struct vmm_config_blk blks[VMM_MAX_VIRTIO_DEVS];
    unsigned nr_qmp;
    struct vmm_config_qmp qmp[VMM_MAX_QMP];

    bool summary;      /* -x-loom-summary (loom-vm's own): threads and their
                        * statistics on stderr when the VM ends */
    bool show_version; /* -version: print and exit 0, nothing else done */
    bool show_help;    /* -h / -help */
};

/**
 * vmm_config_parse() - parse a QEMU-style command line.
 * @argc: argument count, argv[0] included.
 * @argv: the arguments (not modified).
 * @ret: receives a new configuration on success (vmm_config_free()).
 * @errmsg: receives a malloc'ed one-line message on failure (no newline),
 *     naming the option, e.g. "-smp: invalid number of CPUs '0'" or
 *     "unsupported option '-daemonize'"; may be NULL.
 *
 * Every option VMM.md lists is accepted with QEMU's syntax (key=value
 * lists with ",," escaping, size suffixes, on/off/yes/no/true/false,
 * "--opt" as "-opt", JSON -device); anything else is refused.  Cross-option
 * checks are done here too: drives referenced by exactly one device, known
 * iothread ids, unique ids, -kernel present.
 *
 * Context: any (pure).
 * Return: 0; -EINVAL for a bad command line (with @errmsg); -ENOMEM.
 */
int vmm_config_parse(int argc, char *const *argv, struct vmm_config **ret,
                     char **errmsg);

/**
 * vmm_config_free() - free a configuration.
 * @cfg: the configuration, or NULL.
 * Context: any.
 */
void vmm_config_free(struct vmm_config *cfg);

/**
 * vmm_config_usage() - the -h text.
 * Context: any.  Return: a static string.
 */
const char *vmm_config_usage(void);

#endif /* VMM_CONFIG_H */
