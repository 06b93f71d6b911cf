/* http_head.c - see http_head.h. */
#include "node/http_head.h"

#include <string.h>
#include <strings.h>

static bool http_tchar(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static bool http_token_is(const char *p, size_t n, const char *want)
{
    return n == strlen(want) && memcmp(p, want, n) == 0;
}

/* line: the request line without its CRLF. 0 or 400. */
static int http_parse_request_line(struct http_head *h, const char *line, size_t n)
{
    const char *end = line + n;
    const char *sp1 = memchr(line, ' ', n);
    if (!sp1 || sp1 == line || (size_t)(sp1 - line) > HTTP_METHOD_BYTES_MAX)
        return 400;
    for (const char *p = line; p < sp1; p++)
        if (!http_tchar((unsigned char)*p))
            return 400;
    const char *target = sp1 + 1;
    const char *sp2 = memchr(target, ' ', (size_t)(end - target));
    if (!sp2 || sp2 == target || *target != '/')
        return 400;
    for (const char *p = target; p < sp2; p++)
        if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
            return 400;
    const char *version = sp2 + 1;
    size_t vlen = (size_t)(end - version);
    if (!http_token_is(version, vlen, "HTTP/1.1") && !http_token_is(version, vlen, "HTTP/1.0"))
        return 400;
    size_t mlen = (size_t)(sp1 - line);
    h->is_head = http_token_is(line, mlen, "HEAD");
    h->get_or_head = h->is_head || http_token_is(line, mlen, "GET");
    const char *query = memchr(target, '?', (size_t)(sp2 - target));
    size_t plen = (size_t)((query ? query : sp2) - target);
    h->route = http_token_is(target, plen, "/health")    ? HTTP_ROUTE_HEALTH
             : http_token_is(target, plen, "/metrics")   ? HTTP_ROUTE_METRICS
                                                         : HTTP_ROUTE_NONE;
    return 0;
}

/* line: one header field without its CRLF. 0, 400 or 413 (a body). */
static int http_parse_header(const char *line, size_t n)
{
    const char *colon = memchr(line, ':', n);
    if (!colon || colon == line)
        return 400;
    for (const char *p = line; p < colon; p++)
        if (!http_tchar((unsigned char)*p))
            return 400;
    const char *v = colon + 1, *end = line + n;
    for (const char *p = v; p < end; p++)
        if ((unsigned char)*p == 0x7f || ((unsigned char)*p < 0x20 && *p != '\t'))
            return 400;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t nlen = (size_t)(colon - line);
    if (nlen == 17 && strncasecmp(line, "transfer-encoding", nlen) == 0)
        return 413;
    if (nlen == 14 && strncasecmp(line, "content-length", nlen) == 0) {
        if (v == end)
            return 400;
        bool body = false;
        for (const char *p = v; p < end; p++) {
            if (*p < '0' || *p > '9')
                return 400;
            body |= *p != '0';
        }
        if (body)
            return 413;
    }
    return 0;
}

int http_head_parse(struct http_head *h, const char *p, size_t len)
{
    for (;;) {
        const char *lf = h->scanned < len ? memchr(p + h->scanned, '\n', len - h->scanned) : NULL;
        if (!lf) {
            h->scanned = len;
            return len >= HTTP_HEADER_BYTES_MAX ? 413 : 0;
        }
        size_t next = (size_t)(lf - p) + 1;
        if (next > HTTP_HEADER_BYTES_MAX)
            return 413;
        if (next - h->line_start < 2 || lf[-1] != '\r')
            return 400;   /* bare LF */
        const char *line = p + h->line_start;
        size_t n = next - 2 - h->line_start;
        h->line_start = h->scanned = next;
        int rc;
        if (!h->have_request_line) {
            h->have_request_line = true;
            rc = http_parse_request_line(h, line, n);
        } else if (n == 0) {
            return 200;
        } else {
            rc = http_parse_header(line, n);
        }
        if (rc != 0)
            return rc;
    }
}
