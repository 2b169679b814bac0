#!/usr/bin/python3
"""WebSocket-to-TCP IRC bridge, used only to validate loadgen's WebSocket path.

ngIRCd speaks plain TCP only. This bridge accepts RFC 6455 clients that ask
for the IRCv3 subprotocol text.ircv3.net on ws://127.0.0.1:PORT/irc, opens
one TCP connection per client to an IRC server, and relays one IRC line per
WebSocket text message in both directions (server frames unmasked, without
CRLF, as salon sends them). It is strict about what a client must do:
frames must be masked (RFC 6455 5.1), text must be UTF-8, and the ping it
sends right after the handshake must come back as a pong with the same
payload. Violations are counted and printed on exit (SIGTERM/SIGINT).

Stdlib only; fine for a few hundred clients, not a performance peer.

usage: ws_bridge.py LISTEN_PORT UPSTREAM_HOST:UPSTREAM_PORT
"""
import asyncio
import base64
import hashlib
import signal
import struct
import sys

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SUBPROTOCOL = "text.ircv3.net"
MAX_MESSAGE = 8192 + 512  # one IRC line with tags (IRCv3 message-tags)

stats = {"clients": 0, "lines_up": 0, "lines_down": 0, "pongs_ok": 0,
         "violations": 0}


def violation(what):
    stats["violations"] += 1
    if stats["violations"] <= 10:
        print(f"ws_bridge: client violation: {what}", file=sys.stderr, flush=True)


def frame(opcode, payload):
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + payload


async def read_frame(reader):
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await reader.readexactly(8))
    if not b1 & 0x80:
        violation("unmasked client frame")
        mask = b"\0\0\0\0"
    else:
        mask = await reader.readexactly(4)
    if n > MAX_MESSAGE:
        raise ValueError("frame too large")
    data = bytearray(await reader.readexactly(n))
    for i in range(n):
        data[i] ^= mask[i & 3]
    return b0 & 0x80, b0 & 0x0F, bytes(data)


async def handle(reader, writer, upstream):
    up_w = None
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        hdr = {}
        for ln in lines[1:]:
            if ":" in ln:
                k, v = ln.split(":", 1)
                hdr[k.strip().lower()] = v.strip()
        if not lines[0].startswith("GET ") or hdr.get("upgrade", "").lower() != "websocket":
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return
        if SUBPROTOCOL not in [p.strip() for p in hdr.get("sec-websocket-protocol", "").split(",")]:
            violation("no text.ircv3.net subprotocol offered")
        accept = base64.b64encode(hashlib.sha1((hdr["sec-websocket-key"] + GUID).encode()).digest())
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept +
                     b"\r\nSec-WebSocket-Protocol: " + SUBPROTOCOL.encode() + b"\r\n\r\n")
        ping_payload = b"bridge-%d" % stats["clients"]
        writer.write(frame(0x9, ping_payload))
        stats["clients"] += 1
        host, port = upstream.rsplit(":", 1)
        up_r, up_w = await asyncio.open_connection(host, int(port))

        async def downstream():
            try:
                while True:
                    line = await up_r.readline()
                    if not line:
                        break
                    writer.write(frame(0x1, line.rstrip(b"\r\n")))
                    stats["lines_down"] += 1
                    if writer.transport.get_write_buffer_size() > 1 << 20:
                        await writer.drain()
                writer.write(frame(0x8, struct.pack("!H", 1000)))
                await writer.drain()
            except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                pass
            writer.close()

        task = asyncio.ensure_future(downstream())
        while True:
            fin, op, data = await read_frame(reader)
            if op == 0x1:
                if not fin:
                    violation("fragmented client message")
                if data.endswith(b"\n"):
                    violation("client line ends with CRLF")
                try:
                    data.decode("utf-8")
                except UnicodeDecodeError:
                    violation("client text is not UTF-8")
                up_w.write(data.rstrip(b"\r\n") + b"\r\n")
                stats["lines_up"] += 1
            elif op == 0xA:
                if data == ping_payload:
                    stats["pongs_ok"] += 1
                else:
                    violation("pong payload differs from ping")
            elif op == 0x9:
                writer.write(frame(0xA, data))
            elif op == 0x8:
                writer.write(frame(0x8, data[:2]))
                break
            else:
                violation(f"unexpected opcode {op}")
                break
        task.cancel()
    except (asyncio.IncompleteReadError, ConnectionError, ValueError, KeyError):
        pass
    finally:
        if up_w:
            up_w.close()
        writer.close()


async def main():
    port, upstream = int(sys.argv[1]), sys.argv[2]
    server = await asyncio.start_server(lambda r, w: handle(r, w, upstream), "127.0.0.1", port,
                                        backlog=4096, limit=1 << 16)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
    print("ws_bridge: " + " ".join(f"{k}={v}" for k, v in stats.items()), file=sys.stderr, flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    asyncio.run(main())
