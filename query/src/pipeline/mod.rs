//! The LogQL log pipeline executed line by line: line filters, parsers, label filters,
//! formatting, `drop`/`keep`, `decolorize`, with Loki's label and error semantics.
//!
//! [`Pipeline::compile`] turns the AST stages into [`Step`]s, moving each line filter ahead
//! of the stages before it up to the last barrier (a label filter, `line_format` or
//! `unpack`), as Loki's planner does. The leading line filters are handed to the scan as
//! DataFusion predicates ([`Pipeline::scan_filters`]); the rest run here, per line, on a
//! [`labels::LabelsBuilder`]. The DataFusion operator that drives this is
//! [`crate::plan::pipeline_exec`].

pub mod check;
pub mod convert;
pub mod format;
pub mod json;
pub mod label_filter;
pub mod labels;
pub mod line_filter;
pub mod logfmt;
pub mod parsers;
pub mod pattern;

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

use crate::logql::ast::{LineFilter, NamedMatcher, ParserStage, Stage};
use format::{LabelFormatStage, LineFormat};
use label_filter::Filter;
use labels::{ERROR, ERROR_DETAILS, LabelsBuilder};
use line_filter::RowLineFilter;
use parsers::PathStep;
use pattern::Pattern;

/// One compiled pipeline step.
#[derive(Debug, Clone)]
pub enum Step {
    /// A line filter on the current line.
    LineFilter(RowLineFilter),
    /// `| json`.
    Json,
    /// `| json a="path"`.
    JsonPaths(Vec<(String, Vec<PathStep>)>),
    /// `| logfmt`.
    Logfmt {
        /// `--strict`.
        strict: bool,
        /// `--keep-empty`.
        keep_empty: bool,
    },
    /// `| logfmt a="key"`.
    LogfmtParams {
        /// `--strict`.
        strict: bool,
        /// (label, key) pairs.
        params: Vec<(String, String)>,
    },
    /// `| regexp "..."` with its named groups.
    Regexp(Regex, Vec<(usize, String)>),
    /// `| pattern "..."`.
    Pattern(Pattern),
    /// `| unpack`.
    Unpack,
    /// A label filter.
    LabelFilter(Filter),
    /// `| line_format`.
    LineFormat(LineFormat),
    /// `| label_format`.
    LabelFormat(LabelFormatStage),
    /// `| decolorize`.
    Decolorize,
    /// `| drop ...`.
    Drop(Vec<NamedMatcher>),
    /// `| keep ...`.
    Keep(Vec<NamedMatcher>),
}

/// A compiled pipeline.
#[derive(Debug, Clone, Default)]
pub struct Pipeline {
    /// Leading line filters, evaluated by the scan.
    pub scan_filters: Vec<LineFilter>,
    /// Everything after them, evaluated per line.
    pub steps: Vec<Step>,
}

fn is_barrier(s: &Stage) -> bool {
    matches!(s, Stage::LabelFilter(_) | Stage::LineFormat(_) | Stage::Decolorize | Stage::Parser(ParserStage::Unpack))
}

impl Pipeline {
    /// Compiles `stages`; errors are Loki's messages for invalid stages.
    pub fn compile(stages: &[Stage]) -> Result<Pipeline, String> {
        // Move line filters forward up to the last barrier.
        let mut ordered: Vec<&Stage> = Vec::with_capacity(stages.len());
        let mut insert_at = 0;
        for s in stages {
            match s {
                Stage::LineFilter(_) => {
                    ordered.insert(insert_at, s);
                    insert_at += 1;
                }
                s if is_barrier(s) => {
                    ordered.push(s);
                    insert_at = ordered.len();
                }
                s => ordered.push(s),
            }
        }
        let leading = ordered.iter().take_while(|s| matches!(s, Stage::LineFilter(_))).count();
        let scan_filters = ordered[..leading]
            .iter()
            .filter_map(|s| if let Stage::LineFilter(f) = s { Some(f.clone()) } else { None })
            .collect();
        let mut steps = Vec::with_capacity(ordered.len() - leading);
        for s in &ordered[leading..] {
            steps.push(compile_stage(s)?);
        }
        Ok(Pipeline { scan_filters, steps })
    }

    /// True when every stage runs in the scan (nothing to do per line).
    pub fn is_noop(&self) -> bool {
        self.steps.is_empty()
    }

    /// Runs the steps on one line. `None` when the line is filtered out; otherwise the
    /// (possibly rewritten) line, with the labels left in `lbs`.
    pub fn process<'a>(&self, line: &'a str, ts: i64, lbs: &mut LabelsBuilder) -> Option<Cow<'a, str>> {
        let mut line: Cow<'a, str> = Cow::Borrowed(line);
        for step in &self.steps {
            match step {
                Step::LineFilter(f) => {
                    if !f.test(&line) {
                        return None;
                    }
                }
                Step::Json => parsers::json_all(&line, lbs),
                Step::JsonPaths(params) => parsers::json_paths(&line, params, lbs),
                Step::Logfmt { strict, keep_empty } => parsers::logfmt_all(&line, *strict, *keep_empty, lbs),
                Step::LogfmtParams { strict, params } => parsers::logfmt_params(&line, *strict, params, lbs),
                Step::Regexp(re, names) => parsers::regexp(&line, re, names, lbs),
                Step::Pattern(p) => parsers::pattern(&line, p, lbs),
                Step::Unpack => {
                    if let Some(entry) = parsers::unpack(&line, lbs) {
                        line = Cow::Owned(entry);
                    }
                }
                Step::LabelFilter(f) => {
                    if !f.test(lbs) {
                        return None;
                    }
                }
                Step::LineFormat(f) => {
                    if let Some(new) = f.apply(&line, ts, lbs) {
                        line = Cow::Owned(new);
                    }
                }
                Step::LabelFormat(f) => f.apply(&line, ts, lbs),
                Step::Decolorize => {
                    if let Cow::Owned(s) = decolorize(&line) {
                        line = Cow::Owned(s);
                    }
                }
                Step::Drop(ms) => drop_labels(ms, lbs),
                Step::Keep(ms) => keep_labels(ms, lbs),
            }
        }
        Some(line)
    }
}

fn compile_stage(s: &Stage) -> Result<Step, String> {
    Ok(match s {
        Stage::LineFilter(f) => Step::LineFilter(RowLineFilter::compile(f)?),
        Stage::Parser(p) => match p {
            ParserStage::Json(params) if params.is_empty() => Step::Json,
            ParserStage::Json(params) => Step::JsonPaths(
                params
                    .iter()
                    .map(|e| Ok((e.name.clone(), parsers::parse_json_path(&e.expression)?)))
                    .collect::<Result<_, String>>()?,
            ),
            ParserStage::Logfmt { flags, params } => {
                let strict = flags.iter().any(|f| f == "--strict");
                let keep_empty = flags.iter().any(|f| f == "--keep-empty");
                if params.is_empty() {
                    Step::Logfmt { strict, keep_empty }
                } else {
                    Step::LogfmtParams { strict, params: params.iter().map(|e| (e.name.clone(), e.expression.clone())).collect() }
                }
            }
            ParserStage::Regexp(re) => {
                let compiled = Regex::new(re).map_err(|e| format!("invalid regexp parser: {e}"))?;
                let mut names: Vec<(usize, String)> = Vec::new();
                for (i, name) in compiled.capture_names().enumerate() {
                    let Some(name) = name else { continue };
                    if !store::labels::valid_label_name(name) {
                        return Err(format!("invalid extracted label name '{name}'"));
                    }
                    if names.iter().any(|(_, n)| n == name) {
                        return Err(format!("duplicate extracted label name '{name}'"));
                    }
                    names.push((i, name.to_string()));
                }
                if names.is_empty() {
                    return Err("invalid regexp parser: at least one named capture must be supplied".into());
                }
                Step::Regexp(compiled, names)
            }
            ParserStage::Pattern(p) => Step::Pattern(Pattern::parse(p)?),
            ParserStage::Unpack => Step::Unpack,
            ParserStage::Xml(_) => return Err("the xml parser is not supported".into()),
        },
        Stage::LabelFilter(f) => Step::LabelFilter(Filter::compile(f)?),
        Stage::LineFormat(t) => Step::LineFormat(LineFormat::compile(t)?),
        Stage::LabelFormat(ops) => Step::LabelFormat(LabelFormatStage::compile(ops)?),
        Stage::Decolorize => Step::Decolorize,
        Stage::Drop(ms) => Step::Drop(ms.clone()),
        Stage::Keep(ms) => Step::Keep(ms.clone()),
    })
}

/// ANSI escape sequences, as the `decolorize` stage strips them.
static ANSI: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"[\x1b\x{9b}][\[\]()#;?]*(?:(?:(?:[a-zA-Z\d]*(?:;[-a-zA-Z\d/#&.:=?%@~_]*)*)?\x07)|(?:(?:\d{1,4}(?:;\d{0,4})*)?[\dA-PR-TZcf-nq-uy=><~]))",
    )
    .ok()
});

/// The line without ANSI colour codes.
pub fn decolorize(line: &str) -> Cow<'_, str> {
    match ANSI.as_ref() {
        Some(re) if line.contains(['\x1b', '\u{9b}']) => re.replace_all(line, ""),
        _ => Cow::Borrowed(line),
    }
}

fn drop_labels(ms: &[NamedMatcher], lbs: &mut LabelsBuilder) {
    for m in ms {
        match m {
            NamedMatcher::Name(n) if n == ERROR => lbs.clear_error(),
            NamedMatcher::Name(n) if n == ERROR_DETAILS => lbs.clear_error_details(),
            NamedMatcher::Name(n) => lbs.delete(n),
            NamedMatcher::Matcher(m) => {
                let current = match m.name.as_str() {
                    ERROR => lbs.error().map(str::to_string),
                    ERROR_DETAILS => lbs.error_details().map(str::to_string),
                    n => lbs.get(n).map(str::to_string),
                };
                if m.matches_value(current.as_deref().unwrap_or("")) {
                    match m.name.as_str() {
                        ERROR => lbs.clear_error(),
                        ERROR_DETAILS => lbs.clear_error_details(),
                        n => lbs.delete(n),
                    }
                }
            }
        }
    }
}

fn keep_labels(ms: &[NamedMatcher], lbs: &mut LabelsBuilder) {
    for name in lbs.names() {
        let keep = ms.iter().any(|m| match m {
            NamedMatcher::Name(n) => *n == name,
            NamedMatcher::Matcher(m) => m.name == name && m.matches_value(lbs.get(&name).unwrap_or("")),
        });
        if !keep {
            lbs.delete(&name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn pipeline(q: &str) -> Pipeline {
        match crate::logql::parse(q).unwrap() {
            crate::logql::Expr::Log(l) => Pipeline::compile(&l.pipeline).unwrap(),
            _ => panic!("not a log query"),
        }
    }

    fn run(q: &str, line: &str) -> Option<(String, Vec<(String, String)>)> {
        let p = pipeline(q);
        let mut lbs = LabelsBuilder::default();
        lbs.reset(&Arc::new(vec![("app".into(), "api".into()), ("pod".into(), "p1".into())]), &[]);
        p.process(line, 1_000_000_000, &mut lbs).map(|l| (l.into_owned(), lbs.pairs()))
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn line_filters_move_ahead_of_parsers() {
        let p = pipeline(r#"{a="b"} | json |= "x" | level="error" != "y""#);
        assert_eq!(p.scan_filters.len(), 1);
        assert_eq!(p.steps.len(), 3);
    }

    #[test]
    fn logfmt_filters_and_formats() {
        let q = r#"{a="b"} | logfmt | status >= 500 | line_format "{{.level}} {{.status}}" | label_format lvl=level | drop status"#;
        let (line, labels) = run(q, "level=error status=503 app=web").unwrap();
        assert_eq!(line, "error 503");
        assert_eq!(labels, pairs(&[("app", "api"), ("app_extracted", "web"), ("lvl", "error"), ("pod", "p1")]));
        assert!(run(q, "level=info status=200").is_none());
        let (_, labels) = run(r#"{a="b"} | logfmt | status > 1"#, "status=abc").unwrap();
        assert!(labels.contains(&("__error__".into(), "LabelFilterErr".into())), "{labels:?}");
    }

    #[test]
    fn keep_and_errors() {
        let (_, labels) = run(r#"{a="b"} | json | keep app, level"#, r#"{"level":"x","other":1}"#).unwrap();
        assert_eq!(labels, pairs(&[("app", "api"), ("level", "x")]));
        assert!(run(r#"{a="b"} | json | __error__="""#, "not json").is_none());
        let (_, labels) = run(r#"{a="b"} | json"#, "not json").unwrap();
        assert!(labels.contains(&("__error__".into(), "JSONParserErr".into())));
    }

    #[test]
    fn decolorizes() {
        assert_eq!(decolorize("note=\x1b[31mred\x1b[0m"), "note=red");
    }
}
