//! What the per-image series cost a scrape: `/metrics` renders them from the status
//! board on every request (so a removed image's series go at once), for 1,000 and
//! 10,000 watched images, next to a baseline measured in the same run: the same
//! 4 × N series kept in prometheus-client families and encoded by its text encoder
//! (what registering them would cost per scrape, without the removal guarantee).
//!
//! Run: `cargo bench --bench metrics_render` (release). Env: `METRICS_BENCH_RUNS=N`
//! (timed runs per figure, default 30; the median is printed).

use std::time::{Duration, Instant};

use imagebump::engine::status::StatusBoard;
use imagebump::image_metrics;
use imagebump_core::decision::{Decision, ImageId};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Labels {
    application: String,
    image: String,
    repository: String,
}

fn board(n: usize) -> StatusBoard {
    let b = StatusBoard::default();
    for i in 0..n {
        let id = ImageId::new(format!("app{}", i / 5), format!("img{i}"));
        b.register(&id, &format!("registry.example.com/team/img{i}"));
        b.update(&id, |s| {
            s.last_successful_scan = Some("2026-12-02T03:00:00Z".into());
        });
        // Every image committed, so all four series exist, as in the baseline.
        let d = Decision::Updated {
            from: Some("1.0.0".into()),
            to: "1.1.0".into(),
            commit: "0123456789abcdef".into(),
        };
        b.decide(&id, d);
    }
    b
}

fn registered(n: usize) -> Registry {
    let mut r = Registry::with_prefix("imagebump");
    let fams: Vec<Family<Labels, Gauge>> = (0..4).map(|_| Family::default()).collect();
    for (name, f) in [
        "image_up_to_date",
        "image_held",
        "image_last_successful_scan_timestamp_seconds",
        "image_last_commit_timestamp_seconds",
    ]
    .iter()
    .zip(&fams)
    {
        r.register(*name, "per-image series", f.clone());
    }
    for i in 0..n {
        let l = Labels {
            application: format!("app{}", i / 5),
            image: format!("img{i}"),
            repository: format!("registry.example.com/team/img{i}"),
        };
        for f in &fams {
            f.get_or_create(&l).set(1_796_180_400);
        }
    }
    r
}

fn median(runs: usize, mut f: impl FnMut() -> usize) -> (Duration, usize) {
    let mut times = Vec::with_capacity(runs);
    let mut bytes = 0;
    for _ in 0..runs {
        let t = Instant::now();
        bytes = std::hint::black_box(f());
        times.push(t.elapsed());
    }
    times.sort();
    (times[runs / 2], bytes)
}

fn main() {
    let runs = std::env::var("METRICS_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30usize)
        .max(1);
    println!("per-image series per scrape, median of {runs} runs");
    println!(
        "{:>8} | {:>26} | {:>34} | {:>6}",
        "images", "imagebump (board → text)", "baseline (prometheus-client encode)", "ratio"
    );
    for n in [1_000, 10_000] {
        let b = board(n);
        let (ours, ours_bytes) = median(runs, || image_metrics::render(&b.series()).len());
        let r = registered(n);
        let (base, base_bytes) = median(runs, || {
            let mut out = String::new();
            prometheus_client::encoding::text::encode_registry(&mut out, &r).unwrap();
            out.len()
        });
        println!(
            "{n:>8} | {:>14.2} ms {:>7} KiB | {:>22.2} ms {:>7} KiB | {:>5.2}×",
            ours.as_secs_f64() * 1e3,
            ours_bytes / 1024,
            base.as_secs_f64() * 1e3,
            base_bytes / 1024,
            ours.as_secs_f64() / base.as_secs_f64()
        );
    }
}
