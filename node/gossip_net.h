/*
 * gossip_net.h - carries membership gossip (gossip/codec.h messages)
 * between kvnodes: UDP datagrams for probes and broadcasts, TCP (the rpc
 * layer) for full-state push-pulls.
 *
 * Why two paths (as in hashicorp/memberlist): a probe must measure
 * whether the peer's process answers, not whether a TCP connection can be
 * (re)built, and must not queue behind a large transfer; datagrams have
 * no connection state, no head-of-line blocking and no reconnect backoff
 * after a peer restarts. Push-pulls carry whole member tables and rings
 * (up to GOSSIP_MSG_BYTES_MAX) and need TCP's reliability; they use the
 * node's native listener, with the Hello's cluster name and (optionally)
 * TLS, inside a ClusterMessage.gossip (proto/cluster.proto).
 *
 *   UDP:  PING, PING_REQ, ACK, NACK, UPDATES of at most
 *         GOSSIP_NET_UDP_BYTES_MAX bytes (membership keeps them under its
 *         1,400-byte packet budget), one message per datagram, on the same
 *         port number as the native listener, bound to the listen host.
 *   TCP:  PUSH_PULL_REQ / PUSH_PULL_RESP, anything larger, and every
 *         message when udp is off. udp is off when the node runs with TLS:
 *         datagrams are neither encrypted nor authenticated.
 *
 * With TLS, TCP connections dial the advertised name itself (certificates
 * name hosts, not the addresses they resolve to), so the rpc client
 * resolves it with a blocking lookup when it (re)connects; give IP
 * literals or names in /etc/hosts to keep that instant.
 *
 * Addresses are the advertised "HOST:PORT" strings membership uses. Each
 * is resolved once and cached per address: IP literals at once, names
 * asynchronously with libevent's evdns (queries never block the event
 * loop; the first messages to a name wait in a short queue, up to
 * GOSSIP_NET_PENDING_MAX), and re-resolved in the background every
 * GOSSIP_NET_RESOLVE_TTL_MS so a restarted container with a new IP is
 * found again. Resolution failures back off from GOSSIP_NET_RESOLVE_RETRY_MS.
 *
 * Strangers. A datagram that does not decode is dropped and counted; one
 * naming another cluster is dropped, counted, and logged once per source
 * address (GOSSIP_NET_LOGGED_MAX addresses are remembered; beyond that,
 * only counted). Over TCP the rpc server refuses a foreign Hello before any
 * gossip is read; a refusal of our Hello is logged once per peer here.
 *
 * Threading: the event_base's thread, like the deliver callback.
 */
#ifndef RINGKV_NODE_GOSSIP_NET_H
#define RINGKV_NODE_GOSSIP_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "common/status.h"
#include "gossip/codec.h"
#include "proto/kv.pb-c.h"
#include "rpc/server.h"

struct event_base;
struct rpc_tls;
struct gossip_net;

#define GOSSIP_NET_UDP_BYTES_MAX 1472u       /* one Ethernet frame: 1500 - 20 IP - 8 UDP */
#define GOSSIP_NET_RECV_BATCH 64u            /* datagrams read per wake-up before yielding */
#define GOSSIP_NET_PENDING_MAX 16u           /* messages queued per address while it resolves */
#define GOSSIP_NET_RESOLVE_TTL_MS 30000u
#define GOSSIP_NET_RESOLVE_RETRY_MS 1000u    /* doubling up to the TTL */
#define GOSSIP_NET_TCP_TIMEOUT_MS 5000u      /* a push-pull's receipt */
#define GOSSIP_NET_BACKOFF_MAX_MS 1000u      /* TCP reconnects: a restarted peer is retried soon */
#define GOSSIP_NET_LOGGED_MAX 256u
#define GOSSIP_NET_SOCKET_BUFFER_BYTES (1024 * 1024) /* absorbs the backlog of a paused process */

struct gossip_net_config {
    const char *bind_host;      /* UDP bind address: the native listen host */
    uint16_t port;              /* the native listener's bound port */
    const char *node_id;        /* our Hello */
    const char *cluster_name;   /* our Hello */
    bool udp;                   /* false: every message over TCP */
    struct rpc_tls *tls;        /* RPC_TLS_CLIENT context for TCP, or NULL; outlives the net */
    uint32_t frame_bytes_max;   /* 0 = default; must hold GOSSIP_MSG_BYTES_MAX plus the envelope */
};

/* Receives one decoded message; returns membership's status (KV_EAUTH for
 * a foreign cluster is what gets logged once per source). */
typedef int (*gossip_net_deliver_fn)(void *arg, const char *from, const struct gossip_msg *msg);

struct gossip_net_stats {
    uint64_t udp_sent, udp_received, udp_bytes_sent, udp_bytes_received;
    uint64_t tcp_sent, tcp_received, tcp_failed; /* tcp_failed: no receipt (unreachable, refused, timed out) */
    uint64_t send_errors;       /* datagrams the kernel refused, messages that could not be encoded */
    uint64_t decode_errors;     /* datagrams or packets that are not gossip messages */
    uint64_t foreign;           /* messages (or hellos) of another cluster */
    uint64_t unresolved;        /* messages dropped: address not resolved (yet) */
    uint64_t resolve_failures;
};

/*
 * Opens the UDP socket (if cfg->udp) on bind_host:port and the TCP pool.
 * Strings are copied. KV_OK and *out; KV_EIO if the UDP port cannot be
 * bound (logged with the OS's reason); KV_EINVAL, KV_ENOMEM.
 */
int gossip_net_new(struct event_base *base, const struct gossip_net_config *cfg, gossip_net_deliver_fn deliver,
                   void *arg, struct gossip_net **out) KV_MUST_USE;

/* Encodes msg and sends it to to_addr, best effort (a membership_net_ops.send). */
void gossip_net_send(struct gossip_net *g, const char *to_addr, const struct gossip_msg *msg);

/* A request whose body is Envelope.cluster.gossip, from the native listener
 * (the rpc server has checked the Hello: cluster name, role NODE): decodes
 * and delivers it, answers h with a GossipPacketReply, frees req. */
void gossip_net_handle_packet(struct gossip_net *g, const struct rpc_peer *peer, Ringkv__Envelope *req,
                              struct rpc_reply_handle h);

void gossip_net_get_stats(const struct gossip_net *g, struct gossip_net_stats *out);

/* Closes the socket and the pool; pending TCP sends and lookups are dropped. NULL is allowed. */
void gossip_net_free(struct gossip_net *g);

#endif
