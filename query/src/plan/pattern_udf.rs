//! `|> "pattern"` line filters as a DataFusion UDF: `skald_pattern_match(line, pattern)` runs
//! Loki's line-filter test ([`Pattern::test`]) on every line.

use super::line_udf::{LineTest, LineTestUdf};
use crate::pipeline::pattern::Pattern;

/// `skald_pattern_match(line, pattern)`: true when the line passes the pattern filter.
pub type PatternMatchUdf = LineTestUdf<Pattern>;

impl LineTest for Pattern {
    const NAME: &'static str = "skald_pattern_match";

    fn parse(pattern: &str) -> Result<Pattern, String> {
        Pattern::parse_any(pattern)
    }

    fn test(&self, line: &str) -> bool {
        Pattern::test(self, line)
    }
}
