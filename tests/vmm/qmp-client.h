/* SPDX-License-Identifier: MIT */
/*
 * A small QMP client for tests: messages are read line by line and parsed
 * with jansson; while it waits for a message it calls the pump (set by
 * tests that serve the monitor in their own thread, to run the main
 * loop) or else sleeps in poll(2).  Also the "shape" of a JSON value, to
 * compare replies of loom-vm and QEMU.  Assertions abort the test.
 */
#ifndef LOOM_TEST_QMP_CLIENT_H
#define LOOM_TEST_QMP_CLIENT_H

#include <glib.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct qclient {
    int fd;       /* read from; a socket, or a pipe from the monitor's stdout */
    int wfd;      /* written to: fd, or a pipe to the monitor's stdin */
    GString *in;  /* bytes received, not yet parsed */
    size_t tried; /* ->in had this length when parsing last failed */
    GQueue *events; /* events met while waiting for replies */
    bool eof;
};

/* Called while a client waits (NULL: poll the socket). */
extern void (*qclient_pump)(void);

/* Use connected socket @fd (both ends: @wfd == @fd), or a pair of pipes
 * to a monitor's -qmp stdio.  The client owns them.  SIGPIPE is ignored
 * from then on (a monitor that goes away is end of file). */
void qclient_init(struct qclient *c, int fd, int wfd);
/* Connect to the unix socket at @path, retrying for up to 30 s while it
 * does not exist yet (a monitor process starting); nothing read yet. */
void qclient_connect(struct qclient *c, const char *path);
void qclient_close(struct qclient *c);

/* Send raw bytes. */
void qclient_send(struct qclient *c, const void *buf, size_t len);
void qclient_sends(struct qclient *c, const char *text);
/*
 * The next message (a reply, or an event when @events_too), parsed;
 * waits at most 30 s; NULL at end of file.  Events met while looking for
 * a reply are queued in ->events.
 */
json_t *qclient_recv(struct qclient *c, bool events_too);
/* Send @text and return the reply. */
json_t *qclient_cmd(struct qclient *c, const char *text);
/* Read the greeting, then qmp_capabilities; asserts both. */
void qclient_negotiate(struct qclient *c);
/* The next event (waiting for one if none is queued); asserts its name. */
json_t *qclient_event(struct qclient *c, const char *name);
/* Whether end of file comes within ~@ms. */
bool qclient_wait_eof(struct qclient *c, int ms);

/* Member @key of object @o: a string (or NULL), an integer (asserted). */
const char *jstr(json_t *o, const char *key);
json_int_t jint(json_t *o, const char *key);

/* Assertions on replies (they take the reference). */
void expect_return(json_t *r);
void expect_error(json_t *r, const char *cls, const char *desc_part);
/* The "return" value of command @text, asserting success (a new
 * reference). */
json_t *qcall(struct qclient *c, const char *text);

/*
 * The shape of a JSON value as a string: objects as their sorted keys
 * with the shapes of their values, arrays as the distinct shapes of their
 * elements, scalars as their type.  Two replies of the same shape differ
 * only in values.
 */
char *json_shape(json_t *v);

#endif /* LOOM_TEST_QMP_CLIENT_H */
