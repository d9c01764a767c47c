//! The per-line label set a pipeline works on, with Loki's three categories.
//!
//! * **stream** labels are the base and never change; deleting or overriding one hides it;
//! * **structured metadata** is loaded before the first stage (a name that is also a stream
//!   label becomes `<name>_extracted`);
//! * **parsed** labels come from parsers and `label_format`.
//!
//! Lookups go parsed, then metadata, then (unless hidden) stream. Implicit parsers skip a
//! name that was already parsed on this line (first wins); parameterised parsers and
//! `label_format` overwrite. `__error__` and `__error_details__` live beside the labels:
//! only string matchers on `__error__` see them, and they join the labels at the end.

use std::sync::Arc;

/// Suffix for parsed or metadata names that collide with existing labels.
pub const EXTRACTED_SUFFIX: &str = "_extracted";
/// The error label.
pub const ERROR: &str = "__error__";
/// The error details label.
pub const ERROR_DETAILS: &str = "__error_details__";

/// Sorted name/value pairs.
pub type Pairs = Vec<(String, String)>;

/// One line's labels while the pipeline runs.
#[derive(Debug, Default, Clone)]
pub struct LabelsBuilder {
    base: Arc<Pairs>,
    hidden: Vec<bool>,
    metadata: Pairs,
    parsed: Pairs,
    seen: Vec<String>,
    err: Option<String>,
    err_details: Option<String>,
}

/// The final labels of a line, by category.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Categorized {
    /// Stream labels still visible.
    pub stream: Pairs,
    /// Structured metadata still visible.
    pub metadata: Pairs,
    /// Parsed labels, with `__error__` / `__error_details__`.
    pub parsed: Pairs,
}

impl LabelsBuilder {
    /// Starts a line of the stream with labels `base` (sorted) and structured `metadata`.
    pub fn reset(&mut self, base: &Arc<Pairs>, metadata: &[(String, String)]) {
        if !Arc::ptr_eq(&self.base, base) {
            self.base = Arc::clone(base);
        }
        self.hidden.clear();
        self.hidden.resize(self.base.len(), false);
        self.metadata.clear();
        self.parsed.clear();
        self.seen.clear();
        self.err = None;
        self.err_details = None;
        for (name, value) in metadata {
            let name = if self.base_index(name).is_some() { format!("{name}{EXTRACTED_SUFFIX}") } else { name.clone() };
            match self.metadata.iter_mut().find(|(n, _)| *n == name) {
                Some(slot) => slot.1 = value.clone(),
                None => self.metadata.push((name, value.clone())),
            }
        }
    }

    fn base_index(&self, name: &str) -> Option<usize> {
        self.base.binary_search_by(|(n, _)| n.as_str().cmp(name)).ok()
    }

    /// The current value of `name` (not the error labels).
    pub fn get(&self, name: &str) -> Option<&str> {
        if let Some((_, v)) = self.parsed.iter().find(|(n, _)| n == name) {
            return Some(v);
        }
        if let Some((_, v)) = self.metadata.iter().find(|(n, _)| n == name) {
            return Some(v);
        }
        self.base_index(name).filter(|i| !self.hidden[*i]).map(|i| self.base[i].1.as_str())
    }

    /// True when `name` is a stream label or a structured metadata name: a parser must
    /// then use `<name>_extracted`.
    pub fn collides(&self, name: &str) -> bool {
        self.base_index(name).is_some() || self.metadata.iter().any(|(n, _)| n == name)
    }

    /// Sets parsed label `name`, hiding a stream label and replacing metadata of that name.
    pub fn set_parsed(&mut self, name: &str, value: &str) {
        if let Some(i) = self.base_index(name) {
            self.hidden[i] = true;
        }
        self.metadata.retain(|(n, _)| n != name);
        match self.parsed.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => value.clone_into(&mut slot.1),
            None => self.parsed.push((name.to_string(), value.to_string())),
        }
        if !self.seen.iter().any(|n| n == name) {
            self.seen.push(name.to_string());
        }
    }

    /// What an implicit parser does with a key it found: rename on collision, skip a name
    /// already parsed on this line, otherwise set it.
    pub fn add_extracted(&mut self, key: &str, value: &str) {
        if self.collides(key) {
            let renamed = format!("{key}{EXTRACTED_SUFFIX}");
            if !self.seen.contains(&renamed) {
                self.set_parsed(&renamed, value);
            }
        } else if !self.seen.iter().any(|n| n == key) {
            self.set_parsed(key, value);
        }
    }

    /// The name a parameterised parser writes `name` under (`_extracted` on collision).
    pub fn param_name(&self, name: &str) -> String {
        if self.base_index(name).is_some() { format!("{name}{EXTRACTED_SUFFIX}") } else { name.to_string() }
    }

    /// Removes `name` from every category.
    pub fn delete(&mut self, name: &str) {
        if let Some(i) = self.base_index(name) {
            self.hidden[i] = true;
        }
        self.metadata.retain(|(n, _)| n != name);
        self.parsed.retain(|(n, _)| n != name);
    }

    /// Names of every visible label (not the error labels).
    pub fn names(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .base
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.hidden[*i])
            .map(|(_, (n, _))| n.clone())
            .collect();
        out.extend(self.metadata.iter().map(|(n, _)| n.clone()));
        out.extend(self.parsed.iter().map(|(n, _)| n.clone()));
        out
    }

    /// The current error, if any.
    pub fn error(&self) -> Option<&str> {
        self.err.as_deref()
    }

    /// True when an error is set.
    pub fn has_error(&self) -> bool {
        self.err.is_some()
    }

    /// Sets the error and its details (a parser failure overwrites an earlier error).
    pub fn set_error(&mut self, kind: &str, details: impl Into<String>) {
        self.err = Some(kind.to_string());
        let d = details.into();
        self.err_details = if d.is_empty() { None } else { Some(d) };
    }

    /// Clears the error (`drop __error__`).
    pub fn clear_error(&mut self) {
        self.err = None;
    }

    /// Clears the error details (`drop __error_details__`).
    pub fn clear_error_details(&mut self) {
        self.err_details = None;
    }

    /// The current error details, if any.
    pub fn error_details(&self) -> Option<&str> {
        self.err_details.as_deref()
    }

    /// Every label with the error labels, sorted by name.
    pub fn pairs(&self) -> Pairs {
        let c = self.categorized();
        let mut all = c.stream;
        all.extend(c.metadata);
        all.extend(c.parsed);
        all.sort();
        all
    }

    /// The labels by category (each sorted by name).
    pub fn categorized(&self) -> Categorized {
        let stream: Pairs = self.base.iter().enumerate().filter(|(i, _)| !self.hidden[*i]).map(|(_, p)| p.clone()).collect();
        let mut metadata = self.metadata.clone();
        metadata.sort();
        let mut parsed = self.parsed.clone();
        if let Some(e) = &self.err {
            parsed.push((ERROR.to_string(), e.clone()));
        }
        if let Some(d) = &self.err_details {
            parsed.push((ERROR_DETAILS.to_string(), d.clone()));
        }
        parsed.sort();
        Categorized { stream, metadata, parsed }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder(base: &[(&str, &str)], sm: &[(&str, &str)]) -> LabelsBuilder {
        let base: Pairs = base.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        let sm: Pairs = sm.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        let mut b = LabelsBuilder::default();
        b.reset(&Arc::new(base), &sm);
        b
    }

    #[test]
    fn collisions_and_first_wins() {
        let mut b = builder(&[("app", "x")], &[("trace", "t"), ("app", "m")]);
        assert_eq!(b.get("app_extracted"), Some("m"));
        b.add_extracted("app", "p");
        b.add_extracted("trace", "q");
        b.add_extracted("level", "info");
        b.add_extracted("level", "debug");
        assert_eq!(b.get("app"), Some("x"));
        assert_eq!(b.get("app_extracted"), Some("p"), "a parsed name replaces metadata of that name");
        assert_eq!(b.get("trace_extracted"), Some("q"));
        assert_eq!(b.get("level"), Some("info"));
        b.set_parsed("level", "warn");
        assert_eq!(b.get("level"), Some("warn"));
        b.delete("app");
        assert_eq!(b.get("app"), None);
        b.set_error("JSONParserErr", "bad");
        let c = b.categorized();
        assert!(c.stream.is_empty());
        assert!(c.parsed.contains(&("__error__".into(), "JSONParserErr".into())));
    }
}
