//! LogQL parse errors, rendered exactly as Loki renders them.

use std::fmt;

/// A parse error with an optional position.
///
/// Displays as `parse error at line L, col C: <msg>`, or `parse error : <msg>` when the error
/// has no position (line and column both 0), as Loki's `logqlmodel.ParseError` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// What went wrong.
    pub msg: String,
    /// 1-based line, or 0.
    pub line: usize,
    /// 1-based column, or 0.
    pub col: usize,
}

impl ParseError {
    /// An error at a position.
    pub fn at(msg: impl Into<String>, line: usize, col: usize) -> ParseError {
        ParseError { msg: msg.into(), line, col }
    }

    /// An error without a position.
    pub fn plain(msg: impl Into<String>) -> ParseError {
        ParseError { msg: msg.into(), line: 0, col: 0 }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 && self.col == 0 {
            write!(f, "parse error : {}", self.msg)
        } else {
            write!(f, "parse error at line {}, col {}: {}", self.line, self.col, self.msg)
        }
    }
}

impl std::error::Error for ParseError {}
