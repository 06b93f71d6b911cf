"""test_purge.py - tombstone purge across real kvnodes (issue #5).

Three kvnodes (N=3) with --tombstone-grace-ms 2000:
  - a W=ALL delete leaves a tombstone on all three replicas (kvctl
    local-get); once every primary acknowledged it (purge marks) and the
    grace period passed, every replica has dropped it (local-get: holds
    nothing), the key reads as absent everywhere, and a new write of the
    key afterwards is kept by every replica (no version reused);
  - a delete that one replica missed (it was down) is NOT purged: after
    the grace period the two others still hold the tombstone; when the
    third returns (with the old value, unless anti-entropy was first), a
    read says absent and n3 ends with the tombstone.

Environment: KVNODE and KVCTL name the binaries (meson sets them).
"""

import time

import harness
from harness import expect, fail
from test_quorum import (kill_and_wait_dead, kv_get, kvctl, local_get, metric, restart_and_wait_up,
                         start_cluster, stop_all, wait_for)

GRACE_MS = 2000
cluster = []


def state(node, key):
    """'live', 'tombstone' or 'nothing' for node's own replica of key."""
    rc, j = local_get(node, key)
    if rc == 0:
        return "live"
    return "tombstone" if j["tombstone"] else "nothing" if not j["held"] else "expired"


def test_three_nodes_with_a_short_grace():
    cluster.extend(start_cluster(3, ["--tombstone-grace-ms", str(GRACE_MS)]))


def test_a_fully_replicated_tombstone_is_purged_everywhere():
    n1, n2, n3 = cluster
    expect(kvctl(n1, "put", "p1", "v1", consistency="all")[0], 0, "put p1")
    deleted_at = time.monotonic()
    expect(kvctl(n2, "del", "p1", consistency="all")[0], 0, "del p1 with W=ALL")
    early = [state(n, "p1") for n in cluster]
    if time.monotonic() - deleted_at < GRACE_MS / 1000.0:
        expect(early, ["tombstone"] * 3, "every replica holds the tombstone within the grace period")
    wait_for("the tombstone purged on every replica",
             lambda: all(state(n, "p1") == "nothing" for n in cluster), 20.0, poll_s=0.5)
    if time.monotonic() - deleted_at < GRACE_MS / 1000.0:
        fail("purged before the grace period")
    for n in cluster:
        expect(kv_get(n, "p1", consistency="all")[0], None, "p1 through %s after the purge" % n.name)
        expect(metric(n, "ringkv_tombstones_purged_total") >= 1, True, "purges counted on " + n.name)
    expect(kvctl(n3, "put", "p1", "again", consistency="all")[0], 0, "put p1 after the purge")
    for n in cluster:
        expect(state(n, "p1"), "live", "p1's new value on " + n.name)
        expect(kv_get(n, "p1", consistency="one")[0], ["again"], "p1 through %s" % n.name)


def test_a_tombstone_a_replica_missed_is_kept():
    n1, n2, n3 = cluster
    expect(kvctl(n1, "put", "p2", "old", consistency="all")[0], 0, "put p2")
    kill_and_wait_dead(cluster, n3)
    expect(kvctl(n1, "del", "p2")[0], 0, "del p2 with n3 down (W=2)")
    time.sleep(GRACE_MS / 1000.0 + 3.0)  # two purge scans past the grace period
    for n in (n1, n2):
        expect(state(n, "p2"), "tombstone", "p2's unmarked tombstone on %s after the grace" % n.name)
    restart_and_wait_up(cluster, n3)
    # n3 returns with the old value, unless anti-entropy already repaired it.
    expect(state(n3, "p2") in ("live", "tombstone"), True, "n3's copy of p2 after its return")
    expect(kv_get(n1, "p2", consistency="all")[0], None, "p2 read with R=ALL")
    wait_for("n3 holds the tombstone (read repair or anti-entropy)", lambda: state(n3, "p2") == "tombstone", 10.0)
    for n in cluster:
        expect(kv_get(n, "p2")[0], None, "p2 through " + n.name)


def test_stop():
    stop_all(cluster)


if __name__ == "__main__":
    harness.run([test_three_nodes_with_a_short_grace,
                 test_a_fully_replicated_tombstone_is_purged_everywhere,
                 test_a_tombstone_a_replica_missed_is_kept,
                 test_stop])
