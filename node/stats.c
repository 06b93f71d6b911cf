/* stats.c - see stats.h. */
#include "node/stats.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
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
    uint64_t *coord_ops[6];  /* get, put, delete, incr, expire, ttl */
    uint64_t *not_found, *siblings_created, *coord_errors;
    /* cluster mode (struct coord_stats) */
    uint64_t *unavailable, *indoubt, *read_timeouts, *forwarded, *forwards_served, *read_repairs;
    uint64_t *replica_gets, *replica_puts, *replica_errors, *replica_timeouts, *bad_messages;
    uint64_t *hints_stored, *hints_delivered, *hints_expired, *hint_failures;
    uint64_t *purge_marks, *tombstones_purged;
    double *requests_in_flight, *hints_held;
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
    { "ringkv_coord_not_found_total", "Reads that found no visible value.", F(not_found), false },
    { "ringkv_coord_siblings_created_total", "Writes that left concurrent values.",
      F(siblings_created), false },
    { "ringkv_coord_errors_total", "Coordinated requests that failed.", F(coord_errors), false },
    { "ringkv_coord_unavailable_total", "Requests refused because too few replicas were up (nothing sent).",
      F(unavailable), false },
    { "ringkv_coord_indoubt_total", "Writes answered in doubt (fewer than W acks by the deadline).",
      F(indoubt), false },
    { "ringkv_coord_read_timeouts_total", "Reads that timed out before R replicas answered.",
      F(read_timeouts), false },
    { "ringkv_coord_forwarded_writes_total", "Writes this node forwarded to a primary replica.",
      F(forwarded), false },
    { "ringkv_coord_forwards_served_total", "Writes another node forwarded here to coordinate.",
      F(forwards_served), false },
    { "ringkv_coord_read_repairs_total", "Stale replicas sent the merged object after a read.",
      F(read_repairs), false },
    { "ringkv_coord_replica_gets_total", "Replica reads served for coordinators.", F(replica_gets), false },
    { "ringkv_coord_replica_puts_total", "Replica writes merged here (hint deliveries included).",
      F(replica_puts), false },
    { "ringkv_coord_replica_errors_total", "Replica requests answered with an error.",
      F(replica_errors), false },
    { "ringkv_coord_replica_timeouts_total", "Replica requests unanswered at their request's deadline.",
      F(replica_timeouts), false },
    { "ringkv_coord_bad_messages_total", "Node-to-node messages refused as malformed.",
      F(bad_messages), false },
    { "ringkv_coord_requests_in_flight", "Coordinated requests waiting for replicas.",
      F(requests_in_flight), true },
    { "ringkv_hints_stored_total", "Writes kept here as a hint for a down replica.", F(hints_stored), false },
    { "ringkv_hints_delivered_total", "Hints acknowledged by their owner and deleted.",
      F(hints_delivered), false },
    { "ringkv_hints_expired_total", "Hints dropped undelivered after the hint TTL.", F(hints_expired), false },
    { "ringkv_hint_delivery_failures_total", "Hint deliveries that failed or timed out.",
      F(hint_failures), false },
    { "ringkv_hints_held", "Hint keys stored here now.", F(hints_held), true },
    { "ringkv_tombstone_purge_marks_total", "Tombstones marked here as held by every primary replica.",
      F(purge_marks), false },
    { "ringkv_tombstones_purged_total", "Marked tombstones deleted here after the grace period.",
      F(tombstones_purged), false },
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

static int coord_series(struct node_stats *s, struct metrics *m)
{
    static const char *const ops[6] = { "get", "put", "delete", "incr", "expire", "ttl" };
    int rc = KV_OK;
    for (int i = 0; rc == KV_OK && i < 6; i++) {
        char l[32];
        snprintf(l, sizeof l, "op=\"%s\"", ops[i]);
        rc = metrics_counter(m, "ringkv_coord_operations_total",
                             "Coordinator operations (each batch item counts once).", l,
                             &s->coord_ops[i]);
    }
    return rc;
}

int node_stats_new(struct metrics *m, struct engine *engine, struct coord *coord,
                   struct native_server *native, struct node_stats **out)
{
    struct node_stats *s = calloc(1, sizeof *s);
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
    uint64_t ops[6] = { cs.gets, cs.puts, cs.deletes, cs.incrs, cs.expires, cs.ttls };
    for (int i = 0; i < 6; i++)
        *s->coord_ops[i] = ops[i];
    *s->not_found = cs.not_found;
    *s->siblings_created = cs.siblings_created;
    *s->coord_errors = cs.errors;
    *s->unavailable = cs.unavailable;
    *s->indoubt = cs.indoubt;
    *s->read_timeouts = cs.read_timeouts;
    *s->forwarded = cs.forwarded;
    *s->forwards_served = cs.forwards_served;
    *s->read_repairs = cs.read_repairs;
    *s->replica_gets = cs.replica_gets;
    *s->replica_puts = cs.replica_puts;
    *s->replica_errors = cs.replica_errors;
    *s->replica_timeouts = cs.replica_timeouts;
    *s->bad_messages = cs.bad_messages;
    *s->requests_in_flight = (double)cs.requests_in_flight;
    *s->hints_stored = cs.hints_stored;
    *s->hints_delivered = cs.hints_delivered;
    *s->hints_expired = cs.hints_expired;
    *s->hint_failures = cs.hint_failures;
    *s->hints_held = (double)cs.hints_pending;
    *s->purge_marks = cs.purge_marks;
    *s->tombstones_purged = cs.tombstones_purged;
    *s->rss_bytes = rss_bytes();
    if (s->native)
        native_server_refresh_metrics(s->native);
}

void node_stats_free(struct node_stats *s) { free(s); }
