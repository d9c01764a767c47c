//! Go's formatting of the numbers, durations and byte sizes Loki prints.
//!
//! Durations come from the store crate's Go and Prometheus formatters and floats from the
//! response and template modules, re-exported here so that the printer has one place to
//! look.

pub(super) use store::time::{format_go_duration, format_prometheus_duration};

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)` (shared with the query responses).
pub(super) use crate::response::format_value as go_float_f;
/// Go's `%v` for a float64 (shared with the template engine).
pub(super) use crate::template::value::format_float_g as go_float_v;

/// Go's `%f`: six decimals.
pub(super) fn go_float_fixed6(v: f64) -> String {
    if v.is_finite() { format!("{v:.6}") } else { go_float_f(v) }
}

/// go-humanize's `Bytes` (SI units) with the space removed, as Loki prints byte filters:
/// `20MB`, `1.0kB`, `512B`.
pub(super) fn humanize_bytes(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    if bytes < 10 {
        return format!("{bytes}B");
    }
    let mut exp = 0usize;
    while exp + 1 < UNITS.len() && 1000u64.checked_pow(exp as u32 + 1).is_some_and(|p| p <= bytes) {
        exp += 1;
    }
    let scaled = bytes as f64 / 1000f64.powi(exp as i32);
    let value = (scaled * 10.0 + 0.5).floor() / 10.0;
    let unit = UNITS[exp];
    if value < 10.0 { format!("{value:.1}{unit}") } else { format!("{value:.0}{unit}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_number_and_size_formats() {
        assert_eq!(go_float_v(1e6), "1e+06");
        assert_eq!(go_float_v(123456.0), "123456");
        assert_eq!(go_float_v(1.8446744073709552e19), "1.8446744073709552e+19");
        assert_eq!(go_float_v(0.0001), "0.0001");
        assert_eq!(go_float_v(-0.5), "-0.5");
        assert_eq!(go_float_v(f64::INFINITY), "+Inf");
        assert_eq!(go_float_fixed6(2.5), "2.500000");
        assert_eq!(humanize_bytes(0), "0B");
        assert_eq!(humanize_bytes(1000), "1.0kB");
        assert_eq!(humanize_bytes(1_000_000_000), "1.0GB");
        assert_eq!(humanize_bytes(82_854_982), "83MB");
        assert_eq!(humanize_bytes(1_572_864), "1.6MB");
    }
}
