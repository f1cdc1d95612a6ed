#!/usr/bin/env python3
"""A one-way delay for every packet an iptables NFQUEUE rule hands it: this kernel has no netem.

    nfq-delay.py QUEUE DELAY_MS LIFETIME_S

It binds netfilter queue QUEUE over a raw netlink socket (nfnetlink_queue, no library needed),
holds each packet DELAY_MS and then accepts it; it exits after LIFETIME_S seconds, so a failed
bench never leaves it running for long (the iptables rule then drops what it queues: nobody
listens). It prints "nfq-delay: ready" on stderr once bound, and at exit how many packets it
delayed and the largest number held at once.

Every packet waits the same time, so they leave in the order they came: a first-in first-out
list of (due time, packet id) is enough, and one batch verdict (NFQNL_MSG_VERDICT_BATCH, which
accepts every queued packet with an id up to the one given) releases all that are due. Only
packet metadata is copied to userspace (NFQNL_COPY_META): the payload never leaves the kernel.
A notification lost to a full netlink buffer (ENOBUFS) loses no packet: the packet stays queued
in the kernel and a later batch verdict accepts it.
"""
import collections
import errno
import select
import signal
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_CONFIG, NFQNL_MSG_VERDICT_BATCH = 0, 2, 3
NFQA_PACKET_HDR, NFQA_VERDICT_HDR = 1, 2
NFQA_CFG_CMD, NFQA_CFG_PARAMS, NFQA_CFG_QUEUE_MAXLEN = 1, 2, 3
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NF_ACCEPT = 1
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2
# How many packets the kernel may hold for us: 100 Mbit/s for 50 ms is about 420 full-size
# packets one way; bursts the bottleneck has not yet smoothed come on top.
QUEUE_MAXLEN = 16384


def attribute(kind, payload):
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length % 4)


def message(kind, queue, attributes, flags=NLM_F_REQUEST, sequence=0):
    # nlmsghdr, then nfgenmsg (family AF_UNSPEC, version 0, the queue number big-endian).
    body = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(queue)) + attributes
    return struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | kind, flags,
                       sequence, 0) + body


def configure(sock, queue, attributes, sequence):
    """Send one config message and wait for the kernel's acknowledgement."""
    sock.send(message(NFQNL_MSG_CONFIG, queue, attributes, NLM_F_REQUEST | NLM_F_ACK, sequence))
    data = sock.recv(65536)
    length, kind = struct.unpack_from("=IH", data)
    if kind == NLMSG_ERROR:
        (code,) = struct.unpack_from("=i", data, 16)
        if code != 0:
            raise OSError(-code, "nfnetlink_queue config: %s" % errno.errorcode.get(-code, code))


def packet_ids(data):
    """The packet ids of the NFQNL_MSG_PACKET messages in one netlink read."""
    offset = 0
    while offset + 16 <= len(data):
        length, kind = struct.unpack_from("=IH", data, offset)
        if length < 16:
            return
        if kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
            at, end = offset + 20, offset + length
            while at + 4 <= end:
                size, what = struct.unpack_from("=HH", data, at)
                if size < 4:
                    break
                if what & 0x7FFF == NFQA_PACKET_HDR:
                    yield struct.unpack_from(">I", data, at + 4)[0]
                    break
                at += (size + 3) & ~3
        offset += (length + 3) & ~3


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    queue, delay, lifetime = int(sys.argv[1]), float(sys.argv[2]) / 1000, float(sys.argv[3])
    deadline = time.monotonic() + lifetime
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    sock.bind((0, 0))
    try:
        # 33 = SO_RCVBUFFORCE: past rmem_max, as root.
        sock.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
    configure(sock, queue, attribute(NFQA_CFG_CMD, struct.pack(
        "=BxH", NFQNL_CFG_CMD_BIND, socket.htons(socket.AF_INET))), 1)
    configure(sock, queue, attribute(NFQA_CFG_PARAMS, struct.pack(">IB", 0, NFQNL_COPY_META)), 2)
    configure(sock, queue, attribute(NFQA_CFG_QUEUE_MAXLEN, struct.pack(">I", QUEUE_MAXLEN)), 3)
    sock.setblocking(False)
    print("nfq-delay: ready", file=sys.stderr, flush=True)

    held = collections.deque()  # (due, packet id), oldest first
    delayed = most = 0
    # Stopped by the bench (SIGTERM): leave the loop and say what was done; the packets still
    # held are dropped with the queue when the socket closes.
    stopped = []
    signal.signal(signal.SIGTERM, lambda *_: stopped.append(True))
    while not stopped:
        now = time.monotonic()
        if now >= deadline:
            break
        last = None
        while held and held[0][0] <= now:
            last = held.popleft()[1]
        if last is not None:
            sock.send(message(NFQNL_MSG_VERDICT_BATCH, queue, attribute(
                NFQA_VERDICT_HDR, struct.pack(">II", NF_ACCEPT, last))))
        wait = held[0][0] - now if held else 0.1
        try:
            readable, _, _ = select.select([sock], [], [], max(0.0, min(wait, deadline - now)))
        except InterruptedError:
            continue
        if not readable:
            continue
        while True:
            try:
                data = sock.recv(1 << 16)
            except BlockingIOError:
                break
            except OSError as error:
                if error.errno == errno.ENOBUFS:
                    continue  # the packets are still queued; a later batch verdict takes them
                raise
            arrived = time.monotonic()
            for packet_id in packet_ids(data):
                held.append((arrived + delay, packet_id))
                delayed += 1
        most = max(most, len(held))
    print("nfq-delay: delayed %d packets, held at most %d at once" % (delayed, most),
          file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
