/*
 * sim_workload.h - clients, faults, scenarios and the history checker for
 * the quorum simulation tests (test_sim_quorum.c).
 *
 * A world is one simulator, one sim_quorum cluster and a history: every
 * client operation issued (through a random running node) with its
 * outcome - KV_OK, KV_EINDOUBT, KV_EUNAVAIL..., or "pending" if its
 * coordinator crashed before answering (an unknown outcome, like in-doubt).
 * Put values are unique ("w<op>"), so a value read names its write.
 *
 * The history checker (world_check_history), after world_settle has healed
 * everything and drained hints, reads every key at R = ALL and demands:
 *  - every acknowledged put is present or causally superseded: the final
 *    context descends the put's returned context (its dot and its past);
 *  - every value read was written by a put that was not refused
 *    (KV_EUNAVAIL writes are provably nowhere);
 *  - no write outcome is a plain failure: KV_OK, KV_EINDOUBT, KV_EUNAVAIL,
 *    KV_EBUSY or an unmet condition only;
 *  - no delete is undone: no value read is one that an acknowledged
 *    delete's context covered (see check_not_resurrected in the .c).
 * Assertions go through SIM_ASSERT and name the seed.
 */
#ifndef RINGKV_TESTS_SIM_SIM_WORKLOAD_H
#define RINGKV_TESTS_SIM_SIM_WORKLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "coordinator/coord.h"
#include "tests/sim/sim.h"
#include "tests/sim/sim_quorum.h"

#define WORLD_KEYS_MAX 16u
#define WORLD_OPS_MAX 8192u
#define OP_PENDING 1 /* status of an operation not answered (yet, or ever) */

enum op_kind { OP_PUT, OP_DEL, OP_INCR, OP_GET };

struct world;

struct op {
    struct world *w;
    uint32_t idx;
    enum op_kind kind;
    uint32_t key;
    uint32_t node;
    int status;                 /* OP_PENDING until the callback */
    char value[16];             /* PUT */
    uint64_t ttl_ms;            /* PUT */
    struct kv_buf ctx;          /* PUT: returned context; GET: read context; DEL: the context sent */
    uint32_t ctx_read;          /* PUT, DEL of client_tick: the get whose context it sent; UINT32_MAX: none */
    struct kv_buf vals;         /* GET: values, each "len:value;" */
    uint32_t nvals;
    bool found;
    int64_t num;                /* INCR: result */
    uint64_t seq;               /* the driver step it belongs to */
};

struct world_config {
    uint32_t nkeys;             /* data keys "k<i>" */
    uint32_t ncounters;         /* counter keys "c<i>" */
    bool primary_only;          /* client options */
    uint32_t timeout_ms;
    double crash_rate;          /* per fault period: crash (or restart) a node */
    double partition_rate;      /* per fault period: partition (or heal) */
    double one_way_share;       /* share of new partitions that are a one-way cut instead */
    double pause_rate;          /* per fault period: pause a node */
    double skew_rate;           /* per fault period: skew a node's wall clock by up to max_skew_ms */
    uint32_t max_skew_ms;
    double disk_full_rate;      /* per fault period: a node's disk fills (crashed at the next period) */
    double read_error_rate;     /* per fault period: a node's reads fail for one period */
    double incr_share;          /* share of workload_run operations that are INCR on counters */
    uint32_t fault_period_ms;
    uint32_t max_down;          /* nodes crashed at once */
    uint32_t op_period_ms;      /* mean time between client operations */
    bool quiet;                 /* no loss, duplicates or reordering */
    struct sq_config sq;
};

struct world {
    struct sim *sim;
    struct sq_cluster *c;
    struct world_config cfg;
    uint64_t seed;
    uint64_t end_ms;            /* drivers stop issuing then */
    struct op *ops;
    uint32_t nops;
    struct kv_buf last_ctx[WORLD_KEYS_MAX]; /* latest read context per key */
    uint32_t last_ctx_op[WORLD_KEYS_MAX];   /* the get that gave it */
    uint32_t ryw_checked;
    uint32_t deletes_checked;   /* world_check_history: acknowledged deletes with a context */
    uint32_t deletes_covering;  /* ... whose context's get had returned a value */
    bool partitioned;
    uint32_t faults;            /* faults injected so far */
    bool disk_full[SQ_NODES_MAX];  /* its disk filled during the last fault period */
    bool read_errors[SQ_NODES_MAX];
    uint64_t seq;
};

void world_config_defaults(struct world_config *wc);
void world_open(struct world *w, uint64_t seed, const struct world_config *wc);
void world_close(struct world *w);

/* Drivers: issue operations and faults for duration_ms of virtual time. */
void ryw_run(struct world *w, uint64_t duration_ms);      /* writer per key: write, then read it back */
void workload_run(struct world *w, uint64_t duration_ms); /* random puts, deletes, gets */
void counter_run(struct world *w, uint64_t duration_ms);  /* INCR +1 on counter keys */
/* Every fault at once (crashes with torn power loss, partitions, one-way
 * cuts, pauses, clock skew, full disks, read errors) over workload_run
 * with counters, then settle and every check. Counts go to *out. */
struct campaign_counts {
    uint32_t faults;          /* faults injected */
    uint32_t ops;             /* client operations issued */
    uint32_t acked_writes;    /* puts, deletes and increments answered KV_OK */
    uint32_t deletes_checked; /* acknowledged deletes with a context, checked for resurrection */
    uint32_t deletes_covering; /* ... of them whose context's get had returned a value */
};
void world_config_campaign(struct world_config *wc);
void campaign_run(struct world *w, uint64_t duration_ms, struct campaign_counts *out);

/* Heals, restarts every node, syncs views, and runs until no request is
 * in flight and no hint is pending anywhere. */
void world_settle(struct world *w);

void world_check_history(struct world *w);
/* Every key's N primaries end with byte-identical objects (read repair). */
void world_check_converged(struct world *w);
/* acked <= value <= acked + unknown, for every counter. */
void world_check_counters(struct world *w);

void siblings_scenario(struct world *w);
/* Last-writer-wins (cfg.sq.coord.conflict_mode = LWW). lww_scenario (a
 * quiet network): concurrent writers leave one value, one of theirs.
 * lww_workload_scenario (any faults): after a random workload and settle,
 * every key has at most one value, byte-identical on its primaries. */
void lww_scenario(struct world *w);
void lww_workload_scenario(struct world *w);
void hints_scenario(struct world *w);
void hints_expiry_scenario(struct world *w); /* needs a short cfg.sq.coord.hint_ttl_ms */
void hints_rate_scenario(struct world *w);   /* needs a low cfg.sq.coord.hints_per_sec */
void hint_race_scenario(struct world *w);    /* a write lands in a hint being delivered */
void timeout_scenario(struct world *w);
void forward_retry_scenario(struct world *w); /* a silent first primary in the detection window */
void delete_scenario(struct world *w);
/* Needs cfg.sq.coord.tombstone_grace_ms (a few seconds) and a quiet network. */
void purge_scenario(struct world *w);
void batch_scenario(struct world *w);   /* batch put (a repeated key) and batch get */
void ttl_scenario(struct world *w);     /* a TTL expires on every replica */

/* A hash of the history and the network counters: equal runs, equal hash. */
uint64_t world_trace_hash(struct world *w);

#endif
