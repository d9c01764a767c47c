//! `line_format` and `label_format`: Go templates over the line's labels.

use super::labels::{ERROR, ERROR_DETAILS, LabelsBuilder};
use crate::logql::ast::LabelFormat;
use crate::template::{Ctx, MissingKey, Template, TemplateError, Value};

/// `__error__` value of a template that failed to execute.
pub const TEMPLATE_ERR: &str = "TemplateFormatErr";

/// The template data: every current label plus the error labels.
fn data(lbs: &LabelsBuilder) -> Value {
    let mut pairs: Vec<(String, Value)> = lbs.pairs().into_iter().map(|(k, v)| (k, Value::Str(v))).collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    Value::Map(pairs)
}

/// A compiled `line_format`.
#[derive(Debug, Clone)]
pub struct LineFormat {
    template: Template,
    /// `{{.x}}` alone: read `x` directly.
    single_field: Option<String>,
}

impl LineFormat {
    /// Compiles the template; a parse error fails the query.
    pub fn compile(src: &str) -> Result<LineFormat, String> {
        let template = Template::parse(src, MissingKey::Zero).map_err(|e| format!("invalid line template: {e}"))?;
        let single_field = single_field(src);
        Ok(LineFormat { template, single_field })
    }

    /// The new line, or `None` when the template failed (the error is set on `lbs`).
    pub fn apply(&self, line: &str, ts: i64, lbs: &mut LabelsBuilder) -> Option<String> {
        if let Some(f) = &self.single_field {
            return Some(lbs.get(f).unwrap_or("").to_string());
        }
        match self.template.execute(&data(lbs), &Ctx { line, ts }) {
            Ok(s) => Some(s),
            Err(e) => {
                lbs.set_error(TEMPLATE_ERR, e.to_string());
                None
            }
        }
    }
}

/// `{{.name}}` (with optional spaces) and nothing else.
fn single_field(src: &str) -> Option<String> {
    let inner = src.strip_prefix("{{")?.strip_suffix("}}")?.trim();
    let name = inner.strip_prefix('.')?;
    (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then(|| name.to_string())
}

/// One compiled `label_format` operation.
#[derive(Debug, Clone)]
enum Op {
    Rename { dst: String, src: String },
    Template { dst: String, template: Template },
}

/// A compiled `label_format` stage.
#[derive(Debug, Clone)]
pub struct LabelFormatStage {
    ops: Vec<Op>,
}

impl LabelFormatStage {
    /// Compiles the operations (one per destination name).
    pub fn compile(ops: &[LabelFormat]) -> Result<LabelFormatStage, String> {
        let mut out = Vec::with_capacity(ops.len());
        let mut seen: Vec<&str> = Vec::new();
        for op in ops {
            let dst = match op {
                LabelFormat::Rename { dst, .. } | LabelFormat::Template { dst, .. } => dst.as_str(),
            };
            if dst == ERROR {
                return Err(format!("{ERROR} cannot be formatted"));
            }
            if seen.contains(&dst) {
                return Err(format!("multiple label name '{dst}' not allowed in a single format operation"));
            }
            seen.push(dst);
            out.push(match op {
                LabelFormat::Rename { dst, src } => Op::Rename { dst: dst.clone(), src: src.clone() },
                LabelFormat::Template { dst, template } => Op::Template {
                    dst: dst.clone(),
                    template: Template::parse_named(template, MissingKey::Zero, "label")
                        .map_err(|e: TemplateError| format!("invalid template for label '{dst}': {e}"))?,
                },
            });
        }
        Ok(LabelFormatStage { ops: out })
    }

    /// Applies every operation; templates all see the labels as they were before the stage.
    pub fn apply(&self, line: &str, ts: i64, lbs: &mut LabelsBuilder) {
        let mut snapshot: Option<Value> = None;
        for op in &self.ops {
            match op {
                Op::Rename { dst, src } => {
                    let value = match src.as_str() {
                        ERROR => lbs.error().map(str::to_string),
                        ERROR_DETAILS => lbs.error_details().map(str::to_string),
                        s => lbs.get(s).map(str::to_string),
                    };
                    if let Some(v) = value {
                        lbs.set_parsed(dst, &v);
                        if src != dst {
                            lbs.delete(src);
                        } else {
                            lbs.delete(dst);
                        }
                    }
                }
                Op::Template { dst, template } => {
                    let data = snapshot.get_or_insert_with(|| data(lbs));
                    match template.execute(data, &Ctx { line, ts }) {
                        Ok(v) => lbs.set_parsed(dst, &v),
                        Err(e) => lbs.set_error(TEMPLATE_ERR, e.to_string()),
                    }
                }
            }
        }
    }
}
