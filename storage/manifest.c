/* manifest.c - the persistent side of the version set: recovery from
 * CURRENT and the manifest, and logging edits (version.h). */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "storage/filename.h"
#include "storage/version.h"
#include "storage/version_internal.h"

/* What recovery accumulates across the edits of a manifest. */
struct recovery {
    struct version_builder b;
    struct version_edit last;   /* counters seen so far (only the has_* fields) */
    struct kv_buf pointers[ENGINE_LEVELS];
};

static void recovery_free(struct recovery *r)
{
    version_builder_free(&r->b);
    for (int l = 0; l < ENGINE_LEVELS; l++)
        kv_buf_free(&r->pointers[l]);
}

static int recovery_apply(struct recovery *r, struct kv_slice record)
{
    struct version_edit e;
    version_edit_init(&e);
    int rc = version_edit_decode(record, &e);
    if (rc == KV_OK)
        rc = version_builder_apply(&r->b, &e);
    if (rc == KV_OK) {
        if (e.has_log_number)
            version_edit_set_log_number(&r->last, e.log_number);
        if (e.has_next_file_number)
            version_edit_set_next_file_number(&r->last, e.next_file_number);
        if (e.has_last_seq)
            version_edit_set_last_seq(&r->last, e.last_seq);
        for (size_t i = 0; i < e.npointers && rc == KV_OK; i++)
            rc = kv_buf_set(&r->pointers[e.pointers[i].level], e.pointers[i].ikey.data, e.pointers[i].ikey.len);
    }
    version_edit_free(&e);
    return rc;
}

/* Reads CURRENT into the manifest number; KV_ENOTFOUND if there is none. */
static int read_current(struct version_set *vs, uint64_t *number)
{
    char path[FILENAME_PATH_BYTES_MAX];
    bool exists = false;
    char *data = NULL;
    size_t len = 0;
    int rc = filename_path(path, vs->dir, FILENAME_CURRENT_FILE, 0);
    if (rc == KV_OK)
        rc = env_exists(vs->env, path, &exists);
    if (rc == KV_OK && !exists)
        return KV_ENOTFOUND;
    if (rc == KV_OK)
        rc = env_read_all(vs->env, path, &data, &len);
    if (rc == KV_OK && (rc = filename_parse_current(data, len, number)) != KV_OK)
        log_error("manifest", "\"CURRENT is malformed\" dir=%s", vs->dir);
    free(data);
    return rc;
}

/* Replays every edit of the manifest into r. */
static int read_manifest(struct version_set *vs, uint64_t number, struct recovery *r, uint64_t *dropped)
{
    char path[FILENAME_PATH_BYTES_MAX];
    struct env_file *f = NULL;
    struct wal_reader *reader = NULL;
    int rc = filename_path(path, vs->dir, FILENAME_MANIFEST, number);
    if (rc == KV_OK && (rc = env_open(vs->env, path, ENV_OPEN_READ, &f)) != KV_OK) {
        log_error("manifest", "\"CURRENT names a manifest that cannot be opened\" path=%s status=%s", path,
                  kv_status_str(rc));
        return rc == KV_ENOTFOUND ? KV_ECORRUPT : rc;
    }
    if (rc == KV_OK)
        rc = wal_reader_new(f, &reader);
    while (rc == KV_OK) {
        struct kv_slice rec;
        rc = wal_reader_next(reader, &rec);
        if (rc == KV_OK && (rc = recovery_apply(r, rec)) == KV_ECORRUPT)
            log_error("manifest", "\"bad version edit\" path=%s", path);
    }
    if (rc == KV_ENOTFOUND) {
        rc = KV_OK;
        *dropped = wal_reader_dropped_bytes(reader);
        if (*dropped)
            log_warn("manifest", "\"torn manifest tail dropped\" path=%s bytes=%" PRIu64, path, *dropped);
    }
    if (reader)
        wal_reader_free(reader);
    return rc;
}

int version_set_recover(struct version_set *vs, uint64_t *dropped_bytes_out)
{
    struct recovery r;
    memset(&r, 0, sizeof r);
    uint64_t number = 0, dropped = 0;
    struct version *v = NULL;
    int rc = read_current(vs, &number);
    if (rc != KV_OK)
        return rc;
    if ((rc = version_builder_init(&r.b, vs->current)) != KV_OK)
        goto fail;
    if ((rc = read_manifest(vs, number, &r, &dropped)) != KV_OK)
        goto fail;
    if (!r.last.has_log_number || !r.last.has_next_file_number || !r.last.has_last_seq) {
        log_error("manifest", "\"manifest lacks counters\" dir=%s", vs->dir);
        rc = KV_ECORRUPT;
        goto fail;
    }
    if ((rc = version_builder_finish(&r.b, vs, &v)) != KV_OK)
        goto fail;
    version_unref_locked(vs->current);
    vs->current = v;
    vs->log_number = r.last.log_number;
    vs->next_file_number = r.last.next_file_number;
    vs->last_seq = r.last.last_seq;
    vs->manifest_number = number;
    version_set_mark_file_number_used(vs, number);
    version_set_mark_file_number_used(vs, vs->log_number);
    for (int l = 0; l < ENGINE_LEVELS; l++) {
        for (size_t i = 0; i < v->nfiles[l]; i++)
            version_set_mark_file_number_used(vs, v->files[l][i]->number);
        kv_buf_free(&vs->compact_pointer[l]);
        vs->compact_pointer[l] = r.pointers[l];
        memset(&r.pointers[l], 0, sizeof r.pointers[l]);
    }
    if (dropped_bytes_out)
        *dropped_bytes_out = dropped;
fail:
    recovery_free(&r);
    return rc;
}

/* ---- logging edits ---- */

/* The whole state of v as one edit: the first record of a new manifest. */
static int encode_snapshot(struct version_set *vs, const struct version *v, const struct version_edit *edit,
                           struct kv_buf *out)
{
    struct version_edit s;
    version_edit_init(&s);
    version_edit_set_log_number(&s, edit->log_number);
    version_edit_set_next_file_number(&s, edit->next_file_number);
    version_edit_set_last_seq(&s, edit->last_seq);
    int rc = KV_OK;
    for (int l = 0; l < ENGINE_LEVELS && rc == KV_OK; l++) {
        struct kv_slice ptr = kv_slice_make(vs->compact_pointer[l].data, vs->compact_pointer[l].len);
        for (size_t i = 0; i < edit->npointers; i++)
            if (edit->pointers[i].level == l)
                ptr = kv_slice_make(edit->pointers[i].ikey.data, edit->pointers[i].ikey.len);
        if (ptr.len)
            rc = version_edit_set_compact_pointer(&s, l, ptr);
        for (size_t i = 0; i < v->nfiles[l] && rc == KV_OK; i++)
            rc = version_edit_add_file(&s, l, v->files[l][i]);
    }
    if (rc == KV_OK)
        rc = version_edit_encode(&s, out);
    version_edit_free(&s);
    return rc;
}

static int write_current(struct version_set *vs, uint64_t number)
{
    char text[64];
    int n = snprintf(text, sizeof text, "MANIFEST-%06" PRIu64 "\n", number);
    return env_write_atomic(vs->env, vs->dir, FILENAME_CURRENT, text, (size_t)n);
}

/* Writes record to the manifest (a new one numbered mnum when *w is NULL,
 * then CURRENT). Runs without the mutex. */
static int write_record(struct version_set *vs, struct wal_writer **w, uint64_t mnum, bool sync_dir,
                        struct kv_slice record)
{
    char path[FILENAME_PATH_BYTES_MAX] = "";
    bool created = false;
    int rc = KV_OK;
    if (!*w) {
        struct env_file *f;
        if ((rc = filename_path(path, vs->dir, FILENAME_MANIFEST, mnum)) != KV_OK)
            return rc;
        if ((rc = env_open(vs->env, path, ENV_OPEN_TRUNCATE, &f)) != KV_OK)
            return rc;
        if ((rc = wal_writer_new(f, 0, w)) != KV_OK)
            goto fail;
        created = true;
    } else if (sync_dir) {
        /* New tables named by this edit must be durable before the edit. */
        rc = env_sync_dir(vs->env, vs->dir);
    }
    if (rc == KV_OK)
        rc = wal_writer_add(*w, record);
    if (rc == KV_OK)
        rc = wal_writer_sync(*w);
    if (rc == KV_OK && created)
        rc = write_current(vs, mnum); /* syncs the directory: the tables' entries too */
    if (rc == KV_OK)
        return KV_OK;
fail:
    if (*w && wal_writer_close(*w) != KV_OK)
        log_warn("manifest", "\"closing a failed manifest failed\"");
    *w = NULL;
    if (created && env_remove(vs->env, path) != KV_OK)
        log_warn("manifest", "\"removing a failed manifest failed\" path=%s", path);
    return rc;
}

static void install(struct version_set *vs, struct version *v, const struct version_edit *edit)
{
    struct version *old = vs->current;
    vs->current = v;
    version_unref_locked(old);
    vs->log_number = edit->log_number;
    for (size_t i = 0; i < edit->npointers; i++) {
        struct kv_buf *p = &vs->compact_pointer[edit->pointers[i].level];
        if (kv_buf_set(p, edit->pointers[i].ikey.data, edit->pointers[i].ikey.len) != KV_OK)
            kv_buf_reset(p); /* only a scheduling hint: losing it is harmless */
    }
}

int version_set_log_and_apply(struct version_set *vs, struct version_edit *edit)
{
    struct version_builder b;
    struct version *v = NULL;
    struct kv_buf record = { 0 };
    struct wal_writer *w = vs->manifest;
    bool fresh = (w == NULL);
    uint64_t mnum = fresh ? version_set_new_file_number(vs) : vs->manifest_number;
    if (!edit->has_log_number)
        version_edit_set_log_number(edit, vs->log_number);
    version_edit_set_next_file_number(edit, vs->next_file_number);
    version_edit_set_last_seq(edit, vs->last_seq);
    int rc = version_builder_init(&b, vs->current);
    if (rc == KV_OK)
        rc = version_builder_apply(&b, edit);
    if (rc == KV_OK)
        rc = version_builder_finish(&b, vs, &v);
    version_builder_free(&b);
    if (rc == KV_OK)
        rc = fresh ? encode_snapshot(vs, v, edit, &record) : version_edit_encode(edit, &record);
    if (rc != KV_OK)
        goto fail;

    assert(!vs->applying); /* one writer of the manifest at a time */
    vs->applying = true;
    pthread_mutex_unlock(vs->mu);
    rc = write_record(vs, &w, mnum, edit->nadded > 0, kv_slice_make(record.data, record.len));
    pthread_mutex_lock(vs->mu);
    vs->applying = false;
    vs->manifest = w;
    if (rc != KV_OK)
        goto fail;
    if (fresh)
        vs->manifest_number = mnum;
    install(vs, v, edit);
    if (wal_writer_size(w) > VERSION_MANIFEST_BYTES_MAX) {
        if (wal_writer_close(w) != KV_OK)
            log_warn("manifest", "\"closing a full manifest failed\"");
        vs->manifest = NULL; /* the next edit starts a new one */
    }
    kv_buf_free(&record);
    return KV_OK;

fail:
    log_error("manifest", "\"version edit not applied\" status=%s", kv_status_str(rc));
    if (v)
        version_unref_locked(v);
    kv_buf_free(&record);
    return rc;
}
