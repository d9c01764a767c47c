//! `target` (Loki's key and `-target` flag): the roles this process runs, as a
//! comma-separated list of Loki's role names. The distributor, ingester and querier cannot
//! be separated yet (a node serves pushes and queries for the shards it holds), so a target
//! must include them; what it chooses is whether the node runs the compactor.

use serde::{Deserialize, Serialize};

/// The configured target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Target(pub String);

impl Default for Target {
    fn default() -> Self {
        Target("all".into())
    }
}

/// The roles a target turns on besides the ones every process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    /// Runs compaction cycles and serves `POST /compactor/run`.
    pub compactor: bool,
}

impl Target {
    /// The roles of this target, or why it cannot run.
    pub fn roles(&self) -> Result<Roles, String> {
        let (mut distributor, mut ingester, mut querier, mut compactor) = (false, false, false, false);
        for name in self.0.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match name {
                "all" => (distributor, ingester, querier, compactor) = (true, true, true, true),
                "write" => (distributor, ingester) = (true, true),
                "read" => querier = true,
                "backend" | "compactor" => compactor = true,
                "distributor" => distributor = true,
                "ingester" => ingester = true,
                "querier" => querier = true,
                other => return Err(format!("target: unknown role {other:?}; known: all, read, write, backend, distributor, ingester, querier, compactor")),
            }
        }
        if !(distributor && ingester && querier) {
            return Err(format!(
                "target {:?}: every Skald process runs the distributor, ingester and querier (write and read); a target can only leave out the compactor, e.g. target: write,read",
                self.0
            ));
        }
        Ok(Roles { compactor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_choose_the_compactor() {
        let roles = |t: &str| Target(t.into()).roles();
        assert_eq!(roles("all"), Ok(Roles { compactor: true }));
        assert_eq!(roles("write,read"), Ok(Roles { compactor: false }));
        assert_eq!(roles("write, read, backend"), Ok(Roles { compactor: true }));
        assert_eq!(roles("distributor,ingester,querier,compactor"), Ok(Roles { compactor: true }));
        assert!(roles("compactor").unwrap_err().contains("can only leave out the compactor"));
        assert!(roles("all,ruler").unwrap_err().contains("unknown role \"ruler\""));
        assert_eq!(Target::default().roles(), Ok(Roles { compactor: true }));
    }
}
