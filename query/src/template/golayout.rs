//! Go reference-time layouts (`2006-01-02T15:04:05Z07:00`) for the date template functions.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDateTime, TimeZone, Timelike};

/// One element of a layout.
#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(String),
    Year4,
    Year2,
    MonthName,
    MonthAbbr,
    Month2,
    Month,
    WeekdayName,
    WeekdayAbbr,
    Day2,
    DaySpace,
    Day,
    YearDay,
    Hour24,
    Hour12_2,
    Hour12,
    Minute2,
    Minute,
    Second2,
    Second,
    Pm,
    PmLower,
    ZoneName,
    /// `Z07:00`, `-07:00`, `-0700`, `Z0700`, `-07`: (use `Z` for UTC, colon, with minutes).
    Offset { z: bool, colon: bool, minutes: bool },
    /// `.000` (zeros kept) or `.999` (trailing zeros trimmed) with this many digits.
    Frac { digits: usize, trim: bool },
}

/// A layout token and the part it stands for.
type Token = (&'static str, fn() -> Part);

const TOKENS: &[Token] = &[
    ("January", || Part::MonthName),
    ("Jan", || Part::MonthAbbr),
    ("Monday", || Part::WeekdayName),
    ("Mon", || Part::WeekdayAbbr),
    ("MST", || Part::ZoneName),
    ("2006", || Part::Year4),
    ("Z07:00", || Part::Offset { z: true, colon: true, minutes: true }),
    ("Z0700", || Part::Offset { z: true, colon: false, minutes: true }),
    ("Z07", || Part::Offset { z: true, colon: false, minutes: false }),
    ("-07:00", || Part::Offset { z: false, colon: true, minutes: true }),
    ("-0700", || Part::Offset { z: false, colon: false, minutes: true }),
    ("-07", || Part::Offset { z: false, colon: false, minutes: false }),
    ("002", || Part::YearDay),
    ("01", || Part::Month2),
    ("02", || Part::Day2),
    ("_2", || Part::DaySpace),
    ("03", || Part::Hour12_2),
    ("04", || Part::Minute2),
    ("05", || Part::Second2),
    ("06", || Part::Year2),
    ("15", || Part::Hour24),
    ("PM", || Part::Pm),
    ("pm", || Part::PmLower),
    ("1", || Part::Month),
    ("2", || Part::Day),
    ("3", || Part::Hour12),
    ("4", || Part::Minute),
    ("5", || Part::Second),
];

fn parse_layout(layout: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut rest = layout;
    'outer: while !rest.is_empty() {
        // Fractional seconds: `.000` / `,000` / `.999` right after seconds.
        if let Some(after) = rest.strip_prefix('.').or_else(|| rest.strip_prefix(',')) {
            let zeros = after.bytes().take_while(|b| *b == b'0').count();
            let nines = after.bytes().take_while(|b| *b == b'9').count();
            let n = zeros.max(nines);
            if n > 0 && !after[n..].starts_with(|c: char| c.is_ascii_digit()) {
                if !lit.is_empty() {
                    parts.push(Part::Lit(std::mem::take(&mut lit)));
                }
                parts.push(Part::Frac { digits: n, trim: nines > 0 });
                rest = &after[n..];
                continue;
            }
        }
        for (tok, make) in TOKENS {
            if let Some(after) = rest.strip_prefix(tok) {
                if !lit.is_empty() {
                    parts.push(Part::Lit(std::mem::take(&mut lit)));
                }
                parts.push(make());
                rest = after;
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        lit.push(c);
        rest = &rest[c.len_utf8()..];
    }
    if !lit.is_empty() {
        parts.push(Part::Lit(lit));
    }
    parts
}

const MONTHS: [&str; 12] =
    ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
const DAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/// Formats `t` with a Go layout.
pub fn format(t: &DateTime<FixedOffset>, layout: &str) -> String {
    let mut out = String::new();
    for p in parse_layout(layout) {
        match p {
            Part::Lit(s) => out.push_str(&s),
            Part::Year4 => out.push_str(&format!("{:04}", t.year())),
            Part::Year2 => out.push_str(&format!("{:02}", t.year().rem_euclid(100))),
            Part::MonthName => out.push_str(MONTHS[t.month0() as usize]),
            Part::MonthAbbr => out.push_str(&MONTHS[t.month0() as usize][..3]),
            Part::Month2 => out.push_str(&format!("{:02}", t.month())),
            Part::Month => out.push_str(&t.month().to_string()),
            Part::WeekdayName => out.push_str(DAYS[t.weekday().num_days_from_monday() as usize]),
            Part::WeekdayAbbr => out.push_str(&DAYS[t.weekday().num_days_from_monday() as usize][..3]),
            Part::Day2 => out.push_str(&format!("{:02}", t.day())),
            Part::DaySpace => out.push_str(&format!("{:>2}", t.day())),
            Part::Day => out.push_str(&t.day().to_string()),
            Part::YearDay => out.push_str(&format!("{:03}", t.ordinal())),
            Part::Hour24 => out.push_str(&format!("{:02}", t.hour())),
            Part::Hour12_2 => out.push_str(&format!("{:02}", hour12(t.hour()))),
            Part::Hour12 => out.push_str(&hour12(t.hour()).to_string()),
            Part::Minute2 => out.push_str(&format!("{:02}", t.minute())),
            Part::Minute => out.push_str(&t.minute().to_string()),
            Part::Second2 => out.push_str(&format!("{:02}", t.second())),
            Part::Second => out.push_str(&t.second().to_string()),
            Part::Pm => out.push_str(if t.hour() >= 12 { "PM" } else { "AM" }),
            Part::PmLower => out.push_str(if t.hour() >= 12 { "pm" } else { "am" }),
            Part::ZoneName => {
                let off = t.offset().local_minus_utc();
                if off == 0 {
                    out.push_str("UTC");
                } else {
                    out.push_str(&offset_text(off, false, true));
                }
            }
            Part::Offset { z, colon, minutes } => {
                let off = t.offset().local_minus_utc();
                if z && off == 0 {
                    out.push('Z');
                } else {
                    out.push_str(&offset_text(off, colon, minutes));
                }
            }
            Part::Frac { digits, trim } => {
                let nanos = format!("{:09}", t.nanosecond() % 1_000_000_000);
                let mut f = nanos[..digits.min(9)].to_string();
                if trim {
                    f = f.trim_end_matches('0').to_string();
                }
                if !f.is_empty() {
                    out.push('.');
                    out.push_str(&f);
                }
            }
        }
    }
    out
}

fn hour12(h: u32) -> u32 {
    match h % 12 {
        0 => 12,
        x => x,
    }
}

fn offset_text(secs: i32, colon: bool, minutes: bool) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.abs();
    let (h, m) = (a / 3600, (a % 3600) / 60);
    match (minutes, colon) {
        (false, _) => format!("{sign}{h:02}"),
        (true, true) => format!("{sign}{h:02}:{m:02}"),
        (true, false) => format!("{sign}{h:02}{m:02}"),
    }
}

/// Parses `value` with a Go layout; times without a zone are in `zone`.
pub fn parse(layout: &str, value: &str, zone: FixedOffset) -> Option<DateTime<FixedOffset>> {
    let mut fmt = String::new();
    let mut has_zone = false;
    for p in parse_layout(layout) {
        match p {
            Part::Lit(s) => fmt.push_str(&s.replace('%', "%%")),
            Part::Year4 => fmt.push_str("%Y"),
            Part::Year2 => fmt.push_str("%y"),
            Part::MonthName => fmt.push_str("%B"),
            Part::MonthAbbr => fmt.push_str("%b"),
            Part::Month2 | Part::Month => fmt.push_str("%m"),
            Part::WeekdayName => fmt.push_str("%A"),
            Part::WeekdayAbbr => fmt.push_str("%a"),
            Part::Day2 | Part::Day => fmt.push_str("%d"),
            Part::DaySpace => fmt.push_str("%e"),
            Part::YearDay => fmt.push_str("%j"),
            Part::Hour24 => fmt.push_str("%H"),
            Part::Hour12_2 | Part::Hour12 => fmt.push_str("%I"),
            Part::Minute2 | Part::Minute => fmt.push_str("%M"),
            Part::Second2 | Part::Second => fmt.push_str("%S"),
            Part::Pm | Part::PmLower => fmt.push_str("%p"),
            Part::ZoneName => fmt.push_str("%Z"),
            Part::Offset { colon, .. } => {
                has_zone = true;
                fmt.push_str(if colon { "%:z" } else { "%z" });
            }
            Part::Frac { .. } => fmt.push_str("%.f"),
        }
    }
    if has_zone {
        // Go accepts `Z` for a zero offset.
        let v = match value.strip_suffix('Z') {
            Some(head) => format!("{head}+00:00"),
            None => value.to_string(),
        };
        let fmt = fmt.replace("%z", "%:z");
        return DateTime::parse_from_str(&v, &fmt).ok().or_else(|| DateTime::parse_from_str(value, &fmt).ok());
    }
    let naive = NaiveDateTime::parse_from_str(value, &fmt)
        .ok()
        .or_else(|| chrono::NaiveDate::parse_from_str(value, &fmt).ok().and_then(|d| d.and_hms_opt(0, 0, 0)))?;
    zone.from_local_datetime(&naive).single()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_reference_layouts() {
        let t = DateTime::parse_from_rfc3339("2025-11-20T08:05:03.120Z").unwrap();
        assert_eq!(format(&t, "2006-01-02T15:04:05Z07:00"), "2025-11-20T08:05:03Z");
        assert_eq!(format(&t, "02 Jan 06 15:04 MST"), "20 Nov 25 08:05 UTC");
        assert_eq!(format(&t, "3:04PM .000 .999"), "8:05AM .120 .12");
        let utc = FixedOffset::east_opt(0).unwrap();
        let p = parse("2006-01-02 15:04:05", "2025-11-20 08:05:03", utc).unwrap();
        assert_eq!(p.timestamp(), 1_763_625_903);
        assert_eq!(parse("2006-01-02", "2025-11-20", utc).unwrap().timestamp(), 1_763_596_800);
    }
}
