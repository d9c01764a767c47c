//! Dropping exact duplicates while merging: entries identical in stream, timestamp and line
//! (a client's retry of a push whose original was flushed before the retry arrived) are
//! written once, as the ingester keeps them once while they are in a head.

use arrow::array::{BooleanArray, Int64Array, RecordBatch, StringArray, UInt64Array};
use store::schema::{LINE, STREAM_ID, TS};

use crate::CompactorError;

/// The lines of the current (stream, timestamp) run of a merge sorted by stream, then
/// timestamp, that were written in earlier batches; so a run split between two batches is
/// judged whole. Runs are almost always one row long.
#[derive(Debug, Default)]
pub struct Dedup {
    key: Option<(u64, i64)>,
    carried: Vec<String>,
    /// Rows dropped so far.
    pub dropped: u64,
}

impl Dedup {
    /// Which rows of `batch` (the next rows of the merge) to keep: false for a row whose
    /// stream, timestamp and line an earlier row already had.
    pub fn keep(&mut self, batch: &RecordBatch) -> Result<BooleanArray, CompactorError> {
        let ids = store::chunk::column::<UInt64Array>(batch, STREAM_ID)?;
        let ts = store::chunk::column::<Int64Array>(batch, TS)?;
        let lines = store::chunk::column::<StringArray>(batch, LINE)?;
        let mut keep = Vec::with_capacity(batch.num_rows());
        // The first row of the current run in this batch.
        let mut start = 0;
        for row in 0..batch.num_rows() {
            let key = (ids.value(row), ts.value(row));
            if self.key != Some(key) {
                self.key = Some(key);
                self.carried.clear();
                start = row;
            }
            let line = lines.value(row);
            let copy = self.carried.iter().any(|l| l == line) || (start..row).any(|r| keep[r] && lines.value(r) == line);
            self.dropped += u64::from(copy);
            keep.push(!copy);
        }
        // Only the last run can continue into the next batch: keep its lines.
        self.carried.extend((start..batch.num_rows()).filter(|r| keep[*r]).map(|r| lines.value(r).to_string()));
        Ok(BooleanArray::from(keep))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::ArrayRef;
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch(rows: &[(u64, i64, &str)]) -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new(STREAM_ID, DataType::UInt64, false),
            Field::new(TS, DataType::Int64, false),
            Field::new(LINE, DataType::Utf8, false),
        ]);
        let cols: Vec<ArrayRef> = vec![
            Arc::new(UInt64Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())),
            Arc::new(Int64Array::from(rows.iter().map(|r| r.1).collect::<Vec<_>>())),
            Arc::new(StringArray::from(rows.iter().map(|r| r.2).collect::<Vec<_>>())),
        ];
        RecordBatch::try_new(Arc::new(schema), cols).expect("batch")
    }

    fn kept(mask: &BooleanArray) -> Vec<bool> {
        (0..mask.len()).map(|i| mask.value(i)).collect()
    }

    #[test]
    fn drops_repeats_of_stream_ts_and_line_only() {
        let mut d = Dedup::default();
        // Same ts, different lines, a repeat after another line; other streams and times.
        let a = batch(&[(1, 10, "a"), (1, 10, "b"), (1, 10, "a"), (1, 11, "a"), (2, 11, "a"), (2, 11, "a")]);
        assert_eq!(kept(&d.keep(&a).expect("keep")), vec![true, true, false, true, true, false]);
        // A run that continues into the next batch.
        let b = batch(&[(2, 11, "a"), (2, 11, "c"), (2, 12, "a")]);
        assert_eq!(kept(&d.keep(&b).expect("keep")), vec![false, true, true]);
        assert_eq!(d.dropped, 3);
    }
}
