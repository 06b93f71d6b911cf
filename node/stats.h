/*
 * stats.h - metrics owned by other layers, copied into the registry on scrape.
 *
 * The engine (engine_get_stats), the coordinator (coord_get_stats), the
 * native rpc server and the process itself (/proc/self/statm) keep their
 * own counters; node_stats_refresh copies them into registered series just
 * before /metrics renders, so the hot paths of those layers never touch
 * the registry. Families: ringkv_engine_*, ringkv_coord_* (operations,
 * outcomes, and in a cluster: forwarded writes, read repairs, in-doubt
 * writes, replica traffic), ringkv_hint* (hinted handoff), and
 * process_resident_memory_bytes.
 *
 * Threading: the event loop thread (engine_get_stats is thread-safe).
 */
#ifndef RINGKV_NODE_STATS_H
#define RINGKV_NODE_STATS_H

#include "common/status.h"

#include <stdint.h>

struct coord;
struct coord_stats;
struct engine;
struct metrics;
struct native_server;
struct node_stats;

/* Registers the series. engine, coord and native (may be NULL) are
 * borrowed and must outlive *out. KV_OK, KV_EINVAL or KV_ENOMEM. */
int node_stats_new(struct metrics *m, struct engine *engine, struct coord *coord,
                   struct native_server *native, struct node_stats **out) KV_MUST_USE;

/* Copies current values into the registry; a refresh() for http.h. */
void node_stats_refresh(void *node_stats);

void node_stats_free(struct node_stats *s);

/* Calls fn(arg, name, value) for every coordinator counter and gauge of
 * cs, in the order and under the short names (gets, read_repairs,
 * hints_held_bytes, ...) the Stats RPC shows as "coord.NAME"; the same
 * table names their /metrics series. */
typedef void (*node_stats_fn)(void *arg, const char *name, uint64_t value);
void node_stats_coord_each(const struct coord_stats *cs, node_stats_fn fn, void *arg);

#endif
