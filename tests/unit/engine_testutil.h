/*
 * engine_testutil.h - helpers shared by the engine tests (test_engine*.c):
 * temporary directories, small-engine options, and put/get shorthands
 * that fail the running check test on an unexpected status.
 */
#ifndef RINGKV_TESTS_ENGINE_TESTUTIL_H
#define RINGKV_TESTS_ENGINE_TESTUTIL_H

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/slice.h"
#include "storage/engine.h"

/* Options that make a few hundred writes produce many tables and
 * compactions: tiny memtables, tables, blocks and levels. */
static inline void tu_small_options(struct engine_options *o, struct env *env)
{
    engine_options_default(o);
    o->env = env;
    o->sync = ENGINE_SYNC_NONE;
    o->memtable_bytes = 16 * 1024;
    o->table_file_bytes = 8 * 1024;
    o->block_bytes = 512;
    o->level1_bytes = 32 * 1024;
    o->block_cache_bytes = 256 * 1024;
    o->max_open_tables = 16;
    o->level0_compaction_trigger = 2;
    o->level0_slowdown_trigger = 4;
    o->level0_stop_trigger = 6;
}

/* mkdtemp under /tmp; returns a malloc'd path. */
static inline char *tu_tmpdir(void)
{
    char *p = strdup("/tmp/ringkv-test-XXXXXX");
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(mkdtemp(p));
    return p;
}

/* Removes a directory of plain files (engine directories are flat). */
static inline void tu_rmdir(char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        char path[4096];
        while ((de = readdir(d))) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
    free(dir);
}

static inline struct kv_slice tu_s(const char *s) { return kv_slice_str(s); }

static inline void tu_put(struct engine *e, const char *k, const char *v)
{
    ck_assert_int_eq(engine_put(e, tu_s(k), tu_s(v)), KV_OK);
}

/* Asserts key k reads as v (NULL: absent) at snap. */
static inline void tu_expect(struct engine *e, const struct engine_snapshot *snap, const char *k, const char *v)
{
    struct kv_buf b = { 0 };
    int rc = engine_get(e, snap, tu_s(k), &b);
    if (v) {
        ck_assert_msg(rc == KV_OK, "get %s: %s", k, kv_status_str(rc));
        ck_assert_uint_eq(b.len, strlen(v));
        ck_assert_msg(memcmp(b.data, v, b.len) == 0, "get %s: wrong value", k);
    } else {
        ck_assert_msg(rc == KV_ENOTFOUND, "get %s: expected absent, got %s", k, kv_status_str(rc));
    }
    kv_buf_free(&b);
}

static inline void tu_key(char *buf, size_t n, const char *prefix, unsigned i)
{
    snprintf(buf, n, "%s%06u", prefix, i);
}

#endif
