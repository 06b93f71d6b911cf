/*
 * ring.c - ring state, preference lists, plans, commits and the binary form.
 *
 * Binary form of a ring (all varints are LEB128 in shortest form):
 *
 *   offset  size      field
 *   0       4         magic "RKRG"
 *   4       1         format version (RING_FORMAT_VERSION)
 *   5       varint    ring version
 *           1         log2(Q), 0 .. 14
 *           1         n_val, 1 .. RING_N_VAL_MAX
 *           varint    member count S, 1 .. RING_MEMBERS_MAX
 *           S times:  varint id length (1 .. 64), id bytes,
 *                     varint zone length (0 .. 64), zone bytes,
 *                     1 byte flags (bit 0: in the member set)
 *           Q times:  varint owner (< S),
 *                     varint pending (0 = none, else member + 1)
 *   end-4   4         masked CRC32C of every byte before it (fixed32)
 *
 * Ids are strictly increasing (memcmp order) and free of NUL bytes. For
 * Q = 256 and 8 members of ~10-byte ids the ring takes about
 * 4 + 1 + 1 + 1 + 1 + 1 + 8 * 13 + 256 * 2 + 4 = 629 bytes.
 */
#include "gossip/ring.h"

#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/hash.h"
#include "gossip/ring_internal.h"
#include "gossip/wire.h"

#define RING_MAGIC "RKRG"
#define RING_MAGIC_BYTES 4
#define RING_FORMAT_VERSION 1u
#define RING_CRC_BYTES 4
#define RING_FIXED_BYTES (RING_MAGIC_BYTES + 1 + 1 + 1) /* magic, format, log2 Q, n_val */

_Static_assert(RING_MEMBERS_MAX < RING_PENDING_NONE, "member indexes must fit in uint16_t");
_Static_assert((RING_PARTITIONS_MAX & (RING_PARTITIONS_MAX - 1)) == 0, "Q max is a power of two");

uint32_t ring_partition_of_hash(uint64_t hash, uint32_t partitions)
{
    int bits = ring_q_bits(partitions);
    if (bits <= 0)
        return 0;
    return (uint32_t)(hash >> (64 - bits));
}

uint32_t ring_partition_of_key(const void *key, size_t len, uint32_t partitions)
{
    return ring_partition_of_hash(kv_hash64(key, len, 0), partitions);
}

int ring_q_bits(uint32_t q)
{
    if (q == 0 || q > RING_PARTITIONS_MAX || (q & (q - 1)) != 0)
        return -1;
    int bits = 0;
    while ((1u << bits) < q)
        bits++;
    return bits;
}

int ring_alloc(uint32_t q, uint32_t n_val, uint32_t n_members, struct ring **out)
{
    struct ring *r = calloc(1, sizeof *r);
    if (!r)
        return KV_ENOMEM;
    r->q = q;
    r->q_bits = (uint32_t)ring_q_bits(q);
    r->n_val = n_val;
    r->n_members = n_members;
    r->members = calloc(n_members ? n_members : 1, sizeof *r->members);
    r->owner = calloc(q, sizeof *r->owner);
    r->pending = malloc(q * sizeof *r->pending);
    if (!r->members || !r->owner || !r->pending) {
        ring_free(r);
        return KV_ENOMEM;
    }
    for (uint32_t p = 0; p < q; p++)
        r->pending[p] = RING_PENDING_NONE;
    *out = r;
    return KV_OK;
}

void ring_free(struct ring *r)
{
    if (!r)
        return;
    free(r->members);
    free(r->owner);
    free(r->pending);
    free(r);
}

struct zone_ref {
    const char *zone;
    uint32_t member;
};

static int cmp_zone_ref(const void *a, const void *b)
{
    return strcmp(((const struct zone_ref *)a)->zone, ((const struct zone_ref *)b)->zone);
}

void ring_assign_zone_ids(struct ring *r)
{
    /* Zones are ranked by name so that zone ids do not depend on member order. */
    struct zone_ref refs[RING_MEMBERS_MAX];
    uint32_t nz = 0;
    for (uint32_t i = 0; i < r->n_members; i++) {
        r->members[i].zone_id = 0;
        if (r->members[i].zone[0]) {
            refs[nz].zone = r->members[i].zone;
            refs[nz++].member = i;
        }
    }
    qsort(refs, nz, sizeof refs[0], cmp_zone_ref);
    uint16_t rank = 0;
    for (uint32_t i = 0; i < nz; i++) {
        if (i == 0 || strcmp(refs[i - 1].zone, refs[i].zone) != 0)
            rank++;
        r->members[refs[i].member].zone_id = rank;
    }
}

static int cmp_spec(const void *a, const void *b)
{
    return strcmp(((const struct ring_member_spec *)a)->id, ((const struct ring_member_spec *)b)->id);
}

int ring_sorted_specs(const struct ring_member_spec *members, size_t n, struct ring_member_spec **out)
{
    if (n == 0 || n > RING_MEMBERS_MAX || !members)
        return KV_EINVAL;
    struct ring_member_spec *s = malloc(n * sizeof *s);
    if (!s)
        return KV_ENOMEM;
    memcpy(s, members, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_spec);
    for (size_t i = 0; i < n; i++) {
        size_t id_len = s[i].id ? strlen(s[i].id) : 0;
        size_t zone_len = s[i].zone ? strlen(s[i].zone) : 0;
        if (id_len == 0 || id_len > RING_ID_BYTES_MAX || zone_len > RING_ZONE_BYTES_MAX ||
            (i > 0 && strcmp(s[i - 1].id, s[i].id) == 0)) {
            free(s);
            return KV_EINVAL;
        }
    }
    *out = s;
    return KV_OK;
}

static void member_from_spec(struct ring_member *m, const struct ring_member_spec *s)
{
    memset(m, 0, sizeof *m);
    strcpy(m->id, s->id); /* lengths checked by ring_sorted_specs */
    if (s->zone)
        strcpy(m->zone, s->zone);
    m->flags = RING_MEMBER_IN_SET;
}

int ring_create(uint32_t partitions, uint32_t n_val, const struct ring_member_spec *members,
                size_t n_members, struct ring **out)
{
    if (ring_q_bits(partitions) < 0 || n_val == 0 || n_val > RING_N_VAL_MAX)
        return KV_EINVAL;
    struct ring_member_spec *specs = NULL;
    struct ring *r = NULL;
    int rc = ring_sorted_specs(members, n_members, &specs);
    if (rc != KV_OK)
        goto fail;
    rc = ring_alloc(partitions, n_val, (uint32_t)n_members, &r);
    if (rc != KV_OK)
        goto fail;
    for (size_t i = 0; i < n_members; i++)
        member_from_spec(&r->members[i], &specs[i]);
    ring_assign_zone_ids(r);
    r->version = 1;
    ring_claim_initial(r);
    free(specs);
    *out = r;
    return KV_OK;
fail:
    free(specs);
    ring_free(r);
    return rc;
}

int ring_clone(const struct ring *r, struct ring **out)
{
    struct ring *c = NULL;
    int rc = ring_alloc(r->q, r->n_val, r->n_members, &c);
    if (rc != KV_OK)
        return rc;
    c->version = r->version;
    memcpy(c->members, r->members, r->n_members * sizeof *r->members);
    memcpy(c->owner, r->owner, r->q * sizeof *r->owner);
    memcpy(c->pending, r->pending, r->q * sizeof *r->pending);
    *out = c;
    return KV_OK;
}

uint64_t ring_version(const struct ring *r) { return r->version; }
uint32_t ring_partitions(const struct ring *r) { return r->q; }
uint32_t ring_n_val(const struct ring *r) { return r->n_val; }
uint32_t ring_member_count(const struct ring *r) { return r->n_members; }
const char *ring_member_id(const struct ring *r, uint32_t member) { return r->members[member].id; }
const char *ring_member_zone(const struct ring *r, uint32_t member) { return r->members[member].zone; }
bool ring_member_in_set(const struct ring *r, uint32_t member)
{
    return (r->members[member].flags & RING_MEMBER_IN_SET) != 0;
}
uint32_t ring_owner(const struct ring *r, uint32_t partition) { return r->owner[partition]; }

uint32_t ring_pending(const struct ring *r, uint32_t partition)
{
    return r->pending[partition] == RING_PENDING_NONE ? RING_NO_MEMBER : r->pending[partition];
}

int ring_member_find(const struct ring *r, const char *id, uint32_t *out)
{
    uint32_t lo = 0, hi = r->n_members;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = strcmp(r->members[mid].id, id);
        if (c == 0) {
            *out = mid;
            return KV_OK;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return KV_ENOTFOUND;
}

static uint32_t next_owner(const struct ring *r, uint32_t p)
{
    return r->pending[p] != RING_PENDING_NONE ? r->pending[p] : r->owner[p];
}

uint32_t ring_owned_count(const struct ring *r, uint32_t member)
{
    uint32_t n = 0;
    for (uint32_t p = 0; p < r->q; p++)
        n += r->owner[p] == member;
    return n;
}

uint32_t ring_next_owned_count(const struct ring *r, uint32_t member)
{
    uint32_t n = 0;
    for (uint32_t p = 0; p < r->q; p++)
        n += next_owner(r, p) == member;
    return n;
}

uint32_t ring_pending_count(const struct ring *r)
{
    uint32_t n = 0;
    for (uint32_t p = 0; p < r->q; p++)
        n += r->pending[p] != RING_PENDING_NONE;
    return n;
}

/* One clockwise walk adding owners that pass the filter; returns the new count. */
static size_t pref_walk(const struct ring *r, uint32_t partition, uint8_t *chosen, uint8_t *zone_used,
                        bool distinct_zones, uint32_t *out, size_t count, size_t want)
{
    uint32_t mask = r->q - 1;
    for (uint32_t i = 0; i < r->q && count < want; i++) {
        uint32_t m = r->owner[(partition + i) & mask];
        if (chosen[m])
            continue;
        uint16_t z = r->members[m].zone_id;
        if (distinct_zones && z && zone_used[z])
            continue;
        chosen[m] = 1;
        if (z)
            zone_used[z] = 1;
        out[count++] = m;
    }
    return count;
}

size_t ring_preference_list(const struct ring *r, uint32_t partition, uint32_t *out, size_t cap)
{
    /* Member and zone ids are < RING_MEMBERS_MAX + 1: flags fit on the stack. */
    uint8_t chosen[RING_MEMBERS_MAX];
    uint8_t zone_used[RING_MEMBERS_MAX + 1];
    memset(chosen, 0, r->n_members);
    memset(zone_used, 0, (size_t)r->n_members + 1);
    size_t primaries = r->n_val < r->n_members ? r->n_val : r->n_members;
    if (primaries > cap)
        primaries = cap;
    partition &= r->q - 1;
    size_t count = pref_walk(r, partition, chosen, zone_used, true, out, 0, primaries);
    count = pref_walk(r, partition, chosen, zone_used, false, out, count, primaries);
    count = pref_walk(r, partition, chosen, zone_used, false, out, count, cap);
    /* Members that own nothing (more members than partitions, or only
     * pending transfers) come last, by index. */
    for (uint32_t m = 0; m < r->n_members && count < cap; m++)
        if (!chosen[m])
            out[count++] = m;
    return count;
}

void ring_spacing_violations(const struct ring *r, uint32_t *node_pairs, uint32_t *zone_pairs)
{
    uint32_t nodes = 0, zones = 0, mask = r->q - 1;
    for (uint32_t p = 0; p < r->q; p++) {
        for (uint32_t d = 1; d < r->n_val && d < r->q; d++) {
            uint32_t a = r->owner[p], b = r->owner[(p + d) & mask];
            if (a == b)
                nodes++;
            else if (r->members[a].zone_id && r->members[a].zone_id == r->members[b].zone_id)
                zones++;
        }
    }
    *node_pairs = nodes;
    *zone_pairs = zones;
}

bool ring_equal(const struct ring *a, const struct ring *b)
{
    if (a->version != b->version || a->q != b->q || a->n_val != b->n_val || a->n_members != b->n_members)
        return false;
    for (uint32_t i = 0; i < a->n_members; i++)
        if (strcmp(a->members[i].id, b->members[i].id) != 0 ||
            strcmp(a->members[i].zone, b->members[i].zone) != 0 || a->members[i].flags != b->members[i].flags)
            return false;
    return memcmp(a->owner, b->owner, a->q * sizeof *a->owner) == 0 &&
           memcmp(a->pending, b->pending, a->q * sizeof *a->pending) == 0;
}

/*
 * Union of two rings' member lists (both sorted by id): out gets the
 * merged ids and map_a / map_b the new index of each old member.
 * Flags come from b when the member is in b (the newer layout), else
 * from a with RING_MEMBER_IN_SET cleared.
 */
static uint32_t merge_members(const struct ring *a, const struct ring *b, struct ring_member *out,
                              uint16_t *map_a, uint16_t *map_b)
{
    uint32_t i = 0, j = 0, n = 0;
    while (i < a->n_members || j < b->n_members) {
        int c = i == a->n_members ? 1 : j == b->n_members ? -1 : strcmp(a->members[i].id, b->members[j].id);
        if (c < 0) {
            out[n] = a->members[i];
            out[n].flags &= (uint8_t)~RING_MEMBER_IN_SET;
            map_a[i++] = (uint16_t)n;
        } else {
            out[n] = b->members[j];
            map_b[j++] = (uint16_t)n;
            if (c == 0)
                map_a[i++] = (uint16_t)n;
        }
        n++;
    }
    return n;
}

/* Drops members outside the member set that neither own nor receive a partition. */
static void ring_compact(struct ring *r)
{
    uint16_t map[RING_MEMBERS_MAX];
    uint8_t used[RING_MEMBERS_MAX];
    memset(used, 0, r->n_members);
    for (uint32_t p = 0; p < r->q; p++) {
        used[r->owner[p]] = 1;
        if (r->pending[p] != RING_PENDING_NONE)
            used[r->pending[p]] = 1;
    }
    uint32_t n = 0;
    for (uint32_t i = 0; i < r->n_members; i++) {
        if (!used[i] && !(r->members[i].flags & RING_MEMBER_IN_SET))
            continue;
        map[i] = (uint16_t)n;
        r->members[n++] = r->members[i];
    }
    if (n == r->n_members)
        return;
    r->n_members = n;
    for (uint32_t p = 0; p < r->q; p++) {
        r->owner[p] = map[r->owner[p]];
        if (r->pending[p] != RING_PENDING_NONE)
            r->pending[p] = map[r->pending[p]];
    }
    ring_assign_zone_ids(r);
}

int ring_commit(const struct ring *cur, const struct ring *target, struct ring **out)
{
    if (cur->q != target->q || cur->n_val != target->n_val)
        return KV_EINVAL;
    uint16_t map_a[RING_MEMBERS_MAX], map_b[RING_MEMBERS_MAX];
    struct ring_member *merged = malloc(((size_t)cur->n_members + target->n_members) * sizeof *merged);
    struct ring *r = NULL;
    int rc = KV_ENOMEM;
    if (!merged)
        goto fail;
    uint32_t n = merge_members(cur, target, merged, map_a, map_b);
    if (n > RING_MEMBERS_MAX) {
        rc = KV_EINVAL;
        goto fail;
    }
    rc = ring_alloc(cur->q, cur->n_val, n, &r);
    if (rc != KV_OK)
        goto fail;
    memcpy(r->members, merged, n * sizeof *merged);
    r->version = cur->version + 1;
    for (uint32_t p = 0; p < r->q; p++) {
        r->owner[p] = map_a[cur->owner[p]];
        uint16_t to = map_b[target->owner[p]];
        r->pending[p] = to == r->owner[p] ? RING_PENDING_NONE : to;
    }
    ring_compact(r);
    ring_assign_zone_ids(r);
    free(merged);
    *out = r;
    return KV_OK;
fail:
    free(merged);
    ring_free(r);
    return rc;
}

int ring_transfer_done(struct ring *r, uint32_t partition)
{
    if (partition >= r->q || r->pending[partition] == RING_PENDING_NONE)
        return KV_ESTATE;
    r->owner[partition] = r->pending[partition];
    r->pending[partition] = RING_PENDING_NONE;
    r->version++;
    ring_compact(r);
    return KV_OK;
}

static void plan_count(struct ring_plan *plan, const struct ring *cur, const struct ring *target,
                       const uint16_t *map_a, const uint16_t *map_b)
{
    for (uint32_t p = 0; p < cur->q; p++) {
        uint32_t from = map_a[next_owner(cur, p)], to = map_b[target->owner[p]];
        plan->nodes[from].before++;
        plan->nodes[to].after++;
        if (from != to) {
            struct ring_move *mv = &plan->moves[plan->n_moves++];
            mv->partition = p;
            mv->from = from;
            mv->to = to;
        }
    }
}

int ring_plan(const struct ring *cur, const struct ring *target, struct ring_plan **out)
{
    if (cur->q != target->q)
        return KV_EINVAL;
    uint16_t map_a[RING_MEMBERS_MAX], map_b[RING_MEMBERS_MAX];
    struct ring_member *merged = malloc(((size_t)cur->n_members + target->n_members) * sizeof *merged);
    struct ring_plan *plan = calloc(1, sizeof *plan);
    int rc = KV_ENOMEM;
    if (!merged || !plan)
        goto fail;
    uint32_t n = merge_members(cur, target, merged, map_a, map_b);
    plan->nodes = calloc(n, sizeof *plan->nodes);
    plan->moves = calloc(cur->q, sizeof *plan->moves);
    if (!plan->nodes || !plan->moves)
        goto fail;
    plan->n_nodes = n;
    for (uint32_t i = 0; i < n; i++)
        memcpy(plan->nodes[i].id, merged[i].id, sizeof plan->nodes[i].id);
    plan->from_version = cur->version;
    plan->to_version = cur->version + 1;
    plan_count(plan, cur, target, map_a, map_b);
    free(merged);
    *out = plan;
    return KV_OK;
fail:
    free(merged);
    ring_plan_free(plan);
    return rc;
}

void ring_plan_free(struct ring_plan *plan)
{
    if (!plan)
        return;
    free(plan->moves);
    free(plan->nodes);
    free(plan);
}

static size_t encoded_bytes(const struct ring *r)
{
    size_t n = RING_FIXED_BYTES + (size_t)kv_varint_len(r->version) + (size_t)kv_varint_len(r->n_members);
    for (uint32_t i = 0; i < r->n_members; i++)
        n += wire_str_bytes(kv_slice_str(r->members[i].id)) + wire_str_bytes(kv_slice_str(r->members[i].zone)) + 1;
    for (uint32_t p = 0; p < r->q; p++) {
        n += (size_t)kv_varint_len(r->owner[p]);
        n += (size_t)kv_varint_len(r->pending[p] == RING_PENDING_NONE ? 0u : r->pending[p] + 1u);
    }
    return n + RING_CRC_BYTES;
}

int ring_encode(const struct ring *r, struct kv_buf *out)
{
    size_t total = encoded_bytes(r);
    int rc = kv_buf_reserve(out, total);
    if (rc != KV_OK)
        return rc;
    char *start = out->data + out->len, *p = start;
    memcpy(p, RING_MAGIC, RING_MAGIC_BYTES);
    p += RING_MAGIC_BYTES;
    *p++ = (char)RING_FORMAT_VERSION;
    p = kv_put_varint64(p, r->version);
    *p++ = (char)r->q_bits;
    *p++ = (char)r->n_val;
    p = kv_put_varint64(p, r->n_members);
    for (uint32_t i = 0; i < r->n_members; i++) {
        p = wire_put_str(p, kv_slice_str(r->members[i].id));
        p = wire_put_str(p, kv_slice_str(r->members[i].zone));
        *p++ = (char)r->members[i].flags;
    }
    for (uint32_t q = 0; q < r->q; q++) {
        p = kv_put_varint64(p, r->owner[q]);
        p = kv_put_varint64(p, r->pending[q] == RING_PENDING_NONE ? 0u : r->pending[q] + 1u);
    }
    kv_put_fixed32(p, kv_crc32c_mask(kv_crc32c(start, (size_t)(p - start))));
    p += RING_CRC_BYTES;
    out->len += (size_t)(p - start);
    out->data[out->len] = 0;
    return KV_OK;
}

static bool decode_members(struct wire_reader *rd, struct ring *r)
{
    for (uint32_t i = 0; i < r->n_members && !rd->bad; i++) {
        struct ring_member *m = &r->members[i];
        struct kv_slice id = wire_str(rd, RING_ID_BYTES_MAX);
        struct kv_slice zone = wire_str(rd, RING_ZONE_BYTES_MAX);
        m->flags = wire_u8(rd);
        if (rd->bad || id.len == 0 || (m->flags & ~RING_MEMBER_IN_SET))
            return false;
        memcpy(m->id, id.data, id.len);
        m->id[id.len] = 0;
        if (zone.len)
            memcpy(m->zone, zone.data, zone.len);
        m->zone[zone.len] = 0;
        if (i > 0 && strcmp(r->members[i - 1].id, m->id) >= 0)
            return false;
    }
    return !rd->bad;
}

static bool decode_owners(struct wire_reader *rd, struct ring *r)
{
    for (uint32_t p = 0; p < r->q && !rd->bad; p++) {
        uint64_t owner = wire_varint_max(rd, r->n_members - 1);
        uint64_t pending = wire_varint_max(rd, r->n_members);
        if (rd->bad || (pending && pending - 1 == owner))
            return false;
        r->owner[p] = (uint16_t)owner;
        r->pending[p] = pending ? (uint16_t)(pending - 1) : RING_PENDING_NONE;
    }
    return !rd->bad;
}

int ring_decode(const char *data, size_t len, struct ring **out)
{
    struct ring *r = NULL;
    if (len < RING_FIXED_BYTES + RING_CRC_BYTES || memcmp(data, RING_MAGIC, RING_MAGIC_BYTES) != 0)
        goto corrupt;
    size_t body = len - RING_CRC_BYTES;
    if (kv_crc32c_unmask(kv_get_fixed32(data + body)) != kv_crc32c(data, body))
        goto corrupt;
    struct wire_reader rd = { data + RING_MAGIC_BYTES, data + body, false };
    if (wire_u8(&rd) != RING_FORMAT_VERSION)
        goto corrupt;
    uint64_t version = wire_varint(&rd);
    uint8_t q_bits = wire_u8(&rd), n_val = wire_u8(&rd);
    uint64_t n_members = wire_varint_max(&rd, RING_MEMBERS_MAX);
    if (rd.bad || q_bits > 14 || (1u << q_bits) > RING_PARTITIONS_MAX || n_val == 0 || n_val > RING_N_VAL_MAX ||
        n_members == 0)
        goto corrupt;
    int rc = ring_alloc(1u << q_bits, n_val, (uint32_t)n_members, &r);
    if (rc != KV_OK)
        return rc;
    r->version = version;
    if (!decode_members(&rd, r) || !decode_owners(&rd, r) || rd.p != rd.end)
        goto corrupt;
    ring_assign_zone_ids(r);
    *out = r;
    return KV_OK;
corrupt:
    ring_free(r);
    return KV_ECORRUPT;
}
