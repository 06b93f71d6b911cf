/* table_cache.c - see table_cache.h. */
#include "storage/table_cache.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "storage/filename.h"
#include "storage/version.h"

/* Table-cache entries all live at this "offset" of their file number. */
#define TABLE_CACHE_OFFSET 0

struct table_cache {
    struct env *env;
    char *dir;
    struct cache *tables;      /* charge 1 per open table */
    struct cache *blocks;      /* the block cache, borrowed */
};

int table_cache_new(struct env *env, const char *dir, size_t max_open_tables, struct cache *block_cache,
                    struct table_cache **out)
{
    struct table_cache *tc = calloc(1, sizeof *tc);
    if (!tc)
        return KV_ENOMEM;
    tc->env = env;
    tc->blocks = block_cache;
    tc->dir = strdup(dir);
    int rc = tc->dir ? cache_new(max_open_tables ? max_open_tables : 1, &tc->tables) : KV_ENOMEM;
    if (rc != KV_OK) {
        free(tc->dir);
        free(tc);
        return rc;
    }
    *out = tc;
    return KV_OK;
}

void table_cache_free(struct table_cache *tc)
{
    if (!tc)
        return;
    cache_free(tc->tables);
    free(tc->dir);
    free(tc);
}

static void close_table(uint64_t id, uint64_t offset, void *value) { table_close(value); }

static int open_table(struct table_cache *tc, const struct file_meta *f, struct table **out)
{
    char path[FILENAME_PATH_BYTES_MAX];
    struct env_file *file;
    int rc = filename_path(path, tc->dir, FILENAME_TABLE, f->number);
    if (rc == KV_OK)
        rc = env_open(tc->env, path, ENV_OPEN_READ, &file);
    if (rc == KV_OK)
        rc = table_open(file, f->bytes, f->number, tc->blocks, out);
    if (rc == KV_ENOTFOUND)
        rc = KV_ECORRUPT; /* a version names it: it must exist */
    if (rc != KV_OK)
        log_error("table_cache", "\"cannot open table\" path=%s status=%s", path, kv_status_str(rc));
    return rc;
}

int table_cache_get(struct table_cache *tc, const struct file_meta *f, struct table **table_out,
                    struct cache_handle **handle_out)
{
    struct cache_handle *h = cache_lookup(tc->tables, f->number, TABLE_CACHE_OFFSET);
    if (!h) {
        struct table *t;
        int rc = open_table(tc, f, &t);
        if (rc != KV_OK)
            return rc;
        rc = cache_insert(tc->tables, f->number, TABLE_CACHE_OFFSET, t, 1, close_table, &h);
        if (rc != KV_OK) {
            table_close(t);
            return rc;
        }
    }
    *table_out = cache_value(h);
    *handle_out = h;
    return KV_OK;
}

void table_cache_release(struct table_cache *tc, struct cache_handle *h) { cache_release(tc->tables, h); }

void table_cache_evict(struct table_cache *tc, uint64_t number)
{
    cache_erase_id(tc->tables, number);
    if (tc->blocks)
        cache_erase_id(tc->blocks, number);
}

/* ---- the level iterator ---- */

struct level_iter {
    struct iter base;
    struct table_cache *tc;
    struct file_meta *const *files;
    size_t n;
    size_t index;               /* file of cur; n when none is open */
    struct iter *cur;           /* table iterator of files[index] */
    struct cache_handle *handle;
    int status;
};

static void close_file(struct level_iter *li)
{
    if (li->cur) {
        int rc = iter_status(li->cur);
        if (rc != KV_OK && li->status == KV_OK)
            li->status = rc;
        iter_destroy(li->cur);
        table_cache_release(li->tc, li->handle);
    }
    li->cur = NULL;
    li->handle = NULL;
    li->index = li->n;
}

/* Makes files[i] current (i may be n: none). False when none is open. */
static bool open_file(struct level_iter *li, size_t i)
{
    if (li->cur && li->index == i)
        return true;
    close_file(li);
    if (i >= li->n || li->status != KV_OK)
        return false;
    struct table *t;
    int rc = table_cache_get(li->tc, li->files[i], &t, &li->handle);
    if (rc == KV_OK && (rc = table_iter_new(t, &li->cur)) != KV_OK)
        table_cache_release(li->tc, li->handle);
    if (rc != KV_OK) {
        li->status = rc;
        li->cur = NULL;
        li->handle = NULL;
        return false;
    }
    li->index = i;
    return true;
}

/* Moves past exhausted files going forward; stops at an error. */
static void skip_forward(struct level_iter *li)
{
    while (li->cur && !iter_valid(li->cur)) {
        if (iter_status(li->cur) != KV_OK) {
            close_file(li);
            return;
        }
        if (open_file(li, li->index + 1))
            iter_seek_first(li->cur);
    }
}

static void skip_backward(struct level_iter *li)
{
    while (li->cur && !iter_valid(li->cur)) {
        if (iter_status(li->cur) != KV_OK || li->index == 0) {
            close_file(li);
            return;
        }
        if (open_file(li, li->index - 1))
            iter_seek_last(li->cur);
    }
}

static bool level_valid(struct iter *it)
{
    struct level_iter *li = (struct level_iter *)it;
    return li->cur && iter_valid(li->cur);
}

static void level_seek_first(struct iter *it)
{
    struct level_iter *li = (struct level_iter *)it;
    if (open_file(li, 0))
        iter_seek_first(li->cur);
    skip_forward(li);
}

static void level_seek_last(struct iter *it)
{
    struct level_iter *li = (struct level_iter *)it;
    if (li->n > 0 && open_file(li, li->n - 1))
        iter_seek_last(li->cur);
    skip_backward(li);
}

static void level_seek(struct iter *it, struct kv_slice target)
{
    struct level_iter *li = (struct level_iter *)it;
    if (open_file(li, version_find_file(li->files, li->n, target)))
        iter_seek(li->cur, target);
    skip_forward(li);
}

static void level_next(struct iter *it)
{
    struct level_iter *li = (struct level_iter *)it;
    iter_next(li->cur);
    skip_forward(li);
}

static void level_prev(struct iter *it)
{
    struct level_iter *li = (struct level_iter *)it;
    iter_prev(li->cur);
    skip_backward(li);
}

static struct kv_slice level_key(struct iter *it) { return iter_key(((struct level_iter *)it)->cur); }
static struct kv_slice level_value(struct iter *it) { return iter_value(((struct level_iter *)it)->cur); }

static int level_status(struct iter *it)
{
    struct level_iter *li = (struct level_iter *)it;
    if (li->status != KV_OK)
        return li->status;
    return li->cur ? iter_status(li->cur) : KV_OK;
}

static void level_destroy(struct iter *it)
{
    struct level_iter *li = (struct level_iter *)it;
    close_file(li);
    free(li);
}

static const struct iter_ops level_ops = {
    .valid = level_valid,
    .seek_first = level_seek_first,
    .seek_last = level_seek_last,
    .seek = level_seek,
    .next = level_next,
    .prev = level_prev,
    .key = level_key,
    .value = level_value,
    .status = level_status,
    .destroy = level_destroy,
};

int table_cache_level_iter(struct table_cache *tc, struct file_meta *const *files, size_t n, struct iter **out)
{
    struct level_iter *li = calloc(1, sizeof *li);
    if (!li)
        return KV_ENOMEM;
    li->base.ops = &level_ops;
    li->tc = tc;
    li->files = files;
    li->n = n;
    li->index = n;
    *out = &li->base;
    return KV_OK;
}
