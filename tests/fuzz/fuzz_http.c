/*
 * fuzz_http.c - libFuzzer over the HTTP request-head parser
 * (node/http_head.h): the input is the bytes a client sends.
 * Invariants (abort on violation):
 *   - the result is 0 (needs more), 200, 400 or 413;
 *   - a 200 head lies inside the input, is at most HTTP_HEADER_BYTES_MAX,
 *     ends with CRLF CRLF and obeys the grammar's byte rules (every LF
 *     after a CR and every CR before an LF, no other control byte than
 *     HTAB, no DEL, no line starting with SP or HTAB); is_head implies
 *     get_or_head;
 *   - deterministic: a second parse gives the same result and head;
 *   - prefixes agree with the whole: parsing p[0, k) gives 0 or the
 *     whole's result, and the same head when that is 200 (k >= the head's
 *     length); 0 only while k < the head's length;
 *   - incremental: feeding growing prefixes (split points taken from the
 *     input) to one state ends as the one-shot parse of the prefix it
 *     stopped at.
 * Seeds: tests/fuzz/corpus/http/ (one seed is longer than
 * HTTP_HEADER_BYTES_MAX so libFuzzer's -max_len covers the 413 path).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "node/http_head.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Prefix lengths checked one-shot per input: bounds the cost per run. */
#define FUZZ_PREFIXES_MAX 16u

static int parse_once(const char *p, size_t len, struct http_head *out)
{
    struct http_head h = { 0 };
    int rc = http_head_parse(&h, p, len);
    *out = h;
    return rc;
}

static bool same_head(const struct http_head *a, const struct http_head *b)
{
    return a->line_start == b->line_start && a->get_or_head == b->get_or_head &&
           a->is_head == b->is_head && a->route == b->route;
}

static void check_head_bytes(const char *p, size_t n)
{
    if (n < 4 || n > HTTP_HEADER_BYTES_MAX || memcmp(p + n - 4, "\r\n\r\n", 4) != 0)
        abort();
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch == '\n' && (i == 0 || p[i - 1] != '\r'))
            abort();
        if (ch == '\r' && (i + 1 == n || p[i + 1] != '\n'))
            abort();
        if (ch == 0x7f || (ch < 0x20 && ch != '\t' && ch != '\r' && ch != '\n'))
            abort();
        if ((ch == ' ' || ch == '\t') && (i == 0 || p[i - 1] == '\n'))
            abort();
    }
}

/* Feeds p in growing prefixes to one state; the split points come from
 * the bytes themselves, so the same input always splits the same way. */
static void check_incremental(const char *p, size_t size)
{
    struct http_head h = { 0 };
    size_t len = 0;
    int rc = 0;
    uint32_t x = 2166136261u;
    while (rc == 0 && len < size) {
        x = (x ^ (unsigned char)p[len]) * 16777619u;
        len += 1 + (x % 97u);
        if (len > size)
            len = size;
        rc = http_head_parse(&h, p, len);
    }
    struct http_head once;
    if (parse_once(p, len, &once) != rc || (rc == 200 && !same_head(&h, &once)))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *p = fuzz_input_copy(data, size);
    if (!p)
        return 0;
    struct http_head whole, again;
    int rc = parse_once(p, size, &whole);
    if (rc != 0 && rc != 200 && rc != 400 && rc != 413)
        abort();
    if (parse_once(p, size, &again) != rc || (rc == 200 && !same_head(&whole, &again)))
        abort();
    if (rc == 200) {
        if (whole.line_start > size || (whole.is_head && !whole.get_or_head))
            abort();
        check_head_bytes(p, whole.line_start);
    }
    for (uint32_t i = 0; i < FUZZ_PREFIXES_MAX && size > 0; i++) {
        size_t k = (size_t)(((uint64_t)size * i) / FUZZ_PREFIXES_MAX);
        if (i == FUZZ_PREFIXES_MAX - 1 && rc == 200)
            k = whole.line_start - 1;   /* one byte short of the head */
        /* A copy of exactly k bytes: reading past the prefix is caught. */
        char *prefix = fuzz_input_copy(data, k);
        if (!prefix)
            break;
        struct http_head part;
        int prc = parse_once(prefix, k, &part);
        free(prefix);
        if (prc != 0 && prc != rc)
            abort();
        if (rc == 200 && (prc == 200) != (k >= whole.line_start))
            abort();
        if (prc == 200 && !same_head(&part, &whole))
            abort();
    }
    check_incremental(p, size);
    free(p);
    return 0;
}
