//! The nemesis: injects one fault at a time, always leaving a majority of nodes able to
//! serve once it heals, and records each fault's window in the history.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Result, bail};
use tokio::sync::watch;

use crate::cluster::{Cluster, leader_of};
use crate::history::Op;
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
}

impl Fault {
    /// Every kind, in the order `--nemesis` lists them.
    pub const ALL: [Fault; 5] = [Fault::Kill, Fault::KillLeader, Fault::Pause, Fault::KillMinority, Fault::RestartLoop];

    /// The kind's name in `--nemesis` and in the history.
    pub fn name(self) -> &'static str {
        match self {
            Fault::Kill => "kill",
            Fault::KillLeader => "kill-leader",
            Fault::Pause => "pause",
            Fault::KillMinority => "kill-minority",
            Fault::RestartLoop => "restart-loop",
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
            Fault::Kill | Fault::Pause | Fault::RestartLoop => vec![one],
            Fault::KillLeader => {
                let url = locked(&cluster).nodes[one].url();
                match leader_of(&status, &url, 0).await {
                    Some(l) => vec![l],
                    None => continue,
                }
            }
            Fault::KillMinority => {
                let mut pick = up.clone();
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
            _ => {
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
        assert_eq!(Fault::parse_list("kill, pause").expect("two"), vec![Fault::Kill, Fault::Pause]);
        assert!(Fault::parse_list("flood").unwrap_err().to_string().contains("unknown fault"));
    }
}
