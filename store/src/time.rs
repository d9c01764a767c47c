//! Durations and byte sizes in the syntax Loki's config and API accept.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::time::Duration;

use crate::StoreError;

/// Parses a Prometheus duration (`1h30m`, `5m`, `2d`, `1w`, `1y`, `15000ms`), falling back to
/// Go's `time.ParseDuration` syntax (`1.5h`, `300ms`, `10us`, `-` not allowed).
pub fn parse_duration(s: &str) -> Result<Duration, StoreError> {
    parse_prometheus(s)
        .or_else(|| parse_go(s))
        .ok_or_else(|| StoreError::Duration(s.to_string()))
}

/// Parses a Prometheus duration only (`1h30m`, `5m`, `2d`), as `model.ParseDuration` does
/// for query parameters such as `since`.
pub fn parse_prometheus_duration(s: &str) -> Result<Duration, StoreError> {
    parse_prometheus(s).ok_or_else(|| StoreError::Duration(s.to_string()))
}

/// Parses a Go duration only (`1h30m`, `1.5s`, `300ms`; no `d`, `w` or `y`), as Go's
/// `time.ParseDuration` does, e.g. for the delete API's `max_interval`.
pub fn parse_go_duration(s: &str) -> Result<Duration, StoreError> {
    parse_go(s).ok_or_else(|| StoreError::Duration(s.to_string()))
}

fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60 * 1_000_000_000,
        "h" => 3_600 * 1_000_000_000,
        "d" => 86_400 * 1_000_000_000,
        "w" => 7 * 86_400 * 1_000_000_000,
        "y" => 365 * 86_400 * 1_000_000_000,
        _ => return None,
    })
}

fn parse_prometheus(s: &str) -> Option<Duration> {
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let order = ["y", "w", "d", "h", "m", "s", "ms"];
    let mut rest = s;
    let mut total: u128 = 0;
    let mut last = None;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let n: u128 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = if rest.starts_with("ms") { 2 } else { rest.chars().next()?.len_utf8() };
        let unit = &rest[..unit_len];
        let pos = order.iter().position(|u| *u == unit)?;
        if last.is_some_and(|l| pos <= l) {
            return None;
        }
        last = Some(pos);
        total = total.checked_add(n.checked_mul(unit_nanos(unit)?)?)?;
        rest = &rest[unit_len..];
    }
    Some(Duration::from_nanos(u64::try_from(total).ok()?))
}

fn parse_go(s: &str) -> Option<Duration> {
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest.bytes().take_while(|b| b.is_ascii_digit() || *b == b'.').count();
        if num_len == 0 {
            return None;
        }
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        if matches!(unit, "d" | "w" | "y") {
            return None;
        }
        total += n * unit_nanos(unit)? as f64;
        rest = &rest[unit_len..];
    }
    Some(Duration::from_nanos(total as u64))
}

/// Formats a duration the way Go's `time.Duration.String` does (`1h0m0s`, `1.5s`, `300ms`).
pub fn format_go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos < 1_000_000_000 {
        let (v, unit) = if nanos < 1_000 {
            (nanos as f64, "ns")
        } else if nanos < 1_000_000 {
            (nanos as f64 / 1e3, "µs")
        } else {
            (nanos as f64 / 1e6, "ms")
        };
        return format!("{v}{unit}");
    }
    let secs_total = nanos / 1_000_000_000;
    let frac = nanos % 1_000_000_000;
    let h = secs_total / 3600;
    let m = (secs_total / 60) % 60;
    let s = secs_total % 60;
    let sec = if frac == 0 {
        format!("{s}")
    } else {
        let f = format!("{frac:09}");
        format!("{s}.{}", f.trim_end_matches('0'))
    };
    if h > 0 {
        format!("{h}h{m}m{sec}s")
    } else if m > 0 {
        format!("{m}m{sec}s")
    } else {
        format!("{sec}s")
    }
}

/// Formats a duration the way Prometheus' `model.Duration.String` does (`30d1h`, `5m`,
/// `1h30m`, `0s`), as Loki prints limits such as `max_query_length`.
pub fn format_prometheus_duration(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    // Years and weeks only when they divide evenly (`90d`, not `12w6d`), as Prometheus does.
    for (unit, size, exact) in [
        ("y", 365 * 86_400_000u128, true),
        ("w", 7 * 86_400_000, true),
        ("d", 86_400_000, false),
        ("h", 3_600_000, false),
        ("m", 60_000, false),
        ("s", 1_000, false),
        ("ms", 1, false),
    ] {
        if exact && !ms.is_multiple_of(size) {
            continue;
        }
        let n = ms / size;
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
            ms -= n * size;
        }
    }
    out
}

/// Formats a timestamp like Go's `time.Time.String` in UTC
/// (`2026-10-07 01:35:32.5 +0000 UTC`: the fraction without trailing zeros, absent when 0).
pub fn format_go_time(ns: i64) -> String {
    let t = chrono::DateTime::from_timestamp_nanos(ns);
    let frac = ns.rem_euclid(1_000_000_000);
    let frac = if frac == 0 { String::new() } else { format!(".{frac:09}").trim_end_matches('0').to_string() };
    format!("{}{frac} +0000 UTC", t.format("%Y-%m-%d %H:%M:%S"))
}

/// Formats a timestamp like Go's `time.RFC3339` in UTC (`2026-10-07T01:35:32Z`: whole seconds).
pub fn format_rfc3339_secs(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A config duration: written as `30m`, `1h`, `168h` (or a bare number of seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct ConfigDuration(pub Duration);

impl ConfigDuration {
    /// A duration of `secs` seconds.
    pub const fn secs(secs: u64) -> Self {
        ConfigDuration(Duration::from_secs(secs))
    }

    /// The duration in nanoseconds, saturating at `i64::MAX`.
    pub fn as_nanos_i64(&self) -> i64 {
        i64::try_from(self.0.as_nanos()).unwrap_or(i64::MAX)
    }
}

impl Serialize for ConfigDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_go_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Float(f64),
            Str(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(n) => Ok(ConfigDuration(Duration::from_secs(n))),
            Raw::Float(f) if f >= 0.0 => Ok(ConfigDuration(Duration::from_secs_f64(f))),
            Raw::Float(f) => Err(serde::de::Error::custom(format!("negative duration {f}"))),
            Raw::Str(s) => parse_duration(&s).map(ConfigDuration).map_err(serde::de::Error::custom),
        }
    }
}

/// Parses a human byte size (`256KB`, `1.5MiB`, `100`), with SI and IEC units as Loki does.
pub fn parse_bytes(s: &str) -> Result<u64, StoreError> {
    let t = s.trim();
    let num_len = t.bytes().take_while(|b| b.is_ascii_digit() || *b == b'.').count();
    let (num, unit) = t.split_at(num_len);
    let n: f64 = num.parse().map_err(|_| StoreError::Bytes(s.to_string()))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "gb" | "g" => 1e9,
        "tb" | "t" => 1e12,
        "pb" | "p" => 1e15,
        "kib" | "ki" => 1024.0,
        "mib" | "mi" => 1024.0 * 1024.0,
        "gib" | "gi" => 1024.0 * 1024.0 * 1024.0,
        "tib" | "ti" => 1024f64.powi(4),
        "pib" | "pi" => 1024f64.powi(5),
        _ => return Err(StoreError::Bytes(s.to_string())),
    };
    Ok((n * mult) as u64)
}

/// A config byte size: written as `256KB`, `1.5MiB` or a bare number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct ByteSize(pub u64);

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Str(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(n) => Ok(ByteSize(n)),
            Raw::Str(s) => parse_bytes(&s).map(ByteSize).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("168h").unwrap(), Duration::from_secs(168 * 3600));
        assert_eq!(parse_duration("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("300ms").unwrap(), Duration::from_millis(300));
        assert_eq!(parse_duration("2d").unwrap(), Duration::from_secs(172_800));
        assert!(parse_duration("abc").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn go_format() {
        assert_eq!(format_go_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(format_go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_go_duration(Duration::from_millis(300)), "300ms");
        assert_eq!(format_prometheus_duration(Duration::from_secs(721 * 3600)), "30d1h");
        assert_eq!(format_prometheus_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_prometheus_duration(Duration::from_secs(14 * 86_400)), "2w");
        assert_eq!(format_go_time(1_500_000_000), "1970-01-01 00:00:01.5 +0000 UTC");
        assert_eq!(format_go_time(2_000_000_000), "1970-01-01 00:00:02 +0000 UTC");
        assert_eq!(format_rfc3339_secs(1_500_000_000), "1970-01-01T00:00:01Z");
    }

    #[test]
    fn bytes() {
        assert_eq!(parse_bytes("256KB").unwrap(), 256_000);
        assert_eq!(parse_bytes("1.5KiB").unwrap(), 1536);
        assert_eq!(parse_bytes("100").unwrap(), 100);
        assert!(parse_bytes("12XB").is_err());
    }
}
