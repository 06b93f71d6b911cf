"""test_aae.py - active anti-entropy between real kvnodes (issue #6).

Three kvnodes on loopback (N=3: every node is a replica of every key),
seeded by n1 with auto-join, with exchanges every 2 s per replica pair:
  - a wiped replica converges: K keys are written, n3 is stopped, its
    data directory deleted, and it is restarted with the same id; without
    any read of the keys, anti-entropy refills it: `kvctl local-get` on
    n3 (its own storage, no quorum) shows every key's value;
  - a replica down past the hint window converges: with three nodes and
    N=3 there is no fallback to hold hints at all, so writes made while
    n2 is down (new keys, overwrites, deletes) reach it only through
    anti-entropy; after its restart, without reads, its own copy holds
    the new values and the tombstones;
  - `kvctl aae-status` shows every held partition's tree ready, its
    peers, exchanges and keys repaired; /metrics counts exchanges, bytes
    and keys repaired;
  - with a 7-day interval (no exchange due by the schedule during the
    test) a replica that comes back up is exchanged with at once: n3
    misses a write while down and holds it soon after its restart;
  - `kvctl repair n1` on n3 (which, with the largest id, initiates no
    exchange by the schedule) runs an exchange of every partition with
    n1, all ending ok and synced (aae-status); `kvctl repair 7` forces
    partition 7 only.

Environment: KVNODE and KVCTL name the binaries (meson sets them);
RINGKV_TEST_LOG_LEVEL sets the nodes' --log-level (default info).
"""

import json
import os
import shutil

import harness
from harness import Node, expect, fail, kvctl, member_state, metric, wait_for, wait_ring_formed

KEYS = 200
FORM_LIMIT_S = 30.0      # cluster formed: every node has the full ring
DEAD_LIMIT_S = 10.0      # a stopped node is dead in the others' view
CONVERGE_LIMIT_S = 60.0  # anti-entropy refills a replica (exchanges every 2 s)
SHORT_INTERVAL = ["--aae-interval-ms", "2000"]
LONG_INTERVAL = ["--aae-interval-ms", str(7 * 24 * 3600 * 1000)]


def aae_status(node):
    rc, out, err = kvctl(node, "aae-status", "--json")
    if rc != 0:
        fail("kvctl aae-status on %s exited %d: %s" % (node.name, rc, err))
    return json.loads(out)


def local_values(node, key):
    """What node's own replica stores for key: ('live', [values]), ('tombstone', []) or ('none', [])."""
    rc, out, err = kvctl(node, "local-get", key, "--json")
    if rc not in (0, 1):
        fail("kvctl local-get %s on %s exited %d: %s" % (key, node.name, rc, err))
    j = json.loads(out)
    if j["live"]:
        own = [c for c in j["copies"] if not c["hint_for"]][0]
        return "live", sorted(s["value"] for s in own["siblings"] if not s["tombstone"] and not s["expired"])
    return ("tombstone" if j["tombstone"] else "none"), []


def start_cluster(nodes, flags):
    seed = "127.0.0.1:%d" % nodes[0].native_port
    for n in nodes:
        n.extra = ["--seeds", seed, "--n-replicas", "3",
                   "--log-level", os.environ.get("RINGKV_TEST_LOG_LEVEL", "info")] + flags
        n.start()
    wait_ring_formed(nodes, [n.name for n in nodes], FORM_LIMIT_S)


def trees_ready(node):
    t = aae_status(node)["totals"]
    return t["trees"] > 0 and t["trees_ready"] == t["trees"]


def tree_keys(node):
    return sum(p["keys"] for p in aae_status(node)["partitions"])


def stop_and_wait_dead(nodes, victim, sig_kill=False):
    if sig_kill:
        victim.kill()
    else:
        expect(victim.stop(), 0, "exit code of %s" % victim.name)
    others = [n for n in nodes if n is not victim]
    wait_for("%s dead everywhere" % victim.name,
             lambda: all(member_state(n, victim.name) == "dead" for n in others), DEAD_LIMIT_S)


def resp_set_all(node, items):
    c = node.resp()
    for k, v in items:
        expect(c.cmd("SET", k, v), "OK", "SET %s" % k)
    c.close()


def check_holds(node, want):
    """Every key of want (key -> value, or None for deleted) is in node's own replica."""
    for k, v in sorted(want.items()):
        state, values = local_values(node, k)
        if v is None:
            expect(state, "tombstone", "%s's replica of deleted %s" % (node.name, k))
        else:
            expect((state, values), ("live", [v]), "%s's replica of %s" % (node.name, k))


def test_wiped_and_lagging_replicas():
    nodes = [Node("n1"), Node("n2"), Node("n3")]
    n1, n2, n3 = nodes
    start_cluster(nodes, SHORT_INTERVAL)
    want = {"aae:%04d" % i: "v%d" % i for i in range(KEYS)}
    resp_set_all(n1, want.items())

    # A wiped replica: same id, empty data directory (ring state included).
    stop_and_wait_dead(nodes, n3)
    shutil.rmtree(n3.data_dir)
    n3.start()
    wait_for("n3 alive again in n1's view", lambda: member_state(n1, "n3") == "alive", FORM_LIMIT_S)
    took = wait_for("n3's trees hold every key", lambda: tree_keys(n3) >= KEYS, CONVERGE_LIMIT_S)
    print("wiped replica: trees full %.1f s after restart" % took)
    check_holds(n3, want)
    if metric(n3, "ringkv_aae_keys_repaired_total") + metric(n1, "ringkv_aae_keys_repaired_total") + \
            metric(n2, "ringkv_aae_keys_repaired_total") < KEYS:
        fail("keys repaired by anti-entropy (all nodes) below %d" % KEYS)

    # A replica down while keys are added, overwritten and deleted; N=3 on
    # three nodes leaves no fallback for hints: only anti-entropy repairs it.
    stop_and_wait_dead(nodes, n2, sig_kill=True)
    more = {"aae:new:%04d" % i: "n%d" % i for i in range(KEYS // 2)}
    resp_set_all(n1, more.items())
    over = {"aae:%04d" % i: "over%d" % i for i in range(0, KEYS, 10)}
    resp_set_all(n3, over.items())
    gone = ["aae:%04d" % i for i in range(5, KEYS, 20)]
    c = n1.resp()
    for k in gone:
        expect(c.cmd("DEL", k), 1, "DEL %s" % k)
    c.close()
    want.update(more)
    want.update(over)
    for k in gone:
        want[k] = None
    n2.start()
    wait_for("n2 alive again in n1's view", lambda: member_state(n1, "n2") == "alive", FORM_LIMIT_S)

    def n2_converged():
        return all(local_values(n2, k)[0] == ("tombstone" if v is None else "live")
                   for k, v in list(more.items())[-5:] + [(gone[-1], None)])
    took = wait_for("n2 holds the writes it missed", n2_converged, CONVERGE_LIMIT_S, poll_s=0.5)
    print("lagging replica: converged %.1f s after restart" % took)
    # Exchanges are periodic: give the last partitions time, then check all.
    wait_for("n2's replica equals n1's", lambda: all(
        local_values(n2, k) == local_values(n1, k) for k in sorted(want)[::7]), CONVERGE_LIMIT_S, poll_s=1.0)
    check_holds(n2, want)

    # aae-status and /metrics.
    st = aae_status(n1)
    expect(st["node"], "n1", "aae-status node")
    expect(st["totals"]["trees"], 256, "trees held by n1 (Q=256, N=3 on 3 nodes)")
    expect(len(st["partitions"]), 256, "partitions in aae-status")
    p0 = st["partitions"][0]
    expect(sorted(p0["peers"]), ["n2", "n3"], "peers of partition 0")
    if not all(p["ready"] for p in st["partitions"]):
        fail("a tree of n1 is not ready: %r" % [p for p in st["partitions"] if not p["ready"]][:1])
    if st["totals"]["exchanges_started"] == 0 or not any(p["exchanges"] for p in st["partitions"]):
        fail("n1 reports no exchanges: %r" % st["totals"])
    done = [p for p in st["partitions"] if p["exchanges"] and p["last_status"] == "ok"]
    if not done or any(p["last_exchange_age_ms"] == 0 for p in done):
        fail("finished exchanges without an age: %r" % done[:1])
    rc, out, _ = kvctl(n1, "aae-status")
    expect(rc, 0, "kvctl aae-status exit")
    if "anti-entropy on n1" not in out or "exchanges:" not in out:
        fail("aae-status text: %r" % out[:400])
    for name in ("ringkv_aae_exchanges_total", "ringkv_aae_bytes_total", "ringkv_aae_tree_builds_total"):
        if metric(n1, name) <= 0:
            fail("%s is 0 on n1" % name)
    for n in nodes:
        expect(n.stop(), 0, "exit code of %s" % n.name)
    return nodes


def test_returning_peer_and_repair(nodes):
    """Restarted with a 7-day interval: no exchange is due by the schedule."""
    n1, n2, n3 = nodes
    start_cluster(nodes, LONG_INTERVAL)
    for n in nodes:
        wait_for("%s's trees built" % n.name, lambda: trees_ready(n), CONVERGE_LIMIT_S)

    # A replica that comes back is exchanged with at once by its peers
    # (n1, n2 see it up again), not at the next interval.
    stop_and_wait_dead(nodes, n3, sig_kill=True)
    resp_set_all(n1, [("aae:returned", "yes")])
    n3.start()
    took = wait_for("n3 holds the write it missed", lambda: local_values(n3, "aae:returned") == ("live", ["yes"]),
                    CONVERGE_LIMIT_S)
    print("returning replica: key fetched %.1f s after restart" % took)
    wait_for("n3's trees built", lambda: trees_ready(n3), CONVERGE_LIMIT_S)
    # Whatever the restart started (n3 also sees its peers come up) ends;
    # with the 7-day interval nothing else starts by itself.
    wait_for("n3 idle", lambda: aae_status(n3)["totals"]["exchanges_active"] == 0, CONVERGE_LIMIT_S, poll_s=0.5)
    before = aae_status(n3)["totals"]["exchanges_started"]

    rc, out, err = kvctl(n3, "repair", "n1", "--json")
    expect(rc, 0, "kvctl repair n1 exit (%s)" % err)
    expect(json.loads(out)["scheduled"], 256, "pairs scheduled by repair n1 on n3")

    def all_exchanged():
        st = aae_status(n3)
        return st["totals"]["exchanges_started"] >= before + 256 and st["totals"]["exchanges_active"] == 0
    took = wait_for("256 more exchanges from n3", all_exchanged, CONVERGE_LIMIT_S, poll_s=0.5)
    print("forced repair: 256 exchanges from n3 done %.1f s after kvctl repair" % took)
    parts = aae_status(n3)["partitions"]
    if not all(p["last_peer"] == "n1" and p["last_status"] == "ok" and p["synced_age_ms"] > 0 for p in parts):
        fail("a partition of n3 not exchanged with n1 and synced: %r" %
             [p for p in parts if p["last_peer"] != "n1" or p["last_status"] != "ok" or not p["synced_age_ms"]][:1])

    # One partition: exactly its two pairs.
    rc, out, err = kvctl(n2, "repair", "7", "--json")
    expect(rc, 0, "kvctl repair 7 exit (%s)" % err)
    expect(json.loads(out)["scheduled"], 2, "pairs scheduled by repair 7")
    wait_for("partition 7 exchanged from n2",
             lambda: [p for p in aae_status(n2)["partitions"] if p["partition"] == 7][0]["exchanges"] >= 2,
             CONVERGE_LIMIT_S)
    rc, _, err = kvctl(n2, "repair", "99999")
    expect(rc, 3, "kvctl repair of a partition out of range (%s)" % err)
    rc, _, err = kvctl(n2, "repair", "nobody")
    expect(rc, 1, "kvctl repair of an unknown node (%s)" % err)
    for n in nodes:
        expect(n.stop(), 0, "exit code of %s" % n.name)
        n.remove()


def test_aae_off():
    n = Node("solo-aae")
    seed_self = "127.0.0.1:%d" % n.native_port
    n.extra = ["--seeds", seed_self, "--n-replicas", "1", "--aae", "off"]
    n.start()
    rc, _, err = kvctl(n, "aae-status")
    expect(rc, 3, "aae-status with --aae off")
    if "anti-entropy is off" not in err:
        fail("aae-status error text: %r" % err)
    expect(n.stop(), 0, "exit code")
    n.remove()


if __name__ == "__main__":
    def wiped_then_repair():
        test_returning_peer_and_repair(test_wiped_and_lagging_replicas())
    harness.run([wiped_then_repair, test_aae_off])
