/* SPDX-License-Identifier: MIT */
/*
 * The command line from hvm_start_info, copied once at start-up and split
 * into words (key=value or bare).  Read-only afterwards, so any CPU may
 * look arguments up.
 */
#include "sdk-int.h"

#define CMDLINE_MAX 4096
#define ARGS_MAX 128

static char line[CMDLINE_MAX];  /* the command line as given */
static char words[CMDLINE_MAX]; /* the same, split in place */
static const char *keys[ARGS_MAX];
static const char *values[ARGS_MAX];
static unsigned nargs;

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * sdk__cmdline_init() - copy @src (at most @max readable bytes, up to its
 * NUL) and split it.  Words beyond ARGS_MAX and bytes beyond CMDLINE_MAX
 * are dropped with a warning.  Context: boot CPU, at start-up.
 */
void sdk__cmdline_init(const char *src, size_t max)
{
    size_t n = 0;
    char *p;

    if (src) {
        while (n < max && n < CMDLINE_MAX - 1 && src[n]) {
            line[n] = src[n];
            n++;
        }
        if (n == CMDLINE_MAX - 1 && n < max && src[n]) {
            sdk_printf("sdk: command line cut to %u bytes\n", (unsigned)n);
        }
    }
    line[n] = '\0';
    memcpy(words, line, n + 1);
    p = words;
    while (*p) {
        char *eq;

        while (is_space(*p)) {
            *p++ = '\0';
        }
        if (!*p) {
            break;
        }
        if (nargs == ARGS_MAX) {
            sdk_printf("sdk: more than %u command-line words\n", ARGS_MAX);
            break;
        }
        keys[nargs] = p;
        while (*p && !is_space(*p)) {
            p++;
        }
        if (*p) {
            *p++ = '\0';
        }
        eq = strchr(keys[nargs], '=');
        if (eq) {
            *eq = '\0';
            values[nargs] = eq + 1;
        } else {
            values[nargs] = "";
        }
        nargs++;
    }
}

/* sdk_cmdline() - the whole command line.  Context: any CPU. */
const char *sdk_cmdline(void)
{
    return line;
}

/* sdk_arg_count() - number of words.  Context: any CPU. */
unsigned sdk_arg_count(void)
{
    return nargs;
}

/* sdk_arg_key() - word @i's key, NULL past the end.  Context: any CPU. */
const char *sdk_arg_key(unsigned i)
{
    return i < nargs ? keys[i] : NULL;
}

/* sdk_arg_value() - word @i's value, NULL past the end.  Context: any CPU. */
const char *sdk_arg_value(unsigned i)
{
    return i < nargs ? values[i] : NULL;
}

/* sdk_arg() - see sdk.h.  Context: any CPU. */
const char *sdk_arg(const char *key)
{
    unsigned i;

    for (i = nargs; i > 0; i--) {
        if (strcmp(keys[i - 1], key) == 0) {
            return values[i - 1];
        }
    }
    return NULL;
}

/* sdk_parse_u64() - see sdk.h.  Context: any CPU. */
bool sdk_parse_u64(const char *s, uint64_t *ret)
{
    uint64_t v = 0, mult = 1;
    unsigned base = 10, digits = 0;

    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    for (;; s++) {
        unsigned d;

        if (*s >= '0' && *s <= '9') {
            d = (unsigned)(*s - '0');
        } else if (base == 16 && *s >= 'a' && *s <= 'f') {
            d = (unsigned)(*s - 'a' + 10);
        } else if (base == 16 && *s >= 'A' && *s <= 'F') {
            d = (unsigned)(*s - 'A' + 10);
        } else {
            break;
        }
        if (v > (UINT64_MAX - d) / base) {
            return false;
        }
        v = v * base + d;
        digits++;
    }
    if (!digits) {
        return false;
    }
    if (*s == 'k' || *s == 'K') {
        mult = 1ull << 10;
    } else if (*s == 'M') {
        mult = 1ull << 20;
    } else if (*s == 'G') {
        mult = 1ull << 30;
    }
    if (mult > 1) {
        s++;
    }
    if (*s || v > UINT64_MAX / mult) {
        return false;
    }
    *ret = v * mult;
    return true;
}

/* sdk_arg_u64() - see sdk.h.  Context: any CPU. */
uint64_t sdk_arg_u64(const char *key, uint64_t dflt, uint64_t max)
{
    const char *s = sdk_arg(key);
    uint64_t v;

    if (!s) {
        return dflt;
    }
    if (!sdk_parse_u64(s, &v) || v > max) {
        sdk_printf("usage: %s=%s: expected a number up to %lu\n", key, s,
                   (unsigned long)max);
        sdk_exit(SDK_EXIT_USAGE);
    }
    return v;
}

/* sdk_arg_bool() - see sdk.h.  Context: any CPU. */
bool sdk_arg_bool(const char *key, bool dflt)
{
    static const char *const yes[] = {"", "1", "on", "yes", "true"};
    static const char *const no[] = {"0", "off", "no", "false"};
    const char *s = sdk_arg(key);
    unsigned i;

    if (!s) {
        return dflt;
    }
    for (i = 0; i < SDK_ARRAY_SIZE(yes); i++) {
        if (strcmp(s, yes[i]) == 0) {
            return true;
        }
    }
    for (i = 0; i < SDK_ARRAY_SIZE(no); i++) {
        if (strcmp(s, no[i]) == 0) {
            return false;
        }
    }
    sdk_printf("usage: %s=%s: expected on or off\n", key, s);
    sdk_exit(SDK_EXIT_USAGE);
}
