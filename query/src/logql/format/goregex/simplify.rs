//! Loki's rules for which parsed regexes it turns into literal matching.

use super::{Node, MAX_DEPTH};

/// The content of (nested) capturing groups.
fn clear_capture(mut n: &Node) -> &Node {
    while let Node::Capture(inner) = n {
        n = inner;
    }
    n
}

/// True for a case-insensitive literal, empty or `.*`.
fn node_fold(n: &Node) -> bool {
    matches!(n, Node::Lit { fold: true, .. } | Node::Empty { fold: true } | Node::AnyStar { fold: true })
}

/// True when Loki turns the tree into literal matching.
pub(super) fn simplifies(n: &Node, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    match clear_capture(n) {
        Node::Alt(legs) => legs.iter().all(|leg| simplifies(leg, depth + 1)),
        Node::Concat(subs) => concat_simplifies(subs, None, depth + 1),
        Node::Lit { .. } | Node::AnyStar { .. } | Node::AnyPlus | Node::Empty { .. } => true,
        _ => false,
    }
}

/// At most three parts (empties ignored): one literal, `.*`s, and alternations that
/// follow a literal.
fn concat_simplifies(subs: &[Node], base: Option<Vec<char>>, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    let parts: Vec<&Node> = subs.iter().map(clear_capture).filter(|s| !matches!(s, Node::Empty { .. })).collect();
    if parts.len() > 3 {
        return false;
    }
    let mut base = base;
    let mut literals = 0;
    let mut base_fold = false;
    let mut from_alternation = false;
    for part in parts {
        match (part, &base) {
            (Node::Lit { runes, fold }, _) => {
                if literals > 0 {
                    return false;
                }
                literals += 1;
                base.get_or_insert_with(Vec::new).extend(runes);
                base_fold = *fold;
            }
            (Node::Alt(alts), Some(prefix)) => {
                if !concat_alternate_simplifies(alts, prefix, base_fold, depth + 1) {
                    return false;
                }
                from_alternation = true;
            }
            (Node::AnyStar { .. }, _) => {}
            _ => return false,
        }
    }
    from_alternation || base.is_some()
}

/// Alternatives appended to a literal prefix: empty, literals, `.*`, or concatenations
/// that simplify with the prefix; a case-insensitive alternative needs a
/// case-insensitive prefix.
fn concat_alternate_simplifies(alts: &[Node], prefix: &[char], prefix_fold: bool, depth: usize) -> bool {
    !alts.is_empty()
        && alts.iter().all(|alt| {
            (prefix_fold || !node_fold(alt))
                && match alt {
                    Node::Empty { .. } | Node::Lit { .. } | Node::AnyStar { .. } => true,
                    Node::Concat(subs) => concat_simplifies(subs, Some(prefix.to_vec()), depth + 1),
                    _ => false,
                }
        })
}
