//! The label-extracting parser stages: `json` (plain and with paths), `logfmt`, `regexp`,
//! `pattern` and `unpack`, each writing into a [`LabelsBuilder`].

use std::borrow::Cow;

use super::json::{JsonError, Scalar, Scanner, sanitize};
use super::labels::LabelsBuilder;
use super::logfmt;
use super::pattern::Pattern;

/// `__error__` value of a JSON failure.
pub const JSON_ERR: &str = "JSONParserErr";
/// `__error__` value of a strict logfmt failure.
pub const LOGFMT_ERR: &str = "LogfmtParserErr";

/// Replaces U+FFFD (and so any invalid UTF-8 the ingest path replaced) with a space, as
/// Loki does for extracted values.
fn clean(v: Cow<'_, str>) -> Cow<'_, str> {
    if v.contains('\u{fffd}') { Cow::Owned(v.replace('\u{fffd}', " ")) } else { v }
}

/// The text Loki's JSON library gives for a failure (it ends up in `__error_details__`).
fn json_error_text(line: &str, e: &JsonError) -> &'static str {
    let trimmed = line.trim_start();
    if !trimmed.starts_with('{') {
        return "Value looks like object, but can't find closing '}' symbol";
    }
    if e.message.starts_with("unterminated string") {
        return "Value is string, but can't find closing '\"' symbol";
    }
    if e.message.starts_with("invalid literal") || e.message.starts_with("unexpected character") || e.message.starts_with("invalid number") {
        return "Unknown value type";
    }
    if e.message.contains("end of input") || e.message.starts_with("expected ',' or '}'") {
        return "Value is array, but can't find closing ']' symbol";
    }
    "Malformed JSON error"
}

/// `| json`: every scalar of the object, nested keys joined with `_`.
pub fn json_all(line: &str, lbs: &mut LabelsBuilder) {
    let mut scanner = Scanner::new(line);
    if scanner.peek() != Some(b'{') {
        lbs.set_error(JSON_ERR, "Value looks like object, but can't find closing '}' symbol");
        return;
    }
    let mut prefix = String::new();
    let result = scanner.flatten_object(&mut prefix, &mut |key, value| {
        if key.is_empty() {
            return;
        }
        if let Some(text) = value.text() {
            lbs.add_extracted(key, &clean(text));
        }
    });
    if let Err(e) = result {
        lbs.set_error(JSON_ERR, json_error_text(line, &e));
    }
}

/// One step of a `json` path expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    /// An object key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// Parses a path such as `a.b[0]`, `["key with spaces"].c`.
pub fn parse_json_path(expr: &str) -> Result<Vec<PathStep>, String> {
    let err = || format!("cannot parse expression [{expr}]: syntax error: unexpected input");
    let s: String = expr.chars().filter(|c| !c.is_whitespace()).collect();
    let mut steps = Vec::new();
    let mut rest = s.as_str();
    let mut first = true;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("[\"") {
            let end = r.find(['"', ']']).ok_or_else(err)?;
            steps.push(PathStep::Key(r[..end].to_string()));
            rest = r[end..].strip_prefix("\"]").or_else(|| r[end..].strip_prefix(']')).ok_or_else(err)?;
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or_else(err)?;
            steps.push(PathStep::Index(r[..end].parse().map_err(|_| err())?));
            rest = &r[end + 1..];
        } else {
            let r = if first { rest } else { rest.strip_prefix('.').ok_or_else(err)? };
            let n = r.find(['.', '[']).unwrap_or(r.len());
            let field = &r[..n];
            if field.is_empty() || !field.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
                return Err(err());
            }
            steps.push(PathStep::Key(field.to_string()));
            rest = &r[n..];
        }
        first = false;
    }
    if steps.is_empty() {
        return Err(err());
    }
    Ok(steps)
}

/// Follows `path` in the JSON text: `Ok(None)` when it does not exist.
fn lookup<'a>(line: &'a str, path: &[PathStep]) -> Result<Option<Cow<'a, str>>, JsonError> {
    let mut scanner = Scanner::new(line);
    for step in path {
        match step {
            PathStep::Key(key) => {
                if scanner.peek() != Some(b'{') {
                    return Ok(None);
                }
                scanner.expect(b'{')?;
                let mut found = false;
                if scanner.peek() != Some(b'}') {
                    loop {
                        let k = scanner.string()?;
                        scanner.expect(b':')?;
                        if k == key.as_str() {
                            found = true;
                            break;
                        }
                        scanner.skip_value()?;
                        match scanner.peek() {
                            Some(b',') => scanner.expect(b',')?,
                            _ => break,
                        }
                    }
                }
                if !found {
                    return Ok(None);
                }
            }
            PathStep::Index(want) => {
                if scanner.peek() != Some(b'[') {
                    return Ok(None);
                }
                scanner.expect(b'[')?;
                let mut i = 0;
                if scanner.peek() == Some(b']') {
                    return Ok(None);
                }
                loop {
                    if i == *want {
                        break;
                    }
                    scanner.skip_value()?;
                    match scanner.peek() {
                        Some(b',') => scanner.expect(b',')?,
                        _ => return Ok(None),
                    }
                    i += 1;
                }
            }
        }
    }
    match scanner.scalar()? {
        Some(Scalar::Null) => Ok(Some(Cow::Borrowed(""))),
        Some(Scalar::Str(s)) => Ok(Some(s)),
        Some(other) => Ok(other.text().map(|t| Cow::Owned(t.into_owned()))),
        None => scanner.raw_value().map(|raw| Some(Cow::Borrowed(raw))),
    }
}

/// `| json a="x.y", b="arr[0]"`: the named labels from their paths.
pub fn json_paths(line: &str, params: &[(String, Vec<PathStep>)], lbs: &mut LabelsBuilder) {
    if line.is_empty() {
        return;
    }
    if !line.starts_with(['{', '[', '"']) {
        lbs.set_error(JSON_ERR, "");
        return;
    }
    for (name, path) in params {
        match lookup(line, path) {
            Ok(Some(v)) => {
                let name = lbs.param_name(name);
                lbs.set_parsed(&name, &clean(v));
            }
            Ok(None) => {
                if lbs.get(name).is_none() {
                    lbs.set_parsed(name, "");
                }
            }
            Err(e) => {
                lbs.set_error(JSON_ERR, json_error_text(line, &e));
                return;
            }
        }
    }
}

/// `| unpack`: top-level string values become labels and `_entry` replaces the line; only
/// when a string `_entry` exists. Returns the new line.
pub fn unpack(line: &str, lbs: &mut LabelsBuilder) -> Option<String> {
    if !line.starts_with('{') {
        lbs.set_error(JSON_ERR, "expecting json object(6), but it is not");
        return None;
    }
    let mut scanner = Scanner::new(line);
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut entry: Option<String> = None;
    let result = (|| -> Result<(), JsonError> {
        scanner.expect(b'{')?;
        if scanner.peek() == Some(b'}') {
            return Ok(());
        }
        loop {
            let key = scanner.string()?;
            scanner.expect(b':')?;
            match scanner.scalar()? {
                Some(Scalar::Str(v)) => {
                    if key == "_entry" {
                        entry = Some(v.into_owned());
                    } else {
                        pairs.push((key.into_owned(), v.into_owned()));
                    }
                }
                Some(_) => {}
                None => scanner.skip_value()?,
            }
            match scanner.peek() {
                Some(b',') => scanner.expect(b',')?,
                Some(b'}') => return Ok(()),
                _ => return Err(scanner.error("expected ',' or '}' in object")),
            }
        }
    })();
    if let Err(e) = result {
        lbs.set_error(JSON_ERR, json_error_text(line, &e));
        return None;
    }
    let entry = entry?;
    for (k, v) in pairs {
        let name = sanitize(&k);
        if lbs.collides(&k) {
            lbs.add_extracted(&k, &v);
        } else {
            lbs.add_extracted(&name, &v);
        }
    }
    Some(entry)
}

/// `| logfmt [--strict] [--keep-empty]`: every key.
pub fn logfmt_all(line: &str, strict: bool, keep_empty: bool, lbs: &mut LabelsBuilder) {
    let mut failure = None;
    logfmt::decode(line, strict, &mut |event| match event {
        logfmt::Event::Pair(key, value) => {
            let key = sanitize(&key);
            if key.is_empty() || (value.is_empty() && !keep_empty) {
                return;
            }
            lbs.add_extracted(&key, &clean(value));
        }
        logfmt::Event::Error(e) => failure = Some(e),
    });
    if let Some(e) = failure {
        lbs.set_error(LOGFMT_ERR, e);
    }
}

/// `| logfmt a="key", b`: only the named keys (set to `""` first, then filled).
pub fn logfmt_params(line: &str, strict: bool, params: &[(String, String)], lbs: &mut LabelsBuilder) {
    let names: Vec<String> = params.iter().map(|(n, _)| lbs.param_name(n)).collect();
    for n in &names {
        lbs.set_parsed(n, "");
    }
    let mut failure = None;
    logfmt::decode(line, strict, &mut |event| match event {
        logfmt::Event::Pair(key, value) => {
            let key = sanitize(&key);
            for ((_, want), name) in params.iter().zip(&names) {
                if *want == key {
                    let v = if value.contains('\u{fffd}') { Cow::Borrowed("") } else { value.clone() };
                    lbs.set_parsed(name, &v);
                }
            }
        }
        logfmt::Event::Error(e) => failure = Some(e),
    });
    if let Some(e) = failure {
        lbs.set_error(LOGFMT_ERR, e);
    }
}

/// `| regexp "re"`: named groups of the leftmost match.
pub fn regexp(line: &str, re: &regex::Regex, names: &[(usize, String)], lbs: &mut LabelsBuilder) {
    let Some(caps) = re.captures(line) else { return };
    for (i, name) in names {
        let v = caps.get(*i).map(|m| m.as_str()).unwrap_or("");
        lbs.add_extracted(name, &clean(Cow::Borrowed(v)));
    }
}

/// `| pattern "<a> <_> <b>"`: the captures of the pattern.
pub fn pattern(line: &str, pattern: &Pattern, lbs: &mut LabelsBuilder) {
    pattern.captures(line, &mut |name, value| lbs.add_extracted(name, &clean(Cow::Borrowed(value))));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn run(mut f: impl FnMut(&mut LabelsBuilder)) -> LabelsBuilder {
        let mut b = LabelsBuilder::default();
        b.reset(&Arc::new(vec![("app".to_string(), "x".to_string())]), &[]);
        f(&mut b);
        b
    }

    #[test]
    fn json_stages() {
        let b = run(|b| json_all(r#"{"app":"y","user":{"name":"bob"},"tags":[1],"n":null,"s":500}"#, b));
        assert_eq!(b.get("app_extracted"), Some("y"));
        assert_eq!(b.get("user_name"), Some("bob"));
        assert_eq!(b.get("s"), Some("500"));
        assert_eq!(b.get("tags"), None);
        let b = run(|b| json_all("not json", b));
        assert_eq!(b.error(), Some(JSON_ERR));
        assert_eq!(b.error_details(), Some("Value looks like object, but can't find closing '}' symbol"));
        let params = vec![
            ("un".to_string(), parse_json_path("user.name").unwrap()),
            ("t0".to_string(), parse_json_path("tags[0]").unwrap()),
            ("obj".to_string(), parse_json_path("[\"user\"]").unwrap()),
            ("none".to_string(), parse_json_path("nope").unwrap()),
        ];
        let b = run(|b| json_paths(r#"{"user":{"name":"bob"},"tags":[7,8]}"#, &params, b));
        assert_eq!(b.get("un"), Some("bob"));
        assert_eq!(b.get("t0"), Some("7"));
        assert_eq!(b.get("obj"), Some(r#"{"name":"bob"}"#));
        assert_eq!(b.get("none"), Some(""));
    }

    #[test]
    fn unpack_needs_entry() {
        let mut line = None;
        let b = run(|b| line = unpack(r#"{"_entry":"hello","pod":"p1","n":5}"#, b));
        assert_eq!(line.as_deref(), Some("hello"));
        assert_eq!(b.get("pod"), Some("p1"));
        assert_eq!(b.get("n"), None);
        let b = run(|b| line = unpack(r#"{"pod":"p1"}"#, b));
        assert_eq!(line, None);
        assert_eq!(b.get("pod"), None);
    }
}
