/*
 * env.c - helpers shared by every env: name lists, whole-file reads and
 * the write-temp-then-rename pattern used for small metadata files.
 */
#include "storage/env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* Suffix of the temporary file env_write_atomic writes before renaming. */
#define ENV_TMP_SUFFIX ".tmp"

void env_free_names(char **names, size_t count)
{
    if (!names)
        return;
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
}

/*
 * The whole file is read with pread calls into one buffer sized from
 * env_size; a file that grows meanwhile is read up to its size at the
 * start. The buffer gets one extra NUL byte so that text files can be
 * parsed in place (not counted in *len).
 */
int env_read_all(struct env *e, const char *path, char **data, size_t *len)
{
    struct env_file *f = NULL;
    char *buf = NULL;
    uint64_t size = 0;
    int rc = env_open(e, path, ENV_OPEN_READ, &f);
    if (rc != KV_OK)
        goto fail;
    rc = env_size(f, &size);
    if (rc != KV_OK)
        goto fail;
    if (size >= SIZE_MAX) {
        rc = KV_ETOOBIG;
        goto fail;
    }
    buf = malloc((size_t)size + 1);
    if (!buf) {
        rc = KV_ENOMEM;
        goto fail;
    }
    size_t got = 0;
    while (got < size) {
        size_t n = 0;
        rc = env_pread(f, got, buf + got, (size_t)size - got, &n);
        if (rc != KV_OK)
            goto fail;
        if (n == 0)
            break; /* the file shrank: return what is there */
        got += n;
    }
    buf[got] = 0;
    rc = env_close(f);
    f = NULL;
    if (rc != KV_OK)
        goto fail;
    *data = buf;
    *len = got;
    return KV_OK;
fail:
    if (f) {
        int crc = env_close(f);
        (void)crc; /* the first error is the one reported */
    }
    free(buf);
    return rc;
}

/* Joins dir and name with one '/' (dir may be "" for the current directory). */
static char *join_path(const char *dir, const char *name, const char *suffix)
{
    size_t dl = strlen(dir), nl = strlen(name), sl = strlen(suffix);
    char *p = malloc(dl + 1 + nl + sl + 1);
    if (!p)
        return NULL;
    if (dl == 0)
        snprintf(p, nl + sl + 1, "%s%s", name, suffix);
    else if (dir[dl - 1] == '/')
        snprintf(p, dl + nl + sl + 1, "%s%s%s", dir, name, suffix);
    else
        snprintf(p, dl + 1 + nl + sl + 1, "%s/%s%s", dir, name, suffix);
    return p;
}

/*
 * Crash safety: after a crash either the old file or the complete new
 * one is visible under `name` (rename is atomic), and once this returns
 * KV_OK the new one survives power loss (the data was synced before the
 * rename and the directory after it). A stale name.tmp may be left by a
 * crash; the next call truncates it.
 */
int env_write_atomic(struct env *e, const char *dir, const char *name, const void *data, size_t len)
{
    struct env_file *f = NULL;
    char *tmp = join_path(dir, name, ENV_TMP_SUFFIX);
    char *dst = join_path(dir, name, "");
    int rc = KV_ENOMEM;
    if (!tmp || !dst)
        goto fail;
    rc = env_open(e, tmp, ENV_OPEN_TRUNCATE, &f);
    if (rc != KV_OK)
        goto fail;
    if (len) {
        rc = env_append(f, data, len);
        if (rc != KV_OK)
            goto fail;
    }
    rc = env_sync(f);
    if (rc != KV_OK)
        goto fail;
    rc = env_close(f);
    f = NULL;
    if (rc != KV_OK)
        goto fail;
    rc = env_rename(e, tmp, dst);
    if (rc != KV_OK)
        goto fail;
    rc = env_sync_dir(e, dir[0] ? dir : ".");
    if (rc != KV_OK)
        goto fail;
    free(tmp);
    free(dst);
    return KV_OK;
fail:
    log_error("env", "atomic write failed path=%s status=%s", dst ? dst : name, kv_status_str(rc));
    if (f) {
        int crc = env_close(f);
        (void)crc;
    }
    if (tmp) {
        int rrc = env_remove(e, tmp);
        (void)rrc; /* best effort: a leftover .tmp is harmless */
    }
    free(tmp);
    free(dst);
    return rc;
}

char *env_path_normalise(const char *path)
{
    size_t n = strlen(path);
    char *out = malloc(n + 2);
    if (!out)
        return NULL;
    size_t o = 0;
    const char *p = path;
    if (*p == '/')
        out[o++] = '/';
    while (*p) {
        while (*p == '/')
            p++;
        const char *seg = p;
        while (*p && *p != '/')
            p++;
        size_t len = (size_t)(p - seg);
        if (len == 0 || (len == 1 && seg[0] == '.'))
            continue;
        if (o > 0 && out[o - 1] != '/')
            out[o++] = '/';
        memcpy(out + o, seg, len);
        o += len;
    }
    if (o == 0)
        out[o++] = '.';
    out[o] = 0;
    return out;
}
