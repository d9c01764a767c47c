//! Decoding push bodies: Loki JSON (optionally gzip/deflate) and Loki protobuf (snappy block).

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;

use prost::Message;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use proto::logproto::PushRequest;
use store::entry::Entry;
use store::labels::{DuplicateLabel, Labels};

/// Largest push body accepted after decompression.
pub const MAX_DECOMPRESSED_BYTES: u64 = 1024 * 1024 * 1024;

/// A stream as decoded from a push body, before validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawStream {
    /// Labels as pushed (empty values already dropped).
    pub labels: Labels,
    /// A label name pushed twice, which rejects this stream in validation.
    pub duplicate: Option<DuplicateLabel>,
    /// The label string exactly as a protobuf push sent it (None for JSON), which Loki
    /// quotes in label errors.
    pub pushed: Option<String>,
    /// Entries in push order.
    pub entries: Vec<Entry>,
}

/// Why a push body could not be decoded; each maps to a Loki status code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Malformed body, unsupported encoding or unparseable labels (400).
    #[error("{0}")]
    BadRequest(String),
    /// Body larger than allowed (413).
    #[error("{0}")]
    TooLarge(String),
}

/// How the body is framed, from `Content-Type`.
fn is_json(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|ct| ct.split(';').next())
        .map(|m| m.trim().eq_ignore_ascii_case("application/json"))
        .unwrap_or(false)
}

fn read_limited(r: impl Read) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    r.take(MAX_DECOMPRESSED_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| DecodeError::BadRequest(format!("decompressing push body: {e}")))?;
    if out.len() as u64 > MAX_DECOMPRESSED_BYTES {
        return Err(DecodeError::TooLarge(format!(
            "request body too large: decompressed size exceeds {MAX_DECOMPRESSED_BYTES} bytes"
        )));
    }
    Ok(out)
}

/// Decodes a push body given its `Content-Type` and `Content-Encoding` headers.
pub fn decode_push(content_type: Option<&str>, content_encoding: Option<&str>, body: &[u8]) -> Result<Vec<RawStream>, DecodeError> {
    let encoding = content_encoding.map(|e| e.trim().to_ascii_lowercase()).unwrap_or_default();
    let decompressed;
    let body = match encoding.as_str() {
        "" | "snappy" => body,
        "gzip" => {
            decompressed = read_limited(flate2::read::GzDecoder::new(body))?;
            &decompressed[..]
        }
        "deflate" => {
            // Raw DEFLATE (RFC 1951), as Go's compress/flate reads it.
            decompressed = read_limited(flate2::read::DeflateDecoder::new(body))?;
            &decompressed[..]
        }
        other => return Err(DecodeError::BadRequest(format!("Content-Encoding {other:?} not supported"))),
    };
    if is_json(content_type) {
        decode_json(body)
    } else {
        decode_protobuf(body)
    }
}

fn parse_labels(text: &str) -> Result<(Labels, Option<DuplicateLabel>), DecodeError> {
    Labels::parse_reporting_duplicates(text).map_err(|e| DecodeError::BadRequest(format!("couldn't parse labels: {e}")))
}

/// Bytes as text; invalid UTF-8 sequences become U+FFFD, as Loki's JSON output shows them.
fn lossy(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Decodes a snappy block-compressed `logproto.PushRequest`.
pub fn decode_protobuf(body: &[u8]) -> Result<Vec<RawStream>, DecodeError> {
    let len = snap::raw::decompress_len(body).map_err(|e| DecodeError::BadRequest(format!("decompressing snappy body: {e}")))?;
    if len as u64 > MAX_DECOMPRESSED_BYTES {
        return Err(DecodeError::TooLarge(format!(
            "request body too large: decompressed size {len} exceeds {MAX_DECOMPRESSED_BYTES} bytes"
        )));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| DecodeError::BadRequest(format!("decompressing snappy body: {e}")))?;
    let req = PushRequest::decode(&raw[..]).map_err(|e| DecodeError::BadRequest(format!("decoding protobuf push request: {e}")))?;
    req.streams
        .into_iter()
        .map(|s| {
            let pushed = lossy(s.labels);
            let (labels, duplicate) = parse_labels(&pushed)?;
            let entries = s
                .entries
                .into_iter()
                .map(|e| {
                    let ts = e.timestamp.map(|t| t.seconds.saturating_mul(1_000_000_000).saturating_add(i64::from(t.nanos))).unwrap_or(0);
                    Entry {
                        ts,
                        line: lossy(e.line),
                        metadata: e.structured_metadata.into_iter().map(|p| (lossy(p.name), lossy(p.value))).collect(),
                    }
                })
                .collect();
            Ok(RawStream { labels, duplicate, pushed: Some(pushed), entries })
        })
        .collect()
}

#[derive(Deserialize)]
struct JsonPush {
    #[serde(default)]
    streams: Option<Vec<JsonStream>>,
}

#[derive(Deserialize)]
struct JsonStream {
    #[serde(default)]
    stream: Option<BTreeMap<String, String>>,
    #[serde(default)]
    values: Option<Vec<Option<JsonEntry>>>,
}

struct JsonEntry(Entry);

impl<'de> Deserialize<'de> for JsonEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JsonEntry;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an entry [\"<unix epoch in nanoseconds>\", \"<log line>\", {optional metadata}]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsonEntry, A::Error> {
                let ts: String = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let ts: i64 = ts
                    .parse()
                    .map_err(|_| de::Error::custom(format!("timestamp {ts:?} is not an integer number of nanoseconds")))?;
                let line: String = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(1, &self))?;
                let meta: Option<BTreeMap<String, String>> = seq.next_element()?;
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(4, &self));
                }
                Ok(JsonEntry(Entry { ts, line, metadata: meta.map(|m| m.into_iter().collect()).unwrap_or_default() }))
            }
        }
        d.deserialize_seq(V)
    }
}

/// Decodes a Loki JSON push body. Invalid UTF-8 inside strings is replaced with U+FFFD
/// rather than rejected, as Loki accepts such bodies.
pub fn decode_json(body: &[u8]) -> Result<Vec<RawStream>, DecodeError> {
    let parsed = match std::str::from_utf8(body) {
        Ok(text) => serde_json::from_str::<JsonPush>(text),
        Err(_) => serde_json::from_str::<JsonPush>(&String::from_utf8_lossy(body)),
    };
    let push = parsed.map_err(|e| DecodeError::BadRequest(format!("malformed push body: {e}")))?;
    push.streams
        .unwrap_or_default()
        .into_iter()
        .map(|s| {
            let pairs: Vec<(String, String)> = s.stream.unwrap_or_default().into_iter().collect();
            for (name, _) in &pairs {
                if !store::labels::valid_label_name(name) {
                    return Err(DecodeError::BadRequest(format!("couldn't parse labels: invalid label name {name:?}")));
                }
            }
            let labels = Labels::from_pairs(pairs)
                .map_err(|dup| DecodeError::BadRequest(format!("couldn't parse labels: duplicate label name {dup:?}")))?;
            let entries = s.values.unwrap_or_default().into_iter().flatten().map(|e| e.0).collect();
            Ok(RawStream { labels, duplicate: None, pushed: None, entries })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_with_metadata() {
        let body = br#"{"streams":[{"stream":{"app":"x","env":""},"values":[["5","a"],["6","b",{"trace_id":"t"}],null]}]}"#;
        let s = decode_json(body).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].labels.to_string(), r#"{app="x"}"#);
        assert_eq!(s[0].entries.len(), 2);
        assert_eq!(s[0].entries[1].metadata, vec![("trace_id".to_string(), "t".to_string())]);
    }

    #[test]
    fn json_rejects_numeric_timestamp_and_bad_metadata() {
        assert!(decode_json(br#"{"streams":[{"stream":{"a":"b"},"values":[[5,"a"]]}]}"#).is_err());
        assert!(decode_json(br#"{"streams":[{"stream":{"a":"b"},"values":[["5","a",{"k":1}]]}]}"#).is_err());
        assert!(decode_json(br#"{"streams":[{"stream":{"service.name":"b"},"values":[["5","a"]]}]}"#).is_err());
    }

    #[test]
    fn protobuf_round_trip() {
        use proto::logproto::{EntryAdapter, LabelPairAdapter, StreamAdapter};
        let req = PushRequest {
            streams: vec![StreamAdapter {
                labels: r#"{app="x"}"#.into(),
                entries: vec![EntryAdapter {
                    timestamp: Some(prost_types::Timestamp { seconds: 1, nanos: 5 }),
                    line: "hello".into(),
                    structured_metadata: vec![LabelPairAdapter { name: "k".into(), value: "v".into() }],
                    parsed: vec![],
                }],
                hash: 0,
            }],
            format: String::new(),
        };
        let body = snap::raw::Encoder::new().compress_vec(&req.encode_to_vec()).unwrap();
        let s = decode_push(Some("application/x-protobuf"), None, &body).unwrap();
        assert_eq!(s[0].entries[0].ts, 1_000_000_005);
        assert_eq!(s[0].entries[0].metadata.len(), 1);
    }

    #[test]
    fn invalid_utf8_is_replaced_not_rejected() {
        use proto::logproto::{EntryAdapter, StreamAdapter};
        let req = PushRequest {
            streams: vec![StreamAdapter {
                labels: r#"{app="x"}"#.into(),
                entries: vec![EntryAdapter {
                    timestamp: Some(prost_types::Timestamp { seconds: 1, nanos: 0 }),
                    line: b"bad \xff byte".to_vec(),
                    structured_metadata: vec![],
                    parsed: vec![],
                }],
                hash: 0,
            }],
            format: String::new(),
        };
        let body = snap::raw::Encoder::new().compress_vec(&req.encode_to_vec()).unwrap();
        let s = decode_push(None, None, &body).unwrap();
        assert_eq!(s[0].entries[0].line, "bad \u{fffd} byte");
        let json = b"{\"streams\":[{\"stream\":{\"a\":\"b\"},\"values\":[[\"5\",\"x\xfey\"]]}]}";
        assert_eq!(decode_json(json).unwrap()[0].entries[0].line, "x\u{fffd}y");
    }

    #[test]
    fn deflate_is_raw_deflate() {
        use std::io::Write;
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(br#"{"streams":[{"stream":{"a":"b"},"values":[["5","x"]]}]}"#).unwrap();
        let body = enc.finish().unwrap();
        let s = decode_push(Some("application/json"), Some("deflate"), &body).unwrap();
        assert_eq!(s[0].entries[0].line, "x");
    }
}
