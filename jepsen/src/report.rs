//! The run folder: the history, the verdict, and a plot of throughput and latency over time
//! with the fault windows shaded (SVG).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;

use crate::checker::Verdict;
use crate::history::{self, Op, Outcome};

/// Writes `history.jsonl`, `verdict.json` and `timeline.svg` into `dir`.
pub fn write(dir: &Path, ops: &[Op], verdict: &Verdict) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    history::write(&dir.join("history.jsonl"), ops)?;
    std::fs::write(dir.join("verdict.json"), serde_json::to_string_pretty(verdict)? + "\n")?;
    std::fs::write(dir.join("timeline.svg"), timeline(ops))?;
    Ok(())
}

const W: f64 = 1000.0;
const PANEL: f64 = 160.0;
const LEFT: f64 = 60.0;

/// Per second: acknowledged pushes, failed or unknown pushes, and the median latency of
/// acknowledged pushes in milliseconds.
fn per_second(ops: &[Op]) -> Vec<(usize, usize, f64)> {
    let secs = ops.iter().map(|op| match op {
        Op::Push { end, .. } | Op::Read { end, .. } | Op::Fault { end, .. } => *end / 1_000_000_000,
    });
    let n = usize::try_from(secs.max().unwrap_or(0)).unwrap_or(0) + 1;
    let mut ok = vec![0usize; n];
    let mut bad = vec![0usize; n];
    let mut lat: Vec<Vec<f64>> = vec![Vec::new(); n];
    for op in ops {
        if let Op::Push { start, end, outcome, .. } = op {
            let s = usize::try_from(*end / 1_000_000_000).unwrap_or(0).min(n - 1);
            if *outcome == Outcome::Ok {
                ok[s] += 1;
                lat[s].push((end - start) as f64 / 1e6);
            } else {
                bad[s] += 1;
            }
        }
    }
    (0..n)
        .map(|s| {
            let l = &mut lat[s];
            l.sort_by(f64::total_cmp);
            (ok[s], bad[s], l.get(l.len() / 2).copied().unwrap_or(0.0))
        })
        .collect()
}

/// The timeline plot.
pub fn timeline(ops: &[Op]) -> String {
    let rows = per_second(ops);
    let secs = rows.len().max(1) as f64;
    let x = |s: f64| LEFT + s / secs * (W - LEFT - 10.0);
    let max_ok = rows.iter().map(|r| r.0.max(r.1)).max().unwrap_or(1).max(1) as f64;
    let max_lat = rows.iter().map(|r| r.2).fold(1.0, f64::max);
    let height = 2.0 * PANEL + 80.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    // Fault windows across both panels.
    for op in ops {
        if let Op::Fault { kind, target, start, end } = op {
            let (a, b) = (x(*start as f64 / 1e9), x(*end as f64 / 1e9));
            let _ = writeln!(
                svg,
                "<rect x=\"{a:.1}\" y=\"20\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#e74c3c\" fill-opacity=\"0.15\"><title>{kind} {target}</title></rect>",
                (b - a).max(1.0),
                2.0 * PANEL + 30.0
            );
        }
    }
    let panel = |svg: &mut String, top: f64, title: &str, max: f64, series: &[(&str, Vec<f64>)]| {
        let _ = writeln!(svg, "<text x=\"{LEFT}\" y=\"{}\">{title} (max {max:.1})</text>", top - 4.0);
        let _ = writeln!(svg, "<rect x=\"{LEFT}\" y=\"{top}\" width=\"{}\" height=\"{PANEL}\" fill=\"none\" stroke=\"#999\"/>", W - LEFT - 10.0);
        for (color, values) in series {
            let points: Vec<String> =
                values.iter().enumerate().map(|(s, v)| format!("{:.1},{:.1}", x(s as f64 + 0.5), top + PANEL - v / max * PANEL)).collect();
            let _ = writeln!(svg, "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{}\"/>", points.join(" "));
        }
    };
    let ok: Vec<f64> = rows.iter().map(|r| r.0 as f64).collect();
    let bad: Vec<f64> = rows.iter().map(|r| r.1 as f64).collect();
    let lat: Vec<f64> = rows.iter().map(|r| r.2).collect();
    panel(&mut svg, 30.0, "pushes per second: acknowledged (blue), failed or unknown (red)", max_ok, &[("#2c7fb8", ok), ("#e74c3c", bad)]);
    panel(&mut svg, 60.0 + PANEL, "median latency of acknowledged pushes, ms", max_lat, &[("#2c7fb8", lat)]);
    let _ = writeln!(svg, "<text x=\"{LEFT}\" y=\"{:.0}\">seconds 0 to {secs:.0}; shaded: faults</text>", height - 6.0);
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plots_pushes_and_faults() {
        let ops = vec![
            Op::Push { process: 0, node: 0, tenant: "t".into(), stream: 0, entries: vec![(1, 1)], start: 100, end: 2_000_000, outcome: Outcome::Ok },
            Op::Push { process: 0, node: 0, tenant: "t".into(), stream: 0, entries: vec![(2, 2)], start: 1_500_000_000, end: 1_600_000_000, outcome: Outcome::Unknown },
            Op::Fault { kind: "kill".into(), target: "node 2".into(), start: 1_000_000_000, end: 2_000_000_000 },
        ];
        let rows = per_second(&ops);
        assert_eq!(rows.len(), 3);
        assert_eq!((rows[0].0, rows[1].1), (1, 1));
        let svg = timeline(&ops);
        assert!(svg.starts_with("<svg") && svg.contains("kill node 2") && svg.matches("<polyline").count() == 3, "{svg}");
    }
}
