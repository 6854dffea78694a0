/* SPDX-License-Identifier: MIT */
/*
 * The tests' QMP client (qmp-client.h).
 */
#include "qmp-client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"

/* The watchdog of every wait for the monitor. */
#define WAIT_NS (30LL * 1000 * 1000 * 1000)

void (*qclient_pump)(void);

void qclient_init(struct qclient *c, int fd, int wfd)
{
    memset(c, 0, sizeof(*c));
    c->fd = fd;
    c->wfd = wfd;
    c->in = g_string_new(NULL);
    c->events = g_queue_new();
    signal(SIGPIPE, SIG_IGN);
    g_assert_cmpint(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), ==, 0);
    g_assert_cmpint(fcntl(wfd, F_SETFL, fcntl(wfd, F_GETFL) | O_NONBLOCK), ==,
                    0);
}

void qclient_connect(struct qclient *c, const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int64_t deadline = harness_now_ns() + WAIT_NS;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpuint(strlen(path), <, sizeof(sa.sun_path));
    strcpy(sa.sun_path, path);
    while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        g_assert_true(errno == ENOENT || errno == ECONNREFUSED);
        harness_watchdog(deadline, "the monitor accepts connections");
        if (qclient_pump) {
            qclient_pump();
        }
        g_usleep(1000);
    }
    qclient_init(c, fd, fd);
}

void qclient_close(struct qclient *c)
{
    if (c->wfd >= 0 && c->wfd != c->fd) {
        close(c->wfd);
    }
    if (c->fd >= 0) {
        close(c->fd);
    }
    c->fd = c->wfd = -1;
    g_string_free(c->in, TRUE);
    g_queue_free_full(c->events, (GDestroyNotify)json_decref);
    c->in = NULL;
    c->events = NULL;
}

void qclient_send(struct qclient *c, const void *buf, size_t len)
{
    int64_t deadline = harness_now_ns() + WAIT_NS;
    size_t done = 0;

    while (done < len) {
        ssize_t n = write(c->wfd, (const char *)buf + done, len - done);

        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        g_assert_true(n < 0 && (errno == EAGAIN || errno == EINTR));
        harness_watchdog(deadline, "the monitor reads the command");
        if (qclient_pump) {
            qclient_pump();
        } else {
            struct pollfd p = {.fd = c->wfd, .events = POLLOUT};

            (void)poll(&p, 1, 10);
        }
    }
}

void qclient_sends(struct qclient *c, const char *text)
{
    qclient_send(c, text, strlen(text));
}

/* Read what is there; false at end of file. */
static bool fill(struct qclient *c)
{
    char buf[65536];
    ssize_t n = read(c->fd, buf, sizeof(buf));

    if (n > 0) {
        g_string_append_len(c->in, buf, n);
        return true;
    }
    if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        c->eof = true;
        return false;
    }
    if (qclient_pump) {
        qclient_pump();
    } else {
        struct pollfd p = {.fd = c->fd, .events = POLLIN};

        (void)poll(&p, 1, 10);
    }
    return true;
}

/* The next complete message (pretty ones span lines: parse greedily). */
static json_t *take(struct qclient *c)
{
    json_error_t err;
    json_t *v;

    while (c->in->len > 0 && (c->in->str[0] == '\r' || c->in->str[0] == '\n')) {
        g_string_erase(c->in, 0, 1);
    }
    /* Every message ends with a line end: parse only when one came
     * since the last attempt (a large reply arrives in many pieces). */
    if (c->tried > c->in->len) {
        c->tried = 0;
    }
    if (!memchr(c->in->str + c->tried, '\n', c->in->len - c->tried)) {
        c->tried = c->in->len;
        return NULL;
    }
    v = json_loadb(c->in->str, c->in->len, JSON_DISABLE_EOF_CHECK, &err);
    if (!v) {
        c->tried = c->in->len; /* incomplete */
        return NULL;
    }
    g_string_erase(c->in, 0, (gssize)err.position);
    c->tried = 0;
    return v;
}

json_t *qclient_recv(struct qclient *c, bool events_too)
{
    int64_t deadline = harness_now_ns() + WAIT_NS;

    for (;;) {
        json_t *v = take(c);

        if (v && !events_too && json_object_get(v, "event")) {
            g_queue_push_tail(c->events, v);
            continue;
        }
        if (v) {
            return v;
        }
        if (c->eof || !fill(c)) {
            return NULL;
        }
        harness_watchdog(deadline, "a whole message from the monitor");
    }
}

json_t *qclient_cmd(struct qclient *c, const char *text)
{
    qclient_sends(c, text);
    return qclient_recv(c, false);
}

void qclient_negotiate(struct qclient *c)
{
    json_t *g = qclient_recv(c, false);

    g_assert_nonnull(g);
    g_assert_nonnull(json_object_get(g, "QMP"));
    json_decref(g);
    expect_return(qclient_cmd(c, "{\"execute\":\"qmp_capabilities\"}"));
}

json_t *qclient_event(struct qclient *c, const char *name)
{
    json_t *e = g_queue_pop_head(c->events);

    if (!e) {
        e = qclient_recv(c, true);
    }
    g_assert_nonnull(e);
    if (!json_object_get(e, "event")) {
        char *s = json_dumps(e, 0);

        g_test_message("expected event %s, got %s", name, s);
        free(s);
    }
    g_assert_cmpstr(json_string_value(json_object_get(e, "event")), ==, name);
    return e;
}

bool qclient_wait_eof(struct qclient *c, int ms)
{
    int64_t end = harness_run_end((int64_t)ms * 1000000);

    while (!c->eof && !harness_run_over(end)) {
        (void)fill(c);
    }
    return c->eof;
}

const char *jstr(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

json_int_t jint(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    g_assert_true(json_is_integer(v));
    return json_integer_value(v);
}

static void show(const char *what, json_t *r)
{
    char *s = r ? json_dumps(r, 0) : NULL;

    g_test_message("%s: %s", what, s ? s : "(end of file)");
    free(s);
}

void expect_return(json_t *r)
{
    if (!r || !json_object_get(r, "return")) {
        show("expected a return", r);
    }
    g_assert_nonnull(r);
    g_assert_nonnull(json_object_get(r, "return"));
    json_decref(r);
}

void expect_error(json_t *r, const char *cls, const char *desc_part)
{
    json_t *e = r ? json_object_get(r, "error") : NULL;
    const char *desc;

    if (!e || strcmp(json_string_value(json_object_get(e, "class")), cls) ||
        !strstr(json_string_value(json_object_get(e, "desc")), desc_part)) {
        show("expected an error", r);
    }
    g_assert_nonnull(e);
    g_assert_cmpstr(json_string_value(json_object_get(e, "class")), ==, cls);
    desc = json_string_value(json_object_get(e, "desc"));
    g_assert_nonnull(desc);
    g_assert_nonnull(strstr(desc, desc_part));
    g_assert_null(json_object_get(r, "return"));
    json_decref(r);
}

json_t *qcall(struct qclient *c, const char *text)
{
    json_t *r = qclient_cmd(c, text), *v;

    if (!r || !json_object_get(r, "return")) {
        show(text, r);
    }
    g_assert_nonnull(r);
    v = json_object_get(r, "return");
    g_assert_nonnull(v);
    json_incref(v);
    json_decref(r);
    return v;
}

/* GPtrArray's comparator gets pointers to the elements. */
static gint cmp_strp(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void shape_into(json_t *v, GString *out)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        GPtrArray *keys = g_ptr_array_new();
        const char *k;
        json_t *x;

        json_object_foreach (v, k, x) {
            g_ptr_array_add(keys, (gpointer)k);
        }
        g_ptr_array_sort(keys, cmp_strp);
        g_string_append_c(out, '{');
        for (guint i = 0; i < keys->len; i++) {
            g_string_append_printf(out, "%s%s:", i ? "," : "",
                                   (const char *)keys->pdata[i]);
            shape_into(json_object_get(v, keys->pdata[i]), out);
        }
        g_string_append_c(out, '}');
        g_ptr_array_free(keys, TRUE);
        break;
    }
    case JSON_ARRAY: {
        GPtrArray *seen = g_ptr_array_new_with_free_func(g_free);
        size_t i;
        json_t *x;

        json_array_foreach (v, i, x) {
            GString *s = g_string_new(NULL);
            bool dup = false;

            shape_into(x, s);
            for (guint j = 0; j < seen->len && !dup; j++) {
                dup = strcmp(seen->pdata[j], s->str) == 0;
            }
            if (dup) {
                g_string_free(s, TRUE);
            } else {
                g_ptr_array_add(seen, g_string_free(s, FALSE));
            }
        }
        g_ptr_array_sort(seen, cmp_strp);
        g_string_append_c(out, '[');
        for (guint j = 0; j < seen->len; j++) {
            g_string_append_printf(out, "%s%s", j ? "|" : "",
                                   (const char *)seen->pdata[j]);
        }
        g_string_append_c(out, ']');
        g_ptr_array_free(seen, TRUE);
        break;
    }
    case JSON_STRING:
        g_string_append(out, "str");
        break;
    case JSON_INTEGER:
        g_string_append(out, "int");
        break;
    case JSON_REAL:
        g_string_append(out, "real");
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        g_string_append(out, "bool");
        break;
    case JSON_NULL:
        g_string_append(out, "null");
        break;
    }
}

char *json_shape(json_t *v)
{
    GString *out = g_string_new(NULL);

    shape_into(v, out);
    return g_string_free(out, FALSE);
}
