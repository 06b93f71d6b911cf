#!/usr/bin/env python3
"""Writes seed inputs for fuzz_manifest into tests/fuzz/corpus/manifest/.

Each seed is one version edit, hand-encoded from the grammar in
storage/version_edit.h (tags 1..6; internal keys = user key ++ 8-byte
little-endian trailer seq << 8 | type): the counters alone, a flush
(new file), a compaction (files deleted and added, a compaction pointer),
and an empty edit. Run from anywhere: python3 tests/fuzz/make_manifest_corpus.py
"""
import struct

from corpus_wire import varint, vbytes as vstr, write_seeds


def ikey(user, seq, kind=1):
    return user + struct.pack("<Q", seq << 8 | kind)


def new_file(level, number, size, lo, hi, tombstones=0):
    return (varint(6) + varint(level) + varint(number) + varint(size) + vstr(lo) + vstr(hi)
            + varint(tombstones))


def main():
    counters = varint(1) + varint(12) + varint(2) + varint(15) + varint(3) + varint(1000)
    seeds = {
        "empty": b"",
        "counters": counters,
        "flush": counters + new_file(0, 13, 4096, ikey(b"a", 10), ikey(b"z", 900)),
        "compaction": (varint(5) + varint(0) + varint(13) + varint(5) + varint(1) + varint(9)
                       + new_file(1, 14, 8192, ikey(b"a", 10), ikey(b"m", 500), 1)
                       + new_file(1, 15, 8192, ikey(b"n", 20), ikey(b"z", 900))
                       + varint(4) + varint(1) + vstr(ikey(b"m", 500)) + counters),
    }
    out = write_seeds("manifest", seeds)
    print("make_manifest_corpus: %d seeds in %s" % (len(seeds), out))


if __name__ == "__main__":
    main()
