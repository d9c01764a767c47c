//! Applying skip filters to a chunk scan: which row groups of each file can hold a line
//! that passes the query's line filters. Filters are read once per file and kept in a
//! process-wide cache bounded by bytes (files never change, so entries never go stale).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use store::skip::FileFilter;

use crate::metrics;
use crate::plan::skip_grams::Requirement;

/// Bytes of filters the cache keeps.
const CACHE_BYTES: usize = 256 << 20;

#[derive(Default)]
struct Cache {
    filters: HashMap<String, Arc<FileFilter>>,
    order: VecDeque<(String, usize)>,
    bytes: usize,
}

fn cache() -> &'static Mutex<Cache> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

/// The filters of the chunk file at `path`, from the cache or the store; `None` when the
/// file has none or they cannot be read (then nothing is skipped).
pub async fn file_filter(store: &Arc<dyn ObjectStore>, path: &str) -> Option<Arc<FileFilter>> {
    if !store::skip::has_filter(path) {
        return None;
    }
    if let Some(f) = cache().lock().ok()?.filters.get(path) {
        return Some(Arc::clone(f));
    }
    let loaded = async { FileFilter::decode(&store.get(&Path::from(store::skip::filter_path(path))).await.ok()?.bytes().await.ok()?).ok() }.await;
    let Some(filter) = loaded else {
        metrics::SKIP_FILTER_ERRORS.inc();
        tracing::warn!("no readable skip filters for {path}; scanning the whole file");
        return None;
    };
    let filter = Arc::new(filter);
    let size: usize = filter.row_groups.iter().map(store::skip::Bloom::size).sum();
    let mut c = cache().lock().ok()?;
    if c.filters.insert(path.to_string(), Arc::clone(&filter)).is_none() {
        c.order.push_back((path.to_string(), size));
        c.bytes += size;
    }
    while c.bytes > CACHE_BYTES {
        let Some((old, n)) = c.order.pop_front() else { break };
        c.filters.remove(&old);
        c.bytes -= n;
    }
    Some(filter)
}

/// Which row groups of a file with `filter` may hold a matching line.
pub fn candidate_row_groups(filter: &FileFilter, requirement: &Requirement) -> Vec<bool> {
    filter
        .row_groups
        .iter()
        .map(|bloom| requirement.iter().all(|alternatives| alternatives.iter().any(|grams| bloom.may_contain_all(grams))))
        .collect()
}
