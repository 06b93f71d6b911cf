/*
 * fuzz_gossip.c - libFuzzer over the gossip message and ring decoders.
 *
 * Byte 0 chooses the decoder (even: gossip message, odd: ring state); the
 * rest is the input. Invariants (abort on violation): whatever decodes
 * re-encodes, and the re-encoding decodes again to an equal value
 * (same bytes for messages, ring_equal for rings). Every address a
 * decoded message carries also goes through rpc_addr_split, as
 * node/gossip_net.c splits it before sending there.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "gossip/codec.h"
#include "gossip/ring.h"
#include "rpc/addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_addr(struct kv_slice a)
{
    char s[GOSSIP_ADDR_BYTES_MAX + 1], host[RPC_ADDR_HOST_BYTES_MAX];
    uint16_t port;
    if (a.len > GOSSIP_ADDR_BYTES_MAX)
        abort(); /* the decoder's limit */
    if (a.len)
        memcpy(s, a.data, a.len); /* an empty field may be NULL */
    s[a.len] = 0;
    if (rpc_addr_split(s, host, sizeof host, &port) == KV_OK && (host[0] == 0 || strlen(host) >= a.len))
        abort();
}

static void fuzz_msg(const char *p, size_t n)
{
    struct gossip_msg m;
    memset(&m, 0, sizeof m);
    if (gossip_msg_decode(p, n, &m) != KV_OK)
        return;
    check_addr(m.sender_addr);
    check_addr(m.target_addr);
    for (size_t i = 0; i < m.n_updates; i++)
        check_addr(m.updates[i].addr);
    struct kv_buf a = { 0 }, b = { 0 };
    if (gossip_msg_encode(&m, &a) != KV_OK)
        abort();
    struct gossip_msg again;
    memset(&again, 0, sizeof again);
    if (gossip_msg_decode(a.data, a.len, &again) != KV_OK)
        abort();
    if (gossip_msg_encode(&again, &b) != KV_OK || a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
        abort();
    gossip_msg_clear(&again);
    gossip_msg_clear(&m);
    kv_buf_free(&a);
    kv_buf_free(&b);
}

static void fuzz_ring(const char *p, size_t n)
{
    struct ring *r = NULL;
    if (ring_decode(p, n, &r) != KV_OK)
        return;
    struct kv_buf a = { 0 };
    struct ring *again = NULL;
    if (ring_encode(r, &a) != KV_OK || ring_decode(a.data, a.len, &again) != KV_OK || !ring_equal(r, again))
        abort();
    uint32_t pl[16];
    for (uint32_t part = 0; part < ring_partitions(r) && part < 64; part++)
        (void)ring_preference_list(r, part, pl, 16);
    ring_free(again);
    ring_free(r);
    kv_buf_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 1)
        fuzz_ring((const char *)data + 1, size - 1);
    else
        fuzz_msg((const char *)data + 1, size - 1);
    return 0;
}
