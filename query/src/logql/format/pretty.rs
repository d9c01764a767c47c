//! The multi-line layout of Loki's `Prettify`: an expression whose one-line form is too
//! long is split, its children one indentation level deeper.

use super::canonical::{
    binop_symbol, chain_string, filter_links, group_string, label_filter_string, link_string, log_string,
    matching_labels, metric_string, nonzero, selector_string, stage_string, unwrap_head, vector_param, FilterLink,
};
use super::fold::fold_literals;
use super::numbers::{format_prometheus_duration, go_float_v};
use super::quote::go_quote;
use crate::logql::ast::{
    BinOp, BinOpModifier, Expr, Grouping, LogExpr, LogRange, MetricExpr, RangeOp, Stage, Unwrap, VectorOp,
};

/// Longest one-line form (in bytes) Loki keeps on a single line.
pub(super) const MAX_CHARS_PER_LINE: usize = 100;

/// One indentation level.
const INDENT: &str = "  ";

/// A stage of Loki's pipeline: consecutive line filters form one chain.
enum PipelineStage<'a> {
    /// Consecutive line filters.
    Chain(Vec<FilterLink<'a>>),
    /// Any other stage.
    Single(&'a Stage),
}

/// The pipeline's stages with consecutive line filters merged into chains.
fn group_stages(pipeline: &[Stage]) -> Vec<PipelineStage<'_>> {
    let mut out: Vec<PipelineStage<'_>> = Vec::new();
    for stage in pipeline {
        match (stage, out.last_mut()) {
            (Stage::LineFilter(f), Some(PipelineStage::Chain(links))) => links.extend(filter_links(f)),
            (Stage::LineFilter(f), _) => out.push(PipelineStage::Chain(filter_links(f))),
            (other, _) => out.push(PipelineStage::Single(other)),
        }
    }
    out
}

/// The indentation of `level`.
fn indent(level: usize) -> String {
    INDENT.repeat(level)
}

/// Pretty printer with Loki's line-width threshold (tests use Loki's own test width).
pub(super) struct Printer {
    /// Longest one-line form kept on one line, in bytes.
    pub(super) width: usize,
}

impl Printer {
    /// True when `one_line` is too long to stay on one line.
    fn needs_split(&self, one_line: &str) -> bool {
        one_line.len() > self.width
    }

    /// The whole query.
    pub(super) fn expr(&self, expr: &Expr) -> String {
        match expr {
            Expr::Log(log) => self.log(log, 0),
            Expr::Metric(metric) => self.metric(&fold_literals(metric), 0),
        }
    }

    /// The selector, then one stage per line one level deeper.
    fn log(&self, log: &LogExpr, level: usize) -> String {
        let flat = log_string(log);
        if log.pipeline.is_empty() || !self.needs_split(&flat) {
            return indent(level) + &flat;
        }
        let stages: Vec<String> =
            group_stages(&log.pipeline).iter().map(|stage| self.stage(stage, level + 1)).collect();
        format!("{}{}\n{}", indent(level), selector_string(&log.matchers), stages.join("\n"))
    }

    /// One stage (or chain) on its own line.
    fn stage(&self, stage: &PipelineStage<'_>, level: usize) -> String {
        match stage {
            PipelineStage::Chain(links) => self.chain(links, level),
            // Loki prints decolorize without indentation.
            PipelineStage::Single(Stage::Decolorize) => stage_string(&Stage::Decolorize),
            PipelineStage::Single(s) => indent(level) + &stage_string(s),
        }
    }

    /// A long chain prints its last link on its own line, with all its `or` operands
    /// (Loki keeps only the first), after the pretty form of the links before it.
    fn chain(&self, links: &[FilterLink<'_>], level: usize) -> String {
        let flat = chain_string(links);
        let Some((last, before)) = links.split_last() else {
            return String::new();
        };
        if !self.needs_split(&flat) {
            return indent(level) + &flat;
        }
        let mut s = String::new();
        if !before.is_empty() {
            s.push_str(&self.chain(before, level));
            s.push('\n');
        }
        s + &indent(level) + &link_string(last)
    }

    /// The log query, the unwrap on its own lines one level deeper, then ` [range]` and
    /// ` offset` in Prometheus duration format.
    fn log_range(&self, r: &LogRange, level: usize) -> String {
        let mut s = self.log(&r.log, level);
        if let Some(u) = &r.unwrap {
            s.push('\n');
            s.push_str(&unwrap_pretty(u, level + 1));
        }
        s.push_str(&format!(" [{}]", format_prometheus_duration(r.range)));
        if let Some(offset) = nonzero(r.offset) {
            s.push_str(&format!(" offset {}", format_prometheus_duration(offset)));
        }
        s
    }

    /// A metric query split as Loki splits each kind of node.
    fn metric(&self, m: &MetricExpr, level: usize) -> String {
        let flat = metric_string(m);
        if !self.needs_split(&flat) {
            return indent(level) + &flat;
        }
        match m {
            MetricExpr::RangeAggregation { op, param, range, grouping } => {
                self.range_aggregation(*op, *param, range, grouping.as_ref(), level)
            }
            MetricExpr::VectorAggregation { op, param, grouping, expr } => {
                self.vector_aggregation(*op, *param, grouping.as_ref(), expr, level)
            }
            MetricExpr::BinOp { op, modifier, lhs, rhs } => format!(
                "{}\n{}{}\n{}",
                self.metric(lhs, level + 1),
                indent(level),
                binop_pretty_string(*op, modifier),
                self.metric(rhs, level + 1)
            ),
            MetricExpr::LabelReplace { expr, dst, replacement, src, regex } => {
                let inner = indent(level + 1);
                let args = [
                    self.metric(expr, level + 1),
                    inner.clone() + &go_quote(dst),
                    inner.clone() + &go_quote(replacement),
                    inner.clone() + &go_quote(src),
                    inner + &go_quote(regex),
                ];
                call_block(level, "label_replace", &args)
            }
            MetricExpr::Literal(_) | MetricExpr::Vector(_) => indent(level) + &flat,
        }
    }

    /// `op(\n  param,\n  log range\n) by (a, b)`.
    fn range_aggregation(
        &self,
        op: RangeOp,
        param: Option<f64>,
        range: &LogRange,
        grouping: Option<&Grouping>,
        level: usize,
    ) -> String {
        let mut s = format!("{}{}(\n", indent(level), op.as_str());
        if let Some(p) = param {
            s.push_str(&format!("{}{},\n", indent(level + 1), go_float_v(p)));
        }
        s.push_str(&self.log_range(range, level + 1));
        s.push_str(&format!("\n{})", indent(level)));
        if let Some(g) = grouping {
            s.push_str(&grouping_pretty(g));
        }
        s
    }

    /// `op by (a, b)(\n  param,\n  expr\n)`.
    fn vector_aggregation(
        &self,
        op: VectorOp,
        param: Option<f64>,
        grouping: Option<&Grouping>,
        expr: &MetricExpr,
        level: usize,
    ) -> String {
        let mut args = Vec::with_capacity(2);
        if let Some(k) = vector_param(op, param) {
            args.push(indent(level + 1) + &k);
        }
        args.push(self.metric(expr, level + 1));
        let head = format!("{}{}", op.as_str(), grouping.map(grouping_pretty).unwrap_or_default());
        call_block(level, &head, &args)
    }
}

/// `head(\n<arg>,\n<arg>\n)` with the closing parenthesis at `level`.
fn call_block(level: usize, head: &str, args: &[String]) -> String {
    format!("{}{head}(\n{}\n{})", indent(level), args.join(",\n"), indent(level))
}

/// `| unwrap x`, then each post filter on its own line at the same level.
fn unwrap_pretty(u: &Unwrap, level: usize) -> String {
    let mut s = indent(level) + &unwrap_head(u);
    for f in &u.post_filters {
        s.push_str(&format!("\n{}| {}", indent(level), label_filter_string(f)));
    }
    s
}

/// ` by (a, b)`, ` without (a, b)`; an empty `by` list prints nothing and an empty
/// `without` list prints ` without ()` (Loki prints a bare ` without`).
fn grouping_pretty(g: &Grouping) -> String {
    if !g.without && g.labels.is_empty() {
        return String::new();
    }
    let kind = if g.without { "without" } else { "by" };
    format!(" {kind} ({})", g.labels.join(", "))
}

/// The operator line of a split binary operation: modifiers print only when there are
/// matching labels, lists are joined with `, `.
fn binop_pretty_string(op: BinOp, m: &BinOpModifier) -> String {
    let mut s = binop_symbol(op).to_string();
    if m.return_bool {
        s.push_str(" bool");
    }
    let labels = matching_labels(m);
    if !labels.is_empty() {
        let kind = if m.on { "on" } else { "ignoring" };
        s = format!("{s} {kind} ({}) {}", labels.join(", "), group_string(m, ", "));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logql::format::prettify;
    use crate::logql::parse;

    fn parsed(q: &str) -> Expr {
        parse(q).unwrap_or_else(|e| panic!("{q}: {e}"))
    }

    fn pretty(q: &str) -> String {
        prettify(&parsed(q))
    }

    /// Pretty form at Loki's test width of 20 bytes.
    fn pretty20(q: &str) -> String {
        Printer { width: 20 }.expr(&parsed(q))
    }

    #[test]
    fn pretty_short_queries_stay_on_one_line() {
        assert_eq!(pretty(r#"{job="loki", instance="localhost"}"#), r#"{job="loki", instance="localhost"}"#);
        assert_eq!(pretty(r#"sum by (a) (rate({a="b"} |= "x" [5m]))"#), r#"sum by (a)(rate({a="b"} |= "x"[5m]))"#);
        assert_eq!(
            pretty(r#"count_over_time({a="b"}[5m] offset 20m)"#),
            r#"count_over_time({a="b"}[5m] offset 20m0s)"#
        );
    }

    #[test]
    fn pretty_pipelines_match_loki() {
        assert_eq!(
            pretty20(r#"{job="loki", instance="localhost"}|logfmt|level="error" "#),
            "{job=\"loki\", instance=\"localhost\"}\n  | logfmt\n  | level=\"error\""
        );
        assert_eq!(
            pretty20(r#"{job="loki", instance="localhost"}|= "error" != "memcached" |= ip("192.168.0.1") |logfmt"#),
            "{job=\"loki\", instance=\"localhost\"}\n  |= \"error\"\n  != \"memcached\"\n  |= ip(\"192.168.0.1\")\n  | logfmt"
        );
        assert_eq!(
            pretty20(r#"{job="loki", instance="localhost"}|logfmt|line_format "{{.error}}""#),
            "{job=\"loki\", instance=\"localhost\"}\n  | logfmt\n  | line_format \"{{.error}}\""
        );
        assert_eq!(
            pretty20(r#"{job="loki", instance="localhost"}|logfmt|label_format dst="{{.src}}""#),
            "{job=\"loki\", instance=\"localhost\"}\n  | logfmt\n  | label_format dst=\"{{.src}}\""
        );
        assert_eq!(
            pretty20(
                r#"{job="loki", namespace="loki-prod", container="nginx-ingress"}| json first_server="servers[0]", ua="request.headers[\"User-Agent\"]" | level="error""#
            ),
            "{job=\"loki\", namespace=\"loki-prod\", container=\"nginx-ingress\"}\n  | json first_server=\"servers[0]\",ua=\"request.headers[\\\"User-Agent\\\"]\"\n  | level=\"error\""
        );
    }

    #[test]
    fn pretty_quirks_match_loki() {
        // A short chain inside a long pipeline stays on one line; `| decolorize` is not
        // indented, as in Loki.
        let q = r#"{job="loki", namespace="loki-prod", container="nginx-ingress"} |= "a" != "b" | logfmt | level="error" | decolorize"#;
        assert_eq!(
            pretty(q),
            "{job=\"loki\", namespace=\"loki-prod\", container=\"nginx-ingress\"}\n  |= \"a\" != \"b\"\n  | logfmt\n  | level=\"error\"\n| decolorize"
        );
    }

    #[test]
    fn pretty_keeps_what_loki_drops() {
        // A split chain keeps every operand of an `or` link (Loki prints only `|= "second"`).
        let q = r#"{app="foo"} |= "first" |= "second" or "third""#;
        assert_eq!(pretty20(q), "{app=\"foo\"}\n  |= \"first\"\n  |= \"second\" or \"third\"");
        assert_eq!(parse(&pretty20(q)).ok(), Some(parsed(q)));
        // An empty `without` list prints as `without ()` (Loki prints a bare ` without`).
        let q = r#"sum without () (rate({app="foo"}[5m]))"#;
        assert_eq!(pretty20(q), "sum without ()(\n  rate(\n    {app=\"foo\"} [5m]\n  )\n)");
        assert_eq!(parse(&pretty20(q)).ok(), Some(parsed(q)));
        let q = r#"max_over_time({app="foo"} | unwrap x [5m]) without ()"#;
        assert_eq!(pretty20(q), "max_over_time(\n  {app=\"foo\"}\n    | unwrap x [5m]\n) without ()");
        assert_eq!(parse(&pretty20(q)).ok(), Some(parsed(q)));
    }

    #[test]
    fn pretty_range_aggregations_match_loki() {
        assert_eq!(
            pretty20(r#"count_over_time({job="loki", instance="localhost"}|logfmt[1m])"#),
            "count_over_time(\n  {job=\"loki\", instance=\"localhost\"}\n    | logfmt [1m]\n)"
        );
        assert_eq!(
            pretty20(r#"count_over_time({job="loki", instance="localhost"}|= "error"[5m] offset 20m)"#),
            "count_over_time(\n  {job=\"loki\", instance=\"localhost\"}\n    |= \"error\" [5m] offset 20m\n)"
        );
        assert_eq!(
            pretty20(
                r#"quantile_over_time(0.99,{container="ingress-nginx",service="hosted-grafana"}| json| unwrap response_latency_seconds| __error__=""[1m]) by (cluster)"#
            ),
            "quantile_over_time(\n  0.99,\n  {container=\"ingress-nginx\", service=\"hosted-grafana\"}\n    | json\n    | unwrap response_latency_seconds\n    | __error__=\"\" [1m]\n) by (cluster)"
        );
        assert_eq!(
            pretty20(
                r#"count_over_time({job="loki", instance="localhost"}|= "error" != "memcached" |= ip("192.168.0.1") |logfmt[1m])"#
            ),
            "count_over_time(\n  {job=\"loki\", instance=\"localhost\"}\n    |= \"error\"\n    != \"memcached\"\n    |= ip(\"192.168.0.1\")\n    | logfmt [1m]\n)"
        );
    }

    #[test]
    fn pretty_vector_aggregations_and_label_replace_match_loki() {
        assert_eq!(
            pretty20(r#"sum(count_over_time({foo="bar",namespace="loki",instance="localhost"}[5m])) by (container)"#),
            "sum by (container)(\n  count_over_time(\n    {foo=\"bar\", namespace=\"loki\", instance=\"localhost\"} [5m]\n  )\n)"
        );
        assert_eq!(
            pretty20(
                r#"topk(5, count_over_time({foo="bar",namespace="loki",instance="localhost"}[5m])) by (container)"#
            ),
            "topk by (container)(\n  5,\n  count_over_time(\n    {foo=\"bar\", namespace=\"loki\", instance=\"localhost\"} [5m]\n  )\n)"
        );
        assert_eq!(
            pretty20(
                r#"label_replace(rate({job="api-server",service="a:c"}|= "err" [5m]), "foo", "$1", "service", "(.*):.*")"#
            ),
            "label_replace(\n  rate(\n    {job=\"api-server\", service=\"a:c\"}\n      |= \"err\" [5m]\n  ),\n  \"foo\",\n  \"$1\",\n  \"service\",\n  \"(.*):.*\"\n)"
        );
    }

    #[test]
    fn pretty_binary_operations_match_loki() {
        assert_eq!(
            pretty20(
                r#"sum(rate({job="loki", namespace="loki-prod", instance="localhost"}[5m]))/sum(count_over_time({job="loki", namespace="loki-prod", instance="localhost"}[5m]))"#
            ),
            "  sum(\n    rate(\n      {job=\"loki\", namespace=\"loki-prod\", instance=\"localhost\"} [5m]\n    )\n  )\n/\n  sum(\n    count_over_time(\n      {job=\"loki\", namespace=\"loki-prod\", instance=\"localhost\"} [5m]\n    )\n  )"
        );
        let sum = |job: &str, depth: usize| {
            let i = |n: usize| "  ".repeat(depth + n);
            format!("{}sum(\n{}rate(\n{}{{job=\"{job}\"}} [5m]\n{})\n{})", i(0), i(1), i(2), i(1), i(0))
        };
        assert_eq!(
            pretty20(
                r#"sum(rate({job="loki"}[5m])) + sum(rate({job="loki-dev"}[5m])) / sum(rate({job="loki-prod"}[5m]))"#
            ),
            format!("{}\n+\n{}\n  /\n{}", sum("loki", 1), sum("loki-dev", 2), sum("loki-prod", 2))
        );
        assert_eq!(
            pretty20(
                r#"sum(rate({job="loki"}[5m])) / sum(rate({job="loki-stage"}[5m])) % sum(rate({job="loki-dev"}[5m])) + sum(rate({job="loki-prod"}[5m]))"#
            ),
            format!(
                "{}\n    /\n{}\n  %\n{}\n+\n{}",
                sum("loki", 3),
                sum("loki-stage", 3),
                sum("loki-dev", 2),
                sum("loki-prod", 1)
            )
        );
        assert_eq!(
            pretty20(
                r#"sum(rate({job="loki"}[5m])) * on(instance, job) group_left (node) sum(rate({job="loki-prod"}[5m]))"#
            ),
            format!("{}\n* on (instance, job) group_left (node)\n{}", sum("loki", 1), sum("loki-prod", 1))
        );
        assert_eq!(
            pretty20(r#"sum(rate({job="loki"}[5m])) > bool ignoring (job) sum(rate({job="loki-prod"}[5m]))"#),
            format!("{}\n> bool ignoring (job) \n{}", sum("loki", 1), sum("loki-prod", 1))
        );
    }

    #[test]
    fn pretty_default_width_splits_long_queries() {
        // Only the outer aggregation is over 100 bytes: the inner one stays on one line.
        let q = r#"sum by (namespace, cluster) (rate({namespace="loki-prod", container="ingester"} |= "error" | logfmt | level="error" [5m]))"#;
        assert_eq!(
            pretty(q),
            "sum by (namespace, cluster)(\n  rate({namespace=\"loki-prod\", container=\"ingester\"} |= \"error\" | logfmt | level=\"error\"[5m])\n)"
        );
        // Here the pipeline itself is 102 bytes, so every level splits.
        let q = r#"sum by (namespace, cluster) (rate({namespace="loki-prod", container="ingester", pod=~"ingester-.*"} |= "error" | logfmt | level="error" [5m]))"#;
        assert_eq!(
            pretty(q),
            "sum by (namespace, cluster)(\n  rate(\n    {namespace=\"loki-prod\", container=\"ingester\", pod=~\"ingester-.*\"}\n      |= \"error\"\n      | logfmt\n      | level=\"error\" [5m]\n  )\n)"
        );
    }
}
