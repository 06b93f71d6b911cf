/* test_engine.c - the engine's API behaviours: reads and writes, batches,
 * range deletes, snapshots, iterators, reopen, flush and compaction,
 * locking, the compaction filter, statistics and limits. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "engine_testutil.h"
#include "storage/engine.h"
#include "storage/env.h"

static struct env *mem_env(void)
{
    struct env *env;
    ck_assert_int_eq(env_mem_new(&env), KV_OK);
    return env;
}

static struct engine *open_small(struct env *env, const char *dir)
{
    struct engine_options o;
    struct engine *e;
    tu_small_options(&o, env);
    ck_assert_int_eq(engine_open(dir, &o, &e), KV_OK);
    return e;
}

START_TEST(put_get_delete_round_trip)
{
    struct env *env = mem_env();
    struct engine *e = open_small(env, "/db");
    tu_expect(e, NULL, "a", NULL);
    tu_put(e, "a", "1");
    tu_put(e, "b", "2");
    tu_expect(e, NULL, "a", "1");
    tu_put(e, "a", "3");
    tu_expect(e, NULL, "a", "3");
    ck_assert_int_eq(engine_delete(e, tu_s("a")), KV_OK);
    tu_expect(e, NULL, "a", NULL);
    tu_expect(e, NULL, "b", "2");
    ck_assert_int_eq(engine_put(e, tu_s(""), tu_s("")), KV_OK); /* empty key and value are fine */
    tu_expect(e, NULL, "", "");
    ck_assert_int_eq(engine_close(e), KV_OK);
    env_destroy(env);
}
END_TEST

START_TEST(batch_is_applied_atomically)
{
    struct env *env = mem_env();
    struct engine *e = open_small(env, "/db");
    struct engine_batch *b;
    struct engine_snapshot *before;
    tu_put(e, "gone", "x");
    tu_put(e, "r1", "x");
    ck_assert_int_eq(engine_batch_new(&b), KV_OK);
    ck_assert_int_eq(engine_batch_put(b, tu_s("k1"), tu_s("v1")), KV_OK);
    ck_assert_int_eq(engine_batch_put(b, tu_s("k2"), tu_s("v2")), KV_OK);
    ck_assert_int_eq(engine_batch_delete(b, tu_s("gone")), KV_OK);
    ck_assert_int_eq(engine_batch_delete_range(b, tu_s("r"), tu_s("s")), KV_OK);
    ck_assert_uint_eq(engine_batch_count(b), 4);
    /* A refused record leaves the batch as it was. */
    char *big = calloc(1, ENGINE_KEY_BYTES_MAX + 1);
    ck_assert_int_eq(engine_batch_put(b, kv_slice_make(big, ENGINE_KEY_BYTES_MAX + 1), tu_s("v")), KV_ETOOBIG);
    free(big);
    ck_assert_uint_eq(engine_batch_count(b), 4);
    ck_assert_int_eq(engine_snapshot_new(e, &before), KV_OK);
    ck_assert_int_eq(engine_write(e, b), KV_OK);
    tu_expect(e, before, "k1", NULL);
    tu_expect(e, before, "gone", "x");
    tu_expect(e, before, "r1", "x");
    tu_expect(e, NULL, "k1", "v1");
    tu_expect(e, NULL, "k2", "v2");
    tu_expect(e, NULL, "gone", NULL);
    tu_expect(e, NULL, "r1", NULL);
    engine_snapshot_release(e, before);
    engine_batch_clear(b);
    ck_assert_uint_eq(engine_batch_count(b), 0);
    ck_assert_int_eq(engine_write(e, b), KV_OK);
    engine_batch_free(b);
    ck_assert_int_eq(engine_close(e), KV_OK);
    e = open_small(env, "/db");
    tu_expect(e, NULL, "k1", "v1");
    tu_expect(e, NULL, "gone", NULL);
    tu_expect(e, NULL, "r1", NULL);
    ck_assert_int_eq(engine_close(e), KV_OK);
    env_destroy(env);
}
END_TEST

static void put_range(struct engine *e, const char *prefix, unsigned from, unsigned to, const char *v)
{
    char k[32];
    for (unsigned i = from; i < to; i++) {
        tu_key(k, sizeof k, prefix, i);
        tu_put(e, k, v);
    }
}

static void expect_range(struct engine *e, const struct engine_snapshot *s, const char *prefix, unsigned from,
                         unsigned to, const char *v)
{
    char k[32];
    for (unsigned i = from; i < to; i++) {
        tu_key(k, sizeof k, prefix, i);
        tu_expect(e, s, k, v);
    }
}

static unsigned count_keys(struct engine *e, const struct engine_snapshot *s)
{
    struct engine_iter *it;
    unsigned n = 0;
    ck_assert_int_eq(engine_iter_new(e, s, &it), KV_OK);
    for (engine_iter_seek_first(it); engine_iter_valid(it); engine_iter_next(it))
        n++;
    ck_assert_int_eq(engine_iter_status(it), KV_OK);
    engine_iter_free(it);
    return n;
}

START_TEST(range_delete_hides_keys_in_every_layer)
{
    struct env *env = mem_env();
    struct engine *e = open_small(env, "/db");
    put_range(e, "k", 0, 200, "old");
    ck_assert_int_eq(engine_compact_range(e, NULL, NULL), KV_OK); /* now in deeper levels */
    put_range(e, "k", 20, 40, "mid");
    ck_assert_int_eq(engine_flush(e), KV_OK);                     /* in level 0 or 1 */
    put_range(e, "k", 30, 35, "new");                              /* in the memtable */
    ck_assert_int_eq(engine_delete_range(e, tu_s("k000010"), tu_s("k000150")), KV_OK);
    put_range(e, "k", 100, 105, "after");                          /* newer than the tombstone */
    expect_range(e, NULL, "k", 0, 10, "old");
    expect_range(e, NULL, "k", 10, 100, NULL);
    expect_range(e, NULL, "k", 100, 105, "after");
    expect_range(e, NULL, "k", 105, 150, NULL);
    expect_range(e, NULL, "k", 150, 200, "old");
    ck_assert_uint_eq(count_keys(e, NULL), 10 + 5 + 50);
    for (int round = 0; round < 3; round++) {
        if (round == 0)
            ck_assert_int_eq(engine_flush(e), KV_OK);
        else if (round == 1)
            ck_assert_int_eq(engine_compact_range(e, NULL, NULL), KV_OK);
        else {
            ck_assert_int_eq(engine_close(e), KV_OK);
            e = open_small(env, "/db");
        }
        expect_range(e, NULL, "k", 0, 10, "old");
        expect_range(e, NULL, "k", 10, 100, NULL);
        expect_range(e, NULL, "k", 100, 105, "after");
        expect_range(e, NULL, "k", 105, 150, NULL);
        expect_range(e, NULL, "k", 150, 200, "old");
        ck_assert_uint_eq(count_keys(e, NULL), 10 + 5 + 50);
    }
    ck_assert_int_eq(engine_delete_range(e, tu_s("b"), tu_s("a")), KV_EINVAL);
    ck_assert_int_eq(engine_delete_range(e, tu_s("k000000"), tu_s("k000000")), KV_OK); /* empty: no effect */
    tu_expect(e, NULL, "k000000", "old");
    ck_assert_int_eq(engine_close(e), KV_OK);
    env_destroy(env);
}
END_TEST

START_TEST(snapshot_sees_old_state_across_flush_and_compaction)
{
    struct env *env = mem_env();
    struct engine *e = open_small(env, "/db");
    struct engine_snapshot *s1, *s2;
    put_range(e, "k", 0, 300, "v1");
    ck_assert_int_eq(engine_snapshot_new(e, &s1), KV_OK);
    put_range(e, "k", 0, 300, "v2");
    ck_assert_int_eq(engine_delete_range(e, tu_s("k000100"), tu_s("k000200")), KV_OK);
    ck_assert_int_eq(engine_snapshot_new(e, &s2), KV_OK);
    ck_assert_int_eq(engine_delete(e, tu_s("k000000")), KV_OK);
    for (int round = 0; round < 2; round++) {
        expect_range(e, s1, "k", 0, 300, "v1");
        expect_range(e, s2, "k", 0, 100, "v2");
        expect_range(e, s2, "k", 100, 200, NULL);
        tu_expect(e, NULL, "k000000", NULL);
        ck_assert_uint_eq(count_keys(e, s1), 300);
        ck_assert_uint_eq(count_keys(e, s2), 200);
        ck_assert_uint_eq(count_keys(e, NULL), 199);
        ck_assert_int_eq(engine_compact_range(e, NULL, NULL), KV_OK);
    }
    engine_snapshot_release(e, s1);
    engine_snapshot_release(e, s2);
    ck_assert_int_eq(engine_compact_range(e, NULL, NULL), KV_OK);
    ck_assert_uint_eq(count_keys(e, NULL), 199);
    ck_assert_int_eq(engine_close(e), KV_OK);
    env_destroy(env);
}
END_TEST

/* Expected live keys: k000000..k000099, even ones only, value "v<i>". */
static void check_iteration(struct engine *e)
{
    struct engine_iter *it;
    char k[32], v[32];
    ck_assert_int_eq(engine_iter_new(e, NULL, &it), KV_OK);
    unsigned i = 0;
    for (engine_iter_seek_first(it); engine_iter_valid(it); engine_iter_next(it), i += 2) {
        tu_key(k, sizeof k, "k", i);
        snprintf(v, sizeof v, "v%u", i);
        ck_assert(kv_slice_eq(engine_iter_key(it), tu_s(k)));
        ck_assert(kv_slice_eq(engine_iter_value(it), tu_s(v)));
    }
    ck_assert_uint_eq(i, 100);
    i = 98;
    for (engine_iter_seek_last(it); engine_iter_valid(it); engine_iter_prev(it), i -= 2) {
        tu_key(k, sizeof k, "k", i);
        snprintf(v, sizeof v, "v%u", i);
        ck_assert(kv_slice_eq(engine_iter_key(it), tu_s(k)));
        ck_assert(kv_slice_eq(engine_iter_value(it), tu_s(v)));
    }
    ck_assert_uint_eq(i, (unsigned)-2);
    /* Seek to a deleted key lands on the next live one; then switch directions. */
    engine_iter_seek(it, tu_s("k000051"));
    ck_assert(engine_iter_valid(it) && kv_slice_eq(engine_iter_key(it), tu_s("k000052")));
    engine_iter_prev(it);
    ck_assert(engine_iter_valid(it) && kv_slice_eq(engine_iter_key(it), tu_s("k000050")));
    engine_iter_prev(it);
    ck_assert(engine_iter_valid(it) && kv_slice_eq(engine_iter_key(it), tu_s("k000048")));
    engine_iter_next(it);
    ck_assert(engine_iter_valid(it) && kv_slice_eq(engine_iter_key(it), tu_s("k000050")));
    ck_assert(kv_slice_eq(engine_iter_value(it), tu_s("v50")));
    engine_iter_next(it);
    ck_assert(engine_iter_valid(it) && kv_slice_eq(engine_iter_key(it), tu_s("k000052")));
    engine_iter_seek(it, tu_s("z"));
    ck_assert(!engine_iter_valid(it));
    engine_iter_seek(it, tu_s(""));
    ck_assert(engine_iter_valid(it) && kv_slice_eq(engine_iter_key(it), tu_s("k000000")));
    engine_iter_prev(it);
    ck_assert(!engine_iter_valid(it));
    ck_assert_int_eq(engine_iter_status(it), KV_OK);
    engine_iter_free(it);
}

START_TEST(iterator_moves_both_ways_and_seeks)
{
    struct env *env = mem_env();
    struct engine *e = open_small(env, "/db");
    char k[32], v[32];
    /* Versions spread over every layer: old values deep, new values and
     * deletes of odd keys above them. */
    put_range(e, "k", 0, 100, "old");
    ck_assert_int_eq(engine_compact_range(e, NULL, NULL), KV_OK);
    for (unsigned i = 0; i < 100; i++) {
        tu_key(k, sizeof k, "k", i);
        snprintf(v, sizeof v, "v%u", i);
        if (i % 2)
            ck_assert_int_eq(engine_delete(e, tu_s(k)), KV_OK);
        else
            tu_put(e, k, v);
        if (i == 50)
            ck_assert_int_eq(engine_flush(e), KV_OK);
    }
    check_iteration(e);
    ck_assert_int_eq(engine_flush(e), KV_OK);
    check_iteration(e);
    ck_assert_int_eq(engine_compact_range(e, NULL, NULL), KV_OK);
    check_iteration(e);
    ck_assert_int_eq(engine_close(e), KV_OK);
    env_destroy(env);
}
END_TEST

START_TEST(iterator_keeps_its_view_while_writes_continue)
{
    struct env *env = mem_env();
    struct engine *e = open_small(env, "/db");
    put_range(e, "k", 0, 50, "a");
    struct engine_iter *it;
    ck_assert_int_eq(engine_iter_new(e, NULL, &it), KV_OK);
    put_range(e, "k", 0, 400, "b"); /* flushes and compactions happen meanwhile */
    ck_assert_int_eq(engine_compact_range(e, NULL, NULL), KV_OK);
    unsigned n = 0;
    for (engine_iter_seek_first(it); engine_iter_valid(it); engine_iter_next(it), n++)
        ck_assert(kv_slice_eq(engine_iter_value(it), tu_s("a")));
    ck_assert_uint_eq(n, 50);
    engine_iter_free(it);
    ck_assert_uint_eq(count_keys(e, NULL), 400);
    ck_assert_int_eq(engine_close(e), KV_OK);
    env_destroy(env);
}
END_TEST

START_TEST(reopen_keeps_data_on_disk)
{
    char *dir = tu_tmpdir();
    struct engine *e = open_small(NULL, dir);
    put_range(e, "k", 0, 500, "v");
    ck_assert_int_eq(engine_delete(e, tu_s("k000007")), KV_OK);
    ck_assert_int_eq(engine_close(e), KV_OK);
    for (int i = 0; i < 3; i++) {
        e = open_small(NULL, dir);
        expect_range(e, NULL, "k", 0, 7, "v");
        tu_expect(e, NULL, "k000007", NULL);
        expect_range(e, NULL, "k", 8, 500, "v");
        put_range(e, "x", 0, 10, "w");
        ck_assert_int_eq(engine_close(e), KV_OK);
    }
    tu_rmdir(dir);
}
END_TEST

START_TEST(flush_and_compact_range_keep_data)
{
    struct env *env = mem_env();
    struct engine *e = open_small(env, "/db");
    put_range(e, "k", 0, 1000, "v");
    ck_assert_int_eq(engine_flush(e), KV_OK);
    expect_range(e, NULL, "k", 0, 1000, "v");
    struct kv_slice b = tu_s("k000200"), en = tu_s("k000400");
    ck_assert_int_eq(engine_compact_range(e, &b, &en), KV_OK);
    expect_range(e, NULL, "k", 0, 1000, "v");
    ck_assert_int_eq(engine_compact_range(e, NULL, NULL), KV_OK);
    expect_range(e, NULL, "k", 0, 1000, "v");
    struct engine_stats st;
    engine_get_stats(e, &st);
    ck_assert_uint_eq(st.levels[0].files, 0); /* a full compaction empties level 0 */
    ck_assert_int_eq(engine_flush(e), KV_OK); /* nothing to flush: fine */
    ck_assert_int_eq(engine_close(e), KV_OK);
    env_destroy(env);
}
END_TEST

START_TEST(second_open_of_a_directory_is_busy)
{
    char *dir = tu_tmpdir();
    struct engine *e = open_small(NULL, dir), *e2 = NULL;
    struct engine_options o;
    tu_small_options(&o, NULL);
    ck_assert_int_eq(engine_open(dir, &o, &e2), KV_EBUSY);
    ck_assert_ptr_null(e2);
    ck_assert_int_eq(engine_close(e), KV_OK);
    ck_assert_int_eq(engine_open(dir, &o, &e2), KV_OK);
    ck_assert_int_eq(engine_close(e2), KV_OK);
    tu_rmdir(dir);
}
END_TEST

START_TEST(open_honours_create_and_exists_options)
{
    struct env *env = mem_env();
    struct engine_options o;
    struct engine *e;
    tu_small_options(&o, env);
    o.create_if_missing = false;
    ck_assert_int_ne(engine_open("/db", &o, &e), KV_OK);
    o.create_if_missing = true;
    ck_assert_int_eq(engine_open("/db", &o, &e), KV_OK);
    ck_assert_int_eq(engine_close(e), KV_OK);
    o.error_if_exists = true;
    ck_assert_int_eq(engine_open("/db", &o, &e), KV_EEXIST);
    env_destroy(env);
}
END_TEST

/* Drops every value "expired". */
static enum engine_filter_decision drop_expired(void *arg, int level, struct kv_slice key, struct kv_slice value)
{
    (*(int *)arg)++;
    return kv_slice_eq(value, tu_s("expired")) ? ENGINE_FILTER_DROP : ENGINE_FILTER_KEEP;
}

START_TEST(compaction_filter_drops_entries)
{
    struct env *env = mem_env();
    struct engine_options o;
    struct engine *e;
    int calls = 0;
    struct engine_compaction_filter f = { drop_expired, &calls };
    tu_small_options(&o, env);
    o.compaction_filter = &f;
    ck_assert_int_eq(engine_open("/db", &o, &e), KV_OK);
    put_range(e, "k", 0, 100, "kept");
    ck_assert_int_eq(engine_compact_range(e, NULL, NULL), KV_OK);
    char k[32];
    for (unsigned i = 0; i < 100; i += 3) {
        tu_key(k, sizeof k, "k", i);
        tu_put(e, k, "expired"); /* newer version over a kept one deeper down */
    }
    tu_put(e, "z", "expired");
    tu_expect(e, NULL, "k000000", "expired"); /* the filter only acts in compactions */
    ck_assert_int_eq(engine_compact_range(e, NULL, NULL), KV_OK);
    ck_assert_int_gt(calls, 0);
    for (unsigned i = 0; i < 100; i++) {
        tu_key(k, sizeof k, "k", i);
        tu_expect(e, NULL, k, i % 3 ? "kept" : NULL); /* dropped, and the old version stays hidden */
    }
    tu_expect(e, NULL, "z", NULL);
    ck_assert_uint_eq(count_keys(e, NULL), 66);
    ck_assert_int_eq(engine_close(e), KV_OK);
    env_destroy(env);
}
END_TEST

START_TEST(stats_are_plausible)
{
    struct env *env = mem_env();
    struct engine *e = open_small(env, "/db");
    struct engine_stats st;
    char k[32];
    for (unsigned i = 0; i < 2000; i++) { /* scattered keys: flushes overlap, so compactions run */
        tu_key(k, sizeof k, "k", i * 7919u % 2000u);
        tu_put(e, k, "0123456789");
    }
    ck_assert_int_eq(engine_flush(e), KV_OK);
    expect_range(e, NULL, "k", 0, 2000, "0123456789");
    engine_get_stats(e, &st);
    ck_assert_uint_eq(st.last_seq, 2000);
    ck_assert_uint_eq(st.user_bytes_written, 2000 * (7 + 10));
    ck_assert_uint_ge(st.wal_bytes_written, st.user_bytes_written);
    ck_assert_uint_gt(st.flushes, 0);
    ck_assert_uint_gt(st.compactions, 0);
    ck_assert(st.write_amplification >= 1.0);
    uint64_t files = 0, bytes = 0;
    for (int l = 0; l < ENGINE_LEVELS; l++) {
        files += st.levels[l].files;
        bytes += st.levels[l].bytes;
    }
    ck_assert_uint_gt(files, 1);
    ck_assert_uint_gt(bytes, 2000 * 10 / 2);
    ck_assert_uint_gt(st.cache_hits + st.cache_misses, 0);
    ck_assert(st.cache_hit_rate >= 0 && st.cache_hit_rate <= 1);
    ck_assert_int_eq(st.background_error, KV_OK);
    ck_assert_int_eq(engine_close(e), KV_OK);
    env_destroy(env);
}
END_TEST

START_TEST(oversized_keys_and_values_are_too_big)
{
    struct env *env = mem_env();
    struct engine *e = open_small(env, "/db");
    size_t n = ENGINE_VALUE_BYTES_MAX + 1;
    char *big = calloc(1, n);
    struct kv_buf b = { 0 };
    ck_assert_ptr_nonnull(big);
    ck_assert_int_eq(engine_put(e, kv_slice_make(big, ENGINE_KEY_BYTES_MAX + 1), tu_s("v")), KV_ETOOBIG);
    ck_assert_int_eq(engine_put(e, tu_s("k"), kv_slice_make(big, n)), KV_ETOOBIG);
    ck_assert_int_eq(engine_delete(e, kv_slice_make(big, ENGINE_KEY_BYTES_MAX + 1)), KV_ETOOBIG);
    ck_assert_int_eq(engine_get(e, NULL, kv_slice_make(big, ENGINE_KEY_BYTES_MAX + 1), &b), KV_ETOOBIG);
    /* The largest allowed key round-trips, through a flush too. */
    memset(big, 'x', ENGINE_KEY_BYTES_MAX);
    ck_assert_int_eq(engine_put(e, kv_slice_make(big, ENGINE_KEY_BYTES_MAX), tu_s("v")), KV_OK);
    ck_assert_int_eq(engine_flush(e), KV_OK);
    ck_assert_int_eq(engine_get(e, NULL, kv_slice_make(big, ENGINE_KEY_BYTES_MAX), &b), KV_OK);
    ck_assert(kv_slice_eq(kv_slice_make(b.data, b.len), tu_s("v")));
    kv_buf_free(&b);
    free(big);
    ck_assert_int_eq(engine_close(e), KV_OK);
    env_destroy(env);
}
END_TEST

struct writer_arg {
    struct engine *e;
    int id;
};

static void *writer_main(void *p)
{
    struct writer_arg *a = p;
    char k[32];
    for (unsigned i = 0; i < 500; i++) {
        snprintf(k, sizeof k, "t%d-%06u", a->id, i);
        if (engine_put(a->e, tu_s(k), tu_s(k)) != KV_OK)
            return p;
    }
    return NULL;
}

START_TEST(concurrent_writers_are_group_committed)
{
    struct env *env = mem_env();
    struct engine_options o;
    struct engine *e;
    tu_small_options(&o, env);
    o.sync = ENGINE_SYNC_ALWAYS;
    ck_assert_int_eq(engine_open("/db", &o, &e), KV_OK);
    pthread_t t[4];
    struct writer_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct writer_arg){ e, i };
        ck_assert_int_eq(pthread_create(&t[i], NULL, writer_main, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(t[i], &r);
        ck_assert_ptr_null(r);
    }
    char k[32];
    for (int id = 0; id < 4; id++)
        for (unsigned i = 0; i < 500; i++) {
            snprintf(k, sizeof k, "t%d-%06u", id, i);
            tu_expect(e, NULL, k, k);
        }
    struct engine_stats st;
    engine_get_stats(e, &st);
    ck_assert_uint_eq(st.last_seq, 2000);
    ck_assert_uint_ge(st.wal_syncs, 1);
    ck_assert_uint_le(st.wal_syncs, 2000); /* at most one per write; fewer when writers overlap */
    ck_assert_int_eq(engine_close(e), KV_OK);
    env_destroy(env);
}
END_TEST

struct rw_shared {
    struct engine *e;
    atomic_int stop;
    int failures;
};

/* Rounds of writes: key i gets "r<round>" in round order, so a reader
 * must never see a key's round go backwards. */
static void *rw_writer(void *p)
{
    struct rw_shared *sh = p;
    char k[32], v[32];
    for (unsigned round = 1; round <= 30; round++) {
        for (unsigned i = 0; i < 200; i++) {
            tu_key(k, sizeof k, "k", i);
            snprintf(v, sizeof v, "r%04u", round);
            if (engine_put(sh->e, tu_s(k), tu_s(v)) != KV_OK)
                sh->failures++;
        }
        if (round % 10 == 0 && engine_compact_range(sh->e, NULL, NULL) != KV_OK)
            sh->failures++;
    }
    sh->stop = 1;
    return NULL;
}

static void *rw_reader(void *p)
{
    struct rw_shared *sh = p;
    unsigned last[200] = { 0 };
    struct kv_buf b = { 0 };
    char k[32];
    struct kv_rand r;
    kv_rand_seed(&r, (uint64_t)(uintptr_t)p);
    while (!sh->stop) {
        unsigned i = (unsigned)kv_rand_below(&r, 200);
        tu_key(k, sizeof k, "k", i);
        int rc = engine_get(sh->e, NULL, tu_s(k), &b);
        if (rc == KV_OK) {
            unsigned round = (unsigned)atoi(b.data + 1);
            if (round < last[i])
                return p; /* went back in time */
            last[i] = round;
        } else if (rc != KV_ENOTFOUND || last[i]) {
            return p;
        }
        if (kv_rand_below(&r, 50) == 0) { /* a scan: sorted, no duplicates */
            struct engine_iter *it;
            if (engine_iter_new(sh->e, NULL, &it) != KV_OK)
                return p;
            int prev = -1;
            for (engine_iter_seek_first(it); engine_iter_valid(it); engine_iter_next(it)) {
                int n = atoi(engine_iter_key(it).data + 1);
                if (n <= prev)
                    return p;
                prev = n;
            }
            int st = engine_iter_status(it);
            engine_iter_free(it);
            if (st != KV_OK)
                return p;
        }
    }
    kv_buf_free(&b);
    return NULL;
}

START_TEST(reads_during_writes_and_compactions_stay_consistent)
{
    struct env *env = mem_env();
    struct rw_shared sh = { .e = open_small(env, "/db") };
    pthread_t w, rd[2];
    ck_assert_int_eq(pthread_create(&w, NULL, rw_writer, &sh), 0);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&rd[i], NULL, rw_reader, &sh), 0);
    pthread_join(w, NULL);
    for (int i = 0; i < 2; i++) {
        void *res;
        pthread_join(rd[i], &res);
        ck_assert_ptr_null(res);
    }
    ck_assert_int_eq(sh.failures, 0);
    expect_range(sh.e, NULL, "k", 0, 200, "r0030");
    ck_assert_int_eq(engine_close(sh.e), KV_OK);
    env_destroy(env);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("engine");
    TCase *tc = tcase_create("engine");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, put_get_delete_round_trip);
    tcase_add_test(tc, batch_is_applied_atomically);
    tcase_add_test(tc, range_delete_hides_keys_in_every_layer);
    tcase_add_test(tc, snapshot_sees_old_state_across_flush_and_compaction);
    tcase_add_test(tc, iterator_moves_both_ways_and_seeks);
    tcase_add_test(tc, iterator_keeps_its_view_while_writes_continue);
    tcase_add_test(tc, reopen_keeps_data_on_disk);
    tcase_add_test(tc, flush_and_compact_range_keep_data);
    tcase_add_test(tc, second_open_of_a_directory_is_busy);
    tcase_add_test(tc, open_honours_create_and_exists_options);
    tcase_add_test(tc, compaction_filter_drops_entries);
    tcase_add_test(tc, stats_are_plausible);
    tcase_add_test(tc, oversized_keys_and_values_are_too_big);
    tcase_add_test(tc, concurrent_writers_are_group_committed);
    tcase_add_test(tc, reads_during_writes_and_compactions_stay_consistent);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
