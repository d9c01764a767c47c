//! The nemesis: injects one fault at a time (processes killed, paused or restarted; links
//! cut, black-holed, cut one way, flapping or slowed through the harness's proxies; a node's
//! disk filled), always leaving a majority of nodes connected and alive, heals it, and
//! records each fault's window in the history.

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
    /// Black-hole every link between a random minority and the majority, both ways: bytes
    /// vanish, nothing is refused or closed.
    Blackhole,
    /// Cut the links between a random minority and the majority in one direction only: the
    /// minority cannot open connections to the majority, or the majority to the minority.
    OneWay,
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
    /// Every kind, in the order `--nemesis` lists them (`--nemesis all`).
    pub const ALL: [Fault; 13] = [
        Fault::Kill,
        Fault::KillLeader,
        Fault::Pause,
        Fault::KillMinority,
        Fault::RestartLoop,
        Fault::Partition,
        Fault::Blackhole,
        Fault::OneWay,
        Fault::IsolateLeader,
        Fault::Bridge,
        Fault::Flap,
        Fault::Slow,
        Fault::DiskFull,
    ];

    /// The kinds a run uses without `--nemesis`: every kind (`blackhole` and `one-way`
    /// joined once short runs with them stayed valid).
    pub const DEFAULT: [Fault; 13] = Fault::ALL;

    /// The kind's name in `--nemesis` and in the history.
    pub fn name(self) -> &'static str {
        match self {
            Fault::Kill => "kill",
            Fault::KillLeader => "kill-leader",
            Fault::Pause => "pause",
            Fault::KillMinority => "kill-minority",
            Fault::RestartLoop => "restart-loop",
            Fault::Partition => "partition",
            Fault::Blackhole => "blackhole",
            Fault::OneWay => "one-way",
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

    /// The names of `kinds`, comma-separated.
    pub fn names(kinds: &[Fault]) -> String {
        if kinds.is_empty() { "none".to_string() } else { kinds.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ") }
    }
}

/// The nodes a fault hits, for every kind but those aimed at a leader (which need to ask
/// the cluster): `one` is a random running node, `up` every running node. For `Bridge` the
/// bridge comes first, then the others in random order (see [`halves`]); for `Partition`,
/// `Blackhole`, `OneWay` and `KillMinority` a minority, `(n - 1) / 2` nodes.
fn pick(fault: Fault, one: usize, n: usize, up: &[usize], rng: &mut Rng) -> Vec<usize> {
    match fault {
        Fault::Kill | Fault::Pause | Fault::RestartLoop | Fault::Slow | Fault::DiskFull | Fault::KillLeader | Fault::IsolateLeader => vec![one],
        Fault::Flap => vec![one, (one + 1 + rng.below(n - 1)) % n],
        Fault::Bridge => {
            let mut others: Vec<usize> = (0..n).filter(|i| *i != one).collect();
            let mut out = vec![one];
            while !others.is_empty() {
                out.push(others.swap_remove(rng.below(others.len())));
            }
            out
        }
        Fault::KillMinority | Fault::Partition | Fault::Blackhole | Fault::OneWay => {
            let mut pick: Vec<usize> = if fault == Fault::KillMinority { up.to_vec() } else { (0..n).collect() };
            let mut out = Vec::new();
            while out.len() < (n - 1) / 2 && !pick.is_empty() {
                out.push(pick.swap_remove(rng.below(pick.len())));
            }
            out
        }
    }
}

/// The two halves a bridge joins: the targets after the bridge, split in the middle.
fn halves(targets: &[usize]) -> (&[usize], &[usize]) {
    let rest = targets.get(1..).unwrap_or_default();
    rest.split_at(rest.len() / 2)
}

/// The directed links `(from, to)` a partition-like fault breaks: between the targets and
/// the rest both ways (`Partition`, `Blackhole`, `IsolateLeader`), between the bridge's
/// halves both ways (`Bridge`), or from the targets to the rest only (`OneWay`, or from the
/// rest to the targets when `inbound`). Empty for the other kinds.
fn broken_links(fault: Fault, targets: &[usize], n: usize, inbound: bool) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    match fault {
        Fault::Partition | Fault::Blackhole | Fault::IsolateLeader | Fault::OneWay => {
            for a in targets {
                for b in (0..n).filter(|b| !targets.contains(b)) {
                    match (fault, inbound) {
                        (Fault::OneWay, false) => out.push((*a, b)),
                        (Fault::OneWay, true) => out.push((b, *a)),
                        _ => out.extend([(*a, b), (b, *a)]),
                    }
                }
            }
        }
        Fault::Bridge => {
            let (left, right) = halves(targets);
            for a in left {
                for b in right {
                    out.extend([(*a, *b), (*b, *a)]);
                }
            }
        }
        _ => {}
    }
    out
}

/// Locks the cluster (a poisoned lock only means another task panicked mid-fault).
fn locked(cluster: &Mutex<Cluster>) -> std::sync::MutexGuard<'_, Cluster> {
    cluster.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Injects faults of `kinds` until `stop`, then heals everything. Answers the fault
/// windows, and the error that stopped the nemesis early if one did (the fault it broke off
/// is recorded, and everything healed as far as possible).
pub async fn run(cluster: Arc<Mutex<Cluster>>, ctx: Arc<Ctx>, kinds: Vec<Fault>, seed: u64, mut stop: watch::Receiver<bool>) -> (Vec<Op>, Result<()>) {
    let mut rng = Rng::new(seed);
    let mut ops = Vec::new();
    let n = locked(&cluster).nodes.len();
    let status = match reqwest::Client::builder().timeout(Duration::from_secs(2)).build() {
        Ok(c) => c,
        Err(e) => return (ops, Err(e.into())),
    };
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
        let targets = match fault {
            Fault::KillLeader | Fault::IsolateLeader => {
                let url = locked(&cluster).nodes[one].url();
                match leader_of(&status, &url, 0).await {
                    Some(l) => vec![l],
                    None => continue,
                }
            }
            _ => pick(fault, one, n, &up, &mut rng),
        };
        let inbound = fault == Fault::OneWay && rng.below(2) == 1;
        let injected = inject(&cluster, fault, &targets, n, inbound, &mut rng).await;
        let mut target = targets.iter().map(|t| format!("node {}", t + 1)).collect::<Vec<_>>().join(", ");
        if fault == Fault::OneWay {
            target += if inbound { " (inbound cut)" } else { " (outbound cut)" };
        }
        if let Err(e) = injected {
            let mut e = e.context(format!("injecting {} on {target}", fault.name()));
            ops.push(Op::Fault { kind: fault.name().to_string(), target, start, end: ctx.now() });
            if let Err(h) = locked(&cluster).heal() {
                e = e.context(format!("healing after it failed too ({h:#})"));
            }
            return (ops, Err(e));
        }
        ops.push(Op::Fault { kind: fault.name().to_string(), target, start, end: ctx.now() });
    }
    let healed = locked(&cluster).heal();
    (ops, healed)
}

/// Injects one fault on `targets` (chosen by [`pick`]) and heals it.
async fn inject(cluster: &Mutex<Cluster>, fault: Fault, targets: &[usize], n: usize, inbound: bool, rng: &mut Rng) -> Result<()> {
    let Some(&one) = targets.first() else { return Ok(()) };
    match fault {
        Fault::Pause => {
            locked(cluster).pause(one)?;
            tokio::time::sleep(rng.millis(1000, 3000)).await;
            locked(cluster).resume(one)?;
        }
        Fault::RestartLoop => {
            for _ in 0..3 {
                locked(cluster).kill(one)?;
                tokio::time::sleep(Duration::from_millis(300)).await;
                locked(cluster).restart(one)?;
                tokio::time::sleep(Duration::from_millis(700)).await;
            }
        }
        Fault::Partition | Fault::Blackhole | Fault::OneWay | Fault::IsolateLeader | Fault::Bridge => {
            let state = if fault == Fault::Blackhole { LinkState::Blackhole } else { LinkState::Cut };
            {
                let c = locked(cluster);
                for (a, b) in broken_links(fault, targets, n, inbound) {
                    c.links.set(a, b, state);
                }
            }
            tokio::time::sleep(rng.millis(2000, 5000)).await;
            locked(cluster).links.heal();
        }
        Fault::Flap => {
            let &[a, b] = targets else { bail!("a flap needs two nodes, not {targets:?}") };
            for _ in 0..8 {
                locked(cluster).links.set_both(a, b, LinkState::Cut);
                tokio::time::sleep(Duration::from_millis(250)).await;
                locked(cluster).links.set_both(a, b, LinkState::Up);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
        Fault::Slow => {
            let delay = rng.millis(50, 200);
            {
                let c = locked(cluster);
                for b in (0..n).filter(|b| *b != one) {
                    c.links.set_both(one, b, LinkState::Slow(delay));
                }
            }
            tokio::time::sleep(rng.millis(2000, 4000)).await;
            locked(cluster).links.heal();
        }
        Fault::DiskFull => {
            locked(cluster).fill_disk(one)?;
            tokio::time::sleep(rng.millis(2000, 6000)).await;
            locked(cluster).free_disk(one)?;
        }
        Fault::Kill | Fault::KillLeader | Fault::KillMinority => {
            for t in targets {
                locked(cluster).kill(*t)?;
            }
            tokio::time::sleep(rng.millis(1000, 3000)).await;
            for t in targets {
                locked(cluster).restart(*t)?;
            }
        }
    }
    Ok(())
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
        assert_eq!(Fault::names(&[Fault::Blackhole, Fault::OneWay]), "blackhole, one-way");
        assert_eq!(Fault::names(&[]), "none");
    }

    /// True when no link between two nodes of `side` is broken, in either direction.
    fn connected(side: &[usize], broken: &[(usize, usize)]) -> bool {
        !broken.iter().any(|(a, b)| side.contains(a) && side.contains(b))
    }

    #[test]
    fn a_bridge_joins_two_halves_through_one_node() {
        for n in 3..=7 {
            for seed in 0..50 {
                let mut rng = Rng::new(seed);
                let one = rng.below(n);
                let targets = pick(Fault::Bridge, one, n, &(0..n).collect::<Vec<_>>(), &mut rng);
                assert_eq!(targets[0], one, "the bridge comes first");
                let mut all = targets.clone();
                all.sort_unstable();
                assert_eq!(all, (0..n).collect::<Vec<_>>(), "every node once");
                let (left, right) = halves(&targets);
                assert!(!left.is_empty() && right.len() >= left.len() && right.len() - left.len() <= 1, "{left:?} {right:?}");
                let broken = broken_links(Fault::Bridge, &targets, n, false);
                assert_eq!(broken.len(), 2 * left.len() * right.len());
                assert!(!broken.iter().any(|(a, b)| *a == one || *b == one), "the bridge reaches everyone");
                for a in left {
                    for b in right {
                        assert!(broken.contains(&(*a, *b)) && broken.contains(&(*b, *a)), "the halves are apart");
                    }
                }
                // The bridge and the larger half are a connected majority.
                let side: Vec<usize> = std::iter::once(one).chain(right.iter().copied()).collect();
                assert!(2 * side.len() > n && connected(&side, &broken), "n={n} {targets:?}");
            }
        }
    }

    #[test]
    fn partitions_always_leave_a_connected_majority() {
        for n in 3..=7 {
            let all: Vec<usize> = (0..n).collect();
            for seed in 0..50 {
                for fault in [Fault::Partition, Fault::Blackhole, Fault::OneWay, Fault::IsolateLeader, Fault::KillMinority] {
                    let mut rng = Rng::new(seed);
                    let one = rng.below(n);
                    let targets = pick(fault, one, n, &all, &mut rng);
                    let mut distinct = targets.clone();
                    distinct.sort_unstable();
                    distinct.dedup();
                    assert_eq!(distinct.len(), targets.len(), "{fault:?} {targets:?}");
                    assert!(!targets.is_empty() && 2 * targets.len() < n, "{fault:?} hits a minority: {targets:?} of {n}");
                    if fault == Fault::KillMinority {
                        continue;
                    }
                    let rest: Vec<usize> = all.iter().copied().filter(|i| !targets.contains(i)).collect();
                    for inbound in [false, true] {
                        let broken = broken_links(fault, &targets, n, inbound);
                        assert!(2 * rest.len() > n && connected(&rest, &broken), "{fault:?} n={n} {targets:?}");
                        assert!(broken.iter().all(|(a, b)| targets.contains(a) != targets.contains(b)), "only links across the cut");
                        let expected = targets.len() * rest.len();
                        if fault == Fault::OneWay {
                            assert_eq!(broken.len(), expected, "one direction per pair");
                            assert!(broken.iter().all(|(a, _)| targets.contains(a) != inbound), "the chosen direction");
                        } else {
                            assert_eq!(broken.len(), 2 * expected, "both directions");
                        }
                    }
                }
            }
        }
        // The other kinds break no link this way.
        assert!(broken_links(Fault::Kill, &[0], 3, false).is_empty());
        assert!(broken_links(Fault::Flap, &[0, 1], 3, false).is_empty());
    }
}
