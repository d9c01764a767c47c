//! Loki's patterns: literals and `<name>` / `<_>` captures, used by the `pattern` parser
//! stage ([`Pattern::captures`]) and the `|>` / `!>` line filters ([`Pattern::test`]).
//!
//! The two uses follow different rules, as in Loki. The parser: a leading literal must be a
//! prefix of the line; each capture ends at the first later occurrence of the next literal
//! (possibly empty); a final capture takes the rest of the line; text after a trailing
//! literal is ignored. When a literal is missing, the capture before it takes the rest of the
//! line and later captures stay unset. The line filter: see [`Pattern::test`].

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
        if src.is_empty() {
            return Err("empty pattern".into());
        }
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

    /// Parses a pattern without the named-capture requirement (line filters `|>`); the
    /// empty pattern is allowed (it matches only empty lines).
    pub fn parse_any(src: &str) -> Result<Pattern, String> {
        let mut parts: Vec<Part> = Vec::new();
        let mut lit = String::new();
        let mut rest = src;
        while !rest.is_empty() {
            if let Some((len, name)) = capture_len(rest) {
                if !lit.is_empty() {
                    parts.push(Part::Literal(std::mem::take(&mut lit)));
                } else if let Some(Part::Capture(prev)) = parts.last() {
                    let shown = |n: &Option<String>| format!("<{}>", n.as_deref().unwrap_or("_"));
                    return Err(format!("found consecutive capture '{}{}': invalid expression", shown(prev), shown(&name)));
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
        Ok(Pattern { parts })
    }

    /// Parses the pattern of a `|>` / `!>` line filter as Loki does: as [`Pattern::parse_any`]
    /// (consecutive captures are refused first), then refusing any named capture, since only
    /// `<_>` may appear in a line filter.
    pub fn parse_line_filter(src: &str) -> Result<Pattern, String> {
        let p = Pattern::parse_any(src)?;
        if let Some(name) = p.parts.iter().find_map(|x| if let Part::Capture(Some(n)) = x { Some(n) } else { None }) {
            return Err(format!("named captures are not allowed: found '<{name}>'"));
        }
        Ok(p)
    }

    /// The literal runs of the pattern, in order: every one is a substring of any line that
    /// passes [`Pattern::test`] (used for skip-filter pruning).
    pub fn literals(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| if let Part::Literal(l) = p { Some(l.as_str()) } else { None })
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

    /// Loki's line-filter test (`|> "pattern"`). Each literal is looked up once, at its
    /// first occurrence after the previous one (no backtracking). The first element, when it
    /// is a literal, may occur anywhere in the line (it is not anchored at the start); any
    /// other literal follows a capture, which may not be empty, so it must not occur right
    /// where the search starts. A pattern ending in a literal must end exactly at the end of
    /// the line; one ending in a capture needs text left for it. The empty pattern matches
    /// only the empty line, and no other pattern matches the empty line.
    pub fn test(&self, line: &str) -> bool {
        let Some(last) = self.parts.last() else { return line.is_empty() };
        if line.is_empty() {
            return false;
        }
        let mut pos = 0;
        for (i, part) in self.parts.iter().enumerate() {
            let Part::Literal(l) = part else { continue };
            let Some(at) = line[pos..].find(l.as_str()) else { return false };
            if i > 0 && at == 0 {
                // The capture before this literal would be empty.
                return false;
            }
            pos += at + l.len();
        }
        let rest_left = pos < line.len();
        matches!(last, Part::Capture(_)) == rest_left
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
        assert!(Pattern::parse("").is_err());
    }

    fn test(p: &str, line: &str) -> bool {
        Pattern::parse_any(p).unwrap().test(line)
    }

    #[test]
    fn line_filter_test_follows_loki() {
        // A trailing literal must end the line; a trailing capture needs text.
        assert!(test("<_> 500", "GET /a 500"));
        assert!(!test("<_> 500", "GET /a 500 12"));
        assert!(test("GET <_>", "GET /a 500"));
        assert!(!test("GET <_>", "GET "));
        // A leading literal may occur anywhere.
        assert!(test("GET <_>", "x GET /a"));
        assert!(test("foo <_> baz", "xx foo bar baz"));
        // Each literal at its first occurrence, no backtracking: the first " 500" leaves text.
        assert!(!test("<_> 500", "a 500 b 500"));
        // Captures may not be empty.
        assert!(!test("<_> bar <_>", " bar "));
        assert!(test("<_>bar<_>", " bar "));
        assert!(!test("<_> bar", " bar"));
        assert!(test("<_> bar", "x bar"));
        // Loki's own examples.
        assert!(!test("<_> bar", "foo bar baz"));
        assert!(test("<_> baz", "foo bar baz"));
        assert!(test("foo <_>", "foo bar baz"));
        // Literal-only patterns must end the line.
        assert!(test("bar", "foo bar"));
        assert!(!test("bar", "foo bar baz"));
        // Empty pattern and empty lines.
        assert!(test("", ""));
        assert!(!test("", "x"));
        assert!(!test("<_>", ""));
        assert!(test("<_>", "x"));
        // Named captures behave as unnamed ones.
        assert!(test("<ip> - <_>", "1.2.3.4 - x"));
        assert_eq!(
            Pattern::parse_any("a <x><_>").unwrap_err(),
            "found consecutive capture '<x><_>': invalid expression"
        );
    }

    #[test]
    fn line_filters_refuse_named_captures_after_consecutive_ones() {
        assert_eq!(Pattern::parse_line_filter("<_> foo <ip> <_>").unwrap_err(), "named captures are not allowed: found '<ip>'");
        assert_eq!(Pattern::parse_line_filter("<__> x").unwrap_err(), "named captures are not allowed: found '<__>'");
        assert_eq!(Pattern::parse_line_filter("<a><b>").unwrap_err(), "found consecutive capture '<a><b>': invalid expression");
        assert!(Pattern::parse_line_filter("<_> 500 <_>").is_ok());
        assert!(Pattern::parse_line_filter("").is_ok());
        // `<1a>` and `<a-b>` are not captures, so they are literal text.
        assert!(Pattern::parse_line_filter("<1a> <a-b>").is_ok());
    }

    #[test]
    fn literals_are_listed_in_order() {
        let p = Pattern::parse_any("<_> failed <u> from <_>").unwrap();
        assert_eq!(p.literals().collect::<Vec<_>>(), vec![" failed ", " from "]);
    }
}
