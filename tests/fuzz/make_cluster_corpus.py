#!/usr/bin/env python3
"""Writes seed inputs for fuzz_cluster into tests/fuzz/corpus/cluster/.

One seed per ClusterMessage body of proto/cluster.proto, hand-encoded in
protobuf wire format from the .proto (independently of protobuf-c), each
twice: wrapped in an Envelope (byte 0 = 0, the node's server path) and
bare (byte 0 = 1, coord_msg_decode). Objects, gossip packets and aae
messages inside are the kept seeds of fuzz_object, fuzz_gossip and
fuzz_aae, so the nested decoders start from valid input too.
Run from anywhere: python3 tests/fuzz/make_cluster_corpus.py
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "cluster")


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


def f_int(field, v):
    return varint(field << 3) + varint(v)


def f_bytes(field, data):
    if isinstance(data, str):
        data = data.encode()
    return varint(field << 3 | 2) + varint(len(data)) + data


def seed(name):
    with open(os.path.join(HERE, "corpus", name[0], name[1]), "rb") as f:
        return f.read()


def main():
    obj = seed(("object", "register"))
    sibs = seed(("object", "siblings_tombstone"))
    gossip = seed(("gossip", "pushpull"))[1:]  # byte 0 of that corpus picks the decoder
    aae = seed(("aae", "keys_req_all"))
    bodies = {
        "replica_get": (1, f_int(1, 7) + f_bytes(2, "k1") + f_int(3, 42)),
        "replica_get_hint": (1, f_int(1, 7) + f_bytes(2, "k1") + f_int(3, 43) + f_bytes(4, "n2")),
        "replica_get_reply": (2, f_int(1, 1) + f_bytes(2, sibs) + f_int(3, 42) + f_int(4, 0)),
        "replica_put": (3, f_int(1, 7) + f_bytes(2, "k1") + f_bytes(3, obj) + f_int(5, 44)),
        "replica_put_reply": (4, f_int(1, 44) + f_int(2, zigzag(-15))),
        "forward_put": (5, f_int(1, 45) + f_int(2, 1) + f_bytes(3, "k2") + f_bytes(4, "v")
                        + f_int(6, 1000) + f_int(7, 1) + f_int(9, 2) + f_int(11, 900)),
        "forward_incr": (5, f_int(1, 46) + f_int(2, 5) + f_bytes(3, "n") + f_int(8, zigzag(-3))),
        "forward_write_reply": (6, f_int(1, 45) + f_int(2, 0) + f_bytes(3, "ctx") + f_int(4, 1)
                                + f_int(5, zigzag(7))),
        "gossip": (20, f_bytes(1, gossip)),
        "gossip_reply": (21, b""),
        "aae": (40, aae),
        "hint_delivery": (60, f_int(1, 47) + f_int(2, 3) + f_bytes(3, "k3") + f_bytes(4, obj)),
        "hint_delivery_reply": (61, f_int(1, 47) + f_int(2, 0)),
        "handoff_batch": (80, f_int(1, 48) + f_int(2, 3) + f_int(3, 3) + f_int(4, 1)
                          + f_bytes(6, f_bytes(1, "k4") + f_bytes(2, obj))),
        "handoff_batch_reply": (81, f_int(1, 48) + f_int(2, 0)),
        "handoff_done": (82, f_int(1, 3) + f_int(2, 3) + f_bytes(3, "n2")),
    }
    os.makedirs(OUT, exist_ok=True)
    for name, (field, body) in bodies.items():
        cm = f_bytes(field, body)
        with open(os.path.join(OUT, "env_" + name), "wb") as f:
            f.write(b"\x00" + f_int(1, 9) + f_bytes(100, cm))
        with open(os.path.join(OUT, "bare_" + name), "wb") as f:
            f.write(b"\x01" + cm)
    print("make_cluster_corpus: %d seeds in %s" % (2 * len(bodies), OUT))


if __name__ == "__main__":
    main()
