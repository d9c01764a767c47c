//! Three `skald` processes on 127.0.0.1 forming replicated shard groups (static
//! `cluster.seeds`, replication factor 3): pushes through any node are forwarded to the
//! shard leaders and replicated; after `kill -9` of a node the other two keep accepting
//! pushes, and every acknowledged entry is on the survivors exactly once.

use std::time::{Duration, Instant};

use crate::harness::*;

const NODES: u64 = 3;

/// A free 127.0.0.1 port (the listener is closed before the node binds it).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

fn start_cluster() -> Vec<Skald> {
    let ports: Vec<u16> = (0..NODES).map(|_| free_port()).collect();
    let seeds: Vec<String> = ports.iter().enumerate().map(|(i, p)| format!("{}@127.0.0.1:{p}", i + 1)).collect();
    let seeds = format!("--cluster.seeds=[{}]", seeds.join(","));
    (0..NODES as usize)
        .map(|i| {
            let dir = TestDir::new(&format!("cluster-node{}", i + 1));
            let mut args = base_args(&dir);
            args.extend([
                format!("--server.grpc_listen_port={}", ports[i]),
                format!("--cluster.node_id={}", i + 1),
                seeds.clone(),
                "--cluster.replication_factor=3".into(),
                "--ingester.shards=2".into(),
                "--limits_config.discover_service_name=[]".into(),
            ]);
            Skald::start_raw(dir, args)
        })
        .collect()
}

fn body(round: i64, t: i64) -> serde_json::Value {
    let streams = (0..8)
        .map(|s| {
            let app = format!("a{s}");
            json_stream(&[("job", "cluster"), ("app", app.as_str())], vec![jv(t + round * 1000 + s, &format!("round={round} stream={s}"))])
        })
        .collect();
    json_push(streams)
}

/// Every entry of `{job="cluster"}` on `api`, waiting (up to 20 s) until `want` are there.
async fn rows_eventually(api: &Api, t: i64, want: usize) -> Vec<Row> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let rows = api.query_all(r#"{job="cluster"}"#, t, t + 3600 * SEC, 1000).await;
        if rows.len() >= want || Instant::now() >= deadline {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_replicate_and_survive_a_kill() {
    let mut nodes = start_cluster();
    let t = base_ts(20);
    let mut acked: Vec<i64> = Vec::new();

    // Pushes through every node succeed (forwarded to the shard leaders) once groups elected.
    for round in 0..6 {
        let node = &nodes[(round % NODES as i64) as usize];
        let r = node.api().push_json(&body(round, t)).await;
        r.expect(204, &format!("push round {round} via node {}", round % NODES as i64 + 1));
        acked.push(round);
    }
    // Every node holds a replica of every shard, so each one eventually serves all of it.
    for (i, node) in nodes.iter().enumerate() {
        let rows = rows_eventually(&node.api(), t, acked.len() * 8).await;
        assert_eq!(rows.len(), acked.len() * 8, "node {} has every acknowledged entry once", i + 1);
    }

    // kill -9 node 1; the two others keep a quorum for every shard and keep accepting.
    nodes[0].kill9();
    for round in 6..12 {
        let node = &nodes[1 + (round % 2) as usize];
        let r = node.api().push_json(&body(round, t)).await;
        r.expect(204, &format!("push round {round} after the kill"));
        acked.push(round);
    }
    for (i, node) in nodes.iter().enumerate().skip(1) {
        let rows = rows_eventually(&node.api(), t, acked.len() * 8).await;
        let mut lines: Vec<&str> = rows.iter().map(|r| r.line.as_str()).collect();
        lines.sort_unstable();
        let n = lines.len();
        lines.dedup();
        assert_eq!(n, lines.len(), "node {}: no entry twice", i + 1);
        assert_eq!(n, acked.len() * 8, "node {}: every acknowledged entry after the kill", i + 1);
    }

    // The killed node restarts and catches up from its peers.
    nodes[0].restart();
    let rows = rows_eventually(&nodes[0].api(), t, acked.len() * 8).await;
    assert_eq!(rows.len(), acked.len() * 8, "the restarted node catches up");
}
