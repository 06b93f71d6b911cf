"""corpus_wire.py - the byte-level encoders the make_*_corpus.py seed
generators share, written from the formats' definitions (independently of
the C code under test):

  varint(v)             unsigned LEB128, as protobuf and our own formats use
  zigzag(v)             protobuf sint64 zig-zag mapping (v < 2^63)
  vbytes(b)             varint length + bytes (our formats' strings)
  field_varint(num, v)  protobuf field `num`, wire type 0
  field_bytes(num, b)   protobuf field `num`, wire type 2 (a str is UTF-8 encoded)
  crc32c(data, crc=0)   CRC-32C (Castagnoli), unmasked
  crc32c_mask(crc)      the masked form stored in WAL and table blocks
                        (rotate right 15, add 0xa282ead8, as LevelDB)
  write_seeds(corpus, seeds, suffix="")
                        writes {name: bytes} to tests/fuzz/corpus/CORPUS/NAME+SUFFIX

Imported by the generators that sit next to it (Python puts a script's
folder first on sys.path), so they still run from anywhere.
"""
import os


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def zigzag(v):
    return (v << 1) ^ (v >> 63)


def vbytes(b):
    return varint(len(b)) + b


def field_varint(num, v):
    return varint(num << 3) + varint(v)


def field_bytes(num, data):
    if isinstance(data, str):
        data = data.encode()
    return varint((num << 3) | 2) + varint(len(data)) + data


def _crc_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc_table()


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = _CRC_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def crc32c_mask(crc):
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def write_seeds(corpus, seeds, suffix=""):
    """Writes each seed to corpus/CORPUS/NAME+SUFFIX next to this file
    (creating the folder); returns the folder."""
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", corpus)
    os.makedirs(out, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(out, name + suffix), "wb") as f:
            f.write(data)
    return out
