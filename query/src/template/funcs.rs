//! The template functions: Go's builtins, Loki's own, and the Sprig subset Loki exposes.

use std::sync::OnceLock;

use chrono::{DateTime, FixedOffset, TimeZone, Utc};

use super::TemplateError;
use super::golayout;
use super::printf::sprintf;
use super::value::Value;

/// What functions may read besides their arguments: the entry being formatted.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    /// The current log line (`__line__`).
    pub line: &'a str,
    /// The entry timestamp in nanoseconds (`__timestamp__`).
    pub ts: i64,
}

/// Every function name a template may call.
pub const NAMES: &[&str] = &[
    // Go builtins
    "and", "or", "not", "len", "index", "slice", "print", "printf", "println", "eq", "ne", "lt", "le", "gt", "ge",
    "urlquery", "js", "html", "call",
    // Loki
    "ToLower", "ToUpper", "Replace", "Trim", "TrimLeft", "TrimRight", "TrimPrefix", "TrimSuffix", "TrimSpace",
    "regexReplaceAll", "regexReplaceAllLiteral", "count", "urldecode", "urlencode", "bytes", "duration",
    "duration_seconds", "unixEpochMillis", "unixEpochNanos", "toDateInZone", "unixToTime", "alignLeft", "alignRight",
    "b64dec", "__line__", "__timestamp__",
    // Sprig subset
    "b64enc", "lower", "upper", "title", "trunc", "substr", "contains", "hasPrefix", "hasSuffix", "indent", "nindent",
    "replace", "repeat", "trim", "trimAll", "trimSuffix", "trimPrefix", "int", "float64", "add", "sub", "mul", "div",
    "mod", "addf", "subf", "mulf", "divf", "max", "min", "maxf", "minf", "ceil", "floor", "round", "fromJson", "date",
    "toDate", "now", "unixEpoch", "default",
];

/// True when `name` is a known function.
pub fn exists(name: &str) -> bool {
    NAMES.contains(&name)
}

fn want(name: &str, args: &[Value], n: usize) -> Result<(), TemplateError> {
    if args.len() == n {
        Ok(())
    } else {
        Err(TemplateError::exec(format!("wrong number of args for {name}: want {n} got {}", args.len())))
    }
}

fn want_at_least(name: &str, args: &[Value], n: usize) -> Result<(), TemplateError> {
    if args.len() >= n {
        Ok(())
    } else {
        Err(TemplateError::exec(format!("wrong number of args for {name}: want at least {n} got {}", args.len())))
    }
}

fn s(v: &Value) -> String {
    v.as_string()
}

fn regex(pattern: &str) -> Result<regex::Regex, TemplateError> {
    regex::Regex::new(pattern).map_err(|e| TemplateError::exec(format!("error parsing regexp: {e}")))
}

fn utc() -> FixedOffset {
    Utc.timestamp_nanos(0).fixed_offset().timezone()
}

fn to_time(v: &Value) -> Option<DateTime<FixedOffset>> {
    match v {
        Value::Time(t) => Some(*t),
        Value::Int(i) => utc().timestamp_opt(*i, 0).single(),
        Value::Float(f) => utc().timestamp_opt(*f as i64, 0).single(),
        Value::Str(s) => s.trim().parse::<i64>().ok().and_then(|i| utc().timestamp_opt(i, 0).single()),
        _ => None,
    }
}

/// Calls function `name` with evaluated `args` (a piped value is already the last one).
pub fn call(name: &str, args: Vec<Value>, ctx: &Ctx<'_>) -> Result<Value, TemplateError> {
    let a = &args;
    Ok(match name {
        // ---- Go builtins ----
        "not" => {
            want(name, a, 1)?;
            Value::Bool(!a[0].truthy())
        }
        "len" => {
            want(name, a, 1)?;
            Value::Int(a[0].len().ok_or_else(|| TemplateError::exec(format!("len of type {}", a[0].kind())))? as i64)
        }
        "index" => {
            want_at_least(name, a, 1)?;
            let mut v = a[0].clone();
            for k in &a[1..] {
                v = match (&v, k) {
                    (Value::Map(_), key) => v.field(&key.as_string()),
                    (Value::List(l), Value::Int(i)) => l
                        .get(usize::try_from(*i).map_err(|_| TemplateError::exec(format!("index out of range: {i}")))?)
                        .cloned()
                        .ok_or_else(|| TemplateError::exec(format!("index out of range: {i}")))?,
                    (Value::Str(s), Value::Int(i)) => Value::Int(
                        i64::from(*s.as_bytes().get(*i as usize).ok_or_else(|| TemplateError::exec(format!("index out of range: {i}")))?),
                    ),
                    (other, _) => return Err(TemplateError::exec(format!("can't index item of type {}", other.kind()))),
                };
            }
            v
        }
        "slice" => {
            want_at_least(name, a, 1)?;
            let idx: Vec<usize> = a[1..].iter().map(|v| v.as_i64().max(0) as usize).collect();
            match &a[0] {
                Value::Str(st) => {
                    let (from, to) = (idx.first().copied().unwrap_or(0), idx.get(1).copied().unwrap_or(st.len()));
                    Value::Str(st.get(from..to).ok_or_else(|| TemplateError::exec("slice index out of range"))?.to_string())
                }
                Value::List(l) => {
                    let (from, to) = (idx.first().copied().unwrap_or(0), idx.get(1).copied().unwrap_or(l.len()));
                    Value::List(l.get(from..to).ok_or_else(|| TemplateError::exec("slice index out of range"))?.to_vec())
                }
                other => return Err(TemplateError::exec(format!("can't slice item of type {}", other.kind()))),
            }
        }
        "print" => Value::Str(go_sprint(a)),
        "println" => Value::Str(a.iter().map(Value::to_text).collect::<Vec<_>>().join(" ") + "\n"),
        "printf" => {
            want_at_least(name, a, 1)?;
            Value::Str(sprintf(&s(&a[0]), &a[1..]))
        }
        "eq" => {
            want_at_least(name, a, 2)?;
            let mut any = false;
            for b in &a[1..] {
                if compare(&a[0], b)? == std::cmp::Ordering::Equal {
                    any = true;
                }
            }
            Value::Bool(any)
        }
        "ne" => {
            want(name, a, 2)?;
            Value::Bool(compare(&a[0], &a[1])? != std::cmp::Ordering::Equal)
        }
        "lt" | "le" | "gt" | "ge" => {
            want(name, a, 2)?;
            let o = compare(&a[0], &a[1])?;
            Value::Bool(match name {
                "lt" => o.is_lt(),
                "le" => o.is_le(),
                "gt" => o.is_gt(),
                _ => o.is_ge(),
            })
        }
        "urlquery" => Value::Str(url::form_urlencoded::byte_serialize(go_sprint(a).as_bytes()).collect()),
        "js" => Value::Str(js_escape(&go_sprint(a))),
        "html" => Value::Str(html_escape(&go_sprint(a))),
        "call" => return Err(TemplateError::exec("call of a non-function")),
        // ---- Loki ----
        "ToLower" | "lower" => {
            want(name, a, 1)?;
            Value::Str(s(&a[0]).to_lowercase())
        }
        "ToUpper" | "upper" => {
            want(name, a, 1)?;
            Value::Str(s(&a[0]).to_uppercase())
        }
        "Replace" => {
            want(name, a, 4)?;
            let n = a[3].as_i64();
            let (src, old, new) = (s(&a[0]), s(&a[1]), s(&a[2]));
            Value::Str(if n < 0 { src.replace(&old, &new) } else { src.replacen(&old, &new, n as usize) })
        }
        "Trim" => {
            want(name, a, 2)?;
            let cut: Vec<char> = s(&a[1]).chars().collect();
            Value::Str(s(&a[0]).trim_matches(cut.as_slice()).to_string())
        }
        "TrimLeft" => {
            want(name, a, 2)?;
            let cut: Vec<char> = s(&a[1]).chars().collect();
            Value::Str(s(&a[0]).trim_start_matches(cut.as_slice()).to_string())
        }
        "TrimRight" => {
            want(name, a, 2)?;
            let cut: Vec<char> = s(&a[1]).chars().collect();
            Value::Str(s(&a[0]).trim_end_matches(cut.as_slice()).to_string())
        }
        "TrimPrefix" => {
            want(name, a, 2)?;
            let (v, p) = (s(&a[0]), s(&a[1]));
            Value::Str(v.strip_prefix(p.as_str()).unwrap_or(&v).to_string())
        }
        "TrimSuffix" => {
            want(name, a, 2)?;
            let (v, p) = (s(&a[0]), s(&a[1]));
            Value::Str(v.strip_suffix(p.as_str()).unwrap_or(&v).to_string())
        }
        "TrimSpace" | "trim" => {
            want(name, a, 1)?;
            Value::Str(s(&a[0]).trim().to_string())
        }
        "regexReplaceAll" => {
            want(name, a, 3)?;
            Value::Str(regex(&s(&a[0]))?.replace_all(&s(&a[1]), go_expand(&s(&a[2])).as_str()).into_owned())
        }
        "regexReplaceAllLiteral" => {
            want(name, a, 3)?;
            Value::Str(regex(&s(&a[0]))?.replace_all(&s(&a[1]), regex::NoExpand(&s(&a[2]))).into_owned())
        }
        "count" => {
            want(name, a, 2)?;
            Value::Int(regex(&s(&a[0]))?.find_iter(&s(&a[1])).count() as i64)
        }
        "urldecode" => {
            want(name, a, 1)?;
            let v = s(&a[0]);
            let decoded: String = url::form_urlencoded::parse(format!("x={}", v.replace('&', "%26").replace('=', "%3D")).as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            Value::Str(decoded)
        }
        "urlencode" => {
            want(name, a, 1)?;
            Value::Str(url::form_urlencoded::byte_serialize(s(&a[0]).as_bytes()).collect())
        }
        "bytes" => {
            want(name, a, 1)?;
            Value::Float(store::time::parse_bytes(&s(&a[0])).map_err(|e| TemplateError::exec(e.to_string()))? as f64)
        }
        "duration" | "duration_seconds" => {
            want(name, a, 1)?;
            Value::Float(go_duration_seconds(&s(&a[0])).ok_or_else(|| TemplateError::exec(format!("time: invalid duration {:?}", s(&a[0]))))?)
        }
        "unixEpochMillis" => {
            want(name, a, 1)?;
            Value::Int(to_time(&a[0]).map(|t| t.timestamp_millis()).unwrap_or(0))
        }
        "unixEpochNanos" => {
            want(name, a, 1)?;
            Value::Int(to_time(&a[0]).and_then(|t| t.timestamp_nanos_opt()).unwrap_or(0))
        }
        "unixEpoch" => {
            want(name, a, 1)?;
            Value::Str(to_time(&a[0]).map(|t| t.timestamp()).unwrap_or(0).to_string())
        }
        "toDateInZone" => {
            want(name, a, 3)?;
            let zone = zone_offset(&s(&a[1]));
            golayout::parse(&s(&a[0]), &s(&a[2]), zone).map(Value::Time).unwrap_or(Value::Time(epoch()))
        }
        "toDate" => {
            want(name, a, 2)?;
            golayout::parse(&s(&a[0]), &s(&a[1]), utc()).map(Value::Time).unwrap_or(Value::Time(epoch()))
        }
        "unixToTime" => {
            want(name, a, 1)?;
            Value::Time(unix_to_time(&s(&a[0]))?)
        }
        "date" => {
            want(name, a, 2)?;
            let t = to_time(&a[1]).unwrap_or_else(epoch);
            Value::Str(golayout::format(&t, &s(&a[0])))
        }
        "now" => {
            want(name, a, 0)?;
            Value::Time(Utc::now().fixed_offset())
        }
        "alignLeft" | "alignRight" => {
            want(name, a, 2)?;
            let n = a[0].as_i64().max(0) as usize;
            let src = s(&a[1]);
            let len = src.chars().count();
            Value::Str(if len >= n {
                if name == "alignLeft" { src.chars().take(n).collect() } else { src.chars().skip(len - n).collect() }
            } else if name == "alignLeft" {
                format!("{src}{}", " ".repeat(n - len))
            } else {
                format!("{}{src}", " ".repeat(n - len))
            })
        }
        "b64dec" => {
            want(name, a, 1)?;
            Value::Str(b64_decode(&s(&a[0])).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default())
        }
        "b64enc" => {
            want(name, a, 1)?;
            Value::Str(b64_encode(s(&a[0]).as_bytes()))
        }
        "__line__" => {
            want(name, a, 0)?;
            Value::Str(ctx.line.to_string())
        }
        "__timestamp__" => {
            want(name, a, 0)?;
            Value::Time(Utc.timestamp_nanos(ctx.ts).fixed_offset())
        }
        // ---- Sprig ----
        "title" => {
            want(name, a, 1)?;
            Value::Str(title(&s(&a[0])))
        }
        // Loki replaces Sprig's `trunc` and `substr` with versions counting characters.
        "trunc" => {
            want(name, a, 2)?;
            let (n, v) = (a[0].as_i64(), s(&a[1]));
            let chars: Vec<char> = v.chars().collect();
            let len = chars.len() as i64;
            Value::Str(if n < 0 && len + n > 0 {
                chars[(len + n) as usize..].iter().collect()
            } else if n >= 0 && len > n {
                chars[..n as usize].iter().collect()
            } else {
                v
            })
        }
        "substr" => {
            want(name, a, 3)?;
            let (start, end, v) = (a[0].as_i64(), a[1].as_i64(), s(&a[2]));
            let chars: Vec<char> = v.chars().collect();
            let len = chars.len() as i64;
            let (start, end) = (start.min(len), end.min(len));
            let r: String = if start < 0 {
                if end < 0 { String::new() } else { chars[..end as usize].iter().collect() }
            } else if end < 0 {
                chars[start as usize..].iter().collect()
            } else if start > end {
                String::new()
            } else {
                chars[start as usize..end as usize].iter().collect()
            };
            Value::Str(r)
        }
        "contains" => {
            want(name, a, 2)?;
            Value::Bool(s(&a[1]).contains(&s(&a[0])))
        }
        "hasPrefix" => {
            want(name, a, 2)?;
            Value::Bool(s(&a[1]).starts_with(&s(&a[0])))
        }
        "hasSuffix" => {
            want(name, a, 2)?;
            Value::Bool(s(&a[1]).ends_with(&s(&a[0])))
        }
        "indent" | "nindent" => {
            want(name, a, 2)?;
            let pad = " ".repeat(a[0].as_i64().max(0) as usize);
            let body = format!("{pad}{}", s(&a[1]).replace('\n', &format!("\n{pad}")));
            Value::Str(if name == "nindent" { format!("\n{body}") } else { body })
        }
        "replace" => {
            want(name, a, 3)?;
            Value::Str(s(&a[2]).replace(&s(&a[0]), &s(&a[1])))
        }
        "repeat" => {
            want(name, a, 2)?;
            Value::Str(s(&a[1]).repeat(a[0].as_i64().clamp(0, 1 << 20) as usize))
        }
        "trimAll" => {
            want(name, a, 2)?;
            let cut: Vec<char> = s(&a[0]).chars().collect();
            Value::Str(s(&a[1]).trim_matches(cut.as_slice()).to_string())
        }
        "trimSuffix" => {
            want(name, a, 2)?;
            let (p, v) = (s(&a[0]), s(&a[1]));
            Value::Str(v.strip_suffix(p.as_str()).unwrap_or(&v).to_string())
        }
        "trimPrefix" => {
            want(name, a, 2)?;
            let (p, v) = (s(&a[0]), s(&a[1]));
            Value::Str(v.strip_prefix(p.as_str()).unwrap_or(&v).to_string())
        }
        "int" => {
            want(name, a, 1)?;
            Value::Int(a[0].as_i64())
        }
        "float64" => {
            want(name, a, 1)?;
            Value::Float(a[0].as_f64())
        }
        "add" => Value::Int(a.iter().map(Value::as_i64).fold(0i64, i64::wrapping_add)),
        "mul" => {
            want_at_least(name, a, 1)?;
            Value::Int(a.iter().map(Value::as_i64).fold(1i64, i64::wrapping_mul))
        }
        "sub" => {
            want(name, a, 2)?;
            Value::Int(a[0].as_i64().wrapping_sub(a[1].as_i64()))
        }
        "div" | "mod" => {
            want(name, a, 2)?;
            let d = a[1].as_i64();
            if d == 0 {
                return Err(TemplateError::exec("runtime error: integer divide by zero"));
            }
            Value::Int(if name == "div" { a[0].as_i64().wrapping_div(d) } else { a[0].as_i64().wrapping_rem(d) })
        }
        "addf" => Value::Float(a.iter().map(Value::as_f64).sum()),
        "mulf" => {
            want_at_least(name, a, 1)?;
            Value::Float(a.iter().map(Value::as_f64).product())
        }
        "subf" => {
            want_at_least(name, a, 1)?;
            Value::Float(a[1..].iter().fold(a[0].as_f64(), |acc, v| acc - v.as_f64()))
        }
        "divf" => {
            want_at_least(name, a, 1)?;
            Value::Float(a[1..].iter().fold(a[0].as_f64(), |acc, v| acc / v.as_f64()))
        }
        "max" => {
            want_at_least(name, a, 1)?;
            Value::Int(a.iter().map(Value::as_i64).max().unwrap_or(0))
        }
        "min" => {
            want_at_least(name, a, 1)?;
            Value::Int(a.iter().map(Value::as_i64).min().unwrap_or(0))
        }
        "maxf" => {
            want_at_least(name, a, 1)?;
            Value::Float(a.iter().map(Value::as_f64).fold(f64::NEG_INFINITY, f64::max))
        }
        "minf" => {
            want_at_least(name, a, 1)?;
            Value::Float(a.iter().map(Value::as_f64).fold(f64::INFINITY, f64::min))
        }
        "ceil" => {
            want(name, a, 1)?;
            Value::Float(a[0].as_f64().ceil())
        }
        "floor" => {
            want(name, a, 1)?;
            Value::Float(a[0].as_f64().floor())
        }
        "round" => {
            // Sprig's rule: ceil when the signed fractional part reaches the round point,
            // floor otherwise; so every negative non-integer goes down (-2.3 -> -3).
            want_at_least(name, a, 2)?;
            let p = 10f64.powi(a[1].as_i64().clamp(-300, 300) as i32);
            let round_on = if a.len() > 2 { a[2].as_f64() } else { 0.5 };
            let x = a[0].as_f64() * p;
            let r = if x.fract() >= round_on { x.ceil() } else { x.floor() };
            Value::Float(r / p)
        }
        "fromJson" => {
            want(name, a, 1)?;
            serde_json::from_str::<serde_json::Value>(&s(&a[0])).map(|j| from_json(&j)).unwrap_or(Value::Nil)
        }
        "default" => {
            want_at_least(name, a, 1)?;
            match a.get(1) {
                Some(v) if v.truthy() => v.clone(),
                _ => a[0].clone(),
            }
        }
        other => return Err(TemplateError::exec(format!("function {other:?} not defined"))),
    })
}

fn epoch() -> DateTime<FixedOffset> {
    Utc.timestamp_nanos(0).fixed_offset()
}

fn zone_offset(zone: &str) -> FixedOffset {
    // Fixed offsets ("+02:00", "UTC"); named zones other than UTC are not in the build.
    let z = zone.trim();
    if let Some(rest) = z.strip_prefix('+').or_else(|| z.strip_prefix('-')) {
        let sign = if z.starts_with('-') { -1 } else { 1 };
        let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
        if digits.len() == 4 {
            let h: i32 = digits[..2].parse().unwrap_or(0);
            let m: i32 = digits[2..].parse().unwrap_or(0);
            return FixedOffset::east_opt(sign * (h * 3600 + m * 60)).unwrap_or_else(utc);
        }
    }
    utc()
}

/// `unixToTime`: epoch seconds, milliseconds, microseconds or nanoseconds by digit count.
fn unix_to_time(v: &str) -> Result<DateTime<FixedOffset>, TemplateError> {
    let n: i64 = v.trim().parse().map_err(|_| TemplateError::exec(format!("unable to parse {v:?} as a unix timestamp")))?;
    let t = match v.trim().trim_start_matches('-').len() {
        0..=10 => Utc.timestamp_opt(n, 0).single(),
        11..=13 => Utc.timestamp_millis_opt(n).single(),
        14..=16 => Some(Utc.timestamp_nanos(n.saturating_mul(1000))),
        _ => Some(Utc.timestamp_nanos(n)),
    };
    t.map(|t| t.fixed_offset()).ok_or_else(|| TemplateError::exec(format!("unable to parse {v:?} as a unix timestamp")))
}

/// Go's `time.ParseDuration`, in seconds.
fn go_duration_seconds(v: &str) -> Option<f64> {
    let t = v.trim();
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    if body == "0" {
        return Some(0.0);
    }
    let mut rest = body;
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest.bytes().take_while(|b| b.is_ascii_digit() || *b == b'.').count();
        if n == 0 {
            return None;
        }
        let num: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let mult = match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += num * mult;
        rest = &rest[u..];
    }
    Some(if neg { -total } else { total })
}

/// Go's regexp replacement syntax (`$1`, `${name}`) in the `regex` crate's syntax, which is
/// the same except that `$1x` means group `1x` in both; nothing to translate.
fn go_expand(repl: &str) -> String {
    repl.to_string()
}

/// Go's `fmt.Sprint`: spaces between operands when neither is a string.
fn go_sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, v) in args.iter().enumerate() {
        if i > 0 && !matches!(v, Value::Str(_)) && !matches!(args[i - 1], Value::Str(_)) {
            out.push(' ');
        }
        out.push_str(&v.to_text());
    }
    out
}

/// Go's template comparison: same basic kinds only.
fn compare(a: &Value, b: &Value) -> Result<std::cmp::Ordering, TemplateError> {
    use std::cmp::Ordering;
    Ok(match (a, b) {
        (Value::Str(x), Value::Str(y)) => x.cmp(y),
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y).unwrap_or(Ordering::Equal),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Nil, Value::Nil) => Ordering::Equal,
        (Value::Time(x), Value::Time(y)) => x.cmp(y),
        _ => return Err(TemplateError::exec("incompatible types for comparison")),
    })
}

fn title(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut start = true;
    for c in v.chars() {
        if start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !(c.is_alphanumeric() || c == '_' || c == '\'');
    }
    out
}

fn js_escape(v: &str) -> String {
    let mut out = String::new();
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out
}

fn html_escape(v: &str) -> String {
    let mut out = String::new();
    for c in v.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&#39;"),
            '"' => out.push_str("&#34;"),
            '\0' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn from_json(j: &serde_json::Value) -> Value {
    match j {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => Value::Str(s.clone()),
        serde_json::Value::Array(a) => Value::List(a.iter().map(from_json).collect()),
        serde_json::Value::Object(o) => {
            let mut m: Vec<(String, Value)> = o.iter().map(|(k, v)| (k.clone(), from_json(v))).collect();
            m.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Map(m)
        }
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn b64_decode(text: &str) -> Option<Vec<u8>> {
    static TABLE: OnceLock<[u8; 256]> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [255u8; 256];
        for (i, c) in B64.iter().enumerate() {
            t[*c as usize] = i as u8;
        }
        t
    });
    let clean: Vec<u8> = text.bytes().filter(|b| *b != b'=').collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let mut n = 0u32;
        for (i, b) in chunk.iter().enumerate() {
            let v = table[*b as usize];
            if v == 255 {
                return None;
            }
            n |= u32::from(v) << (18 - 6 * i);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len().saturating_sub(1)]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip() {
        for s in ["", "a", "ab", "abc", "hello world"] {
            assert_eq!(b64_decode(&b64_encode(s.as_bytes())).unwrap(), s.as_bytes());
        }
        assert_eq!(b64_encode(b"hello"), "aGVsbG8=");
    }

    #[test]
    fn durations() {
        assert_eq!(go_duration_seconds("1m30s"), Some(90.0));
        assert_eq!(go_duration_seconds("250ms"), Some(0.25));
        assert_eq!(go_duration_seconds("abc"), None);
    }
}
