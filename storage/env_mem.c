/*
 * env_mem.c - an in-memory file system, for fast unit tests and the
 * simulator.
 *
 * The namespace is a flat table of entries (a normalised path and either
 * a directory flag or a file's contents). Directories are real enough for
 * code that also runs on POSIX: a file or directory can be created only
 * inside an existing directory (the roots "/" and "." always exist),
 * list returns the direct children, remove deletes a file or an empty
 * directory, rename atomically replaces its target. File contents are
 * reference counted like inodes: a handle keeps reading and writing the
 * same bytes after the path is renamed or removed, and TRUNCATE empties
 * the contents every handle sees. Locks belong to the file's contents,
 * so a second env_lock of the same file is KV_EBUSY until unlock.
 *
 * Paths are normalised ("a//b/" = "a/b", "./a" = "a"); ".." is not
 * interpreted. sync and sync_dir do nothing (memory is as durable as it
 * gets here; env_fault adds the crash model on top).
 *
 * Cost: lookups scan the table, O(entries) per call; fine for the few
 * hundred files of a test database. One mutex guards everything, so the
 * env is thread-safe, and reads copy bytes under that mutex.
 */
#include "storage/env.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct mem_data {
    char *bytes;
    size_t len, cap;
    int refs;    /* directory entry + open handles */
    bool locked; /* held by an env_lock handle */
};

struct mem_entry {
    char *path;            /* normalised */
    struct mem_data *data; /* NULL for a directory */
};

struct mem_env {
    struct env base;
    pthread_mutex_t mu;
    struct mem_entry *ents;
    size_t count, cap;
};

struct mem_file {
    struct env_file base;
    struct mem_data *data;
    bool writable;
    bool is_lock;
};

static const struct env_ops mem_ops;

/* Length of the parent part of a normalised path; *root tells which root. */
static size_t mem_parent_len(const char *path, const char **root)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        *root = ".";
        return 0;
    }
    if (slash == path) {
        *root = "/";
        return 0;
    }
    *root = NULL;
    return (size_t)(slash - path);
}

static bool mem_is_root(const char *path) { return strcmp(path, "/") == 0 || strcmp(path, ".") == 0; }

static struct mem_entry *mem_find(struct mem_env *me, const char *path)
{
    for (size_t i = 0; i < me->count; i++)
        if (strcmp(me->ents[i].path, path) == 0)
            return &me->ents[i];
    return NULL;
}

static bool mem_dir_exists(struct mem_env *me, const char *path, size_t len)
{
    for (size_t i = 0; i < me->count; i++) {
        const struct mem_entry *e = &me->ents[i];
        if (!e->data && strlen(e->path) == len && memcmp(e->path, path, len) == 0)
            return true;
    }
    return false;
}

static bool mem_parent_exists(struct mem_env *me, const char *path)
{
    const char *root;
    size_t len = mem_parent_len(path, &root);
    return root != NULL || mem_dir_exists(me, path, len);
}

/* True if child is directly inside dir (both normalised). */
static bool mem_is_child(const char *dir, const char *child)
{
    const char *root;
    size_t len = mem_parent_len(child, &root);
    if (root)
        return strcmp(dir, root) == 0;
    return strlen(dir) == len && memcmp(dir, child, len) == 0;
}

static void mem_data_unref(struct mem_data *d)
{
    if (d && --d->refs == 0) {
        free(d->bytes);
        free(d);
    }
}

/* Adds an entry; takes ownership of path. */
static int mem_add(struct mem_env *me, char *path, struct mem_data *data)
{
    if (me->count == me->cap) {
        size_t ncap = me->cap ? me->cap * 2 : 32;
        struct mem_entry *ne = realloc(me->ents, ncap * sizeof *ne);
        if (!ne)
            return KV_ENOMEM;
        me->ents = ne;
        me->cap = ncap;
    }
    me->ents[me->count].path = path;
    me->ents[me->count].data = data;
    me->count++;
    return KV_OK;
}

static void mem_del(struct mem_env *me, struct mem_entry *e)
{
    free(e->path);
    mem_data_unref(e->data);
    *e = me->ents[--me->count];
}

/* Finds or creates the file at the normalised path (under me->mu). */
static int mem_get_file(struct mem_env *me, const char *path, bool create, struct mem_data **out)
{
    struct mem_entry *e = mem_find(me, path);
    if (e) {
        if (!e->data)
            return kv_status_from_errno(EISDIR);
        *out = e->data;
        return KV_OK;
    }
    if (!create)
        return KV_ENOTFOUND;
    if (mem_is_root(path) || !mem_parent_exists(me, path))
        return KV_ENOTFOUND;
    struct mem_data *d = calloc(1, sizeof *d);
    char *p = strdup(path);
    if (!d || !p || mem_add(me, p, d) != KV_OK) {
        free(d);
        free(p);
        return KV_ENOMEM;
    }
    d->refs = 1;
    *out = d;
    return KV_OK;
}

static int mem_open_handle(struct env *env, const char *path, enum env_open_mode mode, bool is_lock,
                           struct env_file **out)
{
    struct mem_env *me = (struct mem_env *)env;
    char *norm = env_path_normalise(path);
    struct mem_file *mf = calloc(1, sizeof *mf);
    int rc = KV_ENOMEM;
    if (!norm || !mf)
        goto fail;
    pthread_mutex_lock(&me->mu);
    struct mem_data *d = NULL;
    rc = mem_get_file(me, norm, mode != ENV_OPEN_READ, &d);
    if (rc == KV_OK && is_lock) {
        if (d->locked)
            rc = KV_EBUSY;
        else
            d->locked = true;
    }
    if (rc == KV_OK) {
        if (mode == ENV_OPEN_TRUNCATE && !is_lock)
            d->len = 0;
        d->refs++;
    }
    pthread_mutex_unlock(&me->mu);
    if (rc != KV_OK)
        goto fail;
    mf->base.env = env;
    mf->data = d;
    mf->writable = mode != ENV_OPEN_READ;
    mf->is_lock = is_lock;
    free(norm);
    *out = &mf->base;
    return KV_OK;
fail:
    free(norm);
    free(mf);
    return rc;
}

static int mem_open(struct env *env, const char *path, enum env_open_mode mode, struct env_file **out)
{
    if (mode != ENV_OPEN_READ && mode != ENV_OPEN_TRUNCATE && mode != ENV_OPEN_APPEND)
        return KV_EINVAL;
    return mem_open_handle(env, path, mode, false, out);
}

static int mem_append(struct env_file *f, const void *data, size_t n)
{
    struct mem_file *mf = (struct mem_file *)f;
    struct mem_env *me = (struct mem_env *)f->env;
    if (!mf->writable)
        return kv_status_from_errno(EBADF);
    int rc = KV_OK;
    pthread_mutex_lock(&me->mu);
    struct mem_data *d = mf->data;
    if (n > SIZE_MAX / 2 - d->len) {
        rc = KV_ETOOBIG;
        goto out;
    }
    if (d->len + n > d->cap) {
        size_t ncap = d->cap ? d->cap : 4096;
        while (ncap < d->len + n)
            ncap *= 2;
        char *nb = realloc(d->bytes, ncap);
        if (!nb) {
            rc = KV_ENOMEM;
            goto out;
        }
        d->bytes = nb;
        d->cap = ncap;
    }
    if (n)
        memcpy(d->bytes + d->len, data, n);
    d->len += n;
out:
    pthread_mutex_unlock(&me->mu);
    return rc;
}

static int mem_pread(struct env_file *f, uint64_t off, void *buf, size_t n, size_t *nread)
{
    struct mem_file *mf = (struct mem_file *)f;
    struct mem_env *me = (struct mem_env *)f->env;
    pthread_mutex_lock(&me->mu);
    struct mem_data *d = mf->data;
    size_t got = 0;
    if (off < d->len) {
        got = d->len - (size_t)off < n ? d->len - (size_t)off : n;
        memcpy(buf, d->bytes + off, got);
    }
    pthread_mutex_unlock(&me->mu);
    *nread = got;
    return KV_OK;
}

static int mem_sync(struct env_file *f) { return KV_OK; }

static int mem_size(struct env_file *f, uint64_t *out)
{
    struct mem_file *mf = (struct mem_file *)f;
    struct mem_env *me = (struct mem_env *)f->env;
    pthread_mutex_lock(&me->mu);
    *out = mf->data->len;
    pthread_mutex_unlock(&me->mu);
    return KV_OK;
}

static int mem_close(struct env_file *f)
{
    struct mem_file *mf = (struct mem_file *)f;
    struct mem_env *me = (struct mem_env *)f->env;
    pthread_mutex_lock(&me->mu);
    if (mf->is_lock)
        mf->data->locked = false;
    mem_data_unref(mf->data);
    pthread_mutex_unlock(&me->mu);
    free(mf);
    return KV_OK;
}

static int mem_remove(struct env *env, const char *path)
{
    struct mem_env *me = (struct mem_env *)env;
    char *norm = env_path_normalise(path);
    if (!norm)
        return KV_ENOMEM;
    int rc = KV_OK;
    pthread_mutex_lock(&me->mu);
    struct mem_entry *e = mem_find(me, norm);
    if (!e) {
        rc = KV_ENOTFOUND;
    } else if (!e->data) {
        for (size_t i = 0; i < me->count; i++)
            if (mem_is_child(norm, me->ents[i].path))
                rc = kv_status_from_errno(ENOTEMPTY);
    }
    if (rc == KV_OK)
        mem_del(me, e);
    pthread_mutex_unlock(&me->mu);
    free(norm);
    return rc;
}

static int mem_rename(struct env *env, const char *from, const char *to)
{
    struct mem_env *me = (struct mem_env *)env;
    char *nf = env_path_normalise(from), *nt = env_path_normalise(to);
    int rc = KV_ENOMEM;
    if (!nf || !nt)
        goto out_free;
    pthread_mutex_lock(&me->mu);
    struct mem_entry *src = mem_find(me, nf);
    struct mem_entry *dst = mem_find(me, nt);
    if (!src || !mem_parent_exists(me, nt) || mem_is_root(nt))
        rc = KV_ENOTFOUND;
    else if (!src->data || (dst && !dst->data))
        rc = kv_status_from_errno(EISDIR); /* directories are not renamed here */
    else
        rc = KV_OK;
    if (rc == KV_OK && src != dst) {
        if (dst) {
            size_t si = (size_t)(src - me->ents);
            mem_del(me, dst); /* may move the last entry into dst's slot */
            src = si == me->count ? dst : &me->ents[si];
        }
        free(src->path);
        src->path = nt;
        nt = NULL;
    }
    pthread_mutex_unlock(&me->mu);
out_free:
    free(nf);
    free(nt);
    return rc;
}

static int mem_mkdir(struct env *env, const char *path)
{
    struct mem_env *me = (struct mem_env *)env;
    char *norm = env_path_normalise(path);
    if (!norm)
        return KV_ENOMEM;
    int rc = KV_OK;
    pthread_mutex_lock(&me->mu);
    struct mem_entry *e = mem_find(me, norm);
    if (mem_is_root(norm) || (e && !e->data))
        rc = KV_OK;
    else if (e)
        rc = KV_EEXIST;
    else if (!mem_parent_exists(me, norm))
        rc = KV_ENOTFOUND;
    else if ((rc = mem_add(me, norm, NULL)) == KV_OK)
        norm = NULL;
    pthread_mutex_unlock(&me->mu);
    free(norm);
    return rc;
}

static int mem_sync_dir(struct env *env, const char *path)
{
    bool ok;
    int rc = env_exists(env, path, &ok);
    if (rc == KV_OK && !ok)
        rc = KV_ENOTFOUND;
    return rc;
}

static int mem_list(struct env *env, const char *dir, char ***names_out, size_t *count_out)
{
    struct mem_env *me = (struct mem_env *)env;
    char *norm = env_path_normalise(dir);
    char **names = NULL;
    size_t count = 0;
    int rc = KV_ENOMEM;
    if (!norm)
        return rc;
    pthread_mutex_lock(&me->mu);
    if (!mem_is_root(norm) && !mem_dir_exists(me, norm, strlen(norm))) {
        rc = KV_ENOTFOUND;
        goto out;
    }
    names = malloc((me->count + 1) * sizeof *names);
    if (!names)
        goto out;
    for (size_t i = 0; i < me->count; i++) {
        const char *p = me->ents[i].path;
        if (!mem_is_child(norm, p) || mem_is_root(p))
            continue;
        const char *slash = strrchr(p, '/');
        names[count] = strdup(slash ? slash + 1 : p);
        if (!names[count])
            goto out;
        count++;
    }
    rc = KV_OK;
out:
    pthread_mutex_unlock(&me->mu);
    free(norm);
    if (rc != KV_OK) {
        env_free_names(names, count);
        return rc;
    }
    *names_out = names;
    *count_out = count;
    return KV_OK;
}

static int mem_exists(struct env *env, const char *path, bool *out)
{
    struct mem_env *me = (struct mem_env *)env;
    char *norm = env_path_normalise(path);
    if (!norm)
        return KV_ENOMEM;
    pthread_mutex_lock(&me->mu);
    *out = mem_is_root(norm) || mem_find(me, norm) != NULL;
    pthread_mutex_unlock(&me->mu);
    free(norm);
    return KV_OK;
}

static int mem_lock(struct env *env, const char *path, struct env_file **out)
{
    return mem_open_handle(env, path, ENV_OPEN_APPEND, true, out);
}

static int mem_unlock(struct env_file *lock) { return mem_close(lock); }

static void mem_destroy(struct env *env)
{
    struct mem_env *me = (struct mem_env *)env;
    for (size_t i = 0; i < me->count; i++) {
        free(me->ents[i].path);
        mem_data_unref(me->ents[i].data);
    }
    free(me->ents);
    pthread_mutex_destroy(&me->mu);
    free(me);
}

static const struct env_ops mem_ops = {
    .open = mem_open,
    .append = mem_append,
    .pread = mem_pread,
    .sync = mem_sync,
    .size = mem_size,
    .close = mem_close,
    .remove = mem_remove,
    .rename = mem_rename,
    .mkdir = mem_mkdir,
    .sync_dir = mem_sync_dir,
    .list = mem_list,
    .exists = mem_exists,
    .lock = mem_lock,
    .unlock = mem_unlock,
    .destroy = mem_destroy,
};

int env_mem_new(struct env **out)
{
    struct mem_env *me = calloc(1, sizeof *me);
    if (!me)
        return KV_ENOMEM;
    if (pthread_mutex_init(&me->mu, NULL) != 0) {
        free(me);
        return KV_ENOMEM;
    }
    me->base.ops = &mem_ops;
    *out = &me->base;
    return KV_OK;
}
