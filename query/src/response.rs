//! Loki's JSON response shapes: streams (with or without categorized labels), label lists,
//! series, and the `stats` block.
//!
//! Key order matters to some clients, so bodies are built from structs whose field order is
//! Loki's: `status`, `data{resultType, encodingFlags?, result, stats}`.

use std::collections::HashMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::ser::{SerializeMap, SerializeSeq, SerializeStruct};
use serde::{Serialize, Serializer};
use store::labels::{Labels, StreamId, render_pairs};

use crate::engine::{LogRow, ScanStats, SeriesResult};
use crate::pipeline::labels::Pairs;

/// The encoding flag Grafana sends to get categorized labels.
pub const CATEGORIZE_LABELS: &str = "categorize-labels";

/// Suffix Loki gives structured metadata whose name is already a stream label.
const DUPLICATE_SUFFIX: &str = "_extracted";

/// A JSON body with Loki's success content type.
pub fn json_response(body: Vec<u8>) -> Response {
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=UTF-8"));
    resp
}

/// Label pairs serialized as a JSON object, in the given order.
struct LabelMap<'a>(&'a [(String, String)]);

impl Serialize for LabelMap<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// One entry of a result stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutEntry {
    /// Timestamp (ns), rendered as a string.
    pub ts: i64,
    /// The line.
    pub line: String,
    /// With categorized labels: the entry's structured metadata and parsed labels.
    pub categories: Option<(Pairs, Pairs)>,
}

impl Serialize for OutEntry {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let len = if self.categories.is_some() { 3 } else { 2 };
        let mut seq = s.serialize_seq(Some(len))?;
        seq.serialize_element(&self.ts.to_string())?;
        seq.serialize_element(&self.line)?;
        if let Some((md, parsed)) = &self.categories {
            seq.serialize_element(&Categorized(md, parsed))?;
        }
        seq.end()
    }
}

/// `{"structuredMetadata":{...},"parsed":{...}}`, each key only when non-empty.
struct Categorized<'a>(&'a [(String, String)], &'a [(String, String)]);

impl Serialize for Categorized<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        if !self.0.is_empty() {
            m.serialize_entry("structuredMetadata", &LabelMap(self.0))?;
        }
        if !self.1.is_empty() {
            m.serialize_entry("parsed", &LabelMap(self.1))?;
        }
        m.end()
    }
}

/// One result stream: its labels and entries in query order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamResult {
    /// Labels, sorted by name.
    pub labels: Vec<(String, String)>,
    /// Entries.
    pub entries: Vec<OutEntry>,
}

impl Serialize for StreamResult {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Stream", 2)?;
        st.serialize_field("stream", &LabelMap(&self.labels))?;
        st.serialize_field("values", &self.entries)?;
        st.end()
    }
}

/// Structured metadata of an entry as Loki adds it to the stream's labels: empty values
/// dropped, names that collide with a stream label suffixed `_extracted`, last value wins.
fn structured_metadata(stream: &Labels, metadata: &[(String, String)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(metadata.len());
    for (name, value) in metadata {
        if value.is_empty() {
            continue;
        }
        let name = if stream.get(name).is_some() { format!("{name}{DUPLICATE_SUFFIX}") } else { name.clone() };
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value.clone(),
            None => out.push((name, value.clone())),
        }
    }
    out.sort();
    out
}

/// Groups rows (already in query order) into result streams sorted by label string.
///
/// Without `categorize`, structured metadata (and parsed labels) are folded into the labels,
/// so a stream splits by their values; with it, streams keep their indexed labels and each
/// entry carries its metadata and parsed labels.
pub fn group_streams(rows: Vec<LogRow>, labels: &HashMap<StreamId, Labels>, categorize: bool) -> Vec<StreamResult> {
    let mut index: HashMap<Vec<(String, String)>, usize> = HashMap::new();
    let mut out: Vec<StreamResult> = Vec::new();
    for row in rows {
        let (stream, sm, parsed) = match row.labels {
            Some(l) => {
                let l = *l;
                (l.stream, l.metadata, l.parsed)
            }
            None => {
                let Some(stream) = labels.get(&row.stream) else { continue };
                let sm = structured_metadata(stream, &row.metadata);
                (stream.pairs().to_vec(), sm, Vec::new())
            }
        };
        let (key, categories) = if categorize {
            (stream, Some((sm, parsed)))
        } else {
            let mut all = stream;
            all.extend(sm);
            all.extend(parsed);
            all.sort();
            (all, None)
        };
        let slot = *index.entry(key.clone()).or_insert_with(|| {
            out.push(StreamResult { labels: key, entries: Vec::new() });
            out.len() - 1
        });
        out[slot].entries.push(OutEntry { ts: row.ts, line: row.line, categories });
    }
    out.sort_by_cached_key(|s| render_pairs(&s.labels));
    out
}

/// Body of a successful log query.
pub fn streams_body(result: &[StreamResult], categorize: bool, stats: &Stats) -> Result<Vec<u8>, serde_json::Error> {
    #[derive(Serialize)]
    struct Data<'a> {
        #[serde(rename = "resultType")]
        result_type: &'static str,
        #[serde(rename = "encodingFlags", skip_serializing_if = "Option::is_none")]
        encoding_flags: Option<[&'static str; 1]>,
        result: &'a [StreamResult],
        stats: &'a Stats,
    }
    #[derive(Serialize)]
    struct Body<'a> {
        status: &'static str,
        data: Data<'a>,
    }
    serde_json::to_vec(&Body {
        status: "success",
        data: Data {
            result_type: "streams",
            encoding_flags: categorize.then_some([CATEGORIZE_LABELS]),
            result,
            stats,
        },
    })
}

/// Body of the labels and label-values endpoints; `data` is omitted when empty.
pub fn labels_body(values: &[String]) -> Result<Vec<u8>, serde_json::Error> {
    #[derive(Serialize)]
    struct Body<'a> {
        status: &'static str,
        #[serde(skip_serializing_if = "<[String]>::is_empty")]
        data: &'a [String],
    }
    serde_json::to_vec(&Body { status: "success", data: values })
}

/// Body of `format_query`: `{"status":"success","data":"<query>"}`.
pub fn format_query_body(query: &str) -> Result<Vec<u8>, serde_json::Error> {
    #[derive(Serialize)]
    struct Body<'a> {
        status: &'static str,
        data: &'a str,
    }
    serde_json::to_vec(&Body { status: "success", data: query })
}

/// Body of `format_query` for a query that does not parse (sent with 400):
/// `{"status":"invalid-query","error":"<message>"}`.
pub fn format_query_error_body(message: &str) -> Result<Vec<u8>, serde_json::Error> {
    #[derive(Serialize)]
    struct Body<'a> {
        status: &'static str,
        error: &'a str,
    }
    serde_json::to_vec(&Body { status: "invalid-query", error: message })
}

/// Body of the series endpoint; `data` is always present.
pub fn series_body(series: &[Labels]) -> Result<Vec<u8>, serde_json::Error> {
    struct Series<'a>(&'a [Labels]);
    impl Serialize for Series<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut seq = s.serialize_seq(Some(self.0.len()))?;
            for l in self.0 {
                seq.serialize_element(&LabelMap(l.pairs()))?;
            }
            seq.end()
        }
    }
    #[derive(Serialize)]
    struct Body<'a> {
        status: &'static str,
        data: Series<'a>,
    }
    serde_json::to_vec(&Body { status: "success", data: Series(series) })
}

/// A sample time as Loki writes it: seconds as a JSON number, millisecond precision
/// (`1763597100`, `1763597100.5`).
struct SampleTime(i64);

impl Serialize for SampleTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ms = self.0.div_euclid(1_000_000);
        if ms % 1000 == 0 { s.serialize_i64(ms / 1000) } else { s.serialize_f64(ms as f64 / 1000.0) }
    }
}

/// A sample value as Go's `FormatFloat(v, 'f', -1, 64)` writes it, with `NaN`, `+Inf`, `-Inf`.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

/// `[time, "value"]`.
struct Point(i64, f64);

impl Serialize for Point {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(2))?;
        seq.serialize_element(&SampleTime(self.0))?;
        seq.serialize_element(&format_value(self.1))?;
        seq.end()
    }
}

/// A matrix series: `{"metric":{...},"values":[[t,"v"],...]}`.
struct MatrixSeries<'a>(&'a SeriesResult);

impl Serialize for MatrixSeries<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Points<'a>(&'a [(i64, f64)]);
        impl Serialize for Points<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut seq = s.serialize_seq(Some(self.0.len()))?;
                for (t, v) in self.0 {
                    seq.serialize_element(&Point(*t, *v))?;
                }
                seq.end()
            }
        }
        let mut st = s.serialize_struct("Series", 2)?;
        st.serialize_field("metric", &LabelMap(&self.0.labels))?;
        st.serialize_field("values", &Points(&self.0.points))?;
        st.end()
    }
}

/// A vector sample: `{"metric":{...},"value":[t,"v"]}` (its first point).
struct VectorSample<'a>(&'a SeriesResult);

impl Serialize for VectorSample<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (t, v) = self.0.points.first().copied().unwrap_or((0, f64::NAN));
        let mut st = s.serialize_struct("Sample", 2)?;
        st.serialize_field("metric", &LabelMap(&self.0.labels))?;
        st.serialize_field("value", &Point(t, v))?;
        st.end()
    }
}

/// A slice serialized through a per-element wrapper.
struct SeqOf<'a, T, W>(&'a [T], fn(&'a T) -> W);

impl<'a, T, W: Serialize> Serialize for SeqOf<'a, T, W> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for x in self.0 {
            seq.serialize_element(&(self.1)(x))?;
        }
        seq.end()
    }
}

/// `{"status":"success","data":{"resultType":..,"result":..,"stats":..}}`.
fn data_body<R: Serialize>(result_type: &'static str, result: R, stats: &Stats) -> Result<Vec<u8>, serde_json::Error> {
    #[derive(Serialize)]
    struct Data<'a, R> {
        #[serde(rename = "resultType")]
        result_type: &'static str,
        result: R,
        stats: &'a Stats,
    }
    #[derive(Serialize)]
    struct Body<'a, R> {
        status: &'static str,
        data: Data<'a, R>,
    }
    serde_json::to_vec(&Body { status: "success", data: Data { result_type, result, stats } })
}

/// Body of a range metric query.
pub fn matrix_body(series: &[SeriesResult], stats: &Stats) -> Result<Vec<u8>, serde_json::Error> {
    data_body("matrix", SeqOf(series, MatrixSeries), stats)
}

/// Body of an instant metric query; each series holds one point.
pub fn vector_body(series: &[SeriesResult], stats: &Stats) -> Result<Vec<u8>, serde_json::Error> {
    data_body("vector", SeqOf(series, VectorSample), stats)
}

/// Body of an instant query whose result is a number. The time is written as Loki's
/// frontend writes it: milliseconds as a JSON number.
pub fn scalar_body(time: i64, value: f64, stats: &Stats) -> Result<Vec<u8>, serde_json::Error> {
    struct Scalar(i64, f64);
    impl Serialize for Scalar {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut seq = s.serialize_seq(Some(2))?;
            seq.serialize_element(&self.0.div_euclid(1_000_000))?;
            seq.serialize_element(&format_value(self.1))?;
            seq.end()
        }
    }
    data_body("scalar", Scalar(time, value), stats)
}

// ---- stats -------------------------------------------------------------------------------

/// Loki's `stats` block (`pkg/logqlmodel/stats`), keys in Loki's order.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Totals of the query.
    pub summary: Summary,
    /// What the querier read from the store.
    pub querier: Querier,
    /// What came from ingester heads.
    pub ingester: Ingester,
    /// Cache usage (always zero: Skald has no result caches yet).
    pub cache: Caches,
    /// Index lookups.
    pub index: IndexStats,
}

/// `stats.summary`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Bytes processed per second of execution.
    pub bytes_processed_per_second: i64,
    /// Lines processed per second of execution.
    pub lines_processed_per_second: i64,
    /// Bytes processed.
    pub total_bytes_processed: i64,
    /// Lines processed.
    pub total_lines_processed: i64,
    /// Execution time in seconds.
    pub exec_time: f64,
    /// Queue time in seconds.
    pub queue_time: f64,
    /// Subqueries.
    pub subqueries: i64,
    /// Entries returned.
    pub total_entries_returned: i64,
    /// Splits.
    pub splits: i64,
    /// Shards.
    pub shards: i64,
    /// Lines left after filtering.
    pub total_post_filter_lines: i64,
    /// Structured metadata bytes processed.
    pub total_structured_metadata_bytes_processed: i64,
}

/// `stats.querier`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Querier {
    /// Store reads.
    pub store: StoreStats,
    /// Querier execution time in seconds.
    pub querier_exec_time: f64,
}

/// `stats.ingester`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ingester {
    /// Ingesters reached.
    pub total_reached: i64,
    /// Chunks matched.
    pub total_chunks_matched: i64,
    /// Batches received.
    pub total_batches: i64,
    /// Lines sent.
    pub total_lines_sent: i64,
    /// Head reads.
    pub store: StoreStats,
}

/// `store` blocks of the querier and ingester.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreStats {
    /// Chunks referenced.
    pub total_chunks_ref: i64,
    /// Chunks downloaded.
    pub total_chunks_downloaded: i64,
    /// Download time (ns).
    pub chunks_download_time: i64,
    /// Whether structured metadata was referenced by the query.
    pub query_referenced_structured_metadata: bool,
    /// Whether Loki's v2 engine ran.
    #[serde(rename = "queryUsedV2Engine")]
    pub query_used_v2_engine: bool,
    /// Chunk data.
    pub chunk: ChunkStats,
    /// Chunk ref fetch time (ns).
    pub chunk_refs_fetch_time: i64,
    /// Congestion control latency (ns).
    pub congestion_control_latency: i64,
    /// Lines filtered by the pipeline wrapper.
    pub pipeline_wrapper_filtered_lines: i64,
    /// Data object reads (always zero).
    pub dataobj: DataObjStats,
}

/// `store.chunk`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChunkStats {
    /// Head bytes read.
    pub head_chunk_bytes: i64,
    /// Head lines read.
    pub head_chunk_lines: i64,
    /// Decompressed chunk bytes.
    pub decompressed_bytes: i64,
    /// Decompressed chunk lines.
    pub decompressed_lines: i64,
    /// Compressed chunk bytes.
    pub compressed_bytes: i64,
    /// Duplicates dropped.
    pub total_duplicates: i64,
    /// Lines after filtering.
    pub post_filter_lines: i64,
    /// Head structured metadata bytes.
    pub head_chunk_structured_metadata_bytes: i64,
    /// Decompressed structured metadata bytes.
    pub decompressed_structured_metadata_bytes: i64,
}

/// `store.dataobj` (Loki's data objects; always zero here).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DataObjStats {
    /// -
    pub page_batches: i64,
    /// -
    pub pages_downloaded: i64,
    /// -
    pub pages_downloaded_bytes: i64,
    /// -
    pub pages_scanned: i64,
    /// -
    pub post_filter_rows: i64,
    /// -
    pub post_predicate_decompressed_bytes: i64,
    /// -
    pub post_predicate_rows: i64,
    /// -
    pub post_predicate_structured_metadata_bytes: i64,
    /// -
    pub pre_predicate_decompressed_bytes: i64,
    /// -
    pub pre_predicate_decompressed_rows: i64,
    /// -
    pub pre_predicate_decompressed_structured_metadata_bytes: i64,
    /// -
    pub total_page_download_time: i64,
    /// -
    pub total_rows_available: i64,
    /// -
    pub wire_bytes_transferred: i64,
}

/// `stats.cache`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Caches {
    /// Chunk cache.
    pub chunk: CacheStats,
    /// Index cache.
    pub index: CacheStats,
    /// Results cache.
    pub result: CacheStats,
    /// Stats results cache.
    pub stats_result: CacheStats,
    /// Volume results cache.
    pub volume_result: CacheStats,
    /// Series results cache.
    pub series_result: CacheStats,
    /// Label results cache.
    pub label_result: CacheStats,
    /// Instant metric results cache.
    pub instant_metric_result: CacheStats,
    /// Log results cache.
    pub log_result: CacheStats,
    /// Task results cache.
    pub task_result: CacheStats,
}

/// One cache's counters.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheStats {
    /// Entries found.
    pub entries_found: i64,
    /// Entries requested.
    pub entries_requested: i64,
    /// Entries stored.
    pub entries_stored: i64,
    /// Bytes received.
    pub bytes_received: i64,
    /// Bytes sent.
    pub bytes_sent: i64,
    /// Requests.
    pub requests: i64,
    /// Download time (ns).
    pub download_time: i64,
    /// Query length served (ns).
    pub query_length_served: i64,
}

/// `stats.index`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexStats {
    /// Chunks referenced by the index.
    pub total_chunks: i64,
    /// Chunks left after filtering.
    pub post_filter_chunks: i64,
    /// Time spent sharding (ns).
    pub shards_duration: i64,
    /// Whether bloom filters were used.
    pub used_bloom_filters: bool,
    /// Streams matched.
    pub total_streams: i64,
    /// Chunk ref lookup time (ns).
    pub chunk_refs_lookup_time: i64,
    /// Bloom filter time (ns).
    pub bloom_filter_time: i64,
}

impl Stats {
    /// Stats of a log query that scanned `scan`, returned `entries` and took `exec_secs`.
    pub fn for_log_query(scan: &ScanStats, entries: usize, exec_secs: f64) -> Stats {
        let to_i = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let lines = to_i(scan.head_lines + scan.file_lines);
        let bytes = to_i(scan.head_bytes + scan.file_bytes);
        let per_sec = |v: i64| if exec_secs > 0.0 { (v as f64 / exec_secs) as i64 } else { 0 };
        let entries = i64::try_from(entries).unwrap_or(i64::MAX);
        let mut s = Stats {
            summary: Summary {
                bytes_processed_per_second: per_sec(bytes),
                lines_processed_per_second: per_sec(lines),
                total_bytes_processed: bytes,
                total_lines_processed: lines,
                exec_time: exec_secs,
                total_entries_returned: entries,
                splits: 1,
                shards: 1,
                total_post_filter_lines: entries,
                ..Summary::default()
            },
            ..Stats::default()
        };
        s.querier.querier_exec_time = exec_secs;
        s.querier.store.total_chunks_ref = to_i(scan.files);
        s.querier.store.total_chunks_downloaded = to_i(scan.files);
        s.querier.store.chunk.compressed_bytes = to_i(scan.file_bytes);
        s.querier.store.chunk.decompressed_lines = to_i(scan.file_lines);
        s.ingester.total_reached = i64::from(scan.head_lines > 0);
        s.ingester.store.chunk.head_chunk_lines = to_i(scan.head_lines);
        s.ingester.store.chunk.head_chunk_bytes = to_i(scan.head_bytes);
        s.index.total_chunks = to_i(scan.files);
        s.index.post_filter_chunks = to_i(scan.files);
        s.index.total_streams = to_i(scan.streams);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(s: &str) -> Labels {
        Labels::parse(s).unwrap()
    }

    #[test]
    fn metadata_folding_and_collisions() {
        let stream = labels(r#"{app="a", tier="x"}"#);
        let id = stream.stream_id();
        let map = HashMap::from([(id, stream)]);
        let row = |ts: i64, md: &[(&str, &str)]| LogRow {
            stream: id,
            ts,
            line: format!("l{ts}"),
            metadata: md.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            labels: None,
        };
        let rows = vec![row(3, &[("trace", "t1"), ("tier", "gold")]), row(2, &[]), row(1, &[("trace", "t1"), ("tier", "gold"), ("empty", "")])];
        let folded = group_streams(rows.clone(), &map, false);
        assert_eq!(folded.len(), 2);
        // Sorted by label string: ',' sorts before '}'.
        assert_eq!(render_pairs(&folded[0].labels), r#"{app="a", tier="x", tier_extracted="gold", trace="t1"}"#);
        assert_eq!(render_pairs(&folded[1].labels), r#"{app="a", tier="x"}"#);
        assert_eq!(folded[0].entries.iter().map(|e| e.ts).collect::<Vec<_>>(), vec![3, 1]);
        let cat = group_streams(rows, &map, true);
        assert_eq!(cat.len(), 1);
        assert_eq!(cat[0].entries.len(), 3);
        let body = String::from_utf8(streams_body(&cat, true, &Stats::default()).unwrap()).unwrap();
        assert!(body.starts_with(r#"{"status":"success","data":{"resultType":"streams","encodingFlags":["categorize-labels"],"result":[{"stream":{"app":"a","tier":"x"},"values":[["3","l3",{"structuredMetadata":{"tier_extracted":"gold","trace":"t1"}}],["2","l2",{}],"#), "{body}");
        assert!(body.contains(r#""stats":{"summary":{"bytesProcessedPerSecond":0"#));
    }

    #[test]
    fn metadata_bodies() {
        assert_eq!(String::from_utf8(labels_body(&[]).unwrap()).unwrap(), r#"{"status":"success"}"#);
        assert_eq!(
            String::from_utf8(labels_body(&["a".into(), "b".into()]).unwrap()).unwrap(),
            r#"{"status":"success","data":["a","b"]}"#
        );
        assert_eq!(String::from_utf8(series_body(&[]).unwrap()).unwrap(), r#"{"status":"success","data":[]}"#);
        assert_eq!(
            String::from_utf8(series_body(&[labels(r#"{b="2", a="1"}"#)]).unwrap()).unwrap(),
            r#"{"status":"success","data":[{"a":"1","b":"2"}]}"#
        );
    }
}
