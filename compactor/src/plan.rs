//! Which files to merge: per shard, tenant and day, the files under half the target size,
//! when there are at least two.

use std::collections::BTreeMap;

use store::index::FileMeta;
use store::manifest::IndexedFiles;

/// Files of one shard, tenant and day to merge into one or more new files.
#[derive(Debug, Clone)]
pub struct Job {
    /// The shard whose index holds them.
    pub shard: u64,
    /// The tenant.
    pub tenant: String,
    /// The day directory they share (`YYYY-MM-DD`, the day of each file's earliest row).
    pub day: String,
    /// The files, in path order (flushes in log order).
    pub files: Vec<FileMeta>,
}

/// The day directory of a chunk path (`{tenant}/chunks/{day}/{name}`).
pub fn day_of(path: &str) -> Option<&str> {
    let mut parts = path.rsplit('/');
    let _name = parts.next()?;
    let day = parts.next()?;
    (parts.next()? == "chunks").then_some(day)
}

/// The jobs for `indexed` with files cut at `target_bytes`.
pub fn plan(indexed: &[IndexedFiles], target_bytes: u64) -> Vec<Job> {
    let mut jobs = Vec::new();
    for group in indexed {
        let mut days: BTreeMap<&str, Vec<&FileMeta>> = BTreeMap::new();
        for f in group.files.iter().filter(|f| f.size < target_bytes / 2) {
            if let Some(day) = day_of(&f.path) {
                days.entry(day).or_default().push(f);
            }
        }
        for (day, mut files) in days {
            if files.len() < 2 {
                continue;
            }
            files.sort_by(|a, b| a.path.cmp(&b.path));
            jobs.push(Job { shard: group.shard, tenant: group.tenant.clone(), day: day.to_string(), files: files.into_iter().cloned().collect() });
        }
    }
    jobs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, size: u64) -> FileMeta {
        FileMeta { path: path.into(), size, min_ts: 0, max_ts: 0, rows: 1, streams: Vec::new() }
    }

    #[test]
    fn merges_small_files_of_one_day_only() {
        let indexed = vec![IndexedFiles {
            shard: 2,
            tenant: "t".into(),
            files: vec![
                file("t/chunks/2026-11-01/0002-b.parquet", 10),
                file("t/chunks/2026-11-01/0002-a.parquet", 10),
                file("t/chunks/2026-11-01/0002-big.parquet", 60),
                file("t/chunks/2026-11-02/0002-c.parquet", 10),
                file("t/chunks/2026-11-03/0002-d.parquet", 10),
                file("t/chunks/2026-11-03/0002-e.parquet", 49),
            ],
            retired: Vec::new(),
            labels: Default::default(),
        }];
        let jobs = plan(&indexed, 100);
        let got: Vec<(String, Vec<&str>)> = jobs.iter().map(|j| (j.day.clone(), j.files.iter().map(|f| f.path.as_str()).collect())).collect();
        assert_eq!(
            got,
            vec![
                ("2026-11-01".to_string(), vec!["t/chunks/2026-11-01/0002-a.parquet", "t/chunks/2026-11-01/0002-b.parquet"]),
                ("2026-11-03".to_string(), vec!["t/chunks/2026-11-03/0002-d.parquet", "t/chunks/2026-11-03/0002-e.parquet"]),
            ]
        );
        assert!(jobs.iter().all(|j| j.shard == 2 && j.tenant == "t"));
        assert_eq!(day_of("t/x/2026-11-01/a.parquet"), None);
    }
}
