"""test_lww.py - last-writer-wins mode across real kvnodes (issue #5).

Three kvnodes with --conflict-mode lww (N=3):
  - two writers that read the same version and write concurrently through
    different nodes (the write that would make siblings under dvv) leave
    exactly one value: reads through every node return it, and every
    replica's own copy (kvctl local-get) holds that one value, no sibling;
  - a peer node whose Hello says another conflict mode is refused with an
    error naming both modes; one with the same mode is accepted.

Environment: KVNODE and KVCTL name the binaries (meson sets them).
"""

import json
import os
import subprocess
import threading

import harness
from harness import NativeClient, Node, expect, fail, pb_bytes, pb_int
from test_quorum import kvctl, kv_get, local_get, start_cluster, stop_all

ROLE_NODE = 1
HELLO_CONFLICT_MODE = 6

cluster = []


def test_three_lww_nodes_form_a_ring():
    cluster.extend(start_cluster(3, ["--conflict-mode", "lww"]))


def test_concurrent_writers_leave_one_value():
    n1, n2, n3 = cluster
    for round_ in range(5):
        key = "race%d" % round_
        rc, _, err = kvctl(n1, "put", key, "base", consistency="all")
        expect(rc, 0, "put %s: %s" % (key, err))
        _, ctx = kv_get(n1, key)
        results = {}

        def write(node, value):
            results[value] = kvctl(node, "put", key, value, "--context", ctx, consistency="all")
        threads = [threading.Thread(target=write, args=(n, "from-" + n.name)) for n in (n1, n2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for value, (rc, _, err) in results.items():
            expect(rc, 0, "concurrent put of %s: %s" % (value, err))
        seen = set()
        for n in cluster:
            values, _ = kv_get(n, key, consistency="all")
            if values is None or len(values) != 1:
                fail("%s through %s: want one value, got %r" % (key, n.name, values))
            seen.add(values[0])
        if len(seen) != 1 or seen.pop() not in ("from-n1", "from-n2"):
            fail("%s: nodes disagree or kept a stale value" % key)
        for n in cluster:
            rc, j = local_get(n, key)
            own = [c for c in j["copies"] if c["hint_for"] == ""]
            expect(rc, 0, "local-get %s on %s" % (key, n.name))
            expect(len(own[0]["siblings"]), 1, "stored siblings of %s on %s" % (key, n.name))
            expect(own[0]["siblings"][0]["stamp_ms"] > 0, True, "lww stamp of %s on %s" % (key, n.name))


def hello(node, mode):
    c = NativeClient(node.native_port, hello=False)
    body = (pb_int(1, harness.PROTOCOL_VERSION) + pb_bytes(2, "n9") + pb_bytes(3, "ringkv") +
            pb_int(4, ROLE_NODE) + pb_bytes(HELLO_CONFLICT_MODE, mode))
    r = c.call(harness.ENV_HELLO, body)
    c.close()
    return r


def test_a_peer_with_another_conflict_mode_is_refused():
    n1 = cluster[0]
    r = hello(n1, "dvv")
    if r["status"] == 0 or "conflict mode" not in r["error"] or '"lww"' not in r["error"]:
        fail("hello of a dvv node to an lww node: status %d error %r" % (r["status"], r["error"]))
    expect(hello(n1, "lww")["status"], 0, "hello of a node with the same mode")


def test_a_bad_conflict_mode_is_a_config_error():
    r = subprocess.run([os.environ["KVNODE"], "--node-id", "x", "--conflict-mode", "newest"],
                       capture_output=True, timeout=30)
    expect(r.returncode != 0, True, "kvnode with --conflict-mode newest exits non-zero")
    if b"conflict-mode" not in r.stderr:
        fail("error does not name --conflict-mode: %r" % r.stderr)


def test_stop():
    stop_all(cluster)


if __name__ == "__main__":
    harness.run([test_three_lww_nodes_form_a_ring,
                 test_concurrent_writers_leave_one_value,
                 test_a_peer_with_another_conflict_mode_is_refused,
                 test_a_bad_conflict_mode_is_a_config_error,
                 test_stop])
