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
 * partition. Each decoded coord_msg is then handled by a live cluster-mode
 * coordinator (node "me" of me, n2, n3; Q = 8; over an in-memory engine
 * that lives across inputs, renewed every RESET_INPUTS) as if n2 sent it; every message it sends in
 * answer must encode.
 * Seeds: tests/fuzz/corpus/cluster/ (make_cluster_corpus.py).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "coordinator/aae_msg.h"
#include "coordinator/coord.h"
#include "coordinator/coord_msg.h"
#include "gossip/codec.h"
#include "gossip/ring.h"
#include "proto/kv.pb-c.h"
#include "rpc/frame.h"
#include "storage/engine.h"
#include "storage/env.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The coordinator the messages are handed to; lives across inputs, and
 * is made anew every RESET_INPUTS inputs so that what they wrote does not
 * grow without bound in a long run. */
#define RESET_INPUTS 10000
static uint64_t g_inputs;
static struct env *g_env;
static struct engine *g_engine;
static struct ring *g_ring;
static struct coord *g_coord;
static uint64_t g_now;

static int coord_send(void *ctx, const char *to, const struct coord_msg *m)
{
    struct kv_buf b = { 0 };
    if (coord_msg_encode(m, &b) != KV_OK)
        abort(); /* the coordinator answered with a message that cannot go out */
    kv_buf_free(&b);
    return KV_OK;
}

static const struct ring *coord_ring(void *ctx) { return g_ring; }
static bool coord_alive(void *ctx, const char *id) { return true; }

static void setup(void)
{
    static const struct coord_net_ops net = { coord_send, NULL };
    static const struct coord_cluster_ops cops = { coord_ring, coord_alive, NULL };
    struct ring_member_spec specs[] = { { "me", NULL }, { "n2", NULL }, { "n3", NULL } };
    struct engine_options eo;
    struct coord_config cc;
    kv_log_set_level(KV_LOG_OFF); /* refused messages are logged by design */
    engine_options_default(&eo);
    if (env_mem_new(&g_env) != KV_OK)
        abort();
    eo.env = g_env;
    eo.sync = ENGINE_SYNC_NONE;
    if (engine_open("/db", &eo, &g_engine) != KV_OK || ring_create(8, 3, specs, 3, &g_ring) != KV_OK)
        abort();
    coord_config_default(&cc);
    cc.node_id = "me";
    cc.partitions = 8;
    cc.engine = g_engine;
    cc.net = &net;
    cc.cluster = &cops;
    cc.tombstone_grace_ms = 1;
    if (coord_new(&cc, &g_coord) != KV_OK)
        abort();
}

static void teardown(void)
{
    coord_free(g_coord);
    (void)engine_close(g_engine);
    ring_free(g_ring);
    env_destroy(g_env);
    g_coord = NULL;
}

static void handle(const struct coord_msg *m)
{
    (void)coord_handle_message(g_coord, "n2", m, g_now);
    g_now += 10;
    coord_tick(g_coord, g_now);
}

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
    if (coord_msg_from_proto(cm, &m) == KV_OK) {
        check_coord(&m);
        handle(&m);
    }
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
    if (g_coord && ++g_inputs % RESET_INPUTS == 0)
        teardown();
    if (!g_coord)
        setup();
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
