//! Which shard replicas a node hosts beyond its placement: replicas moved onto it, and
//! placement replicas moved away, recorded in `raft/hosted` (one `add N` or `remove N` line
//! per change, fsynced) so a restart hosts the same replicas.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

/// Replicas added to and removed from this node's placement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hosted {
    /// Shards moved onto this node.
    pub added: BTreeSet<u64>,
    /// Shards moved away from this node.
    pub removed: BTreeSet<u64>,
}

const FILE: &str = "hosted";

/// Reads the record under `raft_dir` (empty when there is none).
pub fn load(raft_dir: &Path) -> std::io::Result<Hosted> {
    let mut h = Hosted::default();
    let text = match std::fs::read_to_string(raft_dir.join(FILE)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(h),
        Err(e) => return Err(e),
    };
    for line in text.lines() {
        match line.split_once(' ').map(|(op, n)| (op, n.trim().parse::<u64>())) {
            Some(("add", Ok(n))) => {
                h.removed.remove(&n);
                h.added.insert(n);
            }
            Some(("remove", Ok(n))) => {
                h.added.remove(&n);
                h.removed.insert(n);
            }
            _ => return Err(std::io::Error::other(format!("{}: bad line {line:?}", raft_dir.join(FILE).display()))),
        }
    }
    Ok(h)
}

/// Appends `add shard` (or `remove shard`) durably.
pub fn record(raft_dir: &Path, shard: u64, added: bool) -> std::io::Result<()> {
    std::fs::create_dir_all(raft_dir)?;
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(raft_dir.join(FILE))?;
    writeln!(f, "{} {shard}", if added { "add" } else { "remove" })?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_change_wins() {
        let dir = crate::testutil::temp_dir("hosted");
        assert_eq!(load(&dir).expect("empty"), Hosted::default());
        record(&dir, 1, true).expect("add");
        record(&dir, 2, false).expect("remove");
        record(&dir, 1, false).expect("remove");
        record(&dir, 3, true).expect("add");
        let h = load(&dir).expect("load");
        assert_eq!(h.added, BTreeSet::from([3]));
        assert_eq!(h.removed, BTreeSet::from([1, 2]));
    }
}
