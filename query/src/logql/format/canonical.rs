//! The one-line form of each AST node, as Loki's `String()` methods print it.
//!
//! The pretty printer reuses these for every part it keeps on one line.

use std::time::Duration;

use store::matcher::{MatchOp, Matcher};

use super::goregex::label_regex_simplifies;
use super::numbers::{
    format_go_duration, format_prometheus_duration, go_float_f, go_float_fixed6, go_float_v, humanize_bytes,
};
use super::quote::go_quote;
use crate::logql::ast::{
    BinOp, BinOpModifier, CmpOp, FilterValue, GroupSide, Grouping, LabelExtraction, LabelFilter, LabelFormat, LineFilter,
    LineFilterOp, LogExpr, LogRange, MetricExpr, NamedMatcher, ParserStage, RangeOp, Stage, Unwrap, VectorOp,
};

// ---- log queries ---------------------------------------------------------------------------

/// `{a="b", c=~"d"}`.
pub(super) fn selector_string(matchers: &[Matcher]) -> String {
    let parts: Vec<String> = matchers.iter().map(matcher_string).collect();
    format!("{{{}}}", parts.join(", "))
}

/// `name="value"` with the value quoted like Go's `strconv.Quote`.
fn matcher_string(m: &Matcher) -> String {
    format!("{}{}{}", m.name, m.op.as_str(), go_quote(&m.value))
}

/// The selector followed by each stage, separated by spaces.
pub(super) fn log_string(log: &LogExpr) -> String {
    let mut s = selector_string(&log.matchers);
    for stage in &log.pipeline {
        s.push(' ');
        s.push_str(&stage_string(stage));
    }
    s
}

/// One pipeline stage; a line filter prints as its whole chain of links.
pub(super) fn stage_string(stage: &Stage) -> String {
    match stage {
        Stage::LineFilter(f) => line_filter_string(f),
        Stage::Parser(p) => parser_string(p),
        Stage::LabelFilter(f) => format!("| {}", label_filter_string(f)),
        Stage::LineFormat(template) => format!("| line_format {}", go_quote(template)),
        Stage::LabelFormat(formats) => {
            let parts: Vec<String> = formats.iter().map(label_format_string).collect();
            format!("| label_format {}", parts.join(","))
        }
        Stage::Decolorize => "| decolorize".to_string(),
        Stage::Drop(names) => format!("| drop {}", named_matchers_string(names)),
        Stage::Keep(names) => format!("| keep {}", named_matchers_string(names)),
    }
}

/// One link of Loki's line-filter chain: an operator with its `or` operands. Positive
/// filters keep their alternatives in one link; negative ones get a link per operand.
#[derive(Debug, Clone, Copy)]
pub(super) struct FilterLink<'a> {
    op: LineFilterOp,
    values: &'a [FilterValue],
}

/// The links Loki makes of one line filter.
pub(super) fn filter_links(f: &LineFilter) -> Vec<FilterLink<'_>> {
    if f.op.is_negative() {
        f.values.chunks(1).map(|values| FilterLink { op: f.op, values }).collect()
    } else {
        vec![FilterLink { op: f.op, values: &f.values }]
    }
}

/// `|= "a" or ip("b")`.
pub(super) fn link_string(link: &FilterLink<'_>) -> String {
    let operands: Vec<String> = link.values.iter().map(filter_value_string).collect();
    format!("{} {}", link.op.as_str(), operands.join(" or "))
}

/// `"a"` or `ip("a")`.
fn filter_value_string(v: &FilterValue) -> String {
    match v {
        FilterValue::Literal(s) => go_quote(s),
        FilterValue::Ip(s) => format!("ip({})", go_quote(s)),
    }
}

/// The links of a chain separated by spaces.
pub(super) fn chain_string(links: &[FilterLink<'_>]) -> String {
    let parts: Vec<String> = links.iter().map(link_string).collect();
    parts.join(" ")
}

/// A line filter as Loki prints it (a negative `or` filter as several filters).
fn line_filter_string(f: &LineFilter) -> String {
    chain_string(&filter_links(f))
}

/// `| json ...`, `| logfmt ...`, `| regexp "..."`, `| pattern "..."` or `| unpack`.
fn parser_string(p: &ParserStage) -> String {
    match p {
        ParserStage::Json(params) => extraction_parser_string("json", params),
        ParserStage::Xml(params) => extraction_parser_string("xml", params),
        ParserStage::Logfmt { flags, params } => logfmt_string(flags, params),
        ParserStage::Regexp(re) => format!("| regexp {}", go_quote(re)),
        ParserStage::Pattern(pattern) => format!("| pattern {}", go_quote(pattern)),
        ParserStage::Unpack => "| unpack".to_string(),
    }
}

/// `| json` or `| json a="x",b="y"` (no space after the commas, as in Loki).
fn extraction_parser_string(name: &str, params: &[LabelExtraction]) -> String {
    if params.is_empty() { format!("| {name}") } else { format!("| {name} {}", extractions_string(params)) }
}

/// `a="x",b="y"`.
fn extractions_string(params: &[LabelExtraction]) -> String {
    let parts: Vec<String> = params.iter().map(|p| format!("{}={}", p.name, go_quote(&p.expression))).collect();
    parts.join(",")
}

/// `| logfmt --strict --keep-empty [a="b",...]`: flags in that fixed order, once each.
fn logfmt_string(flags: &[String], params: &[LabelExtraction]) -> String {
    let strict = flags.iter().any(|f| f == "--strict");
    let keep_empty = flags.iter().any(|f| f == "--keep-empty");
    let mut s = String::from("| logfmt");
    if strict {
        s.push_str(" --strict");
    }
    if keep_empty {
        s.push_str(" --keep-empty");
    }
    if !params.is_empty() {
        s.push(' ');
        s.push_str(&extractions_string(params));
    }
    s
}

/// `dst=src` or `dst="template"`.
fn label_format_string(f: &LabelFormat) -> String {
    match f {
        LabelFormat::Rename { dst, src } => format!("{dst}={src}"),
        LabelFormat::Template { dst, template } => format!("{dst}={}", go_quote(template)),
    }
}

/// The comma-separated names and matchers of `drop` and `keep`.
fn named_matchers_string(names: &[NamedMatcher]) -> String {
    let parts: Vec<String> = names
        .iter()
        .map(|n| match n {
            NamedMatcher::Name(name) => name.clone(),
            NamedMatcher::Matcher(m) => matcher_string(m),
        })
        .collect();
    parts.join(",")
}

/// A label filter; `and`/`or` pairs print as `( a , b )` and `( a or b )`.
pub(super) fn label_filter_string(f: &LabelFilter) -> String {
    match f {
        LabelFilter::Matcher(m) => string_label_filter(m),
        LabelFilter::Ip { name, negated, pattern } => {
            format!("{name}{}ip({})", if *negated { "!=" } else { "=" }, go_quote(pattern))
        }
        LabelFilter::Number { name, op, value } => format!("{name}{}{}", cmp_str(*op), go_float_f(*value)),
        LabelFilter::Duration { name, op, value } => format!("{name}{}{}", cmp_str(*op), format_go_duration(*value)),
        LabelFilter::Bytes { name, op, value } => format!("{name}{}{}", cmp_str(*op), humanize_bytes(*value)),
        LabelFilter::And(a, b) => format!("( {} , {} )", label_filter_string(a), label_filter_string(b)),
        LabelFilter::Or(a, b) => format!("( {} or {} )", label_filter_string(a), label_filter_string(b)),
    }
}

/// A string label filter. Loki prints a `=~` whose regex stays a real regex (it could not
/// reduce it to literal matching) with the original regex between backticks, or quoted
/// when it contains a backtick; every other string filter prints like a matcher.
fn string_label_filter(m: &Matcher) -> String {
    if m.op == MatchOp::Re && !label_regex_simplifies(&m.value) {
        let body = if m.value.contains('`') { go_quote(&m.value) } else { format!("`{}`", m.value) };
        return format!("{}=~{body}", m.name);
    }
    matcher_string(m)
}

/// Comparison operators of numeric, duration and byte filters (`=` prints as `==`).
fn cmp_str(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "==",
        CmpOp::Neq => "!=",
        CmpOp::Gt => ">",
        CmpOp::Gte => ">=",
        CmpOp::Lt => "<",
        CmpOp::Lte => "<=",
    }
}

// ---- metric queries ------------------------------------------------------------------------

/// A metric query with literal operations already folded.
pub(super) fn metric_string(m: &MetricExpr) -> String {
    match m {
        MetricExpr::RangeAggregation { op, param, range, grouping } => {
            range_aggregation_string(*op, *param, range, grouping.as_ref())
        }
        MetricExpr::VectorAggregation { op, param, grouping, expr } => {
            vector_aggregation_string(*op, *param, grouping.as_ref(), expr)
        }
        MetricExpr::BinOp { op, modifier, lhs, rhs } => {
            format!("({} {} {})", metric_string(lhs), binop_string(*op, modifier), metric_string(rhs))
        }
        MetricExpr::Literal(v) => go_float_v(*v),
        MetricExpr::Vector(v) => format!("vector({})", go_float_fixed6(*v)),
        MetricExpr::LabelReplace { expr, dst, replacement, src, regex } => format!(
            "label_replace({},{},{},{},{})",
            metric_string(expr),
            go_quote(dst),
            go_quote(replacement),
            go_quote(src),
            go_quote(regex)
        ),
    }
}

/// `quantile_over_time(0.9,{...} | json[5m]) by (a)`.
fn range_aggregation_string(op: RangeOp, param: Option<f64>, range: &LogRange, grouping: Option<&Grouping>) -> String {
    let mut s = format!("{}(", op.as_str());
    if let Some(p) = param {
        s.push_str(&go_float_f(p));
        s.push(',');
    }
    s.push_str(&log_range_string(range));
    s.push(')');
    if let Some(g) = grouping {
        s.push_str(&grouping_string(g));
    }
    s
}

/// `sum by (a,b)(...)`, `topk(3,...)`; `by ()` and no grouping both print nothing.
fn vector_aggregation_string(
    op: VectorOp,
    param: Option<f64>,
    grouping: Option<&Grouping>,
    expr: &MetricExpr,
) -> String {
    let mut s = op.as_str().to_string();
    if let Some(g) = grouping.filter(|g| g.without || !g.labels.is_empty()) {
        s.push_str(&grouping_string(g));
    }
    s.push('(');
    if let Some(k) = vector_param(op, param) {
        s.push_str(&k);
        s.push(',');
    }
    s.push_str(&metric_string(expr));
    s.push(')');
    s
}

/// The integer parameter of `topk`/`bottomk`/`approx_topk` (Loki stores it as an int).
pub(super) fn vector_param(op: VectorOp, param: Option<f64>) -> Option<String> {
    let k = param.unwrap_or(0.0);
    (op.takes_param() || k != 0.0).then(|| format!("{}", k as i64))
}

/// ` by (a,b)` / ` without (a,b)`.
fn grouping_string(g: &Grouping) -> String {
    format!(" {} ({})", if g.without { "without" } else { "by" }, g.labels.join(","))
}

/// `log_selector | unwrap x | filter[5m] offset 1h0m0s`: Prometheus-style range, Go-style
/// offset, no space before the range.
fn log_range_string(r: &LogRange) -> String {
    let mut s = log_string(&r.log);
    if let Some(u) = &r.unwrap {
        s.push(' ');
        s.push_str(&unwrap_head(u));
        for f in &u.post_filters {
            s.push_str(" | ");
            s.push_str(&label_filter_string(f));
        }
    }
    s.push_str(&format!("[{}]", format_prometheus_duration(r.range)));
    if let Some(offset) = nonzero(r.offset) {
        s.push_str(&format!(" offset {}", format_go_duration(offset)));
    }
    s
}

/// The duration unless it is absent or zero (a zero offset is not printed).
pub(super) fn nonzero(d: Option<Duration>) -> Option<Duration> {
    d.filter(|d| !d.is_zero())
}

/// `| unwrap x` or `| unwrap bytes(x)`.
pub(super) fn unwrap_head(u: &Unwrap) -> String {
    match u.conversion {
        Some(c) => format!("| unwrap {}({})", c.as_str(), u.label),
        None => format!("| unwrap {}", u.label),
    }
}

/// The operator's own text: `+`, `==`, `and`, ...
pub(super) fn binop_symbol(op: BinOp) -> &'static str {
    match op {
        BinOp::Or => "or",
        BinOp::And => "and",
        BinOp::Unless => "unless",
        BinOp::Eq => "==",
        BinOp::Neq => "!=",
        BinOp::Gt => ">",
        BinOp::Gte => ">=",
        BinOp::Lt => "<",
        BinOp::Lte => "<=",
        BinOp::Add => "+",
        BinOp::Sub => "-",
        BinOp::Mul => "*",
        BinOp::Div => "/",
        BinOp::Mod => "%",
        BinOp::Pow => "^",
    }
}

/// The `on`/`ignoring` labels (none when there is no matching clause).
pub(super) fn matching_labels(m: &BinOpModifier) -> &[String] {
    m.matching.as_deref().unwrap_or_default()
}

/// `group_left`, `group_left (a<sep>b)` or nothing.
pub(super) fn group_string(m: &BinOpModifier, sep: &str) -> String {
    let (name, include) = match &m.group {
        Some(GroupSide::Left(l)) => ("group_left", l.as_slice()),
        Some(GroupSide::Right(l)) => ("group_right", l.as_slice()),
        None => ("", &[][..]),
    };
    if include.is_empty() { name.to_string() } else { format!("{name} ({})", include.join(sep)) }
}

/// The operator with its modifiers in the one-line form: `/ bool on (a,b) group_left (c)`.
/// `on ()` prints, `ignoring ()` does not; without a group modifier a trailing space stays.
fn binop_string(op: BinOp, m: &BinOpModifier) -> String {
    let mut s = binop_symbol(op).to_string();
    if m.return_bool {
        s.push_str(" bool");
    }
    let labels = matching_labels(m);
    if m.on || !labels.is_empty() {
        let kind = if m.on { "on" } else { "ignoring" };
        s = format!("{s} {kind} ({}) {}", labels.join(","), group_string(m, ","));
    }
    s
}

#[cfg(test)]
mod tests {
    use crate::logql::format::canonical;
    use crate::logql::parse;

    fn canon(q: &str) -> String {
        canonical(&parse(q).unwrap_or_else(|e| panic!("{q}: {e}")))
    }

    #[test]
    fn selectors_and_line_filters() {
        assert_eq!(canon(r#"{job="loki",  instance = "x"}"#), r#"{job="loki", instance="x"}"#);
        assert_eq!(canon(r#"{a="b\"c\\d"}"#), r#"{a="b\"c\\d"}"#);
        assert_eq!(canon("{a=`\\d+`}"), r#"{a="\\d+"}"#);
        assert_eq!(canon("{a=\"x\"} |= \"\\u00a0\\x01\\a\""), "{a=\"x\"} |= \"\\u00a0\\x01\\a\"");
        for q in [
            r#"{foo="bar", bar!="baz"} != "bip" !~ ".+bop""#,
            r#"{foo="bar"} |= "baz" |~ "blip" |> "qux" !> "waldo" != "flip" !~ "flap""#,
            r#"{foo="bar", bar!="baz"} |= "" |= ip("::1")"#,
            r#"{foo="bar", bar!="baz"} |= "" != ip("127.0.0.1")"#,
            r#"{app="foo"} |= "foo" or "bar" or "baz" |= "car" |= "a" or "b" or "c""#,
            r#"{app="foo"} |= ip("127.0.0.1") or "foo""#,
            r#"{app="foo"} |> "foo <_> baz" or "foo <_>" |> "foo <_> baz""#,
        ] {
            assert_eq!(canon(q), q);
        }
    }

    #[test]
    fn negative_or_filters_expand() {
        assert_eq!(canon(r#"{app="foo"} != "foo" or "bar""#), r#"{app="foo"} != "foo" != "bar""#);
        assert_eq!(
            canon(r#"{app="foo"} |= "foo" or "bar" or "baz" != "car" != "a" or "b" or "c""#),
            r#"{app="foo"} |= "foo" or "bar" or "baz" != "car" != "a" != "b" != "c""#
        );
        assert_eq!(canon(r#"{app="foo"} !~ "foo" or "bar""#), r#"{app="foo"} !~ "foo" !~ "bar""#);
        assert_eq!(canon(r#"{app="foo"} != ip("127.0.0.1") or "foo""#), r#"{app="foo"} != ip("127.0.0.1") != "foo""#);
        assert_eq!(
            canon(r#"{app="foo"} !> "<_> foo <_>" or "foo <_>" !> "foo <_> baz""#),
            r#"{app="foo"} !> "<_> foo <_>" !> "foo <_>" !> "foo <_> baz""#
        );
    }

    #[test]
    fn parsers_and_formatters() {
        for q in [
            r#"{foo="bar"} |= "baz" | logfmt --strict --keep-empty"#,
            r#"{foo="bar"} | unpack | foo>5"#,
            r#"{foo="bar"} | pattern "<foo> bar <buzz>" | foo>5"#,
            r#"{foo="bar"} | logfmt --strict b="foo" | b=ip("127.0.0.1") | level="error""#,
            r#"{foo="bar"} | logfmt --strict --keep-empty b="foo" | b!=ip("::1")"#,
            r#"{foo="bar"} | regexp "(?P<foo>foo|bar)" | ( ( foo<5.01 , bar>20ms ) or foo="bar" ) | line_format "blip{{.boop}}bap" | label_format foo=bar,bar="blip{{.blop}}""#,
            r#"{foo="bar"} | logfmt | counter>-1 | counter>=-1 | counter<-1 | counter<=-1 | counter!=-1 | counter==-1"#,
            r#"{foo="bar"} | json | decolorize | drop a,b="c" | keep d"#,
            r#"{foo="bar"} | regexp "" | pattern """#,
        ] {
            assert_eq!(canon(q), q);
        }
        assert_eq!(canon(r#"{a="b"} | json x="a.b", y"#), r#"{a="b"} | json x="a.b",y="y""#);
        assert_eq!(canon(r#"{a="b"} | logfmt --keep-empty --strict"#), r#"{a="b"} | logfmt --strict --keep-empty"#);
        assert_eq!(canon(r#"{a="b"} | xml"#), r#"{a="b"} | xml"#);
    }

    #[test]
    fn label_filter_values() {
        assert_eq!(canon(r#"{a="b"} | logfmt | b>=10GB"#), r#"{a="b"} | logfmt | b>=10GB"#);
        assert_eq!(canon(r#"{a="b"} | size > 1KiB"#), r#"{a="b"} | size>1.0kB"#);
        assert_eq!(canon(r#"{a="b"} | size < 512B, size != 1500000"#), r#"{a="b"} | ( size<512B , size!=1500000 )"#);
        assert_eq!(canon(r#"{a="b"} | d > 90s or d <= 1.5ms"#), r#"{a="b"} | ( d>1m30s or d<=1.5ms )"#);
        assert_eq!(canon(r#"{a="b"} | status = 200"#), r#"{a="b"} | status==200"#);
        assert_eq!(canon(r#"{a="b"} | x > 1e21"#), r#"{a="b"} | x>1000000000000000000000"#);
        assert_eq!(canon(r#"{a="b"} | level="error" and status>=500"#), r#"{a="b"} | ( level="error" , status>=500 )"#);
    }

    #[test]
    fn regex_label_filters_use_backticks_when_not_simplified() {
        assert_eq!(canon(r#"{a="b"} | status=~"5..""#), "{a=\"b\"} | status=~`5..`");
        assert_eq!(canon(r#"{a="b"} | status!~"5..""#), r#"{a="b"} | status!~"5..""#);
        assert_eq!(canon(r#"{a="b"} | level=~"error|warn""#), r#"{a="b"} | level=~"error|warn""#);
        assert_eq!(canon(r#"{a="b"} | level=~"(?i)error""#), r#"{a="b"} | level=~"(?i)error""#);
        assert_eq!(canon("{a=\"b\"} | x=~\"a`b+\""), "{a=\"b\"} | x=~\"a`b+\"");
        assert_eq!(canon(r#"{a="b"} | x=~"\\d+" | x=~".*""#), "{a=\"b\"} | x=~`\\d+` | x=~\".*\"");
        assert_eq!(
            canon(r#"sum_over_time({a="b"} | unwrap x | y=~"1[0-9]" [1m])"#),
            "sum_over_time({a=\"b\"} | unwrap x | y=~`1[0-9]`[1m])"
        );
    }

    #[test]
    fn metric_canonical_forms() {
        assert_eq!(canon(r#"rate({a="b"}[5m])"#), r#"rate({a="b"}[5m])"#);
        assert_eq!(
            canon(r#"count_over_time({a="b"} |= "x" [1h30m] offset 10m)"#),
            r#"count_over_time({a="b"} |= "x"[1h30m] offset 10m0s)"#
        );
        assert_eq!(
            canon(r#"count_over_time({a="b"}[90s] offset 2h)"#),
            r#"count_over_time({a="b"}[1m30s] offset 2h0m0s)"#
        );
        assert_eq!(
            canon(
                r#"quantile_over_time(0.99, {a="b"} | json | unwrap duration(lat) | __error__="" [1m]) by (cluster, ns)"#
            ),
            r#"quantile_over_time(0.99,{a="b"} | json | unwrap duration(lat) | __error__=""[1m]) by (cluster,ns)"#
        );
        assert_eq!(
            canon(r#"avg_over_time({a="b"} | unwrap x [1m]) by ()"#),
            r#"avg_over_time({a="b"} | unwrap x[1m]) by ()"#
        );
        assert_eq!(canon(r#"sum by (a, b) (rate({a="b"}[5m]))"#), r#"sum by (a,b)(rate({a="b"}[5m]))"#);
        assert_eq!(canon(r#"sum(rate({a="b"}[5m])) by ()"#), r#"sum(rate({a="b"}[5m]))"#);
        assert_eq!(canon(r#"sum without () (rate({a="b"}[5m]))"#), r#"sum without ()(rate({a="b"}[5m]))"#);
        assert_eq!(
            canon(r#"topk(10, sum(rate({region="us-east1"}[5m])) by (name))"#),
            r#"topk(10,sum by (name)(rate({region="us-east1"}[5m])))"#
        );
        assert_eq!(canon(r#"topk by (name) (3, rate({a="b"}[5m]))"#), r#"topk by (name)(3,rate({a="b"}[5m]))"#);
        assert_eq!(canon(r#"approx_topk(5, rate({a="b"}[5m]))"#), r#"approx_topk(5,rate({a="b"}[5m]))"#);
        assert_eq!(canon("vector(1)"), "vector(1.000000)");
        assert_eq!(
            canon(r#"label_replace(rate({a="b"}[5m]), "foo", "$1", "service", "(.*):.*")"#),
            r#"label_replace(rate({a="b"}[5m]),"foo","$1","service","(.*):.*")"#
        );
    }

    #[test]
    fn binary_operation_modifiers() {
        let r = r#"rate({a="b"}[1m])"#;
        assert_eq!(
            canon(&format!("{r} / on (x, y) group_left (z) {r}")),
            format!("({r} / on (x,y) group_left (z) {r})")
        );
        assert_eq!(
            canon(&format!("{r} / ignoring (x) group_right {r}")),
            format!("({r} / ignoring (x) group_right {r})")
        );
        assert_eq!(canon(&format!("{r} or on () {r}")), format!("({r} or on ()  {r})"));
        assert_eq!(canon(&format!("{r} / ignoring () {r}")), format!("({r} / {r})"));
        assert_eq!(canon(&format!("{r} > bool 0.5")), format!("({r} > bool 0.5)"));
        assert_eq!(canon(&format!("{r} + {r} * 2")), format!("({r} + ({r} * 2))"));
    }
}
