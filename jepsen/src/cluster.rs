//! The cluster under test: N `skald` processes on 127.0.0.1, each with its own data
//! directory and ports, which the harness starts, kills, pauses, resumes and restarts. Every
//! node reaches every other through the harness's per-link proxies ([`Links`]). Beside them
//! run the cluster's compactors: two compactor-only processes (`target: compactor`, node
//! ids N+1 and N+2, sharing a 4 s lease), which reach the nodes directly and which the
//! compaction client kills, pauses and restarts.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::proxy::Links;

/// One node's process and how to start it again.
pub struct Node {
    /// HTTP port.
    pub http: u16,
    dir: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
    paused: bool,
    /// Whether its data disk is full (only with disk faults).
    disk_full: bool,
}

/// The processes of the cluster.
pub struct Cluster {
    /// Every node, by position (node id - 1).
    pub nodes: Vec<Node>,
    /// The links between them.
    pub links: Links,
    /// The compactor-only processes (node ids N+1 and N+2), which share one lease.
    pub compactors: Vec<Node>,
    bin: PathBuf,
}

/// One process of the run: a cluster node or a compactor, by position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proc {
    /// Cluster node (node id - 1).
    Node(usize),
    /// Compactor-only process.
    Compactor(usize),
}

impl From<usize> for Proc {
    fn from(i: usize) -> Proc {
        Proc::Node(i)
    }
}

/// Compactor-only processes the harness runs.
pub const COMPACTORS: usize = 2;

/// The flags that make a node listen on 127.0.0.1 at `http` and `grpc`.
fn listen(http: u16, grpc: u16) -> Vec<String> {
    vec![
        "--server.http_listen_address=127.0.0.1".to_string(),
        format!("--server.http_listen_port={http}"),
        "--server.grpc_listen_address=127.0.0.1".to_string(),
        format!("--server.grpc_listen_port={grpc}"),
    ]
}

/// A listener on a free 127.0.0.1 port, held until the node takes the port.
fn free_listener() -> Result<std::net::TcpListener> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?)
}

fn signal(pid: u32, sig: &str) -> Result<()> {
    let status = Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status().context("running kill")?;
    if !status.success() {
        bail!("kill -{sig} {pid} failed");
    }
    Ok(())
}

impl Node {
    fn spawn(&mut self, bin: &Path) -> Result<()> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("skald.log"))?;
        let child = Command::new(bin)
            .args(&self.args)
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .env("RUST_LOG", "warn")
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        self.child = Some(child);
        self.paused = false;
        Ok(())
    }

    /// Base URL of the node's HTTP API.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http)
    }

    /// True while the process runs and is not paused.
    pub fn up(&self) -> bool {
        self.child.is_some() && !self.paused
    }
}

impl Cluster {
    /// Starts `n` nodes from `bin` with data under `dir` (each on its own disk when `disks`);
    /// returns once every node is ready and every shard has a leader.
    pub async fn start(bin: &Path, n: usize, dir: &Path, disks: bool) -> Result<Cluster> {
        // Hold the nodes' ports while the proxies bind theirs, so none is handed out twice.
        let held: Vec<(std::net::TcpListener, std::net::TcpListener)> =
            (0..n + COMPACTORS).map(|_| Ok((free_listener()?, free_listener()?))).collect::<Result<_>>()?;
        let ports: Vec<(u16, u16)> = held.iter().map(|(h, g)| Ok((h.local_addr()?.port(), g.local_addr()?.port()))).collect::<Result<_>>()?;
        let links = Links::start(&ports[..n].iter().map(|(_, g)| *g).collect::<Vec<_>>()).await?;
        drop(held);
        let mut nodes = Vec::with_capacity(n);
        let shared = dir.join("chunks");
        let storage = |dir: &Path| {
            vec![
                format!("--common.path_prefix={}", dir.join("data").display()),
                // The nodes share one chunk directory, as they would share a bucket.
                format!("--common.storage.filesystem.chunks_directory={}", shared.display()),
                "--auth_enabled=true".to_string(),
                // Compactions run when the harness asks; replaced files go 10 s later.
                "--compactor.compaction_interval=0s".to_string(),
                "--compactor.retention_delete_delay=10s".to_string(),
            ]
        };
        for (i, (http, grpc)) in ports[..n].iter().enumerate() {
            // This node reaches itself directly and every peer through the link's proxy.
            let seeds: Vec<String> = (0..n)
                .map(|j| format!("{}@127.0.0.1:{}", j + 1, if j == i { *grpc } else { links.port(i, j).unwrap_or(*grpc) }))
                .collect();
            let dir = dir.join(format!("node-{}", i + 1));
            std::fs::create_dir_all(&dir)?;
            if disks {
                crate::disk::mount(&dir.join("data"))?;
            }
            let mut args = listen(*http, *grpc);
            args.extend(storage(&dir));
            args.extend([
                format!("--cluster.node_id={}", i + 1),
                format!("--cluster.seeds=[{}]", seeds.join(",")),
                format!("--ingester.shards={n}"),
                "--ingester.chunk_idle_period=5s".to_string(),
                // Heads are cut every few seconds, so chunk files pile up for the compactor.
                "--ingester.chunk_target_size=4096".to_string(),
                "--ingester.flush_check_period=1s".to_string(),
                "--limits_config.reject_old_samples=false".to_string(),
                // Only the compactor-only process compacts.
                "--target=write,read".to_string(),
            ]);
            nodes.push(Node { http: *http, dir, args, child: None, paused: false, disk_full: false });
        }
        let seeds: Vec<String> = ports[..n].iter().enumerate().map(|(j, (_, g))| format!("{}@127.0.0.1:{g}", j + 1)).collect();
        let mut compactors = Vec::with_capacity(COMPACTORS);
        for (k, (http, grpc)) in ports[n..].iter().enumerate() {
            let dir = dir.join(format!("compactor-{}", k + 1));
            std::fs::create_dir_all(&dir)?;
            let mut args = listen(*http, *grpc);
            args.extend(storage(&dir));
            args.extend([
                "--target=compactor".to_string(),
                format!("--cluster.node_id={}", n + k + 1),
                format!("--cluster.seeds=[{}]", seeds.join(",")),
                // Short, so a paused holder loses it and both compactors act at once.
                "--compactor.lease_duration=4s".to_string(),
            ]);
            compactors.push(Node { http: *http, dir, args, child: None, paused: false, disk_full: false });
        }
        let mut cluster = Cluster { nodes, links, compactors, bin: bin.to_path_buf() };
        for node in cluster.nodes.iter_mut().chain(cluster.compactors.iter_mut()) {
            node.spawn(bin)?;
        }
        wait_healthy(&cluster.urls(), Duration::from_secs(90)).await?;
        let compactor_urls: Vec<String> = cluster.compactors.iter().map(Node::url).collect();
        wait_healthy(&compactor_urls, Duration::from_secs(30)).await?;
        Ok(cluster)
    }

    fn node(&mut self, p: Proc) -> &mut Node {
        match p {
            Proc::Node(i) => &mut self.nodes[i],
            Proc::Compactor(i) => &mut self.compactors[i],
        }
    }

    /// SIGKILLs a process.
    pub fn kill(&mut self, p: impl Into<Proc>) -> Result<()> {
        let node = self.node(p.into());
        if let Some(mut child) = node.child.take() {
            child.kill()?;
            child.wait()?;
        }
        node.paused = false;
        Ok(())
    }

    /// Starts a process again on its data (if it is not running).
    pub fn restart(&mut self, p: impl Into<Proc>) -> Result<()> {
        let bin = self.bin.clone();
        let node = self.node(p.into());
        if node.child.is_none() {
            node.spawn(&bin)?;
        }
        Ok(())
    }

    /// SIGSTOPs a process.
    pub fn pause(&mut self, p: impl Into<Proc>) -> Result<()> {
        let node = self.node(p.into());
        if let Some(child) = &node.child {
            signal(child.id(), "STOP")?;
            node.paused = true;
        }
        Ok(())
    }

    /// SIGCONTs a process.
    pub fn resume(&mut self, p: impl Into<Proc>) -> Result<()> {
        let node = self.node(p.into());
        if let Some(child) = &node.child {
            signal(child.id(), "CONT")?;
        }
        node.paused = false;
        Ok(())
    }

    /// Leaves no free space on node `i`'s data disk.
    pub fn fill_disk(&mut self, i: usize) -> Result<()> {
        crate::disk::fill(&self.nodes[i].dir.join("data"))?;
        self.nodes[i].disk_full = true;
        Ok(())
    }

    /// Gives node `i`'s data disk its space back.
    pub fn free_disk(&mut self, i: usize) -> Result<()> {
        crate::disk::free(&self.nodes[i].dir.join("data"))?;
        self.nodes[i].disk_full = false;
        Ok(())
    }

    /// Restores every link and disk, resumes every paused process and restarts every killed
    /// one.
    pub fn heal(&mut self) -> Result<()> {
        self.links.heal();
        for i in 0..self.nodes.len() {
            if self.nodes[i].disk_full {
                self.free_disk(i)?;
            }
        }
        let all = (0..self.nodes.len()).map(Proc::Node).chain((0..self.compactors.len()).map(Proc::Compactor));
        for p in all.collect::<Vec<_>>() {
            if self.node(p).paused {
                self.resume(p)?;
            }
            self.restart(p)?;
        }
        Ok(())
    }

    /// Positions of the nodes that run and are not paused.
    pub fn up(&self) -> Vec<usize> {
        (0..self.nodes.len()).filter(|i| self.nodes[*i].up()).collect()
    }

    /// Base URLs of every node, by position.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(Node::url).collect()
    }
}

/// Waits until every node in `urls` answers `/ready` and sees a leader for each of its
/// shards.
pub async fn wait_healthy(urls: &[String], limit: Duration) -> Result<()> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
    let deadline = Instant::now() + limit;
    for url in urls {
        loop {
            if healthy(&client, url).await {
                break;
            }
            if Instant::now() >= deadline {
                bail!("the node at {url} did not become healthy within {limit:?}; see its skald.log");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

/// True when the node is ready and each shard it holds has a leader.
async fn healthy(client: &reqwest::Client, url: &str) -> bool {
    let ready = client.get(format!("{url}/ready")).send().await.is_ok_and(|r| r.status().is_success());
    if !ready {
        return false;
    }
    let Ok(resp) = client.get(format!("{url}/cluster/status")).send().await else { return false };
    let Ok(status) = resp.json::<serde_json::Value>().await else { return false };
    status["shards"].as_array().is_some_and(|s| s.iter().filter(|x| x["local"] == true).all(|x| x["leader"].is_u64()))
}

/// The position of the node leading shard `shard`, as the node at `url` sees it.
pub async fn leader_of(client: &reqwest::Client, url: &str, shard: usize) -> Option<usize> {
    let status: serde_json::Value = client.get(format!("{url}/cluster/status")).send().await.ok()?.json().await.ok()?;
    let leader = status["shards"][shard]["leader"].as_u64()?;
    usize::try_from(leader.checked_sub(1)?).ok()
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in self.nodes.iter_mut().chain(self.compactors.iter_mut()) {
            if let Some(mut child) = node.child.take() {
                if node.paused {
                    let _ = signal(child.id(), "CONT");
                }
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
