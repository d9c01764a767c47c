//! Splits a Go text/template source into text and action tokens.

use super::TemplateError;

/// One token of an action (`{{ ... }}`) or a piece of text between actions.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// Text outside actions (already trimmed by `{{-`/`-}}` markers).
    Text(String),
    /// `{{` (after any trim marker).
    Open,
    /// `}}`.
    Close,
    /// A bare word: a keyword or a function name.
    Ident(String),
    /// `.a.b` (an empty list is `.`).
    Field(Vec<String>),
    /// `$x.a.b` (`$` alone is the root).
    Var(String, Vec<String>),
    /// A string, raw string or character constant, unescaped.
    Str(String),
    /// A number as written.
    Number(String),
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `|`
    Pipe,
    /// `:=`
    Declare,
    /// `=`
    Assign,
    /// `,`
    Comma,
}

/// Tokenizes `src`.
pub fn lex(src: &str) -> Result<Vec<Tok>, TemplateError> {
    Ok(lex_positioned(src)?.into_iter().map(|(t, _)| t).collect())
}

/// Byte offset of `s` (a slice of `base`) in `base`.
fn offset(base: &str, s: &str) -> usize {
    (s.as_ptr() as usize).saturating_sub(base.as_ptr() as usize)
}

/// Tokenizes `src`, each token with the byte offset Go's parser gives its node: where it
/// starts, or for a field chain (`.a.b`, `$x.a.b`) where its last field starts.
pub fn lex_positioned(src: &str) -> Result<Vec<(Tok, usize)>, TemplateError> {
    let mut out = Vec::new();
    let mut rest = src;
    loop {
        let Some(open) = rest.find("{{") else {
            if !rest.is_empty() {
                out.push((Tok::Text(rest.to_string()), offset(src, rest)));
            }
            return Ok(out);
        };
        let mut text = &rest[..open];
        let mut inner = &rest[open + 2..];
        if let Some(after) = inner.strip_prefix("- ").or_else(|| inner.strip_prefix("-\t")).or_else(|| inner.strip_prefix("-\n")) {
            text = text.trim_end_matches(is_space);
            inner = after;
        }
        if !text.is_empty() {
            out.push((Tok::Text(text.to_string()), offset(src, text)));
        }
        // Comments: {{/* ... */}}
        let trimmed = inner.trim_start_matches(is_space);
        if let Some(comment) = trimmed.strip_prefix("/*") {
            let at = offset(src, trimmed);
            let end = comment.find("*/").ok_or_else(|| TemplateError::parse_at(at, "unclosed comment"))?;
            let after = comment[end + 2..].trim_start_matches(is_space);
            let (after, trim) =
                close_marker(after).ok_or_else(|| TemplateError::parse_at(at, "comment ends before closing delimiter"))?;
            rest = if trim { after.trim_start_matches(is_space) } else { after };
            continue;
        }
        out.push((Tok::Open, offset(src, inner)));
        rest = lex_action(src, inner, &mut out)?;
    }
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// `}}` or `-}}` at the start of `s`: the rest and whether to trim.
fn close_marker(s: &str) -> Option<(&str, bool)> {
    if let Some(r) = s.strip_prefix("-}}") {
        return Some((r, true));
    }
    s.strip_prefix("}}").map(|r| (r, false))
}

/// Lexes one action body up to and including its `}}`; returns the text after it.
fn lex_action<'a>(src: &str, mut s: &'a str, out: &mut Vec<(Tok, usize)>) -> Result<&'a str, TemplateError> {
    loop {
        let had_space = s.starts_with(is_space);
        s = s.trim_start_matches(is_space);
        if let Some(rest) = s.strip_prefix("}}") {
            out.push((Tok::Close, offset(src, s)));
            return Ok(rest);
        }
        if had_space && let Some(rest) = s.strip_prefix("-}}") {
            out.push((Tok::Close, offset(src, s)));
            return Ok(rest.trim_start_matches(is_space));
        }
        let c = s.chars().next().ok_or_else(|| TemplateError::parse_at(src.len(), "unclosed action"))?;
        let at = offset(src, s);
        match c {
            '(' => {
                out.push((Tok::LParen, at));
                s = &s[1..];
            }
            ')' => {
                out.push((Tok::RParen, at));
                s = &s[1..];
            }
            '|' => {
                out.push((Tok::Pipe, at));
                s = &s[1..];
            }
            ',' => {
                out.push((Tok::Comma, at));
                s = &s[1..];
            }
            ':' if s.starts_with(":=") => {
                out.push((Tok::Declare, at));
                s = &s[2..];
            }
            '=' => {
                out.push((Tok::Assign, at));
                s = &s[1..];
            }
            '"' => {
                let (v, rest) = lex_quoted(s).map_err(|e| e.or_at(at))?;
                out.push((Tok::Str(v), at));
                s = rest;
            }
            '`' => {
                let end = s[1..].find('`').ok_or_else(|| TemplateError::parse_at(at, "unterminated raw quoted string"))?;
                out.push((Tok::Str(s[1..1 + end].to_string()), at));
                s = &s[end + 2..];
            }
            '\'' => {
                let end = s[1..].find('\'').ok_or_else(|| TemplateError::parse_at(at, "unterminated character constant"))?;
                let body = store::labels::unescape_go(&s[1..1 + end].replace("\\'", "'")).map_err(|e| TemplateError::parse_at(at, e))?;
                let ch = body.chars().next().ok_or_else(|| TemplateError::parse_at(at, "empty character constant"))?;
                out.push((Tok::Number((ch as u32).to_string()), at));
                s = &s[end + 2..];
            }
            '.' if s[1..].starts_with(|c: char| c.is_ascii_digit()) => {
                let n = number_len(s);
                out.push((Tok::Number(s[..n].to_string()), at));
                s = &s[n..];
            }
            '.' => {
                let (fields, rest, last) = lex_fields(s);
                out.push((Tok::Field(fields), at + last));
                s = rest;
            }
            '$' => {
                let n = 1 + s[1..].find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(s.len() - 1);
                let name = s[..n].to_string();
                let (fields, rest, last) = if s[n..].starts_with('.') && !s[n + 1..].starts_with(|c: char| c.is_ascii_digit()) {
                    let (f, r, last) = lex_fields(&s[n..]);
                    (f, r, n + last)
                } else {
                    (Vec::new(), &s[n..], 0)
                };
                let pos = if fields.is_empty() { at } else { at + last };
                out.push((Tok::Var(name, fields), pos));
                s = rest;
            }
            c if c.is_ascii_digit() || ((c == '-' || c == '+') && s[1..].starts_with(|d: char| d.is_ascii_digit() || d == '.')) => {
                let n = number_len(s);
                out.push((Tok::Number(s[..n].to_string()), at));
                s = &s[n..];
            }
            c if c.is_alphabetic() || c == '_' => {
                let n = s.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(s.len());
                out.push((Tok::Ident(s[..n].to_string()), at));
                s = &s[n..];
            }
            other => return Err(TemplateError::parse_at(at, format!("unrecognized character in action: {}", go_unicode(other)))),
        }
    }
}

/// A character as Go's `%#U` prints it: `U+0021 '!'`, or `U+0007` when not printable.
fn go_unicode(c: char) -> String {
    if c.is_control() { format!("U+{:04X}", c as u32) } else { format!("U+{:04X} '{c}'", c as u32) }
}

/// `.a.b.c` at the start of `s` (`.` alone gives no names), the rest, and the offset in
/// `s` of the last field's `.`.
fn lex_fields(mut s: &str) -> (Vec<String>, &str, usize) {
    let start = s;
    let mut fields = Vec::new();
    let mut last = 0;
    while let Some(after) = s.strip_prefix('.') {
        let n = after.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(after.len());
        if n == 0 {
            if fields.is_empty() {
                s = after;
            }
            break;
        }
        last = offset(start, s);
        fields.push(after[..n].to_string());
        s = &after[n..];
    }
    (fields, s, last)
}

fn number_len(s: &str) -> usize {
    let mut n = 0;
    let b = s.as_bytes();
    if n < b.len() && (b[n] == b'-' || b[n] == b'+') {
        n += 1;
    }
    while n < b.len() && (b[n].is_ascii_alphanumeric() || b[n] == b'.' || b[n] == b'_' || ((b[n] == b'-' || b[n] == b'+') && matches!(b[n - 1], b'e' | b'E' | b'p' | b'P'))) {
        n += 1;
    }
    n
}

/// A double-quoted string with Go escapes at the start of `s`.
fn lex_quoted(s: &str) -> Result<(String, &str), TemplateError> {
    let bytes = s.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => {
                let v = store::labels::unescape_go(&s[1..i]).map_err(TemplateError::parse)?;
                return Ok((v, &s[i + 1..]));
            }
            b'\n' => break,
            _ => i += 1,
        }
    }
    Err(TemplateError::parse("unterminated quoted string"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_tokens() {
        let t = lex("a  {{- .x | printf \"%s\" -}}  b{{/* c */}}").unwrap();
        assert_eq!(
            t,
            vec![
                Tok::Text("a".into()),
                Tok::Open,
                Tok::Field(vec!["x".into()]),
                Tok::Pipe,
                Tok::Ident("printf".into()),
                Tok::Str("%s".into()),
                Tok::Close,
                Tok::Text("b".into()),
            ]
        );
        assert_eq!(lex("{{-3}}").unwrap(), vec![Tok::Open, Tok::Number("-3".into()), Tok::Close]);
        assert_eq!(lex("{{$x := .}}").unwrap(), vec![Tok::Open, Tok::Var("$x".into(), vec![]), Tok::Declare, Tok::Field(vec![]), Tok::Close]);
    }
}
