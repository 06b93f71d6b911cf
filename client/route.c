/* route.c - see route.h. Building a route is O(Q * width); looking a key
 * up is one hash and O(width). */
#include "client/route.h"

#include <stdlib.h>
#include <string.h>

#include "client/policy.h"
#include "common/hash.h"

static int q_bits(uint32_t q)
{
    if (q == 0 || q > CLIENT_ROUTE_PARTITIONS_MAX || (q & (q - 1)) != 0)
        return -1;
    int bits = 0;
    while ((1u << bits) < q)
        bits++;
    return bits;
}

uint32_t client_route_partition(uint32_t partitions, const void *key, size_t len)
{
    int bits = q_bits(partitions);
    if (bits <= 0)
        return 0;
    return (uint32_t)(kv_hash64(key, len, 0) >> (64 - bits));
}

static void member_set(struct client_route_member *dst, const Ringkv__RingMapMember *src)
{
    char host[CLIENT_HOST_BYTES_MAX], port[CLIENT_PORT_BYTES_MAX];
    const char *addr = src->addr ? src->addr : "";
    dst->alive = src->alive;
    dst->usable = strlen(addr) < sizeof dst->spec &&
                  client_parse_hostport(addr, host, sizeof host, port, sizeof port) == KV_OK;
    if (dst->usable)
        strcpy(dst->spec, addr);
}

static bool map_consistent(const Ringkv__RingMap *m)
{
    if (q_bits(m->partitions) < 0 || m->width == 0 || m->width > CLIENT_ROUTE_WIDTH_MAX ||
        m->n_members == 0 || m->n_members > CLIENT_ROUTE_MEMBERS_MAX || m->width > m->n_members ||
        m->n_preference != (size_t)m->partitions * m->width)
        return false;
    for (size_t i = 0; i < m->n_preference; i++)
        if (m->preference[i] >= m->n_members)
            return false;
    return true;
}

int client_route_from_map(const Ringkv__RingMap *m, struct client_route **out)
{
    if (m == NULL || m->version == 0)
        return KV_ENOTFOUND;
    if (!map_consistent(m))
        return KV_EPROTO;
    struct client_route *r = calloc(1, sizeof *r);
    if (!r)
        return KV_ENOMEM;
    r->members = calloc(m->n_members, sizeof *r->members);
    r->preference = malloc(m->n_preference * sizeof *r->preference);
    if (!r->members || !r->preference) {
        client_route_free(r);
        return KV_ENOMEM;
    }
    for (size_t i = 0; i < m->n_members; i++)
        member_set(&r->members[i], m->members[i]);
    memcpy(r->preference, m->preference, m->n_preference * sizeof *r->preference);
    r->version = m->version;
    r->partitions = m->partitions;
    r->q_bits = q_bits(m->partitions);
    r->width = m->width;
    r->nmembers = (uint32_t)m->n_members;
    *out = r;
    return KV_OK;
}

void client_route_free(struct client_route *r)
{
    if (!r)
        return;
    free(r->members);
    free(r->preference);
    free(r);
}

size_t client_route_candidates(const struct client_route *r, const void *key, size_t len, uint32_t *out)
{
    const uint32_t *pref = r->preference + (size_t)client_route_partition(r->partitions, key, len) * r->width;
    size_t n = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (uint32_t i = 0; i < r->width && n < CLIENT_ROUTE_WIDTH_MAX; i++) {
            const struct client_route_member *m = &r->members[pref[i]];
            if (m->usable && m->alive == (pass == 0))
                out[n++] = pref[i];
        }
    }
    return n;
}
