//! LogQL formatting: Loki's one-line canonical form and its multi-line pretty form.
//!
//! [`canonical()`] renders a parsed query the way Loki's `Expr.String()` does; [`prettify`]
//! renders it the way Loki's `syntax.Prettify` does, which is what
//! `GET /loki/api/v1/format_query` returns.
//!
//! Both work on a view of the tree that matches Loki's own AST where ours differs:
//!
//! * binary operations whose two sides are number literals are folded into one literal, as
//!   Loki's parser does (`1 > 1 > 1` prints as `0`);
//! * consecutive line filters form one chain, and a negative filter with `or` alternatives
//!   becomes one filter per alternative (`!= "a" or "b"` prints as `!= "a" != "b"`);
//! * a `=~` label filter whose regex Loki cannot reduce to literal matching prints its
//!   regex between backticks (``status=~`5..` ``), the other string filters print like
//!   selector matchers.
//!
//! Pretty printing follows Loki's rule: an expression whose one-line form is longer than
//! 100 bytes is split, its children one indentation level (two spaces) deeper; shorter
//! expressions stay on one line. Loki's harmless quirks are kept on purpose so that the
//! output is byte-identical: `| decolorize` is never indented, and binary-operator lines
//! with `on (...)`/`ignoring (...)` but no group modifier end with a space.
//! Unlike Loki, a split line-filter chain prints every `or` operand of a link (Loki keeps
//! only the first) and an empty `without` list prints as `without ()` (Loki prints a bare
//! ` without`), because Loki's output there silently drops a filter or does not parse back.
//!
//! Layout of this module:
//!
//! * `canonical`: the one-line form of each AST node;
//! * `pretty`: the multi-line layout;
//! * `fold`: folding of operations between number literals;
//! * `goregex`: the model of Go's regex parsing and Loki's simplification that decides
//!   backticks;
//! * `numbers` and `quote`: Go's formatting of numbers, durations, byte sizes and
//!   quoted strings.

mod canonical;
mod fold;
mod goregex;
mod numbers;
mod pretty;
mod quote;
#[cfg(test)]
mod tests;

use super::ast::Expr;
use fold::fold_literals;
use pretty::{Printer, MAX_CHARS_PER_LINE};

/// Renders `expr` on one line exactly as Loki's `Expr.String()` does.
pub fn canonical(expr: &Expr) -> String {
    match expr {
        Expr::Log(log) => canonical::log_string(log),
        Expr::Metric(metric) => canonical::metric_string(&fold_literals(metric)),
    }
}

/// Renders one pipeline stage on one line as Loki's `StageExpr.String()` does (a line
/// filter with `!=`/`!~`/`!>` and `or` alternatives prints as one filter per operand).
pub fn stage(stage: &super::ast::Stage) -> String {
    canonical::stage_string(stage)
}

/// Renders `expr` as Loki's `syntax.Prettify` does (the `format_query` API's output).
pub fn prettify(expr: &Expr) -> String {
    Printer { width: MAX_CHARS_PER_LINE }.expr(expr)
}
