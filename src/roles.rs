//! `target` (Loki's key and `-target` flag): the roles this process runs, as a
//! comma-separated list of Loki's role names. The distributor, ingester and querier cannot
//! be separated yet (a node serves pushes and queries for the shards it holds), so a target
//! includes all three or none; the compactor runs beside them or alone (`compactor` or
//! `backend`: a process that hosts no replica and compacts the cluster it names in
//! `cluster.seeds`).

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

/// The roles a target turns on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    /// Hosts shard replicas and serves pushes and queries (distributor, ingester, querier).
    pub ingest: bool,
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
        let ingest = distributor && ingester && querier;
        if !ingest && (distributor || ingester || querier || !compactor) {
            return Err(format!(
                "target {:?}: the distributor, ingester and querier (write and read) run together; a target has all three, with or without the compactor (e.g. target: write,read), or only the compactor (target: compactor)",
                self.0
            ));
        }
        Ok(Roles { ingest, compactor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_choose_the_compactor() {
        let roles = |t: &str| Target(t.into()).roles();
        let both = Roles { ingest: true, compactor: true };
        assert_eq!(roles("all"), Ok(both));
        assert_eq!(roles("write,read"), Ok(Roles { ingest: true, compactor: false }));
        assert_eq!(roles("write, read, backend"), Ok(both));
        assert_eq!(roles("distributor,ingester,querier,compactor"), Ok(both));
        assert_eq!(roles("compactor"), Ok(Roles { ingest: false, compactor: true }));
        assert_eq!(roles("backend"), Ok(Roles { ingest: false, compactor: true }));
        assert!(roles("write,compactor").unwrap_err().contains("run together"));
        assert!(roles("read").unwrap_err().contains("run together"));
        assert!(roles("").unwrap_err().contains("run together"));
        assert!(roles("all,ruler").unwrap_err().contains("unknown role \"ruler\""));
        assert_eq!(Target::default().roles(), Ok(both));
    }
}
