"""test_hints_cap.py - the per-node cap on hints held (--hints-bytes-max,
issue #8 limits) across real kvnodes.

Four kvnodes (N=3, default W=2, anti-entropy off) with a 2 KiB hint cap;
n4 is SIGKILLed, then:
  - 300 writes of 100-byte values through n1 all succeed: where a
    fallback's hint store is full it refuses the hint and the two live
    primaries still make W=2;
  - every live node holds at most 2 KiB of hints (ringkv_hints_held_bytes,
    the same figure in kvctl stats as coord.hints_held_bytes), and the
    refusals are counted (ringkv_hints_refused_total) and logged;
  - a write with W=ALL to a key n4 is a primary of cannot count the full
    fallback: kvctl reports it in doubt (exit 4), never as success;
  - after n4 restarts, delivery empties the hint stores (held bytes 0).

Environment: KVNODE and KVCTL name the binaries (meson sets them).
"""

import json

import harness
from harness import Node, expect, fail, member_state, metric, wait_ring_formed

CAP_BYTES = 2048
FORM_LIMIT_S = 30.0
DEAD_LIMIT_S = 10.0
HINT_LIMIT_S = 60.0


def kvctl(node, *args, consistency=None):
    return harness.kvctl(node, *args, timeout_ms=3000, consistency=consistency)


def stat(node, name):
    rc, out, err = kvctl(node, "--json", "stats")
    expect(rc, 0, "kvctl stats on %s: %s" % (node.name, err))
    return json.loads(out)[name]


nodes = []


def test_four_nodes_with_a_small_hint_cap():
    first = Node("n1")
    seed = "127.0.0.1:%d" % first.native_port
    nodes.extend([first] + [Node("n%d" % i) for i in range(2, 5)])
    for n in nodes:
        n.extra = ["--seeds", seed, "--n-replicas", "3", "--aae", "off",
                   "--hints-bytes-max", str(CAP_BYTES)]
        n.start()
    wait_ring_formed(nodes, ["n1", "n2", "n3", "n4"], FORM_LIMIT_S)


def test_writes_succeed_while_full_fallbacks_refuse_hints():
    victim, live = nodes[3], nodes[:3]
    victim.kill()
    harness.wait_for("n4 dead in every view", lambda: all(member_state(n, "n4") == "dead" for n in live),
                     DEAD_LIMIT_S, 0.1)
    c1 = live[0].resp()
    for i in range(300):
        expect(c1.cmd("SET", "h%d" % i, "x" * 100), "OK", "SET h%d with n4 down (W=2)" % i)
    c1.close()
    refused = 0
    for n in live:
        held = metric(n, "ringkv_hints_held_bytes")
        if held > CAP_BYTES:
            fail("%s holds %d hint bytes, over the %d cap" % (n.name, held, CAP_BYTES))
        expect(stat(n, "coord.hints_held_bytes"), int(held), "kvctl stats vs /metrics on %s" % n.name)
        refused += metric(n, "ringkv_hints_refused_total")
    if refused <= 0:
        fail("no hint refused although 300 writes needed far more than 3 x %d bytes" % CAP_BYTES)
    if sum(metric(n, "ringkv_hints_held") for n in live) <= 0:
        fail("no hint held at all: the cap should still let the first ones in")
    if not any("--hints-bytes-max" in n.log() for n in live):
        fail("no node logged why it refused hints")


def test_write_all_with_a_full_fallback_is_in_doubt():
    n1 = nodes[0]
    codes = []
    for i in range(12):
        rc, out, err = kvctl(n1, "put", "all%d" % i, "y" * 100, consistency="all")
        codes.append(rc)
        if rc not in (0, 4):
            fail("put all%d with W=ALL: exit %d %s" % (i, rc, err))
        if rc == 4 and "doubt" not in err:
            fail("in doubt put without saying so: %r" % err)
    # About 3 of 4 keys have n4 as a primary: their fallback is full.
    if 4 not in codes:
        fail("no W=ALL write was in doubt with full hint stores: %r" % codes)


def test_delivery_frees_the_hint_stores():
    victim, live = nodes[3], nodes[:3]
    victim.start()
    harness.wait_for("hints delivered to n4",
                     lambda: sum(metric(n, "ringkv_hints_held_bytes") for n in live) == 0, HINT_LIMIT_S, 0.5)
    if sum(metric(n, "ringkv_hints_delivered_total") for n in live) <= 0:
        fail("hint stores emptied without deliveries")
    for n in nodes:
        expect(n.stop(), 0, "exit code of %s" % n.name)
        n.remove()


if __name__ == "__main__":
    harness.run([test_four_nodes_with_a_small_hint_cap,
                 test_writes_succeed_while_full_fallbacks_refuse_hints,
                 test_write_all_with_a_full_fallback_is_in_doubt,
                 test_delivery_frees_the_hint_stores])
