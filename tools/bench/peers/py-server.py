#!/usr/bin/python3
"""py-server.py: Debian's python3-socketio (AsyncServer on aiohttp) with the
echo plugin's handlers, for tools/bench/compare.sh.

    /usr/bin/python3 py-server.py [--host 127.0.0.1] [--port 5000]

Namespace "/": an event with an ack request is acked with its own
arguments (python-socketio sends a handler's return value as the ack when
one was asked for); "bcast" goes to the whole namespace (sender included);
"message" comes back as "message-back". On connect it emits "auth" with the
auth object. Prints "listening on http://HOST:PORT/socket.io/"; stops on
SIGTERM.
"""
import argparse
import asyncio
import signal
import sys

import socketio
from aiohttp import web

ap = argparse.ArgumentParser()
ap.add_argument("--host", default="127.0.0.1")
ap.add_argument("--port", type=int, default=5000)
opts = ap.parse_args()

sio = socketio.AsyncServer(async_mode="aiohttp", max_http_buffer_size=1_000_000)
app = web.Application()
sio.attach(app)


@sio.event
async def connect(sid, environ, auth=None):
    await sio.emit("auth", auth or {}, to=sid)


@sio.on("bcast")
async def bcast(sid, *args):
    await sio.emit("bcast", args[0] if len(args) == 1 else list(args))
    return tuple(args)


@sio.on("message")
async def message(sid, *args):
    await sio.emit("message-back", args[0] if len(args) == 1 else list(args), to=sid)
    return tuple(args)


@sio.on("*")
async def any_event(event, sid, *args):
    return tuple(args)   # the ack, sent only when the client asked for one


async def main():
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, opts.host, opts.port, backlog=4096)
    await site.start()
    print(f"listening on http://{opts.host}:{opts.port}/socket.io/", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    await stop.wait()
    await runner.cleanup()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
