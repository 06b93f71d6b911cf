/*
 * fuzz_frame.c - libFuzzer over the frame decoder and envelope decoding.
 *
 * Input: byte 0 picks the frame limit (16 + 64 * b bytes, so that both
 * sides of the limit are reachable), byte 1 the piece size the stream is
 * fed in (1..256 bytes, exercising reassembly); the rest is the byte
 * stream a peer would send. Invariants checked (abort on violation):
 * frames are 1..limit bytes; the decoder never holds more than one frame;
 * an error is sticky; every decodable envelope re-encodes into a frame
 * that decodes again to the same packed size.
 */
#include <stdint.h>
#include <stdlib.h>

#include "common/buf.h"
#include "common/status.h"
#include "rpc/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_round_trip(const Ringkv__Envelope *env, uint32_t limit)
{
    struct kv_buf b = { 0 };
    int rc = rpc_frame_encode(env, limit, &b);
    if (rc == KV_EINVAL || rc == KV_ETOOBIG) {  /* an empty envelope; re-encoding may be longer */
        kv_buf_free(&b);
        return;
    }
    if (rc != KV_OK)
        abort();
    Ringkv__Envelope *again = NULL;
    if (rpc_envelope_decode(kv_slice_make(b.data + RPC_FRAME_HEADER_BYTES,
                                          b.len - RPC_FRAME_HEADER_BYTES), &again) != KV_OK)
        abort();
    if (ringkv__envelope__get_packed_size(again) != b.len - RPC_FRAME_HEADER_BYTES)
        abort();
    rpc_envelope_free(again);
    kv_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint32_t limit = 16u + 64u * data[0];
    size_t piece = 1u + data[1];
    const char *p = (const char *)data + 2;
    size_t left = size - 2;
    struct rpc_frame_decoder d;
    rpc_frame_decoder_init(&d, limit);
    while (left > 0) {
        size_t n = left < piece ? left : piece;
        size_t off = 0;
        while (off < n) {
            size_t used = 0;
            struct kv_slice f;
            int rc = rpc_frame_decoder_feed(&d, p + off, n - off, &used, &f);
            if (rc != KV_OK) {
                size_t used2 = 0;
                if (rpc_frame_decoder_feed(&d, p, 1, &used2, &f) != rc ||
                    rpc_frame_decoder_memory_bytes(&d) != 0)
                    abort();
                goto done;
            }
            if (used == 0 || used > n - off || rpc_frame_decoder_memory_bytes(&d) > limit)
                abort();
            off += used;
            if (f.data == NULL)
                continue;
            if (f.len == 0 || f.len > limit)
                abort();
            Ringkv__Envelope *env = NULL;
            if (rpc_envelope_decode(f, &env) == KV_OK) {
                check_round_trip(env, limit);
                rpc_envelope_free(env);
            }
        }
        p += n;
        left -= n;
    }
done:
    rpc_frame_decoder_free(&d);
    return 0;
}
