"""test_sdk_routing.py - the C SDK's preference-list routing against real
kvnodes (issue #5 item 8), through kvbench --sdk.

Three kvnodes on loopback with N=2 (so each key has one node that is not
its replica: a write sent there is forwarded to a primary), seeded by n1
with auto-join. kvbench --sdk is given only n1's address:
  - with --no-routing every request goes to n1, which forwards the writes
    of keys it is not a replica of: ringkv_coord_forwarded_writes_total
    grows;
  - with routing on, the SDK fetches the ring from n1 and sends each key
    to its first live primary: no write is forwarded, and n2 and n3
    coordinate requests too (ringkv_coord_operations_total grows there);
  - with n3 SIGKILLed, routed requests for keys whose first primary is n3
    fail over to the other primary (connection refused: nothing was sent;
    then the refreshed ring marks n3 down): no error, still no forwards.

Environment: KVNODE, KVCTL and KVBENCH name the binaries (meson sets them).
"""

import json
import os
import subprocess

import harness
from harness import Node, expect, fail, metric

KVCTL = os.environ.get("KVCTL", "kvctl")
KVBENCH = os.environ.get("KVBENCH", "kvbench")
FORM_LIMIT_S = 30.0
DEAD_LIMIT_S = 10.0
KEYS = 2000
OPS = 4000


def forwarded(nodes):
    return sum(metric(n, "ringkv_coord_forwarded_writes_total") for n in nodes)


def coordinated(node):
    return metric(node, "ringkv_coord_operations_total")


def kvctl_json(node, *args):
    r = subprocess.run([KVCTL, "--host", "127.0.0.1:%d" % node.native_port, "--json"] + list(args),
                       capture_output=True, timeout=30)
    return json.loads(r.stdout) if r.returncode == 0 else None


def wait_for(what, pred, limit_s):
    harness.wait_for(what, pred, limit_s, poll_s=0.1)


def kvbench(node, routing, workload, load):
    args = [KVBENCH, "--sdk", "--host", "127.0.0.1:%d" % node.native_port, "--workload", workload,
            "--keys", str(KEYS), "--ops", str(OPS), "--warmup", "0", "--connections", "4", "--json"]
    if not routing:
        args.append("--no-routing")
    if not load:
        args.append("--no-load")
    r = subprocess.run(args, capture_output=True, timeout=240)
    expect(r.returncode, 0, "kvbench exit code (%s)" % r.stderr.decode()[-500:])
    doc = json.loads(r.stdout)
    expect(doc["mode"], "sdk-routed" if routing else "sdk-unrouted", "kvbench mode")
    return doc


cluster = []


def test_three_nodes_with_two_replicas_form_a_ring():
    first = Node("n1")
    seed = "127.0.0.1:%d" % first.native_port
    nodes = [first, Node("n2"), Node("n3")]
    for n in nodes:
        n.extra = ["--seeds", seed, "--n-replicas", "2"]
        n.start()
    cluster.extend(nodes)

    def formed():
        rings = [kvctl_json(n, "ring") for n in nodes]
        return all(r and r["version"] == rings[0]["version"] and len(r["nodes"]) == 3 for r in rings)
    wait_for("one ring of 3 members everywhere", formed, FORM_LIMIT_S)


def test_without_routing_writes_are_forwarded():
    before = forwarded(cluster)
    doc = kvbench(cluster[0], routing=False, workload="a", load=True)
    expect(doc["total"]["errors"], 0, "errors without routing")
    if forwarded(cluster) <= before:
        fail("no write was forwarded although every request went to n1")


def test_with_routing_no_write_is_forwarded_and_every_node_coordinates():
    before = forwarded(cluster)
    coord_before = [coordinated(n) for n in cluster]
    doc = kvbench(cluster[0], routing=True, workload="a", load=False)
    expect(doc["total"]["errors"], 0, "errors with routing")
    expect(doc["not_found"], 0, "keys loaded earlier are found")
    expect(forwarded(cluster), before, "forwarded writes with routing")
    for n, b in zip(cluster[1:], coord_before[1:]):
        if coordinated(n) <= b:
            fail("%s coordinated nothing: requests did not follow the ring" % n.name)


def test_routing_fails_over_when_a_primary_dies():
    n1, n2, n3 = cluster
    n3.kill()
    wait_for("n3 dead in n1's view",
             lambda: any(m["id"] == "n3" and m["state"] == "dead"
                         for m in (kvctl_json(n1, "members") or {"members": []})["members"]), DEAD_LIMIT_S)
    before = forwarded([n1, n2])
    doc = kvbench(n1, routing=True, workload="b", load=False)
    expect(doc["total"]["errors"], 0, "errors with n3 down")
    expect(forwarded([n1, n2]), before, "forwarded writes with n3 down")


def test_stop():
    for n in cluster:
        if n.alive():
            expect(n.stop(), 0, "exit code of %s" % n.name)
        n.remove()


if __name__ == "__main__":
    harness.run([test_three_nodes_with_two_replicas_form_a_ring,
                 test_without_routing_writes_are_forwarded,
                 test_with_routing_no_write_is_forwarded_and_every_node_coordinates,
                 test_routing_fails_over_when_a_primary_dies,
                 test_stop])
