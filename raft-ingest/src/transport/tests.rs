//! Three (then four) openraft nodes of one group, each with its own segment log and state
//! machine, talking over real gRPC on 127.0.0.1: replication, leader failover, and a
//! snapshot streamed to a new replica after the log was purged.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use openraft::async_runtime::WatchReceiver;
use openraft::{BasicNode, Config, Raft, SnapshotPolicy};
use store::entry::Entry;
use store::labels::Labels;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::{Channels, Groups, GrpcNetwork, RaftServer};
use crate::command::{ApplyResult, Command, StreamPush, TenantPush};
use crate::heads::HeadsConfig;
use crate::segment_log::SegmentLog;
use crate::state_machine::StateMachine;
use crate::testutil::{TempDir, temp_dir};

const GROUP: u64 = 7;
const WAIT: Duration = Duration::from_secs(20);

struct Node {
    id: u64,
    addr: String,
    raft: Raft<crate::command::TypeConfig, StateMachine>,
    server: JoinHandle<()>,
    /// The node's files, removed when the node is dropped.
    _dir: TempDir,
}

async fn start_node(id: u64) -> Node {
    let dir = temp_dir(&format!("transport-{id}"));
    let sm = StateMachine::open(&dir, GROUP, HeadsConfig { out_of_order_window: Duration::from_secs(3600) }).expect("state machine");
    let log = SegmentLog::open(&dir.join("segments")).expect("log");
    let config = Config {
        cluster_name: "transport-test".into(),
        heartbeat_interval: 100,
        election_timeout_min: 300,
        election_timeout_max: 600,
        snapshot_policy: SnapshotPolicy::Never,
        max_in_snapshot_log_to_keep: 0,
        purge_batch_size: 1,
        ..Config::default()
    }
    .validate()
    .expect("config");
    let raft = Raft::new(id, Arc::new(config), GrpcNetwork::new(GROUP, Channels::default()), log, sm).await.expect("raft");
    let groups = Groups::default();
    groups.insert(GROUP, raft.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    let server = tokio::spawn(async move {
        let _ = tonic::transport::Server::builder().add_service(RaftServer::new(groups).into_service()).serve_with_incoming(incoming).await;
    });
    Node { id, addr, raft, server, _dir: dir }
}

/// `n` new entries, each line padded with `pad` bytes; `base` keeps timestamps of different
/// writes apart (the state machine drops exact duplicates).
fn push(n: i64, base: i64, pad: usize) -> Command {
    let labels = Labels::parse(r#"{app="transport"}"#).expect("labels");
    let padding = "p".repeat(pad);
    let entries = (0..n).map(|i| Entry { ts: base + i, line: format!("line {i} {padding}"), metadata: Vec::new() }).collect();
    Command::Push(vec![TenantPush { tenant: "t".into(), streams: vec![StreamPush { labels, entries }] }])
}

async fn leader_of(nodes: &[&Node]) -> u64 {
    let ids: Vec<u64> = nodes.iter().map(|n| n.id).collect();
    let m = nodes[0]
        .raft
        .wait(Some(WAIT))
        .metrics(|m| m.current_leader.is_some_and(|l| ids.contains(&l)), "a leader among the live nodes")
        .await
        .expect("a leader among the live nodes");
    m.current_leader.expect("leader")
}

async fn applied_at_least(node: &Node, index: u64) {
    node.raft
        .wait(Some(WAIT))
        .applied_index_at_least(Some(index), "replicated")
        .await
        .unwrap_or_else(|e| panic!("node {} did not apply {index}: {e}", node.id));
}

/// Writes through whichever node leads, retrying while leadership settles.
async fn write(nodes: &[&Node], n: i64, base: i64, pad: usize) -> u64 {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let leader = leader_of(nodes).await;
        let node = nodes.iter().find(|x| x.id == leader).expect("leader node");
        match node.raft.client_write(push(n, base, pad)).await {
            Ok(resp) => {
                match resp.response() {
                    ApplyResult::Push(outcomes) => assert_eq!(outcomes[0].accepted, n as u64),
                    other => panic!("unexpected apply result {other:?}"),
                }
                return resp.log_id().index;
            }
            Err(e) if e.forward_to_leader().is_some() && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("client write: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicates_fails_over_and_streams_snapshots() {
    let nodes = vec![start_node(1).await, start_node(2).await, start_node(3).await];
    let members: BTreeMap<u64, BasicNode> = nodes.iter().map(|n| (n.id, BasicNode::new(n.addr.clone()))).collect();
    nodes[0].raft.initialize(members).await.expect("initialize");

    // Every replica applies what the leader commits.
    let all: Vec<&Node> = nodes.iter().collect();
    let index = write(&all, 3, 1_000, 0).await;
    let leader = leader_of(&all).await;
    let lead = nodes.iter().find(|n| n.id == leader).expect("leader node");
    for n in &nodes {
        applied_at_least(n, index).await;
    }

    // Stop the leader: the other two elect a new one and keep committing.
    lead.raft.shutdown().await.expect("shutdown");
    lead.server.abort();
    let rest: Vec<&Node> = nodes.iter().filter(|n| n.id != leader).collect();
    let new_leader = leader_of(&rest).await;
    assert_ne!(new_leader, leader, "a stopped node cannot stay leader");
    write(&rest, 2, 2_000, 0).await;
    // A 10 MiB entry: replicated under a deadline sized for it, and in the heads the
    // snapshot below carries, so the snapshot streams in several chunks.
    let index = write(&rest, 2_500, 3_000, 4096).await;
    let current = leader_of(&rest).await;
    let lead2 = rest.iter().find(|n| n.id == current).expect("new leader");
    for n in &rest {
        applied_at_least(n, index).await;
    }

    // Snapshot and purge the log, then add a fourth node: it can only catch up from the
    // snapshot, streamed over InstallSnapshot.
    lead2.raft.trigger().snapshot().await.expect("snapshot");
    lead2
        .raft
        .wait(Some(WAIT))
        .metrics(|m| m.snapshot.is_some_and(|s| s.index >= index), "snapshot built")
        .await
        .expect("snapshot built");
    lead2.raft.trigger().purge_log(index).await.expect("purge");
    let fourth = start_node(4).await;
    lead2.raft.add_learner(4, BasicNode::new(fourth.addr.clone()), true).await.expect("add learner");
    applied_at_least(&fourth, index).await;
    let snap = fourth.raft.metrics().borrow_watched().snapshot;
    assert!(snap.is_some_and(|s| s.index >= index), "the new node must have installed a snapshot, got {snap:?}");
    // The sender counts once it has the receiver's answer, which may come after the install.
    let counted = || crate::metrics::SNAPSHOTS_SENT.get() >= 1 && crate::metrics::SNAPSHOTS_RECEIVED.get() >= 1;
    for _ in 0..100 {
        if counted() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(counted(), "snapshot transfers are counted");
    let bytes = crate::metrics::SNAPSHOT_BYTES_SENT.get();
    assert!(bytes > 2 * super::SNAPSHOT_CHUNK as u64, "the snapshot spans several chunks ({bytes} bytes sent)");
}
