/*
 * fuzz_table.c - feeds arbitrary bytes to the SSTable reader as a table file.
 *
 * Each input is read twice: as given, and with every checksum it names
 * recomputed (footer, metadata blocks, and each data block the index points
 * at), so that mutations also reach the block and index decoders behind the
 * CRCs. Must never crash, hang, leak or read out of bounds (ASan/UBSan);
 * every failure must be KV_ECORRUPT. When a table reads back cleanly and in
 * order, its entries are rewritten with the builder and must read back
 * identically, with table_get finding the newest version of each key.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/coding.h"
#include "common/crc32c.h"
#include "common/log.h"
#include "storage/block.h"
#include "storage/cache.h"
#include "storage/env.h"
#include "storage/ikey.h"
#include "storage/table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)
#define STEPS_MAX 100000 /* bounds a walk over a crafted table */
#define GETS_MAX 64

/* Entries as read: keys and values concatenated, lengths alongside. */
struct entries {
    struct kv_buf bytes;
    struct kv_buf lens; /* pairs of uint64: key length, value length */
    size_t n;
};

static void entries_add(struct entries *e, struct kv_slice k, struct kv_slice v)
{
    uint64_t l[2] = { k.len, v.len };
    FUZZ_CHECK(kv_buf_append(&e->bytes, k.data, k.len) == KV_OK);
    FUZZ_CHECK(kv_buf_append(&e->bytes, v.data, v.len) == KV_OK);
    FUZZ_CHECK(kv_buf_append(&e->lens, l, sizeof l) == KV_OK);
    e->n++;
}

/* Walks entries in order: *off is the running byte offset. */
static void entries_at(const struct entries *e, size_t i, size_t *off, struct kv_slice *k, struct kv_slice *v)
{
    uint64_t l[2];
    memcpy(l, e->lens.data + i * sizeof l, sizeof l);
    *k = kv_slice_make(e->bytes.data + *off, (size_t)l[0]);
    *v = kv_slice_make(e->bytes.data + *off + l[0], (size_t)l[1]);
    *off += (size_t)(l[0] + l[1]);
}

static void entries_free(struct entries *e)
{
    kv_buf_free(&e->bytes);
    kv_buf_free(&e->lens);
}

static bool get_handle(const char *p, const char *limit, uint64_t *off, uint64_t *sz)
{
    p = kv_get_varint64(p, limit, off);
    return p && kv_get_varint64(p, limit, sz);
}

static void fix_block(char *d, size_t n, uint64_t off, uint64_t sz)
{
    if (sz == 0 || off > n || sz > n - off || n - off - sz < TABLE_BLOCK_TRAILER_BYTES)
        return; /* size 0: an absent filter */
    d[off + sz] = TABLE_BLOCK_TYPE_RAW;
    kv_put_fixed32(d + off + sz + 1, kv_crc32c_mask(kv_crc32c(d + off, (size_t)sz + 1)));
}

/* Makes every checksum (and the magic and version) of d valid. */
static void fix_checksums(char *d, size_t n)
{
    if (n < TABLE_FOOTER_BYTES)
        return;
    char *footer = d + n - TABLE_FOOTER_BYTES;
    uint64_t off[TABLE_FOOTER_HANDLES], sz[TABLE_FOOTER_HANDLES];
    for (int i = 0; i < TABLE_FOOTER_HANDLES; i++) {
        const char *slot = footer + i * TABLE_BLOCK_HANDLE_BYTES_MAX;
        if (!get_handle(slot, slot + TABLE_BLOCK_HANDLE_BYTES_MAX, &off[i], &sz[i]))
            off[i] = sz[i] = UINT64_MAX;
    }
    uint64_t meta = n - TABLE_FOOTER_BYTES;
    struct block index;
    if (off[2] <= meta && sz[2] <= meta - off[2] && block_parse(d + off[2], (size_t)sz[2], &index) == KV_OK) {
        struct block_iter it;
        block_iter_init(&it, &index);
        int steps = 0;
        for (block_iter_seek_first(&it); block_iter_valid(&it) && steps < STEPS_MAX; block_iter_next(&it), steps++) {
            uint64_t o, s;
            struct kv_slice v = block_iter_value(&it);
            if (get_handle(v.data, v.data + v.len, &o, &s))
                fix_block(d, (size_t)meta, o, s);
        }
        block_iter_cleanup(&it);
    }
    for (int i = 0; i < TABLE_FOOTER_HANDLES; i++)
        fix_block(d, (size_t)meta, off[i], sz[i]);
    kv_put_fixed32(footer + TABLE_FOOTER_VERSION_OFFSET, TABLE_FORMAT_VERSION);
    kv_put_fixed32(footer + TABLE_FOOTER_CRC_OFFSET, kv_crc32c_mask(kv_crc32c(footer, TABLE_FOOTER_CRC_OFFSET)));
    kv_put_fixed64(footer + TABLE_FOOTER_MAGIC_OFFSET, TABLE_MAGIC);
}

static struct table *open_file(struct env *env, const char *path, uint64_t size, struct cache *c, int *rc)
{
    struct env_file *f;
    struct table *t = NULL;
    FUZZ_CHECK(env_open(env, path, ENV_OPEN_READ, &f) == KV_OK);
    *rc = table_open(f, size, 1, c, &t);
    FUZZ_CHECK(*rc == KV_OK || *rc == KV_ECORRUPT);
    return *rc == KV_OK ? t : NULL;
}

/* Forward walk; returns true if it ended cleanly with keys strictly
 * increasing (then out holds every entry; else at least the first few). */
static bool walk_forward(struct table *t, struct entries *out)
{
    struct iter *it;
    struct kv_buf prev = { 0 };
    FUZZ_CHECK(table_iter_new(t, &it) == KV_OK);
    bool ordered = true;
    int steps = 0;
    for (iter_seek_first(it); iter_valid(it) && steps < STEPS_MAX; iter_next(it), steps++) {
        struct kv_slice k = iter_key(it);
        FUZZ_CHECK(k.len >= IKEY_TRAILER_BYTES);
        if (steps > 0)
            ordered &= ikey_compare(kv_slice_make(prev.data, prev.len), k) < 0;
        FUZZ_CHECK(kv_buf_set(&prev, k.data, k.len) == KV_OK);
        if (ordered || out->n < GETS_MAX)
            entries_add(out, k, iter_value(it));
    }
    bool clean = !iter_valid(it) && iter_status(it) == KV_OK;
    FUZZ_CHECK(iter_status(it) == KV_OK || iter_status(it) == KV_ECORRUPT);
    iter_destroy(it);
    kv_buf_free(&prev);
    return clean && ordered;
}

static void poke(struct table *t, const struct entries *e, uint64_t file_bytes)
{
    struct iter *it;
    FUZZ_CHECK(table_iter_new(t, &it) == KV_OK);
    int steps = 0;
    for (iter_seek_last(it); iter_valid(it) && steps < STEPS_MAX; iter_prev(it), steps++)
        FUZZ_CHECK(iter_key(it).len >= IKEY_TRAILER_BYTES);
    FUZZ_CHECK(iter_status(it) == KV_OK || iter_status(it) == KV_ECORRUPT);
    struct kv_buf v = { 0 };
    size_t off = 0;
    for (size_t i = 0; i < e->n && i < GETS_MAX; i++) {
        struct kv_slice k, val;
        entries_at(e, i, &off, &k, &val);
        iter_seek(it, k);
        FUZZ_CHECK(iter_status(it) == KV_OK || iter_status(it) == KV_ECORRUPT);
        if (iter_valid(it)) {
            iter_prev(it);
            iter_next(it);
        }
        bool found;
        uint64_t trailer;
        int rc = table_get(t, k, &found, &trailer, &v);
        FUZZ_CHECK(rc == KV_OK || rc == KV_ECORRUPT);
        FUZZ_CHECK(rc != KV_OK || !found || v.len < file_bytes);
        FUZZ_CHECK(table_approx_offset(t, k) <= file_bytes);
    }
    kv_buf_free(&v);
    iter_destroy(it);
    size_t n;
    const struct table_range_tombstone *rt = table_range_tombstones(t, &n);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(rt[i].begin.len + rt[i].end.len < file_bytes);
}

/* Rewrites e (and t's range tombstones) with the builder; checks they read back. */
static void round_trip(struct env *env, struct table *t, const struct entries *e)
{
    struct env_file *f;
    struct table_builder *b;
    struct table_options o;
    table_options_default(&o);
    o.block_bytes = 64; /* many small blocks */
    o.restart_interval = 2;
    FUZZ_CHECK(env_open(env, "/out", ENV_OPEN_TRUNCATE, &f) == KV_OK);
    FUZZ_CHECK(table_builder_new(f, &o, &b) == KV_OK);
    size_t off = 0;
    for (size_t i = 0; i < e->n; i++) {
        struct kv_slice k, v;
        entries_at(e, i, &off, &k, &v);
        FUZZ_CHECK(table_builder_add(b, k, v) == KV_OK);
    }
    size_t nrt;
    const struct table_range_tombstone *rt = table_range_tombstones(t, &nrt);
    for (size_t i = 0; i < nrt; i++)
        FUZZ_CHECK(table_builder_add_range_tombstone(b, rt[i].begin, rt[i].end, rt[i].seq & KV_SEQ_MAX) == KV_OK);
    uint64_t bytes;
    FUZZ_CHECK(table_builder_finish(b, &bytes) == KV_OK);
    table_builder_free(b);
    FUZZ_CHECK(env_close(f) == KV_OK);

    int rc;
    struct table *t2 = open_file(env, "/out", bytes, NULL, &rc);
    FUZZ_CHECK(t2);
    struct entries again = { 0 };
    FUZZ_CHECK(walk_forward(t2, &again));
    FUZZ_CHECK(again.n == e->n && again.bytes.len == e->bytes.len && again.lens.len == e->lens.len);
    FUZZ_CHECK(e->bytes.len == 0 || memcmp(again.bytes.data, e->bytes.data, e->bytes.len) == 0);
    FUZZ_CHECK(e->lens.len == 0 || memcmp(again.lens.data, e->lens.data, e->lens.len) == 0);
    size_t nrt2;
    (void)table_range_tombstones(t2, &nrt2);
    FUZZ_CHECK(nrt2 == nrt);
    /* The newest version of each user key is what a get at KV_SEQ_MAX finds. */
    struct kv_buf v = { 0 }, lookup = { 0 };
    struct kv_slice prev_user = kv_slice_make(NULL, 0);
    off = 0;
    for (size_t i = 0; i < e->n; i++) {
        struct kv_slice k, val;
        entries_at(e, i, &off, &k, &val);
        struct kv_slice u = ikey_user(k);
        if (i > 0 && kv_slice_eq(u, prev_user))
            continue;
        prev_user = u;
        /* A crafted type above IKEY_TYPE_SEEK at KV_SEQ_MAX sorts before every lookup key. */
        if (ikey_trailer(k) > ikey_pack(KV_SEQ_MAX, IKEY_TYPE_SEEK))
            continue;
        FUZZ_CHECK(kv_buf_reserve(&lookup, u.len + IKEY_TRAILER_BYTES) == KV_OK);
        lookup.len = ikey_encode(lookup.data, u.data, u.len, KV_SEQ_MAX, IKEY_TYPE_SEEK);
        bool found = false;
        uint64_t trailer = 0;
        FUZZ_CHECK(table_get(t2, kv_slice_make(lookup.data, lookup.len), &found, &trailer, &v) == KV_OK);
        FUZZ_CHECK(found && trailer == ikey_trailer(k) && kv_slice_eq(kv_slice_make(v.data, v.len), val));
    }
    kv_buf_free(&v);
    kv_buf_free(&lookup);
    entries_free(&again);
    table_close(t2);
}

static void read_one(struct env *env, const char *bytes, size_t size, struct cache *c)
{
    struct env_file *f;
    FUZZ_CHECK(env_open(env, "/in", ENV_OPEN_TRUNCATE, &f) == KV_OK);
    FUZZ_CHECK(env_append(f, bytes, size) == KV_OK);
    FUZZ_CHECK(env_close(f) == KV_OK);
    int rc;
    struct table *t = open_file(env, "/in", size, c, &rc);
    if (!t)
        return;
    struct entries e = { 0 };
    bool clean = walk_forward(t, &e);
    poke(t, &e, size);
    if (clean)
        round_trip(env, t, &e);
    entries_free(&e);
    table_close(t);
    if (c)
        cache_erase_id(c, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kv_log_set_level(KV_LOG_OFF);
    struct env *env;
    struct cache *c;
    FUZZ_CHECK(env_mem_new(&env) == KV_OK);
    FUZZ_CHECK(cache_new(64 * 1024, &c) == KV_OK);
    char *copy = malloc(size + 1);
    FUZZ_CHECK(copy);
    if (size)
        memcpy(copy, data, size);
    read_one(env, copy, size, NULL);
    fix_checksums(copy, size);
    read_one(env, copy, size, c);
    free(copy);
    cache_free(c);
    env_destroy(env);
    return 0;
}
