#!/usr/bin/env python3
"""aae_cluster_bench.py - issue #6's anti-entropy measurements with real
kvnode processes on loopback (docs/BENCHMARKS.md, anti-entropy section).

  converge   3 nodes (N=3, Q=256); n3 is SIGKILLed; kvbench loads
             --missed distinct keys through n1 (n3 misses them all: with
             N=3 on 3 nodes there is no fallback, so no hint); n3
             restarts and the time until its Merkle trees hold every key
             (kvctl aae-status, summed) is measured; a sample of keys is
             then checked with kvctl local-get on n3.
  overhead   foreground cost when nothing differs: a fresh 3-node cluster
             with --aae on (exchanges every --interval-ms) or --aae off,
             alternating for --rounds rounds; kvbench workload a (50%
             read / 50% update, zipfian) through n1 for --duration s.

Usage: bench/aae_cluster_bench.py [--build DIR] [converge|overhead|all]
       [--missed N] [--interval-ms MS] [--rounds N] [--duration S]
Stops everything it started, by pid (tests/cluster/harness.py).
"""

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "cluster"))


def kvctl(node, *args):
    r = subprocess.run([KVCTL, "--host", "127.0.0.1:%d" % node.native_port, "--timeout", "10000",
                        "--retries", "0"] + [str(a) for a in args], capture_output=True, timeout=60)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def status(node):
    rc, out, err = kvctl(node, "aae-status", "--json")
    if rc != 0:
        raise RuntimeError("aae-status on %s: %s" % (node.name, err))
    return json.loads(out)


def wait_for(what, pred, limit_s, poll_s=0.2):
    t0 = time.monotonic()
    while not pred():
        if time.monotonic() - t0 > limit_s:
            raise RuntimeError("%s: not within %.0f s" % (what, limit_s))
        time.sleep(poll_s)
    return time.monotonic() - t0


def ring_ids(node):
    rc, out, _ = kvctl(node, "ring", "--json")
    return tuple(sorted(m["id"] for m in json.loads(out).get("nodes", []))) if rc == 0 else ()


def state_of(node, of):
    rc, out, _ = kvctl(node, "members", "--json")
    return {m["id"]: m["state"] for m in json.loads(out)["members"]}.get(of) if rc == 0 else None


def start_cluster(flags):
    nodes = [harness.Node("n%d" % i) for i in (1, 2, 3)]
    seed = "127.0.0.1:%d" % nodes[0].native_port
    for n in nodes:
        n.extra = ["--seeds", seed, "--n-replicas", "3", "--log-level", "warn"] + flags
        n.start()
    wait_for("ring formed", lambda: all(ring_ids(n) == ("n1", "n2", "n3") for n in nodes), 60)
    return nodes


def stop_all(nodes):
    for n in nodes:
        if n.alive():
            n.stop()
        n.remove()


def cpu_s(nodes):
    """User + system CPU seconds the nodes' processes have used so far."""
    total = 0
    for n in nodes:
        with open("/proc/%d/stat" % n.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / os.sysconf("SC_CLK_TCK")


def kvbench(node, *args):
    r = subprocess.run([KVBENCH, "--host", "127.0.0.1:%d" % node.native_port, "--json"] + [str(a) for a in args],
                       capture_output=True, timeout=900)
    if r.returncode != 0:
        raise RuntimeError("kvbench: %s" % r.stderr.decode())
    return json.loads(r.stdout.decode())


def converge(a):
    nodes = start_cluster(["--aae-interval-ms", str(a.interval_ms)])
    n1, _, n3 = nodes
    try:
        wait_for("trees ready", lambda: all(status(n)["totals"]["trees_ready"] == 256 for n in nodes), 120)
        n3.kill()
        wait_for("n3 dead", lambda: state_of(n1, "n3") == "dead", 30)
        t = time.monotonic()
        kvbench(n1, "--workload", "c", "--keys", a.missed, "--ops", 1000, "--warmup", 0, "--connections", 50)
        print("loaded %d keys through n1 in %.1f s (n3 down)" % (a.missed, time.monotonic() - t))
        t0 = time.monotonic()
        n3.start()
        healthy = time.monotonic() - t0

        def keys_n3():
            return sum(p["keys"] for p in status(n3)["partitions"])
        full = wait_for("n3 holds every key", lambda: keys_n3() >= a.missed, 600, poll_s=0.5) + healthy
        s3, s1 = status(n3)["totals"], status(n1)["totals"]
        bad = [k for k in range(0, a.missed, a.missed // 100)
               if kvctl(n3, "local-get", "key:%012d" % k)[0] != 0]
        print(json.dumps({"missed": a.missed, "interval_ms": a.interval_ms, "restart_to_healthy_s": round(healthy, 2),
                          "restart_to_converged_s": round(full, 2), "n3": s3, "n1": s1,
                          "sample_missing_on_n3": len(bad)}))
    finally:
        stop_all(nodes)


def overhead(a):
    results = {"on": [], "off": []}
    cpu = {"on": [], "off": []}
    for r in range(a.rounds):
        for mode in (("on", "off") if r % 2 == 0 else ("off", "on")):
            nodes = start_cluster(["--aae", mode, "--aae-interval-ms", str(a.interval_ms)])
            try:
                if mode == "on":
                    wait_for("trees ready", lambda: all(status(n)["totals"]["trees_ready"] == 256 for n in nodes),
                             120)
                c0 = cpu_s(nodes)
                res = kvbench(nodes[0], "--workload", "a", "--keys", 20000, "--duration", a.duration,
                              "--warmup", 2, "--connections", 50)
                cpu_us = (cpu_s(nodes) - c0) * 1e6
                ex = status(nodes[0])["totals"]["exchanges_started"] if mode == "on" else 0
                tot = res["total"]
                # CPU of the three nodes per measured op (load + warmup + run: same work in both modes)
                per_op = cpu_us / (tot["ops"] + 20000)
                print("round %d aae=%s ops/s %.0f p99 %.0f us errors %d node CPU %.1f us/op exchanges on n1: %d" % (
                    r + 1, mode, tot["ops_per_sec"], tot["latency_us"]["p99"], tot["errors"], per_op, ex), flush=True)
                results[mode].append(tot["ops_per_sec"])
                cpu[mode].append(per_op)
            finally:
                stop_all(nodes)
    on, off = sum(results["on"]) / len(results["on"]), sum(results["off"]) / len(results["off"])
    con, coff = sum(cpu["on"]) / len(cpu["on"]), sum(cpu["off"]) / len(cpu["off"])
    print(json.dumps({"on": results["on"], "off": results["off"], "mean_on": round(on), "mean_off": round(off),
                      "cost_pct": round(100.0 * (off - on) / off, 1), "cpu_us_per_op_on": round(con, 1),
                      "cpu_us_per_op_off": round(coff, 1), "cpu_cost_pct": round(100.0 * (con - coff) / coff, 1)}))


def main():
    global harness, KVCTL, KVBENCH
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("what", nargs="?", default="all", choices=["converge", "overhead", "all"])
    p.add_argument("--build", default="build")
    p.add_argument("--missed", type=int, default=100000)
    p.add_argument("--interval-ms", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=int, default=15)
    a = p.parse_args()
    build = a.build if os.path.isabs(a.build) else os.path.join(ROOT, a.build)
    os.environ["KVNODE"] = os.path.join(build, "node", "kvnode")
    KVCTL = os.path.join(build, "client", "kvctl")
    KVBENCH = os.path.join(build, "bench", "kvbench")
    import harness as h
    harness = h
    if a.what in ("converge", "all"):
        converge(a)
    if a.what in ("overhead", "all"):
        overhead(a)


if __name__ == "__main__":
    main()
