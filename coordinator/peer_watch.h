/*
 * peer_watch.h - which peers have gone quiet while this node waits on
 * them, faster than failure detection can tell.
 *
 * Failure detection (gossip/) needs seconds to call a paused or killed
 * node suspect, and until then the coordinator counts it alive. A write
 * forwarded to it in that window makes one attempt (coord_write.c,
 * "Forward attempts") and ends in doubt. The coordinator asks other nodes
 * for answers all the time (replica reads and writes, forwards, hints),
 * so it sees a silent peer much sooner: a peer is OVERDUE when a message
 * that wants an answer has been out for PEER_WATCH_OVERDUE_MS and nothing
 * at all has come back from it since. An overdue primary is passed over
 * as the target of a forward while another live primary is not overdue.
 * A wrong guess costs nothing: any primary can coordinate the write.
 *
 * The record per peer is one wait: the time of the first request sent
 * after the last message heard from it. Hearing anything ends the wait;
 * a wait older than PEER_WATCH_RETRY_MS starts again at the next request,
 * so a peer that was passed over is tried again at that pace even if
 * nothing else is sent to it.
 *
 * Cost: a linear search over the peers seen (at most PEER_WATCH_PEERS_MAX,
 * a few strcmp for clusters of tens of nodes) per message sent or heard.
 * Time is the caller's monotonic milliseconds; no clock is read here.
 * Threading: the coordinator's thread only.
 */
#ifndef RINGKV_COORDINATOR_PEER_WATCH_H
#define RINGKV_COORDINATOR_PEER_WATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "common/limits.h"

/* Silence with a request out after which a peer is overdue: 200 ms, well
 * above a loaded node's p99 reply time (~5 ms) and far below the seconds
 * failure detection takes. */
#define PEER_WATCH_OVERDUE_MS 200u
/* A wait this old starts again at the next request: an overdue peer gets
 * another chance every 5 s. */
#define PEER_WATCH_RETRY_MS 5000u
/* Peers tracked; more are not watched (never overdue): 4096, the ring's
 * member limit. */
#define PEER_WATCH_PEERS_MAX 4096u

struct peer_watch_entry {
    char id[KV_NODE_ID_BYTES_MAX + 1];
    bool waiting;               /* a request went out after the last message heard */
    uint64_t waiting_since_ms;  /* when the first such request went out */
};

struct peer_watch {
    struct peer_watch_entry *peers;
    uint32_t n, cap;
};

/* An empty watch (no allocation until the first peer). */
void peer_watch_init(struct peer_watch *w);
void peer_watch_free(struct peer_watch *w);

/* A request that wants an answer was sent to id at now_ms. Without memory,
 * or past PEER_WATCH_PEERS_MAX peers, id stays unwatched. */
void peer_watch_asked(struct peer_watch *w, const char *id, uint64_t now_ms);

/* Some message came from id: it is not silent. */
void peer_watch_heard(struct peer_watch *w, const char *id);

/* Whether id has left a request unanswered for PEER_WATCH_OVERDUE_MS or
 * more (but less than PEER_WATCH_RETRY_MS: then it is worth another
 * request), with nothing heard from it since. */
bool peer_watch_overdue(const struct peer_watch *w, const char *id, uint64_t now_ms);

#endif
