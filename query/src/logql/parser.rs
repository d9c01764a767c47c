//! Recursive-descent LogQL parser producing the [`ast`](super::ast).
//!
//! The grammar follows Loki's: a query is a log query (selector plus pipeline) or a metric
//! query (aggregations, binary operations by precedence, literals). Error messages use Loki's
//! wording (`syntax error: unexpected X, expecting Y`) with the position of the offending
//! token; the `expecting` list is given where the set of valid tokens is small.

use store::matcher::{MatchOp, Matcher};

use super::ast::*;
use super::error::ParseError;
use super::lexer::{Function, Keyword, Token, TokenKind, lex};

/// The message Loki gives for selectors without a non-empty-compatible `=`/`=~` matcher.
pub const EMPTY_MATCHERS_MSG: &str = "queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will";

/// Parses a complete LogQL query and validates its selectors.
pub fn parse(input: &str) -> Result<Expr, ParseError> {
    let expr = parse_unvalidated(input)?;
    validate(&expr)?;
    Ok(expr)
}

/// Parses a query without the empty-matcher validation (the series API accepts `{}`).
pub fn parse_unvalidated(input: &str) -> Result<Expr, ParseError> {
    let tokens = lex(input)?;
    let mut p = Parser { toks: tokens, pos: 0 };
    let expr = p.expr()?;
    if !matches!(p.peek(), TokenKind::Eof) {
        return Err(p.unexpected(&[]));
    }
    Ok(expr)
}

/// Parses a bare stream selector (`match[]` of the series API): no pipeline allowed, `{}`
/// accepted.
pub fn parse_selector(input: &str) -> Result<Vec<Matcher>, ParseError> {
    match parse_unvalidated(input)? {
        Expr::Log(l) if l.pipeline.is_empty() => Ok(l.matchers),
        _ => Err(ParseError::plain("only label matchers are supported")),
    }
}

/// Checks every selector of `expr` has a matcher that selects something.
pub fn validate(expr: &Expr) -> Result<(), ParseError> {
    let mut selectors: Vec<&[Matcher]> = Vec::new();
    collect_selectors(expr, &mut selectors);
    for m in selectors {
        validate_matchers(m)?;
    }
    Ok(())
}

/// Fails unless one `=`/`=~` matcher rejects the empty value.
pub fn validate_matchers(matchers: &[Matcher]) -> Result<(), ParseError> {
    let ok = matchers
        .iter()
        .any(|m| matches!(m.op, MatchOp::Eq | MatchOp::Re) && !m.matches_empty());
    if ok { Ok(()) } else { Err(ParseError::plain(EMPTY_MATCHERS_MSG)) }
}

fn collect_selectors<'a>(expr: &'a Expr, out: &mut Vec<&'a [Matcher]>) {
    match expr {
        Expr::Log(l) => out.push(&l.matchers),
        Expr::Metric(m) => collect_metric_selectors(m, out),
    }
}

fn collect_metric_selectors<'a>(m: &'a MetricExpr, out: &mut Vec<&'a [Matcher]>) {
    match m {
        MetricExpr::RangeAggregation { range, .. } => out.push(&range.log.matchers),
        MetricExpr::VectorAggregation { expr, .. } | MetricExpr::LabelReplace { expr, .. } => {
            collect_metric_selectors(expr, out)
        }
        MetricExpr::BinOp { lhs, rhs, .. } => {
            collect_metric_selectors(lhs, out);
            collect_metric_selectors(rhs, out);
        }
        MetricExpr::Literal(_) | MetricExpr::Vector(_) => {}
    }
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
}

/// Go's `error parsing regexp: ...` message for a regex Rust's engine refuses.
pub(crate) fn regex_error(e: &regex::Error) -> String {
    // Rust's message spans several lines; keep its last line, which says what is wrong.
    let text = e.to_string();
    let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    let last = last.strip_prefix("error: ").unwrap_or(last);
    format!("error parsing regexp: {last}")
}

impl Parser {
    fn tok(&self) -> &Token {
        // `lex` always ends with Eof, and `next` never moves past it.
        &self.toks[self.pos.min(self.toks.len() - 1)]
    }

    fn peek(&self) -> &TokenKind {
        &self.tok().kind
    }

    fn peek_at(&self, n: usize) -> &TokenKind {
        &self.toks[(self.pos + n).min(self.toks.len() - 1)].kind
    }

    fn next(&mut self) -> Token {
        let t = self.tok().clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn unexpected(&self, expecting: &[&str]) -> ParseError {
        let t = self.tok();
        let mut msg = format!("syntax error: unexpected {}", t.kind.describe());
        if !expecting.is_empty() && expecting.len() <= 4 {
            msg.push_str(", expecting ");
            msg.push_str(&expecting.join(" or "));
        }
        ParseError::at(msg, t.line, t.col)
    }

    fn expect(&mut self, kind: TokenKind, expecting: &str) -> Result<Token, ParseError> {
        if std::mem::discriminant(self.peek()) == std::mem::discriminant(&kind) {
            Ok(self.next())
        } else {
            Err(self.unexpected(&[expecting]))
        }
    }

    fn string(&mut self) -> Result<String, ParseError> {
        match self.peek().clone() {
            TokenKind::String(s) => {
                self.next();
                Ok(s)
            }
            _ => Err(self.unexpected(&["STRING"])),
        }
    }

    fn number(&mut self) -> Result<f64, ParseError> {
        let t = self.tok().clone();
        match &t.kind {
            TokenKind::Number(n) => {
                self.next();
                n.parse::<f64>()
                    .map_err(|_| ParseError::at(format!("invalid number {n}"), t.line, t.col))
            }
            _ => Err(self.unexpected(&["NUMBER"])),
        }
    }

    /// A label name: an identifier, or a keyword used as a name.
    fn label_name(&mut self) -> Option<String> {
        let name = match self.peek() {
            TokenKind::Identifier(s) => s.clone(),
            TokenKind::Keyword(k) => k.as_str().to_string(),
            TokenKind::Function(f) => f.as_str().to_string(),
            _ => return None,
        };
        self.next();
        Some(name)
    }

    // ---- expressions -------------------------------------------------------------------

    fn expr(&mut self) -> Result<Expr, ParseError> {
        self.binary(1)
    }

    fn peek_binop(&self) -> Option<BinOp> {
        Some(match self.peek() {
            TokenKind::Keyword(Keyword::Or) => BinOp::Or,
            TokenKind::Keyword(Keyword::And) => BinOp::And,
            TokenKind::Keyword(Keyword::Unless) => BinOp::Unless,
            TokenKind::CmpEq => BinOp::Eq,
            TokenKind::Neq => BinOp::Neq,
            TokenKind::Gt => BinOp::Gt,
            TokenKind::Gte => BinOp::Gte,
            TokenKind::Lt => BinOp::Lt,
            TokenKind::Lte => BinOp::Lte,
            TokenKind::Add => BinOp::Add,
            TokenKind::Sub => BinOp::Sub,
            TokenKind::Mul => BinOp::Mul,
            TokenKind::Div => BinOp::Div,
            TokenKind::Mod => BinOp::Mod,
            TokenKind::Pow => BinOp::Pow,
            _ => return None,
        })
    }

    /// Precedence climbing over binary operators.
    fn binary(&mut self, min_prec: u8) -> Result<Expr, ParseError> {
        let mut lhs = self.operand()?;
        while let Some(op) = self.peek_binop() {
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            let op_tok = self.next();
            let modifier = self.bin_modifier(op)?;
            let next_min = if op == BinOp::Pow { prec } else { prec + 1 };
            let rhs = self.binary(next_min)?;
            lhs = Expr::Metric(combine(op, modifier, lhs, rhs, &op_tok)?);
        }
        Ok(lhs)
    }

    fn bin_modifier(&mut self, op: BinOp) -> Result<BinOpModifier, ParseError> {
        let mut m = BinOpModifier::default();
        if matches!(self.peek(), TokenKind::Keyword(Keyword::Bool)) {
            self.next();
            if !op.is_comparison() {
                return Err(ParseError::plain("bool modifier can only be used on comparison operators"));
            }
            m.return_bool = true;
        }
        if let TokenKind::Keyword(k @ (Keyword::On | Keyword::Ignoring)) = self.peek().clone() {
            self.next();
            m.on = k == Keyword::On;
            m.matching = Some(self.label_list()?);
            if let TokenKind::Keyword(g @ (Keyword::GroupLeft | Keyword::GroupRight)) = self.peek().clone() {
                self.next();
                let include = if matches!(self.peek(), TokenKind::OpenParen) { self.label_list()? } else { Vec::new() };
                m.group = Some(if g == Keyword::GroupLeft { GroupSide::Left(include) } else { GroupSide::Right(include) });
            }
        }
        Ok(m)
    }

    /// `( a, b, ... )`, possibly empty.
    fn label_list(&mut self) -> Result<Vec<String>, ParseError> {
        self.expect(TokenKind::OpenParen, "(")?;
        let mut out = Vec::new();
        if matches!(self.peek(), TokenKind::CloseParen) {
            self.next();
            return Ok(out);
        }
        loop {
            match self.label_name() {
                Some(n) => out.push(n),
                None => return Err(self.unexpected(&["IDENTIFIER"])),
            }
            match self.peek() {
                TokenKind::Comma => {
                    self.next();
                }
                TokenKind::CloseParen => {
                    self.next();
                    return Ok(out);
                }
                _ => return Err(self.unexpected(&[",", ")"])),
            }
        }
    }

    fn operand(&mut self) -> Result<Expr, ParseError> {
        match self.peek().clone() {
            TokenKind::OpenBrace => Ok(Expr::Log(self.log_expr()?)),
            TokenKind::OpenParen => {
                self.next();
                let inner = self.expr()?;
                self.expect(TokenKind::CloseParen, ")")?;
                Ok(inner)
            }
            TokenKind::Number(_) => Ok(Expr::Metric(MetricExpr::Literal(self.number()?))),
            TokenKind::Add | TokenKind::Sub if matches!(self.peek_at(1), TokenKind::Number(_)) => {
                let neg = matches!(self.next().kind, TokenKind::Sub);
                let v = self.number()?;
                Ok(Expr::Metric(MetricExpr::Literal(if neg { -v } else { v })))
            }
            TokenKind::Function(Function::Range(op)) => Ok(Expr::Metric(self.range_aggregation(op)?)),
            TokenKind::Function(Function::Vector(op)) => Ok(Expr::Metric(self.vector_aggregation(op)?)),
            TokenKind::Function(Function::VectorLiteral) => {
                self.next();
                self.expect(TokenKind::OpenParen, "(")?;
                let v = self.number()?;
                self.expect(TokenKind::CloseParen, ")")?;
                Ok(Expr::Metric(MetricExpr::Vector(v)))
            }
            TokenKind::Function(Function::LabelReplace) => Ok(Expr::Metric(self.label_replace()?)),
            _ => Err(self.unexpected(&[])),
        }
    }

    /// An operand that must be a metric expression. A log query here is reported at the
    /// token after it, as Loki's LALR parser does (`min({a="b"}[5m])`: unexpected RANGE).
    fn metric_operand(&mut self) -> Result<MetricExpr, ParseError> {
        match self.expr()? {
            Expr::Metric(m) => Ok(m),
            Expr::Log(_) => Err(self.unexpected(&[])),
        }
    }

    fn range_aggregation(&mut self, op: RangeOp) -> Result<MetricExpr, ParseError> {
        self.next();
        self.expect(TokenKind::OpenParen, "(")?;
        let mut param = None;
        if matches!(self.peek(), TokenKind::Number(_)) {
            param = Some(self.number()?);
            self.expect(TokenKind::Comma, ",")?;
        }
        let range = self.log_range()?;
        self.expect(TokenKind::CloseParen, ")")?;
        let grouping = if matches!(self.peek(), TokenKind::Keyword(Keyword::By | Keyword::Without)) {
            Some(self.grouping()?)
        } else {
            None
        };
        if grouping.is_some() && !op.allows_grouping() {
            return Err(ParseError::plain(format!("grouping not allowed for {} aggregation", op.as_str())));
        }
        match (op.needs_unwrap(), range.unwrap.is_some()) {
            (Some(true), false) => {
                return Err(ParseError::plain(format!("invalid aggregation {} without unwrap", op.as_str())));
            }
            (Some(false), true) => {
                return Err(ParseError::plain(format!("invalid aggregation {} with unwrap", op.as_str())));
            }
            _ => {}
        }
        match (op == RangeOp::QuantileOverTime, param.is_some()) {
            (true, false) => {
                return Err(ParseError::plain(format!("parameter required for operation {}", op.as_str())));
            }
            (false, true) => {
                return Err(ParseError::plain(format!("parameter not supported for operation {}", op.as_str())));
            }
            _ => {}
        }
        Ok(MetricExpr::RangeAggregation { op, param, range: Box::new(range), grouping })
    }

    /// The windowed log query inside a range aggregation. Accepts the range before or after
    /// the pipeline, an `offset` right after the range, an unwrap, and parentheses around
    /// the log part.
    fn log_range(&mut self) -> Result<LogRange, ParseError> {
        let mut open_parens = 0usize;
        while matches!(self.peek(), TokenKind::OpenParen) {
            self.next();
            open_parens += 1;
        }
        let matchers = self.selector()?;
        let mut log = LogExpr { matchers, pipeline: Vec::new() };
        let mut range = None;
        let mut offset = None;
        let mut unwrap: Option<Unwrap> = None;
        loop {
            match self.peek().clone() {
                TokenKind::Range(d) if range.is_none() => {
                    self.next();
                    range = Some(d);
                    if matches!(self.peek(), TokenKind::Keyword(Keyword::Offset)) {
                        self.next();
                        match self.peek().clone() {
                            TokenKind::Duration(o) => {
                                self.next();
                                offset = Some(o);
                            }
                            _ => return Err(self.unexpected(&["DURATION"])),
                        }
                    }
                }
                TokenKind::Pipe if matches!(self.peek_at(1), TokenKind::Keyword(Keyword::Unwrap)) => {
                    if unwrap.is_some() {
                        self.next();
                        return Err(self.unexpected(&[]));
                    }
                    self.next();
                    self.next();
                    unwrap = Some(self.unwrap()?);
                }
                TokenKind::Pipe if unwrap.is_some() => {
                    // After an unwrap only label filters may follow.
                    self.next();
                    let f = self.label_filter_or()?;
                    if let Some(u) = unwrap.as_mut() {
                        u.post_filters.push(f);
                    }
                }
                k if starts_stage(&k) && unwrap.is_none() => {
                    let stage = self.stage()?;
                    log.pipeline.push(stage);
                }
                TokenKind::CloseParen if open_parens > 0 => {
                    self.next();
                    open_parens -= 1;
                }
                _ => break,
            }
        }
        if open_parens > 0 {
            return Err(self.unexpected(&[")"]));
        }
        let Some(range) = range else {
            return Err(self.unexpected(&[]));
        };
        Ok(LogRange { log, range, offset, unwrap })
    }

    fn unwrap(&mut self) -> Result<Unwrap, ParseError> {
        if let TokenKind::Function(Function::Conversion(conv)) = self.peek().clone() {
            self.next();
            self.expect(TokenKind::OpenParen, "(")?;
            let Some(label) = self.label_name() else {
                return Err(self.unexpected(&["IDENTIFIER"]));
            };
            self.expect(TokenKind::CloseParen, ")")?;
            return Ok(Unwrap { label, conversion: Some(conv), post_filters: Vec::new() });
        }
        match self.label_name() {
            Some(label) => Ok(Unwrap { label, conversion: None, post_filters: Vec::new() }),
            None => Err(self.unexpected(&[])),
        }
    }

    fn grouping(&mut self) -> Result<Grouping, ParseError> {
        let without = matches!(self.next().kind, TokenKind::Keyword(Keyword::Without));
        let labels = self.label_list()?;
        Ok(Grouping { without, labels })
    }

    fn vector_aggregation(&mut self, op: VectorOp) -> Result<MetricExpr, ParseError> {
        self.next();
        let mut grouping = None;
        if matches!(self.peek(), TokenKind::Keyword(Keyword::By | Keyword::Without)) {
            grouping = Some(self.grouping()?);
        }
        self.expect(TokenKind::OpenParen, "(")?;
        let mut param = None;
        let mut param_text = String::new();
        if let (TokenKind::Number(n), TokenKind::Comma) = (self.peek().clone(), self.peek_at(1).clone()) {
            param_text = n;
            param = Some(self.number()?);
            self.next();
        }
        let expr = self.metric_operand()?;
        self.expect(TokenKind::CloseParen, ")")?;
        if grouping.is_none() && matches!(self.peek(), TokenKind::Keyword(Keyword::By | Keyword::Without)) {
            grouping = Some(self.grouping()?);
        }
        let name = op.as_str();
        if op.takes_param() {
            let Some(k) = param else {
                return Err(ParseError::plain(format!("parameter required for operation {name}")));
            };
            if k.fract() != 0.0 {
                return Err(ParseError::plain(format!("invalid parameter {name}({param_text},")));
            }
            if k <= 0.0 {
                return Err(ParseError::plain(format!("invalid parameter (must be greater than 0) {name}({param_text}")));
            }
            if op == VectorOp::ApproxTopk && grouping.is_some() {
                return Err(ParseError::plain(format!("grouping not allowed for {name} aggregation")));
            }
        } else if param.is_some() {
            return Err(ParseError::plain(format!("unsupported parameter for operation {name}({param_text},")));
        }
        Ok(MetricExpr::VectorAggregation { op, param, grouping, expr: Box::new(expr) })
    }

    fn label_replace(&mut self) -> Result<MetricExpr, ParseError> {
        self.next();
        self.expect(TokenKind::OpenParen, "(")?;
        let expr = self.metric_operand()?;
        let mut args = Vec::with_capacity(4);
        for _ in 0..4 {
            self.expect(TokenKind::Comma, ",")?;
            args.push(self.string()?);
        }
        self.expect(TokenKind::CloseParen, ")")?;
        let regex = args.pop().unwrap_or_default();
        let src = args.pop().unwrap_or_default();
        let replacement = args.pop().unwrap_or_default();
        let dst = args.pop().unwrap_or_default();
        if let Err(e) = regex::Regex::new(&format!("^(?s:{regex})$")) {
            return Err(ParseError::plain(format!("invalid regex in label_replace: {}", regex_error(&e))));
        }
        Ok(MetricExpr::LabelReplace { expr: Box::new(expr), dst, replacement, src, regex })
    }

    // ---- log queries -------------------------------------------------------------------

    fn log_expr(&mut self) -> Result<LogExpr, ParseError> {
        let matchers = self.selector()?;
        let mut pipeline = Vec::new();
        while starts_stage(self.peek()) {
            pipeline.push(self.stage()?);
        }
        Ok(LogExpr { matchers, pipeline })
    }

    fn selector(&mut self) -> Result<Vec<Matcher>, ParseError> {
        self.expect(TokenKind::OpenBrace, "{")?;
        let mut out = Vec::new();
        if matches!(self.peek(), TokenKind::CloseBrace) {
            self.next();
            return Ok(out);
        }
        loop {
            if !matches!(self.peek(), TokenKind::Identifier(_) | TokenKind::Keyword(_) | TokenKind::Function(_)) {
                return Err(self.unexpected(if out.is_empty() { &["IDENTIFIER", "}"] } else { &["IDENTIFIER"] }));
            }
            out.push(self.matcher()?);
            match self.peek() {
                TokenKind::Comma => {
                    self.next();
                }
                TokenKind::CloseBrace => {
                    self.next();
                    return Ok(out);
                }
                _ => return Err(self.unexpected(&["}", ","])),
            }
        }
    }

    /// `name op "value"`, the current token being the name.
    fn matcher(&mut self) -> Result<Matcher, ParseError> {
        let Some(name) = self.label_name() else {
            return Err(self.unexpected(&["IDENTIFIER"]));
        };
        let op = match self.peek() {
            TokenKind::Eq => MatchOp::Eq,
            TokenKind::Neq => MatchOp::Neq,
            TokenKind::Re => MatchOp::Re,
            TokenKind::Nre => MatchOp::Nre,
            _ => return Err(self.unexpected(&["=", "=~", "!~", "!="])),
        };
        self.next();
        let value = self.string()?;
        new_matcher(name, op, value)
    }

    /// One pipeline stage; the current token starts it (see [`starts_stage`]).
    fn stage(&mut self) -> Result<Stage, ParseError> {
        match self.peek().clone() {
            TokenKind::PipeExact => self.line_filter(LineFilterOp::Contains),
            TokenKind::Neq => self.line_filter(LineFilterOp::NotContains),
            TokenKind::PipeMatch => self.line_filter(LineFilterOp::Regex),
            TokenKind::Nre => self.line_filter(LineFilterOp::NotRegex),
            TokenKind::PipePattern => self.line_filter(LineFilterOp::Pattern),
            TokenKind::Npa => self.line_filter(LineFilterOp::NotPattern),
            TokenKind::Pipe => {
                self.next();
                self.pipe_stage()
            }
            _ => Err(self.unexpected(&[])),
        }
    }

    fn line_filter(&mut self, op: LineFilterOp) -> Result<Stage, ParseError> {
        self.next();
        let mut values = vec![self.filter_value(op)?];
        while matches!(self.peek(), TokenKind::Keyword(Keyword::Or))
            && (matches!(self.peek_at(1), TokenKind::String(_))
                || (matches!(self.peek_at(1), TokenKind::Keyword(Keyword::Ip))
                    && matches!(self.peek_at(2), TokenKind::OpenParen)))
        {
            self.next();
            values.push(self.filter_value(op)?);
        }
        Ok(Stage::LineFilter(LineFilter { op, values }))
    }

    fn filter_value(&mut self, op: LineFilterOp) -> Result<FilterValue, ParseError> {
        let t = self.tok().clone();
        match &t.kind {
            TokenKind::String(s) => {
                self.next();
                // Regex and pattern operands are checked when the pipeline is built, as in
                // Loki (`crate::pipeline::check`), not here.
                Ok(FilterValue::Literal(s.clone()))
            }
            TokenKind::Keyword(Keyword::Ip) if matches!(self.peek_at(1), TokenKind::OpenParen) => {
                self.next();
                self.next();
                let pattern = self.string()?;
                self.expect(TokenKind::CloseParen, ")")?;
                if !matches!(op, LineFilterOp::Contains | LineFilterOp::NotContains) {
                    return Err(ParseError::plain(format!("ip filter is not supported with {}", op.as_str())));
                }
                crate::plan::ip::IpPattern::parse(&pattern).map_err(ParseError::plain)?;
                Ok(FilterValue::Ip(pattern))
            }
            _ => Err(self.unexpected(&["STRING", "ip"])),
        }
    }

    /// The stage after a `|`.
    fn pipe_stage(&mut self) -> Result<Stage, ParseError> {
        match self.peek().clone() {
            TokenKind::Keyword(Keyword::Json) => {
                self.next();
                Ok(Stage::Parser(ParserStage::Json(self.extractions()?)))
            }
            TokenKind::Keyword(Keyword::Xml) => {
                self.next();
                Ok(Stage::Parser(ParserStage::Xml(self.extractions()?)))
            }
            TokenKind::Keyword(Keyword::Logfmt) => {
                self.next();
                let mut flags = Vec::new();
                while let TokenKind::Flag(f) = self.peek().clone() {
                    self.next();
                    flags.push(f);
                }
                let params = self.extractions()?;
                Ok(Stage::Parser(ParserStage::Logfmt { flags, params }))
            }
            TokenKind::Keyword(Keyword::Regexp) => {
                self.next();
                let re = self.string()?;
                Ok(Stage::Parser(ParserStage::Regexp(re)))
            }
            TokenKind::Keyword(Keyword::Pattern) => {
                self.next();
                let p = self.string()?;
                Ok(Stage::Parser(ParserStage::Pattern(p)))
            }
            TokenKind::Keyword(Keyword::Unpack) => {
                self.next();
                Ok(Stage::Parser(ParserStage::Unpack))
            }
            TokenKind::Keyword(Keyword::LineFormat) => {
                self.next();
                Ok(Stage::LineFormat(self.string()?))
            }
            TokenKind::Keyword(Keyword::Decolorize) => {
                self.next();
                Ok(Stage::Decolorize)
            }
            TokenKind::Keyword(Keyword::LabelFormat) => {
                self.next();
                let mut out = Vec::new();
                loop {
                    let Some(dst) = self.label_name() else {
                        return Err(self.unexpected(&["IDENTIFIER"]));
                    };
                    self.expect(TokenKind::Eq, "=")?;
                    match self.peek().clone() {
                        TokenKind::String(template) => {
                            self.next();
                            out.push(LabelFormat::Template { dst, template });
                        }
                        TokenKind::Identifier(src) => {
                            self.next();
                            out.push(LabelFormat::Rename { dst, src });
                        }
                        _ => return Err(self.unexpected(&["IDENTIFIER", "STRING"])),
                    }
                    if !matches!(self.peek(), TokenKind::Comma) {
                        break;
                    }
                    self.next();
                }
                Ok(Stage::LabelFormat(out))
            }
            TokenKind::Keyword(k @ (Keyword::Drop | Keyword::Keep)) => {
                self.next();
                let mut out = Vec::new();
                loop {
                    let is_matcher = matches!(self.peek_at(1), TokenKind::Eq | TokenKind::Neq | TokenKind::Re | TokenKind::Nre);
                    if is_matcher {
                        out.push(NamedMatcher::Matcher(self.matcher()?));
                    } else {
                        match self.label_name() {
                            Some(n) => out.push(NamedMatcher::Name(n)),
                            None => return Err(self.unexpected(&["IDENTIFIER"])),
                        }
                    }
                    if !matches!(self.peek(), TokenKind::Comma) {
                        break;
                    }
                    self.next();
                }
                Ok(if k == Keyword::Drop { Stage::Drop(out) } else { Stage::Keep(out) })
            }
            TokenKind::Keyword(Keyword::Unwrap) => Err(self.unexpected(&[])),
            _ => Ok(Stage::LabelFilter(self.label_filter_or()?)),
        }
    }

    /// Optional `name="expr"` / `name` list of parameterised parsers.
    fn extractions(&mut self) -> Result<Vec<LabelExtraction>, ParseError> {
        let mut out = Vec::new();
        if !matches!(self.peek(), TokenKind::Identifier(_)) {
            return Ok(out);
        }
        loop {
            let Some(name) = self.label_name() else {
                return Err(self.unexpected(&["IDENTIFIER"]));
            };
            let expression = if matches!(self.peek(), TokenKind::Eq) {
                self.next();
                self.string()?
            } else {
                name.clone()
            };
            out.push(LabelExtraction { name, expression });
            if !matches!(self.peek(), TokenKind::Comma) {
                return Ok(out);
            }
            self.next();
        }
    }

    /// A label filter expression, grouped as Loki's LALR grammar groups it: `or` binds
    /// loosest and `and` tighter, both left-associative; `,` and juxtaposition (both "and")
    /// have no precedence, so the parser always shifts over them and they take everything
    /// to their right: `a, b or c` is `a and (b or c)`, `a or b, c` is `a or (b and c)`.
    fn label_filter_or(&mut self) -> Result<LabelFilter, ParseError> {
        self.label_filter_expr(None)
    }

    /// Parses operands while the next operator may bind inside a rule of precedence
    /// `enclosing` (`None`: no enclosing rule, or one without precedence).
    fn label_filter_expr(&mut self, enclosing: Option<u8>) -> Result<LabelFilter, ParseError> {
        let mut lhs = self.label_filter_primary()?;
        loop {
            let (prec, is_or, consume) = match self.peek() {
                TokenKind::Keyword(Keyword::Or) => (Some(1), true, true),
                TokenKind::Keyword(Keyword::And) => (Some(2), false, true),
                TokenKind::Comma => (None, false, true),
                TokenKind::Identifier(_) | TokenKind::OpenParen => (None, false, false),
                _ => break,
            };
            let shift = match (enclosing, prec) {
                (Some(rule), Some(op)) => op > rule,
                _ => true,
            };
            if !shift {
                break;
            }
            if consume {
                self.next();
            }
            let rhs = self.label_filter_expr(prec)?;
            lhs = if is_or { LabelFilter::Or(Box::new(lhs), Box::new(rhs)) } else { LabelFilter::And(Box::new(lhs), Box::new(rhs)) };
        }
        Ok(lhs)
    }

    fn label_filter_primary(&mut self) -> Result<LabelFilter, ParseError> {
        if matches!(self.peek(), TokenKind::OpenParen) {
            self.next();
            let inner = self.label_filter_or()?;
            self.expect(TokenKind::CloseParen, ")")?;
            return Ok(inner);
        }
        let Some(name) = self.label_name() else {
            return Err(self.unexpected(&[]));
        };
        let op_kind = self.peek().clone();
        let cmp = match op_kind {
            TokenKind::Eq | TokenKind::CmpEq => CmpOp::Eq,
            TokenKind::Neq => CmpOp::Neq,
            TokenKind::Gt => CmpOp::Gt,
            TokenKind::Gte => CmpOp::Gte,
            TokenKind::Lt => CmpOp::Lt,
            TokenKind::Lte => CmpOp::Lte,
            TokenKind::Re | TokenKind::Nre => {
                self.next();
                let value = self.string()?;
                let op = if op_kind == TokenKind::Re { MatchOp::Re } else { MatchOp::Nre };
                return Ok(LabelFilter::Matcher(new_matcher(name, op, value)?));
            }
            _ => return Err(self.unexpected(&[])),
        };
        self.next();
        match self.peek().clone() {
            TokenKind::String(value) if matches!(op_kind, TokenKind::Eq | TokenKind::Neq) => {
                self.next();
                let op = if op_kind == TokenKind::Eq { MatchOp::Eq } else { MatchOp::Neq };
                Ok(LabelFilter::Matcher(new_matcher(name, op, value)?))
            }
            TokenKind::Keyword(Keyword::Ip)
                if matches!(op_kind, TokenKind::Eq | TokenKind::Neq)
                    && matches!(self.peek_at(1), TokenKind::OpenParen) =>
            {
                self.next();
                self.next();
                let pattern = self.string()?;
                self.expect(TokenKind::CloseParen, ")")?;
                crate::plan::ip::IpPattern::parse(&pattern).map_err(ParseError::plain)?;
                Ok(LabelFilter::Ip { name, negated: op_kind == TokenKind::Neq, pattern })
            }
            TokenKind::Duration(value) => {
                self.next();
                Ok(LabelFilter::Duration { name, op: cmp, value })
            }
            TokenKind::Bytes(value) => {
                self.next();
                Ok(LabelFilter::Bytes { name, op: cmp, value })
            }
            TokenKind::Number(_) => Ok(LabelFilter::Number { name, op: cmp, value: self.number()? }),
            TokenKind::Add | TokenKind::Sub if matches!(self.peek_at(1), TokenKind::Number(_)) => {
                let neg = matches!(self.next().kind, TokenKind::Sub);
                let v = self.number()?;
                Ok(LabelFilter::Number { name, op: cmp, value: if neg { -v } else { v } })
            }
            _ => Err(self.unexpected(&[])),
        }
    }
}

/// True when `k` can start a pipeline stage.
fn starts_stage(k: &TokenKind) -> bool {
    matches!(
        k,
        TokenKind::PipeExact
            | TokenKind::Neq
            | TokenKind::PipeMatch
            | TokenKind::Nre
            | TokenKind::PipePattern
            | TokenKind::Npa
            | TokenKind::Pipe
    )
}

fn new_matcher(name: String, op: MatchOp, value: String) -> Result<Matcher, ParseError> {
    Matcher::new(name, op, value).map_err(|e| match e {
        store::StoreError::Regex { source, .. } => ParseError::plain(regex_error(&source)),
        other => ParseError::plain(other.to_string()),
    })
}

fn combine(op: BinOp, modifier: BinOpModifier, lhs: Expr, rhs: Expr, at: &Token) -> Result<MetricExpr, ParseError> {
    let name = at.kind.describe();
    let lhs = match lhs {
        Expr::Metric(m) => m,
        Expr::Log(_) => {
            return Err(ParseError::plain(format!("unexpected type for left leg of binary operation ({name}): log query")));
        }
    };
    let rhs = match rhs {
        Expr::Metric(m) => m,
        Expr::Log(_) => {
            return Err(ParseError::plain(format!("unexpected type for right leg of binary operation ({name}): log query")));
        }
    };
    if op.is_set() {
        for (leg, side) in [("left", &lhs), ("right", &rhs)] {
            if let MetricExpr::Literal(v) = side {
                return Err(ParseError::plain(format!(
                    "unexpected literal for {leg} leg of logical/set binary operation ({name}): {v:.6}"
                )));
            }
        }
    }
    Ok(MetricExpr::BinOp { op, modifier, lhs: Box::new(lhs), rhs: Box::new(rhs) })
}

/// Duration helper used by tests.
#[cfg(test)]
fn mins(m: u64) -> std::time::Duration {
    std::time::Duration::from_secs(m * 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(q: &str) -> LogExpr {
        match parse(q).unwrap() {
            Expr::Log(l) => l,
            other => panic!("not a log query: {other:?}"),
        }
    }

    fn err(q: &str) -> String {
        parse(q).unwrap_err().to_string()
    }

    #[test]
    fn selectors() {
        let l = log(r#"{app="a", b!="x", c=~"re.+", d!~"z"}"#);
        assert_eq!(l.matchers.len(), 4);
        assert_eq!(l.matchers[2].op, MatchOp::Re);
        assert!(l.pipeline.is_empty());
        let p = log(r#"({app="a"})"#);
        assert_eq!(p.matchers[0].value, "a");
        let k = log(r#"{job="x"}"#);
        assert_eq!(k.matchers[0].name, "job");
    }

    #[test]
    fn line_filters_and_or() {
        let l = log("{a=\"b\"} |= \"x\" or `y` != \"n1\" or \"n2\" |~ \"(?i)err\" !~ \"a|b\" # tail comment");
        let f: Vec<&LineFilter> = l.line_filters().collect();
        assert_eq!(f.len(), 4);
        assert_eq!(f[0].op, LineFilterOp::Contains);
        assert_eq!(f[0].values, vec![FilterValue::Literal("x".into()), FilterValue::Literal("y".into())]);
        assert_eq!(f[1].op, LineFilterOp::NotContains);
        assert_eq!(f[1].values.len(), 2);
        assert_eq!(f[2].op, LineFilterOp::Regex);
        assert_eq!(f[3].op, LineFilterOp::NotRegex);
        assert!(l.only_line_filters());
    }

    #[test]
    fn ip_and_pattern_filters() {
        let l = log(r#"{a="b"} |= ip("192.168.1.0/24") |> "<_> 500 <_>""#);
        let f: Vec<&LineFilter> = l.line_filters().collect();
        assert_eq!(f[0].values, vec![FilterValue::Ip("192.168.1.0/24".into())]);
        assert_eq!(f[1].op, LineFilterOp::Pattern);
    }

    #[test]
    fn keywords_case_insensitive() {
        let e = parse(r#"SUM BY (app) (COUNT_OVER_TIME({a="b"} |= "x" [5m]))"#).unwrap();
        let Expr::Metric(MetricExpr::VectorAggregation { op, grouping, expr, .. }) = e else { panic!() };
        assert_eq!(op, VectorOp::Sum);
        assert_eq!(grouping, Some(Grouping { without: false, labels: vec!["app".into()] }));
        let MetricExpr::RangeAggregation { op, range, .. } = *expr else { panic!() };
        assert_eq!(op, RangeOp::CountOverTime);
        assert_eq!(range.range, mins(5));
        assert_eq!(range.log.pipeline.len(), 1);
    }

    #[test]
    fn pipelines_parse() {
        let l = log(r#"{a="b"} | logfmt --strict | level="error" and status>=500 or x=~"y" | line_format "{{.a}}" | label_format lvl=level, t="{{.x}}" | drop a, b="c" | keep d | json u="user.name", st | decolorize | d > 100ms | s > 500KB | addr = ip("10.0.0.1")"#);
        assert_eq!(l.pipeline.len(), 11);
        assert!(!l.only_line_filters());
        match &l.pipeline[1] {
            Stage::LabelFilter(LabelFilter::Or(a, _)) => assert!(matches!(**a, LabelFilter::And(_, _))),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn metric_queries_parse() {
        for q in [
            r#"rate({a="b"}[1m])"#,
            r#"sum(rate({format="logfmt"} |= "error" [5m]))"#,
            r#"topk(2, sum by (system) (count_over_time({source="loghub"} |= "error" [30m])))"#,
            r#"avg_over_time({f="l"} | logfmt | unwrap latency_ms [10m]) by (app)"#,
            r#"quantile_over_time(0.99, {f="j"} | json | unwrap latency_ms [10m]) by (cluster)"#,
            r#"max_over_time({f="l"} | logfmt | unwrap duration(duration) | __error__="" [10m]) by (pod)"#,
            r#"count_over_time({system="HDFS"}[5m] offset 10m)"#,
            r#"sum(count_over_time({f="j"} | json | status>=500 [10m])) / sum(count_over_time({f="j"}[10m]))"#,
            r#"sum by (app) (rate({f="l"}[5m])) > bool 0.4"#,
            r#"a_total or b"#.replace("a_total or b", r#"sum by (s) (count_over_time({a="b"}[10m])) and on (s) sum by (s) (count_over_time({a="b"}[10m]))"#).as_str(),
            r#"label_replace(sum by (system) (count_over_time({a="b"}[10m])), "sys", "$1", "system", "(H.*)")"#,
            r#"vector(1) + sum(count_over_time({a="b"}[10m]))"#,
            "2 * 3 + 1",
            r#"sort_desc(sum by (system) (count_over_time({a="b"}[1h])))"#,
            r#"sum without (pod) (count_over_time({a="b"}[10m]))"#,
            r#"count_over_time(({a="b"})[5m])"#,
        ] {
            assert!(matches!(parse(q), Ok(Expr::Metric(_))), "{q}: {:?}", parse(q));
        }
    }

    #[test]
    fn precedence() {
        let Expr::Metric(MetricExpr::BinOp { op, rhs, .. }) = parse("1 + 2 * 3").unwrap() else { panic!() };
        assert_eq!(op, BinOp::Add);
        assert!(matches!(*rhs, MetricExpr::BinOp { op: BinOp::Mul, .. }));
        let Expr::Metric(MetricExpr::BinOp { op, lhs, .. }) = parse("2 ^ 3 ^ 2").unwrap() else { panic!() };
        assert_eq!(op, BinOp::Pow);
        assert!(matches!(*lhs, MetricExpr::Literal(_)));
    }

    #[test]
    fn loki_error_messages() {
        assert_eq!(err("{}"), format!("parse error : {EMPTY_MATCHERS_MSG}"));
        assert_eq!(err(r#"{a=~".*"}"#), format!("parse error : {EMPTY_MATCHERS_MSG}"));
        assert_eq!(err(r#"{a!="x"}"#), format!("parse error : {EMPTY_MATCHERS_MSG}"));
        assert_eq!(err(r#"unk({ foo = "bar" }[5m])"#), "parse error at line 1, col 1: syntax error: unexpected IDENTIFIER");
        assert_eq!(
            err(r#"label_replace(rate({ foo = "bar" }[5m]),"")"#),
            "parse error at line 1, col 43: syntax error: unexpected ), expecting ,"
        );
        assert_eq!(err(r#"{ foo = "bar" }|logfmt|addr>=ip("1.2.3.4")"#), "parse error at line 1, col 30: syntax error: unexpected ip");
        assert_eq!(err(r#"min({ foo = "bar" }[5m])"#), "parse error at line 0, col 20: syntax error: unexpected RANGE");
        assert_eq!(err(r#"{foo}"#), "parse error at line 1, col 5: syntax error: unexpected }, expecting = or =~ or !~ or !=");
        assert_eq!(err(r#"{foo="bar""#), "parse error at line 1, col 11: syntax error: unexpected $end, expecting } or ,");
        assert_eq!(err(r#"{foo="bar"} |= 5"#), "parse error at line 1, col 16: syntax error: unexpected NUMBER, expecting STRING or ip");
        assert_eq!(err(r#"absent_over_time({ foo = "bar" }[5h]) by (foo)"#), "parse error : grouping not allowed for absent_over_time aggregation");
        assert_eq!(err(r#"rate({ foo = "bar" }[5)"#), "parse error at line 0, col 21: missing closing ']' in duration");
        // Line-filter regexes and patterns are checked when the pipeline is built (a stage
        // error, see `pipeline::check`), so the query itself parses.
        assert!(parse(r#"{a="b"} |~ "(abc" |> "<a>""#).is_ok());
        assert!(err(r#"{a=~"(abc"}"#).starts_with("parse error : error parsing regexp: "));
        assert_eq!(err(r#"sum_over_time({a="b"}[5m])"#), "parse error : invalid aggregation sum_over_time without unwrap");
        assert_eq!(err(r#"topk(sum(rate({a="b"}[5m])))"#), "parse error : parameter required for operation topk");
        assert_eq!(err(r#"{a="b"} extra"#), "parse error at line 1, col 9: syntax error: unexpected IDENTIFIER");
    }

    #[test]
    fn selector_only() {
        assert!(parse_selector("{}").unwrap().is_empty());
        assert_eq!(parse_selector(r#"{a="b"}"#).unwrap().len(), 1);
        assert!(parse_selector(r#"{a="b"} |= "x""#).is_err());
        assert!(parse_selector("{a=").is_err());
    }

    #[test]
    fn label_filter_grouping_follows_loki() {
        fn shape(f: &LabelFilter) -> String {
            match f {
                LabelFilter::And(a, b) => format!("({} and {})", shape(a), shape(b)),
                LabelFilter::Or(a, b) => format!("({} or {})", shape(a), shape(b)),
                LabelFilter::Matcher(m) => m.name.clone(),
                _ => "?".into(),
            }
        }
        let grouped = |q: &str| {
            let Ok(Expr::Log(l)) = parse(&format!("{{x=\"y\"}} | {q}")) else { panic!("{q}") };
            let Some(Stage::LabelFilter(f)) = l.pipeline.first() else { panic!("{q}") };
            shape(f)
        };
        assert_eq!(grouped(r#"a="1", b="2" or c="3""#), "(a and (b or c))");
        assert_eq!(grouped(r#"a="1" or b="2", c="3""#), "(a or (b and c))");
        assert_eq!(grouped(r#"a="1" b="2" or c="3""#), "(a and (b or c))");
        assert_eq!(grouped(r#"a="1" and b="2" or c="3""#), "((a and b) or c)");
        assert_eq!(grouped(r#"a="1" or b="2" and c="3" or d="4""#), "((a or (b and c)) or d)");
        assert_eq!(grouped(r#"a="1" and b="2" and c="3""#), "((a and b) and c)");
        assert_eq!(grouped(r#"a="1", b="2", c="3""#), "(a and (b and c))");
        assert_eq!(grouped(r#"(a="1", b="2") or c="3""#), "((a and b) or c)");
    }
}
