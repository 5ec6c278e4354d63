#!/usr/bin/env python3
"""probe.py - time each reply of one extra SMTP session, again and again,
while a workload runs (bench/README.md, "Where a session waits").

usage: probe.py [-s HOST:PORT] [-n SESSIONS] [-t SECONDS] [-r RCPT]

Each session connects, says EHLO, MAIL, RCPT, DATA, sends a 1 KiB message
and QUIT, and times each reply from the moment its command was sent. At the
end it prints, for each step, the count, median, 90th percentile and mean in
milliseconds. It talks only to the address given (default 127.0.0.1:2525).
"""
import argparse
import socket
import statistics
import time

STEPS = ["connect+220", "EHLO", "MAIL", "RCPT", "DATA", "message->250", "QUIT"]


def reply(f):
    """Read one SMTP reply (all its lines); return its first line."""
    first = line = f.readline()
    while line[3:4] == b"-":
        line = f.readline()
    if not first:
        raise EOFError("connection closed")
    return first


def session(addr, rcpt, times):
    t = time.monotonic()
    s = socket.create_connection(addr, timeout=30)
    try:
        f = s.makefile("rb")
        reply(f)
        times["connect+220"].append(time.monotonic() - t)
        for step, cmd in [("EHLO", b"EHLO probe"), ("MAIL", b"MAIL FROM:<probe@bench.local>"),
                          ("RCPT", b"RCPT TO:<" + rcpt.encode() + b">"), ("DATA", b"DATA")]:
            t = time.monotonic()
            s.sendall(cmd + b"\r\n")
            reply(f)
            times[step].append(time.monotonic() - t)
        t = time.monotonic()
        s.sendall(b"Subject: probe\r\n\r\n" + b"x" * 1000 + b"\r\n.\r\n")
        reply(f)
        times["message->250"].append(time.monotonic() - t)
        t = time.monotonic()
        s.sendall(b"QUIT\r\n")
        reply(f)
        times["QUIT"].append(time.monotonic() - t)
    finally:
        s.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-s", default="127.0.0.1:2525")
    ap.add_argument("-n", type=int, default=150)
    ap.add_argument("-t", type=float, default=60)
    ap.add_argument("-r", default="bench@bench.local")
    a = ap.parse_args()
    host, port = a.s.rsplit(":", 1)
    times = {k: [] for k in STEPS}
    end = time.monotonic() + a.t
    for _ in range(a.n):
        if time.monotonic() > end:
            break
        session((host, int(port)), a.r, times)
    for k in STEPS:
        v = sorted(times[k])
        if v:
            print("%-13s n=%-4d median %6.2f ms  p90 %6.2f ms  mean %6.2f ms" % (
                k, len(v), 1000 * statistics.median(v), 1000 * v[int(len(v) * 0.9)], 1000 * statistics.mean(v)))


if __name__ == "__main__":
    main()
