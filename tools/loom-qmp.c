/* SPDX-License-Identifier: MIT */
/*
 * loom-qmp: run one QMP command and print its reply (Debian ships no QMP
 * client).  Works with loom-vm and QEMU alike.
 *
 *   loom-qmp [-r] [-t SECONDS] SOCKET COMMAND [JSON-ARGS]
 *
 * Connects to the monitor's unix socket, reads the greeting, negotiates
 * capabilities, sends {"execute": COMMAND, "arguments": JSON-ARGS} and
 * prints the "return" value, indented (with -r: the whole reply as it
 * came).  Events that arrive first are skipped.  Exit status: 0 on a
 * return, 1 on an error reply ("Class: description" on stderr), 2 on a
 * usage, connection or protocol failure.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define PROG "loom-qmp"

struct conn {
    int fd;
    char *buf; /* received, not yet parsed */
    size_t len, cap;
    int64_t deadline_ms;
};

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: " PROG " [-r] [-t SECONDS] SOCKET COMMAND [JSON-ARGS]\n"
            "  -r          print the whole reply as received\n"
            "  -t SECONDS  give up after this long (default 30)\n"
            "example: " PROG " /tmp/qmp.sock qom-get "
            "'{\"path\":\"/objects/io0\",\"property\":\"poll-max-ns\"}'\n");
}

static int connect_to(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        fprintf(stderr, PROG ": %s: path too long\n", path);
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path));
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    return fd;
}

/* Wait for @fd to be ready for @events until the deadline. */
static int wait_fd(struct conn *c, short events)
{
    struct pollfd p = {.fd = c->fd, .events = events};
    int64_t left = c->deadline_ms - now_ms();
    int r;

    if (left <= 0) {
        fprintf(stderr, PROG ": timed out\n");
        return -1;
    }
    r = poll(&p, 1, (int)left);
    if (r <= 0) {
        fprintf(stderr, PROG ": %s\n", r == 0 ? "timed out" : strerror(errno));
        return -1;
    }
    return 0;
}

static int send_all(struct conn *c, const char *text)
{
    size_t len = strlen(text), done = 0;

    while (done < len) {
        ssize_t n = send(c->fd, text + done, len - done, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            fprintf(stderr, PROG ": send: %s\n", strerror(errno));
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

/*
 * The next message.  Messages end with a line end; a message may span
 * lines (pretty=on), so the buffer is parsed once a line end arrived.
 * On return, *@text is its text (for -r), valid until the next call.
 */
static json_t *next_message(struct conn *c, char **text)
{
    json_error_t err;
    json_t *v;

    for (;;) {
        size_t skip = 0;

        while (skip < c->len && strchr(" \t\r\n", c->buf[skip])) {
            skip++;
        }
        if (skip > 0) {
            memmove(c->buf, c->buf + skip, c->len - skip);
            c->len -= skip;
        }
        if (c->len > 0 && memchr(c->buf, '\n', c->len)) {
            v = json_loadb(c->buf, c->len, JSON_DISABLE_EOF_CHECK, &err);
            if (v) {
                free(*text);
                *text = strndup(c->buf, err.position);
                memmove(c->buf, c->buf + err.position, c->len - err.position);
                c->len -= err.position;
                return v;
            }
        }
        if (c->cap - c->len < 65536) {
            char *p = realloc(c->buf, c->cap + 65536);

            if (!p) {
                fprintf(stderr, PROG ": out of memory\n");
                return NULL;
            }
            c->buf = p;
            c->cap += 65536;
        }
        if (wait_fd(c, POLLIN) < 0) {
            return NULL;
        }
        ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            fprintf(stderr, PROG ": %s\n",
                    n == 0 ? "the monitor closed the connection"
                           : strerror(errno));
            return NULL;
        }
        c->len += (size_t)n;
    }
}

/* The reply to the command just sent (events are skipped). */
static json_t *reply(struct conn *c, char **text)
{
    json_t *m;

    while ((m = next_message(c, text))) {
        if (json_object_get(m, "return") || json_object_get(m, "error")) {
            return m;
        }
        json_decref(m);
    }
    return NULL;
}

/* Print an error reply.  Return: the exit status. */
static int report(json_t *r)
{
    json_t *e = json_object_get(r, "error");

    if (!e) {
        return 0;
    }
    fprintf(stderr, "%s: %s\n",
            json_string_value(json_object_get(e, "class")) ?: "Error",
            json_string_value(json_object_get(e, "desc")) ?: "");
    return 1;
}

static int run(struct conn *c, const char *command, json_t *args, bool raw)
{
    char *text = NULL, *req, *line;
    json_t *m, *cmd;
    int status = 2;

    m = next_message(c, &text);
    if (!m || !json_object_get(m, "QMP")) {
        fprintf(stderr, PROG ": no QMP greeting\n");
        goto out;
    }
    json_decref(m);
    if (send_all(c, "{\"execute\":\"qmp_capabilities\"}\n") < 0) {
        goto out;
    }
    m = reply(c, &text);
    if (!m || report(m)) {
        json_decref(m);
        goto out;
    }
    json_decref(m);
    cmd = json_pack("{s:s}", "execute", command);
    if (cmd && args) {
        json_object_set(cmd, "arguments", args);
    }
    req = cmd ? json_dumps(cmd, JSON_COMPACT) : NULL;
    json_decref(cmd);
    /* One write with its line end: the monitor may act on the object
     * (quit) and go before a separate newline arrives. */
    line = req ? malloc(strlen(req) + 2) : NULL;
    if (line) {
        strcpy(line, req);
        strcat(line, "\n");
    }
    free(req);
    if (!line || send_all(c, line) < 0) {
        free(line);
        goto out;
    }
    free(line);
    m = reply(c, &text);
    if (!m) {
        goto out;
    }
    status = report(m);
    if (raw) {
        printf("%s\n", text);
    } else if (status == 0) {
        char *out = json_dumps(json_object_get(m, "return"),
                               JSON_INDENT(2) | JSON_ENCODE_ANY);

        printf("%s\n", out ? out : "");
        free(out);
    }
    json_decref(m);
out:
    free(text);
    return status;
}

int main(int argc, char **argv)
{
    struct conn c = {.fd = -1};
    json_t *args = NULL;
    json_error_t err;
    bool raw = false;
    long secs = 30;
    int opt, status;

    while ((opt = getopt(argc, argv, "hrt:")) != -1) {
        switch (opt) {
        case 'r':
            raw = true;
            break;
        case 't':
            secs = strtol(optarg, NULL, 10);
            if (secs <= 0) {
                usage();
                return 2;
            }
            break;
        default:
            usage();
            return opt == 'h' ? 0 : 2;
        }
    }
    if (argc - optind < 2 || argc - optind > 3) {
        usage();
        return 2;
    }
    if (argc - optind == 3) {
        args = json_loads(argv[optind + 2], 0, &err);
        if (!json_is_object(args)) {
            fprintf(stderr, PROG ": JSON-ARGS must be a JSON object%s%s\n",
                    args ? "" : ": ", args ? "" : err.text);
            json_decref(args);
            return 2;
        }
    }
    c.fd = connect_to(argv[optind]);
    if (c.fd < 0) {
        json_decref(args);
        return 2;
    }
    c.deadline_ms = now_ms() + secs * 1000;
    status = run(&c, argv[optind + 1], args, raw);
    close(c.fd);
    free(c.buf);
    json_decref(args);
    return status;
}
