#!/usr/bin/env bash
# Cluster benchmark: push throughput (../shared/bench/push_load.py) and push latency
# (bench/push_probe.py, under load) against a deploy/local-cluster.sh cluster of NODES nodes
# (replication factor min(3, NODES)), then failover: SIGKILL the node leading shard 0 while
# probing another node. A fresh cluster per run.
#
#   bench/cluster.sh [MB] [STREAMS] [CONCURRENCY]      (defaults: 200 200 8)
#   NODES=3 (default) or NODES=1 for the single-node comparison; RUNS=3.
set -euo pipefail
MB=${1:-200}
STREAMS=${2:-200}
CONC=${3:-8}
NODES=${NODES:-3}
RUNS=${RUNS:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
WORK=${BENCH_DIR:-/tmp/skald-cluster-bench}
TARGET=${CARGO_TARGET_DIR:-$HOME/.cache/skald-target}
mkdir -p "$WORK"
cargo build --release --manifest-path "$ROOT/Cargo.toml" --target-dir "$TARGET" >&2
export SKALD_FLAGS="--limits_config.reject_old_samples=false --limits_config.discover_service_name=[] ${SKALD_FLAGS:-}"
export SKALD_BIN="$TARGET/release/skald" NODES BASE_HTTP_PORT=${BASE_HTTP_PORT:-23100} BASE_GRPC_PORT=${BASE_GRPC_PORT:-29100}
LOAD="$WORK/load-$MB-$STREAMS"
[ -f "$LOAD/manifest.json" ] || python3 "$SHARED/bench/gen_load.py" --mb "$MB" --streams "$STREAMS" --out "$LOAD" >&2
URL="http://127.0.0.1:$((BASE_HTTP_PORT + 1))"
for run in $(seq 1 "$RUNS"); do
  export CLUSTER_DIR="$WORK/cluster-$run"
  rm -rf "$CLUSTER_DIR"
  "$ROOT/deploy/local-cluster.sh" up >&2
  python3 "$ROOT/bench/push_probe.py" --url "$URL" --seconds 15 > "$WORK/probe-$run.json" &
  PROBE=$!
  python3 "$SHARED/bench/push_load.py" --url "$URL" --dir "$LOAD" --concurrency "$CONC"
  wait $PROBE
  echo "{\"run\": $run, \"latency_under_load\": $(cat "$WORK/probe-$run.json")}"
  if [ "$NODES" -gt 1 ]; then
    LEADER=$(curl -s "$URL/cluster/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["shards"][0]["leader"])')
    PID=$(cat "$CLUSTER_DIR/node-$LEADER/pid")
    PROBE_NODE=$(( LEADER % NODES + 1 ))
    echo "{\"run\": $run, \"killed_node\": $LEADER, \"failover\": $(python3 "$ROOT/bench/push_probe.py" --url "http://127.0.0.1:$((BASE_HTTP_PORT + PROBE_NODE))" --seconds 8 --kill-pid "$PID" --kill-after 2)}"
  fi
  "$ROOT/deploy/local-cluster.sh" down >&2
done
