//! A logfmt decoder with Loki's rules: bytes up to 0x20 separate pairs, a key runs to `=`,
//! quoted values take JSON-like escapes, a key without `=` has an empty value. A malformed
//! pair is skipped up to the next separator; in strict mode decoding stops there with
//! `logfmt syntax error at pos N : <what>`.

use std::borrow::Cow;

/// What the decoder reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event<'a> {
    /// A key and its (unescaped) value.
    Pair(Cow<'a, str>, Cow<'a, str>),
    /// Strict mode only: the syntax error that stopped decoding.
    Error(String),
}

fn is_sep(b: u8) -> bool {
    b <= b' '
}

/// Decodes `line`, reporting each pair (and in strict mode the first error) to `emit`.
pub fn decode<'a>(line: &'a str, strict: bool, emit: &mut dyn FnMut(Event<'a>)) {
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && is_sep(b[i]) {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        match pair(line, i) {
            Ok((key, value, next)) => {
                emit(Event::Pair(key, value));
                i = next;
            }
            Err((pos, msg)) => {
                if strict {
                    emit(Event::Error(format!("logfmt syntax error at pos {} : {msg}", pos + 1)));
                    return;
                }
                i = pos;
                while i < b.len() && !is_sep(b[i]) {
                    i += 1;
                }
            }
        }
    }
}

type PairResult<'a> = Result<(Cow<'a, str>, Cow<'a, str>, usize), (usize, String)>;

/// One pair starting at `start`: key, value, and the index after it.
fn pair(line: &str, start: usize) -> PairResult<'_> {
    let b = line.as_bytes();
    let mut i = start;
    if b[i] == b'=' {
        return Err((i, "unexpected '='".into()));
    }
    while i < b.len() && !is_sep(b[i]) && b[i] != b'=' {
        if b[i] == b'"' {
            return Err((i, "unexpected '\"'".into()));
        }
        i += 1;
    }
    let key = Cow::Borrowed(&line[start..i]);
    if i >= b.len() || is_sep(b[i]) {
        return Ok((key, Cow::Borrowed(""), i));
    }
    // b[i] == '='
    i += 1;
    if i >= b.len() || is_sep(b[i]) {
        return Ok((key, Cow::Borrowed(""), i));
    }
    if b[i] == b'"' {
        let (value, next) = quoted(line, i)?;
        return Ok((key, value, next));
    }
    let vstart = i;
    while i < b.len() && !is_sep(b[i]) {
        if b[i] == b'=' {
            return Err((i, "unexpected '='".into()));
        }
        if b[i] == b'"' {
            return Err((i, "unexpected '\"'".into()));
        }
        i += 1;
    }
    Ok((key, Cow::Borrowed(&line[vstart..i]), i))
}

/// A quoted value starting at the `"` at `start`.
fn quoted(line: &str, start: usize) -> Result<(Cow<'_, str>, usize), (usize, String)> {
    let b = line.as_bytes();
    let mut i = start + 1;
    let mut escaped = false;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                escaped = true;
                i += 2;
            }
            b'"' => {
                let raw = &line[start + 1..i];
                let value = if escaped { Cow::Owned(unescape(raw).ok_or((start, "invalid quoted value".to_string()))?) } else { Cow::Borrowed(raw) };
                return Ok((value, i + 1));
            }
            _ => i += 1,
        }
    }
    Err((b.len(), "unterminated quoted value".into()))
}

fn unescape(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            '"' => out.push('"'),
            '\\' => out.push('\\'),
            '/' => out.push('/'),
            '\'' => out.push('\''),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'u' => {
                let hex: String = chars.by_ref().take(4).collect();
                out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?).unwrap_or('\u{fffd}'));
            }
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(line: &str, strict: bool) -> Vec<String> {
        let mut out = Vec::new();
        decode(line, strict, &mut |e| match e {
            Event::Pair(k, v) => out.push(format!("{k}={v}")),
            Event::Error(e) => out.push(format!("ERR {e}")),
        });
        out
    }

    #[test]
    fn decodes_like_loki() {
        assert_eq!(pairs(r#"a=1 b="x \"y\"" c= d"#, false), vec!["a=1", "b=x \"y\"", "c=", "d="]);
        assert_eq!(pairs("foobar====wqe=sdad1r", true), vec!["ERR logfmt syntax error at pos 8 : unexpected '='"]);
        assert_eq!(pairs(r#"bar=bu=zz foo="x""#, true), vec!["ERR logfmt syntax error at pos 7 : unexpected '='"]);
        assert_eq!(pairs(r#"bar=bu=zz foo="x""#, false), vec!["foo=x"]);
        assert_eq!(pairs(r#"a="open"#, true), vec!["ERR logfmt syntax error at pos 8 : unterminated quoted value"]);
    }
}
