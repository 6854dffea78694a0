/* SPDX-License-Identifier: MIT */
/*
 * loom-vm's character devices on the command line: -serial (one UART),
 * -qmp / -qmp-pretty, -chardev socket|stdio and -mon mode=control, in
 * QEMU's legacy backend syntax (stdio, mon:stdio, null, none, file:PATH,
 * unix:PATH,server=on,wait=off).  After argv is read, -mon takes its
 * -chardev, the serial port gets QEMU's default, and stdio may have one
 * user only, as in QEMU.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config-int.h"

#define UNIX_PATH_MAX 107 /* sun_path minus the terminating NUL */

/* The socket keys of unix:PATH,... and -chardev socket,...: a listening
 * socket waits for its first client unless wait=off. */
static int chr_socket(struct vmm_cfg_parser *p, struct vmm_cfg_opts *o,
                      struct vmm_config_chr *chr)
{
    const char *path = NULL;
    bool server = false, wait = true;
    int r, rw = 0;

    if ((r = vmm_cfg_str(p, o, "path", &path)) == 0 || (r > 0 && !*path)) {
        return vmm_cfg_fail(p, "a unix socket needs a path");
    }
    if (r > 0 && strlen(path) > UNIX_PATH_MAX) {
        return vmm_cfg_fail(p, "unix socket path longer than %d bytes",
                            UNIX_PATH_MAX);
    }
    if (r >= 0) {
        r = vmm_cfg_bool(p, o, "server", &server);
    }
    if (r >= 0) {
        r = rw = vmm_cfg_bool(p, o, "wait", &wait);
    }
    if (r >= 0 && rw > 0 && !server) {
        r = vmm_cfg_fail(p, "'wait' is incompatible with a client socket "
                            "(server=off)");
    }
    if (r < 0) {
        return r;
    }
    chr->path = strdup(path);
    if (!chr->path) {
        return vmm_cfg_nomem(p);
    }
    chr->kind = VMM_CHR_UNIX;
    chr->server = server;
    chr->wait = server && wait;
    return 0;
}

/* QEMU's legacy backend strings (-serial, -qmp). */
static int parse_chr(struct vmm_cfg_parser *p, const char *arg, bool serial,
                     struct vmm_config_chr *chr)
{
    struct vmm_cfg_opts o;
    int r;

    memset(chr, 0, sizeof(*chr));
    if (!strcmp(arg, "stdio")) {
        chr->kind = VMM_CHR_STDIO;
    } else if (serial && !strcmp(arg, "mon:stdio")) {
        chr->kind = VMM_CHR_MON_STDIO;
    } else if (serial && !strcmp(arg, "null")) {
        chr->kind = VMM_CHR_NULL;
    } else if (serial && !strncmp(arg, "file:", 5)) {
        /* QEMU takes the rest verbatim: no comma splitting here. */
        if (!arg[5]) {
            return vmm_cfg_fail(p, "file: needs a path");
        }
        chr->path = strdup(arg + 5);
        if (!chr->path) {
            return vmm_cfg_nomem(p);
        }
        chr->kind = VMM_CHR_FILE;
    } else if (!strncmp(arg, "unix:", 5)) {
        r = vmm_cfg_opts_split(p, arg + 5, "path", VMM_CFG_QEMUOPTS, &o);
        if (r >= 0) {
            r = chr_socket(p, &o, chr);
        }
        if (r >= 0) {
            r = vmm_cfg_opts_done(p, &o, "unix");
        }
        vmm_cfg_opts_free(&o);
        if (r < 0) {
            free(chr->path);
            chr->path = NULL;
        }
        return r;
    } else {
        return vmm_cfg_fail(p,
                            "unsupported character device '%.64s' (loom-vm "
                            "supports %s)",
                            arg,
                            serial ? "stdio, mon:stdio, null, none, file:PATH, "
                                     "unix:PATH[,server=on][,wait=off]"
                                   : "stdio, unix:PATH,server=on[,wait=off]");
    }
    return 0;
}

int vmm_cfg_opt_serial(struct vmm_cfg_parser *p, const char *arg)
{
    struct vmm_config_chr chr;
    int r;

    p->serial_given = true;
    if (!strcmp(arg, "none")) {
        return 0; /* QEMU: takes no port, but drops the default one */
    }
    r = parse_chr(p, arg, true, &chr);
    if (r < 0) {
        return r;
    }
    if (p->nr_serial) {
        free(chr.path);
        return vmm_cfg_fail(p,
                            "loom-vm has one serial port; '%.64s' would be a "
                            "second",
                            arg);
    }
    p->nr_serial = 1;
    p->serial = chr;
    return 0;
}

static int new_qmp(struct vmm_cfg_parser *p, struct vmm_config_qmp **ret)
{
    if (p->cfg->nr_qmp == VMM_MAX_QMP) {
        return vmm_cfg_fail(p, "more than %d QMP monitors", VMM_MAX_QMP);
    }
    *ret = &p->cfg->qmp[p->cfg->nr_qmp];
    return 0;
}

static int qmp_common(struct vmm_cfg_parser *p, const char *arg, bool pretty)
{
    struct vmm_config_qmp *q = NULL;
    int r = new_qmp(p, &q);

    if (r >= 0) {
        r = parse_chr(p, arg, false, &q->chr);
    }
    if (r >= 0 && q->chr.kind == VMM_CHR_UNIX && !q->chr.server) {
        free(q->chr.path);
        q->chr.path = NULL;
        r = vmm_cfg_fail(p, "loom-vm's QMP socket listens: add server=on");
    }
    if (r >= 0) {
        q->pretty = pretty;
        p->cfg->nr_qmp++;
    }
    return r;
}

int vmm_cfg_opt_qmp(struct vmm_cfg_parser *p, const char *arg)
{
    return qmp_common(p, arg, false);
}

int vmm_cfg_opt_qmp_pretty(struct vmm_cfg_parser *p, const char *arg)
{
    return qmp_common(p, arg, true);
}

int vmm_cfg_opt_chardev(struct vmm_cfg_parser *p, const char *arg)
{
    struct vmm_cfg_chardev *cd = &p->chardevs[p->nr_chardevs];
    const char *backend = NULL, *id = NULL;
    struct vmm_cfg_opts o;
    int r;

    if (p->nr_chardevs == VMM_MAX_QMP) {
        return vmm_cfg_fail(p,
                            "more than %d chardevs (loom-vm uses them only for "
                            "-mon)",
                            VMM_MAX_QMP);
    }
    r = vmm_cfg_opts_split(p, arg, "backend", VMM_CFG_QEMUOPTS, &o);
    if (r < 0) {
        return r;
    }
    memset(&cd->chr, 0, sizeof(cd->chr));
    if ((r = vmm_cfg_str(p, &o, "id", &id)) == 0) {
        r = vmm_cfg_fail(p, "no id specified");
    }
    if (r >= 0) {
        r = vmm_cfg_check_id(p, id);
    }
    for (unsigned i = 0; r >= 0 && i < p->nr_chardevs; i++) {
        if (!strcmp(p->chardevs[i].id, id)) {
            r = vmm_cfg_fail(p, "duplicate ID '%.64s' for chardev", id);
        }
    }
    if (r >= 0 && (r = vmm_cfg_str(p, &o, "backend", &backend)) == 0) {
        r = vmm_cfg_fail(p, "no backend given");
    }
    if (r >= 0 && !strcmp(backend, "socket")) {
        r = chr_socket(p, &o, &cd->chr);
    } else if (r >= 0 && !strcmp(backend, "stdio")) {
        cd->chr.kind = VMM_CHR_STDIO;
    } else if (r >= 0) {
        r = vmm_cfg_fail(
            p,
            "unsupported chardev backend '%.64s' (loom-vm supports "
            "socket and stdio)",
            backend);
    }
    if (r >= 0) {
        r = vmm_cfg_opts_done(p, &o, backend);
    }
    if (r >= 0 && !(cd->id = strdup(id))) {
        r = vmm_cfg_nomem(p);
    }
    if (r < 0) {
        free(cd->chr.path);
        cd->chr.path = NULL;
    } else {
        p->nr_chardevs++;
    }
    vmm_cfg_opts_free(&o);
    return r;
}

int vmm_cfg_opt_mon(struct vmm_cfg_parser *p, const char *arg)
{
    static const char *const modes[] = {"readline", "control", NULL};
    struct vmm_config_qmp *q = NULL;
    const char *chardev = NULL, *id;
    unsigned mode = 0;
    bool pretty = false;
    struct vmm_cfg_opts o;
    int r = vmm_cfg_opts_split(p, arg, "chardev", VMM_CFG_QEMUOPTS, &o);

    if (r < 0) {
        return r;
    }
    if ((r = vmm_cfg_str(p, &o, "chardev", &chardev)) == 0) {
        r = vmm_cfg_fail(p, "parameter 'chardev' is missing");
    }
    if (r >= 0) {
        r = vmm_cfg_enum(p, &o, "mode", modes, &mode);
    }
    if (r >= 0 && mode == 0) {
        r = vmm_cfg_fail(p,
                         "mode=readline (HMP) is not supported by loom-vm; use "
                         "mode=control");
    }
    if (r >= 0) {
        r = vmm_cfg_bool(p, &o, "pretty", &pretty);
    }
    if (r >= 0 && (r = vmm_cfg_str(p, &o, "id", &id)) > 0) {
        r = vmm_cfg_check_id(p, id);
    }
    if (r >= 0) {
        r = vmm_cfg_opts_done(p, &o, NULL);
    }
    if (r >= 0) {
        r = new_qmp(p, &q);
    }
    if (r >= 0) {
        p->mon_chardev[p->cfg->nr_qmp] = strdup(chardev);
        if (!p->mon_chardev[p->cfg->nr_qmp]) {
            r = vmm_cfg_nomem(p);
        }
    }
    if (r >= 0) {
        q->pretty = pretty;
        p->cfg->nr_qmp++;
    }
    vmm_cfg_opts_free(&o);
    return r;
}

/* -mon chardev=ID takes its -chardev; every -chardev must be taken. */
/* ---- Checks across options --------------------------------------------- */

int vmm_cfg_resolve_monitors(struct vmm_cfg_parser *p)
{
    struct vmm_config *cfg = p->cfg;

    p->opt = "-mon";
    for (unsigned i = 0; i < cfg->nr_qmp; i++) {
        struct vmm_cfg_chardev *cd = NULL;

        if (!p->mon_chardev[i]) {
            continue;
        }
        for (unsigned c = 0; c < p->nr_chardevs; c++) {
            if (!strcmp(p->chardevs[c].id, p->mon_chardev[i])) {
                cd = &p->chardevs[c];
            }
        }
        if (!cd) {
            return vmm_cfg_fail(p, "chardev '%.64s' not found",
                                p->mon_chardev[i]);
        }
        if (cd->used) {
            return vmm_cfg_fail(p, "chardev '%.64s' is already in use", cd->id);
        }
        if (cd->chr.kind == VMM_CHR_UNIX && !cd->chr.server) {
            return vmm_cfg_fail(p,
                                "loom-vm's QMP socket listens: chardev '%.64s' "
                                "needs server=on",
                                cd->id);
        }
        cd->used = true;
        cfg->qmp[i].chr = cd->chr;
        cd->chr.path = NULL; /* moved */
    }
    p->opt = "-chardev";
    for (unsigned c = 0; c < p->nr_chardevs; c++) {
        if (!p->chardevs[c].used) {
            return vmm_cfg_fail(p,
                                "chardev '%.64s' is not used by any -mon "
                                "(loom-vm uses -chardev only for QMP)",
                                p->chardevs[c].id);
        }
    }
    return 0;
}

static bool chr_is_stdio(const struct vmm_config_chr *chr)
{
    return chr->kind == VMM_CHR_STDIO || chr->kind == VMM_CHR_MON_STDIO;
}

/*
 * QEMU's serial default: an explicit -serial wins; -nodefaults or any
 * -serial (none included) leaves no default port; -nographic puts it on
 * mon:stdio (plain stdio when a monitor option was given); otherwise QEMU
 * connects a "vc" that, without a display, shows nothing: NULL here.
 * stdio has one user.  With -nographic, no -nodefaults, no monitor option
 * (mon:stdio is one) and the serial port given elsewhere, QEMU's HMP
 * monitor alone holds stdio: loom-vm has no HMP, but refuses the same
 * lines.
 */
int vmm_cfg_resolve_serial(struct vmm_cfg_parser *p)
{
    struct vmm_config *cfg = p->cfg;
    struct vmm_config_chr s = {VMM_CHR_NONE, NULL, false, false};
    bool hmp = cfg->nographic && !cfg->nodefaults && !cfg->nr_qmp &&
               p->serial_given &&
               !(p->nr_serial && p->serial.kind == VMM_CHR_MON_STDIO);
    const char *user = hmp ? "the -nographic monitor" : NULL;
    const char *serial_user = "-nographic";

    if (p->nr_serial) {
        s = p->serial;
        p->serial.path = NULL; /* moved */
        p->nr_serial = 0;
        serial_user = "-serial";
    } else if (!p->serial_given && !cfg->nodefaults) {
        s.kind = !cfg->nographic ? VMM_CHR_NULL
                 : cfg->nr_qmp   ? VMM_CHR_STDIO
                                 : VMM_CHR_MON_STDIO;
    }
    if (chr_is_stdio(&s) && user) {
        free(s.path);
        p->opt = serial_user;
        return vmm_cfg_fail(p, "stdio is already used by %s", user);
    }
    if (chr_is_stdio(&s)) {
        user = serial_user;
    }
    for (unsigned i = 0; i < cfg->nr_qmp; i++) {
        if (!chr_is_stdio(&cfg->qmp[i].chr)) {
            continue;
        }
        if (user) {
            free(s.path);
            p->opt = p->mon_chardev[i] ? "-mon" : "-qmp";
            return vmm_cfg_fail(p, "stdio is already used by %s", user);
        }
        user = p->mon_chardev[i] ? "-mon" : "-qmp";
    }
    if (cfg->isa_serial == VMM_OFF) {
        free(s.path); /* the backend exists in QEMU, but no UART */
        s.path = NULL;
        s.kind = VMM_CHR_NONE;
    }
    cfg->serial = s;
    return 0;
}
