#!/usr/bin/env python3
"""Writes seed tables for fuzz_table into tests/fuzz/corpus/table/.

An independent encoder of the SSTable format (storage/FORMAT.md, "SSTable"),
including XXH64 for the bloom filter and CRC-32C, so the seeds also
cross-check the C code: it writes byte for byte what table_builder writes
for the same entries and options, and fuzz_table reads every clean seed back.
Run from anywhere: python3 tests/fuzz/make_table_corpus.py
With --example it prints the worked example of FORMAT.md instead.
"""
import struct
import sys

from corpus_wire import crc32c, crc32c_mask as mask, write_seeds

M64 = (1 << 64) - 1
P1, P2, P3 = 0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9
P4, P5 = 0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5


def _rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & M64


def _round(acc, lane):
    return (_rotl((acc + lane * P2) & M64, 31) * P1) & M64


def xxh64(data, seed=0):
    n, p = len(data), 0
    if n >= 32:
        v = [(seed + P1 + P2) & M64, (seed + P2) & M64, seed, (seed - P1) & M64]
        while p + 32 <= n:
            for i in range(4):
                v[i] = _round(v[i], int.from_bytes(data[p + 8 * i:p + 8 * i + 8], "little"))
            p += 32
        h = (_rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)) & M64
        for x in v:
            h = (((h ^ _round(0, x)) * P1) + P4) & M64
    else:
        h = (seed + P5) & M64
    h = (h + n) & M64
    while p + 8 <= n:
        h ^= _round(0, int.from_bytes(data[p:p + 8], "little"))
        h = (_rotl(h, 27) * P1 + P4) & M64
        p += 8
    if p + 4 <= n:
        h ^= (int.from_bytes(data[p:p + 4], "little") * P1) & M64
        h = (_rotl(h, 23) * P2 + P3) & M64
        p += 4
    while p < n:
        h ^= (data[p] * P5) & M64
        h = (_rotl(h, 11) * P1) & M64
        p += 1
    h ^= h >> 33
    h = (h * P2) & M64
    h ^= h >> 29
    h = (h * P3) & M64
    return h ^ (h >> 32)


assert xxh64(b"abc") == 0x44BC2CF5AD770999
assert crc32c(b"123456789") == 0xE3069283

SEQ_MAX = (1 << 56) - 1
DELETE, VALUE, RANGE_DELETE = 0, 1, 2
SEEK = RANGE_DELETE
BLOOM_SEED = 0xBC9F1D34
HANDLE_MAX = 20
FOOTER = 3 * HANDLE_MAX + 4 + 4 + 8
MAGIC = 0x7473766B676E6972
VERSION = 1


def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def ikey(user, seq, kind):
    return user + struct.pack("<Q", (seq << 8) | kind)


def ikey_sort_key(k):
    user, trailer = k[:-8], struct.unpack("<Q", k[-8:])[0]
    return (user, -trailer)


class Block:
    def __init__(self, restart_interval):
        self.interval = restart_interval
        self.reset()

    def reset(self):
        self.buf, self.restarts, self.counter, self.last = bytearray(), [0], 0, b""

    def add(self, key, value):
        shared = 0
        if self.counter < self.interval:
            while shared < min(len(key), len(self.last)) and key[shared] == self.last[shared]:
                shared += 1
        else:
            self.restarts.append(len(self.buf))
            self.counter = 0
        self.buf += varint(shared) + varint(len(key) - shared) + varint(len(value))
        self.buf += key[shared:] + value
        self.last, self.counter = key, self.counter + 1

    def size(self):
        return len(self.buf) + 4 * len(self.restarts) + 4

    def finish(self):
        return bytes(self.buf) + b"".join(struct.pack("<I", r) for r in self.restarts) + \
            struct.pack("<I", len(self.restarts))


def bloom(user_keys, bits_per_key):
    nlines = max(1, (len(user_keys) * bits_per_key + 511) // 512)
    k = max(1, min(30, int(bits_per_key * 0.69 + 0.5)))
    bits = bytearray(nlines * 64)
    for key in user_keys:
        h = xxh64(key, BLOOM_SEED)
        line = ((h & 0xFFFFFFFF) * nlines) >> 32
        h2 = h >> 32
        delta = (h2 >> 17) | 1
        for i in range(k):
            b = (h2 + i * delta) & 511
            bits[line * 64 + (b >> 3)] |= 1 << (b & 7)
    return bytes(bits) + bytes([k])


def separator(a, b):
    """Shortest internal key k with a <= k < b (b None: any k >= a)."""
    ua = a[:-8]
    cut = len(ua)
    if b is not None:
        ub = b[:-8]
        i = 0
        while i < min(len(ua), len(ub)) and ua[i] == ub[i]:
            i += 1
        if i < min(len(ua), len(ub)) and ua[i] + 1 < ub[i]:
            cut = i + 1
    else:
        for i, c in enumerate(ua):
            if c != 0xFF:
                cut = i + 1
                break
    if cut >= len(ua):
        return a
    return ikey(ua[:cut - 1] + bytes([ua[cut - 1] + 1]), SEQ_MAX, SEEK)


def table(entries, range_tombstones=(), block_bytes=4096, restart_interval=16, bits_per_key=10):
    """entries: sorted (internal key, value); range_tombstones: (begin, end, seq)."""
    out = bytearray()

    def write_block(contents):
        handle = (len(out), len(contents))
        out.extend(contents + b"\0" + struct.pack("<I", mask(crc32c(contents + b"\0"))))
        return handle

    def handle_bytes(h):
        return varint(h[0]) + varint(h[1])

    data, index = Block(restart_interval), Block(1)
    pending, last, users = None, None, []
    for key, value in entries:
        if pending is not None:
            index.add(separator(last, key), handle_bytes(pending))
            pending = None
        if not users or users[-1] != key[:-8]:
            users.append(key[:-8])
        data.add(key, value)
        last = key
        if data.size() >= block_bytes:
            pending = write_block(data.finish())
            data.reset()
    if data.buf:
        pending = write_block(data.finish())
    if pending is not None:
        index.add(separator(last, None), handle_bytes(pending))
    filt = write_block(bloom(users, bits_per_key)) if bits_per_key else (0, 0)
    rt = Block(1)
    for begin, end, seq in sorted(range_tombstones, key=lambda t: (t[0], -t[2])):
        rt.add(ikey(begin, seq, RANGE_DELETE), end)
    rth = write_block(rt.finish())
    idx = write_block(index.finish())
    footer = b"".join(handle_bytes(h).ljust(HANDLE_MAX, b"\0") for h in (filt, rth, idx))
    footer += struct.pack("<I", VERSION)
    footer += struct.pack("<I", mask(crc32c(footer))) + struct.pack("<Q", MAGIC)
    assert len(footer) == FOOTER
    return bytes(out + footer)


def example():
    entries = [(ikey(b"apple", 3, VALUE), b"red"), (ikey(b"banana", 2, DELETE), b""),
               (ikey(b"cherry", 1, VALUE), b"")]
    return table(entries, [(b"b", b"c", 4)])


def main():
    if "--example" in sys.argv:
        t = example()
        for off in range(0, len(t), 16):
            print("%04x  %s" % (off, " ".join("%02x" % b for b in t[off:off + 16])))
        return
    many = []
    for i in range(40):
        user = b"key%04d" % (i * 3)
        for v in range(1 + i % 3):
            many.append((ikey(user, 100 - v, DELETE if (i + v) % 7 == 0 else VALUE), b"v%d" % i * (i % 5)))
    binary = sorted([(ikey(u, 1, VALUE), b"") for u in
                     [b"", b"\0", b"\0\0", b"a\0b", b"a\xff", b"a\xff\xff", b"\xff", b"\xff\xff\0"]],
                    key=lambda e: ikey_sort_key(e[0]))
    seeds = {
        "empty": table([]),
        "three_keys": example(),
        "versions_and_blocks": table(many, block_bytes=128, restart_interval=3),
        "range_tombstones": table(many[:5], [(b"a", b"m", 7), (b"key", b"kez", 9), (b"a", b"b", 9)]),
        "no_filter": table(many[:20], bits_per_key=0, restart_interval=1),
        "binary_keys": table(binary, block_bytes=16),
        "long_key": table([(ikey(b"L" * 300 + b"%d" % i, 5, VALUE), b"w" * (i * 200)) for i in range(6)],
                          block_bytes=512),
    }
    corrupt = bytearray(example())
    corrupt[3] ^= 0x20  # inside the first data block: its CRC no longer matches
    seeds["corrupt_block"] = bytes(corrupt)
    write_seeds("table", seeds, ".sst")


if __name__ == "__main__":
    main()
