/* engine_write.c - the write path: a queue of writers whose leader
 * commits a group of batches as one WAL record (group commit), memtable
 * switches, write stalls, and the periodic WAL sync thread. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "storage/batch.h"
#include "storage/engine_internal.h"
#include "storage/filename.h"

/* Creates log `number` and makes it the WAL; the previous WAL is synced
 * first so that no later write can become durable before an earlier one
 * (recovered state is always a prefix of the writes). mu held; released
 * during I/O. The caller is the write leader (or open). */
int engine_new_wal(struct engine *e, uint64_t number)
{
    char path[FILENAME_PATH_BYTES_MAX];
    struct env_file *f;
    struct wal_writer *w = NULL, *old = NULL;
    int rc = filename_path(path, e->dir, FILENAME_LOG, number);
    if (rc != KV_OK)
        return rc;
    pthread_mutex_unlock(&e->mu);
    if ((rc = env_open(e->env, path, ENV_OPEN_TRUNCATE, &f)) == KV_OK &&
        (rc = wal_writer_new(f, 0, &w)) == KV_OK)
        rc = env_sync_dir(e->env, e->dir); /* the new name must survive a crash */
    if (rc != KV_OK) {
        if (w && wal_writer_close(w) != KV_OK)
            log_warn("engine", "\"closing a failed log failed\" path=%s", path);
        if (w && env_remove(e->env, path) != KV_OK)
            log_warn("engine", "\"removing a failed log failed\" path=%s", path);
        log_error("engine", "\"cannot create log\" path=%s status=%s", path, kv_status_str(rc));
        pthread_mutex_lock(&e->mu);
        return rc;
    }
    int sync_rc = KV_OK;
    pthread_mutex_lock(&e->wal_mu);
    while (e->wal_syncing) /* the periodic sync of the old log must end before it is closed */
        pthread_cond_wait(&e->wal_cv, &e->wal_mu);
    old = e->wal;
    if (old && e->wal_dirty) {
        sync_rc = wal_writer_sync(old);
        atomic_fetch_add_explicit(&e->wal_syncs, 1, memory_order_relaxed);
    }
    e->wal = w;
    e->wal_dirty = false;
    pthread_mutex_unlock(&e->wal_mu);
    if (old && wal_writer_close(old) != KV_OK)
        log_warn("engine", "\"closing the previous log failed\" dir=%s", e->dir);
    pthread_mutex_lock(&e->mu);
    engine_set_bg_error(e, sync_rc);
    return sync_rc;
}

/* Turns mem into imm behind a new WAL and memtable. mu held. */
static int switch_memtable(struct engine *e)
{
    struct engine_mem *m;
    uint64_t number = version_set_new_file_number(e->vs);
    int rc = engine_mem_new(number, &m);
    if (rc == KV_OK && (rc = engine_new_wal(e, number)) != KV_OK)
        engine_mem_unref(m);
    if (rc != KV_OK)
        return rc;
    e->imm = e->mem;
    e->mem = m;
    atomic_store_explicit(&e->imm_pending, true, memory_order_release);
    pthread_cond_signal(&e->work_cv);
    return KV_OK;
}

/* Waits for the background thread to finish a job, counting the stall. */
static void stall(struct engine *e)
{
    uint64_t t0 = kv_mono_ns();
    pthread_cond_wait(&e->done_cv, &e->mu);
    e->n.write_stalls_ms += (kv_mono_ns() - t0) / 1000000u;
}

int engine_make_room(struct engine *e, bool force)
{
    bool allow_delay = !force;
    for (;;) {
        size_t l0 = e->vs->current->nfiles[0];
        if (e->bg_error != KV_OK)
            return e->bg_error;
        if (atomic_load(&e->closing))
            return KV_ECLOSED;
        if (allow_delay && l0 >= (size_t)e->o.level0_slowdown_trigger) {
            /* Near the stop trigger: give each write a short delay instead
             * of stopping all of them later for a whole compaction. */
            pthread_mutex_unlock(&e->mu);
            usleep(ENGINE_SLOWDOWN_SLEEP_US);
            pthread_mutex_lock(&e->mu);
            e->n.write_stalls_ms++;
            allow_delay = false;
        } else if (!force && memtable_bytes(e->mem->mt) <= e->o.memtable_bytes) {
            return KV_OK;
        } else if (force && engine_mem_empty(e->mem)) {
            return KV_OK;
        } else if (e->imm) {
            stall(e); /* the previous memtable is still being flushed */
        } else if (l0 >= (size_t)e->o.level0_stop_trigger) {
            stall(e);
        } else {
            int rc = switch_memtable(e);
            if (rc != KV_OK)
                return rc;
            force = false;
        }
    }
}

/* Merges the batches of the leader and of the writers queued behind it
 * into e->group; returns the last writer included. mu held. */
static struct engine_writer *build_group(struct engine *e, struct engine_writer *leader, int *rc)
{
    struct kv_slice first = batch_rep(leader->batch);
    size_t max = first.len <= ENGINE_GROUP_SMALL_BYTES ? first.len + ENGINE_GROUP_SMALL_EXTRA_BYTES
                                                       : ENGINE_GROUP_BYTES_MAX;
    struct engine_writer *last = leader;
    if (first.len < e->group.cap) { /* the usual case: no call into kv_buf */
        memcpy(e->group.data, first.data, first.len);
        e->group.data[first.len] = 0; /* kv_buf keeps its NUL */
        e->group.len = first.len;
        *rc = KV_OK;
    } else {
        *rc = kv_buf_set(&e->group, first.data, first.len);
    }
    for (struct engine_writer *w = leader->next; w && *rc == KV_OK; w = w->next) {
        if (!w->batch)
            break; /* a flush request ends the group */
        struct kv_slice rep = batch_rep(w->batch);
        if (e->group.len + rep.len - BATCH_HEADER_BYTES > max)
            break;
        *rc = batch_rep_append(&e->group, rep);
        last = w;
    }
    return last;
}

/* Appends the group to the WAL (and syncs it) then applies it to mem.
 * Runs without mu: the leader is the only thread that does this. */
static int commit_group(struct engine *e, struct engine_mem *mem)
{
    struct kv_slice rec = kv_slice_make(e->group.data, e->group.len);
    pthread_mutex_lock(&e->wal_mu);
    int rc = wal_writer_add(e->wal, rec);
    if (rc == KV_OK && e->o.sync == ENGINE_SYNC_ALWAYS) {
        rc = wal_writer_sync(e->wal);
        atomic_fetch_add_explicit(&e->wal_syncs, 1, memory_order_relaxed);
    } else if (rc == KV_OK) {
        e->wal_dirty = true;
    }
    pthread_mutex_unlock(&e->wal_mu);
    if (rc == KV_OK)
        rc = engine_mem_apply(mem, rec);
    return rc;
}

static void finish_writers(struct engine *e, struct engine_writer *self, struct engine_writer *last, int rc)
{
    for (;;) {
        struct engine_writer *w = e->writers;
        e->writers = w->next;
        if (w != self) {
            w->status = rc;
            w->done = true;
            pthread_cond_signal(&w->cv);
        }
        if (w == last)
            break;
    }
    if (e->writers)
        pthread_cond_signal(&e->writers->cv);
    else
        e->writers_tail = NULL;
}

/* Leads one group: room, seqs, WAL, memtable. mu held. */
static int lead(struct engine *e, struct engine_writer *self, struct engine_writer **last)
{
    int rc = engine_make_room(e, self->batch == NULL);
    *last = self;
    if (rc != KV_OK || !self->batch)
        return rc;
    *last = build_group(e, self, &rc);
    if (rc != KV_OK)
        return rc;
    uint64_t seq = e->vs->last_seq + 1;
    uint32_t count = batch_rep_count(e->group.data);
    batch_rep_set_seq(e->group.data, seq);
    struct engine_mem *mem = e->mem; /* only the leader replaces it */
    pthread_mutex_unlock(&e->mu);
    rc = commit_group(e, mem);
    pthread_mutex_lock(&e->mu);
    if (rc != KV_OK) {
        /* The log may now end in a partial record, and the memtable may
         * miss part of a batch that the log holds: stop accepting writes. */
        engine_set_bg_error(e, rc);
        return rc;
    }
    e->vs->last_seq = seq + count - 1;
    e->n.wal_bytes_written += e->group.len;
    for (struct engine_writer *w = self;; w = w->next) {
        e->n.user_bytes_written += w->batch->user_bytes;
        if (w == *last)
            break;
    }
    return KV_OK;
}

/* Queues a writer (batch NULL: a flush request) and waits for its group. */
int engine_write_queued(struct engine *e, const struct engine_batch *b)
{
    struct engine_writer w = { .batch = b };
    struct engine_writer *last;
    pthread_cond_init(&w.cv, NULL);
    pthread_mutex_lock(&e->mu);
    if (e->writers_tail)
        e->writers_tail->next = &w;
    else
        e->writers = &w;
    e->writers_tail = &w;
    while (!w.done && e->writers != &w)
        pthread_cond_wait(&w.cv, &e->mu);
    int rc = w.status;
    if (!w.done) {
        rc = lead(e, &w, &last);
        finish_writers(e, &w, last, rc);
    }
    pthread_mutex_unlock(&e->mu);
    pthread_cond_destroy(&w.cv);
    return rc;
}

int engine_write(struct engine *e, const struct engine_batch *b)
{
    if (!b)
        return KV_EINVAL;
    if (engine_batch_count(b) == 0)
        return KV_OK;
    return engine_write_queued(e, b);
}

/* The single-operation writes encode their batch in a stack buffer when
 * it fits (the common case: no allocation on the write path), else on the heap. */
static int write_one(struct engine *e, enum ikey_type t, struct kv_slice key, struct kv_slice value)
{
    char stack[512];
    struct engine_batch b = { 0 };
    size_t need = BATCH_HEADER_BYTES + 1 + 2 * KV_VARINT32_BYTES_MAX + key.len + value.len + 1;
    int rc = KV_OK;
    if (need <= sizeof stack) {
        b.rep.data = stack;
        b.rep.cap = sizeof stack;
        b.rep.len = BATCH_HEADER_BYTES;
        memset(stack, 0, BATCH_HEADER_BYTES);
    } else {
        rc = batch_rep_init(&b.rep);
    }
    if (rc == KV_OK && t == IKEY_TYPE_VALUE)
        rc = engine_batch_put(&b, key, value);
    else if (rc == KV_OK && t == IKEY_TYPE_DELETE)
        rc = engine_batch_delete(&b, key);
    else if (rc == KV_OK)
        rc = engine_batch_delete_range(&b, key, value);
    if (rc == KV_OK)
        rc = engine_write(e, &b);
    if (b.rep.data != stack)
        kv_buf_free(&b.rep);
    return rc;
}

int engine_put(struct engine *e, struct kv_slice key, struct kv_slice value)
{
    return write_one(e, IKEY_TYPE_VALUE, key, value);
}

int engine_delete(struct engine *e, struct kv_slice key)
{
    return write_one(e, IKEY_TYPE_DELETE, key, kv_slice_make(NULL, 0));
}

int engine_delete_range(struct engine *e, struct kv_slice begin, struct kv_slice end)
{
    return write_one(e, IKEY_TYPE_RANGE_DELETE, begin, end);
}

/* ---- periodic sync ---- */

/* Syncs the current WAL if it is dirty, without holding wal_mu during the
 * fdatasync: appends continue meanwhile (they are covered by the next
 * period), and wal_syncing keeps engine_new_wal from closing the file
 * under the sync. */
static int sync_wal_once(struct engine *e)
{
    struct wal_writer *w = NULL;
    pthread_mutex_lock(&e->wal_mu);
    if (e->wal && e->wal_dirty) {
        w = e->wal;
        e->wal_dirty = false;
        e->wal_syncing = true;
    }
    pthread_mutex_unlock(&e->wal_mu);
    if (!w)
        return KV_OK;
    int rc = env_sync(wal_writer_file(w));
    atomic_fetch_add_explicit(&e->wal_syncs, 1, memory_order_relaxed);
    pthread_mutex_lock(&e->wal_mu);
    if (rc != KV_OK) {
        /* After a failed fsync nothing in this log is trusted. Marked dirty,
         * a WAL switch syncs it again, gets the error, and does not start a
         * new log that could outlive a hole in this one. */
        wal_writer_fail(w, rc);
        e->wal_dirty = true;
    }
    e->wal_syncing = false;
    pthread_cond_broadcast(&e->wal_cv);
    pthread_mutex_unlock(&e->wal_mu);
    return rc;
}

void *engine_sync_main(void *arg)
{
    struct engine *e = arg;
    pthread_mutex_lock(&e->mu);
    while (!atomic_load(&e->closing)) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)e->o.sync_interval_ms * 1000000u;
        ts.tv_sec += (time_t)(ns / 1000000000u);
        ts.tv_nsec = (long)(ns % 1000000000u);
        int err = pthread_cond_timedwait(&e->sync_cv, &e->mu, &ts);
        if (atomic_load(&e->closing))
            break;
        if (err != ETIMEDOUT)
            continue;
        pthread_mutex_unlock(&e->mu);
        int rc = sync_wal_once(e);
        pthread_mutex_lock(&e->mu);
        engine_set_bg_error(e, rc);
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}
