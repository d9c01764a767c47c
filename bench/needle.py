#!/usr/bin/env python3
"""Needle-in-a-haystack benchmark of skip filters, end to end on a release build.

    python3 bench/needle.py [--mb 1024] [--streams 200] [--runs 5]

Loads --mb MiB from ../shared/bench/gen_load.py into a fresh server, adds five lines holding
a unique token (NEEDLE7f3a9c), flushes, then times the needle query (and reads the bytes the
server process read, /proc/PID/io rchar) before compaction, after compaction with skip
filters on, and after a restart with --querier.skip_filters=false. It also counts files
before and after compaction, the filter bytes against the compacted bytes, and the false
positive rate: the share of row groups still read for 400 tokens that occur nowhere.
Prints one JSON object. Binds 127.0.0.1 only; work files in ${BENCH_DIR:-/tmp/skald-bench}.
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("SHARED", os.path.join(ROOT, "..", "shared"))
WORK = os.environ.get("BENCH_DIR", "/tmp/skald-bench")
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/skald-target"))
TENANT = "bench"
NEEDLE = "NEEDLE7f3a9c"


def http(method, url, body=None, timeout=600):
    req = urllib.request.Request(url, data=body, method=method, headers={"X-Scope-OrgID": TENANT, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read()


class Server:
    def __init__(self, data, port, extra):
        args = [os.path.join(TARGET, "release", "skald"), f"--common.path_prefix={data}", "--server.http_listen_address=127.0.0.1",
                f"--server.http_listen_port={port}", "--server.grpc_listen_address=127.0.0.1", "--server.grpc_listen_port=0",
                "--auth_enabled=true", "--limits_config.reject_old_samples=false", "--limits_config.discover_service_name=[]",
                "--compactor.compaction_interval=0s", "--limits_config.max_entries_limit_per_query=100000"] + extra
        self.out = open(os.path.join(WORK, "needle-skald.log"), "a")
        self.proc = subprocess.Popen(args, stdout=self.out, stderr=self.out)
        self.url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                http("GET", self.url + "/ready", timeout=1)
                return
            except Exception:
                time.sleep(0.2)
        sys.exit("skald did not become ready")

    def rchar(self):
        with open(f"/proc/{self.proc.pid}/io") as f:
            return int(next(l for l in f if l.startswith("rchar")).split()[1])

    def counter(self, name):
        text = http("GET", self.url + "/metrics").decode()
        return int(next(l.split()[1] for l in text.splitlines() if l.startswith(name + " ")))

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=120)


def query(server, q, start, end, limit=100):
    params = urllib.parse.urlencode({"query": q, "start": start, "end": end, "limit": limit, "direction": "backward"})
    before = server.rchar()
    t = time.perf_counter()
    body = json.loads(http("GET", f"{server.url}/loki/api/v1/query_range?{params}"))
    elapsed = time.perf_counter() - t
    lines = sum(len(s["values"]) for s in body["data"]["result"])
    return elapsed, server.rchar() - before, lines


def measure(server, q, start, end, runs):
    results = [query(server, q, start, end) for _ in range(runs)]
    return {"median_s": round(statistics.median(r[0] for r in results), 4),
            "median_bytes_read": int(statistics.median(r[1] for r in results)), "lines": results[0][2]}


def files(data):
    out = {"parquet": 0, "parquet_bytes": 0, "bloom": 0, "bloom_bytes": 0, "compacted_bytes": 0}
    for root, _, names in os.walk(os.path.join(data, "chunks", TENANT)):
        for n in names:
            size = os.path.getsize(os.path.join(root, n))
            if n.endswith(".parquet"):
                out["parquet"] += 1
                out["parquet_bytes"] += size
                if "-c" in n:
                    out["compacted_bytes"] += size
            elif n.endswith(".bloom"):
                out["bloom"] += 1
                out["bloom_bytes"] += size
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=1024)
    ap.add_argument("--streams", type=int, default=200)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--port", type=int, default=int(os.environ.get("BENCH_PORT", "3100")))
    args = ap.parse_args()
    os.makedirs(WORK, exist_ok=True)
    subprocess.run(["cargo", "build", "--release", "--manifest-path", os.path.join(ROOT, "Cargo.toml"), "--target-dir", TARGET], check=True, stdout=sys.stderr)
    load = os.path.join(WORK, f"load-{args.mb}-{args.streams}")
    if not os.path.exists(os.path.join(load, "manifest.json")):
        subprocess.run([sys.executable, os.path.join(SHARED, "bench", "gen_load.py"), "--mb", str(args.mb), "--streams", str(args.streams), "--out", load], check=True, stdout=sys.stderr)
    manifest = json.load(open(os.path.join(load, "manifest.json")))
    data = os.path.join(WORK, "needle-data")
    subprocess.run(["rm", "-rf", data], check=True)

    server = Server(data, args.port, [])
    subprocess.run([sys.executable, os.path.join(SHARED, "bench", "push_load.py"), "--url", server.url, "--dir", load, "--concurrency", "8"], check=True, stdout=sys.stderr)
    start, end = manifest["start_ns"], manifest["end_ns"] + 1
    # Five needles in logfmt streams (stream_no 2, 7, ...), spread over the time range.
    needles = []
    for k in range(5):
        no = 2 + 5 * k
        labels = {"job": "bench/logfmt", "instance": f"host-{no % 37}", "stream_no": str(no), "level": ["info", "warn", "error"][no % 3]}
        ts = start + (k + 1) * (end - start) // 7
        needles.append({"stream": labels, "values": [[str(ts), f"level=error msg=\"payment failed\" order={NEEDLE} n={k}"]]})
    http("POST", server.url + "/loki/api/v1/push", json.dumps({"streams": needles}).encode())
    http("POST", server.url + "/flush")
    q = '{job=~"bench/.+"} |= "' + NEEDLE + '"'
    report = {"mb": args.mb, "entries": manifest["entries"], "query": q}
    report["before_compaction"] = measure(server, q, start, end, args.runs)
    report["files_before"] = files(data)
    t = time.perf_counter()
    report["compaction"] = json.loads(http("POST", server.url + "/compactor/run", timeout=3600))
    report["compaction_s"] = round(time.perf_counter() - t, 1)
    report["files_after"] = files(data)
    report["filters_on"] = measure(server, q, start, end, args.runs)
    # False positives: tokens found nowhere; every row group read for them is one.
    rng = random.Random(5)
    absent = [f"{rng.getrandbits(64):016x}" for _ in range(200)] + ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12)) for _ in range(200)]
    skipped0, scanned0 = server.counter("skald_query_row_groups_skipped_total"), server.counter("skald_query_row_groups_filtered_scanned_total")
    for token in absent:
        query(server, '{job=~"bench/.+"} |= "' + token + '"', start, end)
    skipped = server.counter("skald_query_row_groups_skipped_total") - skipped0
    scanned = server.counter("skald_query_row_groups_filtered_scanned_total") - scanned0
    report["false_positive_rate"] = round(scanned / max(1, skipped + scanned), 5)
    report["fpr_row_group_checks"] = skipped + scanned
    server.stop()
    server = Server(data, args.port, ["--querier.skip_filters=false"])
    report["filters_off"] = measure(server, q, start, end, args.runs)
    server.stop()
    f = report["files_after"]
    report["filter_overhead"] = round(f["bloom_bytes"] / max(1, f["compacted_bytes"]), 4)
    report["speedup_on_vs_off"] = round(report["filters_off"]["median_s"] / max(1e-9, report["filters_on"]["median_s"]), 1)
    report["bytes_read_off_over_on"] = round(report["filters_off"]["median_bytes_read"] / max(1, report["filters_on"]["median_bytes_read"]), 1)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
