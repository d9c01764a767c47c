//! Executes a parsed template against a value, with Go's text/template semantics.

use super::funcs::{self, Ctx};
use super::parser::{Arg, Command, Node, Pipeline};
use super::value::Value;
use super::{MissingKey, TemplateError};

/// Control flow out of a node list.
enum Flow {
    Normal,
    Break,
    Continue,
}

/// Execution state: variables in scope, the root value and the caller's context.
pub struct Exec<'a> {
    vars: Vec<(String, Value)>,
    root: &'a Value,
    ctx: &'a Ctx<'a>,
    missing: MissingKey,
    out: String,
    /// The template source and name, for Go-style error locations.
    src: &'a str,
    name: &'a str,
}

impl<'a> Exec<'a> {
    /// A fresh execution writing into a new buffer.
    pub fn new(root: &'a Value, ctx: &'a Ctx<'a>, missing: MissingKey) -> Exec<'a> {
        Exec { vars: vec![("$".to_string(), root.clone())], root, ctx, missing, out: String::new(), src: "", name: "line" }
    }

    /// Sets the source text and name errors are located in.
    pub fn located(mut self, src: &'a str, name: &'a str) -> Exec<'a> {
        self.src = src;
        self.name = name;
        self
    }

    /// Go's execution error at a node: `template: NAME:LINE:COL: executing "NAME" at
    /// <CONTEXT>: MSG`, the context cut to 20 characters.
    fn error_at(&self, pos: usize, context: &str, msg: &str) -> TemplateError {
        let before = self.src.get(..pos).unwrap_or(self.src);
        let line = 1 + before.matches('\n').count();
        let col = match before.rfind('\n') {
            Some(nl) => before.len() - (nl + 1),
            None => before.len(),
        };
        let context = if context.len() > 20 { format!("{}...", context.chars().take(20).collect::<String>()) } else { context.to_string() };
        TemplateError::Located(format!("template: {}:{line}:{col}: executing {:?} at <{context}>: {msg}", self.name, self.name))
    }

    /// Locates an error raised while evaluating word `i` of `cmd` (errors already located
    /// deeper keep their place).
    fn wrap_arg(&self, cmd: &Command, i: usize, e: TemplateError) -> TemplateError {
        match (e, cmd.args.get(i), cmd.arg_pos.get(i)) {
            (TemplateError::Exec(msg), Some(a), Some(pos)) => self.error_at(*pos, &arg_text(a), &msg),
            (e, _, _) => e,
        }
    }

    /// Runs `nodes` with dot set to the root and returns the text.
    pub fn run(mut self, nodes: &[Node]) -> Result<String, TemplateError> {
        let dot = self.root.clone();
        self.walk(nodes, &dot)?;
        Ok(self.out)
    }

    fn walk(&mut self, nodes: &[Node], dot: &Value) -> Result<Flow, TemplateError> {
        for node in nodes {
            match node {
                Node::Text(t) => self.out.push_str(t),
                Node::Action(p) => {
                    let v = self.pipeline(p, dot)?;
                    if p.vars.is_empty() {
                        self.print(&v);
                    }
                }
                Node::Cond { with, branches, otherwise } => {
                    let mark = self.vars.len();
                    let mut taken = false;
                    for (cond, body) in branches {
                        let v = self.pipeline(cond, dot)?;
                        if v.truthy() {
                            let flow = if *with { self.walk(body, &v)? } else { self.walk(body, dot)? };
                            self.vars.truncate(mark);
                            if !matches!(flow, Flow::Normal) {
                                return Ok(flow);
                            }
                            taken = true;
                            break;
                        }
                    }
                    if !taken {
                        let flow = self.walk(otherwise, dot)?;
                        self.vars.truncate(mark);
                        if !matches!(flow, Flow::Normal) {
                            return Ok(flow);
                        }
                    }
                }
                Node::Range { pipe, body, otherwise } => {
                    let mark = self.vars.len();
                    let inner = Pipeline { vars: Vec::new(), assign: false, cmds: pipe.cmds.clone() };
                    let v = self.pipeline(&inner, dot)?;
                    let items: Vec<(Value, Value)> = match v {
                        Value::List(l) => l.into_iter().enumerate().map(|(i, v)| (Value::Int(i as i64), v)).collect(),
                        Value::Map(m) => m.into_iter().map(|(k, v)| (Value::Str(k), v)).collect(),
                        Value::Int(n) => (0..n.max(0)).map(|i| (Value::Int(i), Value::Int(i))).collect(),
                        Value::Nil => Vec::new(),
                        other => return Err(TemplateError::exec(format!("range can't iterate over {}", other.to_text()))),
                    };
                    if items.is_empty() {
                        let flow = self.walk(otherwise, dot)?;
                        self.vars.truncate(mark);
                        if !matches!(flow, Flow::Normal) {
                            return Ok(flow);
                        }
                        continue;
                    }
                    for (k, v) in items {
                        match pipe.vars.as_slice() {
                            [] => {}
                            [e] => self.vars.push((e.clone(), v.clone())),
                            [i, e, ..] => {
                                self.vars.push((i.clone(), k));
                                self.vars.push((e.clone(), v.clone()));
                            }
                        }
                        let flow = self.walk(body, &v)?;
                        self.vars.truncate(mark);
                        if matches!(flow, Flow::Break) {
                            break;
                        }
                    }
                }
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    fn print(&mut self, v: &Value) {
        self.out.push_str(&v.to_text());
    }

    fn pipeline(&mut self, p: &Pipeline, dot: &Value) -> Result<Value, TemplateError> {
        let mut last: Option<Value> = None;
        for cmd in &p.cmds {
            last = Some(self.command(cmd, dot, last)?);
        }
        let v = last.unwrap_or(Value::Nil);
        for name in &p.vars {
            if p.assign {
                match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = v.clone(),
                    None => return Err(TemplateError::exec(format!("undefined variable: {name}"))),
                }
            } else {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn command(&mut self, cmd: &Command, dot: &Value, piped: Option<Value>) -> Result<Value, TemplateError> {
        let (first, rest) = cmd.args.split_first().ok_or_else(|| TemplateError::exec("empty command"))?;
        if let Arg::Func(name) = first {
            // `and` and `or` evaluate their arguments lazily, as Go does.
            if name == "and" || name == "or" {
                return self.and_or(name == "and", cmd, dot, piped);
            }
            let mut args = Vec::with_capacity(rest.len() + 1);
            for (i, a) in rest.iter().enumerate() {
                args.push(self.arg(a, dot).map_err(|e| self.wrap_arg(cmd, i + 1, e))?);
            }
            if let Some(p) = piped {
                args.push(p);
            }
            // As Go: an arity error points at the function name, a failing call at the
            // whole command.
            return funcs::call(name, args, self.ctx).map_err(|e| match e {
                TemplateError::Exec(msg) if msg.starts_with("wrong number of args") => self.wrap_arg(cmd, 0, TemplateError::Exec(msg)),
                TemplateError::Exec(msg) => self.error_at(cmd.pos, &command_text(cmd), &format!("error calling {name}: {msg}")),
                other => other,
            });
        }
        if !rest.is_empty() || piped.is_some() {
            return Err(TemplateError::exec(format!("can't give argument to non-function {}", describe_arg(first))));
        }
        self.arg(first, dot).map_err(|e| self.wrap_arg(cmd, 0, e))
    }

    fn and_or(&mut self, and: bool, cmd: &Command, dot: &Value, piped: Option<Value>) -> Result<Value, TemplateError> {
        let total = cmd.args.len() - 1 + usize::from(piped.is_some());
        if total == 0 {
            let msg = format!("wrong number of args for {}: want at least 1 got 0", if and { "and" } else { "or" });
            return Err(self.wrap_arg(cmd, 0, TemplateError::Exec(msg)));
        }
        let mut last = Value::Nil;
        for (i, a) in cmd.args.iter().enumerate().skip(1) {
            last = self.arg(a, dot).map_err(|e| self.wrap_arg(cmd, i, e))?;
            if last.truthy() != and {
                return Ok(last);
            }
        }
        if let Some(p) = piped {
            last = p;
        }
        Ok(last)
    }

    fn arg(&mut self, a: &Arg, dot: &Value) -> Result<Value, TemplateError> {
        Ok(match a {
            Arg::Field(path) => self.fields(dot.clone(), path)?,
            Arg::Var(name, path) => {
                let v = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| TemplateError::exec(format!("undefined variable: {name}")))?;
                self.fields(v, path)?
            }
            Arg::Func(name) => funcs::call(name, Vec::new(), self.ctx)?,
            Arg::Str(s) => Value::Str(s.clone()),
            Arg::Number(n) => parse_number(n)?,
            Arg::Bool(b) => Value::Bool(*b),
            Arg::Nil => Value::Nil,
            Arg::Sub(p, path) => {
                let v = self.pipeline(p, dot)?;
                self.fields(v, path)?
            }
        })
    }

    fn fields(&self, mut v: Value, path: &[String]) -> Result<Value, TemplateError> {
        for name in path {
            v = match &v {
                Value::Map(_) => {
                    let f = v.field(name);
                    match (&f, self.missing) {
                        (Value::Nil, MissingKey::Zero) => Value::Str(String::new()),
                        _ => f,
                    }
                }
                Value::Nil => return Err(TemplateError::exec(format!("nil pointer evaluating .{name}"))),
                other => return Err(TemplateError::exec(format!("can't evaluate field {name} in type {}", other.kind()))),
            };
        }
        Ok(v)
    }
}

/// A word as Go's `parse.Node.String()` prints it.
fn arg_text(a: &Arg) -> String {
    match a {
        Arg::Field(p) if p.is_empty() => ".".into(),
        Arg::Field(p) => p.iter().map(|f| format!(".{f}")).collect(),
        Arg::Var(n, p) => format!("{n}{}", p.iter().map(|f| format!(".{f}")).collect::<String>()),
        Arg::Func(f) => f.clone(),
        Arg::Str(s) => format!("{s:?}"),
        Arg::Number(n) => n.clone(),
        Arg::Bool(b) => b.to_string(),
        Arg::Nil => "nil".into(),
        Arg::Sub(p, path) => format!("({}){}", pipeline_text(p), path.iter().map(|f| format!(".{f}")).collect::<String>()),
    }
}

/// A command as Go prints it: its words separated by spaces.
fn command_text(c: &Command) -> String {
    c.args.iter().map(arg_text).collect::<Vec<_>>().join(" ")
}

/// A pipeline as Go prints it: declarations, then commands separated by ` | `.
fn pipeline_text(p: &Pipeline) -> String {
    let cmds = p.cmds.iter().map(command_text).collect::<Vec<_>>().join(" | ");
    if p.vars.is_empty() {
        cmds
    } else {
        format!("{} {} {cmds}", p.vars.join(", "), if p.assign { "=" } else { ":=" })
    }
}

fn describe_arg(a: &Arg) -> String {
    match a {
        Arg::Field(p) => format!(".{}", p.join(".")),
        Arg::Var(n, _) => n.clone(),
        Arg::Str(s) => format!("{s:?}"),
        Arg::Number(n) => n.clone(),
        Arg::Bool(b) => b.to_string(),
        Arg::Nil => "nil".into(),
        Arg::Func(f) => f.clone(),
        Arg::Sub(..) => "(...)".into(),
    }
}

/// A Go number constant: integers (decimal, hex, octal, binary, `_` separators) or floats.
pub fn parse_number(n: &str) -> Result<Value, TemplateError> {
    let clean = n.replace('_', "");
    let (neg, digits) = match clean.strip_prefix('-') {
        Some(d) => (true, d.to_string()),
        None => (false, clean.trim_start_matches('+').to_string()),
    };
    let int = if let Some(h) = digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()
    } else if let Some(b) = digits.strip_prefix("0b").or_else(|| digits.strip_prefix("0B")) {
        i64::from_str_radix(b, 2).ok()
    } else if let Some(o) = digits.strip_prefix("0o").or_else(|| digits.strip_prefix("0O")) {
        i64::from_str_radix(o, 8).ok()
    } else if digits.len() > 1 && digits.starts_with('0') && digits.bytes().all(|b| b.is_ascii_digit()) {
        i64::from_str_radix(&digits[1..], 8).ok()
    } else {
        digits.parse::<i64>().ok()
    };
    if let Some(i) = int {
        return Ok(Value::Int(if neg { -i } else { i }));
    }
    digits
        .parse::<f64>()
        .map(|f| Value::Float(if neg { -f } else { f }))
        .map_err(|_| TemplateError::parse(format!("bad number syntax: {n:?}")))
}
