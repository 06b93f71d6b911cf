/* engine.c - opening (recovery), closing, obsolete files and statistics
 * of the engine; the write path is in engine_write.c, background work in
 * engine_bg.c, reads in engine_read.c. See engine.h and engine_internal.h. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "storage/batch.h"
#include "storage/engine_internal.h"
#include "storage/filename.h"

void engine_options_default(struct engine_options *o)
{
    memset(o, 0, sizeof *o);
    o->create_if_missing = true;
    o->sync = ENGINE_SYNC_PERIODIC;
    o->sync_interval_ms = 1000;
    o->memtable_bytes = 4u << 20;
    o->block_cache_bytes = 64u << 20;
    o->block_bytes = 4096;
    o->bloom_bits_per_key = 10;
    o->table_file_bytes = 64u << 20;
    o->level1_bytes = UINT64_C(256) << 20;
    o->level0_compaction_trigger = 4;
    o->level0_slowdown_trigger = 12;
    o->level0_stop_trigger = 20;
    o->max_open_tables = ENGINE_OPEN_TABLES_DEFAULT;
}

/* Zero sizes would stall the engine: they fall back to the defaults. */
static void sanitize_options(struct engine_options *o)
{
    struct engine_options d;
    engine_options_default(&d);
    if (!o->env)
        o->env = env_posix();
    if (!o->sync_interval_ms)
        o->sync_interval_ms = d.sync_interval_ms;
    if (!o->memtable_bytes)
        o->memtable_bytes = d.memtable_bytes;
    if (!o->block_bytes)
        o->block_bytes = d.block_bytes;
    if (!o->table_file_bytes)
        o->table_file_bytes = d.table_file_bytes;
    if (!o->level1_bytes)
        o->level1_bytes = d.level1_bytes;
    if (o->level0_compaction_trigger < 1)
        o->level0_compaction_trigger = d.level0_compaction_trigger;
    if (o->level0_slowdown_trigger < o->level0_compaction_trigger)
        o->level0_slowdown_trigger = o->level0_compaction_trigger;
    if (o->level0_stop_trigger < o->level0_slowdown_trigger)
        o->level0_stop_trigger = o->level0_slowdown_trigger;
    if (!o->max_open_tables)
        o->max_open_tables = d.max_open_tables;
}

/* ---- memtables ---- */

int engine_mem_new(uint64_t log_number, struct engine_mem **out)
{
    struct engine_mem *m = calloc(1, sizeof *m);
    if (!m)
        return KV_ENOMEM;
    int rc = memtable_new(&m->mt);
    if (rc != KV_OK) {
        free(m);
        return rc;
    }
    atomic_init(&m->refs, 1);
    atomic_init(&m->range_dels, 0);
    m->log_number = log_number;
    *out = m;
    return KV_OK;
}

void engine_mem_unref(struct engine_mem *m)
{
    if (m && atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1) {
        memtable_unref(m->mt);
        free(m);
    }
}

int engine_mem_apply(struct engine_mem *m, struct kv_slice rep)
{
    struct batch_reader r;
    enum ikey_type type;
    struct kv_slice key, value;
    int rc = batch_reader_init(&r, rep);
    uint64_t seq = r.seq;
    while (rc == KV_OK && (rc = batch_reader_next(&r, &type, &key, &value)) == KV_OK) {
        rc = memtable_add(m->mt, seq++, type, key, value);
        if (rc == KV_OK && type == IKEY_TYPE_RANGE_DELETE)
            atomic_fetch_add_explicit(&m->range_dels, 1, memory_order_release);
    }
    return rc == KV_ENOTFOUND ? KV_OK : rc;
}

/* ---- helpers shared with the background thread ---- */

void engine_set_bg_error(struct engine *e, int rc)
{
    if (rc == KV_OK || rc == KV_ECLOSED || e->bg_error != KV_OK)
        return;
    e->bg_error = rc;
    log_error("engine", "\"background error: writes stop\" dir=%s status=%s", e->dir, kv_status_str(rc));
    pthread_cond_broadcast(&e->done_cv);
}

uint64_t engine_smallest_snapshot(struct engine *e)
{
    return e->snapshots.next != &e->snapshots ? e->snapshots.next->seq : e->vs->last_seq;
}

static uint64_t io_new_file_number(void *ctx)
{
    struct engine *e = ctx;
    pthread_mutex_lock(&e->mu);
    uint64_t n = version_set_new_file_number(e->vs);
    pthread_mutex_unlock(&e->mu);
    return n;
}

static bool io_stopping(void *ctx) { return atomic_load_explicit(&((struct engine *)ctx)->closing, memory_order_relaxed); }

void engine_compaction_io(struct engine *e, struct compaction_io *io)
{
    memset(io, 0, sizeof *io);
    io->env = e->env;
    io->dir = e->dir;
    table_options_default(&io->table);
    io->table.block_bytes = e->o.block_bytes;
    io->table.bloom_bits_per_key = e->o.bloom_bits_per_key;
    io->table_file_bytes = e->o.table_file_bytes;
    io->tables = e->tables;
    io->filter = e->o.compaction_filter;
    io->new_file_number = io_new_file_number;
    io->stopping = io_stopping;
    io->ctx = e;
}

static bool is_live(const uint64_t *live, size_t n, uint64_t number)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (live[mid] < number)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && live[lo] == number;
}

static void remove_file(struct engine *e, const char *name, enum filename_kind kind, uint64_t number)
{
    char path[FILENAME_PATH_BYTES_MAX];
    if (kind == FILENAME_TABLE)
        table_cache_evict(e->tables, number);
    if (snprintf(path, sizeof path, "%s/%s", e->dir, name) >= (int)sizeof path)
        return;
    int rc = env_remove(e->env, path);
    if (rc != KV_OK && rc != KV_ENOTFOUND)
        log_warn("engine", "\"cannot delete obsolete file\" path=%s status=%s", path, kv_status_str(rc));
}

void engine_delete_obsolete(struct engine *e)
{
    uint64_t *live = NULL;
    size_t nlive = 0, nnames = 0;
    char **names = NULL;
    /* After a background error the state on disk is in doubt: keep everything. */
    if (e->bg_error != KV_OK || version_set_live_files(e->vs, &live, &nlive) != KV_OK)
        return;
    uint64_t log_number = e->vs->log_number, manifest_number = e->vs->manifest_number;
    pthread_mutex_unlock(&e->mu);
    if (env_list(e->env, e->dir, &names, &nnames) == KV_OK) {
        for (size_t i = 0; i < nnames; i++) {
            enum filename_kind kind;
            uint64_t number;
            if (!filename_parse(names[i], &kind, &number))
                continue;
            bool obsolete = (kind == FILENAME_LOG && number < log_number) ||
                            (kind == FILENAME_TABLE && !is_live(live, nlive, number)) ||
                            (kind == FILENAME_MANIFEST && number != manifest_number) || kind == FILENAME_TEMP;
            if (obsolete)
                remove_file(e, names[i], kind, number);
        }
        env_free_names(names, nnames);
    }
    free(live);
    pthread_mutex_lock(&e->mu);
}

/* ---- recovery ---- */

/* Flushes a memtable rebuilt from logs as a table, logged at once. mu held. */
static int recovery_flush(struct engine *e, struct engine_mem *m)
{
    struct compaction_io io;
    struct version_edit edit;
    struct iter *it;
    struct table_range_tombstone *t = NULL;
    size_t nt = 0;
    int level;
    engine_compaction_io(e, &io);
    io.smallest_snapshot = e->vs->last_seq;
    version_edit_init(&edit);
    struct version *base = version_set_ref_current(e->vs);
    int rc = memtable_range_tombstones(m->mt, &t, &nt);
    if (rc == KV_OK && (rc = memtable_iter_new(m->mt, &it)) == KV_OK) {
        pthread_mutex_unlock(&e->mu);
        rc = compaction_flush(&io, base, it, t, nt, &edit, &level);
        pthread_mutex_lock(&e->mu);
    }
    version_unref_locked(base);
    free(t);
    if (rc == KV_OK)
        rc = version_set_log_and_apply(e->vs, &edit);
    if (rc == KV_OK) {
        e->n.flushes++;
        e->n.flush_bytes_written += io.bytes_written;
    }
    version_edit_free(&edit);
    return rc;
}

/*
 * Replays one log into *m (created on demand), flushing it when full. mu
 * held. *torn says an earlier log ended in a torn tail: a log is synced
 * before the next one is written, so a torn log followed by more records
 * is damage, not a crash (KV_ECORRUPT: replaying would leave a hole).
 */
static int replay_log(struct engine *e, uint64_t number, struct engine_mem **m, bool *torn)
{
    char path[FILENAME_PATH_BYTES_MAX];
    struct env_file *f;
    struct wal_reader *r = NULL;
    int rc = filename_path(path, e->dir, FILENAME_LOG, number);
    if (rc == KV_OK && (rc = env_open(e->env, path, ENV_OPEN_READ, &f)) == KV_OK)
        rc = wal_reader_new(f, &r);
    while (rc == KV_OK) {
        struct kv_slice rec;
        if ((rc = wal_reader_next(r, &rec)) != KV_OK)
            break;
        if ((rc = batch_validate(rec)) != KV_OK) {
            log_error("engine", "\"bad batch in log\" path=%s", path);
            break;
        }
        uint32_t count = batch_rep_count(rec.data);
        uint64_t last = batch_rep_seq(rec.data) + count - 1;
        if (*torn) {
            log_error("engine", "\"records after a torn log\" path=%s", path);
            rc = KV_ECORRUPT;
            break;
        }
        if (count == 0)
            continue;
        if (!*m && (rc = engine_mem_new(0, m)) != KV_OK)
            break;
        if ((rc = engine_mem_apply(*m, rec)) != KV_OK)
            break;
        if (last > e->vs->last_seq)
            e->vs->last_seq = last;
        if (memtable_bytes((*m)->mt) > e->o.memtable_bytes) {
            rc = recovery_flush(e, *m);
            engine_mem_unref(*m);
            *m = NULL;
        }
    }
    if (r) {
        e->n.wal_dropped_bytes += wal_reader_dropped_bytes(r);
        if (wal_reader_dropped_bytes(r)) {
            log_warn("engine", "\"torn log tail dropped\" path=%s bytes=%" PRIu64, path,
                     wal_reader_dropped_bytes(r));
            *torn = true;
        }
        wal_reader_free(r);
    }
    if (rc == KV_ECORRUPT)
        log_error("engine", "\"log is corrupt\" path=%s", path);
    return rc == KV_ENOTFOUND ? KV_OK : rc;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/*
 * Lists the directory: the logs to replay (numbers >= the log number,
 * sorted), and checks that every table of the current version exists and
 * that a directory without CURRENT holds no tables.
 */
static int scan_dir(struct engine *e, bool fresh, uint64_t **logs, size_t *nlogs)
{
    char **names = NULL;
    size_t n = 0, k = 0, tables = 0, manifests = 0;
    int rc = env_list(e->env, e->dir, &names, &n);
    if (rc != KV_OK)
        return rc;
    uint64_t *l = malloc((n ? n : 1) * sizeof *l), *found = malloc((n ? n : 1) * sizeof *found);
    if (!l || !found)
        rc = KV_ENOMEM;
    for (size_t i = 0; i < n && rc == KV_OK; i++) {
        enum filename_kind kind;
        uint64_t number;
        if (!filename_parse(names[i], &kind, &number))
            continue;
        version_set_mark_file_number_used(e->vs, number);
        if (kind == FILENAME_LOG && number >= e->vs->log_number)
            l[k++] = number;
        else if (kind == FILENAME_TABLE)
            found[tables++] = number;
        if (kind == FILENAME_MANIFEST)
            manifests++;
    }
    /* Without CURRENT, tables mean a lost CURRENT: refuse. Manifests alone
     * are a creation killed between its first manifest and CURRENT: open
     * had not returned, nothing was acknowledged, and every log is replayed. */
    if (rc == KV_OK && fresh && tables) {
        log_error("engine", "\"tables but no CURRENT\" dir=%s", e->dir);
        rc = KV_ECORRUPT;
    } else if (rc == KV_OK && fresh && manifests) {
        log_warn("engine", "\"manifest without CURRENT: unfinished creation, recovering from the logs\" dir=%s",
                 e->dir);
    }
    if (rc == KV_OK) {
        qsort(l, k, sizeof *l, cmp_u64);
        qsort(found, tables, sizeof *found, cmp_u64);
    }
    /* The log a manifest names as its log number is kept until a later
     * edit moves past it; without it, edits were lost from the manifest
     * (a damaged last record read as a torn tail) and data would be too. */
    if (rc == KV_OK && !fresh && (k == 0 || l[0] != e->vs->log_number)) {
        log_error("engine", "\"the manifest's log is missing\" dir=%s log=%" PRIu64, e->dir, e->vs->log_number);
        rc = KV_ECORRUPT;
    }
    const struct version *v = e->vs->current;
    for (int lv = 0; lv < ENGINE_LEVELS && rc == KV_OK; lv++)
        for (size_t i = 0; i < v->nfiles[lv] && rc == KV_OK; i++)
            if (!is_live(found, tables, v->files[lv][i]->number)) {
                log_error("engine", "\"table missing\" dir=%s file=%" PRIu64, e->dir, v->files[lv][i]->number);
                rc = KV_ECORRUPT;
            }
    env_free_names(names, n);
    free(found);
    if (rc != KV_OK) {
        free(l);
        return rc;
    }
    *logs = l;
    *nlogs = k;
    return KV_OK;
}

/* Loads the manifest, replays the logs, and starts a new log and manifest. mu held. */
static int recover(struct engine *e)
{
    uint64_t dropped = 0, *logs = NULL;
    size_t nlogs = 0;
    struct engine_mem *m = NULL;
    struct version_edit edit;
    version_edit_init(&edit);
    int rc = version_set_recover(e->vs, &dropped);
    bool fresh = rc == KV_ENOTFOUND;
    if (fresh && !e->o.create_if_missing) {
        log_error("engine", "\"no engine in directory\" dir=%s", e->dir);
        return KV_ENOTFOUND;
    }
    if (rc == KV_OK && e->o.error_if_exists)
        return KV_EEXIST;
    if (rc != KV_OK && !fresh)
        return rc;
    if ((rc = scan_dir(e, fresh, &logs, &nlogs)) != KV_OK)
        return rc;
    bool torn = false;
    for (size_t i = 0; i < nlogs && rc == KV_OK; i++)
        rc = replay_log(e, logs[i], &m, &torn);
    if (rc == KV_OK && m && !engine_mem_empty(m))
        rc = recovery_flush(e, m);
    engine_mem_unref(m);
    free(logs);
    uint64_t number = version_set_new_file_number(e->vs);
    if (rc == KV_OK)
        rc = engine_new_wal(e, number);
    if (rc == KV_OK) {
        version_edit_set_log_number(&edit, number);
        rc = version_set_log_and_apply(e->vs, &edit); /* also starts a fresh manifest */
    }
    version_edit_free(&edit);
    if (rc == KV_OK && (rc = engine_mem_new(number, &e->mem)) == KV_OK)
        engine_delete_obsolete(e);
    return rc;
}

/* ---- open and close ---- */

static void engine_destroy(struct engine *e)
{
    if (e->wal && wal_writer_close(e->wal) != KV_OK)
        log_warn("engine", "\"closing the log failed\" dir=%s", e->dir);
    engine_mem_unref(e->mem);
    engine_mem_unref(e->imm);
    version_set_free(e->vs);
    table_cache_free(e->tables);
    if (e->block_cache)
        cache_free(e->block_cache);
    if (e->lock && env_unlock(e->lock) != KV_OK)
        log_warn("engine", "\"releasing LOCK failed\" dir=%s", e->dir);
    kv_buf_free(&e->group);
    pthread_mutex_destroy(&e->mu);
    pthread_mutex_destroy(&e->wal_mu);
    pthread_cond_destroy(&e->work_cv);
    pthread_cond_destroy(&e->done_cv);
    pthread_cond_destroy(&e->sync_cv);
    pthread_cond_destroy(&e->wal_cv);
    free(e->dir);
    free(e);
}

static int start_threads(struct engine *e)
{
    int err = pthread_create(&e->bg_thread, NULL, engine_bg_main, e);
    if (err)
        return kv_status_from_errno(err);
    e->bg_started = true;
    if (e->o.sync == ENGINE_SYNC_PERIODIC) {
        if ((err = pthread_create(&e->sync_thread, NULL, engine_sync_main, e)))
            return kv_status_from_errno(err);
        e->sync_started = true;
    }
    return KV_OK;
}

static void stop_threads(struct engine *e)
{
    pthread_mutex_lock(&e->mu);
    atomic_store(&e->closing, true);
    pthread_cond_broadcast(&e->work_cv);
    pthread_cond_broadcast(&e->done_cv);
    pthread_cond_broadcast(&e->sync_cv);
    pthread_mutex_unlock(&e->mu);
    if (e->bg_started)
        pthread_join(e->bg_thread, NULL);
    if (e->sync_started)
        pthread_join(e->sync_thread, NULL);
    e->bg_started = e->sync_started = false;
}

static int engine_init(struct engine *e, const char *dir, const struct engine_options *o)
{
    if (o)
        e->o = *o;
    else
        engine_options_default(&e->o);
    sanitize_options(&e->o);
    e->env = e->o.env;
    e->snapshots.next = e->snapshots.prev = &e->snapshots;
    pthread_mutex_init(&e->mu, NULL);
    pthread_mutex_init(&e->wal_mu, NULL);
    pthread_cond_init(&e->work_cv, NULL);
    pthread_cond_init(&e->done_cv, NULL);
    pthread_cond_init(&e->wal_cv, NULL);
    pthread_condattr_t ca; /* the sync period must not follow wall-clock jumps */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&e->sync_cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&e->imm_pending, false);
    atomic_init(&e->closing, false);
    atomic_init(&e->wal_syncs, 0);
    e->dir = strdup(dir);
    return e->dir ? KV_OK : KV_ENOMEM;
}

int engine_open(const char *dir, const struct engine_options *o, struct engine **out)
{
    char path[FILENAME_PATH_BYTES_MAX];
    struct engine *e = calloc(1, sizeof *e);
    if (!e)
        return KV_ENOMEM;
    int rc = engine_init(e, dir, o);
    if (rc == KV_OK && e->o.create_if_missing)
        rc = env_mkdir(e->env, dir);
    if (rc == KV_OK)
        rc = filename_path(path, dir, FILENAME_LOCK_FILE, 0);
    if (rc == KV_OK && (rc = env_lock(e->env, path, &e->lock)) != KV_OK)
        log_error("engine", "\"cannot lock directory\" dir=%s status=%s", dir, kv_status_str(rc));
    if (rc == KV_OK)
        rc = cache_new(e->o.block_cache_bytes, &e->block_cache);
    if (rc == KV_OK)
        rc = table_cache_new(e->env, dir, e->o.max_open_tables, e->block_cache, &e->tables);
    if (rc == KV_OK) {
        struct version_set_options vo = {
            .env = e->env, .dir = dir, .level1_bytes = e->o.level1_bytes,
            .level0_compaction_trigger = e->o.level0_compaction_trigger,
        };
        rc = version_set_new(&vo, &e->mu, &e->vs);
    }
    if (rc == KV_OK) {
        pthread_mutex_lock(&e->mu);
        rc = recover(e);
        pthread_mutex_unlock(&e->mu);
    }
    if (rc == KV_OK)
        rc = start_threads(e);
    if (rc != KV_OK) {
        stop_threads(e);
        engine_destroy(e);
        return rc;
    }
    *out = e;
    return KV_OK;
}

int engine_close(struct engine *e)
{
    if (!e)
        return KV_OK;
    pthread_mutex_lock(&e->mu);
    if (e->live_iters || e->snapshots.next != &e->snapshots || e->writers)
        log_error("engine", "\"closed with live iterators, snapshots or writers\" dir=%s", e->dir);
    pthread_mutex_unlock(&e->mu);
    stop_threads(e);
    int rc = e->bg_error; /* no other thread is left: no lock needed */
    if (e->wal && rc == KV_OK)
        rc = wal_writer_sync(e->wal);
    engine_destroy(e);
    return rc;
}

/* ---- statistics ---- */

void engine_get_stats(struct engine *e, struct engine_stats *out)
{
    struct cache_stats cs;
    memset(out, 0, sizeof *out);
    cache_get_stats(e->block_cache, &cs);
    pthread_mutex_lock(&e->mu);
    const struct version *v = e->vs->current;
    for (int l = 0; l < ENGINE_LEVELS; l++) {
        out->levels[l].files = (uint32_t)v->nfiles[l];
        out->levels[l].bytes = v->level_bytes[l];
    }
    out->memtable_bytes = memtable_bytes(e->mem->mt) + (e->imm ? memtable_bytes(e->imm->mt) : 0);
    out->user_bytes_written = e->n.user_bytes_written;
    out->wal_bytes_written = e->n.wal_bytes_written;
    out->wal_syncs = atomic_load_explicit(&e->wal_syncs, memory_order_relaxed);
    out->flush_bytes_written = e->n.flush_bytes_written;
    out->compaction_bytes_written = e->n.compaction_bytes_written;
    out->compaction_bytes_read = e->n.compaction_bytes_read;
    out->flushes = e->n.flushes;
    out->compactions = e->n.compactions;
    out->write_stalls_ms = e->n.write_stalls_ms;
    out->last_seq = e->vs->last_seq;
    out->wal_dropped_bytes = e->n.wal_dropped_bytes;
    out->background_error = e->bg_error;
    pthread_mutex_unlock(&e->mu);
    uint64_t written = out->wal_bytes_written + out->flush_bytes_written + out->compaction_bytes_written;
    out->write_amplification = out->user_bytes_written ? (double)written / (double)out->user_bytes_written : 0;
    out->cache_hits = cs.hits;
    out->cache_misses = cs.misses;
    out->cache_hit_rate = cs.hits + cs.misses ? (double)cs.hits / (double)(cs.hits + cs.misses) : 0;
}
