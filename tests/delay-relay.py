#!/usr/bin/env python3
"""A UDP relay that delays every datagram, for tests/kernel-path: Linux here has no netem.

    delay-relay.py LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT DELAY_MS LIFETIME_S

Datagrams to LISTEN go to TARGET DELAY_MS later, from a socket of the relay's own; the
answers go back, DELAY_MS later too, to whoever sent to LISTEN last. It exits after
LIFETIME_S seconds, so a failed test never leaves it running for long.
"""
import heapq
import select
import socket
import sys
import time

listen_host, listen_port, target_host, target_port, delay_ms, lifetime = sys.argv[1:7]
delay = float(delay_ms) / 1000
deadline = time.monotonic() + float(lifetime)

front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
front.bind((listen_host, int(listen_port)))
back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
back.connect((target_host, int(target_port)))
for sock in (front, back):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    sock.setblocking(False)

client = None
queue = []  # (due, order, outgoing socket, destination or None, datagram)
order = 0
while time.monotonic() < deadline:
    now = time.monotonic()
    while queue and queue[0][0] <= now:
        _, _, sock, destination, datagram = heapq.heappop(queue)
        try:
            if destination is None:
                sock.send(datagram)
            else:
                sock.sendto(datagram, destination)
        except OSError:
            pass  # a full buffer or an unreachable end loses the datagram, as a network would
    timeout = max(0.0, queue[0][0] - now) if queue else 0.1
    readable, _, _ = select.select([front, back], [], [], timeout)
    for sock in readable:
        while True:
            try:
                datagram, source = sock.recvfrom(65535)
            except (BlockingIOError, ConnectionRefusedError):
                break
            order += 1
            if sock is front:
                client = source
                heapq.heappush(queue, (time.monotonic() + delay, order, back, None, datagram))
            elif client is not None:
                heapq.heappush(queue, (time.monotonic() + delay, order, front, client, datagram))
