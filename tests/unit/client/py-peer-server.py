#!/usr/bin/python3
"""py-peer-server.py: python-socketio (Debian python3-socketio 5.x, aiohttp)
as a peer for the C client tests, with the echo semantics of
tests/interop/ref-server.js as far as python-socketio can express them.

Usage: /usr/bin/python3 py-peer-server.py [--port P] [--ping-interval MS]
       [--ping-timeout MS]
Prints "listening on http://127.0.0.1:PORT/socket.io/" when ready; stops
on SIGTERM/SIGINT.

Namespaces "/" and "/custom":
  connect: auth has key "refuse" -> refused: a string value becomes the
           message, anything else is the data ({"message": "refused",
           "data": value}); otherwise "auth" is emitted with the auth object
           (python-socketio sends it before the CONNECT reply).
  every event -> its arguments are returned, so an ack request is acked
           with them (python-socketio cannot tell a handler whether the
           client asked for an ack, so events are also echoed:)
  "message" -> "message-back" to the sender, same args
  "bcast"   -> emitted to the whole namespace
  "disconnect-me" -> the server disconnects the socket
  "echo"    -> only the ack
  other     -> emitted back to the sender under its own name
"""
import argparse
import asyncio
import signal
import sys

import socketio
from aiohttp import web


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--ping-interval", type=int, default=25000)
    ap.add_argument("--ping-timeout", type=int, default=20000)
    a = ap.parse_args()

    sio = socketio.AsyncServer(async_mode="aiohttp",
                               ping_interval=a.ping_interval / 1000.0,
                               ping_timeout=a.ping_timeout / 1000.0,
                               max_http_buffer_size=1000000)
    app = web.Application()
    sio.attach(app)

    def setup(nsp):
        async def connect(sid, environ, auth=None):
            if isinstance(auth, dict) and "refuse" in auth:
                v = auth["refuse"]
                if isinstance(v, str):
                    raise socketio.exceptions.ConnectionRefusedError(v)
                raise socketio.exceptions.ConnectionRefusedError("refused", v)
            await sio.emit("auth", auth if auth is not None else {}, to=sid, namespace=nsp)

        async def any_event(event, sid, *args):
            if event == "message":
                await sio.emit("message-back", tuple(args) if len(args) != 1 else args[0],
                               to=sid, namespace=nsp)
            elif event == "bcast":
                await sio.emit("bcast", tuple(args) if len(args) != 1 else args[0],
                               namespace=nsp)
            elif event == "disconnect-me":
                await sio.disconnect(sid, namespace=nsp)
                return None
            elif event != "echo":
                await sio.emit(event, tuple(args) if len(args) != 1 else args[0],
                               to=sid, namespace=nsp)
            return tuple(args)

        sio.on("connect", connect, namespace=nsp)
        sio.on("*", any_event, namespace=nsp)

    setup("/")
    setup("/custom")

    async def run():
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", a.port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        sys.stdout.write("listening on http://127.0.0.1:%d/socket.io/\n" % port)
        sys.stdout.flush()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for s in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(s, stop.set)
        await stop.wait()
        await runner.cleanup()

    asyncio.run(run())


if __name__ == "__main__":
    main()
