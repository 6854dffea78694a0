/* SPDX-License-Identifier: MIT */
/*
 * printf-style formatting into a buffer or onto the console, and the
 * console lock that keeps one call's output together when several CPUs
 * print.  Integer conversions only (the SDK has no floating point).
 */
#include "sdk-int.h"

struct out {
    char *buf;   /* NULL: the serial port */
    size_t size; /* of buf */
    size_t len;  /* bytes produced so far (may exceed size) */
};

static void put(struct out *o, char c)
{
    if (!o->buf) {
        sdk__serial_putc(c);
    } else if (o->len + 1 < o->size) {
        o->buf[o->len] = c;
    }
    o->len++;
}

static void put_repeat(struct out *o, char c, int n)
{
    for (; n > 0; n--) {
        put(o, c);
    }
}

struct spec {
    bool left, zero, space, plus, alt;
    int width;     /* 0: none */
    int precision; /* -1: none */
};

/* One integer conversion: sign or prefix, zeros, digits, padding. */
static void put_number(struct out *o, const struct spec *sp, uint64_t v,
                       bool negative, unsigned base, bool upper,
                       const char *prefix)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char tmp[24];
    int n = 0, zeros, pad, plen;
    char sign = 0;

    while (v) {
        tmp[n++] = digits[v % base];
        v /= base;
    }
    if (n == 0 && sp->precision != 0) {
        tmp[n++] = '0';
    }
    if (negative) {
        sign = '-';
    } else if (sp->plus) {
        sign = '+';
    } else if (sp->space) {
        sign = ' ';
    }
    plen = (sign ? 1 : 0) + (prefix ? (int)strlen(prefix) : 0);
    zeros = sp->precision > n ? sp->precision - n : 0;
    pad = sp->width - plen - zeros - n;
    if (sp->zero && !sp->left && sp->precision < 0 && pad > 0) {
        zeros += pad;
        pad = 0;
    }
    if (!sp->left) {
        put_repeat(o, ' ', pad);
    }
    if (sign) {
        put(o, sign);
    }
    for (; prefix && *prefix; prefix++) {
        put(o, *prefix);
    }
    put_repeat(o, '0', zeros);
    while (n > 0) {
        put(o, tmp[--n]);
    }
    if (sp->left) {
        put_repeat(o, ' ', pad);
    }
}

static void put_string(struct out *o, const struct spec *sp, const char *s)
{
    int n = 0, pad;

    if (!s) {
        s = "(null)";
    }
    while (s[n] && (sp->precision < 0 || n < sp->precision)) {
        n++;
    }
    pad = sp->width - n;
    if (!sp->left) {
        put_repeat(o, ' ', pad);
    }
    for (int i = 0; i < n; i++) {
        put(o, s[i]);
    }
    if (sp->left) {
        put_repeat(o, ' ', pad);
    }
}

static const char *parse_int(const char *f, int *ret, va_list *ap)
{
    int v = 0;

    if (*f == '*') {
        *ret = va_arg(*ap, int);
        return f + 1;
    }
    while (*f >= '0' && *f <= '9') {
        if (v < 100000) {
            v = v * 10 + (*f - '0');
        }
        f++;
    }
    *ret = v;
    return f;
}

enum length { LEN_INT, LEN_CHAR, LEN_SHORT, LEN_LONG, LEN_LLONG, LEN_SIZE };

static uint64_t get_unsigned(enum length len, va_list *ap)
{
    switch (len) {
    case LEN_CHAR:
        return (unsigned char)va_arg(*ap, unsigned int);
    case LEN_SHORT:
        return (unsigned short)va_arg(*ap, unsigned int);
    case LEN_LONG:
        return va_arg(*ap, unsigned long);
    case LEN_LLONG:
        return va_arg(*ap, unsigned long long);
    case LEN_SIZE:
        return va_arg(*ap, size_t);
    default:
        return va_arg(*ap, unsigned int);
    }
}

static int64_t get_signed(enum length len, va_list *ap)
{
    switch (len) {
    case LEN_CHAR:
        return (signed char)va_arg(*ap, int);
    case LEN_SHORT:
        return (short)va_arg(*ap, int);
    case LEN_LONG:
        return va_arg(*ap, long);
    case LEN_LLONG:
        return va_arg(*ap, long long);
    case LEN_SIZE:
        return (int64_t)va_arg(*ap, size_t);
    default:
        return va_arg(*ap, int);
    }
}

static const char *parse_length(const char *f, enum length *len)
{
    *len = LEN_INT;
    if (f[0] == 'h' && f[1] == 'h') {
        *len = LEN_CHAR;
        return f + 2;
    }
    if (f[0] == 'l' && f[1] == 'l') {
        *len = LEN_LLONG;
        return f + 2;
    }
    switch (*f) {
    case 'h':
        *len = LEN_SHORT;
        return f + 1;
    case 'l':
    case 'j':
        *len = LEN_LONG;
        return f + 1;
    case 'z':
    case 't':
        *len = LEN_SIZE;
        return f + 1;
    default:
        return f;
    }
}

/* One conversion starting after '%'; returns where the format goes on. */
static const char *convert(struct out *o, const char *f, va_list *ap)
{
    struct spec sp = {.precision = -1};
    enum length len;
    int64_t sv;
    uint64_t uv;

    for (;; f++) {
        if (*f == '-') {
            sp.left = true;
        } else if (*f == '0') {
            sp.zero = true;
        } else if (*f == ' ') {
            sp.space = true;
        } else if (*f == '+') {
            sp.plus = true;
        } else if (*f == '#') {
            sp.alt = true;
        } else {
            break;
        }
    }
    f = parse_int(f, &sp.width, ap);
    if (sp.width < 0) {
        sp.left = true;
        sp.width = -sp.width;
    }
    if (*f == '.') {
        f = parse_int(f + 1, &sp.precision, ap);
    }
    f = parse_length(f, &len);
    switch (*f) {
    case 'd':
    case 'i':
        sv = get_signed(len, ap);
        uv = sv < 0 ? 0 - (uint64_t)sv : (uint64_t)sv;
        put_number(o, &sp, uv, sv < 0, 10, false, NULL);
        break;
    case 'u':
        put_number(o, &sp, get_unsigned(len, ap), false, 10, false, NULL);
        break;
    case 'x':
    case 'X':
        uv = get_unsigned(len, ap);
        put_number(o, &sp, uv, false, 16, *f == 'X',
                   sp.alt && uv ? (*f == 'X' ? "0X" : "0x") : NULL);
        break;
    case 'o':
        uv = get_unsigned(len, ap);
        put_number(o, &sp, uv, false, 8, false, sp.alt && uv ? "0" : NULL);
        break;
    case 'p':
        put_number(o, &sp, (uintptr_t)va_arg(*ap, void *), false, 16, false,
                   "0x");
        break;
    case 'c':
        sp.precision = -1;
        put_repeat(o, ' ', sp.left ? 0 : sp.width - 1);
        put(o, (char)va_arg(*ap, int));
        put_repeat(o, ' ', sp.left ? sp.width - 1 : 0);
        break;
    case 's':
        put_string(o, &sp, va_arg(*ap, const char *));
        break;
    case '%':
        put(o, '%');
        break;
    case '\0':
        return f; /* a lone '%' at the end */
    default:
        put(o, '%');
        put(o, *f);
        break;
    }
    return f + 1;
}

static int format(struct out *o, const char *fmt, va_list ap)
{
    va_list aq;

    va_copy(aq, ap);
    while (*fmt) {
        if (*fmt != '%') {
            put(o, *fmt++);
        } else {
            fmt = convert(o, fmt + 1, &aq);
        }
    }
    va_end(aq);
    return o->len > 0x7fffffff ? 0x7fffffff : (int)o->len;
}

/* sdk_vsnprintf() - see sdk_snprintf().  Context: any CPU. */
int sdk_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct out o = {.buf = buf, .size = size};
    int n;

    if (!buf || !size) {
        char dummy;

        o.buf = &dummy;
        o.size = 0;
    }
    n = format(&o, fmt, ap);
    if (size) {
        buf[o.len < size ? o.len : size - 1] = '\0';
    }
    return n;
}

/* sdk_snprintf() - see sdk.h.  Context: any CPU. */
int sdk_snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = sdk_vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

static struct sdk_spinlock console;

/*
 * sdk__console_lock() - take the console.  With @emergency (panic, trap),
 * give up waiting after about a million tries: the holder may be the CPU
 * that is failing.  Context: any CPU.
 */
void sdk__console_lock(bool emergency)
{
    uint32_t tries;

    if (!emergency) {
        sdk_spin_lock(&console);
        return;
    }
    for (tries = 0; tries < (1u << 20); tries++) {
        if (sdk_spin_trylock(&console)) {
            return;
        }
        sdk_pause();
    }
}

/* sdk__console_unlock() - release the console.  Context: any CPU. */
void sdk__console_unlock(void)
{
    sdk_spin_unlock(&console);
}

/* sdk__vprintf_locked() - print with the console already held. */
int sdk__vprintf_locked(const char *fmt, va_list ap)
{
    struct out o = {0};

    return format(&o, fmt, ap);
}

/* sdk_vprintf() - see sdk_printf().  Context: any CPU. */
int sdk_vprintf(const char *fmt, va_list ap)
{
    int n;

    sdk__console_lock(false);
    n = sdk__vprintf_locked(fmt, ap);
    sdk__console_unlock();
    return n;
}

/* sdk_printf() - see sdk.h.  Context: any CPU. */
int sdk_printf(const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = sdk_vprintf(fmt, ap);
    va_end(ap);
    return n;
}

/* sdk_puts() - see sdk.h.  Context: any CPU. */
void sdk_puts(const char *s)
{
    sdk__console_lock(false);
    while (*s) {
        sdk__serial_putc(*s++);
    }
    sdk__console_unlock();
}
