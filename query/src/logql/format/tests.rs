//! Round trips: the canonical and pretty forms parse back to the tree they were made from.

use super::{canonical, prettify};
use crate::logql::parse;

/// A line-filter chain over 100 bytes whose last link has `or` operands.
const SPLIT_OR_CHAIN: &str = r#"{app="foo"} |= "level=error" != "health check" |= "connection refused" or "deadline exceeded" or "context canceled""#;

/// A vector aggregation over 100 bytes with an empty `without` list.
const SPLIT_EMPTY_WITHOUT: &str = r#"sum without () (count_over_time({namespace="loki-prod", container="ingester", pod=~"ingester-.*"} |= "error" [5m]))"#;

/// A range aggregation over 100 bytes with an empty `without` list.
const SPLIT_RANGE_WITHOUT: &str = r#"max_over_time({namespace="loki-prod", container="ingester"} | logfmt | unwrap latency_seconds | __error__="" [5m]) without ()"#;

/// Queries whose canonical and pretty forms must parse back to the same tree.
const ROUND_TRIP: &[&str] = &[
    r#"{app="foo"}"#,
    r#"{app="foo", env!="dev", pod=~"ingester-.*", ns!~"kube-.+"}"#,
    r#"{app="foo"} |= "error" != "timeout" |~ "(?i)fail" !~ "debug|trace""#,
    r#"{app="foo"} |= "a" or "b" or ip("10.0.0.0/8")"#,
    r#"{app="foo"} |> "<_> 500 <_>" !> "<_> health <_>""#,
    r#"{app="foo"} | json | level="error""#,
    r#"{app="foo"} | json user="user.name", status"#,
    r#"{app="foo"} | logfmt --strict --keep-empty"#,
    r#"{app="foo"} | logfmt --strict a="b", c"#,
    r#"{app="foo"} | regexp "(?P<method>\\w+) (?P<path>\\S+)""#,
    r#"{app="foo"} | pattern "<ip> - <_> \"<method> <path>\"""#,
    r#"{app="foo"} | unpack | line_format "{{.msg}} \"quoted\"""#,
    r#"{app="foo"} | logfmt | status>=500 and duration>1.5s or size<=20MB"#,
    r#"{app="foo"} | logfmt | status=~"5.." | method!~"GET|HEAD" | host=~"a.*""#,
    r#"{app="foo"} | logfmt | addr=ip("192.168.0.0/16") | peer!=ip("::1")"#,
    r#"{app="foo"} | label_format lvl=level, msg="{{.level}}: {{.msg}}""#,
    r#"{app="foo"} | drop a, b="c", d=~"e.*" | keep f, g!="h""#,
    r#"{app="foo"} | decolorize | json"#,
    r#"{app="foo"} | logfmt | x==-1.25 | y!=3e-7"#,
    r#"count_over_time({app="foo"}[5m])"#,
    r#"rate({app="foo"} |= "error" [1h30m] offset 2h)"#,
    r#"bytes_rate({app="foo"}[30s])"#,
    r#"sum_over_time({app="foo"} | logfmt | unwrap bytes(size) | __error__="" [5m])"#,
    r#"avg_over_time({app="foo"} | json | unwrap duration_seconds(lat) [1m]) by (pod, ns)"#,
    r#"max_over_time({app="foo"} | unwrap lat | lat > 10 [1m]) without (pod)"#,
    r#"quantile_over_time(0.95, {app="foo"} | json | unwrap lat [10m]) by (route)"#,
    r#"sum by (app) (rate({app="foo"}[5m]))"#,
    r#"sum without (pod) (count_over_time({app="foo"}[5m]))"#,
    r#"topk(3, sum by (path) (rate({app="foo"}[5m])))"#,
    r#"bottomk by (ns) (2, rate({app="foo"}[5m]))"#,
    r#"sort_desc(sum by (a) (rate({app="foo"}[5m])))"#,
    r#"sum(rate({app="foo"}[5m])) / sum(rate({app="bar"}[5m])) * 100"#,
    r#"sum by (a) (rate({app="foo"}[5m])) > bool 0.5"#,
    r#"sum by (a, b) (rate({app="foo"}[5m])) / on (a) group_left (b) sum by (a) (rate({app="bar"}[5m]))"#,
    r#"sum by (a) (rate({app="foo"}[5m])) and ignoring (b) sum by (a) (rate({app="bar"}[5m]))"#,
    r#"sum(rate({app="foo"}[5m])) or on () vector(0)"#,
    r#"rate({app="foo"}[5m]) ^ 2 - -1 % rate({app="bar"}[5m])"#,
    r#"label_replace(rate({app="foo"}[5m]), "dst", "$1-x", "src", "(.*)-\\d+")"#,
    r#"vector(2.5) + count_over_time({app="foo"}[1m])"#,
    r#"sum by (namespace, cluster, container) (count_over_time({namespace="loki-prod", container="ingester"} |= "level=error" | logfmt | duration > 10s [5m])) / sum by (namespace, cluster, container) (count_over_time({namespace="loki-prod", container="ingester"}[5m]))"#,
    r#"{namespace="loki-prod", container="ingester", pod=~"ingester-zone-a-.*"} |= "caller=flush.go" != "debug" | logfmt | line_format "{{.ts}} {{.msg}}" | label_format level=lvl"#,
    SPLIT_OR_CHAIN,
    SPLIT_EMPTY_WITHOUT,
    SPLIT_RANGE_WITHOUT,
];

#[test]
fn round_trips_through_canonical_and_pretty() {
    for q in ROUND_TRIP {
        let parsed = parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        let one_line = canonical(&parsed);
        assert_eq!(parse(&one_line).ok(), Some(parsed.clone()), "canonical of {q}: {one_line}");
        let pretty = prettify(&parsed);
        assert_eq!(parse(&pretty).ok(), Some(parsed.clone()), "pretty of {q}:\n{pretty}");
    }
    assert!(ROUND_TRIP.len() >= 40);
}

#[test]
fn queries_loki_prints_lossily_are_split() {
    let pretty = |q: &str| prettify(&parse(q).unwrap_or_else(|e| panic!("{q}: {e}")));
    assert!(
        pretty(SPLIT_OR_CHAIN).ends_with("\n  |= \"connection refused\" or \"deadline exceeded\" or \"context canceled\""),
        "{}",
        pretty(SPLIT_OR_CHAIN)
    );
    assert!(pretty(SPLIT_EMPTY_WITHOUT).starts_with("sum without ()(\n"), "{}", pretty(SPLIT_EMPTY_WITHOUT));
    assert!(pretty(SPLIT_RANGE_WITHOUT).ends_with("\n) without ()"), "{}", pretty(SPLIT_RANGE_WITHOUT));
}
