/* SPDX-License-Identifier: MIT */
/*
 * Linux boots on a monitor, timed line by line (linux-boot.h).  One
 * thread: fork/exec, then poll() on the monitor's stdout and stderr until
 * both close, with a deadline.
 */
#include "linux-boot.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "monitor-cpu.h"

/* Output kept per stream: a boot prints ~100 KiB. */
#define MAX_KEEP (8u << 20)
/* How long a monitor may take to exit after SIGTERM. */
#define TERM_GRACE_S 30.0
/* The one transport both monitors place for one disk (microvm's top slot,
 * auto-kernel-cmdline's virtio_mmio.device=). */
#define VIRTIO_MMIO_LINE                                                       \
    "virtio-mmio: Registering device virtio-mmio.0 at "                        \
    "0xfeb00e00-0xfeb00fff, IRQ 12."

static const char *const g_text[LXB_NR_MILESTONES] = {
    [LXB_FIRST_LINE] = "",
    [LXB_VIRTIO_MMIO] = VIRTIO_MMIO_LINE,
    [LXB_DISK] = "virtio_blk virtio0: [vda]",
    [LXB_ROOT_MOUNTED] = "EXT4-fs (vda): mounted filesystem",
    [LXB_INIT] = "Run /sbin/init as init process",
};

static const char *const g_name[LXB_NR_MILESTONES] = {
    [LXB_FIRST_LINE] = "first-line",
    [LXB_VIRTIO_MMIO] = "virtio-mmio",
    [LXB_DISK] = "disk",
    [LXB_ROOT_MOUNTED] = "root-mounted",
    [LXB_INIT] = "init",
};

const char *lxb_milestone_text(enum lxb_milestone m)
{
    return (unsigned)m < LXB_NR_MILESTONES ? g_text[m] : "";
}

const char *lxb_milestone_name(enum lxb_milestone m)
{
    return (unsigned)m < LXB_NR_MILESTONES ? g_name[m] : "?";
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A growing, NUL-terminated byte string, capped at MAX_KEEP. */
struct str {
    char *p;
    size_t len, cap;
};

static void str_add(struct str *s, const char *p, size_t n)
{
    if (s->len + n > MAX_KEEP) {
        n = MAX_KEEP - s->len;
    }
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        char *q;

        while (cap < s->len + n + 1) {
            cap *= 2;
        }
        q = realloc(s->p, cap);
        if (!q) {
            return; /* keep what we have: only a message is lost */
        }
        s->p = q;
        s->cap = cap;
    }
    memcpy(s->p + s->len, p, n);
    s->len += n;
    s->p[s->len] = '\0';
}

static void str_printf(struct str *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void str_printf(struct str *s, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > 0) {
        str_add(s, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
    }
}

static char *str_take(struct str *s)
{
    char *p = s->p ? s->p : strdup("");

    memset(s, 0, sizeof(*s));
    return p;
}

/*
 * Fork and exec @argv (searched in $PATH when @path_search) with stdin
 * from /dev/null and stdout/stderr on pipes; the read ends go to *@out_fd
 * and *@err_fd.  Returns the pid, or -1.
 */
static pid_t spawn(char *const argv[], bool path_search, int *out_fd,
                   int *err_fd)
{
    int po[2], pe[2];
    pid_t pid;

    if (pipe2(po, O_CLOEXEC) < 0) {
        return -1;
    }
    if (pipe2(pe, O_CLOEXEC) < 0) {
        close(po[0]);
        close(po[1]);
        return -1;
    }
    pid = fork();
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);

        if (in < 0 || dup2(in, 0) < 0 || dup2(po[1], 1) < 0 ||
            dup2(pe[1], 2) < 0) {
            _exit(127);
        }
        if (path_search) {
            execvp(argv[0], argv);
        } else {
            execv(argv[0], argv);
        }
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    if (pid < 0) {
        close(po[0]);
        close(pe[0]);
        return -1;
    }
    *out_fd = po[0];
    *err_fd = pe[0];
    return pid;
}

/* The exit status of @pid once it ends (128 + signal), or -1. */
static int reap(pid_t pid)
{
    int st;

    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) {
            return -1;
        }
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Run @argv to completion; its stdout into @out, stderr into @err (both
 * may be NULL: discarded).  Returns the exit status, or -1. */
static int run_capture(char *const argv[], struct str *out, struct str *err)
{
    struct pollfd fds[2];
    int out_fd, err_fd;
    pid_t pid;

    pid = spawn(argv, true, &out_fd, &err_fd);
    if (pid < 0) {
        return -1;
    }
    fds[0] = (struct pollfd){.fd = out_fd, .events = POLLIN};
    fds[1] = (struct pollfd){.fd = err_fd, .events = POLLIN};
    while (fds[0].fd >= 0 || fds[1].fd >= 0) {
        int i;

        if (poll(fds, 2, -1) < 0 && errno != EINTR) {
            break;
        }
        for (i = 0; i < 2; i++) {
            char buf[4096];
            ssize_t n;

            if (fds[i].fd < 0 || !fds[i].revents) {
                continue;
            }
            n = read(fds[i].fd, buf, sizeof(buf));
            if (n > 0) {
                struct str *s = i == 0 ? out : err;

                if (s) {
                    str_add(s, buf, (size_t)n);
                }
            } else if (n == 0 || errno != EINTR) {
                fds[i].fd = -1;
            }
        }
    }
    close(out_fd);
    close(err_fd);
    return reap(pid);
}

/* The last @n lines of @s (for messages). */
static char *tail_lines(const struct str *s, int n)
{
    const char *p;

    if (!s->p) {
        return strdup("");
    }
    p = s->p + s->len;
    while (p > s->p && (p[-1] == '\n')) {
        p--;
    }
    while (p > s->p && n > 0) {
        p--;
        if (*p == '\n') {
            n--;
        }
    }
    return strdup(p + (*p == '\n'));
}

int lxb_build_kernel(const char *script, char **ret_path, char **msg)
{
    char *argv[] = {(char *)script, NULL};
    struct str out = {0}, err = {0};
    int st;

    st = run_capture(argv, &out, &err);
    if (st != 0) {
        *msg = tail_lines(&err, 8);
        free(out.p);
        free(err.p);
        return st == LXB_CANNOT_BUILD ? LXB_CANNOT_BUILD : -1;
    }
    free(err.p);
    while (out.len > 0 && out.p[out.len - 1] == '\n') {
        out.p[--out.len] = '\0';
    }
    if (out.len == 0 || strchr(out.p, '\n') || access(out.p, R_OK) < 0) {
        *msg = strdup("build-kernel printed no readable vmlinux path");
        free(out.p);
        return -1;
    }
    *ret_path = str_take(&out);
    return 0;
}

static const char *find_mkfs(void)
{
    static const char *const paths[] = {
        "/sbin/mkfs.ext4", "/usr/sbin/mkfs.ext4", "/usr/local/sbin/mkfs.ext4"};
    unsigned i;

    for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        if (access(paths[i], X_OK) == 0) {
            return paths[i];
        }
    }
    return NULL;
}

int lxb_make_image(const char *path, unsigned mib, char **msg)
{
    static const char *const dirs[] = {"dev", "proc", "sys", "sbin"};
    char tree[] = "/tmp/loom-linux-root.XXXXXX";
    char size[32], sub[sizeof(tree) + 16];
    const char *mkfs = find_mkfs();
    struct str err = {0};
    unsigned i;
    int st;

    if (!mkfs) {
        *msg = strdup("mkfs.ext4 not found (Debian package e2fsprogs)");
        return LXB_CANNOT_BUILD;
    }
    if (!mkdtemp(tree)) {
        *msg = strdup("mkdtemp failed");
        return -1;
    }
    for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        snprintf(sub, sizeof(sub), "%s/%s", tree, dirs[i]);
        (void)mkdir(sub, 0755);
    }
    snprintf(size, sizeof(size), "%uM", mib);
    (void)unlink(path);
    {
        char *argv[] = {(char *)mkfs, "-q", "-F",         "-L", "loomroot",
                        "-d",         tree, (char *)path, size, NULL};

        st = run_capture(argv, NULL, &err);
    }
    for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        snprintf(sub, sizeof(sub), "%s/%s", tree, dirs[i]);
        (void)rmdir(sub);
    }
    (void)rmdir(tree);
    if (st != 0) {
        *msg = tail_lines(&err, 4);
        free(err.p);
        return -1;
    }
    free(err.p);
    return 0;
}

bool lxb_direct_io_ok(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);

    if (fd < 0) {
        return false;
    }
    close(fd);
    return true;
}

/* Strings build_argv() allocates (in @keep). */
#define NR_KEEP 4

/* True if @vmm is QEMU (its file name starts with "qemu-system"). */
static bool is_qemu(const char *vmm)
{
    const char *base = strrchr(vmm, '/');

    return strncmp(base ? base + 1 : vmm, "qemu-system", 11) == 0;
}

/* The monitor's argv (NR_KEEP strings in @keep, freed by the caller). */
static char **build_argv(const struct lxb_opts *o, char **keep)
{
    char **a = calloc(48, sizeof(*a));
    int n = 0;

    if (!a) {
        return NULL;
    }
#define ARG(s) (a[n++] = (char *)(s))
    ARG(o->vmm);
    ARG("-M");
    ARG("microvm,acpi=off");
    ARG("-enable-kvm");
    ARG("-cpu");
    /* As every monitor on this host gets it (monitor-cpu.h). */
    if (asprintf(&keep[3],
                 "host,kvm-pv-ipi=off,kvm-pv-sched-yield=off,"
                 "kvm-pv-unhalt=off%s",
                 monitor_cpu_features(is_qemu(o->vmm) ? o->vmm : NULL)) < 0) {
        keep[3] = NULL;
        free(a);
        return NULL;
    }
    ARG(keep[3]);
    ARG("-m");
    ARG("256");
    ARG("-smp");
    if (asprintf(&keep[0], "%u", o->cpus ? o->cpus : 1) < 0) {
        keep[0] = NULL;
        free(a);
        return NULL;
    }
    ARG(keep[0]);
    ARG("-nodefaults");
    ARG("-no-user-config");
    ARG("-display");
    ARG("none");
    ARG("-serial");
    ARG("stdio");
    ARG("-no-reboot");
    ARG("-global");
    ARG("virtio-mmio.force-legacy=off");
    if (o->image) {
        ARG("-object");
        ARG("iothread,id=io0");
        if (asprintf(&keep[1],
                     "id=root,file=%s,format=raw,if=none,"
                     "cache=%s,aio=%s",
                     o->image, o->cache ? o->cache : "writeback",
                     o->aio ? o->aio : "io_uring") < 0) {
            keep[1] = NULL;
            free(a);
            return NULL;
        }
        ARG("-drive");
        ARG(keep[1]);
        ARG("-device");
        ARG("virtio-blk-device,drive=root,iothread=io0");
    }
    ARG("-kernel");
    ARG(o->kernel);
    /* panic=-1: a panic reboots, which -no-reboot turns into an exit. */
    if (asprintf(&keep[2], "%s%s panic=-1%s%s", LXB_CMDLINE,
                 o->image ? " root=/dev/vda rootfstype=ext4 rw" : "",
                 o->append ? " " : "", o->append ? o->append : "") < 0) {
        keep[2] = NULL;
        free(a);
        return NULL;
    }
    ARG("-append");
    ARG(keep[2]);
#undef ARG
    return a;
}

static char *join_argv(char **a)
{
    struct str s = {0};
    int i;

    for (i = 0; a[i]; i++) {
        bool quote = strchr(a[i], ' ') != NULL;

        str_printf(&s, "%s%s%s%s", i ? " " : "", quote ? "'" : "", a[i],
                   quote ? "'" : "");
    }
    return str_take(&s);
}

/* The state of one running boot. */
struct boot {
    const struct lxb_opts *o;
    struct lxb_result *r;
    double t0;
    struct str out, err, line;
    pid_t pid;
};

/* One complete console line: stamp it, match the next milestone. */
static void on_line(struct boot *b, double t)
{
    struct lxb_result *r = b->r;
    const char *line = b->line.p ? b->line.p : "";

    str_printf(&b->out, "%8.3f ", t);
    str_add(&b->out, line, b->line.len);
    str_add(&b->out, "\n", 1);
    while (r->reached < LXB_NR_MILESTONES && strstr(line, g_text[r->reached])) {
        r->at[r->reached++] = t;
        if (r->reached != 1) {
            break; /* the first line may also be the first milestone */
        }
    }
    b->line.len = 0;
}

static void on_console(struct boot *b, const char *p, size_t n)
{
    double t = now_s() - b->t0;
    size_t i;

    for (i = 0; i < n; i++) {
        if (p[i] == '\n') {
            on_line(b, t);
        } else if (p[i] != '\r') {
            str_add(&b->line, p + i, 1);
        }
    }
}

/*
 * QEMU ("KVM internal error. Suberror: 1") and loom-vm ("loom-vm: KVM
 * internal error on vCPU 0 ...") both stop the VM for a look when KVM
 * cannot emulate an instruction: nothing more will happen, so end it now
 * rather than at the timeout.
 */
static void saw_internal_error(struct boot *b)
{
    if (!b->r->internal_error && !b->r->killed && b->err.p &&
        strstr(b->err.p, "KVM internal error")) {
        b->r->internal_error = true;
        kill(b->pid, SIGKILL);
    }
}

/* Read both pipes until they close; end the monitor on the last
 * milestone or at the deadline. */
static void supervise(struct boot *b, int out_fd, int err_fd)
{
    struct pollfd fds[2] = {{.fd = out_fd, .events = POLLIN},
                            {.fd = err_fd, .events = POLLIN}};
    double deadline = b->t0 + b->o->timeout_s, kill_at = 0;

    while (fds[0].fd >= 0 || fds[1].fd >= 0) {
        double left = (kill_at ? kill_at : deadline) - now_s();
        int i;

        if (left <= 0) {
            if (!kill_at && !b->r->killed) {
                b->r->timed_out = true;
            }
            kill(b->pid, SIGKILL);
            kill_at = deadline = now_s() + 3600; /* wait for the close */
            continue;
        }
        if (poll(fds, 2, (int)(left * 1000) + 1) < 0 && errno != EINTR) {
            break;
        }
        for (i = 0; i < 2; i++) {
            char buf[8192];
            ssize_t n;

            if (fds[i].fd < 0 || !fds[i].revents) {
                continue;
            }
            n = read(fds[i].fd, buf, sizeof(buf));
            if (n > 0 && i == 0) {
                on_console(b, buf, (size_t)n);
            } else if (n > 0) {
                str_add(&b->err, buf, (size_t)n);
                saw_internal_error(b);
            } else if (n == 0 || errno != EINTR) {
                fds[i].fd = -1;
            }
        }
        if (b->r->reached == LXB_NR_MILESTONES && !b->r->killed) {
            b->r->killed = true;
            kill(b->pid, SIGTERM);
            kill_at = now_s() + TERM_GRACE_S;
        }
    }
}

int lxb_boot(const struct lxb_opts *o, struct lxb_result *r)
{
    char *keep[NR_KEEP] = {NULL};
    struct boot b = {.o = o, .r = r};
    int out_fd, err_fd, i, ret = -1;
    char **argv;

    memset(r, 0, sizeof(*r));
    for (i = 0; i < LXB_NR_MILESTONES; i++) {
        r->at[i] = -1;
    }
    r->status = -1;
    argv = build_argv(o, keep);
    if (!argv) {
        r->err = strdup("out of memory");
        goto out;
    }
    r->cmd = join_argv(argv);
    b.t0 = now_s();
    b.pid = spawn(argv, false, &out_fd, &err_fd);
    if (b.pid < 0) {
        r->err = strdup("cannot start the monitor (fork or pipe failed)");
        goto out;
    }
    supervise(&b, out_fd, err_fd);
    close(out_fd);
    close(err_fd);
    if (b.line.len > 0) {
        on_line(&b, now_s() - b.t0); /* a last line without its newline */
    }
    r->status = reap(b.pid);
    r->out = str_take(&b.out);
    r->err = str_take(&b.err);
    ret = 0;
out:
    free(b.line.p);
    for (i = 0; i < NR_KEEP; i++) {
        free(keep[i]);
    }
    free(argv);
    if (!r->out) {
        r->out = strdup("");
    }
    return ret;
}

void lxb_result_free(struct lxb_result *r)
{
    free(r->out);
    free(r->err);
    free(r->cmd);
    memset(r, 0, sizeof(*r));
}
