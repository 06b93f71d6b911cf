#!/usr/bin/env python3
"""Writes seed inputs for fuzz_frame into tests/fuzz/corpus/frame/.

Each seed is: one byte choosing the frame limit (16 + 64 * b bytes), one
byte choosing the feed piece size (1 + b), then a byte stream of frames
(rpc/frame.h). Envelopes are encoded here by hand from proto/kv.proto and
proto/cluster.proto field numbers, independently of protoc-c.
Run from anywhere: python3 tests/fuzz/make_frame_corpus.py
"""
import struct

from corpus_wire import field_bytes, field_varint, write_seeds


def frame(body):
    return struct.pack(">I", len(body)) + body


# Envelope fields: request_id 1, status 2, error 3, hello 4, get 6, put 8, ping 12, cluster 100.
HELLO = field_varint(1, 1) + field_bytes(3, b"c1") + field_varint(4, 1)
ENV_HELLO = field_varint(1, 1) + field_bytes(4, HELLO)
ENV_PING = field_varint(1, 2) + field_bytes(12, field_bytes(1, b"hi"))
ENV_GET = field_varint(1, 7) + field_bytes(6, field_bytes(1, b"k"))
PUT = (field_bytes(1, b"key") + field_bytes(2, b"value") + field_bytes(3, b"ctx")
       + field_varint(4, 60000) + field_varint(5, 1)
       + field_bytes(6, field_varint(1, 2) + field_varint(3, 250)))
ENV_PUT = field_varint(1, 9) + field_bytes(8, PUT)
REPLICA_PUT = field_varint(1, 5) + field_bytes(2, b"k") + field_bytes(3, b"o") + field_bytes(4, b"n3")
ENV_CLUSTER = field_varint(1, 3) + field_bytes(100, field_bytes(3, REPLICA_PUT))
ENV_ERROR = field_varint(1, 4) + field_varint(2, (1 << 64) - 13) + field_bytes(3, b"refused")

SEEDS = {
    "get_example": b"\x00\xff" + frame(ENV_GET),
    "hello_then_ping": b"\x01\x00" + frame(ENV_HELLO) + frame(ENV_PING),
    "hello_split_in_threes": b"\x01\x02" + frame(ENV_HELLO),
    "put_with_options": b"\x04\x07" + frame(ENV_PUT),
    "replica_put": b"\x02\x05" + frame(ENV_CLUSTER),
    "error_reply": b"\x02\x10" + frame(ENV_ERROR),
    "length_4gib": b"\x10\x00" + b"\xff\xff\xff\xff" + b"x" * 8,
    "length_zero": b"\x10\x00" + b"\x00\x00\x00\x00",
    "over_limit_by_one": b"\x00\xff" + struct.pack(">I", 17) + b"\x08" * 17,
    "truncated": b"\x03\x03" + frame(ENV_PUT)[:-3],
}


def main():
    out = write_seeds("frame", SEEDS)
    print("wrote %d seeds to %s" % (len(SEEDS), out))


if __name__ == "__main__":
    main()
