#!/usr/bin/env python3
"""The Python half of benches/real-path: one run's record, a cell's medians, the table.

    real-path.py record RUNS CELL SYSTEM ROUND BYTES TIMEOUT RECV_RC SEND_RC DIR
    real-path.py sim RUNS CELL ROUND BYTES JSON_FILE
    real-path.py table RUNS

CELL is "RATE_MBIT RTT_MS LOSS_PCT" in one word per field, joined by commas (10,40,1).
Linux TCP's two ends are benches/lossy-loopback.py's tcp-recv and tcp-send, which mirror
`ferry recv --once --stats json` and `ferry send --stats json`; this file reuses its reading of
their outputs. record appends one JSON line per transfer to RUNS and prints it as text; sim
does the same for one `ferry sim --stats json` run; table prints the Markdown table (cells x
stacks: median completion time and goodput, Ferry/Linux) and appends one summary JSON line per
cell to RUNS.

Completion time is the sender's: from the moment its connect returned to the receiver's end of
stream, which comes once every byte arrived (Linux: tcp-send; Ferry: `ferry send`'s
`seconds`). Neither counts the handshake's round trip. The simulator's `sim_seconds` runs from
the SYN until the receiver reads end of stream, half a round trip longer by those
definitions: sim reports it less half the round trip.
"""

import importlib.util
import json
import os
import statistics
import sys

spec = importlib.util.spec_from_file_location(
    "lossy_loopback", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                   "lossy-loopback.py"))
lossy = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lossy)

NAMES = {"linux": "Linux CUBIC", "ferry": "Ferry", "sim": "ferry sim"}


def cell_of(text):
    rate, rtt, loss = text.split(",")
    return {"rate_mbit": float(rate), "rtt_ms": float(rtt), "loss_pct": float(loss)}


def key(row):
    return (row["rate_mbit"], row["rtt_ms"], row["loss_pct"], row["bytes"])


def append(runs, run):
    with open(runs, "a") as file:
        file.write(json.dumps(run) + "\n")
    head = "%g Mbit/s %g ms %g%% %9d B  round %-2d %-11s" % (
        run["rate_mbit"], run["rtt_ms"], run["loss_pct"], run["bytes"], run["round"],
        NAMES[run["system"]])
    if run["finished"]:
        handshake = run.get("handshake_seconds")
        print("%s %8.3f s %12s   retransmissions %s%s" % (
            head, run["seconds"], lossy.show(run["goodput_bps"]), run["retransmissions"],
            "" if handshake is None else "   handshake %.1f ms" % (handshake * 1000)),
            flush=True)
    else:
        print("%s %s" % (head, run["status"]), flush=True)


def record(runs, cell, system, round_, size, timeout, recv_rc, send_rc, folder):
    receiver = lossy.load_json(os.path.join(folder, "recv.out"))
    sender = lossy.load_json(os.path.join(folder, "send.out"))
    run = dict(cell_of(cell), kind="run", system=system, round=int(round_), bytes=int(size),
               status="ok", finished=True, seconds=None, goodput_bps=0.0,
               retransmissions=None, rto_timeouts=None, receiver=receiver, sender=sender)
    recv_rc, send_rc = int(recv_rc), int(send_rc)
    # The sender first: when it fails or runs out of time, the script stops the receiver.
    for side, rc, report, name in (("sender", send_rc, sender, "send"),
                                   ("receiver", recv_rc, receiver, "recv")):
        if rc in lossy.TIMED_OUT:
            run["status"] = "did not finish in %s s (the %s)" % (timeout, side)
        elif rc != 0 or report is None:
            why = lossy.last_line(os.path.join(folder, name + ".err"))
            run["status"] = "failed: the %s exited %d: %s" % (side, rc, why)
        if run["status"] != "ok":
            break
    else:
        if receiver["bytes_delivered"] != int(size):
            run["status"] = "failed: %d of %s bytes delivered" % (
                receiver["bytes_delivered"], size)
    if sender is not None:
        # Linux's sender says which congestion control its socket used (CUBIC, asked for).
        if "congestion_control" in sender:
            run["congestion_control"] = sender["congestion_control"]
            run["handshake_seconds"] = sender["connect_seconds"]
        try:
            run["retransmissions"], run["rto_timeouts"] = lossy.repairs(system, sender)
        except (KeyError, TypeError):
            pass
    if run["status"] == "ok" and sender["seconds"] > 0:
        run["seconds"] = sender["seconds"]
        run["goodput_bps"] = int(size) * 8 / sender["seconds"]
    else:
        run["finished"] = False
    append(runs, run)


def sim(runs, cell, round_, size, path):
    report = lossy.load_json(path)
    run = dict(cell_of(cell), kind="run", system="sim", round=int(round_), bytes=int(size),
               status="ok", finished=True, seconds=None, goodput_bps=0.0,
               retransmissions=None, rto_timeouts=None)
    run["report"] = report
    if report is None or not report.get("finished") or not report.get("intact"):
        run["status"], run["finished"] = "failed: %s" % lossy.last_line(path), False
    else:
        # sim_seconds runs from A's SYN until B reads end of stream: the handshake's round
        # trip, the transfer, and half a round trip for the FIN. The emulated senders count
        # from the handshake's end until the receiver's FIN comes back: the transfer and a
        # whole round trip for the two FINs. Half a round trip less makes the two alike.
        run["seconds"] = report["sim_seconds"] - run["rtt_ms"] / 2000
        run["goodput_bps"] = int(size) * 8 / run["seconds"]
        run["retransmissions"] = report.get("retransmissions", {}).get("total")
    append(runs, run)


def median_of(rows):
    """Median completion time and goodput; a transfer that did not finish counts as never
    finishing (infinite time, 0 goodput), so the median says so when most did not."""
    if not rows:
        return None
    seconds = [row["seconds"] if row["finished"] else float("inf") for row in rows]
    goodput = [row["goodput_bps"] if row["finished"] else 0.0 for row in rows]
    return {"runs": len(rows), "finished": sum(row["finished"] for row in rows),
            "median_seconds": statistics.median(seconds),
            "median_goodput_bps": statistics.median(goodput)}


def size_text(size):
    for unit, scale in (("MB", 10 ** 6), ("KB", 10 ** 3)):
        if size >= scale and size % scale == 0:
            return "%d %s" % (size // scale, unit)
    return "%d B" % size


def table(runs):
    with open(runs) as file:
        rows = [json.loads(line) for line in file if line.strip()]
    rows = [row for row in rows if row.get("kind") == "run"]
    systems = [system for system in ("linux", "ferry", "sim")
               if any(row["system"] == system for row in rows)]
    head = "| path | loss | size |"
    for system in systems:
        head += " %s: time, goodput (finished) |" % NAMES[system]
    head += " Ferry / Linux time |"
    if "sim" in systems:
        head += " sim / Ferry time |"
    print(head)
    print("|---" * (head.count("|") - 1) + "|")
    summaries = []
    for cell in sorted({key(row) for row in rows}):
        mine = [row for row in rows if key(row) == cell]
        figures = {system: median_of([row for row in mine if row["system"] == system])
                   for system in systems}
        line = "| %g Mbit/s, %g ms | %g%% | %s |" % (cell[0], cell[1], cell[2],
                                                    size_text(cell[3]))
        for system in systems:
            fig = figures[system]
            if fig is None:
                line += " - |"
            else:
                time = "dnf" if fig["median_seconds"] == float("inf") else \
                    "%.3f s" % fig["median_seconds"]
                line += " %s, %s (%d/%d) |" % (time, lossy.show(fig["median_goodput_bps"]),
                                              fig["finished"], fig["runs"])

        def over(a, b):
            if not figures.get(a) or not figures.get(b):
                return None
            top, bottom = figures[a]["median_seconds"], figures[b]["median_seconds"]
            if top == float("inf") or bottom in (0, float("inf")):
                return None
            return top / bottom

        ferry_linux = over("ferry", "linux")
        line += " %s |" % lossy.number(ferry_linux)
        sim_ferry = over("sim", "ferry")
        if "sim" in systems:
            line += " %s |" % lossy.number(sim_ferry)
        print(line)
        summaries.append({"kind": "summary", "rate_mbit": cell[0], "rtt_ms": cell[1],
                          "loss_pct": cell[2], "bytes": cell[3], "figures": figures,
                          "ferry_over_linux_time": ferry_linux,
                          "sim_over_ferry_time": sim_ferry})
    with open(runs, "a") as file:
        for summary in summaries:
            file.write(json.dumps(summary) + "\n")


def main():
    commands = {"record": (record, 9), "sim": (sim, 5), "table": (table, 1)}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    function, count = commands[sys.argv[1]]
    if len(sys.argv) != count + 2:
        sys.exit(__doc__)
    function(*sys.argv[2:])


if __name__ == "__main__":
    main()
