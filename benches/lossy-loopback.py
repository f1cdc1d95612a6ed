#!/usr/bin/env python3
"""The Python half of benches/lossy-loopback: Linux TCP's two ends, and the report.

    lossy-loopback.py tcp-recv HOST            listen on HOST, port 0; take one connection
    lossy-loopback.py tcp-send HOST:PORT FILE  send FILE to it (with TCP_CONGESTION=NAME
                                               in the environment, by that algorithm)
    lossy-loopback.py record RUNS SYSTEM LOSS ROUND BYTES TIMEOUT RECV_RC SEND_RC DIR
    lossy-loopback.py summary RUNS LOSS
    lossy-loopback.py table RUNS

tcp-recv and tcp-send mirror `ferry recv --once --stats json` and `ferry send --stats json`,
so the script drives both systems the same way: the receiver says "listening on HOST:PORT"
on stderr, and each end prints one JSON object on stdout when its transfer ends.

record turns one run's outputs (DIR/recv.out, DIR/send.out and the exit codes) into one JSON
line appended to RUNS, and prints it as a line of text; summary prints one loss rate's
medians; table prints the Markdown table for docs/performance.md and appends one summary
JSON line per loss rate to RUNS.
"""

import json
import math
import os
import socket
import statistics
import struct
import sys
import time

CHUNK = 1 << 20
# timeout(1) exits 124 when it stopped the command, 137 when it had to kill it.
TIMED_OUT = (124, 137)
NAMES = {"linux": "Linux TCP", "ferry": "Ferry"}


# ---- Linux TCP's two ends ------------------------------------------------------------------

def tcp_recv(host):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((host, 0))
    listener.listen(1)
    print("tcp recv: listening on %s:%d" % listener.getsockname(), file=sys.stderr, flush=True)
    connection, _ = listener.accept()
    # From accept to end of stream, as in the project's anchors.
    started = time.monotonic()
    buffer = bytearray(CHUNK)
    received = 0
    while True:
        count = connection.recv_into(buffer)
        if count == 0:
            break
        received += count
    seconds = time.monotonic() - started
    connection.close()
    print(json.dumps({
        "bytes_delivered": received,
        "seconds": seconds,
        "goodput_bps": received * 8 / seconds if seconds > 0 else 0.0,
    }))


# The namespace's counters that tell how losses were repaired. The script runs one
# connection at a time in a namespace of its own, so their difference is this connection's.
# The D-SACK and undo counters tell reordering (and the spurious retransmissions it causes)
# from loss: TCPDSACKRecv and TCPDSACKUndo for the sender's retransmissions reported twice and
# the recoveries undone for them, TCPSACKReorder and TCPTSReorder for reordering seen; the
# HyStart counters for how slow start ended.
TCP_EXT = ["TCPTimeouts", "TCPLossProbes", "TCPLossProbeRecovery", "TCPLostRetransmit",
           "TCPFastRetrans", "TCPSackRecovery", "TCPSpuriousRTOs", "TCPSynRetrans",
           "TCPDSACKRecv", "TCPDSACKRecvSegs", "TCPDSACKUndo", "TCPDSACKIgnoredNoUndo",
           "TCPLossUndo", "TCPFullUndo", "TCPPartialUndo", "TCPSACKReorder", "TCPTSReorder",
           "TCPRenoReorder", "TCPDelivered", "TCPHystartTrainDetect", "TCPHystartDelayDetect"]
TCP = ["RetransSegs", "OutSegs"]


def netns_counters():
    """The TcpExt (/proc/net/netstat) and Tcp (/proc/net/snmp) counters named above."""
    values = {}
    for path in ("/proc/net/netstat", "/proc/net/snmp"):
        with open(path) as file:
            lines = file.read().splitlines()
        # Each group is two lines: "Prefix: names..." then "Prefix: values...".
        for names, numbers in zip(lines[::2], lines[1::2]):
            prefix, names = names.split(":", 1)
            for name, number in zip(names.split(), numbers.split(":", 1)[1].split()):
                values[prefix + "." + name] = int(number)
    wanted = ["TcpExt." + name for name in TCP_EXT] + ["Tcp." + name for name in TCP]
    return {name.split(".", 1)[1]: values.get(name, 0) for name in wanted}


def tcp_info(sock):
    """tcpi_total_retrans, and tcpi_total_rto where the kernel has it (Linux 6.7 on)."""
    raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    # struct tcp_info (linux/tcp.h): 8 bytes of u8 fields, then u32s; tcpi_total_retrans is
    # the 24th u32, and tcpi_total_rto the u16 at offset 240.
    info = {"total_retrans": struct.unpack_from("I", raw, 100)[0]}
    if len(raw) >= 242:
        info["total_rto"] = struct.unpack_from("H", raw, 240)[0]
    return info


def tcp_send(address, path):
    host, port = address.rsplit(":", 1)
    with open(path, "rb") as file:
        data = file.read()
    before = netns_counters()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # TCP_CONGESTION=cubic in the environment picks the sender's congestion control for this
    # socket alone (root may pick any the kernel has, whatever tcp_allowed_congestion_control
    # says; a namespace's default may not be changed to one outside that list).
    wanted = os.environ.get("TCP_CONGESTION")
    if wanted:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, wanted.encode())
    connecting = time.monotonic()
    sock.connect((host, int(port)))
    started = time.monotonic()
    sock.sendall(data)
    sock.shutdown(socket.SHUT_WR)
    # The receiver closes once it has read everything: its FIN is our receipt (as in ferry
    # send), and by then every data retransmission has been made and counted.
    while sock.recv(CHUNK):
        pass
    seconds = time.monotonic() - started
    info = tcp_info(sock)
    congestion = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16)
    sock.close()
    after = netns_counters()
    print(json.dumps({
        "bytes_sent": len(data),
        "congestion_control": congestion.split(b"\0", 1)[0].decode(),
        # The handshake: one round trip of the path, a check on an emulated delay.
        "connect_seconds": started - connecting,
        "seconds": seconds,
        "tcp_info": info,
        "netns_counters": {name: after[name] - before[name] for name in after},
    }))


# ---- The report ----------------------------------------------------------------------------

def rate(bps, unit=None):
    """3.21 Gbit/s, 45.6 Mbit/s; with unit, the number alone in that unit."""
    if unit is None:
        unit = "Gbit/s" if bps >= 1e9 else "Mbit/s"
    value = bps / (1e9 if unit == "Gbit/s" else 1e6)
    # Three significant figures, never an exponent: 793, 17.5, 4.81, 0.0412.
    decimals = 0 if value == 0 else max(0, 2 - math.floor(math.log10(value)))
    return "%.*f" % (decimals, value), unit


def show(bps):
    if not bps:
        return "0"
    text, unit = rate(bps)
    return text + " " + unit


def load_json(path):
    """The last line of path that parses as a JSON object, or None."""
    try:
        with open(path) as file:
            lines = file.read().splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def last_line(path):
    try:
        with open(path) as file:
            lines = [line for line in file.read().splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


def repairs(system, sender):
    """(retransmissions, RTO expiries) from the sender's report."""
    if system == "ferry":
        return sender["retransmissions"]["total"], sender["rto_timeouts"]
    info, counters = sender["tcp_info"], sender["netns_counters"]
    return info["total_retrans"], info.get("total_rto", counters["TCPTimeouts"])


def record(runs, system, loss, round_, size, timeout, recv_rc, send_rc, folder):
    receiver = load_json(os.path.join(folder, "recv.out"))
    sender = load_json(os.path.join(folder, "send.out"))
    run = {"kind": "run", "system": system, "loss_pct": float(loss), "round": int(round_),
           "bytes": int(size), "status": "ok", "finished": True,
           "seconds": None, "goodput_bps": 0.0,
           "retransmissions": None, "rto_timeouts": None,
           "receiver": receiver, "sender": sender}
    recv_rc, send_rc = int(recv_rc), int(send_rc)
    # The sender first: when it fails or runs out of time, the script stops the receiver.
    for side, rc, report, name in (("sender", send_rc, sender, "send"),
                                   ("receiver", recv_rc, receiver, "recv")):
        if rc in TIMED_OUT:
            run["status"] = "did not finish in %s s (the %s)" % (timeout, side)
        elif rc != 0 or report is None:
            why = last_line(os.path.join(folder, name + ".err"))
            run["status"] = "failed: the %s exited %d: %s" % (side, rc, why)
        if run["status"] != "ok":
            break
    else:
        if receiver["bytes_delivered"] != int(size):
            run["status"] = "failed: %d of %s bytes delivered" % (
                receiver["bytes_delivered"], size)
    if sender is not None:
        try:
            run["retransmissions"], run["rto_timeouts"] = repairs(system, sender)
        except (KeyError, TypeError):
            pass
    if run["status"] == "ok":
        run["seconds"] = receiver["seconds"]
        run["goodput_bps"] = receiver["goodput_bps"]
    else:
        run["finished"] = False
    with open(runs, "a") as file:
        file.write(json.dumps(run) + "\n")
    head = "%5s%%  round %-2d %-10s" % (loss, int(round_), NAMES[system])
    if run["finished"]:
        print("%s %12s in %7.3f s   retransmissions %6d   RTOs %4d" % (
            head, show(run["goodput_bps"]), run["seconds"],
            run["retransmissions"], run["rto_timeouts"]), flush=True)
    else:
        print("%s %s" % (head, run["status"]), flush=True)


def load_runs(runs):
    with open(runs) as file:
        rows = [json.loads(line) for line in file if line.strip()]
    return [row for row in rows if row.get("kind") == "run"]


def figures(rows, system, loss):
    """One system's runs at one loss rate. A run that did not finish counts as 0 goodput:
    it delivered less than the whole in the time allowed, and the median should say so."""
    mine = [row for row in rows if row["system"] == system and row["loss_pct"] == loss]
    goodputs = [row["goodput_bps"] if row["finished"] else 0.0 for row in mine]
    each = [row["goodput_bps"] if row["finished"] else None for row in mine]
    retrans = [row["retransmissions"] for row in mine if row["retransmissions"] is not None]
    rtos = [row["rto_timeouts"] for row in mine if row["rto_timeouts"] is not None]
    return {
        "runs": len(mine),
        "finished": sum(row["finished"] for row in mine),
        "goodputs": each,
        "median_bps": statistics.median(goodputs) if goodputs else None,
        "median_retransmissions": statistics.median(retrans) if retrans else None,
        "median_rto_timeouts": statistics.median(rtos) if rtos else None,
    }


def ratio(ferry, linux):
    if ferry["median_bps"] is None or not linux["median_bps"]:
        return None
    return ferry["median_bps"] / linux["median_bps"]


def losses_of(rows):
    return sorted({row["loss_pct"] for row in rows})


def lossless_ratio(rows):
    if 0.0 not in losses_of(rows):
        return None
    return ratio(figures(rows, "ferry", 0.0), figures(rows, "linux", 0.0))


def number(value, digits=3):
    return "-" if value is None else "%.*g" % (digits, value)


def summary(runs, loss):
    rows = load_runs(runs)
    loss = float(loss)
    linux, ferry = figures(rows, "linux", loss), figures(rows, "ferry", loss)
    for system, fig in (("linux", linux), ("ferry", ferry)):
        if not fig["runs"]:
            continue
        print("  %-10s median %12s   %d/%d finished   median retransmissions %s, RTOs %s" % (
            NAMES[system], show(fig["median_bps"]), fig["finished"], fig["runs"],
            number(fig["median_retransmissions"], 6), number(fig["median_rto_timeouts"], 6)))
    this, lossless = ratio(ferry, linux), lossless_ratio(rows)
    relative = this / lossless if this is not None and lossless else None
    print("  Ferry/Linux %s; divided by the lossless ratio %s%s" % (
        number(this), number(relative),
        " (target >= 0.8)" if loss in (1.0, 5.0, 10.0) else ""), flush=True)


def table(runs):
    rows = load_runs(runs)
    lossless = lossless_ratio(rows)
    print("| loss | Linux TCP, median (runs) | Ferry, median (runs) | Ferry / Linux "
          "| / lossless ratio | Linux retransmissions, RTOs | Ferry retransmissions, RTOs "
          "| finished: Linux, Ferry |")
    print("|---|---|---|---|---|---|---|---|")
    summaries = []
    for loss in losses_of(rows):
        linux, ferry = figures(rows, "linux", loss), figures(rows, "ferry", loss)
        this = ratio(ferry, linux)
        relative = this / lossless if this is not None and lossless else None

        def cell(fig):
            if fig["median_bps"] is None:
                return "-"
            _, unit = rate(fig["median_bps"] or 1e9)
            each = ", ".join("dnf" if bps is None else rate(bps, unit)[0]
                             for bps in fig["goodputs"])
            return "%s (%s)" % (show(fig["median_bps"]), each)

        def repaired(fig):
            return "%s, %s" % (number(fig["median_retransmissions"], 6),
                               number(fig["median_rto_timeouts"], 6))

        print("| %g%% | %s | %s | %s | %s | %s | %s | %d/%d, %d/%d |" % (
            loss, cell(linux), cell(ferry), number(this), number(relative),
            repaired(linux), repaired(ferry),
            linux["finished"], linux["runs"], ferry["finished"], ferry["runs"]))
        summaries.append({"kind": "summary", "loss_pct": loss,
                          "linux": linux, "ferry": ferry,
                          "ferry_over_linux": this, "over_lossless_ratio": relative})
    with open(runs, "a") as file:
        for line in summaries:
            file.write(json.dumps(line) + "\n")


def main():
    commands = {"tcp-recv": (tcp_recv, 1), "tcp-send": (tcp_send, 2), "record": (record, 9),
                "summary": (summary, 2), "table": (table, 1)}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    function, count = commands[sys.argv[1]]
    if len(sys.argv) != count + 2:
        sys.exit(__doc__)
    function(*sys.argv[2:])


if __name__ == "__main__":
    main()
