/*
 * resp.h - a sans-I/O RESP2 (Redis protocol) request parser and reply encoder.
 *
 * Requests come in two shapes:
 *   multibulk:  "*<argc>\r\n" then argc times "$<len>\r\n<len bytes>\r\n"
 *   inline:     one line of space/tab separated words ending in "\n" or "\r\n"
 *               (a first byte other than '*' selects the inline shape; no
 *               quoting: an inline word is a maximal run of non-blank bytes).
 *
 * The parser is incremental and resumable: the caller hands it the bytes
 * not yet consumed, again and again as more arrive. Between calls the
 * bytes already seen must be passed again unchanged (they may move in
 * memory: the parser keeps offsets, not pointers), so each byte is scanned
 * once however the input is split. One complete command yields argv
 * slices that point into the caller's bytes; they stay valid until the
 * caller drops or moves those bytes.
 *
 * Limits (struct resp_limits) are checked as soon as a length is read,
 * before the bytes arrive: a bulk length over bulk_bytes_max, an argc over
 * args_max, a command over command_bytes_max or an inline line over
 * inline_bytes_max is a protocol error, as are non-numeric or negative
 * lengths and a bulk not followed by "\r\n". After an error the parser
 * stays failed; the server answers "-ERR Protocol error: <msg>" and closes.
 *
 * The encoder appends RESP2 replies to a struct resp_writer. Its functions
 * cannot fail one by one: an allocation failure marks the writer failed
 * (sticky, like ferror) and the caller checks resp_writer_failed once per
 * batch of replies.
 *
 * Threading: one parser and one writer per connection; no shared state.
 */
#ifndef RINGKV_NODE_RESP_H
#define RINGKV_NODE_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/slice.h"
#include "common/status.h"

/* "*" or "$", a sign, at most 19 digits (INT64_MAX), "\r\n": a longer header is an error. */
#define RESP_HEADER_BYTES_MAX (1 + 1 + 19 + 2)
#define RESP_ERROR_BYTES_MAX 128

struct resp_limits {
    uint32_t args_max;         /* arguments per command, command name included */
    size_t bulk_bytes_max;     /* one multibulk argument */
    size_t inline_bytes_max;   /* one inline line, newline included */
    size_t command_bytes_max;  /* one whole command as sent; at most UINT32_MAX */
};

/* One argument's place inside the pending command (offsets from its first byte). */
struct resp_arg_ref {
    uint32_t off;
    uint32_t len;
};

/* Parser state; fields are private to resp.c. Zero-size until the first
 * command; grows its argument arrays up to limits.args_max and reuses them. */
struct resp_parser {
    struct resp_limits limits;
    size_t pos;              /* bytes of the pending command already parsed */
    int64_t args_expected;   /* argc of the pending multibulk; -1: not started */
    int64_t bulk_len;        /* length of the bulk being read; -1: expect a "$" header */
    uint32_t argc;           /* arguments of the pending command parsed so far */
    uint32_t cap;            /* capacity of refs and argv */
    struct resp_arg_ref *refs;
    struct kv_slice *argv;
    bool failed;
    char error[RESP_ERROR_BYTES_MAX];
};

/* A complete command: argv[0] is the command name. argc may be 0 for an
 * empty inline line or "*0\r\n", which the caller simply skips. */
struct resp_command {
    uint32_t argc;
    const struct kv_slice *argv;  /* owned by the parser; valid until the next resp_parse */
};

void resp_parser_init(struct resp_parser *p, const struct resp_limits *limits);
void resp_parser_free(struct resp_parser *p);

/*
 * Parses at most one command from data[0, len), which starts with the
 * first byte not yet consumed. Returns:
 *   > 0         a command is complete: *out is filled and the return value
 *               is the number of bytes it took (drop them before the next call);
 *   0           the command is not complete yet: call again with more bytes;
 *   KV_EPROTO   the input broke the protocol or a limit; resp_parser_error
 *               says why. Every later call returns KV_EPROTO too;
 *   KV_ENOMEM   growing the argument arrays failed.
 * `len` must not be smaller than in the previous call for the same command.
 */
long resp_parse(struct resp_parser *p, const char *data, size_t len, struct resp_command *out) KV_MUST_USE;

/* Bytes of the pending command still known to be missing (at least 1 when
 * resp_parse returned 0), so a caller can wait for them before calling again. */
size_t resp_parser_bytes_wanted(const struct resp_parser *p, size_t len);

/* The reason of the last KV_EPROTO, e.g. "invalid bulk length". */
const char *resp_parser_error(const struct resp_parser *p);

/* Reply encoder over a growable buffer; see the sticky-failure rule above. */
struct resp_writer {
    struct kv_buf buf;
    bool failed;
};

void resp_put_simple(struct resp_writer *w, const char *s);          /* +s\r\n; s without CR/LF */
void resp_put_error(struct resp_writer *w, const char *msg);         /* -msg\r\n ("ERR ...") */
void resp_put_errorf(struct resp_writer *w, const char *fmt, ...)    /* -<formatted>\r\n */
    __attribute__((format(printf, 2, 3)));
void resp_put_int(struct resp_writer *w, int64_t v);                 /* :v\r\n */
void resp_put_bulk(struct resp_writer *w, const void *data, size_t n); /* $n\r\n<data>\r\n */
void resp_put_null(struct resp_writer *w);                           /* $-1\r\n */
void resp_put_array(struct resp_writer *w, size_t n);                /* *n\r\n, then n replies */
static inline bool resp_writer_failed(const struct resp_writer *w) { return w->failed; }
static inline void resp_writer_reset(struct resp_writer *w) { kv_buf_reset(&w->buf); w->failed = false; }
static inline void resp_writer_free(struct resp_writer *w) { kv_buf_free(&w->buf); w->failed = false; }

#endif
