/*
 * kvctl_local.h - kvctl local-get: what one node's own storage holds for a
 * key (rkv_admin_local_get of the public SDK), for checking that every
 * replica holds a write.
 *
 * kvctl.c lists it in its command table with KVCTL_LOCAL_ROWS(fn), where
 * fn(k) calls kvctl_local_run.
 */
#ifndef RINGKV_CLIENT_KVCTL_LOCAL_H
#define RINGKV_CLIENT_KVCTL_LOCAL_H

#include <stdbool.h>

#include "client/ringkv.h"

#define KVCTL_LOCAL_ROWS(fn) \
    { "local-get", "KEY", "show what one node itself stores for a key (no quorum)", \
      "Asks the node given by --host (only that node) what its own storage holds for\n" \
      "KEY: its replica of the key's partition, if it holds one, and any hint copies\n" \
      "it keeps for other nodes. Every stored sibling is printed, tombstones and\n" \
      "expired values included, with the write (dot) that made it, and the replica's\n" \
      "version vector. Nothing is merged or repaired. Exit 0 if the node's replica\n" \
      "holds a live value; 1 if it holds nothing, only a tombstone or only expired\n" \
      "values (hint copies do not count); 3 or 5 on failure. --json: {\"node\",\n" \
      "\"key\",\"partition\",\"held\",\"live\",\"tombstone\",\"copies\":[{\"hint_for\",\n" \
      "\"hint_stored_at_ms\",\"object_bytes\",\"siblings\":[{\"value\"|\"value_base64\",\n" \
      "\"tombstone\",\"counter\",\"expired\",\"expires_at_ms\",\"stamp_ms\",\"dot\":\"ACTOR:N\"}],\n" \
      "\"clock\":[{\"actor\",\"counter\",\"self\"}]}]}. Actors are hex.\n", 1, 1, fn }

/* Runs local-get of key; returns a kvctl exit code (client/kvctl_fmt.h). */
int kvctl_local_run(struct rkv_client *client, const struct rkv_request_options *req, bool json, const char *key);

#endif
