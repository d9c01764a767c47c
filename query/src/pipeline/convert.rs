//! Go's text-to-number conversions as LogQL uses them for label filters and `unwrap`, with
//! Go's error texts (they end up in `__error_details__`).

/// Go's `strconv.ParseFloat(s, 64)`: decimal and exponent forms, a sign, `inf`/`infinity`/
/// `nan` in any case, hex floats, `_` between digits after a base prefix; no spaces.
pub fn parse_float(s: &str) -> Result<f64, String> {
    let invalid = || format!("strconv.ParseFloat: parsing {}: invalid syntax", go_quote(s));
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let neg = s.starts_with('-');
    let lower = body.to_ascii_lowercase();
    let v = match lower.as_str() {
        "inf" | "infinity" => f64::INFINITY,
        "nan" => f64::NAN,
        _ if lower.starts_with("0x") => parse_hex_float(&lower[2..]).ok_or_else(invalid)?,
        _ => {
            let ok = !body.is_empty()
                && body.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
                && body.bytes().any(|b| b.is_ascii_digit());
            if !ok {
                return Err(invalid());
            }
            let f: f64 = body.parse().map_err(|_| invalid())?;
            if f.is_infinite() {
                return Err(format!("strconv.ParseFloat: parsing {}: value out of range", go_quote(s)));
            }
            f
        }
    };
    Ok(if neg { -v } else { v })
}

fn parse_hex_float(h: &str) -> Option<f64> {
    let (mant, exp) = match h.split_once('p') {
        Some((m, e)) => (m, e.parse::<i32>().ok()?),
        None => (h, 0),
    };
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    let mut v = 0f64;
    for c in int.chars().filter(|c| *c != '_') {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in frac.chars() {
        v += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    Some(v * 2f64.powi(exp))
}

/// Go's `time.ParseDuration`, in seconds: `1h30m`, `250ms`, `1.5s`, units ns, us, µs, ms,
/// s, m, h (no days); a bare `0` is fine.
pub fn parse_duration_secs(s: &str) -> Result<f64, String> {
    let invalid = || format!("time: invalid duration {}", go_quote(s));
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if body == "0" {
        return Ok(0.0);
    }
    if body.is_empty() {
        return Err(invalid());
    }
    let mut rest = body;
    let mut total = 0f64;
    while !rest.is_empty() {
        let n = rest.bytes().take_while(|b| b.is_ascii_digit() || *b == b'.').count();
        if n == 0 || rest[..n] == *"." {
            return Err(invalid());
        }
        let num: f64 = rest[..n].parse().map_err(|_| invalid())?;
        rest = &rest[n..];
        let u = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = &rest[..u];
        let mult = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err(format!("time: missing unit in duration {}", go_quote(s))),
            other => return Err(format!("time: unknown unit {} in duration {}", go_quote(other), go_quote(s))),
        };
        total += num * mult;
        rest = &rest[u..];
    }
    Ok(if neg { -total } else { total })
}

/// go-humanize's `ParseBytes`: a number (commas ignored), optional space, a case-insensitive
/// unit (`b`, `k`/`kb`=1000, `ki`/`kib`=1024, ... up to `e`); truncated to whole bytes.
pub fn parse_bytes(s: &str) -> Result<f64, String> {
    let last_digit = s.char_indices().take_while(|(_, c)| c.is_ascii_digit() || *c == '.' || *c == ',').last().map(|(i, c)| i + c.len_utf8()).unwrap_or(0);
    let num = s[..last_digit].replace(',', "");
    let unit = s[last_digit..].trim().to_ascii_lowercase();
    let f: f64 = num.parse().map_err(|_| format!("strconv.ParseFloat: parsing {}: invalid syntax", go_quote(&num)))?;
    let mult: f64 = match unit.as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "ki" | "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mi" | "mib" => 1024f64.powi(2),
        "g" | "gb" => 1e9,
        "gi" | "gib" => 1024f64.powi(3),
        "t" | "tb" => 1e12,
        "ti" | "tib" => 1024f64.powi(4),
        "p" | "pb" => 1e15,
        "pi" | "pib" => 1024f64.powi(5),
        "e" | "eb" => 1e18,
        "ei" | "eib" => 1024f64.powi(6),
        _ => return Err(format!("unhandled size name: {unit}")),
    };
    Ok((f * mult).trunc())
}

/// Go's `%q` quoting of a string (the form Go error messages use).
pub fn go_quote(s: &str) -> String {
    let mut out = String::new();
    let _ = store::labels::write_quoted(&mut out, s);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_conversions() {
        assert_eq!(parse_float("1.5").unwrap(), 1.5);
        assert_eq!(parse_float("-2e3").unwrap(), -2000.0);
        assert!(parse_float("Inf").unwrap().is_infinite());
        assert_eq!(parse_float("abc").unwrap_err(), "strconv.ParseFloat: parsing \"abc\": invalid syntax");
        assert_eq!(parse_float("").unwrap_err(), "strconv.ParseFloat: parsing \"\": invalid syntax");
        assert_eq!(parse_duration_secs("7ms").unwrap(), 0.007);
        assert_eq!(parse_duration_secs("1h30m").unwrap(), 5400.0);
        assert_eq!(parse_duration_secs("100").unwrap_err(), "time: missing unit in duration \"100\"");
        assert_eq!(parse_duration_secs("abc").unwrap_err(), "time: invalid duration \"abc\"");
        assert_eq!(parse_bytes("500KB").unwrap(), 500_000.0);
        assert_eq!(parse_bytes("1.5 KiB").unwrap(), 1536.0);
        assert_eq!(parse_bytes("504790B").unwrap(), 504_790.0);
        assert_eq!(parse_bytes("12xyz").unwrap_err(), "unhandled size name: xyz");
    }
}
