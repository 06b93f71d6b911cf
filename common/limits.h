/*
 * limits.h - default limits of a ringkv node, with units in the names.
 *
 * These are defaults: kvnode exposes each as a config option. The storage
 * engine has its own, larger hard limits (storage/engine.h); node-level
 * limits sit below them so the partition prefix and object header fit.
 */
#ifndef RINGKV_COMMON_LIMITS_H
#define RINGKV_COMMON_LIMITS_H

#define KV_KEY_BYTES_MAX_DEFAULT (16u * 1024u)               /* 16 KiB per key */
#define KV_VALUE_BYTES_MAX_DEFAULT (16u * 1024u * 1024u)     /* 16 MiB per value */
/* A frame carries one value plus context and envelope: value max + 4 MiB. */
#define KV_FRAME_BYTES_MAX_DEFAULT (20u * 1024u * 1024u)     /* 20 MiB per frame */
#define KV_SIBLINGS_MAX_DEFAULT 64u                          /* values per key */
#define KV_CONNECTIONS_MAX_DEFAULT 10000u                    /* per listener */
#define KV_CONN_OUTPUT_BYTES_MAX_DEFAULT (64u * 1024u * 1024u) /* unsent replies per connection */
/* Client request bytes held (decoded, not yet answered) across all connections of a node. */
#define KV_NODE_INFLIGHT_BYTES_MAX_DEFAULT (512u * 1024u * 1024u)  /* 512 MiB per node */
/* Hint keys + hint records a node holds on disk for replicas that are down. */
#define KV_HINTS_BYTES_MAX_DEFAULT (1024ull * 1024u * 1024u)   /* 1 GiB per node */
#define KV_IDLE_TIMEOUT_MS_DEFAULT 300000u                   /* 5 min without a byte */
#define KV_FRAME_TIMEOUT_MS_DEFAULT 30000u                   /* a started frame must finish in 30 s */
#define KV_REQUEST_TIMEOUT_MS_DEFAULT 5000u                  /* client request deadline */
#define KV_BATCH_KEYS_MAX 10000u                             /* keys per batch get/put */
#define KV_CLUSTER_NAME_BYTES_MAX 64u
#define KV_NODE_ID_BYTES_MAX 64u

#endif
