//! Loki's `pattern` parser: literals and `<name>` / `<_>` captures, matched left to right.
//!
//! A leading literal must be a prefix of the line; each capture ends at the first later
//! occurrence of the next literal (possibly empty); a final capture takes the rest of the
//! line; text after a trailing literal is ignored. When a literal is missing, the capture
//! before it takes the rest of the line and later captures stay unset.

/// One element of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    /// A capture; `None` for `<_>`.
    Capture(Option<String>),
}

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    parts: Vec<Part>,
}

/// Length of a `<name>` or `<_>` capture at the start of `s`.
fn capture_len(s: &str) -> Option<(usize, Option<String>)> {
    let inner = s.strip_prefix('<')?;
    let end = inner.find('>')?;
    let name = &inner[..end];
    if name == "_" {
        return Some((end + 2, None));
    }
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    valid.then(|| (end + 2, Some(name.to_string())))
}

impl Pattern {
    /// Parses a pattern for the `pattern` parser stage (at least one named capture, no two
    /// adjacent captures, no duplicate names).
    pub fn parse(src: &str) -> Result<Pattern, String> {
        let p = Pattern::parse_any(src)?;
        let names: Vec<&String> = p.parts.iter().filter_map(|x| if let Part::Capture(Some(n)) = x { Some(n) } else { None }).collect();
        if names.is_empty() {
            return Err("at least one capture is required".into());
        }
        for (i, n) in names.iter().enumerate() {
            if names[..i].contains(n) {
                return Err(format!("duplicate capture name ({n})"));
            }
        }
        Ok(p)
    }

    /// Parses a pattern without the named-capture requirement (line filters `|>`).
    pub fn parse_any(src: &str) -> Result<Pattern, String> {
        let mut parts: Vec<Part> = Vec::new();
        let mut lit = String::new();
        let mut rest = src;
        while !rest.is_empty() {
            if let Some((len, name)) = capture_len(rest) {
                if !lit.is_empty() {
                    parts.push(Part::Literal(std::mem::take(&mut lit)));
                } else if matches!(parts.last(), Some(Part::Capture(_))) {
                    return Err("found consecutive capture".into());
                }
                parts.push(Part::Capture(name));
                rest = &rest[len..];
            } else {
                let c = rest.chars().next().unwrap_or(' ');
                lit.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        if !lit.is_empty() {
            parts.push(Part::Literal(lit));
        }
        if parts.is_empty() {
            return Err("empty pattern".into());
        }
        Ok(Pattern { parts })
    }

    /// Reports each named capture of `line` (in order) to `emit`.
    pub fn captures<'a>(&self, line: &'a str, emit: &mut dyn FnMut(&str, &'a str)) {
        if line.is_empty() {
            return;
        }
        let mut rest = line;
        let mut parts = self.parts.as_slice();
        if let Some(Part::Literal(l)) = parts.first() {
            match rest.strip_prefix(l.as_str()) {
                Some(r) => rest = r,
                None => return,
            }
            parts = &parts[1..];
        }
        while let Some(first) = parts.first() {
            let Part::Capture(name) = first else { return };
            match parts.get(1) {
                None => {
                    if let Some(n) = name {
                        emit(n, rest);
                    }
                    return;
                }
                Some(Part::Literal(l)) => match rest.find(l.as_str()) {
                    Some(i) => {
                        if let Some(n) = name {
                            emit(n, &rest[..i]);
                        }
                        rest = &rest[i + l.len()..];
                        parts = &parts[2..];
                    }
                    None => {
                        if let Some(n) = name {
                            emit(n, rest);
                        }
                        return;
                    }
                },
                Some(Part::Capture(_)) => return,
            }
        }
    }

    /// True when the whole pattern matches `line` (every literal found in order, the first
    /// one at the start when the pattern starts with a literal). Used by `|>` filters.
    pub fn matches(&self, line: &str) -> bool {
        let mut rest = line;
        let mut parts = self.parts.as_slice();
        if let Some(Part::Literal(l)) = parts.first() {
            match rest.strip_prefix(l.as_str()) {
                Some(r) => rest = r,
                None => return false,
            }
            parts = &parts[1..];
        }
        for p in parts {
            if let Part::Literal(l) = p {
                match rest.find(l.as_str()) {
                    Some(i) => rest = &rest[i + l.len()..],
                    None => return false,
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(p: &str, line: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        Pattern::parse(p).unwrap().captures(line, &mut |n, v| out.push((n.to_string(), v.to_string())));
        out
    }

    #[test]
    fn matches_like_loki() {
        let p = r#"<ip> - - [<_>] "<method> <path> <_>" <status> <size> <_>"#;
        let line = r#"10.0.0.1 - - [20/Nov/2025:10:00:00 +0000] "GET /a HTTP/1.1" 500 12 "-" "curl""#;
        let got = caps(p, line);
        assert_eq!(got[0], ("ip".into(), "10.0.0.1".into()));
        assert_eq!(got[1], ("method".into(), "GET".into()));
        assert_eq!(got[3], ("status".into(), "500".into()));
        assert_eq!(got[4], ("size".into(), "12".into()));
        assert_eq!(caps("x <a> y <b>", "z a y b"), vec![]);
        assert_eq!(caps("<a> y <b>", "aaa"), vec![("a".into(), "aaa".into())]);
        assert!(Pattern::parse("<a><b>").is_err());
        assert!(Pattern::parse("<_> x").is_err());
    }
}
