//! `target` (Loki's key and `-target` flag): the roles this process runs, as a
//! comma-separated list of Loki's role names. The ingester hosts shard replicas; a process
//! without it (any of `distributor`, `querier`, `read`, `compactor`, `backend` alone or
//! together) hosts none and reaches the replicas of the cluster its `cluster.seeds` name:
//! a stateless distributor forwards pushes to the shard leaders, a stateless querier reads
//! from them, a compactor-only process compacts the cluster.

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
    /// Serves pushes (`/loki/api/v1/push`, gRPC `logproto.Pusher`).
    pub distributor: bool,
    /// Hosts shard replicas (their Raft groups, heads and flushes).
    pub ingester: bool,
    /// Serves queries, labels and series.
    pub querier: bool,
    /// Runs compaction cycles and serves `POST /compactor/run`.
    pub compactor: bool,
}

impl Target {
    /// The roles of this target, or why it cannot run.
    pub fn roles(&self) -> Result<Roles, String> {
        let mut r = Roles { distributor: false, ingester: false, querier: false, compactor: false };
        for name in self.0.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match name {
                "all" => r = Roles { distributor: true, ingester: true, querier: true, compactor: true },
                "write" => (r.distributor, r.ingester) = (true, true),
                "read" | "querier" => r.querier = true,
                "backend" | "compactor" => r.compactor = true,
                "distributor" => r.distributor = true,
                "ingester" => r.ingester = true,
                other => return Err(format!("target: unknown role {other:?}; known: all, read, write, backend, distributor, ingester, querier, compactor")),
            }
        }
        if r == (Roles { distributor: false, ingester: false, querier: false, compactor: false }) {
            return Err(format!("target {:?} names no role", self.0));
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_choose_roles() {
        let roles = |t: &str| Target(t.into()).roles();
        let r = |distributor, ingester, querier, compactor| Ok(Roles { distributor, ingester, querier, compactor });
        assert_eq!(roles("all"), r(true, true, true, true));
        assert_eq!(roles("write,read"), r(true, true, true, false));
        assert_eq!(roles("write, read, backend"), r(true, true, true, true));
        assert_eq!(roles("distributor,ingester,querier,compactor"), r(true, true, true, true));
        assert_eq!(roles("compactor"), r(false, false, false, true));
        assert_eq!(roles("backend"), r(false, false, false, true));
        assert_eq!(roles("read"), r(false, false, true, false));
        assert_eq!(roles("distributor,querier"), r(true, false, true, false));
        assert_eq!(roles("write"), r(true, true, false, false));
        assert!(roles("").unwrap_err().contains("names no role"));
        assert!(roles("all,ruler").unwrap_err().contains("unknown role \"ruler\""));
        assert_eq!(Target::default().roles(), r(true, true, true, true));
    }
}
