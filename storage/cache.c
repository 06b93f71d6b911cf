/*
 * cache.c - see cache.h.
 *
 * Each shard has a chained hash table and two circular lists: `lru` holds
 * entries only the cache references (evictable, oldest first), `in_use`
 * holds entries some caller also holds. An entry's refs counts the cache's
 * own reference (while in_cache) plus one per handle. Eviction pops from
 * the head of `lru` only, so it never scans held entries: O(1) per evicted
 * entry. Deleters run after the shard lock is dropped.
 */
#include "storage/cache.h"

#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#define CACHE_SHARD_BITS 4
#define CACHE_SHARDS (1u << CACHE_SHARD_BITS) /* 16 */
#define CACHE_BUCKETS_MIN 16

struct cache_handle {
    struct cache_handle *next_hash;
    struct cache_handle *next, *prev;  /* lru or in_use list */
    uint64_t id, offset;
    void *value;
    size_t charge;
    cache_deleter deleter;
    uint32_t hash;
    uint32_t refs;
    bool in_cache;
};

struct shard {
    pthread_mutex_t mu;
    size_t capacity;
    size_t usage;
    struct cache_handle lru;     /* list head: lru.next is the oldest */
    struct cache_handle in_use;
    struct cache_handle **buckets;
    size_t nbuckets;             /* power of two */
    size_t elems;
    uint64_t hits, misses, inserts, evictions;
};

struct cache {
    size_t capacity;
    struct shard shards[CACHE_SHARDS];
};

static inline uint32_t hash_key(uint64_t id, uint64_t offset)
{
    /* A 64-bit mixer (splitmix64 finaliser) over both fields. */
    uint64_t x = id * UINT64_C(0x9e3779b97f4a7c15) ^ offset;
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    x ^= x >> 31;
    return (uint32_t)x;
}

static void list_remove(struct cache_handle *e)
{
    e->next->prev = e->prev;
    e->prev->next = e->next;
}

/* Appends at the tail: the most recently used end. */
static void list_append(struct cache_handle *head, struct cache_handle *e)
{
    e->next = head;
    e->prev = head->prev;
    e->prev->next = e;
    e->next->prev = e;
}

static struct cache_handle **find_slot(struct shard *s, uint64_t id, uint64_t offset, uint32_t hash)
{
    struct cache_handle **slot = &s->buckets[hash & (s->nbuckets - 1)];
    while (*slot && ((*slot)->hash != hash || (*slot)->id != id || (*slot)->offset != offset))
        slot = &(*slot)->next_hash;
    return slot;
}

/* Doubles the table when it is full; on allocation failure keeps the old,
 * longer chains (still correct). */
static void maybe_grow(struct shard *s)
{
    if (s->elems <= s->nbuckets)
        return;
    size_t n = s->nbuckets * 2;
    struct cache_handle **b = calloc(n, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i < s->nbuckets; i++) {
        struct cache_handle *e = s->buckets[i];
        while (e) {
            struct cache_handle *next = e->next_hash;
            struct cache_handle **slot = &b[e->hash & (n - 1)];
            e->next_hash = *slot;
            *slot = e;
            e = next;
        }
    }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = n;
}

/* Drops one reference. Returns true when the entry is dead and must be
 * deleted (by the caller, outside the lock). */
static bool unref_locked(struct shard *s, struct cache_handle *e)
{
    assert(e->refs > 0);
    e->refs--;
    if (e->refs == 0) {
        assert(!e->in_cache);
        return true;
    }
    if (e->in_cache && e->refs == 1) {
        list_remove(e);
        list_append(&s->lru, e);
    }
    return false;
}

/* Detaches e (already unlinked from the hash table) from the cache's
 * accounting and drops the cache's reference. */
static bool finish_erase_locked(struct shard *s, struct cache_handle *e)
{
    assert(e->in_cache);
    list_remove(e);
    e->in_cache = false;
    s->usage -= e->charge;
    s->elems--;
    return unref_locked(s, e);
}

static void push_dead(struct cache_handle **dead, struct cache_handle *e)
{
    e->next_hash = *dead;
    *dead = e;
}

static void evict_locked(struct shard *s, struct cache_handle **dead)
{
    while (s->usage > s->capacity && s->lru.next != &s->lru) {
        struct cache_handle *old = s->lru.next;
        assert(old->refs == 1);
        struct cache_handle **slot = find_slot(s, old->id, old->offset, old->hash);
        assert(*slot == old);
        *slot = old->next_hash;
        s->evictions++;
        if (finish_erase_locked(s, old))
            push_dead(dead, old);
    }
}

static void delete_all(struct cache_handle *dead)
{
    while (dead) {
        struct cache_handle *next = dead->next_hash;
        dead->deleter(dead->id, dead->offset, dead->value);
        free(dead);
        dead = next;
    }
}

static inline struct shard *shard_of(struct cache *c, uint32_t hash)
{
    return &c->shards[hash >> (32 - CACHE_SHARD_BITS)];
}

int cache_new(size_t capacity_bytes, struct cache **out)
{
    struct cache *c = calloc(1, sizeof *c);
    if (!c)
        return KV_ENOMEM;
    c->capacity = capacity_bytes;
    size_t per_shard = (capacity_bytes + CACHE_SHARDS - 1) / CACHE_SHARDS;
    unsigned i;
    for (i = 0; i < CACHE_SHARDS; i++) {
        struct shard *s = &c->shards[i];
        s->buckets = calloc(CACHE_BUCKETS_MIN, sizeof *s->buckets);
        if (!s->buckets || pthread_mutex_init(&s->mu, NULL) != 0) {
            free(s->buckets);
            goto fail;
        }
        s->nbuckets = CACHE_BUCKETS_MIN;
        s->capacity = per_shard;
        s->lru.next = s->lru.prev = &s->lru;
        s->in_use.next = s->in_use.prev = &s->in_use;
    }
    *out = c;
    return KV_OK;
fail:
    while (i-- > 0) {
        pthread_mutex_destroy(&c->shards[i].mu);
        free(c->shards[i].buckets);
    }
    free(c);
    return KV_ENOMEM;
}

void cache_free(struct cache *c)
{
    if (!c)
        return;
    for (unsigned i = 0; i < CACHE_SHARDS; i++) {
        struct shard *s = &c->shards[i];
        assert(s->in_use.next == &s->in_use); /* every handle was released */
        struct cache_handle *dead = NULL;
        while (s->lru.next != &s->lru) {
            struct cache_handle *e = s->lru.next;
            if (finish_erase_locked(s, e))
                push_dead(&dead, e);
        }
        delete_all(dead);
        pthread_mutex_destroy(&s->mu);
        free(s->buckets);
    }
    free(c);
}

struct cache_handle *cache_lookup(struct cache *c, uint64_t id, uint64_t offset)
{
    uint32_t hash = hash_key(id, offset);
    struct shard *s = shard_of(c, hash);
    pthread_mutex_lock(&s->mu);
    struct cache_handle *e = *find_slot(s, id, offset, hash);
    if (e) {
        if (e->refs == 1) { /* leaves lru: it is held now */
            list_remove(e);
            list_append(&s->in_use, e);
        }
        e->refs++;
        s->hits++;
    } else {
        s->misses++;
    }
    pthread_mutex_unlock(&s->mu);
    return e;
}

int cache_insert(struct cache *c, uint64_t id, uint64_t offset, void *value, size_t charge_bytes,
                 cache_deleter deleter, struct cache_handle **out)
{
    struct cache_handle *e = malloc(sizeof *e);
    if (!e)
        return KV_ENOMEM;
    uint32_t hash = hash_key(id, offset);
    *e = (struct cache_handle){ .id = id, .offset = offset, .value = value, .charge = charge_bytes,
                                .deleter = deleter, .hash = hash, .refs = 2, .in_cache = true };
    struct shard *s = shard_of(c, hash);
    struct cache_handle *dead = NULL;
    pthread_mutex_lock(&s->mu);
    list_append(&s->in_use, e);
    s->usage += charge_bytes;
    s->elems++;
    s->inserts++;
    struct cache_handle **slot = find_slot(s, id, offset, hash);
    struct cache_handle *old = *slot;
    e->next_hash = old ? old->next_hash : NULL;
    *slot = e;
    if (old && finish_erase_locked(s, old))
        push_dead(&dead, old);
    maybe_grow(s);
    evict_locked(s, &dead);
    pthread_mutex_unlock(&s->mu);
    delete_all(dead);
    *out = e;
    return KV_OK;
}

void *cache_value(struct cache_handle *h) { return h->value; }

void cache_release(struct cache *c, struct cache_handle *h)
{
    struct shard *s = shard_of(c, h->hash);
    struct cache_handle *dead = NULL;
    pthread_mutex_lock(&s->mu);
    if (unref_locked(s, h))
        push_dead(&dead, h);
    /* With the cache over capacity (held entries are charged too), an entry
     * that just became evictable goes at once. */
    evict_locked(s, &dead);
    pthread_mutex_unlock(&s->mu);
    delete_all(dead);
}

static void erase_id_in_list(struct shard *s, struct cache_handle *head, uint64_t id, struct cache_handle **dead)
{
    struct cache_handle *e = head->next;
    while (e != head) {
        struct cache_handle *next = e->next;
        if (e->id == id) {
            struct cache_handle **slot = find_slot(s, e->id, e->offset, e->hash);
            assert(*slot == e);
            *slot = e->next_hash;
            if (finish_erase_locked(s, e))
                push_dead(dead, e);
        }
        e = next;
    }
}

void cache_erase_id(struct cache *c, uint64_t id)
{
    for (unsigned i = 0; i < CACHE_SHARDS; i++) {
        struct shard *s = &c->shards[i];
        struct cache_handle *dead = NULL;
        pthread_mutex_lock(&s->mu);
        erase_id_in_list(s, &s->lru, id, &dead);
        erase_id_in_list(s, &s->in_use, id, &dead);
        pthread_mutex_unlock(&s->mu);
        delete_all(dead);
    }
}

void cache_get_stats(struct cache *c, struct cache_stats *out)
{
    struct cache_stats st = { .capacity_bytes = c->capacity };
    for (unsigned i = 0; i < CACHE_SHARDS; i++) {
        struct shard *s = &c->shards[i];
        pthread_mutex_lock(&s->mu);
        st.hits += s->hits;
        st.misses += s->misses;
        st.inserts += s->inserts;
        st.evictions += s->evictions;
        st.usage_bytes += s->usage;
        pthread_mutex_unlock(&s->mu);
    }
    *out = st;
}
