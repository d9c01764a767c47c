//! The shard map of record: which hash range each shard owns, which nodes hold its
//! replicas, and the nodes' addresses. It is the state of the metadata group
//! ([`META_GROUP`]); every node keeps a copy for routing and status pages.
//!
//! The map is advisory for routing and exact for nothing else: a shard group itself knows
//! the range it still owns after a split ([`SplitState`]) and turns away streams outside it,
//! naming the shard that took them, so a stale copy of the map costs a retry, never a
//! misplaced entry.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use store::shard::EvenRanges;

/// The group id of the metadata group.
pub const META_GROUP: u64 = u64::MAX;

/// How a group's files are named: its id, or `meta` for the metadata group.
pub fn group_name(group: u64) -> String {
    if group == META_GROUP { "meta".to_string() } else { group.to_string() }
}

/// Most voters the metadata group has.
pub const META_VOTERS: usize = 5;

/// A contiguous range of shard keys, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRange {
    /// First key in the range.
    pub first: u64,
    /// Last key in the range.
    pub last: u64,
}

impl KeyRange {
    /// The whole key space.
    pub const ALL: KeyRange = KeyRange { first: 0, last: u64::MAX };

    /// True when `key` falls in the range.
    pub fn contains(&self, key: u64) -> bool {
        self.first <= key && key <= self.last
    }

    /// Range `i` of `count` equal ranges.
    pub fn even(i: u64, count: u64) -> KeyRange {
        let ranges = EvenRanges::new(count);
        let last = if i + 1 >= count { u64::MAX } else { ranges.start(i + 1) - 1 };
        KeyRange { first: ranges.start(i), last }
    }

    /// Splits at `at` into `[first, at - 1]` and `[at, last]`; `at` 0 means the middle.
    pub fn split(&self, at: u64) -> Result<(KeyRange, KeyRange), String> {
        let at = if at == 0 { self.first + (self.last - self.first) / 2 + 1 } else { at };
        if at <= self.first || at > self.last {
            return Err(format!("split point {at} is not inside the range {}..={}", self.first, self.last));
        }
        Ok((KeyRange { first: self.first, last: at - 1 }, KeyRange { first: at, last: self.last }))
    }
}

/// One shard in the map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardEntry {
    /// The keys the shard owns.
    pub range: KeyRange,
    /// Nodes holding a replica (the group's voters).
    pub replicas: BTreeSet<u64>,
}

/// Ranges, replicas and node addresses of the whole cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardMap {
    /// Bumped by every change; a copy with a higher version is newer.
    pub version: u64,
    /// Every node: id -> gRPC address.
    pub nodes: BTreeMap<u64, String>,
    /// Every shard by id.
    pub shards: BTreeMap<u64, ShardEntry>,
    /// The id the next split gives its new shard.
    pub next_shard: u64,
}

/// A change to the map, proposed to the metadata group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetaChange {
    /// The first map of the cluster; ignored once there is one.
    Init(ShardMap),
    /// A node and its address.
    AddNode {
        /// Node id.
        id: u64,
        /// gRPC address.
        addr: String,
    },
    /// A node that left the cluster (drained and stopped).
    RemoveNode {
        /// Node id.
        id: u64,
    },
    /// Shards (new or changed) written as given, in one step.
    Upsert(Vec<(u64, ShardEntry)>),
    /// Reserves a shard id for a split (the apply result carries it); nothing before the
    /// first map is recorded.
    Reserve,
    /// A change to the delete requests (kept beside the map, not in it).
    Deletes(store::deletes::DeleteChange),
    /// `holder` takes or renews lease `name` until `now_ms + ttl_ms`, unless another node
    /// holds it past `now_ms` (kept beside the map; the apply result names the holder).
    Lease {
        /// Which lease (`compactor`).
        name: String,
        /// The node asking.
        holder: u64,
        /// The asker's clock (ms since the epoch).
        now_ms: i64,
        /// How long it holds once granted.
        ttl_ms: i64,
    },
}

impl ShardMap {
    /// True before the first map was recorded.
    pub fn is_empty(&self) -> bool {
        self.shards.is_empty()
    }

    /// Applies `change`; returns the reserved id for [`MetaChange::Reserve`].
    pub fn apply(&mut self, change: MetaChange) -> Option<u64> {
        let (changed, reserved) = match change {
            MetaChange::Init(map) if self.is_empty() => {
                *self = ShardMap { version: self.version, ..map };
                (true, None)
            }
            MetaChange::Init(_) => (false, None),
            MetaChange::AddNode { id, addr } => (self.nodes.insert(id, addr.clone()).as_ref() != Some(&addr), None),
            MetaChange::RemoveNode { id } => (self.nodes.remove(&id).is_some(), None),
            MetaChange::Upsert(entries) => {
                let mut changed = false;
                for (id, entry) in entries {
                    self.next_shard = self.next_shard.max(id + 1);
                    changed |= self.shards.get(&id) != Some(&entry);
                    self.shards.insert(id, entry);
                }
                (changed, None)
            }
            MetaChange::Reserve if self.is_empty() => (false, None),
            MetaChange::Reserve => {
                let id = self.next_shard;
                self.next_shard += 1;
                (true, Some(id))
            }
            MetaChange::Deletes(_) | MetaChange::Lease { .. } => (false, None),
        };
        if changed {
            self.version += 1;
        }
        reserved
    }

    /// The shard owning `key` (the lowest id when a stale map overlaps).
    pub fn shard_of(&self, key: u64) -> Option<u64> {
        self.shards.iter().find(|(_, e)| e.range.contains(key)).map(|(id, _)| *id)
    }

    /// The gRPC address of `node`.
    pub fn addr(&self, node: u64) -> Option<&str> {
        self.nodes.get(&node).map(String::as_str)
    }
}

/// A shard split off this one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitChild {
    /// The new shard's id.
    pub shard: u64,
    /// The keys it took.
    pub range: KeyRange,
    /// Its first replicas (this shard's voters at the split).
    pub replicas: BTreeSet<u64>,
}

/// What a shard group knows about its own range, changed only through its log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitState {
    /// The keys the shard still owns once it has split (`None`: never split, it owns what
    /// the map first gave it).
    pub owned: Option<KeyRange>,
    /// Shards split off, oldest first.
    pub children: Vec<SplitChild>,
}

impl SplitState {
    /// Where a stream with `key` belongs when this shard no longer owns it: the child that
    /// took it (`None` while this shard owns the key).
    pub fn moved_to(&self, key: u64) -> Option<u64> {
        let owned = self.owned?;
        if owned.contains(key) {
            return None;
        }
        self.children.iter().rev().find(|c| c.range.contains(key)).map(|c| c.shard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_split_and_route() {
        let all: Vec<KeyRange> = (0..3).map(|i| KeyRange::even(i, 3)).collect();
        assert_eq!(all[0].first, 0);
        assert_eq!(all[2].last, u64::MAX);
        assert_eq!(all[0].last + 1, all[1].first);
        assert_eq!(all[1].last + 1, all[2].first);
        let (lo, hi) = KeyRange::ALL.split(0).expect("middle");
        assert_eq!((lo.last, hi.first), (u64::MAX / 2, u64::MAX / 2 + 1));
        assert!(KeyRange { first: 5, last: 5 }.split(0).is_err(), "a one-key range cannot split");
        assert!(lo.split(lo.last + 1).is_err() && hi.split(hi.first).is_err());

        let mut map = ShardMap::default();
        assert_eq!(map.apply(MetaChange::Reserve), None, "no ids before the first map");
        let entry = |range| ShardEntry { range, replicas: BTreeSet::from([1]) };
        map.apply(MetaChange::Init(ShardMap { shards: BTreeMap::from([(0, entry(KeyRange::ALL))]), next_shard: 1, ..ShardMap::default() }));
        assert_eq!(map.version, 1);
        assert_eq!(map.apply(MetaChange::Reserve), Some(1));
        map.apply(MetaChange::Upsert(vec![(0, entry(lo)), (1, entry(hi))]));
        assert_eq!((map.shard_of(3), map.shard_of(u64::MAX)), (Some(0), Some(1)));
        let v = map.version;
        map.apply(MetaChange::Init(ShardMap::default()));
        map.apply(MetaChange::Upsert(vec![(1, entry(hi))]));
        assert_eq!(map.version, v, "no-op changes keep the version");
        assert_eq!(map.apply(MetaChange::Reserve), Some(2));
        map.apply(MetaChange::AddNode { id: 4, addr: "h:4".into() });
        assert_eq!(map.addr(4), Some("h:4"));
        map.apply(MetaChange::RemoveNode { id: 4 });
        assert_eq!(map.addr(4), None);

        let split = SplitState { owned: Some(lo), children: vec![SplitChild { shard: 1, range: hi, replicas: BTreeSet::new() }] };
        assert_eq!(split.moved_to(3), None);
        assert_eq!(split.moved_to(u64::MAX), Some(1));
        assert_eq!(SplitState::default().moved_to(u64::MAX), None);
    }
}
