/*
 * aae_admin.h - kvctl's anti-entropy requests on a node, answered from
 * node/aae_net.h's struct aae:
 *
 *   REPAIR      (kvctl repair [PARTITION|NODE]) aae_repair: force
 *               exchanges from this node with every peer, of one
 *               partition, or with one node; the reply says how many
 *               (partition, peer) pairs were scheduled, with the totals
 *   AAE_STATUS  (kvctl aae-status) every held partition: tree state,
 *               keys, peers, last exchange (age, peer, status), keys
 *               repaired, synced-since age, next exchange; and the totals
 *
 * Failures are an error envelope: KV_ESTATE ("anti-entropy is off"),
 * KV_EINVAL (a partition number out of range), KV_ENOTFOUND (no held
 * partition or peer matched). Every reply names the node and carries a
 * line for people (AdminReply.message).
 *
 * Threading: the event loop's thread. Memory: the reply's arrays are
 * allocated here and freed before return (O(held partitions * N)).
 */
#ifndef RINGKV_NODE_AAE_ADMIN_H
#define RINGKV_NODE_AAE_ADMIN_H

#include <stdint.h>

#include "proto/kv.pb-c.h"
#include "rpc/server.h"

struct aae_net;

/* Answers req (op REPAIR or AAE_STATUS) through h, exactly once. */
void aae_admin_handle(struct aae_net *n, const Ringkv__Admin *req, struct rpc_reply_handle h, uint64_t now_ms);

#endif
