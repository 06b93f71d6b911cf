"""test_quorum.py - quorum reads and writes across real kvnodes (issue #5).

Three kvnodes on loopback (N=3, default R=2, W=2), seeded by n1 with
auto-join, then:
  - a write through n1's RESP port is readable through n2 and n3;
  - with n3 SIGKILLed (and seen dead), writes through n1 still succeed
    (W=2); after n3 restarts, a primary-only R=ALL read returns every
    acknowledged write, and afterwards n3's own copy (R=ONE read through
    n3, which answers from its local copy first) holds them;
  - with n3 down, a read with R=ALL fails with a clear error (kvctl exit
    3 or 5, "unavailable" on stderr) and prints no value;
  - concurrent writes through n1 and n2 with the same context (kvctl, the
    C SDK) become two siblings; a write with the context of the read that
    saw both resolves them.
Then four kvnodes (N=3; with three, N=3 leaves no fallback to hold a
hint): with n4 SIGKILLed, writes for keys it is a primary of go to a
fallback as hints (sloppy quorum); after its restart, before any read of
those keys, the hints are delivered: its own copy holds every key.

Environment: KVNODE and KVCTL name the binaries (meson sets them);
RINGKV_TEST_LOG_LEVEL sets the nodes' --log-level (default info).
"""

import json
import os

import harness
from harness import Node, expect, fail, member_state, metric, wait_ring_formed

FORM_LIMIT_S = 30.0      # cluster formed: every node has the full ring
DEAD_LIMIT_S = 10.0      # a SIGKILLed node is dead in the others' view
HINT_LIMIT_S = 30.0      # hints reach a restarted node
POLL_S = 0.1


def kvctl(node, *args, consistency=None, primary_only=False):
    """harness.kvctl with a 3 s timeout."""
    return harness.kvctl(node, *args, timeout_ms=3000, consistency=consistency, primary_only=primary_only)


def kv_get(node, key, **kw):
    """The siblings' values (sorted) and context of key, or None if not found."""
    rc, out, err = kvctl(node, "--json", "get", key, **kw)
    if rc == 1:
        return None, json.loads(out)["context"] if out.strip() else None
    if rc != 0:
        fail("kvctl get %s on %s exited %d: %s" % (key, node.name, rc, err))
    j = json.loads(out)
    return sorted(s["value"] for s in j["siblings"]), j["context"]


def wait_for(what, pred, limit_s, poll_s=POLL_S):
    """harness.wait_for polling every 0.1 s."""
    return harness.wait_for(what, pred, limit_s, poll_s)


def start_cluster(count, extra=()):
    """count nodes seeded by n1, auto-join (plus extra kvnode flags); returns
    them once all share one full ring."""
    first = Node("n1")
    seed = "127.0.0.1:%d" % first.native_port
    nodes = [first] + [Node("n%d" % i) for i in range(2, count + 1)]
    for n in nodes:
        # --aae off: these tests prove that read repair and hints bring a
        # returning replica up to date; anti-entropy would do it first
        # (test_aae.py covers that).
        n.extra = ["--seeds", seed, "--n-replicas", "3", "--aae", "off",
                   "--log-level", os.environ.get("RINGKV_TEST_LOG_LEVEL", "info")] + list(extra)
        n.start()
    wait_ring_formed(nodes, ["n%d" % i for i in range(1, count + 1)], FORM_LIMIT_S)
    return nodes


def stop_all(nodes):
    for n in nodes:
        if n.alive():
            expect(n.stop(), 0, "exit code of %s" % n.name)
        n.remove()


def kill_and_wait_dead(nodes, victim):
    victim.kill()
    others = [n for n in nodes if n is not victim]
    wait_for("%s dead in every view" % victim.name,
             lambda: all(member_state(n, victim.name) == "dead" for n in others), DEAD_LIMIT_S)


def restart_and_wait_up(nodes, victim):
    victim.start()
    wait_for("%s alive in every view" % victim.name,
             lambda: all(member_state(n, victim.name) == "alive" for n in nodes), DEAD_LIMIT_S)


cluster = []


def test_three_nodes_form_a_ring():
    # Anti-entropy off: these tests watch read repair and hints alone (a
    # returning node repaired by an exchange first would leave read repair
    # nothing to do); test_aae.py covers anti-entropy.
    cluster.extend(start_cluster(3, ["--aae", "off"]))


def test_write_through_one_node_is_read_through_the_others():
    n1, n2, n3 = cluster
    c1 = n1.resp()
    for i in range(50):
        expect(c1.cmd("SET", "k%d" % i, "v%d" % i), "OK", "SET through n1")
    c1.close()
    for other in (n2, n3):
        c = other.resp()
        for i in range(50):
            expect(c.cmd("GET", "k%d" % i), b"v%d" % i, "GET k%d through %s" % (i, other.name))
        c.close()


def local_get(node, key):
    """(exit code, parsed --json output or None) of kvctl local-get on node."""
    rc, out, err = kvctl(node, "--json", "local-get", key)
    if rc not in (0, 1):
        fail("kvctl local-get %s on %s exited %d: %s" % (key, node.name, rc, err))
    return rc, json.loads(out)


def replica_values(node, key):
    """Live values in node's own replica of key (sorted), from local-get."""
    rc, j = local_get(node, key)
    own = [c for c in j["copies"] if c["hint_for"] == ""]
    values = sorted(s["value"] for c in own for s in c["siblings"] if not s["tombstone"] and not s["expired"])
    expect(rc == 0, bool(values), "local-get exit code of %s on %s vs its values %r" % (key, node.name, values))
    return values


def test_local_get_shows_each_replicas_own_copy():
    n1, n2, n3 = cluster
    rc, _, err = kvctl(n1, "put", "lg", "one", consistency="all")
    expect(rc, 0, "put lg with W=ALL: %s" % err)
    for n in cluster:
        rc, j = local_get(n, "lg")
        expect(rc, 0, "local-get lg exit on %s" % n.name)
        expect(j["node"], n.name, "answering node")
        expect((j["held"], j["live"], j["tombstone"]), (True, 1, False), "lg summary on " + n.name)
        expect(j["copies"][0]["siblings"][0]["value"], "one", "lg value on " + n.name)
        expect(len(j["copies"][0]["clock"]), 1, "lg version vector on " + n.name)
    # Text output names the node and the value; a key never written: exit 1, "nothing".
    rc, out, _ = kvctl(n2, "local-get", "lg")
    expect(rc, 0, "text local-get exit")
    if "node n2" not in out or '"one"' not in out:
        fail("text local-get output: %r" % out)
    rc, out, err = kvctl(n2, "local-get", "never-written")
    expect(rc, 1, "local-get of a missing key")
    if "nothing" not in err:
        fail("local-get of a missing key does not say 'nothing': %r" % err)
    # After a W=ALL delete every replica holds only the tombstone: exit 1, saying so.
    rc, _, err = kvctl(n3, "del", "lg", consistency="all")
    expect(rc, 0, "del lg: %s" % err)
    for n in cluster:
        rc, j = local_get(n, "lg")
        expect((rc, j["held"], j["live"], j["tombstone"]), (1, True, 0, True), "lg after delete on " + n.name)
        rc, _, err = kvctl(n, "local-get", "lg")
        if rc != 1 or "tombstone" not in err:
            fail("local-get of a deleted key on %s: exit %d, %r" % (n.name, rc, err))
    # A missing key argument is refused before anything is read.
    rc, _, err = kvctl(n1, "local-get", "")
    expect(rc in (2, 3), True, "local-get with an empty key: exit %d %r" % (rc, err))


def test_write_with_a_node_down_succeeds_and_reaches_it_later():
    n1, n2, n3 = cluster
    kill_and_wait_dead(cluster, n3)
    c1 = n1.resp()
    for i in range(30):
        expect(c1.cmd("SET", "down%d" % i, "d%d" % i), "OK", "SET with n3 down (W=2)")
    c1.close()
    restart_and_wait_up(cluster, n3)
    repairs_before = metric(n1, "ringkv_coord_read_repairs_total")
    for i in range(30):
        values, _ = kv_get(n1, "down%d" % i, consistency="all", primary_only=True)
        expect(values, ["d%d" % i], "R=ALL primary-only read of down%d" % i)
    # n3 answered those reads with nothing: n1 counted a read repair each time.
    if metric(n1, "ringkv_coord_read_repairs_total") <= repairs_before:
        fail("ringkv_coord_read_repairs_total on n1 did not grow after reading a stale replica")
    # The R=ALL reads repaired n3 in the background; its own copy now has them.
    wait_for("n3's own copy holds every write made while it was down",
             lambda: all(kv_get(n3, "down%d" % i, consistency="one")[0] == ["d%d" % i]
                         for i in range(30)), HINT_LIMIT_S)
    for n in cluster:
        for i in range(30):
            expect(replica_values(n, "down%d" % i), ["d%d" % i], "%s's replica of down%d" % (n.name, i))


def test_read_all_with_a_node_down_fails_clearly():
    n1, n2, n3 = cluster
    expect(n1.resp().cmd("SET", "strict", "s1"), "OK", "SET strict")
    kill_and_wait_dead(cluster, n3)
    rc, out, err = kvctl(n1, "get", "strict", consistency="all")
    if rc not in (3, 5):
        fail("R=ALL read with n3 down: exit %d, stdout %r, stderr %r" % (rc, out, err))
    expect(out, "", "stdout of a failed R=ALL read")
    if "unavailable" not in err.lower():
        fail("R=ALL read error does not say unavailable: %r" % err)
    c2 = n2.resp()
    expect(c2.cmd("GET", "strict"), b"s1", "default R=2 read with n3 down")
    c2.close()
    restart_and_wait_up(cluster, n3)


def test_concurrent_writes_with_one_context_become_siblings():
    n1, n2, n3 = cluster
    rc, _, err = kvctl(n1, "put", "sib", "base")
    expect(rc, 0, "put sib: %s" % err)
    values, ctx = kv_get(n1, "sib")
    expect(values, ["base"], "sib before the concurrent writes")
    rc, _, err = kvctl(n1, "put", "sib", "from-n1", "--context", ctx)
    expect(rc, 0, "put through n1: %s" % err)
    rc, _, err = kvctl(n2, "put", "sib", "from-n2", "--context", ctx)
    expect(rc, 0, "put through n2: %s" % err)
    values, ctx2 = kv_get(n3, "sib", consistency="all")
    expect(values, ["from-n1", "from-n2"], "siblings read through n3")
    rc, _, err = kvctl(n3, "put", "sib", "resolved", "--context", ctx2)
    expect(rc, 0, "resolving put: %s" % err)
    for n in cluster:
        expect(kv_get(n, "sib", consistency="all")[0], ["resolved"], "sib after resolution via " + n.name)


def test_stop_three_nodes():
    stop_all(cluster)


def test_hints_are_delivered_after_restart():
    nodes = start_cluster(4)
    n1, victim = nodes[0], nodes[3]
    kill_and_wait_dead(nodes, victim)
    c1 = n1.resp()
    for i in range(200):
        expect(c1.cmd("SET", "h%d" % i, "x%d" % i), "OK", "SET with n4 down")
    c1.close()
    # The fallbacks hold hints for n4: in /metrics and in kvctl hints.
    live = nodes[:3]
    if sum(metric(n, "ringkv_hints_stored_total") for n in live) <= 0:
        fail("no fallback counted a stored hint with n4 down")
    held = 0
    rc, out, err = kvctl(n1, "--json", "--all", "hints")  # every live member, asked through n1
    expect(rc, 0, "kvctl hints --all: %s" % err)
    j = json.loads(out)
    expect((sorted(x["node"] for x in j["nodes"]), j["skipped"]), (["n1", "n2", "n3"], ["n4"]),
           "kvctl hints --all: nodes asked and skipped")
    for x in j["nodes"]:
        for t in x["targets"]:
            expect(t["node"], "n4", "hint target on %s" % x["node"])
            held += t["held"]
    expect(held, sum(metric(n, "ringkv_hints_held") for n in live), "hints held: kvctl hints vs /metrics")
    if held <= 0:
        fail("kvctl hints shows no hint held for n4")
    rc, out, _ = kvctl(live[0], "hints")
    if rc != 0 or "TARGET" not in out:
        fail("kvctl hints text output: exit %d %r" % (rc, out))
    restart_and_wait_up(nodes, victim)
    # Only hints can bring n4 the writes it missed while nothing reads the
    # keys (a read would repair it). Wait until its engine has taken writes
    # and then stayed quiet, then read every key once through n4 with R=ONE:
    # where n4 is a primary that read answers from its own copy.
    samples = []

    def quiet():
        samples.append(metric(victim, "ringkv_engine_user_bytes_written_total"))
        return len(samples) >= 3 and samples[-1] > 0 and samples[-1] == samples[-3]
    wait_for("hints for n4 delivered", quiet, HINT_LIMIT_S, poll_s=1.0)
    for i in range(200):
        values, _ = kv_get(victim, "h%d" % i, consistency="one", primary_only=True)
        expect(values, ["x%d" % i], "h%d through n4's own copy" % i)
        rc, j = local_get(victim, "h%d" % i)
        if j["held"]:  # n4 is a replica of this key: local-get shows its copy directly
            expect(replica_values(victim, "h%d" % i), ["x%d" % i], "n4's replica of h%d" % i)
    delivered = sum(metric(n, "ringkv_hints_delivered_total") for n in live)
    if delivered <= 0:
        fail("no hint counted as delivered after n4 came back")
    reported = sum(t["delivered"] for n in live for t in json.loads(kvctl(n, "--json", "hints")[1])["targets"])
    expect(reported, delivered, "hints delivered: kvctl hints vs /metrics")
    stop_all(nodes)


if __name__ == "__main__":
    harness.run([test_three_nodes_form_a_ring,
                 test_write_through_one_node_is_read_through_the_others,
                 test_local_get_shows_each_replicas_own_copy,
                 test_write_with_a_node_down_succeeds_and_reaches_it_later,
                 test_read_all_with_a_node_down_fails_clearly,
                 test_concurrent_writes_with_one_context_become_siblings,
                 test_stop_three_nodes,
                 test_hints_are_delivered_after_restart])
