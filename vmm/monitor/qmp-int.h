/* SPDX-License-Identifier: MIT */
/*
 * Inside the QMP monitor: the framing scanner (qmp-scan.c), the monitor
 * and its sessions (qmp.c, qmp-session.c), errors and argument checks
 * (qmp-cmd.c), and the commands (cmds-*.c).  Everything runs on the main
 * thread with the BQL held.
 */
#ifndef VMM_MONITOR_QMP_INT_H
#define VMM_MONITOR_QMP_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "monitor/monitor.h"

/* ------------------------------------------------------------------ */
/* Framing (qmp-scan.c)                                                */
/* ------------------------------------------------------------------ */

/*
 * struct qmp_scan - where the scanner is in a session's input.  Offsets
 * are into the session's input buffer; @start is the first byte of the
 * message being scanned (whitespace before it is skipped), @pos the next
 * byte to look at.  The scanner does not parse JSON: it tracks strings,
 * escapes and nesting depth, enough to know where each top-level value
 * ends; jansson then parses exactly that value.
 */
struct qmp_scan {
    size_t start, pos;
    unsigned depth;
    bool in_str;    /* inside a string */
    bool esc;       /* the previous byte was a backslash in a string */
    bool in_scalar; /* a bare top-level number or keyword */
    bool skipping;  /* after an error: dropping input up to a newline */
    char why[64];   /* the last error, for the GenericError's desc */
};

enum qmp_scan_res {
    QMP_SCAN_MORE, /* every byte scanned; no complete message yet */
    QMP_SCAN_MSG,  /* a message: [start, *ret_end) */
    QMP_SCAN_BAD,  /* a framing error (->why); now skipping to '\n' */
};

/* Context for the scanner functions: the session's, main thread. */
void vmm__qmp_scan_init(struct qmp_scan *s);
enum qmp_scan_res vmm__qmp_scan(struct qmp_scan *s, const char *buf, size_t len,
                                size_t *ret_end);
/* The message that ended at @end was taken: go on after it. */
void vmm__qmp_scan_next(struct qmp_scan *s, size_t end);
/* Drop input up to the next newline (after a message jansson refused). */
void vmm__qmp_scan_resync(struct qmp_scan *s);
/* Input ended: a bare scalar is complete (MSG); a partial value is BAD;
 * otherwise MORE (nothing pending). */
enum qmp_scan_res vmm__qmp_scan_eof(struct qmp_scan *s, size_t len,
                                    size_t *ret_end);
/* The first @n bytes of the buffer were discarded: shift the offsets. */
void vmm__qmp_scan_shift(struct qmp_scan *s, size_t n);
/* Bytes before this offset are no longer needed. */
size_t vmm__qmp_scan_keep_from(const struct qmp_scan *s);

/* ------------------------------------------------------------------ */
/* The monitor and its sessions (qmp.c, qmp-session.c)                 */
/* ------------------------------------------------------------------ */

struct vmm_chr;
struct vmm_chr_frontend;

/* One client (a socket) or the stdio session. */
struct qmp_session {
    struct vmm_monitor *mon;
    struct qmp_session *next;
    int fd;              /* the client's socket; -1 for stdio */
    struct vmm_chr *chr; /* -qmp stdio */
    bool pretty;
    bool negotiated; /* command mode: commands run, events are sent */
    bool eof;        /* input ended (the client may still read) */
    bool dead;       /* closed; freed by reap_bh when not busy */
    bool watch_r, watch_w;
    unsigned busy; /* commands of this session running */

    char *in; /* input; the scanner's offsets point into it */
    size_t in_len, in_cap;
    struct qmp_scan scan;

    char *out; /* output queued: [out_head, out_head + out_len) */
    size_t out_head, out_len, out_cap;
};

/* A listening socket. */
struct qmp_socket {
    struct vmm_monitor *mon;
    int fd;
    char *path;
    bool pretty;
    uint64_t dev, ino; /* the socket file we created, to unlink */
};

struct vmm_monitor {
    const struct vmm_monitor_ops *ops;
    void *opaque;
    bool listening; /* our machine listener is registered */
    struct loom_bh *reap_bh;
    struct qmp_socket socks[VMM_MAX_QMP];
    unsigned nr_socks;
    bool have_stdio;
    struct qmp_session *sessions;
    struct vmm_monitor_stats stats;
};

/*
 * qmp-session.c.  Context: main thread, bql.
 * _new: a session on socket @fd or stdio chardev @chr, linked into @mon,
 *   greeted and watched; NULL on OOM.
 * _kill: end it now, free it later (reap_bh); @dropped counts it.
 * _flush: write what the transport takes now.
 * _send_text: queue one serialised message (line ends made CR LF), write.
 * _free: close and free (unlinked from the monitor by the caller).
 */
struct qmp_session *vmm__qmp_session_new(struct vmm_monitor *mon, int fd,
                                         struct vmm_chr *chr, bool pretty);
void vmm__qmp_session_kill(struct qmp_session *s, bool dropped);
void vmm__qmp_session_flush(struct qmp_session *s);
void vmm__qmp_session_send_text(struct qmp_session *s, const char *text);
void vmm__qmp_session_free(struct qmp_session *s);
/* Serialise a message: compact or pretty, non-ASCII escaped.  Context:
 * any.  Return: a malloc'ed string, NULL on OOM. */
char *vmm__qmp_dump(json_t *msg, bool pretty);
/* The frontend of the stdio session's chardev (opaque: the session). */
extern const struct vmm_chr_frontend vmm__qmp_chr_frontend;

/* ------------------------------------------------------------------ */
/* Errors and arguments (qmp-cmd.c)                                    */
/* ------------------------------------------------------------------ */

/* QEMU's QapiErrorClass. */
enum qmp_error_class {
    QMP_ERR_GENERIC,
    QMP_ERR_COMMAND_NOT_FOUND,
    QMP_ERR_DEVICE_NOT_ACTIVE,
    QMP_ERR_DEVICE_NOT_FOUND,
    QMP_ERR_KVM_MISSING_CAP,
};

/* An error reply in the making (STYLE.md: error objects, QEMU's rules). */
struct qmp_error {
    enum qmp_error_class cls;
    char *desc;
};

/*
 * Set *@errp (if @errp is not NULL and *@errp is still NULL) to a new
 * error.  Context: any.
 */
void vmm__qmp_error_set(struct qmp_error **errp, enum qmp_error_class cls,
                        const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void vmm__qmp_error_free(struct qmp_error *e);
const char *vmm__qmp_error_class_name(enum qmp_error_class cls);

/* Argument types, with QEMU's names in its messages. */
enum qmp_type {
    QMP_T_STR,
    QMP_T_INT,
    QMP_T_BOOL,
    QMP_T_NUMBER,
    QMP_T_ARRAY,
    QMP_T_OBJECT,
    QMP_T_ANY,
};

/* One parameter of a command; a table ends with a NULL @name. */
struct qmp_arg {
    const char *name;
    enum qmp_type type;
    bool optional;
};

/*
 * Check @args (an object, or NULL for none) against @spec: unknown
 * members, missing ones, wrong types, with QEMU's messages.
 * Context: any.  Return: true if they fit.
 */
bool vmm__qmp_check_args(const struct qmp_arg *spec, json_t *args,
                         struct qmp_error **errp);
/* Check that @v (named @what) has type @t.  Context: any. */
bool vmm__qmp_check_type(const char *what, json_t *v, enum qmp_type t,
                         struct qmp_error **errp);
/*
 * The index of @value in the NULL-terminated @names, or -1 with QEMU's
 * "Parameter '@param' does not accept value ..." error.  Context: any.
 */
int vmm__qmp_enum(const char *param, const char *value,
                  const char *const *names, struct qmp_error **errp);
/* A JSON integer for a counter (a real past INT64_MAX).  Context: any. */
json_t *vmm__qmp_u64(uint64_t v);
/* Add @v to object @o under @key, stealing @v; false on OOM. */
bool vmm__qmp_set(json_t *o, const char *key, json_t *v);

/* ------------------------------------------------------------------ */
/* Commands                                                            */
/* ------------------------------------------------------------------ */

/* What a command sees of the monitor and the session running it. */
struct qmp_ctx {
    struct vmm_monitor *mon;
    const struct vmm_monitor_ops *ops;
    void *opaque;
    bool negotiated;     /* the session is in command mode */
    bool enter_cmd_mode; /* set by qmp_capabilities on success */
};

/*
 * A command.  @args has been checked against @spec (it is an object,
 * possibly empty).  Return: the "return" value (a new reference) or NULL
 * with *@errp set.
 */
typedef json_t *qmp_cmd_fn(struct qmp_ctx *c, json_t *args,
                           struct qmp_error **errp);

struct qmp_cmd {
    const char *name;
    qmp_cmd_fn *fn;
    const struct qmp_arg *spec;
};

/* The command tables, each ending with a NULL name (cmds-*.c). */
extern const struct qmp_cmd vmm__qmp_cmds_control[];
extern const struct qmp_cmd vmm__qmp_cmds_cpu[];
extern const struct qmp_cmd vmm__qmp_cmds_iothread[];
extern const struct qmp_cmd vmm__qmp_cmds_loom[];
extern const struct qmp_cmd vmm__qmp_cmds_block[];

/* Every request queue of every block device, for x-loom-query-stats
 * (cmds-block.c).  Return: a new list, or NULL with *@errp set. */
json_t *vmm__qmp_virtqueues_json(struct qmp_ctx *c, struct qmp_error **errp);
/* Every block device's backend counters (syncs), for x-loom-query-stats
 * (cmds-block.c).  Return: a new list, or NULL with *@errp set. */
json_t *vmm__qmp_drives_json(struct qmp_ctx *c, struct qmp_error **errp);

/* QEMU's qdev of a block device: its id, or the path of an anonymous
 * device (cmds-block.c).  Context: any. */
void vmm__qmp_qdev_of(const struct vmm_machine_drive_info *d, char *buf,
                      size_t len);

/* Look a command up by name in every table, or NULL.  Context: any. */
const struct qmp_cmd *vmm__qmp_find(const char *name);
/* Call @fn for every command, in table order.  Context: any. */
void vmm__qmp_foreach(void (*fn)(const struct qmp_cmd *cmd, void *opaque),
                      void *opaque);

/*
 * QEMU's VersionInfo of the release whose protocol loom-vm speaks, with
 * loom-vm's own version as the package (the greeting and query-version).
 * Context: any.  Return: a new object, NULL on OOM.
 */
json_t *vmm__qmp_version_json(void);

#endif /* VMM_MONITOR_QMP_INT_H */
