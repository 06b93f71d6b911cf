/*
 * fuzz_store.c - libFuzzer over what the coordinator reads back from its
 * own storage: the engine's records (DATA objects, HINT keys and hint
 * records, PURGE markers; coordinator/keyspace.h, hint.h, coord_purge.c)
 * and the saved handoff state (coordinator/handoff_state.c, the file
 * DATA_DIR/cluster/handoff). A damaged disk or an older build may leave
 * anything there.
 *
 * Byte 0 odd: the rest is records  klen:u8 ++ key ++ vlen:be16 ++ value,
 * put into a fresh in-memory engine; a cluster-mode coordinator (node
 * "me" of me, n2, n3; Q = 8; tombstone purge on) is created over it (it
 * counts the hints held), ticks through hint delivery and the purge scan
 * with every peer up, reports its hints and inspects each key's copies.
 * Every message it sends must encode.
 * Byte 0 even: the rest is a saved handoff state given to handoff_new;
 * bit 1 of byte 0 set: its last 4 bytes are first replaced by the right
 * CRC, so mutations reach the fields. The handoff then plans a ring with
 * pending transfers (adopting saved streams) and ticks.
 * Invariant: no crash, no sanitizer report, no leak; statuses as
 * documented (coord_new KV_OK, handoff_new KV_OK: a bad state is ignored).
 * Seeds: tests/fuzz/corpus/store/ (make_store_corpus.py).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/coding.h"
#include "common/crc32c.h"
#include "common/log.h"
#include "coordinator/coord.h"
#include "coordinator/coord_msg.h"
#include "coordinator/handoff.h"
#include "gossip/ring.h"
#include "storage/engine.h"
#include "storage/env.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)
#define Q 8u
#define WALL_MS 1700000000000ull /* hints and markers are judged against this */
#define KEYS_INSPECTED_MAX 64
#define HINT_TARGETS_MAX 16

static struct ring *g_ring, *g_pending; /* me + n2; and n3 joining (transfers pending) */

static uint64_t fz_wall(const struct kv_clock *c) { return WALL_MS; }
static uint64_t fz_mono(const struct kv_clock *c) { return 0; }
static const struct kv_clock g_clock = { fz_wall, fz_mono, NULL };

static void setup(void)
{
    kv_log_set_level(KV_LOG_OFF); /* damage is logged by design */
    struct ring_member_spec two[] = { { "me", NULL }, { "n2", NULL } };
    struct ring_member_spec three[] = { { "me", NULL }, { "n2", NULL }, { "n3", NULL } };
    struct ring *target;
    FUZZ_CHECK(ring_create(Q, 2, two, 2, &g_ring) == KV_OK);
    FUZZ_CHECK(ring_claim(g_ring, three, 3, &target) == KV_OK);
    FUZZ_CHECK(ring_commit(g_ring, target, &g_pending) == KV_OK);
    ring_free(target);
}

static struct engine *engine_new(struct env *env)
{
    struct engine_options o;
    struct engine *e;
    engine_options_default(&o);
    o.env = env;
    o.sync = ENGINE_SYNC_NONE;
    FUZZ_CHECK(engine_open("/db", &o, &e) == KV_OK);
    return e;
}

/* ---- coordinator over the records ---- */

static int coord_send(void *ctx, const char *to, const struct coord_msg *m)
{
    struct kv_buf b = { 0 };
    FUZZ_CHECK(coord_msg_encode(m, &b) == KV_OK);
    kv_buf_free(&b);
    return KV_OK;
}

static const struct ring *coord_ring(void *ctx) { return g_ring; }
static bool coord_alive(void *ctx, const char *id) { return true; }

static int count_copy(void *arg, const struct coord_local_copy *copy)
{
    FUZZ_CHECK(copy->nsiblings == 0 || copy->siblings != NULL);
    (*(uint32_t *)arg)++;
    return KV_OK;
}

static void fuzz_records(const char *in, size_t size)
{
    struct env *env;
    FUZZ_CHECK(env_mem_new(&env) == KV_OK);
    struct engine *e = engine_new(env);
    struct kv_slice keys[KEYS_INSPECTED_MAX];
    size_t nkeys = 0;
    while (size > 0) {
        size_t kl = (uint8_t)in[0] < size - 1 ? (uint8_t)in[0] : size - 1;
        struct kv_slice k = kv_slice_make(in + 1, kl);
        in += 1 + kl;
        size -= 1 + kl;
        size_t vl = size >= 2 ? (size_t)((uint8_t)in[0] << 8 | (uint8_t)in[1]) : 0;
        size_t hdr = size >= 2 ? 2 : size;
        vl = vl < size - hdr ? vl : size - hdr;
        FUZZ_CHECK(engine_put(e, k, kv_slice_make(in + hdr, vl)) == KV_OK);
        in += hdr + vl;
        size -= hdr + vl;
        if (k.len > 3 && nkeys < KEYS_INSPECTED_MAX) /* the user key of a DATA or PURGE key */
            keys[nkeys++] = kv_slice_make(k.data + 3, k.len - 3);
    }
    struct coord_net_ops net = { coord_send, NULL };
    struct coord_cluster_ops cops = { coord_ring, coord_alive, NULL };
    struct coord_config cfg;
    coord_config_default(&cfg);
    cfg.node_id = "me";
    cfg.partitions = Q;
    cfg.engine = e;
    cfg.clock = &g_clock;
    cfg.net = &net;
    cfg.cluster = &cops;
    cfg.tombstone_grace_ms = 1;
    struct coord *c;
    FUZZ_CHECK(coord_new(&cfg, &c) == KV_OK);
    for (uint64_t now = 0; now <= 4 * 60 * 1000; now += 15 * 1000)
        coord_tick(c, now);
    struct coord_hint_target targets[HINT_TARGETS_MAX];
    size_t nt;
    int rc = coord_hint_report(c, targets, HINT_TARGETS_MAX, &nt);
    FUZZ_CHECK(rc == KV_OK || rc == KV_ECORRUPT);
    for (size_t i = 0; i < nkeys; i++) {
        uint32_t partition, copies = 0;
        rc = coord_local_inspect(c, keys[i], &partition, count_copy, &copies);
        FUZZ_CHECK(rc == KV_OK || rc == KV_ECORRUPT || rc == KV_ETOOBIG || rc == KV_EINVAL);
        FUZZ_CHECK(rc != KV_OK || partition < Q);
    }
    coord_free(c);
    (void)engine_close(e);
    env_destroy(env);
}

/* ---- saved handoff state ---- */

static int ho_send(void *ctx, const char *to, const struct handoff_msg *m) { return KV_OK; }
static bool ho_alive(void *ctx, const char *id) { return true; }
static int ho_merge(void *ctx, uint32_t range, struct kv_slice key, struct kv_slice object) { return KV_OK; }
static int ho_done(void *ctx, uint32_t partition, const char *to) { return KV_OK; }
static int ho_drop(void *ctx, uint32_t range) { return KV_ENOTFOUND; }
static int ho_save(void *ctx, const void *data, size_t len) { return KV_OK; }

static void fuzz_handoff(char *in, size_t size, bool fix_crc)
{
    if (fix_crc && size >= 4)
        kv_put_fixed32(in + size - 4, kv_crc32c_mask(kv_crc32c(in, size - 4)));
    struct env *env;
    FUZZ_CHECK(env_mem_new(&env) == KV_OK);
    struct engine *e = engine_new(env);
    FUZZ_CHECK(engine_put(e, kv_slice_make("\x01\x00\x01k", 4), kv_slice_make("v", 1)) == KV_OK);
    struct handoff_config cfg;
    handoff_config_default(&cfg);
    cfg.node_id = "me";
    cfg.engine = e;
    cfg.ops = (struct handoff_ops){ ho_send, ho_alive, ho_merge, ho_done, ho_drop, ho_save, NULL };
    struct handoff *h;
    FUZZ_CHECK(handoff_new(&cfg, in, size, &h) == KV_OK);
    for (size_t i = 0; i < handoff_transfer_count(h); i++) {
        struct handoff_transfer_info t;
        handoff_transfer_at(h, i, &t);
    }
    FUZZ_CHECK(handoff_set_ring(h, g_pending, 0) == KV_OK);
    for (uint64_t now = 0; now <= 2000; now += HANDOFF_TICK_MS)
        handoff_tick(h, now);
    for (size_t i = 0; i < handoff_transfer_count(h); i++) {
        struct handoff_transfer_info t;
        handoff_transfer_at(h, i, &t);
        FUZZ_CHECK(t.partition < Q && t.range < Q);
    }
    handoff_free(h);
    (void)engine_close(e);
    env_destroy(env);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (!g_ring)
        setup();
    /* An exact-size copy, so any overread is a heap-buffer-overflow. */
    char *copy = fuzz_input_copy(data + 1, size - 1);
    if (!copy)
        return 0;
    if (data[0] & 1)
        fuzz_records(copy, size - 1);
    else
        fuzz_handoff(copy, size - 1, data[0] & 2);
    free(copy);
    return 0;
}
