/* resp.c - see resp.h. Every byte is looked at once: the parser resumes at
 * p->pos, and only a short header line can be rescanned (at most
 * RESP_HEADER_BYTES_MAX bytes) when it arrives in pieces. */
#include "node/resp.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Decimal digits of INT64_MAX (9223372036854775807). */
#define RESP_INT_DIGITS_MAX 19
/* A type byte, a sign, the digits, CRLF. */
#define RESP_INT_BYTES_MAX (1 + 1 + RESP_INT_DIGITS_MAX + 2)

void resp_parser_init(struct resp_parser *p, const struct resp_limits *limits)
{
    memset(p, 0, sizeof *p);
    p->limits = *limits;
    if (p->limits.command_bytes_max > UINT32_MAX)
        p->limits.command_bytes_max = UINT32_MAX; /* offsets are 32-bit */
    p->args_expected = -1;
    p->bulk_len = -1;
}

void resp_parser_free(struct resp_parser *p)
{
    free(p->refs);
    free(p->argv);
    p->refs = NULL;
    p->argv = NULL;
    p->cap = 0;
}

const char *resp_parser_error(const struct resp_parser *p) { return p->error; }

static long resp_fail(struct resp_parser *p, const char *msg)
{
    p->failed = true;
    snprintf(p->error, sizeof p->error, "%s", msg);
    return KV_EPROTO;
}

static void resp_reset_pending(struct resp_parser *p)
{
    p->pos = 0;
    p->args_expected = -1;
    p->bulk_len = -1;
    p->argc = 0;
}

/* Grows refs/argv to hold n arguments (n <= args_max, checked by callers). */
static int resp_reserve(struct resp_parser *p, uint32_t n)
{
    if (n <= p->cap)
        return KV_OK;
    uint32_t cap = p->cap ? p->cap : 8;
    while (cap < n)
        cap = cap > UINT32_MAX / 2 ? n : cap * 2;
    struct resp_arg_ref *refs = realloc(p->refs, (size_t)cap * sizeof *refs);
    if (!refs)
        return KV_ENOMEM;
    p->refs = refs;
    struct kv_slice *argv = realloc(p->argv, (size_t)cap * sizeof *argv);
    if (!argv)
        return KV_ENOMEM;
    p->argv = argv;
    p->cap = cap;
    return KV_OK;
}

/*
 * Reads a "<type><int>\r\n" header at data[at, len) in one pass (this runs
 * for every argument). Returns 1 with *value and *end (the byte after the
 * CRLF), 0 if the line is not complete yet, or -1 if it is malformed: no
 * digits, more than RESP_INT_DIGITS_MAX digits, or anything but "\r\n"
 * after them. A bad byte is reported as soon as it arrives.
 */
static int resp_header(const char *data, size_t len, size_t at, int64_t *value, size_t *end)
{
    const char *p = data + at + 1, *limit = data + len;
    bool neg = p < limit && *p == '-';
    p += neg;
    const char *digits = p;
    uint64_t v = 0;
    while (p < limit && *p >= '0' && *p <= '9') {
        if (p - digits == RESP_INT_DIGITS_MAX)
            return -1;
        v = v * 10 + (uint64_t)(*p++ - '0');
    }
    if (p == limit || (p + 1 == limit && *p == '\r'))
        return 0;
    if (p == digits || p[0] != '\r' || p[1] != '\n' || v > INT64_MAX)
        return -1;
    *value = neg ? -(int64_t)v : (int64_t)v;
    *end = (size_t)(p + 2 - data);
    return 1;
}

static long resp_finish(struct resp_parser *p, const char *data, struct resp_command *out)
{
    for (uint32_t i = 0; i < p->argc; i++)
        p->argv[i] = kv_slice_make(data + p->refs[i].off, p->refs[i].len);
    out->argc = p->argc;
    out->argv = p->argv;
    long consumed = (long)p->pos;
    resp_reset_pending(p);
    return consumed;
}

/* The "*<argc>\r\n" line of a new multibulk command. */
static long resp_multibulk_start(struct resp_parser *p, const char *data, size_t len,
                                 struct resp_command *out)
{
    int64_t n;
    size_t end;
    int r = resp_header(data, len, 0, &n, &end);
    if (r == 0)
        return 0;
    if (r < 0 || n > (int64_t)p->limits.args_max)
        return resp_fail(p, "invalid multibulk length");
    if (n <= 0) { /* "*0" and "*-1" are empty commands, as in Redis */
        out->argc = 0;
        out->argv = p->argv;
        return (long)end;
    }
    if (resp_reserve(p, (uint32_t)n) != KV_OK)
        return KV_ENOMEM;
    p->args_expected = n;
    p->pos = end;
    return 0;
}

static long resp_parse_multibulk(struct resp_parser *p, const char *data, size_t len,
                                 struct resp_command *out)
{
    if (p->args_expected < 0) {
        long r = resp_multibulk_start(p, data, len, out);
        if (r != 0 || p->args_expected < 0)
            return r;
    }
    while (p->argc < (uint64_t)p->args_expected) {
        if (p->bulk_len < 0) {
            if (p->pos >= len)
                return 0;
            if (data[p->pos] != '$')
                return resp_fail(p, "expected '$'");
            int64_t n;
            size_t end;
            int r = resp_header(data, len, p->pos, &n, &end);
            if (r == 0)
                return 0;
            if (r < 0 || n < 0 || (uint64_t)n > p->limits.bulk_bytes_max)
                return resp_fail(p, "invalid bulk length");
            if (end + (uint64_t)n + 2 > p->limits.command_bytes_max)
                return resp_fail(p, "command too large");
            p->pos = end;
            p->bulk_len = n;
        }
        size_t blen = (size_t)p->bulk_len;
        if (len - p->pos < blen + 2)
            return 0;
        if (data[p->pos + blen] != '\r' || data[p->pos + blen + 1] != '\n')
            return resp_fail(p, "expected CRLF after bulk");
        p->refs[p->argc].off = (uint32_t)p->pos;
        p->refs[p->argc].len = (uint32_t)blen;
        p->argc++;
        p->pos += blen + 2;
        p->bulk_len = -1;
    }
    return resp_finish(p, data, out);
}

static bool resp_is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* Splits data[0, line_len) into words; line_len excludes the '\n'. */
static long resp_split_inline(struct resp_parser *p, const char *data, size_t line_len)
{
    size_t i = 0;
    p->argc = 0;
    for (;;) {
        while (i < line_len && resp_is_blank(data[i]))
            i++;
        if (i == line_len)
            return KV_OK;
        size_t start = i;
        while (i < line_len && !resp_is_blank(data[i]))
            i++;
        if (p->argc >= p->limits.args_max)
            return resp_fail(p, "too many arguments in inline request");
        if (resp_reserve(p, p->argc + 1) != KV_OK)
            return KV_ENOMEM;
        p->refs[p->argc].off = (uint32_t)start;
        p->refs[p->argc].len = (uint32_t)(i - start);
        p->argc++;
    }
}

static long resp_parse_inline(struct resp_parser *p, const char *data, size_t len,
                              struct resp_command *out)
{
    const char *nl = memchr(data + p->pos, '\n', len - p->pos);
    if (!nl) {
        if (len >= p->limits.inline_bytes_max)
            return resp_fail(p, "too big inline request");
        p->pos = len;
        return 0;
    }
    size_t line_len = (size_t)(nl - data);
    if (line_len + 1 > p->limits.inline_bytes_max)
        return resp_fail(p, "too big inline request");
    long r = resp_split_inline(p, data, line_len);
    if (r != KV_OK)
        return r;
    p->pos = line_len + 1;
    return resp_finish(p, data, out);
}

long resp_parse(struct resp_parser *p, const char *data, size_t len, struct resp_command *out)
{
    if (p->failed)
        return KV_EPROTO;
    if (len == 0)
        return 0;
    if (data[0] == '*')
        return resp_parse_multibulk(p, data, len, out);
    return resp_parse_inline(p, data, len, out);
}

size_t resp_parser_bytes_wanted(const struct resp_parser *p, size_t len)
{
    if (p->bulk_len >= 0) {
        size_t need = p->pos + (size_t)p->bulk_len + 2;
        if (need > len)
            return need - len;
    }
    return 1;
}

/* ---- encoder ----
 * Each reply reserves its whole size once, then writes with memcpy. */

/* Room for n more bytes at the tail, or NULL (and the writer failed). */
static char *resp_tail(struct resp_writer *w, size_t n)
{
    if (w->failed)
        return NULL;
    if (w->buf.cap - w->buf.len < n + 1 && kv_buf_reserve(&w->buf, n) != KV_OK) {
        w->failed = true;
        return NULL;
    }
    return w->buf.data + w->buf.len;
}

static void resp_commit(struct resp_writer *w, char *end)
{
    w->buf.len = (size_t)(end - w->buf.data);
    w->buf.data[w->buf.len] = 0;
}

static void resp_raw(struct resp_writer *w, const void *data, size_t n)
{
    char *p = resp_tail(w, n);
    if (!p)
        return;
    memcpy(p, data, n);
    resp_commit(w, p + n);
}

/* Writes "<type><v>\r\n" at p (room for RESP_INT_BYTES_MAX) without printf. */
static char *resp_format_int(char *p, char type, int64_t v)
{
    char digits[RESP_INT_DIGITS_MAX + 1];
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    size_t nd = 0;
    do {
        digits[nd++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    *p++ = type;
    if (v < 0)
        *p++ = '-';
    while (nd)
        *p++ = digits[--nd];
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

static void resp_typed_int(struct resp_writer *w, char type, int64_t v)
{
    char *p = resp_tail(w, RESP_INT_BYTES_MAX);
    if (p)
        resp_commit(w, resp_format_int(p, type, v));
}

void resp_put_simple(struct resp_writer *w, const char *s)
{
    size_t n = strlen(s);
    char *p = resp_tail(w, n + 3);
    if (!p)
        return;
    *p++ = '+';
    memcpy(p, s, n);
    p += n;
    *p++ = '\r';
    *p++ = '\n';
    resp_commit(w, p);
}

void resp_put_error(struct resp_writer *w, const char *msg)
{
    size_t n = strlen(msg);
    char *p = resp_tail(w, n + 3);
    if (!p)
        return;
    *p++ = '-';
    /* An error line must not contain CR/LF: replace them rather than break framing. */
    for (size_t i = 0; i < n; i++)
        *p++ = (msg[i] == '\r' || msg[i] == '\n') ? ' ' : msg[i];
    *p++ = '\r';
    *p++ = '\n';
    resp_commit(w, p);
}

void resp_put_errorf(struct resp_writer *w, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    resp_put_error(w, msg);
}

void resp_put_int(struct resp_writer *w, int64_t v) { resp_typed_int(w, ':', v); }

void resp_put_bulk(struct resp_writer *w, const void *data, size_t n)
{
    char *p = resp_tail(w, RESP_INT_BYTES_MAX + n + 2);
    if (!p)
        return;
    p = resp_format_int(p, '$', (int64_t)n);
    memcpy(p, data, n);
    p += n;
    *p++ = '\r';
    *p++ = '\n';
    resp_commit(w, p);
}

void resp_put_null(struct resp_writer *w) { resp_raw(w, "$-1\r\n", 5); }

void resp_put_array(struct resp_writer *w, size_t n) { resp_typed_int(w, '*', (int64_t)n); }
