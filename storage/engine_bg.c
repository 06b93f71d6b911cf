/* engine_bg.c - the background thread: memtable flushes first, then
 * manual compactions, then the compactions the version scores ask for;
 * and the calls that wait for it (engine_flush, engine_compact_range). */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "storage/engine_internal.h"

/* Called by a running compaction between keys: a full memtable must not
 * wait for a long compaction, or writers would stall. */
static void poll_flush(void *ctx)
{
    struct engine *e = ctx;
    if (!atomic_load_explicit(&e->imm_pending, memory_order_acquire))
        return;
    pthread_mutex_lock(&e->mu);
    /* No obsolete-file deletion here: the compaction's outputs are not in
     * a version yet. The background loop deletes after the compaction. */
    if (e->imm && e->bg_error == KV_OK)
        engine_set_bg_error(e, engine_flush_imm(e));
    pthread_mutex_unlock(&e->mu);
}

int engine_flush_imm(struct engine *e)
{
    struct engine_mem *imm = e->imm;
    struct compaction_io io;
    struct version_edit edit;
    struct table_range_tombstone *t = NULL;
    size_t nt = 0;
    struct iter *it;
    int level = 0;
    engine_compaction_io(e, &io);
    io.smallest_snapshot = engine_smallest_snapshot(e);
    version_edit_init(&edit);
    struct version *base = version_set_ref_current(e->vs);
    int rc = memtable_range_tombstones(imm->mt, &t, &nt);
    if (rc == KV_OK && (rc = memtable_iter_new(imm->mt, &it)) == KV_OK) {
        pthread_mutex_unlock(&e->mu);
        rc = compaction_flush(&io, base, it, t, nt, &edit, &level);
        pthread_mutex_lock(&e->mu);
    }
    version_unref_locked(base);
    free(t);
    if (rc == KV_OK) {
        /* Every log before mem's was flushed by now. */
        version_edit_set_log_number(&edit, e->mem->log_number);
        rc = version_set_log_and_apply(e->vs, &edit);
    }
    version_edit_free(&edit);
    if (rc != KV_OK)
        return rc;
    e->imm = NULL;
    atomic_store_explicit(&e->imm_pending, false, memory_order_release);
    engine_mem_unref(imm);
    e->n.flushes++;
    e->n.flush_bytes_written += io.bytes_written;
    pthread_cond_broadcast(&e->done_cv);
    return KV_OK;
}

/* Runs c (a trivial move or a merge) and installs its edit. mu held. */
static int run_compaction(struct engine *e, struct compaction *c)
{
    int rc;
    if (compaction_is_trivial_move(c)) {
        rc = compaction_apply_move(c);
    } else {
        struct compaction_io io;
        engine_compaction_io(e, &io);
        io.smallest_snapshot = engine_smallest_snapshot(e);
        io.poll = poll_flush;
        pthread_mutex_unlock(&e->mu);
        rc = compaction_run(c, &io);
        pthread_mutex_lock(&e->mu);
        e->n.compaction_bytes_read += io.bytes_read;
        e->n.compaction_bytes_written += io.bytes_written;
    }
    if (rc == KV_OK)
        rc = version_set_log_and_apply(e->vs, &c->edit);
    if (rc == KV_OK)
        e->n.compactions++;
    return rc;
}

/* One step of a manual compaction of one level. mu held. */
static void manual_step(struct engine *e)
{
    struct engine_manual *m = e->manual;
    struct compaction *c =
        compaction_pick_range(e->vs, m->level, m->begin, m->end, e->o.table_file_bytes);
    if (!c) {
        m->done = true;
        return;
    }
    int rc = run_compaction(e, c);
    compaction_free(c);
    if (rc != KV_OK) {
        engine_set_bg_error(e, rc);
        m->status = rc;
        m->done = true;
    }
}

static void auto_compaction(struct engine *e)
{
    struct compaction *c = compaction_pick(e->vs, e->o.table_file_bytes);
    if (!c) {
        /* Only reached with a score >= 1, so picking ran out of memory:
         * stop rather than spin on it. */
        engine_set_bg_error(e, KV_ENOMEM);
        return;
    }
    int rc = run_compaction(e, c);
    compaction_free(c);
    engine_set_bg_error(e, rc);
}

void *engine_bg_main(void *arg)
{
    struct engine *e = arg;
    pthread_mutex_lock(&e->mu);
    while (!atomic_load(&e->closing)) {
        bool ok = e->bg_error == KV_OK;
        if (ok && e->imm)
            engine_set_bg_error(e, engine_flush_imm(e));
        else if (ok && e->manual && !e->manual->done)
            manual_step(e);
        else if (ok && e->vs->current->compaction_score >= 1)
            auto_compaction(e);
        else {
            if (e->manual && !ok && !e->manual->done) {
                e->manual->status = e->bg_error;
                e->manual->done = true;
                pthread_cond_broadcast(&e->done_cv);
            }
            pthread_cond_wait(&e->work_cv, &e->mu);
            continue;
        }
        engine_delete_obsolete(e);
        pthread_cond_broadcast(&e->done_cv);
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

/* ---- waiting for background work ---- */

int engine_flush(struct engine *e)
{
    int rc = engine_write_queued(e, NULL);
    pthread_mutex_lock(&e->mu);
    while (rc == KV_OK && e->imm && e->bg_error == KV_OK && !atomic_load(&e->closing))
        pthread_cond_wait(&e->done_cv, &e->mu);
    if (rc == KV_OK)
        rc = e->bg_error;
    pthread_mutex_unlock(&e->mu);
    return rc;
}

/* Compacts one level's overlap with the range into the next; mu held. */
static int compact_level(struct engine *e, int level, const struct kv_slice *begin, const struct kv_slice *end)
{
    struct engine_manual m = { .level = level, .begin = begin, .end = end };
    while (e->manual) /* one manual compaction at a time */
        pthread_cond_wait(&e->done_cv, &e->mu);
    e->manual = &m;
    pthread_cond_signal(&e->work_cv);
    while (!m.done && !atomic_load(&e->closing))
        pthread_cond_wait(&e->done_cv, &e->mu);
    e->manual = NULL;
    pthread_cond_broadcast(&e->done_cv);
    if (!m.done)
        return KV_ECLOSED;
    return m.status;
}

int engine_compact_range(struct engine *e, const struct kv_slice *begin, const struct kv_slice *end)
{
    int rc = engine_flush(e);
    if (rc != KV_OK)
        return rc;
    pthread_mutex_lock(&e->mu);
    int max_level = 1;
    for (int l = 1; l < ENGINE_LEVELS; l++)
        if (version_overlap_in_level(e->vs->current, l, begin, end))
            max_level = l;
    for (int l = 0; l < max_level && rc == KV_OK; l++)
        rc = compact_level(e, l, begin, end);
    if (rc == KV_OK)
        rc = e->bg_error;
    pthread_mutex_unlock(&e->mu);
    return rc;
}
