/*
 * kvctl_transfers.h - kvctl transfers: the ownership-handoff streams of
 * every live member (rkv_admin MEMBERS on --host, then rkv_transfers on
 * each member's advertised address, with kvctl's connection options).
 *
 * kvctl.c lists it in its command table with KVCTL_TRANSFERS_ROWS(fn),
 * where fn(k) calls kvctl_transfers_run. Returns a kvctl exit code
 * (client/kvctl_fmt.h).
 */
#ifndef RINGKV_CLIENT_KVCTL_TRANSFERS_H
#define RINGKV_CLIENT_KVCTL_TRANSFERS_H

#include <stdbool.h>

#include "client/ringkv.h"

#define KVCTL_TRANSFERS_ROWS(fn) \
    { "transfers", "", "show ownership handoff in progress: streams, progress, ETA", \
      "After a ring change (kvctl commit, auto-join) the nodes that hold a partition\n" \
      "stream its keys to the nodes that gain it; once every stream of a partition\n" \
      "is done its new owner finishes the transfer (kvctl ring: partitions in\n" \
      "transfer). Asks every live member (found through --host) for the streams it\n" \
      "sends and prints one line per unfinished stream: ring partition, key range,\n" \
      "from, to, keys and bytes sent, a progress bar, the rate and an ETA at that\n" \
      "rate; then per node the totals. Members that do not answer are named on\n" \
      "stderr (exit 3). --json: {\"streams\":[{\"partition\",\"range\",\"from\",\"to\",\n" \
      "\"active\",\"done\",\"keys_sent\",\"bytes_sent\",\"keys_total\",\"bytes_total\",\n" \
      "\"rate_bytes_per_sec\"}],\"nodes\":[{\"node\",\"streams_planned\",\"streams_active\",\n" \
      "\"streams_completed\",\"partitions_completed\",\"keys_sent\",\"bytes_sent\",\n" \
      "\"keys_received\",\"bytes_received\",\"forwards_sent\",\"bytes_per_sec\"}]}.\n", 0, 0, fn }

int kvctl_transfers_run(struct rkv_client *client, const struct rkv_options *opts,
                        const struct rkv_request_options *req, bool json);

#endif
