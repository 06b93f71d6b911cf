/*
 * http_head.h - the request-head parser of kvnode's HTTP listener
 * (node/http.c): bytes in, a parsed head or the HTTP status to refuse it
 * with out. Pure: no I/O, no allocation, no libevent; the fuzz target
 * tests/fuzz/fuzz_http.c and tests/unit/test_http_head.c call it directly.
 *
 * Request grammar, a strict subset of RFC 9112 (anything else is 400):
 *
 *   head         = request-line *( header-field CRLF ) CRLF
 *   request-line = method SP target SP version CRLF
 *   method       = 1*16tchar                (case-sensitive)
 *   target       = "/" *( %x21-7E )         (origin-form; a "?query" is ignored)
 *   version      = "HTTP/1.0" / "HTTP/1.1"
 *   header-field = 1*tchar ":" *( HTAB / SP / %x21-7E / %x80-FF )
 *   tchar        = ALPHA / DIGIT / "!" / "#" / "$" / "%" / "&" / "'" / "*"
 *                / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~"
 *
 * No bare LF, no empty line before the request line, no folded header
 * lines (a line starting with SP or HTAB), no space before the colon.
 * Host is not required. A head announcing a body (Content-Length other
 * than 0, or any Transfer-Encoding) gets 413; a Content-Length that is
 * not 1*DIGIT gets 400. The head (request line + headers + the empty
 * line, CRLFs included) is at most HTTP_HEADER_BYTES_MAX (node/http.h)
 * bytes; longer: 413.
 *
 * Cost: each byte is searched for LF once across calls; each complete
 * line is checked once. Threading: none; the state is the caller's.
 */
#ifndef RINGKV_NODE_HTTP_HEAD_H
#define RINGKV_NODE_HTTP_HEAD_H

#include <stdbool.h>
#include <stddef.h>

#include "node/http.h"

/* Longest method token. */
#define HTTP_METHOD_BYTES_MAX 16u

/* The path of the target, before any "?query". */
enum http_route { HTTP_ROUTE_NONE, HTTP_ROUTE_HEALTH, HTTP_ROUTE_METRICS };

/* Parse state of one request head; offsets index the caller's input.
 * Zero it (= { 0 }) before the first call. Once http_head_parse has
 * returned 200, line_start is the length of the head (its final CRLF
 * included) and route, get_or_head, is_head describe the request line. */
struct http_head {
    size_t line_start;        /* first byte of the line not yet complete */
    size_t scanned;           /* bytes already searched for LF */
    bool have_request_line;
    bool get_or_head, is_head;
    enum http_route route;
};

/* Goes on parsing the head at the start of p[0, len), which grew since the
 * last call (the same bytes, more of them). Reads only p[0, len) and keeps
 * no pointer to it. 0 while more bytes are needed; 200 once a well-formed
 * head ended; else the status to answer (400, 413). After a nonzero result
 * h is spent: do not call again with it. */
int http_head_parse(struct http_head *h, const char *p, size_t len);

#endif
