#!/usr/bin/env python3
"""Writes seed inputs for fuzz_store into tests/fuzz/corpus/store/.

Byte 0 odd: engine records klen:u8 ++ key ++ vlen:be16 ++ value, laid out
as coordinator/keyspace.h (DATA 01 | be16 partition | key, HINT 02 | t |
target | be16 partition | key, PURGE 04 | be16 partition | key), values
as object.h, hint.h (01 | stored_at_ms:fixed64 | object) and
coord_purge.c (actor, counter, marked_at_ms: fixed64 each). Partitions
are XXH64(key, seed 0) >> 61 (Q = 8), computed here.
Byte 0 even: a saved handoff state (coordinator/handoff_state.c); 2 asks
the target to fix the CRC, 0 keeps the one written here.
Run from anywhere: python3 tests/fuzz/make_store_corpus.py
"""
import struct

from corpus_wire import crc32c, crc32c_mask, varint, vbytes, write_seeds

M64 = (1 << 64) - 1
P1, P2, P3, P4, P5 = (0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
                      0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5)


def _rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & M64


def _round(acc, lane):
    return (_rotl((acc + lane * P2) & M64, 31) * P1) & M64


def xxh64(data, seed=0):
    n, i = len(data), 0
    if n >= 32:
        v = [(seed + P1 + P2) & M64, (seed + P2) & M64, seed, (seed - P1) & M64]
        while i + 32 <= n:
            for j in range(4):
                v[j] = _round(v[j], struct.unpack_from("<Q", data, i + 8 * j)[0])
            i += 32
        h = (_rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)) & M64
        for j in range(4):
            h = ((h ^ _round(0, v[j])) * P1 + P4) & M64
    else:
        h = (seed + P5) & M64
    h = (h + n) & M64
    while i + 8 <= n:
        h = (_rotl(h ^ _round(0, struct.unpack_from("<Q", data, i)[0]), 27) * P1 + P4) & M64
        i += 8
    if i + 4 <= n:
        h = (_rotl(h ^ (struct.unpack_from("<I", data, i)[0] * P1) & M64, 23) * P2 + P3) & M64
        i += 4
    while i < n:
        h = (_rotl(h ^ (data[i] * P5) & M64, 11) * P1) & M64
        i += 1
    h ^= h >> 33
    h = (h * P2) & M64
    h ^= h >> 29
    h = (h * P3) & M64
    return h ^ (h >> 32)


def part(key):
    return xxh64(key) >> 61


def rec(key, value):
    return bytes([len(key)]) + key + struct.pack(">H", len(value)) + value


def data_key(key, kind=1):
    return bytes([kind]) + struct.pack(">H", part(key)) + key


def hint_key(target, key):
    return bytes([2, len(target)]) + target + struct.pack(">H", part(key)) + key


ACTOR = struct.pack("<Q", 0x0A)
VALUE = bytes([1, 1]) + ACTOR + bytes([1, 1, 4, 0, 0]) + b"hi" + bytes([0])      # object.h example
TOMBSTONE = bytes([1, 1]) + ACTOR + bytes([1, 1, 2, 1, 0, 0])                    # a delete by 0x0a


def hint_record(stored_at, obj):
    return bytes([1]) + struct.pack("<Q", stored_at) + obj


def handoff_state(streams, facts):
    out = b"RKHO" + bytes([1]) + varint(len(streams))
    for p, q, to, completer, flags, cursor in streams:
        out += varint(p) + varint(q) + vbytes(to) + vbytes(completer) + bytes([flags])
        out += varint(10) + varint(1000) + varint(20) + varint(2000) + vbytes(cursor)
    out += varint(len(facts))
    for p, q, to in facts:
        out += varint(p) + varint(q) + vbytes(to)
    return out + struct.pack("<I", crc32c_mask(crc32c(out)))


def main():
    now = 1700000000000
    seeds = {
        "records_data": b"\x01" + rec(data_key(b"k"), VALUE) + rec(data_key(b"gone"), TOMBSTONE),
        "records_hints": b"\x01" + rec(hint_key(b"n2", b"k"), hint_record(now - 1000, VALUE))
        + rec(hint_key(b"n2", b"old"), hint_record(0, VALUE))
        + rec(hint_key(b"n3", b"d"), hint_record(now, TOMBSTONE)),
        "records_purge": b"\x01" + rec(data_key(b"gone"), TOMBSTONE)
        + rec(data_key(b"gone", 4), ACTOR + struct.pack("<QQ", 1, now - 60000)),
        "records_mixed": b"\x01" + rec(data_key(b"a"), VALUE) + rec(hint_key(b"me", b"a"), hint_record(now, VALUE))
        + rec(b"\x03\x00\x00meta", b"x") + rec(b"", b""),
        "handoff_empty": b"\x00" + handoff_state([], []),
        "handoff_streams": b"\x00" + handoff_state(
            [(0, 0, b"n3", b"n3", 0, data_key(b"k")), (0, 7, b"n3", b"n3", 2, b"\x01\x00\x07"),
             (3, 2, b"n3", b"n3", 1, b"")], [(0, 0, b"n3"), (4, 4, b"me")]),
        "handoff_fix_crc": b"\x02" + handoff_state([(0, 0, b"n3", b"n3", 0, b"")], [])[:-4] + b"\0\0\0\0",
    }
    out = write_seeds("store", seeds)
    print("make_store_corpus: %d seeds in %s" % (len(seeds), out))


if __name__ == "__main__":
    main()
