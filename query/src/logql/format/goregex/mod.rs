//! Whether Loki turns a `=~` label filter's regex into literal matching, which decides if
//! the filter prints its regex between backticks.
//!
//! This models the shape of Go's parsed regex (literal runs merged, common literal
//! prefixes of alternatives factored out, runs of single characters in an alternation
//! turned into a character class) and Loki's rules for what it simplifies: literals, `.*`,
//! `.+`, empty, alternations of those, and concatenations of at most three parts with one
//! literal, `.*`s and an alternation following the literal.
//!
//! * [`parse`] reads the regex text into a [`Node`] tree as Go's `regexp/syntax` would;
//! * [`factor`] applies Go's factoring of alternations;
//! * [`simplify`] applies Loki's rules to the tree.

mod factor;
mod parse;
mod simplify;

use parse::Parser;

/// Deeper nesting is treated as not simplifiable instead of recursing further.
const MAX_DEPTH: usize = 200;

/// A node of Go's parsed regex, reduced to the shapes Loki's simplification looks at.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    /// Literal runes; `fold` for case-insensitive (runes stored as Go's minimal fold rune).
    Lit {
        runes: Vec<char>,
        fold: bool,
    },
    /// The empty string; `fold` when parsed under `(?i)`.
    Empty {
        fold: bool,
    },
    /// `.` without the `s` flag.
    AnyNotNl,
    /// `.*` without the `s` flag.
    AnyStar {
        fold: bool,
    },
    /// `.+` without the `s` flag.
    AnyPlus,
    /// An alternation `a|b|...`.
    Alt(Vec<Node>),
    /// A concatenation of two or more parts.
    Concat(Vec<Node>),
    /// A capturing group.
    Capture(Box<Node>),
    /// Anything Loki never simplifies (classes, anchors, other repetitions, ...).
    Other,
}

/// The parser flags Loki's rules depend on: `i` (case folding) and `s` (`.` matches `\n`).
#[derive(Debug, Clone, Copy, Default)]
struct Flags {
    fold: bool,
    dot_nl: bool,
}

/// True when Loki reduces `re` to literal matching, or when Go would not parse it (Loki
/// then keeps the plain matcher form too).
pub(super) fn label_regex_simplifies(re: &str) -> bool {
    let chars: Vec<char> = re.chars().collect();
    let mut parser = Parser::new(&chars);
    let mut flags = Flags::default();
    match parser.alternation(&mut flags, 0) {
        Some(node) if parser.at_end() => simplify::simplifies(&node, 0),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::label_regex_simplifies as simple;

    #[test]
    fn literal_shapes_simplify() {
        for re in [
            "",
            "foo",
            "(?i)foo",
            ".*",
            ".+",
            "foo.*",
            ".*foo.*",
            "(foo|bar)",
            "error|warn",
            "err|error",
            "bar|b|buzz",
            "foo|foobar|fooqux",
            "foo[.]bar",
            "foo\\.bar",
            "(?i).*|UNSET",
            "(?:foo)bar",
        ] {
            assert!(simple(re), "{re}");
        }
    }

    #[test]
    fn real_regexes_do_not() {
        for re in [
            "5..",
            "\\d+",
            "[0-9]+",
            "bar|baz",
            "foo|bar|baz",
            "abc|abd",
            "a|b",
            "^foo$",
            ".+foo",
            "foo.+",
            "(foo)bar",
            "a*",
            "x{2}",
            "(?s).*",
            "(?i)^(Error|Exception)$",
        ] {
            assert!(!simple(re), "{re}");
        }
    }
}
