/*
 * fuzz_object.c - libFuzzer target for the stored-object and DVV decoders.
 *
 * Input: arbitrary bytes, read as a stored object, as a bare DVV clock, as
 * a client context and as a register INCR reads as a number
 * (object_parse_int64). Checks, beyond "no crash, no sanitizer report":
 * whatever decodes is canonical (re-encodes to the same bytes), the
 * allocation-free expiry scan agrees with the decoded object, and merging
 * a decoded object with itself is the identity.
 * Seeds: tests/fuzz/corpus/object/.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "common/buf.h"
#include "coordinator/dvv.h"
#include "coordinator/object.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_object(struct kv_slice in)
{
    struct object o, m;
    struct kv_buf b = { 0 };
    object_init(&o);
    object_init(&m);
    if (object_decode(in, &o) == KV_OK) {
        if (object_encode(&o, &b) != KV_OK || b.len != in.len || memcmp(b.data, in.data, in.len) != 0)
            abort();
        for (uint64_t now = 0; now < 4; now++)
            if (object_is_expired(&o, now << 40) != object_encoded_is_expired(in, now << 40))
                abort();
        struct object_counter c;
        object_counter_init(&c);
        for (uint32_t i = 0; i < object_siblings(&o); i++) {
            struct object_sibling s;
            object_sibling(&o, i, &s);
            if ((s.flags & OBJECT_FLAG_COUNTER) && object_counter_merge(&c, s.payload) == KV_ECORRUPT)
                abort(); /* decode checked every counter payload */
        }
        int64_t v;
        (void)object_counter_value(&c, &v);
        object_counter_free(&c);
        kv_buf_reset(&b);
        if (object_merge(&o, &o, DVV_VALUES_MAX, &m) != KV_OK || object_encode(&m, &b) != KV_OK ||
            b.len != in.len || memcmp(b.data, in.data, in.len) != 0)
            abort();
    } else if (object_encoded_is_expired(in, UINT64_MAX)) {
        abort(); /* the filter must never drop what does not decode */
    }
    kv_buf_free(&b);
    object_free(&o);
    object_free(&m);
}

static void check_clock(struct kv_slice in)
{
    struct dvv d, j;
    struct kv_buf b = { 0 };
    dvv_init(&d);
    dvv_init(&j);
    if (dvv_decode(in, &d) == KV_OK) {
        if (dvv_encode(&d, &b) != KV_OK || b.len != in.len || memcmp(b.data, in.data, in.len) != 0)
            abort();
        if (dvv_join(&d, &j) != KV_OK || !dvv_equal(&d, &d) || !dvv_descends(&d, &j))
            abort();
    }
    kv_buf_reset(&b);
    if (dvv_context_decode(in, &d) == KV_OK) {
        if (dvv_context_encode(&d, &b) != KV_OK || b.len != in.len || memcmp(b.data, in.data, in.len) != 0)
            abort();
    }
    kv_buf_free(&b);
    dvv_free(&d);
    dvv_free(&j);
}

/* A number INCR accepts prints back as the same bytes (one canonical form). */
static void check_int(struct kv_slice in)
{
    int64_t v;
    char s[32];
    if (object_parse_int64(in, &v) == KV_OK &&
        ((size_t)snprintf(s, sizeof s, "%" PRId64, v) != in.len || memcmp(s, in.data, in.len) != 0))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, so any overread is a heap-buffer-overflow. */
    char *copy = fuzz_input_copy(data, size);
    if (!copy)
        return 0;
    struct kv_slice in = kv_slice_make(copy, size);
    check_object(in);
    check_clock(in);
    check_int(in);
    if (size > 0)
        check_clock(kv_slice_make(copy + 1, size - 1)); /* the clock inside an object */
    free(copy);
    return 0;
}
