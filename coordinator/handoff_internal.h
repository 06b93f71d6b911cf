/*
 * handoff_internal.h - state shared by the files of coordinator/handoff.h:
 *   handoff.c        lifecycle, ring changes, messages, ticks, reports
 *   handoff_plan.c   the plan of a ring (streams, holders, forward targets)
 *   handoff_state.c  the saved form of cursors and DONE facts
 * Functions shared between them carry the prefix ho_.
 */
#ifndef RINGKV_COORDINATOR_HANDOFF_INTERNAL_H
#define RINGKV_COORDINATOR_HANDOFF_INTERNAL_H

#include "common/buf.h"
#include "coordinator/handoff.h"

/* One stream the plan needs: range q goes from `from` to `to` for the
 * transfer of partition p, whose completer is `completer`. */
struct ho_need {
    uint32_t p, q;
    char to[RING_ID_BYTES_MAX + 1];
    char from[RING_ID_BYTES_MAX + 1];
    char completer[RING_ID_BYTES_MAX + 1];
};

struct ho_plan {
    struct ho_need *needs;  /* sorted by (q, p, to) */
    size_t n_needs, cap_needs;
    uint32_t nq;            /* Q of the ring the plan is for */
    size_t *first;          /* [Q + 1]: needs of range q are [first[q], first[q+1]) */
    uint8_t *holder;        /* [Q]: this node is in pref_N(q) or gains q */
    uint8_t *pref_holder;   /* [Q]: this node is in pref_N(q) (forwards writes of q) */
};

/* A stream this node sources, with its progress. */
struct ho_stream {
    uint32_t p, q;
    char to[RING_ID_BYTES_MAX + 1];
    char completer[RING_ID_BYTES_MAX + 1];
    bool done, counted, inflight, in_plan;
    uint64_t keys_sent, bytes_sent, keys_total, bytes_total;
    struct kv_buf cursor;       /* engine key of the last acknowledged key; empty: start */
    struct kv_buf batch_last;   /* engine key of the last key of the batch in flight */
    uint64_t batch_keys, batch_bytes;
    bool batch_is_last;
    uint64_t req_id, deadline_ms, retry_at_ms, notice_at_ms;
    uint64_t started_ms, bytes_this_run;
};

/* A stream the completer knows to be finished. */
struct ho_fact {
    uint32_t p, q;
    char to[RING_ID_BYTES_MAX + 1];
};

struct handoff {
    struct handoff_config cfg;
    char node_id[RING_ID_BYTES_MAX + 1];
    struct ring *ring;              /* NULL: none yet */
    uint64_t ring_changed_ms;
    struct ho_plan plan;
    uint64_t next_replan_ms;

    struct ho_stream *streams;      /* sourced here, in plan order */
    size_t n_streams;
    struct ho_stream *saved;        /* loaded at start, adopted by the first plans */
    size_t n_saved;
    struct ho_fact *facts;
    size_t n_facts, cap_facts;

    uint8_t *held;                  /* [Q] ranges that may still hold data here */
    uint64_t *done_retry_ms;        /* [Q] next transfer_done attempt per partition */
    uint8_t *missing;               /* [Q] scratch: a stream of the partition is not done */
    bool completion_due;            /* a fact arrived or the plan changed */
    uint64_t completion_retry_ms;   /* earliest transfer_done retry (UINT64_MAX: none) */
    uint64_t next_sweep_ms;

    int64_t tokens;                 /* bytes the budget allows now (may go negative) */
    uint64_t tokens_ms;
    uint64_t next_req_id;
    bool dirty;
    uint64_t next_save_ms;

    struct kv_buf bbuf;             /* keys and objects of the batch being built */
    struct handoff_item *items;     /* [HANDOFF_BATCH_KEYS_MAX] */
    size_t *offs;                   /* [3 * HANDOFF_BATCH_KEYS_MAX]: offset, key and value length */
    struct handoff_stats stats;
};

/* handoff_plan.c */
int ho_plan_build(const struct handoff *h, struct ho_plan *out) KV_MUST_USE;
void ho_plan_free(struct ho_plan *pl);
/* The need (p, q, to), or NULL; q may be any number (from a message or the saved state). */
const struct ho_need *ho_plan_find(const struct ho_plan *pl, uint32_t p, uint32_t q, const char *to);

/* handoff_state.c */
int ho_state_encode(const struct handoff *h, struct kv_buf *out) KV_MUST_USE;
/* Fills h->saved and h->facts. KV_ECORRUPT for anything but a valid state. */
int ho_state_decode(struct handoff *h, const char *data, size_t len) KV_MUST_USE;
int ho_fact_add(struct handoff *h, uint32_t p, uint32_t q, const char *to) KV_MUST_USE;

#endif
