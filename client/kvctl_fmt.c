/* kvctl_fmt.c - see kvctl_fmt.h. */
#include "client/kvctl_fmt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/ringkv.h"

enum kvctl_exit kvctl_fmt_exit_code(int rkv_status)
{
    switch (rkv_status) {
    case RKV_OK: return KVCTL_EXIT_OK;
    case RKV_ENOTFOUND: return KVCTL_EXIT_NOT_FOUND;
    case RKV_EINDOUBT: return KVCTL_EXIT_IN_DOUBT;
    case RKV_EUNAVAIL:
    case RKV_ETIMEDOUT:
    case RKV_ECLOSED:
    case RKV_EBUSY: return KVCTL_EXIT_UNREACHABLE;
    default: return KVCTL_EXIT_FAILED;
    }
}

enum kvctl_exit kvctl_fmt_fail(const char *what, int rkv_status, struct rkv_client *client)
{
    const char *detail = client ? rkv_last_error(client) : "";
    fprintf(stderr, "kvctl: %s: %s%s%s\n", what, rkv_strerror(rkv_status), detail[0] ? ": " : "", detail);
    return kvctl_fmt_exit_code(rkv_status);
}

bool kvctl_fmt_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (s[0] < '0' || s[0] > '9')
        return false;  /* strtoull would accept "-1" and " 1" */
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

bool kvctl_fmt_parse_i64(const char *s, int64_t *out)
{
    const char *digits = (s[0] == '-' || s[0] == '+') ? s + 1 : s;
    if (digits[0] < '0' || digits[0] > '9')
        return false;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void kvctl_fmt_base64_encode(const void *src, size_t n, char *dst)
{
    const unsigned char *p = src;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *dst++ = b64_alphabet[v >> 18];
        *dst++ = b64_alphabet[(v >> 12) & 63];
        *dst++ = b64_alphabet[(v >> 6) & 63];
        *dst++ = b64_alphabet[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
        *dst++ = b64_alphabet[v >> 18];
        *dst++ = b64_alphabet[(v >> 12) & 63];
        *dst++ = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
        *dst++ = '=';
    }
    *dst = '\0';
}

static int b64_value(char c)
{
    const char *p = c ? strchr(b64_alphabet, c) : NULL;
    return p ? (int)(p - b64_alphabet) : -1;
}

bool kvctl_fmt_base64_decode(const char *s, void *dst, size_t *n_out)
{
    size_t len = strlen(s);
    unsigned char *out = dst;
    size_t n = 0;
    if (len % 4 != 0)
        return false;
    for (size_t i = 0; i < len; i += 4) {
        bool last = i + 4 == len;
        int pad = (s[i + 3] == '=') + (s[i + 2] == '=');
        if (pad && !last)
            return false;
        if (pad == 1 && s[i + 2] == '=')
            return false;  /* "xx=y" */
        int v[4] = { b64_value(s[i]), b64_value(s[i + 1]), pad == 2 ? 0 : b64_value(s[i + 2]),
                     pad >= 1 ? 0 : b64_value(s[i + 3]) };
        if (v[0] < 0 || v[1] < 0 || v[2] < 0 || v[3] < 0)
            return false;
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        out[n++] = (unsigned char)(w >> 16);
        if (pad < 2)
            out[n++] = (unsigned char)(w >> 8);
        if (pad < 1)
            out[n++] = (unsigned char)w;
    }
    *n_out = n;
    return true;
}

/* Length of the UTF-8 sequence at p[0..n), or 0 if it is malformed. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    size_t len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (len == 0 || len > n)
        return 0;
    uint32_t cp = c & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3F);
    }
    static const uint32_t min_cp[5] = { 0, 0, 0x80, 0x800, 0x10000 };
    if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

bool kvctl_fmt_utf8_valid(const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_seq(p + i, n - i);
        if (len == 0)
            return false;
        i += len;
    }
    return true;
}

void kvctl_fmt_json_string(FILE *f, const void *data, size_t n)
{
    const unsigned char *p = data;
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        switch (c) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (c < 0x20 || c == 0x7F)
                fprintf(f, "\\u%04x", c);
            else
                fputc(c, f);
        }
    }
    fputc('"', f);
}

void kvctl_fmt_json_bytes(FILE *f, const char *field, const void *p, size_t n)
{
    if (kvctl_fmt_utf8_valid(p, n)) {
        fprintf(f, "\"%s\":", field);
        kvctl_fmt_json_string(f, p, n);
        return;
    }
    char *b64 = malloc(kvctl_fmt_base64_len(n) + 1);
    if (b64 == NULL) {
        fprintf(f, "\"%s_base64\":null", field);  /* out of memory: say so in valid JSON */
        return;
    }
    kvctl_fmt_base64_encode(p, n, b64);
    fprintf(f, "\"%s_base64\":\"%s\"", field, b64);
    free(b64);
}
