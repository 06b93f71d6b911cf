/*
 * ring_internal.h - the ring's representation, shared by ring.c (state,
 * preference lists, plans, encoding) and ring_claim.c (the claim
 * function). Not for use outside gossip/ring*.c.
 *
 * Invariants of a valid ring (checked by ring_decode, kept by every
 * constructor): members sorted by id with no duplicates; owner[p] <
 * n_members for every p; pending[p] is RING_PENDING_NONE or a member other
 * than owner[p]; zone_id[i] = 0 when member i has no zone, else 1 + the
 * rank of its zone among the ring's distinct zones.
 */
#ifndef RINGKV_GOSSIP_RING_INTERNAL_H
#define RINGKV_GOSSIP_RING_INTERNAL_H

#include <stdint.h>

#include "gossip/ring.h"

#define RING_PENDING_NONE UINT16_MAX
/* Member flag: in the claimed member set (clear = only finishing handoff). */
#define RING_MEMBER_IN_SET 0x01u

struct ring_member {
    char id[RING_ID_BYTES_MAX + 1];
    char zone[RING_ZONE_BYTES_MAX + 1];
    uint8_t flags;
    uint16_t zone_id; /* derived, see above */
};

struct ring {
    uint64_t version;
    uint32_t q;      /* partitions, a power of two */
    uint32_t q_bits; /* log2(q) */
    uint32_t n_val;
    uint32_t n_members;
    struct ring_member *members; /* [n_members], sorted by id */
    uint16_t *owner;             /* [q] */
    uint16_t *pending;           /* [q], RING_PENDING_NONE when idle */
};

/* A ring with q partitions and n_members zeroed members (owners 0, no pending). */
int ring_alloc(uint32_t q, uint32_t n_val, uint32_t n_members, struct ring **out) KV_MUST_USE;
/* Recomputes every zone_id from the zone strings. */
void ring_assign_zone_ids(struct ring *r);
/* KV_OK if the specs are 1..RING_MEMBERS_MAX valid, distinct ids (sorted copy in out). */
int ring_sorted_specs(const struct ring_member_spec *members, size_t n,
                      struct ring_member_spec **out) KV_MUST_USE;
/* log2 of a power of two q in 1..RING_PARTITIONS_MAX, or -1. */
int ring_q_bits(uint32_t q);

/* Lays out r (members filled, zone ids assigned) from scratch: stripes + repair. */
void ring_claim_initial(struct ring *r);

#endif
