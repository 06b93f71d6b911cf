/* test_table.c - SSTables in env_mem: round trips, snapshot reads,
 * iterators, range tombstones, edge-case keys and values, and damage of
 * every kind giving KV_ECORRUPT (never a crash, never wrong data). The
 * "mapped" case repeats the reading and damage tests on the POSIX env in
 * a temporary directory, where tables are read through mmap (env_map). */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/coding.h"
#include "common/crc32c.h"
#include "common/log.h"
#include "storage/block.h"
#include "storage/cache.h"
#include "storage/env.h"
#include "storage/ikey.h"
#include "storage/table.h"

static struct env *env;

static void setup(void)
{
    ck_assert_int_eq(env_mem_new(&env), KV_OK);
}

static void teardown(void)
{
    env_destroy(env);
    env = NULL;
}

/* The POSIX fixture: tests run (forked, one per test) inside a fresh
 * directory, so their relative paths land there. */
static char posix_dir[64];

static void setup_posix(void)
{
    strcpy(posix_dir, "/tmp/test_table.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(posix_dir));
    ck_assert_int_eq(chdir(posix_dir), 0);
    env = env_posix();
}

static void teardown_posix(void)
{
    char **names;
    size_t n;
    ck_assert_int_eq(env_list(env, ".", &names, &n), KV_OK);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(env_remove(env, names[i]), KV_OK);
    env_free_names(names, n);
    ck_assert_int_eq(chdir("/"), 0);
    ck_assert_int_eq(rmdir(posix_dir), 0);
    env = NULL;
}

/* ---- entries ---- */

struct entry {
    char key[64]; /* internal key */
    size_t key_len;
    char *value;
    size_t value_len;
};

static struct kv_slice key_of(const struct entry *e) { return kv_slice_make(e->key, e->key_len); }
static struct kv_slice val_of(const struct entry *e) { return kv_slice_make(e->value, e->value_len); }

/* User keys "k%08d" of even numbers 0, 2, 4..., so odd numbers are absent. */
static void user_key(char *dst, size_t *len, int i) { *len = (size_t)sprintf(dst, "k%08d", i); }

static struct entry *make_entries(int n)
{
    struct entry *e = calloc((size_t)n, sizeof *e);
    ck_assert_ptr_nonnull(e);
    for (int i = 0; i < n; i++) {
        char u[32];
        size_t ul;
        user_key(u, &ul, 2 * i);
        e[i].key_len = ikey_encode(e[i].key, u, ul, (uint64_t)(i % 1000) + 1,
                                   i % 11 == 5 ? IKEY_TYPE_DELETE : IKEY_TYPE_VALUE);
        e[i].value_len = i % 11 == 5 ? 0 : (size_t)(i % 50) + 1;
        e[i].value = malloc(e[i].value_len + 1);
        ck_assert_ptr_nonnull(e[i].value);
        for (size_t j = 0; j < e[i].value_len; j++)
            e[i].value[j] = (char)('a' + (i + (int)j) % 26);
    }
    return e;
}

static void free_entries(struct entry *e, int n)
{
    for (int i = 0; i < n; i++)
        free(e[i].value);
    free(e);
}

/* ---- files ---- */

struct rtomb {
    const char *begin, *end;
    uint64_t seq;
};

static uint64_t build_table(const char *path, const struct table_options *o, const struct entry *e, int n,
                            const struct rtomb *rt, int nrt)
{
    struct env_file *f;
    struct table_builder *b;
    ck_assert_int_eq(env_open(env, path, ENV_OPEN_TRUNCATE, &f), KV_OK);
    ck_assert_int_eq(table_builder_new(f, o, &b), KV_OK);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(table_builder_add(b, key_of(&e[i]), val_of(&e[i])), KV_OK);
    for (int i = 0; i < nrt; i++)
        ck_assert_int_eq(table_builder_add_range_tombstone(b, kv_slice_str(rt[i].begin), kv_slice_str(rt[i].end),
                                                           rt[i].seq), KV_OK);
    uint64_t bytes;
    ck_assert_int_eq(table_builder_finish(b, &bytes), KV_OK);
    ck_assert_uint_eq(table_builder_entries(b), (uint64_t)n);
    ck_assert_uint_eq(table_builder_file_bytes(b), bytes);
    table_builder_free(b);
    uint64_t size;
    ck_assert_int_eq(env_size(f, &size), KV_OK);
    ck_assert_uint_eq(size, bytes);
    ck_assert_int_eq(env_close(f), KV_OK);
    return bytes;
}

static void write_file(const char *path, const char *data, size_t n)
{
    struct env_file *f;
    ck_assert_int_eq(env_open(env, path, ENV_OPEN_TRUNCATE, &f), KV_OK);
    ck_assert_int_eq(env_append(f, data, n), KV_OK);
    ck_assert_int_eq(env_close(f), KV_OK);
}

static char *read_file(const char *path, size_t *n)
{
    char *data;
    ck_assert_int_eq(env_read_all(env, path, &data, n), KV_OK);
    return data;
}

/* Opens path, claiming file_bytes (the real size when 0). */
static int open_table(const char *path, uint64_t file_bytes, uint64_t number, struct cache *c, struct table **t)
{
    struct env_file *f;
    ck_assert_int_eq(env_open(env, path, ENV_OPEN_READ, &f), KV_OK);
    if (file_bytes == 0)
        ck_assert_int_eq(env_size(f, &file_bytes), KV_OK);
    return table_open(f, file_bytes, number, c, t);
}

static struct table *open_ok(const char *path, uint64_t number, struct cache *c)
{
    struct table *t;
    ck_assert_int_eq(open_table(path, 0, number, c, &t), KV_OK);
    return t;
}

static size_t lookup_key(char *dst, struct kv_slice user, uint64_t snapshot)
{
    return ikey_encode(dst, user.data, user.len, snapshot, IKEY_TYPE_SEEK);
}

/* table_get at `snapshot` for a user key. */
static int get(struct table *t, struct kv_slice user, uint64_t snapshot, bool *found, uint64_t *trailer,
               struct kv_buf *v)
{
    char *k = malloc(user.len + IKEY_TRAILER_BYTES);
    ck_assert_ptr_nonnull(k);
    size_t kl = lookup_key(k, user, snapshot);
    int rc = table_get(t, kv_slice_make(k, kl), found, trailer, v);
    free(k);
    return rc;
}

static void assert_get(struct table *t, const struct entry *e)
{
    bool found = false;
    uint64_t trailer = 0;
    struct kv_buf v = { 0 };
    ck_assert_int_eq(get(t, ikey_user(key_of(e)), KV_SEQ_MAX, &found, &trailer, &v), KV_OK);
    ck_assert(found);
    ck_assert_uint_eq(trailer, ikey_trailer(key_of(e)));
    ck_assert(kv_slice_eq(kv_slice_make(v.data, v.len), val_of(e)));
    kv_buf_free(&v);
}

static void assert_absent(struct table *t, struct kv_slice user, uint64_t snapshot)
{
    bool found = true;
    uint64_t trailer = 0;
    struct kv_buf v = { 0 };
    ck_assert_int_eq(get(t, user, snapshot, &found, &trailer, &v), KV_OK);
    ck_assert(!found);
    kv_buf_free(&v);
}

static void assert_iter_at(struct iter *it, const struct entry *e)
{
    ck_assert(iter_valid(it));
    ck_assert(kv_slice_eq(iter_key(it), key_of(e)));
    ck_assert(kv_slice_eq(iter_value(it), val_of(e)));
}

/* ---- tests ---- */

START_TEST(round_trip_100k_keys)
{
    const int n = 100000;
    struct entry *e = make_entries(n);
    struct table_options o;
    table_options_default(&o);
    build_table("t.sst", &o, e, n, NULL, 0);
    struct cache *c;
    ck_assert_int_eq(cache_new(8 << 20, &c), KV_OK);
    struct table *t = open_ok("t.sst", 1, c);
    for (int i = 0; i < n; i++)
        assert_get(t, &e[i]);
    for (int i = 0; i < n; i += 7) {
        char u[32];
        size_t ul;
        user_key(u, &ul, 2 * i + 1);
        assert_absent(t, kv_slice_make(u, ul), KV_SEQ_MAX);
    }
    struct iter *it;
    ck_assert_int_eq(table_iter_new(t, &it), KV_OK);
    int i = 0;
    for (iter_seek_first(it); iter_valid(it); iter_next(it), i++)
        assert_iter_at(it, &e[i]);
    ck_assert_int_eq(i, n);
    i = n - 1;
    for (iter_seek_last(it); iter_valid(it); iter_prev(it), i--)
        assert_iter_at(it, &e[i]);
    ck_assert_int_eq(i, -1);
    ck_assert_int_eq(iter_status(it), KV_OK);
    iter_destroy(it);
    table_close(t);
    cache_free(c);
    free_entries(e, n);
}
END_TEST

static struct entry ent(const char *user, size_t ulen, uint64_t seq, enum ikey_type type, const char *value)
{
    struct entry e = { 0 };
    e.key_len = ikey_encode(e.key, user, ulen, seq, type);
    e.value = (char *)value;
    e.value_len = strlen(value);
    return e;
}

START_TEST(snapshot_reads_see_the_newest_visible_version)
{
    struct entry e[] = {
        ent("a", 1, 30, IKEY_TYPE_DELETE, ""),
        ent("a", 1, 20, IKEY_TYPE_VALUE, "v20"),
        ent("a", 1, 10, IKEY_TYPE_VALUE, "v10"),
        ent("b", 1, 5, IKEY_TYPE_VALUE, "b5"),
    };
    size_t block_bytes[] = { 1, 4096 }; /* one entry per block, or one block */
    for (int b = 0; b < 2; b++) {
        struct table_options o;
        table_options_default(&o);
        o.block_bytes = block_bytes[b];
        build_table("s.sst", &o, e, 4, NULL, 0);
        struct table *t = open_ok("s.sst", 1, NULL);
        struct kv_slice a = kv_slice_str("a");
        bool found;
        uint64_t tr;
        struct kv_buf v = { 0 };
        ck_assert_int_eq(get(t, a, 35, &found, &tr, &v), KV_OK);
        ck_assert(found);
        ck_assert_uint_eq(tr, ikey_pack(30, IKEY_TYPE_DELETE)); /* the tombstone is an answer */
        ck_assert_uint_eq(v.len, 0);
        ck_assert_int_eq(get(t, a, 30, &found, &tr, &v), KV_OK);
        ck_assert_uint_eq(tr, ikey_pack(30, IKEY_TYPE_DELETE));
        ck_assert_int_eq(get(t, a, 29, &found, &tr, &v), KV_OK);
        ck_assert_uint_eq(tr, ikey_pack(20, IKEY_TYPE_VALUE));
        ck_assert_str_eq(v.data, "v20");
        ck_assert_int_eq(get(t, a, 15, &found, &tr, &v), KV_OK);
        ck_assert_str_eq(v.data, "v10");
        ck_assert_int_eq(get(t, a, 10, &found, &tr, &v), KV_OK);
        ck_assert_str_eq(v.data, "v10");
        assert_absent(t, a, 9);
        assert_absent(t, kv_slice_str("b"), 4);
        ck_assert_int_eq(get(t, kv_slice_str("b"), 5, &found, &tr, &v), KV_OK);
        ck_assert_str_eq(v.data, "b5");
        assert_absent(t, kv_slice_str("ab"), KV_SEQ_MAX);
        assert_absent(t, kv_slice_str("c"), KV_SEQ_MAX);
        assert_absent(t, kv_slice_str(""), KV_SEQ_MAX);
        kv_buf_free(&v);
        table_close(t);
    }
}
END_TEST

START_TEST(tombstones_are_iterated_like_values)
{
    struct entry e[] = {
        ent("x", 1, 9, IKEY_TYPE_DELETE, ""),
        ent("x", 1, 8, IKEY_TYPE_VALUE, "old"),
        ent("y", 1, 7, IKEY_TYPE_DELETE, ""),
    };
    struct table_options o;
    table_options_default(&o);
    build_table("d.sst", &o, e, 3, NULL, 0);
    struct table *t = open_ok("d.sst", 1, NULL);
    struct iter *it;
    ck_assert_int_eq(table_iter_new(t, &it), KV_OK);
    iter_seek_first(it);
    for (int i = 0; i < 3; i++, iter_next(it))
        assert_iter_at(it, &e[i]);
    ck_assert(!iter_valid(it));
    iter_destroy(it);
    table_close(t);
}
END_TEST

START_TEST(iterator_seeks_and_steps_across_blocks)
{
    const int n = 1000;
    struct entry *e = make_entries(n);
    struct table_options o;
    table_options_default(&o);
    o.block_bytes = 256; /* dozens of blocks */
    o.restart_interval = 4;
    build_table("i.sst", &o, e, n, NULL, 0);
    struct cache *c;
    ck_assert_int_eq(cache_new(1 << 20, &c), KV_OK);
    struct table *t = open_ok("i.sst", 1, c);
    struct iter *it;
    ck_assert_int_eq(table_iter_new(t, &it), KV_OK);
    for (int i = 0; i < n; i += 37) {
        iter_seek(it, key_of(&e[i]));
        assert_iter_at(it, &e[i]);
        iter_next(it);
        if (i + 1 == n) {
            ck_assert(!iter_valid(it)); /* an invalid iterator stays put */
            iter_seek(it, key_of(&e[i]));
        } else {
            assert_iter_at(it, &e[i + 1]);
            iter_prev(it);
        }
        assert_iter_at(it, &e[i]);
        iter_prev(it);
        if (i > 0)
            assert_iter_at(it, &e[i - 1]);
        else
            ck_assert(!iter_valid(it));
        /* Between keys: the odd user key 2i+1 lands on entry i+1. */
        char u[32], k[64];
        size_t ul;
        user_key(u, &ul, 2 * i + 1);
        iter_seek(it, kv_slice_make(k, lookup_key(k, kv_slice_make(u, ul), KV_SEQ_MAX)));
        if (i + 1 < n)
            assert_iter_at(it, &e[i + 1]);
        else
            ck_assert(!iter_valid(it));
    }
    char k[64];
    iter_seek(it, kv_slice_make(k, lookup_key(k, kv_slice_str("z"), KV_SEQ_MAX)));
    ck_assert(!iter_valid(it));
    iter_seek(it, kv_slice_make(k, lookup_key(k, kv_slice_str(""), KV_SEQ_MAX)));
    assert_iter_at(it, &e[0]);
    iter_seek_last(it);
    assert_iter_at(it, &e[n - 1]);
    iter_next(it);
    ck_assert(!iter_valid(it));
    iter_seek_first(it);
    iter_prev(it);
    ck_assert(!iter_valid(it));
    ck_assert_int_eq(iter_status(it), KV_OK);
    iter_destroy(it);
    table_close(t);
    cache_free(c);
    free_entries(e, n);
}
END_TEST

START_TEST(range_tombstones_persist_sorted)
{
    struct entry e[] = { ent("m", 1, 50, IKEY_TYPE_VALUE, "m50") };
    struct rtomb rt[] = { { "p", "q", 7 }, { "a", "c", 3 }, { "a", "zz", 9 } };
    struct table_options o;
    table_options_default(&o);
    build_table("r.sst", &o, e, 1, rt, 3);
    struct table *t = open_ok("r.sst", 1, NULL);
    size_t n;
    const struct table_range_tombstone *r = table_range_tombstones(t, &n);
    ck_assert_uint_eq(n, 3);
    /* Internal-key order: begin ascending, newest first. */
    ck_assert(kv_slice_eq(r[0].begin, kv_slice_str("a")));
    ck_assert(kv_slice_eq(r[0].end, kv_slice_str("zz")));
    ck_assert_uint_eq(r[0].seq, 9);
    ck_assert(kv_slice_eq(r[1].end, kv_slice_str("c")));
    ck_assert_uint_eq(r[1].seq, 3);
    ck_assert(kv_slice_eq(r[2].begin, kv_slice_str("p")));
    ck_assert(kv_slice_eq(r[2].end, kv_slice_str("q")));
    ck_assert_uint_eq(r[2].seq, 7);
    /* Range tombstones are not entries: get and the iterator ignore them. */
    assert_absent(t, kv_slice_str("a"), KV_SEQ_MAX);
    assert_get(t, &e[0]);
    table_close(t);

    /* A table of range tombstones only. */
    build_table("r2.sst", &o, NULL, 0, rt, 1);
    t = open_ok("r2.sst", 2, NULL);
    r = table_range_tombstones(t, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert(kv_slice_eq(r[0].begin, kv_slice_str("p")));
    struct iter *it;
    ck_assert_int_eq(table_iter_new(t, &it), KV_OK);
    iter_seek_first(it);
    ck_assert(!iter_valid(it));
    iter_destroy(it);
    table_close(t);
}
END_TEST

START_TEST(empty_table_has_nothing)
{
    struct table_options o;
    table_options_default(&o);
    build_table("e.sst", &o, NULL, 0, NULL, 0);
    struct table *t = open_ok("e.sst", 1, NULL);
    assert_absent(t, kv_slice_str("a"), KV_SEQ_MAX);
    size_t n;
    (void)table_range_tombstones(t, &n);
    ck_assert_uint_eq(n, 0);
    struct iter *it;
    ck_assert_int_eq(table_iter_new(t, &it), KV_OK);
    iter_seek_first(it);
    ck_assert(!iter_valid(it));
    iter_seek_last(it);
    ck_assert(!iter_valid(it));
    ck_assert_int_eq(iter_status(it), KV_OK);
    iter_destroy(it);
    table_close(t);
}
END_TEST

START_TEST(binary_keys_and_empty_values_round_trip)
{
    /* User keys with NUL bytes, in memcmp order; all values empty. */
    static const char *users[] = { "", "\0", "\0\0", "\0\1", "a\0b", "a\0c", "a\1", "\xff", "\xff\xff\0" };
    static const size_t lens[] = { 0, 1, 2, 2, 3, 3, 2, 1, 3 };
    const int n = 9;
    struct entry e[9];
    for (int i = 0; i < n; i++)
        e[i] = ent(users[i], lens[i], 1, IKEY_TYPE_VALUE, "");
    struct table_options o;
    table_options_default(&o);
    o.block_bytes = 16;
    build_table("b.sst", &o, e, n, NULL, 0);
    struct table *t = open_ok("b.sst", 1, NULL);
    for (int i = 0; i < n; i++) {
        assert_get(t, &e[i]);
        ck_assert(table_may_contain(t, kv_slice_make(users[i], lens[i])));
    }
    assert_absent(t, kv_slice_make("a\0", 2), KV_SEQ_MAX);
    assert_absent(t, kv_slice_make("\0\0\0", 3), KV_SEQ_MAX);
    struct iter *it;
    ck_assert_int_eq(table_iter_new(t, &it), KV_OK);
    int i = 0;
    for (iter_seek_first(it); iter_valid(it); iter_next(it), i++)
        assert_iter_at(it, &e[i]);
    ck_assert_int_eq(i, n);
    iter_destroy(it);
    table_close(t);
}
END_TEST

START_TEST(one_mib_values_round_trip)
{
    const int n = 4;
    const size_t mib = 1u << 20;
    struct entry e[4];
    for (int i = 0; i < n; i++) {
        char u[8];
        snprintf(u, sizeof u, "big%d", i);
        e[i] = ent(u, 4, 1, IKEY_TYPE_VALUE, "");
        e[i].value = malloc(mib);
        ck_assert_ptr_nonnull(e[i].value);
        memset(e[i].value, 'A' + i, mib);
        e[i].value[mib - 1] = 'z';
        e[i].value_len = mib;
    }
    struct table_options o;
    table_options_default(&o);
    uint64_t bytes = build_table("m.sst", &o, e, n, NULL, 0);
    ck_assert_uint_gt(bytes, n * mib);
    struct cache *c;
    ck_assert_int_eq(cache_new(1 << 20, &c), KV_OK); /* smaller than one block */
    struct table *t = open_ok("m.sst", 1, c);
    for (int i = 0; i < n; i++)
        assert_get(t, &e[i]);
    struct iter *it;
    ck_assert_int_eq(table_iter_new(t, &it), KV_OK);
    int i = n - 1;
    for (iter_seek_last(it); iter_valid(it); iter_prev(it), i--)
        assert_iter_at(it, &e[i]);
    ck_assert_int_eq(i, -1);
    iter_destroy(it);
    table_close(t);
    cache_free(c);
    for (i = 0; i < n; i++)
        free(e[i].value);
}
END_TEST

START_TEST(out_of_order_keys_are_rejected)
{
    struct env_file *f;
    struct table_builder *b;
    struct table_options o;
    table_options_default(&o);
    ck_assert_int_eq(env_open(env, "o.sst", ENV_OPEN_TRUNCATE, &f), KV_OK);
    ck_assert_int_eq(table_builder_new(f, &o, &b), KV_OK);
    struct entry a = ent("b", 1, 5, IKEY_TYPE_VALUE, "");
    struct entry older_first = ent("b", 1, 4, IKEY_TYPE_VALUE, "");
    struct entry newer = ent("b", 1, 6, IKEY_TYPE_VALUE, "");
    struct entry smaller = ent("a", 1, 9, IKEY_TYPE_VALUE, "");
    ck_assert_int_eq(table_builder_add(b, key_of(&a), val_of(&a)), KV_OK);
    ck_assert_int_eq(table_builder_add(b, key_of(&a), val_of(&a)), KV_EINVAL);
    ck_assert_int_eq(table_builder_add(b, key_of(&newer), val_of(&newer)), KV_EINVAL);
    ck_assert_int_eq(table_builder_add(b, key_of(&smaller), val_of(&smaller)), KV_EINVAL);
    ck_assert_int_eq(table_builder_add(b, kv_slice_make("short", 5), kv_slice_make("", 0)), KV_EINVAL);
    ck_assert_int_eq(table_builder_add(b, key_of(&older_first), val_of(&older_first)), KV_OK);
    uint64_t bytes;
    ck_assert_int_eq(table_builder_finish(b, &bytes), KV_OK);
    ck_assert_uint_eq(table_builder_entries(b), 2);
    table_builder_free(b);
    ck_assert_int_eq(env_close(f), KV_OK);
}
END_TEST

START_TEST(filter_answers_before_any_block_is_read)
{
    const int n = 5000;
    struct entry *e = make_entries(n);
    struct table_options o;
    table_options_default(&o);
    uint64_t filtered = build_table("f.sst", &o, e, n, NULL, 0);
    struct cache *c;
    ck_assert_int_eq(cache_new(1 << 20, &c), KV_OK);
    struct table *t = open_ok("f.sst", 1, c);
    int maybe = 0;
    for (int i = 0; i < n; i++) {
        char u[32];
        size_t ul;
        user_key(u, &ul, 2 * i + 1);
        maybe += table_may_contain(t, kv_slice_make(u, ul));
        assert_absent(t, kv_slice_make(u, ul), KV_SEQ_MAX);
        ck_assert(table_may_contain(t, ikey_user(key_of(&e[i]))));
    }
    ck_assert_int_lt(maybe, n / 50);
    struct cache_stats st;
    cache_get_stats(c, &st);
    ck_assert_uint_eq(st.hits + st.misses, (uint64_t)maybe); /* only false positives touched a block */
    table_close(t);

    /* Without a filter every key may be there, and gets still work. */
    o.bloom_bits_per_key = 0;
    uint64_t unfiltered = build_table("nf.sst", &o, e, n, NULL, 0);
    t = open_ok("nf.sst", 2, c);
    ck_assert(table_may_contain(t, kv_slice_str("nothing")));
    for (int i = 0; i < n; i += 13)
        assert_get(t, &e[i]);
    assert_absent(t, kv_slice_str("k00000001"), KV_SEQ_MAX);
    table_close(t);
    ck_assert_uint_lt(unfiltered, filtered);
    cache_free(c);
    free_entries(e, n);
}
END_TEST

START_TEST(warm_cache_serves_every_block)
{
    const int n = 20000;
    struct entry *e = make_entries(n);
    struct table_options o;
    table_options_default(&o);
    build_table("w.sst", &o, e, n, NULL, 0);
    struct cache *c;
    ck_assert_int_eq(cache_new(16 << 20, &c), KV_OK);
    struct table *t = open_ok("w.sst", 1, c);
    for (int i = 0; i < n; i++)
        assert_get(t, &e[i]);
    struct cache_stats cold;
    cache_get_stats(c, &cold);
    ck_assert_uint_gt(cold.misses, 0);
    ck_assert_uint_eq(cold.misses, cold.inserts);
    for (int i = 0; i < n; i++)
        assert_get(t, &e[i]);
    struct cache_stats warm;
    cache_get_stats(c, &warm);
    ck_assert_uint_eq(warm.misses, cold.misses);
    ck_assert_uint_eq(warm.hits - cold.hits, (uint64_t)n);
    table_close(t);
    cache_erase_id(c, 1);
    cache_get_stats(c, &warm);
    ck_assert_uint_eq(warm.usage_bytes, 0);
    cache_free(c);
    free_entries(e, n);
}
END_TEST

START_TEST(approx_offset_grows_with_the_key)
{
    const int n = 5000;
    struct entry *e = make_entries(n);
    struct table_options o;
    table_options_default(&o);
    uint64_t bytes = build_table("a.sst", &o, e, n, NULL, 0);
    struct table *t = open_ok("a.sst", 1, NULL);
    uint64_t prev = 0;
    for (int i = 0; i < n; i += 100) {
        uint64_t off = table_approx_offset(t, key_of(&e[i]));
        ck_assert_uint_ge(off, prev);
        prev = off;
    }
    ck_assert_uint_gt(prev, bytes / 2);
    char k[64];
    uint64_t end = table_approx_offset(t, kv_slice_make(k, lookup_key(k, kv_slice_str("z"), 1)));
    ck_assert_uint_gt(end, prev);
    ck_assert_uint_lt(end, bytes);
    ck_assert_uint_eq(table_approx_offset(t, key_of(&e[0])), 0);
    table_close(t);
    free_entries(e, n);
}
END_TEST

START_TEST(write_errors_are_sticky)
{
    const int n = 5000; /* over 64 KiB: the builder appends while adding */
    struct entry *e = make_entries(n);
    struct env *fault;
    ck_assert_int_eq(env_fault_new(env, &fault), KV_OK);
    struct env_file *f;
    ck_assert_int_eq(env_open(fault, "w.sst", ENV_OPEN_TRUNCATE, &f), KV_OK);
    env_fault_fail_after(fault, 0, KV_ENOSPC);
    struct table_builder *b;
    struct table_options o;
    table_options_default(&o);
    ck_assert_int_eq(table_builder_new(f, &o, &b), KV_OK);
    int rc = KV_OK, i;
    for (i = 0; i < n && rc == KV_OK; i++)
        rc = table_builder_add(b, key_of(&e[i]), val_of(&e[i]));
    ck_assert_int_eq(rc, KV_ENOSPC);
    ck_assert_int_lt(i, n);
    env_fault_fail_after(fault, -1, 0); /* the env recovers; the builder stays failed */
    ck_assert_int_eq(table_builder_add(b, key_of(&e[n - 1]), val_of(&e[n - 1])), KV_ENOSPC);
    uint64_t bytes;
    ck_assert_int_eq(table_builder_finish(b, &bytes), KV_ENOSPC);
    table_builder_free(b);
    ck_assert_int_eq(env_close(f), KV_OK);

    /* A small table fails at finish, when the buffered bytes are written. */
    ck_assert_int_eq(env_open(fault, "w2.sst", ENV_OPEN_TRUNCATE, &f), KV_OK);
    ck_assert_int_eq(table_builder_new(f, &o, &b), KV_OK);
    ck_assert_int_eq(table_builder_add(b, key_of(&e[0]), val_of(&e[0])), KV_OK);
    env_fault_fail_after(fault, 0, KV_EIO);
    ck_assert_int_eq(table_builder_finish(b, &bytes), KV_EIO);
    ck_assert_int_eq(table_builder_finish(b, &bytes), KV_EIO);
    table_builder_free(b);
    env_fault_fail_after(fault, -1, 0);
    ck_assert_int_eq(env_close(f), KV_OK);
    env_destroy(fault);
    free_entries(e, n);
}
END_TEST

/* ---- damage ---- */

START_TEST(truncated_files_are_corrupt)
{
    const int n = 300;
    struct entry *e = make_entries(n);
    struct table_options o;
    table_options_default(&o);
    size_t len = (size_t)build_table("t.sst", &o, e, n, NULL, 0);
    char *data = read_file("t.sst", &len);
    size_t cuts[] = { 0, 1, TABLE_FOOTER_BYTES - 1, TABLE_FOOTER_BYTES, TABLE_FOOTER_BYTES + 1, len / 2, len - 1 };
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        write_file("cut.sst", data, cuts[i]);
        struct table *t;
        ck_assert_int_eq(open_table("cut.sst", 0, 1, NULL, &t), KV_ECORRUPT);
    }
    /* The caller's size is larger than the file (a stale manifest). */
    write_file("cut.sst", data, len);
    struct table *t;
    ck_assert_int_eq(open_table("cut.sst", len + 100, 1, NULL, &t), KV_ECORRUPT);
    ck_assert_int_eq(open_table("cut.sst", len - 1, 1, NULL, &t), KV_ECORRUPT);
    free(data);
    free_entries(e, n);
}
END_TEST

static void rewrite_footer_crc(char *footer)
{
    kv_put_fixed32(footer + TABLE_FOOTER_CRC_OFFSET, kv_crc32c_mask(kv_crc32c(footer, TABLE_FOOTER_CRC_OFFSET)));
}

START_TEST(bad_magic_version_and_handles_are_corrupt)
{
    struct entry *e = make_entries(100);
    struct table_options o;
    table_options_default(&o);
    size_t len = (size_t)build_table("t.sst", &o, e, 100, NULL, 0);
    char *data = read_file("t.sst", &len);
    char *footer = data + len - TABLE_FOOTER_BYTES;
    ck_assert_int_eq(memcmp(footer + TABLE_FOOTER_MAGIC_OFFSET, "ringkvst", 8), 0);
    struct table *t;

    footer[TABLE_FOOTER_MAGIC_OFFSET] = 'R';
    write_file("x.sst", data, len);
    ck_assert_int_eq(open_table("x.sst", 0, 1, NULL, &t), KV_ECORRUPT);
    footer[TABLE_FOOTER_MAGIC_OFFSET] = 'r';

    /* A future version, even with a valid checksum. */
    kv_put_fixed32(footer + TABLE_FOOTER_VERSION_OFFSET, TABLE_FORMAT_VERSION + 1);
    rewrite_footer_crc(footer);
    write_file("x.sst", data, len);
    ck_assert_int_eq(open_table("x.sst", 0, 1, NULL, &t), KV_ECORRUPT);
    kv_put_fixed32(footer + TABLE_FOOTER_VERSION_OFFSET, TABLE_FORMAT_VERSION);

    /* Handles past the end of the file, huge, or overlong, with valid checksums. */
    char saved[TABLE_FOOTER_BYTES];
    memcpy(saved, footer, sizeof saved);
    const char *bad_handles[] = {
        "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01\x10",         /* offset 2^63, size 16 */
        "\x00\xff\xff\xff\xff\xff\xff\xff\xff\x7f",             /* offset 0, size ~2^63 */
        "\x00\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80", /* size varint never ends */
    };
    for (int slot = 0; slot < TABLE_FOOTER_HANDLES; slot++) {
        for (size_t h = 0; h < sizeof bad_handles / sizeof bad_handles[0]; h++) {
            memcpy(footer, saved, sizeof saved);
            char *p = footer + slot * TABLE_BLOCK_HANDLE_BYTES_MAX;
            memset(p, 0x80, TABLE_BLOCK_HANDLE_BYTES_MAX);
            size_t hl = strlen(bad_handles[h] + 1) + 1;
            memcpy(p, bad_handles[h], hl < TABLE_BLOCK_HANDLE_BYTES_MAX ? hl : TABLE_BLOCK_HANDLE_BYTES_MAX);
            if (hl < TABLE_BLOCK_HANDLE_BYTES_MAX)
                memset(p + hl, 0, TABLE_BLOCK_HANDLE_BYTES_MAX - hl);
            rewrite_footer_crc(footer);
            write_file("x.sst", data, len);
            ck_assert_int_eq(open_table("x.sst", 0, 1, NULL, &t), KV_ECORRUPT);
        }
    }
    /* The index handle pointing at the filter block: wrong block, valid CRC. */
    memcpy(footer, saved, sizeof saved);
    memcpy(footer + 2 * TABLE_BLOCK_HANDLE_BYTES_MAX, footer, TABLE_BLOCK_HANDLE_BYTES_MAX);
    rewrite_footer_crc(footer);
    write_file("x.sst", data, len);
    ck_assert_int_eq(open_table("x.sst", 0, 1, NULL, &t), KV_ECORRUPT);
    free(data);
    free_entries(e, 100);
}
END_TEST

/* Writes a one-data-block table whose single index entry's value is
 * handle_value (checksums all valid), to test index entries that lie. */
static void write_table_with_index_value(const char *path, const struct entry *e, int n, struct kv_slice hv)
{
    struct kv_buf file = { 0 };
    struct block_builder *bb;
    struct kv_slice contents;
    uint64_t offs[3], sizes[3];
    ck_assert_int_eq(block_builder_new(16, &bb), KV_OK);
    for (int blk = 0; blk < 3; blk++) { /* data, range tombstones (empty), index */
        block_builder_reset(bb);
        for (int i = 0; blk == 0 && i < n; i++)
            ck_assert_int_eq(block_builder_add(bb, key_of(&e[i]), val_of(&e[i])), KV_OK);
        if (blk == 2)
            ck_assert_int_eq(block_builder_add(bb, key_of(&e[n - 1]), hv), KV_OK);
        ck_assert_int_eq(block_builder_finish(bb, &contents), KV_OK);
        offs[blk] = file.len;
        sizes[blk] = contents.len;
        ck_assert_int_eq(kv_buf_append(&file, contents.data, contents.len), KV_OK);
        ck_assert_int_eq(kv_buf_append_byte(&file, TABLE_BLOCK_TYPE_RAW), KV_OK);
        char crc[4];
        kv_put_fixed32(crc, kv_crc32c_mask(kv_crc32c(file.data + offs[blk], contents.len + 1)));
        ck_assert_int_eq(kv_buf_append(&file, crc, 4), KV_OK);
    }
    block_builder_free(bb);
    char footer[TABLE_FOOTER_BYTES] = { 0 };
    /* filter slot stays (0, 0): no filter */
    kv_put_varint64(kv_put_varint64(footer + TABLE_BLOCK_HANDLE_BYTES_MAX, offs[1]), sizes[1]);
    kv_put_varint64(kv_put_varint64(footer + 2 * TABLE_BLOCK_HANDLE_BYTES_MAX, offs[2]), sizes[2]);
    kv_put_fixed32(footer + TABLE_FOOTER_VERSION_OFFSET, TABLE_FORMAT_VERSION);
    rewrite_footer_crc(footer);
    kv_put_fixed64(footer + TABLE_FOOTER_MAGIC_OFFSET, TABLE_MAGIC);
    ck_assert_int_eq(kv_buf_append(&file, footer, sizeof footer), KV_OK);
    write_file(path, file.data, file.len);
    kv_buf_free(&file);
}

static void expect_index_value(const struct entry *e, int n, const char *hv, size_t hl, int want)
{
    write_table_with_index_value("h.sst", e, n, kv_slice_make(hv, hl));
    struct table *t = open_ok("h.sst", 1, NULL);
    bool found;
    uint64_t tr;
    struct kv_buf v = { 0 };
    ck_assert_int_eq(get(t, ikey_user(key_of(&e[0])), KV_SEQ_MAX, &found, &tr, &v), want);
    struct iter *it;
    ck_assert_int_eq(table_iter_new(t, &it), KV_OK);
    int steps = 0;
    for (iter_seek_first(it); iter_valid(it); iter_next(it))
        steps++;
    ck_assert_int_eq(iter_status(it), want);
    if (want == KV_OK)
        ck_assert_int_eq(steps, n);
    iter_destroy(it);
    kv_buf_free(&v);
    table_close(t);
}

START_TEST(index_entries_that_lie_are_corrupt)
{
    struct entry *e = make_entries(10);
    /* Sanity: the hand-made table reads back with the right handle. */
    char probe[64];
    struct block_builder *bb;
    struct kv_slice contents;
    ck_assert_int_eq(block_builder_new(16, &bb), KV_OK);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(block_builder_add(bb, key_of(&e[i]), val_of(&e[i])), KV_OK);
    ck_assert_int_eq(block_builder_finish(bb, &contents), KV_OK);
    size_t data_size = contents.len;
    block_builder_free(bb);
    size_t pl = (size_t)(kv_put_varint64(kv_put_varint64(probe, 0), data_size) - probe);
    expect_index_value(e, 10, probe, pl, KV_OK);

    pl = (size_t)(kv_put_varint64(kv_put_varint64(probe, 0), data_size + 13) - probe); /* into the next block */
    expect_index_value(e, 10, probe, pl, KV_ECORRUPT);
    pl = (size_t)(kv_put_varint64(kv_put_varint64(probe, 1 << 20), 100) - probe);      /* past the file */
    expect_index_value(e, 10, probe, pl, KV_ECORRUPT);
    pl = (size_t)(kv_put_varint64(kv_put_varint64(probe, 3), data_size - 3) - probe);  /* mid-block */
    expect_index_value(e, 10, probe, pl, KV_ECORRUPT);
    pl = (size_t)(kv_put_varint64(kv_put_varint64(probe, 0), data_size) - probe);
    probe[pl++] = 7;                                                                   /* trailing byte */
    expect_index_value(e, 10, probe, pl, KV_ECORRUPT);
    expect_index_value(e, 10, "\x80", 1, KV_ECORRUPT);                                 /* truncated varint */
    free_entries(e, 10);
}
END_TEST

struct damage_check {
    const struct entry *e;
    int n;
    const struct rtomb *rt;
    int nrt;
};

/* Reads everything a damaged table offers. Returns true if the damage was
 * reported; fails the test on any wrong answer. */
static bool read_everything(struct table *t, const struct damage_check *d)
{
    bool detected = false;
    size_t nrt;
    const struct table_range_tombstone *r = table_range_tombstones(t, &nrt);
    ck_assert_uint_eq(nrt, (size_t)d->nrt);
    for (size_t i = 0; i < nrt; i++) {
        ck_assert(kv_slice_eq(r[i].begin, kv_slice_str(d->rt[i].begin)));
        ck_assert(kv_slice_eq(r[i].end, kv_slice_str(d->rt[i].end)));
        ck_assert_uint_eq(r[i].seq, d->rt[i].seq);
    }
    struct kv_buf v = { 0 };
    for (int i = 0; i < d->n; i++) {
        bool found = false;
        uint64_t tr;
        int rc = get(t, ikey_user(key_of(&d->e[i])), KV_SEQ_MAX, &found, &tr, &v);
        if (rc == KV_ECORRUPT) {
            detected = true;
            continue;
        }
        ck_assert_int_eq(rc, KV_OK);
        ck_assert(found);
        ck_assert_uint_eq(tr, ikey_trailer(key_of(&d->e[i])));
        ck_assert(kv_slice_eq(kv_slice_make(v.data, v.len), val_of(&d->e[i])));
        char u[32];
        size_t ul;
        user_key(u, &ul, 2 * i + 1);
        rc = get(t, kv_slice_make(u, ul), KV_SEQ_MAX, &found, &tr, &v);
        ck_assert(rc == KV_ECORRUPT || (rc == KV_OK && !found));
        detected |= rc == KV_ECORRUPT;
    }
    kv_buf_free(&v);
    struct iter *it;
    ck_assert_int_eq(table_iter_new(t, &it), KV_OK);
    int i = 0;
    for (iter_seek_first(it); iter_valid(it); iter_next(it), i++)
        assert_iter_at(it, &d->e[i]);
    ck_assert(iter_status(it) == KV_ECORRUPT || (iter_status(it) == KV_OK && i == d->n));
    detected |= iter_status(it) == KV_ECORRUPT;
    iter_destroy(it);
    ck_assert_int_eq(table_iter_new(t, &it), KV_OK);
    i = d->n - 1;
    for (iter_seek_last(it); iter_valid(it); iter_prev(it), i--)
        assert_iter_at(it, &d->e[i]);
    ck_assert(iter_status(it) == KV_ECORRUPT || (iter_status(it) == KV_OK && i == -1));
    detected |= iter_status(it) == KV_ECORRUPT;
    iter_destroy(it);
    return detected;
}

/*
 * Every byte of the file is covered by a checksum (data blocks, filter,
 * range tombstones, index: their trailers; the footer: its own CRC and
 * the magic), so a flip anywhere must be reported - at open for the
 * metadata, at the first read of a data block otherwise - and nothing
 * read before that may be wrong.
 */
START_TEST(every_flipped_byte_is_detected)
{
    const int n = 60;
    struct entry *e = make_entries(n);
    struct rtomb rt[] = { { "a", "b", 3 }, { "k", "kk", 2 } };
    struct table_options o;
    table_options_default(&o);
    o.block_bytes = 200;
    o.restart_interval = 3;
    size_t len = (size_t)build_table("t.sst", &o, e, n, rt, 2);
    char *clean = read_file("t.sst", &len);
    struct damage_check d = { e, n, rt, 2 };
    struct table *t = open_ok("t.sst", 1, NULL);
    ck_assert(!read_everything(t, &d));
    ck_assert_uint_gt(table_approx_offset(t, key_of(&e[n - 1])), 4 * o.block_bytes); /* several data blocks */
    table_close(t);

    enum kv_log_level saved = kv_log_get_level();
    kv_log_set_level(KV_LOG_OFF); /* thousands of expected corruption reports */
    char *data = malloc(len);
    ck_assert_ptr_nonnull(data);
    struct cache *c;
    ck_assert_int_eq(cache_new(1 << 20, &c), KV_OK);
    for (size_t pos = 0; pos < len; pos++) {
        memcpy(data, clean, len);
        data[pos] ^= (char)(1u << (pos % 8));
        write_file("x.sst", data, len);
        /* Alternate: no cache, or a cache that sees this file number first. */
        int rc = open_table("x.sst", 0, pos + 10, pos % 2 ? c : NULL, &t);
        if (rc != KV_OK) {
            ck_assert_msg(rc == KV_ECORRUPT, "open at flip %zu: %d", pos, rc);
            continue;
        }
        ck_assert_msg(read_everything(t, &d), "flip at byte %zu of %zu went unnoticed", pos, len);
        table_close(t);
    }
    kv_log_set_level(saved);
    cache_free(c);
    free(data);
    free(clean);
    free_entries(e, n);
}
END_TEST

/* ---- threads ---- */

struct reader_arg {
    struct table *t;
    const struct entry *e;
    int n;
    int errors;
};

static void *reader(void *p)
{
    struct reader_arg *a = p;
    struct kv_buf v = { 0 };
    struct kv_rand r;
    kv_rand_seed(&r, (uint64_t)(uintptr_t)p);
    for (int k = 0; k < 20000; k++) {
        const struct entry *e = &a->e[kv_rand_below(&r, (uint64_t)a->n)];
        char lk[64];
        size_t ll = lookup_key(lk, ikey_user(key_of(e)), KV_SEQ_MAX);
        bool found = false;
        uint64_t tr = 0;
        if (table_get(a->t, kv_slice_make(lk, ll), &found, &tr, &v) != KV_OK || !found ||
            tr != ikey_trailer(key_of(e)) || !kv_slice_eq(kv_slice_make(v.data, v.len), val_of(e)))
            a->errors++;
    }
    kv_buf_free(&v);
    return NULL;
}

START_TEST(concurrent_readers_share_a_table)
{
    const int n = 20000;
    struct entry *e = make_entries(n);
    struct table_options o;
    table_options_default(&o);
    build_table("c.sst", &o, e, n, NULL, 0);
    struct cache *c;
    ck_assert_int_eq(cache_new(64 * 1024, &c), KV_OK); /* small: constant eviction */
    struct table *t = open_ok("c.sst", 1, c);
    pthread_t th[4];
    struct reader_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct reader_arg){ t, e, n, 0 };
        ck_assert_int_eq(pthread_create(&th[i], NULL, reader, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
        ck_assert_int_eq(args[i].errors, 0);
    }
    table_close(t);
    cache_free(c);
    free_entries(e, n);
}
END_TEST

static Suite *table_suite(void)
{
    Suite *s = suite_create("table");
    TCase *tc = tcase_create("table");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, round_trip_100k_keys);
    tcase_add_test(tc, snapshot_reads_see_the_newest_visible_version);
    tcase_add_test(tc, tombstones_are_iterated_like_values);
    tcase_add_test(tc, iterator_seeks_and_steps_across_blocks);
    tcase_add_test(tc, range_tombstones_persist_sorted);
    tcase_add_test(tc, empty_table_has_nothing);
    tcase_add_test(tc, binary_keys_and_empty_values_round_trip);
    tcase_add_test(tc, one_mib_values_round_trip);
    tcase_add_test(tc, out_of_order_keys_are_rejected);
    tcase_add_test(tc, filter_answers_before_any_block_is_read);
    tcase_add_test(tc, warm_cache_serves_every_block);
    tcase_add_test(tc, approx_offset_grows_with_the_key);
    tcase_add_test(tc, write_errors_are_sticky);
    tcase_add_test(tc, truncated_files_are_corrupt);
    tcase_add_test(tc, bad_magic_version_and_handles_are_corrupt);
    tcase_add_test(tc, index_entries_that_lie_are_corrupt);
    tcase_add_test(tc, every_flipped_byte_is_detected);
    tcase_add_test(tc, concurrent_readers_share_a_table);
    suite_add_tcase(s, tc);

    TCase *mapped = tcase_create("mapped");
    tcase_add_checked_fixture(mapped, setup_posix, teardown_posix);
    tcase_add_test(mapped, round_trip_100k_keys);
    tcase_add_test(mapped, iterator_seeks_and_steps_across_blocks);
    tcase_add_test(mapped, truncated_files_are_corrupt);
    tcase_add_test(mapped, index_entries_that_lie_are_corrupt);
    tcase_add_test(mapped, every_flipped_byte_is_detected);
    tcase_add_test(mapped, concurrent_readers_share_a_table);
    suite_add_tcase(s, mapped);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(table_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
