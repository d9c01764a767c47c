//! Static placement of shard replicas on the nodes named in `cluster.seeds`.
//!
//! Nodes are ordered by id; shard `i`'s replicas are the `rf` nodes starting at position
//! `i mod n`, so replicas spread evenly; that first node initializes a new group and so
//! usually leads it first, which spreads the leaders too. Without seeds the node is standalone: every shard has this node as its only replica.

use std::collections::BTreeMap;

use openraft::BasicNode;

use crate::config::ClusterConfig;
use crate::shard_map::{KeyRange, META_GROUP, META_VOTERS, ShardEntry, ShardMap};

/// Where every shard's replicas live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// This node's id.
    pub node_id: u64,
    /// Every node: id -> gRPC address peers use.
    pub nodes: BTreeMap<u64, String>,
    /// Replicas per shard.
    pub replication_factor: usize,
    /// Number of shards.
    pub shards: u64,
}

/// Parses `id@host:port`.
pub(crate) fn parse_seed(seed: &str) -> Result<(u64, String), String> {
    let (id, addr) = seed.split_once('@').ok_or_else(|| format!("cluster.seeds entry {seed:?} is not id@host:port"))?;
    let id: u64 = id.trim().parse().map_err(|_| format!("cluster.seeds entry {seed:?}: node id must be a positive integer"))?;
    let addr = addr.trim();
    if id == 0 || addr.rsplit_once(':').is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err()) {
        return Err(format!("cluster.seeds entry {seed:?} is not id@host:port with a non-zero id"));
    }
    Ok((id, addr.to_string()))
}

impl Placement {
    /// The placement `cluster` describes for `shards` shards; `local_addr` is this node's
    /// gRPC address when `cluster.advertise_addr` is empty.
    pub fn new(cluster: &ClusterConfig, shards: u64, local_addr: &str) -> Result<Placement, String> {
        let own = if cluster.advertise_addr.is_empty() { local_addr.to_string() } else { cluster.advertise_addr.clone() };
        let mut nodes = BTreeMap::new();
        for seed in &cluster.seeds {
            let (id, addr) = parse_seed(seed)?;
            if nodes.insert(id, addr).is_some() {
                return Err(format!("cluster.seeds names node {id} twice"));
            }
        }
        if nodes.is_empty() {
            nodes.insert(cluster.node_id, own);
        } else if let Some(seeded) = nodes.get(&cluster.node_id) {
            // Peers reach this node at its seed address; an advertised one that differs is
            // unused, which is worth saying (each node may name peers differently, e.g.
            // through proxies, so it is not an error).
            if !cluster.advertise_addr.is_empty() && cluster.advertise_addr != *seeded {
                tracing::warn!(advertise_addr = %cluster.advertise_addr, seed = %seeded, "cluster.advertise_addr differs from this node's cluster.seeds entry; the seed address is used");
            }
        } else {
            return Err(format!("cluster.node_id {} is not among cluster.seeds", cluster.node_id));
        }
        let rf = match cluster.replication_factor {
            0 => nodes.len().min(3),
            n => usize::try_from(n).unwrap_or(usize::MAX),
        };
        if rf > nodes.len() {
            return Err(format!("cluster.replication_factor {rf} is larger than the {} nodes in cluster.seeds", nodes.len()));
        }
        Ok(Placement { node_id: cluster.node_id, nodes, replication_factor: rf, shards: shards.max(1) })
    }

    /// True when this node is the only node.
    pub fn standalone(&self) -> bool {
        self.nodes.len() == 1
    }

    /// The replica node ids of `shard` (of the metadata group: its voters), sorted.
    pub fn replicas(&self, shard: u64) -> Vec<u64> {
        if shard == META_GROUP {
            return self.meta_voters();
        }
        let ids: Vec<u64> = self.nodes.keys().copied().collect();
        let n = ids.len();
        let first = usize::try_from(shard % n as u64).unwrap_or(0);
        let mut out: Vec<u64> = (0..self.replication_factor).map(|k| ids[(first + k) % n]).collect();
        out.sort_unstable();
        out
    }

    /// `shard`'s voters with their addresses, as openraft membership.
    pub fn members(&self, shard: u64) -> BTreeMap<u64, BasicNode> {
        self.replicas(shard).into_iter().map(|id| (id, BasicNode::new(self.nodes.get(&id).cloned().unwrap_or_default()))).collect()
    }

    /// The groups this node holds a replica of: shards, and the metadata group last.
    pub fn local_shards(&self) -> Vec<u64> {
        (0..self.shards).chain([META_GROUP]).filter(|s| self.replicas(*s).contains(&self.node_id)).collect()
    }

    /// True when this node initializes `shard`'s group: the metadata group's lowest-id voter,
    /// a shard's first replica in placement order (node `shard mod n`), so that the groups'
    /// first leaders spread over the nodes.
    pub fn initializes(&self, shard: u64) -> bool {
        if shard == META_GROUP {
            return self.meta_voters().first() == Some(&self.node_id);
        }
        let n = self.nodes.len().max(1) as u64;
        let first = usize::try_from(shard % n).unwrap_or(0);
        self.nodes.keys().nth(first) == Some(&self.node_id)
    }

    /// The gRPC address of `node`.
    pub fn addr(&self, node: u64) -> Option<&str> {
        self.nodes.get(&node).map(String::as_str)
    }

    /// The voters of the metadata group: the lowest-id nodes, at most [`META_VOTERS`]; the
    /// first one initializes it.
    pub fn meta_voters(&self) -> Vec<u64> {
        self.nodes.keys().copied().take(META_VOTERS).collect()
    }

    /// The cluster's first shard map: equal ranges with their placement replicas.
    pub fn initial_map(&self) -> ShardMap {
        let shards = (0..self.shards)
            .map(|s| (s, ShardEntry { range: KeyRange::even(s, self.shards), replicas: self.replicas(s).into_iter().collect() }))
            .collect();
        ShardMap { version: 0, nodes: self.nodes.clone(), shards, next_shard: self.shards }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(node_id: u64, seeds: &[&str], rf: u64) -> ClusterConfig {
        ClusterConfig { node_id, advertise_addr: String::new(), seeds: seeds.iter().map(|s| s.to_string()).collect(), replication_factor: rf, join: false, rebalance_on_join: false }
    }

    #[test]
    fn spreads_replicas_and_checks_seeds() {
        let seeds = ["1@h:1", "2@h:2", "3@h:3", "4@h:4"];
        let p = Placement::new(&cluster(2, &seeds, 3), 4, "x:0").expect("placement");
        assert_eq!(p.replicas(0), vec![1, 2, 3]);
        assert_eq!(p.replicas(1), vec![2, 3, 4]);
        assert_eq!(p.replicas(3), vec![1, 2, 4]);
        assert_eq!(p.local_shards(), vec![0, 1, 2, 3, META_GROUP].into_iter().filter(|s| p.replicas(*s).contains(&2)).collect::<Vec<_>>());
        assert!(p.initializes(1) && !p.initializes(0) && !p.initializes(META_GROUP));
        // With every node a replica of every shard, each shard still has its own initializer.
        let all = Placement::new(&cluster(3, &seeds[..3], 3), 3, "x:0").expect("placement");
        assert_eq!((0..3).map(|s| all.initializes(s)).collect::<Vec<_>>(), vec![false, false, true]);
        assert_eq!(p.meta_voters(), vec![1, 2, 3, 4]);
        let map = p.initial_map();
        assert_eq!(map.shards.len(), 4);
        assert_eq!(map.shards[&1].replicas.iter().copied().collect::<Vec<_>>(), p.replicas(1));
        assert_eq!((map.shards[&0].range.first, map.shards[&3].range.last, map.next_shard), (0, u64::MAX, 4));
        assert_eq!(Placement::new(&cluster(1, &seeds[..2], 0), 1, "x:0").expect("p").replication_factor, 2);
        let solo = Placement::new(&cluster(1, &[], 0), 2, "127.0.0.1:9095").expect("standalone");
        assert!(solo.standalone());
        assert_eq!(solo.local_shards(), vec![0, 1, META_GROUP]);
        assert_eq!(solo.addr(1), Some("127.0.0.1:9095"));
        assert!(Placement::new(&cluster(9, &seeds, 3), 1, "x:0").unwrap_err().contains("not among"));
        assert!(Placement::new(&cluster(1, &seeds, 5), 1, "x:0").unwrap_err().contains("larger"));
        assert!(Placement::new(&cluster(1, &["1@nohost"], 1), 1, "x:0").is_err());
        assert!(Placement::new(&cluster(1, &["1@h:1", "1@h:2"], 1), 1, "x:0").unwrap_err().contains("twice"));
    }
}
