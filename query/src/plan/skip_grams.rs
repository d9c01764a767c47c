//! What the skip filters can check for a query: the grams (`store::skip`) a row group must
//! hold for the query's positive line filters to pass.
//!
//! The result is a conjunction (every line filter) of disjunctions (its `or` alternatives,
//! or a regex's top-level alternation) of gram sets (all grams of the literals the
//! alternative needs). A filter that needs no literal of at least one gram (a negative
//! filter, `ip()`, a regex such as `\d+`) adds nothing, so nothing is skipped for it.

use regex_syntax::hir::{Class, Hir, HirKind};

use crate::logql::ast::{FilterValue, LineFilter, LineFilterOp};
use crate::pipeline::pattern::Pattern;

/// For each line filter that can prune, its alternatives' gram sets.
pub type Requirement = Vec<Vec<Vec<u64>>>;

/// The gram requirement of `filters`.
pub fn required_grams(filters: &[LineFilter]) -> Requirement {
    let mut out = Vec::new();
    for f in filters {
        let alternatives: Option<Vec<Vec<u64>>> = match f.op {
            LineFilterOp::Contains | LineFilterOp::Regex | LineFilterOp::Pattern => {
                f.values.iter().map(|v| value_alternatives(f.op, v)).collect::<Option<Vec<_>>>().map(|a| a.concat())
            }
            _ => None,
        };
        if let Some(a) = alternatives.filter(|a| !a.is_empty() && a.iter().all(|g| !g.is_empty())) {
            out.push(a);
        }
    }
    out
}

/// The gram sets one operand accepts (any one suffices), or `None` when it cannot prune.
fn value_alternatives(op: LineFilterOp, value: &FilterValue) -> Option<Vec<Vec<u64>>> {
    let FilterValue::Literal(text) = value else { return None };
    let regex = match op {
        LineFilterOp::Contains => return Some(vec![store::skip::grams_of(text.as_bytes())]),
        LineFilterOp::Regex => text,
        _ => {
            // Every literal of a pattern is a substring of any line that passes it.
            let pattern = Pattern::parse_any(text).ok()?;
            let mut grams: Vec<u64> = pattern.literals().flat_map(|l| store::skip::grams_of(l.as_bytes())).collect();
            grams.sort_unstable();
            grams.dedup();
            return Some(vec![grams]);
        }
    };
    let hir = regex_syntax::parse(regex).ok()?;
    let branches: Vec<&Hir> = match hir.kind() {
        HirKind::Alternation(bs) => bs.iter().collect(),
        _ => vec![&hir],
    };
    branches
        .into_iter()
        .map(|b| {
            let mut pieces = Vec::new();
            let mut piece = Vec::new();
            required_pieces(b, &mut piece, &mut pieces);
            pieces.push(piece);
            let mut grams: Vec<u64> = pieces.iter().flat_map(|p| store::skip::grams_of(p)).collect();
            grams.sort_unstable();
            grams.dedup();
            Some(grams)
        })
        .collect()
}

/// Appends to `piece` the literal text `hir` must match (lower-cased), closing it into
/// `pieces` wherever `hir` may match something else.
fn required_pieces(hir: &Hir, piece: &mut Vec<u8>, pieces: &mut Vec<Vec<u8>>) {
    let close = |piece: &mut Vec<u8>, pieces: &mut Vec<Vec<u8>>| pieces.push(std::mem::take(piece));
    match hir.kind() {
        HirKind::Literal(lit) => piece.extend(lit.0.iter().map(u8::to_ascii_lowercase)),
        HirKind::Class(class) => match single_folded_byte(class) {
            Some(b) => piece.push(b),
            None => close(piece, pieces),
        },
        HirKind::Capture(c) => required_pieces(&c.sub, piece, pieces),
        HirKind::Concat(items) => {
            for item in items {
                required_pieces(item, piece, pieces);
            }
        }
        HirKind::Repetition(r) if r.min >= 1 => {
            // At least one copy must match; what follows it is not adjacent to it.
            required_pieces(&r.sub, piece, pieces);
            close(piece, pieces);
        }
        HirKind::Look(_) => {}
        _ => close(piece, pieces),
    }
}

/// The one ASCII byte (lower-cased) every member of `class` folds to, if there is one:
/// `[Aa]` from `(?i)a` is `a`.
fn single_folded_byte(class: &Class) -> Option<u8> {
    let mut found: Option<u8> = None;
    let mut check = |lo: u32, hi: u32| -> bool {
        (lo..=hi).all(|c| {
            let Ok(b) = u8::try_from(c) else { return false };
            if !b.is_ascii() {
                return false;
            }
            let b = b.to_ascii_lowercase();
            *found.get_or_insert(b) == b
        })
    };
    let ok = match class {
        Class::Unicode(u) => u.ranges().iter().all(|r| check(u32::from(r.start()), u32::from(r.end()))),
        Class::Bytes(b) => b.ranges().iter().all(|r| check(u32::from(r.start()), u32::from(r.end()))),
    };
    if ok { found } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::skip::grams_of;

    fn filter(op: LineFilterOp, values: &[&str]) -> LineFilter {
        LineFilter { op, values: values.iter().map(|v| FilterValue::Literal(v.to_string())).collect() }
    }

    fn grams(s: &str) -> Vec<u64> {
        grams_of(s.as_bytes())
    }

    #[test]
    fn literals_regexes_and_patterns_give_their_grams() {
        assert_eq!(required_grams(&[filter(LineFilterOp::Contains, &["Timeout"])]), vec![vec![grams("timeout")]]);
        assert_eq!(required_grams(&[filter(LineFilterOp::Contains, &["error", "panic"])]), vec![vec![grams("error"), grams("panic")]]);
        let mut both: Vec<u64> = [grams("connection"), grams("refused")].concat();
        both.sort_unstable();
        assert_eq!(required_grams(&[filter(LineFilterOp::Regex, &["connection [a-z]+ refused"])]), vec![vec![both]]);
        assert_eq!(required_grams(&[filter(LineFilterOp::Regex, &["(?i)Timeout"])]), vec![vec![grams("timeout")]]);
        assert_eq!(required_grams(&[filter(LineFilterOp::Regex, &["timeout|deadline"])]), vec![vec![grams("timeout"), grams("deadline")]]);
        assert_eq!(required_grams(&[filter(LineFilterOp::Pattern, &["<_> failed login <_>"])]), vec![vec![grams("failed login")]]);
        let mut lits: Vec<u64> = [grams("login failed"), grams("from server")].concat();
        lits.sort_unstable();
        lits.dedup();
        assert_eq!(required_grams(&[filter(LineFilterOp::Pattern, &["login failed <_> from server"])]), vec![vec![lits]]);
    }

    #[test]
    fn what_cannot_prune_adds_nothing() {
        assert!(required_grams(&[filter(LineFilterOp::NotContains, &["timeout"])]).is_empty());
        assert!(required_grams(&[filter(LineFilterOp::Contains, &["abc"])]).is_empty(), "shorter than a gram");
        assert!(required_grams(&[filter(LineFilterOp::Contains, &["timeout", "ab"])]).is_empty(), "one alternative cannot prune");
        assert!(required_grams(&[filter(LineFilterOp::Regex, &[r"\d+ms"])]).is_empty());
        assert!(required_grams(&[filter(LineFilterOp::Regex, &["time(out)?x"])]).is_empty(), "an optional part splits the literal");
        assert_eq!(required_grams(&[filter(LineFilterOp::Regex, &["(timeout)+"])]), vec![vec![grams("timeout")]]);
    }
}
