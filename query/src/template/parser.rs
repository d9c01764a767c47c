//! Parses template tokens into a tree of nodes: text, actions, `if`, `range`, `with`.

use super::TemplateError;
use super::lexer::Tok;

/// A template node.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// Literal text.
    Text(String),
    /// `{{ pipeline }}`: prints the result unless the pipeline declares a variable.
    Action(Pipeline),
    /// `{{if}}` / `{{with}}` chains: each branch's pipeline and body, then the `else` body.
    Cond {
        /// True for `with` (the body runs with dot set to the value).
        with: bool,
        /// `(condition, body)` for `if` and each `else if`.
        branches: Vec<(Pipeline, Vec<Node>)>,
        /// The final `else` body.
        otherwise: Vec<Node>,
    },
    /// `{{range pipeline}} body {{else}} otherwise {{end}}`.
    Range {
        /// The ranged-over pipeline (with optional `$i, $e :=`).
        pipe: Pipeline,
        /// Body, run per element with dot set to it.
        body: Vec<Node>,
        /// Run when there is nothing to range over.
        otherwise: Vec<Node>,
    },
    /// `{{break}}`
    Break,
    /// `{{continue}}`
    Continue,
}

/// `$x := cmd | cmd arg ...`
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    /// Declared or assigned variables.
    pub vars: Vec<String>,
    /// True for `=` (assignment) rather than `:=`.
    pub assign: bool,
    /// The commands; each result is passed as the last argument of the next.
    pub cmds: Vec<Command>,
}

/// One command: an operand followed by arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// The words; the first is the function or value.
    pub args: Vec<Arg>,
    /// Byte offset of the command in the source (for error locations).
    pub pos: usize,
    /// Byte offset of each word, as Go's parser positions its node.
    pub arg_pos: Vec<usize>,
}

/// An operand.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// `.a.b` (empty: dot itself).
    Field(Vec<String>),
    /// `$x.a`.
    Var(String, Vec<String>),
    /// A function name.
    Func(String),
    /// A string constant.
    Str(String),
    /// A number constant, as written.
    Number(String),
    /// `true` / `false`.
    Bool(bool),
    /// `nil`.
    Nil,
    /// `(pipeline).a.b`
    Sub(Box<Pipeline>, Vec<String>),
}

/// Parses a token list (with each token's byte offset) into nodes; `end` is the length of
/// the source, where errors at the end of input are located.
pub fn parse(toks: Vec<(Tok, usize)>, end: usize) -> Result<Vec<Node>, TemplateError> {
    let (toks, at) = toks.into_iter().unzip();
    let mut p = Parser { toks, at, end, pos: 0, loop_depth: 0 };
    let (nodes, stop) = p.list()?;
    match stop {
        Stop::Eof => Ok(nodes),
        Stop::EndKeyword => Err(p.error_prev("unexpected {{end}}")),
        Stop::Else(_) => Err(p.error_prev("unexpected {{else}}")),
    }
}

/// What stopped a node list.
enum Stop {
    /// End of input.
    Eof,
    /// `{{end}}`.
    EndKeyword,
    /// `{{else}}` or `{{else if ...}}` / `{{else with ...}}` (the keyword, if any).
    Else(Option<String>),
}

struct Parser {
    toks: Vec<Tok>,
    /// Byte offset of each token.
    at: Vec<usize>,
    /// Length of the source (the offset of the end of input).
    end: usize,
    pos: usize,
    loop_depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    /// An error at the last token read (Go reports the line of the token it stopped at).
    fn error_prev(&self, msg: impl Into<String>) -> TemplateError {
        let at = self.pos.checked_sub(1).and_then(|i| self.at.get(i)).copied().unwrap_or(self.end);
        TemplateError::parse_at(at, msg)
    }

    /// An error at the current token, or at the end of input.
    fn error_here(&self, msg: impl Into<String>) -> TemplateError {
        TemplateError::parse_at(self.at.get(self.pos).copied().unwrap_or(self.end), msg)
    }

    fn expect_close(&mut self, ctx: &str) -> Result<(), TemplateError> {
        match self.next() {
            Some(Tok::Close) => Ok(()),
            other => Err(self.error_prev(format!("unexpected {} in {ctx}", describe(other.as_ref())))),
        }
    }

    /// Nodes up to `{{end}}`, `{{else}}` or the end of input.
    fn list(&mut self) -> Result<(Vec<Node>, Stop), TemplateError> {
        let mut nodes = Vec::new();
        loop {
            match self.next() {
                None => return Ok((nodes, Stop::Eof)),
                Some(Tok::Text(t)) => nodes.push(Node::Text(t)),
                Some(Tok::Open) => {
                    if let Some(Tok::Ident(word)) = self.peek().cloned() {
                        match word.as_str() {
                            "end" => {
                                self.pos += 1;
                                self.expect_close("end")?;
                                return Ok((nodes, Stop::EndKeyword));
                            }
                            "else" => {
                                self.pos += 1;
                                if let Some(Tok::Ident(k)) = self.peek().cloned()
                                    && (k == "if" || k == "with")
                                {
                                    self.pos += 1;
                                    return Ok((nodes, Stop::Else(Some(k))));
                                }
                                self.expect_close("else")?;
                                return Ok((nodes, Stop::Else(None)));
                            }
                            "if" | "with" => {
                                self.pos += 1;
                                nodes.push(self.cond(word == "with")?);
                                continue;
                            }
                            "range" => {
                                self.pos += 1;
                                nodes.push(self.range()?);
                                continue;
                            }
                            "break" | "continue" => {
                                self.pos += 1;
                                if self.loop_depth == 0 {
                                    return Err(self.error_prev(format!("{{{{{word}}}}} outside {{{{range}}}}")));
                                }
                                self.expect_close(&word)?;
                                nodes.push(if word == "break" { Node::Break } else { Node::Continue });
                                continue;
                            }
                            "define" | "template" | "block" => {
                                return Err(self.error_here(format!("{{{{{word}}}}} is not supported")));
                            }
                            _ => {}
                        }
                    }
                    let pipe = self.pipeline(true)?;
                    self.expect_close("command")?;
                    nodes.push(Node::Action(pipe));
                }
                Some(other) => return Err(self.error_prev(format!("unexpected {}", describe(Some(&other))))),
            }
        }
    }

    fn cond(&mut self, with: bool) -> Result<Node, TemplateError> {
        let mut branches = Vec::new();
        let mut otherwise = Vec::new();
        let mut pipe = self.pipeline(true)?;
        self.expect_close(if with { "with" } else { "if" })?;
        loop {
            let (body, end) = self.list()?;
            branches.push((pipe, body));
            match end {
                Stop::EndKeyword => break,
                Stop::Eof => return Err(self.error_here("unexpected EOF")),
                Stop::Else(Some(_)) => {
                    pipe = self.pipeline(true)?;
                    self.expect_close("else")?;
                }
                Stop::Else(None) => {
                    let (body, end) = self.list()?;
                    self.expect_end(end)?;
                    otherwise = body;
                    break;
                }
            }
        }
        Ok(Node::Cond { with, branches, otherwise })
    }

    /// The `{{end}}` closing an `{{else}}` branch, with Go's messages otherwise.
    fn expect_end(&self, stop: Stop) -> Result<(), TemplateError> {
        match stop {
            Stop::EndKeyword => Ok(()),
            Stop::Eof => Err(self.error_here("unexpected EOF")),
            Stop::Else(_) => Err(self.error_prev("expected end; found {{else}}")),
        }
    }

    fn range(&mut self) -> Result<Node, TemplateError> {
        let pipe = self.pipeline(true)?;
        self.expect_close("range")?;
        self.loop_depth += 1;
        let (body, end) = self.list()?;
        self.loop_depth -= 1;
        let otherwise = match end {
            Stop::EndKeyword => Vec::new(),
            Stop::Else(None) => {
                let (body, end) = self.list()?;
                self.expect_end(end)?;
                body
            }
            Stop::Eof => return Err(self.error_here("unexpected EOF")),
            Stop::Else(Some(_)) => return Err(self.error_prev("expected end; found {{else}}")),
        };
        Ok(Node::Range { pipe, body, otherwise })
    }

    /// A pipeline, optionally starting with `$a, $b :=` / `$a =` declarations.
    fn pipeline(&mut self, allow_decl: bool) -> Result<Pipeline, TemplateError> {
        let mut vars = Vec::new();
        let mut assign = false;
        if allow_decl {
            let start = self.pos;
            while let Some(Tok::Var(name, fields)) = self.peek().cloned() {
                if !fields.is_empty() {
                    break;
                }
                self.pos += 1;
                vars.push(name);
                match self.peek() {
                    Some(Tok::Comma) => {
                        self.pos += 1;
                        continue;
                    }
                    Some(Tok::Declare) => {
                        self.pos += 1;
                        break;
                    }
                    Some(Tok::Assign) => {
                        self.pos += 1;
                        assign = true;
                        break;
                    }
                    _ => {
                        vars.clear();
                        self.pos = start;
                        break;
                    }
                }
            }
        }
        let mut cmds = Vec::new();
        loop {
            cmds.push(self.command()?);
            match self.peek() {
                Some(Tok::Pipe) => self.pos += 1,
                _ => break,
            }
        }
        Ok(Pipeline { vars, assign, cmds })
    }

    /// Byte offset of the current token.
    fn here(&self) -> usize {
        self.at.get(self.pos).copied().unwrap_or(0)
    }

    fn command(&mut self) -> Result<Command, TemplateError> {
        let mut args = Vec::new();
        let mut arg_pos = Vec::new();
        let pos = self.here();
        loop {
            let at = self.here();
            let arg = match self.peek().cloned() {
                Some(Tok::Field(f)) => Arg::Field(f),
                Some(Tok::Var(n, f)) => Arg::Var(n, f),
                Some(Tok::Str(s)) => Arg::Str(s),
                Some(Tok::Number(n)) => Arg::Number(n),
                Some(Tok::Ident(w)) => match w.as_str() {
                    "true" => Arg::Bool(true),
                    "false" => Arg::Bool(false),
                    "nil" => Arg::Nil,
                    _ => Arg::Func(w),
                },
                Some(Tok::LParen) => {
                    self.pos += 1;
                    let inner = self.pipeline(false)?;
                    match self.peek() {
                        Some(Tok::RParen) => {}
                        other => {
                            return Err(self.error_here(format!("unexpected {} in parenthesized pipeline", describe(other))));
                        }
                    }
                    // Fields after the parenthesis: (x).a.b arrive as a Field token.
                    self.pos += 1;
                    let mut sub_at = at;
                    let fields = match self.peek() {
                        Some(Tok::Field(f)) if !f.is_empty() => {
                            let f = f.clone();
                            sub_at = self.here();
                            self.pos += 1;
                            f
                        }
                        _ => Vec::new(),
                    };
                    args.push(Arg::Sub(Box::new(inner), fields));
                    arg_pos.push(sub_at);
                    continue;
                }
                _ => break,
            };
            self.pos += 1;
            args.push(arg);
            arg_pos.push(at);
        }
        if args.is_empty() {
            return Err(match self.peek() {
                Some(Tok::Close) => self.error_here("missing value for command"),
                other => self.error_here(format!("unexpected {} in command", describe(other))),
            });
        }
        Ok(Command { args, pos, arg_pos })
    }
}

fn describe(t: Option<&Tok>) -> String {
    match t {
        None => "EOF".into(),
        Some(Tok::Close) => "\"}}\"".into(),
        Some(Tok::Open) => "\"{{\"".into(),
        Some(Tok::RParen) => "\")\"".into(),
        Some(Tok::LParen) => "\"(\"".into(),
        Some(Tok::Pipe) => "\"|\"".into(),
        Some(Tok::Comma) => "\",\"".into(),
        Some(Tok::Declare) => "\":=\"".into(),
        Some(Tok::Assign) => "\"=\"".into(),
        Some(Tok::Ident(w)) => format!("<{w}>"),
        Some(Tok::Str(s)) => format!("{s:?}"),
        Some(Tok::Number(n)) => n.clone(),
        Some(Tok::Field(f)) => format!("<.{}>", f.join(".")),
        Some(Tok::Var(n, _)) => format!("<{n}>"),
        Some(Tok::Text(_)) => "text".into(),
    }
}
