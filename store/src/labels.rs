//! Label sets, their canonical text form and the stream fingerprint.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::StoreError;

/// Stable 64-bit identifier of a stream within a tenant: FNV-1a over the sorted labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StreamId(pub u64);

/// A sorted, duplicate-free set of label name/value pairs identifying a stream.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct Labels(Vec<(String, String)>);

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

impl Labels {
    /// Builds a label set from pairs: sorts by name and drops empty values (as Loki does).
    /// Returns the first duplicated name as an error.
    pub fn from_pairs(mut pairs: Vec<(String, String)>) -> Result<Labels, String> {
        pairs.retain(|(_, v)| !v.is_empty());
        pairs.sort();
        for w in pairs.windows(2) {
            if w[0].0 == w[1].0 {
                return Err(w[0].0.clone());
            }
        }
        Ok(Labels(pairs))
    }

    /// The pairs, sorted by name.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when the set has no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].1.as_str())
    }

    /// The stream fingerprint: stable across processes and versions.
    pub fn stream_id(&self) -> StreamId {
        let mut h = FNV_OFFSET;
        for (n, v) in &self.0 {
            h = fnv(h, n.as_bytes());
            h = fnv(h, &[0xff]);
            h = fnv(h, v.as_bytes());
            h = fnv(h, &[0xfe]);
        }
        StreamId(h)
    }

    /// Parses Loki's label string form `{name="value", ...}` (Go string escapes in values).
    pub fn parse(input: &str) -> Result<Labels, StoreError> {
        let pairs = parse_pairs(input).map_err(StoreError::Labels)?;
        Labels::from_pairs(pairs).map_err(|dup| {
            StoreError::Labels(format!("duplicate label name: {dup:?}"))
        })
    }

    /// Parses like [`Labels::parse`], but a duplicated name is reported instead of failing
    /// the parse (the first value wins), so a push can reject that one stream as Loki does.
    pub fn parse_reporting_duplicates(input: &str) -> Result<(Labels, Option<DuplicateLabel>), StoreError> {
        let mut pairs = parse_pairs(input).map_err(StoreError::Labels)?;
        pairs.retain(|(_, v)| !v.is_empty());
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        let duplicate = pairs.windows(2).find(|w| w[0].0 == w[1].0).map(|w| DuplicateLabel {
            name: w[0].0.clone(),
            labels: render_pairs(&pairs),
        });
        pairs.dedup_by(|later, first| later.0 == first.0);
        Ok((Labels(pairs), duplicate))
    }
}

/// A label name that appears twice in a pushed label set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateLabel {
    /// The repeated name.
    pub name: String,
    /// The label set as pushed (sorted, duplicates kept), in Loki's text form.
    pub labels: String,
}

/// Renders pairs as `{a="b", c="d"}` (in the given order, empty values kept).
pub fn render_pairs(pairs: &[(String, String)]) -> String {
    let mut out = String::from("{");
    for (i, (n, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(n);
        out.push('=');
        let _ = write_quoted(&mut out, v);
    }
    out.push('}');
    out
}

impl fmt::Display for Labels {
    /// Renders `{a="b", c="d"}` as Loki does, escaping values like Go's `%q`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&render_pairs(&self.0))
    }
}

/// Writes `s` as a double-quoted string with Go-style escapes.
pub fn write_quoted(f: &mut impl fmt::Write, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if (c as u32) < 0x20 || c as u32 == 0x7f => write!(f, "\\x{:02x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

/// True when `name` is a valid Prometheus/Loki label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn skip_ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }
    fn err(&self, what: &str) -> String {
        format!("1:{}: parse error: {what}", self.pos + 1)
    }
}

/// Parses `{a="b", c=""}` into pairs in written order, keeping empty values and duplicates.
pub fn parse_pairs(input: &str) -> Result<Vec<(String, String)>, String> {
    let mut c = Cursor { s: input.as_bytes(), pos: 0 };
    c.skip_ws();
    if c.peek() != Some(b'{') {
        return Err(c.err("unexpected character, expected \"{\""));
    }
    c.pos += 1;
    let mut pairs = Vec::new();
    loop {
        c.skip_ws();
        match c.peek() {
            Some(b'}') => {
                c.pos += 1;
                break;
            }
            None => return Err(c.err("unexpected end of input inside braces")),
            _ => {}
        }
        let start = c.pos;
        while let Some(b) = c.peek() {
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b':' {
                c.pos += 1;
            } else {
                break;
            }
        }
        let name = &input[start..c.pos];
        if name.is_empty() {
            return Err(c.err("unexpected character inside braces, expected label name"));
        }
        if !valid_label_name(name) {
            return Err(c.err(&format!("invalid label name {name:?}")));
        }
        c.skip_ws();
        if c.peek() != Some(b'=') {
            return Err(c.err(&format!("unexpected character after label name {name:?}, expected \"=\"")));
        }
        c.pos += 1;
        c.skip_ws();
        let value = parse_go_string(&mut c)?;
        pairs.push((name.to_string(), value));
        c.skip_ws();
        match c.peek() {
            Some(b',') => c.pos += 1,
            Some(b'}') => {}
            _ => return Err(c.err("unexpected character after label value, expected \",\" or \"}\"")),
        }
    }
    c.skip_ws();
    if c.pos != c.s.len() {
        return Err(c.err("unexpected characters after closing brace"));
    }
    Ok(pairs)
}

fn parse_go_string(c: &mut Cursor<'_>) -> Result<String, String> {
    let quote = match c.peek() {
        Some(q @ (b'"' | b'`' | b'\'')) => q,
        _ => return Err(c.err("expected quoted label value")),
    };
    c.pos += 1;
    let start = c.pos;
    if quote == b'`' {
        while let Some(b) = c.peek() {
            c.pos += 1;
            if b == b'`' {
                let raw = &c.s[start..c.pos - 1];
                return String::from_utf8(raw.to_vec()).map_err(|_| c.err("invalid UTF-8"));
            }
        }
        return Err(c.err("unterminated quoted string"));
    }
    // Find the closing quote, then unescape the body.
    let mut end = None;
    let mut i = c.pos;
    while i < c.s.len() {
        match c.s[i] {
            b'\\' => i += 2,
            b if b == quote => {
                end = Some(i);
                break;
            }
            _ => i += 1,
        }
    }
    let Some(end) = end else {
        return Err(c.err("unterminated quoted string"));
    };
    let body = std::str::from_utf8(&c.s[start..end]).map_err(|_| c.err("invalid UTF-8"))?;
    c.pos = end + 1;
    unescape_go(body).map_err(|e| c.err(&e))
}

/// Interprets Go string-literal escapes (`\n`, `\t`, `\"`, `\\`, `\xNN`, `\uNNNN`, ...).
pub fn unescape_go(body: &str) -> Result<String, String> {
    if !body.contains('\\') {
        return Ok(body.to_string());
    }
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(ch) = chars.next() {
        if ch != '\\' {
            out.push(ch);
            continue;
        }
        let esc = chars.next().ok_or("invalid syntax")?;
        match esc {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'v' => out.push('\x0b'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            '\'' => out.push('\''),
            '`' => out.push('`'),
            'x' | 'u' | 'U' => {
                let n = match esc {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = chars.by_ref().take(n).collect();
                let v = u32::from_str_radix(&hex, 16).map_err(|_| "invalid syntax")?;
                out.push(char::from_u32(v).ok_or("invalid syntax")?);
            }
            '0'..='7' => {
                let rest: String = chars.by_ref().take(2).collect();
                let v = u32::from_str_radix(&format!("{esc}{rest}"), 8).map_err(|_| "invalid syntax")?;
                out.push(char::from_u32(v).ok_or("invalid syntax")?);
            }
            _ => return Err("invalid syntax".to_string()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_sorts_and_drops_empty_values() {
        let l = Labels::parse(r#"{b="2", a="1", c=""}"#).unwrap();
        assert_eq!(l.to_string(), r#"{a="1", b="2"}"#);
        assert_eq!(l.get("b"), Some("2"));
        assert_eq!(l.get("c"), None);
    }

    #[test]
    fn parse_rejects_bad_input() {
        assert!(Labels::parse(r#"{a="1", a="2"}"#).is_err());
        assert!(Labels::parse(r#"{service.name="x"}"#).is_err());
        assert!(Labels::parse(r#"{a=1}"#).is_err());
        assert!(Labels::parse(r#"a="1""#).is_err());
    }

    #[test]
    fn duplicates_are_reported_first_value_wins() {
        let (l, dup) = Labels::parse_reporting_duplicates(r#"{b="2", a="1", a="3"}"#).unwrap();
        assert_eq!(l.to_string(), r#"{a="1", b="2"}"#);
        let dup = dup.unwrap();
        assert_eq!(dup.name, "a");
        assert_eq!(dup.labels, r#"{a="1", a="3", b="2"}"#);
        assert_eq!(Labels::parse_reporting_duplicates(r#"{a="1"}"#).unwrap().1, None);
    }

    #[test]
    fn escapes_round_trip() {
        let l = Labels::parse(r#"{a="x\"y\\z\n"}"#).unwrap();
        assert_eq!(l.get("a"), Some("x\"y\\z\n"));
        assert_eq!(Labels::parse(&l.to_string()).unwrap(), l);
    }

    #[test]
    fn fingerprint_is_stable_and_order_independent() {
        let a = Labels::parse(r#"{a="1", b="2"}"#).unwrap();
        let b = Labels::parse(r#"{b="2", a="1"}"#).unwrap();
        assert_eq!(a.stream_id(), b.stream_id());
        assert_ne!(a.stream_id(), Labels::parse(r#"{a="12"}"#).unwrap().stream_id());
    }
}
