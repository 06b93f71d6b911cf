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

from corpus_wire import field_bytes as f_bytes, field_varint as f_int, write_seeds, zigzag

HERE = os.path.dirname(os.path.abspath(__file__))


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
    seeds = {}
    for name, (field, body) in bodies.items():
        cm = f_bytes(field, body)
        seeds["env_" + name] = b"\x00" + f_int(1, 9) + f_bytes(100, cm)
        seeds["bare_" + name] = b"\x01" + cm
    out = write_seeds("cluster", seeds)
    print("make_cluster_corpus: %d seeds in %s" % (len(seeds), out))


if __name__ == "__main__":
    main()
