/*
 * sim_workload_internal.h - helpers shared by sim_workload.c and
 * sim_scenarios.c (not used by tests directly).
 */
#ifndef RINGKV_TESTS_SIM_SIM_WORKLOAD_INTERNAL_H
#define RINGKV_TESTS_SIM_SIM_WORKLOAD_INTERNAL_H

#include "tests/sim/sim_workload.h"

#define SIM_SEC 1000u
#define WORLD_KEY_BYTES 16u

/* "k<key>" for data keys, "c<key>" for counters (kind OP_INCR). */
void key_name(const struct world *w, enum op_kind kind, uint32_t key, char *out);
/* A random node a client may call now, or UINT32_MAX. */
uint32_t random_callable(struct world *w);
/* A new history entry (NULL if full or node is UINT32_MAX). */
struct op *op_new(struct world *w, enum op_kind kind, uint32_t key, uint32_t node);
/* Calls the op's node's coordinator (ctx: PUT / DELETE context). */
void op_issue(struct op *op, const struct coord_options *o, struct kv_slice ctx);
struct coord_options world_options(const struct world *w, enum coord_consistency level);
/* Runs the simulation until op is answered or deadline_ms; returns whether it was. */
bool op_wait(struct world *w, struct op *op, uint64_t deadline_ms);
bool op_has_value(const struct op *get, const char *value);
/* Whether context a covers every event of context b. */
bool ctx_descends(struct kv_slice a, struct kv_slice b);
/* A read at R = ALL over primaries through node, retried until KV_OK. */
struct op *final_read(struct world *w, enum op_kind kind, uint32_t key, uint32_t node);
/* Whether the N primaries of a key hold byte-identical objects. */
bool primaries_agree(struct world *w, enum op_kind kind, uint32_t key);
void faults_start(struct world *w);

#endif
