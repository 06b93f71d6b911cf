#!/usr/bin/env python3
"""Writes seed inputs for fuzz_recover into tests/fuzz/corpus/recover/.

Each seed is a list of chunks kind:u8 ++ len:be16 ++ bytes (kind 0 CURRENT,
1 a MANIFEST-000001 record, 2 / 3 a record of log 2 / 3, 4 a table file,
5 an empty file of that name);
the target frames the records itself. Edits follow storage/version_edit.h
(tags 1..6), batches storage/batch.h (seq:fixed64 ++ count:fixed32 ++
records type:u8 ++ varstring key [++ varstring value or end]).
Run from anywhere: python3 tests/fuzz/make_recover_corpus.py
"""
import struct

from corpus_wire import varint, vbytes, write_seeds

DELETE, VALUE, RANGE_DELETE = 0, 1, 2


def chunk(kind, data):
    return bytes([kind]) + struct.pack(">H", len(data)) + data


def counters(log, next_file, last_seq):
    return varint(1) + varint(log) + varint(2) + varint(next_file) + varint(3) + varint(last_seq)


def batch(seq, records):
    out = struct.pack("<QI", seq, len(records))
    for r in records:
        out += bytes([r[0]]) + b"".join(vbytes(x) for x in r[1:])
    return out


def ikey(user, seq, kind=VALUE):
    return user + struct.pack("<Q", seq << 8 | kind)


def main():
    base = chunk(0, b"MANIFEST-000001\n") + chunk(1, counters(2, 4, 0))
    puts = batch(1, [(VALUE, b"a", b"1"), (VALUE, b"b", b"2"), (DELETE, b"c")])
    seeds = {
        "empty_logs": base + chunk(2, b""),
        "one_log": base + chunk(2, puts),
        "two_logs": base + chunk(2, puts)
        + chunk(3, batch(4, [(RANGE_DELETE, b"a", b"b"), (VALUE, b"z", b"26")])),
        "two_edits": base + chunk(1, varint(4) + varint(1) + vbytes(ikey(b"m", 5)) + counters(2, 5, 3))
        + chunk(2, puts),
        "empty_batch": base + chunk(2, batch(1, [])) + chunk(2, puts),
        "missing_table": base + chunk(1, varint(6) + varint(0) + varint(10) + varint(100)
                                      + vbytes(ikey(b"a", 1)) + vbytes(ikey(b"b", 2)) + varint(0))
        + chunk(2, puts) + chunk(4, b"not a table"),
        "no_current": chunk(1, counters(2, 4, 0)) + chunk(2, puts),
        "bad_current": chunk(0, b"MANIFEST-1") + chunk(1, counters(2, 4, 0)),
        "stray_files": base + chunk(2, puts) + b"".join(
            chunk(5, name) for name in (b"000099.log", b"MANIFEST-000007", b"000012.sst", b"CURRENT.tmp",
                                        b"LOCK", b"000001.log", b"junk", b"00000x.sst")),
    }
    out = write_seeds("recover", seeds)
    print("make_recover_corpus: %d seeds in %s" % (len(seeds), out))


if __name__ == "__main__":
    main()
