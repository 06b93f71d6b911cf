#!/usr/bin/env python3
"""chaos.py - fault campaigns against a real five-node ringkv cluster.

Each run: five kvnodes in their own network namespaces (netlab.py), client
workloads through kvctl for --duration-s seconds while faults chosen from
the run's seed come and go, then healing, a wait for every node to see
every other alive, `kvctl repair` where the build has it, and a checker
that reads every key back at R=ALL over the primaries (which read-repairs)
and compares with the history. The history and the verdict go to
RESULTS/run-<seed>.json.

Workloads (threads, kvctl per operation, hosts tried in a random order):
  unique   put u<i> = "u<i>", each key written once;
  set      read-modify-write of s0..s3: get --json, union of the elements
           of every sibling, add e<i>, put --context (two writers race, so
           siblings appear and are merged by union);
  counter  incr c0..c2 by 1;
  delete   put d<i>, then del d<i> with the put's context.
Outcomes from kvctl's exit code: 0 ok, 1 not found, 3 failed (nothing
applied), 4 in doubt, 5 unreachable (nothing applied), a killed kvctl is
in doubt.

Faults (one at a time, each for 3-10 s, 2-6 s apart): kill -9 and a
restart, SIGSTOP/SIGCONT, a majority/minority partition, a bridge (one node
sees both halves), a one-way cut, clock skew (restart with a skewed wall
clock, then without), disk full (a filler file on the node's tmpfs; healing
removes it and restarts the node, whose engine stopped writing), and a
graceful restart.

Checker: lost = an acknowledged write (unique put, set element, delete's
put not deleted) absent at the end; resurrected = a key whose delete was
acknowledged found at the end; phantom = a value no client ever tried to
write, or a value of a write that answered "failed" (3) or
"unreachable" (5); counters: acknowledged <= final <= acknowledged + in
doubt. Also: the share of writes that succeed while exactly one node is
killed or paused and nothing else is wrong.

Usage: chaos.py [--runs N] [--duration-s S] [--seed S] [--results DIR]
                [--faults kill,pause,...]   (tests/chaos/summarize.py DIR totals)
Exit 0: every run clean; 1: an anomaly (see the JSON); 77: skipped (no
network namespaces: not root). KVNODE and KVCTL name the binaries.
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netlab  # noqa: E402

SKIP = 77
HEAL_LIMIT_S = 120.0        # every node alive in every view after healing
FINAL_READ_TRIES = 20
FAULT_GAP_S = (2.0, 6.0)    # quiet time between faults
FAULT_LEN_S = (3.0, 10.0)   # how long a fault lasts
SET_KEYS = 4
COUNTER_KEYS = 3
FAULT_KINDS = ("kill", "pause", "partition", "bridge", "oneway", "skew", "diskfull", "restart")

EXIT_STATUS = {0: "ok", 1: "notfound", 3: "fail", 4: "indoubt", 5: "fail"}


class History:
    """Operations and faults with times (seconds since the run started)."""

    def __init__(self):
        self.t0 = time.monotonic()
        self.ops = []
        self.faults = []
        self.mu = threading.Lock()

    def now(self):
        return round(time.monotonic() - self.t0, 3)

    def invoke(self, kind, key, value=None):
        op = {"id": 0, "kind": kind, "key": key, "value": value, "invoke": self.now(),
              "complete": None, "status": "pending"}
        with self.mu:
            op["id"] = len(self.ops)
            self.ops.append(op)
        return op

    def complete(self, op, rc, err=""):
        op["complete"] = self.now()
        op["status"] = "indoubt" if rc is None else EXIT_STATUS.get(rc, "fail")
        op["exit"] = rc
        if rc not in (0, 1) and err:
            op["error"] = err.strip()[:200]


class Run:
    def __init__(self, lab, seed, duration_s, kinds=FAULT_KINDS):
        self.kinds = kinds
        self.lab = lab
        self.seed = seed
        self.duration_s = duration_s
        self.rng = random.Random(seed)
        self.h = History()
        self.stop = threading.Event()
        self.serial = 0
        self.serial_mu = threading.Lock()
        self.active = []            # faults in progress
        self.active_mu = threading.Lock()

    def next_serial(self):
        with self.serial_mu:
            self.serial += 1
            return self.serial

    def hosts(self, rng):
        addrs = [n.addr for n in self.lab.nodes]
        rng.shuffle(addrs)
        return addrs

    def call(self, rng, *args, **kw):
        return self.lab.kvctl(self.hosts(rng), *args, **kw)

    # ---- workloads ----

    def w_unique(self, rng):
        while not self.stop.is_set():
            key = "u%d" % self.next_serial()
            op = self.h.invoke("put", key, key)
            rc, _, err = self.call(rng, "put", key, key)
            self.h.complete(op, rc, err)

    def w_set(self, rng):
        while not self.stop.is_set():
            key = "s%d" % rng.randrange(SET_KEYS)
            rd = self.h.invoke("get", key)
            rc, out, err = self.call(rng, "--json", "get", key)
            self.h.complete(rd, rc, err)
            if rc not in (0, 1):
                time.sleep(0.05)
                continue
            j = json.loads(out) if out.strip() else {}
            if not j.get("context"):
                continue  # a blind write would supersede siblings it never saw: not a set update
            elems = set()
            for s in j.get("siblings", []):
                elems.update(e for e in s.get("value", "").split(",") if e)
            elem = "e%d" % self.next_serial()
            elems.add(elem)
            value = ",".join(sorted(elems))
            ctx = j.get("context") or ""
            op = self.h.invoke("add", key, elem)
            args = ["put", key, value] + (["--context", ctx] if ctx else [])
            rc, _, err = self.call(rng, *args)
            self.h.complete(op, rc, err)

    def w_counter(self, rng):
        while not self.stop.is_set():
            key = "c%d" % rng.randrange(COUNTER_KEYS)
            op = self.h.invoke("incr", key, 1)
            rc, _, err = self.call(rng, "incr", key)
            self.h.complete(op, rc, err)

    def w_delete(self, rng):
        while not self.stop.is_set():
            key = "d%d" % self.next_serial()
            op = self.h.invoke("put", key, key)
            rc, out, err = self.call(rng, "--json", "put", key, key)
            self.h.complete(op, rc, err)
            if rc != 0:
                continue
            ctx = json.loads(out).get("context") or ""
            op = self.h.invoke("del", key)
            rc, _, err = self.call(rng, "del", key, *(["--context", ctx] if ctx else []))
            self.h.complete(op, rc, err)

    # ---- faults ----

    def record_fault(self, kind, nodes, **detail):
        f = {"kind": kind, "nodes": [n.name for n in nodes], "start": self.h.now(), "end": None}
        f.update(detail)
        with self.h.mu:
            self.h.faults.append(f)
        return f

    def inject(self, kind, victims):
        """Starts a fault; returns the function that heals it."""
        lab, rng = self.lab, self.rng
        v = victims[0]
        if kind == "kill":
            v.kill()
            return v.start
        if kind == "pause":
            v.pause()
            return v.resume
        if kind == "restart":
            v.stop()
            v.start()
            return lambda: None
        if kind == "skew":
            v.skew_ms = rng.choice((-1, 1)) * rng.randrange(5000, 300000)
            v.stop()
            v.start()

            def unskew():
                v.skew_ms = 0
                v.stop()
                v.start()
            return unskew
        if kind == "diskfull":
            self.h.faults[-1]["filled_bytes"] = v.fill_disk()

            def free():
                v.free_disk()
                v.kill()  # its engine stopped at the first failed write: restart it
                v.start()
            return free
        if kind in ("partition", "bridge"):
            names = [n for n in lab.nodes]
            rng.shuffle(names)
            if kind == "partition":
                a, b = names[:2], names[2:]
            else:  # names[0] is the bridge: it sees both halves
                a, b = names[1:3], names[3:]
            for x in a:
                for y in b:
                    x.drop_from(y)
                    y.drop_from(x)
            return lambda: [n.heal_net() for n in a + b]
        if kind == "oneway":
            v.drop_from(victims[1])  # v no longer hears victims[1]; the reverse works
            return v.heal_net
        raise ValueError(kind)

    def fault_loop(self):
        rng = self.rng
        end = time.monotonic() + self.duration_s
        while time.monotonic() < end and not self.stop.is_set():
            time.sleep(rng.uniform(*FAULT_GAP_S))
            if time.monotonic() >= end:
                break
            kind = rng.choice(self.kinds)
            victims = rng.sample(self.lab.nodes, 2)
            shown = victims[:2] if kind == "oneway" else victims[:1]
            if kind in ("partition", "bridge"):
                shown = []
            f = self.record_fault(kind, shown)
            try:
                heal = self.inject(kind, victims)
                if kind == "skew":
                    f["skew_ms"] = victims[0].skew_ms
                f["active"] = self.h.now()
                time.sleep(min(rng.uniform(*FAULT_LEN_S), max(0.0, end - time.monotonic())))
                heal()
            except (RuntimeError, OSError) as e:
                f["error"] = str(e)[:300]
                self.heal_everything()
            f["end"] = self.h.now()

    def heal_everything(self):
        for n in self.lab.nodes:
            n.heal_net()
            n.free_disk()
            if n.paused:
                n.resume()
        for n in self.lab.nodes:
            if n.skew_ms or not n.alive():
                n.skew_ms = 0
                n.stop()
                n.start()

    # ---- the run ----

    def create_sets(self):
        """Each set key starts as "init", so every update has a context."""
        rng = random.Random(self.seed)
        for k in range(SET_KEYS):
            key = "s%d" % k
            for _ in range(10):
                op = self.h.invoke("add", key, "init")
                rc, _, err = self.call(rng, "put", key, "init")
                self.h.complete(op, rc, err)
                if rc == 0:
                    break

    def execute(self):
        self.create_sets()
        workers = [self.w_unique, self.w_set, self.w_set, self.w_counter, self.w_delete]
        threads = [threading.Thread(target=w, args=(random.Random(self.seed * 31 + i),), daemon=True)
                   for i, w in enumerate(workers)]
        for t in threads:
            t.start()
        self.fault_loop()
        self.stop.set()
        for t in threads:
            t.join(timeout=netlab.KVCTL_LIMIT_S * 3)
        self.heal_everything()
        deadline = time.monotonic() + HEAL_LIMIT_S
        while not self.lab.all_alive_everywhere():
            if time.monotonic() > deadline:
                raise RuntimeError("nodes still not alive everywhere %.0f s after healing" % HEAL_LIMIT_S)
            time.sleep(1)
        repair = self.repair()
        time.sleep(5)  # hints in flight reach their owners
        verdict = check(self)
        verdict["repair"] = repair
        return verdict

    def repair(self):
        """`kvctl repair` if this build has it (anti-entropy), else None."""
        rc, out, err = self.lab.kvctl([self.lab.nodes[0].addr], "repair", "--help", timeout_ms=2000)
        if rc != 0:
            return None
        rc, out, err = self.lab.kvctl([self.lab.nodes[0].addr], "repair", timeout_ms=60000)
        return {"exit": rc, "out": (out + err).strip()[:300]}

    def final_read(self, key):
        """(found, values) at R=ALL over the primaries, retried."""
        for _ in range(FINAL_READ_TRIES):
            rc, out, _ = self.lab.kvctl([n.addr for n in self.lab.nodes], "--json", "get", key,
                                        extra=("--consistency", "all", "--primary-only"),
                                        timeout_ms=5000)
            if rc == 1:
                return False, []
            if rc == 0:
                j = json.loads(out)
                return True, [s.get("value", s.get("value_base64", "")) for s in j["siblings"]]
            time.sleep(1)
        raise RuntimeError("final read of %s failed %d times" % (key, FINAL_READ_TRIES))


def check(run):
    ops = run.h.ops
    keys = sorted({op["key"] for op in ops if op["kind"] != "get"})
    final = {k: run.final_read(k) for k in keys}
    lost, resurrected, phantom, counters = [], [], [], []
    attempted = {}   # (key, value) -> statuses of the writes of it
    for op in ops:
        if op["kind"] in ("put", "add"):
            attempted.setdefault((op["key"], op["value"]), []).append(op["status"])
    # A delete with a context writes its tombstone even where the coordinator
    # saw no live value (coord_local.c), answering "not found": acknowledged too.
    deleted_ok = {op["key"] for op in ops if op["kind"] == "del" and op["status"] in ("ok", "notfound")}
    deleted_any = {op["key"] for op in ops if op["kind"] == "del" and op["status"] != "fail"}
    for key, (found, values) in final.items():
        elems = set()
        for v in values:
            elems.update(v.split(",") if key.startswith("s") else [v])
        if key.startswith("c"):
            continue
        if key in deleted_ok and found:
            resurrected.append({"key": key, "values": values})
        for e in elems:
            st = attempted.get((key, e))
            if not st or all(s == "fail" for s in st):
                phantom.append({"key": key, "value": e, "writes": st or []})
        for op in ops:
            if op["key"] != key or op["kind"] not in ("put", "add") or op["status"] != "ok":
                continue
            if key in deleted_any:
                continue  # superseded by a delete that may have applied
            if op["value"] not in elems:
                lost.append({"op": op["id"], "key": key, "value": op["value"], "final": values})
    for c in sorted(k for k in keys if k.startswith("c")):
        ok = sum(1 for op in ops if op["key"] == c and op["kind"] == "incr" and op["status"] == "ok")
        doubt = sum(1 for op in ops if op["key"] == c and op["kind"] == "incr"
                    and op["status"] in ("indoubt", "pending"))
        found, values = final[c]
        value = int(values[0]) if found and len(values) == 1 else None
        entry = {"key": c, "ok": ok, "indoubt": doubt, "final": values}
        if value is None and ok + doubt > 0 or value is not None and not ok <= value <= ok + doubt:
            counters.append(entry)
    writes = [op for op in ops if op["kind"] != "get"]
    return {
        "operations": len(ops),
        "writes": len(writes),
        "acknowledged_writes": sum(1 for op in writes if succeeded(op)),
        "indoubt_writes": sum(1 for op in writes if op["status"] in ("indoubt", "pending")),
        "keys_checked": len(keys),
        "faults": len(run.h.faults),
        "lost": lost, "resurrected": resurrected, "phantom": phantom, "counter_violations": counters,
        "one_node_down": one_node_share(run.h),
        "final": {k: {"found": f, "values": v} for k, (f, v) in final.items()},
        "clean": not (lost or resurrected or phantom or counters),
    }


def succeeded(op):
    """A write that was acknowledged (a delete with a context that answers
    "not found" still wrote its tombstone: acknowledged too)."""
    return op["status"] == "ok" or (op["kind"] == "del" and op["status"] == "notfound")


def one_node_share(h):
    """Writes invoked while exactly one fault was active and it was a kill or
    a pause of one node (from the fault's start to its end, detection
    time included): how many, and how many succeeded."""
    total = ok = 0
    for op in h.ops:
        if op["kind"] == "get":
            continue
        t = op["invoke"]
        active = [f for f in h.faults if f["start"] <= t and (f["end"] is None or t < f["end"])]
        if len(active) == 1 and active[0]["kind"] in ("kill", "pause"):
            total += 1
            ok += succeeded(op)
    return {"writes": total, "ok": ok, "share": round(ok / total, 4) if total else None}


def one_run(args, seed):
    lab = netlab.Lab(args.kvnode, args.kvctl)
    result = {"seed": seed, "duration_s": args.duration_s, "fault_kinds": list(args.faults), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    run = None
    try:
        lab.build()
        lab.start_cluster()
        run = Run(lab, seed, args.duration_s, args.faults)
        result["verdict"] = run.execute()
    except (RuntimeError, OSError) as e:
        result["error"] = str(e)
    finally:
        if run:
            result["faults"] = run.h.faults
            result["history"] = run.h.ops
        clean = "verdict" in result and result["verdict"]["clean"]
        if not clean:  # keep the node logs next to the history
            logs = os.path.join(args.results, "logs-%d" % seed)
            os.makedirs(logs, exist_ok=True)
            for n in lab.nodes:
                if os.path.exists(n.log_path):
                    shutil.copy(n.log_path, logs)
        lab.close()
    path = os.path.join(args.results, "run-%d.json" % seed)
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    return result, path


def main():
    p = argparse.ArgumentParser(description="ringkv fault campaigns on a real 5-node cluster "
                                "(network namespaces; root).")
    p.add_argument("--runs", type=int, default=1, help="runs, seeds seed .. seed+runs-1")
    p.add_argument("--duration-s", type=float, default=45.0, help="faults and workload per run")
    p.add_argument("--seed", type=int, default=1, help="seed of the first run")
    p.add_argument("--results", default="chaos-results", help="directory for run-<seed>.json")
    p.add_argument("--faults", default=",".join(FAULT_KINDS),
                   help="fault kinds to choose from (default all: %(default)s); "
                   "'kill,pause' measures availability with one node of five down")
    p.add_argument("--kvnode", default=os.environ.get("KVNODE", "build/node/kvnode"))
    p.add_argument("--kvctl", default=os.environ.get("KVCTL", "build/client/kvctl"))
    args = p.parse_args()
    args.faults = tuple(k for k in args.faults.split(",") if k)
    unknown = [k for k in args.faults if k not in FAULT_KINDS]
    if unknown or not args.faults:
        p.error("unknown fault kinds %s (known: %s)" % (unknown, ",".join(FAULT_KINDS)))
    why = netlab.netns_unavailable()
    if why:
        print("chaos: SKIP: %s" % why)
        return SKIP
    args.kvnode = os.path.abspath(args.kvnode)
    args.kvctl = os.path.abspath(args.kvctl)
    for binary in (args.kvnode, args.kvctl):
        r = subprocess.run([binary, "--help"], capture_output=True)
        if r.returncode != 0:
            print("chaos: %s --help exited %d: %s" % (binary, r.returncode,
                                                      r.stderr.decode("utf-8", "replace").strip()))
            return 2
    os.makedirs(args.results, exist_ok=True)
    bad = 0
    for seed in range(args.seed, args.seed + args.runs):
        result, path = one_run(args, seed)
        v = result.get("verdict")
        if not v:
            bad += 1
            print("chaos: seed %d: ERROR %s (%s)" % (seed, result.get("error"), path), flush=True)
            continue
        bad += not v["clean"]
        od = v["one_node_down"]
        print("chaos: seed %d: %s faults=%d ops=%d acked_writes=%d indoubt=%d lost=%d resurrected=%d "
              "phantom=%d counter_violations=%d one_node_down=%s/%s (%s)" % (
                  seed, "clean" if v["clean"] else "ANOMALY", v["faults"], v["operations"],
                  v["acknowledged_writes"], v["indoubt_writes"], len(v["lost"]), len(v["resurrected"]),
                  len(v["phantom"]), len(v["counter_violations"]), od["ok"], od["writes"], path), flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
