/* admin_local.c - see admin_local.h. */
#include "node/admin_local.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/status.h"
#include "coordinator/coord.h"

struct build {
    Ringkv__LocalObject *obj;
};

static void *dup_bytes(const void *p, size_t n)
{
    void *d = malloc(n ? n : 1);
    if (d && n)
        memcpy(d, p, n);
    return d;
}

static int add_sibling(Ringkv__LocalCopy *m, const struct coord_local_sibling *s)
{
    Ringkv__LocalSibling *ls = malloc(sizeof *ls);
    if (!ls)
        return KV_ENOMEM;
    ringkv__local_sibling__init(ls);
    m->siblings[m->n_siblings++] = ls; /* owned by m from here on */
    if (!(ls->value.data = dup_bytes(s->value.data, s->value.len)))
        return KV_ENOMEM;
    ls->value.len = s->value.len;
    ls->expires_at_ms = s->expires_at_ms;
    ls->tombstone = s->tombstone;
    ls->counter = s->counter;
    ls->expired = s->expired;
    ls->dot_actor = s->has_dot ? s->dot_actor : 0;
    ls->dot_counter = s->has_dot ? s->dot_counter : 0;
    ls->stamp_ms = s->stamp_ms;
    return KV_OK;
}

static int add_copy(void *arg, const struct coord_local_copy *copy)
{
    struct build *b = arg;
    Ringkv__LocalObject *o = b->obj;
    Ringkv__LocalCopy **grown = realloc(o->copies, (o->n_copies + 1) * sizeof *grown);
    if (!grown)
        return KV_ENOMEM;
    o->copies = grown;
    Ringkv__LocalCopy *m = malloc(sizeof *m);
    if (!m)
        return KV_ENOMEM;
    ringkv__local_copy__init(m);
    o->copies[o->n_copies++] = m; /* owned by the object from here on */
    if (!(m->hint_for = malloc(copy->hint_for.len + 1)))
        return KV_ENOMEM;
    if (copy->hint_for.len)
        memcpy(m->hint_for, copy->hint_for.data, copy->hint_for.len);
    m->hint_for[copy->hint_for.len] = 0;
    m->hint_stored_at_ms = copy->hint_stored_at_ms;
    m->object_bytes = copy->object_bytes;
    m->siblings = calloc(copy->nsiblings ? copy->nsiblings : 1, sizeof *m->siblings);
    m->clock = calloc(copy->nclock ? copy->nclock : 1, sizeof *m->clock);
    if (!m->siblings || !m->clock)
        return KV_ENOMEM;
    for (uint32_t i = 0; i < copy->nsiblings; i++) {
        int rc = add_sibling(m, &copy->siblings[i]);
        if (rc != KV_OK)
            return rc;
    }
    for (uint32_t i = 0; i < copy->nclock; i++) {
        Ringkv__LocalClockEntry *e = malloc(sizeof *e);
        if (!e)
            return KV_ENOMEM;
        ringkv__local_clock_entry__init(e);
        e->actor = copy->clock[i].actor;
        e->counter = copy->clock[i].counter;
        e->self = copy->clock[i].self;
        m->clock[m->n_clock++] = e;
    }
    return KV_OK;
}

/* Live siblings of the node's own replica, and whether it holds a tombstone. */
static void summarize(const Ringkv__LocalObject *o, size_t *live, bool *own, bool *tomb, size_t *hints)
{
    *live = 0, *own = false, *tomb = false, *hints = 0;
    for (size_t i = 0; i < o->n_copies; i++) {
        const Ringkv__LocalCopy *m = o->copies[i];
        if (m->hint_for[0]) {
            (*hints)++;
            continue;
        }
        *own = true;
        for (size_t j = 0; j < m->n_siblings; j++) {
            *tomb = *tomb || m->siblings[j]->tombstone;
            *live += !m->siblings[j]->tombstone && !m->siblings[j]->expired;
        }
    }
}

int admin_local_get(struct coord *coord, const char *self, const char *key, Ringkv__LocalObject **out, char *msg,
                    size_t msg_cap, struct kv_buf *why)
{
    *out = NULL;
    int rc = KV_OK;
    if (!coord)
        rc = KV_ESTATE;
    else if (!key || !*key)
        rc = KV_EINVAL;
    if (rc != KV_OK) {
        int frc = rc == KV_ESTATE ? kv_buf_appendf(why, "%s has no coordinator to read from", self)
                                  : kv_buf_appendf(why, "local-get needs a key");
        if (frc != KV_OK)
            kv_buf_reset(why);
        return rc;
    }
    struct build b = { malloc(sizeof *b.obj) };
    if (!b.obj)
        return KV_ENOMEM;
    ringkv__local_object__init(b.obj);
    size_t klen = strlen(key);
    if (!(b.obj->key.data = dup_bytes(key, klen))) {
        free(b.obj);
        return KV_ENOMEM;
    }
    b.obj->key.len = klen;
    uint32_t partition = 0;
    rc = coord_local_inspect(coord, kv_slice_make(key, klen), &partition, add_copy, &b);
    if (rc != KV_OK) {
        ringkv__local_object__free_unpacked(b.obj, NULL);
        if (kv_buf_appendf(why, "local-get on %s failed: %s", self, kv_status_str(rc)) != KV_OK)
            kv_buf_reset(why);
        return rc;
    }
    b.obj->partition = partition;
    size_t live, hints;
    bool own, tomb;
    summarize(b.obj, &live, &own, &tomb, &hints);
    const char *state = live ? "a live value" : tomb ? "only a tombstone" : own ? "only expired values" : "nothing";
    snprintf(msg, msg_cap, "%s holds %s for the key (partition %u, %zu live sibling%s), and %zu hint%s for other nodes",
             self, state, partition, live, live == 1 ? "" : "s", hints, hints == 1 ? "" : "s");
    *out = b.obj;
    return KV_OK;
}
