/*
 * eb_ringkv.c - engine_bench adapter for ringkv's own LSM engine
 * (storage/engine.h).
 *
 * Options: engine_options_default() with sync = ENGINE_SYNC_NONE, the
 * same "WAL on, no sync on write" as the peers get; everything else
 * (memtable, block cache, bloom filter, table size, level targets) is the
 * engine's default. Point reads copy the value into the calling thread's
 * scratch buffer, which is reused across calls.
 */
#include "bench/eb_engine.h"

#include "storage/engine.h"

static const char *eb_ringkv_version(void) { return RINGKV_VERSION; }

static int eb_ringkv_open(const char *dir, struct eb_db **out)
{
    struct engine_options o;
    struct engine *e = NULL;
    engine_options_default(&o);
    o.sync = ENGINE_SYNC_NONE;
    int rc = engine_open(dir, &o, &e);
    if (rc != KV_OK)
        return rc;
    *out = (struct eb_db *)e;
    return KV_OK;
}

static int eb_ringkv_close(struct eb_db *db) { return engine_close((struct engine *)db); }

static int eb_ringkv_put(struct eb_db *db, struct kv_slice key, struct kv_slice value)
{
    return engine_put((struct engine *)db, key, value);
}

static int eb_ringkv_get(struct eb_db *db, struct kv_slice key, struct kv_buf *scratch,
                         size_t *value_len_out)
{
    int rc = engine_get((struct engine *)db, NULL, key, scratch);
    if (rc != KV_OK)
        return rc;
    *value_len_out = scratch->len;
    return KV_OK;
}

static int eb_ringkv_scan(struct eb_db *db, uint64_t limit, uint64_t *entries_out, uint64_t *bytes_out)
{
    struct engine_iter *it = NULL;
    uint64_t entries = 0, bytes = 0;
    int rc = engine_iter_new((struct engine *)db, NULL, &it);
    if (rc != KV_OK)
        return rc;
    for (engine_iter_seek_first(it); entries < limit && engine_iter_valid(it); engine_iter_next(it)) {
        bytes += engine_iter_key(it).len + engine_iter_value(it).len;
        entries++;
    }
    rc = engine_iter_status(it);
    engine_iter_free(it);
    if (rc != KV_OK)
        return rc;
    *entries_out = entries;
    *bytes_out = bytes;
    return KV_OK;
}

const struct eb_engine_ops eb_ringkv_ops = {
    .name = "ringkv",
    .version = eb_ringkv_version,
    .open = eb_ringkv_open,
    .close = eb_ringkv_close,
    .put = eb_ringkv_put,
    .get = eb_ringkv_get,
    .scan = eb_ringkv_scan,
};
