/*
 * kvctl_admin.h - kvctl's cluster commands: members, ring, join, leave,
 * remove, plan, commit, clear, hints (rkv_admin of the public SDK only).
 *
 * kvctl.c lists them in its command table with KVCTL_ADMIN_ROWS(fn),
 * where fn(k) calls kvctl_admin_run with the parsed command line. Each
 * acts on the node given by --host (the first one that answers), prints
 * text for people or, with --json, one JSON object, and returns a kvctl
 * exit code (client/kvctl_fmt.h).
 */
#ifndef RINGKV_CLIENT_KVCTL_ADMIN_H
#define RINGKV_CLIENT_KVCTL_ADMIN_H

#include <stdbool.h>

#include "client/ringkv.h"

/* Rows of kvctl's command table: name, synopsis, summary, help, min and max args, handler. */
#define KVCTL_ADMIN_ROWS(fn) \
    { "members", "", "list the cluster's members as the node sees them", \
      "Prints every member the node knows: id, advertised address, zone, state\n" \
      "(alive, suspect, dead, leaving, left), incarnation, the newest ring version\n" \
      "it has seen, and the partitions it owns in the node's ring. The node itself\n" \
      "comes first. --json: {\"node\":ID,\"members\":[{\"id\",\"addr\",\"zone\",\"state\",\n" \
      "\"incarnation\",\"ring_version\",\"partitions\"},...]}.\n", 0, 0, fn }, \
    { "ring", "", "show the ring: ownership per node, version, transfers", \
      "Prints the node's ring: version, partitions (Q), replicas (N), partitions in\n" \
      "transfer, and per node the partitions it owns, its share, what it will own\n" \
      "once transfers finish, and partitions moving in and out; then each partition\n" \
      "in transfer with its owner now and next (progress: kvctl transfers). --json:\n" \
      "{\"node\",\"version\",\"partitions\",\"n_val\",\"in_transfer\",\"nodes\":[{\"id\",\"zone\",\n" \
      "\"owned\",\"share\",\"owned_after\",\"incoming\",\"outgoing\"},...],\"transfers\":[{\"partition\",\n" \
      "\"from\",\"to\"},...]}.\n", 0, 0, fn }, \
    { "join", "SEED", "make the node join the cluster of SEED (HOST:PORT)", \
      "Tells the node (--host) to join the cluster that SEED belongs to and stages\n" \
      "its join; kvctl plan and kvctl commit on the same node install it (with\n" \
      "auto-join on, the cluster adds it by itself). Refused (exit 3) when the node\n" \
      "is already in a cluster of several nodes.\n", 1, 1, fn }, \
    { "leave", "", "stage the node's leave", \
      "Stages the leave of the node (--host). Nothing moves until kvctl commit on\n" \
      "the same node; its partitions are then handed to the others.\n", 0, 0, fn }, \
    { "remove", "NODE", "stage the removal of a node that is down", \
      "Stages the removal of NODE from the ring. NODE must be dead or gone (a running\n" \
      "node leaves with kvctl leave on it). kvctl plan / kvctl commit on the same\n" \
      "node apply it. A failed node is never removed automatically.\n", 1, 1, fn }, \
    { "plan", "", "show the staged changes and the partitions they move", \
      "Prints the changes staged on the node, which partitions move from whom to\n" \
      "whom, and each node's partitions before and after. --json: {\"node\",\n" \
      "\"from_version\",\"to_version\",\"changes\":[{\"kind\",\"node\"}],\"moves\":[{\"partition\",\n" \
      "\"from\",\"to\"}],\"nodes\":[{\"id\",\"before\",\"after\"}]}.\n", 0, 0, fn }, \
    { "commit", "", "install the staged changes as a new ring version", \
      "Installs the changes staged on the node as the next ring version, which\n" \
      "gossip spreads. Partitions that change owner are recorded as transfers\n" \
      "(ownership handoff then moves their data; kvctl transfers shows progress).\n" \
      "Exit 3 when nothing is staged.\n", 0, 0, fn }, \
    { "clear", "", "drop the staged changes", \
      "Drops every change staged on the node.\n", 0, 0, fn }, \
    { "hints", "", "show the hints the node holds for other nodes", \
      "Prints hinted handoff on the node (--host): for each target node (a replica\n" \
      "that was down when a write for it came), the hints held for it now, their\n" \
      "bytes and the age of the oldest in ms, and since the node started: hints\n" \
      "delivered to it, expired undelivered (after the hint TTL), and failed delivery\n" \
      "attempts. Hints live on the node that took the write: --all asks every member\n" \
      "the node lists as alive or suspect, one table each (members it cannot reach\n" \
      "are reported on stderr and set the exit code). --json: {\"node\",\"held\",\n" \
      "\"stored\",\"targets\":[{\"node\",\"held\",\"bytes\",\"oldest_age_ms\",\"delivered\",\n" \
      "\"expired\",\"failed\"},...]}; with --all {\"nodes\":[that,...],\"skipped\":[id,...]}\n" \
      "(skipped: members not alive or suspect).\n" \
      "Exit 3 if a node keeps no hints (no coordinator), 5 if one cannot be reached.\n", 0, 0, fn }

/* kvctl hints --all: HINTS on every member that client's node lists as
 * alive or suspect, each reached with a client made from opts. */
int kvctl_admin_hints_all(struct rkv_client *client, const struct rkv_options *opts,
                          const struct rkv_request_options *req, bool json);

/* Runs admin command cmd ("members", ...) with its argument (or NULL). */
int kvctl_admin_run(const char *cmd, struct rkv_client *client, const struct rkv_request_options *req, bool json,
                    const char *arg);

#endif
