/*
 * fuzz_aae.c - libFuzzer target for the anti-entropy messages and the
 * responder that answers them.
 *
 * Input: arbitrary bytes, decoded as one aae message. Checks, beyond "no
 * crash, no sanitizer report": whatever decodes is canonical (re-encodes
 * to the same bytes, of the size aae_msg_encoded_bytes says); a decoded
 * message is then handed to a live responder (one node holding the only
 * partition of a Q = 1 ring with a peer, over an in-memory engine that
 * lives across inputs), and every reply it sends must encode and decode.
 * Seeds: tests/fuzz/corpus/aae/ (tests/fuzz/make_aae_corpus.py).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "common/buf.h"
#include "common/log.h"
#include "coordinator/aae.h"
#include "coordinator/aae_msg.h"
#include "coordinator/keyspace.h"
#include "gossip/ring.h"
#include "storage/engine.h"
#include "storage/env.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz {
    struct env *env;
    struct engine *e;
    struct ring *ring;
    struct aae *aae;
    struct kv_buf enc;
    struct aae_msg back;
    uint64_t now;
};

static struct fz fz;

static int op_send(void *ctx, const char *to, const struct aae_msg *m)
{
    kv_buf_reset(&fz.enc);
    if (aae_msg_encode(m, &fz.enc) != KV_OK || fz.enc.len != aae_msg_encoded_bytes(m) ||
        aae_msg_decode(kv_slice_make(fz.enc.data, fz.enc.len), &fz.back) != KV_OK)
        abort(); /* the responder produced a reply that is not a valid message */
    return KV_OK;
}

static const struct ring *op_ring(void *ctx) { return fz.ring; }

static int op_write(void *ctx, uint32_t partition, struct kv_slice key, struct kv_slice object)
{
    char ek[KEYSPACE_PREFIX_BYTES + 256];
    if (key.len > 256)
        return KV_ETOOBIG;
    keyspace_put_prefix(ek, KEYSPACE_DATA, partition);
    memcpy(ek + KEYSPACE_PREFIX_BYTES, key.data, key.len);
    return engine_put(fz.e, kv_slice_make(ek, KEYSPACE_PREFIX_BYTES + key.len), object);
}

static void setup(void)
{
    kv_log_set_level(KV_LOG_OFF); /* bad objects are logged by design */
    struct engine_options eo;
    engine_options_default(&eo);
    struct ring_member_spec specs[2] = { { "me", NULL }, { "peer", NULL } };
    if (env_mem_new(&fz.env) != KV_OK)
        abort();
    eo.env = fz.env;
    eo.sync = ENGINE_SYNC_NONE;
    if (engine_open("/db", &eo, &fz.e) != KV_OK || ring_create(1, 2, specs, 2, &fz.ring) != KV_OK)
        abort();
    struct aae_config c;
    aae_config_default(&c);
    c.node_id = "me";
    c.partitions = 1;
    c.engine = fz.e;
    c.ops = (struct aae_ops){ op_send, op_ring, NULL, op_write, NULL };
    c.bytes_per_sec = 0;
    c.verify_interval_ms = 0;
    if (aae_new(&c, &fz.aae) != KV_OK)
        abort();
    for (int i = 0; i < 100; i++)
        aae_tick(fz.aae, fz.now++); /* builds the (empty) tree */
    aae_msg_init(&fz.back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fz.aae)
        setup();
    /* An exact-size copy, so any overread is a heap-buffer-overflow. */
    char *copy = fuzz_input_copy(data, size);
    if (!copy)
        return 0;
    struct aae_msg m;
    aae_msg_init(&m);
    struct kv_buf b = { 0 };
    if (aae_msg_decode(kv_slice_make(copy, size), &m) == KV_OK) {
        if (aae_msg_encode(&m, &b) != KV_OK || b.len != size || memcmp(b.data, copy, size) != 0 ||
            aae_msg_encoded_bytes(&m) != size)
            abort();
        (void)aae_handle_message(fz.aae, "peer", &m, fz.now++);
    }
    kv_buf_free(&b);
    aae_msg_free(&m);
    free(copy);
    return 0;
}
