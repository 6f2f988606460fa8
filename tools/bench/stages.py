#!/usr/bin/env python3
"""stages.py: a `perf report` of a sio server split by stage of the echo path.

    perf record -g -p PID -o perf.data -- sleep 5     (while `sio bench echo` runs)
    python3 tools/bench/stages.py perf.data

Reads `perf report --no-children --sort dso,sym` and adds each symbol's self
time to the stage its shared object and name belong to (docs/PERFORMANCE.md
"Where the time goes, by stage"). The table is percent of the server's samples.
"""
import re, subprocess, sys

STAGES = [  # (stage, dso regex, symbol regex); the first match wins
    ("WebSocket read, unmask, frame", r"", r"sio_ws_|ws_recv|ws_read|frame_start|deliver|sio_utf8"),
    ("Engine.IO/Socket.IO parse and packet build", r"", r"sio_eio_|sio_packet_|sio_pkt|eio_"),
    ("envelope encode/decode", r"msgpack", r""),
    ("envelope encode/decode", r"", r"sio_env_|enc_write|put_key|dec_"),
    ("JSON (jansson, fast path)", r"jansson", r""),
    ("JSON (jansson, fast path)", r"", r"sio_json|json_|dump_|lex_"),
    ("bus: ZeroMQ", r"libzmq", r""),
    ("bus: hub routing, worker dispatch", r"", r"hub_|on_gateway|on_worker|route|wk_|handle|shard|on_event_env|lookup_sock|ctx_|sio__|sio_emit|sio_ack|find_handler"),
    ("gateway sessions and sockets", r"", r"gw_|session|socket|dispatch|sio_map|flush"),
    ("allocation (malloc/free)", r"libc", r"malloc|free|realloc|calloc|_int_"),
    ("memcpy/memmove/string", r"libc", r"mem|str"),
    ("libevent", r"libevent", r""),
    ("kernel: scheduling and wake-ups", r"kernel", r"schedule|switch|futex|wake|idle|enqueue|dequeue|pick_next|update_curr|ttwu|irq|raw_spin|epoll|poll|eventfd|sched_yield"),
    ("kernel: TCP send/receive", r"kernel", r""),
    ("libc other", r"libc", r""),
]

def main():
    data = sys.argv[1] if len(sys.argv) > 1 else "perf.data"
    out = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", "dso,sym",
                          "-g", "none", "--stdio"], capture_output=True, text=True).stdout
    totals, other = {}, 0.0
    for line in out.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[[.k]\]\s+(.*)$", line)
        if not m:
            continue
        pct, dso, sym = float(m.group(1)), m.group(2), m.group(3).strip()
        for stage, dre, sre in STAGES:
            if (not dre or re.search(dre, dso)) and (not sre or re.search(sre, sym)):
                totals[stage] = totals.get(stage, 0.0) + pct
                break
        else:
            other += pct
    order = []
    for stage, _, _ in STAGES:
        if stage not in order:
            order.append(stage)
    for stage in order:
        if stage in totals:
            print("%-46s %6.1f %%" % (stage, totals[stage]))
    print("%-46s %6.1f %%" % ("other", other))

if __name__ == "__main__":
    main()
