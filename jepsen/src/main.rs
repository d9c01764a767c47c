//! `skald-jepsen`: tries to break Skald's promise that an acknowledged push survives any
//! failure a quorum survives. It starts a real cluster of `skald` processes on 127.0.0.1,
//! runs concurrent pushers and readers against random nodes while a nemesis injects faults
//! and a client runs compaction cycles on two compactor-only processes it kills and pauses,
//! heals, reads everything back, and judges the recorded history.
//!
//! ```text
//! cargo run --release -p skald-jepsen -- --time 180 --nodes 3 --out DIR [--nemesis all] [--seed N] [--bin PATH]
//! cargo run -p skald-jepsen -- --check DIR/history.jsonl     # judge a recorded history again
//! ```
//!
//! The run folder gets the history (`history.jsonl`), the verdict (`verdict.json`), a plot
//! (`timeline.svg`) and each node's log and data (`nodes/`; with disk faults the data lives
//! on the harness's tmpfs disks and goes with it). The last line printed starts with
//! `valid` or `invalid`, followed by the counts; the exit code is 0 only for a valid run.

mod checker;
mod cluster;
mod disk;
mod history;
mod nemesis;
mod proxy;
mod report;
mod rng;
mod workload;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::sync::watch;

use crate::cluster::Cluster;
use crate::history::{Op, Outcome};
use crate::nemesis::Fault;
use crate::workload::{Ctx, StreamKey, read_stream};

const USAGE: &str = "\
usage: skald-jepsen [--time SECONDS] [--nodes N] [--out DIR] [--nemesis KINDS] [--seed N] [--bin PATH]
       skald-jepsen --check HISTORY

  --time     seconds of load and faults (default 60)
  --nodes    cluster size, 3 or more (default 3)
  --out      run folder (default ./jepsen-run)
  --nemesis  comma-separated faults, or all (the default): kill, kill-leader, pause,
             kill-minority, restart-loop, partition, blackhole, one-way, isolate-leader,
             bridge, flap, slow, disk-full
  --seed     seed for every random choice (default: from the clock)
  --bin      the skald binary (default: the release build in the cargo target directory)
  --check    judge a recorded history.jsonl instead of running
";

/// Pushing clients.
const PUSHERS: u32 = 4;
/// Reading clients.
const READERS: u32 = 2;
/// Streams each pusher owns.
const STREAMS_PER_PUSHER: u32 = 3;
/// Tenants the streams are spread over.
const TENANTS: u32 = 2;

/// Parsed command line.
#[derive(Debug)]
struct Args {
    time: u64,
    nodes: usize,
    out: PathBuf,
    nemesis: Vec<Fault>,
    seed: u64,
    bin: PathBuf,
    check: Option<PathBuf>,
}

/// The release `skald` in the cargo target directory.
fn default_bin() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("target"));
    target.join("release").join("skald")
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args> {
    let seed = u64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos() & u128::from(u64::MAX))?;
    let mut a = Args { time: 60, nodes: 3, out: PathBuf::from("jepsen-run"), nemesis: Fault::DEFAULT.to_vec(), seed, bin: default_bin(), check: None };
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (arg.clone(), None),
        };
        if flag == "--help" || flag == "-h" {
            bail!("{USAGE}");
        }
        let value = match inline {
            Some(v) => v,
            None => it.next().with_context(|| format!("{flag} needs a value\n{USAGE}"))?,
        };
        match flag.as_str() {
            "--time" => a.time = value.parse().context("--time must be a number of seconds")?,
            "--nodes" => a.nodes = value.parse().context("--nodes must be a number")?,
            "--out" => a.out = PathBuf::from(value),
            "--nemesis" => a.nemesis = Fault::parse_list(&value)?,
            "--seed" => a.seed = value.parse().context("--seed must be a number")?,
            "--bin" => a.bin = PathBuf::from(value),
            "--check" => a.check = Some(PathBuf::from(value)),
            _ => bail!("unknown argument {arg:?}\n{USAGE}"),
        }
    }
    if a.nodes < 3 {
        bail!("--nodes must be at least 3 (a fault must leave a majority)");
    }
    Ok(a)
}

fn main() -> ExitCode {
    let mut args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e:#}");
            return ExitCode::from(2);
        }
    };
    // Disk faults need a mount namespace, entered while this is the only thread.
    if args.check.is_none()
        && args.nemesis.contains(&Fault::DiskFull)
        && let Err(e) = disk::enter_namespace()
    {
        eprintln!("skald-jepsen: no disk faults in this run: disk-full dropped ({e:#})");
        args.nemesis.retain(|f| *f != Fault::DiskFull);
        if args.nemesis.is_empty() {
            eprintln!("skald-jepsen: no fault kind left; the run injects no faults");
        }
    }
    match tokio::runtime::Runtime::new() {
        Ok(rt) => rt.block_on(run_or_check(args)),
        Err(e) => {
            eprintln!("skald-jepsen: starting the runtime: {e}");
            ExitCode::from(2)
        }
    }
}

/// Runs the test or re-judges a history, and maps the answer to the exit code.
async fn run_or_check(args: Args) -> ExitCode {
    let result = match &args.check {
        Some(path) => history::read(path).map_err(anyhow::Error::from).map(|ops| {
            let verdict = checker::check(&ops);
            println!("{}", verdict.summary());
            verdict
        }),
        None => run(args).await,
    };
    match result {
        Ok(v) if v.valid => ExitCode::SUCCESS,
        Ok(v) if !v.errors.is_empty() => ExitCode::from(2),
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("skald-jepsen: {e:#}");
            println!("invalid error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Runs the whole test and writes the run folder; answers the verdict.
/// Whatever breaks the run off (the cluster not starting, a failed fault, healing, a final
/// read that never succeeds) still writes the history recorded so far and a verdict marked
/// invalid with the error. Errs only when not even that could be written.
async fn run(args: Args) -> Result<checker::Verdict> {
    let _ = std::fs::remove_dir_all(args.out.join("nodes"));
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    eprintln!(
        "skald-jepsen: seed {}, {} nodes, {} s, fault kinds in use: {}, out {}",
        args.seed,
        args.nodes,
        args.time,
        Fault::names(&args.nemesis),
        args.out.display()
    );
    let mut ops: Vec<Op> = Vec::new();
    let mut errors: Vec<anyhow::Error> = Vec::new();
    if let Err(e) = exercise(&args, &mut ops, &mut errors).await {
        errors.push(e);
    }
    ops.sort_by_key(|op| match op {
        Op::Push { start, .. } | Op::Read { start, .. } | Op::Fault { start, .. } => *start,
    });
    let mut verdict = if errors.is_empty() { checker::check(&ops) } else { checker::check_partial(&ops) };
    verdict.fault_kinds = args.nemesis.iter().map(|f| f.name().to_string()).collect();
    if !errors.is_empty() {
        let why: Vec<String> = errors.iter().map(|e| format!("{e:#}")).collect();
        for e in &why {
            eprintln!("skald-jepsen: {e}");
        }
        verdict.broke_off(why);
    }
    report::write(&args.out, &ops, &verdict)?;
    println!("{}", verdict.summary());
    Ok(verdict)
}

/// Starts the cluster, runs the load and the nemesis for `--time` seconds, heals, and reads
/// every stream back, appending every operation to `ops`. Errors that leave the run able to
/// go on (a failed fault, a client task that died, a final read that never succeeded) go to
/// `errors`; one that ends it is returned.
async fn exercise(args: &Args, ops: &mut Vec<Op>, errors: &mut Vec<anyhow::Error>) -> Result<()> {
    if !args.bin.exists() {
        bail!("no skald binary at {} (build it, or pass --bin)", args.bin.display());
    }
    let disks = args.nemesis.contains(&Fault::DiskFull);
    let cluster = Cluster::start(&args.bin, args.nodes, &args.out.join("nodes"), disks).await?;
    let ctx = Arc::new(Ctx {
        urls: cluster.urls(),
        http: reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?,
        t0: Instant::now(),
        base_ts: now_ns() - 1_800_000_000_000,
        next_id: AtomicU64::new(1),
    });
    let cluster = Arc::new(Mutex::new(cluster));
    let streams: Vec<Vec<StreamKey>> = (0..PUSHERS).map(streams_of).collect();
    let all: Vec<StreamKey> = streams.iter().flatten().cloned().collect();
    let (stop, stop_rx) = watch::channel(false);
    let pushers: Vec<_> = streams
        .into_iter()
        .enumerate()
        .map(|(p, own)| tokio::spawn(workload::pusher(p as u32, ctx.clone(), own, args.seed ^ (p as u64 + 1), stop_rx.clone())))
        .collect();
    let readers: Vec<_> = (0..READERS)
        .map(|r| tokio::spawn(workload::reader(PUSHERS + r, ctx.clone(), all.clone(), args.seed ^ (100 + u64::from(r)), stop_rx.clone())))
        .collect();
    let nemesis = tokio::spawn(nemesis::run(cluster.clone(), ctx.clone(), args.nemesis.clone(), args.seed ^ 0xfa17, stop_rx.clone()));
    let compactions = tokio::spawn(workload::compactor(cluster.clone(), args.seed ^ 0xc0, stop_rx.clone()));
    tokio::time::sleep(Duration::from_secs(args.time)).await;
    // Every task holds a receiver, so the send reaches them.
    let _ = stop.send(true);
    for h in pushers.into_iter().chain(readers) {
        match h.await {
            Ok(done) => ops.extend(done),
            Err(e) => errors.push(anyhow::Error::from(e).context("a client task died; its operations are not in the history")),
        }
    }
    match nemesis.await {
        Ok((faults, result)) => {
            ops.extend(faults);
            if let Err(e) = result {
                errors.push(e.context("the nemesis broke off"));
            }
        }
        Err(e) => errors.push(anyhow::Error::from(e).context("the nemesis task died; its faults are not in the history")),
    }
    let c = compactions.await.unwrap_or_default();
    eprintln!(
        "skald-jepsen: load done ({} compaction cycles ran, {} refused by the lease; compactors killed {} and paused {} times), healing",
        c.cycles, c.refused, c.kills, c.pauses
    );
    // Heal, wait for every node and shard, then read every stream back. A cluster that does
    // not become healthy may still answer some reads: try them all the same.
    cluster.lock().map_err(|_| anyhow::anyhow!("cluster lock poisoned"))?.heal().context("healing")?;
    if let Err(e) = cluster::wait_healthy(&ctx.urls, Duration::from_secs(120)).await {
        errors.push(e.context("after healing"));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    for key in &all {
        match final_read(&ctx, key, deadline).await {
            Ok(op) => ops.push(op),
            Err(e) => errors.push(e),
        }
    }
    Ok(())
}

/// The streams pusher `p` owns: tenant `p % TENANTS`, and stream numbers that the pushers
/// of the other tenants use too, so every label set exists in every tenant (tenant isolation
/// is then tested on identical selectors) while each (tenant, stream) has one pusher.
fn streams_of(p: u32) -> Vec<StreamKey> {
    (0..STREAMS_PER_PUSHER)
        .map(|k| StreamKey { tenant: format!("tenant-{}", p % TENANTS), stream: (p / TENANTS) * STREAMS_PER_PUSHER + k })
        .collect()
}

/// Reads `key` completely after healing, from each node in turn until one answers, trying
/// each node at least once even after `deadline`.
async fn final_read(ctx: &Ctx, key: &StreamKey, deadline: Instant) -> Result<Op> {
    let mut node = 0;
    loop {
        let op = read_stream(u32::MAX, ctx, node % ctx.urls.len(), key, true).await;
        if matches!(op, Op::Read { outcome: Outcome::Ok, .. }) {
            return Ok(op);
        }
        if Instant::now() >= deadline && node + 1 >= ctx.urls.len() {
            let url = format!("{}/loki/api/v1/query_range", ctx.urls[node % ctx.urls.len()]);
            let q = [("query", format!(r#"{{jepsen="w",stream="{}"}}"#, key.stream)), ("start", ctx.base_ts.to_string()), ("limit", "10".into())];
            let why = match ctx.http.get(&url).header("X-Scope-OrgID", &key.tenant).query(&q).send().await {
                Ok(r) => format!("{} {}", r.status(), r.text().await.unwrap_or_default()),
                Err(e) => format!("{:#}", anyhow::Error::from(e)),
            };
            bail!("the final read of {} stream {} never succeeded; last answer: {why}", key.tenant, key.stream);
        }
        node += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Wall-clock time in nanoseconds since the epoch.
fn now_ns() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_arguments() {
        let a = |v: &[&str]| parse_args(v.iter().map(|s| s.to_string()));
        let args = a(&["--time", "5", "--nodes=5", "--out", "x", "--nemesis=kill,pause", "--seed=9", "--bin=/b"]).expect("args");
        assert_eq!((args.time, args.nodes, args.seed), (5, 5, 9));
        assert_eq!(args.nemesis, vec![Fault::Kill, Fault::Pause]);
        assert_eq!(args.bin, PathBuf::from("/b"));
        assert!(a(&["--nodes=2"]).is_err());
        assert!(a(&["--bogus=1"]).is_err());
        assert!(a(&["--time"]).is_err());
        assert_eq!(a(&[]).expect("defaults").nemesis, Fault::DEFAULT.to_vec());
    }

    #[test]
    fn every_label_set_exists_in_every_tenant_with_one_pusher_each() {
        let keys: Vec<StreamKey> = (0..PUSHERS).flat_map(streams_of).collect();
        let mut owners: Vec<(String, u32)> = keys.iter().map(|k| (k.tenant.clone(), k.stream)).collect();
        owners.sort_unstable();
        owners.dedup();
        assert_eq!(owners.len(), keys.len(), "one pusher per (tenant, stream)");
        let streams: std::collections::BTreeSet<u32> = keys.iter().map(|k| k.stream).collect();
        let tenants: std::collections::BTreeSet<&str> = keys.iter().map(|k| k.tenant.as_str()).collect();
        assert_eq!(tenants.len(), TENANTS as usize);
        for s in &streams {
            for t in &tenants {
                assert!(keys.iter().any(|k| k.stream == *s && k.tenant == *t), "stream {s} in {t}");
            }
        }
    }
}
