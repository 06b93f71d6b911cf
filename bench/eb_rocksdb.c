/*
 * eb_rocksdb.c - engine_bench adapter for RocksDB through its C API
 * (rocksdb/c.h).
 *
 * Options: rocksdb_options_create() defaults plus create_if_missing, i.e.
 * RocksDB's own defaults (64 MiB write buffer, block-based tables with
 * the default block cache, Snappy compression when the library has it,
 * no bloom filter, two background jobs). No OptimizeLevelStyleCompaction
 * or IncreaseParallelism: the point is each engine as shipped.
 * Write options: defaults (sync = false, WAL on).
 *
 * Point reads use rocksdb_get_pinned, which hands out the value without
 * copying it where it can (as RocksDB's db_bench does with PinnableSlice).
 */
#include "bench/eb_engine.h"

#include <rocksdb/c.h>
#include <stdlib.h>

#include "common/log.h"

#ifndef EB_ROCKSDB_VERSION
#define EB_ROCKSDB_VERSION "unknown"
#endif

struct eb_rocksdb {
    rocksdb_t *db;
    rocksdb_options_t *options;
    rocksdb_readoptions_t *read_options;
    rocksdb_writeoptions_t *write_options;
};

static const char *eb_rocksdb_version(void) { return EB_ROCKSDB_VERSION; }

/* Logs and frees a RocksDB error string; returns KV_EIO when there was one. */
static int eb_rocksdb_check(char *err, const char *what)
{
    if (err == NULL)
        return KV_OK;
    log_error("eb_rocksdb", "%s failed err=\"%s\"", what, err);
    rocksdb_free(err);
    return KV_EIO;
}

static void eb_rocksdb_free(struct eb_rocksdb *r)
{
    if (r->db)
        rocksdb_close(r->db);
    if (r->write_options)
        rocksdb_writeoptions_destroy(r->write_options);
    if (r->read_options)
        rocksdb_readoptions_destroy(r->read_options);
    if (r->options)
        rocksdb_options_destroy(r->options);
    free(r);
}

static int eb_rocksdb_open(const char *dir, struct eb_db **out)
{
    char *err = NULL;
    int rc = KV_ENOMEM;
    struct eb_rocksdb *r = calloc(1, sizeof *r);
    if (r == NULL)
        goto fail;
    r->options = rocksdb_options_create();
    r->read_options = rocksdb_readoptions_create();
    r->write_options = rocksdb_writeoptions_create();
    rocksdb_options_set_create_if_missing(r->options, 1);
    r->db = rocksdb_open(r->options, dir, &err);
    rc = eb_rocksdb_check(err, "open");
    if (rc != KV_OK)
        goto fail;
    *out = (struct eb_db *)r;
    return KV_OK;
fail:
    if (r)
        eb_rocksdb_free(r);
    return rc;
}

static int eb_rocksdb_close(struct eb_db *db)
{
    eb_rocksdb_free((struct eb_rocksdb *)db);
    return KV_OK;
}

static int eb_rocksdb_put(struct eb_db *db, struct kv_slice key, struct kv_slice value)
{
    struct eb_rocksdb *r = (struct eb_rocksdb *)db;
    char *err = NULL;
    rocksdb_put(r->db, r->write_options, key.data, key.len, value.data, value.len, &err);
    return eb_rocksdb_check(err, "put");
}

static int eb_rocksdb_get(struct eb_db *db, struct kv_slice key, struct kv_buf *scratch,
                          size_t *value_len_out)
{
    struct eb_rocksdb *r = (struct eb_rocksdb *)db;
    char *err = NULL;
    rocksdb_pinnableslice_t *value = rocksdb_get_pinned(r->db, r->read_options, key.data, key.len, &err);
    int rc = eb_rocksdb_check(err, "get");
    if (rc != KV_OK)
        return rc;
    if (value == NULL)
        return KV_ENOTFOUND;
    size_t len = 0;
    rocksdb_pinnableslice_value(value, &len);
    rocksdb_pinnableslice_destroy(value);
    *value_len_out = len;
    return KV_OK;
}

static int eb_rocksdb_scan(struct eb_db *db, uint64_t limit, uint64_t *entries_out, uint64_t *bytes_out)
{
    struct eb_rocksdb *r = (struct eb_rocksdb *)db;
    uint64_t entries = 0, bytes = 0;
    char *err = NULL;
    rocksdb_iterator_t *it = rocksdb_create_iterator(r->db, r->read_options);
    for (rocksdb_iter_seek_to_first(it); entries < limit && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t key_len = 0, value_len = 0;
        rocksdb_iter_key(it, &key_len);
        rocksdb_iter_value(it, &value_len);
        bytes += key_len + value_len;
        entries++;
    }
    rocksdb_iter_get_error(it, &err);
    rocksdb_iter_destroy(it);
    int rc = eb_rocksdb_check(err, "iterate");
    if (rc != KV_OK)
        return rc;
    *entries_out = entries;
    *bytes_out = bytes;
    return KV_OK;
}

const struct eb_engine_ops eb_rocksdb_ops = {
    .name = "rocksdb",
    .version = eb_rocksdb_version,
    .open = eb_rocksdb_open,
    .close = eb_rocksdb_close,
    .put = eb_rocksdb_put,
    .get = eb_rocksdb_get,
    .scan = eb_rocksdb_scan,
};
