//! Line filters evaluated per line inside the pipeline (those that follow a barrier stage
//! and so cannot run in the scan).

use regex::Regex;

use super::pattern::Pattern;
use crate::logql::ast::{FilterValue, LineFilter, LineFilterOp};
use crate::plan::ip::IpPattern;

/// One operand of a line filter.
#[derive(Debug, Clone)]
enum Operand {
    Contains(String),
    Regex(Regex),
    Pattern(Pattern),
    Ip(IpPattern),
}

/// A compiled line filter with its `or` alternatives.
#[derive(Debug, Clone)]
pub struct RowLineFilter {
    negative: bool,
    operands: Vec<Operand>,
}

impl RowLineFilter {
    /// Compiles a filter; regexes and patterns are checked here.
    pub fn compile(f: &LineFilter) -> Result<RowLineFilter, String> {
        let mut operands = Vec::with_capacity(f.values.len());
        for v in &f.values {
            operands.push(match (f.op, v) {
                (_, FilterValue::Ip(p)) => Operand::Ip(IpPattern::parse(p)?),
                (LineFilterOp::Contains | LineFilterOp::NotContains, FilterValue::Literal(s)) => Operand::Contains(s.clone()),
                (LineFilterOp::Regex | LineFilterOp::NotRegex, FilterValue::Literal(s)) => {
                    Operand::Regex(Regex::new(s).map_err(|e| format!("invalid regex {s:?}: {e}"))?)
                }
                (LineFilterOp::Pattern | LineFilterOp::NotPattern, FilterValue::Literal(s)) => Operand::Pattern(Pattern::parse_line_filter(s)?),
            });
        }
        Ok(RowLineFilter { negative: f.op.is_negative(), operands })
    }

    /// True when `line` passes.
    pub fn test(&self, line: &str) -> bool {
        let any = self.operands.iter().any(|o| match o {
            Operand::Contains(s) => line.contains(s.as_str()),
            Operand::Regex(r) => r.is_match(line),
            Operand::Pattern(p) => p.test(line),
            Operand::Ip(p) => p.matches_line(line),
        });
        any != self.negative
    }
}
