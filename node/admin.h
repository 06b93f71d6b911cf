/*
 * admin.h - kvctl's cluster administration on a node: one kv.proto Admin
 * request answered from node/cluster.h.
 *
 *   MEMBERS  the member table (this node first, then by id) with each
 *            member's partitions in this node's ring
 *   RING     version, Q, N, partitions in transfer, and per node: owned
 *            now, owned once transfers finish, incoming, outgoing
 *   JOIN     node_cluster_join(arg); the reply's plan shows what is staged
 *   LEAVE    node_cluster_stage_leave; REMOVE node_cluster_stage_remove(arg)
 *   PLAN     the staged changes, the partition moves, ownership before/after
 *   COMMIT   node_cluster_commit; the reply has the plan applied and the
 *            new ring
 *   CLEAR    drops the staged changes
 *   RING_MAP the ring as clients route by it: members with their native
 *            address and liveness, N primaries per partition (the SDK)
 *   HINTS    hints held here per target node and their fate (kvctl hints)
 *   LOCAL_GET what this node's own engine holds for the key in arg: its
 *            replica and hint copies, every sibling (node/admin_local.h)
 * Failures are an error envelope: the status of node/cluster.h and its
 * one-line reason. Every reply names the answering node and carries a
 * line for people (AdminReply.message).
 *
 * Threading: the event loop's thread. Memory: the reply is built in heap
 * arrays freed before return (O(members + Q)).
 */
#ifndef RINGKV_NODE_ADMIN_H
#define RINGKV_NODE_ADMIN_H

#include <stdint.h>

#include "proto/kv.pb-c.h"
#include "rpc/server.h"

struct node_cluster;

/* Answers req through h (exactly once). req is only read. coord (may be
 * NULL) answers HINTS. */
struct coord;
void admin_handle(struct node_cluster *c, struct coord *coord, const Ringkv__Admin *req, struct rpc_reply_handle h,
                  uint64_t now_ms);

/* Answers an Admin request through h: the AdminReply `reply` when rc is
 * KV_OK, else the error rc with `error` as its message. Shared by every
 * Admin op handler (admin.c, aae_admin.c, handoff_net.c); a reply that
 * cannot be sent (other than to a closed connection) is logged at debug
 * level under log_tag. reply is only read. */
void admin_reply_send(struct rpc_reply_handle h, int rc, Ringkv__AdminReply *reply, const char *error,
                      const char *log_tag);

#endif
