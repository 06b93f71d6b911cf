#!/usr/bin/env python3
"""Writes seed inputs for fuzz_aae into tests/fuzz/corpus/aae/.

Each seed is one anti-entropy message (coordinator/aae_msg.h), encoded
here by hand from the grammar in that header, independently of the C
encoder: one of each type, an error reply, and a few edge cases (the
documented worked example, for partition 5; the others are for
partition 0, the one the fuzz responder holds; an empty user key; a push
carrying a real stored object so the responder's merge path runs).
Run from anywhere: python3 tests/fuzz/make_aae_corpus.py
"""
import struct

from corpus_wire import varint, vbytes as bts, write_seeds

VERSION = 1
HASHES_REQ, HASHES_REPLY, KEYS_REQ, KEYS_REPLY, FETCH_REQ, FETCH_REPLY, PUSH_REQ, PUSH_REPLY = range(1, 9)


def header(mtype, xid=0x2A, seq=1, partition=0, status=0):
    return bytes([VERSION, mtype]) + struct.pack("<Q", xid) + varint(seq) + varint(partition) + bytes([status])


def ids(values):
    return varint(len(values)) + b"".join(varint(v) for v in values)


# A stored object (coordinator/object.h worked example): actor 0x0a stored "hi".
OBJECT = bytes.fromhex("01" "01" "0a00000000000000" "0101" "0400006869" "00")

SEEDS = {
    "hashes_req_root": header(HASHES_REQ, partition=5) + varint(1024) + varint(32) + varint(0) + ids([0]),
    "hashes_req_level1": header(HASHES_REQ, seq=2) + varint(1024) + varint(32) + varint(1) + ids(range(32)),
    "hashes_req_leaves": header(HASHES_REQ, seq=3) + varint(1024) + varint(32) + varint(2) + ids(range(64, 96)),
    "hashes_reply": header(HASHES_REPLY) + varint(2) + struct.pack("<QQ", 7, 2**64 - 1),
    "keys_req_all": header(KEYS_REQ) + varint(1024) + varint(32) + varint(4096) + bytes([0]) + ids([]),
    "keys_req_range": header(KEYS_REQ) + varint(1024) + varint(32) + varint(10) + bytes([3]) + bts(b"a")
    + bts(b"zz") + ids([1, 7, 1023]),
    "keys_reply_partial": header(KEYS_REPLY) + bytes([0]) + bts(b"m") + varint(2) + bts(b"k1")
    + struct.pack("<Q", 99) + bts(b"") + struct.pack("<Q", 1),
    "keys_reply_complete": header(KEYS_REPLY) + bytes([1]) + varint(0),
    "fetch_req": header(FETCH_REQ) + varint(2) + bts(b"k1") + bts(b"k2"),
    "fetch_reply": header(FETCH_REPLY) + varint(2) + bts(b"k1") + bytes([1]) + bts(OBJECT) + bts(b"k2")
    + bytes([0]),
    "push_req": header(PUSH_REQ) + varint(1) + bts(b"k1") + bts(OBJECT),
    "push_req_bad_object": header(PUSH_REQ) + varint(1) + bts(b"k1") + bts(b"\x01\x01"),
    "push_reply": header(PUSH_REPLY) + varint(12),
    "error_reply_busy": header(KEYS_REPLY, status=8),
}


def main():
    out = write_seeds("aae", SEEDS)
    print(f"wrote {len(SEEDS)} seeds to {out}")


if __name__ == "__main__":
    main()
