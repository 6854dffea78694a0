/* SPDX-License-Identifier: MIT */
/*
 * Internals of loom-vm's command-line parser, shared by its four files:
 * config.c (entry points, machine, memory, CPUs, the option table),
 * config-syntax.c (QEMU's key=value and JSON syntax, numbers, messages),
 * config-chr.c (-serial, -qmp, -chardev, -mon and the serial default) and
 * config-dev.c (-device, -drive, -object, -global).  Nothing outside
 * vmm/config*.c includes it.
 *
 * Every handler takes the parser state and returns 0 (getters: 1 found,
 * 0 absent), -EINVAL after vmm_cfg_fail() stored the message, or -ENOMEM.
 * All of it runs inside one vmm_config_parse() call: Context: any (pure).
 */
#ifndef VMM_CONFIG_INT_H
#define VMM_CONFIG_INT_H

#include <jansson.h>

#include "config.h"

#define VMM_CFG_SMP_KEYS 7 /* cpus sockets dies clusters cores threads max */

/* A -chardev waiting for the -mon that takes it. */
struct vmm_cfg_chardev {
    char *id;
    struct vmm_config_chr chr;
    bool used;
};

/* How one -cpu feature was switched (QEMU: -feat > +feat > feat=on|off). */
struct vmm_cfg_feat {
    bool plus, minus, kv_set, kv_on;
};

/* -m merges over repeated options, so its keys are kept raw. */
struct vmm_cfg_mem {
    bool size_set, maxmem_set, slots_set;
    uint64_t size, maxmem, slots;
};

/**
 * struct vmm_cfg_parser - the state of one vmm_config_parse() call.
 * @cfg: the configuration being filled (freed whole on error).
 * @opt: the option being parsed, which prefixes every message; NULL for
 *     none.
 * @err: the first error message.
 * @nomem: an allocation failed.
 *
 * The rest is what options leave for the checks across options.
 */
struct vmm_cfg_parser {
    struct vmm_config *cfg;
    const char *opt;
    char *err;
    bool nomem;

    struct vmm_cfg_mem mem;
    bool smp_set[VMM_CFG_SMP_KEYS];
    uint64_t smp[VMM_CFG_SMP_KEYS];
    struct vmm_cfg_feat feats[VMM_MAX_CPU_FEATURES];
    bool accel_opt;     /* -accel */
    bool machine_accel; /* -enable-kvm or -machine accel= */

    bool serial_given; /* any -serial, "none" included */
    unsigned nr_serial;
    struct vmm_config_chr serial;
    struct vmm_cfg_chardev chardevs[VMM_MAX_QMP];
    unsigned nr_chardevs;
    char *mon_chardev[VMM_MAX_QMP]; /* per cfg->qmp[i]; NULL for -qmp */

    char *debug_exit_id;
};

/* ---- config-syntax.c: messages, identifiers, numbers ------------------- */

/**
 * vmm_cfg_fail() - record the error message (the first one wins).
 * @p: the parser.
 * @fmt: printf format of the message after "OPTION: ".
 *
 * Quote user values with a precision ("%.64s") so that the message stays
 * short; control characters are replaced by '?' so that it stays one line.
 * Context: any (pure).
 * Return: -EINVAL, or -ENOMEM when the message cannot be built.
 */
int vmm_cfg_fail(struct vmm_cfg_parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/**
 * vmm_cfg_nomem() - record an allocation failure.
 * @p: the parser.
 * Context: any (pure).  Return: -ENOMEM.
 */
int vmm_cfg_nomem(struct vmm_cfg_parser *p);

/**
 * vmm_cfg_set_str() - replace *@dst (freed) by a copy of @src.
 * @p: the parser.
 * @dst: the owned string to replace.
 * @src: the new value.
 * Context: any (pure).  Return: 0; -ENOMEM.
 */
int vmm_cfg_set_str(struct vmm_cfg_parser *p, char **dst, const char *src);

/**
 * vmm_cfg_check_id() - refuse an id that QEMU would refuse.
 * @p: the parser.
 * @id: a letter, then letters, digits, '-', '.' or '_'.
 * Context: any (pure).  Return: 0; -EINVAL.
 */
int vmm_cfg_check_id(struct vmm_cfg_parser *p, const char *id);

/**
 * vmm_cfg_parse_bool() - QEMU's spellings of a boolean.
 * @s: on/yes/true/y or off/no/false/n.
 * @out: receives the value on success.
 * Context: any (pure).  Return: 0; -EINVAL.
 */
int vmm_cfg_parse_bool(const char *s, bool *out);

/**
 * vmm_cfg_parse_size() - a size as QEMU's -m reads it.
 * @s: decimal (a fraction allowed before a unit other than B) or 0x hex,
 *     then an optional unit B K M G T P E in either case.
 * @unit: bytes per unit when @s names none.
 * @out: receives the size in bytes on success.
 * Context: any (pure).  Return: 0; -EINVAL (syntax); -ERANGE (2^64 or more).
 */
int vmm_cfg_parse_size(const char *s, uint64_t unit, uint64_t *out);

/* ---- config-syntax.c: key=value lists and JSON objects ----------------- */

/* One key of an option: a string value, a short-form boolean or JSON. */
struct vmm_cfg_kv {
    const char *key;
    const char *val; /* NULL: short-form boolean ("key" or "nokey") */
    json_t *json;    /* JSON form: the member's value */
    bool used;
};

/* A parsed option argument; vmm_cfg_opts_free() releases it. */
struct vmm_cfg_opts {
    struct vmm_cfg_kv *kv;
    size_t n;
    char *buf;    /* unescaped keys and values */
    json_t *root; /* JSON form */
};

enum vmm_cfg_style {
    VMM_CFG_QEMUOPTS, /* short-form booleans allowed (deprecated in QEMU) */
    VMM_CFG_KEYVAL,   /* every key after the first needs '=' (-machine) */
};

/**
 * vmm_cfg_opts_split() - split a key=value list as QEMU does.
 * @p: the parser.
 * @s: the option's argument: elements separated by single commas (",,"
 *     is a literal comma); a trailing comma is allowed.
 * @implied: the key of a first element without '=' (e.g. "size" for -m),
 *     or NULL.
 * @style: whether a later element without '=' is a short-form boolean.
 * @o: receives the list (vmm_cfg_opts_free() it, also after an error).
 * Context: any (pure).  Return: 0; -EINVAL; -ENOMEM.
 */
int vmm_cfg_opts_split(struct vmm_cfg_parser *p, const char *s,
                       const char *implied, enum vmm_cfg_style style,
                       struct vmm_cfg_opts *o);

/**
 * vmm_cfg_opts_json() - read the JSON form of -device / -object.
 * @p: the parser.
 * @s: one JSON object (duplicate keys refused).
 * @o: receives the members (vmm_cfg_opts_free() it, also after an error).
 * Context: any (pure).  Return: 0; -EINVAL; -ENOMEM.
 */
int vmm_cfg_opts_json(struct vmm_cfg_parser *p, const char *s,
                      struct vmm_cfg_opts *o);

/**
 * vmm_cfg_opts_free() - release a list (a zeroed one too).
 * @o: the list.
 * Context: any (pure).
 */
void vmm_cfg_opts_free(struct vmm_cfg_opts *o);

/**
 * vmm_cfg_opts_find() - the last occurrence of @key, all marked used.
 * @o: the list.
 * @key: the key.
 * Context: any (pure).  Return: the element, or NULL.
 */
struct vmm_cfg_kv *vmm_cfg_opts_find(struct vmm_cfg_opts *o, const char *key);

/**
 * vmm_cfg_opts_done() - refuse the keys no getter took.
 * @p: the parser.
 * @o: the list.
 * @what: prefix of the message (the driver, backend...), or NULL.
 * Context: any (pure).  Return: 0; -EINVAL.
 */
int vmm_cfg_opts_done(struct vmm_cfg_parser *p, struct vmm_cfg_opts *o,
                      const char *what);

/*
 * Getters: the last occurrence of @key wins.  Each returns 1 and writes
 * *@out when the key is there, 0 when it is not, -EINVAL for a bad value.
 */

/**
 * vmm_cfg_str() - a string value (JSON: a string).
 * @p: the parser.  @o: the list.  @key: the key.
 * @out: receives a pointer into @o (valid until vmm_cfg_opts_free()).
 * Context: any (pure).  Return: 1; 0; -EINVAL.
 */
int vmm_cfg_str(struct vmm_cfg_parser *p, struct vmm_cfg_opts *o,
                const char *key, const char **out);

/**
 * vmm_cfg_bool() - a boolean (short forms "key" and "nokey" too; JSON:
 *     true or false).
 * @p: the parser.  @o: the list.  @key: the key.  @out: the value.
 * Context: any (pure).  Return: 1; 0; -EINVAL.
 */
int vmm_cfg_bool(struct vmm_cfg_parser *p, struct vmm_cfg_opts *o,
                 const char *key, bool *out);

/**
 * vmm_cfg_i64() - an integer in C syntax, in [@min, @max] (JSON: an
 *     integer).
 * @p: the parser.  @o: the list.  @key: the key.
 * @min: smallest value accepted.  @max: largest value accepted.
 * @out: the value.
 * Context: any (pure).  Return: 1; 0; -EINVAL.
 */
int vmm_cfg_i64(struct vmm_cfg_parser *p, struct vmm_cfg_opts *o,
                const char *key, int64_t min, int64_t max, int64_t *out);

/**
 * vmm_cfg_uint() - an unsigned integer up to @max.
 * @p: the parser.  @o: the list.  @key: the key.
 * @max: largest value accepted.  @out: the value.
 * Context: any (pure).  Return: 1; 0; -EINVAL.
 */
int vmm_cfg_uint(struct vmm_cfg_parser *p, struct vmm_cfg_opts *o,
                 const char *key, uint64_t max, uint64_t *out);

/**
 * vmm_cfg_enum() - one of @names (a NULL-terminated list).
 * @p: the parser.  @o: the list.  @key: the key.  @names: the values.
 * @out: receives the index of the value in @names.
 * Context: any (pure).  Return: 1; 0; -EINVAL.
 */
int vmm_cfg_enum(struct vmm_cfg_parser *p, struct vmm_cfg_opts *o,
                 const char *key, const char *const *names, unsigned *out);

/* ---- config-chr.c: character devices ----------------------------------- */

/**
 * vmm_cfg_opt_serial() - -serial stdio|mon:stdio|null|none|file:|unix:.
 * @p: the parser.  @arg: the backend.
 * Context: any (pure).  Return: 0; -EINVAL; -ENOMEM.
 */
int vmm_cfg_opt_serial(struct vmm_cfg_parser *p, const char *arg);

/**
 * vmm_cfg_opt_qmp() - -qmp stdio|unix:PATH,server=on[,wait=off].
 * @p: the parser.  @arg: the backend.
 * Context: any (pure).  Return: 0; -EINVAL; -ENOMEM.
 */
int vmm_cfg_opt_qmp(struct vmm_cfg_parser *p, const char *arg);

/**
 * vmm_cfg_opt_qmp_pretty() - -qmp-pretty: -qmp with pretty-printed replies.
 * @p: the parser.  @arg: the backend.
 * Context: any (pure).  Return: 0; -EINVAL; -ENOMEM.
 */
int vmm_cfg_opt_qmp_pretty(struct vmm_cfg_parser *p, const char *arg);

/**
 * vmm_cfg_opt_chardev() - -chardev socket,id=,path=,... | stdio,id=.
 * @p: the parser.  @arg: the backend and its keys.
 * Context: any (pure).  Return: 0; -EINVAL; -ENOMEM.
 */
int vmm_cfg_opt_chardev(struct vmm_cfg_parser *p, const char *arg);

/**
 * vmm_cfg_opt_mon() - -mon [chardev=]ID,mode=control[,pretty=on].
 * @p: the parser.  @arg: the keys.
 * Context: any (pure).  Return: 0; -EINVAL; -ENOMEM.
 */
int vmm_cfg_opt_mon(struct vmm_cfg_parser *p, const char *arg);

/**
 * vmm_cfg_resolve_monitors() - give each -mon its -chardev.
 * @p: the parser, once argv is read.
 *
 * Refuses a missing, shared, client-mode or unused -chardev.
 * Context: any (pure).  Return: 0; -EINVAL.
 */
int vmm_cfg_resolve_monitors(struct vmm_cfg_parser *p);

/**
 * vmm_cfg_resolve_serial() - QEMU's choice of the serial backend.
 * @p: the parser, after vmm_cfg_resolve_monitors().
 *
 * Moves the result into @p->cfg->serial; refuses a second stdio user.
 * Context: any (pure).  Return: 0; -EINVAL.
 */
int vmm_cfg_resolve_serial(struct vmm_cfg_parser *p);

/* ---- config-dev.c: devices --------------------------------------------- */

/**
 * vmm_cfg_opt_device() - -device isa-debug-exit|virtio-blk-device,...
 *     or its JSON form.
 * @p: the parser.  @arg: the driver and its keys, or a JSON object.
 * Context: any (pure).  Return: 0; -EINVAL; -ENOMEM.
 */
int vmm_cfg_opt_device(struct vmm_cfg_parser *p, const char *arg);

/**
 * vmm_cfg_opt_drive() - -drive id=,file=,format=raw[,...].
 * @p: the parser.  @arg: the keys.
 * Context: any (pure).  Return: 0; -EINVAL; -ENOMEM.
 */
int vmm_cfg_opt_drive(struct vmm_cfg_parser *p, const char *arg);

/**
 * vmm_cfg_opt_object() - -object iothread,id=ID[,...] or its JSON form.
 * @p: the parser.  @arg: the type and its keys, or a JSON object.
 * Context: any (pure).  Return: 0; -EINVAL; -ENOMEM.
 */
int vmm_cfg_opt_object(struct vmm_cfg_parser *p, const char *arg);

/**
 * vmm_cfg_opt_global() - -global virtio-mmio.force-legacy=on|off.
 * @p: the parser.  @arg: DRIVER.PROP=VALUE or driver=,property=,value=.
 * Context: any (pure).  Return: 0; -EINVAL; -ENOMEM.
 */
int vmm_cfg_opt_global(struct vmm_cfg_parser *p, const char *arg);

/**
 * vmm_cfg_resolve_devices() - tie devices to their drives and IOThreads.
 * @p: the parser, once argv is read.
 *
 * Each virtio-blk-device names an existing -drive that no other device
 * uses, every -drive is used, every IOThread named exists.
 * Context: any (pure).  Return: 0; -EINVAL.
 */
int vmm_cfg_resolve_devices(struct vmm_cfg_parser *p);

#endif /* VMM_CONFIG_INT_H */
