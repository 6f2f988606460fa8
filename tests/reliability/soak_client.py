"""soak_client.py: one client process of `tools/dev.sh soak` (python-socketio).

    /usr/bin/python3 tests/reliability/soak_client.py --url URL --mode MODE --seconds N

Against `sio server --plugin demo4.so` (acks for any event, join with an
ack, `emit` to a room, `send` to the whole namespace). Until N seconds have
passed it repeats a session: connect (MODE polling, websocket, upgrade =
polling then websocket, or churn = short sessions alternating the three),
join one of 4 rooms, then acked echoes of 10 B to 20 KB, every 10th also an
emit to the room and every 50th a `send` to everyone, then disconnect.
Sessions are a random 20-200 echoes long (churn: 0-3) so that connects and
disconnects keep happening. The last stdout line is a JSON object of
counts; exit 1 when a session failed or an ack did not come.
"""
import argparse
import json
import random
import sys
import time

import socketio

ap = argparse.ArgumentParser()
ap.add_argument("--url", required=True)
ap.add_argument("--mode", choices=["polling", "websocket", "upgrade", "churn"], required=True)
ap.add_argument("--seconds", type=float, required=True)
ap.add_argument("--seed", type=int, default=0)
a = ap.parse_args()

TRANSPORTS = {"polling": ["polling"], "websocket": ["websocket"], "upgrade": ["polling", "websocket"]}
rng = random.Random(a.seed or sum(map(ord, a.mode)))   # str hash() varies per process
stats = {"mode": a.mode, "sessions": 0, "acks": 0, "wrong_acks": 0, "ack_timeouts": 0,
         "room_msgs": 0, "send_msgs": 0, "errors": 0}
end = time.monotonic() + a.seconds
n = 0
while time.monotonic() < end:
    n += 1
    mode = ["polling", "websocket", "upgrade"][n % 3] if a.mode == "churn" else a.mode
    sio = socketio.Client(reconnection=False)
    sio.on("room_msg", lambda *args: stats.__setitem__("room_msgs", stats["room_msgs"] + 1))
    sio.on("message", lambda *args: stats.__setitem__("send_msgs", stats["send_msgs"] + 1))
    try:
        sio.connect(a.url, transports=TRANSPORTS[mode], wait_timeout=10)
        stats["sessions"] += 1
        room = f"room{rng.randrange(4)}"
        sio.call("join", room, timeout=10)
        count = rng.randrange(0, 4) if a.mode == "churn" else rng.randrange(20, 200)
        for i in range(count):
            if time.monotonic() >= end:
                break
            data = {"i": i, "pad": "x" * rng.choice([10, 1000, 20000])}
            try:
                r = sio.call("echo", data, timeout=10)
            except socketio.exceptions.TimeoutError:
                stats["ack_timeouts"] += 1
                continue
            # demo4 acks any other event with ["any", event, namespace, args...]
            if r == ["any", "echo", "/", data]:
                stats["acks"] += 1
            else:
                stats["wrong_acks"] += 1
            if i % 10 == 0:
                sio.emit("emit", {"to": room, "event": "room_msg", "args": [i]})
            if i % 50 == 0:
                sio.emit("send", [i])
            time.sleep(0.005)
        sio.disconnect()
    except Exception as e:  # counted and shown; the soak goes on
        stats["errors"] += 1
        print(f"session {n} ({mode}): {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        try:
            sio.disconnect()
        except Exception:
            pass
        time.sleep(0.5)
print(json.dumps(stats), flush=True)
sys.exit(1 if stats["errors"] or stats["ack_timeouts"] or stats["wrong_acks"] else 0)
