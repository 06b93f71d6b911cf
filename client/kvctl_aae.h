/*
 * kvctl_aae.h - kvctl's anti-entropy commands: repair and aae-status
 * (rkv_aae_repair / rkv_aae_status of the public SDK).
 *
 * kvctl.c lists them in its command table with KVCTL_AAE_ROWS(fn), where
 * fn(k) calls kvctl_aae_run with the parsed command line. Each acts on
 * the node given by --host, prints text for people or, with --json, one
 * JSON object, and returns a kvctl exit code (client/kvctl_fmt.h).
 */
#ifndef RINGKV_CLIENT_KVCTL_AAE_H
#define RINGKV_CLIENT_KVCTL_AAE_H

#include <stdbool.h>

#include "client/ringkv.h"

#define KVCTL_AAE_ROWS(fn) \
    { "repair", "[PARTITION|NODE]", "force anti-entropy exchanges from the node now", \
      "Makes the node (--host) compare its Merkle trees with the other replicas and\n" \
      "exchange the keys that differ, now rather than at the next interval: of every\n" \
      "partition it holds, of one PARTITION (a number), or of the partitions it\n" \
      "shares with NODE (an id). The exchanges run in the background within the\n" \
      "node's budgets (--aae-exchanges-max, --aae-bytes-per-sec); kvctl aae-status\n" \
      "shows them finish. Exit 1 if nothing matched, 3 if the node runs without\n" \
      "anti-entropy. --json: {\"node\",\"scheduled\",\"message\"}.\n", 0, 1, fn }, \
    { "aae-status", "", "show anti-entropy state per partition and totals", \
      "Prints, for every partition the node holds: tree state (ready, building),\n" \
      "keys in the tree, the other replicas, exchanges started here, the last one\n" \
      "(how long ago, with whom, its result), keys repaired, how long ago every\n" \
      "peer was last in sync, when the next exchange is due; then the node's\n" \
      "totals (exchanges by outcome, keys repaired, bytes, tree rebuilds). --json:\n" \
      "{\"node\",\"totals\":{...},\"partitions\":[{\"partition\",\"ready\",\"building\",\n" \
      "\"keys\",\"peers\",\"exchanges\",\"last_exchange_age_ms\",\"last_peer\",\n" \
      "\"last_status\",\"keys_repaired\",\"synced_age_ms\",\"next_exchange_in_ms\"}]}.\n", 0, 0, fn }

/* Runs "repair" (arg: partition, node or NULL) or "aae-status". */
int kvctl_aae_run(const char *cmd, struct rkv_client *client, const struct rkv_request_options *req, bool json,
                  const char *arg);

#endif
