#!/usr/bin/env python3
"""Writes seed inputs for fuzz_reply into tests/fuzz/corpus/reply/.

Each seed is: the call (byte 0, fuzz_reply.c's numbering), a flag byte
(bit 0: the Hello reply is this one too), then the reply the fake node
sends: an Envelope hand-encoded from proto/kv.proto field numbers
(request_id is replaced by the node). Run from anywhere:
python3 tests/fuzz/make_reply_corpus.py
"""
from corpus_wire import field_bytes as fb, field_varint as fv, write_seeds

GET, PUT, DELETE, BATCH_GET, BATCH_PUT, EXPIRE, PERSIST, TTL, INCR, PING, STATS = range(11)
LOCAL_GET, AAE_STATUS, AAE_REPAIR, TRANSFERS, MEMBERS, RING, PLAN, COMMIT, HINTS = range(11, 20)


def env(body_field, body, status=0, error=None):
    out = fv(1, 7)
    if status:
        out += fv(2, status & (2**64 - 1))
    if error:
        out += fb(3, error)
    return out + fb(body_field, body)


def seed(call, reply, hello=False):
    return bytes([call, 1 if hello else 0]) + reply


SIB = fb(1, b"hello") + fv(2, 1700000000000)
GET_REPLY = fv(1, 1) + fb(2, SIB) + fb(2, fb(1, b"")) + fb(3, b"\x01\x00ctx")
ADMIN_MEMBERS = (fb(1, "n1") + fb(2, fb(1, "n1") + fb(2, "127.0.0.1:7000") + fv(4, 1) + fv(5, 3) + fv(7, 128))
                 + fb(2, fb(1, "n2") + fb(2, "[::1]:7001") + fb(3, "z1")))
RING_MAP = (fv(1, 4) + fv(2, 4) + fv(3, 2) + fv(4, 2) + fb(5, fb(1, "n1") + fb(2, "127.0.0.1:7000") + fv(3, 1))
            + fb(5, fb(1, "n2") + fb(2, "bad address")) + fb(6, bytes([0, 1, 1, 0, 0, 1, 1, 0])))
LOCAL = (fb(1, b"a") + fv(2, 3) + fb(3, fv(3, 18) + fb(4, fb(1, b"hi") + fv(6, 10) + fv(7, 1))
                                   + fb(5, fv(1, 10) + fv(2, 1) + fv(3, 1)))
         + fb(3, fb(1, "n2") + fv(2, 5) + fb(4, fv(3, 1))))
AAE = (fb(13, fv(1, 1) + fv(2, 8) + fv(3, 8) + fv(4, 2)) + fb(12, fv(1, 3) + fv(2, 1) + fb(5, "n2") + fb(8, "n2")
                                                                + fv(9, 21))
       + fv(14, 1))
TRANSFERS_R = (fb(16, fv(1, 1) + fv(2, 1) + fb(3, "n3") + fv(4, 1) + fv(6, 10) + fv(8, 100))
               + fb(17, fv(1, 1) + fv(2, 1) + fv(10, 1000)))
RING_R = (fb(3, fv(1, 5) + fv(2, 8) + fv(3, 2) + fv(4, 1) + fb(5, fb(1, "n1") + fv(3, 4) + fv(4, 3))
             + fb(5, fb(1, "n2") + fb(2, "z") + fv(3, 4) + fv(4, 5)))
          + fb(18, fv(1, 2) + fb(2, "n1") + fb(3, "n2")))
PLAN_R = fb(4, fv(1, 5) + fv(2, 6) + fb(5, fb(1, "n1") + fv(3, 4))) + fb(5, "staged")
HINTS_R = fb(7, fb(1, fb(1, "n2") + fv(2, 3) + fv(3, 300) + fv(4, 1000)) + fv(2, 3) + fv(3, 3))

SEEDS = {
    "get": seed(GET, env(7, GET_REPLY)),
    "get_absent": seed(GET, env(7, fb(3, b"c"))),
    "get_error": seed(GET, fv(1, 7) + fv(2, 2**64 - 12) + fb(3, "unavailable")),
    "connection_error": seed(GET, fv(2, 2**64 - 8) + fb(3, "busy")),
    "not_an_envelope": seed(GET, b"\xff\xff\xff"),
    "put": seed(PUT, env(9, fb(1, b"\x01ctx"))),
    "delete": seed(DELETE, env(11, fv(1, 1))),
    "batch_get": seed(BATCH_GET, env(17, fb(1, fb(3, GET_REPLY)) + fb(1, fv(1, 2**64 - 3) + fb(2, "nf"))
                                     + fb(1, fb(3, fb(3, b"c"))))),
    "batch_put": seed(BATCH_PUT, env(19, fb(1, fb(3, b"c1")) + fb(1, fv(1, 2**64 - 16) + fb(2, "conflict")))),
    "expire": seed(EXPIRE, env(21, fv(1, 1))),
    "persist": seed(PERSIST, env(21, b"")),
    "ttl": seed(TTL, env(23, fv(1, 5000))),
    "incr": seed(INCR, env(25, fv(1, 2**64 - 5))),
    "ping": seed(PING, env(13, fb(1, b"pong"))),
    "stats": seed(STATS, env(27, fb(1, fb(1, "engine.sst_files") + fb(2, "3")) + fb(1, fb(1, "x")))),
    "local_get": seed(LOCAL_GET, env(29, fb(10, LOCAL))),
    "aae_status": seed(AAE_STATUS, env(29, AAE)),
    "aae_repair": seed(AAE_REPAIR, env(29, AAE)),
    "transfers": seed(TRANSFERS, env(29, TRANSFERS_R)),
    "members": seed(MEMBERS, env(29, ADMIN_MEMBERS)),
    "ring": seed(RING, env(29, RING_R)),
    "ring_map": seed(RING, env(29, fb(6, RING_MAP))),
    "plan": seed(PLAN, env(29, PLAN_R)),
    "commit": seed(COMMIT, env(29, fb(5, "committed"))),
    "hints": seed(HINTS, env(29, HINTS_R)),
    "hello_refused": seed(PING, fv(1, 1) + fv(2, 2**64 - 13) + fb(3, "wrong cluster"), hello=True),
    "hello_reply": seed(PING, env(5, fv(1, 1) + fb(2, "n1") + fb(3, "ringkv")), hello=True),
}


def main():
    out = write_seeds("reply", SEEDS)
    print("make_reply_corpus: %d seeds in %s" % (len(SEEDS), out))


if __name__ == "__main__":
    main()
