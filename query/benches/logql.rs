//! Criterion benchmarks of the LogQL path: parsing, json and logfmt extraction, and a metric
//! query over a million lines in Parquet files through DataFusion.
//!
//! `cargo bench -p skald-query --bench logql` (add `-- <filter>` for one group).

use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use query::engine::Engine;
use query::logql::{self, Expr};
use query::pipeline::Pipeline;
use query::pipeline::labels::LabelsBuilder;
use query::plan::metric::{MetricPlanner, Planned, ranges, scan_window};
use query::plan::range_exec::Steps;
use store::labels::Labels;
use store::schema::EntryBatchBuilder;
use store::view::ReadSnapshot;

const SEC: i64 = 1_000_000_000;
const T0: i64 = 1_763_596_800 * SEC;
const LEVELS: [&str; 4] = ["info", "warn", "error", "debug"];

fn logfmt_line(i: usize) -> String {
    format!(
        "ts=2025-11-20T00:00:00Z level={} msg=\"request {} done\" method=GET path=/api/v1/items/{} status={} latency_ms={} user=u{}",
        LEVELS[i % 4],
        i,
        i % 1000,
        200 + (i % 5) * 100,
        i % 997,
        i % 31
    )
}

fn json_line(i: usize) -> String {
    format!(
        r#"{{"ts":"2025-11-20T00:00:00Z","level":"{}","msg":"request {} done","http":{{"method":"GET","path":"/api/v1/items/{}","status":{}}},"latency_ms":{},"user":{{"id":{},"name":"u{}"}},"tags":["a","b"]}}"#,
        LEVELS[i % 4],
        i,
        i % 1000,
        200 + (i % 5) * 100,
        i % 997,
        i % 31,
        i % 31
    )
}

fn parse(c: &mut Criterion) {
    let queries = [
        ("selector", r#"{app="api", env=~"prod|staging"} |= "error""#),
        ("pipeline", r#"{app="api"} | json | level="error" and status >= 500 | line_format "{{.level}} {{.path}}" | drop msg"#),
        (
            "metric",
            r#"topk(5, sum by (path) (rate({app="api"} | logfmt | unwrap latency_ms | __error__="" [5m]))) / on () group_left sum(rate({app="api"}[5m]))"#,
        ),
    ];
    let mut g = c.benchmark_group("parse");
    for (name, q) in queries {
        g.bench_function(name, |b| b.iter(|| logql::parse(std::hint::black_box(q)).expect("parses")));
    }
    g.finish();
}

fn pipeline_of(q: &str) -> Pipeline {
    let Ok(Expr::Log(log)) = logql::parse(q) else { panic!("{q} is a log query") };
    Pipeline::compile(&log.pipeline).expect("compiles")
}

fn extraction(c: &mut Criterion) {
    let base = Arc::new(vec![("app".to_string(), "api".to_string())]);
    let cases = [("json", r#"{app="api"} | json"#, json_line as fn(usize) -> String), ("logfmt", r#"{app="api"} | logfmt"#, logfmt_line)];
    let mut g = c.benchmark_group("extract");
    for (name, q, make) in cases {
        let lines: Vec<String> = (0..1000).map(make).collect();
        let bytes: usize = lines.iter().map(String::len).sum();
        let pipeline = pipeline_of(q);
        g.throughput(Throughput::Bytes(bytes as u64));
        g.bench_function(format!("{name}_1000_lines"), |b| {
            let mut lbs = LabelsBuilder::default();
            b.iter(|| {
                let mut n = 0;
                for l in &lines {
                    lbs.reset(&base, &[]);
                    if pipeline.process(l, 0, &mut lbs).is_some() {
                        n += 1;
                    }
                }
                n
            })
        });
    }
    g.finish();
}

/// One million logfmt lines over 10 streams and one hour, in four Parquet files.
fn million_line_snapshot(rt: &tokio::runtime::Runtime) -> (Arc<dyn ObjectStore>, ReadSnapshot, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("skald-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let store: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new_with_prefix(&dir).expect("local store"));
    let streams: Vec<Labels> = (0..10).map(|i| Labels::parse(&format!(r#"{{app="bench", pod="p{i}"}}"#)).expect("labels")).collect();
    let total = 1_000_000usize;
    let per_file = total / 4;
    let mut files = Vec::new();
    for f in 0..4 {
        let mut batches = Vec::new();
        let mut sorted: Vec<(usize, usize)> = (f * per_file..(f + 1) * per_file).map(|i| (i % 10, i)).collect();
        sorted.sort();
        for chunk in sorted.chunks(65_536) {
            let mut b = EntryBatchBuilder::new();
            for &(s, i) in chunk {
                let ts = T0 + (i as i64) * 3600 * SEC / total as i64;
                b.push(streams[s].stream_id(), ts, &logfmt_line(i), &[]).expect("push");
            }
            batches.push(b.finish().expect("batch"));
        }
        let chunks = store::object::ChunkStore::remote(Arc::clone(&store));
        files.push(rt.block_on(store::chunk::write_chunk(&chunks, &format!("bench-{f}.parquet"), &batches)).expect("write chunk"));
    }
    let snapshot = ReadSnapshot { streams: streams.iter().map(|l| (l.stream_id(), l.clone())).collect(), files, heads: Vec::new(), deletes: Vec::new(), row_groups: Default::default() };
    (store, snapshot, dir)
}

fn metric_query(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let (store, snapshot, dir) = million_line_snapshot(&rt);
    let engine = Engine::new(store);
    let steps = Steps { start: T0, end: T0 + 3600 * SEC, step: 60 * SEC };
    let queries = [
        ("count_filter", r#"sum(count_over_time({app="bench"} |= "error" [1m]))"#),
        ("logfmt_by_level", r#"sum by (level) (count_over_time({app="bench"} | logfmt [1m]))"#),
        ("unwrap_quantile", r#"quantile_over_time(0.99, {app="bench"} | logfmt | unwrap latency_ms [5m]) by (pod)"#),
    ];
    let mut g = c.benchmark_group("metric_1m_lines");
    g.sample_size(10).measurement_time(Duration::from_secs(30)).throughput(Throughput::Elements(1_000_000));
    for (name, q) in queries {
        let Ok(Expr::Metric(expr)) = logql::parse(q) else { panic!("{q} is a metric query") };
        // Every range reads the whole hour: the same snapshot serves each.
        assert!(ranges(&expr).iter().all(|r| scan_window(r, steps).1 > T0));
        let snapshots: Vec<ReadSnapshot> = ranges(&expr).iter().map(|_| snapshot.clone()).collect();
        g.bench_function(name, |b| {
            b.iter_batched(
                || snapshots.clone(),
                |snaps| {
                    rt.block_on(async {
                        let mut planner = MetricPlanner::new(steps, &snaps, engine.scan_options());
                        let Planned::Vector(plan) = planner.plan_query(&expr).expect("plan") else { panic!("vector") };
                        engine.metric_query(plan, 0).await.expect("runs").len()
                    })
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
    let _ = std::fs::remove_dir_all(dir);
}

criterion_group!(benches, parse, extraction, metric_query);
criterion_main!(benches);
