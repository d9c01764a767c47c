//! The clients: pushers that send entries with unique ids to random nodes, each owning its
//! streams so that timestamps grow within a stream, and readers that read whole streams
//! from random nodes. Every operation is recorded with its times and outcome.

use std::sync::{Arc, Mutex};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::watch;

use crate::cluster::{Cluster, Proc};
use crate::history::{Op, Outcome, Seen, Tenant, line, parse_line};
use crate::rng::Rng;

/// Entries a read asks for per request.
const PAGE: usize = 5000;

/// What every client shares.
pub struct Ctx {
    /// Base URLs of the nodes.
    pub urls: Vec<String>,
    /// HTTP client with a request timeout.
    pub http: reqwest::Client,
    /// When the run started.
    pub t0: Instant,
    /// The first timestamp entries get (nanoseconds).
    pub base_ts: i64,
    /// The next entry id.
    pub next_id: AtomicU64,
}

impl Ctx {
    /// Nanoseconds since the run started.
    pub fn now(&self) -> u64 {
        u64::try_from(self.t0.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// A tenant's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamKey {
    /// Tenant.
    pub tenant: String,
    /// Stream number.
    pub stream: u32,
}

fn selector(stream: u32) -> String {
    format!(r#"{{jepsen="w",stream="{stream}"}}"#)
}

/// How a failed request ended: refused before sending (certainly not applied) or not.
fn outcome_of(e: &reqwest::Error) -> Outcome {
    if e.is_connect() { Outcome::Fail } else { Outcome::Unknown }
}

/// Pushes 1 to 5 entries at a time to the streams in `own` until `stop`; returns its history.
pub async fn pusher(process: u32, ctx: Arc<Ctx>, own: Vec<StreamKey>, seed: u64, mut stop: watch::Receiver<bool>) -> Vec<Op> {
    let mut rng = Rng::new(seed);
    let mut next_ts: Vec<i64> = vec![ctx.base_ts; own.len()];
    let mut ops = Vec::new();
    while !*stop.borrow() {
        let k = rng.below(own.len());
        let key = &own[k];
        let node = rng.below(ctx.urls.len());
        let n = 1 + rng.below(5);
        let entries: Vec<(u64, i64)> = (0..n)
            .map(|_| {
                next_ts[k] += 1000;
                (ctx.next_id.fetch_add(1, Ordering::Relaxed), next_ts[k])
            })
            .collect();
        let values: Vec<Value> = entries.iter().map(|(id, ts)| json!([ts.to_string(), line(*id, &key.tenant, key.stream)])).collect();
        let body = json!({"streams": [{"stream": {"jepsen": "w", "stream": key.stream.to_string()}, "values": values}]});
        let start = ctx.now();
        let sent = ctx.http.post(format!("{}/loki/api/v1/push", ctx.urls[node])).header("X-Scope-OrgID", &key.tenant).json(&body).send().await;
        let outcome = match sent {
            Ok(r) if r.status().as_u16() == 204 => Outcome::Ok,
            Ok(_) => Outcome::Unknown,
            Err(e) => outcome_of(&e),
        };
        ops.push(Op::Push { process, node, tenant: key.tenant.clone(), stream: key.stream, entries, start, end: ctx.now(), outcome });
        if outcome != Outcome::Ok {
            // Give a failing node a moment instead of spinning on it.
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                _ = stop.changed() => {}
            }
        }
    }
    ops
}

/// Reads random whole streams from random nodes until `stop`; returns its history.
pub async fn reader(process: u32, ctx: Arc<Ctx>, all: Vec<StreamKey>, seed: u64, mut stop: watch::Receiver<bool>) -> Vec<Op> {
    let mut rng = Rng::new(seed);
    let mut ops = Vec::new();
    while !*stop.borrow() {
        let key = &all[rng.below(all.len())];
        let node = rng.below(ctx.urls.len());
        ops.push(read_stream(process, &ctx, node, key, false).await);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            _ = stop.changed() => {}
        }
    }
    ops
}

/// Reads every entry of `key` from node `node`, page by page.
pub async fn read_stream(process: u32, ctx: &Ctx, node: usize, key: &StreamKey, last: bool) -> Op {
    let start = ctx.now();
    let mut seen = Vec::new();
    let mut from = ctx.base_ts;
    // Entries get timestamps from base_ts on, 1 µs apart: two hours hold them all.
    let end_ts = ctx.base_ts + 7_200_000_000_000;
    let outcome = loop {
        let url = format!("{}/loki/api/v1/query_range", ctx.urls[node]);
        let params = [
            ("query", selector(key.stream)),
            ("start", from.to_string()),
            ("end", end_ts.to_string()),
            ("limit", PAGE.to_string()),
            ("direction", "forward".to_string()),
        ];
        let resp = ctx.http.get(&url).header("X-Scope-OrgID", &key.tenant).query(&params).send().await;
        let page = match resp {
            Ok(r) if r.status().is_success() => match r.json::<Value>().await {
                Ok(v) => page_entries(&v),
                Err(_) => break Outcome::Unknown,
            },
            Ok(_) => break Outcome::Unknown,
            Err(e) => break outcome_of(&e),
        };
        let full = page.len() >= PAGE;
        if let Some(last_ts) = page.last().map(|s| s.ts) {
            from = last_ts + 1;
        }
        seen.extend(page);
        if !full {
            break Outcome::Ok;
        }
    };
    Op::Read { process, node, tenant: key.tenant.clone(), stream: key.stream, start, end: ctx.now(), outcome, last, seen }
}

/// The entries of a query_range answer, in result order.
fn page_entries(v: &Value) -> Vec<Seen> {
    let mut out = Vec::new();
    for series in v["data"]["result"].as_array().into_iter().flatten() {
        for pair in series["values"].as_array().into_iter().flatten() {
            let ts = pair[0].as_str().and_then(|t| t.parse().ok()).unwrap_or(i64::MIN);
            let seen = pair[1].as_str().and_then(|l| parse_line(l, ts));
            // A line that does not parse is recorded as id 0, which was never sent.
            out.push(seen.unwrap_or(Seen { id: 0, ts, tenant: Tenant::new(""), stream: 0 }));
        }
    }
    out
}

/// What the compaction client did.
#[derive(Debug, Default, Clone, Copy)]
pub struct CompactionLoad {
    /// Cycles that ran to the end (answered 200).
    pub cycles: u64,
    /// Requests answered 409 (the other compactor held the lease).
    pub refused: u64,
    /// Compactors killed during a request.
    pub kills: u64,
    /// Compactors paused during a request.
    pub pauses: u64,
}

/// Every 1 to 3 s asks one of the compactor-only processes, at random, for a compaction
/// cycle, without waiting for the answer (a paused process must not hold the client up).
/// One request in four is cut short by a SIGKILL after 0 to 1.5 s (the process is started
/// again at once) and one in four by a SIGSTOP of 3 to 8 s after 0 to 0.3 s: longer than the 4 s lease, so
/// the other compactor may take the lease and run while the paused one is mid-cycle, and
/// the conditional swaps must keep both acting at once safe.
pub async fn compactor(cluster: Arc<Mutex<Cluster>>, seed: u64, mut stop: watch::Receiver<bool>) -> CompactionLoad {
    let mut rng = Rng::new(seed);
    let mut load = CompactionLoad::default();
    let client = match reqwest::Client::builder().timeout(Duration::from_secs(60)).build() {
        Ok(c) => c,
        Err(_) => return load,
    };
    let urls: Vec<String> = cluster.lock().map(|c| c.compactors.iter().map(|n| n.url()).collect()).unwrap_or_default();
    let mut paused_until = vec![Instant::now(); urls.len()];
    let mut requests = Vec::new();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(rng.millis(1000, 3000)) => {}
            _ = stop.changed() => break,
        }
        let k = rng.below(urls.len());
        if paused_until[k] > Instant::now() {
            continue;
        }
        let request = client.post(format!("{}/compactor/run", urls[k])).send();
        requests.push(tokio::spawn(async move { request.await.map(|r| r.status().as_u16()).unwrap_or(0) }));
        let fault = rng.below(4);
        if fault >= 2 {
            continue;
        }
        // A pause lands early, while the cycle still merges.
        tokio::time::sleep(if fault == 0 { rng.millis(0, 1500) } else { rng.millis(0, 300) }).await;
        let Ok(mut c) = cluster.lock() else { break };
        if fault == 0 {
            if c.kill(Proc::Compactor(k)).and_then(|()| c.restart(Proc::Compactor(k))).is_ok() {
                load.kills += 1;
            }
        } else if c.pause(Proc::Compactor(k)).is_ok() {
            load.pauses += 1;
            let pause = rng.millis(3000, 8000);
            paused_until[k] = Instant::now() + pause;
            let cluster = cluster.clone();
            tokio::spawn(async move {
                tokio::time::sleep(pause).await;
                if let Ok(mut c) = cluster.lock() {
                    let _ = c.resume(Proc::Compactor(k));
                }
            });
        }
    }
    for r in requests {
        match r.await {
            Ok(200) => load.cycles += 1,
            Ok(409) => load.refused += 1,
            _ => {}
        }
    }
    load
}
