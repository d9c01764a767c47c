#!/usr/bin/env bash
# End-to-end benchmark: ingest throughput, peak memory, bytes on disk and log-query latency
# of a release build on the embedded default, with the neutral load tools in ../shared/bench.
#
#   bench/e2e.sh [MB] [STREAMS] [CONCURRENCY]      (defaults: 500 200 8)
#
# Prints the push_load.py and query_bench.py JSON lines, then a summary line with peak RSS
# (VmHWM) and bytes on disk per raw byte. Everything binds 127.0.0.1; work files go to
# ${BENCH_DIR:-/tmp/skald-bench}. SKALD_FLAGS adds server flags, SKALD_ENV prefixes the command
# (e.g. SKALD_FLAGS=--ingester.raft_log_store=segments).
set -euo pipefail
MB=${1:-500}
STREAMS=${2:-200}
CONC=${3:-8}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
WORK=${BENCH_DIR:-/tmp/skald-bench}
TARGET=${CARGO_TARGET_DIR:-$HOME/.cache/skald-target}
PORT=${BENCH_PORT:-3100}
mkdir -p "$WORK"

cargo build --release --manifest-path "$ROOT/Cargo.toml" --target-dir "$TARGET" >&2
LOAD="$WORK/load-$MB-$STREAMS"
if [ ! -f "$LOAD/manifest.json" ]; then
  python3 "$SHARED/bench/gen_load.py" --mb "$MB" --streams "$STREAMS" --out "$LOAD" >&2
fi

DATA="$WORK/data"
rm -rf "$DATA"
${SKALD_ENV:-} "$TARGET/release/skald" --common.path_prefix="$DATA" \
  --server.http_listen_address=127.0.0.1 --server.http_listen_port="$PORT" \
  --server.grpc_listen_address=127.0.0.1 --server.grpc_listen_port=0 \
  --auth_enabled=true --limits_config.reject_old_samples=false \
  --limits_config.discover_service_name='[]' ${SKALD_FLAGS:-} \
  >"$WORK/skald.out" 2>"$WORK/skald.err" &
PID=$!
trap 'kill -9 $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  grep -q "skald: ready" "$WORK/skald.out" 2>/dev/null && break
  sleep 0.2
done

python3 "$SHARED/bench/push_load.py" --url "http://127.0.0.1:$PORT" --dir "$LOAD" --concurrency "$CONC"
curl -s -X POST -H 'X-Scope-OrgID: bench' "http://127.0.0.1:$PORT/flush" >/dev/null
python3 "$SHARED/bench/query_bench.py" --url "http://127.0.0.1:$PORT" --queries "$SHARED/bench/queries.json" --runs "${RUNS:-5}"

RAW=$(python3 -c "import json;print(json.load(open('$LOAD/manifest.json'))['raw_bytes'])")
HWM_KB=$(awk '/VmHWM/{print $2}' /proc/$PID/status)
kill -TERM $PID
wait $PID || true
trap - EXIT
DISK=$(du -sb "$DATA" | cut -f1)
CHUNKS=$(du -sb "$DATA/chunks" | cut -f1)
python3 - "$HWM_KB" "$DISK" "$CHUNKS" "$RAW" <<'PY'
import json, sys
hwm_kb, disk, chunks, raw = map(int, sys.argv[1:])
print(json.dumps({"peak_rss_mb": round(hwm_kb / 1024, 1), "disk_bytes": disk, "chunk_bytes": chunks,
                  "disk_per_raw_byte": round(disk / raw, 4), "chunks_per_raw_byte": round(chunks / raw, 4)}))
PY
