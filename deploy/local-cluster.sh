#!/usr/bin/env bash
# A Skald cluster on 127.0.0.1 for development.
#
#   deploy/local-cluster.sh up      start NODES nodes and wait until every node is ready and
#                                   every shard has a leader
#   deploy/local-cluster.sh down    stop them (SIGTERM, then SIGKILL after 30 s)
#
# Environment: CLUSTER_DIR (default ./local-cluster), NODES (default 3), BASE_HTTP_PORT
# (default 3100; node i, counted from 1, listens on BASE_HTTP_PORT + i), BASE_GRPC_PORT
# (default 9095, likewise), SHARDS (default NODES), SKALD_BIN (default: a release build of
# this repository), SKALD_FLAGS (extra flags for every node, e.g.
# --limits_config.reject_old_samples=false). Node i keeps its config, data, log and pid file
# in $CLUSTER_DIR/node-$i/; chunk files go to $CLUSTER_DIR/chunks, shared by the nodes as a
# bucket would be.
# Every node runs every role with auth_enabled: true (send X-Scope-OrgID).
set -euo pipefail
CLUSTER_DIR=${CLUSTER_DIR:-./local-cluster}
NODES=${NODES:-3}
BASE_HTTP_PORT=${BASE_HTTP_PORT:-3100}
BASE_GRPC_PORT=${BASE_GRPC_PORT:-9095}
SHARDS=${SHARDS:-$NODES}
ROOT=$(cd "$(dirname "$0")/.." && pwd)

skald_bin() {
  if [ -n "${SKALD_BIN:-}" ]; then
    echo "$SKALD_BIN"
    return
  fi
  local target=${CARGO_TARGET_DIR:-$ROOT/target}
  cargo build --release --manifest-path "$ROOT/Cargo.toml" --target-dir "$target" >&2
  echo "$target/release/skald"
}

seeds() {
  local list="" i
  for i in $(seq 1 "$NODES"); do
    list="$list${list:+, }\"$i@127.0.0.1:$((BASE_GRPC_PORT + i))\""
  done
  echo "[$list]"
}

# Every local shard of the node on http port $1 has a leader.
shards_led() {
  curl -sf "http://127.0.0.1:$1/cluster/status" | python3 -c '
import json, sys
s = json.load(sys.stdin)
sys.exit(0 if all(sh["leader"] is not None for sh in s["shards"] if sh["local"]) else 1)'
}

up() {
  local bin seeds_list i dir
  bin=$(skald_bin)
  seeds_list=$(seeds)
  mkdir -p "$CLUSTER_DIR"
  for i in $(seq 1 "$NODES"); do
    dir="$CLUSTER_DIR/node-$i"
    mkdir -p "$dir/data"
    if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
      echo "node $i already running (pid $(cat "$dir/pid"))"
      continue
    fi
    cat > "$dir/config.yaml" <<YAML
auth_enabled: true
server:
  http_listen_address: 127.0.0.1
  http_listen_port: $((BASE_HTTP_PORT + i))
  grpc_listen_address: 127.0.0.1
  grpc_listen_port: $((BASE_GRPC_PORT + i))
common:
  path_prefix: $(cd "$dir" && pwd)/data
  storage:
    filesystem:
      chunks_directory: $(cd "$CLUSTER_DIR" && pwd)/chunks
ingester:
  shards: $SHARDS
cluster:
  node_id: $i
  seeds: $seeds_list
YAML
    # shellcheck disable=SC2086
    nohup "$bin" --config.file="$dir/config.yaml" ${SKALD_FLAGS:-} > "$dir/skald.log" 2>&1 &
    echo $! > "$dir/pid"
  done
  for i in $(seq 1 "$NODES"); do
    local port=$((BASE_HTTP_PORT + i)) ok=""
    for _ in $(seq 1 300); do
      if curl -sf "http://127.0.0.1:$port/ready" >/dev/null 2>&1 && shards_led "$port"; then
        ok=1
        break
      fi
      if ! kill -0 "$(cat "$CLUSTER_DIR/node-$i/pid")" 2>/dev/null; then
        echo "node $i exited; see $CLUSTER_DIR/node-$i/skald.log" >&2
        tail -n 20 "$CLUSTER_DIR/node-$i/skald.log" >&2 || true
        exit 1
      fi
      sleep 0.2
    done
    if [ -z "$ok" ]; then
      echo "node $i not ready with leaders for every shard after 60 s; see $CLUSTER_DIR/node-$i/skald.log" >&2
      exit 1
    fi
  done
  echo "cluster up: $NODES nodes, http ports $((BASE_HTTP_PORT + 1))..$((BASE_HTTP_PORT + NODES)), status at http://127.0.0.1:$((BASE_HTTP_PORT + 1))/ring"
}

down() {
  local pidfile pid
  for pidfile in "$CLUSTER_DIR"/node-*/pid; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pidfile in "$CLUSTER_DIR"/node-*/pid; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    for _ in $(seq 1 150); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
  echo "cluster down"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
