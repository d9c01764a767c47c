//! Label matchers: the `=`, `!=`, `=~`, `!~` terms of a LogQL stream selector.

use regex::Regex;

use crate::StoreError;
use crate::labels::Labels;

/// How a matcher compares a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    /// `=`: equal.
    Eq,
    /// `!=`: not equal.
    Neq,
    /// `=~`: fully anchored regular expression matches.
    Re,
    /// `!~`: fully anchored regular expression does not match.
    Nre,
}

impl MatchOp {
    /// The operator as written in LogQL.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Eq => "=",
            MatchOp::Neq => "!=",
            MatchOp::Re => "=~",
            MatchOp::Nre => "!~",
        }
    }
}

/// One label matcher; a missing label has the value `""`.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// Label name.
    pub name: String,
    /// Comparison.
    pub op: MatchOp,
    /// Value or pattern as written.
    pub value: String,
    regex: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Matcher {
    /// Builds a matcher, compiling the anchored regex for `=~` and `!~`.
    pub fn new(name: impl Into<String>, op: MatchOp, value: impl Into<String>) -> Result<Matcher, StoreError> {
        let value = value.into();
        let regex = match op {
            MatchOp::Re | MatchOp::Nre => Some(
                Regex::new(&format!("^(?s:{value})$")).map_err(|source| StoreError::Regex {
                    pattern: value.clone(),
                    source,
                })?,
            ),
            _ => None,
        };
        Ok(Matcher { name: name.into(), op, value, regex })
    }

    /// True when `value` (the label's value, `""` when absent) satisfies the matcher.
    pub fn matches_value(&self, value: &str) -> bool {
        match (self.op, &self.regex) {
            (MatchOp::Eq, _) => value == self.value,
            (MatchOp::Neq, _) => value != self.value,
            (MatchOp::Re, Some(r)) => r.is_match(value),
            (MatchOp::Nre, Some(r)) => !r.is_match(value),
            _ => false,
        }
    }

    /// True when the matcher accepts the empty string, i.e. matches streams without the label.
    pub fn matches_empty(&self) -> bool {
        self.matches_value("")
    }

    /// True when the label set satisfies the matcher.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matches_value(labels.get(&self.name).unwrap_or(""))
    }
}

/// True when every matcher accepts the label set.
pub fn matches_all(matchers: &[Matcher], labels: &Labels) -> bool {
    matchers.iter().all(|m| m.matches(labels))
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.name, self.op.as_str())?;
        crate::labels::write_quoted(f, &self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_is_anchored() {
        let m = Matcher::new("a", MatchOp::Re, "H.*").unwrap();
        assert!(m.matches_value("HDFS"));
        assert!(!m.matches_value("xHDFS"));
        let n = Matcher::new("a", MatchOp::Nre, "Linux|Spark").unwrap();
        assert!(!n.matches_value("Spark"));
        assert!(n.matches_value("Sparky"));
        assert!(n.matches_empty());
    }
}
