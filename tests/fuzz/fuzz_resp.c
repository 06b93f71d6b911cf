/*
 * fuzz_resp.c - libFuzzer over the RESP request parser (node/resp.h).
 *
 * Input: byte 0 picks the piece size (1..256 bytes) the stream is fed in;
 * the rest is what a client would send. The stream is parsed twice: whole,
 * and piece by piece with the unconsumed bytes moved to a new allocation
 * before every call (as a real input buffer may move them). Invariants
 * (abort on violation): each command consumes 1..len bytes; its arguments
 * lie inside the bytes given and respect the limits; an error is sticky;
 * and both runs produce the same commands and end in the same state.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "node/resp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct resp_limits limits = {
    .args_max = 16, .bulk_bytes_max = 64, .inline_bytes_max = 128, .command_bytes_max = 512,
};

/* Checks one parsed command and appends it to the transcript. */
static void record(struct kv_buf *t, const char *buf, size_t len, long n, const struct resp_command *c)
{
    if (n <= 0 || (size_t)n > len || c->argc > limits.args_max)
        abort();
    if (kv_buf_append_varint(t, c->argc) != KV_OK)
        abort();
    for (uint32_t i = 0; i < c->argc; i++) {
        struct kv_slice a = c->argv[i];
        if (a.data < buf || a.data + a.len > buf + n || a.len > limits.inline_bytes_max + limits.bulk_bytes_max)
            abort();
        if (kv_buf_append_varint(t, a.len) != KV_OK || kv_buf_append(t, a.data, a.len) != KV_OK)
            abort();
    }
}

/* Parses `stream` fed `piece` bytes at a time; returns the final status. */
static long parse_all(const char *stream, size_t size, size_t piece, struct kv_buf *t)
{
    struct resp_parser p;
    resp_parser_init(&p, &limits);
    char *buf = NULL;
    size_t have = 0, fed = 0;
    long r = 0;
    while (fed < size || r > 0) {
        if (r == 0) { /* need more: add a piece, moving the pending bytes */
            size_t n = size - fed < piece ? size - fed : piece;
            char *nb = malloc(have + n + 1);
            if (!nb)
                abort();
            if (have)
                memcpy(nb, buf, have);
            memcpy(nb + have, stream + fed, n);
            free(buf);
            buf = nb;
            have += n;
            fed += n;
        }
        struct resp_command c;
        r = resp_parse(&p, buf, have, &c);
        if (r < 0) {
            struct resp_command c2;
            if (resp_parse(&p, "PING\r\n", 6, &c2) != r) /* sticky */
                abort();
            break;
        }
        if (r > 0) {
            record(t, buf, have, r, &c);
            memmove(buf, buf + r, have - (size_t)r);
            have -= (size_t)r;
        }
    }
    free(buf);
    resp_parser_free(&p);
    return r < 0 ? r : (have ? 1 : 0); /* error, incomplete tail, or clean end */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t piece = 1u + data[0];
    struct kv_buf whole = { 0 }, pieces = { 0 };
    long a = parse_all((const char *)data + 1, size - 1, size, &whole);
    long b = parse_all((const char *)data + 1, size - 1, piece, &pieces);
    if (a != b || whole.len != pieces.len || (whole.len && memcmp(whole.data, pieces.data, whole.len)))
        abort();
    kv_buf_free(&whole);
    kv_buf_free(&pieces);
    return 0;
}
