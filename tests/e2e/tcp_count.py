#!/usr/bin/env python3
"""tcp_count.py PORT: a TCP relay on 127.0.0.1 (a free port) to
127.0.0.1:PORT that prints "listening on RELAYPORT", then "connection N"
for each client connection it accepts. TLS passes through untouched, so
client and server negotiate ALPN as without it. Used by client_h2.sh to
count the TCP connections a client makes."""
import asyncio
import sys

target = int(sys.argv[1])
count = 0


async def pipe(r, w):
    try:
        while True:
            data = await r.read(65536)
            if not data:
                break
            w.write(data)
            await w.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            w.close()
        except OSError:
            pass


async def relay(cr, cw):
    global count
    count += 1
    print("connection %d" % count, flush=True)
    try:
        sr, sw = await asyncio.open_connection("127.0.0.1", target)
    except OSError:
        cw.close()
        return
    await asyncio.gather(pipe(cr, sw), pipe(sr, cw))


async def main():
    srv = await asyncio.start_server(relay, "127.0.0.1", 0)
    print("listening on %d" % srv.sockets[0].getsockname()[1], flush=True)
    async with srv:
        await srv.serve_forever()


asyncio.run(main())
