//! Three `skald` processes on 127.0.0.1 forming replicated shard groups (static
//! `cluster.seeds`): pushes through any node are forwarded to the shard leaders and
//! replicated; reads through any node go to the shard leaders (read index), so they see every
//! push acknowledged before them; after `kill -9` of a node the other two keep accepting
//! pushes, and every acknowledged entry is on the survivors exactly once.

use std::time::{Duration, Instant};

use crate::harness::*;

const NODES: u64 = 3;

/// A free 127.0.0.1 port (the listener is closed before the node binds it).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// The flag that points a node at the cluster's shared chunk directory (every node must
/// read the files any leader flushed).
fn shared_chunks(dir: &TestDir) -> String {
    format!("--common.storage.filesystem.chunks_directory={}", dir.path.display())
}

/// Starts a cluster; the returned directory holds the chunk files all nodes share and must
/// outlive the nodes.
fn start_cluster(rf: u64, shards: u64) -> (Vec<Skald>, TestDir) {
    start_cluster_with(rf, shards, &[])
}

/// [`start_cluster`] with `extra` flags on every node.
fn start_cluster_with(rf: u64, shards: u64, extra: &[&str]) -> (Vec<Skald>, TestDir) {
    let chunks = TestDir::new("cluster-chunks");
    let ports: Vec<u16> = (0..NODES).map(|_| free_port()).collect();
    let seeds: Vec<String> = ports.iter().enumerate().map(|(i, p)| format!("{}@127.0.0.1:{p}", i + 1)).collect();
    let seeds = format!("--cluster.seeds=[{}]", seeds.join(","));
    let nodes = (0..NODES as usize)
        .map(|i| {
            let dir = TestDir::new(&format!("cluster-node{}", i + 1));
            let mut args = base_args(&dir);
            args.extend([
                format!("--server.grpc_listen_port={}", ports[i]),
                format!("--cluster.node_id={}", i + 1),
                seeds.clone(),
                format!("--cluster.replication_factor={rf}"),
                format!("--ingester.shards={shards}"),
                "--limits_config.discover_service_name=[]".into(),
                shared_chunks(&chunks),
            ]);
            args.extend(extra.iter().map(|s| s.to_string()));
            Skald::start_raw(dir, args)
        })
        .collect();
    (nodes, chunks)
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

/// Pushes 60 rounds through `api`, 30 ms apart, each of which must be acknowledged while
/// `during` goes on; answers the rounds pushed.
fn push_rounds(api: Api, t: i64, during: &'static str) -> tokio::task::JoinHandle<Vec<i64>> {
    tokio::spawn(async move {
        let mut acked = Vec::new();
        for round in 0..60 {
            let r = api.push_json(&body(round, t)).await;
            assert_eq!(r.status, 204, "push {round} during {during}: {}", r.body);
            acked.push(round);
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        acked
    })
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
    let (mut nodes, _chunks) = start_cluster(3, 2);
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

    // Pause node 2 (SIGSTOP, longer than election timeouts): the majority keeps serving.
    nodes[1].signal("STOP");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for round in 100..103 {
        nodes[2].api().push_json(&body(round, t)).await.expect(204, &format!("push round {round} while node 2 is paused"));
        acked.push(round);
    }
    assert_eq!(rows_eventually(&nodes[0].api(), t, acked.len() * 8).await.len(), acked.len() * 8, "reads while node 2 is paused");
    nodes[1].signal("CONT");

    // kill -9 the node leading shard 0 while a client pushes through another node: pushes
    // resume after the election, and every acknowledged entry is there exactly once (pushes
    // answered with an error may or may not be).
    let status = nodes[2].api().get("/cluster/status", &[]).await.json();
    let leader = status["shards"][0]["leader"].as_u64().expect("shard 0 has a leader") as usize;
    let victim = leader - 1;
    let via = nodes[leader % NODES as usize].api();
    let pusher = tokio::spawn(async move {
        let (mut ok, mut unsure) = (Vec::new(), Vec::new());
        for round in 6..40 {
            if via.push_json(&body(round, t)).await.status == 204 { ok.push(round) } else { unsure.push(round) }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        (ok, unsure)
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    nodes[victim].kill9();
    let (ok, unsure) = pusher.await.expect("pusher");
    assert!(ok.contains(&39), "pushes resume after the election: acknowledged {ok:?}, failed {unsure:?}");
    acked.extend(ok);
    for (i, node) in nodes.iter().enumerate().filter(|(i, _)| *i != victim) {
        check_once(&node.api(), t, &acked, &unsure, &format!("node {} after the kill", i + 1)).await;
    }

    // The survivors saw the failover and count it.
    let m = nodes[(victim + 1) % NODES as usize].api().get("/metrics", &[]).await.body;
    let value = |name: &str| -> u64 {
        m.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok())).unwrap_or(0)
    };
    assert!(value("skald_raft_leader_changes_total ") >= 1, "leader changes are counted:\n{m}");
    assert!(value("skald_raft_committed_entries_total ") >= value("skald_raft_applied_entries_total ") && value("skald_raft_applied_entries_total ") > 0);
    assert!(m.contains("skald_raft_commit_duration_seconds_count"), "commit latency histogram");

    // The killed node restarts and catches up from its peers.
    nodes[victim].restart();
    check_once(&nodes[victim].api(), t, &acked, &unsure, "the restarted node").await;
}

/// Every entry of the `acked` rounds is readable through `api` exactly once, and nothing but
/// entries of `acked` and `unsure` rounds is.
async fn check_once(api: &Api, t: i64, acked: &[i64], unsure: &[i64], ctx: &str) {
    let rows = rows_eventually(api, t, acked.len() * 8).await;
    let mut lines: Vec<&str> = rows.iter().map(|r| r.line.as_str()).collect();
    lines.sort_unstable();
    let n = lines.len();
    lines.dedup();
    assert_eq!(n, lines.len(), "{ctx}: no entry twice");
    let sent = |rounds: &[i64]| -> Vec<String> { rounds.iter().flat_map(|r| (0..8).map(move |s| format!("round={r} stream={s}"))).collect() };
    let missing: Vec<String> = sent(acked).into_iter().filter(|l| lines.binary_search(&l.as_str()).is_err()).collect();
    assert!(missing.is_empty(), "{ctx}: {} acknowledged entries missing, e.g. {:?}", missing.len(), &missing[..missing.len().min(3)]);
    let maybe: Vec<String> = sent(acked).into_iter().chain(sent(unsure)).collect();
    assert!(lines.iter().all(|l| maybe.iter().any(|m| m == l)), "{ctx}: an entry that was never pushed");
}

/// Runs `deploy/local-cluster.sh` with `env`; returns (success, stdout + stderr).
fn local_cluster(cmd: &str, env: &[(&str, String)]) -> (bool, String) {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/local-cluster.sh");
    let out = std::process::Command::new("bash")
        .arg(&script)
        .arg(cmd)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("NO_PROXY", "127.0.0.1")
        .output()
        .expect("run local-cluster.sh");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// A base port such that base+1..=base+n are free.
/// [`local_cluster`] off the async runtime.
async fn local_cluster_async(cmd: &'static str, env: &[(&'static str, String)]) -> (bool, String) {
    let env = env.to_vec();
    tokio::task::spawn_blocking(move || local_cluster(cmd, &env)).await.expect("local-cluster.sh task")
}

fn free_base(n: u16) -> u16 {
    for _ in 0..200 {
        let base = free_port().saturating_sub(n + 1).max(1024);
        if (1..=n).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
    panic!("no free port range");
}

/// Stops the script's cluster even when the test fails.
struct Down(Vec<(&'static str, String)>);

impl Drop for Down {
    fn drop(&mut self) {
        let _ = local_cluster("down", &self.0);
    }
}

/// Every entry of `{job="cluster"}`, read through `api` right now.
async fn rows_now(api: &Api, t: i64) -> Vec<Row> {
    api.query_all(r#"{job="cluster"}"#, t, t + 3600 * SEC, 1000).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_are_linearizable_and_reach_remote_shards() {
    // Replication factor 2 over 3 nodes and 3 shards: every node lacks a replica of one shard.
    let (nodes, _chunks) = start_cluster(2, 3);
    let t = base_ts(25);
    for round in 0..9 {
        let writer = &nodes[(round % 3) as usize];
        writer.api().push_json(&body(round, t)).await.expect(204, &format!("push {round}"));
        // Read through another node at once: it must see everything acknowledged so far.
        let reader = &nodes[((round + 1) % 3) as usize];
        let rows = rows_now(&reader.api(), t).await;
        assert_eq!(rows.len() as i64, (round + 1) * 8, "read after push {round} through node {}", (round + 1) % 3 + 1);
    }
    let status = nodes[0].api().get("/cluster/status", &[]).await.json();
    let remote = status["shards"].as_array().map(|s| s.iter().filter(|x| x["local"] == false).count()).unwrap_or(0);
    assert_eq!(remote, 1, "node 1 holds replicas of two of the three shards: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_cluster_script_up_and_down() {
    let dir = TestDir::new("local-cluster");
    let http = free_base(3);
    let grpc = free_base(3);
    let env = vec![
        ("CLUSTER_DIR", dir.path.join("cluster").display().to_string()),
        ("NODES", "3".to_string()),
        ("BASE_HTTP_PORT", http.to_string()),
        ("BASE_GRPC_PORT", grpc.to_string()),
        ("SKALD_BIN", bin()),
    ];
    let guard = Down(env.clone());
    let (ok, out) = local_cluster_async("up", &env).await;
    assert!(ok, "local-cluster.sh up failed:\n{out}");
    for i in 1..=3 {
        let node = dir.path.join(format!("cluster/node-{i}"));
        for f in ["config.yaml", "pid", "skald.log", "data"] {
            assert!(node.join(f).exists(), "node-{i}/{f} missing");
        }
    }

    // Every shard has a leader; the status page renders; auth is on; data flows across nodes.
    let api1 = Api::new(&format!("http://127.0.0.1:{}", http + 1));
    let status = api1.get("/cluster/status", &[]).await;
    status.expect(200, "status");
    let v = status.json();
    let shards = v["shards"].as_array().cloned().unwrap_or_default();
    assert_eq!(shards.len(), 3, "{}", status.body);
    assert!(shards.iter().all(|s| s["leader"].is_u64()), "{}", status.body);
    let addr = format!("--addr=http://127.0.0.1:{}", http + 2);
    let (st, out, err) = skald_cli(&["cluster", "status", addr.as_str()]).await;
    assert!(st.success(), "skald cluster status failed: {err}");
    assert!(out.contains("SHARD") && out.lines().filter(|l| l.starts_with(|c: char| c.is_ascii_digit())).count() >= 6, "{out}");
    let ring = api1.get("/ring", &[]).await;
    ring.expect(200, "ring");
    assert!(ring.body.contains("<table") && ring.body.contains("leader"), "{}", ring.body);
    let t = base_ts(5);
    api1.push_json(&body(0, t)).await.expect(401, "auth is on");
    api1.tenant("dev").push_json(&body(0, t)).await.expect(204, "push via node 1");
    let api3 = Api::new(&format!("http://127.0.0.1:{}", http + 3)).tenant("dev");
    assert_eq!(rows_eventually(&api3, t, 8).await.len(), 8, "node 3 serves what node 1 took");

    let (ok, out) = local_cluster_async("down", &env).await;
    assert!(ok, "local-cluster.sh down failed:\n{out}");
    for i in 1..=3 {
        assert!(!dir.path.join(format!("cluster/node-{i}/pid")).exists(), "pid file of node {i} left behind");
    }
    assert!(api1.try_push_json(&body(1, t)).await.is_err(), "nodes must be stopped after down");
    drop(guard);
}

/// Node 4 joins, takes over shard 0's replica from node 3 while pushes continue, then node 3
/// is drained onto node 4 and stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fourth_node_takes_over_a_replica_while_pushes_continue() {
    let mut ports: Vec<u16> = (0..4).map(|_| free_port()).collect();
    ports.dedup();
    assert_eq!(ports.len(), 4);
    let seed = |n: usize| (0..n).map(|i| format!("{}@127.0.0.1:{}", i + 1, ports[i])).collect::<Vec<_>>().join(",");
    let chunks = TestDir::new("move-chunks");
    let start = |i: usize, seeds: String, join: bool| {
        let dir = TestDir::new(&format!("move-node{}", i + 1));
        let mut args = base_args(&dir);
        args.extend([
            format!("--server.grpc_listen_port={}", ports[i]),
            format!("--cluster.node_id={}", i + 1),
            format!("--cluster.seeds=[{seeds}]"),
            format!("--cluster.join={join}"),
            "--cluster.rebalance_on_join=false".into(),
            "--ingester.shards=2".into(),
            "--limits_config.discover_service_name=[]".into(),
            shared_chunks(&chunks),
        ]);
        Skald::start_raw(dir, args)
    };
    let mut nodes: Vec<Skald> = (0..3).map(|i| start(i, seed(3), false)).collect();
    nodes.push(start(3, seed(4), true));
    let t = base_ts(15);

    // Node 4 hosts nothing yet: it works as a distributor and querier only.
    nodes[3].api().push_json(&body(900, t)).await.expect(204, "push through the node that hosts nothing");
    assert_eq!(rows_eventually(&nodes[3].api(), t, 8).await.len(), 8, "read through the node that hosts nothing");

    // Push continuously through node 1 while the replica moves.
    let pusher = push_rounds(nodes[0].api(), t, "the move");
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Through the CLI, against node 2 (which forwards to the shard's leader).
    let to_addr = format!("--to-addr=127.0.0.1:{}", ports[3]);
    let (st, out, err) =
        skald_cli(&["cluster", "move", "--shard=0", "--from=3", "--to=4", &to_addr, &format!("--addr={}", nodes[1].api().base)]).await;
    assert!(st.success() && out.contains("moved"), "skald cluster move failed: {out}{err}");
    // A move that makes no sense is a 400 with the reason.
    let r = nodes[2].api().post_form(&format!("/cluster/shards/0/move?from=3&to=4&to_addr=127.0.0.1:{}", ports[3]), &[]).await;
    r.expect_err(400, "holds no replica of shard 0", "moving from a node that no longer holds the shard");
    let mut acked = pusher.await.expect("pusher");
    acked.push(900);

    // Node 4 now holds shard 0 as a voter; node 3 does not.
    let status = nodes[3].api().get("/cluster/status", &[]).await.json();
    let shard0 = &status["shards"][0];
    assert_eq!(shard0["local"], true, "{status}");
    let voters: Vec<u64> = shard0["replicas"].as_array().into_iter().flatten().filter_map(|v| v.as_u64()).collect();
    assert!(voters.contains(&4) && !voters.contains(&3), "voters of shard 0: {voters:?}");
    let status3 = nodes[2].api().get("/cluster/status", &[]).await.json();
    assert_eq!(status3["shards"][0]["local"], false, "{status3}");

    // Every acknowledged entry, once, through the new node and through the old one.
    for i in [3usize, 2] {
        let rows = rows_eventually(&nodes[i].api(), t, acked.len() * 8).await;
        assert_eq!(rows.len(), acked.len() * 8, "node {} after the move", i + 1);
    }

    // Node 3 dies (kill -9); draining it onto node 4 still works (its shard 1 and metadata
    // replicas move though it cannot be asked to close them), and nothing is lost.
    nodes[2].kill9();
    let (st, out, err) = skald_cli(&["cluster", "drain", "--node=3", "--to=4", &to_addr, &format!("--addr={}", nodes[0].api().base)]).await;
    assert!(st.success() && out.contains("shards [1]"), "skald cluster drain of a dead node: {out}{err}");
    // Node 3 left the map, and its metadata replica moved to node 4 with it.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = nodes[0].api().get("/cluster/status", &[]).await.json();
        let ids: Vec<u64> = s["nodes"].as_array().into_iter().flatten().filter_map(|n| n["id"].as_u64()).collect();
        if ids == [1, 2, 4] {
            break;
        }
        assert!(Instant::now() < deadline, "node 3 should leave the map: {s}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let s4 = nodes[3].api().get("/cluster/status", &[]).await.json();
    assert!(s4["meta_leader"].is_u64(), "node 4 holds a metadata replica: {s4}");
    nodes[0].api().push_json(&body(500, t)).await.expect(204, "push after node 3 left");
    let rows = rows_eventually(&nodes[3].api(), t, (acked.len() + 1) * 8).await;
    assert_eq!(rows.len(), (acked.len() + 1) * 8, "every entry after the drain");

    // A restart of node 4 keeps the new layout.
    nodes[3].kill9();
    nodes[3].restart();
    nodes[0].api().push_json(&body(1000, t)).await.expect(204, "push after node 4 restarted");
    let rows = rows_eventually(&nodes[3].api(), t, (acked.len() + 2) * 8).await;
    assert_eq!(rows.len(), (acked.len() + 2) * 8);
    let status = nodes[3].api().get("/cluster/status", &[]).await.json();
    assert_eq!(status["shards"][0]["local"], true, "node 4 hosts shard 0 after a restart: {status}");
}

/// A node that joins takes its share of the replicas by itself, with pushes going on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joining_node_takes_its_share() {
    let ports: Vec<u16> = (0..4).map(|_| free_port()).collect();
    let seeds = |n: usize| (0..n).map(|i| format!("{}@127.0.0.1:{}", i + 1, ports[i])).collect::<Vec<_>>().join(",");
    let chunks = TestDir::new("join-chunks");
    let start = |i: usize, join: bool| {
        let dir = TestDir::new(&format!("join-node{}", i + 1));
        let mut args = base_args(&dir);
        args.extend([
            format!("--server.grpc_listen_port={}", ports[i]),
            format!("--cluster.node_id={}", i + 1),
            format!("--cluster.seeds=[{}]", seeds(if join { 4 } else { 3 })),
            format!("--cluster.join={join}"),
            "--ingester.shards=4".into(),
            "--limits_config.discover_service_name=[]".into(),
            "--compactor.retention_enabled=true".into(),
            shared_chunks(&chunks),
        ]);
        Skald::start_raw(dir, args)
    };
    let nodes: Vec<Skald> = (0..3).map(|i| start(i, false)).collect();
    let t = base_ts(12);
    for round in 0..5 {
        nodes[0].api().push_json(&body(round, t)).await.expect(204, "push before the join");
    }
    let fourth = start(3, true);
    // 4 shards x 3 replicas over 4 nodes: the new node ends with 3 replicas.
    let deadline = Instant::now() + Duration::from_secs(60);
    let local = loop {
        let status = fourth.api().get("/cluster/status", &[]).await.json();
        let local = status["shards"].as_array().map(|s| s.iter().filter(|x| x["local"] == true).count()).unwrap_or(0);
        let led = status["shards"].as_array().is_some_and(|s| s.iter().filter(|x| x["local"] == true).all(|x| x["leader"].is_u64()));
        if (local == 3 && led) || Instant::now() >= deadline {
            break local;
        }
        nodes[1].api().push_json(&body(100 + local as i64, t)).await.expect(204, "push during the rebalance");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(local, 3, "the joining node holds its share");
    // Balanced: a rebalance through the CLI has nothing left to do.
    let (st, out, err) = skald_cli(&["cluster", "rebalance", &format!("--addr={}", nodes[2].api().base)]).await;
    assert!(st.success() && out.starts_with("0 moves"), "skald cluster rebalance: {out}{err}");
    let all = rows_eventually(&fourth.api(), t, 0).await;
    let mut lines: Vec<&str> = all.iter().map(|r| r.line.as_str()).collect();
    let n = lines.len();
    lines.sort_unstable();
    lines.dedup();
    assert_eq!(n, lines.len(), "no entry twice after the rebalance");
    assert!(n >= 5 * 8, "every entry pushed before the join is there: {n}");

    // The new node holds no metadata replica; it still hides what a delete request names
    // (from its copy of the requests, fetched every second).
    let path = format!("/loki/api/v1/delete?query=%7Bjob%3D%22cluster%22%2Capp%3D%22a1%22%7D&start={}", t / SEC - 1);
    nodes[0].api().post(&path).await.expect(204, "POST /loki/api/v1/delete on node 1");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows = rows_now(&fourth.api(), t).await;
        if rows.iter().all(|r| !r.line.contains("stream=1")) {
            assert_eq!(rows.len(), n - n / 8, "only a1's lines are hidden");
            break;
        }
        assert!(Instant::now() < deadline, "the joined node never hid the deleted lines");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Shard 0 splits while pushes go on through another node: every acknowledged entry is
/// read once through every node, the map records both ranges on every node, and the
/// cluster keeps serving when the metadata group's first node is killed and restarted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_splits_while_pushes_continue() {
    let (mut nodes, _chunks) = start_cluster(3, 1);
    let t = base_ts(25);
    let pusher = push_rounds(nodes[1].api(), t, "the split");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (st, out, err) = skald_cli(&["cluster", "split", "--shard=0", &format!("--addr={}", nodes[2].api().base)]).await;
    assert!(st.success() && out.contains("now shard 1"), "skald cluster split: {out}{err}");
    let acked = pusher.await.expect("pusher");

    for (i, node) in nodes.iter().enumerate() {
        let rows = rows_eventually(&node.api(), t, acked.len() * 8).await;
        let mut lines: Vec<&str> = rows.iter().map(|r| r.line.as_str()).collect();
        let n = lines.len();
        lines.sort_unstable();
        lines.dedup();
        assert_eq!((n, lines.len()), (acked.len() * 8, acked.len() * 8), "node {}: every acknowledged entry once", i + 1);
    }
    // Every node's copy of the map has both halves, each with a leader.
    for (i, node) in nodes.iter().enumerate() {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = node.api().get("/cluster/status", &[]).await.json();
            let shards = s["shards"].as_array().cloned().unwrap_or_default();
            let ok = shards.len() == 2
                && shards.iter().all(|x| x["leader"].is_u64() && x["replicas"].as_array().map(Vec::len) == Some(3))
                && shards[0]["range"]["last"].as_u64().map(|l| l + 1) == shards[1]["range"]["first"].as_u64();
            if ok {
                break;
            }
            assert!(Instant::now() < deadline, "node {}: the map never showed the split: {s}", i + 1);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // Node 1 (the metadata group's first voter) dies: pushes and reads go on, and it catches up.
    nodes[0].kill9();
    for round in 100..105 {
        nodes[2].api().push_json(&body(round, t)).await.expect(204, &format!("push {round} after the kill"));
    }
    let want = (acked.len() + 5) * 8;
    assert_eq!(rows_eventually(&nodes[1].api(), t, want).await.len(), want, "node 2 after the kill");
    nodes[0].restart();
    assert_eq!(rows_eventually(&nodes[0].api(), t, want).await.len(), want, "node 1 after its restart");
}

/// The leader of shard 0 as the node behind `api` sees it, waiting (up to 20 s) for one.
async fn leader_of_shard0(api: &Api) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = api.get("/cluster/status", &[]).await.json();
        if let Some(leader) = status["shards"][0]["leader"].as_u64() {
            return leader;
        }
        assert!(Instant::now() < deadline, "shard 0 has no leader: {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A leader killed and restarted at once must not serve reads from the state it restarted
/// with: it has to win an election (and commit in its new term) first. Found by
/// `skald-jepsen` (a `restart-loop` fault); each cycle reads through the restarted node
/// right after it is ready, without retrying.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_leader_never_serves_a_stale_read() {
    let (mut nodes, _chunks) = start_cluster(3, 1);
    let t = base_ts(35);
    let mut acked = 0usize;
    for cycle in 0..6i64 {
        let leader = leader_of_shard0(&nodes[(cycle % 3) as usize].api()).await;
        let victim = leader as usize - 1;
        let via = nodes[(victim + 1) % 3].api();
        for round in cycle * 20..cycle * 20 + 20 {
            via.push_json(&body(round, t)).await.expect(204, "push before the kill");
            acked += 8;
        }
        nodes[victim].kill9();
        nodes[victim].restart();
        let rows = rows_now(&nodes[victim].api(), t).await;
        assert_eq!(rows.len(), acked, "cycle {cycle}: a read through the restarted leader (node {leader}) must see every acknowledged entry");
    }
}

/// Files flushed by one leader are read by the next: after a flush and the kill of the
/// shard's leader, a read through a survivor returns every entry once (the nodes share the
/// chunk directory, as they would share a bucket). Found by `skald-jepsen`: with per-node
/// chunk directories the new leader answered 500 for files only the old one had.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_reads_the_files_an_old_leader_flushed() {
    let (mut nodes, _chunks) = start_cluster(3, 1);
    let t = base_ts(40);
    for round in 0..10 {
        nodes[round as usize % 3].api().push_json(&body(round, t)).await.expect(204, "push");
    }
    let leader = leader_of_shard0(&nodes[0].api()).await as usize;
    nodes[leader - 1].api().flush().await;
    nodes[leader - 1].kill9();
    let survivor = nodes[leader % 3].api();
    survivor.push_json(&body(10, t)).await.expect(204, "push after the kill");
    check_once(&survivor, t, &(0..11).collect::<Vec<_>>(), &[], "a read after the flushing leader died").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_compactor_compacts_every_shard_of_the_cluster() {
    // Replication factor 2 over 3 nodes and 3 shards: no node holds every shard.
    let (nodes, _chunks) = start_cluster(2, 3);
    let t = base_ts(26);
    for round in 0..3 {
        nodes[0].api().push_json(&body(round, t)).await.expect(204, &format!("push {round}"));
        for n in &nodes {
            n.api().flush().await;
        }
    }
    let before = rows_now(&nodes[2].api(), t).await;
    assert_eq!(before.len(), 24);
    // Every node tries to take the lease from the start; all name the same holder.
    let deadline = Instant::now() + Duration::from_secs(20);
    let holder = loop {
        let mut seen = Vec::new();
        for n in &nodes {
            seen.push(n.api().get("/compactor/status", &[]).await.json()["lease_holder"].as_u64());
        }
        if let Some(h) = seen[0].filter(|_| seen.iter().all(|s| *s == seen[0])) {
            break h as usize;
        }
        assert!(Instant::now() < deadline, "the nodes never agreed on a lease holder: {seen:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let r = nodes[holder - 1].api().post("/compactor/run").await;
    r.expect(200, "POST /compactor/run on the lease holder");
    let summary = r.json();
    assert_eq!(summary["files_before"], 9, "three flushes of three shards, including the one the holder does not hold: {summary}");
    assert_eq!((summary["groups"].as_u64(), summary["files_after"].as_u64()), (Some(3), Some(3)), "{summary}");
    let other = nodes[holder % 3].api().post("/compactor/run").await;
    assert_eq!(other.status, 409, "the lease keeps a second compactor out: {}", other.body);
    assert!(other.body.contains(&format!("node {holder} holds the compactor lease")), "{}", other.body);
    let mut after = rows_now(&nodes[2].api(), t).await;
    let mut before = before;
    after.sort_by(|a, b| (a.ts, &a.line).cmp(&(b.ts, &b.line)));
    before.sort_by(|a, b| (a.ts, &a.line).cmp(&(b.ts, &b.line)));
    assert_eq!(after.iter().map(|r| (r.ts, &r.line)).collect::<Vec<_>>(), before.iter().map(|r| (r.ts, &r.line)).collect::<Vec<_>>());
}

/// Processes without the ingester role: a stateless distributor takes pushes and forwards
/// them to the shard leaders, a stateless querier reads from them; neither holds a replica
/// nor enters the shard map, and each serves only its own API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stateless_distributor_and_querier_serve_the_cluster() {
    let (nodes, chunks) = start_cluster(3, 2);
    let seeds: Vec<String> = nodes.iter().enumerate().map(|(i, n)| format!("{}@{}", i + 1, n.grpc)).collect();
    let start = |name: &str, id: u64, target: &str| {
        let dir = TestDir::new(name);
        let mut args = base_args(&dir);
        args.extend([
            format!("--target={target}"),
            format!("--cluster.node_id={id}"),
            format!("--cluster.seeds=[{}]", seeds.join(",")),
            "--limits_config.discover_service_name=[]".into(),
            shared_chunks(&chunks),
        ]);
        Skald::start_raw(dir, args)
    };
    let distributor = start("stateless-distributor", 4, "distributor");
    let querier = start("stateless-querier", 5, "read");
    let t = base_ts(26);
    for round in 0..5 {
        distributor.api().push_json(&body(round, t)).await.expect(204, &format!("push {round} through the distributor"));
    }
    assert_eq!(rows_eventually(&querier.api(), t, 40).await.len(), 40, "every entry, once, through the querier");
    assert_eq!(rows_eventually(&nodes[1].api(), t, 40).await.len(), 40, "every entry, once, through a node");
    let query = distributor.api().get("/loki/api/v1/query_range", &[("query", r#"{job="cluster"}"#.into())]).await;
    assert_eq!(query.status, 404, "the distributor answers no queries: {}", query.body);
    let push = querier.api().push_json(&body(9, t)).await;
    assert_eq!(push.status, 404, "the querier takes no pushes: {}", push.body);
    let status = nodes[0].api().get("/cluster/status", &[]).await.json();
    let ids: Vec<u64> = status["nodes"].as_array().into_iter().flatten().filter_map(|n| n["id"].as_u64()).collect();
    assert_eq!(ids, [1, 2, 3], "stateless processes stay out of the shard map: {status}");
}

/// A process with `target: compactor` hosts no replica: it compacts every shard of the
/// cluster its seeds name, carries out delete requests filed on any node, and serves no
/// pushes or queries; the nodes without the compactor role serve no compactor endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compactor_only_process_compacts_the_cluster() {
    let ingest = ["--target=write,read", "--compactor.retention_enabled=true"];
    let (nodes, chunks) = start_cluster_with(2, 3, &ingest);
    let t = base_ts(27);
    for round in 0..3 {
        nodes[0].api().push_json(&body(round, t)).await.expect(204, &format!("push {round}"));
        for n in &nodes {
            n.api().flush().await;
        }
    }
    let seeds: Vec<String> = nodes.iter().enumerate().map(|(i, n)| format!("{}@{}", i + 1, n.grpc)).collect();
    let start_compactor = |name: &str, id: u64, lease: &str| {
        let dir = TestDir::new(name);
        let mut args = base_args(&dir);
        args.extend([
            "--target=compactor".to_string(),
            format!("--cluster.node_id={id}"),
            format!("--cluster.seeds=[{}]", seeds.join(",")),
            "--compactor.retention_enabled=true".into(),
            "--compactor.delete_request_cancel_period=1s".into(),
            "--compactor.compaction_interval=0s".into(),
            format!("--compactor.lease_duration={lease}"),
            shared_chunks(&chunks),
        ]);
        Skald::start_raw(dir, args)
    };
    let compactor = start_compactor("cluster-compactor", 4, "2s");
    let api = compactor.api();
    assert_eq!(nodes[0].api().post("/compactor/run").await.status, 404, "write,read nodes do not compact");
    let push = api.push_json(&body(9, t)).await;
    assert_eq!(push.status, 404, "the compactor takes no pushes: {}", push.body);
    let query = api.get("/loki/api/v1/query_range", &[("query", r#"{job="cluster"}"#.into())]).await;
    assert_eq!(query.status, 404, "the compactor answers no queries: {}", query.body);

    // A delete request filed on a node is listed by the compactor (read from the metadata
    // leader).
    let start = (t / SEC - 1).to_string();
    let path = format!("/loki/api/v1/delete?query=%7Bjob%3D%22cluster%22%2Capp%3D%22a3%22%7D&start={start}");
    nodes[1].api().post(&path).await.expect(204, "POST /loki/api/v1/delete on node 2");
    let listed = api.get("/loki/api/v1/delete", &[]).await;
    listed.expect(200, "GET /loki/api/v1/delete on the compactor");
    assert_eq!(listed.json().as_array().map(Vec::len), Some(1), "the compactor lists it at once: {}", listed.body);
    // One filed on the compactor goes to the metadata group too, and can be cancelled there.
    let other = api.post(&path.replace("a3", "a5")).await;
    other.expect(204, "POST /loki/api/v1/delete on the compactor");
    let listed = nodes[0].api().get("/loki/api/v1/delete", &[]).await.json();
    let id = listed.as_array().and_then(|a| a.iter().find(|r| r["query"].as_str().is_some_and(|q| q.contains("a5")))).map(|r| r["request_id"].clone());
    let id = id.and_then(|v| v.as_str().map(String::from)).unwrap_or_else(|| panic!("node 1 lists the request filed on the compactor: {listed}"));
    api.delete(&format!("/loki/api/v1/delete?request_id={id}")).await.expect(204, "DELETE /loki/api/v1/delete on the compactor");
    let mut want: Vec<(i64, String)> = rows_now(&nodes[2].api(), t).await.into_iter().map(|r| (r.ts, r.line)).collect();
    want.sort();
    assert_eq!(want.len(), 21, "a3's three lines are hidden at once");
    assert!(want.iter().all(|(_, l)| !l.contains("stream=3")));
    tokio::time::sleep(Duration::from_millis(1100)).await;

    // The compactor needs the map from the cluster before it sees the backlog.
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        let r = api.get("/compactor/status", &[]).await;
        r.expect(200, "GET /compactor/status on the compactor");
        if !r.json()["backlog"].is_null() {
            break r.json();
        }
        assert!(Instant::now() < deadline, "the compactor never read the shards' indexes: {}", r.body);
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!((status["backlog"]["groups"].as_u64(), status["backlog"]["files"].as_u64()), (Some(3), Some(9)), "{status}");
    assert!(status["last_run"].is_null(), "{status}");
    let r = api.post("/compactor/run").await;
    r.expect(200, "POST /compactor/run on the compactor");
    let summary = r.json();
    assert_eq!(summary["files_before"], 9, "three flushes of three shards: {summary}");
    assert_eq!((summary["groups"].as_u64(), summary["files_after"].as_u64()), (Some(3), Some(3)), "{summary}");
    assert_eq!(summary["deletes_processed"], 1, "{summary}");
    let status = api.get("/compactor/status", &[]).await.json();
    assert_eq!((status["backlog"]["groups"].as_u64(), status["backlog"]["indexed_files"].as_u64()), (Some(0), Some(3)), "{status}");
    assert_eq!((status["lease_holder"].as_u64(), &status["last_run"]["summary"]), (Some(4), &summary), "{status}");
    assert!(status["seconds_since_last_success"].as_f64().is_some_and(|s| s < 60.0), "{status}");
    // A second compactor with a node's id is refused: it would share that node's lease.
    let twin = start_compactor("cluster-compactor-dup", 2, "2s");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = twin.api().post("/compactor/run").await;
        if r.body.contains("needs an id no node uses") {
            assert_eq!(r.status, 500, "{}", r.body);
            break;
        }
        assert!(Instant::now() < deadline, "a compactor with node 2's id: {} {}", r.status, r.body);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(twin);

    // It never takes a replica.
    let moved = nodes[0].api().post(&format!("/cluster/shards/0/move?from=1&to=4&to_addr={}", compactor.grpc)).await;
    assert_eq!(moved.status, 400, "{}", moved.body);
    assert!(moved.body.contains("runs without the ingester role"), "{}", moved.body);
    let drained = nodes[0].api().post(&format!("/cluster/nodes/1/drain?to=4&to_addr={}", compactor.grpc)).await;
    assert_eq!(drained.status, 400, "{}", drained.body);
    assert!(drained.body.contains("runs without the ingester role"), "{}", drained.body);
    let map = nodes[1].api().get("/cluster/status", &[]).await.json();
    assert!(map["nodes"].as_array().is_some_and(|n| n.iter().any(|x| x["id"] == 1)), "a failed drain leaves node 1 in the map: {map}");
    let cluster = api.get("/cluster/status", &[]).await;
    assert!(cluster.body.contains("\"node_id\":4"), "the compactor is node 4: {}", cluster.body);

    // After compaction and the delete, every node answers the same rows without a3's.
    for n in &nodes {
        let mut got: Vec<(i64, String)> = rows_now(&n.api(), t).await.into_iter().map(|r| (r.ts, r.line)).collect();
        got.sort();
        assert_eq!(got, want);
    }

    // A standby compactor takes over once the killed holder's lease (2 s) ran out...
    let mut standby = start_compactor("cluster-compactor-standby", 5, "60s");
    let refused_while = |api: Api, holder: u64| async move {
        let refused = api.post("/compactor/run").await;
        assert_eq!(refused.status, 409, "{}", refused.body);
        assert!(refused.body.contains(&format!("node {holder} holds the compactor lease")), "{}", refused.body);
    };
    refused_while(standby.api(), 4).await;
    drop(compactor);
    let wait_for_run = |api: Api, limit: Duration| async move {
        let since = Instant::now();
        loop {
            let r = api.post("/compactor/run").await;
            if r.status == 200 {
                return;
            }
            assert!(since.elapsed() < limit, "the standby never took over: {} {}", r.status, r.body);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    wait_for_run(standby.api(), Duration::from_secs(15)).await;
    assert_eq!(standby.api().get("/compactor/status", &[]).await.json()["lease_holder"], 5);
    // ...and at once when the holder stops gracefully (well before its 60 s lease ends).
    let third = start_compactor("cluster-compactor-third", 6, "2s");
    refused_while(third.api(), 5).await;
    assert!(standby.sigterm().success());
    wait_for_run(third.api(), Duration::from_secs(30)).await;
}

/// The total of `sum(count_over_time({job="big"}[2h]))` at `t + 1h` on `api`.
async fn big_count(api: &Api, t: i64) -> u64 {
    let r = api
        .get("/loki/api/v1/query", &[("query", r#"sum(count_over_time({job="big"}[2h]))"#.into()), ("time", (t + 3600 * SEC).to_string())])
        .await;
    r.expect(200, "count of the large push");
    let v = r.json();
    v["data"]["result"][0]["value"][1].as_str().and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_push_replicates_and_a_shard_without_quorum_answers_503() {
    let (nodes, _chunks) = start_cluster(3, 1);
    let t = base_ts(30);
    // 24 MiB in one push, more than a Raft entry may carry: it is proposed in pieces, every
    // replica takes them, and the shard keeps serving.
    let line = "x".repeat(1024);
    let per_stream = 4096;
    let streams = (0..6)
        .map(|s| {
            let app = format!("b{s}");
            let values = (0..per_stream).map(|i| jv(t + i * 1000 + s, &line)).collect();
            json_stream(&[("job", "big"), ("app", app.as_str())], values)
        })
        .collect();
    let r = nodes[1].api().push_json(&json_push(streams)).await;
    r.expect(204, "a 24 MiB push through a follower");
    for node in &nodes {
        assert_eq!(big_count(&node.api(), t).await, 6 * per_stream as u64, "every entry of the large push, once");
    }
    // Every follower applied it too: their applied indexes reach the leader's.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut applied = Vec::new();
        for n in &nodes {
            let s = n.api().get("/cluster/status", &[]).await.json();
            applied.push(s["shards"][0]["applied_index"].as_u64().unwrap_or(0));
        }
        if applied.iter().all(|a| *a == applied[0] && *a > 0) {
            break;
        }
        assert!(Instant::now() < deadline, "followers catch up after the large push: applied {applied:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    nodes[0].api().push_json(&body(1, t)).await.expect(204, "a small push after the large one");

    // Two of three nodes paused: the shard has no quorum, and a push fails with 503 (and is
    // not acknowledged) instead of hanging; once they resume, pushes succeed again.
    nodes[1].signal("STOP");
    nodes[2].signal("STOP");
    let started = Instant::now();
    let r = nodes[0].api().push_json(&body(2, t)).await;
    let pushed_in = started.elapsed();
    // A read cannot be linearized without a quorum either: 503, retryable.
    let q = nodes[0].api().get("/loki/api/v1/query_range", &[("query", r#"{job="cluster"}"#.into())]).await;
    nodes[1].signal("CONT");
    nodes[2].signal("CONT");
    assert_eq!(r.status, 503, "a push without quorum: {}", r.body);
    assert!(pushed_in < Duration::from_secs(30), "the push failed in {pushed_in:?}");
    assert_eq!(q.status, 503, "a query without quorum: {}", q.body);
    nodes[0].api().push_json(&body(3, t)).await.expect(204, "a push once the quorum is back");
}
