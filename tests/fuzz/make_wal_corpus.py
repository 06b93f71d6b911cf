#!/usr/bin/env python3
"""Writes seed logs for fuzz_wal into tests/fuzz/corpus/wal/.

An independent encoder of the WAL format (storage/FORMAT.md), so the seeds
also cross-check the C writer: fuzz_wal must read every "clean" seed back
with no dropped bytes. Run from anywhere: python3 tests/fuzz/make_wal_corpus.py
"""
import struct

from corpus_wire import crc32c, crc32c_mask as mask, write_seeds

BLOCK = 32768
HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def encode(records, start=0):
    out = bytearray()
    off = start % BLOCK
    for rec in records:
        left, pos, begin = len(rec), 0, True
        while True:
            room = BLOCK - off
            if room < HEADER:
                out += b"\0" * room
                off = 0
            avail = BLOCK - off - HEADER
            n = min(left, avail)
            end = n == left
            kind = FULL if begin and end else FIRST if begin else LAST if end else MIDDLE
            payload = rec[pos:pos + n]
            out += struct.pack("<IHB", mask(crc32c(bytes([kind]) + payload)), n, kind) + payload
            off += HEADER + n
            pos += n
            left -= n
            begin = False
            if left == 0:
                break
    return bytes(out)


def main():
    small = [b"hello", b"", b"x" * 100, bytes(range(256))]
    seeds = {
        "empty": b"",
        "small_records": encode(small),
        "spans_blocks": encode([b"a" * 10, bytes(i % 251 for i in range(2 * BLOCK + 500)), b"tail"]),
        "block_tail_padding": encode([b"p" * (BLOCK - HEADER - 3), b"after-padding"]),
        "torn_tail": encode(small)[:-40],
        "trailing_zeros": encode(small) + b"\0" * 64,
    }
    corrupt = bytearray(encode(small))
    corrupt[HEADER + 5 + HEADER + 2] ^= 0x10  # a CRC byte of the third record
    seeds["corrupt_middle"] = bytes(corrupt)
    write_seeds("wal", seeds, ".wal")


if __name__ == "__main__":
    main()
