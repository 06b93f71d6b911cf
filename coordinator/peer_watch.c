/* peer_watch.c - see peer_watch.h. */
#include "coordinator/peer_watch.h"

#include <stdlib.h>
#include <string.h>

void peer_watch_init(struct peer_watch *w) { memset(w, 0, sizeof *w); }

void peer_watch_free(struct peer_watch *w)
{
    free(w->peers);
    memset(w, 0, sizeof *w);
}

static struct peer_watch_entry *find(const struct peer_watch *w, const char *id)
{
    for (uint32_t i = 0; i < w->n; i++)
        if (strcmp(w->peers[i].id, id) == 0)
            return &w->peers[i];
    return NULL;
}

/* A new entry for id, or NULL (no memory, too many peers, id too long). */
static struct peer_watch_entry *add(struct peer_watch *w, const char *id)
{
    size_t len = strlen(id);
    if (len > KV_NODE_ID_BYTES_MAX || w->n >= PEER_WATCH_PEERS_MAX)
        return NULL;
    if (w->n == w->cap) {
        uint32_t cap = w->cap ? 2 * w->cap : 8;
        struct peer_watch_entry *p = realloc(w->peers, (size_t)cap * sizeof *p);
        if (p == NULL)
            return NULL;
        w->peers = p;
        w->cap = cap;
    }
    struct peer_watch_entry *e = &w->peers[w->n++];
    memcpy(e->id, id, len + 1);
    e->waiting = false;
    e->waiting_since_ms = 0;
    return e;
}

void peer_watch_asked(struct peer_watch *w, const char *id, uint64_t now_ms)
{
    struct peer_watch_entry *e = find(w, id);
    if (e == NULL && (e = add(w, id)) == NULL)
        return;
    if (e->waiting && now_ms - e->waiting_since_ms < PEER_WATCH_RETRY_MS)
        return;  /* the oldest unanswered request still counts */
    e->waiting = true;
    e->waiting_since_ms = now_ms;
}

void peer_watch_heard(struct peer_watch *w, const char *id)
{
    struct peer_watch_entry *e = find(w, id);
    if (e != NULL)
        e->waiting = false;
}

bool peer_watch_overdue(const struct peer_watch *w, const char *id, uint64_t now_ms)
{
    const struct peer_watch_entry *e = find(w, id);
    if (e == NULL || !e->waiting || now_ms < e->waiting_since_ms)
        return false;
    uint64_t waited_ms = now_ms - e->waiting_since_ms;
    return waited_ms >= PEER_WATCH_OVERDUE_MS && waited_ms < PEER_WATCH_RETRY_MS;
}
