//! The LogQL abstract syntax tree.
//!
//! The tree covers the whole grammar: log queries (selector plus pipeline) and metric
//! queries (range and vector aggregations, binary operations, literals, `vector()`,
//! `label_replace()`). Only part of it executes today (see the crate docs); the rest parses
//! so that requests are classified and rejected with the right status.

use std::time::Duration;

use store::matcher::Matcher;

/// A parsed LogQL query.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A log query: returns log lines.
    Log(LogExpr),
    /// A metric query: returns samples.
    Metric(MetricExpr),
}

/// A stream selector and the pipeline applied to its lines.
#[derive(Debug, Clone, PartialEq)]
pub struct LogExpr {
    /// The stream selector's matchers (all must hold).
    pub matchers: Vec<Matcher>,
    /// Pipeline stages in order.
    pub pipeline: Vec<Stage>,
}

impl LogExpr {
    /// True when every stage is a line filter (what the executor supports today).
    pub fn only_line_filters(&self) -> bool {
        self.pipeline.iter().all(|s| matches!(s, Stage::LineFilter(_)))
    }

    /// The line filters of the pipeline, in order.
    pub fn line_filters(&self) -> impl Iterator<Item = &LineFilter> {
        self.pipeline.iter().filter_map(|s| match s {
            Stage::LineFilter(f) => Some(f),
            _ => None,
        })
    }
}

/// One pipeline stage.
#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    /// `|= "x"`, `!~ "re"`, ... possibly with `or` alternatives.
    LineFilter(LineFilter),
    /// `| json`, `| logfmt`, `| regexp "..."`, `| pattern "..."`, `| unpack`, `| xml`.
    Parser(ParserStage),
    /// `| level="error" and status>=500`.
    LabelFilter(LabelFilter),
    /// `| line_format "{{.a}}"`.
    LineFormat(String),
    /// `| label_format a=b, c="{{.d}}"`.
    LabelFormat(Vec<LabelFormat>),
    /// `| decolorize`.
    Decolorize,
    /// `| drop a, b="v"`.
    Drop(Vec<NamedMatcher>),
    /// `| keep a, b="v"`.
    Keep(Vec<NamedMatcher>),
}

/// How a line filter compares lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFilterOp {
    /// `|=`: the line contains the value.
    Contains,
    /// `!=`: the line does not contain the value.
    NotContains,
    /// `|~`: the unanchored regex matches.
    Regex,
    /// `!~`: the unanchored regex does not match.
    NotRegex,
    /// `|>`: the pattern matches.
    Pattern,
    /// `!>`: the pattern does not match.
    NotPattern,
}

impl LineFilterOp {
    /// True for the negative operators (`!=`, `!~`, `!>`).
    pub fn is_negative(self) -> bool {
        matches!(self, LineFilterOp::NotContains | LineFilterOp::NotRegex | LineFilterOp::NotPattern)
    }

    /// The operator as written in LogQL.
    pub fn as_str(self) -> &'static str {
        match self {
            LineFilterOp::Contains => "|=",
            LineFilterOp::NotContains => "!=",
            LineFilterOp::Regex => "|~",
            LineFilterOp::NotRegex => "!~",
            LineFilterOp::Pattern => "|>",
            LineFilterOp::NotPattern => "!>",
        }
    }
}

/// One operand of a line filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterValue {
    /// A string (substring, regex or pattern depending on the operator).
    Literal(String),
    /// `ip("...")`: a single address, a range `a-b` or a CIDR.
    Ip(String),
}

/// A line filter with its `or` alternatives.
///
/// Every operand inherits the operator. For a positive operator the line passes when any
/// operand matches; for a negative one, when none does (`!= "a" or "b"` means
/// `!= "a" != "b"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineFilter {
    /// The operator.
    pub op: LineFilterOp,
    /// The operands, at least one.
    pub values: Vec<FilterValue>,
}

/// A label-extracting parser stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParserStage {
    /// `json` with optional `name="path"` extractions.
    Json(Vec<LabelExtraction>),
    /// `logfmt` with flags (`--strict`, `--keep-empty`) and optional extractions.
    Logfmt {
        /// Parser flags as written.
        flags: Vec<String>,
        /// Extractions; empty means every key.
        params: Vec<LabelExtraction>,
    },
    /// `xml` with optional extractions.
    Xml(Vec<LabelExtraction>),
    /// `regexp "..."` with named groups.
    Regexp(String),
    /// `pattern "..."`.
    Pattern(String),
    /// `unpack`.
    Unpack,
}

/// `name="expression"` (or a bare `name`) in a parameterised parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelExtraction {
    /// Label to create.
    pub name: String,
    /// Path or key to extract it from.
    pub expression: String,
}

/// Comparison operators of numeric, duration and byte label filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `=` or `==`
    Eq,
    /// `!=`
    Neq,
    /// `>`
    Gt,
    /// `>=`
    Gte,
    /// `<`
    Lt,
    /// `<=`
    Lte,
}

/// A label filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelFilter {
    /// A string matcher: `l="v"`, `l=~"re"`, ...
    Matcher(Matcher),
    /// `l = ip("...")` or `l != ip("...")`.
    Ip {
        /// Label name.
        name: String,
        /// True for `!=`.
        negated: bool,
        /// The address, range or CIDR.
        pattern: String,
    },
    /// `l > 10.5`.
    Number {
        /// Label name.
        name: String,
        /// Comparison.
        op: CmpOp,
        /// Right-hand value.
        value: f64,
    },
    /// `l > 100ms`.
    Duration {
        /// Label name.
        name: String,
        /// Comparison.
        op: CmpOp,
        /// Right-hand value.
        value: Duration,
    },
    /// `l > 20MB`.
    Bytes {
        /// Label name.
        name: String,
        /// Comparison.
        op: CmpOp,
        /// Right-hand value in bytes.
        value: u64,
    },
    /// Both must hold (`and`, `,` or juxtaposition).
    And(Box<LabelFilter>, Box<LabelFilter>),
    /// Either holds.
    Or(Box<LabelFilter>, Box<LabelFilter>),
}

/// One entry of `label_format`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelFormat {
    /// `dst=src`: rename.
    Rename {
        /// New name.
        dst: String,
        /// Label renamed.
        src: String,
    },
    /// `dst="{{...}}"`: template.
    Template {
        /// Label set.
        dst: String,
        /// Go template.
        template: String,
    },
}

/// A `drop`/`keep` operand: a bare name or a matcher.
#[derive(Debug, Clone, PartialEq)]
pub enum NamedMatcher {
    /// Every label of this name.
    Name(String),
    /// Labels matching the matcher.
    Matcher(Matcher),
}

/// Range aggregation operators (`rate`, `count_over_time`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeOp {
    /// `count_over_time`
    CountOverTime,
    /// `rate`
    Rate,
    /// `rate_counter`
    RateCounter,
    /// `bytes_over_time`
    BytesOverTime,
    /// `bytes_rate`
    BytesRate,
    /// `avg_over_time`
    AvgOverTime,
    /// `sum_over_time`
    SumOverTime,
    /// `min_over_time`
    MinOverTime,
    /// `max_over_time`
    MaxOverTime,
    /// `stdvar_over_time`
    StdvarOverTime,
    /// `stddev_over_time`
    StddevOverTime,
    /// `quantile_over_time`
    QuantileOverTime,
    /// `first_over_time`
    FirstOverTime,
    /// `last_over_time`
    LastOverTime,
    /// `absent_over_time`
    AbsentOverTime,
}

const RANGE_OPS: &[(RangeOp, &str)] = &[
    (RangeOp::CountOverTime, "count_over_time"),
    (RangeOp::Rate, "rate"),
    (RangeOp::RateCounter, "rate_counter"),
    (RangeOp::BytesOverTime, "bytes_over_time"),
    (RangeOp::BytesRate, "bytes_rate"),
    (RangeOp::AvgOverTime, "avg_over_time"),
    (RangeOp::SumOverTime, "sum_over_time"),
    (RangeOp::MinOverTime, "min_over_time"),
    (RangeOp::MaxOverTime, "max_over_time"),
    (RangeOp::StdvarOverTime, "stdvar_over_time"),
    (RangeOp::StddevOverTime, "stddev_over_time"),
    (RangeOp::QuantileOverTime, "quantile_over_time"),
    (RangeOp::FirstOverTime, "first_over_time"),
    (RangeOp::LastOverTime, "last_over_time"),
    (RangeOp::AbsentOverTime, "absent_over_time"),
];

impl RangeOp {
    /// The operator for a lower-case name.
    pub fn from_name(name: &str) -> Option<RangeOp> {
        RANGE_OPS.iter().find(|(_, n)| *n == name).map(|(op, _)| *op)
    }

    /// The operator's name.
    pub fn as_str(self) -> &'static str {
        RANGE_OPS.iter().find(|(op, _)| *op == self).map(|(_, n)| *n).unwrap_or("?")
    }

    /// Whether `by`/`without` may follow the aggregation.
    pub fn allows_grouping(self) -> bool {
        matches!(
            self,
            RangeOp::AvgOverTime
                | RangeOp::StddevOverTime
                | RangeOp::StdvarOverTime
                | RangeOp::QuantileOverTime
                | RangeOp::MaxOverTime
                | RangeOp::MinOverTime
                | RangeOp::FirstOverTime
                | RangeOp::LastOverTime
        )
    }

    /// `Some(true)` when an unwrap is required, `Some(false)` when it is forbidden, `None`
    /// when both are fine.
    pub fn needs_unwrap(self) -> Option<bool> {
        match self {
            RangeOp::CountOverTime | RangeOp::BytesOverTime | RangeOp::BytesRate => Some(false),
            RangeOp::Rate | RangeOp::AbsentOverTime => None,
            _ => Some(true),
        }
    }
}

/// Vector aggregation operators (`sum`, `topk`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorOp {
    /// `sum`
    Sum,
    /// `avg`
    Avg,
    /// `count`
    Count,
    /// `max`
    Max,
    /// `min`
    Min,
    /// `stddev`
    Stddev,
    /// `stdvar`
    Stdvar,
    /// `bottomk`
    Bottomk,
    /// `topk`
    Topk,
    /// `sort`
    Sort,
    /// `sort_desc`
    SortDesc,
    /// `approx_topk`
    ApproxTopk,
}

const VECTOR_OPS: &[(VectorOp, &str)] = &[
    (VectorOp::Sum, "sum"),
    (VectorOp::Avg, "avg"),
    (VectorOp::Count, "count"),
    (VectorOp::Max, "max"),
    (VectorOp::Min, "min"),
    (VectorOp::Stddev, "stddev"),
    (VectorOp::Stdvar, "stdvar"),
    (VectorOp::Bottomk, "bottomk"),
    (VectorOp::Topk, "topk"),
    (VectorOp::Sort, "sort"),
    (VectorOp::SortDesc, "sort_desc"),
    (VectorOp::ApproxTopk, "approx_topk"),
];

impl VectorOp {
    /// The operator for a lower-case name.
    pub fn from_name(name: &str) -> Option<VectorOp> {
        VECTOR_OPS.iter().find(|(_, n)| *n == name).map(|(op, _)| *op)
    }

    /// The operator's name.
    pub fn as_str(self) -> &'static str {
        VECTOR_OPS.iter().find(|(op, _)| *op == self).map(|(_, n)| *n).unwrap_or("?")
    }

    /// True for `topk`, `bottomk` and `approx_topk`, which take a `k` parameter.
    pub fn takes_param(self) -> bool {
        matches!(self, VectorOp::Topk | VectorOp::Bottomk | VectorOp::ApproxTopk)
    }
}

/// Conversion applied by `unwrap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnwrapConversion {
    /// `bytes(l)`
    Bytes,
    /// `duration(l)`
    Duration,
    /// `duration_seconds(l)`
    DurationSeconds,
}

impl UnwrapConversion {
    /// The conversion's name.
    pub fn as_str(self) -> &'static str {
        match self {
            UnwrapConversion::Bytes => "bytes",
            UnwrapConversion::Duration => "duration",
            UnwrapConversion::DurationSeconds => "duration_seconds",
        }
    }
}

/// `| unwrap label` with its optional conversion and post-filters.
#[derive(Debug, Clone, PartialEq)]
pub struct Unwrap {
    /// Label whose value becomes the sample value.
    pub label: String,
    /// Optional conversion.
    pub conversion: Option<UnwrapConversion>,
    /// Label filters after the unwrap (`| unwrap x | __error__=""`).
    pub post_filters: Vec<LabelFilter>,
}

/// A log query over a time window: `{...} | ... [5m] offset 1m`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRange {
    /// The log query.
    pub log: LogExpr,
    /// Window length.
    pub range: Duration,
    /// Optional offset.
    pub offset: Option<Duration>,
    /// Optional unwrap.
    pub unwrap: Option<Unwrap>,
}

/// `by (...)` or `without (...)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Grouping {
    /// True for `without`.
    pub without: bool,
    /// The labels.
    pub labels: Vec<String>,
}

/// Binary operators, lowest precedence first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinOp {
    /// `or`
    Or,
    /// `and`
    And,
    /// `unless`
    Unless,
    /// `==`
    Eq,
    /// `!=`
    Neq,
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
}

impl BinOp {
    /// Binding strength: higher binds tighter.
    pub fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And | BinOp::Unless => 2,
            BinOp::Eq | BinOp::Neq | BinOp::Gt | BinOp::Gte | BinOp::Lt | BinOp::Lte => 3,
            BinOp::Add | BinOp::Sub => 4,
            BinOp::Mul | BinOp::Div | BinOp::Mod => 5,
            BinOp::Pow => 6,
        }
    }

    /// True for comparison operators (which accept `bool`).
    pub fn is_comparison(self) -> bool {
        self.precedence() == 3
    }

    /// True for the set operators `and`, `or`, `unless`.
    pub fn is_set(self) -> bool {
        matches!(self, BinOp::Or | BinOp::And | BinOp::Unless)
    }
}

/// How the two sides of a binary operation are matched.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct BinOpModifier {
    /// `bool`: comparisons return 0/1 instead of filtering.
    pub return_bool: bool,
    /// `on(...)` (true) or `ignoring(...)` (false) when `matching` is set.
    pub on: bool,
    /// Labels of `on`/`ignoring`, when given.
    pub matching: Option<Vec<String>>,
    /// `group_left` / `group_right` with their include labels.
    pub group: Option<GroupSide>,
}

/// Many-to-one or one-to-many matching.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GroupSide {
    /// `group_left(...)`
    Left(Vec<String>),
    /// `group_right(...)`
    Right(Vec<String>),
}

/// A metric query.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricExpr {
    /// `rate({...}[5m])`, `quantile_over_time(0.9, ...) by (x)`.
    RangeAggregation {
        /// The operator.
        op: RangeOp,
        /// The φ of `quantile_over_time`.
        param: Option<f64>,
        /// The windowed log query.
        range: Box<LogRange>,
        /// Optional grouping.
        grouping: Option<Grouping>,
    },
    /// `sum by (x) (...)`, `topk(3, ...)`.
    VectorAggregation {
        /// The operator.
        op: VectorOp,
        /// The k of `topk`/`bottomk`.
        param: Option<f64>,
        /// Optional grouping.
        grouping: Option<Grouping>,
        /// The aggregated expression.
        expr: Box<MetricExpr>,
    },
    /// `a / on (x) b`.
    BinOp {
        /// The operator.
        op: BinOp,
        /// Matching modifiers.
        modifier: BinOpModifier,
        /// Left side.
        lhs: Box<MetricExpr>,
        /// Right side.
        rhs: Box<MetricExpr>,
    },
    /// A number.
    Literal(f64),
    /// `vector(N)`.
    Vector(f64),
    /// `label_replace(expr, "dst", "replacement", "src", "regex")`.
    LabelReplace {
        /// Input.
        expr: Box<MetricExpr>,
        /// Destination label.
        dst: String,
        /// Replacement template (`$1`).
        replacement: String,
        /// Source label.
        src: String,
        /// Anchored regex.
        regex: String,
    },
}
