#!/usr/bin/env python3
"""Answer every DNS query with NXDOMAIN at once (RFC 1035 §4.1.1, RCODE 3).

ircd-hybrid cannot turn reverse DNS off: for each client it asks the
nameserver of /etc/resolv.conf. bench/run.sh runs hybrid in a private mount
namespace where /etc/resolv.conf says "nameserver 127.0.0.1" and starts this
responder there, so no query leaves loopback and no registration waits for
a resolver timeout (ngIRCd gets DNS = no, InspIRCd resolvehostnames = no).

    nxdns.py [ADDR [PORT]]          default 127.0.0.1 53; stops on SIGTERM
"""
import signal
import socket
import sys

addr = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
port = int(sys.argv[2]) if len(sys.argv) > 2 else 53
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((addr, port))
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
while True:
    q, peer = s.recvfrom(512)
    if len(q) < 12:
        continue
    # The first question: labels up to the root label, then type and class.
    end = 12
    while end < len(q) and q[end]:
        end += 1 + q[end]
    end += 5
    if end > len(q):
        continue
    # Same id and question; QR=1, opcode and RD copied, RA=1, RCODE=3;
    # no answer, authority or additional records.
    flags = bytes([0x80 | (q[2] & 0x79), 0x80 | 3])
    s.sendto(q[:2] + flags + b"\0\1" + b"\0\0\0\0\0\0" + q[12:end], peer)
