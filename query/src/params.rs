//! Request parameters of the query and metadata endpoints, parsed as Loki parses them.
//!
//! Timestamps (`start`, `end`, `time`): empty gives the default; a value with a `.` that
//! parses as a float is Unix seconds rounded to milliseconds; an integer of at most 10
//! characters is seconds, longer is nanoseconds; anything else must be RFC 3339 (with
//! optional fractional seconds). Durations (`step`, `interval`) are float seconds or a
//! Prometheus duration. `since` (default 1h) sets the default start: `min(end, now) - since`.

use std::time::Duration;

use crate::error::QueryError;

/// Default `limit`.
pub const DEFAULT_LIMIT: u32 = 100;
/// Default `since`: one hour, in nanoseconds.
pub const DEFAULT_SINCE_NS: i64 = 3_600_000_000_000;
/// Most points a metric series may have (Loki's resolution limit).
pub const MAX_POINTS: i64 = 11_000;

const NANOS_PER_SEC: i64 = 1_000_000_000;

/// Request parameters: a form body merged with the URL query, body values first (as Go's
/// `ParseForm` orders them), so the first value of a name wins.
#[derive(Debug, Default, Clone)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Merges a form-encoded body (if any) and the URL query string.
    pub fn parse(query: Option<&str>, body: Option<&[u8]>) -> Params {
        let mut pairs: Vec<(String, String)> = Vec::new();
        if let Some(b) = body {
            pairs.extend(url::form_urlencoded::parse(b).into_owned());
        }
        if let Some(q) = query {
            pairs.extend(url::form_urlencoded::parse(q.as_bytes()).into_owned());
        }
        Params { pairs }
    }

    /// Parameters from explicit pairs (tests, internal callers).
    pub fn from_pairs<I: IntoIterator<Item = (K, V)>, K: Into<String>, V: Into<String>>(pairs: I) -> Params {
        Params { pairs: pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect() }
    }

    /// The first value of `name`, or `""`.
    pub fn get(&self, name: &str) -> &str {
        self.pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or("")
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }
}

/// Order of entries in a log query result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Oldest first.
    Forward,
    /// Newest first (the default).
    Backward,
}

/// Go's `%q` of a string, for error messages.
fn go_quote(s: &str) -> String {
    let mut out = String::new();
    let _ = store::labels::write_quoted(&mut out, s);
    out
}

/// Go's `strconv.ParseInt(s, 10, 64)`, with Go's error text.
fn parse_go_int(s: &str) -> Result<i64, String> {
    s.parse::<i64>().map_err(|e| {
        let why = match e.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => "value out of range",
            _ => "invalid syntax",
        };
        format!("strconv.ParseInt: parsing {}: {why}", go_quote(s))
    })
}

/// Parses a timestamp parameter into Unix nanoseconds; `default` when empty.
pub fn parse_timestamp(value: &str, default: i64) -> Result<i64, String> {
    if value.is_empty() {
        return Ok(default);
    }
    if value.contains('.')
        && let Ok(t) = value.parse::<f64>()
        && t.is_finite()
    {
        let secs = t.trunc();
        let frac = ((t - secs) * 1000.0).round() / 1000.0;
        let nanos = (secs as i64).saturating_mul(NANOS_PER_SEC).saturating_add((frac * 1e9) as i64);
        return Ok(nanos);
    }
    match parse_go_int(value) {
        Ok(n) if value.len() <= 10 => Ok(n.saturating_mul(NANOS_PER_SEC)),
        Ok(n) => Ok(n),
        Err(int_err) => match chrono::DateTime::parse_from_rfc3339(value) {
            Ok(dt) => dt.timestamp_nanos_opt().ok_or(int_err),
            Err(_) => Err(int_err),
        },
    }
}

/// Parses `step`/`interval`: float seconds or a Prometheus duration, into nanoseconds.
pub fn parse_seconds_or_duration(value: &str) -> Result<i64, String> {
    if let Ok(secs) = value.parse::<f64>() {
        let ns = secs * 1e9;
        if !ns.is_finite() || ns > i64::MAX as f64 || ns < i64::MIN as f64 {
            return Err(format!("cannot parse {} to a valid duration. It overflows int64", go_quote(value)));
        }
        return Ok(ns as i64);
    }
    match store::time::parse_duration(value) {
        Ok(d) => Ok(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
        Err(_) => Err(format!("cannot parse {} to a valid duration", go_quote(value))),
    }
}

/// Parses `direction` (case-insensitive); backward when empty.
pub fn parse_direction(value: &str) -> Result<Direction, String> {
    match value.to_ascii_lowercase().as_str() {
        "" | "backward" => Ok(Direction::Backward),
        "forward" => Ok(Direction::Forward),
        _ => Err(format!("invalid direction '{value}'")),
    }
}

/// Parses `limit`: a positive integer, 100 when empty.
pub fn parse_limit(value: &str) -> Result<u32, String> {
    if value.is_empty() {
        return Ok(DEFAULT_LIMIT);
    }
    let n = parse_go_int(value)?;
    if n <= 0 {
        return Err("limit must be a positive value".into());
    }
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// `start` and `end` with Loki's defaults (`since`, now).
pub fn bounds(p: &Params, now: i64) -> Result<(i64, i64), QueryError> {
    let since = match p.get("since") {
        "" => DEFAULT_SINCE_NS,
        s => {
            let d = store::time::parse_prometheus_duration(s)
                .map_err(|_| QueryError::BadRequest(format!("could not parse 'since' parameter: not a valid duration string: {}", go_quote(s))))?;
            i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
        }
    };
    let end = parse_timestamp(p.get("end"), now)
        .map_err(|e| QueryError::BadRequest(format!("could not parse 'end' parameter: {e}")))?;
    let end_or_now = end.min(now);
    let start = parse_timestamp(p.get("start"), end_or_now.saturating_sub(since))
        .map_err(|e| QueryError::BadRequest(format!("could not parse 'start' parameter: {e}")))?;
    Ok((start, end))
}

/// Loki's default step: `max(floor((end - start) / 250 s), 1) s`, in nanoseconds.
pub fn default_step(start: i64, end: i64) -> i64 {
    let secs = (end.saturating_sub(start) / NANOS_PER_SEC) / 250;
    secs.max(1) * NANOS_PER_SEC
}

/// Parameters of `/loki/api/v1/query_range`.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeQueryParams {
    /// The LogQL query text.
    pub query: String,
    /// Inclusive start (ns).
    pub start: i64,
    /// End (ns): exclusive for log queries.
    pub end: i64,
    /// Most entries to return (log queries).
    pub limit: u32,
    /// Entry order (log queries).
    pub direction: Direction,
    /// Evaluation step (ns).
    pub step: i64,
    /// At most one entry per interval (ns); 0 disables (log queries).
    pub interval: i64,
}

/// Parses and validates range query parameters, in Loki's order.
pub fn range_query(p: &Params, now: i64) -> Result<RangeQueryParams, QueryError> {
    let query = p.get("query").to_string();
    let (start, end) = bounds(p, now)?;
    if end < start {
        return Err(QueryError::BadRequest("end timestamp must not be before or equal to start time".into()));
    }
    let limit = parse_limit(p.get("limit")).map_err(QueryError::BadRequest)?;
    let direction = parse_direction(p.get("direction")).map_err(QueryError::BadRequest)?;
    let step = match p.get("step") {
        "" => default_step(start, end),
        s => parse_seconds_or_duration(s).map_err(QueryError::BadRequest)?,
    };
    if step <= 0 {
        return Err(QueryError::BadRequest(
            "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
        ));
    }
    if (end - start) / step > MAX_POINTS {
        return Err(QueryError::BadRequest(
            "exceeded maximum resolution of 11,000 points per time series. Try increasing the value of the step parameter".into(),
        ));
    }
    let interval = match p.get("interval") {
        "" => 0,
        s => parse_seconds_or_duration(s).map_err(QueryError::BadRequest)?,
    };
    if interval < 0 {
        return Err(QueryError::BadRequest("interval must be >= 0".into()));
    }
    Ok(RangeQueryParams { query, start, end, limit, direction, step, interval })
}

/// Parameters of `/loki/api/v1/query`.
#[derive(Debug, Clone, PartialEq)]
pub struct InstantQueryParams {
    /// The LogQL query text.
    pub query: String,
    /// Evaluation time (ns).
    pub time: i64,
    /// Most entries (unused until log instant queries exist).
    pub limit: u32,
    /// Entry order.
    pub direction: Direction,
}

/// Parses instant query parameters.
pub fn instant_query(p: &Params, now: i64) -> Result<InstantQueryParams, QueryError> {
    let query = p.get("query").to_string();
    let time = parse_timestamp(p.get("time"), now)
        .map_err(|e| QueryError::BadRequest(format!("could not parse 'time' parameter: {e}")))?;
    let limit = parse_limit(p.get("limit")).map_err(QueryError::BadRequest)?;
    let direction = parse_direction(p.get("direction")).map_err(QueryError::BadRequest)?;
    Ok(InstantQueryParams { query, time, limit, direction })
}

/// Rejects ranges longer than `max` (0 disables), with Loki's message.
pub fn check_query_length(start: i64, end: i64, max: Duration) -> Result<(), QueryError> {
    if max.is_zero() {
        return Ok(());
    }
    let len = Duration::from_nanos(u64::try_from(end.saturating_sub(start)).unwrap_or(0));
    if len > max {
        return Err(QueryError::QueryTooLong {
            length: store::time::format_go_duration(len),
            limit: store::time::format_prometheus_duration(max),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_763_600_000_000_000_000;

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("", 7), Ok(7));
        assert_eq!(parse_timestamp("1763596740", 0), Ok(1_763_596_740_000_000_000));
        assert_eq!(parse_timestamp("4000000000", 0), Ok(4_000_000_000_000_000_000));
        assert_eq!(parse_timestamp("1763596740000000000", 0), Ok(1_763_596_740_000_000_000));
        assert_eq!(parse_timestamp("17635967400", 0), Ok(17_635_967_400));
        assert_eq!(parse_timestamp("1763596740.1234", 0), Ok(1_763_596_740_123_000_000));
        assert_eq!(parse_timestamp("1763596740.9996", 0), Ok(1_763_596_741_000_000_000));
        assert_eq!(parse_timestamp("2025-11-20T00:00:00Z", 0), Ok(1_763_596_800_000_000_000));
        assert_eq!(parse_timestamp("2025-11-20T00:00:00.5+01:00", 0), Ok(1_763_593_200_500_000_000));
        assert_eq!(parse_timestamp("abc", 0), Err("strconv.ParseInt: parsing \"abc\": invalid syntax".into()));
        assert_eq!(
            parse_timestamp("99999999999999999999", 0),
            Err("strconv.ParseInt: parsing \"99999999999999999999\": value out of range".into())
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_seconds_or_duration("15"), Ok(15 * NANOS_PER_SEC));
        assert_eq!(parse_seconds_or_duration("0.5"), Ok(NANOS_PER_SEC / 2));
        assert_eq!(parse_seconds_or_duration("5m"), Ok(300 * NANOS_PER_SEC));
        assert_eq!(parse_seconds_or_duration("1h30m"), Ok(5400 * NANOS_PER_SEC));
        assert_eq!(parse_seconds_or_duration("x"), Err("cannot parse \"x\" to a valid duration".into()));
    }

    #[test]
    fn defaults_and_bounds() {
        let p = Params::from_pairs([("query", "{a=\"b\"}")]);
        let r = range_query(&p, NOW).unwrap();
        assert_eq!(r.end, NOW);
        assert_eq!(r.start, NOW - DEFAULT_SINCE_NS);
        assert_eq!(r.limit, 100);
        assert_eq!(r.direction, Direction::Backward);
        assert_eq!(r.step, 14 * NANOS_PER_SEC);
        let p = Params::from_pairs([("since", "5m"), ("end", "1763600000"), ("direction", "FORWARD")]);
        let r = range_query(&p, NOW + 1_000_000_000_000).unwrap();
        assert_eq!((r.start, r.end), (NOW - 300 * NANOS_PER_SEC, NOW));
        assert_eq!(r.direction, Direction::Forward);
    }

    fn range_err(pairs: &[(&str, &str)]) -> String {
        range_query(&Params::from_pairs(pairs.iter().copied()), NOW).unwrap_err().to_string()
    }

    #[test]
    fn validation_messages() {
        assert_eq!(range_err(&[("limit", "0")]), "limit must be a positive value");
        assert_eq!(range_err(&[("limit", "x")]), "strconv.ParseInt: parsing \"x\": invalid syntax");
        assert_eq!(range_err(&[("direction", "up")]), "invalid direction 'up'");
        assert_eq!(range_err(&[("start", "10"), ("end", "5")]), "end timestamp must not be before or equal to start time");
        assert_eq!(
            range_err(&[("start", "nope")]),
            "could not parse 'start' parameter: strconv.ParseInt: parsing \"nope\": invalid syntax"
        );
        assert_eq!(
            range_err(&[("step", "0")]),
            "zero or negative query resolution step widths are not accepted. Try a positive integer"
        );
        assert!(range_err(&[("start", "0"), ("end", "100000"), ("step", "1")]).starts_with("exceeded maximum resolution"));
        assert!(range_err(&[("since", "bad")]).starts_with("could not parse 'since' parameter"));
        // Equal start and end is accepted.
        assert!(range_query(&Params::from_pairs([("start", "10"), ("end", "10")]), NOW).is_ok());
    }

    #[test]
    fn form_body_first() {
        let p = Params::parse(Some("limit=5&match[]=a"), Some(b"limit=7&match%5B%5D=b"));
        assert_eq!(p.get("limit"), "7");
        assert_eq!(p.all("match[]"), vec!["b", "a"]);
        assert_eq!(p.get("missing"), "");
    }

    #[test]
    fn query_length() {
        let err = check_query_length(0, 2 * 3600 * NANOS_PER_SEC, Duration::from_secs(3600)).unwrap_err();
        assert_eq!(err.to_string(), "the query time range exceeds the limit (query length: 2h0m0s, limit: 1h)");
        assert!(check_query_length(0, i64::MAX, Duration::ZERO).is_ok());
    }
}
