//! The nemesis: injects one fault at a time (processes killed, paused or restarted; links
//! cut, flapping or slowed through the harness's proxies; a node's disk filled), always leaving a majority of nodes
//! connected and alive, heals it, and records each fault's window in the history.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Result, bail};
use tokio::sync::watch;

use crate::cluster::{Cluster, leader_of};
use crate::history::Op;
use crate::proxy::LinkState;
use crate::rng::Rng;
use crate::workload::Ctx;

/// A kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL a random node, restart it later.
    Kill,
    /// SIGKILL the node leading shard 0, restart it later.
    KillLeader,
    /// SIGSTOP a random node for longer than an election timeout, then SIGCONT.
    Pause,
    /// SIGKILL a minority of the nodes at once, restart them later.
    KillMinority,
    /// Kill and restart one node three times in quick succession.
    RestartLoop,
    /// Cut every link between a random minority and the majority, both ways.
    Partition,
    /// Cut every link of the node leading shard 0, both ways.
    IsolateLeader,
    /// Split the others in two halves that only a random bridge node connects.
    Bridge,
    /// Cut and restore the links between two nodes every 250 ms for 4 s.
    Flap,
    /// Delay every chunk on every link of one node by 50 to 200 ms.
    Slow,
    /// Leave no free space on one node's data disk, then give it back.
    DiskFull,
}

impl Fault {
    /// Every kind, in the order `--nemesis` lists them.
    pub const ALL: [Fault; 11] = [
        Fault::Kill,
        Fault::KillLeader,
        Fault::Pause,
        Fault::KillMinority,
        Fault::RestartLoop,
        Fault::Partition,
        Fault::IsolateLeader,
        Fault::Bridge,
        Fault::Flap,
        Fault::Slow,
        Fault::DiskFull,
    ];

    /// The kind's name in `--nemesis` and in the history.
    pub fn name(self) -> &'static str {
        match self {
            Fault::Kill => "kill",
            Fault::KillLeader => "kill-leader",
            Fault::Pause => "pause",
            Fault::KillMinority => "kill-minority",
            Fault::RestartLoop => "restart-loop",
            Fault::Partition => "partition",
            Fault::IsolateLeader => "isolate-leader",
            Fault::Bridge => "bridge",
            Fault::Flap => "flap",
            Fault::Slow => "slow",
            Fault::DiskFull => "disk-full",
        }
    }

    /// Parses a comma-separated list of kinds (`all` for every one).
    pub fn parse_list(s: &str) -> Result<Vec<Fault>> {
        if s == "all" {
            return Ok(Fault::ALL.to_vec());
        }
        s.split(',')
            .map(|name| match Fault::ALL.iter().find(|f| f.name() == name.trim()) {
                Some(f) => Ok(*f),
                None => bail!("unknown fault {name:?}; known: all, {}", Fault::ALL.map(Fault::name).join(", ")),
            })
            .collect()
    }
}

/// Locks the cluster (a poisoned lock only means another task panicked mid-fault).
fn locked(cluster: &Mutex<Cluster>) -> std::sync::MutexGuard<'_, Cluster> {
    cluster.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Injects faults of `kinds` until `stop`, then heals everything; returns the fault windows.
pub async fn run(cluster: Arc<Mutex<Cluster>>, ctx: Arc<Ctx>, kinds: Vec<Fault>, seed: u64, mut stop: watch::Receiver<bool>) -> Result<Vec<Op>> {
    let mut rng = Rng::new(seed);
    let mut ops = Vec::new();
    let n = locked(&cluster).nodes.len();
    let status = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(rng.millis(1000, 3000)) => {}
            _ = stop.changed() => break,
        }
        if kinds.is_empty() || n < 3 {
            continue;
        }
        let fault = kinds[rng.below(kinds.len())];
        let up = locked(&cluster).up();
        let Some(&one) = up.get(rng.below(up.len())) else { continue };
        let start = ctx.now();
        let targets: Vec<usize> = match fault {
            Fault::Kill | Fault::Pause | Fault::RestartLoop | Fault::Slow | Fault::DiskFull => vec![one],
            Fault::Flap => vec![one, (one + 1 + rng.below(n - 1)) % n],
            Fault::Bridge => {
                // The bridge first, then the two halves it joins.
                let mut others: Vec<usize> = (0..n).filter(|i| *i != one).collect();
                let mut out = vec![one];
                while !others.is_empty() {
                    out.push(others.swap_remove(rng.below(others.len())));
                }
                out
            }
            Fault::KillLeader | Fault::IsolateLeader => {
                let url = locked(&cluster).nodes[one].url();
                match leader_of(&status, &url, 0).await {
                    Some(l) => vec![l],
                    None => continue,
                }
            }
            Fault::KillMinority | Fault::Partition => {
                let mut pick = if fault == Fault::Partition { (0..n).collect() } else { up.clone() };
                let mut out = Vec::new();
                while out.len() < (n - 1) / 2 && !pick.is_empty() {
                    out.push(pick.swap_remove(rng.below(pick.len())));
                }
                out
            }
        };
        match fault {
            Fault::Pause => {
                locked(&cluster).pause(one)?;
                tokio::time::sleep(rng.millis(1000, 3000)).await;
                locked(&cluster).resume(one)?;
            }
            Fault::RestartLoop => {
                for _ in 0..3 {
                    locked(&cluster).kill(one)?;
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    locked(&cluster).restart(one)?;
                    tokio::time::sleep(Duration::from_millis(700)).await;
                }
            }
            Fault::Partition | Fault::IsolateLeader => {
                {
                    let c = locked(&cluster);
                    for a in &targets {
                        for b in (0..n).filter(|b| !targets.contains(b)) {
                            c.links.set_both(*a, b, LinkState::Cut);
                        }
                    }
                }
                tokio::time::sleep(rng.millis(2000, 5000)).await;
                locked(&cluster).links.heal();
            }
            Fault::Bridge => {
                {
                    let c = locked(&cluster);
                    let (left, right) = targets[1..].split_at((targets.len() - 1) / 2);
                    for a in left {
                        for b in right {
                            c.links.set_both(*a, *b, LinkState::Cut);
                        }
                    }
                }
                tokio::time::sleep(rng.millis(2000, 5000)).await;
                locked(&cluster).links.heal();
            }
            Fault::Flap => {
                for _ in 0..8 {
                    locked(&cluster).links.set_both(targets[0], targets[1], LinkState::Cut);
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    locked(&cluster).links.set_both(targets[0], targets[1], LinkState::Up);
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
            Fault::Slow => {
                let delay = rng.millis(50, 200);
                {
                    let c = locked(&cluster);
                    for b in (0..n).filter(|b| *b != one) {
                        c.links.set_both(one, b, LinkState::Slow(delay));
                    }
                }
                tokio::time::sleep(rng.millis(2000, 4000)).await;
                locked(&cluster).links.heal();
            }
            Fault::DiskFull => {
                locked(&cluster).fill_disk(one)?;
                tokio::time::sleep(rng.millis(2000, 6000)).await;
                locked(&cluster).free_disk(one)?;
            }
            Fault::Kill | Fault::KillLeader | Fault::KillMinority => {
                for t in &targets {
                    locked(&cluster).kill(*t)?;
                }
                tokio::time::sleep(rng.millis(1000, 3000)).await;
                for t in &targets {
                    locked(&cluster).restart(*t)?;
                }
            }
        }
        let target = targets.iter().map(|t| format!("node {}", t + 1)).collect::<Vec<_>>().join(", ");
        ops.push(Op::Fault { kind: fault.name().to_string(), target, start, end: ctx.now() });
    }
    locked(&cluster).heal()?;
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fault_lists() {
        assert_eq!(Fault::parse_list("all").expect("all").len(), Fault::ALL.len());
        assert_eq!(Fault::parse_list("kill, pause,bridge").expect("three"), vec![Fault::Kill, Fault::Pause, Fault::Bridge]);
        assert!(Fault::ALL.iter().all(|f| Fault::parse_list(f.name()).expect("by name") == vec![*f]));
        assert!(Fault::parse_list("flood").unwrap_err().to_string().contains("unknown fault"));
    }
}
