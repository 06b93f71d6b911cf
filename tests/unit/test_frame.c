/* test_frame.c - the frame codec: splitting, limits, malformed input. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "common/buf.h"
#include "common/coding.h"
#include "common/limits.h"
#include "rpc/frame.h"

/* Packs a ping envelope whose body packs to exactly body_bytes (>= 4). */
static void make_ping_frame(uint64_t id, size_t body_bytes, struct kv_buf *out)
{
    Ringkv__Envelope env = RINGKV__ENVELOPE__INIT;
    Ringkv__Ping ping = RINGKV__PING__INIT;
    env.request_id = id;
    env.body_case = RINGKV__ENVELOPE__BODY_PING;
    env.ping = &ping;
    static char payload[1 << 20];
    memset(payload, 'p', sizeof payload);
    ping.payload.data = (uint8_t *)payload;
    /* The varint length prefixes grow with the payload: search the exact size. */
    size_t plen = 0;
    for (size_t guess = body_bytes; guess-- > 0;) {
        ping.payload.len = guess;
        if (ringkv__envelope__get_packed_size(&env) == body_bytes) {
            plen = guess;
            break;
        }
    }
    ping.payload.len = plen;
    ck_assert_uint_eq(ringkv__envelope__get_packed_size(&env), body_bytes);
    kv_buf_reset(out);
    ck_assert_int_eq(rpc_frame_encode(&env, (uint32_t)body_bytes, out), KV_OK);
}

/* Feeds all of data in pieces of `piece` bytes; returns the number of frames seen. */
static int feed_all(struct rpc_frame_decoder *d, const char *data, size_t len, size_t piece,
                    uint64_t *ids, int *rc_out)
{
    int frames = 0;
    size_t off = 0;
    *rc_out = KV_OK;
    while (off < len) {
        size_t n = len - off < piece ? len - off : piece;
        size_t done = 0;
        while (done < n) {
            size_t used = 0;
            struct kv_slice f;
            int rc = rpc_frame_decoder_feed(d, data + off + done, n - done, &used, &f);
            if (rc != KV_OK) {
                *rc_out = rc;
                return frames;
            }
            done += used;
            if (f.data != NULL) {
                Ringkv__Envelope *env = NULL;
                ck_assert_int_eq(rpc_envelope_decode(f, &env), KV_OK);
                if (ids)
                    ids[frames] = env->request_id;
                frames++;
                rpc_envelope_free(env);
            }
        }
        off += n;
    }
    return frames;
}

START_TEST(documented_example_encodes_byte_for_byte)
{
    Ringkv__Envelope env = RINGKV__ENVELOPE__INIT;
    Ringkv__Get get = RINGKV__GET__INIT;
    get.key.data = (uint8_t *)"k";
    get.key.len = 1;
    env.request_id = 7;
    env.body_case = RINGKV__ENVELOPE__BODY_GET;
    env.get = &get;
    struct kv_buf b = { 0 };
    ck_assert_int_eq(rpc_frame_encode(&env, 0, &b), KV_OK);
    static const unsigned char want[] = { 0x00, 0x00, 0x00, 0x07, 0x08, 0x07, 0x32,
                                          0x03, 0x0a, 0x01, 0x6b };
    ck_assert_uint_eq(b.len, sizeof want);
    ck_assert_mem_eq(b.data, want, sizeof want);
    kv_buf_free(&b);
}
END_TEST

START_TEST(whole_frame_decodes_in_place)
{
    struct kv_buf b = { 0 };
    make_ping_frame(42, 100, &b);
    struct rpc_frame_decoder d;
    rpc_frame_decoder_init(&d, 0);
    size_t used = 0;
    struct kv_slice f;
    ck_assert_int_eq(rpc_frame_decoder_feed(&d, b.data, b.len, &used, &f), KV_OK);
    ck_assert_uint_eq(used, b.len);
    ck_assert_ptr_eq(f.data, b.data + RPC_FRAME_HEADER_BYTES); /* no copy */
    ck_assert_uint_eq(f.len, 100);
    ck_assert_uint_eq(rpc_frame_decoder_memory_bytes(&d), 0);
    ck_assert(!rpc_frame_decoder_in_frame(&d));
    Ringkv__Envelope *env = NULL;
    ck_assert_int_eq(rpc_envelope_decode(f, &env), KV_OK);
    ck_assert_uint_eq(env->request_id, 42);
    ck_assert_int_eq(env->body_case, RINGKV__ENVELOPE__BODY_PING);
    rpc_envelope_free(env);
    rpc_frame_decoder_free(&d);
    kv_buf_free(&b);
}
END_TEST

START_TEST(byte_by_byte_feeding_yields_each_frame_once)
{
    struct kv_buf all = { 0 }, one = { 0 };
    for (uint64_t id = 1; id <= 3; id++) {
        make_ping_frame(id, 10 + id * 50, &one);
        ck_assert_int_eq(kv_buf_append(&all, one.data, one.len), KV_OK);
    }
    struct rpc_frame_decoder d;
    rpc_frame_decoder_init(&d, 0);
    uint64_t ids[3] = { 0 };
    int rc;
    ck_assert_int_eq(feed_all(&d, all.data, all.len, 1, ids, &rc), 3);
    ck_assert_int_eq(rc, KV_OK);
    ck_assert_uint_eq(ids[0], 1);
    ck_assert_uint_eq(ids[1], 2);
    ck_assert_uint_eq(ids[2], 3);
    ck_assert(!rpc_frame_decoder_in_frame(&d));
    rpc_frame_decoder_free(&d);
    kv_buf_free(&all);
    kv_buf_free(&one);
}
END_TEST

START_TEST(two_frames_in_one_read_come_out_one_at_a_time)
{
    struct kv_buf all = { 0 }, one = { 0 };
    make_ping_frame(5, 20, &one);
    ck_assert_int_eq(kv_buf_append(&all, one.data, one.len), KV_OK);
    make_ping_frame(6, 30, &one);
    ck_assert_int_eq(kv_buf_append(&all, one.data, one.len), KV_OK);
    ck_assert_int_eq(kv_buf_append(&all, "\0\0", 2), KV_OK); /* half of a third header */
    struct rpc_frame_decoder d;
    rpc_frame_decoder_init(&d, 0);
    size_t used = 0;
    struct kv_slice f;
    ck_assert_int_eq(rpc_frame_decoder_feed(&d, all.data, all.len, &used, &f), KV_OK);
    ck_assert_uint_eq(used, 24);
    ck_assert_uint_eq(f.len, 20);
    size_t off = used;
    ck_assert_int_eq(rpc_frame_decoder_feed(&d, all.data + off, all.len - off, &used, &f), KV_OK);
    ck_assert_uint_eq(used, 34);
    ck_assert_uint_eq(f.len, 30);
    off += used;
    ck_assert_int_eq(rpc_frame_decoder_feed(&d, all.data + off, all.len - off, &used, &f), KV_OK);
    ck_assert_uint_eq(used, 2);
    ck_assert_ptr_null(f.data);
    ck_assert(rpc_frame_decoder_in_frame(&d));
    rpc_frame_decoder_free(&d);
    kv_buf_free(&all);
    kv_buf_free(&one);
}
END_TEST

START_TEST(four_gib_length_is_rejected_without_allocating)
{
    struct rpc_frame_decoder d;
    rpc_frame_decoder_init(&d, 0);
    static const char hdr[] = { (char)0xff, (char)0xff, (char)0xff, (char)0xff, 'x', 'y' };
    size_t used = 0;
    struct kv_slice f;
    ck_assert_int_eq(rpc_frame_decoder_feed(&d, hdr, sizeof hdr, &used, &f), KV_ETOOBIG);
    ck_assert_uint_eq(rpc_frame_decoder_memory_bytes(&d), 0);
    /* The error is sticky: the stream cannot be resynchronised. */
    ck_assert_int_eq(rpc_frame_decoder_feed(&d, "\0\0\0\1\1", 5, &used, &f), KV_ETOOBIG);
    ck_assert(!rpc_frame_decoder_in_frame(&d));
    rpc_frame_decoder_free(&d);
}
END_TEST

START_TEST(zero_length_is_a_protocol_error)
{
    struct rpc_frame_decoder d;
    rpc_frame_decoder_init(&d, 0);
    size_t used = 0;
    struct kv_slice f;
    ck_assert_int_eq(rpc_frame_decoder_feed(&d, "\0\0\0\0", 4, &used, &f), KV_EPROTO);
    rpc_frame_decoder_free(&d);
}
END_TEST

START_TEST(limit_accepts_max_minus_one_and_max_rejects_max_plus_one)
{
    const uint32_t max = 1000;
    struct kv_buf b = { 0 };
    for (uint32_t n = max - 1; n <= max; n++) {
        make_ping_frame(n, n, &b);
        struct rpc_frame_decoder d;
        rpc_frame_decoder_init(&d, max);
        uint64_t id = 0;
        int rc;
        /* Split in two so the body is reassembled, not handed out in place. */
        ck_assert_int_eq(feed_all(&d, b.data, b.len, b.len / 2 + 1, &id, &rc), 1);
        ck_assert_int_eq(rc, KV_OK);
        ck_assert_uint_eq(id, n);
        rpc_frame_decoder_free(&d);
    }
    make_ping_frame(max + 1, max + 1, &b);
    struct rpc_frame_decoder d;
    rpc_frame_decoder_init(&d, max);
    int rc;
    ck_assert_int_eq(feed_all(&d, b.data, b.len, 1, NULL, &rc), 0);
    ck_assert_int_eq(rc, KV_ETOOBIG);
    ck_assert_uint_eq(rpc_frame_decoder_memory_bytes(&d), 0);
    rpc_frame_decoder_free(&d);
    kv_buf_free(&b);
}
END_TEST

START_TEST(encoder_refuses_envelope_over_limit_and_empty_envelope)
{
    struct kv_buf b = { 0 };
    make_ping_frame(1, 501, &b);
    Ringkv__Envelope *env = NULL;
    ck_assert_int_eq(rpc_envelope_decode(kv_slice_make(b.data + 4, b.len - 4), &env), KV_OK);
    kv_buf_reset(&b);
    ck_assert_int_eq(rpc_frame_encode(env, 500, &b), KV_ETOOBIG);
    ck_assert_uint_eq(b.len, 0);
    struct evbuffer *eb = evbuffer_new();
    ck_assert_int_eq(rpc_frame_encode_evbuffer(env, 500, eb), KV_ETOOBIG);
    ck_assert_int_eq(rpc_frame_encode_evbuffer(env, 501, eb), KV_OK);
    ck_assert_uint_eq(evbuffer_get_length(eb), 505);
    unsigned char *p = evbuffer_pullup(eb, -1);
    ck_assert_uint_eq(kv_get_be32((const char *)p), 501);
    Ringkv__Envelope empty = RINGKV__ENVELOPE__INIT;
    ck_assert_int_eq(rpc_frame_encode(&empty, 0, &b), KV_EINVAL);
    evbuffer_free(eb);
    rpc_envelope_free(env);
    kv_buf_free(&b);
}
END_TEST

START_TEST(garbage_body_is_a_protocol_error)
{
    /* 0x07 is wire type 7, which does not exist; 0x0a 0x7f claims 127 bytes that are absent. */
    static const char bad1[] = { 0x0f, 0x01, 0x02 };
    static const char bad2[] = { 0x0a, 0x7f, 0x01 };
    static const char bad3[] = { (char)0xff, (char)0xff, (char)0xff, (char)0xff, (char)0xff,
                                 (char)0xff, (char)0xff, (char)0xff, (char)0xff, (char)0xff,
                                 (char)0xff };
    Ringkv__Envelope *env = NULL;
    ck_assert_int_eq(rpc_envelope_decode(kv_slice_make(bad1, sizeof bad1), &env), KV_EPROTO);
    ck_assert_int_eq(rpc_envelope_decode(kv_slice_make(bad2, sizeof bad2), &env), KV_EPROTO);
    ck_assert_int_eq(rpc_envelope_decode(kv_slice_make(bad3, sizeof bad3), &env), KV_EPROTO);
    ck_assert_ptr_null(env);
}
END_TEST

START_TEST(large_reassembly_buffer_is_released_after_use)
{
    struct kv_buf b = { 0 };
    make_ping_frame(9, RPC_FRAME_KEEP_BYTES_MAX + 100, &b);
    struct rpc_frame_decoder d;
    rpc_frame_decoder_init(&d, 0);
    int rc;
    ck_assert_int_eq(feed_all(&d, b.data, b.len, 4096, NULL, &rc), 1);
    ck_assert_int_eq(rc, KV_OK);
    ck_assert_uint_gt(rpc_frame_decoder_memory_bytes(&d), RPC_FRAME_KEEP_BYTES_MAX);
    size_t used;
    struct kv_slice f;
    ck_assert_int_eq(rpc_frame_decoder_feed(&d, "\0", 1, &used, &f), KV_OK);
    ck_assert_uint_eq(rpc_frame_decoder_memory_bytes(&d), 0);
    rpc_frame_decoder_free(&d);
    kv_buf_free(&b);
}
END_TEST

/*
 * Regression (fuzz_frame): protobuf-c rejects field number 0 only in a
 * one-byte tag; as the overlong tag 80 00 it was kept as an unknown field,
 * re-encoded as 00 and the re-encoded envelope no longer decoded. Each
 * body below is Envelope { request_id: 3 } plus one unknown field with an
 * invalid number, at top level or nested.
 */
START_TEST(overlong_tag_of_field_number_zero_is_a_protocol_error)
{
    /* top level: 80 00 = field 0, varint; value 00 */
    static const char top[] = { 0x08, 0x03, (char)0x80, 0x00, 0x00 };
    /* inside a oneof member: cluster (a2 06) { replica_get (0a) { 80 80 00 00 } } */
    static const char nested[] = { 0x08, 0x03, (char)0xa2, 0x06, 0x06, 0x0a, 0x04,
                                   (char)0x80, (char)0x80, 0x00, 0x00 };
    /* in the 2nd element of a repeated message: batch_put (92 01) { puts {}, puts { 80 00 00 } } */
    static const char repeated[] = { 0x08, 0x03, (char)0x92, 0x01, 0x07, 0x0a, 0x00, 0x0a, 0x03,
                                     (char)0x80, 0x00, 0x00 };
    /* field number 2^29 (tag 2^32 needs a 5-byte varint: 80 80 80 80 10), one past the maximum */
    static const char too_big[] = { 0x08, 0x03, (char)0x80, (char)0x80, (char)0x80, (char)0x80,
                                    0x10, 0x00 };
    Ringkv__Envelope *env = NULL;
    ck_assert_int_eq(rpc_envelope_decode(kv_slice_make(top, sizeof top), &env), KV_EPROTO);
    ck_assert_int_eq(rpc_envelope_decode(kv_slice_make(nested, sizeof nested), &env), KV_EPROTO);
    ck_assert_int_eq(rpc_envelope_decode(kv_slice_make(repeated, sizeof repeated), &env), KV_EPROTO);
    ck_assert_int_eq(rpc_envelope_decode(kv_slice_make(too_big, sizeof too_big), &env), KV_EPROTO);
    ck_assert_ptr_null(env);
}
END_TEST

/* The other side of that fix: unknown fields with valid numbers still decode and round-trip. */
START_TEST(unknown_fields_with_valid_numbers_are_kept_and_reencode)
{
    /*
     * field 2^29 - 1 (tag f8 ff ff ff 0f) inside replica_get, then field 15
     * varint 1 at top level (last, where protobuf-c packs unknown fields)
     */
    static const char body[] = { 0x08, 0x03, (char)0xa2, 0x06, 0x0a, 0x0a, 0x08, 0x08, 0x05,
                                 (char)0xf8, (char)0xff, (char)0xff, (char)0xff, 0x0f, 0x00,
                                 0x78, 0x01 };
    Ringkv__Envelope *env = NULL;
    ck_assert_int_eq(rpc_envelope_decode(kv_slice_make(body, sizeof body), &env), KV_OK);
    ck_assert_uint_eq(env->request_id, 3);
    ck_assert_int_eq(env->body_case, RINGKV__ENVELOPE__BODY_CLUSTER);
    ck_assert_uint_eq(env->cluster->replica_get->partition, 5);
    struct kv_buf b = { 0 };
    ck_assert_int_eq(rpc_frame_encode(env, 0, &b), KV_OK);
    ck_assert_uint_eq(b.len, RPC_FRAME_HEADER_BYTES + sizeof body);
    ck_assert_mem_eq(b.data + RPC_FRAME_HEADER_BYTES, body, sizeof body);
    rpc_envelope_free(env);
    kv_buf_free(&b);
}
END_TEST

/* Many small sub-messages need more struct memory than the decode block
 * holds (frame.c's arena): the overflow allocations must carry every
 * field intact and be freed with the envelope (ASan checks the latter). */
START_TEST(many_sub_messages_decode_past_the_arena_block)
{
    enum { N = 3000 };
    Ringkv__Envelope env = RINGKV__ENVELOPE__INIT;
    Ringkv__BatchPut bp = RINGKV__BATCH_PUT__INIT;
    static Ringkv__Put puts[N];
    static Ringkv__Put *ptrs[N];
    static char keys[N][8];
    for (int i = 0; i < N; i++) {
        ringkv__put__init(&puts[i]);
        snprintf(keys[i], sizeof keys[i], "k%05d", i);
        puts[i].key.data = (uint8_t *)keys[i];
        puts[i].key.len = strlen(keys[i]);
        puts[i].ttl_ms = (uint64_t)i;
        ptrs[i] = &puts[i];
    }
    bp.n_puts = N;
    bp.puts = ptrs;
    env.request_id = 7;
    env.body_case = RINGKV__ENVELOPE__BODY_BATCH_PUT;
    env.batch_put = &bp;
    struct kv_buf b = { 0 };
    ck_assert_int_eq(rpc_frame_encode(&env, 0, &b), KV_OK);
    Ringkv__Envelope *got = NULL;
    struct kv_slice body = kv_slice_make(b.data + RPC_FRAME_HEADER_BYTES, b.len - RPC_FRAME_HEADER_BYTES);
    ck_assert_int_eq(rpc_envelope_decode(body, &got), KV_OK);
    ck_assert_uint_eq(got->request_id, 7);
    ck_assert_int_eq(got->body_case, RINGKV__ENVELOPE__BODY_BATCH_PUT);
    ck_assert_uint_eq(got->batch_put->n_puts, N);
    for (int i = 0; i < N; i++) {
        ck_assert_uint_eq(got->batch_put->puts[i]->key.len, strlen(keys[i]));
        ck_assert_mem_eq(got->batch_put->puts[i]->key.data, keys[i], strlen(keys[i]));
        ck_assert_uint_eq(got->batch_put->puts[i]->ttl_ms, (uint64_t)i);
    }
    rpc_envelope_free(got);
    kv_buf_free(&b);
}
END_TEST

static Suite *frame_suite(void)
{
    Suite *s = suite_create("frame");
    TCase *tc = tcase_create("codec");
    tcase_add_test(tc, documented_example_encodes_byte_for_byte);
    tcase_add_test(tc, whole_frame_decodes_in_place);
    tcase_add_test(tc, byte_by_byte_feeding_yields_each_frame_once);
    tcase_add_test(tc, two_frames_in_one_read_come_out_one_at_a_time);
    tcase_add_test(tc, four_gib_length_is_rejected_without_allocating);
    tcase_add_test(tc, zero_length_is_a_protocol_error);
    tcase_add_test(tc, limit_accepts_max_minus_one_and_max_rejects_max_plus_one);
    tcase_add_test(tc, encoder_refuses_envelope_over_limit_and_empty_envelope);
    tcase_add_test(tc, garbage_body_is_a_protocol_error);
    tcase_add_test(tc, large_reassembly_buffer_is_released_after_use);
    tcase_add_test(tc, overlong_tag_of_field_number_zero_is_a_protocol_error);
    tcase_add_test(tc, unknown_fields_with_valid_numbers_are_kept_and_reencode);
    tcase_add_test(tc, many_sub_messages_decode_past_the_arena_block);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(frame_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
