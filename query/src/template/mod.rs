//! Go `text/template`, as LogQL's `line_format` and `label_format` use it.
//!
//! Supported: text and actions with `{{-`/`-}}` trimming and comments; pipelines with `|`;
//! fields (`.a`, `$x.a`), variables (`:=`, `=`), string, raw string, character, number,
//! boolean and `nil` constants; parenthesised pipelines; `if`/`else if`/`else`, `with`,
//! `range` (with `break`/`continue`, `$i, $e :=`). `define`, `template` and `block` are
//! rejected. The functions are Go's builtins, Loki's and the Sprig subset Loki exposes
//! ([`funcs::NAMES`]).
//!
//! Values follow Go's printing rules (`<no value>` for a missing key unless
//! [`MissingKey::Zero`], `%v` float formatting, `map[...]`/`[...]` for composites).

pub mod exec;
pub mod funcs;
pub mod golayout;
pub mod lexer;
pub mod parser;
pub mod printf;
pub mod value;

pub use funcs::Ctx;
pub use value::Value;

/// A parse or execution failure, with Go's wording where it matters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The template text is invalid: Go's message after `template: `, normally
    /// `NAME:LINE: msg` (see [`Template::parse_named`]).
    #[error("template: {0}")]
    Parse(String),
    /// The template text is invalid at a byte offset of the source; [`Template::parse_named`]
    /// turns it into a [`TemplateError::Parse`] naming the template and the line.
    #[error("template: {1}")]
    ParseAt(usize, String),
    /// Execution failed (bad argument, missing function, ...).
    #[error("template: {0}")]
    Exec(String),
    /// Execution failed at a known node: the whole message, in Go's form
    /// `template: line:1:7: executing "line" at <.a.b>: ...`.
    #[error("{0}")]
    Located(String),
}

impl TemplateError {
    /// A parse error.
    pub fn parse(msg: impl Into<String>) -> TemplateError {
        TemplateError::Parse(msg.into())
    }

    /// A parse error at byte offset `pos` of the source.
    pub fn parse_at(pos: usize, msg: impl Into<String>) -> TemplateError {
        TemplateError::ParseAt(pos, msg.into())
    }

    /// This error located at byte offset `pos` when it is a parse error without a position.
    pub fn or_at(self, pos: usize) -> TemplateError {
        match self {
            TemplateError::Parse(msg) => TemplateError::ParseAt(pos, msg),
            other => other,
        }
    }

    /// An execution error.
    pub fn exec(msg: impl Into<String>) -> TemplateError {
        TemplateError::Exec(msg.into())
    }
}

/// What a missing map key evaluates to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingKey {
    /// Go's default: an invalid value that prints `<no value>`.
    #[default]
    Default,
    /// `missingkey=zero`: the zero value of the map's element type (an empty string).
    Zero,
}

/// A parsed template, ready to run many times.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    nodes: Vec<parser::Node>,
    missing: MissingKey,
    /// The source text, for `String()`-style rendering.
    pub source: String,
    /// The template's name in error messages (Loki: `line` or `label`).
    name: String,
}

impl Template {
    /// Parses `src`; unknown functions are parse errors, as in Go. The template is named
    /// `line` (see [`Template::parse_named`]).
    pub fn parse(src: &str, missing: MissingKey) -> Result<Template, TemplateError> {
        Template::parse_named(src, missing, "line")
    }

    /// Parses `src` as Go's `template.New(name).Parse(src)` does: a parse error reads
    /// `template: NAME:LINE: msg`, LINE being the 1-based line where the parser stopped.
    pub fn parse_named(src: &str, missing: MissingKey, name: &str) -> Result<Template, TemplateError> {
        let parsed = lexer::lex_positioned(src)
            .and_then(|toks| parser::parse(toks, src.len()))
            .and_then(|nodes| check_functions(&nodes).map(|()| nodes));
        match parsed {
            Ok(nodes) => Ok(Template { nodes, missing, source: src.to_string(), name: name.to_string() }),
            Err(TemplateError::ParseAt(pos, msg)) => {
                let line = 1 + src.as_bytes()[..pos.min(src.len())].iter().filter(|&&b| b == b'\n').count();
                Err(TemplateError::Parse(format!("{name}:{line}: {msg}")))
            }
            Err(other) => Err(other),
        }
    }

    /// The same template under another name (Go's `template.New(name)`).
    pub fn named(mut self, name: &str) -> Template {
        self.name = name.to_string();
        self
    }

    /// Runs the template with `data` as dot.
    pub fn execute(&self, data: &Value, ctx: &Ctx<'_>) -> Result<String, TemplateError> {
        exec::Exec::new(data, ctx, self.missing).located(&self.source, &self.name).run(&self.nodes)
    }

    /// True when the template is plain text (no actions): it always renders to itself.
    pub fn is_constant(&self) -> bool {
        self.nodes.iter().all(|n| matches!(n, parser::Node::Text(_)))
    }
}

fn check_functions(nodes: &[parser::Node]) -> Result<(), TemplateError> {
    use parser::{Arg, Node, Pipeline};
    fn pipe(p: &Pipeline) -> Result<(), TemplateError> {
        for c in &p.cmds {
            for (i, a) in c.args.iter().enumerate() {
                match a {
                    Arg::Func(f) if !funcs::exists(f) => {
                        let at = c.arg_pos.get(i).copied().unwrap_or(c.pos);
                        return Err(TemplateError::parse_at(at, format!("function {f:?} not defined")));
                    }
                    Arg::Sub(p, _) => pipe(p)?,
                    _ => {}
                }
            }
        }
        Ok(())
    }
    for n in nodes {
        match n {
            Node::Action(p) => pipe(p)?,
            Node::Cond { branches, otherwise, .. } => {
                for (p, body) in branches {
                    pipe(p)?;
                    check_functions(body)?;
                }
                check_functions(otherwise)?;
            }
            Node::Range { pipe: p, body, otherwise } => {
                pipe(p)?;
                check_functions(body)?;
                check_functions(otherwise)?;
            }
            Node::Text(_) | Node::Break | Node::Continue => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(src: &str, labels: &[(&str, &str)]) -> String {
        let data = Value::Map(labels.iter().map(|(k, v)| (k.to_string(), Value::Str(v.to_string()))).collect());
        let t = Template::parse(src, MissingKey::Zero).unwrap();
        t.execute(&data, &Ctx { line: "the line", ts: 1_500_000_000 }).unwrap()
    }

    #[test]
    fn loki_style_templates() {
        assert_eq!(run("{{.level}} {{.path}}", &[("level", "error"), ("path", "/a")]), "error /a");
        assert_eq!(run("{{.user_name | upper}} {{.path | trimPrefix \"/\"}}", &[("user_name", "bob"), ("path", "/x")]), "BOB x");
        assert_eq!(run("{{ .missing }}|", &[]), "|");
        assert_eq!(run("{{ if eq .status \"500\" }}bad{{ else }}ok{{ end }}", &[("status", "500")]), "bad");
        assert_eq!(run("{{ __line__ }} {{ __timestamp__ | unixEpochMillis }}", &[]), "the line 1500");
        assert_eq!(run("{{ $x := .a }}{{ $x }}-{{ printf \"%05d\" (add 1 2) }}", &[("a", "v")]), "v-00003");
        assert_eq!(run("{{ range $i, $e := fromJson .j }}{{$i}}={{$e}};{{ end }}", &[("j", "[1,2]")]), "0=1;1=2;");
        assert_eq!(run("{{ .a | default \"none\" }}", &[]), "none");
        assert_eq!(run("{{ regexReplaceAll \"(\\\\w+)@x\" .m \"${1}!\" }}", &[("m", "bob@x")]), "bob!");
    }

    #[test]
    fn sprig_round_and_lokis_character_counting() {
        assert_eq!(run("{{ round 2.5 0 }} {{ round 2.4 0 }} {{ round -2.3 0 }} {{ round -2.7 0 }} {{ round -2 0 }}", &[]), "3 2 -3 -3 -2");
        assert_eq!(run("{{ round 1.2345 2 }} {{ round 1.25 1 0.6 }}", &[]), "1.23 1.2");
        assert_eq!(run("{{ trunc 2 .s }}|{{ trunc -2 .s }}|{{ trunc 9 .s }}|{{ trunc -9 .s }}", &[("s", "héllo")]), "hé|lo|héllo|héllo");
        assert_eq!(run("{{ substr 1 3 .s }}|{{ substr -1 2 .s }}|{{ substr 2 -1 .s }}|{{ substr 3 1 .s }}|{{ substr 1 99 .s }}", &[("s", "héllo")]), "él|hé|llo||éllo");
    }

    #[test]
    fn missing_key_default_prints_no_value() {
        let data = Value::Map(vec![]);
        let t = Template::parse("{{.nope}}", MissingKey::Default).unwrap();
        assert_eq!(t.execute(&data, &Ctx { line: "", ts: 0 }).unwrap(), "<no value>");
    }

    fn exec_err(src: &str, labels: &[(&str, &str)]) -> String {
        let data = Value::Map(labels.iter().map(|(k, v)| (k.to_string(), Value::Str(v.to_string()))).collect());
        let t = Template::parse(src, MissingKey::Zero).unwrap();
        t.execute(&data, &Ctx { line: "", ts: 0 }).unwrap_err().to_string()
    }

    #[test]
    fn execution_errors_name_the_node_as_go_does() {
        assert_eq!(
            exec_err("{{.nope.x}}", &[]),
            r#"template: line:1:7: executing "line" at <.nope.x>: can't evaluate field x in type string"#
        );
        assert_eq!(
            exec_err("{{ div 1 0 }}", &[]),
            r#"template: line:1:3: executing "line" at <div 1 0>: error calling div: runtime error: integer divide by zero"#
        );
        assert_eq!(
            exec_err("a\n{{ .a | printf \"%s\" | div 10 }}", &[("a", "x")]),
            r#"template: line:2:22: executing "line" at <div 10>: error calling div: runtime error: integer divide by zero"#
        );
        assert_eq!(
            exec_err("{{ upper (index .a 3) }}", &[("a", "x")]),
            r#"template: line:1:10: executing "line" at <index .a 3>: error calling index: index out of range: 3"#
        );
        assert_eq!(
            exec_err("{{ div 1 }}", &[]),
            r#"template: line:1:3: executing "line" at <div>: wrong number of args for div: want 2 got 1"#
        );
        let t = Template::parse("{{ .a.b.c.d.e.f.g.h.i.j.k }}", MissingKey::Zero).unwrap().named("label");
        let data = Value::Map(vec![("a".into(), Value::Str("x".into()))]);
        assert_eq!(
            t.execute(&data, &Ctx { line: "", ts: 0 }).unwrap_err().to_string(),
            r#"template: label:1:23: executing "label" at <.a.b.c.d.e.f.g.h.i.j...>: can't evaluate field b in type string"#
        );
    }

    fn parse_err(src: &str) -> String {
        Template::parse(src, MissingKey::Zero).unwrap_err().to_string()
    }

    #[test]
    fn parse_errors_name_the_template_and_line_as_go_does() {
        assert_eq!(parse_err("{{.status"), "template: line:1: unclosed action");
        assert_eq!(parse_err("a\nb {{ .x\n"), "template: line:3: unclosed action");
        assert_eq!(parse_err("{{ if .a }}x"), "template: line:1: unexpected EOF");
        assert_eq!(parse_err("{{ if .a }}\nx\n"), "template: line:3: unexpected EOF");
        assert_eq!(parse_err("{{ range .a }}x{{ else }}y"), "template: line:1: unexpected EOF");
        assert_eq!(parse_err("{{ foo .a }}"), r#"template: line:1: function "foo" not defined"#);
        assert_eq!(parse_err("x\n{{ .a | foo }}"), r#"template: line:2: function "foo" not defined"#);
        assert_eq!(parse_err("{{ end }}"), "template: line:1: unexpected {{end}}");
        assert_eq!(parse_err("{{ .a ! }}"), "template: line:1: unrecognized character in action: U+0021 '!'");
        assert_eq!(parse_err("{{}}"), "template: line:1: missing value for command");
        assert_eq!(parse_err("{{ if .a }}{{ else }}{{ else }}{{ end }}"), "template: line:1: expected end; found {{else}}");
        assert_eq!(parse_err("{{ \"abc }}"), "template: line:1: unterminated quoted string");
        let label = Template::parse_named("{{ .a", MissingKey::Zero, "label").unwrap_err().to_string();
        assert_eq!(label, "template: label:1: unclosed action");
    }

    #[test]
    fn errors() {
        assert!(Template::parse("{{ nosuchfunc .a }}", MissingKey::Zero).is_err());
        assert!(Template::parse("{{ if .a }}", MissingKey::Zero).is_err());
        assert!(Template::parse("{{ end }}", MissingKey::Zero).is_err());
    }
}
