/*
 * admin_local.h - kvctl local-get on a node (ADMIN_OP_LOCAL_GET): what
 * this node's own engine holds for one key, as a kv.proto LocalObject
 * (coord_local_inspect, coordinator/coord.h). No other node is asked.
 *
 * Memory: the LocalObject and everything in it is malloc'ed, so
 * ringkv__local_object__free_unpacked(obj, NULL) frees it whole.
 * Threading: the event loop's thread (it reads the coordinator's engine).
 */
#ifndef RINGKV_NODE_ADMIN_LOCAL_H
#define RINGKV_NODE_ADMIN_LOCAL_H

#include <stddef.h>

#include "common/buf.h"
#include "proto/kv.pb-c.h"

struct coord;

/* Builds *out for key (arg of the request; 1..key_bytes_max bytes) and a
 * one-line summary for people in msg. KV_EINVAL (empty key), KV_ESTATE
 * (no coordinator), or coord_local_inspect's error; `why` says which.
 * On failure *out is NULL. */
int admin_local_get(struct coord *coord, const char *self, const char *key, Ringkv__LocalObject **out,
                    char *msg, size_t msg_cap, struct kv_buf *why);

#endif
