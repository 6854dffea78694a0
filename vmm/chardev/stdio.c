/* SPDX-License-Identifier: MIT */
/*
 * stdio and mon:stdio: the process's standard input and output, and the
 * terminal they may be.
 *
 * Terminal: when stdin is a terminal it is put in raw mode as QEMU does
 * (no echo, no canonical line editing, no input CR/NL translation or flow
 * control, 8 bits, output post-processing kept so "\n" still returns the
 * carriage), with ISIG kept for stdio (Ctrl-C, Ctrl-\ and Ctrl-Z signal
 * the process) and cleared for mon:stdio (they go to the guest; Ctrl-a x
 * quits).  The saved settings are put back by vmm_chr_free(), by an
 * atexit() hook, and by a handler for the fatal signals that then
 * re-delivers the signal to whatever handled it before.  stdin that is not
 * a terminal is read as it is, with no termios change.
 *
 * Non-blocking I/O: setting O_NONBLOCK on fd 0 or 1 would change the open
 * file that the shell (and our own stderr, often the same terminal)
 * shares.  A terminal, pipe or FIFO is therefore reopened through
 * /proc/self/fd/N with O_NONBLOCK; a socket is used with MSG_DONTWAIT; a
 * regular file never blocks.  Only if reopening fails is O_NONBLOCK set on
 * the shared file, and then restored on every path the terminal is.
 *
 * Process-wide state (stdin is one per process): one stdio chardev at a
 * time; the saved terminal settings are written before the flag that
 * publishes them to signal handlers on any thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "chardev/chardev-int.h"

static const int g_fatal_signals[] = {
    SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGQUIT, SIGHUP, SIGPIPE, SIGSYS,
};
#define NR_FATAL (sizeof(g_fatal_signals) / sizeof(g_fatal_signals[0]))

/* One stdio chardev at a time (main thread only). */
static bool g_stdio_in_use;
static bool g_atexit_registered;

/*
 * What to restore.  Written by the main thread before g_term_active is set
 * (release) and read by signal handlers on any thread after loading it
 * (acquire); cleared in the reverse order.
 */
static struct termios g_saved_tios;
static bool g_tios_saved;
static int g_saved_fl_in = -1;  /* fd 0 flags if O_NONBLOCK was forced */
static int g_saved_fl_out = -1; /* fd 1 flags, likewise */
static atomic_int g_term_active;

/* Dispositions found when the handlers were installed (main thread). */
static struct sigaction g_old_actions[NR_FATAL];
static bool g_handler_installed[NR_FATAL];

/* Put the terminal back now (async-signal-safe). */
static void term_restore(void)
{
    /* Async-signal-safe: tcsetattr() and fcntl() only. */
    if (!atomic_exchange_explicit(&g_term_active, 0, memory_order_acq_rel)) {
        return;
    }
    if (g_tios_saved) {
        (void)tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_tios);
    }
    if (g_saved_fl_in >= 0) {
        (void)fcntl(STDIN_FILENO, F_SETFL, g_saved_fl_in);
    }
    if (g_saved_fl_out >= 0) {
        (void)fcntl(STDOUT_FILENO, F_SETFL, g_saved_fl_out);
    }
}

static void term_atexit(void)
{
    term_restore();
}

static bool is_fault_signal(int sig)
{
    return sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE;
}

/*
 * A fatal signal: restore the terminal, put back the previous disposition
 * and let it act.  A fault raised by the kernel (si_code > 0) recurs when
 * the handler returns, with its real context, for the previous handler
 * (ASan's, a core dump); anything else is raised again and delivered once
 * this handler returns (the signal is blocked while it runs).
 */
static void term_fatal_handler(int sig, siginfo_t *si, void *uctx)
{
    int saved_errno = errno;
    size_t i;

    (void)uctx;
    term_restore();
    for (i = 0; i < NR_FATAL; i++) {
        if (g_fatal_signals[i] == sig) {
            (void)sigaction(sig, &g_old_actions[i], NULL);
        }
    }
    if (!si || si->si_code <= 0 || !is_fault_signal(sig)) {
        (void)raise(sig);
    }
    errno = saved_errno;
}

static void term_install_handlers(void)
{
    struct sigaction sa;
    size_t i;

    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = term_fatal_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    for (i = 0; i < NR_FATAL; i++) {
        struct sigaction old;

        if (sigaction(g_fatal_signals[i], NULL, &old) < 0) {
            continue;
        }
        /* An ignored signal does not end the process: leave it alone. */
        if (!(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_IGN) {
            continue;
        }
        g_old_actions[i] = old;
        if (sigaction(g_fatal_signals[i], &sa, NULL) == 0) {
            g_handler_installed[i] = true;
        }
    }
}

static void term_remove_handlers(void)
{
    size_t i;

    for (i = 0; i < NR_FATAL; i++) {
        struct sigaction cur;

        if (!g_handler_installed[i]) {
            continue;
        }
        g_handler_installed[i] = false;
        /* Someone replaced ours meanwhile: theirs stays. */
        if (sigaction(g_fatal_signals[i], NULL, &cur) == 0 &&
            (cur.sa_flags & SA_SIGINFO) &&
            cur.sa_sigaction == term_fatal_handler) {
            (void)sigaction(g_fatal_signals[i], &g_old_actions[i], NULL);
        }
    }
}

/* QEMU's raw mode, with ISIG as asked. */
static void term_make_raw(struct termios *t, bool signals)
{
    t->c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR |
                              IGNCR | ICRNL | IXON);
    t->c_oflag |= OPOST;
    t->c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | IEXTEN);
    if (!signals) {
        t->c_lflag &= ~(tcflag_t)ISIG;
    }
    t->c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
    t->c_cflag |= CS8;
    t->c_cc[VMIN] = 1;
    t->c_cc[VTIME] = 0;
}

/*
 * A non-blocking descriptor for standard stream @fd (0 or 1), or -1 if it
 * is not open.  Sets *@sock for sockets, *@dup when the result is a new
 * descriptor to close, *@saved_fl when O_NONBLOCK had to be forced.
 */
static int stdio_fd(int fd, int flags, bool *sock, bool *dup, int *saved_fl)
{
    char path[32];
    struct stat st;
    int nfd, fl;

    if (fstat(fd, &st) < 0) {
        return -1;
    }
    if (S_ISSOCK(st.st_mode)) {
        *sock = true;
        return fd;
    }
    if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode) || S_ISDIR(st.st_mode)) {
        return S_ISDIR(st.st_mode) ? -1 : fd;
    }
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    nfd = open(path, flags | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (nfd >= 0) {
        *dup = true;
        return nfd;
    }
    fl = fcntl(fd, F_GETFL);
    if (fl < 0) {
        return -1;
    }
    if (!(fl & O_NONBLOCK)) {
        *saved_fl = fl;
        (void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    }
    return fd;
}

static void stdio_close(struct vmm_chr *chr)
{
    term_restore();
    term_remove_handlers();
    g_tios_saved = false;
    g_saved_fl_in = g_saved_fl_out = -1;
    /* Standard streams stay open; only our reopened copies are closed. */
    if (chr->in_fd >= 0 && !chr->in_is_stdin_dup) {
        chr->in_fd = -1;
    }
    if (chr->out_fd >= 0 && !chr->out_is_stdout_dup) {
        chr->out_fd = -1;
    }
    g_stdio_in_use = false;
}

static const struct vmm__chr_backend stdio_backend = {
    .close = stdio_close,
};

int vmm__chr_open_stdio(struct vmm_chr *chr, bool mux)
{
    int saved_in = -1, saved_out = -1;
    struct termios raw;

    if (g_stdio_in_use) {
        return -EBUSY;
    }
    g_stdio_in_use = true;
    chr->mux = mux;
    chr->be = &stdio_backend;
    chr->in_fd = stdio_fd(STDIN_FILENO, O_RDONLY, &chr->in_sock,
                          &chr->in_is_stdin_dup, &saved_in);
    chr->out_fd = stdio_fd(STDOUT_FILENO, O_WRONLY, &chr->out_sock,
                           &chr->out_is_stdout_dup, &saved_out);
    g_saved_fl_in = saved_in;
    g_saved_fl_out = saved_out;

    g_tios_saved =
        isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &g_saved_tios) == 0;
    if (g_tios_saved || saved_in >= 0 || saved_out >= 0) {
        /* Publish what to restore before changing anything. */
        atomic_store_explicit(&g_term_active, 1, memory_order_release);
        term_install_handlers();
        if (!g_atexit_registered && atexit(term_atexit) == 0) {
            g_atexit_registered = true;
        }
    }
    if (g_tios_saved) {
        raw = g_saved_tios;
        term_make_raw(&raw, !mux);
        (void)tcsetattr(STDIN_FILENO, TCSANOW, &raw);
    }
    chr->in_eof = chr->in_fd < 0;
    vmm__chr_update(chr);
    return 0;
}
