/* SPDX-License-Identifier: MIT */
/*
 * The QMP monitor (monitor.h): listening sockets and the sessions they
 * accept, the stdio session, machine events broadcast to every session in
 * command mode, and teardown.  The sessions themselves are in
 * qmp-session.c.
 *
 * Every entry runs on the main thread with the BQL held: listening
 * sockets are legacy fd handlers of the main loop (never run by a nested
 * poll), and machine events arrive through the machine's listener.
 */
#include "monitor/qmp-int.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <loom/bh.h>
#include <loom/main.h>

#include "chardev/chardev.h"

/* Connections accepted per readiness callback. */
#define ACCEPTS_PER_CALL 64

/* Callback: main loop, BQL held.  Free the sessions that ended. */
static void reap_bh(void *opaque)
{
    struct vmm_monitor *mon = opaque;
    struct qmp_session **pp = &mon->sessions;

    while (*pp) {
        struct qmp_session *s = *pp;

        if (s->dead && s->busy == 0) {
            *pp = s->next;
            mon->stats.sessions--;
            vmm__qmp_session_free(s);
            continue;
        }
        pp = &s->next;
    }
}

int vmm_monitor_add_fd(struct vmm_monitor *mon, int fd, bool pretty)
{
    if (!mon || fd < 0) {
        if (fd >= 0) {
            close(fd);
        }
        return -EINVAL;
    }
    if (mon->stats.sessions >= VMM_QMP_MAX_SESSIONS) {
        mon->stats.refused++;
        close(fd);
        return -EMFILE;
    }
    if (!vmm__qmp_session_new(mon, fd, NULL, pretty)) {
        close(fd);
        return -ENOMEM;
    }
    return 0;
}

/* Callback: main loop (legacy handler), BQL held. */
static void on_accept(void *opaque)
{
    struct qmp_socket *sock = opaque;
    int i, fd;

    for (i = 0; i < ACCEPTS_PER_CALL; i++) {
        fd = accept4(sock->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            return; /* EAGAIN, or a client that left already */
        }
        (void)vmm_monitor_add_fd(sock->mon, fd, sock->pretty);
    }
}

/* Listen on @path, replacing a stale socket file (nothing else). */
static int sock_listen(struct qmp_socket *sock, const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct stat st;
    int fd, err;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        return -ENAMETOOLONG;
    }
    memcpy(sa.sun_path, path, strlen(path));
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
        (void)unlink(path);
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    /* A deep backlog: many clients may connect at once. */
    if (bind(fd, (const struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(fd, SOMAXCONN) < 0) {
        err = -errno;
        close(fd);
        return err;
    }
    if (lstat(path, &st) == 0) {
        sock->dev = (uint64_t)st.st_dev;
        sock->ino = (uint64_t)st.st_ino;
    }
    sock->fd = fd;
    sock->path = strdup(path);
    if (!sock->path) {
        close(fd);
        sock->fd = -1;
        return -ENOMEM;
    }
    err = loom_main_set_fd_handler(fd, on_accept, NULL, sock);
    if (err < 0) {
        close(fd);
        sock->fd = -1;
        return err;
    }
    return 0;
}

/* Close the listening socket; remove its file if it is still ours. */
static void sock_close(struct qmp_socket *sock)
{
    struct stat st;

    if (sock->fd >= 0) {
        (void)loom_main_set_fd_handler(sock->fd, NULL, NULL, NULL);
        close(sock->fd);
        sock->fd = -1;
    }
    if (sock->path && lstat(sock->path, &st) == 0 && S_ISSOCK(st.st_mode) &&
        (uint64_t)st.st_dev == sock->dev && (uint64_t)st.st_ino == sock->ino) {
        (void)unlink(sock->path);
    }
    free(sock->path);
    sock->path = NULL;
}

static int add_stdio(struct vmm_monitor *mon, const struct vmm_config_qmp *cfg)
{
    struct qmp_session *s;
    struct vmm_chr *chr;
    int r;

    r = vmm_chr_new(&cfg->chr, loom_main_loop(), NULL, NULL, &chr);
    if (r < 0) {
        return r;
    }
    s = vmm__qmp_session_new(mon, -1, chr, cfg->pretty);
    if (!s) {
        vmm_chr_free(chr);
        return -ENOMEM;
    }
    r = vmm_chr_set_frontend(chr, &vmm__qmp_chr_frontend, s);
    if (r < 0) {
        vmm__qmp_session_kill(s, false);
        return r;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Events                                                              */
/* ------------------------------------------------------------------ */

static json_t *event_data(const struct vmm_machine_event *ev)
{
    switch (ev->kind) {
    case VMM_EVENT_SHUTDOWN:
    case VMM_EVENT_RESET:
        return json_pack("{s:b,s:s}", "guest", ev->guest, "reason",
                         vmm_shutdown_cause_name(ev->cause));
    case VMM_EVENT_BLOCK_IO_ERROR:
        return json_pack("{s:s,s:s,s:s,s:s,s:b,s:s}", "device",
                         ev->device ? ev->device : "", "node-name",
                         ev->node ? ev->node : "", "operation",
                         ev->is_write ? "write" : "read", "action",
                         ev->action ? ev->action : "report", "nospace",
                         ev->nospace, "reason", ev->reason ? ev->reason : "");
    case VMM_EVENT_STOP:
    case VMM_EVENT_RESUME:
        break;
    }
    return NULL;
}

static const char *event_name(enum vmm_machine_event_kind k)
{
    switch (k) {
    case VMM_EVENT_STOP:
        return "STOP";
    case VMM_EVENT_RESUME:
        return "RESUME";
    case VMM_EVENT_SHUTDOWN:
        return "SHUTDOWN";
    case VMM_EVENT_RESET:
        return "RESET";
    case VMM_EVENT_BLOCK_IO_ERROR:
        return "BLOCK_IO_ERROR";
    }
    return NULL;
}

/* QEMU's form: {"timestamp": {...}, "event": NAME[, "data": {...}]}. */
static json_t *event_json(const struct vmm_machine_event *ev)
{
    const char *name = event_name(ev->kind);
    struct timeval tv;
    json_t *msg, *data;

    if (!name) {
        return NULL;
    }
    gettimeofday(&tv, NULL);
    msg = json_pack("{s:{s:I,s:I},s:s}", "timestamp", "seconds",
                    (json_int_t)tv.tv_sec, "microseconds",
                    (json_int_t)tv.tv_usec, "event", name);
    if (!msg) {
        return NULL;
    }
    if (ev->kind != VMM_EVENT_STOP && ev->kind != VMM_EVENT_RESUME) {
        data = event_data(ev);
        if (!vmm__qmp_set(msg, "data", data)) {
            json_decref(msg);
            return NULL;
        }
    }
    return msg;
}

/* Callback: main thread, BQL held (vmm_machine_listener_fn). */
static void on_event(void *opaque, const struct vmm_machine_event *ev)
{
    struct vmm_monitor *mon = opaque;
    json_t *msg = event_json(ev);
    char *text[2] = {NULL, NULL};
    struct qmp_session *s;

    if (!msg) {
        return;
    }
    for (s = mon->sessions; s; s = s->next) {
        /* Events reach sessions in command mode only (QEMU). */
        if (s->dead || !s->negotiated) {
            continue;
        }
        if (!text[s->pretty]) {
            text[s->pretty] = vmm__qmp_dump(msg, s->pretty);
        }
        if (!text[s->pretty]) {
            vmm__qmp_session_kill(s, true);
            continue;
        }
        mon->stats.events++;
        vmm__qmp_session_send_text(s, text[s->pretty]);
    }
    free(text[0]);
    free(text[1]);
    json_decref(msg);
}

/* ------------------------------------------------------------------ */
/* The monitor                                                         */
/* ------------------------------------------------------------------ */

int vmm_monitor_new(const struct vmm_monitor_ops *ops, void *opaque,
                    struct vmm_monitor **ret)
{
    struct vmm_monitor *mon;
    int r;

    if (!ops || !ret) {
        return -EINVAL;
    }
    mon = calloc(1, sizeof(*mon));
    if (!mon) {
        return -ENOMEM;
    }
    mon->ops = ops;
    mon->opaque = opaque;
    r = loom_bh_new(loom_main_loop(), reap_bh, mon, "qmp-reap", &mon->reap_bh);
    if (r == 0) {
        r = ops->add_listener(opaque, on_event, mon);
        mon->listening = r == 0;
    }
    if (r < 0) {
        vmm_monitor_free(mon);
        return r;
    }
    *ret = mon;
    return 0;
}

/* wait=on: run the main loop until a client connects (QEMU's wait). */
static int wait_for_client(struct vmm_monitor *mon, const char *path)
{
    uint64_t before = mon->stats.accepted;

    fprintf(stderr, "loom-vm: QMP: waiting for connection on unix:%s\n", path);
    while (mon->stats.accepted == before) {
        if (loom_main_shutdown_requested()) {
            return -EINTR;
        }
        loom_main_loop_wait(false);
    }
    return 0;
}

int vmm_monitor_add(struct vmm_monitor *mon, const struct vmm_config_qmp *cfg,
                    char **errmsg)
{
    struct qmp_socket *sock;
    const char *what;
    int r;

    if (!mon || !cfg) {
        return -EINVAL;
    }
    if (cfg->chr.kind == VMM_CHR_STDIO) {
        r = mon->have_stdio ? -EBUSY : add_stdio(mon, cfg);
        mon->have_stdio = mon->have_stdio || r == 0;
        what = "stdio";
    } else if (cfg->chr.kind != VMM_CHR_UNIX || !cfg->chr.server ||
               !cfg->chr.path) {
        r = -EINVAL;
        what = "only unix:PATH,server=on and stdio are supported";
    } else if (mon->nr_socks == VMM_MAX_QMP) {
        r = -ENOSPC;
        what = cfg->chr.path;
    } else {
        sock = &mon->socks[mon->nr_socks];
        memset(sock, 0, sizeof(*sock));
        sock->mon = mon;
        sock->fd = -1;
        sock->pretty = cfg->pretty;
        r = sock_listen(sock, cfg->chr.path);
        if (r == 0) {
            mon->nr_socks++;
            if (cfg->chr.wait) {
                r = wait_for_client(mon, cfg->chr.path);
            }
        } else {
            free(sock->path);
            sock->path = NULL;
        }
        what = cfg->chr.path;
    }
    if (r < 0 && errmsg) {
        free(*errmsg);
        if (asprintf(errmsg, "QMP %s: %s", what, strerror(-r)) < 0) {
            *errmsg = NULL;
        }
    }
    return r;
}

void vmm_monitor_stats(struct vmm_monitor *mon, struct vmm_monitor_stats *st)
{
    *st = mon->stats;
}

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* Wait until one of the socket sessions with output can write. */
static void wait_writable(struct vmm_monitor *mon, int64_t left_ns)
{
    struct pollfd fds[64];
    struct qmp_session *s;
    nfds_t n = 0;

    for (s = mon->sessions; s && n < 64; s = s->next) {
        if (!s->dead && s->fd >= 0 && s->out_len > 0) {
            fds[n].fd = s->fd;
            fds[n].events = POLLOUT;
            n++;
        }
    }
    if (n > 0) {
        (void)poll(fds, n, (int)(left_ns / 1000000) + 1);
    }
}

void vmm_monitor_flush(struct vmm_monitor *mon, int64_t timeout_ns)
{
    int64_t deadline = now_ns() + timeout_ns;
    struct qmp_session *s;
    bool pending;

    if (!mon) {
        return;
    }
    do {
        pending = false;
        for (s = mon->sessions; s; s = s->next) {
            vmm__qmp_session_flush(s);
            if (s->chr && !s->dead) {
                int64_t left = deadline - now_ns();

                (void)vmm_chr_flush(s->chr, left > 0 ? left : 0);
                vmm__qmp_session_flush(s);
            }
            pending = pending || (!s->dead && s->out_len > 0);
        }
        if (pending && now_ns() < deadline) {
            wait_writable(mon, deadline - now_ns());
        }
    } while (pending && now_ns() < deadline);
}

void vmm_monitor_free(struct vmm_monitor *mon)
{
    unsigned i;

    if (!mon) {
        return;
    }
    if (mon->listening) {
        mon->ops->remove_listener(mon->opaque, on_event, mon);
    }
    for (i = 0; i < mon->nr_socks; i++) {
        sock_close(&mon->socks[i]);
    }
    while (mon->sessions) {
        struct qmp_session *s = mon->sessions;

        mon->sessions = s->next;
        s->dead = true;
        vmm__qmp_session_free(s);
    }
    loom_bh_free(mon->reap_bh);
    free(mon);
}
