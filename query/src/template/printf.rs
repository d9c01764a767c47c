//! Go's `fmt.Sprintf` for the template `printf` function: the common verbs with flags,
//! width and precision.

use super::value::{Value, format_float_g};

struct Spec {
    minus: bool,
    plus: bool,
    zero: bool,
    space: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// Formats `args` with a Go format string.
pub fn sprintf(fmt: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut next = 0usize;
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec { minus: false, plus: false, zero: false, space: false, width: None, prec: None };
        while let Some(&f) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '0' => spec.zero = true,
                ' ' => spec.space = true,
                '#' => {}
                _ => break,
            }
            chars.next();
        }
        let mut width = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            chars.next();
        }
        spec.width = width.parse().ok();
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                chars.next();
            }
            spec.prec = Some(p.parse().unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        next += 1;
        let body = match format_one(verb, arg, &spec) {
            Some(b) => b,
            None => format!("%!{verb}({}={})", arg.kind(), arg.to_text()),
        };
        out.push_str(&pad(body, &spec, matches!(verb, 'd' | 'f' | 'e' | 'g' | 'x' | 'X' | 'v') && !matches!(arg, Value::Str(_))));
    }
    if next < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[next..].iter().map(|a| format!("{}={}", a.kind(), a.to_text())).collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    out
}

fn format_one(verb: char, arg: &Value, spec: &Spec) -> Option<String> {
    let sign = |neg: bool, body: String| {
        if neg {
            format!("-{body}")
        } else if spec.plus {
            format!("+{body}")
        } else if spec.space {
            format!(" {body}")
        } else {
            body
        }
    };
    Some(match (verb, arg) {
        ('v', Value::Float(f)) | ('g', Value::Float(f)) => match spec.prec {
            None => sign(*f < 0.0, format_float_g(f.abs())),
            Some(p) => sign(*f < 0.0, format!("{:.*}", p, f.abs())),
        },
        ('v', v) => v.to_text(),
        ('s', Value::Str(s)) => match spec.prec {
            Some(p) => s.chars().take(p).collect(),
            None => s.clone(),
        },
        ('s', v) => v.to_text(),
        ('q', Value::Str(s)) => format!("{s:?}"),
        ('d', Value::Int(i)) => sign(*i < 0, i.unsigned_abs().to_string()),
        ('f' | 'F', Value::Float(f)) => sign(*f < 0.0, format!("{:.*}", spec.prec.unwrap_or(6), f.abs())),
        ('e', Value::Float(f)) => sign(*f < 0.0, go_exp(f.abs(), spec.prec.unwrap_or(6))),
        ('x', Value::Int(i)) => sign(*i < 0, format!("{:x}", i.unsigned_abs())),
        ('X', Value::Int(i)) => sign(*i < 0, format!("{:X}", i.unsigned_abs())),
        ('x', Value::Str(s)) => s.bytes().map(|b| format!("{b:02x}")).collect(),
        ('X', Value::Str(s)) => s.bytes().map(|b| format!("{b:02X}")).collect(),
        ('t', Value::Bool(b)) => b.to_string(),
        ('c', Value::Int(i)) => char::from_u32(u32::try_from(*i).ok()?)?.to_string(),
        _ => return None,
    })
}

/// `%e`: mantissa with `prec` digits and a two-digit signed exponent.
fn go_exp(f: f64, prec: usize) -> String {
    let s = format!("{f:.prec$e}");
    match s.split_once('e') {
        Some((m, e)) => {
            let n: i32 = e.parse().unwrap_or(0);
            format!("{m}e{}{:02}", if n < 0 { '-' } else { '+' }, n.abs())
        }
        None => s,
    }
}

fn pad(body: String, spec: &Spec, numeric: bool) -> String {
    let Some(w) = spec.width else { return body };
    let len = body.chars().count();
    if len >= w {
        return body;
    }
    let fill = w - len;
    if spec.minus {
        format!("{body}{}", " ".repeat(fill))
    } else if spec.zero && numeric {
        let (sign, digits) = match body.strip_prefix(['-', '+', ' ']) {
            Some(rest) => (&body[..1], rest.to_string()),
            None => ("", body.clone()),
        };
        format!("{sign}{}{digits}", "0".repeat(fill))
    } else {
        format!("{}{body}", " ".repeat(fill))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs() {
        assert_eq!(sprintf("%s=%d", &[Value::Str("a".into()), Value::Int(5)]), "a=5");
        assert_eq!(sprintf("%5s|%-5s|", &[Value::Str("a".into()), Value::Str("b".into())]), "    a|b    |");
        assert_eq!(sprintf("%.2f %05d", &[Value::Float(1.23456), Value::Int(42)]), "1.23 00042");
        assert_eq!(sprintf("%d", &[Value::Str("x".into())]), "%!d(string=x)");
        assert_eq!(sprintf("%d %d", &[Value::Int(1)]), "1 %!d(MISSING)");
        assert_eq!(sprintf("%v", &[Value::Float(1e6)]), "1e+06");
    }
}
