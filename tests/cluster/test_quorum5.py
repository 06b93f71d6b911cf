"""test_quorum5.py - quorum behaviour across five real kvnodes (issue #5).

Five kvnodes (N=3, R=2, W=2 by default), seeded by n1 with auto-join,
--siblings-max 3 and --value-bytes-max 64k, then:
  - with n5 SIGKILLed, writes through n1 keep succeeding (W=2, fallbacks
    keep hints); after n5 restarts the hints drain (/metrics
    ringkv_hints_held back to 0, deliveries counted) and, checked node by
    node with kvctl local-get, exactly N=3 nodes hold each acknowledged
    key in their own replica, with its value, and no node keeps a hint;
  - a W=ALL delete leaves a tombstone on each of the key's 3 replicas
    (local-get exit 1, "tombstone") and every node reads it as absent; a
    TTL'd value carries the same expiry on every replica and reads as
    absent everywhere once it passes;
  - concurrent writes with one context make siblings through kvctl and
    through a raw native-protocol client; every replica stores both; a
    write with the context of the read that saw them resolves them;
  - limits are reported, never silently trimmed: a write that would make
    a 4th sibling fails (kvctl exit 3, "too big") and the 3 stay; a value
    over --value-bytes-max fails the same way and nothing is stored.

Environment: KVNODE and KVCTL name the binaries (meson sets them).
"""

import json
import os
import tempfile

import harness
from harness import NativeClient, expect, fail, pb_bytes, pb_decode
from test_quorum import (HINT_LIMIT_S, kill_and_wait_dead, kv_get, kvctl, local_get, metric,
                         restart_and_wait_up, start_cluster, stop_all, wait_for)

SIBLINGS_MAX = 3
VALUE_BYTES_MAX = 64 * 1024
KEYS = 60

cluster = []


def holders(key, value=None):
    """Nodes whose own replica holds a live value of key (equal to value if given),
    and the number of hint copies of it held anywhere."""
    held, hints = [], 0
    for n in cluster:
        rc, j = local_get(n, key)
        hints += sum(1 for c in j["copies"] if c["hint_for"])
        own = [c for c in j["copies"] if c["hint_for"] == ""]
        live = [s["value"] for c in own for s in c["siblings"] if not s["tombstone"] and not s["expired"]]
        if rc == 0 and (value is None or live == [value]):
            held.append(n)
    return held, hints


def replicas_of(key):
    """The nodes that store key's replica (own copy present, whatever it holds)."""
    return [n for n in cluster if local_get(n, key)[1]["held"]]


def test_five_nodes_form_a_ring():
    cluster.extend(start_cluster(5, ["--siblings-max", str(SIBLINGS_MAX),
                                     "--value-bytes-max", str(VALUE_BYTES_MAX)]))


def test_hints_drain_and_every_replica_holds_every_acknowledged_write():
    n1, victim = cluster[0], cluster[4]
    kill_and_wait_dead(cluster, victim)
    c1 = n1.resp()
    for i in range(KEYS):
        expect(c1.cmd("SET", "w%d" % i, "val%d" % i), "OK", "SET w%d with n5 down (W=2)" % i)
    c1.close()
    live = cluster[:4]
    stored = sum(metric(n, "ringkv_hints_stored_total") for n in live)
    if stored == 0:
        fail("no hint stored for n5 although it is a primary of some of %d keys" % KEYS)
    restart_and_wait_up(cluster, victim)
    wait_for("hints for n5 drained", lambda: sum(metric(n, "ringkv_hints_held") for n in live) == 0,
             HINT_LIMIT_S, poll_s=0.5)
    delivered = sum(metric(n, "ringkv_hints_delivered_total") for n in live)
    expect(delivered >= 1, True, "hints delivered (%d stored)" % stored)
    on_n5 = 0
    for i in range(KEYS):
        held, hints = holders("w%d" % i, "val%d" % i)
        if len(held) != 3 or hints:
            fail("w%d: own replicas with the value on %r (want 3 nodes), %d hint copies left" %
                 (i, [n.name for n in held], hints))
        on_n5 += victim in held
    expect(on_n5 > 0, True, "n5 is a replica of some key and holds it after the hints")


def test_delete_and_ttl_across_replicas():
    rc, _, err = kvctl(cluster[0], "put", "gone", "soon", consistency="all")
    expect(rc, 0, "put gone: %s" % err)
    reps = replicas_of("gone")
    expect(len(reps), 3, "replicas of gone")
    rc, _, err = kvctl(cluster[1], "del", "gone", consistency="all")
    expect(rc, 0, "del gone with W=ALL: %s" % err)
    for n in reps:
        rc, j = local_get(n, "gone")
        expect((rc, j["tombstone"], j["live"]), (1, True, 0), "tombstone of gone on " + n.name)
    for n in cluster:
        expect(kv_get(n, "gone")[0], None, "gone read through " + n.name)

    rc, _, err = kvctl(cluster[2], "put", "brief", "v", "--ttl", "1500", consistency="all")
    expect(rc, 0, "put brief --ttl: %s" % err)
    reps = replicas_of("brief")
    expect(len(reps), 3, "replicas of brief")
    expiries = set()
    for n in reps:
        rc, j = local_get(n, "brief")
        expect(rc, 0, "brief live on " + n.name)
        expiries.update(s["expires_at_ms"] for c in j["copies"] for s in c["siblings"])
    if len(expiries) != 1 or 0 in expiries:
        fail("brief: replicas disagree on the expiry or have none: %r" % expiries)

    def expired_everywhere():
        return all(local_get(n, "brief")[0] == 1 for n in reps)
    wait_for("brief expired on every replica", expired_everywhere, 10.0, poll_s=0.3)
    for n in reps:
        rc, out, err = kvctl(n, "local-get", "brief")
        if rc != 1 or "expired" not in err:
            fail("local-get of an expired key on %s: exit %d %r" % (n.name, rc, err))
    for n in cluster:
        expect(kv_get(n, "brief")[0], None, "brief read through " + n.name + " after expiry")
        expect(kvctl(n, "ttl", "brief")[0], 1, "kvctl ttl of expired brief through " + n.name)


# ---- a raw native-protocol client with contexts (kv.proto Get / Put) ----

def native_get(node, key):
    """(sorted values, context) of key through node's native port."""
    c = NativeClient(node.native_port)
    r = c.call(harness.ENV_GET, pb_bytes(1, key))
    c.close()
    expect(r["status"], 0, "native get status: %s" % r["error"])
    reply = pb_decode(r["fields"][harness.ENV_GET_REPLY][0])
    values = sorted(pb_decode(s).get(1, [b""])[0] for s in reply.get(2, []))
    return values, reply.get(3, [b""])[0]


def native_put(node, key, value, context=b""):
    c = NativeClient(node.native_port)
    body = pb_bytes(1, key) + pb_bytes(2, value) + (pb_bytes(3, context) if context else b"")
    r = c.call(harness.ENV_PUT, body)
    c.close()
    return r["status"], r["error"]


def test_siblings_through_kvctl_and_a_native_client():
    n1, n2, n3 = cluster[0], cluster[1], cluster[2]
    # kvctl
    expect(kvctl(n1, "put", "sk", "base", consistency="all")[0], 0, "put sk")
    _, ctx = kv_get(n1, "sk")
    expect(kvctl(n1, "put", "sk", "a", "--context", ctx, consistency="all")[0], 0, "put a")
    expect(kvctl(n2, "put", "sk", "b", "--context", ctx, consistency="all")[0], 0, "put b")
    values, ctx2 = kv_get(n3, "sk", consistency="all")
    expect(values, ["a", "b"], "siblings through kvctl")
    for n in replicas_of("sk"):
        rc, j = local_get(n, "sk")
        expect((rc, j["live"]), (0, 2), "both siblings stored on " + n.name)
    expect(kvctl(n3, "put", "sk", "ab", "--context", ctx2, consistency="all")[0], 0, "resolving put")
    expect(kv_get(n1, "sk", consistency="all")[0], ["ab"], "resolved through kvctl")
    # a raw native client
    expect(native_put(n1, b"sn", b"base")[0], 0, "native put base")
    _, nctx = native_get(n2, b"sn")
    expect(native_put(n1, b"sn", b"x", nctx)[0], 0, "native put x")
    expect(native_put(n2, b"sn", b"y", nctx)[0], 0, "native put y")
    values, nctx2 = native_get(n3, b"sn")
    expect(values, [b"x", b"y"], "siblings through the native client")
    expect(native_put(n3, b"sn", b"xy", nctx2)[0], 0, "native resolving put")
    expect(native_get(n1, b"sn")[0], [b"xy"], "resolved through the native client")


def test_limits_are_reported_never_trimmed():
    n1 = cluster[0]
    expect(kvctl(n1, "put", "lim", "base", consistency="all")[0], 0, "put lim")
    _, ctx = kv_get(n1, "lim")
    for i in range(SIBLINGS_MAX):
        rc, _, err = kvctl(cluster[i % 2], "put", "lim", "s%d" % i, "--context", ctx, consistency="all")
        expect(rc, 0, "sibling %d: %s" % (i, err))
    rc, out, err = kvctl(n1, "put", "lim", "one-too-many", "--context", ctx, consistency="all")
    if rc != 3 or "too big" not in err.lower():
        fail("write past --siblings-max: exit %d, %r %r" % (rc, out, err))
    values, ctx_all = kv_get(cluster[3], "lim", consistency="all")
    expect(values, ["s0", "s1", "s2"], "siblings kept after the refused write")
    expect(kvctl(n1, "put", "lim", "merged", "--context", ctx_all)[0], 0, "resolving the siblings")
    expect(kv_get(n1, "lim", consistency="all")[0], ["merged"], "after resolution")
    with tempfile.NamedTemporaryFile(delete=False) as f:
        f.write(b"z" * (VALUE_BYTES_MAX + 1))
    try:
        rc, out, err = kvctl(n1, "put", "big", "--file", f.name)
    finally:
        os.unlink(f.name)
    if rc != 3 or "too big" not in err.lower():
        fail("value over --value-bytes-max: exit %d, %r %r" % (rc, out, err))
    for n in cluster:
        rc, j = local_get(n, "big")
        expect((rc, j["held"]), (1, False), "nothing of big stored on " + n.name)


def test_stop():
    stop_all(cluster)


if __name__ == "__main__":
    harness.run([test_five_nodes_form_a_ring,
                 test_hints_drain_and_every_replica_holds_every_acknowledged_write,
                 test_delete_and_ttl_across_replicas,
                 test_siblings_through_kvctl_and_a_native_client,
                 test_limits_are_reported_never_trimmed,
                 test_stop])
