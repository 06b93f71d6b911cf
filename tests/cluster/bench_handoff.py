"""bench_handoff.py - time and foreground throughput dip of growing a
cluster from 3 to 5 kvnodes (issue #6; numbers go to docs/BENCHMARKS.md).

Not a test (no pass/fail, not registered in meson): run by hand,
    KVNODE=build/node/kvnode KVCTL=build/client/kvctl KVBENCH=build/bench/kvbench \\
    python3 tests/cluster/bench_handoff.py --keys 200000 --value-size 1000

1. three kvnodes (N=3, Q=256, auto-join) are loaded with KEYS keys of
   VALUE_SIZE bytes (kvbench's load phase);
2. baseline: kvbench workload a (50% read / 50% update) for WINDOW s;
3. two more kvnodes start; kvbench workload a runs in WINDOW s slices
   while the transfers go on, until every node's ring has nothing in
   transfer; the time from the start of n4 to that point is the grow time.
Prints one JSON line per phase.
"""

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from harness import Node  # noqa: E402

KVCTL = os.environ.get("KVCTL", "build/client/kvctl")
KVBENCH = os.environ.get("KVBENCH", "build/bench/kvbench")


def ring(node):
    r = subprocess.run([KVCTL, "--host", "127.0.0.1:%d" % node.native_port, "ring", "--json"],
                       capture_output=True, timeout=30)
    return json.loads(r.stdout) if r.returncode == 0 else None


def settled(nodes, count):
    rings = [ring(n) for n in nodes]
    return all(r and len(r["nodes"]) == count and r["in_transfer"] == 0 for r in rings) and \
        len({r["version"] for r in rings}) == 1


def kvbench(node, args):
    r = subprocess.run([KVBENCH, "--host", "127.0.0.1:%d" % node.native_port, "--json"] + args,
                       capture_output=True, timeout=3600)
    if r.returncode != 0:
        raise SystemExit("kvbench failed: %s" % r.stderr.decode())
    return json.loads(r.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=200000)
    ap.add_argument("--value-size", type=int, default=1000)
    ap.add_argument("--window", type=int, default=10)
    ap.add_argument("--handoff-bytes-per-sec", default="16m")
    a = ap.parse_args()
    nodes = [Node("n%d" % i) for i in range(1, 6)]
    for n in nodes:
        n.extra = ["--seeds", "127.0.0.1:%d" % nodes[0].native_port, "--aae", "off",
                   "--handoff-bytes-per-sec", a.handoff_bytes_per_sec, "--log-level", "warn"]
    for n in nodes[:3]:
        n.start()
    while not settled(nodes[:3], 3):
        time.sleep(0.2)
    common = ["--keys", str(a.keys), "--value-size", str(a.value_size), "--connections", "16",
              "--warmup", "1"]
    t0 = time.monotonic()
    kvbench(nodes[0], common + ["--workload", "c", "--ops", "1"])
    print(json.dumps({"phase": "load", "keys": a.keys, "value_size": a.value_size,
                      "seconds": round(time.monotonic() - t0, 1)}), flush=True)
    base = kvbench(nodes[0], common + ["--no-load", "--workload", "a", "--duration", str(a.window)])
    print(json.dumps({"phase": "baseline", "result": base}), flush=True)
    t0 = time.monotonic()
    for n in nodes[3:]:
        n.start()
    slices = []
    while not settled(nodes, 5):
        res = kvbench(nodes[0], common + ["--no-load", "--workload", "a", "--duration", str(a.window)])
        slices.append(res)
        print(json.dumps({"phase": "during", "t": round(time.monotonic() - t0, 1), "result": res}), flush=True)
    print(json.dumps({"phase": "grown", "seconds": round(time.monotonic() - t0, 1), "slices": len(slices)}),
          flush=True)
    after = kvbench(nodes[0], common + ["--no-load", "--workload", "a", "--duration", str(a.window)])
    print(json.dumps({"phase": "after", "result": after}), flush=True)
    for n in nodes:
        n.stop()
        n.remove()


if __name__ == "__main__":
    main()
