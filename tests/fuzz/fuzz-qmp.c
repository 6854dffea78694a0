/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: QMP message framing, parsing and dispatch
 * (vmm/monitor/) against the fake machine of the QMP tests
 * (tests/vmm/qmp-fake.c: run states, vCPUs, real IOThreads, drives, KVM
 * statistics), one session on a socketpair, the main loop pumped as
 * loom-vm's would be.
 *
 * Input: 1 byte of set-up, then what the client sends.
 *   byte 0   bit 0: pretty replies; bits 1-3: the client writes in chunks
 *            of 1 << n bytes, letting the monitor run between chunks;
 * then the bytes, as they are: JSON, half-JSON, garbage, capabilities
 * negotiation and commands alike.
 * Checked besides memory safety: the session never stalls (everything
 * sent is answered or dropped, and the session ends at the client's end
 * of stream); what comes back is a sequence of complete JSON objects,
 * the greeting first, then each one a reply ("return", or "error" with a
 * string class and description, with the command's "id" when it had one)
 * or an event (a string name and a timestamp); never more output than
 * VMM_QMP_OUT_MAX.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include <loom/main.h>

#include "fuzz.h"
#include "qmp-fake.h"

#define MAX_IDLE 200   /* main-loop turns without progress before giving up */
#define SETTLE_TURNS 2 /* quiet turns after which the monitor is idle */

static struct fake_machine g_fake;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    FUZZ_CHECK(loom_main_init() == 0, "main loop");
    loom_bql_lock();
    fake_init(&g_fake, 2, "fuzz");
    return 0;
}

/* Back to the state fake_init() leaves, keeping its IOThreads. */
static void fake_reset(struct fake_machine *f)
{
    f->state = VMM_RUNSTATE_RUNNING;
    f->set_poll_err = f->kstats_err = 0;
    f->kstats_reads = f->stops = f->conts = f->resets = f->quits = 0;
    f->nr_drives = 2; /* "vda" on d0, an anonymous device on d1 */
    f->io_status[0] = f->io_status[1] = 0;
    for (unsigned i = 0; i < FAKE_IOTHREADS; i++) {
        f->poll[i][0] = LOOM_IOTHREAD_POLL_MAX_NS_DEFAULT;
        f->poll[i][1] = f->poll[i][2] = 0;
    }
}

/* Read what the monitor wrote so far; whether anything came. */
static bool collect(int fd, GString *out)
{
    bool got = false;
    char buf[4096];
    ssize_t n;

    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        g_string_append_len(out, buf, n);
        got = true;
        FUZZ_CHECK(out->len <= VMM_QMP_OUT_MAX + sizeof(buf),
                   "%zu bytes of output", out->len);
    }
    return got;
}

/* Let the monitor run until it goes quiet. */
static void settle(int fd, GString *out)
{
    for (int idle = 0; idle < SETTLE_TURNS;) {
        bool progress = loom_main_loop_wait(true);

        progress |= collect(fd, out);
        idle = progress ? 0 : idle + 1;
    }
}

static bool has_string(json_t *o, const char *key)
{
    return json_is_string(json_object_get(o, key));
}

/* The output, document by document. */
static void check_output(const GString *out)
{
    size_t pos = 0;
    unsigned docs = 0;

    while (pos < out->len) {
        json_error_t err;
        json_t *o;

        if (out->str[pos] == ' ' || out->str[pos] == '\r' ||
            out->str[pos] == '\n') {
            pos++;
            continue;
        }
        o = json_loadb(out->str + pos, out->len - pos, JSON_DISABLE_EOF_CHECK,
                       &err);
        FUZZ_CHECK(o && json_is_object(o), "output at %zu is not an object: %s",
                   pos, err.text);
        if (docs == 0) {
            FUZZ_CHECK(json_object_get(o, "QMP"), "no greeting first");
        } else if (json_object_get(o, "error")) {
            json_t *e = json_object_get(o, "error");

            FUZZ_CHECK(has_string(e, "class") && has_string(e, "desc"),
                       "error without class or desc");
        } else if (json_object_get(o, "event")) {
            FUZZ_CHECK(has_string(o, "event") &&
                           json_is_object(json_object_get(o, "timestamp")),
                       "event without a name or timestamp");
        } else {
            FUZZ_CHECK(json_object_get(o, "return"), "neither reply nor event");
        }
        json_decref(o);
        pos += err.position;
        docs++;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vmm_monitor_stats st;
    struct vmm_monitor *mon;
    GString *out = g_string_new(NULL);
    size_t chunk, done = 0;
    int sv[2], idle = 0;

    if (size < 1) {
        g_string_free(out, true);
        return 0;
    }
    chunk = (size_t)1 << ((data[0] >> 1) & 7);
    fake_reset(&g_fake);
    FUZZ_CHECK(vmm_monitor_new(&fake_ops, &g_fake, &mon) == 0, "monitor");
    FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0,
               "socketpair");
    FUZZ_CHECK(fcntl(sv[0], F_SETFL, O_NONBLOCK) == 0, "non-blocking");
    FUZZ_CHECK(vmm_monitor_add_fd(mon, sv[1], data[0] & 1) == 0, "session");
    settle(sv[0], out);

    data++;
    size--;
    while (done < size) {
        size_t n = size - done < chunk ? size - done : chunk;
        ssize_t w = send(sv[0], data + done, n, MSG_NOSIGNAL);

        if (w < 0 && errno == EPIPE) {
            break; /* the monitor dropped the session */
        }
        if (w > 0) {
            done += (size_t)w;
        }
        settle(sv[0], out);
        vmm_monitor_stats(mon, &st);
        if (st.sessions == 0) {
            break;
        }
    }
    /* End of stream: the session must end too. */
    shutdown(sv[0], SHUT_WR);
    for (;;) {
        settle(sv[0], out);
        vmm_monitor_stats(mon, &st);
        if (st.sessions == 0) {
            break;
        }
        FUZZ_CHECK(++idle < MAX_IDLE, "the session outlived its input");
    }
    collect(sv[0], out);
    check_output(out);
    vmm_monitor_free(mon);
    close(sv[0]);
    g_string_free(out, true);
    return 0;
}
