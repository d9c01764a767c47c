//! A minimal Prometheus metrics registry: counters, gauges and histograms rendered as text
//! format.
//!
//! Metrics are process-wide statics registered on first use; `/metrics` renders them all.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// A monotonically increasing counter.
pub struct Counter {
    name: &'static str,
    help: &'static str,
    value: AtomicU64,
}

impl Counter {
    /// A counter; register it with [`register_counter`] before rendering.
    pub const fn new(name: &'static str, help: &'static str) -> Counter {
        Counter { name, help, value: AtomicU64::new(0) }
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.value.fetch_add(n, Ordering::Relaxed);
    }

    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }

    /// Current value.
    pub fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down (stored as an integer).
pub struct Gauge {
    name: &'static str,
    help: &'static str,
    value: std::sync::atomic::AtomicI64,
}

impl Gauge {
    /// A gauge; register it with [`register_gauge`] before rendering.
    pub const fn new(name: &'static str, help: &'static str) -> Gauge {
        Gauge { name, help, value: std::sync::atomic::AtomicI64::new(0) }
    }

    /// Sets the value.
    pub fn set(&self, v: i64) {
        self.value.store(v, Ordering::Relaxed);
    }

    /// Current value.
    pub fn get(&self) -> i64 {
        self.value.load(Ordering::Relaxed)
    }
}

/// Upper bounds (seconds) of the latency histogram buckets.
pub const LATENCY_BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// A latency histogram in seconds with fixed buckets.
pub struct Histogram {
    name: &'static str,
    help: &'static str,
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    /// A histogram; register it with [`register_histogram`] before rendering.
    pub const fn new(name: &'static str, help: &'static str) -> Histogram {
        Histogram {
            name,
            help,
            buckets: [const { AtomicU64::new(0) }; LATENCY_BUCKETS.len()],
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    /// Records one observation of `secs` seconds.
    pub fn observe(&self, secs: f64) {
        for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
            if secs <= *le {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add((secs * 1e6) as u64, Ordering::Relaxed);
    }
}

enum Metric {
    Counter(&'static Counter),
    Gauge(&'static Gauge),
    Histogram(&'static Histogram),
}

fn registry() -> &'static Mutex<Vec<Metric>> {
    static REGISTRY: OnceLock<Mutex<Vec<Metric>>> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(Vec::new()))
}

fn push(m: Metric) {
    if let Ok(mut r) = registry().lock() {
        r.push(m);
    }
}

/// Adds a counter to the process registry.
pub fn register_counter(c: &'static Counter) {
    push(Metric::Counter(c));
}

/// Adds a gauge to the process registry.
pub fn register_gauge(g: &'static Gauge) {
    push(Metric::Gauge(g));
}

/// Adds a histogram to the process registry.
pub fn register_histogram(h: &'static Histogram) {
    push(Metric::Histogram(h));
}

/// Renders every registered metric in the Prometheus text exposition format.
pub fn render() -> String {
    let mut out = String::new();
    let Ok(r) = registry().lock() else { return out };
    for m in r.iter() {
        match m {
            Metric::Counter(c) => {
                let _ = writeln!(out, "# HELP {} {}\n# TYPE {} counter\n{} {}", c.name, c.help, c.name, c.name, c.get());
            }
            Metric::Gauge(g) => {
                let _ = writeln!(out, "# HELP {} {}\n# TYPE {} gauge\n{} {}", g.name, g.help, g.name, g.name, g.get());
            }
            Metric::Histogram(h) => {
                let _ = writeln!(out, "# HELP {} {}\n# TYPE {} histogram", h.name, h.help, h.name);
                for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
                    let _ = writeln!(out, "{}_bucket{{le=\"{le}\"}} {}", h.name, h.buckets[i].load(Ordering::Relaxed));
                }
                let count = h.count.load(Ordering::Relaxed);
                let _ = writeln!(out, "{}_bucket{{le=\"+Inf\"}} {count}", h.name);
                let _ = writeln!(out, "{}_sum {}", h.name, h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6);
                let _ = writeln!(out, "{}_count {count}", h.name);
            }
        }
    }
    out
}
