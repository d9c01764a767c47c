#!/usr/bin/env python3
"""Push latency and failover probe for Skald clusters (standard library only).

    python3 push_probe.py --url http://127.0.0.1:3101 --seconds 20 [--kill-pid PID --kill-after 5]

Sends one small push (one entry in each of 16 streams, so every shard is touched) every
10 ms, sequentially, and prints one JSON line: pushes, failures, p50/p99 latency in ms, and
with --kill-pid the failover time: from SIGKILL of that process to the first successful push
after it.
"""
import argparse
import http.client
import json
import os
import signal
import time
import urllib.parse


def body(i):
    ts = time.time_ns()
    streams = [{"stream": {"job": "probe", "s": str(s)}, "values": [[str(ts + s), f"probe {i} {s}"]]} for s in range(16)]
    return json.dumps({"streams": streams}).encode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--tenant", default="bench")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--kill-pid", type=int)
    ap.add_argument("--kill-after", type=float, default=5)
    args = ap.parse_args()
    u = urllib.parse.urlparse(args.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    lat, fails, i = [], 0, 0
    start = time.monotonic()
    killed_at = failover = None
    while time.monotonic() - start < args.seconds:
        if args.kill_pid and killed_at is None and time.monotonic() - start >= args.kill_after:
            os.kill(args.kill_pid, signal.SIGKILL)
            killed_at = time.monotonic()
        t0 = time.monotonic()
        try:
            conn.request("POST", "/loki/api/v1/push", body=body(i),
                         headers={"Content-Type": "application/json", "X-Scope-OrgID": args.tenant})
            r = conn.getresponse()
            r.read()
            ok = r.status == 204
        except OSError:
            ok = False
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        t1 = time.monotonic()
        i += 1
        if ok:
            lat.append((t1 - t0) * 1000)
            if killed_at is not None and failover is None and t0 > killed_at:
                failover = t1 - killed_at
        else:
            fails += 1
        time.sleep(0.01)
    lat.sort()
    pct = lambda p: round(lat[min(len(lat) - 1, int(p * len(lat)))], 2) if lat else None
    print(json.dumps({"pushes": i, "failed": fails, "p50_ms": pct(0.5), "p99_ms": pct(0.99),
                      "failover_s": round(failover, 3) if failover is not None else None}))


if __name__ == "__main__":
    main()
