/* test_merkle.c - segment hash trees: incremental = rebuild, order
 * independence, descent to differing segments, engine builds and scans. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/hash.h"
#include "coordinator/keyspace.h"
#include "coordinator/merkle.h"
#include "storage/engine.h"
#include "storage/env.h"

#define Q 16u
#define PART 5u
#define KEY_BYTES_MAX 32

/* ---- fixtures ---- */

struct fx {
    struct env *env;
    struct engine *e;
    struct keyspace ks;
};

static void fx_open(struct fx *f)
{
    ck_assert_int_eq(env_mem_new(&f->env), KV_OK);
    struct engine_options eo;
    engine_options_default(&eo);
    eo.env = f->env;
    eo.sync = ENGINE_SYNC_NONE;
    eo.memtable_bytes = 256u * 1024; /* small: scans cross memtable and tables */
    ck_assert_int_eq(engine_open("/db", &eo, &f->e), KV_OK);
    ck_assert_int_eq(keyspace_init(&f->ks, Q), KV_OK);
}

static void fx_close(struct fx *f)
{
    ck_assert_int_eq(engine_close(f->e), KV_OK);
    env_destroy(f->env);
}

static struct merkle *tree(uint32_t part)
{
    struct merkle *t;
    ck_assert_int_eq(merkle_new(part, Q, MERKLE_SEGMENTS_DEFAULT, MERKLE_BRANCHING_DEFAULT, &t), KV_OK);
    return t;
}

/* The i-th key of partition part (deterministic), written to buf. */
static struct kv_slice key_in(uint32_t part, uint32_t i, char *buf)
{
    struct keyspace ks;
    ck_assert_int_eq(keyspace_init(&ks, Q), KV_OK);
    for (uint32_t salt = 0;; salt++) {
        int n = snprintf(buf, KEY_BYTES_MAX, "k%u.%u", i, salt);
        struct kv_slice k = kv_slice_make(buf, (size_t)n);
        if (keyspace_partition(&ks, k) == part)
            return k;
    }
}

static int engine_put_data(struct fx *f, struct kv_slice key, struct kv_slice val)
{
    char ek[KEYSPACE_PREFIX_BYTES + KEY_BYTES_MAX];
    size_t n = keyspace_encode(&f->ks, KEYSPACE_DATA, key, ek);
    return engine_put(f->e, kv_slice_make(ek, n), val);
}

/* Writes key = val to the engine and reports it to t, as a node does. */
static void put(struct fx *f, struct merkle *t, struct kv_slice key, struct kv_slice old, const char *val)
{
    struct kv_slice v = kv_slice_str(val);
    ck_assert_int_eq(engine_put_data(f, key, v), KV_OK);
    merkle_update_objects(t, key, old, v);
}

static void assert_same_tree(struct merkle *a, struct merkle *b)
{
    ck_assert_uint_eq(merkle_root(a), merkle_root(b));
    uint64_t ha[MERKLE_SEGMENTS_DEFAULT], hb[MERKLE_SEGMENTS_DEFAULT];
    for (uint32_t l = 0; l <= merkle_depth(a); l++) {
        uint32_t w = merkle_level_width(a, l);
        ck_assert_int_eq(merkle_level_hashes(a, l, 0, w, ha), KV_OK);
        ck_assert_int_eq(merkle_level_hashes(b, l, 0, w, hb), KV_OK);
        ck_assert_mem_eq(ha, hb, w * sizeof ha[0]);
    }
    ck_assert_uint_eq(merkle_keys(a), merkle_keys(b));
}

/*
 * Walks from the root down like an exchange does: at each level compare
 * only the children of nodes that differed. Returns the differing
 * segments (sorted) in segs and the number of hashes compared.
 */
static uint32_t descend(struct merkle *a, struct merkle *b, uint32_t *segs, uint32_t *n_segs)
{
    uint32_t *nodes = malloc(MERKLE_SEGMENTS_DEFAULT * sizeof *nodes);
    uint32_t *next = malloc(MERKLE_SEGMENTS_DEFAULT * sizeof *next);
    uint64_t *peer = malloc(MERKLE_SEGMENTS_DEFAULT * sizeof *peer);
    uint32_t n = 1, compared = 0;
    nodes[0] = 0;
    for (uint32_t l = 0;; l++) {
        ck_assert_int_eq(merkle_node_hashes(b, l, nodes, n, peer), KV_OK);
        compared += n;
        uint32_t nd;
        ck_assert_int_eq(merkle_diff(a, l, nodes, n, peer, nodes, &nd), KV_OK);
        if (l == merkle_depth(a) || nd == 0) {
            memcpy(segs, nodes, nd * sizeof *nodes);
            *n_segs = l == merkle_depth(a) ? nd : 0;
            break;
        }
        ck_assert_int_eq(merkle_children(a, l, nodes, nd, next), KV_OK);
        n = nd * merkle_branching(a);
        memcpy(nodes, next, n * sizeof *nodes);
    }
    free(nodes);
    free(next);
    free(peer);
    return compared;
}

/* ---- shape ---- */

START_TEST(bad_shapes_are_refused)
{
    struct merkle *t;
    ck_assert_int_eq(merkle_new(0, 3, 1024, 32, &t), KV_EINVAL);       /* Q not a power of two */
    ck_assert_int_eq(merkle_new(16, 16, 1024, 32, &t), KV_EINVAL);     /* partition out of range */
    ck_assert_int_eq(merkle_new(0, 16, 512, 32, &t), KV_EINVAL);       /* 512 is not 32^d */
    ck_assert_int_eq(merkle_new(0, 16, 1000, 10, &t), KV_EINVAL);
    ck_assert_int_eq(merkle_new(0, 16, 128, 128, &t), KV_EINVAL);     /* branching over the max */
    ck_assert_int_eq(merkle_new(0, 16, 1u << 21, 2, &t), KV_EINVAL);   /* too many segments */
    ck_assert_int_eq(merkle_new(0, 16, 1024, 32, &t), KV_OK);
    ck_assert_uint_eq(merkle_depth(t), 2);
    ck_assert_uint_eq(merkle_level_width(t, 1), 32);
    ck_assert_uint_eq(merkle_level_width(t, 2), 1024);
    /* The documented cost: 1,057 hashes + 33 dirty bytes + the struct. */
    ck_assert_uint_ge(merkle_memory_bytes(t), 1057 * 8 + 33);
    ck_assert_uint_lt(merkle_memory_bytes(t), 9 * 1024);
    uint64_t h[2];
    ck_assert_int_eq(merkle_level_hashes(t, 3, 0, 1, h), KV_EINVAL);
    ck_assert_int_eq(merkle_level_hashes(t, 1, 31, 2, h), KV_EINVAL);
    uint32_t bad = 32, kids[32];
    ck_assert_int_eq(merkle_node_hashes(t, 1, &bad, 1, h), KV_EINVAL);
    ck_assert_int_eq(merkle_children(t, 2, &bad, 1, kids), KV_EINVAL);
    merkle_free(t);
    ck_assert_int_eq(merkle_new(0, 1, 8, 2, &t), KV_OK); /* Q = 1: all hash bits for segments */
    ck_assert_uint_eq(merkle_depth(t), 3);
    ck_assert_uint_eq(merkle_segment_of_hash(t, UINT64_MAX), 7);
    merkle_free(t);
}
END_TEST

START_TEST(segment_is_the_hash_bits_below_the_partition_bits)
{
    struct merkle *t = tree(PART);
    uint64_t h = ((uint64_t)PART << 60) | (0x2abull << 50) | 0x123;
    ck_assert_uint_eq(merkle_segment_of_hash(t, h), 0x2ab);
    char buf[KEY_BYTES_MAX];
    struct kv_slice k = key_in(PART, 7, buf);
    uint64_t kh = kv_hash64(k.data, k.len, KEYSPACE_HASH_SEED);
    ck_assert_uint_eq(merkle_segment_of_key(t, k), (uint32_t)((kh << 4) >> 54));
    merkle_free(t);
}
END_TEST

/* ---- incremental updates ---- */

START_TEST(empty_trees_are_equal_and_a_removed_key_leaves_no_trace)
{
    struct merkle *a = tree(PART), *b = tree(PART), *c = tree(PART + 1);
    uint64_t empty = merkle_root(a);
    ck_assert_uint_eq(merkle_root(b), empty);
    ck_assert_uint_eq(merkle_root(c), empty); /* an empty tree looks the same in every partition */
    uint32_t segs[1], n;
    ck_assert_uint_eq(descend(a, b, segs, &n), 1); /* equal roots: one hash compared, done */
    ck_assert_uint_eq(n, 0);
    char buf[KEY_BYTES_MAX];
    struct kv_slice k = key_in(PART, 1, buf);
    uint64_t d1 = 11, d2 = 22;
    merkle_update(a, k, NULL, &d1);
    ck_assert_uint_ne(merkle_root(a), empty);
    merkle_update(a, k, &d1, &d2);
    merkle_update(a, k, &d2, NULL);
    ck_assert_uint_eq(merkle_root(a), empty);
    ck_assert_uint_eq(merkle_keys(a), 0);
    merkle_free(a);
    merkle_free(b);
    merkle_free(c);
}
END_TEST

START_TEST(update_order_does_not_matter)
{
    struct merkle *a = tree(PART), *b = tree(PART);
    char buf[KEY_BYTES_MAX];
    enum { N = 2000 };
    for (uint32_t i = 0; i < N; i++) {
        uint64_t d = 1000 + i;
        merkle_update(a, key_in(PART, i, buf), NULL, &d);
    }
    (void)merkle_root(a); /* clean, so later updates exercise re-dirtying */
    for (uint32_t i = N; i-- > 0;) {
        uint64_t d0 = 7, d = 1000 + i;
        /* b reaches the same state through an intermediate version. */
        merkle_update(b, key_in(PART, i, buf), NULL, &d0);
        merkle_update(b, key_in(PART, i, buf), &d0, &d);
    }
    assert_same_tree(a, b);
    uint64_t old = 1000 + 42, changed = 5;
    merkle_update(a, key_in(PART, 42, buf), &old, &changed);
    ck_assert_uint_ne(merkle_root(a), merkle_root(b));
    merkle_update(a, key_in(PART, 42, buf), &changed, &old);
    ck_assert_uint_eq(merkle_root(a), merkle_root(b));
    merkle_free(a);
    merkle_free(b);
}
END_TEST

START_TEST(incremental_updates_equal_a_rebuild_from_the_engine)
{
    struct fx f;
    fx_open(&f);
    struct merkle *live = tree(PART), *built = tree(PART);
    struct kv_rand r;
    kv_rand_seed(&r, 42);
    enum { KEYS = 3000, WRITES = 12000 };
    char (*vals)[16] = calloc(KEYS, sizeof *vals);
    char buf[KEY_BYTES_MAX];
    for (uint32_t w = 0; w < WRITES; w++) {
        uint32_t i = (uint32_t)kv_rand_below(&r, KEYS);
        char v[16];
        snprintf(v, sizeof v, "v%u", w);
        put(&f, live, key_in(PART, i, buf), kv_slice_str(vals[i]), v); /* "" old = absent */
        memcpy(vals[i], v, sizeof v);
    }
    ck_assert_int_eq(merkle_rebuild(built, f.e, NULL), KV_OK);
    assert_same_tree(live, built);
    free(vals);
    merkle_free(live);
    merkle_free(built);
    fx_close(&f);
}
END_TEST

START_TEST(rebuild_reads_only_its_partitions_data_keys)
{
    struct fx f;
    fx_open(&f);
    struct merkle *t = tree(PART), *want = tree(PART);
    char buf[KEY_BYTES_MAX];
    for (uint32_t i = 0; i < 100; i++) {
        ck_assert_int_eq(engine_put_data(&f, key_in(PART - 1, i, buf), kv_slice_str("x")), KV_OK);
        ck_assert_int_eq(engine_put_data(&f, key_in(PART + 1, i, buf), kv_slice_str("x")), KV_OK);
        struct kv_slice k = key_in(PART, i, buf);
        char hk[64];
        size_t n = keyspace_hint_encode(kv_slice_str("n2"), PART, k, hk);
        ck_assert_int_eq(engine_put(f.e, kv_slice_make(hk, n), kv_slice_str("hint")), KV_OK);
        if (i % 2)
            put(&f, want, k, kv_slice_make(NULL, 0), "mine");
    }
    ck_assert_int_eq(merkle_rebuild(t, f.e, NULL), KV_OK);
    ck_assert_uint_eq(merkle_keys(t), 50);
    assert_same_tree(t, want);
    merkle_free(t);
    merkle_free(want);
    fx_close(&f);
}
END_TEST

/* ---- descent ---- */

START_TEST(one_differing_key_is_found_through_its_path_only)
{
    struct merkle *a = tree(PART), *b = tree(PART);
    char buf[KEY_BYTES_MAX];
    for (uint32_t i = 0; i < 20000; i++) {
        uint64_t d = i;
        merkle_update(a, key_in(PART, i, buf), NULL, &d);
        merkle_update(b, key_in(PART, i, buf), NULL, &d);
    }
    struct kv_slice k = key_in(PART, 777, buf);
    uint64_t old = 777, newer = 1u << 30;
    merkle_update(b, k, &old, &newer);
    uint32_t segs[MERKLE_SEGMENTS_DEFAULT], n;
    /* root, the 32 children of the root, the 32 leaves under the one differing child */
    ck_assert_uint_eq(descend(a, b, segs, &n), 1 + 32 + 32);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(segs[0], merkle_segment_of_key(a, k));
    merkle_free(a);
    merkle_free(b);
}
END_TEST

static int cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return (a > b) - (a < b);
}

START_TEST(many_differences_are_all_found)
{
    struct merkle *a = tree(PART), *b = tree(PART);
    char buf[KEY_BYTES_MAX];
    uint32_t want[MERKLE_SEGMENTS_DEFAULT], nw = 0;
    for (uint32_t i = 0; i < 5000; i++) {
        uint64_t d = i;
        struct kv_slice k = key_in(PART, i, buf);
        merkle_update(a, k, NULL, &d);
        if (i % 37 == 0) { /* b lacks every 37th key */
            want[nw++] = merkle_segment_of_key(a, k);
            continue;
        }
        merkle_update(b, k, NULL, &d);
    }
    for (uint32_t i = 5000; i < 5050; i++) { /* and a has 50 keys fewer than b */
        uint64_t d = i;
        struct kv_slice k = key_in(PART, i, buf);
        merkle_update(b, k, NULL, &d);
        want[nw++] = merkle_segment_of_key(a, k);
    }
    qsort(want, nw, sizeof want[0], cmp_u32);
    uint32_t uniq = 0;
    for (uint32_t i = 0; i < nw; i++)
        if (uniq == 0 || want[uniq - 1] != want[i])
            want[uniq++] = want[i];
    uint32_t segs[MERKLE_SEGMENTS_DEFAULT], n;
    (void)descend(a, b, segs, &n);
    ck_assert_uint_eq(n, uniq);
    ck_assert_mem_eq(segs, want, uniq * sizeof want[0]);
    merkle_free(a);
    merkle_free(b);
}
END_TEST

/* ---- background builds ---- */

START_TEST(background_verify_with_concurrent_writes_finds_nothing_wrong)
{
    struct fx f;
    fx_open(&f);
    struct merkle *t = tree(PART), *check = tree(PART);
    char buf[KEY_BYTES_MAX];
    for (uint32_t i = 0; i < 2000; i++)
        put(&f, t, key_in(PART, i, buf), kv_slice_make(NULL, 0), "a");
    ck_assert_int_eq(merkle_build_begin(t, f.e, true), KV_OK);
    ck_assert_int_eq(merkle_build_begin(t, f.e, true), KV_EBUSY);
    ck_assert(merkle_ready(t));
    bool done = false;
    uint32_t step = 0;
    while (!done) {
        ck_assert_int_eq(merkle_build_step(t, 100, &done), KV_OK);
        /* Writes between steps: overwrites of scanned and unscanned keys, new keys. */
        put(&f, t, key_in(PART, step * 13 % 2000, buf), kv_slice_str("a"), "b");
        put(&f, t, key_in(PART, 2000 + step, buf), kv_slice_make(NULL, 0), "new");
        step++;
    }
    ck_assert_uint_gt(step, 10);
    uint32_t bad = 99;
    ck_assert_int_eq(merkle_build_finish(t, &bad), KV_OK);
    ck_assert_uint_eq(bad, 0);
    ck_assert(!merkle_build_running(t));
    ck_assert_int_eq(merkle_rebuild(check, f.e, NULL), KV_OK);
    assert_same_tree(t, check);
    merkle_free(t);
    merkle_free(check);
    fx_close(&f);
}
END_TEST

START_TEST(verify_reports_and_repairs_a_lost_update)
{
    struct fx f;
    fx_open(&f);
    struct merkle *t = tree(PART), *check = tree(PART);
    char buf[KEY_BYTES_MAX];
    for (uint32_t i = 0; i < 500; i++)
        put(&f, t, key_in(PART, i, buf), kv_slice_make(NULL, 0), "a");
    /* A write the tree never heard of. */
    ck_assert_int_eq(engine_put_data(&f, key_in(PART, 9, buf), kv_slice_str("sneaky")), KV_OK);
    ck_assert_int_eq(merkle_build_begin(t, f.e, true), KV_OK);
    bool done = false;
    while (!done)
        ck_assert_int_eq(merkle_build_step(t, 64, &done), KV_OK);
    uint32_t bad = 0;
    ck_assert_int_eq(merkle_build_finish(t, &bad), KV_OK);
    ck_assert_uint_eq(bad, 1);
    ck_assert_int_eq(merkle_rebuild(check, f.e, NULL), KV_OK);
    assert_same_tree(t, check);
    merkle_free(t);
    merkle_free(check);
    fx_close(&f);
}
END_TEST

START_TEST(a_rebuild_is_not_ready_until_it_finishes)
{
    struct fx f;
    fx_open(&f);
    struct merkle *t = tree(PART);
    char buf[KEY_BYTES_MAX];
    for (uint32_t i = 0; i < 300; i++)
        ck_assert_int_eq(engine_put_data(&f, key_in(PART, i, buf), kv_slice_str("v")), KV_OK);
    uint32_t bad;
    ck_assert_int_eq(merkle_build_finish(t, &bad), KV_ESTATE);
    ck_assert_int_eq(merkle_build_begin(t, f.e, false), KV_OK);
    ck_assert(!merkle_ready(t));
    bool done = false;
    ck_assert_int_eq(merkle_build_step(t, 100, &done), KV_OK);
    ck_assert(!done);
    ck_assert_int_eq(merkle_build_finish(t, &bad), KV_ESTATE);
    merkle_build_abort(t);
    ck_assert(!merkle_ready(t)); /* an abandoned rebuild leaves the tree untrusted */
    ck_assert_int_eq(merkle_build_begin(t, f.e, false), KV_OK);
    while (!done)
        ck_assert_int_eq(merkle_build_step(t, 1000, &done), KV_OK);
    ck_assert_int_eq(merkle_build_finish(t, &bad), KV_OK);
    ck_assert(merkle_ready(t));
    ck_assert_uint_eq(merkle_keys(t), 300);
    merkle_free(t);
    fx_close(&f);
}
END_TEST

/* ---- segment scans ---- */

struct seen {
    char keys[400][KEY_BYTES_MAX];
    uint32_t n;
    uint32_t segs_bad;
    const struct merkle *t;
    const uint32_t *segs;
    uint32_t nsegs;
};

static int collect(void *arg, struct kv_slice key, uint64_t digest, struct kv_slice object)
{
    struct seen *s = arg;
    ck_assert_uint_eq(digest, merkle_digest(object));
    uint32_t seg = merkle_segment_of_key(s->t, key);
    bool listed = false;
    for (uint32_t i = 0; i < s->nsegs; i++)
        listed |= s->segs[i] == seg;
    s->segs_bad += !listed;
    ck_assert_uint_lt(s->n, 400);
    ck_assert_uint_lt(key.len, KEY_BYTES_MAX);
    memcpy(s->keys[s->n], key.data, key.len);
    s->keys[s->n][key.len] = 0;
    s->n++;
    return KV_OK;
}

START_TEST(segment_scan_pages_cover_the_range_once_in_key_order)
{
    struct fx f;
    fx_open(&f);
    struct merkle *t = tree(PART);
    char buf[KEY_BYTES_MAX];
    for (uint32_t i = 0; i < 3000; i++)
        put(&f, t, key_in(PART, i, buf), kv_slice_make(NULL, 0), "v");
    uint32_t segs[64];
    for (uint32_t i = 0; i < 64; i++)
        segs[i] = i * 16; /* sorted, every 16th segment */
    struct seen *all = calloc(1, sizeof *all), *paged = calloc(1, sizeof *paged);
    all->t = paged->t = t;
    all->segs = paged->segs = segs;
    all->nsegs = paged->nsegs = 64;
    struct merkle_scan s = { .segments = segs, .n_segments = 64, .keys_max = UINT32_MAX };
    struct kv_buf last = { 0 };
    bool complete = false;
    ck_assert_int_eq(merkle_scan_segments(t, f.e, NULL, &s, collect, all, &last, &complete), KV_OK);
    ck_assert(complete);
    ck_assert_uint_gt(all->n, 100); /* 3000 keys / 16 */
    ck_assert_uint_eq(all->segs_bad, 0);
    s.keys_max = 7;
    s.scanned_max = 50;
    struct kv_buf cursor = { 0 };
    for (uint32_t pages = 0; !(complete && pages > 0); pages++) {
        complete = false;
        ck_assert_int_eq(merkle_scan_segments(t, f.e, NULL, &s, collect, paged, &last, &complete), KV_OK);
        ck_assert_int_eq(kv_buf_set(&cursor, last.data, last.len), KV_OK);
        s.after = kv_slice_make(cursor.data, cursor.len);
        s.has_after = true;
    }
    ck_assert_uint_eq(paged->n, all->n);
    for (uint32_t i = 0; i < all->n; i++) {
        ck_assert_str_eq(paged->keys[i], all->keys[i]);
        if (i)
            ck_assert_int_lt(kv_slice_cmp(kv_slice_str(all->keys[i - 1]), kv_slice_str(all->keys[i])), 0);
    }
    /* An upper bound stops at it, inclusive. */
    struct seen *upto = calloc(1, sizeof *upto);
    upto->t = t;
    upto->segs = segs;
    upto->nsegs = 64;
    struct merkle_scan u = { .segments = segs, .n_segments = 64, .keys_max = UINT32_MAX,
                             .upto = kv_slice_str(all->keys[9]), .has_upto = true };
    ck_assert_int_eq(merkle_scan_segments(t, f.e, NULL, &u, collect, upto, &last, &complete), KV_OK);
    ck_assert(complete);
    ck_assert_uint_eq(upto->n, 10);
    kv_buf_free(&last);
    kv_buf_free(&cursor);
    free(all);
    free(paged);
    free(upto);
    merkle_free(t);
    fx_close(&f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("merkle");
    TCase *tc = tcase_create("merkle");
    tcase_add_test(tc, bad_shapes_are_refused);
    tcase_add_test(tc, segment_is_the_hash_bits_below_the_partition_bits);
    tcase_add_test(tc, empty_trees_are_equal_and_a_removed_key_leaves_no_trace);
    tcase_add_test(tc, update_order_does_not_matter);
    tcase_add_test(tc, incremental_updates_equal_a_rebuild_from_the_engine);
    tcase_add_test(tc, rebuild_reads_only_its_partitions_data_keys);
    tcase_add_test(tc, one_differing_key_is_found_through_its_path_only);
    tcase_add_test(tc, many_differences_are_all_found);
    tcase_add_test(tc, background_verify_with_concurrent_writes_finds_nothing_wrong);
    tcase_add_test(tc, verify_reports_and_repairs_a_lost_update);
    tcase_add_test(tc, a_rebuild_is_not_ready_until_it_finishes);
    tcase_add_test(tc, segment_scan_pages_cover_the_range_once_in_key_order);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
