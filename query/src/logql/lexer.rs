//! LogQL lexer: turns query text into [`Token`]s with their line and column.
//!
//! The lexer knows every LogQL token, including the ones only metric queries and pipeline
//! stages use, so the parser can grow without touching it. Like Loki's lexer:
//!
//! * keywords are case-insensitive (`SUM BY`, `| JSON` lex as keywords);
//! * a function name (`rate`, `sum`, `bytes`, ...) is a keyword only when the next token is
//!   `(` (or `by`/`without` for vector aggregations); otherwise it is an identifier, so a label
//!   may be called `rate` or `duration`;
//! * `[5m]` is one `Range` token; numbers followed by a duration or byte unit are `Duration`
//!   and `Bytes` tokens;
//! * strings are `"..."` with Go escapes or raw `` `...` ``; `#` starts a comment.

use std::time::Duration;

use super::error::ParseError;

/// Every keyword LogQL knows, in one enum so the parser can match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    /// `by`
    By,
    /// `without`
    Without,
    /// `bool`
    Bool,
    /// `on`
    On,
    /// `ignoring`
    Ignoring,
    /// `group_left`
    GroupLeft,
    /// `group_right`
    GroupRight,
    /// `or`
    Or,
    /// `and`
    And,
    /// `unless`
    Unless,
    /// `offset`
    Offset,
    /// `ip`
    Ip,
    /// `json`
    Json,
    /// `xml`
    Xml,
    /// `logfmt`
    Logfmt,
    /// `regexp`
    Regexp,
    /// `unpack`
    Unpack,
    /// `pattern`
    Pattern,
    /// `line_format`
    LineFormat,
    /// `label_format`
    LabelFormat,
    /// `unwrap`
    Unwrap,
    /// `decolorize`
    Decolorize,
    /// `drop`
    Drop,
    /// `keep`
    Keep,
}

impl Keyword {
    /// The keyword as written in LogQL.
    pub fn as_str(self) -> &'static str {
        match self {
            Keyword::By => "by",
            Keyword::Without => "without",
            Keyword::Bool => "bool",
            Keyword::On => "on",
            Keyword::Ignoring => "ignoring",
            Keyword::GroupLeft => "group_left",
            Keyword::GroupRight => "group_right",
            Keyword::Or => "or",
            Keyword::And => "and",
            Keyword::Unless => "unless",
            Keyword::Offset => "offset",
            Keyword::Ip => "ip",
            Keyword::Json => "json",
            Keyword::Xml => "xml",
            Keyword::Logfmt => "logfmt",
            Keyword::Regexp => "regexp",
            Keyword::Unpack => "unpack",
            Keyword::Pattern => "pattern",
            Keyword::LineFormat => "line_format",
            Keyword::LabelFormat => "label_format",
            Keyword::Unwrap => "unwrap",
            Keyword::Decolorize => "decolorize",
            Keyword::Drop => "drop",
            Keyword::Keep => "keep",
        }
    }

    fn from_lower(s: &str) -> Option<Keyword> {
        Some(match s {
            "by" => Keyword::By,
            "without" => Keyword::Without,
            "bool" => Keyword::Bool,
            "on" => Keyword::On,
            "ignoring" => Keyword::Ignoring,
            "group_left" => Keyword::GroupLeft,
            "group_right" => Keyword::GroupRight,
            "or" => Keyword::Or,
            "and" => Keyword::And,
            "unless" => Keyword::Unless,
            "offset" => Keyword::Offset,
            "ip" => Keyword::Ip,
            "json" => Keyword::Json,
            "xml" => Keyword::Xml,
            "logfmt" => Keyword::Logfmt,
            "regexp" => Keyword::Regexp,
            "unpack" => Keyword::Unpack,
            "pattern" => Keyword::Pattern,
            "line_format" => Keyword::LineFormat,
            "label_format" => Keyword::LabelFormat,
            "unwrap" => Keyword::Unwrap,
            "decolorize" => Keyword::Decolorize,
            "drop" => Keyword::Drop,
            "keep" => Keyword::Keep,
            _ => return None,
        })
    }
}

/// Function names: keywords only when a `(` (or a grouping, for vector ops) follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// A range aggregation such as `rate` or `count_over_time`.
    Range(super::ast::RangeOp),
    /// A vector aggregation such as `sum` or `topk`.
    Vector(super::ast::VectorOp),
    /// An unwrap conversion: `bytes`, `duration`, `duration_seconds`.
    Conversion(super::ast::UnwrapConversion),
    /// `vector(N)`
    VectorLiteral,
    /// `label_replace(...)`
    LabelReplace,
}

impl Function {
    fn from_lower(s: &str) -> Option<Function> {
        use super::ast::{RangeOp, UnwrapConversion, VectorOp};
        if let Some(op) = RangeOp::from_name(s) {
            return Some(Function::Range(op));
        }
        if let Some(op) = VectorOp::from_name(s) {
            return Some(Function::Vector(op));
        }
        Some(match s {
            "bytes" => Function::Conversion(UnwrapConversion::Bytes),
            "duration" => Function::Conversion(UnwrapConversion::Duration),
            "duration_seconds" => Function::Conversion(UnwrapConversion::DurationSeconds),
            "vector" => Function::VectorLiteral,
            "label_replace" => Function::LabelReplace,
            _ => return None,
        })
    }

    /// The function name as written in LogQL.
    pub fn as_str(self) -> &'static str {
        match self {
            Function::Range(op) => op.as_str(),
            Function::Vector(op) => op.as_str(),
            Function::Conversion(c) => c.as_str(),
            Function::VectorLiteral => "vector",
            Function::LabelReplace => "label_replace",
        }
    }
}

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenKind {
    /// A label name or other bare word.
    Identifier(String),
    /// A string literal, already unescaped.
    String(String),
    /// A number literal, as written.
    Number(String),
    /// A duration literal (`5m`, `100ms`).
    Duration(Duration),
    /// A byte-size literal (`20MB`, `1.5KiB`).
    Bytes(u64),
    /// A range `[5m]`.
    Range(Duration),
    /// A parser flag such as `--strict`.
    Flag(String),
    /// A keyword.
    Keyword(Keyword),
    /// A function name followed by `(` (or a grouping).
    Function(Function),
    /// `{`
    OpenBrace,
    /// `}`
    CloseBrace,
    /// `(`
    OpenParen,
    /// `)`
    CloseParen,
    /// `,`
    Comma,
    /// `.`
    Dot,
    /// `=`
    Eq,
    /// `!=`
    Neq,
    /// `=~`
    Re,
    /// `!~`
    Nre,
    /// `!>`
    Npa,
    /// `|=`
    PipeExact,
    /// `|~`
    PipeMatch,
    /// `|>`
    PipePattern,
    /// `|`
    Pipe,
    /// `==`
    CmpEq,
    /// `>`
    Gt,
    /// `>=`
    Gte,
    /// `<`
    Lt,
    /// `<=`
    Lte,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `^`
    Pow,
    /// End of input.
    Eof,
}

impl TokenKind {
    /// How Loki's parser names the token in `unexpected ...` messages.
    pub fn describe(&self) -> String {
        match self {
            TokenKind::Identifier(_) => "IDENTIFIER".into(),
            TokenKind::String(_) => "STRING".into(),
            TokenKind::Number(_) => "NUMBER".into(),
            TokenKind::Duration(_) => "DURATION".into(),
            TokenKind::Bytes(_) => "BYTES".into(),
            TokenKind::Range(_) => "RANGE".into(),
            TokenKind::Flag(_) => "FUNCTION_FLAG".into(),
            TokenKind::Keyword(k) => k.as_str().into(),
            TokenKind::Function(f) => f.as_str().into(),
            TokenKind::Eof => "$end".into(),
            other => other.punct().unwrap_or("?").into(),
        }
    }

    fn punct(&self) -> Option<&'static str> {
        Some(match self {
            TokenKind::OpenBrace => "{",
            TokenKind::CloseBrace => "}",
            TokenKind::OpenParen => "(",
            TokenKind::CloseParen => ")",
            TokenKind::Comma => ",",
            TokenKind::Dot => ".",
            TokenKind::Eq => "=",
            TokenKind::Neq => "!=",
            TokenKind::Re => "=~",
            TokenKind::Nre => "!~",
            TokenKind::Npa => "!>",
            TokenKind::PipeExact => "|=",
            TokenKind::PipeMatch => "|~",
            TokenKind::PipePattern => "|>",
            TokenKind::Pipe => "|",
            TokenKind::CmpEq => "==",
            TokenKind::Gt => ">",
            TokenKind::Gte => ">=",
            TokenKind::Lt => "<",
            TokenKind::Lte => "<=",
            TokenKind::Add => "+",
            TokenKind::Sub => "-",
            TokenKind::Mul => "*",
            TokenKind::Div => "/",
            TokenKind::Mod => "%",
            TokenKind::Pow => "^",
            _ => return None,
        })
    }
}

/// One token and where it starts (1-based line and column, in characters).
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// The token.
    pub kind: TokenKind,
    /// Line of the first character.
    pub line: usize,
    /// Column of the first character.
    pub col: usize,
}

/// Longest query accepted, as in Loki (128 KiB).
pub const MAX_QUERY_BYTES: usize = 128 * 1024;

struct Lexer {
    chars: Vec<char>,
    pos: usize,
    line: usize,
    col: usize,
}

/// Splits `input` into tokens, ending with [`TokenKind::Eof`].
pub fn lex(input: &str) -> Result<Vec<Token>, ParseError> {
    if input.len() > MAX_QUERY_BYTES {
        return Err(ParseError::plain(format!(
            "input size too long ({} > {})",
            input.len(),
            MAX_QUERY_BYTES
        )));
    }
    let mut lx = Lexer { chars: input.chars().collect(), pos: 0, line: 1, col: 1 };
    let mut out: Vec<Token> = Vec::new();
    loop {
        lx.skip_space_and_comments();
        let (line, col) = (lx.line, lx.col);
        let Some(c) = lx.peek(0) else {
            out.push(Token { kind: TokenKind::Eof, line, col });
            break;
        };
        let kind = lx.next_token(c, line, col)?;
        // Loki reports range tokens at line 0 (they are lexed separately there).
        let line = if matches!(kind, TokenKind::Range(_)) { 0 } else { line };
        out.push(Token { kind, line, col });
    }
    classify_functions(&mut out);
    Ok(out)
}

/// Turns identifiers that name functions into function tokens when followed by `(` (or, for
/// vector aggregations, by `by`/`without`).
fn classify_functions(tokens: &mut [Token]) {
    for i in 0..tokens.len() {
        let TokenKind::Identifier(name) = &tokens[i].kind else { continue };
        let Some(f) = Function::from_lower(&name.to_ascii_lowercase()) else { continue };
        let next = tokens.get(i + 1).map(|t| &t.kind);
        let is_call = matches!(next, Some(TokenKind::OpenParen))
            || (matches!(f, Function::Vector(_))
                && matches!(next, Some(TokenKind::Keyword(Keyword::By | Keyword::Without))));
        if is_call {
            tokens[i].kind = TokenKind::Function(f);
        }
    }
}

impl Lexer {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek(0)?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn skip_space_and_comments(&mut self) {
        while let Some(c) = self.peek(0) {
            if c.is_whitespace() {
                self.bump();
            } else if c == '#' {
                while let Some(c) = self.peek(0) {
                    if c == '\n' {
                        break;
                    }
                    self.bump();
                }
            } else {
                break;
            }
        }
    }

    fn next_token(&mut self, c: char, line: usize, col: usize) -> Result<TokenKind, ParseError> {
        let two = |a: char, b: char| c == a && self.peek(1) == Some(b);
        let kind = if two('|', '=') {
            self.advance(2, TokenKind::PipeExact)
        } else if two('|', '~') {
            self.advance(2, TokenKind::PipeMatch)
        } else if two('|', '>') {
            self.advance(2, TokenKind::PipePattern)
        } else if two('!', '=') {
            self.advance(2, TokenKind::Neq)
        } else if two('!', '~') {
            self.advance(2, TokenKind::Nre)
        } else if two('!', '>') {
            self.advance(2, TokenKind::Npa)
        } else if two('=', '~') {
            self.advance(2, TokenKind::Re)
        } else if two('=', '=') {
            self.advance(2, TokenKind::CmpEq)
        } else if two('>', '=') {
            self.advance(2, TokenKind::Gte)
        } else if two('<', '=') {
            self.advance(2, TokenKind::Lte)
        } else if two('-', '-') && self.peek(2).is_some_and(|c| c.is_ascii_alphabetic()) {
            self.bump();
            self.bump();
            let word = self.take_while(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            TokenKind::Flag(format!("--{word}"))
        } else {
            match c {
                '{' => self.advance(1, TokenKind::OpenBrace),
                '}' => self.advance(1, TokenKind::CloseBrace),
                '(' => self.advance(1, TokenKind::OpenParen),
                ')' => self.advance(1, TokenKind::CloseParen),
                ',' => self.advance(1, TokenKind::Comma),
                '.' if !self.peek(1).is_some_and(|c| c.is_ascii_digit()) => self.advance(1, TokenKind::Dot),
                '=' => self.advance(1, TokenKind::Eq),
                '|' => self.advance(1, TokenKind::Pipe),
                '>' => self.advance(1, TokenKind::Gt),
                '<' => self.advance(1, TokenKind::Lt),
                '+' => self.advance(1, TokenKind::Add),
                '-' => self.advance(1, TokenKind::Sub),
                '*' => self.advance(1, TokenKind::Mul),
                '/' => self.advance(1, TokenKind::Div),
                '%' => self.advance(1, TokenKind::Mod),
                '^' => self.advance(1, TokenKind::Pow),
                '"' => self.string(line, col)?,
                '`' => self.raw_string(line, col)?,
                '[' => self.range(line, col)?,
                c if c.is_ascii_digit() || c == '.' => self.number(),
                c if c.is_alphabetic() || c == '_' => {
                    let word = self.take_while(|c| c.is_alphanumeric() || c == '_');
                    match Keyword::from_lower(&word.to_ascii_lowercase()) {
                        Some(k) => TokenKind::Keyword(k),
                        None => TokenKind::Identifier(word),
                    }
                }
                other => {
                    return Err(ParseError::at(format!("syntax error: unexpected character '{other}'"), line, col));
                }
            }
        };
        Ok(kind)
    }

    fn advance(&mut self, n: usize, kind: TokenKind) -> TokenKind {
        for _ in 0..n {
            self.bump();
        }
        kind
    }

    fn take_while(&mut self, f: impl Fn(char) -> bool) -> String {
        let mut s = String::new();
        while let Some(c) = self.peek(0) {
            if !f(c) {
                break;
            }
            s.push(c);
            self.bump();
        }
        s
    }

    fn string(&mut self, line: usize, col: usize) -> Result<TokenKind, ParseError> {
        self.bump();
        let mut body = String::new();
        loop {
            match self.bump() {
                None | Some('\n') => return Err(ParseError::at("literal not terminated", line, col)),
                Some('"') => break,
                Some('\\') => {
                    body.push('\\');
                    match self.bump() {
                        Some(c) => body.push(c),
                        None => return Err(ParseError::at("literal not terminated", line, col)),
                    }
                }
                Some(c) => body.push(c),
            }
        }
        let value = store::labels::unescape_go(&body).map_err(|e| ParseError::at(e, line, col))?;
        Ok(TokenKind::String(value))
    }

    fn raw_string(&mut self, line: usize, col: usize) -> Result<TokenKind, ParseError> {
        self.bump();
        let mut body = String::new();
        loop {
            match self.bump() {
                None => return Err(ParseError::at("literal not terminated", line, col)),
                Some('`') => break,
                Some(c) => body.push(c),
            }
        }
        Ok(TokenKind::String(body))
    }

    fn range(&mut self, _line: usize, col: usize) -> Result<TokenKind, ParseError> {
        self.bump();
        let mut body = String::new();
        loop {
            match self.peek(0) {
                Some(']') => {
                    self.bump();
                    break;
                }
                Some(c) if c.is_alphanumeric() || c == '.' || c == ' ' => {
                    body.push(c);
                    self.bump();
                }
                _ => return Err(ParseError::at("missing closing ']' in duration", 0, col)),
            }
        }
        let d = parse_range_duration(body.trim()).map_err(|e| ParseError::at(e, 0, col))?;
        Ok(TokenKind::Range(d))
    }

    /// A number, a duration (`5m`, `1h30m`, `1.5s`) or a byte size (`20MB`).
    fn number(&mut self) -> TokenKind {
        let start = self.pos;
        let mut end = self.pos;
        let chars = &self.chars;
        let digits = |i: usize| {
            let mut j = i;
            while j < chars.len() && chars[j].is_ascii_digit() {
                j += 1;
            }
            j
        };
        end = digits(end);
        if end < chars.len() && chars[end] == '.' {
            end = digits(end + 1);
        }
        // Exponent: 1e3, 2.5E-2.
        if end < chars.len() && (chars[end] == 'e' || chars[end] == 'E') {
            let mut j = end + 1;
            if j < chars.len() && (chars[j] == '+' || chars[j] == '-') {
                j += 1;
            }
            let k = digits(j);
            if k > j && !(k < chars.len() && chars[k].is_alphabetic()) {
                end = k;
            }
        }
        // A unit run directly attached: try duration (possibly compound), then bytes.
        let mut unit_end = end;
        while unit_end < chars.len() && (chars[unit_end].is_alphanumeric() || chars[unit_end] == '.' || chars[unit_end] == 'µ') {
            unit_end += 1;
        }
        if unit_end > end {
            let text: String = chars[start..unit_end].iter().collect();
            if let Ok(d) = store::time::parse_duration(&text) {
                self.skip_to(unit_end);
                return TokenKind::Duration(d);
            }
            if let Some(b) = parse_bytes_literal(&text) {
                self.skip_to(unit_end);
                return TokenKind::Bytes(b);
            }
        }
        let text: String = chars[start..end].iter().collect();
        self.skip_to(end);
        TokenKind::Number(text)
    }

    fn skip_to(&mut self, pos: usize) {
        while self.pos < pos {
            self.bump();
        }
    }
}

/// Parses a byte-size literal with a unit (`20MB`, `1.5KiB`, `100B`); bare numbers are not
/// byte sizes.
fn parse_bytes_literal(text: &str) -> Option<u64> {
    let unit_start = text.find(|c: char| c.is_ascii_alphabetic())?;
    let unit = &text[unit_start..];
    let known = ["b", "kb", "mb", "gb", "tb", "pb", "kib", "mib", "gib", "tib", "pib"];
    if !known.contains(&unit.to_ascii_lowercase().as_str()) {
        return None;
    }
    store::time::parse_bytes(text).ok()
}

/// Parses the inside of a range `[...]`: a Prometheus duration, with Go's syntax as fallback.
fn parse_range_duration(s: &str) -> Result<Duration, String> {
    store::time::parse_duration(s).map_err(|_| format!("not a valid duration string: {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(q: &str) -> Vec<TokenKind> {
        lex(q).unwrap().into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn selector_and_filters() {
        let k = kinds(r#"{app="a", b!~`x\d`} |= "e\"rr" != "x" |~ "re" !~ "y" |> "<_> p""#);
        assert_eq!(k[0], TokenKind::OpenBrace);
        assert_eq!(k[1], TokenKind::Identifier("app".into()));
        assert_eq!(k[2], TokenKind::Eq);
        assert_eq!(k[3], TokenKind::String("a".into()));
        assert_eq!(k[6], TokenKind::Nre);
        assert_eq!(k[7], TokenKind::String(r"x\d".into()));
        assert_eq!(k[9], TokenKind::PipeExact);
        assert_eq!(k[10], TokenKind::String("e\"rr".into()));
        assert_eq!(k[11], TokenKind::Neq);
        assert_eq!(k[13], TokenKind::PipeMatch);
        assert_eq!(k[15], TokenKind::Nre);
        assert_eq!(k[17], TokenKind::PipePattern);
        assert_eq!(*k.last().unwrap(), TokenKind::Eof);
    }

    #[test]
    fn functions_need_a_paren() {
        use crate::logql::ast::{RangeOp, VectorOp};
        let k = kinds(r#"SUM BY (a) (RATE({a="b"}[5m])) rate"#);
        assert_eq!(k[0], TokenKind::Function(Function::Vector(VectorOp::Sum)));
        assert_eq!(k[1], TokenKind::Keyword(Keyword::By));
        assert_eq!(k[6], TokenKind::Function(Function::Range(RangeOp::Rate)));
        assert_eq!(k[13], TokenKind::Range(Duration::from_secs(300)));
        assert_eq!(k[16], TokenKind::Identifier("rate".into()));
    }

    #[test]
    fn numbers_durations_bytes() {
        let k = kinds("0.99 100ms 1h30m 20MB 1.5KiB 5 -3 1e3");
        assert_eq!(k[0], TokenKind::Number("0.99".into()));
        assert_eq!(k[1], TokenKind::Duration(Duration::from_millis(100)));
        assert_eq!(k[2], TokenKind::Duration(Duration::from_secs(5400)));
        assert_eq!(k[3], TokenKind::Bytes(20_000_000));
        assert_eq!(k[4], TokenKind::Bytes(1536));
        assert_eq!(k[5], TokenKind::Number("5".into()));
        assert_eq!(k[6], TokenKind::Sub);
        assert_eq!(k[8], TokenKind::Number("1e3".into()));
    }

    #[test]
    fn comments_and_positions() {
        let toks = lex("{a=\"b\"} # comment\n|= \"x\"").unwrap();
        let pipe = &toks[5];
        assert_eq!(pipe.kind, TokenKind::PipeExact);
        assert_eq!((pipe.line, pipe.col), (2, 1));
    }

    #[test]
    fn unterminated_string() {
        let e = lex(r#"{a="b}"#).unwrap_err();
        assert_eq!(e.to_string(), "parse error at line 1, col 4: literal not terminated");
    }

    #[test]
    fn flags() {
        let k = kinds("| logfmt --strict --keep-empty");
        assert_eq!(k[2], TokenKind::Flag("--strict".into()));
        assert_eq!(k[3], TokenKind::Flag("--keep-empty".into()));
    }
}
