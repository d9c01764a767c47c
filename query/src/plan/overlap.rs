//! Counting every entry once in metric queries. An entry can be stored twice when a client
//! retried a push after the original was flushed (the head that would have caught the retry
//! was emptied), until the compactor merges the two copies into one. Log queries drop such
//! copies as they gather rows; a metric scan drops them here, as Loki's merge iterators do:
//! rows identical in stream, timestamp and line count once.
//!
//! Copies can only sit in two different sources (files, heads) that both hold the stream at
//! that time, so only the rows inside those overlaps are deduplicated:
//!
//! ```text
//!   Union
//!     Filter(NOT in_overlap)(scan)
//!     Projection(entry columns)
//!       Filter(rn = 1)
//!         Window(row_number() PARTITION BY stream_id, ts, line)
//!           Filter(in_overlap)(scan)
//! ```
//!
//! With no overlap (the usual case: each flush holds a later slice of each stream), the
//! scan is returned unchanged.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, BooleanArray, Int64Array, UInt64Array};
use arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::functions_window::expr_fn::row_number;
use datafusion::logical_expr::{ColumnarValue, Expr, ExprFunctionExt, LogicalPlanBuilder, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, lit};
use datafusion::prelude::col;
use store::schema::{LINE, METADATA, STREAM_ID, TS};
use store::view::ReadSnapshot;

use crate::error::QueryError;

/// Above this many overlap windows the in-overlap test is a lookup (UDF) instead of
/// comparisons.
const MAX_WINDOWS: usize = 16;

/// One stretch of one stream that two sources both cover: (stream id, first ts, last ts).
pub type Window = (u64, i64, i64);

/// The stretches of `[start, end)` in which two of `snapshot`'s sources (files and the
/// heads) hold rows of the same stream, merged and sorted.
pub fn overlaps(snapshot: &ReadSnapshot, start: i64, end: i64) -> Result<Vec<Window>, QueryError> {
    let mut spans: HashMap<u64, Vec<(i64, i64)>> = HashMap::new();
    let wanted: std::collections::HashSet<u64> = snapshot.streams.iter().map(|(id, _)| id.0).collect();
    for file in &snapshot.files {
        for s in &file.streams {
            if wanted.contains(&s.id.0) && s.min_ts < end && s.max_ts >= start {
                spans.entry(s.id.0).or_default().push((s.min_ts.max(start), s.max_ts.min(end - 1)));
            }
        }
    }
    // The heads are one source: each stream's span across every head batch.
    let mut heads: HashMap<u64, (i64, i64)> = HashMap::new();
    for batch in &snapshot.heads {
        let ids = store::chunk::column::<UInt64Array>(batch, STREAM_ID)?;
        let ts = store::chunk::column::<Int64Array>(batch, TS)?;
        for (id, t) in ids.values().iter().zip(ts.values().iter()) {
            let span = heads.entry(*id).or_insert((*t, *t));
            span.0 = span.0.min(*t);
            span.1 = span.1.max(*t);
        }
    }
    for (id, (lo, hi)) in heads {
        if wanted.contains(&id) && lo < end && hi >= start && spans.contains_key(&id) {
            spans.entry(id).or_default().push((lo.max(start), hi.min(end - 1)));
        }
    }
    let mut out = Vec::new();
    for (id, mut list) in spans {
        if list.len() < 2 {
            continue;
        }
        list.sort_unstable();
        let mut reach = list[0].1;
        for &(lo, hi) in &list[1..] {
            if lo <= reach {
                let w = (id, lo, hi.min(reach));
                match out.last_mut() {
                    Some((lid, _, lhi)) if *lid == id && w.1 <= *lhi => *lhi = (*lhi).max(w.2),
                    _ => out.push(w),
                }
            }
            reach = reach.max(hi);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// `scan` with the rows inside `windows` deduplicated on (stream, ts, line).
pub fn dedup(scan: LogicalPlanBuilder, windows: &[Window]) -> Result<LogicalPlanBuilder, QueryError> {
    let Some(inside) = in_windows(windows) else { return Ok(scan) };
    let scan = scan.build()?;
    let first = row_number()
        .partition_by(vec![col(STREAM_ID), col(TS), col(LINE)])
        .build()?
        .alias("skald_copy");
    let once = LogicalPlanBuilder::from(scan.clone())
        .filter(inside.clone())?
        .window(vec![first])?
        .filter(col("skald_copy").eq(lit(1u64)))?
        .project(vec![col(STREAM_ID), col(TS), col(LINE), col(METADATA)])?
        .build()?;
    Ok(LogicalPlanBuilder::from(scan).filter(Expr::Not(Box::new(inside)))?.union(once)?)
}

/// The test for a row inside `windows`: plain comparisons for a few windows (Parquet
/// statistics can prune on them), [`InOverlapUdf`] for many.
fn in_windows(windows: &[Window]) -> Option<Expr> {
    if windows.len() <= MAX_WINDOWS {
        return windows
            .iter()
            .map(|(id, lo, hi)| col(STREAM_ID).eq(lit(*id)).and(col(TS).gt_eq(lit(*lo))).and(col(TS).lt_eq(lit(*hi))))
            .reduce(Expr::or);
    }
    let udf = ScalarUDF::new_from_impl(InOverlapUdf { signature: Signature::exact(vec![DataType::UInt64, DataType::Int64], Volatility::Immutable), windows: windows.to_vec() });
    Some(udf.call(vec![col(STREAM_ID), col(TS)]))
}

/// `skald_in_overlap(stream_id, ts)`: true for a row inside one of its windows (sorted,
/// disjoint per stream), found by binary search.
#[derive(Debug, PartialEq, Eq, Hash)]
struct InOverlapUdf {
    signature: Signature,
    windows: Vec<Window>,
}

impl InOverlapUdf {
    fn contains(&self, id: u64, ts: i64) -> bool {
        let after = self.windows.partition_point(|(wid, lo, _)| (*wid, *lo) <= (id, ts));
        after > 0 && self.windows[after - 1].0 == id && ts <= self.windows[after - 1].2
    }
}

impl ScalarUDFImpl for InOverlapUdf {
    fn name(&self) -> &str {
        "skald_in_overlap"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let [ids, ts] = arrays.as_slice() else {
            return Err(DataFusionError::Execution("skald_in_overlap takes (stream_id, ts)".into()));
        };
        let ids = ids.as_any().downcast_ref::<UInt64Array>().ok_or_else(|| DataFusionError::Execution("skald_in_overlap: stream_id is not UInt64".into()))?;
        let ts = ts.as_any().downcast_ref::<Int64Array>().ok_or_else(|| DataFusionError::Execution("skald_in_overlap: ts is not Int64".into()))?;
        let out: BooleanArray = ids.values().iter().zip(ts.values().iter()).map(|(id, t)| Some(self.contains(*id, *t))).collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

#[cfg(test)]
mod tests {
    use store::index::{FileMeta, StreamRange};
    use store::labels::{Labels, StreamId};

    use super::*;

    fn file(path: &str, streams: &[(u64, i64, i64)]) -> FileMeta {
        FileMeta {
            path: path.into(),
            size: 1,
            min_ts: streams.iter().map(|s| s.1).min().unwrap_or(0),
            max_ts: streams.iter().map(|s| s.2).max().unwrap_or(0),
            rows: 1,
            streams: streams.iter().map(|s| StreamRange { id: StreamId(s.0), min_ts: s.1, max_ts: s.2, rows: 1 }).collect(),
        }
    }

    fn snapshot(files: Vec<FileMeta>) -> ReadSnapshot {
        let labels = Labels::parse("{a=\"b\"}").expect("labels");
        ReadSnapshot { streams: vec![(StreamId(1), labels.clone()), (StreamId(2), labels)], files, ..ReadSnapshot::default() }
    }

    #[test]
    fn only_shared_stretches_of_a_stream_overlap() {
        // Stream 1: files cover 0-10 and 20-30: no overlap. Stream 2: 0-10, 5-15, 12-20.
        let snap = snapshot(vec![file("a", &[(1, 0, 10), (2, 0, 10)]), file("b", &[(1, 20, 30), (2, 5, 15)]), file("c", &[(2, 12, 20)])]);
        assert_eq!(overlaps(&snap, 0, 100).expect("overlaps"), vec![(2, 5, 10), (2, 12, 15)]);
        // Clipped to the query range.
        assert_eq!(overlaps(&snap, 0, 8).expect("overlaps"), vec![(2, 5, 7)]);
        let none = snapshot(vec![file("a", &[(1, 0, 10)]), file("b", &[(1, 11, 30)])]);
        let udf = InOverlapUdf { signature: Signature::any(2, Volatility::Immutable), windows: vec![(1, 5, 10), (1, 20, 20), (3, 0, 4)] };
        let inside: Vec<bool> = [(1, 4), (1, 5), (1, 10), (1, 11), (1, 20), (2, 7), (3, 0), (3, 5), (0, 5)].iter().map(|(i, t)| udf.contains(*i, *t)).collect();
        assert_eq!(inside, vec![false, true, true, false, true, false, true, false, false]);
        assert!(overlaps(&none, 0, 100).expect("overlaps").is_empty());
    }
}
