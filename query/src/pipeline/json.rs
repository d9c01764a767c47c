//! A streaming JSON scanner for the `json` and `unpack` parsers: it walks a line once,
//! hands out flattened keys with their values as text, and never builds a tree.
//!
//! Numbers keep their text as written (`1.50` stays `1.50`), strings are unescaped,
//! `true`/`false` become text, `null` and arrays are skipped, nested objects are flattened
//! with `_` between the sanitized keys.

use std::borrow::Cow;

/// A JSON value as the scanner sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    /// A string, unescaped.
    Str(Cow<'a, str>),
    /// A number, as written.
    Number(&'a str),
    /// `true` / `false`.
    Bool(bool),
    /// `null`.
    Null,
}

impl Scalar<'_> {
    /// The label value of a scalar (`null` is `None`).
    pub fn text(&self) -> Option<Cow<'_, str>> {
        match self {
            Scalar::Str(s) => Some(Cow::Borrowed(s.as_ref())),
            Scalar::Number(n) => Some(Cow::Borrowed(n)),
            Scalar::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            Scalar::Null => None,
        }
    }
}

/// A scanning failure, with the byte offset where it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// What went wrong.
    pub message: String,
    /// Byte offset in the line.
    pub offset: usize,
}

/// Cursor over the line bytes.
pub struct Scanner<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    /// A scanner at the start of `src`.
    pub fn new(src: &'a str) -> Scanner<'a> {
        Scanner { src, pos: 0 }
    }

    fn bytes(&self) -> &'a [u8] {
        self.src.as_bytes()
    }

    /// A failure at the current position.
    pub fn error(&self, message: impl Into<String>) -> JsonError {
        JsonError { message: message.into(), offset: self.pos }
    }

    /// Skips whitespace and returns the next byte without consuming it.
    pub fn peek(&mut self) -> Option<u8> {
        while let Some(&b) = self.bytes().get(self.pos) {
            if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                self.pos += 1;
            } else {
                return Some(b);
            }
        }
        None
    }

    /// Consumes `b` (after whitespace) or fails.
    pub fn expect(&mut self, b: u8) -> Result<(), JsonError> {
        match self.peek() {
            Some(x) if x == b => {
                self.pos += 1;
                Ok(())
            }
            Some(x) => Err(self.error(format!("expected {:?}, found {:?}", b as char, x as char))),
            None => Err(self.error(format!("expected {:?}, found end of input", b as char))),
        }
    }

    /// True when only whitespace remains.
    pub fn at_end(&mut self) -> bool {
        self.peek().is_none()
    }

    /// A string starting at the current `"`.
    pub fn string(&mut self) -> Result<Cow<'a, str>, JsonError> {
        self.expect(b'"')?;
        let start = self.pos;
        let bytes = self.bytes();
        let mut i = start;
        let mut escaped = false;
        while i < bytes.len() {
            match bytes[i] {
                b'"' => {
                    self.pos = i + 1;
                    let raw = &self.src[start..i];
                    return if escaped { unescape(raw).map(Cow::Owned).map_err(|m| JsonError { message: m, offset: start }) } else { Ok(Cow::Borrowed(raw)) };
                }
                b'\\' => {
                    escaped = true;
                    i += 2;
                }
                _ => i += 1,
            }
        }
        self.pos = bytes.len();
        Err(self.error("unterminated string"))
    }

    /// A scalar, or `None` when the next value is an object or array (not consumed).
    pub fn scalar(&mut self) -> Result<Option<Scalar<'a>>, JsonError> {
        match self.peek() {
            Some(b'"') => Ok(Some(Scalar::Str(self.string()?))),
            Some(b'{') | Some(b'[') => Ok(None),
            Some(b't') => self.word("true").map(|_| Some(Scalar::Bool(true))),
            Some(b'f') => self.word("false").map(|_| Some(Scalar::Bool(false))),
            Some(b'n') => self.word("null").map(|_| Some(Scalar::Null)),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.pos;
                let bytes = self.bytes();
                let mut i = start;
                while i < bytes.len() && matches!(bytes[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') {
                    i += 1;
                }
                let text = &self.src[start..i];
                if text.parse::<f64>().is_err() {
                    return Err(self.error(format!("invalid number {text:?}")));
                }
                self.pos = i;
                Ok(Some(Scalar::Number(text)))
            }
            Some(b) => Err(self.error(format!("unexpected character {:?}", b as char))),
            None => Err(self.error("unexpected end of input")),
        }
    }

    fn word(&mut self, w: &str) -> Result<(), JsonError> {
        if self.src[self.pos..].starts_with(w) {
            self.pos += w.len();
            Ok(())
        } else {
            Err(self.error("invalid literal"))
        }
    }

    /// Skips any value, checking its syntax.
    pub fn skip_value(&mut self) -> Result<(), JsonError> {
        match self.peek() {
            Some(b'{') => {
                self.pos += 1;
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    return Ok(());
                }
                loop {
                    self.string()?;
                    self.expect(b':')?;
                    self.skip_value()?;
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            return Ok(());
                        }
                        _ => return Err(self.error("expected ',' or '}' in object")),
                    }
                }
            }
            Some(b'[') => {
                self.pos += 1;
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(());
                }
                loop {
                    self.skip_value()?;
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(());
                        }
                        _ => return Err(self.error("expected ',' or ']' in array")),
                    }
                }
            }
            _ => self.scalar().map(|_| ()),
        }
    }

    /// The raw text of the next value (object, array or scalar), checked.
    pub fn raw_value(&mut self) -> Result<&'a str, JsonError> {
        self.peek();
        let start = self.pos;
        self.skip_value()?;
        Ok(&self.src[start..self.pos])
    }

    /// Walks an object, flattening nested objects into `prefix_key` names; calls `emit`
    /// with each (flattened, sanitized) key and scalar. Arrays are skipped.
    pub fn flatten_object(&mut self, prefix: &mut String, emit: &mut dyn FnMut(&str, Scalar<'a>)) -> Result<(), JsonError> {
        self.expect(b'{')?;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            let key = self.string()?;
            self.expect(b':')?;
            let len = prefix.len();
            if !prefix.is_empty() {
                prefix.push('_');
            }
            sanitize_into(&key, prefix);
            match self.scalar()? {
                Some(v) => emit(prefix, v),
                None => match self.peek() {
                    Some(b'{') => self.flatten_object(prefix, emit)?,
                    _ => self.skip_value()?,
                },
            }
            prefix.truncate(len);
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.error("expected ',' or '}' in object")),
            }
        }
    }
}

/// Appends `key` sanitized as a label name: trimmed, every character outside
/// `[A-Za-z0-9_]` becomes `_`, and a leading digit gets a `_` prefix.
pub fn sanitize_into(key: &str, out: &mut String) {
    let key = key.trim();
    if out.is_empty() && key.starts_with(|c: char| c.is_ascii_digit()) {
        out.push('_');
    }
    for c in key.chars() {
        out.push(if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' });
    }
}

/// A sanitized label name.
pub fn sanitize(key: &str) -> String {
    let mut s = String::with_capacity(key.len());
    sanitize_into(key, &mut s);
    s
}

/// JSON string escapes.
fn unescape(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            Some('/') => out.push('/'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let mut cp = u32::from_str_radix(&hex, 16).map_err(|_| format!("invalid escape \\u{hex}"))?;
                if (0xD800..0xDC00).contains(&cp) {
                    let rest = chars.as_str();
                    if let Some(low) = rest.strip_prefix("\\u").and_then(|r| r.get(..4)).and_then(|h| u32::from_str_radix(h, 16).ok())
                        && (0xDC00..0xE000).contains(&low)
                    {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                        chars.nth(5);
                    }
                }
                out.push(char::from_u32(cp).unwrap_or('\u{fffd}'));
            }
            other => return Err(format!("invalid escape {other:?}")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(line: &str) -> Result<Vec<(String, Option<String>)>, JsonError> {
        let mut out = Vec::new();
        let mut s = Scanner::new(line);
        s.flatten_object(&mut String::new(), &mut |k, v| out.push((k.to_string(), v.text().map(|t| t.into_owned()))))?;
        Ok(out)
    }

    #[test]
    fn flattens_like_loki() {
        let got = flat(r#"{"a.b":{"c":"d"},"n":1.50,"t":true,"z":null,"arr":[1,{"x":2}],"s":"q\"\u00e9","1x":"v"}"#).unwrap();
        assert_eq!(
            got,
            vec![
                ("a_b_c".into(), Some("d".into())),
                ("n".into(), Some("1.50".into())),
                ("t".into(), Some("true".into())),
                ("z".into(), None),
                ("s".into(), Some("q\"é".into())),
                ("_1x".into(), Some("v".into())),
            ]
        );
        assert!(flat("not json").is_err());
        assert!(flat(r#"{"a":}"#).is_err());
    }
}
