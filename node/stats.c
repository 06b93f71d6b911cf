/* stats.c - see stats.h. */
#include "node/stats.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coordinator/coord.h"
#include "node/metrics.h"
#include "node/native.h"
#include "storage/engine.h"

struct node_stats {
    struct engine *engine;
    struct coord *coord;
    struct native_server *native;
    double *level_files[ENGINE_LEVELS];
    double *level_bytes[ENGINE_LEVELS];
    double *memtable_bytes, *write_amp, *cache_hit_rate, *background_error, *rss_bytes;
    uint64_t *user_bytes, *wal_bytes, *flush_bytes, *compaction_written, *compaction_read;
    uint64_t *cache_hits, *cache_misses, *flushes, *compactions, *stall_ms;
    union { uint64_t *counter; double *gauge; } series[]; /* one series per g_coord_defs entry */
};

/* One plain series: a pointer field of struct node_stats, gauge or counter. */
struct stat_def {
    const char *name;
    const char *help;
    size_t field;
    bool gauge;
};

#define F(x) offsetof(struct node_stats, x)
static const struct stat_def g_defs[] = {
    { "ringkv_engine_memtable_bytes", "Bytes in memtables.", F(memtable_bytes), true },
    { "ringkv_engine_write_amplification", "(WAL + flush + compaction bytes) / user bytes.",
      F(write_amp), true },
    { "ringkv_engine_cache_hit_ratio", "Block cache hits / lookups.", F(cache_hit_rate), true },
    { "ringkv_engine_background_error", "0, or the KV_E* code that stopped background work.",
      F(background_error), true },
    { "ringkv_engine_user_bytes_written_total", "Key and value bytes accepted by writes.",
      F(user_bytes), false },
    { "ringkv_engine_wal_bytes_written_total", "Bytes appended to the WAL.", F(wal_bytes), false },
    { "ringkv_engine_flush_bytes_written_total", "Bytes written by memtable flushes.",
      F(flush_bytes), false },
    { "ringkv_engine_compaction_bytes_written_total", "Bytes written by compactions.",
      F(compaction_written), false },
    { "ringkv_engine_compaction_bytes_read_total", "Bytes read by compactions.",
      F(compaction_read), false },
    { "ringkv_engine_cache_hits_total", "Block cache hits.", F(cache_hits), false },
    { "ringkv_engine_cache_misses_total", "Block cache misses.", F(cache_misses), false },
    { "ringkv_engine_flushes_total", "Memtable flushes.", F(flushes), false },
    { "ringkv_engine_compactions_total", "Compactions run.", F(compactions), false },
    { "ringkv_engine_write_stall_ms_total", "Milliseconds writes waited for compaction.",
      F(stall_ms), false },
    { "process_resident_memory_bytes", "Resident set size of kvnode.", F(rss_bytes), true },
};
#undef F

static int plain_series(struct node_stats *s, struct metrics *m)
{
    int rc = KV_OK;
    for (size_t i = 0; rc == KV_OK && i < sizeof g_defs / sizeof g_defs[0]; i++) {
        void *field = (char *)s + g_defs[i].field;
        if (g_defs[i].gauge)
            rc = metrics_gauge(m, g_defs[i].name, g_defs[i].help, "", (double **)field);
        else
            rc = metrics_counter(m, g_defs[i].name, g_defs[i].help, "", (uint64_t **)field);
    }
    return rc;
}

static int level_series(struct node_stats *s, struct metrics *m)
{
    int rc = KV_OK;
    for (int i = 0; rc == KV_OK && i < ENGINE_LEVELS; i++) {
        char l[32];
        snprintf(l, sizeof l, "level=\"%d\"", i);
        rc = metrics_gauge(m, "ringkv_engine_level_files", "SSTable files per LSM level.", l,
                           &s->level_files[i]);
        if (rc == KV_OK)
            rc = metrics_gauge(m, "ringkv_engine_level_bytes", "SSTable bytes per LSM level.", l,
                               &s->level_bytes[i]);
    }
    return rc;
}

/*
 * The coordinator's counters (struct coord_stats), as /metrics and the
 * Stats RPC (kvctl stats, "coord.NAME") both show them: this table is the
 * only list of them outside coord.h.
 */
struct coord_def {
    const char *name;       /* Stats RPC name after "coord." */
    const char *metric;
    const char *labels;
    const char *help;
    size_t field;           /* offset of a uint64_t in struct coord_stats */
    bool gauge;
};

#define C(x) offsetof(struct coord_stats, x)
#define OPS "Coordinator operations (each batch item counts once)."
static const struct coord_def g_coord_defs[] = {
    { "gets", "ringkv_coord_operations_total", "op=\"get\"", OPS, C(gets), false },
    { "puts", "ringkv_coord_operations_total", "op=\"put\"", OPS, C(puts), false },
    { "deletes", "ringkv_coord_operations_total", "op=\"delete\"", OPS, C(deletes), false },
    { "incrs", "ringkv_coord_operations_total", "op=\"incr\"", OPS, C(incrs), false },
    { "expires", "ringkv_coord_operations_total", "op=\"expire\"", OPS, C(expires), false },
    { "ttls", "ringkv_coord_operations_total", "op=\"ttl\"", OPS, C(ttls), false },
    { "not_found", "ringkv_coord_not_found_total", "", "Reads that found no visible value.", C(not_found), false },
    { "siblings_created", "ringkv_coord_siblings_created_total", "", "Writes that left concurrent values.",
      C(siblings_created), false },
    { "errors", "ringkv_coord_errors_total", "", "Coordinated requests that failed.", C(errors), false },
    { "unavailable", "ringkv_coord_unavailable_total", "",
      "Requests refused because too few replicas were up (nothing sent).", C(unavailable), false },
    { "indoubt", "ringkv_coord_indoubt_total", "", "Writes answered in doubt (fewer than W acks by the deadline).",
      C(indoubt), false },
    { "read_timeouts", "ringkv_coord_read_timeouts_total", "", "Reads that timed out before R replicas answered.",
      C(read_timeouts), false },
    { "forwarded", "ringkv_coord_forwarded_writes_total", "", "Writes this node forwarded to a primary replica.",
      C(forwarded), false },
    { "forwards_served", "ringkv_coord_forwards_served_total", "",
      "Writes another node forwarded here to coordinate.", C(forwards_served), false },
    { "forward_retries", "ringkv_coord_forward_retries_total", "",
      "Forwarded writes sent on to another primary after the first got no answer in time.", C(forward_retries), false },
    { "read_repairs", "ringkv_coord_read_repairs_total", "", "Stale replicas sent the merged object after a read.",
      C(read_repairs), false },
    { "replica_gets", "ringkv_coord_replica_gets_total", "", "Replica reads served for coordinators.",
      C(replica_gets), false },
    { "replica_puts", "ringkv_coord_replica_puts_total", "", "Replica writes merged here (hint deliveries included).",
      C(replica_puts), false },
    { "replica_errors", "ringkv_coord_replica_errors_total", "", "Replica requests answered with an error.",
      C(replica_errors), false },
    { "replica_timeouts", "ringkv_coord_replica_timeouts_total", "",
      "Replica requests unanswered at their request's deadline.", C(replica_timeouts), false },
    { "bad_messages", "ringkv_coord_bad_messages_total", "", "Node-to-node messages refused as malformed.",
      C(bad_messages), false },
    { "requests_in_flight", "ringkv_coord_requests_in_flight", "", "Coordinated requests waiting for replicas.",
      C(requests_in_flight), true },
    { "hints_stored", "ringkv_hints_stored_total", "", "Writes kept here as a hint for a down replica.",
      C(hints_stored), false },
    { "hints_delivered", "ringkv_hints_delivered_total", "", "Hints acknowledged by their owner and deleted.",
      C(hints_delivered), false },
    { "hints_expired", "ringkv_hints_expired_total", "", "Hints dropped undelivered after the hint TTL.",
      C(hints_expired), false },
    { "hint_failures", "ringkv_hint_delivery_failures_total", "", "Hint deliveries that failed or timed out.",
      C(hint_failures), false },
    { "hints_held", "ringkv_hints_held", "", "Hint keys stored here now.", C(hints_pending), true },
    { "hints_held_bytes", "ringkv_hints_held_bytes", "",
      "Hint key + record bytes stored here now (capped by --hints-bytes-max).", C(hints_bytes), true },
    { "hints_refused", "ringkv_hints_refused_total", "",
      "Hint writes refused because --hints-bytes-max was reached (that replica counted as not written).",
      C(hints_refused), false },
    { "purge_marks", "ringkv_tombstone_purge_marks_total", "",
      "Tombstones marked here as held by every primary replica.", C(purge_marks), false },
    { "tombstones_purged", "ringkv_tombstones_purged_total", "",
      "Marked tombstones deleted here after the grace period.", C(tombstones_purged), false },
};
#undef OPS
#undef C
#define COORD_DEFS (sizeof g_coord_defs / sizeof g_coord_defs[0])

static uint64_t coord_value(const struct coord_stats *cs, const struct coord_def *d)
{
    uint64_t v;
    memcpy(&v, (const char *)cs + d->field, sizeof v);
    return v;
}

void node_stats_coord_each(const struct coord_stats *cs, node_stats_fn fn, void *arg)
{
    for (size_t i = 0; i < COORD_DEFS; i++)
        fn(arg, g_coord_defs[i].name, coord_value(cs, &g_coord_defs[i]));
}

static int coord_series(struct node_stats *s, struct metrics *m)
{
    int rc = KV_OK;
    for (size_t i = 0; rc == KV_OK && i < COORD_DEFS; i++) {
        const struct coord_def *d = &g_coord_defs[i];
        if (d->gauge)
            rc = metrics_gauge(m, d->metric, d->help, d->labels, &s->series[i].gauge);
        else
            rc = metrics_counter(m, d->metric, d->help, d->labels, &s->series[i].counter);
    }
    return rc;
}

int node_stats_new(struct metrics *m, struct engine *engine, struct coord *coord,
                   struct native_server *native, struct node_stats **out)
{
    struct node_stats *s = calloc(1, sizeof *s + COORD_DEFS * sizeof s->series[0]);
    if (!s)
        return KV_ENOMEM;
    s->engine = engine;
    s->coord = coord;
    s->native = native;
    int rc = level_series(s, m);
    if (rc == KV_OK)
        rc = plain_series(s, m);
    if (rc == KV_OK)
        rc = coord_series(s, m);
    if (rc != KV_OK) {
        free(s);
        return rc;
    }
    *out = s;
    return KV_OK;
}

/* Resident pages from /proc/self/statm (second field); 0 if unreadable. */
static double rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%lu %lu", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    return (double)resident * (double)sysconf(_SC_PAGESIZE);
}

void node_stats_refresh(void *arg)
{
    struct node_stats *s = arg;
    struct engine_stats es;
    engine_get_stats(s->engine, &es);
    for (int i = 0; i < ENGINE_LEVELS; i++) {
        *s->level_files[i] = es.levels[i].files;
        *s->level_bytes[i] = (double)es.levels[i].bytes;
    }
    *s->memtable_bytes = (double)es.memtable_bytes;
    *s->write_amp = es.write_amplification;
    *s->cache_hit_rate = es.cache_hit_rate;
    *s->background_error = es.background_error;
    *s->user_bytes = es.user_bytes_written;
    *s->wal_bytes = es.wal_bytes_written;
    *s->flush_bytes = es.flush_bytes_written;
    *s->compaction_written = es.compaction_bytes_written;
    *s->compaction_read = es.compaction_bytes_read;
    *s->cache_hits = es.cache_hits;
    *s->cache_misses = es.cache_misses;
    *s->flushes = es.flushes;
    *s->compactions = es.compactions;
    *s->stall_ms = es.write_stalls_ms;
    struct coord_stats cs;
    coord_get_stats(s->coord, &cs);
    for (size_t i = 0; i < COORD_DEFS; i++) {
        uint64_t v = coord_value(&cs, &g_coord_defs[i]);
        if (g_coord_defs[i].gauge)
            *s->series[i].gauge = (double)v;
        else
            *s->series[i].counter = v;
    }
    *s->rss_bytes = rss_bytes();
    if (s->native)
        native_server_refresh_metrics(s->native);
}

void node_stats_free(struct node_stats *s) { free(s); }
