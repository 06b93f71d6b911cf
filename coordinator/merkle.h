/*
 * merkle.h - the anti-entropy hash tree of one (partition, replica).
 *
 * Shape. A partition's keys are spread over `segments` fixed hash
 * segments (the leaves): a key's segment is the `segbits` bits of its
 * ring hash h = kv_hash64(key, KEYSPACE_HASH_SEED) just below the
 * partition bits,
 *
 *   segment = (h << log2 Q) >> (64 - log2 segments)
 *
 * so every partition's keys fill all of its segments evenly. Above the
 * leaves sit `depth` levels of inner nodes with a fixed branching factor
 * B; segments = B^depth. Level 0 is the root (one node), level d has B^d
 * nodes, level `depth` is the leaves; node i of level d has children
 * i*B .. i*B+B-1 on level d+1.
 *
 * Hashes (all 64-bit; part of the wire contract between replicas, like
 * the hashes of hash.h):
 *   digest(object)  = kv_hash64(encoded object bytes, MERKLE_DIGEST_SEED)
 *                     (encodings are canonical: equal causal states give
 *                     equal bytes, coordinator/dvv.h)
 *   item(key, d)    = kv_hash64(fixed64 h ++ fixed64 d, 16, MERKLE_ITEM_SEED)
 *   leaf            = XOR of item() over the segment's keys (0 if none)
 *   inner node      = kv_hash64(fixed64 child[0] ++ ... ++ child[B-1], 8*B,
 *                               MERKLE_NODE_SEED)
 * XOR makes a leaf independent of the order keys were written and lets
 * a write update it as leaf ^= item(k, old) ^ item(k, new) without
 * rereading the segment. Inner nodes hash their children (not XOR) so
 * that equal changes in two segments cannot cancel out higher up.
 *
 * Cost. An update is one XOR plus marking the leaf's ancestors dirty
 * (stops at the first already-dirty one); inner hashes are recomputed
 * lazily when read, only along dirty paths: reading the root after k
 * writes rehashes at most k * depth nodes of 8*B bytes each.
 *
 * Memory with the defaults (B = 32, depth 2, segments = 1,024): nodes
 * = 1 + 32 + 1,024 = 1,057 hashes of 8 bytes = 8,456 bytes, plus 33
 * dirty bytes and the struct: about 8.6 KiB per tree. A node keeps one
 * tree per partition it replicates: Q * N / S trees on S nodes; with
 * Q = 256 and N = 3 that is 256 trees (2.2 MiB) on a 3-node cluster and
 * about 154 trees (1.3 MiB) on 5 nodes. A background build (below) adds
 * two leaf arrays (16 KiB) while it runs.
 *
 * Persistence: none. Trees live in memory and are rebuilt from the
 * engine when a node starts (one scan of the partition's key range per
 * tree: every DATA key and object is read and hashed once; measured 0.2
 * to 0.4 s per million keys with 140-byte objects, docs/BENCHMARKS.md (anti-entropy section);
 * bigger objects cost their hashing, about 1 cycle per byte), and
 * periodically verified the same way. Persisting them would need a
 * write-ahead scheme to stay exact across crashes (a tree written at
 * shutdown is wrong after a kill); a scan is simpler and its cost is
 * bounded by the data a node holds anyway.
 *
 * Builds (rebuild and verify) run in steps so a node can interleave them
 * with its other work: merkle_build_begin takes an engine snapshot,
 * merkle_build_step scans up to a budget of keys at it, and every
 * merkle_update meanwhile also goes into a delta of the leaves. At the
 * end, scanned ^ delta is exactly the tree of the engine now (the scan
 * saw every write before the snapshot, the delta every one after), so
 * merkle_build_finish installs it and says how many leaves the live
 * tree had wrong (a verify that finds any is a bug or a lost update).
 * This requires that every DATA write of the partition is reported by
 * merkle_update right after engine_write returns, with no build step in
 * between (one thread drives both).
 *
 * Threading: a tree is used by one thread. Ownership: merkle_new's tree
 * is the caller's (merkle_free); a running build holds an engine snapshot
 * until finished or freed, so free trees before closing the engine.
 */
#ifndef RINGKV_COORDINATOR_MERKLE_H
#define RINGKV_COORDINATOR_MERKLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/slice.h"
#include "common/status.h"
#include "storage/engine.h"

#define MERKLE_BRANCHING_DEFAULT 32u
#define MERKLE_SEGMENTS_DEFAULT 1024u          /* 32^2: depth 2 */
#define MERKLE_BRANCHING_MIN 2u
#define MERKLE_BRANCHING_MAX 64u               /* an inner node hashes 8 * 64 = 512 bytes */
#define MERKLE_DEPTH_MAX 6u
#define MERKLE_SEGMENTS_MAX (1u << 20)         /* 8 MiB of leaves per tree */
#define MERKLE_DIGEST_SEED 0x6d65726b6c650001ull  /* "merkle" 1 */
#define MERKLE_ITEM_SEED 0x6d65726b6c650002ull
#define MERKLE_NODE_SEED 0x6d65726b6c650003ull
#define MERKLE_ITEM_BYTES (8 + 8)              /* fixed64 key hash ++ fixed64 digest */

struct merkle;

/* A tree for `partition` of a ring of `partitions` (Q, a power of two up
 * to 65536) with `segments` leaves and branching factor `branching`
 * (powers of two, segments = branching^depth, 1 <= depth <= MERKLE_DEPTH_MAX,
 * segments <= MERKLE_SEGMENTS_MAX). It starts as the tree of an empty
 * partition and ready. KV_EINVAL on a bad shape, KV_ENOMEM. */
int merkle_new(uint32_t partition, uint32_t partitions, uint32_t segments, uint32_t branching,
               struct merkle **out) KV_MUST_USE;
/* Frees t, abandoning a running build (its snapshot is released). NULL is a no-op. */
void merkle_free(struct merkle *t);

uint32_t merkle_partition(const struct merkle *t);
uint32_t merkle_segments(const struct merkle *t);
uint32_t merkle_branching(const struct merkle *t);
/* Levels below the root: the leaves are level merkle_depth(t). */
uint32_t merkle_depth(const struct merkle *t);
/* Nodes on level `level` (branching^level). */
uint32_t merkle_level_width(const struct merkle *t, uint32_t level);
/* Keys counted by updates and builds (not checked against the engine). */
uint64_t merkle_keys(const struct merkle *t);
/* False while a rebuild (merkle_build_begin with verify == false) runs:
 * the hashes then do not describe the partition yet. */
bool merkle_ready(const struct merkle *t);
/* Bytes of memory t uses now (tree, plus a running build's arrays). */
size_t merkle_memory_bytes(const struct merkle *t);

/* The digest of an encoded object, and the segment of a key hash. */
uint64_t merkle_digest(struct kv_slice object);
uint32_t merkle_segment_of_hash(const struct merkle *t, uint64_t key_hash);
uint32_t merkle_segment_of_key(const struct merkle *t, struct kv_slice user_key);

/* Records that key's object went from old_digest to new_digest (NULL:
 * absent, before or after). key must belong to t's partition (asserted).
 * O(1) plus the dirty marking; no I/O. */
void merkle_update(struct merkle *t, struct kv_slice user_key, const uint64_t *old_digest,
                   const uint64_t *new_digest);
/* The same from the encoded objects (len 0: absent). */
void merkle_update_objects(struct merkle *t, struct kv_slice user_key, struct kv_slice old_object,
                           struct kv_slice new_object);

/* The root hash (rehashing dirty paths). */
uint64_t merkle_root(struct merkle *t);
/* Hashes of nodes first .. first+count-1 of `level` into out[0..count-1].
 * KV_EINVAL if the level or range is outside the tree. */
int merkle_level_hashes(struct merkle *t, uint32_t level, uint32_t first, uint32_t count,
                        uint64_t *out) KV_MUST_USE;
/* Hashes of the listed nodes of `level`. KV_EINVAL for an index outside it. */
int merkle_node_hashes(struct merkle *t, uint32_t level, const uint32_t *nodes, uint32_t n,
                       uint64_t *out) KV_MUST_USE;
/*
 * Compares the listed nodes of `level` with a peer's hashes of the same
 * nodes and writes those that differ to diff_out (room for n), in the
 * given order; *n_diff_out is their count. At the leaf level these are
 * the differing segments. KV_EINVAL for an index outside the level.
 */
int merkle_diff(struct merkle *t, uint32_t level, const uint32_t *nodes, uint32_t n,
                const uint64_t *peer_hashes, uint32_t *diff_out, uint32_t *n_diff_out) KV_MUST_USE;
/* The children (on level+1) of the listed nodes of `level`, B per node,
 * into out (room for n * B). KV_EINVAL at the leaf level or out of range. */
int merkle_children(const struct merkle *t, uint32_t level, const uint32_t *nodes, uint32_t n,
                    uint32_t *out) KV_MUST_USE;

/* ---- engine scans ---- */

/*
 * Rebuilds t from the partition's DATA keys in the engine at snap (NULL:
 * a snapshot taken here), in one call: O(keys of the partition) reads.
 * Abandons a running build. On error t is left as it was.
 */
int merkle_rebuild(struct merkle *t, struct engine *e, const struct engine_snapshot *snap) KV_MUST_USE;

/*
 * Starts a background build (see the top comment): a snapshot of e, a
 * fresh scan. verify == false marks t not ready until the build
 * finishes (a rebuild: the tree is not trusted meanwhile); verify ==
 * true keeps it ready (a self-check). KV_EBUSY if one already runs.
 */
int merkle_build_begin(struct merkle *t, struct engine *e, bool verify) KV_MUST_USE;
bool merkle_build_running(const struct merkle *t);
/*
 * Scans up to keys_max more keys of the build. *done_out becomes true
 * when the scan reached the partition's end; then call
 * merkle_build_finish. Engine errors abandon the build (t keeps its
 * previous hashes and readiness) and are returned.
 */
int merkle_build_step(struct merkle *t, uint32_t keys_max, bool *done_out) KV_MUST_USE;
/*
 * Installs the finished build: t's leaves become scanned ^ delta, t is
 * ready. *mismatched_out is the number of leaves the live tree had
 * different from it (meaningful for a verify; after a rebuild of a tree
 * that was not ready it counts whatever was there). KV_ESTATE if no
 * build has finished scanning.
 */
int merkle_build_finish(struct merkle *t, uint32_t *mismatched_out) KV_MUST_USE;
/* Abandons a running build, releasing its snapshot. t keeps its hashes;
 * a rebuild's tree stays not ready. */
void merkle_build_abort(struct merkle *t);

/* One key of a segment scan: user key, digest of its object, and the
 * object bytes (valid during the call only). Return KV_OK to go on. */
typedef int (*merkle_scan_fn)(void *arg, struct kv_slice user_key, uint64_t digest, struct kv_slice object);

/* What a segment scan reads: the partition's keys in (after, upto] (an
 * absent bound is open), of the listed segments only, in key order. */
struct merkle_scan {
    const uint32_t *segments;   /* sorted, unique; n_segments == 0: every segment */
    uint32_t n_segments;
    struct kv_slice after;      /* exclusive lower bound, if has_after */
    bool has_after;
    struct kv_slice upto;       /* inclusive upper bound, if has_upto */
    bool has_upto;
    uint32_t keys_max;          /* stop after this many matching keys (>= 1) */
    uint64_t key_bytes_max;     /* ... or this many bytes of matching keys (0: no limit) */
    uint64_t scanned_max;       /* ... or this many keys read in all (0: no limit) */
};

/*
 * Reads t's partition from e at snap (NULL: latest) as s says, calling
 * fn for each matching key. Matching keys are found by reading every key
 * of the range: O(keys in the range), whatever the segments. On return
 * *complete_out tells whether the whole range was read; if not, last_out
 * holds the last key read, and (after, last] is what was covered (call
 * again with after = last). Errors from the engine or fn are returned.
 */
int merkle_scan_segments(const struct merkle *t, struct engine *e, const struct engine_snapshot *snap,
                         const struct merkle_scan *s, merkle_scan_fn fn, void *arg, struct kv_buf *last_out,
                         bool *complete_out) KV_MUST_USE;

#endif
