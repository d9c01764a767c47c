//! Go's factoring of alternations, which decides the tree shape Loki's rules see.

use super::{Node, MAX_DEPTH};

/// An alternation: nested alternations flattened, then factored as Go does.
pub(super) fn collapse_alt(branches: Vec<Node>, depth: usize) -> Node {
    if depth > MAX_DEPTH {
        return Node::Other;
    }
    let mut subs = Vec::with_capacity(branches.len());
    for b in branches {
        match b {
            Node::Alt(inner) => subs.extend(inner),
            other => subs.push(other),
        }
    }
    if subs.len() == 1 {
        return subs.pop().unwrap_or(Node::Other);
    }
    let mut subs = merge_empty_runs(char_class_runs(factor_prefixes(subs, depth)));
    if subs.len() == 1 { subs.pop().unwrap_or(Node::Other) } else { Node::Alt(subs) }
}

/// The literal an alternative starts with, and its case folding.
fn leading_string(n: &Node) -> (&[char], bool) {
    let first = match n {
        Node::Concat(subs) => subs.first(),
        other => Some(other),
    };
    match first {
        Some(Node::Lit { runes, fold }) => (runes, *fold),
        _ => (&[], false),
    }
}

/// `n` without its first `count` leading literal runes.
fn remove_leading(n: Node, count: usize) -> Node {
    match n {
        Node::Lit { runes, fold } if runes.len() <= count => Node::Empty { fold },
        Node::Lit { runes, fold } => Node::Lit { runes: runes[count..].to_vec(), fold },
        Node::Concat(mut subs) if !subs.is_empty() => {
            let first = remove_leading(subs.remove(0), count);
            if !matches!(first, Node::Empty { .. }) {
                subs.insert(0, first);
                return Node::Concat(subs);
            }
            match subs.len() {
                0 => Node::Empty { fold: false },
                1 => subs.pop().unwrap_or(Node::Empty { fold: false }),
                _ => Node::Concat(subs),
            }
        }
        other => other,
    }
}

/// Go's first factoring round: runs of alternatives sharing a literal prefix become
/// `prefix(suffix1|suffix2|...)`.
fn factor_prefixes(subs: Vec<Node>, depth: usize) -> Vec<Node> {
    let mut out = Vec::with_capacity(subs.len());
    let mut start = 0;
    let mut prefix: Vec<char> = Vec::new();
    let mut prefix_fold = false;
    for i in 0..=subs.len() {
        let (next, next_fold) = subs.get(i).map(leading_string).unwrap_or((&[], false));
        if i < subs.len() && next_fold == prefix_fold {
            let same = prefix.iter().zip(next).take_while(|(a, b)| a == b).count();
            if same > 0 {
                prefix.truncate(same);
                continue;
            }
        }
        match i - start {
            0 => {}
            1 => out.push(subs[start].clone()),
            _ => {
                let suffixes = subs[start..i].iter().map(|s| remove_leading(s.clone(), prefix.len())).collect();
                let head = Node::Lit { runes: prefix.clone(), fold: prefix_fold };
                out.push(Node::Concat(vec![head, collapse_alt(suffixes, depth + 1)]));
            }
        }
        start = i;
        prefix = next.to_vec();
        prefix_fold = next_fold;
    }
    out
}

/// Alternatives Go merges into a character class: single runes and `.`.
fn is_char_class(n: &Node) -> bool {
    matches!(n, Node::Lit { runes, .. } if runes.len() == 1) || matches!(n, Node::AnyNotNl)
}

/// Go's third factoring round: a run of single characters becomes a character class.
fn char_class_runs(subs: Vec<Node>) -> Vec<Node> {
    let mut out = Vec::with_capacity(subs.len());
    let mut run: Vec<Node> = Vec::new();
    for sub in subs.into_iter().map(Some).chain(std::iter::once(None)) {
        if let Some(s) = sub.as_ref().filter(|s| is_char_class(s)) {
            run.push(s.clone());
            continue;
        }
        match run.len() {
            0 => {}
            1 => out.append(&mut run),
            _ => out.push(Node::Other),
        }
        run.clear();
        out.extend(sub);
    }
    out
}

/// Go's fourth factoring round: consecutive empty alternatives collapse into one.
fn merge_empty_runs(subs: Vec<Node>) -> Vec<Node> {
    let mut out: Vec<Node> = Vec::with_capacity(subs.len());
    for sub in subs {
        let repeat = matches!(sub, Node::Empty { .. }) && matches!(out.last(), Some(Node::Empty { .. }));
        if !repeat {
            out.push(sub);
        }
    }
    out
}
