"""test_kvctl.py - kvctl against a real kvnode: every command, its output,
--json, values from stdin and files (binary), --help, and the exit codes
scripts rely on (0 ok, 1 not found, 2 usage, 3 failed, 4 in doubt,
5 unreachable / timed out). Also runs sdk_smoke (the C SDK) against the node.

Environment: KVNODE, KVCTL, SDK_SMOKE and KVBENCH name the binaries under test
(kvbench gets a short run of each workload: it must finish its operations
without errors; its speed is not checked here)."""

import base64
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(__file__))
from harness import (Node, envelope, expect, fail, frame, free_port, metric, pb_decode,  # noqa: E402
                     pb_int, run)

KVCTL = os.environ.get("KVCTL") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "client", "kvctl")
KVBENCH = os.environ.get("KVBENCH") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "bench", "kvbench")
SDK_SMOKE = os.environ.get("SDK_SMOKE") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "tests", "cluster", "sdk_smoke")

NODE = None


def kvctl(*args, stdin=None, host=None):
    """Runs kvctl against NODE (or host: one HOST:PORT or a list, in order);
    returns (exit code, stdout bytes, stderr text)."""
    hosts = host if isinstance(host, list) else [host or "127.0.0.1:%d" % NODE.native_port]
    argv = [KVCTL] + sum((["--host", h] for h in hosts), []) + [str(a) for a in args]
    r = subprocess.run(argv, input=stdin, capture_output=True, timeout=60)
    return r.returncode, r.stdout, r.stderr.decode("utf-8", "replace")


def ok(*args, stdin=None):
    code, out, err = kvctl(*args, stdin=stdin)
    expect(code, 0, "exit code of kvctl %s (stderr: %s)" % (" ".join(map(str, args)), err))
    return out


def expect_exit(want, *args, stdin=None, host=None):
    code, out, err = kvctl(*args, stdin=stdin, host=host)
    expect(code, want, "exit code of kvctl %s (stderr: %s)" % (" ".join(map(str, args)), err))
    if want == 1 and not err:
        pass  # del of a missing key: "not found" is its output, not an error
    elif want != 0:
        lines = err.strip().split("\n")
        expect(len(lines), 1, "one error line for kvctl %s: %r" % (" ".join(map(str, args)), err))
        if not lines[0].startswith("kvctl: "):
            fail("error line without the kvctl prefix: %r" % lines[0])
    return out, err


class SwallowingNode:
    """A fake node on loopback: answers every Hello, then reads requests and
    never answers them. `with SwallowingNode() as port:`."""

    def __enter__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.05)  # accept() is not woken by close(): poll self.stop
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        return self.sock.getsockname()[1]

    def __exit__(self, *exc):
        self.stop = True
        self.sock.close()
        self.thread.join(10)

    def _serve(self):
        conns = []
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            conn.settimeout(10)
            conns.append(conn)
            try:
                head = conn.recv(4, socket.MSG_WAITALL)
                body = conn.recv(struct.unpack(">I", head)[0], socket.MSG_WAITALL)
                request_id = pb_decode(body)[1][0]
                hello_reply = pb_int(1, 1)  # HelloReply.protocol_version = 1
                conn.sendall(frame(envelope(request_id, 5, hello_reply)))
            except (OSError, struct.error, KeyError):
                pass  # the client went away first
        for conn in conns:
            conn.close()


def test_help_lists_commands_and_exit_codes():
    code, out, _ = kvctl("--help")
    expect(code, 0, "--help exit code")
    text = out.decode()
    for s in ("put", "get", "del", "ttl", "expire", "persist", "incr", "ping", "stats",
              "--host HOST:PORT", "--json", "Exit codes", "4  in doubt", "5  unreachable"):
        if s not in text:
            fail("kvctl --help lacks %r" % s)
    for cmd in ("put", "get", "del", "ttl", "expire", "persist", "incr", "ping", "stats"):
        code, out, _ = kvctl(cmd, "--help")
        expect(code, 0, "%s --help exit code" % cmd)
        if not out.decode().startswith("usage: kvctl [OPTIONS] " + cmd):
            fail("%s --help: %r" % (cmd, out[:80]))


def test_usage_errors_exit_2():
    expect_exit(2, "bogus")
    expect_exit(2)                       # no command
    expect_exit(2, "get")                # missing key
    expect_exit(2, "get", "a", "b")      # too many
    expect_exit(2, "get", "k", "--ttl", "5")   # option of another command
    expect_exit(2, "--no-such-option", "ping")
    expect_exit(2, "put", "k", "v", "--nx", "--xx")
    expect_exit(2, "expire", "k", "soon")
    expect_exit(2, "put", "k", "--context", "not base64!")
    expect_exit(2, "ping", host="nocolon")


def test_put_get_del_and_not_found():
    expect(ok("put", "greeting", "hello world"), b"OK\n", "put output")
    expect(ok("get", "greeting"), b"hello world", "get prints the exact bytes")
    out, err = expect_exit(1, "get", "missing-key")
    expect(out, b"", "get of a missing key prints nothing")
    if "not found" not in err:
        fail("stderr of a missing key: %r" % err)
    expect(ok("del", "greeting"), b"deleted\n", "del output")
    expect_exit(1, "get", "greeting")
    out, _ = expect_exit(1, "del", "greeting")
    expect(out, b"not found\n", "del of a missing key")


def test_values_from_stdin_and_file_are_binary_safe():
    blob = bytes(range(256)) * 40 + b"\x00\r\n-"
    expect(ok("put", "bin", "-", stdin=blob), b"OK\n", "put from stdin")
    expect(ok("get", "bin"), blob, "binary value from stdin")
    with tempfile.NamedTemporaryFile(dir="/tmp", delete=False) as f:
        f.write(blob[::-1])
        path = f.name
    try:
        ok("put", "binfile", "--file", path)
        expect(ok("get", "binfile"), blob[::-1], "binary value from --file")
    finally:
        os.unlink(path)
    ok("put", "empty", "-", stdin=b"")
    expect(ok("get", "empty"), b"", "empty value")
    ok("put", "dash", "--", "-5")
    expect(ok("get", "dash"), b"-5", "value after --")
    expect_exit(2, "put", "k", "v", "--file", "/tmp")  # value twice
    expect_exit(2, "put", "k", "--file", "/nonexistent/file")


def test_json_output_and_context_round_trip():
    ok("put", "j", "text \"quoted\"\n")
    doc = json.loads(ok("--json", "get", "j"))
    expect(doc["found"], True, "found")
    expect(doc["siblings"], [{"value": "text \"quoted\"\n", "expires_at_ms": 0}], "siblings")
    ctx = doc["context"]
    base64.b64decode(ctx, validate=True)
    ok("put", "jb", "-", stdin=b"\xff\xfe\x00")
    doc = json.loads(ok("get", "jb", "--json"))
    expect(base64.b64decode(doc["siblings"][0]["value_base64"]), b"\xff\xfe\x00", "binary as base64")
    code, out, _ = kvctl("--json", "get", "nothing-here")
    expect(code, 1, "json get of a missing key")
    doc = json.loads(out)
    expect((doc["found"], doc["siblings"]), (False, []), "missing key in json")
    # Two writes from the same context leave siblings; a put with their context resolves them.
    ok("put", "s", "base")
    ctx = json.loads(ok("--json", "get", "s"))["context"]
    ok("put", "s", "one", "--context", ctx)
    ok("put", "s", "two", "--context", ctx)
    doc = json.loads(ok("--json", "get", "s"))
    expect(sorted(s["value"] for s in doc["siblings"]), ["one", "two"], "siblings")
    text = ok("get", "s").decode()
    if "--- sibling 1 of 2" not in text or "--- sibling 2 of 2" not in text:
        fail("siblings not told apart in text output: %r" % text)
    ok("put", "s", "resolved", "--context", doc["context"])
    expect(json.loads(ok("--json", "get", "s"))["siblings"], [{"value": "resolved", "expires_at_ms": 0}],
           "resolved")
    doc = json.loads(ok("--json", "put", "p", "v"))
    expect(doc["ok"], True, "put --json")
    base64.b64decode(doc["context"], validate=True)


def test_ttl_expire_persist_and_nx_xx():
    ok("put", "t", "v", "--ttl", "60000")
    ttl = int(ok("ttl", "t"))
    if not 0 < ttl <= 60000:
        fail("ttl %d" % ttl)
    expect(ok("persist", "t"), b"OK\n", "persist")
    expect(ok("ttl", "t"), b"-1\n", "ttl without expiry")
    expect(ok("expire", "t", "30000"), b"OK\n", "expire")
    ttl = json.loads(ok("--json", "ttl", "t"))["ttl_ms"]
    if not 0 < ttl <= 30000:
        fail("ttl after expire %d" % ttl)
    expect_exit(1, "ttl", "nope")
    expect_exit(1, "expire", "nope", "1000")
    expect_exit(1, "persist", "nope")
    expect_exit(3, "put", "t", "again", "--nx")    # exists: failed, nothing applied
    expect(ok("get", "t"), b"v", "NX left the value alone")
    expect_exit(1, "put", "nx-missing", "x", "--xx")
    ok("put", "nx-new", "x", "--nx")
    ok("put", "short", "v", "--ttl", "1")
    expect_exit(1, "get", "short")  # expired within the subprocess start-up


def test_incr_ping_stats():
    expect(ok("incr", "ctr"), b"1\n", "incr")
    expect(ok("incr", "ctr", "10"), b"11\n", "incr by 10")
    expect(ok("incr", "ctr", "-20"), b"-9\n", "negative delta without --")
    expect(json.loads(ok("--json", "incr", "ctr", "0")), {"value": -9}, "incr --json")
    ok("put", "word", "abc")
    out, err = expect_exit(3, "incr", "word")
    if "invalid" not in err:
        fail("incr of a non-integer: %r" % err)
    if not ok("ping").startswith(b"PONG from 127.0.0.1:%d in " % NODE.native_port):
        fail("ping output")
    doc = json.loads(ok("--json", "ping"))
    expect(doc["host"], "127.0.0.1:%d" % NODE.native_port, "ping host")
    stats = ok("stats").decode().strip().split("\n")
    names = [line.split(" ", 1)[0] for line in stats]
    if "native.requests" not in names:
        fail("stats lack native.requests: %r" % names[:10])
    doc = json.loads(ok("--json", "stats"))
    if not isinstance(doc.get("native.requests"), int):
        fail("stats --json: native.requests is %r" % doc.get("native.requests"))
    # The coordinator's counters are the ones /metrics shows (one table, node/stats.c).
    for stat, series, labels in (("coord.puts", "ringkv_coord_operations_total", 'op="put"'),
                                 ("coord.read_repairs", "ringkv_coord_read_repairs_total", ""),
                                 ("coord.indoubt", "ringkv_coord_indoubt_total", ""),
                                 ("coord.forwarded", "ringkv_coord_forwarded_writes_total", ""),
                                 ("coord.hints_held", "ringkv_hints_held", ""),
                                 ("coord.hints_held_bytes", "ringkv_hints_held_bytes", ""),
                                 ("coord.hints_refused", "ringkv_hints_refused_total", "")):
        if stat not in doc:
            fail("stats lack %s: %r" % (stat, sorted(doc)))
        expect(doc[stat], int(metric(NODE, series, labels)), "%s vs /metrics %s" % (stat, series))
    if doc["coord.puts"] < 2:
        fail("coord.puts after several puts: %r" % doc["coord.puts"])


def test_unreachable_wrong_cluster_and_stopped_node():
    dead = "127.0.0.1:%d" % free_port()
    out, err = expect_exit(5, "ping", host=dead)
    if "connect" not in err:
        fail("unreachable: %r" % err)
    expect_exit(5, "put", "k", "v", host=dead)   # never sent: not in doubt
    expect_exit(3, "--cluster", "elsewhere", "ping")
    # A stopped node accepts (the kernel does) but never says hello: nothing
    # was sent, so even a write is "timed out" (5), not in doubt.
    NODE.proc.send_signal(signal.SIGSTOP)
    try:
        expect_exit(5, "--timeout", "300", "get", "k")
        expect_exit(5, "--timeout", "300", "put", "k", "v")
    finally:
        NODE.proc.send_signal(signal.SIGCONT)
    ok("ping")
    # A node that says hello and then never answers: the write was sent (4).
    with SwallowingNode() as port:
        out, err = expect_exit(4, "--timeout", "300", "put", "k", "v", host="127.0.0.1:%d" % port)
        if "in doubt" not in err:
            fail("in doubt message: %r" % err)
        expect_exit(5, "--timeout", "300", "--retries", "0", "get", "k",
                    host="127.0.0.1:%d" % port)
    # Failover: the dead host first, the node second.
    code, out, err = kvctl("ping", host=[dead, "127.0.0.1:%d" % NODE.native_port])
    expect(code, 0, "failover ping (%s)" % err)


def test_tls_and_mutual_tls():
    certs = tempfile.mkdtemp(prefix="ringkv-certs-", dir="/tmp")
    script = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "make-certs.sh")
    subprocess.run(["sh", script, certs, "node1", "client1"], check=True, capture_output=True,
                   timeout=60)
    c = lambda name: os.path.join(certs, name)  # noqa: E731
    node = Node("tls1", extra=["--tls-cert", c("node1.crt"), "--tls-key", c("node1.key"),
                               "--tls-ca", c("ca.crt"), "--tls-mutual"]).start()
    try:
        host = "127.0.0.1:%d" % node.native_port
        mine = ["--tls-ca", c("ca.crt"), "--tls-cert", c("client1.crt"), "--tls-key", c("client1.key")]
        code, out, err = kvctl(*mine, "put", "secure", "value", host=host)
        expect(code, 0, "put over mutual TLS (%s)" % err)
        code, out, err = kvctl(*mine, "get", "secure", host=host)
        expect((code, out), (0, b"value"), "get over mutual TLS (%s)" % err)
        # Same host by name: the certificate names localhost too.
        code, out, err = kvctl(*mine, "ping", host="localhost:%d" % node.native_port)
        expect(code, 0, "ping by DNS name (%s)" % err)
        expect_exit(5, "ping", host=host)  # plain TCP to a TLS port: no hello comes back
        expect_exit(5, "--tls-ca", c("ca.crt"), "ping", host=host)  # no client certificate
        out, err = expect_exit(3, "--tls", "--tls-cert", c("client1.crt"), "--tls-key",
                               c("client1.key"), "ping", host=host)  # the system CAs do not know ours
        if "certificate" not in err:
            fail("verification failure message: %r" % err)
        expect_exit(3, "--tls-ca", c("missing.crt"), "ping", host=host)
    finally:
        node.stop()
        node.remove()
        subprocess.run(["rm", "-rf", certs], check=False)


def test_sdk_smoke():
    r = subprocess.run([SDK_SMOKE, "127.0.0.1:%d" % NODE.native_port, str(NODE.pid)],
                       capture_output=True, timeout=120)
    sys.stdout.write(r.stdout.decode())
    expect(r.returncode, 0, "sdk_smoke exit code; stderr:\n%s" % r.stderr.decode())


def test_kvbench_runs_every_workload():
    for w in ("a", "b", "c", "d", "f", "set", "get"):
        r = subprocess.run([KVBENCH, "--host", "127.0.0.1:%d" % NODE.native_port, "--workload", w,
                            "--keys", "1000", "--ops", "3000", "--warmup", "0", "--connections", "4",
                            "--pipeline", "2", "--threads", "2", "--json"],
                           capture_output=True, timeout=120)
        expect(r.returncode, 0, "kvbench %s exit code (%s)" % (w, r.stderr.decode()[-500:]))
        doc = json.loads(r.stdout)
        expect((doc["workload"], doc["total"]["ops"], doc["total"]["errors"]), (w, 3000, 0),
               "kvbench %s result" % w)
        lat = doc["total"]["latency_us"]
        if not 0 < lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["p99.9"] <= lat["max"]:
            fail("kvbench %s percentiles out of order: %r" % (w, lat))
    r = subprocess.run([KVBENCH, "--workload", "zz"], capture_output=True, timeout=30)
    expect(r.returncode, 2, "kvbench usage error")


def main():
    global NODE
    NODE = Node("kvctl1").start()
    tests = [test_help_lists_commands_and_exit_codes, test_usage_errors_exit_2,
             test_put_get_del_and_not_found, test_values_from_stdin_and_file_are_binary_safe,
             test_json_output_and_context_round_trip, test_ttl_expire_persist_and_nx_xx,
             test_incr_ping_stats, test_unreachable_wrong_cluster_and_stopped_node,
             test_tls_and_mutual_tls, test_sdk_smoke, test_kvbench_runs_every_workload]
    run(tests)
    expect(NODE.stop(), 0, "kvnode exit code")
    NODE.remove()


if __name__ == "__main__":
    main()
