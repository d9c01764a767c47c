//! Property tests: the LogQL parser and the log pipeline never panic, whatever the input.
//!
//! Three input generators for the parser: arbitrary text, random sequences of LogQL tokens
//! (which reach deep into the grammar), and single-character mutations of valid queries.

use std::sync::Arc;

use proptest::prelude::*;

use crate::logql::{self, Expr};
use crate::pipeline::Pipeline;
use crate::pipeline::labels::LabelsBuilder;

/// Valid queries covering the grammar; mutated by the generators below.
const SEEDS: &[&str] = &[
    r#"{app="api", env=~"prod|dev"} |= "error" != "timeout" |~ "(?i)fail" !~ `x+` |> "<_> 500 <_>""#,
    r#"{a="b"} | json | logfmt --strict --keep-empty | level="error" and status>=500 or duration > 1m30s"#,
    r#"{a="b"} | json x="a.b[0]", y="c" | regexp `(?P<ip>\S+)` | pattern "<ip> <_>" | unpack | decolorize"#,
    r#"{a="b"} | line_format "{{.a | upper}} {{ if eq .b \"x\" }}y{{ end }}" | label_format c=a, d="{{.e}}""#,
    r#"{a="b"} | drop c, d="e" | keep f, g=~"h.*" | ip = ip("10.0.0.0/8") | size > 1KB"#,
    r#"sum by (a) (rate({a="b"} |= "x" [5m] offset 1h))"#,
    r#"topk(3, sum without (b) (count_over_time({a="b"} | json [1m]))) / on (a) group_left (c) vector(2)"#,
    r#"quantile_over_time(0.99, {a="b"} | logfmt | unwrap duration(d) | __error__="" [10m]) by (x)"#,
    r#"label_replace(avg(bytes_rate({a="b"}[1m])), "dst", "$1", "src", "(.*)") > bool 10 unless absent_over_time({a="c"}[5m])"#,
    r#"sort_desc(max_over_time({a="b"} | unwrap bytes(s) [1h])) ^ 2 % 3 - -1 # comment"#,
];

/// Tokens the token-soup generator strings together.
const TOKENS: &[&str] = &[
    "{", "}", "(", ")", "[", "]", ",", "|", "|=", "!=", "|~", "!~", "|>", "!>", "=", "=~", "==", ">", ">=", "<", "<=", "+", "-",
    "*", "/", "%", "^", "a", "app", "\"x\"", "`y`", "\"\\u00e9\"", "5m", "1h30m", "10s", "1KB", "0.5", "3", "json", "logfmt",
    "regexp", "pattern", "unpack", "line_format", "label_format", "drop", "keep", "decolorize", "unwrap", "bytes", "duration",
    "duration_seconds", "ip", "or", "and", "unless", "bool", "on", "ignoring", "group_left", "group_right", "by", "without",
    "offset", "sum", "avg", "count", "topk", "sort", "rate", "count_over_time", "quantile_over_time", "absent_over_time",
    "label_replace", "vector", "--strict", "--keep-empty", "__error__", "#", "\n", " ",
];

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..40).prop_map(|t| t.join(" "))
}

fn mutation() -> impl Strategy<Value = String> {
    (prop::sample::select(SEEDS), any::<prop::sample::Index>(), any::<char>(), 0u8..3).prop_map(|(seed, at, c, kind)| {
        let mut chars: Vec<char> = seed.chars().collect();
        let i = at.index(chars.len() + 1);
        match kind {
            0 => chars.insert(i, c),
            1 if i < chars.len() => {
                chars.remove(i);
            }
            _ => chars.truncate(i),
        }
        chars.into_iter().collect()
    })
}

/// Parsing either succeeds or fails with a parse error; it never panics.
fn check_parse(q: &str) {
    if let Err(e) = logql::parse(q) {
        assert!(e.to_string().starts_with("parse error"), "unexpected error text for {q:?}: {e}");
    }
}

proptest! {
    // 2000 cases per property in CI; PROPTEST_CASES=n runs a longer campaign.
    #![proptest_config(ProptestConfig::with_cases(std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000)))]

    #[test]
    fn parser_survives_any_text(q in any::<String>()) {
        check_parse(&q);
    }

    #[test]
    fn parser_survives_token_soup(q in token_soup()) {
        check_parse(&q);
    }

    #[test]
    fn parser_survives_mutations(q in mutation()) {
        check_parse(&q);
    }

    #[test]
    fn pipeline_survives_any_line(line in any::<String>(), seed in 0usize..5) {
        let seeds = [
            r#"{a="b"} | json | logfmt | label_format x="{{.a}}{{.b | default \"z\"}}" | line_format "{{.x}} {{__line__}}""#,
            r#"{a="b"} | json p="x.y[1]", q="[\"k\"]" | unpack | x > 1 or y=~"a.*""#,
            r#"{a="b"} | logfmt --strict | pattern "<a> <b> <_>" | regexp `(?P<c>\d+)` | drop a"#,
            r#"{a="b"} | decolorize | keep a | size > 1KB, d < 1s"#,
            r#"{a="b"} |= ip("10.0.0.0/8") | line_format "{{ printf \"%5.2f\" 3.5 }} {{ .a | b64enc | b64dec }} {{ fromJson __line__ }} {{ __line__ | regexReplaceAll \"[0-9]+\" \"N\" }}""#,
        ];
        let Ok(Expr::Log(log)) = logql::parse(seeds[seed]) else { panic!("seed {seed} must parse") };
        let pipeline = Pipeline::compile(&log.pipeline).expect("seed pipeline compiles");
        let mut lbs = LabelsBuilder::default();
        lbs.reset(&Arc::new(vec![("a".to_string(), "b".to_string())]), &[]);
        let _ = pipeline.process(&line, 0, &mut lbs);
    }
}

#[test]
fn seeds_parse() {
    for q in SEEDS {
        assert!(logql::parse(q).is_ok(), "{q}: {:?}", logql::parse(q).err());
    }
}
