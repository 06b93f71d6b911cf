/*
 * kvctl_fmt.h - the text handling of kvctl: exit codes and failure lines,
 * number parsing, base64 (RFC 4648, standard alphabet, padded) and JSON
 * strings.
 * Kept apart from kvctl.c so tests/unit/test_client.c can pin each rule.
 * Like kvctl, it uses only the public SDK header.
 *
 * JSON output of bytes: a value that is valid UTF-8 is written as a JSON
 * string under its field name ("value"); anything else is written base64
 * under the field name plus "_base64" ("value_base64"), so binary data
 * survives a round trip and text stays readable.
 *
 * Threading: plain functions.
 */
#ifndef RINGKV_CLIENT_KVCTL_FMT_H
#define RINGKV_CLIENT_KVCTL_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* kvctl's exit codes; scripts rely on these numbers (kvctl --help). */
enum kvctl_exit {
    KVCTL_EXIT_OK = 0,
    KVCTL_EXIT_NOT_FOUND = 1,    /* the key has no live value */
    KVCTL_EXIT_USAGE = 2,        /* bad command line; nothing was sent */
    KVCTL_EXIT_FAILED = 3,       /* the request failed; nothing was applied */
    KVCTL_EXIT_IN_DOUBT = 4,     /* a write may or may not have been applied */
    KVCTL_EXIT_UNREACHABLE = 5,  /* no node reachable, node busy, or timed out; nothing applied */
};

/* The exit code for an RKV_* status. */
enum kvctl_exit kvctl_fmt_exit_code(int rkv_status);

/* Prints a failed request as one stderr line, "kvctl: WHAT: STATUS[: DETAIL]"
 * (DETAIL: rkv_last_error of client, which may be NULL), and returns the
 * exit code for rkv_status. */
struct rkv_client;
enum kvctl_exit kvctl_fmt_fail(const char *what, int rkv_status, struct rkv_client *client);

/* Parses a whole decimal string (no sign for u64) within [min, max]. */
bool kvctl_fmt_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
bool kvctl_fmt_parse_i64(const char *s, int64_t *out);

/* Encoded length of n bytes, without the NUL. */
static inline size_t kvctl_fmt_base64_len(size_t n) { return (n + 2) / 3 * 4; }
/* Writes kvctl_fmt_base64_len(n) characters and a NUL to dst. */
void kvctl_fmt_base64_encode(const void *src, size_t n, char *dst);
/* Decodes s (padded, no whitespace) into dst (room for strlen(s) / 4 * 3
 * bytes); *n_out = bytes written. False on any malformed input. */
bool kvctl_fmt_base64_decode(const char *s, void *dst, size_t *n_out);

/* True if p[0..n) is well-formed UTF-8 (no overlongs, no surrogates). */
bool kvctl_fmt_utf8_valid(const void *p, size_t n);

/* Writes p[0..n) (valid UTF-8) as a quoted JSON string. */
void kvctl_fmt_json_string(FILE *f, const void *p, size_t n);

/* Writes "field":"text" or "field_base64":"..." (see the top comment). */
void kvctl_fmt_json_bytes(FILE *f, const char *field, const void *p, size_t n);

#endif
