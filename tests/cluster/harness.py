"""harness.py - start real kvnode processes on loopback and talk to them.

Used by the tests in tests/cluster/ (Python 3 standard library only).

Node(...) starts kvnode with a fresh data directory under /tmp and three
free loopback ports, waits until GET /health answers 200, and is stopped
by pid: node.stop() sends SIGTERM and returns the exit code, node.kill()
sends SIGKILL. Every node still running when the test process exits is
killed by pid and its directory removed (atexit), also when a test fails.

Clients: RespClient (a minimal RESP2 client with exact, typed replies),
redis_cli() (runs the real redis-cli), NativeClient (the native protocol:
4-byte big-endian length + a hand-encoded protobuf Envelope, see
proto/kv.proto), and http_get(). Cluster helpers: kvctl(), metric(),
wait_for(), ring_members(), member_state(), paused(), wait_ring_formed().

Environment: KVNODE and KVCTL are the kvnode and kvctl binaries (meson
passes them); the defaults are build/node/kvnode and build/client/kvctl
under the source root.
"""

import atexit
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

KVNODE = os.environ.get("KVNODE") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "node", "kvnode")
START_TIMEOUT_S = 20
STOP_TIMEOUT_S = 30

_live_nodes = []


def _cleanup():
    for node in list(_live_nodes):
        node.kill()
        node.remove()


atexit.register(_cleanup)


def fail(msg):
    raise AssertionError(msg)


def expect(got, want, what=""):
    if got != want:
        fail("%s: got %r, want %r" % (what or "value", got, want))


def free_port():
    """A loopback port free right now (the kernel's choice for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Node:
    """One kvnode process. Flags in `extra` are appended (later ones win)."""

    def __init__(self, name="n1", extra=(), data_dir=None, env=None):
        self.name = name
        self.extra = list(extra)
        self.owns_dir = data_dir is None
        self.dir = data_dir or tempfile.mkdtemp(prefix="ringkv-test-", dir="/tmp")
        self.data_dir = os.path.join(self.dir, "data")
        self.env = env
        self.proc = None
        self.native_port = free_port()
        self.resp_port = free_port()
        self.http_port = free_port()
        self.log_path = os.path.join(self.dir, "kvnode-%s.log" % name)

    def args(self):
        return [KVNODE, "--node-id", self.name, "--data-dir", self.data_dir,
                "--listen", "127.0.0.1:%d" % self.native_port,
                "--resp", "127.0.0.1:%d" % self.resp_port,
                "--http", "127.0.0.1:%d" % self.http_port] + self.extra

    def start(self):
        """Starts kvnode and waits for /health. If a port was taken between
        free_port() and kvnode's bind (another process got it), retries
        with fresh ports."""
        for attempt in range(3):
            try:
                return self._start_once()
            except AssertionError:
                if attempt == 2 or "Address already in use" not in self.log():
                    raise
                self.native_port, self.resp_port, self.http_port = free_port(), free_port(), free_port()
        return self

    def _start_once(self):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args(), stdout=log, stderr=subprocess.STDOUT,
                                     env=self.env)
        log.close()
        if self not in _live_nodes:
            _live_nodes.append(self)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                fail("kvnode exited with %d at start-up:\n%s" % (self.proc.returncode, self.log()))
            try:
                if http_get(self.http_port, "/health")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        fail("kvnode did not become healthy in %d s:\n%s" % (START_TIMEOUT_S, self.log()))

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM):
        """Sends sig and waits; returns the exit code."""
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            fail("kvnode did not exit within %d s of signal %d" % (STOP_TIMEOUT_S, sig))
        return rc

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait()

    def remove(self):
        if self in _live_nodes:
            _live_nodes.remove(self)
        if self.owns_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def rss_kb(self):
        return rss_kb(self.pid)

    def resp(self):
        return RespClient(self.resp_port)

    def native(self):
        return NativeClient(self.native_port)


def http_get(port, path, method="GET"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request(method, path)
        r = c.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        c.close()


def redis_cli(port, *args, stdin=None):
    """Runs redis-cli against port; returns its stdout without the final newline."""
    r = subprocess.run(["redis-cli", "-p", str(port)] + [str(a) for a in args], input=stdin,
                       capture_output=True, timeout=60)
    return r.stdout.decode("utf-8", "replace").rstrip("\n")


# ---- RESP ----

class RespError(Exception):
    """An error reply ("-ERR ..."): the text after '-'."""


class RespClient:
    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    @staticmethod
    def encode(*args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def send_raw(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed by kvnode")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_reply(self):
        """One reply: str (simple), bytes (bulk), None (null), int, list; RespError is returned, not raised."""
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RespError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill()
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if kind == b"*":
            return [self.read_reply() for _ in range(int(rest))]
        raise ValueError("bad reply line %r" % line)

    def cmd(self, *args):
        self.send_raw(self.encode(*args))
        return self.read_reply()

    def closed_by_peer(self, wait_s=5):
        """True if kvnode closes the connection within wait_s (data before the close is skipped)."""
        return wait_closed(self.sock, wait_s)


def wait_closed(sock, wait_s):
    sock.settimeout(wait_s)
    deadline = time.monotonic() + wait_s
    try:
        while time.monotonic() < deadline:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    return False


# ---- native protocol (proto/kv.proto), hand-encoded ----

def pb_varint(n):
    n &= (1 << 64) - 1  # negative int32/int64 are ten-byte two's complement varints
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def pb_int(field, value):
    return pb_varint(field << 3) + pb_varint(value)


def pb_bytes(field, data):
    data = data if isinstance(data, bytes) else data.encode()
    return pb_varint(field << 3 | 2) + pb_varint(len(data)) + data


def pb_decode(data):
    """Fields of one message: {number: [int or bytes, ...]}."""
    fields, i = {}, 0
    while i < len(data):
        key, i = _pb_read_varint(data, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = _pb_read_varint(data, i)
        elif wire == 2:
            n, i = _pb_read_varint(data, i)
            v, i = data[i:i + n], i + n
        elif wire == 1:
            v, i = data[i:i + 8], i + 8
        elif wire == 5:
            v, i = data[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wire)
        fields.setdefault(num, []).append(v)
    return fields


def _pb_read_varint(data, i):
    shift = result = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def pb_signed32(v):
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


# Envelope fields: 1 request_id, 2 status, 3 error; bodies by number.
ENV_HELLO, ENV_GET, ENV_GET_REPLY, ENV_PUT, ENV_PUT_REPLY = 4, 6, 7, 8, 9
ENV_DELETE, ENV_PING, ENV_PING_REPLY, ENV_STATS = 10, 12, 13, 26
PROTOCOL_VERSION = 1


def envelope(request_id, body_field, body):
    return pb_int(1, request_id) + pb_bytes(body_field, body)


def frame(body):
    return struct.pack(">I", len(body)) + body


class NativeClient:
    def __init__(self, port, timeout=10, hello=True, cluster="ringkv"):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.next_id = 1
        if hello:
            body = pb_int(1, PROTOCOL_VERSION) + pb_bytes(3, cluster)
            reply = self.call(ENV_HELLO, body)
            expect(reply["status"], 0, "hello status")

    def close(self):
        self.sock.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def read_frame(self):
        while len(self.buf) < 4:
            self._fill()
        n = struct.unpack(">I", self.buf[:4])[0]
        while len(self.buf) < 4 + n:
            self._fill()
        body, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
        return body

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed by kvnode")
        self.buf += chunk

    def read_envelope(self):
        f = pb_decode(self.read_frame())
        return {"request_id": f.get(1, [0])[0], "status": pb_signed32(f.get(2, [0])[0]),
                "error": f.get(3, [b""])[0].decode("utf-8", "replace"), "fields": f}

    def call(self, body_field, body):
        rid = self.next_id
        self.next_id += 1
        self.send_raw(frame(envelope(rid, body_field, body)))
        reply = self.read_envelope()
        expect(reply["request_id"], rid, "reply request id")
        return reply

    def ping(self, payload=b"hi"):
        r = self.call(ENV_PING, pb_bytes(1, payload))
        expect(r["status"], 0, "ping status")
        expect(pb_decode(r["fields"][ENV_PING_REPLY][0]).get(1, [b""])[0], payload, "ping payload")

    def put(self, key, value):
        return self.call(ENV_PUT, pb_bytes(1, key) + pb_bytes(2, value))

    def get(self, key):
        """The first sibling's value, None if absent; raises on an error status."""
        r = self.call(ENV_GET, pb_bytes(1, key))
        if r["status"] != 0:
            fail("get failed: %d %s" % (r["status"], r["error"]))
        reply = pb_decode(r["fields"].get(ENV_GET_REPLY, [b""])[0])
        if not reply.get(1, [0])[0]:
            return None
        return pb_decode(reply[2][0]).get(1, [b""])[0]

    def closed_by_peer(self, wait_s=5):
        return wait_closed(self.sock, wait_s)


# ---- cluster helpers: kvctl, metrics, waiting for the ring ----

KVCTL = os.environ.get("KVCTL") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "client", "kvctl")
POLL_S = 0.2


def kvctl(node, *args, timeout_ms=5000, consistency=None, primary_only=False):
    """(exit code, stdout, stderr) of kvctl against node's native port, no retries."""
    opts = ["--host", "127.0.0.1:%d" % node.native_port, "--timeout", str(timeout_ms), "--retries", "0"]
    if consistency:
        opts += ["--consistency", str(consistency)]
    if primary_only:
        opts.append("--primary-only")
    r = subprocess.run([KVCTL] + opts + [str(a) for a in args], capture_output=True, timeout=30)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


def wait_for(what, pred, limit_s, poll_s=POLL_S, state=None):
    """Polls pred every poll_s until true; fails after limit_s (with state(),
    if given, in the message). Returns the seconds it took."""
    t0 = time.monotonic()
    while not pred():
        if time.monotonic() - t0 > limit_s:
            fail("%s: not within %.1f s%s" % (what, limit_s, "; now: %s" % state() if state else ""))
        time.sleep(poll_s)
    return time.monotonic() - t0


def metric(node, name, labels=""):
    """Sum of every series of a metric family in node's /metrics whose line
    contains `labels` (a substring; "" = all series)."""
    status, body = http_get(node.http_port, "/metrics")
    expect(status, 200, "/metrics status")
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines()
               if (line.startswith(name + " ") or line.startswith(name + "{")) and labels in line)


def ring_members(node):
    """(ring version, sorted member ids) in node's view, or None if kvctl fails."""
    rc, out, _ = kvctl(node, "ring", "--json")
    if rc != 0:
        return None
    j = json.loads(out)
    return (j.get("version"), tuple(sorted(m["id"] for m in j.get("nodes", []))))


def member_state(node, of):
    """The state ("alive", "suspect", "dead", ...) node's view gives member `of`, or None."""
    rc, out, _ = kvctl(node, "members", "--json")
    if rc != 0:
        return None
    return {m["id"]: m["state"] for m in json.loads(out)["members"]}.get(of)


@contextlib.contextmanager
def paused(node):
    """node is SIGSTOPped for the with-block (its sockets stay open, it answers
    nothing) and SIGCONTinued after it, also when the block fails."""
    os.kill(node.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(node.pid, signal.SIGCONT)


def wait_ring_formed(nodes, want, limit_s):
    """Waits until every node has the same ring, whose members are `want` (sorted ids)."""
    def formed():
        rings = [ring_members(n) for n in nodes]
        return rings[0] is not None and all(r == rings[0] for r in rings) and rings[0][1] == tuple(want)
    wait_for("one ring of %d members everywhere" % len(nodes), formed, limit_s)


def run(tests):
    """Runs test functions in order; prints a line per test; exits 1 on the first failure."""
    for t in tests:
        t0 = time.monotonic()
        try:
            t()
        except Exception as e:  # report any failure with the node logs
            print("FAIL %s: %s: %s" % (t.__name__, type(e).__name__, e))
            for node in list(_live_nodes):
                print("---- log of %s ----\n%s" % (node.name, node.log()))
            sys.exit(1)
        print("ok   %s (%.1f s)" % (t.__name__, time.monotonic() - t0))
