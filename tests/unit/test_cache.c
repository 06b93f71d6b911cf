/* test_cache.c - the sharded LRU block cache: eviction order, charges,
 * held handles, erase by id, stats, and a multithreaded smoke test. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "common/clock.h"
#include "storage/cache.h"

#define SHARDS 16 /* cache.h: 16 shards, each with capacity / 16 */

static atomic_int deleted;
static atomic_int deleted_bad;

/* Values are malloc'd records of their own key, so a lookup can check it
 * got the right entry and the deleter can check it frees the right one. */
struct val {
    uint64_t id, offset;
};

static void val_delete(uint64_t id, uint64_t offset, void *v)
{
    struct val *x = v;
    if (x->id != id || x->offset != offset)
        atomic_fetch_add(&deleted_bad, 1);
    atomic_fetch_add(&deleted, 1);
    free(x);
}

static struct cache_handle *put(struct cache *c, uint64_t id, uint64_t off, size_t charge)
{
    struct val *v = malloc(sizeof *v);
    ck_assert_ptr_nonnull(v);
    v->id = id;
    v->offset = off;
    struct cache_handle *h;
    ck_assert_int_eq(cache_insert(c, id, off, v, charge, val_delete, &h), KV_OK);
    return h;
}

static void put_release(struct cache *c, uint64_t id, uint64_t off, size_t charge)
{
    cache_release(c, put(c, id, off, charge));
}

/* Looks (id, off) up; releases at once. */
static bool present(struct cache *c, uint64_t id, uint64_t off)
{
    struct cache_handle *h = cache_lookup(c, id, off);
    if (!h)
        return false;
    struct val *v = cache_value(h);
    ck_assert_uint_eq(v->id, id);
    ck_assert_uint_eq(v->offset, off);
    cache_release(c, h);
    return true;
}

static void setup(void)
{
    atomic_store(&deleted, 0);
    atomic_store(&deleted_bad, 0);
}

/*
 * Finds n offsets (of id 1) that land in the same shard as offset 0, using
 * only the public API: in a cache with one byte per shard, inserting a
 * one-byte entry evicts offset 0 exactly when they share a shard.
 */
static void same_shard_offsets(uint64_t *out, int n)
{
    struct cache *probe;
    ck_assert_int_eq(cache_new(SHARDS, &probe), KV_OK);
    int found = 0;
    for (uint64_t off = 1; found < n && off < 100000; off++) {
        put_release(probe, 1, 0, 1);
        put_release(probe, 1, off, 1);
        if (!present(probe, 1, 0))
            out[found++] = off;
    }
    ck_assert_int_eq(found, n);
    cache_free(probe);
}

START_TEST(lookup_finds_what_insert_stored)
{
    struct cache *c;
    ck_assert_int_eq(cache_new(1 << 20, &c), KV_OK);
    ck_assert_ptr_null(cache_lookup(c, 1, 0));
    put_release(c, 1, 0, 10);
    put_release(c, 1, 4096, 10);
    put_release(c, 2, 0, 10);
    ck_assert(present(c, 1, 0));
    ck_assert(present(c, 1, 4096));
    ck_assert(present(c, 2, 0));
    ck_assert(!present(c, 2, 4096));
    cache_free(c);
    ck_assert_int_eq(atomic_load(&deleted), 3);
    ck_assert_int_eq(atomic_load(&deleted_bad), 0);
}
END_TEST

START_TEST(least_recently_used_is_evicted_first)
{
    uint64_t off[5];
    same_shard_offsets(off, 5);
    atomic_store(&deleted, 0);
    struct cache *c;
    ck_assert_int_eq(cache_new(SHARDS * 3, &c), KV_OK); /* three one-byte entries per shard */
    put_release(c, 1, off[0], 1);
    put_release(c, 1, off[1], 1);
    put_release(c, 1, off[2], 1);
    ck_assert(present(c, 1, off[0])); /* off[0] becomes the most recent */
    put_release(c, 1, off[3], 1);     /* evicts off[1], the oldest */
    ck_assert(!present(c, 1, off[1]));
    put_release(c, 1, off[4], 1);     /* evicts off[2] */
    ck_assert(!present(c, 1, off[2]));
    ck_assert(present(c, 1, off[0]));
    ck_assert(present(c, 1, off[3]));
    ck_assert(present(c, 1, off[4]));
    ck_assert_int_eq(atomic_load(&deleted), 2);
    cache_free(c);
}
END_TEST

START_TEST(hot_entry_survives_a_stream_of_inserts)
{
    struct cache *c;
    ck_assert_int_eq(cache_new(SHARDS * 4, &c), KV_OK);
    put_release(c, 7, 100, 1);
    put_release(c, 7, 200, 1);
    for (uint64_t i = 0; i < 2000; i++) {
        put_release(c, 8, i, 1);
        ck_assert(present(c, 7, 100));
    }
    ck_assert(!present(c, 7, 200));
    cache_free(c);
}
END_TEST

START_TEST(charges_add_up_and_bound_usage)
{
    struct cache *c;
    ck_assert_int_eq(cache_new(SHARDS * 1000, &c), KV_OK);
    struct cache_stats st;
    put_release(c, 1, 1, 100);
    put_release(c, 1, 2, 250);
    cache_get_stats(c, &st);
    ck_assert_uint_eq(st.usage_bytes, 350);
    ck_assert_uint_eq(st.capacity_bytes, SHARDS * 1000);
    /* Replacing an entry swaps its charge and deletes the old value. */
    put_release(c, 1, 2, 50);
    cache_get_stats(c, &st);
    ck_assert_uint_eq(st.usage_bytes, 150);
    ck_assert_int_eq(atomic_load(&deleted), 1);
    /* Many inserts never push unheld usage past the capacity. */
    for (uint64_t i = 0; i < 5000; i++)
        put_release(c, 2, i, 37);
    cache_get_stats(c, &st);
    ck_assert_uint_le(st.usage_bytes, st.capacity_bytes);
    ck_assert_uint_gt(st.usage_bytes, st.capacity_bytes / 2);
    cache_free(c);
}
END_TEST

START_TEST(held_handles_survive_eviction_and_replacement)
{
    struct cache *c;
    ck_assert_int_eq(cache_new(0, &c), KV_OK); /* every unheld entry goes at once */
    struct cache_handle *held = put(c, 1, 0, 1);
    struct cache_handle *replaced = put(c, 3, 3, 1);
    put_release(c, 3, 3, 1); /* a new value under the same key */
    for (uint64_t i = 1; i < 500; i++)
        put_release(c, 2, i, 1);
    ck_assert_int_eq(atomic_load(&deleted), 500);
    struct val *v = cache_value(held);
    ck_assert_uint_eq(v->id, 1);
    ck_assert_uint_eq(v->offset, 0);
    ck_assert(present(c, 1, 0)); /* still cached while held */
    v = cache_value(replaced);
    ck_assert_uint_eq(v->id, 3);
    ck_assert(!present(c, 3, 3));
    cache_release(c, replaced);
    ck_assert_int_eq(atomic_load(&deleted), 501);
    cache_release(c, held);
    ck_assert_int_eq(atomic_load(&deleted), 502);
    ck_assert(!present(c, 1, 0));
    struct cache_stats st;
    cache_get_stats(c, &st);
    ck_assert_uint_eq(st.usage_bytes, 0);
    cache_free(c);
    ck_assert_int_eq(atomic_load(&deleted_bad), 0);
}
END_TEST

START_TEST(zero_capacity_caches_nothing)
{
    struct cache *c;
    ck_assert_int_eq(cache_new(0, &c), KV_OK);
    struct cache_handle *h = put(c, 1, 1, 10);
    ck_assert_uint_eq(((struct val *)cache_value(h))->offset, 1);
    cache_release(c, h);
    ck_assert_int_eq(atomic_load(&deleted), 1);
    ck_assert(!present(c, 1, 1));
    cache_free(c);
}
END_TEST

START_TEST(erase_id_drops_one_table)
{
    struct cache *c;
    ck_assert_int_eq(cache_new(1 << 20, &c), KV_OK);
    for (uint64_t i = 0; i < 100; i++) {
        put_release(c, 5, i * 4096, 10);
        put_release(c, 6, i * 4096, 10);
    }
    struct cache_handle *held = cache_lookup(c, 5, 0);
    ck_assert_ptr_nonnull(held);
    cache_erase_id(c, 5);
    ck_assert_int_eq(atomic_load(&deleted), 99); /* the held one waits */
    for (uint64_t i = 0; i < 100; i++) {
        ck_assert(!present(c, 5, i * 4096));
        ck_assert(present(c, 6, i * 4096));
    }
    ck_assert_uint_eq(((struct val *)cache_value(held))->id, 5);
    cache_release(c, held);
    ck_assert_int_eq(atomic_load(&deleted), 100);
    struct cache_stats st;
    cache_get_stats(c, &st);
    ck_assert_uint_eq(st.usage_bytes, 100 * 10);
    cache_free(c);
    ck_assert_int_eq(atomic_load(&deleted), 200);
}
END_TEST

START_TEST(stats_count_hits_misses_inserts_evictions)
{
    struct cache *c;
    ck_assert_int_eq(cache_new(SHARDS * 2, &c), KV_OK);
    put_release(c, 1, 1, 1);
    ck_assert(present(c, 1, 1));
    ck_assert(present(c, 1, 1));
    ck_assert(!present(c, 1, 2));
    struct cache_stats st;
    cache_get_stats(c, &st);
    ck_assert_uint_eq(st.hits, 2);
    ck_assert_uint_eq(st.misses, 1);
    ck_assert_uint_eq(st.inserts, 1);
    ck_assert_uint_eq(st.evictions, 0);
    for (uint64_t i = 0; i < 1000; i++)
        put_release(c, 2, i, 1);
    cache_get_stats(c, &st);
    ck_assert_uint_eq(st.inserts, 1001);
    ck_assert_uint_ge(st.evictions, 1001 - SHARDS * 2);
    ck_assert_uint_eq(st.evictions + st.usage_bytes, 1001); /* every entry is either still in or evicted */
    cache_free(c);
}
END_TEST

#define THREADS 4
#define OPS_PER_THREAD 100000

static atomic_int inserted;

static void *hammer(void *arg)
{
    struct cache *c = arg;
    struct kv_rand r;
    kv_rand_seed(&r, (uint64_t)(uintptr_t)&r);
    struct cache_handle *held[8] = { 0 };
    for (int i = 0; i < OPS_PER_THREAD; i++) {
        uint64_t id = kv_rand_below(&r, 4), off = kv_rand_below(&r, 2000);
        int slot = (int)kv_rand_below(&r, 8);
        if (held[slot]) {
            cache_release(c, held[slot]);
            held[slot] = NULL;
        }
        struct cache_handle *h = cache_lookup(c, id, off);
        if (!h) {
            struct val *v = malloc(sizeof *v);
            if (!v)
                abort();
            v->id = id;
            v->offset = off;
            if (cache_insert(c, id, off, v, 1 + kv_rand_below(&r, 100), val_delete, &h) != KV_OK)
                abort();
            atomic_fetch_add(&inserted, 1);
        }
        struct val *v = cache_value(h);
        if (v->id != id || v->offset != off)
            abort();
        if (i % 1000 == 0)
            cache_erase_id(c, kv_rand_below(&r, 4));
        held[slot] = h;
    }
    for (int s = 0; s < 8; s++)
        if (held[s])
            cache_release(c, held[s]);
    return NULL;
}

START_TEST(concurrent_use_keeps_values_and_frees_everything)
{
    struct cache *c;
    ck_assert_int_eq(cache_new(64 * 1024, &c), KV_OK);
    atomic_store(&inserted, 0);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, hammer, c), 0);
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);
    struct cache_stats st;
    cache_get_stats(c, &st);
    ck_assert_uint_eq(st.hits + st.misses, (uint64_t)THREADS * OPS_PER_THREAD);
    ck_assert_uint_le(st.usage_bytes, st.capacity_bytes);
    cache_free(c);
    ck_assert_int_eq(atomic_load(&deleted), atomic_load(&inserted));
    ck_assert_int_eq(atomic_load(&deleted_bad), 0);
}
END_TEST

static Suite *cache_suite(void)
{
    Suite *s = suite_create("cache");
    TCase *tc = tcase_create("cache");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, lookup_finds_what_insert_stored);
    tcase_add_test(tc, least_recently_used_is_evicted_first);
    tcase_add_test(tc, hot_entry_survives_a_stream_of_inserts);
    tcase_add_test(tc, charges_add_up_and_bound_usage);
    tcase_add_test(tc, held_handles_survive_eviction_and_replacement);
    tcase_add_test(tc, zero_capacity_caches_nothing);
    tcase_add_test(tc, erase_id_drops_one_table);
    tcase_add_test(tc, stats_count_hits_misses_inserts_evictions);
    tcase_add_test(tc, concurrent_use_keeps_values_and_frees_everything);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(cache_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
