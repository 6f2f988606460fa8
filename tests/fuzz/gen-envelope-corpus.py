#!/usr/bin/python3
"""Write the seed corpus of fuzz-envelope (tests/fuzz/corpus/envelope/).

Packs envelopes the way docs/BUS.md describes them, with python3-msgpack,
so the seeds are also proof that a non-C program can produce them.
Run: /usr/bin/python3 tests/fuzz/gen-envelope-corpus.py
"""
import os
import msgpack

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "envelope")

SEEDS = {
    "emit-room": {"v": 1, "k": 16, "nsp": "/", "data": '["chat","hi"]', "rooms": ["lobby"]},
    "connect": {"v": 1, "k": 1, "gw": "gAbC12_-", "nsp": "/chat", "sid": "s1d",
                "data": '{"token":"x"}', "hdr": ["host", "example.com", "cookie", "a=b"],
                "q": "EIO=4&transport=polling", "ra": "127.0.0.1:40000",
                "ts": 1700000000000},
    "event-bin": {"v": 1, "k": 2, "gw": "gAbC12_-", "nsp": "/", "sid": "s1d", "id": 7,
                  "data": '["up",{"_placeholder":true,"num":0}]',
                  "bins": [b"\x00\xff\x00\xff", b""]},
    "join": {"v": 1, "k": 18, "gw": "gAbC12_-", "nsp": "/", "sid": "s1d",
             "rooms": ["a", "b"], "r2": ["c"]},
    "disconnect-cmd": {"v": 1, "k": 21, "nsp": "/", "rooms": ["bad"], "xs": ["keep"],
                       "xr": ["staff"], "cc": True, "why": "server namespace disconnect"},
    "raw-send": {"v": 1, "k": 25, "gw": "gAbC12_-", "nsp": "", "sid": "eng",
                 "data": b"\x01\x02\xff", "bin": True},
    "hello": {"v": 1, "k": 32, "rooms": ["/", "/chat", "/admin*", "*"]},
    "session": {"v": 1, "k": 24, "nsp": "/", "sid": "s1d", "sess": b'{"user":"ann"}'},
    "connect-err": {"v": 1, "k": 23, "gw": "gAbC12_-", "nsp": "/nope", "sid": "s1d",
                    "data": '{"message":"Invalid namespace"}'},
    "unknown-keys": {"v": 1, "k": 17, "sid": "s1d", "id": 3, "data": "[]",
                     "future": {"a": [1, 2.5, None, True, msgpack.ExtType(5, b"xy")]},
                     "why": None},
}

os.makedirs(OUT, exist_ok=True)
for name, env in SEEDS.items():
    with open(os.path.join(OUT, name + ".msgpack"), "wb") as f:
        f.write(msgpack.packb(env, use_bin_type=True))
