/* SPDX-License-Identifier: MIT */
/*
 * One QMP session (qmp-int.h): its output queue, its input framed into
 * messages, the envelope checks and the dispatch of each command, and the
 * I/O of its transport — a client socket (legacy fd handlers of the main
 * loop) or the stdio chardev.  Main thread, BQL held.
 *
 * Nothing here blocks: a session's output is queued (bounded by
 * VMM_QMP_OUT_MAX, past which the client is dropped) and written when the
 * transport takes it; while more than VMM_QMP_OUT_PAUSE bytes wait, the
 * session's further commands wait too (it is not read).  A session that
 * ends (end of input, an I/O error, too much output) is only marked dead
 * where it is noticed — possibly deep inside a command or an event
 * broadcast — and freed by the monitor's bottom half once no command of
 * its own is running.
 */
#include "monitor/qmp-int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <loom/bh.h>
#include <loom/main.h>

#include "chardev/chardev.h"

/* Bytes read from a socket at a time, and reads per readiness callback
 * (so that one busy client cannot starve the others). */
#define READ_CHUNK (64 * 1024)
#define READS_PER_CALL 4

static void session_update(struct qmp_session *s);
static void session_pump(struct qmp_session *s);

/* ------------------------------------------------------------------ */
/* Output                                                              */
/* ------------------------------------------------------------------ */

/* End the session: stop watching it now, free it later. */
void vmm__qmp_session_kill(struct qmp_session *s, bool dropped)
{
    if (s->dead) {
        return;
    }
    s->dead = true;
    if (dropped) {
        s->mon->stats.dropped++;
    }
    session_update(s);
    loom_bh_schedule(s->mon->reap_bh);
}

/* Write what the transport takes now.  A write error ends the session. */
void vmm__qmp_session_flush(struct qmp_session *s)
{
    while (s->out_len > 0 && !s->dead) {
        const char *p = s->out + s->out_head;
        ssize_t n;

        if (s->chr) {
            n = (ssize_t)vmm_chr_write(s->chr, (const uint8_t *)p, s->out_len);
            if (n == 0) {
                break; /* the chardev calls writable() when it has room */
            }
        } else {
            n = send(s->fd, p, s->out_len, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                if (errno != EAGAIN && errno != EWOULDBLOCK) {
                    vmm__qmp_session_kill(s, true); /* EPIPE, ECONNRESET ... */
                }
                break;
            }
        }
        s->out_head += (size_t)n;
        s->out_len -= (size_t)n;
    }
    if (s->out_len == 0) {
        s->out_head = 0;
    }
}

/* Queue @len bytes; a client whose queue would pass the bound is dropped. */
static void session_queue(struct qmp_session *s, const char *buf, size_t len)
{
    size_t need;

    if (s->dead) {
        return;
    }
    if (s->out_len + len > VMM_QMP_OUT_MAX) {
        fprintf(stderr, "loom-vm: QMP client not reading: dropped\n");
        vmm__qmp_session_kill(s, true);
        return;
    }
    if (s->out_head > 0 && s->out_head + s->out_len + len > s->out_cap) {
        memmove(s->out, s->out + s->out_head, s->out_len);
        s->out_head = 0;
    }
    need = s->out_head + s->out_len + len;
    if (need > s->out_cap) {
        size_t cap = s->out_cap ? s->out_cap : 4096;
        char *p;

        while (cap < need) {
            cap *= 2;
        }
        p = realloc(s->out, cap);
        if (!p) {
            vmm__qmp_session_kill(s, true);
            return;
        }
        s->out = p;
        s->out_cap = cap;
    }
    memcpy(s->out + s->out_head + s->out_len, buf, len);
    s->out_len += len;
}

/* Serialise @msg as one QMP message (CR LF ended, as QEMU). */
char *vmm__qmp_dump(json_t *msg, bool pretty)
{
    return json_dumps(msg, JSON_ENSURE_ASCII | (pretty ? JSON_INDENT(4) : 0));
}

/* Queue one serialised message; every line ends with CR LF (QEMU's
 * pretty output too; JSON strings never hold a raw newline). */
void vmm__qmp_session_send_text(struct qmp_session *s, const char *text)
{
    const char *nl;

    while ((nl = strchr(text, '\n'))) {
        session_queue(s, text, (size_t)(nl - text));
        session_queue(s, "\r\n", 2);
        text = nl + 1;
    }
    session_queue(s, text, strlen(text));
    session_queue(s, "\r\n", 2);
    vmm__qmp_session_flush(s);
    session_update(s);
}

/* Send @msg (stealing the reference). */
static void session_send(struct qmp_session *s, json_t *msg)
{
    char *text = msg ? vmm__qmp_dump(msg, s->pretty) : NULL;

    json_decref(msg);
    if (!text) {
        vmm__qmp_session_kill(s, true); /* out of memory: the client cannot be
                                  answered, so it must not wait */
        return;
    }
    vmm__qmp_session_send_text(s, text);
    free(text);
}

static void send_error(struct qmp_session *s, json_t *id,
                       enum qmp_error_class cls, const char *desc)
{
    json_t *msg = json_pack("{s:{s:s,s:s}}", "error", "class",
                            vmm__qmp_error_class_name(cls), "desc",
                            desc ? desc : "out of memory");

    if (msg && id && json_object_set(msg, "id", id) < 0) {
        json_decref(msg);
        msg = NULL;
    }
    s->mon->stats.errors++;
    session_send(s, msg);
}

static void send_errorf(struct qmp_session *s, json_t *id,
                        enum qmp_error_class cls, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void send_errorf(struct qmp_session *s, json_t *id,
                        enum qmp_error_class cls, const char *fmt, ...)
{
    char *desc = NULL;
    va_list ap;

    va_start(ap, fmt);
    if (vasprintf(&desc, fmt, ap) < 0) {
        desc = NULL;
    }
    va_end(ap);
    send_error(s, id, cls, desc);
    free(desc);
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */
/* ------------------------------------------------------------------ */

/* The envelope's checks, in QEMU's order and words.  Return: the name. */
static const char *check_envelope(struct qmp_session *s, json_t *req,
                                  json_t *id, json_t **ret_args)
{
    json_t *exec, *args, *v;
    const char *key;

    if (!json_is_object(req)) {
        send_error(s, NULL, QMP_ERR_GENERIC, "QMP input must be a JSON object");
        return NULL;
    }
    json_object_foreach (req, key, v) {
        if (strcmp(key, "execute") && strcmp(key, "arguments") &&
            strcmp(key, "id")) {
            send_errorf(s, id, QMP_ERR_GENERIC,
                        "QMP input member '%s' is unexpected", key);
            return NULL;
        }
    }
    exec = json_object_get(req, "execute");
    if (!exec) {
        send_error(s, id, QMP_ERR_GENERIC, "QMP input lacks member 'execute'");
        return NULL;
    }
    if (!json_is_string(exec)) {
        send_error(s, id, QMP_ERR_GENERIC,
                   "QMP input member 'execute' must be a string");
        return NULL;
    }
    args = json_object_get(req, "arguments");
    if (args && !json_is_object(args)) {
        send_error(s, id, QMP_ERR_GENERIC,
                   "QMP input member 'arguments' must be an object");
        return NULL;
    }
    *ret_args = args;
    return json_string_value(exec);
}

static void run_command(struct qmp_session *s, const struct qmp_cmd *cmd,
                        json_t *args, json_t *id)
{
    struct qmp_ctx c = {
        .mon = s->mon,
        .ops = s->mon->ops,
        .opaque = s->mon->opaque,
        .negotiated = s->negotiated,
    };
    struct qmp_error *err = NULL;
    json_t *empty = NULL, *ret, *msg;

    if (!args) {
        args = empty = json_object();
    }
    if (!args) {
        send_error(s, id, QMP_ERR_GENERIC, NULL);
        return;
    }
    s->mon->stats.commands++;
    ret = vmm__qmp_check_args(cmd->spec, args, &err) ? cmd->fn(&c, args, &err)
                                                     : NULL;
    json_decref(empty);
    if (!ret) {
        send_error(s, id, err ? err->cls : QMP_ERR_GENERIC,
                   err ? err->desc : NULL);
        vmm__qmp_error_free(err);
        return;
    }
    msg = json_object();
    if (!vmm__qmp_set(msg, "return", ret) ||
        (id && json_object_set(msg, "id", id) < 0)) {
        json_decref(msg);
        send_error(s, id, QMP_ERR_GENERIC, NULL);
        return;
    }
    if (c.enter_cmd_mode) {
        s->negotiated = true;
    }
    session_send(s, msg);
}

static void dispatch(struct qmp_session *s, json_t *req)
{
    json_t *id = json_is_object(req) ? json_object_get(req, "id") : NULL;
    json_t *args = NULL;
    const struct qmp_cmd *cmd;
    const char *name;

    name = check_envelope(s, req, id, &args);
    if (!name) {
        return;
    }
    if (!s->negotiated && strcmp(name, "qmp_capabilities") != 0) {
        send_error(s, id, QMP_ERR_COMMAND_NOT_FOUND,
                   "Expecting capabilities negotiation with "
                   "'qmp_capabilities'");
        return;
    }
    if (s->negotiated && strcmp(name, "qmp_capabilities") == 0) {
        send_error(s, id, QMP_ERR_COMMAND_NOT_FOUND,
                   "Capabilities negotiation is already complete, command "
                   "ignored");
        return;
    }
    cmd = vmm__qmp_find(name);
    if (!cmd) {
        send_errorf(s, id, QMP_ERR_COMMAND_NOT_FOUND,
                    "The command %s has not been found", name);
        return;
    }
    run_command(s, cmd, args, id);
}

/* One framed message.  Return: false if it was not JSON at all. */
static bool handle_message(struct qmp_session *s, const char *text, size_t len)
{
    json_error_t jerr;
    json_t *req;

    req =
        json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (!req) {
        send_errorf(s, NULL, QMP_ERR_GENERIC, "JSON parse error, %s",
                    jerr.text);
        return false;
    }
    dispatch(s, req);
    json_decref(req);
    return true;
}

/*
 * Run the complete messages waiting in the input, while the output is
 * below the pause mark.  At end of input a partial message is an error,
 * and a session with nothing left to say is closed.
 */
static void session_pump(struct qmp_session *s)
{
    enum qmp_scan_res r;
    size_t start, end;

    s->busy++;
    while (!s->dead && s->out_len < VMM_QMP_OUT_PAUSE) {
        r = vmm__qmp_scan(&s->scan, s->in, s->in_len, &end);
        if (r == QMP_SCAN_MORE && s->eof) {
            r = vmm__qmp_scan_eof(&s->scan, s->in_len, &end);
        }
        if (r == QMP_SCAN_MORE) {
            break;
        }
        if (r == QMP_SCAN_BAD) {
            send_errorf(s, NULL, QMP_ERR_GENERIC, "JSON parse error, %s",
                        s->scan.why);
            continue;
        }
        start = s->scan.start;
        vmm__qmp_scan_next(&s->scan, end);
        if (!handle_message(s, s->in + start, end - start)) {
            vmm__qmp_scan_resync(&s->scan);
        }
    }
    s->busy--;
    if (s->eof && s->out_len == 0 && s->scan.pos == s->in_len) {
        vmm__qmp_session_kill(s, false);
    }
    session_update(s);
}

/* ------------------------------------------------------------------ */
/* Socket sessions                                                     */
/* ------------------------------------------------------------------ */

static void on_read(void *opaque);
static void on_write(void *opaque);

static void session_update(struct qmp_session *s)
{
    bool r, w;
    int ret;

    if (s->fd < 0) {
        if (s->chr && !s->dead && s->out_len < VMM_QMP_OUT_PAUSE) {
            vmm_chr_accept_input(s->chr);
        }
        return;
    }
    r = !s->dead && !s->eof && s->out_len < VMM_QMP_OUT_PAUSE;
    w = !s->dead && s->out_len > 0;
    if (r == s->watch_r && w == s->watch_w) {
        return;
    }
    ret = loom_main_set_fd_handler(s->fd, r ? on_read : NULL,
                                   w ? on_write : NULL, s);
    if (ret < 0 && (r || w)) {
        fprintf(stderr, "loom-vm: QMP: cannot watch a client: %s\n",
                strerror(-ret));
        s->watch_r = s->watch_w = false;
        vmm__qmp_session_kill(s, true);
        return;
    }
    s->watch_r = r;
    s->watch_w = w;
}

/* Room for one more chunk of input after dropping what was consumed. */
static bool input_reserve(struct qmp_session *s, size_t chunk)
{
    size_t keep = vmm__qmp_scan_keep_from(&s->scan);
    size_t cap;
    char *p;

    if (keep > 0) {
        memmove(s->in, s->in + keep, s->in_len - keep);
        s->in_len -= keep;
        vmm__qmp_scan_shift(&s->scan, keep);
    }
    if (s->in_len + chunk <= s->in_cap) {
        return true;
    }
    /* What is kept is one unfinished message, never over the limit. */
    cap = s->in_cap ? s->in_cap : 4096;
    while (cap < s->in_len + chunk) {
        cap *= 2;
    }
    p = realloc(s->in, cap);
    if (!p) {
        return false;
    }
    s->in = p;
    s->in_cap = cap;
    return true;
}

/* Callback: main loop (legacy handler), BQL held. */
static void on_read(void *opaque)
{
    struct qmp_session *s = opaque;
    int i;

    for (i = 0; i < READS_PER_CALL && !s->dead && !s->eof &&
                s->out_len < VMM_QMP_OUT_PAUSE;
         i++) {
        ssize_t n;

        if (!input_reserve(s, READ_CHUNK)) {
            vmm__qmp_session_kill(s, true);
            return;
        }
        n = recv(s->fd, s->in + s->in_len, READ_CHUNK, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        }
        if (n <= 0) {
            /* End of input, or the client vanished (ECONNRESET). */
            s->eof = true;
        } else {
            s->in_len += (size_t)n;
        }
        session_pump(s);
        if (n < READ_CHUNK) {
            break;
        }
    }
    session_update(s);
}

/* Callback: main loop (legacy handler), BQL held. */
static void on_write(void *opaque)
{
    struct qmp_session *s = opaque;

    vmm__qmp_session_flush(s);
    /* Commands held back while the output was high may run now. */
    session_pump(s);
}

static json_t *greeting(struct vmm_monitor *mon)
{
    return json_pack("{s:{s:o,s:[]}}", "QMP", "version",
                     vmm__qmp_version_json(), "capabilities");
}

struct qmp_session *vmm__qmp_session_new(struct vmm_monitor *mon, int fd,
                                         struct vmm_chr *chr, bool pretty)
{
    struct qmp_session *s = calloc(1, sizeof(*s));

    if (!s) {
        return NULL;
    }
    s->mon = mon;
    s->fd = fd;
    s->chr = chr;
    s->pretty = pretty;
    vmm__qmp_scan_init(&s->scan);
    s->next = mon->sessions;
    mon->sessions = s;
    mon->stats.sessions++;
    mon->stats.accepted++;
    session_send(s, greeting(mon));
    return s;
}

void vmm__qmp_session_free(struct qmp_session *s)
{
    if (s->fd >= 0) {
        if (s->watch_r || s->watch_w) {
            (void)loom_main_set_fd_handler(s->fd, NULL, NULL, NULL);
        }
        close(s->fd);
    }
    if (s->chr) {
        (void)vmm_chr_set_frontend(s->chr, NULL, NULL);
        vmm_chr_free(s->chr);
    }
    free(s->in);
    free(s->out);
    free(s);
}

/* ------------------------------------------------------------------ */
/* The stdio session (a chardev frontend)                              */
/* ------------------------------------------------------------------ */

/* Callback: main loop, BQL held. */
static size_t chr_can_receive(void *opaque)
{
    struct qmp_session *s = opaque;

    if (s->dead || s->out_len >= VMM_QMP_OUT_PAUSE) {
        return 0;
    }
    return READ_CHUNK;
}

/* Callback: main loop, BQL held. */
static void chr_receive(void *opaque, const uint8_t *buf, size_t len)
{
    struct qmp_session *s = opaque;

    if (!input_reserve(s, len)) {
        vmm__qmp_session_kill(s, true);
        return;
    }
    memcpy(s->in + s->in_len, buf, len);
    s->in_len += len;
    session_pump(s);
}

/* Callback: main loop, BQL held. */
static void chr_writable(void *opaque)
{
    struct qmp_session *s = opaque;

    vmm__qmp_session_flush(s);
    session_pump(s);
}

const struct vmm_chr_frontend vmm__qmp_chr_frontend = {
    .can_receive = chr_can_receive,
    .receive = chr_receive,
    .writable = chr_writable,
};
