//! Reading regex text into a [`Node`] tree the way Go's `regexp/syntax` parser shapes it.

use super::factor::collapse_alt;
use super::{Flags, Node, MAX_DEPTH};

/// A one-rune literal, folded to Go's minimal fold rune when case-insensitive.
fn lit(c: char, fold: bool) -> Node {
    let c = if fold { min_fold(c) } else { c };
    Node::Lit { runes: vec![c], fold }
}

/// The smallest code point among `c` and its one-character case mappings (Go's
/// minFoldRune, which case-insensitive literals are stored as).
fn min_fold(c: char) -> char {
    [Some(c), single_char(c.to_uppercase()), single_char(c.to_lowercase())].into_iter().flatten().min().unwrap_or(c)
}

/// The only character of `chars`, if it has exactly one.
fn single_char(mut chars: impl Iterator<Item = char>) -> Option<char> {
    match (chars.next(), chars.next()) {
        (Some(c), None) => Some(c),
        _ => None,
    }
}

/// True when `c` has another case form (so `[c]` under `(?i)` matches two runes).
fn has_case(c: char) -> bool {
    single_char(c.to_uppercase()) != Some(c) || single_char(c.to_lowercase()) != Some(c)
}

/// A recursive-descent reader over the regex's characters.
pub(super) struct Parser<'a> {
    chars: &'a [char],
    pos: usize,
}

impl<'a> Parser<'a> {
    /// A parser at the start of `chars`.
    pub(super) fn new(chars: &'a [char]) -> Self {
        Parser { chars, pos: 0 }
    }

    /// True when every character has been read.
    pub(super) fn at_end(&self) -> bool {
        self.pos == self.chars.len()
    }

    /// The character at the cursor.
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    /// The character at the cursor, moving past it.
    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        Some(c)
    }

    /// Moves past `c` if it is at the cursor.
    fn eat(&mut self, c: char) -> bool {
        let hit = self.peek() == Some(c);
        if hit {
            self.pos += 1;
        }
        hit
    }

    /// Moves past `c`, or fails when something else is at the cursor.
    fn expect(&mut self, c: char) -> Option<()> {
        self.eat(c).then_some(())
    }

    /// `a|b|...` up to the end or a closing parenthesis; `None` when Go would reject it.
    pub(super) fn alternation(&mut self, flags: &mut Flags, depth: usize) -> Option<Node> {
        if depth > MAX_DEPTH {
            return None;
        }
        let mut branches = vec![self.concat(flags, depth)?];
        while self.eat('|') {
            branches.push(self.concat(flags, depth)?);
        }
        Some(collapse_alt(branches, depth))
    }

    /// One branch of an alternation: items up to `|` or `)`, with `(?flags)` changing
    /// `flags` for the rest of the enclosing group.
    fn concat(&mut self, flags: &mut Flags, depth: usize) -> Option<Node> {
        let mut items: Vec<Node> = Vec::new();
        while let Some(c) = self.peek() {
            match c {
                '|' | ')' => break,
                '*' | '+' | '?' => {
                    self.pos += 1;
                    self.eat('?');
                    let last = items.pop()?;
                    items.push(quantify(last, c, *flags));
                }
                '{' if self.repeat_len().is_some() => {
                    self.pos += self.repeat_len()?;
                    self.eat('?');
                    items.pop()?;
                    items.push(Node::Other);
                }
                '(' => {
                    self.pos += 1;
                    self.group(flags, depth, &mut items)?;
                }
                '[' => {
                    self.pos += 1;
                    items.push(self.class(*flags)?);
                }
                '.' => {
                    self.pos += 1;
                    items.push(if flags.dot_nl { Node::Other } else { Node::AnyNotNl });
                }
                '^' | '$' => {
                    self.pos += 1;
                    items.push(Node::Other);
                }
                '\\' => {
                    self.pos += 1;
                    self.escape(*flags, &mut items)?;
                }
                c => {
                    self.pos += 1;
                    items.push(lit(c, flags.fold));
                }
            }
        }
        Some(build_concat(items))
    }

    /// Length of a `{n}`, `{n,}` or `{n,m}` repetition at the cursor.
    fn repeat_len(&self) -> Option<usize> {
        let rest = self.chars.get(self.pos..)?;
        let close = rest.iter().position(|&c| c == '}')?;
        let body: String = rest.get(1..close)?.iter().collect();
        let (min, max) = body.split_once(',').unwrap_or((&body, "0"));
        let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
        (!min.is_empty() && digits(min) && digits(max)).then_some(close + 1)
    }

    /// After `(`: a capture, a non-capturing group (pushed as its content) or a flag
    /// setting for the rest of the enclosing group.
    fn group(&mut self, flags: &mut Flags, depth: usize, items: &mut Vec<Node>) -> Option<()> {
        if !self.eat('?') {
            return self.capture(*flags, depth, items);
        }
        let named = if self.eat('P') { self.expect('<').is_some() } else { self.eat('<') };
        if named {
            while self.next()? != '>' {}
            return self.capture(*flags, depth, items);
        }
        let mut set = *flags;
        let mut negate = false;
        loop {
            match self.next()? {
                'i' => set.fold = !negate,
                's' => set.dot_nl = !negate,
                'm' | 'U' => {}
                '-' => negate = true,
                ')' => {
                    *flags = set;
                    return Some(());
                }
                ':' => {
                    let node = self.alternation(&mut set, depth + 1)?;
                    self.expect(')')?;
                    items.push(node);
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// The rest of a capturing group, flags restored at its end.
    fn capture(&mut self, flags: Flags, depth: usize, items: &mut Vec<Node>) -> Option<()> {
        let mut inner = flags;
        let node = self.alternation(&mut inner, depth + 1)?;
        self.expect(')')?;
        items.push(Node::Capture(Box::new(node)));
        Some(())
    }

    /// After `[`: a class of one plain character is a literal, anything else `Other`.
    fn class(&mut self, flags: Flags) -> Option<Node> {
        let negated = self.eat('^');
        let mut members: Vec<char> = Vec::new();
        let mut simple = !negated;
        let mut first = true;
        loop {
            let c = self.next()?;
            match c {
                ']' if !first => break,
                '[' if self.peek() == Some(':') => {
                    simple = false;
                    while !(self.next()? == ':' && self.eat(']')) {}
                }
                '\\' => match self.next()? {
                    e if e.is_ascii_punctuation() => members.push(e),
                    _ => simple = false,
                },
                '-' if !first && self.peek() != Some(']') => {
                    simple = false;
                    if self.next()? == '\\' {
                        self.next()?;
                    }
                }
                c => members.push(c),
            }
            first = false;
        }
        members.dedup();
        match members.as_slice() {
            [c] if simple => Some(lit(*c, flags.fold && has_case(*c))),
            _ => Some(Node::Other),
        }
    }

    /// After `\`: escaped punctuation and character escapes are literals.
    fn escape(&mut self, flags: Flags, items: &mut Vec<Node>) -> Option<()> {
        let c = self.next()?;
        let literal = match c {
            'a' => '\x07',
            'f' => '\x0c',
            't' => '\t',
            'n' => '\n',
            'r' => '\r',
            'v' => '\x0b',
            'x' => self.hex_escape()?,
            'Q' => {
                while let Some(c) = self.next() {
                    if c == '\\' && self.eat('E') {
                        break;
                    }
                    items.push(lit(c, flags.fold));
                }
                return Some(());
            }
            'p' | 'P' => {
                if self.eat('{') {
                    while self.next()? != '}' {}
                } else {
                    self.next()?;
                }
                items.push(Node::Other);
                return Some(());
            }
            'd' | 'D' | 's' | 'S' | 'w' | 'W' | 'b' | 'B' | 'A' | 'z' | '0'..='7' => {
                items.push(Node::Other);
                return Some(());
            }
            c if c.is_ascii_punctuation() => c,
            _ => return None,
        };
        items.push(lit(literal, flags.fold));
        Some(())
    }

    /// `\x41` or `\x{263a}` after the `x`.
    fn hex_escape(&mut self) -> Option<char> {
        let mut digits = String::new();
        if self.eat('{') {
            loop {
                match self.next()? {
                    '}' => break,
                    c => digits.push(c),
                }
            }
        } else {
            digits.push(self.next()?);
            digits.push(self.next()?);
        }
        char::from_u32(u32::from_str_radix(&digits, 16).ok()?)
    }
}

/// `.*` and `.+` keep their shape; every other repetition is [`Node::Other`].
fn quantify(node: Node, op: char, flags: Flags) -> Node {
    match (node, op) {
        (Node::AnyNotNl, '*') => Node::AnyStar { fold: flags.fold },
        (Node::AnyNotNl, '+') => Node::AnyPlus,
        _ => Node::Other,
    }
}

/// Merges adjacent literal items (same case folding) and splices groups' sequences in,
/// as Go's parser does; a spliced sequence does not merge with its neighbours.
fn build_concat(items: Vec<Node>) -> Node {
    let mut out: Vec<Node> = Vec::new();
    let mut mergeable = false;
    for item in items {
        match item {
            Node::Lit { runes, fold } => {
                match out.last_mut() {
                    Some(Node::Lit { runes: prev, fold: prev_fold }) if mergeable && *prev_fold == fold => {
                        prev.extend(runes)
                    }
                    _ => out.push(Node::Lit { runes, fold }),
                }
                mergeable = true;
            }
            Node::Concat(subs) => {
                out.extend(subs);
                mergeable = false;
            }
            other => {
                out.push(other);
                mergeable = false;
            }
        }
    }
    match out.len() {
        0 => Node::Empty { fold: false },
        1 => out.pop().unwrap_or(Node::Empty { fold: false }),
        _ => Node::Concat(out),
    }
}

