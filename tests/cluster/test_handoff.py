"""test_handoff.py - ownership handoff across real kvnodes (issue #6).

1. grow and shrink under load: three kvnodes (N=3, auto-join) with a
   preloaded key set and a bounded writer that keeps writing through all
   nodes; two more nodes start and auto-join adds them (ring change with
   pending transfers); handoff streams the ranges and finishes every
   transfer. Then both new nodes leave (kvctl leave + commit on each) and
   handoff moves everything back. At the end every acknowledged write is
   readable with the value written, and for a sample of keys exactly the
   N nodes of the key's preference list hold it locally (kvctl local-get:
   the five-node layout holds each key on 3 of 5 nodes; back at three
   nodes, on all three and on neither departed node).
2. crash in the middle: with a slow budget (--handoff-bytes-per-sec), a
   fourth node joins; the receiver is SIGKILLed mid-transfer and
   restarted, then a sender; the transfers still finish and the new node
   holds what it gained.

Environment: KVNODE and KVCTL name the binaries (meson sets them).
"""

import json
import os
import threading
import time

import harness
from harness import Node, expect, fail, kvctl, metric, wait_for, RespClient

FORM_LIMIT_S = 30.0
TRANSFER_LIMIT_S = 90.0
DROP_DELAY_MS = 1000
PARTITIONS = 64


def ring(node):
    rc, out, _ = kvctl(node, "ring", "--json")
    return json.loads(out) if rc == 0 else None


def settled(nodes, members):
    """Every node has the same ring version, with exactly `members`, nothing in transfer."""
    rings = [ring(n) for n in nodes]
    if any(r is None for r in rings):
        return False
    ids = tuple(sorted(x["id"] for x in rings[0]["nodes"]))
    return (ids == tuple(members) and all(r["in_transfer"] == 0 for r in rings) and
            len({r["version"] for r in rings}) == 1)


def ring_states(nodes):
    out = []
    for n in nodes:
        r = ring(n)
        out.append("%s: %s" % (n.name, r and (r["version"], r["in_transfer"], [x["id"] for x in r["nodes"]])))
    return "; ".join(out)


def leaving_in_ring(node, name):
    """node's ring gives `name` nothing once transfers end (or it is gone)."""
    r = ring(node)
    return r is not None and all(x["owned_after"] == 0 for x in r["nodes"] if x["id"] == name)


def make_nodes(names, seed_node=None, extra=()):
    nodes = [Node(name) for name in names]
    seed = seed_node or nodes[0]
    for n in nodes:
        n.extra = ["--seeds", "127.0.0.1:%d" % seed.native_port, "--n-replicas", "3",
                   "--partitions", str(PARTITIONS), "--handoff-drop-delay-ms", str(DROP_DELAY_MS),
                   "--aae", "off", "--log-level", os.environ.get("RINGKV_TEST_LOG_LEVEL", "info")] + list(extra)
    return nodes


def start_cluster(names, extra=()):
    nodes = make_nodes(names, extra=extra)
    for n in nodes:
        n.start()
    wait_for("one ring of %s" % ",".join(names), lambda: settled(nodes, sorted(names)), FORM_LIMIT_S)
    return nodes


def stop_all(nodes):
    for n in nodes:
        if n.alive():
            n.stop()
        n.remove()


def preload(node, count, prefix, size=16):
    c = RespClient(node.resp_port)
    for i in range(0, count, 100):
        args = []
        for j in range(i, min(count, i + 100)):
            args += ["%s%d" % (prefix, j), ("v%d-" % j).ljust(size, "x")]
        expect(c.cmd("MSET", *args), "OK", "preload MSET")
    c.close()


class Writer(threading.Thread):
    """Writes new keys round-robin through every node until stopped (bounded
    by `limit` writes); remembers the acknowledged ones."""

    def __init__(self, nodes, limit=20000):
        super().__init__(daemon=True)
        self.nodes = nodes
        self.limit = limit
        self.acked = {}
        self.failed = 0
        self.stop_flag = threading.Event()

    def run(self):
        clients = {}
        i = 0
        while not self.stop_flag.is_set() and i < self.limit:
            node = self.nodes[i % len(self.nodes)]
            if not node.alive():
                i += 1
                continue
            key, value = "w%d" % i, "val%d" % i
            try:
                c = clients.get(node.name) or RespClient(node.resp_port, timeout=5)
                clients[node.name] = c
                if c.cmd("SET", key, value) == "OK":
                    self.acked[key] = value
                else:
                    self.failed += 1
            except Exception:
                self.failed += 1
                clients.pop(node.name, None)
            i += 1
            time.sleep(0.002)
        for c in clients.values():
            c.close()


def holders(nodes, key):
    """Nodes whose own engine holds a live value of key (kvctl local-get)."""
    held = []
    for n in nodes:
        rc, _, err = kvctl(n, "local-get", key)
        if rc not in (0, 1):
            fail("kvctl local-get %s on %s exited %d: %s" % (key, n.name, rc, err))
        if rc == 0:
            held.append(n.name)
    return held


def check_readable(node, acked):
    c = RespClient(node.resp_port)
    missing = [k for k, v in acked.items() if c.cmd("GET", k) != v.encode()]
    c.close()
    if missing:
        fail("%d of %d acknowledged writes not readable, e.g. %s" % (len(missing), len(acked), missing[:5]))


def check_placement(nodes, keys, want_holders, why):
    """Each key is held locally by want_holders(key_holders) nodes; retried
    while drops are still pending."""
    def ok():
        for k in keys:
            if not want_holders(holders(nodes, k)):
                return False
        return True
    try:
        wait_for("placement %s" % why, ok, 10 + 3 * DROP_DELAY_MS / 1000.0, poll_s=1.0)
    except AssertionError:
        bad = [(k, holders(nodes, k)) for k in keys[:20]]
        fail("placement %s: %s" % (why, bad))


def test_grow_and_shrink_under_load():
    base = start_cluster(["n1", "n2", "n3"])
    preload(base[0], 3000, "p")
    writer = Writer(base)
    writer.start()
    extra = make_nodes(["n4", "n5"], seed_node=base[0])
    all_nodes = base + extra
    for n in extra:
        n.start()
    t = wait_for("grow to 5: every transfer done", lambda: settled(all_nodes, ["n1", "n2", "n3", "n4", "n5"]),
                 TRANSFER_LIMIT_S)
    print("  grow 3 -> 5 settled in %.1f s" % t)
    received = sum(metric(n, "ringkv_handoff_keys_received_total") for n in extra)
    if received == 0:
        fail("new nodes received no keys by handoff")
    sample = ["p%d" % i for i in range(0, 3000, 100)]
    check_placement(all_nodes, sample, lambda h: len(h) == 3, "at 5 nodes (3 of 5)")
    writer.nodes = all_nodes
    for n in extra:
        rc, out, err = kvctl(n, "leave")
        expect(rc, 0, "kvctl leave on %s: %s" % (n.name, err))
        rc, out, err = kvctl(n, "commit")
        expect(rc, 0, "kvctl commit on %s: %s" % (n.name, err))
        # The next leave is committed on a ring that has this one (two
        # commits of one version race, and gossip keeps only one).
        wait_for("every node has %s's leave" % n.name, lambda: all(leaving_in_ring(m, n.name) for m in all_nodes),
                 FORM_LIMIT_S)
    t = wait_for("shrink to 3: every transfer done", lambda: settled(base, ["n1", "n2", "n3"]), TRANSFER_LIMIT_S,
                 state=lambda: ring_states(all_nodes))
    print("  shrink 5 -> 3 settled in %.1f s" % t)
    writer.stop_flag.set()
    writer.join()
    print("  writer: %d acknowledged, %d failed" % (len(writer.acked), writer.failed))
    if len(writer.acked) < 100:
        fail("the writer got too few writes through: %d" % len(writer.acked))
    check_readable(base[0], writer.acked)
    written = sorted(writer.acked)
    sample += written[:: max(1, len(written) // 30)]
    check_placement(all_nodes, sample, lambda h: sorted(h) == ["n1", "n2", "n3"], "back at 3 nodes")
    stop_all(all_nodes)


def transfers_left(nodes):
    r = ring(nodes[0])
    return r["in_transfer"] if r else -1


def test_crash_of_receiver_and_sender():
    slow = ["--handoff-bytes-per-sec", "48k"]
    base = start_cluster(["n1", "n2", "n3"], extra=slow)
    preload(base[0], 6000, "k", size=512)
    n4 = make_nodes(["n4"], seed_node=base[0], extra=slow)[0]
    nodes = base + [n4]
    n4.start()
    wait_for("n4 receives keys", lambda: metric(n4, "ringkv_handoff_keys_received_total") > 0, 30)
    if transfers_left(base) <= 0:
        fail("transfers finished before the receiver could be killed: lower the budget")
    # kvctl transfers shows the streams to n4 with their progress.
    rc, out, err = kvctl(base[0], "transfers", "--json")
    expect(rc, 0, "kvctl transfers: %s" % err)
    streams = [x for x in json.loads(out)["streams"] if x["to"] == "n4"]
    if not streams or all(x["done"] for x in streams):
        fail("kvctl transfers shows no unfinished stream to n4: %s" % out[:500])
    rc, out, err = kvctl(base[0], "transfers")
    expect(rc, 0, "kvctl transfers (text): %s" % err)
    if "n4" not in out or "[" not in out:
        fail("kvctl transfers text has no progress line for n4:\n%s" % out)
    rc, out, err = kvctl(base[0], "ring")
    if "in transfer (partition" not in out:
        fail("kvctl ring lists no partition in transfer:\n%s" % out)
    n4.kill()
    time.sleep(1.0)
    n4.start()

    # A sender that has made progress since n4 came back (and saved it).
    def streaming_sender():
        rc, out, _ = kvctl(base[0], "transfers", "--json")
        if rc != 0:
            return None
        live = [x for x in json.loads(out)["streams"] if not x["done"] and x["active"] and x["keys_sent"] > 0]
        return live[0]["from"] if live else None
    wait_for("a sender makes progress after n4's restart", lambda: streaming_sender() is not None, 30)
    time.sleep(0.8)  # past a save of its cursors
    name = streaming_sender()
    if name is None or transfers_left(base) <= 0:
        fail("transfers finished before the sender could be killed: lower the budget")
    victim = [n for n in base if n.name == name][0]
    victim.kill()
    time.sleep(1.0)
    victim.start()
    wait_for("%s resumes a stream from its saved cursor" % victim.name, lambda: "stream resumed" in open(victim.log_path, errors="replace").read(), 10)
    t = wait_for("transfers finish after the crashes", lambda: settled(nodes, ["n1", "n2", "n3", "n4"]),
                 TRANSFER_LIMIT_S)
    print("  transfers finished %.1f s after the sender restarted" % t)
    sample = ["k%d" % i for i in range(0, 6000, 200)]
    check_placement(nodes, sample, lambda h: len(h) == 3, "after the crashes (3 of 4)")
    check_readable(base[1], {"k%d" % i: ("v%d-" % i).ljust(512, "x") for i in range(0, 6000, 7)})
    stop_all(nodes)


if __name__ == "__main__":
    harness.run([test_grow_and_shrink_under_load, test_crash_of_receiver_and_sender])
