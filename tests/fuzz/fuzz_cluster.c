/*
 * fuzz_cluster.c - libFuzzer over node-to-node messages, as a node decodes
 * them: a frame body is an Envelope (rpc_envelope_decode, the server's
 * path); its ClusterMessage goes through coord_msg_from_proto (every
 * replica / forward / hint / handoff message the replication transport
 * takes), its GossipPacket bytes through gossip_msg_decode and its aae
 * bytes through aae_msg_decode. Byte 0 even: the rest is an Envelope;
 * odd: the rest is a bare ClusterMessage (coord_msg_decode, the
 * simulator's and the replication transport's form).
 * Invariant (abort on violation): a coord_msg that decodes re-encodes,
 * and its encoding decodes again to the same type, request id and
 * partition.
 * Seeds: tests/fuzz/corpus/cluster/ (make_cluster_corpus.py).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "coordinator/aae_msg.h"
#include "coordinator/coord_msg.h"
#include "gossip/codec.h"
#include "proto/kv.pb-c.h"
#include "rpc/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_coord(const struct coord_msg *m)
{
    struct kv_buf b = { 0 };
    if (coord_msg_encode(m, &b) != KV_OK)
        abort();
    Ringkv__ClusterMessage *pb = NULL;
    struct coord_msg again;
    if (coord_msg_decode(b.data, b.len, &pb, &again) != KV_OK)
        abort();
    if (again.type != m->type || again.req_id != m->req_id || again.partition != m->partition)
        abort();
    ringkv__cluster_message__free_unpacked(pb, NULL);
    kv_buf_free(&b);
}

static void fuzz_cluster_message(const Ringkv__ClusterMessage *cm)
{
    struct coord_msg m;
    if (coord_msg_from_proto(cm, &m) == KV_OK)
        check_coord(&m);
    if (cm->body_case == RINGKV__CLUSTER_MESSAGE__BODY_GOSSIP && cm->gossip != NULL) {
        struct gossip_msg g;
        memset(&g, 0, sizeof g);
        if (gossip_msg_decode((const char *)cm->gossip->data.data, cm->gossip->data.len, &g) == KV_OK)
            gossip_msg_clear(&g);
    }
    if (cm->body_case == RINGKV__CLUSTER_MESSAGE__BODY_AAE) {
        struct aae_msg a;
        aae_msg_init(&a);
        (void)aae_msg_decode(kv_slice_make((const char *)cm->aae.data, cm->aae.len), &a);
        aae_msg_free(&a);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    /* An exact-size copy, so any overread is a heap-buffer-overflow. */
    char *copy = malloc(size - 1 ? size - 1 : 1);
    if (copy == NULL)
        return 0;
    memcpy(copy, data + 1, size - 1);
    if (data[0] & 1) {
        Ringkv__ClusterMessage *pb = NULL;
        struct coord_msg m;
        if (coord_msg_decode(copy, size - 1, &pb, &m) == KV_OK) {
            check_coord(&m);
            fuzz_cluster_message(pb);
            ringkv__cluster_message__free_unpacked(pb, NULL);
        }
    } else {
        Ringkv__Envelope *env = NULL;
        if (rpc_envelope_decode(kv_slice_make(copy, size - 1), &env) == KV_OK) {
            if (env->body_case == RINGKV__ENVELOPE__BODY_CLUSTER && env->cluster != NULL)
                fuzz_cluster_message(env->cluster);
            rpc_envelope_free(env);
        }
    }
    free(copy);
    return 0;
}
