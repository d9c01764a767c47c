//! Wire forms of reads between nodes: the snapshot request (matchers as text, rebuilt and
//! recompiled by the receiver) and the snapshot (labels and file metadata as postcard, head
//! rows as one Arrow IPC stream).

use std::io::Cursor;

use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use serde::{Deserialize, Serialize};
use store::index::FileMeta;
use store::labels::{Labels, StreamId};
use store::matcher::{MatchOp, Matcher};
use store::schema::entry_schema;
use store::view::{ReadSnapshot, SnapshotRequest};

/// A tenant's snapshot request as sent between nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireRead {
    /// Tenant.
    pub tenant: String,
    /// (name, operator code, value) per matcher.
    pub matchers: Vec<(String, u8, String)>,
    /// Inclusive start (ns).
    pub start: i64,
    /// Exclusive end (ns).
    pub end: i64,
    /// Whether rows and files are wanted.
    pub with_data: bool,
}

fn op_code(op: MatchOp) -> u8 {
    match op {
        MatchOp::Eq => 0,
        MatchOp::Neq => 1,
        MatchOp::Re => 2,
        MatchOp::Nre => 3,
    }
}

fn code_op(code: u8) -> Result<MatchOp, String> {
    Ok(match code {
        0 => MatchOp::Eq,
        1 => MatchOp::Neq,
        2 => MatchOp::Re,
        3 => MatchOp::Nre,
        other => return Err(format!("unknown matcher operator code {other}")),
    })
}

impl WireRead {
    /// The wire form of `req` for `tenant`.
    pub fn new(tenant: &str, req: &SnapshotRequest) -> WireRead {
        WireRead {
            tenant: tenant.to_string(),
            matchers: req.matchers.iter().map(|m| (m.name.clone(), op_code(m.op), m.value.clone())).collect(),
            start: req.start,
            end: req.end,
            with_data: req.with_data,
        }
    }

    /// The request again, with its regexes compiled.
    pub fn request(&self) -> Result<SnapshotRequest, String> {
        let mut matchers = Vec::with_capacity(self.matchers.len());
        for (name, code, value) in &self.matchers {
            matchers.push(Matcher::new(name.clone(), code_op(*code)?, value.clone()).map_err(|e| e.to_string())?);
        }
        Ok(SnapshotRequest { matchers, start: self.start, end: self.end, with_data: self.with_data })
    }
}

/// A snapshot as sent between nodes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireSnapshot {
    /// Matching streams.
    pub streams: Vec<(StreamId, Labels)>,
    /// Chunk files.
    pub files: Vec<FileMeta>,
    /// Head rows: an Arrow IPC stream in the entry schema (empty when there are none).
    pub heads: Vec<u8>,
    /// Shards split off the shard read, which the reader must read too.
    pub children: Vec<u64>,
    /// Row groups of the compacted files, by path.
    pub row_groups: Vec<(String, Vec<store::index::RowGroupMeta>)>,
}

impl WireSnapshot {
    /// Encodes `s` and the shard's split children.
    pub fn new(s: ReadSnapshot, children: Vec<u64>) -> Result<WireSnapshot, String> {
        let mut heads = Vec::new();
        if !s.heads.is_empty() {
            let mut w = StreamWriter::try_new(&mut heads, &entry_schema()).map_err(|e| e.to_string())?;
            for b in &s.heads {
                w.write(b).map_err(|e| e.to_string())?;
            }
            w.finish().map_err(|e| e.to_string())?;
        }
        Ok(WireSnapshot { streams: s.streams, files: s.files, heads, children, row_groups: s.row_groups.into_iter().collect() })
    }

    /// Decodes into a snapshot and the shard's split children.
    pub fn snapshot(self) -> Result<(ReadSnapshot, Vec<u64>), String> {
        let mut heads = Vec::new();
        if !self.heads.is_empty() {
            let reader = StreamReader::try_new(Cursor::new(self.heads), None).map_err(|e| e.to_string())?;
            for b in reader {
                heads.push(b.map_err(|e| e.to_string())?);
            }
        }
        let row_groups = self.row_groups.into_iter().collect();
        Ok((ReadSnapshot { streams: self.streams, files: self.files, heads, deletes: Vec::new(), row_groups }, self.children))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::schema::EntryBatchBuilder;

    #[test]
    fn round_trips() {
        let req = SnapshotRequest {
            matchers: vec![Matcher::new("app", MatchOp::Re, "a.*").expect("m"), Matcher::new("env", MatchOp::Neq, "dev").expect("m")],
            start: 1,
            end: 2,
            with_data: true,
        };
        let w = WireRead::new("t", &req);
        let back = w.request().expect("request");
        assert_eq!(back.matchers, req.matchers);
        assert!(back.matchers[0].matches_value("abc"));
        let labels = Labels::parse(r#"{app="x"}"#).expect("labels");
        let mut b = EntryBatchBuilder::new();
        b.push(labels.stream_id(), 5, "line", &[("k".into(), "v".into())]).expect("push");
        let snap = ReadSnapshot { streams: vec![(labels.stream_id(), labels)], files: Vec::new(), heads: vec![b.finish().expect("batch")], deletes: Vec::new(), row_groups: Default::default() };
        let wire = WireSnapshot::new(snap.clone(), vec![7]).expect("encode");
        let bytes = postcard::to_stdvec(&wire).expect("postcard");
        let (got, children) = postcard::from_bytes::<WireSnapshot>(&bytes).expect("decode").snapshot().expect("snapshot");
        assert_eq!(children, vec![7]);
        assert_eq!(got.streams, snap.streams);
        assert_eq!(got.heads, snap.heads);
    }
}
