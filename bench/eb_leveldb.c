/*
 * eb_leveldb.c - engine_bench adapter for LevelDB through its C API
 * (leveldb/c.h).
 *
 * Options: leveldb_options_create() defaults plus create_if_missing, i.e.
 * LevelDB's own defaults (4 MiB write buffer, 8 MiB block cache, 4 KiB
 * blocks, Snappy compression when the library has it, no bloom filter).
 * Write options: defaults (sync = false, WAL always on in LevelDB).
 *
 * Cost the C API adds: leveldb_get returns a malloc()ed copy of the value
 * that we free right away; db_bench in C++ reuses one std::string instead.
 */
#include "bench/eb_engine.h"

#include <leveldb/c.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/log.h"

struct eb_leveldb {
    leveldb_t *db;
    leveldb_options_t *options;
    leveldb_readoptions_t *read_options;
    leveldb_writeoptions_t *write_options;
};

static const char *eb_leveldb_version(void)
{
    static char text[32];
    snprintf(text, sizeof text, "%d.%d", leveldb_major_version(), leveldb_minor_version());
    return text;
}

/* Logs and frees a LevelDB error string; returns KV_EIO when there was one. */
static int eb_leveldb_check(char *err, const char *what)
{
    if (err == NULL)
        return KV_OK;
    log_error("eb_leveldb", "%s failed err=\"%s\"", what, err);
    leveldb_free(err);
    return KV_EIO;
}

static void eb_leveldb_free(struct eb_leveldb *l)
{
    if (l->db)
        leveldb_close(l->db);
    if (l->write_options)
        leveldb_writeoptions_destroy(l->write_options);
    if (l->read_options)
        leveldb_readoptions_destroy(l->read_options);
    if (l->options)
        leveldb_options_destroy(l->options);
    free(l);
}

static int eb_leveldb_open(const char *dir, struct eb_db **out)
{
    char *err = NULL;
    int rc = KV_ENOMEM;
    struct eb_leveldb *l = calloc(1, sizeof *l);
    if (l == NULL)
        goto fail;
    l->options = leveldb_options_create();
    l->read_options = leveldb_readoptions_create();
    l->write_options = leveldb_writeoptions_create();
    leveldb_options_set_create_if_missing(l->options, 1);
    l->db = leveldb_open(l->options, dir, &err);
    rc = eb_leveldb_check(err, "open");
    if (rc != KV_OK)
        goto fail;
    *out = (struct eb_db *)l;
    return KV_OK;
fail:
    if (l)
        eb_leveldb_free(l);
    return rc;
}

static int eb_leveldb_close(struct eb_db *db)
{
    eb_leveldb_free((struct eb_leveldb *)db);
    return KV_OK;
}

static int eb_leveldb_put(struct eb_db *db, struct kv_slice key, struct kv_slice value)
{
    struct eb_leveldb *l = (struct eb_leveldb *)db;
    char *err = NULL;
    leveldb_put(l->db, l->write_options, key.data, key.len, value.data, value.len, &err);
    return eb_leveldb_check(err, "put");
}

static int eb_leveldb_get(struct eb_db *db, struct kv_slice key, struct kv_buf *scratch,
                          size_t *value_len_out)
{
    struct eb_leveldb *l = (struct eb_leveldb *)db;
    char *err = NULL;
    size_t len = 0;
    char *value = leveldb_get(l->db, l->read_options, key.data, key.len, &len, &err);
    int rc = eb_leveldb_check(err, "get");
    if (rc != KV_OK)
        return rc;
    if (value == NULL)
        return KV_ENOTFOUND;
    leveldb_free(value);
    *value_len_out = len;
    return KV_OK;
}

static int eb_leveldb_scan(struct eb_db *db, uint64_t limit, uint64_t *entries_out, uint64_t *bytes_out)
{
    struct eb_leveldb *l = (struct eb_leveldb *)db;
    uint64_t entries = 0, bytes = 0;
    char *err = NULL;
    leveldb_iterator_t *it = leveldb_create_iterator(l->db, l->read_options);
    for (leveldb_iter_seek_to_first(it); entries < limit && leveldb_iter_valid(it); leveldb_iter_next(it)) {
        size_t key_len = 0, value_len = 0;
        leveldb_iter_key(it, &key_len);
        leveldb_iter_value(it, &value_len);
        bytes += key_len + value_len;
        entries++;
    }
    leveldb_iter_get_error(it, &err);
    leveldb_iter_destroy(it);
    int rc = eb_leveldb_check(err, "iterate");
    if (rc != KV_OK)
        return rc;
    *entries_out = entries;
    *bytes_out = bytes;
    return KV_OK;
}

const struct eb_engine_ops eb_leveldb_ops = {
    .name = "leveldb",
    .version = eb_leveldb_version,
    .open = eb_leveldb_open,
    .close = eb_leveldb_close,
    .put = eb_leveldb_put,
    .get = eb_leveldb_get,
    .scan = eb_leveldb_scan,
};
