/*
 * merkle.c - segment hash trees (see merkle.h for the shape and hashes).
 *
 * All nodes of a tree live in one array of hashes, level after level
 * (root first, leaves last); inner nodes have a dirty byte each. The
 * invariant that makes lazy rehashing cheap: a dirty node's parent is
 * dirty too. Marking therefore climbs from a leaf only until it meets a
 * dirty ancestor, and cleaning a node first cleans its dirty children.
 */
#include "coordinator/merkle.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "common/coding.h"
#include "common/hash.h"
#include "coordinator/keyspace.h"

/* Where a leaf scan of one partition stands. */
struct scan_pos {
    struct engine *engine;
    const struct engine_snapshot *snap;
    struct kv_buf last;     /* engine key of the last key read */
    bool has_last;
    bool done;              /* the partition's end was reached */
};

struct merkle_build {
    struct scan_pos pos;
    struct engine_snapshot *snap; /* owned; pos.snap points to it */
    uint64_t *scanned;      /* leaves of the keys read at snap */
    uint64_t *delta;        /* XOR of the item changes reported since snap */
    uint64_t scanned_keys;
    int64_t delta_keys;
    bool verify;
};

struct merkle {
    uint32_t partition;
    uint32_t qbits;         /* log2 Q */
    uint32_t segbits;       /* log2 segments */
    uint32_t branching;
    uint32_t bbits;         /* log2 branching */
    uint32_t depth;
    uint32_t segments;
    uint32_t level_off[MERKLE_DEPTH_MAX + 2]; /* first index of each level; [depth+1] = total */
    uint64_t *hash;
    uint8_t *dirty;         /* inner nodes only: level_off[depth] bytes */
    uint64_t keys;
    bool ready;
    struct merkle_build *build;
};

static bool is_pow2(uint32_t v) { return v && !(v & (v - 1)); }

static uint32_t log2u(uint32_t v)
{
    uint32_t b = 0;
    while ((1u << b) < v)
        b++;
    return b;
}

int merkle_new(uint32_t partition, uint32_t partitions, uint32_t segments, uint32_t branching,
               struct merkle **out)
{
    if (!is_pow2(partitions) || partitions > KEYSPACE_PARTITIONS_MAX || partition >= partitions ||
        !is_pow2(segments) || segments > MERKLE_SEGMENTS_MAX || !is_pow2(branching) ||
        branching < MERKLE_BRANCHING_MIN || branching > MERKLE_BRANCHING_MAX)
        return KV_EINVAL;
    uint32_t bbits = log2u(branching), segbits = log2u(segments);
    if (segbits % bbits != 0 || segbits / bbits < 1 || segbits / bbits > MERKLE_DEPTH_MAX)
        return KV_EINVAL;
    struct merkle *t = calloc(1, sizeof *t);
    if (!t)
        return KV_ENOMEM;
    t->partition = partition;
    t->qbits = log2u(partitions);
    t->segbits = segbits;
    t->branching = branching;
    t->bbits = bbits;
    t->depth = segbits / bbits;
    t->segments = segments;
    uint32_t off = 0;
    for (uint32_t l = 0; l <= t->depth; l++) {
        t->level_off[l] = off;
        off += 1u << (l * bbits);
    }
    t->level_off[t->depth + 1] = off;
    t->hash = calloc(off, sizeof *t->hash);
    t->dirty = malloc(t->level_off[t->depth]);
    if (!t->hash || !t->dirty) {
        merkle_free(t);
        return KV_ENOMEM;
    }
    memset(t->dirty, 1, t->level_off[t->depth]); /* empty leaves: inner hashes computed on first read */
    t->ready = true;
    *out = t;
    return KV_OK;
}

static void build_free(struct merkle_build *b)
{
    if (!b)
        return;
    if (b->snap)
        engine_snapshot_release(b->pos.engine, b->snap);
    free(b->scanned);
    free(b->delta);
    kv_buf_free(&b->pos.last);
    free(b);
}

void merkle_free(struct merkle *t)
{
    if (!t)
        return;
    build_free(t->build);
    free(t->hash);
    free(t->dirty);
    free(t);
}

uint32_t merkle_partition(const struct merkle *t) { return t->partition; }
uint32_t merkle_segments(const struct merkle *t) { return t->segments; }
uint32_t merkle_branching(const struct merkle *t) { return t->branching; }
uint32_t merkle_depth(const struct merkle *t) { return t->depth; }
uint64_t merkle_keys(const struct merkle *t) { return t->keys; }
bool merkle_ready(const struct merkle *t) { return t->ready; }
bool merkle_build_running(const struct merkle *t) { return t->build != NULL; }

uint32_t merkle_level_width(const struct merkle *t, uint32_t level)
{
    return level <= t->depth ? 1u << (level * t->bbits) : 0;
}

size_t merkle_memory_bytes(const struct merkle *t)
{
    size_t n = sizeof *t + (size_t)t->level_off[t->depth + 1] * sizeof *t->hash + t->level_off[t->depth];
    if (t->build)
        n += sizeof *t->build + 2 * (size_t)t->segments * sizeof(uint64_t) + t->build->pos.last.cap;
    return n;
}

/* ---- hashing ---- */

/* kv_hash64 of a slice; an empty one may have data == NULL, which
 * kv_hash64 must not see (pointer arithmetic on NULL is undefined). */
static uint64_t hash_slice(struct kv_slice s, uint64_t seed)
{
    return kv_hash64(s.len ? s.data : "", s.len, seed);
}

uint64_t merkle_digest(struct kv_slice object) { return hash_slice(object, MERKLE_DIGEST_SEED); }

static uint64_t item_hash(uint64_t key_hash, uint64_t digest)
{
    char buf[MERKLE_ITEM_BYTES];
    kv_put_fixed64(buf, key_hash);
    kv_put_fixed64(buf + 8, digest);
    return kv_hash64(buf, sizeof buf, MERKLE_ITEM_SEED);
}

uint32_t merkle_segment_of_hash(const struct merkle *t, uint64_t key_hash)
{
    /* qbits <= 16 and segbits <= 20, so neither shift reaches 64. */
    return (uint32_t)((key_hash << t->qbits) >> (64 - t->segbits));
}

uint32_t merkle_segment_of_key(const struct merkle *t, struct kv_slice user_key)
{
    return merkle_segment_of_hash(t, hash_slice(user_key, KEYSPACE_HASH_SEED));
}

/* Applies x to leaf seg (and to a running build's delta), marking its path dirty. */
static void leaf_xor(struct merkle *t, uint32_t seg, uint64_t x)
{
    if (x == 0)
        return;
    if (t->build)
        t->build->delta[seg] ^= x;
    t->hash[t->level_off[t->depth] + seg] ^= x;
    uint32_t idx = seg;
    for (uint32_t l = t->depth; l-- > 0;) {
        idx >>= t->bbits;
        uint8_t *d = &t->dirty[t->level_off[l] + idx];
        if (*d)
            break; /* its ancestors are dirty already (the invariant) */
        *d = 1;
    }
}

void merkle_update(struct merkle *t, struct kv_slice user_key, const uint64_t *old_digest,
                   const uint64_t *new_digest)
{
    uint64_t h = hash_slice(user_key, KEYSPACE_HASH_SEED);
    assert(t->qbits == 0 || (uint32_t)(h >> (64 - t->qbits)) == t->partition);
    uint64_t x = 0;
    if (old_digest)
        x ^= item_hash(h, *old_digest);
    if (new_digest)
        x ^= item_hash(h, *new_digest);
    leaf_xor(t, merkle_segment_of_hash(t, h), x);
    int64_t dk = (new_digest != NULL) - (old_digest != NULL);
    t->keys += (uint64_t)dk; /* modular: adding (uint64_t)-1 subtracts one */
    if (t->build)
        t->build->delta_keys += dk;
}

void merkle_update_objects(struct merkle *t, struct kv_slice user_key, struct kv_slice old_object,
                           struct kv_slice new_object)
{
    uint64_t od = old_object.len ? merkle_digest(old_object) : 0;
    uint64_t nd = new_object.len ? merkle_digest(new_object) : 0;
    merkle_update(t, user_key, old_object.len ? &od : NULL, new_object.len ? &nd : NULL);
}

/* The hash of node idx of level l, rehashing dirty descendants first. */
static uint64_t node_hash(struct merkle *t, uint32_t l, uint32_t idx)
{
    uint32_t at = t->level_off[l] + idx;
    if (l == t->depth || !t->dirty[at])
        return t->hash[at];
    char buf[8 * MERKLE_BRANCHING_MAX];
    uint32_t first = idx << t->bbits;
    for (uint32_t i = 0; i < t->branching; i++)
        kv_put_fixed64(buf + 8 * i, node_hash(t, l + 1, first + i));
    t->hash[at] = kv_hash64(buf, 8 * (size_t)t->branching, MERKLE_NODE_SEED);
    t->dirty[at] = 0;
    return t->hash[at];
}

uint64_t merkle_root(struct merkle *t) { return node_hash(t, 0, 0); }

int merkle_level_hashes(struct merkle *t, uint32_t level, uint32_t first, uint32_t count, uint64_t *out)
{
    uint32_t w = merkle_level_width(t, level);
    if (level > t->depth || first > w || count > w - first)
        return KV_EINVAL;
    for (uint32_t i = 0; i < count; i++)
        out[i] = node_hash(t, level, first + i);
    return KV_OK;
}

int merkle_node_hashes(struct merkle *t, uint32_t level, const uint32_t *nodes, uint32_t n, uint64_t *out)
{
    uint32_t w = merkle_level_width(t, level);
    for (uint32_t i = 0; i < n; i++)
        if (level > t->depth || nodes[i] >= w)
            return KV_EINVAL;
    for (uint32_t i = 0; i < n; i++)
        out[i] = node_hash(t, level, nodes[i]);
    return KV_OK;
}

int merkle_diff(struct merkle *t, uint32_t level, const uint32_t *nodes, uint32_t n, const uint64_t *peer_hashes,
                uint32_t *diff_out, uint32_t *n_diff_out)
{
    uint32_t w = merkle_level_width(t, level);
    for (uint32_t i = 0; i < n; i++)
        if (level > t->depth || nodes[i] >= w)
            return KV_EINVAL;
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++)
        if (node_hash(t, level, nodes[i]) != peer_hashes[i])
            diff_out[k++] = nodes[i];
    *n_diff_out = k;
    return KV_OK;
}

int merkle_children(const struct merkle *t, uint32_t level, const uint32_t *nodes, uint32_t n, uint32_t *out)
{
    if (level >= t->depth)
        return KV_EINVAL;
    uint32_t w = merkle_level_width(t, level);
    for (uint32_t i = 0; i < n; i++) {
        if (nodes[i] >= w)
            return KV_EINVAL;
        for (uint32_t c = 0; c < t->branching; c++)
            out[(size_t)i * t->branching + c] = (nodes[i] << t->bbits) + c;
    }
    return KV_OK;
}

/* ---- engine scans ---- */

/* Positions it on the first DATA key of t's partition after `after`
 * (an engine key; NULL: from the partition's start). */
static void seek_after(const struct merkle *t, struct engine_iter *it, const struct kv_slice *after)
{
    if (!after) {
        char begin[KEYSPACE_PREFIX_BYTES], end[KEYSPACE_PREFIX_BYTES];
        keyspace_partition_range(KEYSPACE_DATA, t->partition, begin, end);
        engine_iter_seek(it, kv_slice_make(begin, sizeof begin));
        return;
    }
    engine_iter_seek(it, *after);
    if (engine_iter_valid(it) && kv_slice_eq(engine_iter_key(it), *after))
        engine_iter_next(it);
}

/* True if the iterator is on a DATA key of t's partition. */
static bool in_partition(const struct merkle *t, struct engine_iter *it)
{
    if (!engine_iter_valid(it))
        return false;
    struct kv_slice k = engine_iter_key(it);
    char prefix[KEYSPACE_PREFIX_BYTES];
    keyspace_put_prefix(prefix, KEYSPACE_DATA, t->partition);
    return k.len >= KEYSPACE_PREFIX_BYTES && memcmp(k.data, prefix, KEYSPACE_PREFIX_BYTES) == 0;
}

/*
 * Reads up to keys_max keys after p->last into leaves (XOR of items),
 * adding to *keys. Sets p->done at the partition's end.
 */
static int scan_leaves(const struct merkle *t, struct scan_pos *p, uint32_t keys_max, uint64_t *leaves,
                       uint64_t *keys)
{
    struct engine_iter *it;
    int rc = engine_iter_new(p->engine, p->snap, &it);
    if (rc != KV_OK)
        return rc;
    struct kv_slice last = kv_slice_make(p->last.data, p->last.len);
    seek_after(t, it, p->has_last ? &last : NULL);
    uint32_t n = 0;
    for (; n < keys_max && in_partition(t, it); n++, engine_iter_next(it)) {
        struct kv_slice k = engine_iter_key(it);
        uint64_t h = kv_hash64(k.data + KEYSPACE_PREFIX_BYTES, k.len - KEYSPACE_PREFIX_BYTES, KEYSPACE_HASH_SEED);
        leaves[merkle_segment_of_hash(t, h)] ^= item_hash(h, merkle_digest(engine_iter_value(it)));
        (*keys)++;
        if (n + 1 == keys_max && (rc = kv_buf_set(&p->last, k.data, k.len)) != KV_OK)
            goto out;
    }
    rc = engine_iter_status(it);
    if (rc == KV_OK && n < keys_max)
        p->done = true;
    else if (rc == KV_OK)
        p->has_last = true;
out:
    engine_iter_free(it);
    return rc;
}

static int build_new(struct merkle *t, struct engine *e, bool verify, struct merkle_build **out)
{
    struct merkle_build *b = calloc(1, sizeof *b);
    if (!b)
        return KV_ENOMEM;
    b->pos.engine = e;
    b->verify = verify;
    b->scanned = calloc(t->segments, sizeof *b->scanned);
    b->delta = calloc(t->segments, sizeof *b->delta);
    int rc = b->scanned && b->delta ? engine_snapshot_new(e, &b->snap) : KV_ENOMEM;
    if (rc != KV_OK) {
        build_free(b);
        return rc;
    }
    b->pos.snap = b->snap;
    *out = b;
    return KV_OK;
}

int merkle_build_begin(struct merkle *t, struct engine *e, bool verify)
{
    if (t->build)
        return KV_EBUSY;
    int rc = build_new(t, e, verify, &t->build);
    if (rc == KV_OK && !verify)
        t->ready = false;
    return rc;
}

int merkle_build_step(struct merkle *t, uint32_t keys_max, bool *done_out)
{
    struct merkle_build *b = t->build;
    if (!b)
        return KV_ESTATE;
    int rc = b->pos.done ? KV_OK : scan_leaves(t, &b->pos, keys_max ? keys_max : 1, b->scanned, &b->scanned_keys);
    if (rc != KV_OK) {
        merkle_build_abort(t);
        return rc;
    }
    *done_out = b->pos.done;
    return KV_OK;
}

int merkle_build_finish(struct merkle *t, uint32_t *mismatched_out)
{
    struct merkle_build *b = t->build;
    if (!b || !b->pos.done)
        return KV_ESTATE;
    uint64_t *leaves = t->hash + t->level_off[t->depth];
    uint32_t bad = 0;
    for (uint32_t s = 0; s < t->segments; s++) {
        uint64_t want = b->scanned[s] ^ b->delta[s];
        bad += leaves[s] != want;
        leaves[s] = want;
    }
    memset(t->dirty, 1, t->level_off[t->depth]);
    t->keys = b->scanned_keys + (uint64_t)b->delta_keys;
    t->ready = true;
    t->build = NULL;
    build_free(b);
    *mismatched_out = bad;
    return KV_OK;
}

void merkle_build_abort(struct merkle *t)
{
    build_free(t->build);
    t->build = NULL;
}

/* Keys read per iterator in merkle_rebuild: iterators pin tables, so
 * a long scan re-creates them now and then rather than holding one. */
#define MERKLE_REBUILD_KEYS_PER_ITER 65536u

int merkle_rebuild(struct merkle *t, struct engine *e, const struct engine_snapshot *snap)
{
    struct scan_pos pos = { .engine = e, .snap = snap };
    struct engine_snapshot *own = NULL;
    uint64_t keys = 0;
    uint64_t *leaves = calloc(t->segments, sizeof *leaves);
    int rc = leaves ? KV_OK : KV_ENOMEM;
    if (rc == KV_OK && !snap && (rc = engine_snapshot_new(e, &own)) == KV_OK)
        pos.snap = own;
    while (rc == KV_OK && !pos.done)
        rc = scan_leaves(t, &pos, MERKLE_REBUILD_KEYS_PER_ITER, leaves, &keys);
    if (rc == KV_OK) {
        merkle_build_abort(t);
        memcpy(t->hash + t->level_off[t->depth], leaves, (size_t)t->segments * sizeof *leaves);
        memset(t->dirty, 1, t->level_off[t->depth]);
        t->keys = keys;
        t->ready = true;
    }
    if (own)
        engine_snapshot_release(e, own);
    kv_buf_free(&pos.last);
    free(leaves);
    return rc;
}

/* ---- segment scans ---- */

static bool segment_listed(const struct merkle_scan *s, uint32_t seg)
{
    if (s->n_segments == 0)
        return true;
    uint32_t lo = 0, hi = s->n_segments;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->segments[mid] < seg)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->n_segments && s->segments[lo] == seg;
}

/* Seeks it past s->after (a user key) within t's partition. */
static int seek_scan_start(const struct merkle *t, struct engine_iter *it, const struct merkle_scan *s)
{
    if (!s->has_after) {
        seek_after(t, it, NULL);
        return KV_OK;
    }
    struct kv_buf ek = { 0 };
    int rc = kv_buf_reserve(&ek, KEYSPACE_PREFIX_BYTES + s->after.len);
    if (rc == KV_OK) {
        keyspace_put_prefix(ek.data, KEYSPACE_DATA, t->partition);
        if (s->after.len)
            memcpy(ek.data + KEYSPACE_PREFIX_BYTES, s->after.data, s->after.len);
        struct kv_slice k = kv_slice_make(ek.data, KEYSPACE_PREFIX_BYTES + s->after.len);
        seek_after(t, it, &k);
    }
    kv_buf_free(&ek);
    return rc;
}

int merkle_scan_segments(const struct merkle *t, struct engine *e, const struct engine_snapshot *snap,
                         const struct merkle_scan *s, merkle_scan_fn fn, void *arg, struct kv_buf *last_out,
                         bool *complete_out)
{
    struct engine_iter *it;
    int rc = engine_iter_new(e, snap, &it);
    if (rc != KV_OK)
        return rc;
    if ((rc = seek_scan_start(t, it, s)) != KV_OK)
        goto out;
    uint64_t matched = 0, bytes = 0, scanned = 0;
    bool complete = true;
    for (; in_partition(t, it); engine_iter_next(it)) {
        struct kv_slice k = engine_iter_key(it);
        struct kv_slice uk = kv_slice_make(k.data + KEYSPACE_PREFIX_BYTES, k.len - KEYSPACE_PREFIX_BYTES);
        if (s->has_upto && kv_slice_cmp(uk, s->upto) > 0)
            break;
        scanned++;
        if (segment_listed(s, merkle_segment_of_key(t, uk))) {
            struct kv_slice v = engine_iter_value(it);
            if ((rc = fn(arg, uk, merkle_digest(v), v)) != KV_OK)
                goto out;
            matched++;
            bytes += uk.len;
        }
        if (matched >= s->keys_max || (s->key_bytes_max && bytes >= s->key_bytes_max) ||
            (s->scanned_max && scanned >= s->scanned_max)) {
            complete = false;
            rc = kv_buf_set(last_out, uk.data, uk.len);
            goto out_status;
        }
    }
out_status:
    if (rc == KV_OK)
        rc = engine_iter_status(it);
    if (rc == KV_OK)
        *complete_out = complete;
out:
    engine_iter_free(it);
    return rc;
}
