"""test_hostile_ports.py - the hostile-network cases test_bad_input.py does not drive.

HTTP requests that kvnode's HTTP server (node/http.c) must refuse (bad
request line, huge headers, a body, unknown path and method) and the form
of its answers, an HTTP client sending its request a byte a second (closed
at the request deadline however steadily it sends), more HTTP
connections than the cap (refused with 503 while RESP and native go on
serving), garbage datagrams on the gossip UDP port,
clients that trickle a command one byte at a time (they never go idle, so
only the frame timeout closes them), the node running out of file
descriptors while HTTP connections pile up (a failed accept() must pause
the listener, not spin on it and flood the log), and a node started with
a low soft open-file limit (it raises it for --max-connections). After each case the node
still answers RESP, native and HTTP, and its RSS stays under RSS_LIMIT_KB.
Every case is bounded in count and time."""

import os
import random
import resource
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import (ENV_PUT, Node, RespClient, envelope, expect, fail, frame,  # noqa: E402
                     http_get, metric, pb_bytes, run, wait_closed)

RSS_LIMIT_KB = 200 * 1024
IDLE_MS, FRAME_MS, MAX_CONN = 3000, 1000, 16
# Log lines allowed while accept() fails for HOLD_S: the pause logs about ten
# a second per listener; a spinning listener logs hundreds of thousands.
HOLD_S, ACCEPT_ERROR_LINES_MAX = 2, 1000
# node/http.h: HTTP_HEADER_BYTES_MAX, HTTP_REQUEST_TIMEOUT_MS (5 s). A slow
# sender must be closed within SLOW_SENDER_WAIT_S: the deadline plus slack
# for a loaded machine (evhttp never closed it: each byte reset its timer).
HTTP_HEADER_BYTES_MAX, SLOW_SENDER_WAIT_S = 8192, 30
node = None


def check_node_is_healthy(case):
    r = RespClient(node.resp_port)
    expect(r.cmd("PING"), "PONG", "%s: resp ping" % case)
    expect(r.cmd("GET", "sentinel"), b"kept", "%s: resp sentinel" % case)
    r.close()
    nc = node.native()
    nc.ping()
    nc.close()
    expect(http_get(node.http_port, "/health")[0], 200, "%s: /health" % case)
    rss = node.rss_kb()
    if rss > RSS_LIMIT_KB:
        fail("%s: RSS %d KiB over %d KiB" % (case, rss, RSS_LIMIT_KB))


def http_raw(data):
    """Sends raw bytes to the HTTP port; returns the status line kvnode answers with."""
    s = socket.create_connection(("127.0.0.1", node.http_port), timeout=10)
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass  # refused before we finished sending; the reply is still read
    out = b""
    try:
        while b"\r\n" not in out:
            chunk = s.recv(4096)
            if not chunk:
                break
            out += chunk
    except ConnectionResetError:
        pass
    s.close()
    return out.split(b"\r\n", 1)[0].decode("latin-1")


def test_start():
    global node
    node = Node("hostile1", extra=["--idle-timeout-ms", str(IDLE_MS), "--frame-timeout-ms",
                                   str(FRAME_MS), "--max-connections", str(MAX_CONN)]).start()
    r = RespClient(node.resp_port)
    expect(r.cmd("SET", "sentinel", "kept"), "OK", "sentinel")
    r.close()
    check_node_is_healthy("start")


def head_of(size):
    """A GET /health request head of exactly size bytes."""
    start = b"GET /health HTTP/1.1\r\nX: "
    return start + b"a" * (size - len(start) - 4) + b"\r\n\r\n"


def test_http_refuses_bad_requests():
    cases = [(b"GARBAGE\r\n\r\n", "400"),
             (b"GET / HTTP/9.9\r\n\r\n", "400"),
             (b"GET /health HTTP/1.1\n\n", "400"),                      # bare LF
             (b"GET  /health HTTP/1.1\r\n\r\n", "400"),
             (b"\r\nGET /health HTTP/1.1\r\n\r\n", "400"),
             (b"GET http://x/health HTTP/1.1\r\n\r\n", "400"),           # absolute-form
             (b"GET /health HTTP/1.1\r\nX: a\r\n folded\r\n\r\n", "400"),
             (b"GET /health HTTP/1.1\r\nX : a\r\n\r\n", "400"),
             (b"GET /health HTTP/1.1\r\nX: \x01\r\n\r\n", "400"),
             (b"GET /health HTTP/1.1\r\nContent-Length: x\r\n\r\n", "400"),
             (b"GET /health HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", "413"),
             (b"GET /health HTTP/1.1\r\nX: " + b"a" * 100000 + b"\r\n\r\n", "413"),
             (b"GET /health HTTP/1.1\r\n" + b"X: a\r\n" * 20000 + b"\r\n", "413"),
             (head_of(HTTP_HEADER_BYTES_MAX + 1), "413"),
             (head_of(HTTP_HEADER_BYTES_MAX), "200"),
             (b"DELETE /metrics HTTP/1.1\r\n\r\n", "405"),
             (b"GET /health?verbose=1 HTTP/1.1\r\n\r\n", "200"),
             (b"HEAD /metrics HTTP/1.1\r\n\r\n", "200"),
             (b"POST /health HTTP/1.1\r\nContent-Length: 1000000000\r\n\r\n" + b"a" * 10000, "413"),
             (b"POST /health HTTP/1.1\r\nContent-Length: 0\r\n\r\n", "405"),
             (b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", "404"),
             (b"GET /health HTTP/1.0\r\n\r\n", "200")]
    for data, code in cases:
        line = http_raw(data)
        if line.split(" ")[1:2] != [code]:
            fail("HTTP %r: got %r, want %s" % (data[:40], line, code))
    check_node_is_healthy("bad HTTP requests")


def http_exchange(data):
    """Sends data to the HTTP port, reads until kvnode closes; (head lines, body)."""
    s = socket.create_connection(("127.0.0.1", node.http_port), timeout=10)
    s.sendall(data)
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
    s.close()
    head, _, body = out.partition(b"\r\n\r\n")
    return head.decode("latin-1").split("\r\n"), body


def test_http_answers_then_closes():
    # Keep-alive asked for: answered with Connection: close, then EOF (the read above ends).
    for method, path, code in [("GET", "/health", "200"), ("HEAD", "/health", "200"),
                               ("GET", "/metrics", "200"), ("POST", "/metrics", "405"),
                               ("GET", "/nope", "404")]:
        head, body = http_exchange(("%s %s HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n"
                                    % (method, path)).encode())
        what = "%s %s" % (method, path)
        expect(head[0].split(" ")[1], code, what + ": status")
        fields = dict(line.split(": ", 1) for line in head[1:])
        expect(fields.get("Connection"), "close", what + ": Connection")
        if "Content-Type" not in fields:
            fail("%s: no Content-Type in %r" % (what, head))
        length = int(fields.get("Content-Length", -1))
        if method == "HEAD":  # the length of the body a GET would get, and no body
            if length <= 0 or body:
                fail("HEAD %s: Content-Length %d, a body of %d bytes" % (path, length, len(body)))
        else:
            expect(length, len(body), what + ": Content-Length")
        if code == "405":
            expect(fields.get("Allow"), "GET, HEAD", what + ": Allow")
    check_node_is_healthy("HTTP answers")


def test_slow_http_sender_is_closed():
    # One header byte a second, never ending the head: the request deadline
    # (from accept, not reset by bytes) answers 408 and closes.
    s = socket.create_connection(("127.0.0.1", node.http_port), timeout=10)
    s.settimeout(1.0)
    data = b"GET /health HTTP/1.1\r\nX-Slow: " + b"a" * 1000
    deadline = time.monotonic() + SLOW_SENDER_WAIT_S
    got, closed = b"", False
    for i in range(len(data)):
        if time.monotonic() > deadline:
            break
        try:
            s.send(data[i:i + 1])
            chunk = s.recv(4096)
            if not chunk:
                closed = True
                break
            got += chunk
        except socket.timeout:
            pass
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
    s.close()
    if not closed:
        fail("HTTP client sending a byte a second not closed within %d s" % SLOW_SENDER_WAIT_S)
    if not got.startswith(b"HTTP/1.1 408 "):
        fail("slow HTTP sender: got %r, want a 408" % got[:40])
    check_node_is_healthy("slow HTTP sender")


def test_http_connection_cap():
    # 4 x the cap (--max-connections, as for RESP and native): the ones past
    # it get a 503 and are closed; the ones held answer 408 at their deadline.
    socks = [socket.create_connection(("127.0.0.1", node.http_port), timeout=15)
             for _ in range(4 * MAX_CONN)]
    try:
        r = RespClient(node.resp_port)  # the other listeners serve meanwhile
        expect(r.cmd("GET", "sentinel"), b"kept", "resp while HTTP is at its cap")
        r.close()
        nc = node.native()
        nc.ping()
        nc.close()
        refused = 0
        for s in socks:
            try:
                if s.recv(64).startswith(b"HTTP/1.1 503 "):
                    refused += 1
            except (socket.timeout, ConnectionResetError):
                pass
        held = len(socks) - refused
        if held > MAX_CONN or refused == 0:
            fail("HTTP cap %d: %d connections held, %d refused" % (MAX_CONN, held, refused))
    finally:
        for s in socks:
            s.close()
    deadline = time.monotonic() + 30
    while True:
        try:
            if http_get(node.http_port, "/health")[0] == 200:
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            fail("/health does not answer 200 after the connections over the cap closed")
        time.sleep(0.2)
    check_node_is_healthy("HTTP connection cap")


def test_gossip_port_drops_garbage():
    before = metric(node, "ringkv_gossip_dropped_total", 'reason="undecodable"')
    rng = random.Random(99)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent = 0
    for i in range(2000):
        n = rng.choice([1, 2, 5, 16, 100, 1400, 9000])
        u.sendto(bytes(rng.getrandbits(8) for _ in range(n)), ("127.0.0.1", node.native_port))
        sent += 1
    for b0 in range(256):  # every first byte, then a huge length-looking field
        u.sendto(bytes([b0, 0xff, 0xff, 0xff, 0xff, 0x0f]) + b"\x01" * 40, ("127.0.0.1", node.native_port))
    u.close()
    deadline = time.monotonic() + 30
    while metric(node, "ringkv_gossip_dropped_total", 'reason="undecodable"') - before < sent / 2:
        if time.monotonic() > deadline:
            fail("gossip garbage not counted as undecodable")
        time.sleep(0.2)
    expect(metric(node, "ringkv_gossip_members", 'state="alive"'), 1.0, "members after garbage")
    check_node_is_healthy("gossip garbage")


def trickle(sock, data, wait_s):
    """Sends data one byte every 0.3 s; True once kvnode closes the connection."""
    sock.settimeout(0.3)
    deadline = time.monotonic() + wait_s
    i = 0
    while time.monotonic() < deadline:
        try:
            sock.send(data[i % len(data):i % len(data) + 1])
            i += 1
            if not sock.recv(4096):
                return True
        except socket.timeout:
            pass
        except (BrokenPipeError, ConnectionResetError):
            return True
    return False


def test_trickling_clients_are_closed():
    # Never idle, never finishing a command: only the frame timeout (1 s) closes them.
    resp = socket.create_connection(("127.0.0.1", node.resp_port), timeout=10)
    if not trickle(resp, RespClient.encode("SET", "sentinel", "x" * 500), 20):
        fail("RESP client sending a byte at a time was not closed")
    resp.close()
    nc = node.native()
    body = frame(envelope(7, ENV_PUT, pb_bytes(1, b"sentinel") + pb_bytes(2, b"y" * 500)))
    if not trickle(nc.sock, body, 20):
        fail("native client sending a byte at a time was not closed")
    nc.close()
    check_node_is_healthy("trickling clients")


def log_lines():
    with open(node.log_path, "rb") as f:
        return f.read().count(b"\n")


def test_out_of_descriptors_pauses_http_accept():
    soft, hard = resource.prlimit(node.pid, resource.RLIMIT_NOFILE)
    fds = len(os.listdir("/proc/%d/fd" % node.pid))
    resource.prlimit(node.pid, resource.RLIMIT_NOFILE, (fds + 8, hard))
    socks = []
    try:
        lines = log_lines()
        for _ in range(32):  # the ones past the limit wait in the listen backlog
            socks.append(socket.create_connection(("127.0.0.1", node.http_port), timeout=10))
        time.sleep(HOLD_S)
        grown = log_lines() - lines
        with open(node.log_path, "rb") as f:
            text = f.read()
        if b"Error from accept() call" in text or grown > ACCEPT_ERROR_LINES_MAX:
            fail("out of descriptors: %d log lines in %d s (HTTP listener spinning?)" % (grown, HOLD_S))
        if b"mod=http msg=accept failed; pausing" not in text:
            fail("out of descriptors: no 'accept failed; pausing' line from http")
    finally:
        for s in socks:
            s.close()
        resource.prlimit(node.pid, resource.RLIMIT_NOFILE, (soft, hard))
    # The listeners accept again within their retry period.
    deadline = time.monotonic() + 30
    while True:
        try:
            if http_get(node.http_port, "/health")[0] == 200:
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            fail("HTTP does not accept again after descriptors were freed")
        time.sleep(0.2)
    check_node_is_healthy("out of descriptors")


def test_idle_http_connections_are_closed():
    socks = [socket.create_connection(("127.0.0.1", node.http_port), timeout=10) for _ in range(50)]
    socks[0].sendall(b"GET /health HTTP/1.1\r\n")  # an unfinished request, then silence
    for i, s in enumerate(socks):
        if not wait_closed(s, 60):
            fail("idle HTTP connection %d not closed" % i)
        s.close()
    check_node_is_healthy("idle HTTP connections")


class LowFdNode(Node):
    """A kvnode started with a soft open-file limit of 256, as a shell might give."""

    def args(self):
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        return ["prlimit", "--nofile=256:%d" % hard] + super().args()


def soft_fd_limit(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    fail("no 'Max open files' in /proc/%d/limits" % pid)


def test_soft_fd_limit_is_raised_for_max_connections():
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    want = 3 * 1000 + 1024  # 3 x --max-connections + NODE_FDS_RESERVED
    if hard != resource.RLIM_INFINITY and hard < want:
        print("skip: hard open-file limit %d < %d" % (hard, want))
        return
    low = LowFdNode("lowfd", extra=["--max-connections", "1000"]).start()
    try:
        expect(soft_fd_limit(low.pid), want, "soft open-file limit of a node started with 256")
    finally:
        expect(low.stop(), 0, "lowfd exit code")
        low.remove()


def test_stop():
    expect(node.stop(), 0, "exit code after the hostile input")
    node.remove()


if __name__ == "__main__":
    run([test_start, test_http_refuses_bad_requests, test_http_answers_then_closes,
         test_slow_http_sender_is_closed, test_http_connection_cap, test_gossip_port_drops_garbage,
         test_trickling_clients_are_closed, test_out_of_descriptors_pauses_http_accept,
         test_idle_http_connections_are_closed, test_soft_fd_limit_is_raised_for_max_connections,
         test_stop])
