"""soak_membership.py - no false death under load (run through soak_membership.sh).

Starts a cluster of real kvnodes on loopback (auto-join through n1),
waits for one ring, then drives kvbench against every node for
--duration-s seconds while checking every second that no node has seen
any member die (ringkv_gossip_dead_events_total stays 0 everywhere). At
the end every node must still list every member alive. Prints one summary
(load done, probes, suspicions and refutations per node) and exits 1 on
any death, 0 otherwise.

Environment: KVNODE, KVCTL, KVBENCH name the binaries.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import harness
from harness import Node, fail, http_get

KVCTL = os.environ.get("KVCTL", "kvctl")
KVBENCH = os.environ.get("KVBENCH", "kvbench")


def metric(node, name):
    status, body = http_get(node.http_port, "/metrics")
    total = 0.0
    for line in body.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def members(node):
    r = subprocess.run([KVCTL, "--host", "127.0.0.1:%d" % node.native_port, "members", "--json"],
                       capture_output=True, timeout=30)
    if r.returncode != 0:
        return {}
    return {m["id"]: m["state"] for m in json.loads(r.stdout)["members"]}


def ring_version(node):
    r = subprocess.run([KVCTL, "--host", "127.0.0.1:%d" % node.native_port, "ring", "--json"],
                       capture_output=True, timeout=30)
    return json.loads(r.stdout)["version"] if r.returncode == 0 else 0


def form(count):
    nodes = [Node(name="n%d" % (i + 1)) for i in range(count)]
    seed = "127.0.0.1:%d" % nodes[0].native_port
    for n in nodes:
        n.extra = ["--seeds", seed]
        n.start()
    ids = sorted(n.name for n in nodes)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        views = [members(n) for n in nodes]
        versions = {ring_version(n) for n in nodes}
        if all(sorted(v) == ids and set(v.values()) == {"alive"} for v in views) and len(versions) == 1 \
                and 0 not in versions:
            return nodes
        time.sleep(0.2)
    fail("the cluster did not form in 30 s")


def start_load(nodes, duration_s, connections):
    procs = []
    for n in nodes:
        args = [KVBENCH, "--host", "127.0.0.1:%d" % n.native_port, "--workload", "a", "--keys", "20000",
                "--duration", str(duration_s), "--warmup", "0", "--connections", str(connections), "--json"]
        procs.append(subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    return procs


def watch(nodes, procs, duration_s):
    """Checks dead events every second until the load ends; returns the first death seen, or None."""
    names = ["ringkv_gossip_dead_events_total"]
    end = time.monotonic() + duration_s + 120  # kvbench loads its keys before measuring
    while time.monotonic() < end and any(p.poll() is None for p in procs):
        for n in nodes:
            if not n.alive():
                return "%s exited" % n.name
            if metric(n, names[0]) > 0:
                return "%s saw a member die" % n.name
        time.sleep(1)
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration-s", type=int, default=300)
    ap.add_argument("--nodes", type=int, default=5)
    ap.add_argument("--connections", type=int, default=8, help="kvbench connections per node")
    a = ap.parse_args()
    t0 = time.monotonic()
    nodes = form(a.nodes)
    print("soak: %d nodes formed one ring in %.1f s; kvbench (workload a, %d connections) on every node for %d s"
          % (a.nodes, time.monotonic() - t0, a.connections, a.duration_s), flush=True)
    procs = start_load(nodes, a.duration_s, a.connections)
    death = watch(nodes, procs, a.duration_s)
    ops = rate = errors = 0
    for p in procs:
        if p.poll() is None:
            p.kill()
        out, _ = p.communicate()
        try:
            total = json.loads(out.decode())["total"]
            ops, rate, errors = ops + total["ops"], rate + total["ops_per_sec"], errors + total["errors"]
        except (ValueError, KeyError):
            pass
    views = [members(n) for n in nodes]
    not_alive = [(n.name, v) for n, v in zip(nodes, views) if set(v.values()) != {"alive"}]
    print("soak: load %d operations (%.0f ops/s over all nodes, %d errors) in %d s" % (ops, rate, errors,
                                                                                       a.duration_s))
    print("%-4s %8s %8s %11s %9s %11s %6s %6s" % ("node", "probes", "failed", "suspicions", "refuted",
                                                  "refutations", "dead", "stalls"))
    for n in nodes:
        print("%-4s %8d %8d %11d %9d %11d %6d %6d" % (
            n.name, metric(n, "ringkv_gossip_probes_total"), metric(n, "ringkv_gossip_probes_failed_total"),
            metric(n, "ringkv_gossip_suspect_events_total"), metric(n, "ringkv_gossip_false_suspicions_total"),
            metric(n, "ringkv_gossip_refutations_total"), metric(n, "ringkv_gossip_dead_events_total"),
            metric(n, "ringkv_gossip_stalls_total")))
    for n in nodes:
        events = [line for line in n.log().splitlines()
                  if "msg=member suspect" in line or "msg=member dead" in line or "was=suspect" in line
                  or "event loop was blocked" in line]
        for line in events[-20:]:
            print("  %s: %s" % (n.name, line))
    if death or not_alive:
        print("soak: FAILED: %s" % (death or "members not alive at the end: %r" % not_alive))
        for n in nodes:
            print("---- log of %s ----\n%s" % (n.name, n.log()))
        return 1
    print("soak: ok: no member was declared dead on any node")
    return 0


if __name__ == "__main__":
    sys.exit(main())
