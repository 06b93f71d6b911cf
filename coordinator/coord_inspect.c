/*
 * coord_inspect.c - coord_local_inspect (coord.h): what this node's engine
 * holds for one key, its own replica and the hints it keeps for others.
 *
 * Hints for a key sit under (HINT, target, partition, key), one range per
 * target. Rather than scan every hint, the walk seeks to the first hint
 * key, reads its target, does a point get of that target's hint for the
 * key, and seeks past the target's range: one seek and one get per target.
 *
 * An admin operation: it allocates its own buffers (nothing of the
 * request scratch in struct coord is touched) and frees them before it
 * returns.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "coordinator/coord_internal.h"

struct inspect {
    struct coord *c;
    struct object obj;
    struct object_counter counter;
    struct kv_buf render;                   /* decimal counter values, back to back */
    struct coord_local_sibling *sibs;
    uint32_t sibs_cap;
    struct coord_local_clock_entry *clock;
    uint32_t clock_cap;
    coord_local_copy_fn fn;
    void *arg;
};

/* Renders the counter payload of a sibling into s->render; out = its text. */
static int render_counter(struct inspect *s, struct kv_slice payload, size_t *off, size_t *len)
{
    object_counter_clear(&s->counter);
    int64_t v;
    int rc = object_counter_merge(&s->counter, payload);
    if (rc == KV_OK)
        rc = object_counter_value(&s->counter, &v);
    *off = s->render.len;
    if (rc == KV_OK)
        rc = kv_buf_appendf(&s->render, "%" PRId64, v);
    *len = s->render.len - *off;
    return rc;
}

/* Decodes one stored object and hands it to fn as a copy. */
static int report(struct inspect *s, struct kv_slice object, struct kv_slice hint_for, uint64_t stored_at)
{
    int rc = object_decode(object, &s->obj);
    if (rc != KV_OK)
        return rc;
    uint32_t n = object_siblings(&s->obj), ne = s->obj.clock.nentries;
    if ((rc = coord_grow((void **)&s->sibs, &s->sibs_cap, n, sizeof *s->sibs)) != KV_OK ||
        (rc = coord_grow((void **)&s->clock, &s->clock_cap, ne, sizeof *s->clock)) != KV_OK)
        return rc;
    kv_buf_reset(&s->render);
    size_t *offs = calloc(n ? n : 1, sizeof *offs);
    if (!offs)
        return KV_ENOMEM;
    uint64_t now = coord_wall_ms(s->c);
    for (uint32_t i = 0; i < n && rc == KV_OK; i++) {
        struct object_sibling os;
        object_sibling(&s->obj, i, &os);
        struct coord_local_sibling *ls = &s->sibs[i];
        memset(ls, 0, sizeof *ls);
        ls->expires_at_ms = os.expires_at_ms;
        ls->stamp_ms = os.stamp_ms;
        ls->tombstone = (os.flags & OBJECT_FLAG_TOMBSTONE) != 0;
        ls->counter = (os.flags & OBJECT_FLAG_COUNTER) != 0;
        ls->expired = object_sibling_expired(&os, now);
        ls->has_dot = object_sibling_dot(&s->obj, i, &ls->dot_actor, &ls->dot_counter);
        if (ls->counter)
            rc = render_counter(s, os.payload, &offs[i], &ls->value.len);
        else
            ls->value = os.payload;
    }
    /* The render buffer may have moved while it grew: point into it now. */
    for (uint32_t i = 0; i < n && rc == KV_OK; i++)
        if (s->sibs[i].counter)
            s->sibs[i].value.data = s->render.data + offs[i];
    free(offs);
    if (rc != KV_OK)
        return rc;
    for (uint32_t i = 0; i < ne; i++) {
        s->clock[i].actor = s->obj.clock.entries[i].id;
        s->clock[i].counter = s->obj.clock.entries[i].counter;
        s->clock[i].self = s->clock[i].actor == s->c->actor;
    }
    struct coord_local_copy copy = {
        .hint_for = hint_for,
        .hint_stored_at_ms = stored_at,
        .object_bytes = object.len,
        .nsiblings = n,
        .siblings = s->sibs,
        .nclock = ne,
        .clock = s->clock,
    };
    return s->fn(s->arg, &copy);
}

/* The engine key just past every key starting with prefix (len >= 1, its
 * first byte below 0xff): prefix with its last non-0xff byte incremented. */
static size_t prefix_successor(char *p, size_t len)
{
    while (len > 0 && (unsigned char)p[len - 1] == 0xff)
        len--;
    if (len > 0)
        p[len - 1] = (char)((unsigned char)p[len - 1] + 1);
    return len;
}

static int inspect_hints(struct inspect *s, struct kv_slice key, uint32_t partition, struct kv_buf *ekey,
                         struct kv_buf *val)
{
    struct engine_iter *it;
    int rc = engine_iter_new(s->c->engine, NULL, &it);
    if (rc != KV_OK)
        return rc;
    char seek[KEYSPACE_HINT_PREFIX_BYTES(KEYSPACE_HINT_TARGET_BYTES_MAX)];
    size_t seek_len = 1;
    seek[0] = (char)KEYSPACE_HINT;
    while (rc == KV_OK) {
        engine_iter_seek(it, kv_slice_make(seek, seek_len));
        if (!engine_iter_valid(it))
            break;
        struct kv_slice k = engine_iter_key(it), target, ukey;
        if (k.len == 0 || (unsigned char)k.data[0] != KEYSPACE_HINT)
            break;
        uint32_t p;
        if (keyspace_hint_decode(&s->c->ks, k, &target, &p, &ukey) != KV_OK) {
            /* Not a hint key we can read: step past this one key. */
            if (k.len >= sizeof seek - 1)
                break;
            memcpy(seek, k.data, k.len);
            seek[k.len] = 0;
            seek_len = k.len + 1;
            continue;
        }
        /* The target's prefix (kind, length, id), copied before the iterator moves. */
        size_t tlen = 2 + target.len;
        memcpy(seek, k.data, tlen);
        if ((rc = kv_buf_reserve(ekey, KEYSPACE_HINT_PREFIX_BYTES(target.len) + key.len)) != KV_OK)
            break;
        ekey->len = keyspace_hint_encode(kv_slice_make(seek + 2, target.len), partition, key, ekey->data);
        rc = engine_get(s->c->engine, NULL, kv_slice_make(ekey->data, ekey->len), val);
        if (rc == KV_OK) {
            uint64_t stored_at;
            struct kv_slice obj;
            rc = hint_record_decode(kv_slice_make(val->data, val->len), &stored_at, &obj);
            if (rc == KV_OK)
                rc = report(s, obj, kv_slice_make(ekey->data + 2, target.len), stored_at);
        } else if (rc == KV_ENOTFOUND) {
            rc = KV_OK;
        }
        seek_len = prefix_successor(seek, tlen);
        if (seek_len == 0)
            break;
    }
    if (rc == KV_OK)
        rc = engine_iter_status(it);
    engine_iter_free(it);
    return rc;
}

int coord_local_inspect(struct coord *c, struct kv_slice key, uint32_t *partition_out, coord_local_copy_fn fn,
                        void *arg)
{
    int rc = coord_check_key(c, key);
    if (rc != KV_OK)
        return rc;
    uint32_t partition = keyspace_partition(&c->ks, key);
    *partition_out = partition;
    struct inspect s = { .c = c, .fn = fn, .arg = arg };
    object_init(&s.obj);
    object_counter_init(&s.counter);
    struct kv_buf ekey = { 0 }, val = { 0 };
    rc = kv_buf_reserve(&ekey, KEYSPACE_PREFIX_BYTES + key.len);
    if (rc == KV_OK) {
        ekey.len = keyspace_encode(&c->ks, KEYSPACE_DATA, key, ekey.data);
        rc = engine_get(c->engine, NULL, kv_slice_make(ekey.data, ekey.len), &val);
        if (rc == KV_OK)
            rc = report(&s, kv_slice_make(val.data, val.len), kv_slice_make(NULL, 0), 0);
        else if (rc == KV_ENOTFOUND)
            rc = KV_OK;
    }
    if (rc == KV_OK && c->cluster)
        rc = inspect_hints(&s, key, partition, &ekey, &val);
    if (rc == KV_ECORRUPT)
        log_error("coord", "local inspect: stored object is corrupt partition=%" PRIu32 " key_bytes=%zu",
                  partition, key.len);
    kv_buf_free(&ekey);
    kv_buf_free(&val);
    kv_buf_free(&s.render);
    object_free(&s.obj);
    object_counter_free(&s.counter);
    free(s.sibs);
    free(s.clock);
    return rc;
}
